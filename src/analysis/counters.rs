//! Columns that only rise: a counter (bytes sent since boot, as psutil's
//! `net_io_counters` and `/proc` give them) logged as it stands. Its level only
//! tells how long its source has run, so it is judged, as asked, but told: what
//! was meant is its rate. `analyze --prometheus` says the same of counters it
//! recognises by name.

use crate::detector::Frame;
use crate::detector::reasons::fmt_value;

/// Fewest readings a column needs before rising throughout says anything.
const MIN_READINGS: usize = 32;

/// One warning per metric of `train` (the rows a fit reads, in order) whose
/// readings never fall and rise on at least half of the steps between them, but
/// those `told` (already named as counters by their source).
pub fn rising_columns(train: &Frame, told: &[String]) -> Vec<String> {
    train
        .names
        .iter()
        .zip(&train.columns)
        .filter(|(name, _)| !told.contains(name))
        .filter_map(|(name, column)| {
            let (first, last) = only_rises(column)?;
            Some(format!(
                "column '{name}' only rises ({} to {}), as a counter does: a counter's level tells how long its source has run, not how it is doing; hint: if it is one, give its rate (the change between rows over the time between them)",
                fmt_value(first, ""),
                fmt_value(last, "")
            ))
        })
        .collect()
}

/// The first and last readings of `column` when its readings (missing ones
/// aside) never fall and rise on at least half of the steps between them.
fn only_rises(column: &[f64]) -> Option<(f64, f64)> {
    let mut readings = column.iter().copied().filter(|v| v.is_finite());
    let first = readings.next()?;
    let (mut last, mut steps, mut rises) = (first, 0usize, 0usize);
    for v in readings {
        if v < last {
            return None;
        }
        steps += 1;
        rises += usize::from(v > last);
        last = v;
    }
    (steps + 1 >= MIN_READINGS && 2 * rises >= steps).then_some((first, last))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(columns: Vec<(&str, Vec<f64>)>) -> Frame {
        Frame {
            names: columns.iter().map(|(n, _)| n.to_string()).collect(),
            columns: columns.into_iter().map(|(_, c)| c).collect(),
            ..Frame::default()
        }
    }

    #[test]
    fn a_counter_is_told_and_a_gauge_a_flat_column_or_a_short_one_is_not() {
        let counter: Vec<f64> = (0..100).map(|i| 1000.0 + (i * 3 / 2) as f64).collect();
        let mut with_gap = counter.clone();
        with_gap[50] = f64::NAN;
        let mut reset = counter.clone();
        reset[70] = 0.0;
        let gauge: Vec<f64> = (0..100).map(|i| (i % 7) as f64).collect();
        let columns = frame(vec![
            ("bytes_sent", counter.clone()),
            ("with_gap", with_gap),
            ("reset", reset),
            ("cpu", gauge),
            ("flat", vec![5.0; 100]),
            ("short", counter[..20].to_vec()),
        ]);
        let told = ["with_gap".to_string()];
        assert_eq!(rising_columns(&columns, &told).len(), 1);
        let warnings = rising_columns(&columns, &[]);
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert!(
            warnings[0].starts_with(
                "column 'bytes_sent' only rises (1000.0 to 1148.0), as a counter does"
            ),
            "{}",
            warnings[0]
        );
        assert!(warnings[1].starts_with("column 'with_gap' "));
    }
}
