//! Training: learning a [`Model`] from baseline rows (medians, transforms, the
//! time-of-day profile, feature scales, frozen limits and the forest), then
//! calibrating its thresholds and incident bars on the training rows themselves.

use std::borrow::Cow;
use std::collections::BTreeMap;

use rayon::prelude::*;

use super::error::DetectorError;
use super::features::{self, FlatRun};
use super::frame::{Frame, scaled_to_width};
use super::fusion::Thresholds;
use super::hold::{HOLD_ROWS, Hold, Step};
use super::level::AdaptAfter;
use super::memory::{Expected, FeatureTable, filled, harms, pause_for};
use super::model::{MODEL_FORMAT, Model, forest_matrix};
use super::order;
use super::params::ValidDetectorParams;
use super::scaling::{Scale, finite_values};
use super::season::Season;
use super::transform::Transform;
use super::zscore::ZEvidence;
use crate::schema::{self, MetricKind};

/// Fewest training rows the detector accepts: fewer gives no usable baseline.
pub const MIN_TRAIN_ROWS: usize = 32;

/// A flat run must be at least this long, and twice the longest seen in training,
/// before a metric is called frozen.
pub const MIN_FROZEN_RUN: u64 = 10;

/// Longest usual flat run (99th percentile) of a metric that can be called frozen:
/// beyond it the metric plateaus by nature (quantised or idle readings).
const MAX_USUAL_RUN: f64 = 2.0;

/// Blocks of consecutive training rows the scales, thresholds and incident bars
/// are calibrated on in a file too long to take every row: spread evenly over it,
/// so the calibration of a huge file costs no more than that of a large one.
pub(super) const CALIBRATION_BLOCKS: usize = 300;

/// Metrics a file may have and still be calibrated on [`CALIBRATION_BLOCKS`]
/// blocks. A wider file gets proportionally fewer (and is taken whole only up to
/// what they hold), so its calibration features stay within what 300 blocks of 64
/// metrics take, about 115 MB: 60,000 rows of 512 metrics peaked at 2.1 GB
/// calibrating on 300 blocks (technical.md, "Wide files").
const CALIBRATION_METRICS: usize = 64;

/// Fewest calibration blocks however wide the file: 1,880 rows, enough for the
/// scales' medians and the thresholds' 95th percentiles.
const MIN_CALIBRATION_BLOCKS: usize = 10;

/// How many calibration blocks a file of `metrics` metrics is calibrated on.
fn calibration_block_count(metrics: usize) -> usize {
    scaled_to_width(
        CALIBRATION_BLOCKS,
        CALIBRATION_METRICS,
        metrics,
        MIN_CALIBRATION_BLOCKS,
    )
}

/// Training rows the baseline medians, transforms and time-of-day profile are
/// taken from at most: a longer baseline gives every n-th row, so that a 10M-row
/// file trains in little more time than a 1M-row one. A million readings pin a
/// median far closer than the metrics' own noise.
const MAX_BASELINE_ROWS: usize = 1 << 20;

/// Consecutive rows per calibration block. Its first [`HOLD_ROWS`] rows only
/// carry the incidents open at the rest's start, whose flags are counted when the
/// opening bar is calibrated: without them, incidents cut at each block's start made
/// 16-row blocks flag 12.7 % of a million datagen rows and 128-row blocks 5.8 to
/// 6.6 %, against 5.6 % when every row is taken in one pass (technical.md).
pub(super) const CALIBRATION_BLOCK: usize = 128 + HOLD_ROWS as usize;

impl ValidDetectorParams {
    /// Learns the baseline from `train`, whose rows are in time order.
    pub fn fit(&self, train: &Frame) -> Result<Model, DetectorError> {
        let rows = train.rows();
        if train.names.is_empty() {
            return Err(DetectorError::NoMetrics);
        }
        if rows < MIN_TRAIN_ROWS {
            return Err(DetectorError::TooFewRows {
                needed: MIN_TRAIN_ROWS,
                found: rows,
            });
        }
        let stride = rows.div_ceil(MAX_BASELINE_ROWS);
        let baseline: Vec<Cow<[f64]>> = train
            .columns
            .par_iter()
            .map(|c| {
                if stride == 1 {
                    Cow::Borrowed(c.as_slice())
                } else {
                    Cow::Owned(c.iter().step_by(stride).copied().collect())
                }
            })
            .collect();
        let fill: Vec<f64> = baseline.par_iter().map(|c| median_of_finite(c)).collect();
        let transforms: Vec<Transform> = train
            .names
            .par_iter()
            .zip(&baseline)
            .zip(&fill)
            .map(|((name, column), &median)| Transform::choose(name, column, median))
            .collect();
        let season = train.times.as_deref().and_then(|times| {
            Season::fit(times, stride, &transforms, self.params.zone.as_ref(), |m| {
                baseline[m].iter().map(|&v| filled(&fill, m, v)).collect()
            })
        });
        let gap_ms = pause_for(train.times.as_deref());
        let expected = Expected {
            fill: &fill,
            transforms: &transforms,
            season: season.as_ref(),
            adaptation: None,
            gap_ms,
        };
        let columns: Vec<&[f64]> = train.columns.iter().map(Vec::as_slice).collect();
        let features = calibration_features(&columns, train.times.as_deref(), &expected);
        let rests_low: Vec<bool> = train
            .names
            .iter()
            .map(|name| !schema::describe(name).harm.towards(false))
            .collect();
        let (flat_limit, lowest) = flat_limits(&columns, &expected, &rests_low);
        let width = train.names.len() * features::PER_METRIC;
        let floors: Vec<f64> = (0..train.names.len())
            .map(|m| spread_floor(&train.names[m], transforms[m], fill[m]))
            .collect();
        let sub_minute = sub_minute_rate(train.times.as_deref());
        let calibration_rows: Vec<usize> = calibration_blocks(rows, train.names.len())
            .into_iter()
            .flatten()
            .collect();
        let scales: Vec<Scale> = (0..width)
            .into_par_iter()
            .map(|f| {
                let m = f / features::PER_METRIC;
                if f % features::PER_METRIC == features::TREND
                    && !trend_judged(transforms[m], sub_minute, rows)
                {
                    return Scale::unjudged();
                }
                Scale::fit(
                    &read_features(&features, width, f, columns[m], &calibration_rows),
                    floors[m],
                )
            })
            .collect();
        // The forest sees where the metrics stand together (their deviations); how
        // each one moves (its step and short mean) is the z-scores' part. Measured:
        // better fused F1 on ASD and SMD than giving the forest every feature, at a
        // third of the scoring cost (technical.md).
        let forest_features: Vec<usize> = (0..scales.len())
            .filter(|&f| !scales[f].constant && f % features::PER_METRIC == 0)
            .collect();
        let forest = if forest_features.is_empty() {
            None
        } else {
            let matrix = forest_matrix(&features, &scales, &forest_features);
            Some(
                self.params
                    .forest
                    .check()?
                    .fit(&matrix, forest_features.len())?,
            )
        };
        let mut model = Model {
            format: MODEL_FORMAT,
            metrics: train.names.clone(),
            trained_rows: rows,
            contamination: self.params.contamination,
            mode: self.params.mode,
            fill,
            transforms,
            season,
            scales,
            forest_features,
            forest,
            thresholds: Thresholds {
                forest: 1.0,
                z: 1.0,
                fused: 1.0,
                hold: 1.0,
                fading: sub_minute,
            },
            flat_limit,
            lowest,
            adapt_after: train
                .names
                .iter()
                .map(|name| AdaptAfter::for_metric(name, self.params.adapt_after))
                .collect(),
            gap_ms,
            harm: harms(&train.names),
        };
        let forest_scores = model.forest_scores(&features);
        let zs: Vec<f64> = features
            .par_chunks_exact(width)
            .map(|row| ZEvidence::of(row, &model.scales).signal())
            .collect();
        let q = 1.0 - self.params.contamination;
        model.thresholds.forest = quantile(&forest_scores, q);
        model.thresholds.z = quantile(&zs, q);
        let ratios: Vec<f64> = forest_scores
            .iter()
            .zip(&zs)
            .map(|(&f, &z)| model.thresholds.ratio(model.mode, f, z))
            .collect();
        (model.thresholds.fused, model.thresholds.hold) = incident_bars(
            &ratios,
            calibration_layout(rows, train.names.len()),
            self.params.contamination,
        );
        Ok(model)
    }
}

/// Feature `f`'s values on the calibration rows (`features` holds `width` per
/// row; `rows` are their training rows), leaving out the rows where its metric
/// (`column`) had no reading, unless it never had one. A filled reading sits on
/// the baseline median, so a metric missing from half the file had half its
/// values at 0 deviation, a spread a fraction of its own, and ordinary noise read
/// as 10 sigma wherever it was present.
fn read_features(
    features: &[f64],
    width: usize,
    f: usize,
    column: &[f64],
    rows: &[usize],
) -> Vec<f64> {
    let values = features.iter().skip(f).step_by(width).zip(rows);
    let read: Vec<f64> = values
        .clone()
        .filter(|&(_, &r)| !column[r].is_nan())
        .map(|(&v, _)| v)
        .collect();
    if read.is_empty() {
        values.map(|(&v, _)| v).collect()
    } else {
        read
    }
}

/// The smallest spread a metric's features may have, in model space: the size of a
/// change that still matters for what it measures. Half a percentage point for a
/// percent; 0.05 in log1p space for a rate (about 5 %, or 0.05 MB/s near idle); 2 %
/// of the level, and at least 0.1, for an amount (memory in GB, frequency, load,
/// process count). Nothing for unknown metrics, whose units say nothing.
fn spread_floor(name: &str, transform: Transform, level: f64) -> f64 {
    match crate::schema::describe(name).kind {
        MetricKind::Percent => 0.5,
        MetricKind::Rate => 0.05,
        MetricKind::Amount => (0.02 * transform.apply(level).abs()).max(0.1),
        MetricKind::Other => 0.0,
    }
}

/// The median of the finite values; 0 for none.
pub(super) fn median_of_finite(values: &[f64]) -> f64 {
    of_finite(values, |mut finite| order::median(&mut finite))
}

/// The `q` quantile (statrs' R-8 estimator) of the finite values; 0 for none. A
/// training row beyond measure (an infinite sigma, from a reading of 1e308) says
/// nothing about where the rows' tail stands: counted, it made the opening bar
/// infinite and the hold level NaN, so no later row could open an incident and
/// every row after it was held in the one it opened.
pub(super) fn quantile(values: &[f64], q: f64) -> f64 {
    of_finite(values, |mut finite| order::quantile(&mut finite, q))
}

/// `statistic` of the finite values of `values`; 0 when there are none.
fn of_finite(values: &[f64], statistic: impl FnOnce(Vec<f64>) -> f64) -> f64 {
    let finite = finite_values(values);
    if finite.is_empty() {
        0.0
    } else {
        statistic(finite)
    }
}

/// The combined ratios that open and hold an incident, from the calibration rows'
/// ratios (laid out as `layout` says): the lowest opening bar at which incidents,
/// held, flag at most the `contamination` share of the counted rows. An incident is
/// held while a row is at least half as far up the point-wise score scale (0.5 at
/// the rows' (1 - contamination) quantile `t`) as the opening bar, and above the
/// rows' median, so it closes once the metrics are back to typical.
///
/// The contamination bounds the flagged share; it is not a quota to fill. Where the
/// rows' top tail stands far beyond their bulk (a few real outliers among ordinary
/// rows), spending the whole share would open incidents on ordinary rows at the top
/// of the bulk. So the bar is never below [`OPEN_TOWARDS_TAIL`] of the way, in log
/// space, from `t` to the (1 - contamination / 10) quantile `q`, and the hold level
/// is that of a bar at least halfway ([`HOLD_TOWARDS_TAIL`]). Where the tail is
/// short (`q` near `t`) nothing changes. Measured against other rules in
/// technical.md.
pub(super) fn incident_bars(
    ratios: &[f64],
    layout: CalibrationLayout,
    contamination: f64,
) -> (f64, f64) {
    let t = quantile(ratios, 1.0 - contamination);
    if t.is_nan() || t <= 0.0 {
        return (t, t);
    }
    let median = quantile(ratios, 0.5);
    let tail = quantile(ratios, 1.0 - contamination / 10.0).max(t);
    let towards_tail = |share: f64| t * (tail / t).powf(share);
    let lowest = towards_tail(OPEN_TOWARDS_TAIL);
    let hold_floor = towards_tail(HOLD_TOWARDS_TAIL);
    let hold_for = |open: f64| {
        let open = open.max(hold_floor);
        (t * open / (open + 2.0 * t)).max(median)
    };
    let sequences = ratios.chunks(layout.sequence.max(1));
    let counted: usize = sequences
        .clone()
        .map(|s| s.len().saturating_sub(layout.lead_in))
        .sum();
    // Incidents held to the end, whether or not they fade when judged: fading only
    // shortens them, so the bound holds, and the bar does not fall to spend what
    // fading saves on ordinary rows (technical.md, "Fading at sub-minute rates").
    let share = |open: f64| {
        let hold = hold_for(open);
        let flagged: usize = sequences
            .clone()
            .map(|s| Hold::flagged_from(held_to_the_end(s, open, hold), layout.lead_in))
            .sum();
        flagged as f64 / counted.max(1) as f64
    };
    let mut bars: Vec<f64> = std::iter::once(lowest)
        .chain(
            ratios
                .iter()
                .copied()
                .filter(|&r| r > lowest && r.is_finite()),
        )
        .collect();
    bars.sort_by(f64::total_cmp);
    bars.dedup();
    // The flagged share only falls as the bar rises: the lowest bar within the
    // contamination is found by bisection.
    let (mut lo, mut hi) = (0, bars.len() - 1);
    while lo < hi {
        let mid = (lo + hi) / 2;
        if share(bars[mid]) <= contamination {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    (bars[lo], hold_for(bars[lo]))
}

/// The rows of `ratios` as the incident state machine takes them, opening at
/// `open`, holding at `hold` and not fading.
fn held_to_the_end(ratios: &[f64], open: f64, hold: f64) -> impl Iterator<Item = Step<'_>> + '_ {
    ratios.iter().map(move |&r| Step {
        opens: r >= open,
        holds: r > hold,
        fading: None,
    })
}

/// How far the opening bar reaches at least from the (1 - contamination) quantile
/// of the training ratios towards their (1 - contamination / 10) quantile, as a
/// share of the way in log space (see [`incident_bars`]). Chosen on the shared
/// files and `datagen` output (technical.md): 0.3 keeps every planted type's recall
/// at 60 s at 0.89 or more, where 0.5 lost the moderate ones (contextual 0.00).
const OPEN_TOWARDS_TAIL: f64 = 0.3;

/// The same for the bar the hold level is derived from: halfway, the geometric
/// middle. Holding in drift is what flagged machine-1-6's normal test rows.
const HOLD_TOWARDS_TAIL: f64 = 0.5;

/// How the calibration rows follow one another: in runs of `sequence` consecutive
/// training rows, the first `lead_in` of each only carrying the incidents open at
/// the rest's start.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct CalibrationLayout {
    /// Consecutive training rows per run.
    pub sequence: usize,
    /// Rows at each run's start that only carry the incidents already open.
    pub lead_in: usize,
}

/// Sampling intervals below which held incidents fade (see
/// [`super::hold::FADE_SHARE`]) and slow rises are judged by their trend (see
/// `trend_judged`): a minute. At one sample a minute or slower, an ordinary
/// burst is one row and a held tail is what the labelled real servers (ASD at 5
/// min, SMD at 1 min, NAB at 5 min) call part of the anomaly.
pub const SUB_MINUTE_MS: i64 = 60_000;

/// Whether rows at `times` (when they have times) come more often than once a
/// minute: their median step is under [`SUB_MINUTE_MS`].
fn sub_minute_rate(times: Option<&[i64]>) -> bool {
    times
        .and_then(crate::timestamp::median_step_ms)
        .is_some_and(|step| step < SUB_MINUTE_MS)
}

/// Whether a metric's `trend` feature (its move over the last
/// [`features::TREND_LAG`] samples) is judged: only for a metric modelled as it
/// reads (CPU, memory), sampled more often than once a minute. At 1 s a leak or
/// daytime load at night rises a little each sample, inside the baseline's
/// range, and stands out only over a minute. A bursty metric modelled as
/// log(1 + x) already shows a burst as a step, and its trend only adds a heavy
/// tail that lifts the bar; at a minute or slower the lag spans hours, and a test
/// period drifting from its training period was flagged wholesale (technical.md,
/// "A slow rise over a minute"). And only when at least [`MIN_TRAIN_ROWS`] of the
/// `rows` training rows come after a full [`features::MEMORY`]: before, the trend
/// is 0, and a training set of no other value (`--fit-rows 80`, `watch
/// --window-size 60`) took it for a constant, so that every move after it read
/// hundreds of sigma (a third of the rows of pure noise flagged, some critical).
fn trend_judged(transform: Transform, sub_minute: bool, rows: usize) -> bool {
    sub_minute && transform == Transform::Identity && rows >= features::MEMORY + MIN_TRAIN_ROWS
}

/// The calibration rows of a file of `rows` training rows of `metrics` metrics:
/// all of them in one run up to what its [`calibration_block_count`] blocks hold
/// (56,400 rows for up to [`CALIBRATION_METRICS`] metrics), so blocks never
/// overlap, else those blocks of [`CALIBRATION_BLOCK`].
pub(super) fn calibration_layout(rows: usize, metrics: usize) -> CalibrationLayout {
    if rows <= calibration_block_count(metrics) * CALIBRATION_BLOCK {
        CalibrationLayout {
            sequence: rows,
            lead_in: 0,
        }
    } else {
        CalibrationLayout {
            sequence: CALIBRATION_BLOCK,
            lead_in: HOLD_ROWS as usize,
        }
    }
}

/// The training rows the calibration of `metrics` metrics reads, in order: the
/// whole of `rows` when it is one [`calibration_layout`] sequence, else
/// [`calibration_block_count`] sequences spread evenly over them.
fn calibration_blocks(rows: usize, metrics: usize) -> Vec<std::ops::Range<usize>> {
    let sequence = calibration_layout(rows, metrics).sequence;
    if sequence == rows {
        return std::iter::once(0..rows).collect();
    }
    let blocks = calibration_block_count(metrics);
    (0..blocks)
        .map(|b| {
            let start = b * (rows - sequence) / (blocks - 1);
            start..start + sequence
        })
        .collect()
}

/// The features of the calibration rows (row-major, [`features::PER_METRIC`] per
/// metric), as [`calibration_layout`] lays them out, spread evenly over the file,
/// each with exactly the features a pass over every row would give.
pub(super) fn calibration_features(
    columns: &[&[f64]],
    times: Option<&[i64]>,
    expected: &Expected,
) -> Vec<f64> {
    let rows = columns.first().map_or(0, |c| c.len());
    let width = columns.len() * features::PER_METRIC;
    let blocks = calibration_blocks(rows, columns.len());
    // Each block's features go straight to their place: gathered and then joined,
    // they were held twice over.
    let mut all = vec![0.0; blocks.iter().map(|b| b.len()).sum::<usize>() * width];
    let mut places = Vec::with_capacity(blocks.len());
    let mut rest = all.as_mut_slice();
    for block in &blocks {
        let (place, after) = rest.split_at_mut(block.len() * width);
        places.push(place);
        rest = after;
    }
    blocks
        .into_par_iter()
        .zip(places)
        .for_each(|(block, place)| {
            let replayed = block.start.saturating_sub(features::MEMORY)..block.end;
            let deviations = expected.deviations(columns, times, replayed);
            let table = FeatureTable::compute(columns, &deviations, expected, block, None);
            place.copy_from_slice(&table.values);
        });
    all
}

/// Each metric's frozen limit, from the flat runs of its training readings (as
/// [`FlatRun::push`] counts them), and its lowest reading. For a
/// metric that `rests_low` (a low reading is no harm), runs at its lowest reading
/// are left out: they are rest, which is never judged frozen (a CPU at its floor
/// overnight), so they must not set the limit for the runs that are.
fn flat_limits(
    columns: &[&[f64]],
    expected: &Expected,
    rests_low: &[bool],
) -> (Vec<u64>, Vec<f64>) {
    columns
        .par_iter()
        .enumerate()
        .map(|(m, column)| {
            let lowest = column
                .iter()
                .map(|&raw| filled(expected.fill, m, raw))
                .fold(f64::INFINITY, f64::min);
            let mut counts = RunCounts::default();
            let mut count = |length: u64, value: f64| {
                if !(rests_low[m] && value <= lowest) {
                    counts.add(length);
                }
            };
            let mut flat = FlatRun::default();
            let (mut current, mut at) = (0, f64::NAN);
            for &raw in column.iter() {
                let value = filled(expected.fill, m, raw);
                let run = flat.push(raw);
                if run == 1 && current > 0 {
                    count(current, at);
                }
                (current, at) = (run, value);
            }
            count(current, at);
            (frozen_limit(&counts.by_length()), lowest)
        })
        .unzip()
}

/// How many flat runs of each length a metric had: a plain array for the short runs
/// that nearly every row ends, a map for the rare long ones.
#[derive(Debug, Clone, Default)]
struct RunCounts {
    short: Vec<usize>,
    long: BTreeMap<u64, usize>,
}

impl RunCounts {
    const SHORT: usize = 256;

    fn add(&mut self, length: u64) {
        match usize::try_from(length) {
            Ok(l) if l < Self::SHORT => {
                if self.short.is_empty() {
                    self.short = vec![0; Self::SHORT];
                }
                self.short[l] += 1;
            }
            _ => *self.long.entry(length).or_default() += 1,
        }
    }

    fn by_length(&self) -> BTreeMap<u64, usize> {
        let mut all = self.long.clone();
        for (length, &n) in self.short.iter().enumerate().filter(|(_, n)| **n > 0) {
            all.insert(length as u64, n);
        }
        all
    }
}

/// How long a flat run must be to call a metric frozen: three times the 99.9th
/// percentile of its flat runs in training (so a frozen episode among the training
/// rows does not excuse the next), and at least [`MIN_FROZEN_RUN`]. A metric that
/// often holds its value (quantised, idle) is never called frozen. `runs` counts
/// the training runs by length.
fn frozen_limit(runs: &BTreeMap<u64, usize>) -> u64 {
    let total: usize = runs.values().sum();
    let percentile = |q: f64| {
        let rank = (q * total as f64).ceil() as usize;
        let mut seen = 0;
        runs.iter()
            .find(|(_, n)| {
                seen += **n;
                seen >= rank
            })
            .map_or(0, |(&length, _)| length)
    };
    if percentile(0.99) as f64 > MAX_USUAL_RUN {
        u64::MAX
    } else {
        MIN_FROZEN_RUN.max(3 * percentile(0.999))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detector::params::DetectorParams;
    use crate::detector::rules::RuleSet;
    use crate::detector::test_data::{fitted, frame};
    use rand::rngs::StdRng;
    use rand::{RngExt, SeedableRng};

    #[test]
    fn calibration_blocks_have_exactly_the_features_of_a_full_pass() {
        let train = frame(CALIBRATION_BLOCKS * CALIBRATION_BLOCK + 5_000, 9);
        let columns: Vec<&[f64]> = train.columns.iter().map(Vec::as_slice).collect();
        let fill = vec![30.0, 50.0, 2.0];
        let transforms = vec![Transform::Identity, Transform::Identity, Transform::Log1p];
        let expected = Expected {
            fill: &fill,
            transforms: &transforms,
            season: None,
            adaptation: None,
            gap_ms: None,
        };
        let rows = train.rows();
        let deviations = expected.deviations(&columns, None, 0..rows);
        let full = FeatureTable::compute(&columns, &deviations, &expected, 0..rows, None);
        let sample = calibration_features(&columns, None, &expected);
        assert_eq!(
            sample.len(),
            CALIBRATION_BLOCKS * CALIBRATION_BLOCK * full.width
        );
        let blocks = CALIBRATION_BLOCKS;
        for (b, block) in sample
            .chunks_exact(CALIBRATION_BLOCK * full.width)
            .enumerate()
        {
            let start = b * (rows - CALIBRATION_BLOCK) / (blocks - 1);
            let expected_rows =
                &full.values[start * full.width..(start + CALIBRATION_BLOCK) * full.width];
            assert_eq!(block, expected_rows, "block {b} at row {start}");
        }
    }

    #[test]
    fn a_wide_file_is_calibrated_on_fewer_rows_so_its_features_take_the_same_memory() {
        for (metrics, blocks) in [
            (1, 300),
            (8, 300),
            (64, 300),
            (128, 150),
            (512, 37),
            (5000, 10),
        ] {
            assert_eq!(
                calibration_block_count(metrics),
                blocks,
                "{metrics} metrics"
            );
        }
        let whole = calibration_layout(6_956, 512);
        assert_eq!((whole.sequence, whole.lead_in), (6_956, 0));
        let blocks = calibration_blocks(60_000, 512);
        assert_eq!(blocks.len(), 37);
        assert!(blocks.iter().all(|b| b.len() == CALIBRATION_BLOCK));
        assert!(blocks.windows(2).all(|w| w[0].end <= w[1].start));
        assert_eq!((blocks[0].start, blocks[36].end), (0, 60_000));
        // Files of up to 64 metrics are calibrated as before.
        assert_eq!(calibration_blocks(60_000, 38).len(), CALIBRATION_BLOCKS);
        assert_eq!(
            calibration_layout(CALIBRATION_BLOCKS * CALIBRATION_BLOCK, 64).sequence,
            CALIBRATION_BLOCKS * CALIBRATION_BLOCK
        );
    }

    #[test]
    fn too_few_rows_is_a_named_error() {
        let err = fitted_err(&frame(31, 1));
        assert!(err.contains("at least 32 rows, got 31"), "{err}");
    }

    fn fitted_err(train: &Frame) -> String {
        DetectorParams::default()
            .check()
            .unwrap()
            .fit(train)
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn contamination_sets_the_training_flag_rate() {
        let train = frame(2000, 2);
        let model = fitted(&train);
        let verdicts = model
            .score_frame(&train, &RuleSet::default(), &|_| {})
            .unwrap();
        let rate = verdicts.iter().filter(|v| v.is_anomaly).count() as f64 / 2000.0;
        assert!((0.04..=0.05).contains(&rate), "flag rate {rate}");
    }

    #[test]
    fn incident_bars_flag_the_contamination_share_of_the_training_rows() {
        let mut rng = StdRng::seed_from_u64(13);
        // Mostly noise, with elevated stretches that incidents hold.
        let ratios: Vec<f64> = (0..5000)
            .map(|r| rng.random_range(0.0..1.0) + if r % 500 < 30 { 0.6 } else { 0.0 })
            .collect();
        let layout = calibration_layout(ratios.len(), 8);
        assert_eq!(layout.lead_in, 0);
        let (open, hold) = incident_bars(&ratios, layout, 0.05);
        let t = quantile(&ratios, 0.95);
        assert!(open > t && hold < open, "{open} {hold} {t}");
        assert!(hold >= quantile(&ratios, 0.5));
        let flagged = Hold::flagged_from(held_to_the_end(&ratios, open, hold), 0);
        let share = flagged as f64 / ratios.len() as f64;
        assert!((0.045..=0.05).contains(&share), "{share}");
    }

    #[test]
    fn a_training_row_beyond_measure_leaves_the_bars_finite() {
        let mut rng = StdRng::seed_from_u64(5);
        let mut ratios: Vec<f64> = (0..200).map(|_| rng.random_range(0.0..1.0)).collect();
        ratios[150] = f64::INFINITY;
        let (open, hold) = incident_bars(&ratios, calibration_layout(ratios.len(), 8), 0.05);
        // Counted, the row made the bar infinite and the hold level NaN.
        assert!(open.is_finite() && open < 2.0, "{open}");
        assert!(hold.is_finite() && hold < open, "{hold}");
    }

    #[test]
    fn the_contamination_bounds_the_flagged_share_and_is_not_filled_with_ordinary_rows() {
        let mut rng = StdRng::seed_from_u64(21);
        // Ordinary rows, and 1 % of far outliers: fewer than the contamination.
        let ratios: Vec<f64> = (0..10_000)
            .map(|r| {
                if r % 100 == 50 {
                    10.0
                } else {
                    rng.random_range(0.0..1.0)
                }
            })
            .collect();
        let (open, hold) = incident_bars(&ratios, calibration_layout(ratios.len(), 8), 0.05);
        assert!(open > 1.0, "the bar {open} must clear every ordinary row");
        assert!(hold < open);
        let opened = ratios.iter().filter(|&&r| r >= open).count();
        assert_eq!(opened, 100, "every outlier opens an incident");
        let flagged = Hold::flagged_from(held_to_the_end(&ratios, open, hold), 0);
        let share = flagged as f64 / ratios.len() as f64;
        assert!(share <= 0.025, "{share} flagged, for 1 % outliers");
    }

    #[test]
    fn incidents_fade_only_where_rows_are_sampled_more_often_than_once_a_minute() {
        let at = |step_ms: i64| (0..100).map(|i| i * step_ms).collect::<Vec<i64>>();
        assert!(sub_minute_rate(Some(&at(1000))));
        assert!(!sub_minute_rate(Some(&at(60_000))));
        assert!(!sub_minute_rate(Some(&at(300_000))));
        assert!(!sub_minute_rate(None));
        let mut train = frame(500, 12);
        assert!(!fitted(&train).thresholds.fading);
        train.times = Some((0..500).map(|i| i * 1000).collect());
        assert!(fitted(&train).thresholds.fading);
    }

    #[test]
    fn runs_at_rest_do_not_set_the_frozen_limit_of_a_metric_that_rests_low() {
        // CPU and an unnamed metric with the same readings: noise, and every 1000
        // rows 40 at the floor, the lowest reading (an idle host overnight).
        let mut train = frame(2000, 3);
        for r in 0..2000 {
            if r % 1000 < 40 {
                train.columns[0][r] = 20.0;
            }
        }
        train.columns[1] = train.columns[0].clone();
        train.names[1] = "queue_depth".into();
        let model = fitted(&train);
        // A CPU at rest is never judged frozen, so its rests do not count; a metric
        // that may harm either way is frozen wherever it sits, so they do.
        assert_eq!(model.flat_limit[0], MIN_FROZEN_RUN);
        assert_eq!(model.flat_limit[1], 3 * 40);
    }

    #[test]
    fn the_trend_is_judged_only_for_plain_metrics_sampled_faster_than_once_a_minute() {
        let trend =
            |model: &Model, m: usize| model.scales[m * features::PER_METRIC + features::TREND];
        let mut train = frame(500, 12);
        let untimed = fitted(&train);
        assert!((0..3).all(|m| trend(&untimed, m).sigma(1e6) == 0.0));
        train.times = Some((0..500).map(|i| i * 1000).collect());
        let model = fitted(&train);
        assert_eq!(model.transforms[0], Transform::Identity);
        assert!(!trend(&model, 0).constant && trend(&model, 0).sigma(1e6) > 0.0);
        assert_eq!(model.transforms[2], Transform::Log1p);
        assert_eq!(trend(&model, 2).sigma(1e6), 0.0, "a bursty metric's trend");
        train.times = Some((0..500).map(|i| i * 60_000).collect());
        assert_eq!(trend(&fitted(&train), 0).sigma(1e6), 0.0, "a minute apart");
    }

    #[test]
    fn a_metric_that_never_moved_is_left_to_the_z_scores_and_still_named_when_it_moves() {
        // An idle host: CPU and memory noise, a disk that never read in the baseline.
        let mut train = frame(300, 5);
        train.columns[2] = vec![0.0; 300];
        let model = fitted(&train);
        assert_eq!(
            model.forest_features,
            [0, features::PER_METRIC],
            "no shape for the forest"
        );
        let judge = |read: f64| {
            let mut rows = train.head(40);
            rows.columns[2][39] = read;
            let verdicts = model
                .score_frame(&rows, &RuleSet::default(), &|_| {})
                .unwrap();
            verdicts[39].clone()
        };
        // The floor itself, 1 sigma: no news, as the z-scores say.
        let floor = judge(0.05);
        assert!(!floor.is_anomaly, "{floor:?}");
        let read = &judge(50.0);
        assert!(read.is_anomaly, "{read:?}");
        assert_eq!(read.top_metric, Some(2));
        assert!(
            read.reasons
                .iter()
                .any(|r| r.starts_with("disk_read_mb 50.0 MB/s")),
            "{read:?}"
        );
    }

    #[test]
    fn same_seed_same_verdicts() {
        let train = frame(500, 12);
        assert_eq!(fitted(&train), fitted(&train));
    }
}
