//! What a pass over rows, batch or live, remembers of each metric (its recent
//! past, flat run and adapted level), what each metric is expected to read, and the
//! feature table a block of rows becomes: the one way from readings to features.

use rayon::prelude::*;

use super::features::{self, FlatRun, History};
use super::level::{AdaptAfter, Level, Reference};
use super::scaling::Scale;
use super::season::Season;
use super::transform::Transform;
use crate::schema::{self, Harm};

/// What a pass over rows, batch or live, remembers of one metric.
#[derive(Debug, Clone, Default)]
pub(super) struct Memory {
    /// The recent past its features come from.
    pub history: History,
    /// Its current run of identical readings.
    pub flat: FlatRun,
    /// The shift from its baseline it has been judged against since the shift
    /// persisted.
    pub level: Level,
}

/// What a batch block takes over from the rows before it, per metric: found by one
/// pass over each column, so blocks judged in parallel match a pass in order.
#[derive(Debug, Clone, Copy)]
pub(super) struct Carried {
    /// The flat run just before the block.
    pub flat: FlatRun,
    /// The adapted level [`features::MEMORY`] rows before the block, where the
    /// block's replay of its recent past starts.
    pub level: Level,
}

/// Where a pass over rows stands with one metric apart from its recent past (which
/// a replay of the rows before rebuilds): its flat run and adapted level.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Standing {
    /// Its current run of identical readings.
    pub flat: FlatRun,
    /// Its adapted level.
    pub level: Level,
}

impl Standing {
    fn of(memory: &Memory) -> Standing {
        Standing {
            flat: memory.flat,
            level: memory.level,
        }
    }
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
    /// Each row's expected value of each metric (model space), row-major.
    pub expected: Vec<f64>,
    /// What each row's deviations of each metric are measured against, row-major:
    /// features undo to raw deviations with it.
    pub references: Vec<Reference>,
    /// Each row's flat run of each metric, row-major.
    pub runs: Vec<u64>,
}

/// A reading as the detector sees it: a missing one is its baseline median.
pub(super) fn filled(fill: &[f64], metric: usize, raw: f64) -> f64 {
    if raw.is_nan() { fill[metric] } else { raw }
}

/// Per metric of `names`, the way a move is harm, from the catalogue: what
/// [`Adaptation::harm`] holds.
pub(super) fn harms(names: &[String]) -> Vec<Harm> {
    names
        .iter()
        .map(|name| schema::describe(name).harm)
        .collect()
}

/// What each metric is expected to read, in model space: its time-of-day profile
/// when one was learned and the row has a time, else its baseline median; plus the
/// shift it has been adapted to (see [`super::level`]).
pub(super) struct Expected<'a> {
    /// Each metric's baseline median, which stands in for a missing reading.
    pub fill: &'a [f64],
    /// Each metric's transform into model space.
    pub transforms: &'a [Transform],
    /// The time-of-day profile, when one was learned.
    pub season: Option<&'a Season>,
    /// How each metric's level adapts, and which way its trend counts; `None`
    /// while training, when nothing adapts and every trend is found either way.
    pub adaptation: Option<Adaptation<'a>>,
    /// A pause in the rows longer than this (ms) starts every metric's recent past
    /// afresh (see [`PAUSE_STEPS`]); `None` never does (rows without times, or a
    /// model saved before pauses were told).
    pub gap_ms: Option<i64>,
}

/// How each metric's level adapts (see [`super::level`]).
#[derive(Clone, Copy)]
pub(super) struct Adaptation<'a> {
    /// The feature scales, [`features::PER_METRIC`] per metric: a metric's
    /// deviation scale measures its shifts.
    pub scales: &'a [Scale],
    /// Per metric, samples a shift must persist before it is absorbed.
    pub after: &'a [AdaptAfter],
    /// Per metric, the way a move is harm (see [`schema::Harm`]): the only way a
    /// judged trend counts. Training finds every trend either way: a trend's scale
    /// is the size of the slow moves a metric makes, and the bar calibrated on them
    /// all stays a bound (leaving out a fall only lowers a row's ratio). Measured
    /// in technical.md ("A slow fall is no trend").
    pub harm: &'a [Harm],
}

/// One reading turned into features by [`Expected::read`].
pub(super) struct MetricFeatures {
    features: [f64; features::PER_METRIC],
    expected: f64,
    reference: Reference,
    run: u64,
}

/// Each metric's [`Expected::deviation`] for a run of rows, found once by
/// [`Expected::deviations`].
pub(super) struct Deviations {
    /// The first row the run covers.
    first: usize,
    /// Per metric, what each row is expected to read.
    expected: Vec<Vec<f64>>,
    /// Per metric, each row's reading less that.
    deviation: Vec<Vec<f64>>,
    /// The rows of the run that come after a pause (see [`after_pause`]).
    pauses: Vec<usize>,
}

impl Deviations {
    /// Metric `m`'s expected value and deviation at row `r`.
    fn of(&self, m: usize, r: usize) -> (f64, f64) {
        let i = r - self.first;
        (self.expected[m][i], self.deviation[m][i])
    }

    /// Whether row `r` comes after a pause.
    pub(super) fn after_pause(&self, r: usize) -> bool {
        self.pauses.binary_search(&r).is_ok()
    }
}

/// Sampling intervals a pause in the rows must pass to start every metric's
/// recent past afresh: more than the [`features::MEMORY`] readings the features
/// remember, so nothing they would compare across it is recent. A laptop asleep
/// overnight, a host down for an hour or a file with hours missing made each
/// metric's first readings after the pause steps "from its recent level" of hours
/// before, and its trend a rise over the missing hours: a false incident of a
/// minute or more. The baseline, the adapted levels and the flat runs go on; an
/// incident held open before the pause is not held past it.
pub(super) const PAUSE_STEPS: i64 = features::MEMORY as i64;

/// The pause that starts the recent past afresh, for rows at `times`: [`PAUSE_STEPS`]
/// of their median step; none without times.
pub(super) fn pause_for(times: Option<&[i64]>) -> Option<i64> {
    times
        .and_then(crate::timestamp::median_step_ms)
        .map(|step| step.saturating_mul(PAUSE_STEPS))
}

/// Whether a row at `now` comes after a pause since the row at `before`.
pub(super) fn after_pause(before: Option<i64>, now: Option<i64>, pause_ms: Option<i64>) -> bool {
    match (before, now, pause_ms) {
        (Some(before), Some(now), Some(pause)) => now.saturating_sub(before) > pause,
        _ => false,
    }
}

impl Expected<'_> {
    pub(super) fn at(&self, metric: usize, time: Option<i64>) -> f64 {
        match (self.season, time) {
            (Some(season), Some(t)) => season.at(metric, t),
            _ => self.transforms[metric].apply(self.fill[metric]),
        }
    }

    /// Steps `metric`'s adapted level with its deviation `deviation` (model space;
    /// a missing reading leaves the level as it is), remeasuring the recent past
    /// when the level changed, and returns the deviation as the features take it.
    fn adapted(&self, memory: &mut Memory, metric: usize, raw: f64, deviation: f64) -> f64 {
        let Some((scale, after)) = self.adaptation.and_then(|a| {
            Some((
                a.scales.get(metric * features::PER_METRIC)?,
                *a.after.get(metric)?,
            ))
        }) else {
            return deviation;
        };
        let before = memory.level.reference();
        if !raw.is_nan() && memory.level.step(deviation, scale, after) {
            let after = memory.level.reference();
            memory
                .history
                .remeasure(|f| after.feature(before.raw(f, scale.median), scale.median));
        }
        memory.level.reference().feature(deviation, scale.median)
    }

    /// Feeds a raw reading of `metric` at `time` to its memory, `paused` when its
    /// row comes after a pause (see [`after_pause`]): the one step from reading to
    /// features, for batch and live alike.
    pub(super) fn read(
        &self,
        memory: &mut Memory,
        metric: usize,
        raw: f64,
        time: Option<i64>,
        paused: bool,
    ) -> MetricFeatures {
        let (at, deviation) = self.deviation(metric, raw, time);
        self.read_deviation(memory, metric, raw, at, deviation, paused)
    }

    /// What `metric` is expected to read at `time` and how far its raw reading `raw`
    /// is from that, both in model space.
    fn deviation(&self, metric: usize, raw: f64, time: Option<i64>) -> (f64, f64) {
        let value = self.transforms[metric].apply(filled(self.fill, metric, raw));
        let at = self.at(metric, time);
        (at, value - at)
    }

    /// [`Expected::read`] given the reading's [`Expected::deviation`] (`at`,
    /// `deviation`), found beforehand for a run of rows, and whether it comes
    /// after a pause. Flat runs count identical readings as taken (see
    /// [`FlatRun::push`]), not their transforms.
    fn read_deviation(
        &self,
        memory: &mut Memory,
        metric: usize,
        raw: f64,
        at: f64,
        deviation: f64,
        paused: bool,
    ) -> MetricFeatures {
        if paused {
            memory.history = History::default();
        }
        let deviation = self.adapted(memory, metric, raw, deviation);
        // Training finds every trend, to fit the scales of those it judges.
        let trend = match self.adaptation {
            None => Some(Harm::Either),
            Some(a) => a
                .scales
                .get(metric * features::PER_METRIC + features::TREND)
                .is_some_and(Scale::judged)
                .then(|| a.harm.get(metric).copied().unwrap_or(Harm::Either)),
        };
        MetricFeatures {
            features: memory.history.push(at + deviation, at, trend),
            expected: at,
            reference: memory.level.reference(),
            run: memory.flat.push(raw),
        }
    }

    /// The [`Expected::deviation`] of every reading in `rows` of `columns`, in
    /// parallel over runs of rows: found once for a batch part, then read by the
    /// pass that carries levels into blocks and by the blocks.
    pub(super) fn deviations(
        &self,
        columns: &[&[f64]],
        times: Option<&[i64]>,
        rows: std::ops::Range<usize>,
    ) -> Deviations {
        /// Rows one task maps: many tasks a metric, so a logged metric's cost
        /// spreads over every core.
        const RUN: usize = 8192;
        let (expected, deviation) = columns
            .iter()
            .enumerate()
            .map(|(m, column)| {
                let mut at = vec![0.0; rows.len()];
                let mut off = vec![0.0; rows.len()];
                at.par_chunks_mut(RUN)
                    .zip(off.par_chunks_mut(RUN))
                    .enumerate()
                    .for_each(|(k, (at, off))| {
                        let first = rows.start + k * RUN;
                        for (i, (a, d)) in at.iter_mut().zip(off).enumerate() {
                            let r = first + i;
                            (*a, *d) = self.deviation(m, column[r], times.map(|t| t[r]));
                        }
                    });
                (at, off)
            })
            .unzip();
        let pauses = match times {
            Some(times) => rows
                .clone()
                .filter(|&r| r > 0 && after_pause(Some(times[r - 1]), Some(times[r]), self.gap_ms))
                .collect(),
            None => Vec::new(),
        };
        Deviations {
            first: rows.start,
            expected,
            deviation,
            pauses,
        }
    }

    /// What each metric carries into each block starting at a row of `starts`
    /// (ascending), from one pass over its column (and its `deviations`) that
    /// begins from `from` (fresh when `None`), and where it stands just before row
    /// `snapshot`: one pass finds both.
    pub(super) fn carried_before(
        &self,
        columns: &[&[f64]],
        deviations: &Deviations,
        starts: &[usize],
        from: Option<&[Standing]>,
        snapshot: usize,
    ) -> (Vec<Vec<Carried>>, Vec<Standing>) {
        columns
            .par_iter()
            .enumerate()
            .map(|(m, column)| {
                // What a pass remembers of the metric after its reading at row `r`,
                // its features aside.
                let step = |memory: &mut Memory, r: usize| {
                    let raw = column[r];
                    if self.adaptation.is_some() {
                        self.adapted(memory, m, raw, deviations.of(m, r).1);
                    }
                    memory.flat.push(raw);
                };
                let mut memory = Memory::default();
                if let Some(s) = from.and_then(|f| f.get(m)) {
                    memory.flat = s.flat;
                    memory.level = s.level;
                }
                let mut standing = None;
                let mut walk = |memory: &mut Memory, rows: std::ops::Range<usize>| {
                    for r in rows {
                        if r == snapshot {
                            standing = Some(Standing::of(memory));
                        }
                        step(memory, r);
                    }
                };
                let mut states = Vec::with_capacity(starts.len());
                let mut row = 0;
                for &start in starts {
                    let replay = start.saturating_sub(features::MEMORY).max(row);
                    walk(&mut memory, row..replay);
                    let level = memory.level;
                    walk(&mut memory, replay..start);
                    row = start;
                    states.push(Carried {
                        flat: memory.flat,
                        level,
                    });
                }
                walk(&mut memory, row..snapshot.max(row));
                let standing = standing.unwrap_or_else(|| Standing::of(&memory));
                (states, standing)
            })
            .unzip()
    }
}

impl FeatureTable {
    /// The features of the rows in `block`, exactly as one pass over every row from
    /// the first would give them: memories starting from `carried`'s levels (fresh
    /// when `None`) replay the [`features::MEMORY`] rows before the block, then take
    /// its flat runs. `deviations` covers those rows.
    pub(super) fn compute(
        columns: &[&[f64]],
        deviations: &Deviations,
        expected: &Expected,
        block: std::ops::Range<usize>,
        carried: Option<&[Carried]>,
    ) -> FeatureTable {
        let metrics = columns.len();
        let mut memories = fresh_memories(metrics);
        if let Some(carried) = carried {
            for (memory, c) in memories.iter_mut().zip(carried) {
                memory.level = c.level;
            }
        }
        let read = |memory: &mut Memory, m: usize, r: usize, paused: bool| {
            let (at, deviation) = deviations.of(m, r);
            expected.read_deviation(memory, m, columns[m][r], at, deviation, paused)
        };
        for r in block.start.saturating_sub(features::MEMORY)..block.start {
            let paused = deviations.after_pause(r);
            for (m, memory) in memories.iter_mut().enumerate() {
                read(memory, m, r, paused);
            }
        }
        if let Some(carried) = carried {
            for (memory, c) in memories.iter_mut().zip(carried) {
                memory.flat = c.flat;
            }
        }
        let mut table = FeatureTable::with_capacity(metrics, block.len());
        for r in block {
            let paused = deviations.after_pause(r);
            for (m, memory) in memories.iter_mut().enumerate() {
                table.push(read(memory, m, r, paused));
            }
        }
        table
    }

    pub(super) fn with_capacity(metrics: usize, rows: usize) -> FeatureTable {
        let width = metrics * features::PER_METRIC;
        FeatureTable {
            width,
            values: Vec::with_capacity(rows * width),
            expected: Vec::with_capacity(rows * metrics),
            references: Vec::with_capacity(rows * metrics),
            runs: Vec::with_capacity(rows * metrics),
        }
    }

    /// Appends one metric's features, expected value, reference and run to the row
    /// being built: a row is complete once every metric, in order, is pushed.
    pub(super) fn push(&mut self, read: MetricFeatures) {
        self.values.extend_from_slice(&read.features);
        self.expected.push(read.expected);
        self.references.push(read.reference);
        self.runs.push(read.run);
    }

    pub(super) fn row(&self, row: usize) -> &[f64] {
        &self.values[row * self.width..(row + 1) * self.width]
    }
}
