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

/// Whether a failed call's error, told with its causes ([`error_chain`]), says
/// the server's certificate was not trusted: what a CA in the client settings
/// (`tls_config.ca_file`) fixes.
pub fn certificate_refused(told: &str) -> bool {
    told.contains("certificate")
}

/// Whether an HTTP status says the server wants credentials, or refused those
/// given: what `basic_auth` or `authorization` in the client settings fixes.
pub fn credentials_wanted(status: u16) -> bool {
    matches!(status, 401 | 403)
}

/// The start of a response's body, as an error quotes it.
pub fn body_start(text: &str) -> String {
    text.trim().chars().take(200).collect()
}
