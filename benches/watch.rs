//! Measurements of a live `metrics watch` (not a criterion bench: these are about a
//! process over minutes, not a function over microseconds). Run one with
//!
//! ```sh
//! cargo bench --bench watch -- footprint 600   # CPU and RSS at 1 Hz, no client, for 600 s
//! cargo bench --bench watch -- clients 200 60  # 200 WebSocket clients for 60 s
//! cargo bench --bench watch -- churn 1000 10   # 3 × 1000 connect/disconnect cycles, 10 silent clients
//! cargo bench --bench watch -- soak 36000 10 50 # 10 h of datagen replayed at 10x (1 h) with 50 clients coming and going
//! cargo bench --bench watch -- alerts 30000 1 2 3 # notifications of 8.3 h of datagen per seed, default alert policy
//! ```
//!
//! Each starts the release binary sampling this machine on a free port with logs in
//! a temporary folder (the end-to-end tests' harness), and prints what it measured.

#[path = "../tests/common/mod.rs"]
mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant, SystemTime};

use common::Watch;
use futures_util::StreamExt;

fn proc_file(watch: &Watch, name: &str) -> String {
    std::fs::read_to_string(format!("/proc/{}/{name}", watch.child.id())).unwrap_or_default()
}

/// User + system CPU time of the process in seconds.
fn cpu_seconds(watch: &Watch) -> f64 {
    let stat = proc_file(watch, "stat");
    let after = stat.rsplit(')').next().unwrap_or_default();
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    ticks / 100.0
}

/// Resident memory of the process in MB.
fn rss_mb(watch: &Watch) -> f64 {
    proc_file(watch, "status")
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

fn now_ms() -> f64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
        * 1000.0
}

fn percentile(values: &mut [f64], p: f64) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    values.sort_by(f64::total_cmp);
    values[((values.len() - 1) as f64 * p).round() as usize]
}

fn footprint(seconds: u64) {
    let watch = Watch::start(&[]);
    // The first minute includes start-up and training; measure after it settles.
    std::thread::sleep(Duration::from_secs(10));
    let cpu0 = cpu_seconds(&watch);
    let started = Instant::now();
    let mut rss = Vec::new();
    while started.elapsed() < Duration::from_secs(seconds) {
        std::thread::sleep(Duration::from_secs(5));
        rss.push(rss_mb(&watch));
    }
    let cpu = (cpu_seconds(&watch) - cpu0) / started.elapsed().as_secs_f64();
    let mean_rss = rss.iter().sum::<f64>() / rss.len() as f64;
    println!(
        "footprint over {seconds} s at 1 Hz, no client: CPU {:.3} % of one core, RSS mean {mean_rss:.1} MB, max {:.1} MB",
        100.0 * cpu,
        rss.iter().cloned().fold(0.0, f64::max)
    );
}

/// Connects `n` clients for `seconds`; reports per-client order, latency and the
/// collector's spacing between samples.
async fn clients(n: usize, seconds: u64) {
    let watch = Watch::start(&[]);
    let url = watch.ws_url();
    let mut tasks = Vec::new();
    for _ in 0..n {
        let (socket, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
        tasks.push(tokio::spawn(async move {
            let mut socket = socket;
            let mut latencies = Vec::new();
            let mut times = Vec::new();
            let mut last_seq = None;
            let mut in_order = true;
            let deadline = tokio::time::Instant::now() + Duration::from_secs(seconds);
            while let Ok(Some(Ok(message))) = tokio::time::timeout_at(deadline, socket.next()).await
            {
                let Ok(text) = message.into_text() else {
                    continue;
                };
                let v: serde_json::Value = serde_json::from_str(&text).unwrap();
                if v["type"] != "sample" {
                    continue;
                }
                let seq = v["seq"].as_u64().unwrap();
                if let Some(prev) = last_seq {
                    in_order &= seq == prev + 1;
                }
                last_seq = Some(seq);
                let t = v["time"].as_f64().unwrap();
                latencies.push(now_ms() - t);
                times.push(t);
            }
            (latencies, times, in_order)
        }));
    }
    let mut all = Vec::new();
    let mut spacing = Vec::new();
    let mut ordered = 0;
    let mut counts = Vec::new();
    for task in tasks {
        let (lat, times, in_order) = task.await.unwrap();
        ordered += usize::from(in_order);
        counts.push(lat.len());
        if spacing.is_empty() {
            spacing = times.windows(2).map(|w| w[1] - w[0]).collect();
        }
        all.extend(lat);
    }
    let jitter: Vec<f64> = spacing.iter().map(|s| (s - 1000.0).abs()).collect();
    let (min, max) = (
        counts.iter().min().copied().unwrap_or(0),
        counts.iter().max().copied().unwrap_or(0),
    );
    println!(
        "{n} clients for {seconds} s: {ordered}/{n} saw every sample in order; samples per client {min}..{max}; latency p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms; collector spacing jitter p99 {:.1} ms, max {:.1} ms",
        percentile(&mut all.clone(), 0.5),
        percentile(&mut all.clone(), 0.99),
        percentile(&mut all, 1.0),
        percentile(&mut jitter.clone(), 0.99),
        percentile(&mut jitter.clone(), 1.0),
    );
}

/// A WebSocket handshake by hand, after which the client never reads.
fn silent_client(address: &str) -> TcpStream {
    let mut stream = TcpStream::connect(address).unwrap();
    let request = format!(
        "GET /ws HTTP/1.1\r\nHost: {address}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).unwrap();
    let mut first = [0u8; 12];
    stream.read_exact(&mut first).unwrap();
    assert_eq!(&first, b"HTTP/1.1 101");
    stream
}

/// Three rounds of `cycles` connect/disconnect cycles while `silent` clients hold
/// their sockets without reading, each round followed by the send timeout passing.
/// Memory that comes back to the same level after every round is not leaking.
async fn churn(cycles: usize, silent: usize) {
    let watch = Watch::start(&[]);
    tokio::time::sleep(Duration::from_secs(5)).await;
    let url = watch.ws_url();
    let mut levels = vec![rss_mb(&watch)];
    let mut peaks = Vec::new();
    for _ in 0..3 {
        let quiet: Vec<TcpStream> = (0..silent).map(|_| silent_client(&watch.address)).collect();
        for _ in 0..cycles {
            let (mut socket, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
            let _hello = socket.next().await;
            socket.close(None).await.ok();
        }
        peaks.push(rss_mb(&watch));
        // Silent clients are dropped after the send timeout once their buffers fill.
        tokio::time::sleep(Duration::from_secs(30)).await;
        drop(quiet);
        tokio::time::sleep(Duration::from_secs(5)).await;
        levels.push(rss_mb(&watch));
    }
    let healthy = watch.get("/healthz").status == 200;
    let fmt = |v: &[f64]| {
        v.iter()
            .map(|x| format!("{x:.1}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    println!(
        "3 rounds of {cycles} connect/disconnect cycles with {silent} silent clients: RSS MB at start and after each round: {}; right after each round's cycles: {}; server healthy: {healthy}",
        fmt(&levels),
        fmt(&peaks)
    );
}

/// Open file descriptors of the process.
fn descriptors(watch: &Watch) -> usize {
    std::fs::read_dir(format!("/proc/{}/fd", watch.child.id())).map_or(0, |d| d.count())
}

/// Replays `rows` seconds of `metrics datagen` at `speed` while `n` clients keep
/// connecting, reading a varying number of messages and leaving; RSS and open
/// descriptors every 10 s, from the end of the baseline to the end of the replay.
async fn soak(rows: usize, speed: u64, n: usize) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("soak.csv");
    common::datagen(rows, 1, &[], &file);
    let watch = Watch::start(&[
        "--replay",
        file.to_str().unwrap(),
        "--speed",
        &speed.to_string(),
    ]);
    let url = watch.ws_url();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let cycles = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let tasks: Vec<_> = (0..n as u64)
        .map(|c| {
            let (url, stop, cycles) = (url.clone(), stop.clone(), cycles.clone());
            tokio::spawn(async move {
                let mut state = c + 1;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    state = state
                        .wrapping_mul(6_364_136_223_846_793_005)
                        .wrapping_add(1);
                    let reads = 1 + (state >> 33) % 300;
                    let Ok((mut socket, _)) = tokio_tungstenite::connect_async(&url).await else {
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    };
                    for _ in 0..reads {
                        let next =
                            tokio::time::timeout(Duration::from_secs(5), socket.next()).await;
                        if !matches!(next, Ok(Some(Ok(_)))) {
                            break;
                        }
                    }
                    socket.close(None).await.ok();
                    cycles.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            })
        })
        .collect();
    let finished = || {
        let status = watch.get("/api/status").json();
        status["status"]["replay_finished"] == serde_json::Value::Bool(true)
    };
    let baseline_s = 120 / speed.max(1) + 2;
    tokio::time::sleep(Duration::from_secs(baseline_s)).await;
    let mut marks = vec![(0u64, rss_mb(&watch), descriptors(&watch))];
    let started = Instant::now();
    while !finished() {
        tokio::time::sleep(Duration::from_secs(10)).await;
        marks.push((
            started.elapsed().as_secs(),
            rss_mb(&watch),
            descriptors(&watch),
        ));
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for task in tasks {
        let _ = task.await;
    }
    let (first, last) = (marks[0], marks[marks.len() - 1]);
    let max_rss = marks.iter().map(|m| m.1).fold(0.0, f64::max);
    let max_fd = marks.iter().map(|m| m.2).max().unwrap_or(0);
    println!(
        "soak: {rows} s of datagen at {speed}x with {n} clients coming and going ({} connections) over {} s: RSS {:.1} MB at start, {:.1} MB at end, max {max_rss:.1} MB; open descriptors {} at start, {} at end, max {max_fd}; server healthy: {}",
        cycles.load(std::sync::atomic::Ordering::Relaxed),
        last.0,
        first.1,
        last.1,
        first.2,
        last.2,
        watch.get("/healthz").status == 200
    );
    for (t, rss, fd) in marks.iter().step_by((marks.len() / 12).max(1)) {
        println!("  {t:>5} s  RSS {rss:>6.1} MB  descriptors {fd}");
    }
}

/// Replays `rows` seconds of labelled `metrics datagen` (seed by seed) as fast as
/// it goes with a webhook receiver and the default alert policy; prints the
/// notifications per hour, the firing alerts that overlap a labelled episode (within
/// a minute) and those that do not, and the delivery latency.
async fn alerts(rows: usize, seeds: &[u64]) {
    for &seed in seeds {
        let dir = tempfile::tempdir().unwrap();
        let (file, rows_seen) = common::labelled_datagen(dir.path(), rows, seed);
        let mut episodes: Vec<(i64, i64)> = Vec::new();
        for (k, &(t, label)) in rows_seen.iter().enumerate() {
            let before = k > 0 && rows_seen[k - 1].1;
            match (label, before) {
                (true, false) => episodes.push((t, t)),
                (true, true) => episodes.last_mut().unwrap().1 = t,
                _ => {}
            }
        }
        let hook = common::hook::Hook::start(common::hook::Answer::Statuses(vec![]));
        let watch = Watch::start(&[
            "--replay",
            file.to_str().unwrap(),
            "--speed",
            "max",
            "--alert-webhook",
            &hook.url,
        ]);
        watch.wait_until_replayed();
        tokio::time::sleep(Duration::from_secs(1)).await;
        let api = watch.get("/api/alerts").json();
        let received = hook.received();
        let bodies: Vec<&serde_json::Value> = received.iter().map(|(_, b)| b).collect();
        let span = |status: &str| -> Vec<(String, i64, i64)> {
            bodies
                .iter()
                .filter(|b| b["status"] == status)
                .map(|b| {
                    let a = &b["alerts"][0];
                    let at = |k: &str| metrics::timestamp::parse(a[k].as_str().unwrap_or(""));
                    let key = format!("{}{}", a["fingerprint"], a["startsAt"]);
                    (
                        key,
                        at("startsAt").unwrap_or(0),
                        at("endsAt").unwrap_or(i64::MAX),
                    )
                })
                .collect()
        };
        let (firing, resolved) = (span("firing"), span("resolved"));
        let mut alerted = vec![false; episodes.len()];
        let mut false_alerts = 0;
        for (key, start, _) in &firing {
            let end = resolved
                .iter()
                .find(|r| &r.0 == key)
                .map_or(i64::MAX, |r| r.2);
            let mut hit = false;
            for (e, &(a, b)) in episodes.iter().enumerate() {
                if a <= end + 60_000 && b >= start - 60_000 {
                    alerted[e] = true;
                    hit = true;
                }
            }
            false_alerts += usize::from(!hit);
        }
        let hours = rows as f64 / 3600.0;
        println!(
            "alerts, seed {seed}: {hours:.1} h, {} labelled episodes; {} notifications ({} firing, {} resolved) = {:.2} an hour; {} firing alerts on labelled episodes ({} episodes alerted), {false_alerts} false = {:.2} an hour; delivery latency p50/p99 {} ms",
            episodes.len(),
            bodies.len(),
            firing.len(),
            resolved.len(),
            bodies.len() as f64 / hours,
            firing.len() - false_alerts,
            alerted.iter().filter(|&&a| a).count(),
            false_alerts as f64 / hours,
            api["receivers"][0]["latency_ms"]
        );
    }
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let number =
        |i: usize, default: u64| args.get(i).and_then(|a| a.parse().ok()).unwrap_or(default);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    match args.first().map(String::as_str) {
        Some("footprint") => footprint(number(1, 600)),
        Some("clients") => runtime.block_on(clients(number(1, 200) as usize, number(2, 60))),
        Some("churn") => runtime.block_on(churn(number(1, 1000) as usize, number(2, 10) as usize)),
        Some("soak") => runtime.block_on(soak(
            number(1, 36_000) as usize,
            number(2, 10),
            number(3, 50) as usize,
        )),
        Some("alerts") => {
            let seeds: Vec<u64> = args.iter().skip(2).filter_map(|a| a.parse().ok()).collect();
            let seeds = if seeds.is_empty() {
                vec![1, 2, 3]
            } else {
                seeds
            };
            runtime.block_on(alerts(number(1, 30_000) as usize, &seeds))
        }
        _ => println!(
            "usage: cargo bench --bench watch -- footprint [SECONDS] | clients [N] [SECONDS] | churn [CYCLES] [SILENT] | soak [ROWS] [SPEED] [CLIENTS] | alerts [ROWS] [SEEDS...]"
        ),
    }
}
