//! A real Prometheus (Debian's `prometheus`) on a free loopback port, for the tests
//! that scrape `metrics watch` or load the rules it ships.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{DEADLINE, free_port, send};

/// A running server of the Prometheus project (Prometheus, Alertmanager), killed
/// when dropped.
pub struct Prometheus {
    child: Child,
    /// `host:port` it serves on.
    pub address: String,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `program` with `args` and `--web.listen-address` on a free loopback
/// port, its standard error in `log`, and waits until its `/-/ready` answers; a
/// port taken meanwhile is tried again with another.
pub fn start_ready(program: &str, args: &[String], log: &Path) -> Prometheus {
    start_ready_when(program, args, log, |address| {
        send(address, "GET", "/-/ready", &[], None).status == 200
    })
}

/// The user and password of the web-config [`web_config`] writes.
pub const USER: (&str, &str) = ("prometheus", "s3cret");

/// A self-signed certificate for localhost and 127.0.0.1 (`server.crt`, with
/// `server.key`) and a web-config (`web.yml`) with TLS and one user, [`USER`], in
/// the format of the Prometheus project's servers; its path.
pub fn web_config(dir: &Path) -> PathBuf {
    let cert =
        rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
    std::fs::write(dir.join("server.crt"), cert.cert.pem()).unwrap();
    std::fs::write(dir.join("server.key"), cert.signing_key.serialize_pem()).unwrap();
    let hash = bcrypt::hash(USER.1, 4).unwrap();
    let path = dir.join("web.yml");
    std::fs::write(
        &path,
        format!(
            "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\nbasic_auth_users:\n  {}: {hash}\n",
            USER.0
        ),
    )
    .unwrap();
    path
}

/// Starts `program` as [`start_ready`] does, behind the TLS and password of
/// `web_config` (from [`web_config`]): ready when `/-/ready` answers 200 over
/// TLS, trusting `server.crt` beside it, with [`USER`]'s password.
pub fn start_secured(program: &str, args: &[String], log: &Path, web_config: &Path) -> Prometheus {
    let mut args = args.to_vec();
    args.push(format!("--web.config.file={}", web_config.display()));
    let ca = std::fs::read(web_config.with_file_name("server.crt")).unwrap();
    start_ready_when(program, &args, log, |address| {
        let (url, ca) = (format!("https://{address}/-/ready"), ca.clone());
        // Its own thread and runtime, so a test on a runtime can call it too.
        std::thread::spawn(move || {
            let client = reqwest::Client::builder()
                .add_root_certificate(reqwest::Certificate::from_pem(&ca).unwrap())
                .build()
                .unwrap();
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(async {
                    let answer = client
                        .get(url)
                        .basic_auth(USER.0, Some(USER.1))
                        .send()
                        .await;
                    answer.is_ok_and(|a| a.status() == 200)
                })
        })
        .join()
        .unwrap()
    })
}

/// Starts `program` as [`start_ready`] does, ready once `ready(address)`.
fn start_ready_when(
    program: &str,
    args: &[String],
    log: &Path,
    ready: impl Fn(&str) -> bool,
) -> Prometheus {
    let started = Instant::now();
    loop {
        let address = format!("127.0.0.1:{}", free_port());
        let mut child = Command::new(program)
            .args(args)
            .arg(format!("--web.listen-address={address}"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(log).unwrap())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("{program} is needed for this test (its Debian package): {e}")
            });
        loop {
            if child.try_wait().unwrap().is_some() {
                // The port was taken meanwhile: try another.
                break;
            }
            if std::net::TcpStream::connect(&address).is_ok() && ready(&address) {
                return Prometheus { child, address };
            }
            assert!(
                started.elapsed() < DEADLINE,
                "{program} did not start: {}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// Starts Prometheus on loopback with `config` and its data in `dir/tsdb`, ready
/// to answer.
pub fn prometheus(dir: &Path, config: &str) -> Prometheus {
    start_ready(
        "prometheus",
        &prometheus_args(dir, config),
        &dir.join("prometheus.log"),
    )
}

/// Starts Prometheus as [`prometheus`] does, behind the TLS and password of
/// `web_config` (from [`web_config`]).
pub fn secured_prometheus(dir: &Path, config: &str, web_config: &Path) -> Prometheus {
    start_secured(
        "prometheus",
        &prometheus_args(dir, config),
        &dir.join("prometheus.log"),
        web_config,
    )
}

/// Prometheus' flags for `config`, written into `dir`, and its data in `dir/tsdb`.
fn prometheus_args(dir: &Path, config: &str) -> Vec<String> {
    let config_file = dir.join("prometheus.yml");
    std::fs::write(&config_file, config).unwrap();
    vec![
        format!("--config.file={}", config_file.display()),
        format!("--storage.tsdb.path={}", dir.join("tsdb").display()),
    ]
}

impl Prometheus {
    /// Runs the instant query `expr` through the HTTP API; its `data.result`, or
    /// the error Prometheus gave.
    pub async fn query(&self, expr: &str) -> Result<Vec<serde_json::Value>, String> {
        let url = format!("http://{}/api/v1/query", self.address);
        let answer: serde_json::Value = reqwest::Client::new()
            .get(url)
            .query(&[("query", expr)])
            .send()
            .await
            .map_err(|e| e.to_string())?
            .json()
            .await
            .map_err(|e| e.to_string())?;
        if answer["status"] != "success" {
            return Err(format!("{expr}: {answer}"));
        }
        Ok(answer["data"]["result"]
            .as_array()
            .cloned()
            .unwrap_or_default())
    }
}
