//! Fitting on any readings: a frame of arbitrary numbers (NaN, infinities, 1e308,
//! subnormals, negative rates) in columns of every kind the catalogue knows gives a
//! model or an error, and the model judges the same rows, in batch and live,
//! without a panic. One reading of 1e308 used to panic the forest's growth.
#![no_main]

use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use metrics::detector::{DetectorParams, ForestParams, Frame, RuleSet};

/// One column of each kind: a percent, a rate, an amount, and one of unknown kind.
const NAMES: [&str; 4] = [
    "cpu_percent",
    "disk_read_mb",
    "memory_available_gb",
    "queue_depth",
];

/// Rows of the frame: enough to train on (at least 32), few enough to stay fast.
const ROWS: usize = 96;

fuzz_target!(|data: &[u8]| {
    let Some((&shape, rest)) = data.split_first() else {
        return;
    };
    let metrics = 1 + usize::from(shape % 4);
    let values: Vec<f64> = rest
        .chunks_exact(8)
        .map(|b| f64::from_le_bytes(b.try_into().unwrap_or_default()))
        .collect();
    if values.is_empty() {
        return;
    }
    // The fuzzed readings, repeated to fill the frame, each column from its own
    // offset; one second apart.
    let columns: Vec<Vec<f64>> = (0..metrics)
        .map(|m| {
            (0..ROWS)
                .map(|r| values[(r * metrics + m) % values.len()])
                .collect()
        })
        .collect();
    let frame = Frame {
        names: NAMES[..metrics].iter().map(|n| n.to_string()).collect(),
        columns,
        times: Some(
            (0..ROWS as i64)
                .map(|r| 1_700_000_000_000 + 1000 * r)
                .collect(),
        ),
        ..Frame::default()
    };
    let params = DetectorParams {
        forest: ForestParams {
            n_trees: 10,
            sample_size: 64,
            seed: u64::from(shape),
            ..ForestParams::default()
        },
        ..DetectorParams::default()
    };
    let Ok(valid) = params.check() else {
        return;
    };
    let Ok(model) = valid.fit(&frame) else {
        return;
    };
    let rules = RuleSet::default();
    let _ = model.score_frame(&frame, &rules, &|_| {});
    let model = Arc::new(model);
    let mut stream = model.stream(&rules, &[]);
    for r in 0..ROWS {
        let row: Vec<f64> = frame.columns.iter().map(|c| c[r]).collect();
        let _ = stream.judge(&row, &[], frame.times.as_ref().map(|t| t[r]));
    }
});
