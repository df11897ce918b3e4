//! The forest's tests: isolation of planted outliers, seeding, refusing a broken
//! model file, and every scoring kernel agreeing bit for bit.

use super::*;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand_distr::{Distribution, Normal};

use super::score::Kernel;

fn blobs(n: usize, dims: usize, seed: u64) -> Vec<f32> {
    let mut rng = StdRng::seed_from_u64(seed);
    let normal = Normal::new(0.0f64, 1.0).unwrap();
    (0..n * dims)
        .map(|i| {
            let centre = if (i / dims).is_multiple_of(2) {
                -5.0
            } else {
                5.0
            };
            (centre + normal.sample(&mut rng)) as f32
        })
        .collect()
}

fn fit(rows: &[f32], dims: usize, seed: u64) -> Forest {
    fit_with(
        ForestParams {
            seed,
            ..ForestParams::default()
        },
        rows,
        dims,
    )
}

fn fit_with(params: ForestParams, rows: &[f32], dims: usize) -> Forest {
    params.check().unwrap().fit(rows, dims).unwrap()
}

#[test]
fn planted_outliers_get_the_top_scores() {
    let dims = 4;
    let mut rows = blobs(2000, dims, 1);
    let planted = [[0.0, 0.0, 0.0, 0.0], [15.0, -15.0, 15.0, 0.0], [-12.0; 4]];
    for p in planted {
        rows.extend_from_slice(&p);
    }
    let scores = fit(&rows, dims, 7).score(&rows);
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let top: Vec<usize> = order[..3].to_vec();
    for i in 2000..2003 {
        assert!(top.contains(&i), "planted row {i} not in top 3: {top:?}");
    }
    assert!(scores[2001] > 0.6, "far outlier scored {}", scores[2001]);
}

#[test]
fn same_seed_gives_bit_identical_model_and_scores_on_any_thread_count() {
    let rows = blobs(3000, 5, 2);
    let a = fit(&rows, 5, 11);
    let single = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    let b = single.install(|| fit(&rows, 5, 11));
    assert_eq!(a, b);
    let sa = a.score(&rows);
    let sb = single.install(|| b.score(&rows));
    assert!(sa.iter().zip(&sb).all(|(x, y)| x.to_bits() == y.to_bits()));
}

#[test]
fn different_seeds_give_different_forests() {
    let rows = blobs(1000, 3, 3);
    let a = fit(&rows, 3, 1).score(&rows);
    let b = fit(&rows, 3, 2).score(&rows);
    assert_ne!(a, b);
}

#[test]
fn a_constant_column_does_not_break_scoring() {
    let mut rows = blobs(500, 3, 4);
    for r in rows.chunks_exact_mut(3) {
        r[1] = 42.0;
    }
    let scores = fit(&rows, 3, 5).score(&rows);
    assert!(
        scores
            .iter()
            .all(|s| s.is_finite() && *s > 0.0 && *s <= 1.0)
    );
    let all_constant = vec![1.0f32; 300];
    let flat = fit(&all_constant, 3, 5).score(&all_constant);
    assert!(flat.iter().all(|s| s.is_finite()));
}

#[test]
fn rows_that_are_infinite_huge_or_missing_grow_and_score_like_rows_at_the_edge() {
    // Every sample of 2 rows draws these rows into some trees, where a cut drawn
    // from an infinite (or overflowing) box used to panic.
    let dims = 3;
    let mut rows = blobs(400, dims, 4);
    rows[..dims].copy_from_slice(&[f32::INFINITY, f32::NAN, 0.0]);
    rows[dims..2 * dims].copy_from_slice(&[-3e38, 3e38, f32::NEG_INFINITY]);
    for sample_size in [2, 256] {
        let params = ForestParams {
            seed: 3,
            sample_size,
            ..ForestParams::default()
        };
        let forest = fit_with(params, &rows, dims);
        let scores = forest.score(&rows);
        assert!(
            scores.iter().all(|s| *s > 0.0 && *s <= 1.0),
            "{sample_size}"
        );
        let edged = forest.score(&[1e30, 0.0, 0.0, -1e30, 1e30, -1e30]);
        assert_eq!(scores[..2], edged[..], "{sample_size}");
    }
}

#[test]
fn classic_axis_parallel_forest_still_isolates_outliers() {
    let mut rows = blobs(1000, 2, 6);
    rows.extend_from_slice(&[40.0, 40.0]);
    let forest = fit_with(
        ForestParams {
            extension_level: Some(0),
            ..ForestParams::default()
        },
        &rows,
        2,
    );
    let scores = forest.score(&rows);
    let max = scores.iter().cloned().fold(0.0, f64::max);
    assert_eq!(scores[1000], max);
}

#[test]
fn invalid_parameters_are_named_before_any_work() {
    let bad = ForestParams {
        n_trees: 0,
        ..ForestParams::default()
    };
    assert_eq!(bad.check(), Err(ForestError::NoTrees(0)));
    // A hundred million trees asked the system for terabytes and was killed.
    let bad = ForestParams {
        n_trees: 100_000_000,
        ..ForestParams::default()
    };
    assert_eq!(bad.check(), Err(ForestError::TooManyTrees(100_000_000)));
    let bad = ForestParams {
        sample_size: 1,
        ..ForestParams::default()
    };
    assert_eq!(bad.check(), Err(ForestError::SampleTooSmall(1)));
    let bad = ForestParams {
        max_depth: Some(0),
        ..ForestParams::default()
    };
    assert_eq!(bad.check(), Err(ForestError::BadDepth(0)));
    let bad = ForestParams {
        extension_level: Some(3),
        ..ForestParams::default()
    };
    let err = bad.check().unwrap().fit(&[0.0; 30], 3).unwrap_err();
    assert_eq!(err, ForestError::BadExtension { level: 3, dims: 3 });
}

/// The error loading a saved forest gives after `tamper` edits its JSON.
fn refusal_after(tamper: impl FnOnce(&mut serde_json::Value)) -> String {
    let rows = blobs(300, 2, 9);
    let mut json = serde_json::to_value(fit(&rows, 2, 1)).unwrap();
    tamper(&mut json);
    serde_json::from_value::<Forest>(json)
        .unwrap_err()
        .to_string()
}

#[test]
fn a_model_whose_children_point_outside_the_arena_is_refused() {
    let rows = blobs(300, 2, 9);
    let json = serde_json::to_string(&fit(&rows, 2, 1)).unwrap();
    let back: Forest = serde_json::from_str(&json).unwrap();
    assert_eq!(back.score(&rows), fit(&rows, 2, 1).score(&rows));
    let err = refusal_after(|json| json["children"][0][0] = serde_json::json!(4_000_000_000u32));
    assert!(err.contains("inconsistent"), "{err}");
}

#[test]
fn a_model_whose_split_does_not_have_adjacent_children_is_refused() {
    let err = refusal_after(|json| {
        let root = json["trees"][0][0].as_u64().unwrap() as usize;
        let children = &mut json["children"][root];
        let [left, right] = [children[0].take(), children[1].take()];
        *children = serde_json::json!([right, left]);
    });
    assert!(err.contains("inconsistent"), "{err}");
}

#[test]
fn a_row_scores_the_same_alone_as_in_a_block() {
    // Small samples make trees shallower than the levels walked from lane
    // tables, with leaves among them; repeated rows make early leaves too.
    let mut rows = blobs(200, 5, 10);
    rows.extend(rows[..50].to_vec());
    for sample_size in [2, 4, 16, 256] {
        let params = ForestParams {
            seed: 4,
            sample_size,
            ..ForestParams::default()
        };
        let forest = fit_with(params, &rows, 5);
        let together = forest.score(&rows);
        for (r, expected) in together.iter().enumerate() {
            let alone = forest.score(&rows[r * 5..(r + 1) * 5])[0];
            assert_eq!(
                alone.to_bits(),
                expected.to_bits(),
                "row {r}, sample {sample_size}"
            );
        }
    }
}

#[test]
fn every_kernel_this_cpu_runs_gives_the_same_scores() {
    let mut rows = blobs(3000, 8, 12);
    rows.extend(rows[..400].to_vec());
    let best = Kernel::detect();
    for sample_size in [2, 16, 64, 256] {
        let params = ForestParams {
            seed: 9,
            sample_size,
            ..ForestParams::default()
        };
        let forest = fit_with(params, &rows, 8);
        let portable = forest.score_with(&rows, Kernel::Portable);
        for kernel in [Kernel::Avx2, Kernel::Avx512] {
            if kernel <= best {
                let scores = forest.score_with(&rows, kernel);
                assert!(
                    scores
                        .iter()
                        .zip(&portable)
                        .all(|(a, b)| a.to_bits() == b.to_bits()),
                    "{kernel:?}, sample {sample_size}"
                );
            }
        }
    }
}

#[test]
fn scores_many_dimensions() {
    let dims = 70;
    let rows = blobs(600, dims, 8);
    let scores = fit(&rows, dims, 1).score(&rows);
    assert_eq!(scores.len(), 600);
    assert!(scores.iter().all(|s| *s > 0.0 && *s <= 1.0));
}
