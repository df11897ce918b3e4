//! End-to-end: `metrics analyze --prometheus` reads history a real Prometheus holds
//! (blocks the test creates with `promtool tsdb create-blocks-from openmetrics`)
//! and gives the verdicts `analyze` gives on a CSV export of the same series.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::prometheus::{Prometheus, prometheus};
use common::wobble;
use metrics::timestamp::{now_ms, to_iso};

/// Ten hours of CPU and memory at one sample a minute, ending an hour ago, with a
/// spike at the seventh hour: as OpenMetrics for promtool, and as the CSV a user
/// would export (values written as Prometheus writes them).
fn history(dir: &Path) -> (i64, i64, std::path::PathBuf) {
    let rows = 600;
    let end = (now_ms() / 60_000 - 60) * 60_000;
    let start = end - (rows - 1) * 60_000;
    let mut cpu = Vec::new();
    let mut memory = Vec::new();
    for i in 0..rows as usize {
        let spike = (420..425).contains(&i);
        let c: f64 = format!(
            "{:.2}",
            if spike {
                97.0
            } else {
                30.0 + 8.0 * wobble(i, 0)
            }
        )
        .parse()
        .unwrap();
        // One reading the exporter could not take.
        let m: f64 = if i == 100 {
            f64::NAN
        } else {
            format!("{:.2}", 45.0 + 2.0 * wobble(i, 1)).parse().unwrap()
        };
        cpu.push(c);
        memory.push(m);
    }
    let mut om = String::new();
    for (name, values) in [("cpu_percent", &cpu), ("memory_percent", &memory)] {
        om.push_str(&format!("# TYPE {name} gauge\n"));
        // A second host with the same history, so a query can span two.
        for host in ["web-1:9100", "web-2:9100"] {
            for (i, v) in values.iter().enumerate() {
                let t = (start + i as i64 * 60_000) / 1000;
                om.push_str(&format!(
                    "{name}{{instance=\"{host}\",job=\"node\"}} {v} {t}\n"
                ));
            }
        }
    }
    om.push_str("# EOF\n");
    let om_file = dir.join("history.om");
    std::fs::write(&om_file, om).unwrap();
    let data = dir.join("tsdb");
    let made = Command::new("promtool")
        .args(["tsdb", "create-blocks-from", "openmetrics"])
        .arg(&om_file)
        .arg(&data)
        .output()
        .expect("promtool (Debian package prometheus) must be installed");
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let mut csv = String::from("timestamp,cpu_percent,memory_percent\n");
    for i in 0..rows as usize {
        let t = start + i as i64 * 60_000;
        csv.push_str(&format!("{},{},{}\n", to_iso(t), cpu[i], memory[i]));
    }
    let csv_file = dir.join("export.csv");
    std::fs::write(&csv_file, csv).unwrap();
    (start, end, csv_file)
}

fn analyze(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_metrics"))
        .arg("analyze")
        .args(args)
        .output()
        .unwrap()
}

fn url(prometheus: &Prometheus) -> String {
    format!("http://{}", prometheus.address)
}

#[test]
fn history_from_prometheus_gets_the_verdicts_of_the_same_series_as_a_csv() {
    let dir = tempfile::tempdir().unwrap();
    let (start, end, csv) = history(dir.path());
    // Prometheus serves the blocks promtool wrote (its data folder is `tsdb`).
    let prometheus = prometheus(dir.path(), "global:\n  scrape_interval: 1h\n");
    let from_csv = dir.path().join("from_csv.csv");
    let out = analyze(&[
        "--csv-file",
        csv.to_str().unwrap(),
        "--output-file",
        from_csv.to_str().unwrap(),
        "--seed",
        "1",
        "--quiet",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let from_prometheus = dir.path().join("from_prometheus.csv");
    let (start, end) = (to_iso(start), to_iso(end));
    let out = analyze(&[
        "--prometheus",
        &url(&prometheus),
        "--query",
        "{__name__=~\"cpu_percent|memory_percent\", instance=\"web-1:9100\"}",
        "--start",
        &start,
        "--end",
        &end,
        "--step",
        "1m",
        "--output-file",
        from_prometheus.to_str().unwrap(),
        "--seed",
        "1",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let (a, b) = (
        std::fs::read_to_string(&from_csv).unwrap(),
        std::fs::read_to_string(&from_prometheus).unwrap(),
    );
    assert_eq!(a.lines().count(), 601);
    assert!(
        a.lines().any(|l| l.contains(",critical,")),
        "the spike is found"
    );
    assert_eq!(a, b, "the same rows, the same verdicts");
    assert!(stderr.contains("prometheus http://"), "{stderr}");

    // At one row a second the range is 35,941 steps: four requests under
    // Prometheus' 11,000 points, merged in order without a gap or a repeat.
    let fine = dir.path().join("fine.csv");
    let out = analyze(&[
        "--prometheus",
        &url(&prometheus),
        "--query",
        "cpu_percent{instance=\"web-1:9100\"}",
        "--start",
        &start,
        "--end",
        &end,
        "--step",
        "1s",
        "--output-file",
        fine.to_str().unwrap(),
        "--quiet",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let times: Vec<i64> = std::fs::read_to_string(&fine)
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| metrics::timestamp::parse(l.split(',').next().unwrap()).unwrap())
        .collect();
    assert_eq!(times.len(), 599 * 60 + 1);
    assert!(times.windows(2).all(|w| w[1] - w[0] == 1000));

    // A query over both hosts: each is analysed on its own baseline, into its
    // own file, with the verdicts of its own export.
    let both = dir.path().join("both.csv");
    let out = analyze(&[
        "--prometheus",
        &url(&prometheus),
        "--query",
        "{__name__=~\"cpu_percent|memory_percent\"}",
        "--start",
        &start,
        "--end",
        &end,
        "--output-file",
        both.to_str().unwrap(),
        "--seed",
        "1",
        "--quiet",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for host in ["web-1_9100", "web-2_9100"] {
        let file = dir.path().join(format!("both.{host}.csv"));
        assert_eq!(std::fs::read_to_string(&file).unwrap(), a, "{host}");
    }
}

#[test]
fn prometheus_errors_are_told_in_the_words_of_the_source() {
    let dir = tempfile::tempdir().unwrap();
    history(dir.path());
    let prometheus = prometheus(dir.path(), "global:\n  scrape_interval: 1h\n");
    let url = url(&prometheus);
    let run = |query: &str, start: &str, server: &str| {
        let out = analyze(&["--prometheus", server, "--query", query, "--start", start]);
        assert_eq!(out.status.code(), Some(2));
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let bad = run("rate(cpu_percent[", "now-1d", &url);
    assert!(
        bad.contains("Prometheus refused") && bad.contains("bad_data"),
        "{bad}"
    );
    let empty = run("no_such_metric", "now-1d", &url);
    assert!(empty.contains("returned no series"), "{empty}");
    let long = run("cpu_percent", "now-10000d", &url);
    assert!(long.contains("raise --step"), "{long}");
    let closed = format!("http://127.0.0.1:{}", common::free_port());
    let unreachable = run("cpu_percent", "now-1d", &closed);
    assert!(
        unreachable.contains("cannot reach Prometheus"),
        "{unreachable}"
    );
}
