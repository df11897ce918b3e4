//! How `metrics` proves who it is to the servers it calls, and which of their
//! certificates it trusts, in the client settings of the Prometheus project
//! (`http_config`, as `promtool --http.config.file` reads them), so an operator
//! copies what Prometheus and Grafana already use:
//!
//! ```yaml
//! basic_auth:
//!   username: metrics
//!   password_file: /etc/metrics/prometheus.password
//! tls_config:
//!   ca_file: ca.crt          # trust this CA (and only it), for a private one
//!   cert_file: client.crt    # a client certificate, when the server asks for one
//!   key_file: client.key
//! ```
//!
//! `analyze --prometheus` reads them from `--http-config FILE` (YAML); an
//! `--alerts` receiver takes `basic_auth`, `authorization` and `tls_config` as
//! TOML tables. Paths are relative to the file that names them. A secret read
//! from a file is read again at every request, as Prometheus does, so a rotated
//! password is picked up without a restart; a file that cannot be read at start
//! fails the command there. `tls_config: server_name` is the name checked in the
//! server's certificate instead of the URL's host (see `http/trust.rs`).
//! `http_headers` adds headers of the operator's choosing (see [`super::headers`]).
//! Settings `metrics` does not implement (`oauth2`, ...) are refused by name
//! rather than ignored, so a file never promises more than it gives.

use std::fmt;
use std::path::{Path, PathBuf};

use reqwest::header::{AUTHORIZATION, HeaderValue};
use reqwest::tls::Version;
use reqwest::{Certificate, ClientBuilder, Identity, RequestBuilder};
use serde::Deserialize;
use tokio_rustls::rustls::pki_types::ServerName;
use tokio_rustls::rustls::{self, SupportedProtocolVersion};

use super::headers::{Headers, HeadersEntry};
use super::tls_versions;
use super::trust::{self, Roots};
use crate::io::settings_file::read_yaml;

/// Why a client settings file cannot be used: the file, where, and how to fix it.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {message}")]
pub struct ClientConfigError {
    /// The file.
    pub path: String,
    /// What is wrong (with the line and column when the YAML reader gave them),
    /// and a hint.
    pub message: String,
}

/// A secret's text, which `Debug` never shows.
#[derive(Clone, PartialEq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl From<String> for Secret {
    fn from(text: String) -> Secret {
        Secret(text)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<secret>")
    }
}

/// `basic_auth`: a user and a password, given or in a file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BasicAuthEntry {
    #[serde(default)]
    username: String,
    password: Option<Secret>,
    password_file: Option<PathBuf>,
}

/// `authorization`: an `Authorization` header of a scheme (`Bearer` unless told)
/// and credentials, given or in a file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthorizationEntry {
    #[serde(rename = "type")]
    scheme: Option<String>,
    credentials: Option<Secret>,
    credentials_file: Option<PathBuf>,
}

/// `tls_config`: the CA to trust, a client certificate, the TLS versions, and
/// (only when asked) no verification at all.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsEntry {
    ca: Option<String>,
    ca_file: Option<PathBuf>,
    cert: Option<String>,
    cert_file: Option<PathBuf>,
    key: Option<Secret>,
    key_file: Option<PathBuf>,
    #[serde(default)]
    insecure_skip_verify: bool,
    min_version: Option<String>,
    max_version: Option<String>,
    server_name: Option<String>,
}

/// The settings a receiver and a `--http-config` file share.
#[derive(Debug, Default)]
pub struct ClientEntries {
    /// `basic_auth`.
    pub basic_auth: Option<BasicAuthEntry>,
    /// `authorization`.
    pub authorization: Option<AuthorizationEntry>,
    /// `tls_config`.
    pub tls_config: Option<TlsEntry>,
    /// `http_headers`.
    pub http_headers: Option<HeadersEntry>,
    /// `proxy_url`.
    pub proxy_url: Option<String>,
    /// `proxy_from_environment`.
    pub proxy_from_environment: Option<bool>,
}

impl ClientEntries {
    /// Whether any setting is given: a receiver that makes no request (a
    /// command) refuses them all.
    pub fn any(&self) -> bool {
        self.basic_auth.is_some()
            || self.authorization.is_some()
            || self.tls_config.is_some()
            || self.http_headers.is_some()
            || self.proxy_url.is_some()
            || self.proxy_from_environment.is_some()
    }
}

/// The `--http-config` file: the shared settings and the connection's own.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct HttpConfigFile {
    basic_auth: Option<BasicAuthEntry>,
    authorization: Option<AuthorizationEntry>,
    tls_config: Option<TlsEntry>,
    http_headers: Option<HeadersEntry>,
    follow_redirects: Option<bool>,
    /// Accepted for files written for Prometheus: the client speaks HTTP/1.1
    /// either way.
    #[serde(rename = "enable_http2")]
    _enable_http2: Option<bool>,
    proxy_url: Option<String>,
    proxy_from_environment: Option<bool>,
}

/// Where a secret comes from.
#[derive(Clone, PartialEq)]
pub(super) enum SecretSource {
    Given(Secret),
    /// Read at every request, white space around it dropped.
    File(PathBuf),
}

/// The `Authorization` header a request carries.
#[derive(Clone, PartialEq)]
enum Auth {
    Basic {
        username: String,
        password: Option<SecretSource>,
    },
    Scheme {
        scheme: String,
        credentials: SecretSource,
    },
}

/// Checked client settings: who the client says it is and what it trusts.
/// The default sends no credentials and trusts the system's CAs.
#[derive(Clone, Default, PartialEq)]
pub struct ClientSettings {
    auth: Option<Auth>,
    /// PEM of the CAs trusted instead of the system's.
    roots: Option<Vec<u8>>,
    /// The name checked in the server's certificate instead of the URL's host.
    server_name: Option<ServerName<'static>>,
    /// PEM of the client certificate and its key.
    identity: Option<Secret>,
    insecure: bool,
    /// The TLS versions offered.
    versions: Vec<&'static SupportedProtocolVersion>,
    /// `None`: the caller's policy.
    follow_redirects: Option<bool>,
    proxy: Option<String>,
    /// Whether `HTTP_PROXY`, `HTTPS_PROXY` and `NO_PROXY` are followed when no
    /// `proxy_url` is given (`proxy_from_environment`; followed unless `false`).
    environment_proxy: Option<bool>,
    /// `http_headers`.
    headers: Headers,
}

impl fmt::Debug for ClientSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let auth = match &self.auth {
            None => "none".to_string(),
            Some(Auth::Basic { username, .. }) => format!("basic as {username:?}"),
            Some(Auth::Scheme { scheme, .. }) => scheme.clone(),
        };
        f.debug_struct("ClientSettings")
            .field("auth", &auth)
            .field("own_ca", &self.roots.is_some())
            .field("server_name", &self.server_name)
            .field("client_certificate", &self.identity.is_some())
            .field("insecure", &self.insecure)
            .field("proxy", &self.proxy)
            .field("environment_proxy", &self.environment_proxy)
            .field("headers", &self.headers.names())
            .finish()
    }
}

impl ClientSettings {
    /// Reads and checks the YAML file at `path` (Prometheus' `http_config`).
    pub fn load(path: &Path) -> Result<ClientSettings, ClientConfigError> {
        let fail = |message: String| ClientConfigError {
            path: path.display().to_string(),
            message,
        };
        let file: HttpConfigFile = read_yaml(
            path,
            "metrics reads basic_auth, authorization, tls_config, http_headers, follow_redirects, enable_http2, proxy_url and proxy_from_environment",
        )
        .map_err(fail)?;
        let base = path.parent().unwrap_or(Path::new("."));
        let mut settings = ClientSettings::resolve(
            base,
            ClientEntries {
                basic_auth: file.basic_auth,
                authorization: file.authorization,
                tls_config: file.tls_config,
                http_headers: file.http_headers,
                proxy_url: file.proxy_url,
                proxy_from_environment: file.proxy_from_environment,
            },
        )
        .map_err(fail)?;
        settings.follow_redirects = file.follow_redirects;
        Ok(settings)
    }

    /// Checks `entries`, their paths taken relative to `base` (the folder of the
    /// file that names them): each secret file can be read and each PEM file
    /// holds what it should. What is wrong, with a hint, otherwise.
    pub fn resolve(base: &Path, entries: ClientEntries) -> Result<ClientSettings, String> {
        let auth = match (entries.basic_auth, entries.authorization) {
            (Some(_), Some(_)) => {
                return Err(
                    "basic_auth and authorization both set the Authorization header; hint: keep one"
                        .into(),
                );
            }
            (Some(basic), None) => Some(basic_auth(base, basic)?),
            (None, Some(authorization)) => Some(scheme_auth(base, authorization)?),
            (None, None) => None,
        };
        let headers = match entries.http_headers {
            Some(entry) => Headers::resolve(base, entry)?,
            None => Headers::default(),
        };
        if entries.proxy_url.is_some() && entries.proxy_from_environment == Some(true) {
            return Err(
                "proxy_url and proxy_from_environment: true cannot both be given; hint: keep one"
                    .into(),
            );
        }
        if let Some(proxy) = &entries.proxy_url {
            reqwest::Proxy::all(proxy).map_err(|e| format!("proxy_url {proxy:?}: {e}"))?;
        }
        let mut settings = ClientSettings {
            auth,
            headers,
            proxy: entries.proxy_url,
            environment_proxy: entries.proxy_from_environment,
            ..ClientSettings::default()
        };
        if let Some(tls) = entries.tls_config {
            settings.roots = pem(base, "ca", tls.ca, tls.ca_file)?;
            if let Some(roots) = &settings.roots {
                let certs = Certificate::from_pem_bundle(roots).unwrap_or_default();
                if certs.is_empty() {
                    return Err("tls_config: ca_file (or ca) holds no PEM certificate; hint: the CA certificate that signed the server's, in PEM".into());
                }
            }
            let cert = pem(base, "cert", tls.cert, tls.cert_file)?;
            let key = pem(base, "key", tls.key.map(|k| k.0), tls.key_file)?;
            settings.identity = match (cert, key) {
                (None, None) => None,
                (Some(mut cert), Some(key)) => {
                    cert.push(b'\n');
                    cert.extend_from_slice(&key);
                    Identity::from_pem(&cert).map_err(|e| {
                        format!("tls_config: cert_file and key_file do not make a usable client certificate: {e}")
                    })?;
                    Some(Secret(String::from_utf8_lossy(&cert).into_owned()))
                }
                _ => {
                    return Err(
                        "tls_config: a client certificate needs both cert_file and key_file".into(),
                    );
                }
            };
            settings.server_name = tls
                .server_name
                .map(|name| {
                    ServerName::try_from(name.clone()).map_err(|_| {
                        format!("tls_config: server_name {name:?} is not a host name or address; hint: the name the server's certificate carries, as prometheus.example.com")
                    })
                })
                .transpose()?;
            settings.insecure = tls.insecure_skip_verify;
            settings.versions =
                tls_versions(tls.min_version.as_deref(), tls.max_version.as_deref())
                    .map_err(|e| format!("tls_config: {e}"))?;
            // The CA and the client certificate make a working TLS set-up
            // together (a key that is not the certificate's is told here).
            settings.client(reqwest::Client::builder())?;
        }
        Ok(settings)
    }

    /// The environment variable naming the proxy these settings send requests
    /// through (`HTTPS_PROXY`, `HTTP_PROXY` or `ALL_PROXY`, either case), when
    /// they follow the environment's and it names one: what to look at when a
    /// server cannot be reached.
    fn environment_proxy(&self) -> Option<&'static str> {
        if self.proxy.is_some() || self.environment_proxy == Some(false) {
            return None;
        }
        [
            "HTTPS_PROXY",
            "https_proxy",
            "HTTP_PROXY",
            "http_proxy",
            "ALL_PROXY",
            "all_proxy",
        ]
        .into_iter()
        .find(|name| std::env::var_os(name).is_some_and(|v| !v.is_empty()))
    }

    /// What in these settings fixes a connection that could not be made, its
    /// error told with its causes ([`super::error_chain`]): the certificate
    /// refused (see [`super::certificate_refused`]), or the proxy the environment
    /// names (see `ClientSettings::environment_proxy`). Without where the
    /// settings are written, which each caller adds.
    pub fn connection_fix(&self, told: &str) -> Option<String> {
        if let Some(refused) = super::certificate_refused(told) {
            return Some(refused.fix().to_string());
        }
        self.environment_proxy().map(|variable| {
            format!(
                "the request went through the proxy {variable} names: add this server's host to NO_PROXY, or give proxy_from_environment: false"
            )
        })
    }

    /// `builder` with these settings' TLS, redirects and proxy, built.
    pub fn client(&self, mut builder: ClientBuilder) -> Result<reqwest::Client, String> {
        let identity = self.identity.as_ref().map(|i| i.0.as_bytes());
        let roots = match (&self.roots, &self.server_name) {
            _ if self.insecure => None,
            (Some(pem), _) => Some(Roots::Given(pem)),
            (None, Some(_)) => Some(Roots::System),
            (None, None) => None,
        };
        match roots {
            // Only the CAs given, and a server presenting one of them, or a name
            // checked in place of the host (`trust`).
            Some(roots) => {
                let config = trust::client_config(
                    roots,
                    self.server_name.as_ref(),
                    identity,
                    &self.versions,
                )?;
                builder = builder.use_preconfigured_tls(config);
            }
            None => {
                if let Some(identity) = identity {
                    builder =
                        builder.identity(Identity::from_pem(identity).map_err(|e| e.to_string())?);
                }
                builder = builder.danger_accept_invalid_certs(self.insecure);
                let offers = |v: &SupportedProtocolVersion| {
                    self.versions.iter().any(|o| o.version == v.version)
                };
                if !self.versions.is_empty() {
                    builder = builder
                        .min_tls_version(if offers(&rustls::version::TLS12) {
                            Version::TLS_1_2
                        } else {
                            Version::TLS_1_3
                        })
                        .max_tls_version(if offers(&rustls::version::TLS13) {
                            Version::TLS_1_3
                        } else {
                            Version::TLS_1_2
                        });
                }
            }
        }
        if self.follow_redirects == Some(false) {
            builder = builder.redirect(reqwest::redirect::Policy::none());
        }
        if self.environment_proxy == Some(false) {
            builder = builder.no_proxy();
        }
        if let Some(proxy) = &self.proxy {
            builder = builder.proxy(reqwest::Proxy::all(proxy).map_err(|e| e.to_string())?);
        }
        builder.build().map_err(|e| super::error_chain(&e))
    }

    /// `request` with the `Authorization` header and the `http_headers` these
    /// settings give (secrets in files read now); why not, when a file cannot be
    /// read any more.
    pub fn apply(&self, request: RequestBuilder) -> Result<RequestBuilder, String> {
        let request = match &self.auth {
            None => request,
            Some(Auth::Basic { username, password }) => {
                let password = password.as_ref().map(reveal).transpose()?;
                request.basic_auth(username, password)
            }
            Some(Auth::Scheme {
                scheme,
                credentials,
            }) => request.header(AUTHORIZATION, header(scheme, &reveal(credentials)?)?),
        };
        self.headers.apply(request)
    }
}

fn basic_auth(base: &Path, entry: BasicAuthEntry) -> Result<Auth, String> {
    if entry.username.is_empty() {
        return Err("basic_auth needs a username".into());
    }
    let password = secret_source(
        base,
        "basic_auth",
        ("password", entry.password),
        ("password_file", entry.password_file),
    )?;
    if let Some(source) = &password {
        reveal(source)?;
    }
    Ok(Auth::Basic {
        username: entry.username,
        password,
    })
}

fn scheme_auth(base: &Path, entry: AuthorizationEntry) -> Result<Auth, String> {
    let scheme = entry.scheme.unwrap_or_else(|| "Bearer".into());
    if scheme.eq_ignore_ascii_case("basic") {
        return Err(
            "authorization: type Basic is what basic_auth is for; hint: give basic_auth with username and password".into(),
        );
    }
    let credentials = secret_source(
        base,
        "authorization",
        ("credentials", entry.credentials),
        ("credentials_file", entry.credentials_file),
    )?
    .ok_or("authorization needs credentials or credentials_file")?;
    header(&scheme, &reveal(&credentials)?)?;
    Ok(Auth::Scheme {
        scheme,
        credentials,
    })
}

/// A secret given inline or by a file (relative to `base`), not both.
fn secret_source(
    base: &Path,
    section: &str,
    (given_name, given): (&str, Option<Secret>),
    (file_name, file): (&str, Option<PathBuf>),
) -> Result<Option<SecretSource>, String> {
    match (given, file) {
        (Some(_), Some(_)) => Err(format!(
            "{section}: {given_name} and {file_name} cannot both be given; hint: keep {file_name}, so the secret stays out of this file"
        )),
        (Some(secret), None) => Ok(Some(SecretSource::Given(secret))),
        (None, Some(file)) => Ok(Some(SecretSource::File(base.join(file)))),
        (None, None) => Ok(None),
    }
}

/// The secret's text now: a file's content without the white space around it.
pub(super) fn reveal(source: &SecretSource) -> Result<String, String> {
    match source {
        SecretSource::Given(secret) => Ok(secret.0.clone()),
        SecretSource::File(path) => std::fs::read_to_string(path)
            .map(|text| text.trim().to_string())
            .map_err(|e| format!("cannot read {}: {e}", path.display())),
    }
}

/// The header value `scheme credentials`, marked sensitive so no log shows it.
fn header(scheme: &str, credentials: &str) -> Result<HeaderValue, String> {
    let mut value = HeaderValue::from_str(&format!("{scheme} {credentials}")).map_err(|_| {
        "authorization: the type or the credentials hold characters a header cannot carry (a line break?)".to_string()
    })?;
    value.set_sensitive(true);
    Ok(value)
}

/// PEM given inline (`name`) or by a file (`name_file`, relative to `base`).
fn pem(
    base: &Path,
    name: &str,
    given: Option<String>,
    file: Option<PathBuf>,
) -> Result<Option<Vec<u8>>, String> {
    match (given, file) {
        (Some(_), Some(_)) => Err(format!(
            "tls_config: {name} and {name}_file cannot both be given; hint: keep one"
        )),
        (Some(text), None) => Ok(Some(text.into_bytes())),
        (None, Some(file)) => {
            let path = base.join(file);
            std::fs::read(&path)
                .map(Some)
                .map_err(|e| format!("tls_config: {name}_file {}: {e}", path.display()))
        }
        (None, None) => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The settings `text` gives, written as `http.yml` into `dir` beside a
    /// file `password`.
    fn load_in(dir: &Path, text: &str) -> Result<ClientSettings, String> {
        let path = dir.join("http.yml");
        std::fs::write(&path, text).unwrap();
        std::fs::write(dir.join("password"), "  s3cret\n").unwrap();
        ClientSettings::load(&path).map_err(|e| e.to_string())
    }

    fn load(text: &str) -> Result<ClientSettings, String> {
        load_in(tempfile::tempdir().unwrap().path(), text)
    }

    fn authorization_of(settings: &ClientSettings) -> String {
        let request = settings
            .apply(reqwest::Client::new().get("http://127.0.0.1:9/"))
            .unwrap()
            .build()
            .unwrap();
        request.headers()[AUTHORIZATION]
            .to_str()
            .unwrap()
            .to_string()
    }

    #[test]
    fn a_password_file_is_relative_to_the_settings_file_and_trimmed() {
        let dir = tempfile::tempdir().unwrap();
        let settings = load_in(
            dir.path(),
            "basic_auth:\n  username: metrics\n  password_file: password\n",
        )
        .unwrap();
        // base64("metrics:s3cret")
        assert_eq!(authorization_of(&settings), "Basic bWV0cmljczpzM2NyZXQ=");
        // Read again at each request: a rotated password is picked up.
        std::fs::write(dir.path().join("password"), "n3w\n").unwrap();
        assert_eq!(authorization_of(&settings), "Basic bWV0cmljczpuM3c=");
        assert!(!format!("{settings:?}").contains("s3cret"));
    }

    #[test]
    fn authorization_is_a_bearer_token_unless_its_type_is_given() {
        let bearer = load("authorization:\n  credentials: abc\n").unwrap();
        assert_eq!(authorization_of(&bearer), "Bearer abc");
        let other = load("authorization:\n  type: Token\n  credentials: abc\n").unwrap();
        assert_eq!(authorization_of(&other), "Token abc");
        let basic = load("authorization:\n  type: basic\n  credentials: abc\n").unwrap_err();
        assert!(basic.contains("basic_auth"), "{basic}");
    }

    #[test]
    fn contradictions_and_missing_files_are_named() {
        for (text, said) in [
            (
                "basic_auth:\n  username: u\n  password: p\nauthorization:\n  credentials: c\n",
                "both set the Authorization header",
            ),
            (
                "basic_auth:\n  username: u\n  password: p\n  password_file: password\n",
                "password and password_file cannot both be given",
            ),
            ("basic_auth:\n  password: p\n", "needs a username"),
            ("authorization:\n  type: Bearer\n", "needs credentials"),
            (
                "authorization:\n  credentials_file: nowhere\n",
                "cannot read",
            ),
            ("tls_config:\n  ca_file: nowhere.crt\n", "ca_file"),
            (
                "tls_config:\n  ca: not a certificate\n",
                "no PEM certificate",
            ),
            (
                "tls_config:\n  cert_file: password\n",
                "both cert_file and key_file",
            ),
            ("tls_config:\n  min_version: TLS10\n", "use TLS12 or TLS13"),
            (
                "tls_config:\n  min_version: TLS13\n  max_version: TLS12\n",
                "min_version is above",
            ),
            ("proxy_url: \"::\"\n", "proxy_url"),
            (
                "proxy_url: http://p:3128\nproxy_from_environment: true\n",
                "cannot both be given",
            ),
            (
                "tls_config:\n  server_name: \"not a name\"\n",
                "server_name \"not a name\" is not a host name",
            ),
        ] {
            let e = load(text).unwrap_err();
            assert!(e.contains(said) && e.contains("http.yml"), "{text}: {e}");
        }
    }

    #[test]
    fn settings_it_does_not_implement_are_refused_by_name() {
        for (text, name) in [
            ("oauth2:\n  client_id: x\n", "oauth2"),
            ("proxy_connect_header:\n  X: [y]\n", "proxy_connect_header"),
        ] {
            let e = load(text).unwrap_err();
            assert!(e.contains(name) && e.contains("hint"), "{e}");
        }
    }

    #[test]
    fn a_private_ca_replaces_the_systems_and_a_client_certificate_loads() {
        let ca = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        let client = rcgen::generate_simple_self_signed(vec!["metrics".into()]).unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ca.crt"), ca.cert.pem()).unwrap();
        std::fs::write(dir.path().join("c.crt"), client.cert.pem()).unwrap();
        std::fs::write(dir.path().join("c.key"), client.signing_key.serialize_pem()).unwrap();
        let path = dir.path().join("http.yml");
        std::fs::write(
            &path,
            "tls_config:\n  ca_file: ca.crt\n  cert_file: c.crt\n  key_file: c.key\n  min_version: TLS13\n",
        )
        .unwrap();
        let settings = ClientSettings::load(&path).unwrap();
        assert!(settings.roots.is_some() && settings.identity.is_some());
        assert_eq!(settings.versions.len(), 1);
        assert!(!settings.insecure, "certificates are checked");
        settings.client(reqwest::Client::builder()).unwrap();
        // A key file holding no key is told at load, not at the first request.
        std::fs::write(dir.path().join("c.key"), ca.cert.pem()).unwrap();
        let e = ClientSettings::load(&path).unwrap_err().to_string();
        assert!(e.contains("usable client certificate"), "{e}");
    }
}
