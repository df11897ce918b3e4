//! The extended Isolation Forest (Hariri, Kind & Brunner, 2019): random hyperplane
//! cuts isolate rare points in fewer steps than common ones. Trees live in one flat
//! arena of nodes so scoring walks integers, not pointers, and is parallel over rows.
//!
//! [`params`] checks the settings and grows the trees ([`grow`]) into the
//! [`arena`]; [`score`] walks rows down them, with the SIMD steps in `kernels`.

pub mod arena;
pub mod grow;
mod kernels;
pub mod params;
pub mod score;

#[cfg(test)]
mod tests;

pub use arena::Forest;
pub use grow::average_path_length;
pub use params::{
    DEFAULT_TREES, ForestError, ForestParams, MAX_DEPTH_LIMIT, MIN_SAMPLE_SIZE, MIN_TREES,
    ValidForestParams,
};

/// Floats in one SIMD chunk: rows are padded to a multiple of it.
const LANES: usize = 8;

/// Dimensions rounded up to a whole number of 8-lane chunks, so dot products vectorise.
fn padded(dims: usize) -> usize {
    dims.div_ceil(LANES) * LANES
}
