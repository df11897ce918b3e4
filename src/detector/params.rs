//! The detector's settings as given ([`DetectorParams`]) and as checked
//! ([`ValidDetectorParams`]): an invalid contamination or forest setting is refused
//! with a named error before any training starts.

use super::error::DetectorError;
use super::forest::ForestParams;
use super::fusion::Mode;
use crate::zone::Zone;

/// Samples a shift from the baseline must persist before it is absorbed, by
/// default: 25 minutes at one sample a second, a day at one a minute; far longer
/// than the planted anomalies that are shifts (up to 300 samples). Chosen on the
/// shared ASD and SMD servers, where 600 also absorbed labelled anomalies and
/// 1500 helped the drifting entity without harming another (technical.md).
pub const DEFAULT_ADAPT_AFTER: u64 = 1500;

/// Detector settings as given; [`DetectorParams::check`] validates them.
#[derive(Debug, Clone, PartialEq)]
pub struct DetectorParams {
    /// Largest share of anomalies expected in the training rows, in (0, 0.5]: the
    /// bound on the share of them the incident bars flag.
    pub contamination: f64,
    /// The isolation forest's settings, including the seed.
    pub forest: ForestParams,
    /// Which signals make the score.
    pub mode: Mode,
    /// Samples a shift from the baseline must persist before it is absorbed as the
    /// metric's new level (see [`super::level`]); 0 never adapts.
    pub adapt_after: u64,
    /// The zone whose wall clock the time-of-day profile bins readings by, so a
    /// daily rhythm kept in local time stays in its bins when daylight saving
    /// time begins or ends; UTC when `None`.
    pub zone: Option<Zone>,
}

impl Default for DetectorParams {
    fn default() -> Self {
        Self {
            contamination: 0.05,
            forest: ForestParams::default(),
            mode: Mode::Fused,
            adapt_after: DEFAULT_ADAPT_AFTER,
            zone: None,
        }
    }
}

impl DetectorParams {
    /// Validates every setting before any work.
    pub fn check(&self) -> Result<ValidDetectorParams, DetectorError> {
        if !contamination_fits(self.contamination) {
            return Err(DetectorError::Contamination(self.contamination));
        }
        self.forest.check()?;
        Ok(ValidDetectorParams {
            params: self.clone(),
        })
    }
}

/// Whether `share` is a contamination the detector takes: in (0, 0.5].
pub fn contamination_fits(share: f64) -> bool {
    share > 0.0 && share <= 0.5
}

/// Settings that passed [`DetectorParams::check`]; the only way to fit a model
/// ([`ValidDetectorParams::fit`], in [`super::train`]).
#[derive(Debug, Clone)]
pub struct ValidDetectorParams {
    pub(super) params: DetectorParams,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contamination_outside_the_range_is_refused() {
        for c in [0.0, -0.1, 0.51, f64::NAN] {
            let p = DetectorParams {
                contamination: c,
                ..DetectorParams::default()
            };
            assert!(
                matches!(p.check(), Err(DetectorError::Contamination(_))),
                "{c}"
            );
        }
    }
}
