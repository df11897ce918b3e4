//! A few dozen lines of WebDriver over plain TCP: enough to drive headless Chromium
//! through chromedriver without a client crate.

use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::{DEADLINE, free_port, request};

/// The key WebDriver uses for element references.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// chromedriver and one browser session.
pub struct Browser {
    driver: Child,
    port: u16,
    session: String,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Starts chromedriver on a free port and a headless Chromium session.
    pub fn start() -> Browser {
        let port = free_port();
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect(
                "chromedriver is needed for this test: apt-get install chromium chromium-driver",
            );
        let profile = tempfile::tempdir().unwrap();
        let mut browser = Browser {
            driver,
            port,
            session: String::new(),
            _profile: profile,
        };
        // chromedriver listens before it is ready, and the first session of a
        // fresh machine may get an empty reply while Chromium starts for the
        // first time: wait for readiness, then retry the session until the
        // deadline, and say what was last answered.
        let started = Instant::now();
        loop {
            let ready = TcpStream::connect(("127.0.0.1", port)).is_ok()
                && browser
                    .try_call("GET", "/status", None)
                    .is_ok_and(|v| v["ready"] == Value::Bool(true));
            if ready {
                break;
            }
            assert!(
                started.elapsed() < DEADLINE,
                "chromedriver did not become ready"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let args = [
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-breakpad",
            "--disable-quic",
            "--no-first-run",
            "--window-size=1280,1400",
            &format!("--user-data-dir={}", browser._profile.path().display()),
        ];
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": "/usr/bin/chromium", "args": args},
            "unhandledPromptBehavior": "ignore",
        }}});
        loop {
            let answer = browser.try_call("POST", "/session", Some(capabilities.clone()));
            if let Some(session) = answer.as_ref().ok().and_then(|a| a["sessionId"].as_str()) {
                browser.session = session.to_string();
                return browser;
            }
            assert!(
                started.elapsed() < DEADLINE,
                "chromedriver started no browser session; last answer: {answer:?}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// One WebDriver command; returns the `value` of the answer (errors included).
    pub fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        self.try_call(method, path, body.clone())
            .unwrap_or_else(|e| panic!("WebDriver {method} {path} {body:?}: {e}"))
    }

    /// One WebDriver command; the `value` of the answer, or what was wrong with it.
    fn try_call(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value, String> {
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let address = format!("127.0.0.1:{}", self.port);
        let answer = request(
            &address,
            method,
            path,
            "application/json",
            Some(body.as_bytes()),
        );
        let value: Value = serde_json::from_str(&answer.body).map_err(|e| {
            format!(
                "chromedriver answered status {} with {:?}, not JSON ({e})",
                answer.status, answer.body
            )
        })?;
        Ok(value.get("value").cloned().unwrap_or(value))
    }

    fn session_path(&self, rest: &str) -> String {
        format!("/session/{}{rest}", self.session)
    }

    /// Opens a URL.
    pub fn goto(&self, url: &str) {
        self.call(
            "POST",
            &self.session_path("/url"),
            Some(json!({ "url": url })),
        );
    }

    /// Runs `script` (a function body) in the page and returns what it returns.
    pub fn eval(&self, script: &str) -> Value {
        self.call(
            "POST",
            &self.session_path("/execute/sync"),
            Some(json!({ "script": script, "args": [] })),
        )
    }

    /// Evaluates `script` until it returns `true`, up to the deadline; `what` says
    /// what was awaited when it never does.
    pub fn wait_for(&self, script: &str, what: &str) {
        let started = Instant::now();
        loop {
            let value = self.eval(script);
            if value == Value::Bool(true) {
                return;
            }
            assert!(
                started.elapsed() < DEADLINE,
                "waited in vain for {what}; last answer {value}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The element `css` selects.
    pub fn find(&self, css: &str) -> String {
        let value = self.call(
            "POST",
            &self.session_path("/element"),
            Some(json!({ "using": "css selector", "value": css })),
        );
        value[ELEMENT]
            .as_str()
            .unwrap_or_else(|| panic!("no element {css}: {value}"))
            .to_string()
    }

    /// Types `text` into the element (a path, for a file input).
    pub fn type_into(&self, css: &str, text: &str) {
        let id = self.find(css);
        self.call(
            "POST",
            &self.session_path(&format!("/element/{id}/value")),
            Some(json!({ "text": text })),
        );
    }

    /// Clicks the element.
    pub fn click(&self, css: &str) {
        let id = self.find(css);
        self.call(
            "POST",
            &self.session_path(&format!("/element/{id}/click")),
            Some(json!({})),
        );
    }

    /// Sets the window's size in CSS pixels.
    pub fn resize(&self, width: u32, height: u32) {
        self.call(
            "POST",
            &self.session_path("/window/rect"),
            Some(json!({ "width": width, "height": height })),
        );
    }

    /// The text of an open alert, if one is open.
    pub fn alert_text(&self) -> Option<String> {
        let value = self.call("GET", &self.session_path("/alert/text"), None);
        value.as_str().map(str::to_string)
    }

    /// Saves a PNG screenshot of the page.
    pub fn screenshot(&self, path: &Path) {
        let value = self.call("GET", &self.session_path("/screenshot"), None);
        let png = decode_base64(value.as_str().expect("a screenshot"));
        std::fs::write(path, png).unwrap();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let path = self.session_path("");
            self.call("DELETE", &path, None);
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

fn decode_base64(text: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        _ => 63,
    };
    let clean: Vec<u8> = text
        .bytes()
        .filter(|c| c.is_ascii_alphanumeric() || *c == b'+' || *c == b'/')
        .collect();
    let mut out = Vec::with_capacity(clean.len() * 3 / 4);
    for chunk in clean.chunks(4) {
        let v: Vec<u32> = chunk.iter().map(|&c| u32::from(value(c))).collect();
        let n = v.iter().fold(0u32, |acc, &x| (acc << 6) | x) << (6 * (4 - v.len()));
        let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&bytes[..v.len() - 1]);
    }
    out
}
