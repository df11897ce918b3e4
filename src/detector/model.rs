//! The trained model: baseline statistics, the forest and the thresholds, its JSON
//! file format, and the one place a row's evidence becomes a verdict.

use serde::{Deserialize, Serialize};

use super::error::DetectorError;
use super::features;
use super::forest::Forest;
use super::fusion::{self, Judged, Mode, RowInput, Thresholds};
use super::hold::Hold;
use super::level::AdaptAfter;
use super::memory::{Adaptation, Expected, harms};
use super::scaling::Scale;
use super::season::Season;
use super::transform::Transform;
use super::zscore::ZEvidence;
use crate::schema::Harm;

/// The version of the saved-model format; bumped whenever its meaning changes.
pub const MODEL_FORMAT: u32 = 4;

/// A trained detector: baseline statistics, the forest and the thresholds.
/// Serialises to JSON so a baseline can be trained once and reused.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Model {
    /// Format version, [`MODEL_FORMAT`].
    pub format: u32,
    /// The metrics, in feature order.
    pub metrics: Vec<String>,
    /// Rows the baseline was learned from.
    pub trained_rows: usize,
    /// Contamination the thresholds were set for.
    pub contamination: f64,
    /// Signals in the score.
    pub mode: Mode,
    pub(super) fill: Vec<f64>,
    pub(super) transforms: Vec<Transform>,
    pub(super) season: Option<Season>,
    pub(super) scales: Vec<Scale>,
    pub(super) forest_features: Vec<usize>,
    pub(super) forest: Option<Forest>,
    pub(super) thresholds: Thresholds,
    pub(super) flat_limit: Vec<u64>,
    /// Per metric, its lowest training reading: a metric that harms when high and
    /// sits flat there is at rest, not frozen (see [`fusion::RowEvidence`]). Empty
    /// in models saved before it, which report every long flat run.
    #[serde(default)]
    pub(super) lowest: Vec<f64>,
    /// Per metric, samples a shift from the baseline must persist before it is
    /// absorbed (see [`super::level`]).
    pub(super) adapt_after: Vec<AdaptAfter>,
    /// A pause in the rows longer than this (ms) starts every metric's recent past
    /// afresh (see [`super::memory::PAUSE_STEPS`]): found from the training rows'
    /// times. Absent without times, and in models saved before it, which judge
    /// across any pause.
    #[serde(default)]
    pub(super) gap_ms: Option<i64>,
    /// Per metric, the way a move is harm: the catalogue's word on its name, kept
    /// from when the model is fitted or read so that judging a row looks up no
    /// names. Not saved; [`Model::from_json`] finds it again.
    #[serde(skip)]
    pub(super) harm: Vec<Harm>,
}

/// The scaled forest-bound features of every row of `features` (row-major, one
/// value per scale), as the forest's row-major f32 input.
pub(super) fn forest_matrix(features: &[f64], scales: &[Scale], used: &[usize]) -> Vec<f32> {
    features
        .chunks_exact(scales.len())
        .flat_map(|row| used.iter().map(move |&f| scales[f].z(row[f]) as f32))
        .collect()
}

impl Model {
    /// Rows each tree of the forest grew from, when there is a forest (not when
    /// every metric was constant in training): fewer than the sample size asked
    /// for when the calibration rows were fewer.
    pub fn forest_sample_size(&self) -> Option<usize> {
        self.forest.as_ref().map(Forest::sample_size)
    }

    /// Whether the model learned a time-of-day profile (its baseline spanned two
    /// days or more): without one, `--timezone` has nothing to act on.
    pub fn knows_time_of_day(&self) -> bool {
        self.season.is_some()
    }

    /// Reads a model saved by [`Model::to_json`], checking its format version.
    pub fn from_json(text: &str) -> Result<Model, DetectorError> {
        #[derive(Deserialize)]
        struct Version {
            format: u32,
        }
        let version: Version =
            serde_json::from_str(text).map_err(|e| DetectorError::ModelSyntax(e.to_string()))?;
        if version.format != MODEL_FORMAT {
            return Err(DetectorError::ModelVersion {
                found: version.format,
                expected: MODEL_FORMAT,
            });
        }
        let mut model: Model =
            serde_json::from_str(text).map_err(|e| DetectorError::ModelSyntax(e.to_string()))?;
        model.check()?;
        model.harm = harms(&model.metrics);
        Ok(model)
    }

    /// Whether the parts fit together as training makes them: one entry per metric
    /// in every per-metric list, one scale per feature, forest features that exist
    /// and as many as the forest reads. A file edited by hand or cut short could
    /// otherwise make scoring read outside its lists.
    fn check(&self) -> Result<(), DetectorError> {
        let n = self.metrics.len();
        let width = n * features::PER_METRIC;
        let consistent = n >= 1
            && self.fill.len() == n
            && self.transforms.len() == n
            && self.flat_limit.len() == n
            && (self.lowest.is_empty() || self.lowest.len() == n)
            && self.adapt_after.len() == n
            && self.scales.len() == width
            && self.forest_features.iter().all(|&f| f < width)
            && self
                .forest
                .as_ref()
                .is_none_or(|f| f.dims() == self.forest_features.len())
            && self.season.as_ref().is_none_or(|s| s.fits(n))
            && self.contamination > 0.0
            && self.contamination <= 0.5;
        if consistent {
            Ok(())
        } else {
            Err(DetectorError::ModelSyntax(
                "its parts do not fit together (a file edited by hand or cut short?); hint: train and save the model again".into(),
            ))
        }
    }

    /// The model as JSON; floats round-trip exactly.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    pub(super) fn expected(&self) -> Expected<'_> {
        Expected {
            fill: &self.fill,
            transforms: &self.transforms,
            season: self.season.as_ref(),
            adaptation: Some(Adaptation {
                scales: &self.scales,
                after: &self.adapt_after,
                harm: &self.harm,
            }),
            gap_ms: self.gap_ms,
        }
    }

    /// Forest scores of every row of `features` (row-major, one value per scale);
    /// 0 for each row when there is no forest.
    pub(super) fn forest_scores(&self, features: &[f64]) -> Vec<f64> {
        match &self.forest {
            Some(forest) => forest.score(&forest_matrix(
                features,
                &self.scales,
                &self.forest_features,
            )),
            None => vec![0.0; features.len() / self.scales.len()],
        }
    }

    /// Positions of the model's metrics among `names` (matched by canonical name, so
    /// `cpu` serves for `cpu_percent`), or the error listing those absent.
    pub fn align(&self, names: &[String]) -> Result<Vec<usize>, DetectorError> {
        let mut positions = Vec::with_capacity(self.metrics.len());
        let mut missing = Vec::new();
        for m in &self.metrics {
            let wanted = crate::schema::canonical(m);
            match names
                .iter()
                .position(|n| crate::schema::canonical(n) == wanted)
            {
                Some(p) => positions.push(p),
                None => missing.push(m.clone()),
            }
        }
        if missing.is_empty() {
            Ok(positions)
        } else {
            Err(DetectorError::ModelColumns {
                model: self.metrics.join(", "),
                missing: missing.join(", "),
            })
        }
    }

    /// Raises the opening bar and the hold level by `factor` (at least 1), for a
    /// model fitted on too few rows to have seen its source's ordinary extremes:
    /// its bars rest on the few highest of them, so it would open incidents on
    /// the first ordinary burst it had not seen (technical.md, "Young models'
    /// bars"). A saved model keeps the bars it judged with.
    pub fn raise_bars(&mut self, factor: f64) {
        let factor = factor.max(1.0);
        self.thresholds.fused *= factor;
        self.thresholds.hold *= factor;
    }

    /// Steadies this model's bars by those of `previous`, the model it replaces in a
    /// live session ([`Thresholds::steadied_by`]), so a retraining does not move the
    /// bar by as much as its window's few highest rows differ from the last one's.
    pub fn steady_bars(&mut self, previous: &Model) {
        self.thresholds = self.thresholds.steadied_by(&previous.thresholds);
    }

    /// The one place a row becomes a verdict, for batch and live alike: placed among
    /// incidents when the incident state of the rows before it is known (`hold`,
    /// which it advances), else on its own.
    pub(super) fn verdict_of(&self, row: RowInput, hold: Option<&mut Hold>) -> Judged {
        let evidence = fusion::RowEvidence {
            z: ZEvidence::of(row.features, &self.scales),
            row,
            names: &self.metrics,
            scales: &self.scales,
            transforms: &self.transforms,
            frozen_limit: &self.flat_limit,
            lowest: &self.lowest,
            fill: &self.fill,
        };
        fusion::fuse(&evidence, &self.thresholds, self.mode, hold)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detector::fusion::BAR_MEMORY;
    use crate::detector::test_data::{fitted, frame};

    #[test]
    fn a_model_whose_parts_do_not_fit_together_is_refused() {
        let model = fitted(&frame(300, 11));
        let mut value: serde_json::Value = serde_json::from_str(&model.to_json()).unwrap();
        value["fill"].as_array_mut().unwrap().pop();
        let e = Model::from_json(&value.to_string())
            .unwrap_err()
            .to_string();
        assert!(e.contains("do not fit together"), "{e}");
        let mut value: serde_json::Value = serde_json::from_str(&model.to_json()).unwrap();
        value["forest_features"] = serde_json::json!([10_000]);
        assert!(Model::from_json(&value.to_string()).is_err());
    }

    #[test]
    fn a_retrained_model_keeps_half_of_the_bars_it_replaces() {
        let previous = fitted(&frame(600, 21));
        let mut retrained = fitted(&frame(600, 22));
        let (old, new) = (previous.thresholds, retrained.thresholds);
        assert_ne!(old.fused, new.fused, "two windows give two bars");
        retrained.steady_bars(&previous);
        let t = retrained.thresholds;
        let expected = new.fused.powf(1.0 - BAR_MEMORY) * old.fused.powf(BAR_MEMORY);
        assert!((t.fused - expected).abs() < 1e-12 * expected, "{t:?}");
        assert!(
            t.hold <= t.fused,
            "the hold level stays below the bar: {t:?}"
        );
        assert!(t.fused < old.fused.max(new.fused) && t.fused > old.fused.min(new.fused));
        assert_eq!(
            (t.forest, t.z),
            (new.forest, new.z),
            "the signals' own thresholds"
        );
        // A model steadied by itself is unchanged.
        let mut same = previous.clone();
        same.steady_bars(&previous);
        assert!((same.thresholds.fused - old.fused).abs() < 1e-12 * old.fused);
    }

    #[test]
    fn a_saved_model_reloads_bit_identical_and_checks_version_and_columns() {
        let model = fitted(&frame(300, 11));
        let json = model.to_json();
        assert_eq!(Model::from_json(&json).unwrap(), model);
        // Saved before incidents could fade: loads, holding incidents to the end.
        let mut value: serde_json::Value = serde_json::from_str(&json).unwrap();
        value["thresholds"]
            .as_object_mut()
            .unwrap()
            .remove("fading");
        assert!(
            !Model::from_json(&value.to_string())
                .unwrap()
                .thresholds
                .fading
        );
        // Saved before the lowest readings were kept: loads, reporting every long
        // flat run as before.
        value.as_object_mut().unwrap().remove("lowest");
        assert!(
            Model::from_json(&value.to_string())
                .unwrap()
                .lowest
                .is_empty()
        );
        let old = json.replacen("\"format\":4", "\"format\":3", 1);
        assert!(
            Model::from_json(&old)
                .unwrap_err()
                .to_string()
                .contains("version 3 is not supported")
        );
        let err = model
            .align(&["cpu_percent".into()])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("lacks [memory_percent, disk_read_mb]"),
            "{err}"
        );
    }
}
