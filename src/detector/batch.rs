//! Batch: every row of a frame judged, in order, exactly as a [`super::Stream`]
//! would one by one. Blocks of rows are featured and scored in parallel, each into
//! its own place in the result, then one pass in order places them in incidents.

use rayon::prelude::*;

use super::error::DetectorError;
use super::frame::Frame;
use super::fusion::{self, RowInput};
use super::hold::Hold;
use super::memory::{Carried, FeatureTable};
use super::model::Model;
use super::rules::RuleSet;
use super::verdict::Verdict;

/// Rows one task features, scores and judges at once in batch: few enough that a
/// block's features stay in cache and every core gets many blocks, many enough
/// that replaying the [`super::features::MEMORY`] rows before each costs little.
pub(super) const SCORE_BLOCK: usize = 4096;

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
        let positions = self.align(&frame.names)?;
        let columns: Vec<&[f64]> = positions
            .iter()
            .map(|&p| frame.columns[p].as_slice())
            .collect();
        let bound = rules.bind(&self.metrics, &frame.text_names);
        let rows = frame.rows();
        let times = frame.times.as_deref();
        let expected = self.expected();
        let starts: Vec<usize> = (0..rows).step_by(SCORE_BLOCK).collect();
        let carried = expected.carried_before(&columns, times, &starts);
        // Each block writes its verdicts straight into their place in the result. A
        // row's place among incidents depends on the rows before the block only until
        // the block's first row below the hold level, which closes any incident: each
        // block places its rows from there on, and returns the rows before it
        // (with the reasons they add if held) and its incident state at its end.
        let mut verdicts: Vec<Verdict> = Vec::with_capacity(rows);
        let blocks: Vec<BlockIncidents> = verdicts.spare_capacity_mut()[..rows]
            .par_chunks_mut(SCORE_BLOCK)
            .enumerate()
            .map(|(b, out)| {
                let block = b * SCORE_BLOCK..b * SCORE_BLOCK + out.len();
                let block_carried: Vec<Carried> = carried.iter().map(|c| c[b]).collect();
                let table = FeatureTable::compute(
                    &columns,
                    times,
                    &expected,
                    block.clone(),
                    Some(&block_carried),
                );
                let forest = self.forest_scores(&table.values);
                let metrics = columns.len();
                let mut raw = Vec::with_capacity(metrics);
                let mut texts = Vec::with_capacity(frame.text_columns.len());
                let mut unplaced = Vec::new();
                let mut hold = (b == 0).then(Hold::default);
                for ((i, r), slot) in block.enumerate().zip(out.iter_mut()) {
                    raw.clear();
                    raw.extend(columns.iter().map(|c| c[r]));
                    texts.clear();
                    texts.extend(frame.text_columns.iter().map(|c| c[r].as_str()));
                    let judged = self.verdict_of(
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
                            unplaced.push((r, judged.if_held));
                        }
                    }
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
        let mut hold = Hold::default();
        for BlockIncidents { unplaced, end } in blocks {
            for (r, if_held) in unplaced {
                let place = self.thresholds.step(&mut hold, verdicts[r].anomaly_score);
                fusion::place_in_incident(&mut verdicts[r], place, if_held);
            }
            if let Some(end) = end {
                hold = end;
            }
        }
        Ok(verdicts)
    }
}

/// What placing a batch block's rows among incidents leaves for the pass in order.
struct BlockIncidents {
    /// The rows before the block's first row below the hold level, whose place
    /// depends on the blocks before: each row with the reasons it adds if held.
    unplaced: Vec<(usize, Vec<String>)>,
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
