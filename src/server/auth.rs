//! HTTP basic authentication against the bcrypt hashes of `--web-config`'s
//! `basic_auth_users`, on every path, as Prometheus exporters do. bcrypt is slow
//! by design (tens of milliseconds a check), so it runs off the async workers, and
//! credentials that passed are remembered (a browser sends them with every request,
//! Prometheus with every scrape); failures are never remembered. An unknown user
//! costs the same check as a known one, so timing does not tell which users exist.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;

/// Credentials remembered at most; the set is emptied when full.
const REMEMBERED: usize = 64;

/// The users and what passed.
#[derive(Debug)]
pub struct Users {
    hashes: HashMap<String, String>,
    /// A hash no password matches, checked for unknown users.
    decoy: String,
    passed: Mutex<HashSet<String>>,
}

impl Users {
    /// The users of a web-config file (name to bcrypt hash).
    pub fn new(hashes: HashMap<String, String>) -> Users {
        let decoy = hashes.values().next().cloned().unwrap_or_default();
        Users {
            hashes,
            decoy,
            passed: Mutex::new(HashSet::new()),
        }
    }

    /// Whether an `Authorization` header value names a user with its password.
    fn verify(&self, authorization: &str) -> bool {
        if self.lock().contains(authorization) {
            return true;
        }
        let Some((user, password)) = basic_credentials(authorization) else {
            return false;
        };
        let (hash, known) = match self.hashes.get(&user) {
            Some(h) => (h.as_str(), true),
            None => (self.decoy.as_str(), false),
        };
        let ok = bcrypt::verify(&password, hash).unwrap_or(false) && known;
        if ok {
            let mut passed = self.lock();
            if passed.len() >= REMEMBERED {
                passed.clear();
            }
            passed.insert(authorization.to_string());
        }
        ok
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        // A panic elsewhere cannot leave a half-changed set: insert and clear are whole.
        self.passed.lock().unwrap_or_else(|p| p.into_inner())
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
    let Some(value) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let (users, value) = (Arc::clone(users), value.to_string());
    tokio::task::spawn_blocking(move || users.verify(&value))
        .await
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(user: &str, password: &str) -> String {
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        format!("Basic {token}")
    }

    #[test]
    fn a_user_passes_with_the_password_only() {
        let users = Users::new(HashMap::from([(
            "prometheus".to_string(),
            bcrypt::hash("s3cret:x", 4).unwrap(),
        )]));
        assert!(users.verify(&header("prometheus", "s3cret:x")));
        // Remembered, and still only for the right password.
        assert!(users.verify(&header("prometheus", "s3cret:x")));
        assert!(!users.verify(&header("prometheus", "s3cret")));
        assert!(!users.verify(&header("grafana", "s3cret:x")));
        assert!(!users.verify("Bearer abc"));
        assert!(!users.verify("Basic !!!"));
    }
}
