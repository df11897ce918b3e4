//! `--web-config FILE`: TLS and passwords for a server exposed beyond this
//! machine, in the `web-config.yml` format of the Prometheus exporters
//! (exporter-toolkit), so a scrape job with `tls_config` and `basic_auth` works
//! unchanged:
//!
//! ```yaml
//! tls_server_config:
//!   cert_file: server.crt
//!   key_file: server.key
//! basic_auth_users:
//!   prometheus: $2y$10$...   # bcrypt hash (htpasswd -nBC 10 "" | tr -d ':')
//! ```
//!
//! Paths are relative to the file. Settings of the format that `metrics` does not
//! implement (client certificates, cipher choices, HTTP headers) are refused by
//! name rather than ignored, so a file never promises more than it gives.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::{self, ServerConfig};

use super::ServerError;
use crate::http::tls_versions;

/// What a web-config file asks for.
#[derive(Debug, Default)]
pub struct WebConfig {
    /// TLS settings, when the server speaks HTTPS.
    pub tls: Option<Arc<ServerConfig>>,
    /// Users and their bcrypt hashes; empty when no password is asked.
    pub users: HashMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    tls_server_config: Option<TlsSection>,
    #[serde(default)]
    basic_auth_users: HashMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TlsSection {
    cert_file: Option<PathBuf>,
    key_file: Option<PathBuf>,
    min_version: Option<String>,
    max_version: Option<String>,
}

impl WebConfig {
    /// Reads and checks `path`: the certificate and key load, the hashes are bcrypt.
    pub fn load(path: &Path) -> Result<WebConfig, ServerError> {
        let fail = |message: String| ServerError::WebConfig {
            path: path.to_path_buf(),
            message,
        };
        let text =
            std::fs::read_to_string(path).map_err(|e| fail(format!("cannot read it: {e}")))?;
        let file: File = serde_norway::from_str(&text).map_err(|e| {
            fail(format!(
                "{e}; hint: metrics reads tls_server_config (cert_file, key_file, min_version, max_version) and basic_auth_users"
            ))
        })?;
        for (user, hash) in &file.basic_auth_users {
            if hash.parse::<bcrypt::HashParts>().is_err() {
                return Err(fail(format!(
                    "the password of {user:?} is not a bcrypt hash; hint: make one with `htpasswd -nBC 10 \"\" | tr -d ':\\n'`"
                )));
            }
        }
        let base = path.parent().unwrap_or(Path::new("."));
        let tls = match file.tls_server_config {
            None => None,
            Some(section) => Some(Arc::new(section.server_config(base).map_err(fail)?)),
        };
        Ok(WebConfig {
            tls,
            users: file.basic_auth_users,
        })
    }
}

impl TlsSection {
    fn server_config(self, base: &Path) -> Result<ServerConfig, String> {
        let (Some(cert_file), Some(key_file)) = (self.cert_file, self.key_file) else {
            return Err("tls_server_config needs both cert_file and key_file".into());
        };
        let (cert_file, key_file) = (base.join(cert_file), base.join(key_file));
        let certs = CertificateDer::pem_file_iter(&cert_file)
            .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
            .map_err(|e| format!("cert_file {}: {e}", cert_file.display()))?;
        if certs.is_empty() {
            return Err(format!(
                "cert_file {}: no PEM certificate in it",
                cert_file.display()
            ));
        }
        let key = PrivateKeyDer::from_pem_file(&key_file)
            .map_err(|e| format!("key_file {}: {e}", key_file.display()))?;
        let versions = tls_versions(self.min_version.as_deref(), self.max_version.as_deref())?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(&versions)
            .map_err(|e| e.to_string())?
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .map_err(|e| format!("cert_file and key_file do not make a usable pair: {e}"))?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<WebConfig, ServerError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("web.yml");
        std::fs::write(&path, text).unwrap();
        WebConfig::load(&path)
    }

    #[test]
    fn users_alone_ask_for_passwords_over_plain_http() {
        let hash = bcrypt::hash("secret", 4).unwrap();
        let config = load(&format!("basic_auth_users:\n  prometheus: {hash}\n")).unwrap();
        assert!(config.tls.is_none());
        assert_eq!(config.users["prometheus"], hash);
    }

    #[test]
    fn settings_it_does_not_implement_are_refused_by_name() {
        let e = load("tls_server_config:\n  client_auth_type: RequireAndVerifyClientCert\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("client_auth_type") && e.contains("web.yml"),
            "{e}"
        );
    }

    #[test]
    fn a_plain_password_and_a_missing_key_are_named() {
        let e = load("basic_auth_users:\n  u: secret\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("not a bcrypt hash"), "{e}");
        let e = load("tls_server_config:\n  cert_file: a.crt\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("key_file"), "{e}");
        let e = load("tls_server_config:\n  cert_file: a.crt\n  key_file: a.key\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("a.crt"), "{e}");
    }
}
