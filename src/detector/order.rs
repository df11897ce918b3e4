//! Medians and quantiles of training columns, found in place. They give statrs'
//! `OrderStatistics` values bit for bit (a unit test checks), with one selection
//! where statrs makes two: a median of an even count, or a quantile between two
//! readings, needs two neighbouring order statistics, and once the lower one is
//! selected the upper one is the smallest reading to its right. The fit takes a
//! dozen of these over a million readings each (technical.md, "Measured speed").

use statrs::statistics::{Data, OrderStatistics};

/// The median of `values` (reordered), as statrs' `median`: the middle reading, or
/// the mean of the middle two.
pub fn median(values: &mut [f64]) -> f64 {
    if values.len() % 2 == 1 || values.len() < 4 {
        return Data::new(values).median();
    }
    let (lower, upper) = middle_two(values);
    (lower + upper) / 2.0
}

/// The middle two of an even count of `values` (reordered): statrs' order
/// statistics `n / 2` and `n / 2 + 1`.
pub fn middle_two(values: &mut [f64]) -> (f64, f64) {
    let n = values.len();
    if n < 4 {
        // statrs takes the first and last order statistics with min and max.
        let mut data = Data::new(values);
        return (data.order_statistic(n / 2), data.order_statistic(n / 2 + 1));
    }
    neighbours(values, n / 2 - 1)
}

/// The `tau` quantile of `values` (reordered), as statrs' `quantile` (the R-8
/// estimator): between the order statistics either side of
/// `(n + 1/3) tau + 1/3`.
pub fn quantile(values: &mut [f64], tau: f64) -> f64 {
    let n = values.len();
    let h = (n as f64 + 1.0 / 3.0) * tau + 1.0 / 3.0;
    let hf = h as i64;
    // The ends, and ranks whose neighbour is the first or last reading, are
    // statrs' own (it takes those with min and max).
    if !(0.0..=1.0).contains(&tau) || tau == 0.0 || tau == 1.0 || hf < 2 || hf + 1 >= n as i64 {
        return Data::new(values).quantile(tau);
    }
    let (a, b) = neighbours(values, hf as usize - 1);
    a + (h - hf as f64) * (b - a)
}

/// The `(k + 1)`-th smallest reading and the one after it, by `f64::total_cmp`, as
/// statrs selects them; `k + 1` must be a valid index.
fn neighbours(values: &mut [f64], k: usize) -> (f64, f64) {
    let (_, &mut at, right) = values.select_nth_unstable_by(k, f64::total_cmp);
    let next = right.iter().copied().min_by(f64::total_cmp).unwrap_or(at);
    (at, next)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn readings(n: usize, seed: u64) -> Vec<f64> {
        (0..n as u64)
            .map(|i| {
                let x = (i.wrapping_mul(6_364_136_223_846_793_005) ^ seed) % 1_000;
                match x % 17 {
                    0 => 0.0,
                    1 => -0.0,
                    2 => 5.0,
                    _ => x as f64 * 0.37 - 100.0,
                }
            })
            .collect()
    }

    #[test]
    fn medians_and_quantiles_are_statrs_bit_for_bit() {
        for n in [1, 2, 3, 4, 5, 6, 7, 10, 11, 64, 99, 700, 1001] {
            for seed in 0..4 {
                let values = readings(n, seed);
                let theirs = Data::new(values.clone()).median();
                assert_eq!(
                    median(&mut values.clone()).to_bits(),
                    theirs.to_bits(),
                    "median of {n}, seed {seed}"
                );
                if n % 2 == 0 {
                    let mut data = Data::new(values.clone());
                    let theirs = (data.order_statistic(n / 2), data.order_statistic(n / 2 + 1));
                    let ours = middle_two(&mut values.clone());
                    assert_eq!(
                        (ours.0.to_bits(), ours.1.to_bits()),
                        (theirs.0.to_bits(), theirs.1.to_bits()),
                        "middle two of {n}, seed {seed}"
                    );
                }
                for tau in [0.0, 0.01, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999, 1.0] {
                    let theirs = Data::new(values.clone()).quantile(tau);
                    assert_eq!(
                        quantile(&mut values.clone(), tau).to_bits(),
                        theirs.to_bits(),
                        "quantile {tau} of {n}, seed {seed}"
                    );
                }
            }
        }
    }
}
