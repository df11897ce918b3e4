//! `metrics watch` under faults: killed outright at unforeseen moments and
//! restarted, its logs stay whole; its log folder deleted, made read-only or
//! full, detection and serving go on.

mod common;

use std::collections::HashSet;
use std::path::Path;
use std::time::{Duration, Instant};

use common::{DEADLINE, Watch};

/// Rows of the recorded session the kill test replays, one second apart.
const ROWS: usize = 4000;
/// Times `watch` is killed.
const KILLS: usize = 20;

/// The recorded session: `timestamp,cpu_percent,memory_percent`, 1 s apart, a
/// slow swing with a little deterministic jitter.
fn session_rows() -> Vec<String> {
    (0..ROWS)
        .map(|i| {
            let cpu = 20.0 + 5.0 * (i as f64 / 30.0).sin() + (i * 7919 % 13) as f64 / 3.0;
            let memory = 40.0 + (i * 104_729 % 7) as f64 / 10.0;
            let (h, m, s) = (i / 3600, i / 60 % 60, i % 60);
            format!("2025-01-01T{h:02}:{m:02}:{s:02}Z,{cpu:.2},{memory:.1}")
        })
        .collect()
}

/// The history's data lines (after its header), as written so far.
fn history_lines(logs: &Path) -> Vec<String> {
    std::fs::read_to_string(logs.join("metrics_history.csv"))
        .unwrap_or_default()
        .lines()
        .skip(1)
        .map(str::to_string)
        .collect()
}

/// Samples the running session has judged and published.
fn samples(watch: &Watch) -> u64 {
    watch.get("/api/status").json()["counts"]["samples"]
        .as_u64()
        .unwrap_or(0)
}

/// A small deterministic generator, so the kill moments vary but a failure can
/// be replayed.
struct Moments(u64);

impl Moments {
    fn next(&mut self, below: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % below
    }
}

/// Waits until `done` holds, up to the deadline; `what` names it on failure.
fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < DEADLINE, "waited in vain for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn killed_at_unforeseen_moments_and_restarted_the_logs_stay_whole_and_lose_no_row() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    let source = session_rows();
    let header = "timestamp,cpu_percent,memory_percent";
    let mut moments = Moments(17);
    let mut lost_per_kill = Vec::new();
    for kill in 0..KILLS {
        // Each run replays what the history does not hold yet, as a restarted
        // collector samples on from where it stopped.
        let written = history_lines(&logs).len();
        let rest = dir.path().join(format!("rest{kill}.csv"));
        std::fs::write(
            &rest,
            format!("{header}\n{}\n", source[written..].join("\n")),
        )
        .unwrap();
        let rest_arg = rest.to_string_lossy().into_owned();
        let log_arg = logs.to_string_lossy().into_owned();
        let mut watch = Watch::start(&[
            "--replay",
            &rest_arg,
            "--speed",
            "400",
            "--log-dir",
            &log_arg,
        ]);
        // Killed after 1 to 150 more rows: in the baseline, at training, or while
        // judging.
        let target = written + 1 + moments.next(150) as usize;
        wait_until("rows in the history", || {
            history_lines(&logs).len() >= target
        });
        let judged = samples(&watch);
        watch.child.kill().unwrap();
        watch.child.wait().unwrap();
        let this_run = history_lines(&logs).len() - written;
        lost_per_kill.push(judged.saturating_sub(this_run as u64));
    }
    println!("rows judged but not written, per kill: {lost_per_kill:?}");
    assert!(
        lost_per_kill.iter().all(|&lost| lost <= 5),
        "a kill loses at most the rows queued for the log writer: {lost_per_kill:?}"
    );

    // The history: one header, every line whole, every row of the session once
    // and in order.
    let text = std::fs::read_to_string(logs.join("metrics_history.csv")).unwrap();
    let mut lines = text.lines();
    let head = lines.next().unwrap();
    assert!(head.starts_with(header), "{head}");
    let width = head.split(',').count();
    let mut reader = csv::ReaderBuilder::new().from_reader(text.as_bytes());
    let mut times = Vec::new();
    for record in reader.records() {
        let record = record.unwrap_or_else(|e| panic!("a torn history line: {e}"));
        assert_eq!(record.len(), width, "a torn history line: {record:?}");
        times.push(record[0].to_string());
    }
    let expected: Vec<String> = source[..times.len()]
        .iter()
        .map(|r| r.split(',').next().unwrap().to_string())
        .collect();
    assert_eq!(times, expected, "rows missing, repeated or out of order");
    assert!(times.len() > 1000, "only {} rows written", times.len());

    // The JSON lines: each one whole, none repeated.
    for file in ["anomalies.jsonl", "incidents.jsonl"] {
        let text = std::fs::read_to_string(logs.join(file)).unwrap_or_default();
        let mut seen = HashSet::new();
        for line in text.lines() {
            let value: serde_json::Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("{file}: a torn line ({e}): {line}"));
            assert!(value.is_object());
            assert!(
                seen.insert(line.to_string()),
                "{file}: a repeated line: {line}"
            );
        }
    }
}

/// Starts a replay slow enough to outlast the test's changes to its folder.
fn slow_watch(logs: &Path) -> Watch {
    let file = common::planted_spike();
    Watch::start(&[
        "--replay",
        file.to_str().unwrap(),
        "--speed",
        "20",
        "--log-dir",
        logs.to_str().unwrap(),
    ])
}

/// Waits until the session has judged `more` samples beyond those it had.
fn goes_on(watch: &Watch, more: u64) {
    let from = samples(watch);
    wait_until("more samples", || samples(watch) >= from + more);
    assert_eq!(watch.get("/healthz").status, 200);
}

#[test]
fn a_deleted_log_folder_is_made_again_and_the_session_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    let watch = slow_watch(&logs);
    wait_until("a history", || history_lines(&logs).len() >= 5);
    std::fs::remove_dir_all(&logs).unwrap();
    goes_on(&watch, 40);
    wait_until("a new history", || history_lines(&logs).len() >= 5);
    let text = std::fs::read_to_string(logs.join("metrics_history.csv")).unwrap();
    assert!(
        text.starts_with("timestamp,"),
        "the new history has its header"
    );
    assert!(
        watch.stderr().contains("deleted or replaced"),
        "the deletion is reported"
    );
}

#[cfg(unix)]
#[test]
fn a_read_only_log_folder_is_survived() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    let watch = slow_watch(&logs);
    wait_until("a history", || history_lines(&logs).len() >= 5);
    std::fs::set_permissions(&logs, std::fs::Permissions::from_mode(0o555)).unwrap();
    goes_on(&watch, 40);
    std::fs::set_permissions(&logs, std::fs::Permissions::from_mode(0o755)).unwrap();
    // The open files stay writable: the history went on growing.
    assert!(history_lines(&logs).len() >= 40);
}

#[cfg(target_os = "linux")]
#[test]
fn a_full_disk_is_reported_and_detection_and_serving_go_on() {
    // /dev/full fails every write with "no space left on device": the log files
    // are pointed at it, as on a disk that filled up.
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    for file in ["metrics_history.csv", "anomalies.jsonl", "incidents.jsonl"] {
        std::os::unix::fs::symlink("/dev/full", logs.join(file)).unwrap();
    }
    let watch = slow_watch(&logs);
    goes_on(&watch, 40);
    wait_until("the full disk reported", || {
        watch.stderr().contains("No space left on device")
    });
}

#[test]
fn a_session_left_running_keeps_two_bounded_files_of_each_log() {
    // Hours at one sample a second, with the size limit at 1 MB: the history is
    // rotated into metrics_history.1.csv and begun anew, twice or more, and what
    // is left is the newest two files, each whole, with its header, in order.
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("host.csv");
    common::datagen(20_000, 2, &[], &input);
    let logs = dir.path().join("logs");
    let mut watch = Watch::start(&[
        "--replay",
        input.to_str().unwrap(),
        "--speed",
        "max",
        "--log-max-mb",
        "1",
        "--log-dir",
        logs.to_str().unwrap(),
    ]);
    watch.wait_until_replayed();
    let (status, _) = watch.interrupt();
    assert!(status.success());
    let read = |name: &str| std::fs::read_to_string(logs.join(name)).unwrap();
    let (older, newest) = (read("metrics_history.1.csv"), read("metrics_history.csv"));
    let header = newest.lines().next().unwrap();
    assert!(header.starts_with("timestamp,cpu_percent"), "{header}");
    assert_eq!(older.lines().next(), Some(header));
    for file in [&older, &newest] {
        assert!(file.len() <= (1 << 20) + 1024, "{} bytes", file.len());
    }
    // The rows kept are the replay's last ones, each once, in order.
    let kept: Vec<&str> = older
        .lines()
        .skip(1)
        .chain(newest.lines().skip(1))
        .collect();
    let replayed: Vec<String> = std::fs::read_to_string(&input)
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap().to_string())
        .collect();
    assert!(
        kept.len() > 5_000 && kept.len() < replayed.len(),
        "{} rows kept",
        kept.len()
    );
    let times: Vec<&str> = kept.iter().map(|l| l.split(',').next().unwrap()).collect();
    let tail: Vec<&str> = replayed[replayed.len() - times.len()..]
        .iter()
        .map(String::as_str)
        .collect();
    assert_eq!(times, tail);
    let histories = std::fs::read_dir(&logs)
        .unwrap()
        .filter(|e| {
            let name = e.as_ref().unwrap().file_name();
            name.to_string_lossy().starts_with("metrics_history")
        })
        .count();
    assert_eq!(histories, 2, "only the newest two history files are kept");
    assert!(watch.stderr().contains("reached 1 MB; moved it to"));
}
