//! `--web-config FILE`: TLS and passwords for a server exposed beyond this
//! machine, in the `web-config.yml` format of the Prometheus exporters
//! (exporter-toolkit), so a scrape job with `tls_config` and `basic_auth` works
//! unchanged:
//!
//! ```yaml
//! tls_server_config:
//!   cert_file: server.crt
//!   key_file: server.key
//!   client_auth_type: RequireAndVerifyClientCert   # and client certificates
//!   client_ca_file: clients-ca.crt
//! basic_auth_users:
//!   prometheus: $2y$10$...   # bcrypt hash (htpasswd -nBC 10 "" | tr -d ':')
//! ```
//!
//! Paths are relative to the file. Settings of the format that `metrics` does not
//! implement (cipher choices, HTTP headers, client certificates taken without
//! being checked) are refused by name rather than ignored, so a file never
//! promises more than it gives.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::server::WebPkiClientVerifier;
use tokio_rustls::rustls::server::danger::ClientCertVerifier;
use tokio_rustls::rustls::{self, RootCertStore, ServerConfig};

use super::ServerError;
use super::auth::Users;
use crate::http::tls_versions;
use crate::io::settings_file::read_yaml;

/// What a web-config file asks for.
#[derive(Debug, Default)]
pub struct WebConfig {
    /// TLS settings, when the server speaks HTTPS.
    pub tls: Option<ServerTls>,
    /// Its users, read again when the file changes; none without a web-config.
    pub users: Option<Users>,
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
    client_auth_type: Option<String>,
    client_ca_file: Option<PathBuf>,
}

impl WebConfig {
    /// Reads and checks `path`: the certificate and key load, the hashes are bcrypt.
    pub fn load(path: &Path) -> Result<WebConfig, ServerError> {
        let fail = |message: String| ServerError::WebConfig {
            path: path.to_path_buf(),
            message,
        };
        // Stamped before it is read, so a change made meanwhile is seen next time.
        let source_stamp = stamp(path);
        let file = read(path)?;
        let base = path.parent().unwrap_or(Path::new("."));
        let tls = match file.tls_server_config {
            None => None,
            Some(section) => {
                let mut files = vec![path.to_path_buf()];
                files.extend(
                    [
                        &section.cert_file,
                        &section.key_file,
                        &section.client_ca_file,
                    ]
                    .into_iter()
                    .flatten()
                    .map(|f| base.join(f)),
                );
                // Stamped before they are read, so a change made meanwhile is
                // seen at the next connection.
                let stamps = stamps(&files);
                Some(ServerTls {
                    config: Arc::new(section.server_config(base).map_err(fail)?),
                    files,
                    stamps,
                    source: path.to_path_buf(),
                })
            }
        };
        Ok(WebConfig {
            tls,
            users: Some(Users::read_from(path, source_stamp, file.basic_auth_users)),
        })
    }
}

/// The users and bcrypt hashes of the web-config file at `path`, checked.
pub(super) fn users_of(path: &Path) -> Result<HashMap<String, String>, ServerError> {
    Ok(read(path)?.basic_auth_users)
}

/// Reads and parses the web-config file at `path`, and checks its hashes.
fn read(path: &Path) -> Result<File, ServerError> {
    let fail = |message: String| ServerError::WebConfig {
        path: path.to_path_buf(),
        message,
    };
    let file: File = read_yaml(
        path,
        "metrics reads tls_server_config (cert_file, key_file, min_version, max_version, client_auth_type, client_ca_file) and basic_auth_users",
    )
    .map_err(fail)?;
    for (user, hash) in &file.basic_auth_users {
        if hash.parse::<bcrypt::HashParts>().is_err() {
            return Err(fail(format!(
                "the password of {user:?} is not a bcrypt hash; hint: make one with `htpasswd -nBC 10 \"\" | tr -d ':\\n'`"
            )));
        }
    }
    Ok(file)
}

/// The TLS settings a server uses, and the files they were read from, so a
/// renewed certificate is served without a restart.
#[derive(Debug)]
pub struct ServerTls {
    config: Arc<ServerConfig>,
    /// The web-config file.
    source: PathBuf,
    /// The web-config, certificate, key and client CA files.
    files: Vec<PathBuf>,
    /// Each of `files` as it was when read.
    stamps: Vec<Option<Stamp>>,
}

/// What tells a file was replaced or rewritten: its inode, size and time.
pub(super) type Stamp = (u64, u64, i64, i64);

/// The [`Stamp`] of the file at `path`, following links (a renewal often switches
/// a link); none when it cannot be read.
pub(super) fn stamp(path: &Path) -> Option<Stamp> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path)
        .ok()
        .map(|m| (m.ino(), m.len(), m.mtime(), m.mtime_nsec()))
}

/// Each of `files`' [`Stamp`].
fn stamps(files: &[PathBuf]) -> Vec<Option<Stamp>> {
    files.iter().map(|path| stamp(path)).collect()
}

impl ServerTls {
    /// The settings for the next handshake. When the web-config, certificate, key
    /// or client CA file has changed since it was read (a few `stat` calls, made
    /// per connection), the web-config is read again: its TLS settings are used
    /// from then on, or, when they do not load (a key written before its
    /// certificate), the ones in use stay, with a warning, and the next change is
    /// tried again. Users and passwords are read again by [`Users`].
    pub fn current(&mut self) -> Arc<ServerConfig> {
        let now = stamps(&self.files);
        if now != self.stamps {
            match WebConfig::load(&self.source) {
                Ok(WebConfig {
                    tls: Some(fresh), ..
                }) => {
                    tracing::info!(
                        "TLS settings read again from {}: a changed certificate, key or web-config",
                        self.source.display()
                    );
                    *self = fresh;
                }
                Ok(WebConfig { tls: None, .. }) => {
                    self.stamps = now;
                    tracing::warn!(
                        "{} no longer has tls_server_config; TLS stays as it was until a restart",
                        self.source.display()
                    );
                }
                Err(e) => {
                    self.stamps = now;
                    tracing::warn!("{e}; the TLS settings in use stay");
                }
            }
        }
        Arc::clone(&self.config)
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
        let clients = client_verifier(
            self.client_auth_type.as_deref(),
            self.client_ca_file.map(|f| base.join(f)),
            &provider,
        )?;
        let builder = ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(&versions)
            .map_err(|e| e.to_string())?;
        let builder = match clients {
            None => builder.with_no_client_auth(),
            Some(verifier) => builder.with_client_cert_verifier(verifier),
        };
        let mut config = builder
            .with_single_cert(certs, key)
            .map_err(|e| format!("cert_file and key_file do not make a usable pair: {e}"))?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(config)
    }
}

/// The check of client certificates `client_auth_type` asks for, against the CAs
/// in `client_ca_file`: none (`NoClientCert`, the default), one that must be
/// shown (`RequireAndVerifyClientCert`), or one checked when shown
/// (`VerifyClientCertIfGiven`). The format's `RequestClientCert` and
/// `RequireAnyClientCert` take a certificate without checking it, which proves
/// nothing, and are refused.
fn client_verifier(
    auth_type: Option<&str>,
    ca_file: Option<PathBuf>,
    provider: &Arc<rustls::crypto::CryptoProvider>,
) -> Result<Option<Arc<dyn ClientCertVerifier>>, String> {
    let optional = match auth_type.unwrap_or("NoClientCert") {
        "NoClientCert" => {
            return match ca_file {
                None => Ok(None),
                Some(_) => Err(
                    "client_ca_file is given but client_auth_type is NoClientCert; hint: client_auth_type: RequireAndVerifyClientCert".into(),
                ),
            };
        }
        "RequireAndVerifyClientCert" => false,
        "VerifyClientCertIfGiven" => true,
        other @ ("RequestClientCert" | "RequireAnyClientCert") => {
            return Err(format!(
                "client_auth_type {other} takes a client certificate without checking it; hint: RequireAndVerifyClientCert with client_ca_file"
            ));
        }
        other => {
            return Err(format!(
                "client_auth_type {other:?} is not one of NoClientCert, RequireAndVerifyClientCert, VerifyClientCertIfGiven"
            ));
        }
    };
    let ca_file =
        ca_file.ok_or("client certificates need client_ca_file, the CA that signs them")?;
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(&ca_file)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("client_ca_file {}: {e}", ca_file.display()))?
    {
        roots
            .add(cert)
            .map_err(|e| format!("client_ca_file {}: {e}", ca_file.display()))?;
    }
    if roots.is_empty() {
        return Err(format!(
            "client_ca_file {}: no PEM certificate in it",
            ca_file.display()
        ));
    }
    let builder = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone());
    let builder = if optional {
        builder.allow_unauthenticated()
    } else {
        builder
    };
    builder.build().map(Some).map_err(|e| e.to_string())
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
        let users = config.users.unwrap();
        assert!(users.ask_passwords());
        assert!(users.verify(Some(&crate::server::auth::basic("prometheus", "secret"))));
    }

    #[test]
    fn settings_it_does_not_implement_are_refused_by_name() {
        let e = load("tls_server_config:\n  cipher_suites: [TLS_AES_128_GCM_SHA256]\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("cipher_suites") && e.contains("web.yml"), "{e}");
    }

    #[test]
    fn client_certificates_are_checked_against_a_ca_or_refused() {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let dir = tempfile::tempdir().unwrap();
        let ca = rcgen::generate_simple_self_signed(vec!["clients".into()]).unwrap();
        let ca_file = dir.path().join("ca.crt");
        std::fs::write(&ca_file, ca.cert.pem()).unwrap();
        let verifier = |kind: Option<&str>, file: Option<&Path>| {
            client_verifier(kind, file.map(Path::to_path_buf), &provider)
        };
        assert!(verifier(None, None).unwrap().is_none());
        let required = verifier(Some("RequireAndVerifyClientCert"), Some(&ca_file))
            .unwrap()
            .unwrap();
        assert!(required.client_auth_mandatory());
        let optional = verifier(Some("VerifyClientCertIfGiven"), Some(&ca_file))
            .unwrap()
            .unwrap();
        assert!(!optional.client_auth_mandatory());
        for (kind, file, said) in [
            (
                Some("RequireAnyClientCert"),
                Some(ca_file.as_path()),
                "without checking it",
            ),
            (
                Some("RequireAndVerifyClientCert"),
                None,
                "need client_ca_file",
            ),
            (
                None,
                Some(ca_file.as_path()),
                "client_auth_type is NoClientCert",
            ),
            (Some("Always"), None, "is not one of"),
        ] {
            let e = verifier(kind, file).err().unwrap();
            assert!(e.contains(said), "{kind:?}: {e}");
        }
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
