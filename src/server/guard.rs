//! Which requests the server answers at all. A page of another site open in the
//! user's browser can reach `127.0.0.1:5000` too: through a WebSocket, which
//! browsers open to any origin (cross-site WebSocket hijacking), or through a
//! name of its own that it points at 127.0.0.1 (DNS rebinding). So a request is
//! refused when its `Host` is not a name of this server, or when it carries an
//! `Origin` that is neither the dashboard's own nor one the user allowed.
//! Requests without `Origin` come from programs, not pages, and pass.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::ServerError;

/// The names and origins this server answers to.
#[derive(Debug)]
pub struct Guard {
    /// Host names (lowercase, no port) besides IP literals and `localhost`.
    names: Vec<String>,
    /// Origins other than the dashboard's own, as `scheme://host[:port]`.
    origins: Vec<String>,
    /// `https` when the server speaks TLS, else `http`: the scheme of its own origin.
    scheme: &'static str,
    refused: AtomicU64,
}

impl Guard {
    /// The checks for a server bound to `bound` (a name or address, as `--host`
    /// gave it), answering also to `names` and to pages of `origins` (each
    /// `scheme://host[:port]`); `tls` when it serves HTTPS. The machine's own host
    /// name is always a name of the server.
    pub fn new(
        bound: &str,
        names: &[String],
        origins: &[String],
        tls: bool,
    ) -> Result<Guard, ServerError> {
        let origins = origins
            .iter()
            .map(|o| normalise_origin(o).ok_or_else(|| ServerError::Origin(o.clone())))
            .collect::<Result<Vec<_>, _>>()?;
        let names = names
            .iter()
            .map(String::as_str)
            .chain(std::iter::once(bound))
            .map(str::to_string)
            .chain(sysinfo::System::host_name().ok())
            .map(|n| normalise_name(&n))
            .collect();
        Ok(Guard {
            names,
            origins,
            scheme: if tls { "https" } else { "http" },
            refused: AtomicU64::new(0),
        })
    }

    /// Whether a `Host` header (`name`, `name:port`, `[v6]:port`) names this
    /// server: any IP literal (a page cannot rebind one), `localhost` and its
    /// subdomains, and the names given.
    pub fn host_allowed(&self, host: &str) -> bool {
        let name = host_name(host);
        if name.parse::<IpAddr>().is_ok() {
            return true;
        }
        let name = normalise_name(name);
        name == "localhost" || name.ends_with(".localhost") || self.names.contains(&name)
    }

    /// Whether a page of `origin` may use the server reached as `host`: its own
    /// origin (same scheme, same host and port) or one given.
    pub fn origin_allowed(&self, origin: &str, host: &str) -> bool {
        let Some(origin) = normalise_origin(origin) else {
            return false;
        };
        origin == format!("{}://{}", self.scheme, host.to_ascii_lowercase())
            || self.origins.contains(&origin)
    }

    /// Why a request with these headers is refused, if it is. `authority` is the
    /// request URI's, which is where HTTP/2 carries the host.
    fn refusal(&self, headers: &HeaderMap, authority: Option<&str>) -> Option<String> {
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .or(authority)
            .unwrap_or("");
        if !self.host_allowed(host) {
            return Some(format!(
                "Host {host:?} is not a name of this server; use its address, localhost, or a name given with --allowed-host"
            ));
        }
        let origin = headers.get(header::ORIGIN)?;
        let origin = origin.to_str().unwrap_or("");
        (!self.origin_allowed(origin, host)).then(|| {
            format!(
                "pages of {origin:?} may not use this dashboard; allow a trusted origin with --allowed-origin"
            )
        })
    }
}

/// The middleware: refuses, with 403 and the reason, what [`Guard`] does not allow.
pub async fn check(State(guard): State<Arc<Guard>>, request: Request, next: Next) -> Response {
    let authority = request.uri().authority().map(|a| a.as_str());
    let Some(reason) = guard.refusal(request.headers(), authority) else {
        return next.run(request).await;
    };
    // Logged at 1, 2, 4, 8 ... refusals, so a flood cannot fill the log.
    let n = guard.refused.fetch_add(1, Ordering::Relaxed) + 1;
    if n.is_power_of_two() {
        tracing::warn!(
            "refused {} {}: {reason} ({n} refused so far)",
            request.method(),
            request.uri().path()
        );
    }
    (StatusCode::FORBIDDEN, format!("{reason}\n")).into_response()
}

/// The host part of a `Host` header: `[::1]:5000` gives `::1`, `a.b:80` gives `a.b`.
fn host_name(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or("");
    }
    match host.rsplit_once(':') {
        Some((name, port)) if port.chars().all(|c| c.is_ascii_digit()) => name,
        _ => host,
    }
}

fn normalise_name(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

/// `scheme://host[:port]` lowercased, without a trailing slash; `None` unless the
/// scheme is http or https and a host follows.
fn normalise_origin(origin: &str) -> Option<String> {
    let origin = origin.trim().trim_end_matches('/').to_ascii_lowercase();
    let (scheme, rest) = origin.split_once("://")?;
    ((scheme == "http" || scheme == "https") && !rest.is_empty() && !rest.contains('/'))
        .then_some(origin)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guard() -> Guard {
        Guard::new(
            "127.0.0.1",
            &["metrics.lan".into()],
            &["https://grafana.lan:3000/".into()],
            false,
        )
        .unwrap()
    }

    #[test]
    fn ip_literals_localhost_and_given_names_are_this_server() {
        let g = guard();
        for host in [
            "127.0.0.1:5000",
            "[::1]:5000",
            "10.0.0.7",
            "localhost:5000",
            "app.localhost",
            "METRICS.LAN:5000",
            "metrics.lan.",
        ] {
            assert!(g.host_allowed(host), "{host}");
        }
        for host in [
            "evil.example:5000",
            "",
            "localhost.evil.example",
            "127.0.0.1.evil.example",
        ] {
            assert!(!g.host_allowed(host), "{host}");
        }
    }

    #[test]
    fn only_the_pages_own_origin_and_given_ones_may_use_it() {
        let g = guard();
        assert!(g.origin_allowed("http://127.0.0.1:5000", "127.0.0.1:5000"));
        assert!(g.origin_allowed("http://LOCALHOST:5000", "localhost:5000"));
        assert!(g.origin_allowed("https://grafana.lan:3000", "127.0.0.1:5000"));
        for origin in [
            "http://evil.example",
            "http://127.0.0.1:5001",
            "https://127.0.0.1:5000",
            "null",
            "",
        ] {
            assert!(!g.origin_allowed(origin, "127.0.0.1:5000"), "{origin}");
        }
    }

    #[test]
    fn an_http2_request_is_judged_by_its_authority() {
        let g = guard();
        let mut headers = HeaderMap::new();
        assert!(g.refusal(&headers, Some("127.0.0.1:5000")).is_none());
        assert!(g.refusal(&headers, Some("evil.example")).is_some());
        assert!(g.refusal(&headers, None).is_some());
        headers.insert(header::ORIGIN, "http://evil.example".parse().unwrap());
        assert!(g.refusal(&headers, Some("127.0.0.1:5000")).is_some());
    }

    #[test]
    fn a_malformed_allowed_origin_is_refused_at_start() {
        let e = Guard::new("127.0.0.1", &[], &["grafana.lan".into()], false).unwrap_err();
        assert!(e.to_string().contains("grafana.lan"), "{e}");
    }
}
