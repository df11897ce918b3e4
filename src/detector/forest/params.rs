//! The forest's settings as given ([`ForestParams`]) and as checked
//! ([`ValidForestParams`], the only way to grow a forest), and why either fails.

use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::index;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::arena::Forest;
use super::grow::{Grower, TreeNodes};
use super::{at_edge, padded};

/// The fewest trees a forest may have.
pub const MIN_TREES: usize = 1;

/// The most trees a forest may have: path lengths settle well before 100, and
/// each tree costs memory (10,000 trees of 256 rows take about 200 MB), so a
/// count beyond this is a typo, not a setting.
pub const MAX_TREES: usize = 10_000;

/// The fewest rows a tree may grow from: fewer cannot isolate anything.
pub const MIN_SAMPLE_SIZE: usize = 2;

/// Why a forest could not be configured or trained.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ForestError {
    /// `n_trees` was zero.
    #[error("n_trees must be at least {MIN_TREES}, got {0}")]
    NoTrees(usize),
    /// `n_trees` was beyond [`MAX_TREES`].
    #[error("n_trees must be at most {MAX_TREES}, got {0}")]
    TooManyTrees(usize),
    /// `sample_size` was below 2, which cannot isolate anything.
    #[error("sample_size must be at least {MIN_SAMPLE_SIZE}, got {0}")]
    SampleTooSmall(usize),
    /// `max_depth` was zero or beyond what a tree of 2^16 leaves can use.
    #[error("max_depth must be between 1 and {MAX_DEPTH_LIMIT}, got {0}")]
    BadDepth(usize),
    /// `extension_level` was not below the number of dimensions.
    #[error("extension_level must be below the number of dimensions ({dims}), got {level}")]
    BadExtension {
        /// The requested extension level.
        level: usize,
        /// The dimensions of the training data.
        dims: usize,
    },
    /// The training data had no columns.
    #[error("the training data has no dimensions")]
    NoDimensions,
    /// Fewer than two training rows.
    #[error("at least 2 training rows are needed, got {0}")]
    TooFewRows(usize),
    /// A row with a different width than the first.
    #[error("row {row} has {found} values, expected {expected}")]
    RaggedRow {
        /// Index of the offending row.
        row: usize,
        /// Width of the first row.
        expected: usize,
        /// Width of this row.
        found: usize,
    },
}

/// The deepest tree a user may ask for; deeper trees only memorise the sample.
pub const MAX_DEPTH_LIMIT: usize = 32;

/// Trees in a forest unless told otherwise. Path lengths settle well before 100
/// trees (Liu et al. 2008; scikit-learn's default too), and measured against 200
/// on every shared file and `datagen` setting the verdicts were as good (technical.md,
/// "How many trees") for 15 % less time.
pub const DEFAULT_TREES: usize = 100;

/// Rows each tree grows from unless told otherwise: the original Isolation
/// Forest's choice, which scikit-learn keeps.
pub const DEFAULT_SAMPLE_SIZE: usize = 256;

/// Hyper-parameters as given; [`ForestParams::check`] turns them into a [`ValidForestParams`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ForestParams {
    /// Number of trees; more trees give steadier scores at linear cost.
    pub n_trees: usize,
    /// Rows drawn (without replacement) to grow each tree; capped at the row count.
    pub sample_size: usize,
    /// Non-zero coordinates of each cut's normal, minus one: 0 is the classic
    /// axis-parallel forest; `None` means full extension (dims - 1).
    pub extension_level: Option<usize>,
    /// Depth at which growth stops; `None` means ceil(log2(sample size)).
    pub max_depth: Option<usize>,
    /// Seed of every random choice, so a fit is reproducible.
    pub seed: u64,
}

impl Default for ForestParams {
    fn default() -> Self {
        Self {
            n_trees: DEFAULT_TREES,
            sample_size: DEFAULT_SAMPLE_SIZE,
            extension_level: None,
            max_depth: None,
            seed: 0,
        }
    }
}

impl ForestParams {
    /// Validates the parameters that do not depend on the data.
    pub fn check(&self) -> Result<ValidForestParams, ForestError> {
        if self.n_trees < MIN_TREES {
            return Err(ForestError::NoTrees(self.n_trees));
        }
        if self.n_trees > MAX_TREES {
            return Err(ForestError::TooManyTrees(self.n_trees));
        }
        if self.sample_size < MIN_SAMPLE_SIZE {
            return Err(ForestError::SampleTooSmall(self.sample_size));
        }
        if let Some(depth) = self.max_depth
            && !(1..=MAX_DEPTH_LIMIT).contains(&depth)
        {
            return Err(ForestError::BadDepth(depth));
        }
        Ok(ValidForestParams(self.clone()))
    }
}

/// Parameters that passed [`ForestParams::check`]; the only way to fit a forest.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidForestParams(ForestParams);

impl ValidForestParams {
    /// Grows the forest on `rows` (row-major, `dims` values per row).
    pub fn fit(&self, rows: &[f32], dims: usize) -> Result<Forest, ForestError> {
        let p = &self.0;
        if dims == 0 {
            return Err(ForestError::NoDimensions);
        }
        if !rows.len().is_multiple_of(dims) {
            return Err(ForestError::RaggedRow {
                row: rows.len() / dims,
                expected: dims,
                found: rows.len() % dims,
            });
        }
        let n_rows = rows.len() / dims;
        if n_rows < 2 {
            return Err(ForestError::TooFewRows(n_rows));
        }
        let level = p.extension_level.unwrap_or(dims - 1);
        if level >= dims {
            return Err(ForestError::BadExtension { level, dims });
        }
        let sample_size = p.sample_size.min(n_rows);
        let max_depth = p
            .max_depth
            .unwrap_or_else(|| (sample_size as f64).log2().ceil().max(1.0) as usize);
        let stride = padded(dims);
        let edged: Vec<f32>;
        let rows = if rows.iter().all(|&v| v == at_edge(v)) {
            rows
        } else {
            edged = rows.iter().map(|&v| at_edge(v)).collect();
            &edged
        };
        let grower = Grower {
            rows,
            dims,
            stride,
            level,
            max_depth,
        };
        let trees: Vec<TreeNodes> = (0..p.n_trees)
            .into_par_iter()
            .map(|t| {
                let mut rng = StdRng::seed_from_u64(tree_seed(p.seed, t as u64));
                let sample = index::sample(&mut rng, n_rows, sample_size).into_vec();
                grower.grow(sample, &mut rng)
            })
            .collect();
        Ok(Forest::assemble(trees, dims, stride, sample_size))
    }
}

/// Distinct, well-mixed seeds per tree (SplitMix64), so trees can grow in any order.
pub(super) fn tree_seed(seed: u64, tree: u64) -> u64 {
    let mut z = seed ^ tree.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}
