//! The time-of-day profile: what each metric usually reads at each time of day, so a
//! nightly backup or an hourly job that recur in the baseline are expected, and daytime
//! load at night is not. Learned only when the baseline spans days.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use statrs::statistics::{Data, OrderStatistics};

use super::order;
use super::transform::Transform;
use crate::zone::{Zone, wall_clock};

/// Bin widths tried, finest first, in seconds.
const WIDTHS: [u32; 4] = [60, 300, 900, 3600];

/// Days the baseline must span before a profile is learned.
pub const MIN_DAYS: f64 = 2.0;

/// Samples each bin needs on average.
const MIN_PER_BIN: f64 = 6.0;

const DAY_MS: i64 = 86_400_000;

/// Per-metric medians by time-of-day bin.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Season {
    /// Width of a bin in seconds.
    pub width_s: u32,
    /// `medians[metric][bin]`.
    medians: Vec<Vec<f64>>,
    /// The zone whose wall clock the bins follow; UTC when absent (and in a
    /// model saved before zones were known).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    zone: Option<Zone>,
}

impl Season {
    /// Learns the profile of each metric, in model space (metric `m` goes through
    /// `transforms[m]`), from every `stride`-th row of `times` (Unix ms);
    /// `column(m)` gives metric `m`'s readings at those rows (missing ones
    /// filled), one metric at a time to bound memory. The bin width suits all of
    /// `times`; the bins follow `zone`'s wall clock (UTC when `None`). `None` when
    /// the data span too little time or are too sparse.
    pub fn fit(
        times: &[i64],
        stride: usize,
        transforms: &[Transform],
        zone: Option<&Zone>,
        column: impl Fn(usize) -> Vec<f64> + Sync,
    ) -> Option<Season> {
        let (first, last) = (*times.iter().min()?, *times.iter().max()?);
        let span_days = (last - first) as f64 / DAY_MS as f64;
        if span_days < MIN_DAYS || times.len() < 2 {
            return None;
        }
        let interval_s = (last - first) as f64 / 1000.0 / (times.len() - 1) as f64;
        let width_s = WIDTHS.into_iter().find(|&w| {
            let bins = 86_400.0 / w as f64;
            w as f64 >= interval_s && times.len() as f64 / bins >= MIN_PER_BIN
        })?;
        let bins = (86_400 / width_s) as usize;
        let bin_of: Vec<usize> = times
            .iter()
            .step_by(stride)
            .map(|&t| bin(wall_clock(zone, t), width_s))
            .collect();
        // Each bin's values go to their own stretch of one array: `starts[b]` is
        // where bin b's begin.
        let mut starts = vec![0usize; bins + 1];
        for &b in &bin_of {
            starts[b + 1] += 1;
        }
        for b in 0..bins {
            starts[b + 1] += starts[b];
        }
        let medians = (0..transforms.len())
            .into_par_iter()
            .map(|m| {
                let transform = transforms[m];
                let column = column(m);
                let mut by_bin = vec![0.0; column.len()];
                let mut next = starts.clone();
                for (&b, &v) in bin_of.iter().zip(&column) {
                    by_bin[next[b]] = v;
                    next[b] += 1;
                }
                // An empty bin gets the median of all values, taken only when needed.
                let mut overall = None;
                starts
                    .windows(2)
                    .map(|w| {
                        if w[0] == w[1] {
                            *overall.get_or_insert_with(|| {
                                transformed_median(&mut column.clone(), transform)
                            })
                        } else {
                            transformed_median(&mut by_bin[w[0]..w[1]], transform)
                        }
                    })
                    .collect()
            })
            .collect();
        Some(Season {
            width_s,
            medians,
            zone: zone.cloned(),
        })
    }

    /// Whether the profile is one [`Season::fit`] could have made for `metrics`
    /// metrics: a known bin width and a median per bin of the day for each. A
    /// loaded model is checked with it, so no lookup can fall outside.
    pub fn fits(&self, metrics: usize) -> bool {
        WIDTHS.contains(&self.width_s)
            && self.medians.len() == metrics
            && self
                .medians
                .iter()
                .all(|m| m.len() == (86_400 / self.width_s) as usize)
    }

    /// The usual value of `metric` at time `ms`.
    pub fn at(&self, metric: usize, ms: i64) -> f64 {
        self.medians[metric][bin(wall_clock(self.zone.as_ref(), ms), self.width_s)]
    }
}

/// The median of `readings` once transformed. A transform never reverses the order
/// of readings, so the middle readings are found first and only they are
/// transformed: the median of the transformed readings, for two logarithms
/// instead of one per reading.
fn transformed_median(readings: &mut [f64], transform: Transform) -> f64 {
    let n = readings.len();
    if n % 2 == 1 {
        transform.apply(Data::new(readings).order_statistic(n / 2 + 1))
    } else {
        let (lower, upper) = order::middle_two(readings);
        (transform.apply(lower) + transform.apply(upper)) / 2.0
    }
}

fn bin(ms: i64, width_s: u32) -> usize {
    let of_day = ms.rem_euclid(DAY_MS);
    // Division by a constant compiles to a multiplication; a batch run bins every
    // reading of every metric.
    (match width_s {
        60 => of_day / 60_000,
        300 => of_day / 300_000,
        900 => of_day / 900_000,
        3600 => of_day / 3_600_000,
        w => of_day / (w as i64 * 1000),
    }) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nightly_job_becomes_part_of_the_profile() {
        let minutes = 7 * 1440;
        let times: Vec<i64> = (0..minutes).map(|i| i as i64 * 60_000).collect();
        let disk: Vec<f64> = (0..minutes)
            .map(|i| {
                if (120..140).contains(&(i % 1440)) {
                    90.0
                } else {
                    2.0
                }
            })
            .collect();
        let season =
            Season::fit(&times, 1, &[Transform::Identity], None, |_| disk.clone()).unwrap();
        assert_eq!(season.width_s, 60);
        assert_eq!(season.at(0, 130 * 60_000), 90.0);
        assert_eq!(season.at(0, 600 * 60_000), 2.0);
    }

    #[test]
    fn the_median_of_transformed_readings_transforms_only_the_middle_ones() {
        for n in [1, 2, 3, 10, 11, 700] {
            let readings: Vec<f64> = (0..n).map(|i| ((i * 7919) % 101) as f64 * 0.37).collect();
            for transform in [Transform::Identity, Transform::Log1p] {
                let all: Vec<f64> = readings.iter().map(|&v| transform.apply(v)).collect();
                assert_eq!(
                    transformed_median(&mut readings.clone(), transform),
                    Data::new(all).median(),
                    "{n} readings, {transform:?}"
                );
            }
        }
    }

    #[test]
    fn less_than_two_days_learns_nothing() {
        let times: Vec<i64> = (0..1000).map(|i| i * 60_000).collect();
        assert!(
            Season::fit(&times, 1, &[Transform::Identity], None, |_| vec![1.0; 1000]).is_none()
        );
    }

    #[test]
    fn a_backup_at_two_in_the_morning_local_time_is_expected_on_both_sides_of_a_clock_change() {
        // Three weeks around the start of summer time in New York (9 March 2025):
        // the backup runs from 02:00 to 02:20 on the host's clock, 07:00 UTC
        // before the change and 06:00 UTC after it.
        let zone = Zone::named("America/New_York").unwrap();
        let start = crate::timestamp::parse("2025-02-27T00:00:00Z").unwrap();
        let times: Vec<i64> = (0..21 * 1440).map(|i| start + i * 60_000).collect();
        let backup = |ms: i64| {
            let of_day = zone.local_ms(ms).rem_euclid(DAY_MS);
            if (7_200_000..8_400_000).contains(&of_day) {
                90.0
            } else {
                2.0
            }
        };
        let disk: Vec<f64> = times.iter().map(|&t| backup(t)).collect();
        let fit = |zone: Option<&Zone>| {
            Season::fit(&times, 1, &[Transform::Identity], zone, |_| disk.clone()).unwrap()
        };
        let at = |text: &str| crate::timestamp::parse(text).unwrap();
        let local = fit(Some(&zone));
        for (time, expected) in [
            ("2025-03-03T07:10:00Z", 90.0),
            ("2025-03-03T06:10:00Z", 2.0),
            ("2025-03-14T06:10:00Z", 90.0),
            ("2025-03-14T07:10:00Z", 2.0),
        ] {
            assert_eq!(local.at(0, at(time)), expected, "{time}");
        }
        // Binned by UTC, the profile knows the backup at one hour only: the
        // other side of the change reads it as a burst where none is usual.
        let utc = fit(None);
        assert_eq!(utc.at(0, at("2025-03-14T06:10:00Z")), 2.0);
    }
}
