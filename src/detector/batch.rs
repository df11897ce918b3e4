//! Batch: every row of a frame judged, in order, exactly as a [`super::Stream`]
//! would one by one. Blocks of rows are featured and scored in parallel, each into
//! its own place in the result, then one pass in order places them in incidents.

use rayon::prelude::*;

use super::error::DetectorError;
use super::features;
use super::frame::{Frame, scaled_to_width};
use super::fusion::{self, Pending, RowInput};
use super::hold::Hold;
use super::memory::{Carried, FeatureTable, Standing};
use super::model::Model;
use super::rules::RuleSet;
use super::verdict::Verdict;

/// Rows one task features, scores and judges at once in batch, for a file of up to
/// [`BLOCK_METRICS`] metrics: few enough that a block's features stay in cache and
/// every core gets many blocks, many enough that replaying the
/// [`super::features::MEMORY`] rows before each costs little.
pub(super) const SCORE_BLOCK: usize = 4096;

/// Metrics a file may have and still be judged in blocks of [`SCORE_BLOCK`] rows: a
/// wider file gets proportionally fewer rows per block, down to
/// [`MIN_SCORE_BLOCK`], so a block's features take about as much memory. Blocks of
/// 4,096 rows of 512 metrics took 117 MB each, one per core.
const BLOCK_METRICS: usize = 32;

/// Fewest rows per block however wide the file: the rows each replays are then a
/// quarter of its own.
const MIN_SCORE_BLOCK: usize = 256;

/// Rows per block for a file of `metrics` metrics. The verdicts do not depend on
/// it (each block replays the rows before it).
pub(super) fn score_block(metrics: usize) -> usize {
    scaled_to_width(SCORE_BLOCK, BLOCK_METRICS, metrics, MIN_SCORE_BLOCK)
}

/// Where a batch pass over a file stands after some of its rows: what the next rows
/// take over from them, so a file judged window by window (a stream too large to
/// hold) gets exactly the verdicts of one pass over every row.
#[derive(Debug, Clone, Default)]
pub struct Resume {
    /// The last [`features::MEMORY`] readings (or fewer, early on) of each of the
    /// model's metrics, which the next rows' features replay.
    tail: Vec<Vec<f64>>,
    /// Their times, when the file has them.
    tail_times: Option<Vec<i64>>,
    /// Each metric's standing just before the tail.
    standing: Option<Vec<Standing>>,
    /// The incident open after the last row, if any.
    hold: Hold,
}

impl Resume {
    fn context(&self) -> usize {
        self.tail.first().map_or(0, Vec::len)
    }
}

impl Model {
    /// Judges every row of `frame`, in order, exactly as [`super::Stream`] would one by one.
    /// Blocks of rows are judged in parallel, then one pass in order places them in
    /// incidents; `progress` is called with the number of rows just judged after
    /// each block.
    pub fn score_frame(
        &self,
        frame: &Frame,
        rules: &RuleSet,
        progress: &(dyn Fn(usize) + Sync),
    ) -> Result<Vec<Verdict>, DetectorError> {
        self.score_rows_after(
            frame,
            0..frame.rows(),
            rules,
            progress,
            &mut Resume::default(),
        )
    }

    /// As [`Model::score_frame`], for the rows `rows` of `frame`, as the rows that
    /// follow those `resume` stands after (none, when fresh), and moves `resume`
    /// past them: parts of a file judged one after the other get the verdicts of
    /// the whole file judged at once.
    pub fn score_rows_after(
        &self,
        frame: &Frame,
        rows: std::ops::Range<usize>,
        rules: &RuleSet,
        progress: &(dyn Fn(usize) + Sync),
        resume: &mut Resume,
    ) -> Result<Vec<Verdict>, DetectorError> {
        let positions = self.align(&frame.names)?;
        let context = resume.context();
        // The tail of the rows before, then these: one run of rows whose first
        // `context` are only replayed.
        let joined: Vec<std::borrow::Cow<[f64]>> = positions
            .iter()
            .enumerate()
            .map(|(m, &p)| {
                let own = &frame.columns[p][rows.clone()];
                match resume.tail.get(m) {
                    Some(tail) if context > 0 => {
                        std::borrow::Cow::Owned([tail.as_slice(), own].concat())
                    }
                    _ => std::borrow::Cow::Borrowed(own),
                }
            })
            .collect();
        let columns: Vec<&[f64]> = joined.iter().map(|c| c.as_ref()).collect();
        let joined_times: Option<std::borrow::Cow<[i64]>> = match (&resume.tail_times, &frame.times)
        {
            (Some(tail), Some(times)) if context > 0 => Some(std::borrow::Cow::Owned(
                [tail.as_slice(), &times[rows.clone()]].concat(),
            )),
            (_, Some(times)) => Some(std::borrow::Cow::Borrowed(&times[rows.clone()])),
            _ => None,
        };
        let times = joined_times.as_deref();
        let bound = rules.bind(&self.metrics, &frame.text_names);
        let (first_row, rows) = (rows.start, rows.len());
        let total = context + rows;
        let expected = self.expected();
        let block_rows = score_block(columns.len());
        let starts: Vec<usize> = (context..total).step_by(block_rows).collect();
        let snapshot = total.saturating_sub(features::MEMORY);
        let deviations = expected.deviations(&columns, times, 0..total);
        let (carried, standing) = expected.carried_before(
            &columns,
            &deviations,
            &starts,
            resume.standing.as_deref(),
            snapshot,
        );
        // Each block writes its verdicts straight into their place in the result. A
        // row's place among incidents depends on the rows before the block only until
        // the block's first row below the hold level, which closes any incident: each
        // block places its rows from there on, and returns the rows before it
        // (with the reasons they add if held) and its incident state at its end.
        let mut verdicts: Vec<Verdict> = Vec::with_capacity(rows);
        let first_hold = resume.hold;
        let blocks: Vec<BlockIncidents> = verdicts.spare_capacity_mut()[..rows]
            .par_chunks_mut(block_rows)
            .enumerate()
            .map(|(b, out)| {
                let block = context + b * block_rows..context + b * block_rows + out.len();
                let block_carried: Vec<Carried> = carried.iter().map(|c| c[b]).collect();
                let table = FeatureTable::compute(
                    &columns,
                    &deviations,
                    &expected,
                    block.clone(),
                    Some(&block_carried),
                );
                let forest = self.forest_scores(&table.values);
                let metrics = columns.len();
                let mut raw = Vec::with_capacity(metrics);
                let mut texts = Vec::with_capacity(frame.text_columns.len());
                let mut unplaced = Vec::new();
                let mut hold = (b == 0).then_some(first_hold);
                for ((i, r), slot) in block.enumerate().zip(out.iter_mut()) {
                    // No incident is held past a pause: its rows are placed
                    // from there on whatever the blocks before did.
                    let paused = deviations.after_pause(r);
                    if paused {
                        hold = Some(Hold::default());
                    }
                    raw.clear();
                    raw.extend(columns.iter().map(|c| c[r]));
                    texts.clear();
                    texts.extend(
                        frame
                            .text_columns
                            .iter()
                            .map(|c| c[first_row + r - context].as_str()),
                    );
                    let mut judged = self.verdict_of(
                        RowInput {
                            raw: &raw,
                            features: table.row(i),
                            expected: &table.expected[i * metrics..(i + 1) * metrics],
                            references: &table.references[i * metrics..(i + 1) * metrics],
                            runs: &table.runs[i * metrics..(i + 1) * metrics],
                            forest: forest[i],
                            hits: bound.check(&raw, &texts),
                        },
                        hold.as_mut(),
                    );
                    if hold.is_none() {
                        if !self.thresholds.holds(judged.verdict.anomaly_score) {
                            hold = Some(Hold::default());
                        } else {
                            unplaced.push((r - context, judged.pending));
                        }
                    }
                    judged.verdict.after_pause = paused;
                    slot.write(judged.verdict);
                }
                progress(out.len());
                BlockIncidents {
                    unplaced,
                    end: hold,
                }
            })
            .collect();
        // SAFETY: the chunks cover the first `rows` slots and each block wrote every
        // slot of its chunk. (A panic above unwinds past this line and only leaks.)
        unsafe { verdicts.set_len(rows) };
        let mut hold = first_hold;
        for BlockIncidents { unplaced, end } in blocks {
            for (r, pending) in unplaced {
                let place =
                    self.thresholds
                        .step(&mut hold, verdicts[r].anomaly_score, &pending.levels);
                fusion::place_in_incident(&mut verdicts[r], place, pending);
            }
            if let Some(end) = end {
                hold = end;
            }
        }
        resume.tail = columns.iter().map(|c| c[snapshot..].to_vec()).collect();
        resume.tail_times = times.map(|t| t[snapshot..].to_vec());
        resume.standing = Some(standing);
        resume.hold = hold;
        Ok(verdicts)
    }
}

/// What placing a batch block's rows among incidents leaves for the pass in order.
struct BlockIncidents {
    /// The rows before the block's first row below the hold level, whose place
    /// depends on the blocks before: each row with what placing it needs.
    unplaced: Vec<(usize, Pending)>,
    /// The incident state at the block's end, when the block had such a row.
    end: Option<Hold>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detector::test_data::{fitted, frame};
    use crate::detector::verdict::Severity;

    #[test]
    fn a_disk_burst_is_flagged_with_a_reason_naming_the_metric() {
        let train = frame(1000, 3);
        let model = fitted(&train);
        let mut test = frame(200, 4);
        test.columns[2][150] = 45.0;
        let verdicts = model
            .score_frame(&test, &RuleSet::default(), &|_| {})
            .unwrap();
        let v = &verdicts[150];
        assert!(v.is_anomaly);
        assert!(v.severity >= Severity::High, "{:?}", v.severity);
        assert_eq!(model.metrics[v.top_metric.unwrap()], "disk_read_mb");
        assert!(
            v.reasons[0].starts_with("disk_read_mb 45.0 MB/s "),
            "{:?}",
            v.reasons
        );
        assert!(v.reasons[0].contains("sigma"), "{:?}", v.reasons);
    }

    #[test]
    fn a_frozen_metric_is_reported_as_flat() {
        let train = frame(1000, 5);
        let model = fitted(&train);
        let mut test = frame(100, 6);
        for v in &mut test.columns[1][40..80] {
            *v = 50.5;
        }
        let verdicts = model
            .score_frame(&test, &RuleSet::default(), &|_| {})
            .unwrap();
        assert!(!verdicts[45].reasons.iter().any(|r| r.contains("flat")));
        let late = &verdicts[70];
        assert!(late.is_anomaly);
        assert!(
            late.reasons
                .iter()
                .any(|r| r == "memory_percent flat at 50.5 % for 31 samples"),
            "{:?}",
            late.reasons
        );
    }

    #[test]
    fn a_metric_flat_at_the_bottom_of_its_range_is_at_rest_not_frozen() {
        let mut train = frame(1000, 5);
        train.columns[2][10] = 1.5;
        let model = fitted(&train);
        let mut test = frame(140, 6);
        // A disk reading its lowest training value, then less, for 40 samples each.
        for v in &mut test.columns[2][20..60] {
            *v = 1.5;
        }
        for v in &mut test.columns[2][60..100] {
            *v = 1.0;
        }
        // Memory flat in the middle of its range is still frozen.
        for v in &mut test.columns[1][100..140] {
            *v = 50.5;
        }
        let verdicts = model
            .score_frame(&test, &RuleSet::default(), &|_| {})
            .unwrap();
        let flat = |r: usize| verdicts[r].reasons.iter().any(|s| s.contains("flat"));
        assert!(!(20..100).any(flat), "{:?}", verdicts[55].reasons);
        assert!(flat(135), "{:?}", verdicts[135].reasons);
    }

    #[test]
    fn a_missing_reading_is_filled_and_named() {
        let train = frame(500, 7);
        let model = fitted(&train);
        let mut test = frame(50, 8);
        test.columns[0][10] = f64::NAN;
        let verdicts = model
            .score_frame(&test, &RuleSet::default(), &|_| {})
            .unwrap();
        assert!(
            verdicts[10]
                .reasons
                .iter()
                .any(|r| r.starts_with("cpu_percent missing; scored as its baseline median"))
        );
    }
}
