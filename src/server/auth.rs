//! HTTP basic authentication against the bcrypt hashes of `--web-config`'s
//! `basic_auth_users`, on every path, as Prometheus exporters do. bcrypt is slow
//! by design (tens of milliseconds a check), so it runs off the async workers, and
//! credentials that passed are remembered (a browser sends them with every request,
//! Prometheus with every scrape); failures are never remembered. An unknown user
//! costs the same check as a known one, so timing does not tell which users exist.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;

use super::web_config::{Stamp, stamp, users_of};

/// Credentials remembered at most; the set is emptied when full.
const REMEMBERED: usize = 64;

/// The users of a web-config file, and what passed. Like the Prometheus
/// exporters, which read their web-config at every request, the file is looked
/// at (one `stat`) at every request and read again when it changed: a password
/// changed, a user added or removed takes effect from the next request, on
/// connections already open too, without a restart. A file that no longer reads
/// leaves the users in use, with a warning; one with no users left asks no
/// password, with a warning.
#[derive(Debug)]
pub struct Users {
    /// The web-config file, when the users came from one.
    source: Option<PathBuf>,
    current: Mutex<Current>,
}

#[derive(Debug)]
struct Current {
    /// The source as it was when read.
    stamp: Option<Stamp>,
    /// User to bcrypt hash; empty when no password is asked. A new map at each
    /// reading, so a check made against the old one is not remembered.
    hashes: Arc<HashMap<String, String>>,
    /// `Authorization` values that passed against `hashes`.
    passed: HashSet<String>,
}

impl Users {
    /// Users given as they stand (name to bcrypt hash), never read again.
    pub fn new(hashes: HashMap<String, String>) -> Users {
        Users::with(None, None, hashes)
    }

    /// The users `hashes` read from the web-config at `path`, which was as
    /// `stamp` tells just before it was read.
    pub(super) fn read_from(
        path: &Path,
        stamp: Option<Stamp>,
        hashes: HashMap<String, String>,
    ) -> Users {
        Users::with(Some(path.to_path_buf()), stamp, hashes)
    }

    fn with(
        source: Option<PathBuf>,
        stamp: Option<Stamp>,
        hashes: HashMap<String, String>,
    ) -> Users {
        Users {
            source,
            current: Mutex::new(Current {
                stamp,
                hashes: Arc::new(hashes),
                passed: HashSet::new(),
            }),
        }
    }

    /// Whether a password is asked: the file names a user (as last read).
    pub fn ask_passwords(&self) -> bool {
        !self.lock().hashes.is_empty()
    }

    /// Whether a request with this `Authorization` header value (if any) may pass:
    /// always when no user is named, else when it names a user with its password.
    pub fn verify(&self, authorization: Option<&str>) -> bool {
        let (hashes, authorization) = {
            let mut current = self.lock();
            self.refresh(&mut current);
            match authorization {
                _ if current.hashes.is_empty() => return true,
                None => return false,
                Some(a) if current.passed.contains(a) => return true,
                Some(a) => (Arc::clone(&current.hashes), a),
            }
        };
        let Some((user, password)) = basic_credentials(authorization) else {
            return false;
        };
        // An unknown user costs the check of a known user's hash.
        let (hash, known) = match hashes.get(&user) {
            Some(h) => (h.as_str(), true),
            None => (hashes.values().next().map_or("", String::as_str), false),
        };
        let ok = bcrypt::verify(&password, hash).unwrap_or(false) && known;
        let mut current = self.lock();
        // Remembered only when the users are still those it was checked against.
        if ok && Arc::ptr_eq(&current.hashes, &hashes) {
            if current.passed.len() >= REMEMBERED {
                current.passed.clear();
            }
            current.passed.insert(authorization.to_string());
        }
        ok
    }

    /// Reads the web-config again when it changed since it was read.
    fn refresh(&self, current: &mut Current) {
        let Some(source) = &self.source else {
            return;
        };
        let now = stamp(source);
        if now == current.stamp {
            return;
        }
        current.stamp = now;
        match users_of(source) {
            Ok(hashes) => {
                if hashes.is_empty() && !current.hashes.is_empty() {
                    tracing::warn!(
                        "{} names no basic_auth_users any more: no password is asked from now on",
                        source.display()
                    );
                } else {
                    tracing::info!(
                        "users read again from {}: {} user(s)",
                        source.display(),
                        hashes.len()
                    );
                }
                current.hashes = Arc::new(hashes);
                current.passed.clear();
            }
            Err(e) => tracing::warn!("{e}; the users in use stay"),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Current> {
        // A panic elsewhere cannot leave a half-changed state: each change is whole.
        self.current.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// `user` and `password` of a `Basic` authorization header value.
fn basic_credentials(value: &str) -> Option<(String, String)> {
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

/// The middleware: 401 with a `WWW-Authenticate` challenge unless the request
/// carries a user's name and password.
pub async fn check(State(users): State<Arc<Users>>, request: Request, next: Next) -> Response {
    if authorised(&users, request.headers()).await {
        return next.run(request).await;
    }
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, "Basic realm=\"metrics\"")],
        "a user name and password are needed (basic_auth_users of --web-config)\n",
    )
        .into_response()
}

async fn authorised(users: &Arc<Users>, headers: &HeaderMap) -> bool {
    let value = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let users = Arc::clone(users);
    tokio::task::spawn_blocking(move || users.verify(value.as_deref()))
        .await
        .unwrap_or(false)
}

/// The `Authorization` header value of `user` with `password`, for tests.
#[cfg(test)]
pub(crate) fn basic(user: &str, password: &str) -> String {
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("Basic {token}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_user_passes_with_the_password_only() {
        let users = Users::new(HashMap::from([(
            "prometheus".to_string(),
            bcrypt::hash("s3cret:x", 4).unwrap(),
        )]));
        assert!(users.verify(Some(&basic("prometheus", "s3cret:x"))));
        // Remembered, and still only for the right password.
        assert!(users.verify(Some(&basic("prometheus", "s3cret:x"))));
        assert!(!users.verify(Some(&basic("prometheus", "s3cret"))));
        assert!(!users.verify(Some(&basic("grafana", "s3cret:x"))));
        assert!(!users.verify(Some("Bearer abc")));
        assert!(!users.verify(Some("Basic !!!")));
        assert!(!users.verify(None));
        assert!(
            Users::new(HashMap::new()).verify(None),
            "no user, no password"
        );
    }

    #[test]
    fn a_changed_web_config_changes_who_passes_from_the_next_request() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("web.yml");
        // Put in place by a rename, as editors and config tools do.
        let write = |text: String| {
            let fresh = dir.path().join("web.yml.new");
            std::fs::write(&fresh, text).unwrap();
            std::fs::rename(&fresh, &path).unwrap();
        };
        let user = |name: &str, password: &str| {
            format!("  {name}: {}\n", bcrypt::hash(password, 4).unwrap())
        };
        write(format!("basic_auth_users:\n{}", user("prometheus", "old")));
        let users = super::super::web_config::WebConfig::load(&path)
            .unwrap()
            .users
            .unwrap();
        assert!(users.verify(Some(&basic("prometheus", "old"))));
        write(format!(
            "basic_auth_users:\n{}{}",
            user("prometheus", "new"),
            user("grafana", "g")
        ));
        assert!(
            !users.verify(Some(&basic("prometheus", "old"))),
            "the old password, though remembered, no longer passes"
        );
        assert!(users.verify(Some(&basic("prometheus", "new"))));
        assert!(users.verify(Some(&basic("grafana", "g"))));
        // A file that does not read leaves the users in use.
        write("basic_auth_users:\n  grafana: plain\n".into());
        assert!(users.verify(Some(&basic("prometheus", "new"))));
        assert!(!users.verify(None));
        // No users left: no password asked.
        write("{}\n".into());
        assert!(users.verify(None));
        assert!(!users.ask_passwords());
    }
}
