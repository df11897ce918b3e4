//! End-to-end tests of `metrics analyze` on files read in windows (`--window-mb`):
//! the same verdicts as the file read whole, from a file or standard input, and
//! errors that name the file's line however far down it is.

mod common;

use std::path::{Path, PathBuf};

use assert_cmd::Command;

fn metrics() -> Command {
    Command::cargo_bin("metrics").expect("the metrics binary is built")
}

/// A labelled datagen file of `rows` rows at 1 s: about 74 bytes a row, so 80 000
/// rows make nearly 6 MB, six windows of 1 MB.
fn datagen(dir: &Path, rows: usize) -> PathBuf {
    let path = dir.join("in.csv");
    common::datagen(rows, 5, &[], &path);
    path
}

/// Analyses `input` with a window of `window_mb`, writing every output to files
/// named after `tag`; returns the rows, the events, and the JSON report without
/// its timings.
fn analyse(dir: &Path, input: &Path, window_mb: &str, tag: &str) -> (Vec<u8>, Vec<u8>, String) {
    let out = dir.join(format!("{tag}.csv"));
    let events = dir.join(format!("{tag}.events.csv"));
    let json = dir.join(format!("{tag}.json"));
    metrics()
        .args(["analyze", "--quiet", "--window-mb", window_mb, "--csv-file"])
        .arg(input)
        .arg("--output-file")
        .arg(&out)
        .arg("--events")
        .arg(&events)
        .arg("--json")
        .arg(&json)
        .assert()
        .success();
    let mut report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    report["summary"]["seconds"] = serde_json::Value::Null;
    (
        std::fs::read(out).unwrap(),
        std::fs::read(events).unwrap(),
        report.to_string(),
    )
}

/// A time column by another name (`Time`) whose first cell is empty is text for
/// the whole file, as the file read whole takes it: each window's first row used
/// to decide again, later windows read it as times, and the run panicked.
#[test]
fn a_time_column_by_another_name_is_decided_once_for_every_window() {
    let dir = tempfile::tempdir().unwrap();
    let input = datagen(dir.path(), 80_000);
    let text = std::fs::read_to_string(&input).unwrap();
    let (header, rows) = text.split_once('\n').unwrap();
    let (_, rest) = rows.split_once(',').unwrap();
    let renamed = dir.path().join("renamed.csv");
    std::fs::write(
        &renamed,
        format!("{}\n,{rest}", header.replacen("timestamp", "Time", 1)),
    )
    .unwrap();
    let whole = analyse(dir.path(), &renamed, "64", "whole");
    let windowed = analyse(dir.path(), &renamed, "1", "windowed");
    assert!(whole.0 == windowed.0, "the annotated rows differ");
    assert_eq!(whole.1, windowed.1, "the events differ");
    assert_eq!(whole.2, windowed.2, "the reports differ");
}

/// Infinite cells (`inf`, or a number beyond the largest `f64`, what an exporter
/// dividing by zero writes) are read as missing readings. The user is told once per
/// column, with the count and the first one's data row in the file, the same
/// whether the file is read whole or in windows, where each window counts its rows
/// from 1.
#[test]
fn infinite_cells_are_told_once_per_column_with_their_row_in_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("plain.csv");
    common::datagen(80_000, 5, &["--no-labels"], &input);
    let text = std::fs::read_to_string(&input).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    // Data rows 70,001 and 75,001 (lines 70,002 and 75,002): memory_percent, the
    // fourth column; data row 10: disk_read_mb, the sixth.
    for (row, column, cell) in [(70_001, 3, "inf"), (75_001, 3, "1e999"), (10, 5, "-inf")] {
        let mut cells: Vec<&str> = lines[row].split(',').collect();
        cells[column] = cell;
        lines[row] = cells.join(",");
    }
    let infinite = dir.path().join("infinite.csv");
    std::fs::write(&infinite, lines.join("\n") + "\n").unwrap();
    let whole = analyse(dir.path(), &infinite, "64", "whole");
    let windowed = analyse(dir.path(), &infinite, "1", "windowed");
    assert!(whole.0 == windowed.0, "the annotated rows differ");
    assert_eq!(whole.2, windowed.2, "the reports differ");
    let report: serde_json::Value = serde_json::from_str(&whole.2).unwrap();
    let warnings: Vec<&str> = report["summary"]["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|w| w.as_str())
        .collect();
    let told = |start: &str, row: &str| {
        warnings
            .iter()
            .any(|w| w.starts_with(start) && w.contains(&format!("the first at data row {row}:")))
    };
    assert!(
        told("column 'memory_percent': 2 cells are infinite", "70001")
            && told("column 'disk_read_mb': 1 cell is infinite", "10"),
        "{warnings:?}"
    );
    // The row is written back as it was, judged with the reading missing.
    let written = String::from_utf8(whole.0).unwrap();
    let row = written.lines().nth(70_001).unwrap();
    assert!(
        row.starts_with(&lines[70_001]) && row.contains("memory_percent missing"),
        "{row}"
    );
}

#[test]
fn a_file_read_in_windows_gets_exactly_the_verdicts_of_the_file_read_whole() {
    let dir = tempfile::tempdir().unwrap();
    let input = datagen(dir.path(), 80_000);
    assert!(std::fs::metadata(&input).unwrap().len() > 5 << 20);
    let whole = analyse(dir.path(), &input, "64", "whole");
    let windowed = analyse(dir.path(), &input, "1", "windowed");
    assert!(whole.0 == windowed.0, "the annotated rows differ");
    assert_eq!(whole.1, windowed.1, "the events differ");
    assert_eq!(whole.2, windowed.2, "the reports differ");
    // The report is about something: incidents, and quality against the labels
    // (which need the anomaly_type column read as text, decided far down the file).
    let report: serde_json::Value = serde_json::from_str(&whole.2).unwrap();
    assert!(report["summary"]["incidents"].as_u64().unwrap() > 10);
    assert!(report["summary"]["quality"]["f1"].as_f64().unwrap() > 0.3);
    assert_eq!(report["summary"]["rows"], 80_000);
    // Every flagged row is listed, worst first: severity, then score.
    let flagged = report["flagged"].as_array().unwrap();
    assert_eq!(
        flagged.len() as u64,
        report["summary"]["anomalies"].as_u64().unwrap()
    );
    let rank = |f: &serde_json::Value| {
        let severity = ["medium", "high", "critical"]
            .iter()
            .position(|s| f["severity"] == *s)
            .unwrap();
        (severity, f["score"].as_f64().unwrap())
    };
    assert!(flagged.windows(2).all(|w| rank(&w[0]) >= rank(&w[1])));
}

#[test]
fn standard_input_is_read_in_windows_with_the_same_verdicts() {
    let dir = tempfile::tempdir().unwrap();
    let input = datagen(dir.path(), 80_000);
    let (whole, _, _) = analyse(dir.path(), &input, "64", "whole");
    let piped = metrics()
        .args([
            "analyze",
            "--quiet",
            "--window-mb",
            "1",
            "--csv-file",
            "-",
            "--output-file",
            "-",
        ])
        .write_stdin(std::fs::read(&input).unwrap())
        .assert()
        .success();
    assert!(piped.get_output().stdout == whole);
}

#[test]
fn a_bad_cell_in_a_late_window_is_named_by_its_line_in_the_file_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let input = datagen(dir.path(), 80_000);
    let text = std::fs::read_to_string(&input).unwrap();
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    // Line 70 001 of the file (data row 70 000), its cpu_percent (column 2).
    let mut cells: Vec<&str> = lines[70_000].split(',').collect();
    cells[1] = "lots";
    lines[70_000] = cells.join(",");
    let bad = dir.path().join("bad.csv");
    std::fs::write(&bad, lines.join("\n") + "\n").unwrap();
    let out = dir.path().join("out.csv");
    let failed = metrics()
        .args(["analyze", "--window-mb", "1", "--csv-file"])
        .arg(&bad)
        .arg("--output-file")
        .arg(&out)
        .assert()
        .failure();
    let stderr = String::from_utf8_lossy(&failed.get_output().stderr).into_owned();
    assert!(
        stderr.contains("bad.csv:70001:2: column 'cpu_percent': expected a number, found \"lots\""),
        "{stderr}"
    );
    assert!(!out.exists());
}
