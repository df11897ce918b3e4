//! Fit on 100k x 8 and score 1M x 8 with 200 trees, ours against the
//! extended-isolation-forest crate.
//! Run: `cargo bench --bench forest`.

use criterion::{Criterion, criterion_group, criterion_main};
use extended_isolation_forest::{Forest as Reference, ForestOptions};
use metrics::detector::ForestParams;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use std::hint::black_box;

const DIMS: usize = 8;

/// Trees on both sides: the forest's own workload, fixed at the size the figures in
/// technical.md were first taken at, whatever the default.
const TREES: usize = 200;

fn data(rows: usize, seed: u64) -> Vec<f32> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..rows * DIMS)
        .map(|_| rng.random_range(-3.0f32..3.0))
        .collect()
}

fn ours(c: &mut Criterion) {
    let train = data(100_000, 1);
    let test = data(1_000_000, 2);
    let params = ForestParams {
        seed: 7,
        n_trees: TREES,
        ..ForestParams::default()
    }
    .check()
    .unwrap();
    let mut group = c.benchmark_group("forest");
    group.sample_size(10);
    group.bench_function("fit 100k x 8 (ours)", |b| {
        b.iter(|| params.fit(black_box(&train), DIMS).unwrap())
    });
    let forest = params.fit(&train, DIMS).unwrap();
    group.bench_function("score 1M x 8 (ours)", |b| {
        b.iter(|| forest.score(black_box(&test)))
    });
    group.finish();
}

fn reference(c: &mut Criterion) {
    let as_rows = |v: &[f32]| -> Vec<[f64; DIMS]> {
        v.chunks_exact(DIMS)
            .map(|r| std::array::from_fn(|i| r[i] as f64))
            .collect()
    };
    let train = as_rows(&data(100_000, 1));
    let test = as_rows(&data(100_000, 2));
    let options = ForestOptions {
        n_trees: TREES,
        sample_size: 256,
        max_tree_depth: None,
        extension_level: DIMS - 1,
    };
    let mut group = c.benchmark_group("forest");
    group.sample_size(10);
    group.bench_function("fit 100k x 8 (extended-isolation-forest)", |b| {
        b.iter(|| Reference::from_slice(black_box(&train), &options).unwrap())
    });
    let forest = Reference::from_slice(&train, &options).unwrap();
    // 100k rows; multiply by 10 for the 1M figure (the crate scores row by row).
    group.bench_function("score 100k x 8 (extended-isolation-forest)", |b| {
        b.iter(|| test.iter().map(|r| forest.score(r)).sum::<f64>())
    });
    group.finish();
}

criterion_group!(benches, ours, reference);
criterion_main!(benches);
