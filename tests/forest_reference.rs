//! Our extended isolation forest ranks rows as the reference implementation does.

use extended_isolation_forest::{Forest as Reference, ForestOptions};
use metrics::detector::ForestParams;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use rand_distr::{Distribution, Normal};

const DIMS: usize = 4;

fn ranks(values: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
    let mut ranks = vec![0.0; values.len()];
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && values[order[j + 1]] == values[order[i]] {
            j += 1;
        }
        for k in i..=j {
            ranks[order[k]] = (i + j) as f64 / 2.0;
        }
        i = j + 1;
    }
    ranks
}

fn spearman(a: &[f64], b: &[f64]) -> f64 {
    let (ra, rb) = (ranks(a), ranks(b));
    let n = ra.len() as f64;
    let (ma, mb) = (ra.iter().sum::<f64>() / n, rb.iter().sum::<f64>() / n);
    let cov: f64 = ra.iter().zip(&rb).map(|(x, y)| (x - ma) * (y - mb)).sum();
    let va: f64 = ra.iter().map(|x| (x - ma).powi(2)).sum();
    let vb: f64 = rb.iter().map(|y| (y - mb).powi(2)).sum();
    cov / (va * vb).sqrt()
}

#[test]
fn scores_agree_with_the_reference_crate_by_rank() {
    let mut rng = StdRng::seed_from_u64(42);
    let noise = Normal::new(0.0, 1.0).unwrap();
    let rows: Vec<[f64; DIMS]> = (0..3000)
        .map(|i| {
            let scale = if i % 50 == 0 { 4.0 } else { 1.0 };
            std::array::from_fn(|d| {
                scale * noise.sample(&mut rng)
                    + if d == 0 {
                        rng.random_range(0.0..2.0)
                    } else {
                        0.0
                    }
            })
        })
        .collect();
    let flat: Vec<f32> = rows.iter().flatten().map(|&v| v as f32).collect();
    for level in [0, DIMS - 1] {
        let ours = ForestParams {
            extension_level: Some(level),
            seed: 3,
            ..ForestParams::default()
        }
        .check()
        .unwrap()
        .fit(&flat, DIMS)
        .unwrap()
        .score(&flat);
        let options = ForestOptions {
            n_trees: 200,
            sample_size: 256,
            max_tree_depth: None,
            extension_level: level,
        };
        let fits = 5;
        let mut reference = vec![0.0; rows.len()];
        for _ in 0..fits {
            let forest = Reference::from_slice(&rows, &options).unwrap();
            for (acc, r) in reference.iter_mut().zip(&rows) {
                *acc += forest.score(r) / fits as f64;
            }
        }
        let rho = spearman(&ours, &reference);
        eprintln!("extension level {level}: Spearman rank correlation with the reference {rho:.3}");
        assert!(
            rho >= 0.9,
            "extension level {level}: Spearman {rho:.3} < 0.9"
        );
    }
}
