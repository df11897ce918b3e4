//! Helpers shared by the end-to-end tests of `metrics watch`: start the real binary,
//! find its address on standard output, talk HTTP to it, stop it with a signal.
#![allow(dead_code)]

pub mod hook;
pub mod prometheus;
pub mod socket;
pub mod webdriver;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// How long anything in these tests may take before it counts as hung.
pub const DEADLINE: Duration = Duration::from_secs(60);

/// A free loopback port, for a server that cannot be told to pick its own.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A fixture file in `tests/fixtures`.
pub fn fixture(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(path)
}

/// The recorded session the tests replay: 240 samples one second apart, with CPU
/// and memory spiking at rows 200-202 (2025-01-06T10:03:20Z).
pub fn planted_spike() -> PathBuf {
    fixture("replay/planted_spike.csv")
}

/// A running `metrics watch`.
pub struct Watch {
    /// The process.
    pub child: Child,
    /// `host:port` it serves on.
    pub address: String,
    /// Its log folder (inside `dir` unless given).
    pub log_dir: PathBuf,
    /// Where its standard error goes.
    pub stderr: PathBuf,
    /// Scratch folder, removed at the end.
    pub dir: tempfile::TempDir,
}

impl Watch {
    /// Starts `metrics watch ARGS --port 0 --log-dir <temp>` (unless ARGS give their
    /// own) and waits for the address line.
    pub fn start(args: &[&str]) -> Watch {
        Watch::start_under(&[], args)
    }

    /// As [`Watch::start`], with the binary run by `wrapper` (a program and its
    /// first arguments, which ends by exec'ing the rest of its command line).
    pub fn start_under(wrapper: &[&str], args: &[&str]) -> Watch {
        let dir = tempfile::tempdir().unwrap();
        let log_dir = dir.path().join("logs");
        let stderr = dir.path().join("stderr.txt");
        let mut command = match wrapper.split_first() {
            Some((program, first)) => {
                let mut c = Command::new(program);
                c.args(first).arg(env!("CARGO_BIN_EXE_metrics"));
                c
            }
            None => Command::new(env!("CARGO_BIN_EXE_metrics")),
        };
        command.arg("watch").args(args);
        if !args.contains(&"--port") {
            command.args(["--port", "0"]);
        }
        if !args.contains(&"--log-dir") {
            command.arg("--log-dir").arg(&log_dir);
        }
        let mut child = command
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr).unwrap())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx.recv_timeout(DEADLINE).unwrap_or_default();
        let line = line.trim();
        let Some(address) = line
            .strip_prefix("http://")
            .or_else(|| line.strip_prefix("https://"))
        else {
            let _ = child.kill();
            let err = std::fs::read_to_string(&stderr).unwrap_or_default();
            panic!("watch printed no address: {line:?}; stderr: {err}");
        };
        Watch {
            address: address.to_string(),
            child,
            log_dir,
            stderr,
            dir,
        }
    }

    /// Starts `metrics watch --replay <planted spike> --speed SPEED EXTRA...` as
    /// [`Watch::start`] does.
    pub fn replay(speed: &str, extra: &[&str]) -> Watch {
        let file = planted_spike();
        let mut args = vec!["--replay", file.to_str().unwrap(), "--speed", speed];
        args.extend_from_slice(extra);
        Watch::start(&args)
    }

    /// Waits until a replay has gone through its file (its status says so).
    pub fn wait_until_replayed(&self) {
        let started = Instant::now();
        while self.get("/api/status").json()["status"]["replay_finished"] != true {
            assert!(started.elapsed() < DEADLINE, "the replay did not finish");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The WebSocket URL.
    pub fn ws_url(&self) -> String {
        format!("ws://{}/ws", self.address)
    }

    /// A GET request.
    pub fn get(&self, path: &str) -> Response {
        http(&self.address, "GET", path, None)
    }

    /// Sends SIGINT and waits for the exit; returns the status and how long it took.
    pub fn interrupt(&mut self) -> (ExitStatus, Duration) {
        self.signal("-INT")
    }

    /// Sends a signal (`-INT`, `-TERM`) and waits for the exit; returns the status
    /// and how long it took.
    pub fn signal(&mut self, signal: &str) -> (ExitStatus, Duration) {
        let started = Instant::now();
        let killed = Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(killed.success());
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return (status, started.elapsed());
            }
            assert!(started.elapsed() < DEADLINE, "watch did not stop");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// What it wrote on standard error so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An HTTP response.
#[derive(Debug)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Header lines, lowercased names.
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: String,
}

impl Response {
    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

/// A CSV upload or plain GET: [`request`] with `Content-Type: text/csv`.
pub fn http(address: &str, method: &str, path: &str, body: Option<&[u8]>) -> Response {
    request(address, method, path, "text/csv", body)
}

/// One HTTP/1.1 request with `Connection: close`: [`send`] with a `Content-Type`.
pub fn request(
    address: &str,
    method: &str,
    path: &str,
    content_type: &str,
    body: Option<&[u8]>,
) -> Response {
    send(
        address,
        method,
        path,
        &[("Content-Type", content_type)],
        body,
    )
}

/// One HTTP/1.1 request with `Connection: close` and the given headers (`Host` is
/// the address unless they give one). The body is read by its `Content-Length`
/// when there is one (chromedriver keeps the connection open anyway), else to the
/// end.
pub fn send(
    address: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> Response {
    let mut stream = TcpStream::connect(address).unwrap();
    stream.set_read_timeout(Some(DEADLINE)).unwrap();
    let body = body.unwrap_or_default();
    let mut head = format!("{method} {path} HTTP/1.1\r\n");
    if !headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("host")) {
        head += &format!("Host: {address}\r\n");
    }
    for (name, value) in headers {
        head += &format!("{name}: {value}\r\n");
    }
    head += &format!(
        "Connection: close\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    // A server may answer (413) before reading the whole body and close.
    let _ = stream.write_all(body);
    let mut reader = BufReader::new(stream);
    let mut status_line = String::new();
    let _ = reader.read_line(&mut status_line);
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line.trim_end().is_empty() {
            break;
        }
        if let Some((n, v)) = line.split_once(':') {
            headers.push((n.trim().to_lowercase(), v.trim().to_string()));
        }
    }
    let header = |name: &str| headers.iter().find(|(n, _)| n == name).map(|(_, v)| v);
    let mut raw = Vec::new();
    match header("content-length").and_then(|v| v.parse::<usize>().ok()) {
        Some(length) => {
            raw.resize(length, 0);
            if reader.read_exact(&mut raw).is_err() {
                raw.clear();
            }
        }
        None => {
            let _ = reader.read_to_end(&mut raw);
        }
    }
    let text = String::from_utf8_lossy(&raw).into_owned();
    let body = if header("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
        dechunk(&text)
    } else {
        text
    };
    Response {
        status,
        headers,
        body,
    }
}

fn dechunk(mut rest: &str) -> String {
    let mut out = String::new();
    while let Some((size, after)) = rest.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || after.len() < n {
            break;
        }
        out.push_str(&after[..n]);
        rest = after[n..].trim_start_matches("\r\n");
    }
    out
}

/// What a recorded host is doing, for [`host_csv`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Phase {
    /// A working machine: CPU about 30 %, 95 processes.
    Busy,
    /// A build saturating the CPU (every row at the critical CPU rule), with more
    /// processes and disk traffic.
    Load,
    /// An idle machine: less CPU, I/O and processes than it ever had busy.
    Idle,
}

/// A recorded host at one sample a second from 2025-03-03T09:00:00Z, going
/// through `phases` (rows, phase) in turn, with deterministic noise.
pub fn host_csv(phases: &[(usize, Phase)]) -> String {
    let mut csv = String::from(
        "timestamp,cpu_percent,memory_percent,disk_read_mb,disk_write_mb,network_sent_mb,network_recv_mb,process_count\n",
    );
    let mut i = 0;
    for &(rows, phase) in phases {
        for _ in 0..rows {
            let w = |m| wobble(i, m);
            let row = match phase {
                Phase::Busy => [
                    30.0 + 6.0 * w(0),
                    41.0 + w(1),
                    2.0 + w(2),
                    3.0 + w(3),
                    1.0 + 0.5 * w(4),
                    2.0 + w(5),
                    95.0 + w(6).round(),
                ],
                Phase::Load => [
                    98.5 + 1.5 * w(0),
                    55.0 + w(1),
                    20.0 + 5.0 * w(2),
                    40.0 + 8.0 * w(3),
                    1.0 + 0.5 * w(4),
                    2.0 + w(5),
                    120.0 + w(6).round(),
                ],
                Phase::Idle => [
                    4.0 + 3.0 * w(0),
                    38.0 + w(1),
                    0.2 + 0.1 * w(2),
                    0.3 + 0.1 * w(3),
                    0.2 + 0.1 * w(4),
                    0.3 + 0.1 * w(5),
                    86.0 + w(6).round(),
                ],
            };
            let minute = i / 60;
            csv.push_str(&format!(
                "2025-03-03T{:02}:{:02}:{:02}Z",
                9 + minute / 60,
                minute % 60,
                i % 60
            ));
            for v in row {
                csv.push_str(&format!(",{v:.2}"));
            }
            csv.push('\n');
            i += 1;
        }
    }
    csv
}

/// Deterministic noise in [-1, 1] for row `i` and metric `m` (splitmix64), with
/// no pattern across rows or metrics.
pub fn wobble(i: usize, m: usize) -> f64 {
    let mut z = (i as u64 * 16 + m as u64).wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    2.0 * (z >> 11) as f64 / (1u64 << 53) as f64 - 1.0
}

/// Runs `metrics analyze -q` on `file` with `extra` flags, writing `out`; it
/// must succeed.
pub fn analyze(file: &Path, out: &Path, extra: &[&str]) {
    let status = Command::new(env!("CARGO_BIN_EXE_metrics"))
        .args(["analyze", "-q", "--csv-file"])
        .arg(file)
        .arg("--output-file")
        .arg(out)
        .args(extra)
        .status()
        .unwrap();
    assert!(status.success());
}

/// Runs `metrics datagen -n ROWS --seed SEED EXTRA...` into `path` (its label
/// columns included).
pub fn datagen(rows: usize, seed: u64, extra: &[&str], path: &Path) {
    let status = Command::new(env!("CARGO_BIN_EXE_metrics"))
        .args([
            "datagen",
            "-n",
            &rows.to_string(),
            "--seed",
            &seed.to_string(),
        ])
        .args(extra)
        .args(["--quiet", "-o"])
        .arg(path)
        .status()
        .unwrap();
    assert!(status.success());
}

/// `metrics datagen -n ROWS --seed SEED` split as a replay needs it: the file of
/// metrics only that a host would record (`host.csv` in `dir`), and each row's
/// time and label.
pub fn labelled_datagen(dir: &Path, rows: usize, seed: u64) -> (PathBuf, Vec<(i64, bool)>) {
    let labelled = dir.join("labelled.csv");
    datagen(rows, seed, &[], &labelled);
    let text = std::fs::read_to_string(&labelled).unwrap();
    let mut labels = Vec::new();
    let mut metrics_only = String::new();
    for (i, line) in text.lines().enumerate() {
        let fields: Vec<&str> = line.split(',').collect();
        let cut = fields.len() - 2;
        if i > 0 {
            let time = metrics::timestamp::parse(fields[0]).unwrap();
            labels.push((time, fields[cut] == "1"));
        }
        metrics_only.push_str(&fields[..cut].join(","));
        metrics_only.push('\n');
    }
    let file = dir.join("host.csv");
    std::fs::write(&file, metrics_only).unwrap();
    (file, labels)
}
