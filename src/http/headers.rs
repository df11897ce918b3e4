//! `http_headers`: headers of the operator's choosing on every request (a
//! tenant's `X-Scope-OrgID` for Mimir, Cortex or Thanos, a gateway's key), in the
//! form of Prometheus' client settings: each header's `values`, `secrets` and
//! `files` (read again at every request, white space around them dropped, as
//! Prometheus reads them). Headers the client sets itself, or that change the
//! connection, are refused by name, as Prometheus refuses them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use reqwest::RequestBuilder;
use reqwest::header::{HeaderName, HeaderValue};
use serde::Deserialize;

use super::client::{Secret, SecretSource, reveal};

/// Headers Prometheus' client refuses to set from `http_headers`: set by the
/// client itself or by `basic_auth` and `authorization`, or changing the
/// connection.
const RESERVED: [&str; 18] = [
    "authorization",
    "host",
    "content-encoding",
    "content-length",
    "content-type",
    "user-agent",
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "www-authenticate",
    "accept-encoding",
    "x-prometheus-remote-write-version",
    "x-prometheus-remote-read-version",
    "x-prometheus-scrape-timeout-seconds",
    "x-amz-date",
    "x-amz-security-token",
    "x-amz-content-sha256",
];

/// One header's entry: values given as they stand, secrets, and files holding a
/// value each.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeaderEntry {
    #[serde(default)]
    values: Vec<String>,
    #[serde(default)]
    secrets: Vec<Secret>,
    #[serde(default)]
    files: Vec<PathBuf>,
}

/// `http_headers`: each header's name and entry.
pub type HeadersEntry = BTreeMap<String, HeaderEntry>;

/// One value a header is sent with.
#[derive(Clone, PartialEq)]
struct Value {
    source: SecretSource,
    /// Marked sensitive, so no log shows it (a secret or a file's content).
    sensitive: bool,
}

/// The headers every request carries, checked.
#[derive(Clone, Default, PartialEq)]
pub struct Headers(Vec<(HeaderName, Vec<Value>)>);

impl Headers {
    /// Checks `entry`, its files taken relative to `base`: each name is a header
    /// name and not reserved, each value one a header can carry, each file
    /// readable now.
    pub fn resolve(base: &Path, entry: HeadersEntry) -> Result<Headers, String> {
        let mut headers = Vec::new();
        for (name, header) in entry {
            let parsed = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| format!("http_headers: {name:?} is not a header name"))?;
            if RESERVED.contains(&parsed.as_str()) {
                return Err(format!(
                    "http_headers: {name} cannot be set here (the client sets it, or basic_auth and authorization do); hint: remove it"
                ));
            }
            let values: Vec<Value> = (header.values.into_iter())
                .map(|v| (SecretSource::Given(Secret::from(v)), false))
                .chain((header.secrets.into_iter()).map(|s| (SecretSource::Given(s), true)))
                .chain((header.files.into_iter()).map(|f| (SecretSource::File(base.join(f)), true)))
                .map(|(source, sensitive)| Value { source, sensitive })
                .collect();
            if values.is_empty() {
                return Err(format!(
                    "http_headers: {name} has no values, secrets or files; hint: give one, or remove it"
                ));
            }
            for value in &values {
                header_value(&parsed, value)?;
            }
            headers.push((parsed, values));
        }
        Ok(Headers(headers))
    }

    /// The headers' names, for a settings' `Debug`.
    pub fn names(&self) -> Vec<&str> {
        self.0.iter().map(|(name, _)| name.as_str()).collect()
    }

    /// `request` with every header and each of its values (files read now).
    pub fn apply(&self, mut request: RequestBuilder) -> Result<RequestBuilder, String> {
        for (name, values) in &self.0 {
            for value in values {
                request = request.header(name.clone(), header_value(name, value)?);
            }
        }
        Ok(request)
    }
}

/// `value` of header `name` as sent: its text now, marked sensitive when secret.
fn header_value(name: &HeaderName, value: &Value) -> Result<HeaderValue, String> {
    let text = reveal(&value.source).map_err(|e| format!("http_headers: {name}: {e}"))?;
    let mut header = HeaderValue::from_str(&text).map_err(|_| {
        format!(
            "http_headers: {name}: a value holds characters a header cannot carry (a line break?)"
        )
    })?;
    header.set_sensitive(value.sensitive);
    Ok(header)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(dir: &Path, yaml: &str) -> Result<Headers, String> {
        Headers::resolve(dir, serde_norway::from_str(yaml).unwrap())
    }

    #[test]
    fn values_secrets_and_files_are_sent_and_a_file_is_read_at_every_request() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("tenant"), " team-a\n").unwrap();
        let headers = resolve(
            dir.path(),
            "X-Scope-OrgID:\n  files: [tenant]\nX-Gateway:\n  values: [one]\n  secrets: [two]\n",
        )
        .unwrap();
        let sent = |headers: &Headers| {
            let request = headers
                .apply(reqwest::Client::new().get("http://127.0.0.1:9/"))
                .unwrap()
                .build()
                .unwrap();
            let mut all: Vec<(String, String, bool)> = request
                .headers()
                .iter()
                .map(|(n, v)| {
                    (
                        n.to_string(),
                        v.to_str().unwrap().to_string(),
                        v.is_sensitive(),
                    )
                })
                .collect();
            all.sort();
            all
        };
        assert_eq!(
            sent(&headers),
            [
                ("x-gateway".into(), "one".into(), false),
                ("x-gateway".into(), "two".into(), true),
                ("x-scope-orgid".into(), "team-a".into(), true),
            ]
        );
        std::fs::write(dir.path().join("tenant"), "team-b").unwrap();
        assert!(sent(&headers).contains(&("x-scope-orgid".into(), "team-b".into(), true)));
    }

    #[test]
    fn reserved_names_bad_values_and_unreadable_files_are_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        for (yaml, said) in [
            (
                "Authorization:\n  values: [x]\n",
                "Authorization cannot be set here",
            ),
            ("host:\n  values: [x]\n", "host cannot be set here"),
            (
                "\"X Bad\":\n  values: [x]\n",
                "\"X Bad\" is not a header name",
            ),
            ("X-Empty: {}\n", "X-Empty has no values"),
            ("X-File:\n  files: [nowhere]\n", "x-file: cannot read"),
            ("X-Line:\n  values: [\"a\\nb\"]\n", "cannot carry"),
        ] {
            let e = resolve(dir.path(), yaml).err().unwrap();
            assert!(e.contains(said), "{yaml}: {e}");
        }
    }
}
