//! A real Prometheus (Debian's `prometheus`) on a free loopback port, for the tests
//! that scrape `metrics watch` or load the rules it ships.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{DEADLINE, free_port, send};

/// A running Prometheus, killed when dropped.
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

/// Starts Prometheus on loopback with `config`, ready to answer.
pub fn prometheus(dir: &Path, config: &str) -> Prometheus {
    let config_file = dir.join("prometheus.yml");
    std::fs::write(&config_file, config).unwrap();
    let started = Instant::now();
    loop {
        let address = format!("127.0.0.1:{}", free_port());
        let mut child = Command::new("prometheus")
            .arg(format!("--config.file={}", config_file.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("tsdb").display()
            ))
            .arg(format!("--web.listen-address={address}"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("prometheus.log")).unwrap())
            .spawn()
            .expect("prometheus is needed for this test: apt-get install prometheus");
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
                "Prometheus did not start: {}",
                std::fs::read_to_string(dir.join("prometheus.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
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
