//! Per-metric transform applied before any statistics: bursty non-negative rates
//! (disk and network MB/s) are close to log-normal, so they are modelled as
//! log(1 + x), where a burst of ten times the usual is a step, not a cliff.

use serde::{Deserialize, Serialize};

use super::order;
use super::scaling::finite_values;
use crate::schema::{self, MetricKind};

/// How a metric's readings are mapped before the statistics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Transform {
    /// Used as read.
    Identity,
    /// log(1 + x) of the reading (negative readings count as 0).
    Log1p,
}

impl Transform {
    /// Chooses for a metric named `name` with training `values`, whose finite ones
    /// have the median `median` (the fit has it already): rates in the catalogue
    /// always, and any non-negative column whose 99th percentile is at least ten
    /// times its (positive) median.
    pub fn choose(name: &str, values: &[f64], median: f64) -> Transform {
        if schema::describe(name).kind == MetricKind::Rate {
            return Transform::Log1p;
        }
        let mut finite = finite_values(values);
        if finite.is_empty() || finite.iter().any(|&v| v < 0.0) {
            return Transform::Identity;
        }
        if median > 0.0 && order::quantile(&mut finite, 0.99) >= 10.0 * median {
            Transform::Log1p
        } else {
            Transform::Identity
        }
    }

    /// The reading in model space.
    pub fn apply(self, v: f64) -> f64 {
        match self {
            Transform::Identity => v,
            Transform::Log1p => v.max(0.0).ln_1p(),
        }
    }

    /// Back from model space to a reading, for reasons.
    pub fn invert(self, v: f64) -> f64 {
        match self {
            Transform::Identity => v,
            Transform::Log1p => v.exp_m1(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detector::train::median_of_finite;

    fn choose(name: &str, values: &[f64]) -> Transform {
        Transform::choose(name, values, median_of_finite(values))
    }

    #[test]
    fn rates_and_skewed_columns_are_logged() {
        assert_eq!(choose("disk_read_mb", &[1.0, 2.0]), Transform::Log1p);
        let skewed: Vec<f64> = (0..1000)
            .map(|i| {
                if i % 50 == 0 {
                    500.0
                } else {
                    1.0 + (i % 7) as f64
                }
            })
            .collect();
        assert_eq!(choose("value", &skewed), Transform::Log1p);
        let percent: Vec<f64> = (0..1000).map(|i| 20.0 + (i % 30) as f64).collect();
        assert_eq!(choose("cpu_percent", &percent), Transform::Identity);

        assert_eq!(
            choose("temperature", &[-5.0, 3.0, 100.0]),
            Transform::Identity
        );
    }

    #[test]
    fn invert_undoes_apply() {
        for v in [0.0, 0.5, 41.3, 1e6] {
            assert!(
                (Transform::Log1p.invert(Transform::Log1p.apply(v)) - v).abs() < 1e-9 * v.max(1.0)
            );
        }
    }
}
