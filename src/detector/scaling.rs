//! Robust per-feature scaling fitted on the training rows: centre on the median and
//! divide by a spread that outliers cannot inflate, so no unit dominates the forest's
//! hyperplanes and z-scores mean the same for every metric.

use serde::{Deserialize, Serialize};

use super::order;

/// The finite ones of `values`, in order, in a vector sized for all of them at once
/// (a million readings collected by growing it cost their copies and page faults
/// again at each doubling).
pub(super) fn finite_values(values: &[f64]) -> Vec<f64> {
    let mut finite = Vec::with_capacity(values.len());
    finite.extend(values.iter().copied().filter(|v| v.is_finite()));
    finite
}

/// MAD times this estimates the standard deviation of a normal distribution.
const MAD_TO_SIGMA: f64 = 1.482_602_218_505_602;
/// The interquartile range divided by this estimates the same.
const IQR_TO_SIGMA: f64 = 1.348_979_500_392_163;

/// Centre and spread of one feature.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Scale {
    /// Median over the training rows.
    pub median: f64,
    /// Robust standard deviation; never zero.
    pub spread: f64,
    /// True when every training value was the same: the feature carries no shape for
    /// the forest, but a departure from the constant is still news.
    pub constant: bool,
    /// Weight that maps this feature's 90th-percentile |z| in training to 1.645, the
    /// normal distribution's: heavy-tailed metrics (bursty disks) are judged against
    /// their own extremes, light-tailed ones (CPU) are not drowned out by them. The
    /// 90th percentile, because anomalies in the training rows (up to the
    /// contamination) must not set the scale they are judged by.
    pub tail: f64,
}

/// The 90th percentile of |z| under a normal distribution.
const NORMAL_Z90: f64 = 1.644_853_626_951_472;

impl Scale {
    /// Fits on `values` (NaN ignored). The spread is the MAD, else the IQR, else the
    /// mean absolute deviation; a constant feature (all three zero) gets a nominal
    /// spread of 5 % of its level (at least 0.001), so a change from it scores large
    /// but finite. The spread is never below `floor`: the smallest change that
    /// matters for the metric (a near-constant process count must not make two new
    /// processes 2000 sigma).
    pub fn fit(values: &[f64], floor: f64) -> Scale {
        let finite = finite_values(values);
        if finite.is_empty() {
            return Scale {
                median: 0.0,
                spread: floor.max(1.0),
                constant: true,
                tail: 1.0,
            };
        }
        let mut data = finite;
        let median = order::median(&mut data);
        let mut deviations: Vec<f64> = data.iter().map(|v| (v - median).abs()).collect();
        let mad = order::median(&mut deviations) * MAD_TO_SIGMA;
        let spread = if mad > 0.0 {
            mad
        } else {
            let iqr = (order::quantile(&mut data, 0.75) - order::quantile(&mut data, 0.25))
                / IQR_TO_SIGMA;
            if iqr > 0.0 {
                iqr
            } else {
                // Summed in the rows' order, whatever order finding the medians
                // left the readings in.
                let finite = values.iter().filter(|v| v.is_finite());
                let sum: f64 = finite.map(|v| (v - median).abs()).sum();
                sum / data.len() as f64 * 1.253_314_137_315_500_3
            }
        };
        // Constant in training whatever the floor: a feature that never moved has
        // no shape for the forest, only a level to depart from.
        if !(spread > 0.0 && spread.is_finite()) {
            let spread = (median.abs() * 0.05).max(1e-3).max(floor);
            return Scale {
                median,
                spread,
                constant: true,
                tail: 1.0,
            };
        }
        let spread = spread.max(floor);
        let mut abs_z: Vec<f64> = data.iter().map(|v| ((v - median) / spread).abs()).collect();
        let z90 = order::quantile(&mut abs_z, 0.9);
        let tail = if z90 > 0.0 {
            (NORMAL_Z90 / z90).clamp(0.05, 2.0)
        } else {
            1.0
        };
        Scale {
            median,
            spread,
            constant: false,
            tail,
        }
    }

    /// The scale of a feature the model does not judge by: it reads 0 sigma
    /// whatever its value and, marked constant, stays out of the forest and of the
    /// joint statistic.
    pub fn unjudged() -> Scale {
        Scale {
            median: 0.0,
            spread: 1.0,
            constant: true,
            tail: 0.0,
        }
    }

    /// Whether the model judges by this feature: false for [`Scale::unjudged`].
    pub fn judged(&self) -> bool {
        self.tail != 0.0
    }

    /// The robust z-score of `value`.
    pub fn z(&self, value: f64) -> f64 {
        (value - self.median) / self.spread
    }

    /// The z-score weighted by the feature's tail: a normal-equivalent number of
    /// sigmas, comparable across features. This is the sigma users see.
    pub fn sigma(&self, value: f64) -> f64 {
        self.z(value) * self.tail
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_outlier_does_not_move_the_scale() {
        let mut values: Vec<f64> = (0..1001).map(|i| i as f64 / 100.0).collect();
        let before = Scale::fit(&values, 0.0);
        values.push(1e9);
        let after = Scale::fit(&values, 0.0);
        assert!((after.spread - before.spread).abs() < 0.05);
        assert!(after.z(1e9) > 1e8);
    }

    #[test]
    fn zero_mad_falls_back_to_a_wider_spread() {
        // More than half the values equal: MAD is 0 but the column is not constant.
        let mut values = vec![5.0; 80];
        values.extend((0..20).map(|i| i as f64));
        let s = Scale::fit(&values, 0.0);
        assert!(!s.constant);
        assert!(s.spread > 0.0);
    }

    #[test]
    fn heavy_tails_weigh_less_than_light_ones() {
        let light: Vec<f64> = (0..1000).map(|i| ((i * 37) % 100) as f64).collect();
        let heavy: Vec<f64> = (0..1000)
            .map(|i| {
                if i % 20 == 0 {
                    500.0
                } else {
                    ((i * 37) % 100) as f64
                }
            })
            .collect();
        assert!(Scale::fit(&heavy, 0.0).tail < Scale::fit(&light, 0.0).tail);
    }

    #[test]
    fn a_constant_column_is_marked_and_still_scores_departures() {
        let s = Scale::fit(&[3.0; 50], 0.0);
        assert!(s.constant);
        assert!(s.z(4.0) > 5.0);
        assert_eq!(s.z(3.0), 0.0);
    }

    #[test]
    fn a_constant_column_stays_constant_under_a_floor_and_departs_by_it() {
        let s = Scale::fit(&[0.0; 50], 0.05);
        assert!(s.constant);
        assert_eq!(s.spread, 0.05);
        assert!((s.sigma(0.2) - 4.0).abs() < 1e-9);
    }

    #[test]
    fn the_floor_keeps_tiny_changes_of_a_near_constant_metric_small() {
        let mut values = vec![86.0; 100];
        values[50] = 87.0;
        let s = Scale::fit(&values, 1.72);
        assert!(s.sigma(88.0) < 3.0, "{}", s.sigma(88.0));
    }
}
