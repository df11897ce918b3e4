//! Temporal features of one metric, computed causally (each value sees only the past),
//! so a live stream and a batch file give the same numbers. Point-wise values miss
//! sudden jumps inside the normal range and frozen sensors; these features catch them.

use std::collections::VecDeque;

/// Features derived per metric, in the order [`History::push`] returns them.
pub const FEATURE_NAMES: [&str; 3] = ["deviation", "change", "mean"];

/// Number of features per metric.
pub const PER_METRIC: usize = FEATURE_NAMES.len();

/// Samples in the recent window a value is compared with. Five keeps a one-sample
/// spike from moving the median while a level shift stands out for a few samples.
pub const RECENT_WINDOW: usize = 5;

/// Samples averaged in the `mean` feature: long enough that a sustained shift in a
/// bursty metric stands out of its noise, short enough to react within seconds.
pub const MEAN_WINDOW: usize = 10;

/// The recent past of one metric.
#[derive(Debug, Clone, Default)]
pub struct History {
    recent: VecDeque<f64>,
    window: VecDeque<f64>,
    last: Option<f64>,
    run: u64,
}

impl History {
    /// Adds the next reading and returns its features, given `expected`, what the
    /// metric usually reads at this moment: the deviation from it; the step away
    /// from it relative to the median of the previous [`RECENT_WINDOW`] deviations
    /// (a step back towards the expected value is no news and counts as zero); and
    /// the mean deviation over the last [`MEAN_WINDOW`] samples, held no further from
    /// the baseline than the median of the last [`RECENT_WINDOW`], so it reports a
    /// sustained shift and not the tail of a spike that is over.
    pub fn push(&mut self, value: f64, expected: f64) -> [f64; PER_METRIC] {
        let deviation = value - expected;
        let change = if self.recent.is_empty() {
            0.0
        } else {
            let recent = median_of_few(&self.recent);
            if deviation.abs() <= recent.abs() {
                0.0
            } else {
                deviation - recent
            }
        };
        if self.recent.len() == RECENT_WINDOW {
            self.recent.pop_front();
        }
        self.recent.push_back(deviation);
        if self.window.len() == MEAN_WINDOW {
            self.window.pop_front();
        }
        self.window.push_back(deviation);
        let mean = self.window.iter().sum::<f64>() / self.window.len() as f64;
        // A sustained shift keeps the recent median away from the baseline; once a
        // short spike is over, the median is back and the mean must not keep
        // reporting it for the rest of its window.
        let recent = median_of_few(&self.recent);
        let mean = if mean > 0.0 {
            mean.min(recent.max(0.0))
        } else {
            mean.max(recent.min(0.0))
        };
        self.run = match self.last {
            Some(prev) if prev == value => self.run + 1,
            _ => 1,
        };
        self.last = Some(value);
        [deviation, change, mean]
    }

    /// How many consecutive samples, ending with the latest, had exactly the same value.
    pub fn flat_run(&self) -> u64 {
        self.run
    }
}

fn median_of_few(values: &VecDeque<f64>) -> f64 {
    let mut buf = [0f64; RECENT_WINDOW];
    let n = values.len();
    for (slot, v) in buf.iter_mut().zip(values) {
        *slot = *v;
    }
    let few = &mut buf[..n];
    few.sort_unstable_by(f64::total_cmp);
    if n % 2 == 1 {
        few[n / 2]
    } else {
        (few[n / 2 - 1] + few[n / 2]) / 2.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spike_shows_as_a_change_and_the_return_does_not() {
        let mut h = History::default();
        for v in [10.0, 11.0, 10.0, 9.0, 10.0] {
            h.push(v, 10.0);
        }
        assert_eq!(h.push(60.0, 10.0), [50.0, 50.0, 0.0]);
        assert_eq!(h.push(62.0, 10.0), [52.0, 52.0, 0.0]);
        assert_eq!(h.push(61.0, 10.0), [51.0, 51.0, 153.0 / 8.0]);
        let [deviation, change, _] = h.push(10.0, 10.0);
        assert_eq!((deviation, change), (0.0, 0.0));
    }

    #[test]
    fn the_mean_stops_reporting_a_short_spike_once_the_recent_median_is_back() {
        let mut h = History::default();
        for _ in 0..5 {
            h.push(10.0, 10.0);
        }
        for v in [60.0, 60.0, 60.0] {
            h.push(v, 10.0);
        }
        let means: Vec<f64> = (0..4).map(|_| h.push(10.0, 10.0)[2]).collect();
        assert_eq!(means, [150.0 / 9.0, 15.0, 0.0, 0.0]);
    }

    #[test]
    fn a_sustained_shift_keeps_its_mean() {
        let mut h = History::default();
        for _ in 0..5 {
            h.push(10.0, 10.0);
        }
        let last = (0..10).map(|_| h.push(30.0, 10.0)[2]).last().unwrap();
        assert_eq!(last, 20.0);
    }

    #[test]
    fn deviation_is_measured_from_the_expected_value() {
        let mut h = History::default();
        assert_eq!(h.push(95.0, 90.0)[0], 5.0);
    }

    #[test]
    fn flat_runs_count_identical_values() {
        let mut h = History::default();
        for v in [1.0, 2.0, 2.0, 2.0] {
            h.push(v, 0.0);
        }
        assert_eq!(h.flat_run(), 3);
        h.push(2.5, 0.0);
        assert_eq!(h.flat_run(), 1);
    }
}
