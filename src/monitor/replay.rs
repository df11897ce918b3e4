//! A recorded metrics CSV as a sample source: any file `analyze` accepts, read the
//! same way, fed row by row and paced by its timestamps divided by a speed factor (or
//! as fast as possible). This is how the live pipeline, the server and the page are
//! exercised without waiting for real load.

use std::time::Duration;

use super::{Sample, SampleLayout};
use crate::analysis::row_warnings::RowWarnings;
use crate::detector::Frame;
use crate::io::InputError;
use crate::io::input::{ReadOptions, read_table};
use crate::io::text::CsvInput;
use crate::schema::VERDICT_COLUMNS;

/// How fast a replay runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Speed {
    /// Timestamps divided by this factor (1 = real time).
    Factor(f64),
    /// No waiting at all.
    Max,
}

impl std::str::FromStr for Speed {
    type Err = String;

    fn from_str(s: &str) -> Result<Speed, String> {
        if s.eq_ignore_ascii_case("max") {
            return Ok(Speed::Max);
        }
        match s.parse::<f64>() {
            Ok(x) if x.is_finite() && x > 0.0 => Ok(Speed::Factor(x)),
            _ => Err(format!(
                "expected a positive factor (e.g. 10) or 'max', found '{s}'"
            )),
        }
    }
}

/// A CSV being replayed.
pub struct Replay {
    frame: Frame,
    layout: SampleLayout,
    next: usize,
    speed: Speed,
    interval_ms: i64,
    start_ms: i64,
}

impl Replay {
    /// Reads `path` whole (errors as `analyze` words them). Rows without timestamps
    /// are spaced `interval_ms` apart from `start_ms`.
    pub fn open(
        path: &std::path::Path,
        speed: Speed,
        interval_ms: i64,
        start_ms: i64,
    ) -> Result<Replay, InputError> {
        let table = read_table(&CsvInput::from_arg(path), &ReadOptions::default())?;
        let mut found = RowWarnings::default();
        found.add(&table, 0..table.frame.rows(), 0, &table.frame.names);
        for warning in table
            .warnings
            .iter()
            .cloned()
            .chain(found.warnings(&table.source))
        {
            tracing::warn!("{}: {warning}", table.source);
        }
        let mut frame = table.frame;
        drop_verdicts(&mut frame);
        let layout = SampleLayout::of(
            frame.names.clone(),
            frame.text_names.clone(),
            frame.times.is_some(),
        );
        Ok(Replay {
            frame,
            layout,
            next: 0,
            speed,
            interval_ms,
            start_ms,
        })
    }

    /// The file's metrics and text columns.
    pub fn layout(&self) -> &SampleLayout {
        &self.layout
    }

    /// Rows in the file.
    pub fn len(&self) -> usize {
        self.frame.rows()
    }

    /// Whether the file has no rows (never true for a file that opened).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The time of the file's first row (Unix ms), when it has rows.
    pub fn first_time(&self) -> Option<i64> {
        (!self.is_empty()).then(|| self.time_of(0))
    }

    /// The median gap between consecutive timestamps in seconds, when the file has
    /// them and they advance.
    pub fn median_spacing(&self) -> Option<f64> {
        let step = crate::timestamp::median_step_ms(self.frame.times.as_ref()?)?;
        Some(step as f64 / 1000.0)
    }

    fn time_of(&self, row: usize) -> i64 {
        match &self.frame.times {
            Some(t) => t[row],
            None => self.start_ms + row as i64 * self.interval_ms,
        }
    }

    /// The next row and how long to wait before it (zero for the first row and at
    /// `max` speed), or `None` when the file has ended.
    pub fn next_sample(&mut self) -> Option<(Duration, Sample)> {
        let row = self.next;
        if row >= self.frame.rows() {
            return None;
        }
        self.next += 1;
        let wait = match (self.speed, row) {
            (Speed::Max, _) | (_, 0) => Duration::ZERO,
            (Speed::Factor(f), _) => {
                let gap = (self.time_of(row) - self.time_of(row - 1)).max(0) as f64;
                // A tiny factor (--speed 1e-300) makes a wait no Duration holds:
                // it is then as long as one can be, not a panic.
                Duration::try_from_secs_f64(gap / 1000.0 / f).unwrap_or(Duration::MAX)
            }
        };
        let sample = Sample {
            time: self.time_of(row),
            values: self.frame.columns.iter().map(|c| c[row]).collect(),
            texts: self
                .frame
                .text_columns
                .iter()
                .map(|c| c[row].clone())
                .collect(),
            cores: Vec::new(),
            processes: None,
        };
        Some((wait, sample))
    }
}

/// Drops the verdict columns of a file `metrics` wrote (an analysed CSV, a
/// session's history): they are the results of that run, which the session judges
/// anew and writes beside each row. Kept, they were replayed as text columns and the
/// history got them twice, a file `analyze` then refused for its duplicate names.
fn drop_verdicts(frame: &mut Frame) {
    let names = std::mem::take(&mut frame.text_names);
    let columns = std::mem::take(&mut frame.text_columns);
    (frame.text_names, frame.text_columns) = names
        .into_iter()
        .zip(columns)
        .filter(|(name, _)| !VERDICT_COLUMNS.contains(&name.as_str()))
        .unzip();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_come_in_order_paced_by_their_timestamps_over_the_speed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.csv");
        std::fs::write(
            &path,
            "timestamp,cpu,status\n2024-01-01T00:00:00Z,1,ok\n2024-01-01T00:00:10Z,2,ok\n2024-01-01T00:00:30Z,,down\n",
        )
        .unwrap();
        let mut replay = Replay::open(&path, Speed::Factor(10.0), 1000, 0).unwrap();
        assert_eq!(replay.layout().names, ["cpu"]);
        assert_eq!(replay.layout().text_names, ["status"]);
        assert!(replay.layout().timed);
        let (w0, s0) = replay.next_sample().unwrap();
        let (w1, s1) = replay.next_sample().unwrap();
        let (w2, s2) = replay.next_sample().unwrap();
        assert!(replay.next_sample().is_none());
        assert_eq!(
            [w0, w1, w2],
            [
                Duration::ZERO,
                Duration::from_secs(1),
                Duration::from_secs(2)
            ]
        );
        assert_eq!(s0.values, [1.0]);
        assert_eq!(s1.time - s0.time, 10_000);
        assert!(s2.values[0].is_nan());
        assert_eq!(s2.texts, ["down"]);
        assert_eq!(replay.median_spacing(), Some(20.0));
    }

    #[test]
    fn a_file_metrics_wrote_is_replayed_without_its_verdicts() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.csv");
        std::fs::write(
            &path,
            "timestamp,cpu,status,is_anomaly,anomaly_score,severity,z_max,top_metric,reasons\n\
             0,1,ok,false,0.31,normal,0.5,cpu,\n\
             1,2,ok,true,0.72,high,6.1,cpu,cpu 2 is 6.1 sigma above its baseline\n",
        )
        .unwrap();
        let mut replay = Replay::open(&path, Speed::Max, 1000, 0).unwrap();
        assert_eq!(replay.layout().names, ["cpu"]);
        assert_eq!(replay.layout().text_names, ["status"]);
        assert_eq!(replay.next_sample().unwrap().1.texts, ["ok"]);
    }

    #[test]
    fn untimed_rows_are_spaced_by_the_interval_and_max_never_waits() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.csv");
        std::fs::write(&path, "a,b\n1,2\n3,4\n").unwrap();
        let mut replay = Replay::open(&path, Speed::Max, 1000, 5000).unwrap();
        assert!(!replay.layout().timed);
        let (_, s0) = replay.next_sample().unwrap();
        let (w1, s1) = replay.next_sample().unwrap();
        assert_eq!((s0.time, s1.time, w1), (5000, 6000, Duration::ZERO));
        assert_eq!("MAX".parse::<Speed>(), Ok(Speed::Max));
        assert!("0".parse::<Speed>().is_err());
    }

    #[test]
    fn a_factor_too_small_for_any_wait_waits_as_long_as_one_can() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.csv");
        std::fs::write(&path, "timestamp,cpu\n0,1\n1,2\n").unwrap();
        let speed = "1e-300".parse::<Speed>().unwrap();
        let mut replay = Replay::open(&path, speed, 1000, 0).unwrap();
        replay.next_sample().unwrap();
        assert_eq!(replay.next_sample().unwrap().0, Duration::MAX);
    }
}
