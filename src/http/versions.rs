//! Which TLS versions a server or client offers, from a settings file's
//! `min_version` and `max_version`.

use tokio_rustls::rustls;

/// The TLS versions between `min` and `max`, as the Prometheus project's files
/// name them (`TLS12`, `TLS13`; their `TLS10` and `TLS11` are too weak to offer):
/// for the servers `watch` runs and the clients that call other servers.
pub fn tls_versions(
    min: Option<&str>,
    max: Option<&str>,
) -> Result<Vec<&'static rustls::SupportedProtocolVersion>, String> {
    let rank = |v: Option<&str>, default: u8| match v {
        None => Ok(default),
        Some("TLS12") => Ok(2),
        Some("TLS13") => Ok(3),
        Some(other) => Err(format!(
            "TLS version {other:?} is not offered; hint: use TLS12 or TLS13"
        )),
    };
    let (min, max) = (rank(min, 2)?, rank(max, 3)?);
    let versions: Vec<_> = [(2, &rustls::version::TLS12), (3, &rustls::version::TLS13)]
        .into_iter()
        .filter(|&(r, _)| (min..=max).contains(&r))
        .map(|(_, v)| v)
        .collect();
    if versions.is_empty() {
        return Err("min_version is above max_version".into());
    }
    Ok(versions)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_versions_are_twelve_and_thirteen() {
        assert_eq!(tls_versions(None, None).unwrap().len(), 2);
        assert_eq!(tls_versions(Some("TLS13"), None).unwrap().len(), 1);
        assert!(
            tls_versions(Some("TLS10"), None)
                .unwrap_err()
                .contains("TLS12")
        );
        assert!(tls_versions(Some("TLS13"), Some("TLS12")).is_err());
    }
}
