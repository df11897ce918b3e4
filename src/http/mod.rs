//! What the HTTP clients share (the alert receivers and the Prometheus history
//! reader): URLs checked once (`url`), how they prove who they are and which
//! servers they trust (`client`), and an error told with every cause, so a
//! refused connection says why.

pub mod client;
mod trust;
mod url;
mod versions;

pub use url::{api_url, http_url, shown_url};
pub use versions::tls_versions;

/// `e` and each of its causes, joined with `: `.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text = format!("{text}: {s}");
        source = s.source();
    }
    text
}
