//! End-to-end tests of `metrics analyze`, running the real binary.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use predicates::prelude::*;

/// Every reason in an annotated CSV, unquoted.
fn reasons(csv_text: &str) -> Vec<String> {
    let delimiter = [b',', b';', b'\t']
        .into_iter()
        .max_by_key(|d| {
            csv_text
                .lines()
                .next()
                .unwrap_or_default()
                .bytes()
                .filter(|b| b == d)
                .count()
        })
        .unwrap();
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .from_reader(csv_text.as_bytes());
    let column = reader
        .headers()
        .unwrap()
        .iter()
        .position(|h| h == "reasons")
        .expect("reasons column");
    reader
        .records()
        .map(|r| r.unwrap()[column].to_string())
        .filter(|r| !r.is_empty())
        .collect()
}

fn fixtures(kind: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(kind)
}

fn metrics() -> Command {
    Command::cargo_bin("metrics").expect("the metrics binary is built")
}

/// The expected fragment (first line) and extra arguments (`args:` line) of a case.
fn expectation(path: &Path) -> (String, Vec<String>) {
    let text = std::fs::read_to_string(path).expect("readable .expect file");
    let mut lines = text.lines();
    let fragment = lines.next().unwrap_or_default().to_string();
    let args = lines
        .find_map(|l| l.strip_prefix("args: "))
        .map(|a| a.split_whitespace().map(String::from).collect())
        .unwrap_or_default();
    (fragment, args)
}

fn cases(kind: &str) -> Vec<(String, PathBuf)> {
    let mut cases: Vec<(String, PathBuf)> = std::fs::read_dir(fixtures(kind))
        .expect("fixture folder")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "csv" || e == "expect"))
        .map(|p| (p.file_stem().unwrap().to_string_lossy().into_owned(), p))
        .collect();
    cases.sort();
    cases.dedup_by(|a, b| a.0 == b.0);
    cases
}

#[test]
fn every_invalid_fixture_fails_with_its_message_exit_2_and_no_output() {
    let dir = fixtures("invalid");
    let mut checked = 0;
    for (name, _) in cases("invalid") {
        let input = dir.join(format!("{name}.csv"));
        let (fragment, extra) = expectation(&dir.join(format!("{name}.expect")));
        let out_dir = tempfile::tempdir().unwrap();
        let out = out_dir.path().join("out.csv");
        let sub = |a: &str| {
            a.replace("{input}", &input.to_string_lossy())
                .replace("{dir}", &dir.to_string_lossy())
                .replace("{out}", &out.to_string_lossy())
        };
        let mut args: Vec<String> = vec!["analyze".into()];
        if !extra.iter().any(|a| a == "--csv-file") {
            args.extend(["--csv-file".into(), input.to_string_lossy().into_owned()]);
        }
        if !extra.iter().any(|a| a == "--output-file") {
            args.extend(["--output-file".into(), out.to_string_lossy().into_owned()]);
        }
        args.extend(extra.iter().map(|a| sub(a)));
        let assert = metrics().args(&args).assert();
        let output = assert.get_output();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(
            output.status.code(),
            Some(2),
            "{name}: exit code; stderr: {stderr}"
        );
        assert!(
            stderr.contains(&fragment),
            "{name}: expected {fragment:?} in {stderr:?}"
        );
        assert_eq!(
            stderr.trim_end().lines().count(),
            1,
            "{name}: one-line error, got {stderr:?}"
        );
        assert!(!stderr.contains("panicked"), "{name}: panicked");
        assert_eq!(
            std::fs::read_dir(out_dir.path()).unwrap().count(),
            0,
            "{name}: left a file behind"
        );
        checked += 1;
    }
    assert!(checked >= 17, "only {checked} invalid cases found");
}

#[test]
fn every_valid_fixture_is_written_back_whole_with_verdict_columns() {
    let dir = fixtures("valid");
    for (name, input) in cases("valid")
        .into_iter()
        .filter(|(_, p)| p.extension().is_some_and(|e| e == "csv"))
    {
        let out_dir = tempfile::tempdir().unwrap();
        let out = out_dir.path().join("out.csv");
        metrics()
            .args(["analyze", "--csv-file"])
            .arg(&input)
            .arg("--output-file")
            .arg(&out)
            .arg("--quiet")
            .assert()
            .success();
        let written = std::fs::read_to_string(&out).unwrap();
        let original = std::fs::read_to_string(&input).unwrap();
        let header = written.lines().next().unwrap();
        assert!(
            header.ends_with("is_anomaly,anomaly_score,severity,z_max,top_metric,reasons")
                || header.ends_with("is_anomaly;anomaly_score;severity;z_max;top_metric;reasons")
                || header
                    .ends_with("is_anomaly\tanomaly_score\tseverity\tz_max\ttop_metric\treasons"),
            "{name}: header {header}"
        );
        let rows = |t: &str| t.lines().filter(|l| !l.trim().is_empty()).count();
        assert_eq!(rows(&written), rows(&original), "{name}: row count");
        let first_data = original
            .trim_start_matches('\u{feff}')
            .lines()
            .nth(1)
            .unwrap()
            .trim_end_matches('\r');
        assert!(
            written.lines().nth(1).unwrap().starts_with(first_data),
            "{name}: first row text changed"
        );
        let expect = dir.join(format!("{name}.expect"));
        if expect.exists() {
            let (fragment, _) = expectation(&expect);
            let found = reasons(&written);
            assert!(
                found.iter().any(|r| r.contains(&fragment)),
                "{name}: expected {fragment:?} in {found:?}"
            );
        }
    }
}

fn sample() -> PathBuf {
    fixtures("valid").join("task_status.csv")
}

/// Fits on the sample and saves the model to `model` (and the output to `output`).
fn fit_and_save(model: &Path, output: Option<&Path>) {
    let mut command = metrics();
    command
        .args(["analyze", "--quiet", "--csv-file"])
        .arg(sample())
        .arg("--save-model")
        .arg(model);
    if let Some(output) = output {
        command.arg("--output-file").arg(output);
    }
    command.assert().success();
}

/// Analyses `input` with `seed` into `out`, which it returns.
fn analyze_seeded(input: &Path, out: PathBuf, seed: &str) -> PathBuf {
    metrics()
        .args(["analyze", "--seed", seed, "--quiet", "--csv-file"])
        .arg(input)
        .arg("--output-file")
        .arg(&out)
        .assert()
        .success();
    out
}

#[test]
fn the_same_seed_gives_byte_identical_output() {
    let dir = tempfile::tempdir().unwrap();
    let run =
        |name: &str| std::fs::read(analyze_seeded(&sample(), dir.path().join(name), "7")).unwrap();
    assert_eq!(run("a.csv"), run("b.csv"));
}

#[test]
fn analysing_an_analysed_file_replaces_its_verdict_columns() {
    let dir = tempfile::tempdir().unwrap();
    let run = |input: &Path, name: &str| analyze_seeded(input, dir.path().join(name), "3");
    let once = run(&sample(), "once.csv");
    let twice = run(&once, "twice.csv");
    let header = |p: &Path| {
        std::fs::read_to_string(p)
            .unwrap()
            .lines()
            .next()
            .unwrap()
            .to_string()
    };
    assert_eq!(
        header(&twice).matches("is_anomaly").count(),
        1,
        "{}",
        header(&twice)
    );
    assert_eq!(
        std::fs::read(&twice).unwrap(),
        std::fs::read(&once).unwrap()
    );
}

#[test]
fn a_saved_model_reproduces_the_verdicts() {
    let dir = tempfile::tempdir().unwrap();
    let (model, fitted, reused) = (
        dir.path().join("m.json"),
        dir.path().join("a.csv"),
        dir.path().join("b.csv"),
    );
    fit_and_save(&model, Some(&fitted));
    metrics()
        .args(["analyze", "--csv-file"])
        .arg(sample())
        .arg("--output-file")
        .arg(&reused)
        .arg("--model")
        .arg(&model)
        .assert()
        .success()
        .stderr(predicate::str::contains("saved model"));
    assert_eq!(
        std::fs::read(fitted).unwrap(),
        std::fs::read(reused).unwrap()
    );
}

#[test]
fn a_model_for_other_columns_is_refused_with_the_missing_ones_named() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("m.json");
    fit_and_save(&model, None);
    metrics()
        .args(["analyze", "--csv-file"])
        .arg(fixtures("valid").join("no_timestamp.csv"))
        .arg("--model")
        .arg(&model)
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "the data lacks [disk_read_mb, network_sent_mb]",
        ));
}

#[test]
fn standard_input_to_standard_output() {
    let input = std::fs::read(sample()).unwrap();
    let assert = metrics()
        .args([
            "analyze",
            "--csv-file",
            "-",
            "--output-file",
            "-",
            "--quiet",
        ])
        .write_stdin(input.clone())
        .assert()
        .success();
    let out = String::from_utf8(assert.get_output().stdout.clone()).unwrap();
    assert_eq!(
        out.lines().count(),
        String::from_utf8(input).unwrap().lines().count()
    );
    assert!(
        reasons(&out)
            .iter()
            .any(|r| r.contains("task_status is \"failed\" (rule task-failed)"))
    );
}

/// A detector setting out of range is refused by the flag's name, before any work,
/// with exit 2 and no output file.
#[test]
fn a_setting_out_of_range_is_refused_by_its_flag() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("o.csv");
    for (flag, value, says) in [
        ("--contamination", "0.7", "must be in (0, 0.5], got 0.7"),
        ("--contamination", "nan", "must be in (0, 0.5], got NaN"),
        ("--trees", "0", "must be at least 1, got 0"),
        (
            "--trees",
            "100000000",
            "must be at most 10000, got 100000000",
        ),
        ("--sample-size", "1", "must be at least 2, got 1"),
    ] {
        metrics()
            .args(["analyze", "--quiet", "--csv-file"])
            .arg(sample())
            .arg("--output-file")
            .arg(&out)
            .args([flag, value])
            .assert()
            .code(2)
            .stderr(predicate::str::contains(format!(
                "invalid value '{value}' for '{flag} "
            )))
            .stderr(predicate::str::contains(says));
        assert!(!out.exists(), "{flag} {value} left an output");
    }
}

/// A missing source is named as the choice it is: a CSV or Prometheus, and for
/// Prometheus a query or an instance; a CSV with a query is refused as the mix it
/// is. Before, `metrics analyze` alone asked for both `--csv-file` and `--query`,
/// and `--csv-file` with `--query` for `--prometheus` and `--start`.
#[test]
fn a_missing_source_is_named_as_a_choice() {
    let missing = |args: &[&str]| {
        let assert = metrics().arg("analyze").args(args).assert().code(2);
        let err = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
        // What is missing is said before the usage line.
        err.split("Usage:").next().unwrap_or_default().to_string()
    };
    let alone = missing(&[]);
    assert!(
        alone.contains("<--csv-file <IN>|--prometheus <URL>>"),
        "{alone}"
    );
    assert!(!alone.contains("--query"), "{alone}");
    let no_series = missing(&["--prometheus", "http://127.0.0.1:9", "--start", "now-1h"]);
    assert!(
        no_series.contains("<--query <PROMQL>|--instance <INSTANCE>>"),
        "{no_series}"
    );
    let both = missing(&["--csv-file", "a.csv", "--query", "up"]);
    assert!(
        both.contains("'--csv-file <IN>' cannot be used with") && both.contains("--query"),
        "{both}"
    );
}

/// `--output-file` naming a pipe (or `/dev/null`, `/dev/stdout`) streams into it:
/// the pipe gets the same bytes a file would, and stays a pipe.
#[test]
fn an_output_that_is_a_pipe_is_streamed_into_not_replaced() {
    use std::os::unix::fs::FileTypeExt;
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("verdicts.fifo");
    let c_path = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: `c_path` is a valid NUL-terminated string for the call's duration.
    assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::read(fifo).unwrap())
    };
    let streamed = analyze_seeded(&sample(), fifo.clone(), "7");
    // Checked before waiting for the reader, which a replaced pipe would leave waiting.
    assert!(
        std::fs::metadata(&streamed).unwrap().file_type().is_fifo(),
        "the pipe was replaced by a file"
    );
    let written = std::fs::read(analyze_seeded(&sample(), dir.path().join("o.csv"), "7")).unwrap();
    assert_eq!(reader.join().unwrap(), written);
}

#[test]
fn labels_give_quality_figures_in_the_summary_and_the_json_report() {
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("report.json");
    metrics()
        .args(["analyze", "--csv-file"])
        .arg(fixtures("valid").join("dataset_schema.csv"))
        .arg("--json")
        .arg(&report)
        .assert()
        .success()
        .stderr(predicate::str::contains("against labels: precision"))
        .stderr(predicate::str::contains("ROC-AUC"));
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(report).unwrap()).unwrap();
    let quality = &json["summary"]["quality"];
    for key in [
        "precision",
        "recall",
        "f1",
        "event_recall",
        "auc_pr",
        "roc_auc",
    ] {
        assert!(quality[key].is_number(), "{key} missing from {quality}");
    }
    assert_eq!(json["summary"]["rows"], 100);
}

/// The annotated CSV `analyze --quiet` writes for the CSV `text`.
fn analyzed(text: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let (input, out) = (dir.path().join("in.csv"), dir.path().join("out.csv"));
    std::fs::write(&input, text).unwrap();
    metrics()
        .args(["analyze", "--quiet", "--csv-file"])
        .arg(&input)
        .arg("--output-file")
        .arg(&out)
        .assert()
        .success();
    std::fs::read_to_string(&out).unwrap()
}

#[test]
fn a_corrupt_reading_is_one_anomaly_not_an_alarm_that_stays() {
    // Twenty minutes at 1 s of a quiet host whose memory reading is once 1e308. That
    // reading used to become the level the metric had shifted to, after which every
    // ordinary row was flagged critical ("6.3 GB is 1.371e307 sigma below").
    let mut text = String::from("timestamp,cpu_percent,memory_available_gb\n");
    for i in 0..1200u64 {
        let memory = if i == 150 {
            "1e308".to_string()
        } else {
            format!("{:.1}", 6.0 + (i * 7 % 5) as f64 * 0.1)
        };
        let cpu = 12 + (i * 3 + i / 7) % 7;
        text += &format!("{},{cpu},{memory}\n", 1_700_000_000 + i);
    }
    let written = analyzed(&text);
    let rows: Vec<&str> = written.lines().skip(1).collect();
    assert!(
        rows[150].contains(",true,") && rows[150].contains("memory_available_gb 1.000e308 GB"),
        "{}",
        rows[150]
    );
    let flagged_after = rows[151..].iter().filter(|r| r.contains(",true,")).count();
    assert!(
        flagged_after * 100 <= rows[151..].len(),
        "{flagged_after} of the {} rows after the corrupt one flagged",
        rows.len() - 151
    );
}

#[test]
fn a_spike_on_metrics_that_never_move_is_one_row_not_a_minute_of_them() {
    // A sensor and a CPU that read the same every second, but for one reading.
    // Every other row ties at the training rows' typical ratio, which is the hold
    // level: each reached it, so the spike held the next 60 rows (score 0.0000,
    // "continues the anomaly that began ... ago").
    let mut text = String::from("timestamp,cpu_percent,temp\n");
    for i in 0..500u64 {
        let temp = if i == 300 { 80 } else { 40 };
        text += &format!("{},10,{temp}\n", 1_700_000_000 + i);
    }
    let written = analyzed(&text);
    let flagged: Vec<usize> = written
        .lines()
        .skip(1)
        .enumerate()
        .filter(|(_, r)| r.contains(",true,"))
        .map(|(i, _)| i)
        .collect();
    assert_eq!(flagged, [300], "{written}");
}

#[test]
fn a_counter_logged_as_it_stands_is_judged_and_told_to_give_its_rate() {
    // What a script logging psutil's net_io_counters().bytes_sent writes.
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("psutil.csv");
    let mut text = String::from("timestamp,cpu_percent,bytes_sent\n");
    let mut sent = 1_000_000u64;
    for i in 0..600u64 {
        sent += 20_000 + (i * 7919) % 5000;
        text += &format!("{},{},{sent}\n", 1_700_000_000 + i, 20 + i % 5);
    }
    std::fs::write(&input, text).unwrap();
    metrics()
        .args(["analyze", "--csv-file"])
        .arg(&input)
        .assert()
        .success()
        .stderr(predicate::str::contains(
            "column 'bytes_sent' only rises (1020000.0 to 14489300.0)",
        ))
        .stderr(predicate::str::contains(
            "hint: if it is one, give its rate",
        ))
        .stderr(predicate::str::contains("cpu_percent' only").not());
}

#[test]
fn a_time_column_called_time_or_ts_is_the_time_not_text_or_a_metric() {
    // Unix seconds under `ts` were judged as a third metric; ISO times under
    // `Time` were text, and the summary placed incidents by row number.
    for (name, time) in [("ts", "{}"), ("Time", "@{}")] {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("in.csv");
        let mut text = format!("{name},cpu_percent,memory_percent\n");
        for i in 0..300u64 {
            let seconds = 1_700_000_000 + i;
            let cell = if time == "{}" {
                seconds.to_string()
            } else {
                metrics::timestamp::to_iso(seconds as i64 * 1000)
            };
            let cpu = if i == 200 { 99 } else { 20 + i % 5 };
            text += &format!("{cell},{cpu},{}\n", 40 + i % 3);
        }
        std::fs::write(&input, text).unwrap();
        let stderr = analyze_stderr(&input);
        assert!(stderr.contains("300 rows, 2 metrics"), "{name}: {stderr}");
        assert!(
            stderr.contains("2023-11-14T22:16:40Z") && !stderr.contains("only rises"),
            "{name}: {stderr}"
        );
    }
}

/// A spreadsheet's dates (month or day first) under `Time` cannot be read as
/// times: the file is judged without them, and the user is told so.
#[test]
fn a_time_column_of_dates_this_reader_cannot_read_is_told() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("sheet.csv");
    let mut text = String::from("Time,cpu_percent,memory_percent\n");
    for i in 0..300u64 {
        text += &format!(
            "11/14/2023 22:{:02}:{:02},{},{}\n",
            i / 60,
            i % 60,
            20 + i % 5,
            40 + i % 3
        );
    }
    std::fs::write(&input, text).unwrap();
    let err = analyze_stderr(&input);
    assert!(
        err.contains(
            "column 'Time' holds \"11/14/2023 22:00:00\", which is not a time this reader knows"
        ) && err.contains("300 rows, 2 metrics"),
        "{err}"
    );
}

#[test]
fn a_metric_that_begins_part_way_is_judged_where_it_reads_and_one_that_stops_is_told() {
    // A GPU exporter added half way through an hour at 1 s, on a host of steady
    // noise. Its empty half read as one flat run of the fill value ("flat at NaN
    // % for 3000 samples"): 54 % of the rows flagged; and its spread, fitted with
    // half its values on the median, read ordinary noise as 10 sigma.
    let mut text = String::from("timestamp,cpu_percent,gpu_percent\n");
    let noise = |i: u64, k: u64| ((i * k + i / 7) % 11) as f64 / 2.0;
    for i in 0..6000u64 {
        let gpu = if i < 3000 || (4500..4800).contains(&i) {
            String::new()
        } else {
            format!("{:.1}", 50.0 + noise(i, 5))
        };
        text += &format!("{},{:.1},{gpu}\n", 1_700_000_000 + i, 20.0 + noise(i, 3));
    }
    let written = analyzed(&text);
    let rows: Vec<&str> = written.lines().skip(1).collect();
    let flagged =
        |range: std::ops::Range<usize>| rows[range].iter().filter(|r| r.contains(",true,")).count();
    assert!(
        flagged(0..3000) <= 150,
        "{} of the first half",
        flagged(0..3000)
    );
    assert!(!written.contains("flat at NaN"));
    // Gone quiet after it read: told, by how long it has been missing.
    assert!(flagged(4500..4800) > 200, "{}", flagged(4500..4800));
    assert!(written.contains("gpu_percent missing for "), "{written}");
}

#[test]
fn a_file_of_steady_noise_does_not_open_with_an_alarm() {
    // Three metrics of independent noise around fixed levels. The first rows' means
    // of one, two, three readings used to be judged as 10-sample means, which swing
    // √10 times less: the first row was flagged in file after file like this one.
    let mut state = 0x2545_F491_4F6C_DD1D_u64;
    let mut uniform = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    let mut text = String::from("timestamp,queue_depth,latency_ms,temperature\n");
    for i in 0..3000u64 {
        let mut noise = || (0..12).map(|_| uniform()).sum::<f64>() - 6.0;
        let (a, b, c) = (40.0 + 5.0 * noise(), 120.0 + 10.0 * noise(), 55.0 + noise());
        text += &format!("{},{a:.2},{b:.2},{c:.2}\n", 1_700_000_000 + i);
    }
    let written = analyzed(&text);
    let first: Vec<&str> = written.lines().skip(1).take(10).collect();
    assert!(
        first.iter().all(|r| !r.contains(",true,")),
        "{}",
        first.join("\n")
    );
}

#[test]
fn the_summary_lists_the_worst_anomalies_with_reasons() {
    metrics()
        .args(["analyze", "--top", "3", "--csv-file"])
        .arg(sample())
        .assert()
        .success()
        .stderr(predicate::str::contains("worst anomalies:"))
        .stderr(predicate::str::contains(
            "critical  task_status is \"failed\"",
        ));
}

#[test]
fn every_shared_dataset_analyses() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/datasets");
    if !root.is_dir() {
        eprintln!("skipped: {} is absent", root.display());
        return;
    }
    let mut files = Vec::new();
    for family in ["nab", "asd", "smd"] {
        for entry in std::fs::read_dir(root.join(family))
            .into_iter()
            .flatten()
            .flatten()
        {
            let path = entry.path();
            if path.extension().is_some_and(|e| e == "csv") && !path.ends_with("interpretation.csv")
            {
                files.push(path);
            }
        }
    }
    files.sort();
    assert!(
        files.len() >= 24,
        "expected the NAB, ASD and SMD files, found {}",
        files.len()
    );
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let mut args = vec![
            "analyze".to_string(),
            "--quiet".into(),
            "--trees".into(),
            "50".into(),
        ];
        if text.lines().next().unwrap_or_default().contains("split") {
            args.extend(["--fit-where".into(), "split=train".into()]);
        }
        let assert = metrics()
            .args(&args)
            .arg("--csv-file")
            .arg(&file)
            .arg("--output-file")
            .arg("-")
            .assert()
            .success();
        let out = &assert.get_output().stdout;
        assert_eq!(
            out.iter().filter(|&&b| b == b'\n').count(),
            text.lines().count(),
            "{}: every row written back",
            file.display()
        );
    }
}

/// The runs of consecutive anomalous rows in an annotated CSV, as 1-based
/// (first, last) data rows.
fn anomalous_runs(annotated: &Path) -> Vec<(usize, usize)> {
    let mut reader = csv::Reader::from_path(annotated).unwrap();
    let column = reader
        .headers()
        .unwrap()
        .iter()
        .position(|h| h == "is_anomaly")
        .unwrap();
    let mut runs: Vec<(usize, usize)> = Vec::new();
    for (i, record) in reader.records().enumerate() {
        if &record.unwrap()[column] != "true" {
            continue;
        }
        match runs.last_mut() {
            Some((_, last)) if *last == i => *last = i + 1,
            _ => runs.push((i + 1, i + 1)),
        }
    }
    runs
}

#[test]
fn events_list_one_incident_per_run_of_anomalous_rows_as_csv_and_as_json() {
    let dir = tempfile::tempdir().unwrap();
    let input = fixtures("replay").join("planted_spike.csv");
    let (out, csv_events, json_events) = (
        dir.path().join("out.csv"),
        dir.path().join("events.csv"),
        dir.path().join("events.json"),
    );
    for events in [&csv_events, &json_events] {
        metrics()
            .arg("analyze")
            .arg("--csv-file")
            .arg(&input)
            .args(["--fit-rows", "100", "--output-file"])
            .arg(&out)
            .arg("--events")
            .arg(events)
            .assert()
            .success()
            .stderr(predicate::str::contains("incidents: "));
    }
    let runs = anomalous_runs(&out);
    assert!(!runs.is_empty());
    let mut reader = csv::Reader::from_path(&csv_events).unwrap();
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.unwrap()).collect();
    let from_csv: Vec<(usize, usize)> = rows
        .iter()
        .map(|r| (r[6].parse().unwrap(), r[7].parse().unwrap()))
        .collect();
    assert_eq!(from_csv, runs, "one incident per run of anomalous rows");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json_events).unwrap()).unwrap();
    let from_json: Vec<(usize, usize)> = json
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["first_row"].as_u64().unwrap() as usize,
                i["last_row"].as_u64().unwrap() as usize,
            )
        })
        .collect();
    assert_eq!(from_json, runs, "the JSON form lists the same incidents");
    // The planted spike (data row 201, 2025-01-06T10:03:20Z, CPU at 96.75 %) is
    // inside a critical incident that names CPU and starts at or before it.
    let spike = rows
        .iter()
        .find(|r| {
            let (first, last): (usize, usize) = (r[6].parse().unwrap(), r[7].parse().unwrap());
            (first..=last).contains(&201)
        })
        .expect("the spike row is in an incident");
    assert_eq!(&spike[9], "critical");
    assert!(
        spike[10].split(';').any(|m| m == "cpu_percent"),
        "{spike:?}"
    );
    assert!(spike[1].as_bytes() <= b"2025-01-06T10:03:20Z".as_slice());
    assert!(spike[11].starts_with("critical anomaly on "), "{spike:?}");
}

#[test]
fn a_metric_column_without_readings_is_left_out_with_a_warning_the_summary_repeats() {
    let out_dir = tempfile::tempdir().unwrap();
    let out = out_dir.path().join("out.csv");
    let output = metrics()
        .args(["analyze", "--csv-file"])
        .arg(fixtures("valid").join("empty_optional_column.csv"))
        .arg("--output-file")
        .arg(&out)
        .output()
        .unwrap();
    assert!(output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    for column in ["temperature_c", "fan_rpm"] {
        let warning = format!(
            "column '{column}' left out: every one of its 40 cells is empty, NaN or infinite"
        );
        assert_eq!(stderr.matches(&warning).count(), 2, "{column}: {stderr}");
    }
    assert!(stderr.contains("2 metrics"), "{stderr}");
    let written = std::fs::read_to_string(&out).unwrap();
    for reason in reasons(&written) {
        assert!(
            !reason.contains("temperature_c") && !reason.contains("fan_rpm"),
            "{reason}"
        );
    }
}

/// `datagen -n 400 --seed 3` written in `dir`: its path, header and data rows.
fn four_hundred_rows(dir: &Path) -> (PathBuf, String, Vec<String>) {
    let path = dir.join("in_order.csv");
    metrics()
        .args(["datagen", "-n", "400", "--seed", "3", "--quiet", "-o"])
        .arg(&path)
        .assert()
        .success();
    let text = std::fs::read_to_string(&path).unwrap();
    let (header, rows) = text.split_once('\n').unwrap();
    let rows = rows.lines().map(str::to_string).collect();
    (path, header.to_string(), rows)
}

/// What a successful `analyze` of `file` says on standard error.
fn analyze_stderr(file: &Path) -> String {
    let assert = metrics()
        .args(["analyze", "--csv-file"])
        .arg(file)
        .assert()
        .success();
    String::from_utf8_lossy(&assert.get_output().stderr).into_owned()
}

/// sysstat's history as `sadf -d` writes it (a real capture of `sadf -d -- -u`
/// with a CPU load in it) is judged on its readings: its `CPU` column, the CPU's
/// number (-1 for all), used to be read as a CPU percent through the `cpu` alias,
/// and every row was flagged high as an impossible reading.
#[test]
fn sysstat_history_is_judged_on_its_readings_not_its_cpu_number() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("report.json");
    metrics()
        .args(["analyze", "--quiet", "--csv-file"])
        .arg(fixtures("valid").join("sadf.csv"))
        .arg("--json")
        .arg(&json)
        .assert()
        .success();
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let summary = &report["summary"];
    assert_eq!(
        summary["metrics"],
        serde_json::json!(["%user", "%nice", "%system", "%iowait", "%steal", "%idle"])
    );
    assert_eq!(summary["rows"], 39);
    assert!(
        summary["anomalies"].as_u64().unwrap() <= 2,
        "a 39-row capture is mostly normal: {summary}"
    );
    assert!(!report.to_string().contains("impossible"), "{report}");
}

/// A file written as spreadsheets in much of Europe write it (`;` between cells,
/// a decimal comma) gets the verdicts of the same readings written with points,
/// and its verdicts' numbers are written its way, so the same spreadsheet reads
/// them back as numbers.
#[test]
fn a_decimal_comma_file_gets_the_verdicts_of_the_same_readings_with_points() {
    let dir = tempfile::tempdir().unwrap();
    let (path, header, rows) = four_hundred_rows(dir.path());
    let comma = dir.path().join("komma.csv");
    let european: Vec<String> = std::iter::once(header.replace(',', ";"))
        .chain(rows.iter().map(|row| {
            let cells: Vec<String> = row
                .split(',')
                .enumerate()
                .map(|(i, cell)| {
                    if i == 0 {
                        cell.to_string()
                    } else {
                        cell.replace('.', ",")
                    }
                })
                .collect();
            cells.join(";")
        }))
        .collect();
    std::fs::write(&comma, european.join("\n") + "\n").unwrap();
    let verdicts = |input: &Path, delimiter: char| -> Vec<String> {
        let out = input.with_extension("out.csv");
        metrics()
            .args(["analyze", "--quiet", "--csv-file"])
            .arg(input)
            .arg("--output-file")
            .arg(&out)
            .assert()
            .success()
            .stderr("");
        std::fs::read_to_string(&out)
            .unwrap()
            .lines()
            .skip(1)
            .map(|l| {
                l.split(delimiter)
                    .skip(11)
                    .take(4)
                    .collect::<Vec<_>>()
                    .join("|")
            })
            .collect()
    };
    let (points, commas) = (verdicts(&path, ','), verdicts(&comma, ';'));
    assert_eq!(commas.len(), 400);
    assert!(
        commas[0].starts_with("false|0,") && !commas[0].contains('.'),
        "{}",
        commas[0]
    );
    let as_points: Vec<String> = commas.iter().map(|v| v.replace(',', ".")).collect();
    assert_eq!(as_points, points);
}

/// `--fit-rows` beyond the input's length fits on every row, as if it had not been
/// given: the user who meant a known-good period is told, not left to read
/// "fitted on 400" in the summary.
#[test]
fn fit_rows_beyond_the_input_is_told() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _, _) = four_hundred_rows(dir.path());
    let told = |n: &str| {
        let assert = metrics()
            .args(["analyze", "--quiet", "--fit-rows", n, "--csv-file"])
            .arg(&path)
            .assert()
            .success();
        String::from_utf8_lossy(&assert.get_output().stderr).into_owned()
    };
    let stderr = told("5000");
    assert!(
        stderr.contains("--fit-rows 5000 asks for more rows than the 400 there are"),
        "{stderr}"
    );
    assert_eq!(told("300"), "", "a period within the input is not told");
}

/// `--sample-size` beyond the rows the forest grows from is capped, and the user
/// who asked for it is told; the default, capped on a short file, is not.
#[test]
fn a_sample_size_beyond_the_rows_is_told() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _, _) = four_hundred_rows(dir.path());
    let told = |flags: &[&str]| {
        let assert = metrics()
            .args(["analyze", "--quiet", "--csv-file"])
            .arg(&path)
            .args(flags)
            .assert()
            .success();
        String::from_utf8_lossy(&assert.get_output().stderr).into_owned()
    };
    let stderr = told(&["--sample-size", "5000"]);
    assert!(
        stderr.contains(
            "--sample-size 5000 asks for more rows than the 400 the forest is grown from"
        ),
        "{stderr}"
    );
    assert_eq!(told(&["--sample-size", "100"]), "");
    assert_eq!(told(&[]), "");
}

/// `--timezone` acts only through the time-of-day profile, which a baseline of
/// less than two days does not learn: the user is told the flag changed nothing
/// there, and nothing on a file long enough.
#[test]
fn a_timezone_that_can_change_nothing_is_told() {
    let dir = tempfile::tempdir().unwrap();
    let (short, _, _) = four_hundred_rows(dir.path());
    let days = dir.path().join("three_days.csv");
    metrics()
        .args(["datagen", "-n", "4320", "--interval", "60", "--quiet", "-o"])
        .arg(&days)
        .assert()
        .success();
    let told = |path: &std::path::Path| {
        let assert = metrics()
            .args([
                "analyze",
                "--quiet",
                "--timezone",
                "Europe/Berlin",
                "--csv-file",
            ])
            .arg(path)
            .assert()
            .success();
        String::from_utf8_lossy(&assert.get_output().stderr).into_owned()
    };
    let stderr = told(&short);
    assert!(
        stderr.contains("--timezone Europe/Berlin changed nothing")
            && stderr.contains("two days or more"),
        "{stderr}"
    );
    assert_eq!(told(&days), "");
}

/// A file whose times go backwards (here two recordings joined, the later first)
/// is judged in file order, and the user is told where the order breaks, once as
/// it happens and again in the summary; a file in order says nothing of it.
#[test]
fn times_that_go_backwards_are_told_with_the_row_where_they_first_do() {
    let dir = tempfile::tempdir().unwrap();
    let (sorted, header, rows) = four_hundred_rows(dir.path());
    let joined = dir.path().join("joined.csv");
    std::fs::write(
        &joined,
        format!(
            "{header}\n{}\n{}\n",
            rows[200..].join("\n"),
            rows[..200].join("\n")
        ),
    )
    .unwrap();
    let err = analyze_stderr(&joined);
    let first = rows[0].split(',').next().unwrap();
    let last = rows[399].split(',').next().unwrap();
    let warning = format!("the times go backwards at data row 201 ({first} after {last}):");
    assert_eq!(err.matches(&warning).count(), 2, "{err}");
    assert!(
        err.contains("hint: sort the file by its time column"),
        "{err}"
    );
    assert!(!analyze_stderr(&sorted).contains("backwards"));
}

/// Two hosts' rows written in turn (what a long-format export, or two files
/// merged by time, look like) are judged as one series: the user is told.
#[test]
fn rows_of_two_hosts_written_in_turn_are_told() {
    let dir = tempfile::tempdir().unwrap();
    let (one, header, rows) = four_hundred_rows(dir.path());
    // The second host's rows carry the first host's times.
    let mut both = format!("{header}\n");
    for (a, b) in rows[..200].iter().zip(&rows[200..]) {
        let (time, _) = a.split_once(',').unwrap();
        let (_, readings) = b.split_once(',').unwrap();
        both += &format!("{a}\n{time},{readings}\n");
    }
    let both_file = dir.path().join("both.csv");
    std::fs::write(&both_file, both).unwrap();
    let err = analyze_stderr(&both_file);
    assert!(
        err.contains("200 of the 400 rows have the time of the row before (first at data row 2)")
            && err.contains("hint: give each host a file of its own"),
        "{err}"
    );
    assert!(!analyze_stderr(&one).contains("time of the row before"));
}

#[test]
fn a_rules_file_switches_a_builtin_off_by_name_adds_its_own_and_names_one_that_never_fires() {
    let dir = tempfile::tempdir().unwrap();
    let (input, out, rules) = (
        dir.path().join("in.csv"),
        dir.path().join("out.csv"),
        dir.path().join("rules.toml"),
    );
    let mut text = String::from("timestamp,cpu_percent,memory_percent\n");
    for i in 0..600u64 {
        let cpu = if (300..310).contains(&i) {
            88.0
        } else {
            20.0 + (i * 7 % 5) as f64 * 0.4
        };
        let memory = if (400..406).contains(&i) {
            70.0
        } else {
            40.0 + (i * 3 % 4) as f64 * 0.3
        };
        text.push_str(&format!("{i},{cpu:.1},{memory:.1}\n"));
    }
    std::fs::write(&input, text).unwrap();
    std::fs::write(
        &rules,
        "[[rule]]\nname = \"cpu-high\"\nenabled = false\n\n\
         [[rule]]\nname = \"memory-busy\"\nmetric = \"memory_percent\"\nop = \">=\"\nvalue = 60\nseverity = \"high\"\nmessage = \"check the cache\"\n\n\
         [[rule]]\nname = \"load\"\nmetric = \"load_avg\"\nop = \">\"\nvalue = 4\nseverity = \"high\"\n",
    )
    .unwrap();
    let assert = metrics()
        .args(["analyze", "--quiet", "--csv-file"])
        .arg(&input)
        .arg("--output-file")
        .arg(&out)
        .arg("--rules")
        .arg(&rules)
        .assert()
        .success();
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
    assert!(
        stderr.contains("rule load never fires: load_avg is not a column here"),
        "{stderr}"
    );
    let found = reasons(&std::fs::read_to_string(&out).unwrap());
    assert!(found.iter().all(|r| !r.contains("cpu-high")), "{found:?}");
    assert!(
        found
            .iter()
            .any(|r| r
                .contains("memory_percent 70.0 % >= 60.0 % (rule memory-busy): check the cache")),
        "{found:?}"
    );
}

#[test]
fn a_reader_that_stops_early_ends_the_output_not_the_command_in_error() {
    // `metrics analyze ... --output-file - | head -2`: the reader closes the pipe.
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.csv");
    let mut text = String::from("timestamp,cpu_percent,memory_percent\n");
    for i in 0..200_000u64 {
        text.push_str(&format!(
            "{i},{:.1},{:.1}\n",
            20.0 + (i * 7 % 5) as f64,
            40.0 + (i * 3 % 4) as f64
        ));
    }
    std::fs::write(&input, text).unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_metrics"))
        .args(["analyze", "--quiet", "--output-file", "-", "--csv-file"])
        .arg(&input)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    assert!(
        lines
            .next()
            .unwrap()
            .unwrap()
            .starts_with("timestamp,cpu_percent")
    );
    assert!(lines.next().unwrap().is_ok());
    drop(lines);
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "exit {:?}: {stderr}",
        output.status
    );
    assert!(stderr.is_empty(), "{stderr}");
}

#[test]
fn a_dash_writes_the_events_or_the_json_report_to_standard_output_and_no_file_named_dash() {
    let dir = tempfile::tempdir().unwrap();
    let input = fixtures("valid").join("task_status.csv");
    let run = |flag: &str| -> String {
        let out = metrics()
            .current_dir(dir.path())
            .args(["analyze", "--quiet", flag, "-", "--csv-file"])
            .arg(&input)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{flag} -: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let events = run("--events");
    assert!(
        events.starts_with("id,start,end,open,duration_s,"),
        "{events}"
    );
    assert!(events.lines().count() >= 2, "{events}");
    let report: serde_json::Value = serde_json::from_str(&run("--json")).unwrap();
    assert!(report["summary"]["rows"].as_u64().unwrap() > 0);
    assert!(
        !dir.path().join("-").exists(),
        "a file named '-' was written"
    );
    metrics()
        .current_dir(dir.path())
        .args(["analyze", "--quiet", "--save-model", "-", "--csv-file"])
        .arg(&input)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("a model is saved to a file"));
}

#[test]
fn a_baseline_too_short_for_the_trend_does_not_read_every_move_as_hundreds_of_sigma() {
    // Three metrics of steady noise at 1 s, fitted on their first 80 rows: too few
    // for the minute-long trend, which was 0 on all of them and so taken for a
    // constant. Every later move then read `fell by 0.7 over the last 60 samples
    // (700.0 sigma)`: a third of the rows flagged, 18 critical.
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let mut noise = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (0..12)
            .map(|k| ((state >> (5 * k)) & 31) as f64 / 31.0)
            .sum::<f64>()
            - 6.0
    };
    let mut text = String::from("timestamp,a,b,c\n");
    for i in 0..480u64 {
        let (a, b, c) = (30.0 + 3.0 * noise(), 50.0 + 2.0 * noise(), 5.0 + noise());
        text.push_str(&format!("{},{a:.1},{b:.1},{c:.2}\n", 1_735_689_600 + i));
    }
    let dir = tempfile::tempdir().unwrap();
    let (input, out) = (dir.path().join("in.csv"), dir.path().join("out.csv"));
    std::fs::write(&input, text).unwrap();
    metrics()
        .args(["analyze", "--quiet", "--fit-rows", "80", "--csv-file"])
        .arg(&input)
        .arg("--output-file")
        .arg(&out)
        .assert()
        .success();
    let written = std::fs::read_to_string(&out).unwrap();
    let found = reasons(&written);
    assert!(
        found
            .iter()
            .all(|r| !r.contains("over the last 60 samples")),
        "{:?}",
        &found[..found.len().min(5)]
    );
    assert!(
        !written.contains(",critical,"),
        "a row of noise judged critical"
    );
}

/// A host without some native metric (no disk counters, an empty network column)
/// is judged on what it has, with the gap named: such a file was refused as a
/// mistake, leaving no way to analyse it.
#[test]
fn a_native_file_without_some_metric_is_judged_on_what_it_has_and_told_so() {
    let dir = fixtures("valid");
    for (file, said) in [
        (
            "native_without_memory.csv",
            "the header names native metrics but not memory_percent: the file is judged without them",
        ),
        (
            "native_column_empty.csv",
            "column 'network_sent_mb' left out: every one of its 40 cells is empty",
        ),
    ] {
        let out = metrics()
            .args(["analyze", "--quiet", "--csv-file"])
            .arg(dir.join(file))
            .assert()
            .success();
        let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
        assert_eq!(stderr.matches(said).count(), 1, "{file}: {stderr}");
    }
}

/// `--output-file out.json` writes the rows as CSV, as it always does; a user who
/// meant the JSON report is told which flag gives it, and the file is still CSV.
#[test]
fn an_output_file_named_json_is_told_it_gets_csv() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.json");
    let assert = metrics()
        .args(["analyze", "--quiet", "--csv-file"])
        .arg(sample())
        .arg("--output-file")
        .arg(&out)
        .assert()
        .success();
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
    assert!(
        stderr.contains("are written as CSV, whatever the name; hint: --json FILE"),
        "{stderr}"
    );
    let written = std::fs::read_to_string(&out).unwrap();
    assert!(written.starts_with("timestamp,"), "{written}");
}

/// `--csv-file -` at a terminal waits for the CSV to be typed in: it says so, where
/// it looked like a hang. Piped, it says nothing of the kind. (`script` gives the
/// command a terminal, and ends its input at once.)
#[test]
fn standard_input_at_a_terminal_says_what_it_waits_for() {
    let bin = env!("CARGO_BIN_EXE_metrics");
    let out = std::process::Command::new("script")
        .args(["-qec", &format!("{bin} analyze --csv-file -"), "/dev/null"])
        .stdin(std::process::Stdio::null())
        .output()
        .expect("script (util-linux) runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("reading the CSV from the terminal: paste it and end with Ctrl-D"),
        "{text}"
    );
    let piped = metrics()
        .args(["analyze", "--quiet", "--csv-file", "-"])
        .pipe_stdin(sample())
        .unwrap()
        .assert()
        .success();
    let stderr = String::from_utf8_lossy(&piped.get_output().stderr).into_owned();
    assert!(!stderr.contains("from the terminal"), "{stderr}");
}

#[test]
fn a_run_stopped_by_a_signal_leaves_its_output_as_it_was_and_no_part_of_it() {
    use std::os::unix::process::ExitStatusExt;
    use std::time::{Duration, Instant};
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.csv");
    Command::cargo_bin("metrics")
        .unwrap()
        .args([
            "datagen",
            "-n",
            "1000000",
            "--seed",
            "1",
            "--no-labels",
            "-q",
            "-o",
        ])
        .arg(&input)
        .assert()
        .success();
    let out_dir = dir.path().join("out");
    std::fs::create_dir(&out_dir).unwrap();
    let target = out_dir.join("judged.csv");
    std::fs::write(&target, "the run before\n").unwrap();
    let mut run = std::process::Command::new(assert_cmd::cargo::cargo_bin("metrics"))
        .args(["analyze", "-q", "--csv-file"])
        .arg(&input)
        .arg("--output-file")
        .arg(&target)
        .spawn()
        .unwrap();
    let pid = run.id() as libc::pid_t;
    // Wait until the output is being written (its temporary file is there), then
    // freeze the run right there, so the signal lands mid-write on any machine.
    let started = Instant::now();
    let temporary = loop {
        let found = std::fs::read_dir(&out_dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.to_string_lossy().ends_with(".tmp"));
        if let Some(path) = found {
            // SAFETY: kill only sends a signal to the child we started.
            unsafe { libc::kill(pid, libc::SIGSTOP) };
            break path;
        }
        assert!(run.try_wait().unwrap().is_none(), "it ended before writing");
        assert!(started.elapsed() < Duration::from_secs(120), "no output");
        std::thread::sleep(Duration::from_millis(1));
    };
    assert!(temporary.exists(), "frozen while writing");
    // SAFETY: as above.
    unsafe {
        libc::kill(pid, libc::SIGTERM);
        libc::kill(pid, libc::SIGCONT);
    }
    let status = run.wait().unwrap();
    assert_eq!(status.signal(), Some(libc::SIGTERM), "{status:?}");
    let left: Vec<PathBuf> = std::fs::read_dir(&out_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(left, vec![target.clone()], "no part of the output is left");
    assert_eq!(
        std::fs::read_to_string(&target).unwrap(),
        "the run before\n"
    );
}
