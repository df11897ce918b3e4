//! Temporal features of one metric, computed causally (each value sees only the past),
//! so a live stream and a batch file give the same numbers. Point-wise values miss
//! sudden jumps inside the normal range, slow rises and frozen sensors; these
//! features catch them.

use crate::schema::Harm;

/// Features derived per metric, in the order [`History::push`] returns them.
pub const FEATURE_NAMES: [&str; 4] = ["deviation", "change", "mean", "trend"];

/// Number of features per metric.
pub const PER_METRIC: usize = FEATURE_NAMES.len();

/// Samples in the recent window a value is compared with. Five keeps a one-sample
/// spike from moving the median while a level shift stands out for a few samples.
pub const RECENT_WINDOW: usize = 5;

/// Samples averaged in the `mean` feature: long enough that a sustained shift in a
/// bursty metric stands out of its noise, short enough to react within seconds.
pub const MEAN_WINDOW: usize = 10;

/// Samples between the two short means the `trend` feature compares: a slow rise
/// (a leak, a load creeping up) moves little from one sample to the next, but far
/// over a minute at 1 s, while the ordinary swings of a day move little in it.
pub const TREND_LAG: usize = 60;

/// Index of the `trend` feature among a metric's features.
pub const TREND: usize = 3;

/// Readings a [`History`] remembers: after this many, its features no longer depend
/// on where it started.
pub const MEMORY: usize = TREND_LAG + RECENT_WINDOW - 1;

/// The length of the current run of identical readings of one metric.
#[derive(Debug, Clone, Copy, Default)]
pub struct FlatRun {
    last: Option<f64>,
    run: u64,
    /// Whether the metric has had a reading yet.
    seen: bool,
}

impl FlatRun {
    /// Adds the next reading as taken (NaN when missing) and returns how many
    /// consecutive readings, ending with it, were the same: the same value, or
    /// each missing (a metric gone dead). Missing readings before the metric's
    /// first reading count 0: a metric not there yet (a column that begins part
    /// way through a file) has not gone dead. Counted as repeats of the fill
    /// value, they made every row of such a stretch "flat at NaN".
    pub fn push(&mut self, raw: f64) -> u64 {
        let missing = raw.is_nan();
        if missing && !self.seen {
            return 0;
        }
        self.seen = true;
        self.run = match self.last {
            Some(prev) if prev == raw || (missing && prev.is_nan()) => self.run + 1,
            _ => 1,
        };
        self.last = Some(raw);
        self.run
    }
}

/// The recent past of one metric. Fixed-size rings and no allocation: a batch run
/// pushes every reading of every metric through one of these.
#[derive(Debug, Clone)]
pub struct History {
    /// The last [`MEMORY`] deviations, each stored twice, at `i` and at
    /// `i + MEMORY`, so the latest ones, oldest first, are always one slice
    /// ending just before `next + MEMORY`.
    ring: [f64; 2 * MEMORY],
    /// Deviations pushed so far, capped at [`MEMORY`].
    len: usize,
    /// Where the next deviation goes in the first half of `ring`.
    next: usize,
    /// The median of the last [`RECENT_WINDOW`] deviations, once there is one.
    recent: f64,
}

impl Default for History {
    fn default() -> History {
        History {
            ring: [0.0; 2 * MEMORY],
            len: 0,
            next: 0,
            recent: 0.0,
        }
    }
}

impl History {
    /// Adds the next reading and returns its features, given `expected`, what the
    /// metric usually reads at this moment: the deviation from it; the step away
    /// from it relative to the median of the previous [`RECENT_WINDOW`] deviations
    /// (a step back towards the expected value is no news and counts as zero); and
    /// the mean deviation over the last [`MEAN_WINDOW`] samples (fewer at a stream's
    /// start, scaled to the full window's swing), held no further from
    /// the baseline than the median of the last [`RECENT_WINDOW`], so it reports a
    /// sustained shift and not the tail of a spike that is over; and the trend: how
    /// far the mean of the last [`RECENT_WINDOW`] deviations moved away from the
    /// expected value since [`TREND_LAG`] samples before, held no further than the
    /// latest deviation (0 until [`MEMORY`] readings are in, and for a move back).
    /// `trend` is the way a move is harm for this metric: the trend counts only a
    /// move that way, for it is there to tell a leak or a load creeping up, and a
    /// slow fall towards idle is what every job winding down looks like. Without
    /// `trend` (a model that does not judge this metric's trend) the trend is 0 and
    /// costs nothing.
    pub fn push(&mut self, value: f64, expected: f64, trend: Option<Harm>) -> [f64; PER_METRIC] {
        let deviation = value - expected;
        let change = if self.len == 0 || deviation.abs() <= self.recent.abs() {
            0.0
        } else {
            deviation - self.recent
        };
        self.ring[self.next] = deviation;
        self.ring[self.next + MEMORY] = deviation;
        self.next = if self.next + 1 == MEMORY {
            0
        } else {
            self.next + 1
        };
        self.len = (self.len + 1).min(MEMORY);
        let end = self.next + MEMORY;
        // A full window, nearly always, is passed with a length the compiler knows,
        // so `mean_and_median` is unrolled for it.
        let (mean, recent) = if self.len >= MEAN_WINDOW {
            mean_and_median(&self.ring[end - MEAN_WINDOW..end])
        } else {
            // The first readings of a stream: a mean of fewer samples swings
            // wider, √(MEAN_WINDOW / len) times for independent noise, so it is
            // scaled to the full window's swing. Unscaled, the first reading of a
            // noisy metric was judged as a 10-sample mean, and files of white
            // noise opened with a critical row.
            let (mean, recent) = mean_and_median(&self.ring[end - self.len..end]);
            (mean * (self.len as f64 / MEAN_WINDOW as f64).sqrt(), recent)
        };
        let trend = match trend {
            Some(harm) if self.len == MEMORY => {
                let now = short_mean(&self.ring[end - RECENT_WINDOW..end]);
                let then = short_mean(&self.ring[end - MEMORY..end - MEMORY + RECENT_WINDOW]);
                // Only a move away from the expected value is news: a metric coming
                // back from a spike or a leak is not a second anomaly, nor is the
                // reading after it, while the short mean still holds the leak.
                let latest = deviation - then;
                let moved = if now.abs() <= then.abs() {
                    0.0
                } else if now > then {
                    (now - then).min(latest.max(0.0))
                } else {
                    (now - then).max(latest.min(0.0))
                };
                if harm.towards(moved > 0.0) {
                    moved
                } else {
                    0.0
                }
            }
            _ => 0.0,
        };
        self.recent = recent;
        // A sustained shift keeps the recent median away from the baseline; once a
        // short spike is over, the median is back and the mean must not keep
        // reporting it for the rest of its window.
        let mean = if mean > 0.0 {
            mean.min(recent.max(0.0))
        } else {
            mean.max(recent.min(0.0))
        };
        [deviation, change, mean, trend]
    }

    /// Measures the remembered deviations again, each `d` as `map(d)`, for an
    /// adapted level (see [`super::level`]) that changed; `map` must keep order,
    /// so the recent median maps with them.
    pub fn remeasure(&mut self, map: impl Fn(f64) -> f64) {
        for d in &mut self.ring {
            *d = map(*d);
        }
        self.recent = map(self.recent);
    }
}

/// The mean of `latest` (the deviations remembered, oldest first) and the median
/// of its last [`RECENT_WINDOW`]. Summed oldest first, so the mean does not depend
/// on where the ring began.
#[inline(always)]
fn mean_and_median(latest: &[f64]) -> (f64, f64) {
    let mean = latest.iter().sum::<f64>() / latest.len() as f64;
    (
        mean,
        median(&latest[latest.len().saturating_sub(RECENT_WINDOW)..]),
    )
}

/// The mean of [`RECENT_WINDOW`] deviations, summed oldest first.
#[inline(always)]
fn short_mean(values: &[f64]) -> f64 {
    values.iter().sum::<f64>() / RECENT_WINDOW as f64
}

/// The median of one to [`RECENT_WINDOW`] values in IEEE total order (the mean of
/// the middle two for an even count). Five values, the usual case, go through a
/// branch-free sorting network on their total-order keys.
fn median(values: &[f64]) -> f64 {
    let mut keys = [0i64; RECENT_WINDOW];
    for (k, &v) in keys.iter_mut().zip(values) {
        *k = total_key(v);
    }
    let n = values.len();
    if n == RECENT_WINDOW {
        for (a, b) in SORT5 {
            let (lo, hi) = (keys[a].min(keys[b]), keys[a].max(keys[b]));
            keys[a] = lo;
            keys[b] = hi;
        }
    } else {
        keys[..n].sort_unstable();
    }
    if n % 2 == 1 {
        total_value(keys[n / 2])
    } else {
        (total_value(keys[n / 2 - 1]) + total_value(keys[n / 2])) / 2.0
    }
}

/// A sorting network for five values (nine compare-exchanges).
const SORT5: [(usize, usize); 9] = [
    (0, 1),
    (3, 4),
    (2, 4),
    (2, 3),
    (1, 4),
    (0, 3),
    (0, 2),
    (1, 3),
    (1, 2),
];

/// An integer whose order is [`f64::total_cmp`]'s.
fn total_key(v: f64) -> i64 {
    let bits = v.to_bits() as i64;
    bits ^ (((bits >> 63) as u64) >> 1) as i64
}

/// The value [`total_key`] was taken of.
fn total_value(key: i64) -> f64 {
    f64::from_bits((key ^ (((key >> 63) as u64) >> 1) as i64) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A metric a move either way may harm: every trend counts.
    const ANY: Option<Harm> = Some(Harm::Either);

    #[test]
    fn a_spike_shows_as_a_change_and_the_return_does_not() {
        let mut h = History::default();
        for v in [10.0, 11.0, 10.0, 9.0, 10.0] {
            h.push(v, 10.0, ANY);
        }
        assert_eq!(h.push(60.0, 10.0, ANY), [50.0, 50.0, 0.0, 0.0]);
        assert_eq!(h.push(62.0, 10.0, ANY), [52.0, 52.0, 0.0, 0.0]);
        // Eight readings in: their mean, scaled to a full window's swing.
        let mean = 153.0 / 8.0 * (8.0_f64 / 10.0).sqrt();
        assert_eq!(h.push(61.0, 10.0, ANY), [51.0, 51.0, mean, 0.0]);
        let [deviation, change, _, _] = h.push(10.0, 10.0, ANY);
        assert_eq!((deviation, change), (0.0, 0.0));
    }

    #[test]
    fn the_mean_stops_reporting_a_short_spike_once_the_recent_median_is_back() {
        let mut h = History::default();
        for _ in 0..5 {
            h.push(10.0, 10.0, ANY);
        }
        for v in [60.0, 60.0, 60.0] {
            h.push(v, 10.0, ANY);
        }
        let means: Vec<f64> = (0..4).map(|_| h.push(10.0, 10.0, ANY)[2]).collect();
        assert_eq!(
            means,
            [150.0 / 9.0 * (9.0_f64 / 10.0).sqrt(), 15.0, 0.0, 0.0]
        );
    }

    #[test]
    fn a_streams_first_readings_average_to_no_more_than_a_full_window_would() {
        // One reading 3 away from the expected value: as a mean of one it would
        // read as 3 on the scale of 10-sample means, where a full window of the
        // same noise averages √10 times less.
        let mut h = History::default();
        let [deviation, _, mean, _] = h.push(13.0, 10.0, ANY);
        assert_eq!(deviation, 3.0);
        assert!((mean - 3.0 / 10.0_f64.sqrt()).abs() < 1e-12, "{mean}");
        // A shift that stays reaches its whole size once the window is full.
        let last = (0..9).map(|_| h.push(13.0, 10.0, ANY)[2]).last().unwrap();
        assert_eq!(last, 3.0);
    }

    #[test]
    fn a_sustained_shift_keeps_its_mean() {
        let mut h = History::default();
        for _ in 0..5 {
            h.push(10.0, 10.0, ANY);
        }
        let last = (0..10).map(|_| h.push(30.0, 10.0, ANY)[2]).last().unwrap();
        assert_eq!(last, 20.0);
    }

    #[test]
    fn a_history_fed_its_memory_gives_the_features_of_one_fed_everything() {
        let values: Vec<f64> = (0..200).map(|i| ((i * 37) % 23) as f64 * 0.7).collect();
        let mut everything = History::default();
        let all: Vec<[f64; PER_METRIC]> = values
            .iter()
            .map(|&v| everything.push(v, 5.0, ANY))
            .collect();
        for start in [MEMORY, 97, 180] {
            let mut late = History::default();
            for &v in &values[start - MEMORY..start] {
                late.push(v, 5.0, ANY);
            }
            for (r, &v) in values.iter().enumerate().skip(start) {
                assert_eq!(
                    late.push(v, 5.0, ANY),
                    all[r],
                    "row {r}, started at {start}"
                );
            }
        }
    }

    #[test]
    fn a_slow_rise_shows_as_a_trend_over_the_lag_and_the_way_back_does_not() {
        let mut h = History::default();
        for _ in 0..MEMORY {
            assert_eq!(h.push(40.0, 40.0, ANY)[TREND], 0.0);
        }
        // A leak: 0.2 a sample, too little for a step, 12 over a minute.
        let rise: Vec<[f64; PER_METRIC]> = (1..=TREND_LAG)
            .map(|k| h.push(40.0 + 0.2 * k as f64, 40.0, ANY))
            .collect();
        let last = rise[TREND_LAG - 1];
        assert!(last[1] < 1.0, "no single step stands out: {last:?}");
        // The mean of the last five (11.6) less the mean sixty samples before
        // (four flat readings and the first step of the rise: 0.04).
        assert!((last[TREND] - (11.6 - 0.04)).abs() < 1e-9, "{last:?}");
        // Back at once: the short mean still holds the leak, the reading does not.
        assert_eq!(h.push(40.0, 40.0, ANY)[TREND], 0.0);
        // A metric whose trend the model does not judge is spared the work.
        let mut unjudged = History::default();
        for k in 0..2 * MEMORY {
            assert_eq!(unjudged.push(0.2 * k as f64, 0.0, None)[TREND], 0.0);
        }
    }

    #[test]
    fn a_slow_move_counts_as_a_trend_only_towards_harm() {
        // The same slow fall, then the same slow rise, of a metric that harms when
        // high (a CPU winding down after a job, then a load creeping up).
        let trends = |harm: Harm| {
            let mut h = History::default();
            for _ in 0..MEMORY {
                h.push(40.0, 40.0, Some(harm));
            }
            let fall = (1..=TREND_LAG)
                .map(|k| h.push(40.0 - 0.2 * k as f64, 40.0, Some(harm))[TREND])
                .last()
                .unwrap();
            let mut h = History::default();
            for _ in 0..MEMORY {
                h.push(40.0, 40.0, Some(harm));
            }
            let rise = (1..=TREND_LAG)
                .map(|k| h.push(40.0 + 0.2 * k as f64, 40.0, Some(harm))[TREND])
                .last()
                .unwrap();
            (fall, rise)
        };
        let (fall, rise) = trends(Harm::High);
        assert_eq!(fall, 0.0, "winding down is no trend");
        assert!(rise > 11.0, "{rise}");
        // Memory left harms when low: its fall is the leak.
        let (fall, rise) = trends(Harm::Low);
        assert!(fall < -11.0, "{fall}");
        assert_eq!(rise, 0.0);
        // A metric either way may harm keeps both.
        let (fall, rise) = trends(Harm::Either);
        assert_eq!(fall, -rise);
    }

    #[test]
    fn the_median_of_five_sorts_every_order_in_total_order() {
        // Zero-one principle: a network that sorts every 0/1 input sorts everything.
        for bits in 0u32..32 {
            let values: Vec<f64> = (0..5).map(|i| f64::from((bits >> i) & 1)).collect();
            let ones = bits.count_ones() as usize;
            assert_eq!(
                median(&values),
                if ones >= 3 { 1.0 } else { 0.0 },
                "{bits:05b}"
            );
        }
        assert_eq!(median(&[3.0, -1.0, f64::INFINITY, 2.0, -7.5]), 2.0);
        assert!(median(&[0.0, -0.0, -0.0, 1.0, 2.0]).is_sign_positive());
        assert!(median(&[0.0, -0.0, -0.0, -1.0, 2.0]).is_sign_negative());
        assert_eq!(median(&[4.0, 1.0]), 2.5);
        assert_eq!(median(&[4.0, 1.0, 9.0, 2.0]), 3.0);
    }

    #[test]
    fn deviation_is_measured_from_the_expected_value() {
        let mut h = History::default();
        assert_eq!(h.push(95.0, 90.0, ANY)[0], 5.0);
    }

    #[test]
    fn flat_runs_count_identical_values() {
        let mut flat = FlatRun::default();
        let runs: Vec<u64> = [1.0, 2.0, 2.0, 2.0, 2.5].map(|v| flat.push(v)).to_vec();
        assert_eq!(runs, [1, 1, 2, 3, 1]);
    }

    #[test]
    fn missing_readings_run_once_the_metric_has_read_and_not_before() {
        let mut flat = FlatRun::default();
        let nan = f64::NAN;
        let runs: Vec<u64> = [nan, nan, 2.0, nan, nan, nan, 2.0, 2.0]
            .map(|v| flat.push(v))
            .to_vec();
        assert_eq!(runs, [0, 0, 1, 1, 2, 3, 1, 2]);
    }
}
