//! A restarted session's recent past: the samples an earlier session of the same
//! source recorded in `metrics_history.csv` within one training window before this
//! session's first sample. A session that starts from them judges its first sample
//! with a model that has seen the host's last hour, instead of learning it afresh
//! from two minutes: restarted just before an anomaly, it flagged 1.5 % of the
//! ordinary samples of its first 16 minutes where a fresh session flagged 5.5 %,
//! and found more of the anomaly (technical.md, "A session restarted").

use std::path::Path;

use super::SampleLayout;
use super::logs::{first_line, read_tail, rotated};
use super::record::{Record, VerdictView, history_header, metric_values};
use crate::detector::{Severity, reasons};
use crate::schema::VERDICT_COLUMNS;
use crate::timestamp;

/// One sample an earlier session recorded.
#[derive(Debug, Clone, PartialEq)]
pub struct PastSample {
    /// Unix time in milliseconds.
    pub time: i64,
    /// One value per metric of the source, NaN where the history has none.
    pub values: Vec<f64>,
    /// The verdict it was given, as the history keeps it (none before the first
    /// model).
    pub verdict: Option<VerdictView>,
}

impl PastSample {
    /// The severity it was judged (normal before the first model).
    pub fn severity(&self) -> Severity {
        self.verdict
            .as_ref()
            .map_or(Severity::Normal, |v| v.severity)
    }

    /// Its record for the page's charts after a restart, from a source of
    /// `layout`: numbered 0 (before this session), without the cores, sigmas and
    /// processes the history does not keep.
    pub fn record(&self, layout: &SampleLayout) -> Record {
        Record {
            seq: 0,
            time: self.time,
            metrics: metric_values(layout, &self.values),
            cores: Vec::new(),
            verdict: self.verdict.clone(),
            sigmas: serde_json::Map::new(),
            processes: None,
        }
    }
}

/// The last `window` samples (or fewer) of the history at `path` that lie within
/// `span_ms` before `start_ms`, oldest first, when the history was written by a
/// source of `layout` (the same header). A history rotated within the window
/// (see [`rotated`]) is read on into the file before it. `Err` says in words why
/// there is nothing to resume from: a source without timestamps (whose times are
/// made up, so none is recent), no history, another source's, or none of it
/// recent.
pub fn recent_past(
    path: &Path,
    layout: &SampleLayout,
    window: usize,
    start_ms: i64,
    span_ms: i64,
) -> Result<Vec<PastSample>, String> {
    let shown = path.display();
    if !layout.timed {
        return Err("the replayed file has no timestamps".into());
    }
    let expected = history_header(layout);
    let expected = expected.trim_end();
    let metrics = layout.names.len();
    let verdict_at = 1 + metrics + layout.text_names.len();
    let mut past: Vec<PastSample> = Vec::new();
    // Whether any history was found, and any of this source.
    let (mut any, mut ours) = (false, false);
    // The newest file first; the rotated one only for what the newest lacks.
    for file in [path.to_path_buf(), rotated(path)] {
        if past.len() >= window {
            break;
        }
        let header = match first_line(&file) {
            Ok(Some(line)) => line,
            Ok(None) => continue,
            Err(e) => return Err(format!("cannot read {}: {e}", file.display())),
        };
        any = true;
        if header != expected {
            continue;
        }
        ours = true;
        let tail = read_tail(&file, header.len() as u64 + 1, window - past.len())
            .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(tail.as_slice());
        let mut earlier: Vec<PastSample> = reader
            .records()
            .filter_map(Result::ok)
            .filter_map(|record| parse_row(&record, metrics, verdict_at))
            .filter(|s| s.time < start_ms && s.time >= start_ms.saturating_sub(span_ms))
            .collect();
        earlier.append(&mut past);
        past = earlier;
    }
    if !any {
        return Err(format!("no history in {shown}"));
    }
    if !ours {
        return Err(format!("{shown} was written for other metrics"));
    }
    if past.is_empty() {
        return Err(format!(
            "{shown} has no samples from the {} s before this session",
            span_ms / 1000
        ));
    }
    let keep = past.len().saturating_sub(window);
    past.drain(..keep);
    Ok(past)
}

/// One history row as a sample (its verdict cells from `verdict_at` on); `None`
/// for a row cut short or without a time.
fn parse_row(record: &csv::StringRecord, metrics: usize, verdict_at: usize) -> Option<PastSample> {
    if record.len() < verdict_at + VERDICT_COLUMNS.len() {
        return None;
    }
    let time = timestamp::parse(record.get(0)?)?;
    let number = |i: usize| record.get(i).and_then(|v| v.parse().ok());
    let values = (1..=metrics)
        .map(|i| number(i).unwrap_or(f64::NAN))
        .collect();
    // The verdict cells, in the order `VERDICT_COLUMNS` names them.
    let cell = |name: &str| {
        let at = VERDICT_COLUMNS.iter().position(|&c| c == name)?;
        record.get(verdict_at + at)
    };
    let float = |name: &str| cell(name).and_then(|v| v.parse().ok()).unwrap_or(0.0);
    let verdict = cell("severity")
        .and_then(Severity::from_word)
        .map(|severity| VerdictView {
            is_anomaly: cell("is_anomaly") == Some("true"),
            score: float("anomaly_score"),
            severity,
            z_max: float("z_max"),
            top_metric: cell("top_metric")
                .filter(|m| !m.is_empty())
                .map(str::to_string),
            reasons: cell("reasons")
                .filter(|r| !r.is_empty())
                .map(|r| r.split(reasons::SEPARATOR).map(str::to_string).collect())
                .unwrap_or_default(),
        });
    Some(PastSample {
        time,
        values,
        verdict,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::monitor::Sample;
    use crate::monitor::record::history_row;

    fn layout() -> SampleLayout {
        SampleLayout::of(
            vec!["cpu_percent".into(), "memory_percent".into()],
            Vec::new(),
            true,
        )
    }

    /// A history of `rows` samples a second apart from time 0, in `dir`.
    fn history(dir: &Path, rows: i64) -> std::path::PathBuf {
        let path = dir.join("metrics_history.csv");
        let mut text = history_header(&layout());
        for r in 0..rows {
            let sample = Sample {
                time: r * 1000,
                values: vec![r as f64 + 0.25, if r == 3 { f64::NAN } else { 40.0 }],
                texts: Vec::new(),
                cores: Vec::new(),
                processes: None,
            };
            text.push_str(&history_row(&sample, None, &[]));
        }
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn the_last_samples_of_the_window_before_the_start_are_taken_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = history(dir.path(), 100);
        let past = recent_past(&path, &layout(), 10, 100_000, 3_600_000).unwrap();
        assert_eq!(past.len(), 10);
        assert_eq!(past[0].time, 90_000);
        assert_eq!(past[9].values, [99.25, 40.0]);
        assert!(past.iter().all(|s| s.verdict.is_none()), "none judged");
        // Only what lies within the span before the start, and nothing after it.
        let past = recent_past(&path, &layout(), 1000, 50_500, 5_000).unwrap();
        let times: Vec<i64> = past.iter().map(|s| s.time).collect();
        assert_eq!(times, [46_000, 47_000, 48_000, 49_000, 50_000]);
        let all = recent_past(&path, &layout(), 1000, 100_000, 3_600_000).unwrap();
        assert_eq!(all.len(), 100);
        assert!(all[3].values[1].is_nan(), "a missing value stays missing");
    }

    #[test]
    fn a_history_rotated_within_the_window_is_read_on_into_the_file_before() {
        let dir = tempfile::tempdir().unwrap();
        let whole = history(dir.path(), 100);
        let expected = recent_past(&whole, &layout(), 50, 100_000, 3_600_000).unwrap();
        // Split after row 80, as the writer rotates: both files with the header.
        let text = std::fs::read_to_string(&whole).unwrap();
        let (header, rows) = text.split_once('\n').unwrap();
        let lines: Vec<&str> = rows.lines().collect();
        let file = |rows: &[&str]| format!("{header}\n{}\n", rows.join("\n"));
        std::fs::write(rotated(&whole), file(&lines[..80])).unwrap();
        std::fs::write(&whole, file(&lines[80..])).unwrap();
        assert_eq!(
            recent_past(&whole, &layout(), 50, 100_000, 3_600_000),
            Ok(expected)
        );
        // Stopped just after a rotation: the newest file is not begun yet.
        std::fs::remove_file(&whole).unwrap();
        let past = recent_past(&whole, &layout(), 50, 100_000, 3_600_000).unwrap();
        assert_eq!(past.len(), 50);
        assert_eq!(past[49].time, 79_000);
    }

    #[test]
    fn a_long_history_is_read_from_its_end() {
        let dir = tempfile::tempdir().unwrap();
        // About 3 MB: the tail takes more than one block.
        let path = history(dir.path(), 120_000);
        let past = recent_past(&path, &layout(), 50_000, 120_000_000, 3_600_000_000).unwrap();
        assert_eq!(past.len(), 50_000);
        assert_eq!(past[0].time, 70_000_000);
        assert_eq!(past[0].values[0], 70_000.25);
    }

    #[test]
    fn nothing_is_resumed_from_another_source_an_old_history_none_or_made_up_times() {
        let dir = tempfile::tempdir().unwrap();
        let path = history(dir.path(), 100);
        let other = SampleLayout::of(vec!["cpu_percent".into()], Vec::new(), true);
        let err = recent_past(&path, &other, 10, 100_000, 3_600_000).unwrap_err();
        assert!(err.contains("other metrics"), "{err}");
        let err = recent_past(&path, &layout(), 10, 10_000_000, 3_600_000).unwrap_err();
        assert!(err.contains("no samples from the 3600 s before"), "{err}");
        let err = recent_past(&dir.path().join("none.csv"), &layout(), 10, 0, 1).unwrap_err();
        assert!(err.contains("no history"), "{err}");
        let untimed = SampleLayout::of(layout().names, Vec::new(), false);
        let err = recent_past(&path, &untimed, 10, 100_000, 3_600_000).unwrap_err();
        assert!(err.contains("no timestamps"), "{err}");
    }
}
