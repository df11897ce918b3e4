//! Robust z-scores of every feature against the baseline, and their joint evidence:
//! the sum of squared z's is chi-square distributed when nothing is wrong, so several
//! metrics that are each a little off together still add up to a clear signal.

use statrs::distribution::{ChiSquared, ContinuousCDF};

use super::scaling::Scale;

/// Largest |z| counted in the joint statistic, so one absurd value cannot dominate it.
const Z_CAP: f64 = 100.0;

/// The z-score evidence of one row.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ZEvidence {
    /// The largest |sigma| (see [`Scale::sigma`]) over all features.
    pub z_max: f64,
    /// Index of the feature with that sigma (`None` without features).
    pub top_feature: Option<usize>,
    /// Sum of squared (capped) sigmas over the non-constant features.
    pub chi_square: f64,
    /// Number of features in `chi_square`.
    pub freedom: usize,
}

impl ZEvidence {
    /// Measures `features` (one row) against `scales`.
    pub fn of(features: &[f64], scales: &[Scale]) -> ZEvidence {
        let mut e = ZEvidence {
            z_max: 0.0,
            top_feature: None,
            chi_square: 0.0,
            freedom: 0,
        };
        for (i, (f, s)) in features.iter().zip(scales).enumerate() {
            let z = s.sigma(*f).abs();
            if e.top_feature.is_none() || z > e.z_max {
                e.z_max = z;
                e.top_feature = Some(i);
            }
            if !s.constant {
                let c = z.min(Z_CAP);
                e.chi_square += c * c;
                e.freedom += 1;
            }
        }
        e
    }

    /// The joint statistic as a normal-equivalent z (Wilson-Hilferty cube-root
    /// transform of the chi-square): cheap enough for every row, and within a few
    /// hundredths of the exact quantile for the degrees of freedom seen here.
    pub fn joint_z(&self) -> f64 {
        if self.freedom == 0 {
            return 0.0;
        }
        let k = self.freedom as f64;
        let v = 2.0 / (9.0 * k);
        ((self.chi_square / k).cbrt() - (1.0 - v)) / v.sqrt()
    }

    /// The z-score signal the fusion uses: the single worst feature, or the joint
    /// evidence when that is stronger.
    pub fn signal(&self) -> f64 {
        self.z_max.max(self.joint_z())
    }

    /// Exact upper-tail probability of the joint statistic (statrs), for reasons.
    pub fn joint_p_value(&self) -> f64 {
        match ChiSquared::new(self.freedom.max(1) as f64) {
            Ok(dist) => dist.sf(self.chi_square),
            Err(_) => 1.0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detector::test_data::unit;
    use statrs::distribution::Normal;

    #[test]
    fn the_worst_feature_is_named() {
        let e = ZEvidence::of(&[1.0, -7.0, 2.0], &[unit(), unit(), unit()]);
        assert_eq!(e.z_max, 7.0);
        assert_eq!(e.top_feature, Some(1));
    }

    #[test]
    fn many_moderate_deviations_outweigh_one_small_one() {
        let scales = vec![unit(); 8];
        let quiet = ZEvidence::of(&[0.5; 8], &scales);
        let contention = ZEvidence::of(&[2.5; 8], &scales);
        assert!(contention.joint_z() > 5.0, "{}", contention.joint_z());
        assert!(quiet.joint_z() < 1.0);
        assert!(contention.signal() > contention.z_max);
    }

    #[test]
    fn joint_z_tracks_the_exact_chi_square_tail() {
        let scales = vec![unit(); 16];
        let e = ZEvidence::of(&[2.0; 16], &scales);
        let exact = -Normal::new(0.0, 1.0)
            .unwrap()
            .inverse_cdf(e.joint_p_value());
        assert!(
            (e.joint_z() - exact).abs() < 0.1,
            "{} vs {exact}",
            e.joint_z()
        );
    }
}
