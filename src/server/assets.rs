//! The dashboard's files, embedded in the binary at build time, so an installed
//! `metrics` serves its page with no checkout and no internet. Only these paths
//! exist: no request can name a file on disk.

use axum::Router;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::AppState;

/// The page may load scripts, styles, images and connections from its own origin
/// only; nothing inline, nothing from elsewhere.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'";

/// An embedded file: the URL paths it is served at, its content type and bytes.
struct Asset {
    paths: &'static [&'static str],
    content_type: &'static str,
    body: &'static [u8],
}

const ASSETS: [Asset; 5] = [
    Asset {
        // `/index.html` for links and bookmarks that name the page's file.
        paths: &["/", "/index.html"],
        content_type: "text/html; charset=utf-8",
        body: include_bytes!("../../static/index.html"),
    },
    Asset {
        paths: &["/app.js"],
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../static/app.js"),
    },
    Asset {
        paths: &["/style.css"],
        content_type: "text/css; charset=utf-8",
        body: include_bytes!("../../static/style.css"),
    },
    Asset {
        paths: &["/vendor/chart.umd.min.js"],
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../static/node_modules/chart.js/dist/chart.umd.min.js"),
    },
    Asset {
        // `/favicon.ico` for browsers and tools that do not read the page's icon link.
        paths: &["/favicon.svg", "/favicon.ico"],
        content_type: "image/svg+xml",
        body: include_bytes!("../../static/favicon.svg"),
    },
];

/// Routes serving every embedded file.
pub fn routes() -> Router<AppState> {
    let mut router = Router::new();
    for asset in &ASSETS {
        for path in asset.paths {
            router = router.route(
                path,
                get(move || async move { respond(StatusCode::OK, asset.content_type, asset.body) }),
            );
        }
    }
    router
}

/// Anything else: 404.
pub async fn not_found() -> Response {
    respond(
        StatusCode::NOT_FOUND,
        "text/plain; charset=utf-8",
        b"not found\n",
    )
}

fn respond(status: StatusCode, content_type: &'static str, body: &'static [u8]) -> Response {
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}
