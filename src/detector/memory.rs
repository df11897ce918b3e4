//! What a pass over rows, batch or live, remembers of each metric (its recent
//! past and flat run), what each metric is expected to read, and the feature table
//! a block of rows becomes: the one way from readings to features.

use rayon::prelude::*;

use super::features::{self, FlatRun, History};
use super::season::Season;
use super::transform::Transform;

/// What a pass over rows, batch or live, remembers of one metric.
#[derive(Debug, Clone, Default)]
pub(super) struct Memory {
    /// The recent past its features come from.
    pub history: History,
    /// Its current run of identical readings.
    pub flat: FlatRun,
}

pub(super) fn fresh_memories(n: usize) -> Vec<Memory> {
    vec![Memory::default(); n]
}

/// Features of a block of rows, row-major: [`features::PER_METRIC`] per metric,
/// and for each row and metric its expected value (model space) and flat-run length.
pub(super) struct FeatureTable {
    /// Features per row.
    pub width: usize,
    /// The features, row-major.
    pub values: Vec<f64>,
    /// Each row's expected value of each metric, row-major.
    pub expected: Vec<f64>,
    /// Each row's flat run of each metric, row-major.
    pub runs: Vec<u64>,
}

/// A reading as the detector sees it: a missing one is its baseline median.
pub(super) fn filled(fill: &[f64], metric: usize, raw: f64) -> f64 {
    if raw.is_nan() { fill[metric] } else { raw }
}

/// What each metric is expected to read, in model space: its time-of-day profile
/// when one was learned and the row has a time, else its baseline median.
pub(super) struct Expected<'a> {
    /// Each metric's baseline median, which stands in for a missing reading.
    pub fill: &'a [f64],
    /// Each metric's transform into model space.
    pub transforms: &'a [Transform],
    /// The time-of-day profile, when one was learned.
    pub season: Option<&'a Season>,
}

/// One reading turned into features by [`Expected::read`].
pub(super) struct MetricFeatures {
    features: [f64; features::PER_METRIC],
    expected: f64,
    run: u64,
}

impl Expected<'_> {
    pub(super) fn at(&self, metric: usize, time: Option<i64>) -> f64 {
        match (self.season, time) {
            (Some(season), Some(t)) => season.at(metric, t),
            _ => self.transforms[metric].apply(self.fill[metric]),
        }
    }

    /// Feeds a raw reading of `metric` at `time` to its memory: the one step from
    /// reading to features, for batch and live alike. Flat runs count identical
    /// readings as taken (missing ones filled), not their transforms.
    pub(super) fn read(
        &self,
        memory: &mut Memory,
        metric: usize,
        raw: f64,
        time: Option<i64>,
    ) -> MetricFeatures {
        let reading = filled(self.fill, metric, raw);
        let expected = self.at(metric, time);
        MetricFeatures {
            features: memory
                .history
                .push(self.transforms[metric].apply(reading), expected),
            expected,
            run: memory.flat.push(reading),
        }
    }

    /// Each metric's flat run as it stands just before each row of `starts`
    /// (ascending), from one pass over its column.
    pub(super) fn flat_runs_before(
        &self,
        columns: &[&[f64]],
        starts: &[usize],
    ) -> Vec<Vec<FlatRun>> {
        columns
            .par_iter()
            .enumerate()
            .map(|(m, column)| {
                let mut flat = FlatRun::default();
                let mut states = Vec::with_capacity(starts.len());
                let mut row = 0;
                for &start in starts {
                    for &raw in &column[row..start] {
                        flat.push(filled(self.fill, m, raw));
                    }
                    row = start;
                    states.push(flat);
                }
                states
            })
            .collect()
    }
}

impl FeatureTable {
    /// The features of the rows in `block`, exactly as one pass over every row from
    /// the first would give them: fresh memories replay the [`features::MEMORY`]
    /// rows before the block, then take `flat` (each metric's flat run just before
    /// the block; fresh runs when `None`).
    pub(super) fn compute(
        columns: &[&[f64]],
        times: Option<&[i64]>,
        expected: &Expected,
        block: std::ops::Range<usize>,
        flat: Option<&[FlatRun]>,
    ) -> FeatureTable {
        let metrics = columns.len();
        let mut memories = fresh_memories(metrics);
        for r in block.start.saturating_sub(features::MEMORY)..block.start {
            for (m, memory) in memories.iter_mut().enumerate() {
                expected.read(memory, m, columns[m][r], times.map(|t| t[r]));
            }
        }
        if let Some(flat) = flat {
            for (memory, &run) in memories.iter_mut().zip(flat) {
                memory.flat = run;
            }
        }
        let mut table = FeatureTable::with_capacity(metrics, block.len());
        for r in block {
            table.push_row(
                expected,
                &mut memories,
                |m| columns[m][r],
                times.map(|t| t[r]),
            );
        }
        table
    }

    pub(super) fn with_capacity(metrics: usize, rows: usize) -> FeatureTable {
        let width = metrics * features::PER_METRIC;
        FeatureTable {
            width,
            values: Vec::with_capacity(rows * width),
            expected: Vec::with_capacity(rows * metrics),
            runs: Vec::with_capacity(rows * metrics),
        }
    }

    /// Steps each metric's memory with its reading in one row (`reading(m)`, raw)
    /// taken at `time`, and appends the row's features, expected values and runs.
    pub(super) fn push_row(
        &mut self,
        expected: &Expected,
        memories: &mut [Memory],
        reading: impl Fn(usize) -> f64,
        time: Option<i64>,
    ) {
        for (m, memory) in memories.iter_mut().enumerate() {
            let read = expected.read(memory, m, reading(m), time);
            self.values.extend_from_slice(&read.features);
            self.expected.push(read.expected);
            self.runs.push(read.run);
        }
    }

    pub(super) fn row(&self, row: usize) -> &[f64] {
        &self.values[row * self.width..(row + 1) * self.width]
    }
}
