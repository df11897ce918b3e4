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
    DEFAULT_SAMPLE_SIZE, DEFAULT_TREES, ForestError, ForestParams, MAX_DEPTH_LIMIT, MAX_TREES,
    MIN_SAMPLE_SIZE, MIN_TREES, ValidForestParams,
};

/// Floats in one SIMD chunk: rows are padded to a multiple of it.
const LANES: usize = 8;

/// Furthest from 0 a coordinate is taken to lie, growing or scoring.
const EDGE: f32 = 1e30;

/// A coordinate as the forest takes it: a missing one (NaN) at 0, an infinite or
/// huge one at [`EDGE`]. Growing would otherwise draw a cut from an infinite box
/// (which `rand` refuses), and scoring would leave every cut undecided; both take
/// the same value, so a row scores as the rows it was grown with.
fn at_edge(v: f32) -> f32 {
    if v.is_nan() {
        0.0
    } else {
        v.clamp(-EDGE, EDGE)
    }
}

/// Dimensions rounded up to a whole number of 8-lane chunks, so dot products vectorise.
fn padded(dims: usize) -> usize {
    dims.div_ceil(LANES) * LANES
}
