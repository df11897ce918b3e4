//! Temporal features of one metric, computed causally (each value sees only the past),
//! so a live stream and a batch file give the same numbers. Point-wise values miss
//! sudden jumps inside the normal range and frozen sensors; these features catch them.

use std::collections::VecDeque;

/// Features derived per metric, in the order [`History::push`] returns them.
pub const FEATURE_NAMES: [&str; 2] = ["level", "change"];

/// Number of features per metric.
pub const PER_METRIC: usize = FEATURE_NAMES.len();

/// Samples in the recent window a value is compared with. Five keeps a one-sample
/// spike from moving the median while a level shift stands out for a few samples.
pub const RECENT_WINDOW: usize = 5;

/// The recent past of one metric.
#[derive(Debug, Clone, Default)]
pub struct History {
    recent: VecDeque<f64>,
    last: Option<f64>,
    run: u64,
}

impl History {
    /// Adds the next value and returns its features: the value itself, and its
    /// change from the median of the previous [`RECENT_WINDOW`] values.
    pub fn push(&mut self, value: f64) -> [f64; PER_METRIC] {
        let change = if self.recent.is_empty() {
            0.0
        } else {
            value - median_of_few(&self.recent)
        };
        if self.recent.len() == RECENT_WINDOW {
            self.recent.pop_front();
        }
        self.recent.push_back(value);
        self.run = match self.last {
            Some(prev) if prev == value => self.run + 1,
            _ => 1,
        };
        self.last = Some(value);
        [value, change]
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
    fn a_spike_shows_as_a_change_from_the_recent_median() {
        let mut h = History::default();
        for v in [10.0, 11.0, 10.0, 9.0, 10.0] {
            h.push(v);
        }
        let [level, change] = h.push(60.0);
        assert_eq!(level, 60.0);
        assert_eq!(change, 50.0);
    }

    #[test]
    fn flat_runs_count_identical_values() {
        let mut h = History::default();
        for v in [1.0, 2.0, 2.0, 2.0] {
            h.push(v);
        }
        assert_eq!(h.flat_run(), 3);
        h.push(2.5);
        assert_eq!(h.flat_run(), 1);
    }
}
