//! A real Prometheus (Debian's `prometheus`) on a free loopback port, for the tests
//! that scrape `metrics watch` or load the rules it ships.

use std::path::Path;
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
            if std::net::TcpStream::connect(&address).is_ok()
                && send(&address, "GET", "/-/ready", &[], None).status == 200
            {
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
    let config_file = dir.join("prometheus.yml");
    std::fs::write(&config_file, config).unwrap();
    start_ready(
        "prometheus",
        &[
            format!("--config.file={}", config_file.display()),
            format!("--storage.tsdb.path={}", dir.join("tsdb").display()),
        ],
        &dir.join("prometheus.log"),
    )
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
