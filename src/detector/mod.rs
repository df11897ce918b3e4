//! The detector: fit a [`Model`] on baseline rows, then judge rows one by one (live,
//! [`Stream`]) or all at once (batch, [`Model::score_frame`]) with the same code, so
//! both give the same verdicts. Nothing here knows about files, terminals or the
//! command line.
//!
//! One file per job: [`params`] (the settings and their checked form), [`error`],
//! [`verdict`] (what a row gets), [`train`] (fit and calibration), [`memory`] (what
//! a pass over rows remembers, and the feature table), [`model`] (the trained model
//! and its file format), [`batch`], [`stream`]; and the signals they are built
//! from: [`features`], [`season`], [`transform`], [`scaling`], [`zscore`],
//! [`forest`], [`rules`], [`fusion`], [`reasons`], [`hold`] and [`level`] (how a
//! persistent shift is absorbed); and [`incidents`], the runs of anomalous rows a
//! person acts on.

pub mod batch;
pub mod error;
pub mod features;
pub mod forest;
pub mod frame;
pub mod fusion;
pub mod hold;
pub mod incidents;
pub mod level;
pub mod memory;
pub mod model;
pub mod order;
pub mod params;
pub mod reasons;
pub mod rules;
pub mod scaling;
pub mod season;
pub mod stream;
pub mod train;
pub mod transform;
pub mod verdict;
pub mod zscore;

#[cfg(test)]
pub(crate) mod test_data;

pub use error::DetectorError;
pub use features::History;
pub use forest::{
    DEFAULT_SAMPLE_SIZE, DEFAULT_TREES, Forest, ForestError, ForestParams, MAX_TREES,
    MIN_SAMPLE_SIZE, MIN_TREES,
};
pub use frame::{Frame, scaled_to_width};
pub use fusion::{Mode, Thresholds};
pub use incidents::{Change, Incident, IncidentTracker};
pub use model::{MODEL_FORMAT, Model};
pub use params::{DEFAULT_ADAPT_AFTER, DetectorParams, ValidDetectorParams, contamination_fits};
pub use rules::{BoundRules, RuleSet, RulesError};
pub use stream::Stream;
pub use train::{MIN_FROZEN_RUN, MIN_TRAIN_ROWS, SUB_MINUTE_MS};
pub use verdict::{Severity, Verdict};
