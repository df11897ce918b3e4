//! Seeded test data shared by the detector's unit tests.

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

use super::frame::Frame;
use super::model::Model;
use super::params::DetectorParams;
use super::scaling::Scale;

/// A feature scale whose sigma is the value itself: centre 0, spread 1, no tail
/// weighting.
pub fn unit() -> Scale {
    Scale {
        median: 0.0,
        spread: 1.0,
        constant: false,
        tail: 1.0,
    }
}

/// `rows` rows of three metrics (CPU, memory, disk reads) of seeded uniform noise
/// around fixed levels.
pub fn frame(rows: usize, seed: u64) -> Frame {
    let mut rng = StdRng::seed_from_u64(seed);
    let names = vec![
        "cpu_percent".to_string(),
        "memory_percent".to_string(),
        "disk_read_mb".to_string(),
    ];
    let columns = vec![
        (0..rows)
            .map(|_| 30.0 + rng.random_range(-5.0..5.0))
            .collect(),
        (0..rows)
            .map(|_| 50.0 + rng.random_range(-2.0..2.0))
            .collect(),
        (0..rows)
            .map(|_| 2.0 + rng.random_range(0.0..1.0))
            .collect(),
    ];
    Frame {
        names,
        columns,
        ..Frame::default()
    }
}

/// The model the default parameters fit on `train`.
pub fn fitted(train: &Frame) -> Model {
    DetectorParams::default()
        .check()
        .unwrap()
        .fit(train)
        .unwrap()
}
