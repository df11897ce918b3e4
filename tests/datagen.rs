//! End-to-end tests of `metrics datagen`, and of `analyze` on what it makes.

use std::collections::BTreeMap;
use std::path::Path;

use assert_cmd::Command;
use predicates::prelude::*;

fn metrics() -> Command {
    Command::cargo_bin("metrics").expect("the metrics binary is built")
}

const TYPES: [&str; 9] = [
    "cpu_spike",
    "cpu_stuck",
    "memory_leak",
    "disk_burst",
    "network_flood",
    "contention",
    "level_shift",
    "frozen",
    "contextual",
];

fn generate(dir: &Path, name: &str, args: &[&str]) -> String {
    let out = dir.join(name);
    metrics()
        .arg("datagen")
        .args(args)
        .arg("-o")
        .arg(&out)
        .arg("--quiet")
        .assert()
        .success();
    std::fs::read_to_string(out).unwrap()
}

fn records(text: &str) -> Vec<csv::StringRecord> {
    csv::Reader::from_reader(text.as_bytes())
        .records()
        .map(|r| r.unwrap())
        .collect()
}

#[test]
fn writes_the_native_schema_with_labels_and_the_requested_rows() {
    let dir = tempfile::tempdir().unwrap();
    let text = generate(dir.path(), "g.csv", &["-n", "5000", "--seed", "1"]);
    assert_eq!(
        text.lines().next().unwrap(),
        "timestamp,cpu_percent,cpu_frequency,memory_percent,memory_available_gb,disk_read_mb,disk_write_mb,network_sent_mb,network_recv_mb,label,anomaly_type"
    );
    let rows = records(&text);
    assert_eq!(rows.len(), 5000);
    let anomalous = rows.iter().filter(|r| &r[9] == "1").count() as f64 / 5000.0;
    assert!((anomalous - 0.03).abs() < 0.01, "label rate {anomalous}");
    for t in TYPES {
        assert!(rows.iter().any(|r| &r[10] == t), "type {t} missing");
    }
    assert!(rows.iter().all(|r| (&r[9] == "1") != r[10].is_empty()));
}

#[test]
fn types_anomaly_rate_and_no_labels_are_honoured() {
    let dir = tempfile::tempdir().unwrap();
    let text = generate(
        dir.path(),
        "g.csv",
        &[
            "-n",
            "4000",
            "--types",
            "cpu_spike,frozen",
            "--anomaly-rate",
            "0.1",
        ],
    );
    let rows = records(&text);
    let kinds: std::collections::BTreeSet<&str> = rows
        .iter()
        .map(|r| r.get(10).unwrap())
        .filter(|k| !k.is_empty())
        .collect();
    assert_eq!(
        kinds.into_iter().collect::<Vec<_>>(),
        vec!["cpu_spike", "frozen"]
    );
    let rate = rows.iter().filter(|r| &r[9] == "1").count() as f64 / 4000.0;
    assert!((rate - 0.1).abs() < 0.02, "label rate {rate}");
    let plain = generate(
        dir.path(),
        "p.csv",
        &[
            "-n",
            "10",
            "--no-labels",
            "--start",
            "2024-06-01 08:00:00",
            "--interval",
            "5",
        ],
    );
    assert!(plain.lines().next().unwrap().ends_with("network_recv_mb"));
    assert!(
        plain
            .lines()
            .nth(2)
            .unwrap()
            .starts_with("2024-06-01T08:00:05Z,")
    );
}

#[test]
fn the_same_seed_gives_a_byte_identical_file_and_another_seed_does_not() {
    let dir = tempfile::tempdir().unwrap();
    let a = generate(dir.path(), "a.csv", &["-n", "3000", "--seed", "9"]);
    let b = generate(dir.path(), "b.csv", &["-n", "3000", "--seed", "9"]);
    let c = generate(dir.path(), "c.csv", &["-n", "3000", "--seed", "10"]);
    assert_eq!(a, b);
    assert_ne!(a, c);
}

#[test]
fn the_summary_names_rows_span_and_episodes() {
    let dir = tempfile::tempdir().unwrap();
    metrics()
        .args(["datagen", "-n", "2000", "-o"])
        .arg(dir.path().join("s.csv"))
        .assert()
        .success()
        .stderr(predicate::str::contains(
            "2000 rows from 2025-01-01T00:00:00Z to 2025-01-01T00:33:19Z",
        ))
        .stderr(predicate::str::contains("memory_leak"));
    metrics()
        .args(["datagen", "-n", "5", "-o", "-"])
        .assert()
        .success()
        .stdout(predicate::function(|s: &str| s.lines().count() == 6));
}

#[test]
fn bad_arguments_are_refused_with_a_reason() {
    metrics()
        .args(["datagen", "--types", "cpu"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("unknown anomaly type 'cpu'"));
    metrics()
        .args(["datagen", "--interval", "0"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--interval must be a positive"));
    metrics()
        .args(["datagen", "--start", "soon"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("is not a timestamp"));
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("none.csv");
    metrics()
        .args(["datagen", "-n", "0", "-o"])
        .arg(&out)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("must be at least 1, got 0"));
    assert!(!out.exists(), "nothing is written");
}

/// Every time `datagen` writes is one `analyze` reads back: a run that would pass
/// the year 9999 (or start beyond it) is refused, and nothing is written, where it
/// used to write times such as `-292275000-05-17T16:47:04.191Z`.
#[test]
fn times_past_the_year_9999_are_refused_not_written() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("g.csv");
    for (args, says) in [
        (
            &["-n", "10", "--interval", "1e300"][..],
            "would end after the year 9999",
        ),
        (
            &["-n", "2", "--start", "9999-12-31T23:59:59Z"][..],
            "would end after the year 9999",
        ),
        (
            &["-n", "1", "--start", "999999999999999"][..],
            "outside the years 0000-9999",
        ),
    ] {
        metrics()
            .arg("datagen")
            .args(args)
            .arg("-o")
            .arg(&out)
            .assert()
            .code(2)
            .stderr(predicate::str::contains(says));
        assert!(!out.exists(), "{args:?} wrote a file");
    }
    // The last second that can be written still is.
    metrics()
        .args([
            "datagen",
            "-n",
            "1",
            "--quiet",
            "--start",
            "9999-12-31T23:59:59Z",
            "-o",
        ])
        .arg(&out)
        .assert()
        .success();
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(text.contains("\n9999-12-31T23:59:59Z,"), "{text}");
}

/// What `analyze` at default settings makes of a generated file: its F1, the share
/// of normal rows it flags, and its recall per anomaly type.
struct Quality {
    f1: f64,
    recall: f64,
    false_alarms: f64,
    by_type: BTreeMap<String, (usize, usize)>,
}

fn analyzed(generate_args: &[&str]) -> Quality {
    let dir = tempfile::tempdir().unwrap();
    generate(dir.path(), "g.csv", generate_args);
    let out = dir.path().join("out.csv");
    metrics()
        .args(["analyze", "--quiet", "--csv-file"])
        .arg(dir.path().join("g.csv"))
        .arg("--output-file")
        .arg(&out)
        .assert()
        .success();
    let rows = records(&std::fs::read_to_string(out).unwrap());
    let (mut tp, mut fp, mut fn_, mut tn) = (0.0, 0.0, 0.0, 0.0);
    let mut by_type: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for r in &rows {
        let (label, flagged) = (&r[9] == "1", &r[11] == "true");
        match (label, flagged) {
            (true, true) => tp += 1.0,
            (false, true) => fp += 1.0,
            (true, false) => fn_ += 1.0,
            (false, false) => tn += 1.0,
        }
        if label {
            let entry = by_type.entry(r[10].to_string()).or_default();
            entry.0 += usize::from(flagged);
            entry.1 += 1;
        }
    }
    let (precision, recall) = (tp / (tp + fp), tp / (tp + fn_));
    let quality = Quality {
        f1: 2.0 * precision * recall / (precision + recall),
        recall,
        false_alarms: fp / (fp + tn),
        by_type,
    };
    eprintln!(
        "precision {precision:.3} recall {recall:.3} F1 {:.3} false alarms {:.4}",
        quality.f1, quality.false_alarms
    );
    quality
}

/// `analyze` at default settings finds the planted anomalies of every type at a
/// one-minute interval, and flags few normal rows: the contamination bounds the
/// flagged share, it does not fill it, so a file with fewer anomalies than the
/// default 0.05 (datagen's default rate is 0.03) is not padded with false alarms.
#[test]
fn analyze_at_default_settings_finds_every_kind_of_anomaly_with_few_false_alarms() {
    let q = analyzed(&["-n", "20000", "--seed", "11", "--interval", "60"]);
    assert!(q.f1 >= 0.8, "F1 {:.3} < 0.8", q.f1);
    assert!(
        q.false_alarms <= 0.01,
        "{:.4} of the normal rows flagged, more than 1 %",
        q.false_alarms
    );
    for (kind, (caught, total)) in q.by_type {
        let r = caught as f64 / total as f64;
        eprintln!("{kind}: recall {r:.2} ({caught}/{total})");
        assert!(r >= 0.7, "{kind}: recall {r:.2} < 0.7");
    }
}

/// At datagen's default 1 s, ordinary bursts of disk and network traffic open
/// incidents about every few minutes; each fades with its burst instead of being
/// held for its full 60 rows, so few normal rows are flagged (1.2 %; 1.8 % when
/// each row's own sigma was compared with the peak, 3.3 % when held to the end),
/// and the planted anomalies, which last, are still held.
#[test]
fn analyze_at_one_second_lets_incidents_of_ordinary_bursts_fade() {
    let q = analyzed(&["-n", "20000", "--seed", "11"]);
    assert!(
        q.false_alarms <= 0.015,
        "{:.4} of the normal rows flagged, more than 1.5 %",
        q.false_alarms
    );
    assert!(q.recall >= 0.75, "recall {:.3} < 0.75", q.recall);
    let (caught, total) = q.by_type["level_shift"];
    assert!(caught * 2 >= total, "level_shift: {caught} of {total} rows");
}

/// At 1 s a memory leak climbs a fraction of a percent a sample, inside the range
/// the day's load spans: no step stands out, and its level only once memory is far
/// up. Its pace over a minute (the `trend` feature) gives it away from its first
/// minute on (recall 0.33 on this file before the trend, with 1.3 % of normal rows
/// flagged).
#[test]
fn analyze_at_one_second_finds_slow_leaks_by_their_pace() {
    let q = analyzed(&["-n", "20000", "--seed", "11", "--types", "memory_leak"]);
    assert!(q.recall >= 0.6, "leak recall {:.3} < 0.6", q.recall);
    assert!(
        q.false_alarms <= 0.011,
        "{:.4} of the normal rows flagged, more than 1.1 %",
        q.false_alarms
    );
}
