//! Why the detector could not be configured, trained or applied; each message says
//! what was expected and what was found.

use super::forest::ForestError;

/// Why the detector could not be configured, trained or applied.
#[derive(Debug, thiserror::Error)]
pub enum DetectorError {
    /// Contamination outside (0, 0.5].
    #[error("contamination must be in (0, 0.5], got {0}")]
    Contamination(f64),
    /// A forest parameter was invalid.
    #[error(transparent)]
    Forest(#[from] ForestError),
    /// Too few rows to learn a baseline.
    #[error(
        "training needs at least {needed} rows, got {found}; give more rows (or fit on more of the file)"
    )]
    TooFewRows {
        /// The minimum.
        needed: usize,
        /// What was given.
        found: usize,
    },
    /// No numeric metric to learn from.
    #[error("no numeric metric columns to learn from")]
    NoMetrics,
    /// A saved model of another format version.
    #[error(
        "model format version {found} is not supported (this build reads version {expected}); retrain with --save-model"
    )]
    ModelVersion {
        /// The file's version.
        found: u32,
        /// The version this build reads.
        expected: u32,
    },
    /// A saved model whose metrics are not in the data.
    #[error(
        "the model was trained on columns [{model}] but the data lacks [{missing}]; use a model trained on this schema"
    )]
    ModelColumns {
        /// The model's metrics.
        model: String,
        /// Those absent from the data.
        missing: String,
    },
    /// The model file is not a model.
    #[error("not a metrics model: {0}")]
    ModelSyntax(String),
}
