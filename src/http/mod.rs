//! What the HTTP clients share (the alert receivers and the Prometheus history
//! reader): URLs checked once (`url`), how they prove who they are and which
//! servers they trust (`client`), the headers an operator adds (`headers`), and
//! an error told with every cause, so a refused connection says why.

pub mod client;
pub mod headers;
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

/// Why the server's certificate was refused, each with its own fix in the
/// client settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertificateRefused {
    /// It does not name the host reached: a name it carries in the URL, or as
    /// `tls_config.server_name`, fixes it.
    OtherName,
    /// No CA trusted signed it: `tls_config.ca_file` fixes it.
    Untrusted,
}

impl CertificateRefused {
    /// What fixes it in the client settings, for a hint that goes on to say
    /// where those settings are written.
    pub fn fix(self) -> &'static str {
        match self {
            CertificateRefused::OtherName => {
                "reach it by a name its certificate carries, or give that name as tls_config.server_name"
            }
            CertificateRefused::Untrusted => {
                "trust the CA that signed its certificate with tls_config.ca_file"
            }
        }
    }
}

/// Whether a failed call's error, told with its causes ([`error_chain`]), says
/// the server's certificate was refused, and why.
pub fn certificate_refused(told: &str) -> Option<CertificateRefused> {
    if !told.contains("certificate") {
        None
    } else if told.contains("not valid for name") {
        Some(CertificateRefused::OtherName)
    } else {
        Some(CertificateRefused::Untrusted)
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_certificate_is_told_apart_by_its_fix() {
        let name = "invalid peer certificate: certificate not valid for name \"prom.example\"; certificate is only valid for DnsName(\"localhost\")";
        assert_eq!(
            certificate_refused(name),
            Some(CertificateRefused::OtherName)
        );
        assert_eq!(
            certificate_refused("invalid peer certificate: UnknownIssuer"),
            Some(CertificateRefused::Untrusted)
        );
        assert_eq!(certificate_refused("connection refused"), None);
    }
}
