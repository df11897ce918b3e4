//! Live: a [`Stream`] judges rows one at a time, keeping the recent past and the
//! open incident, with the state a batch pass would have at that row.

use std::sync::Arc;

use super::features::PER_METRIC;
use super::fusion::RowInput;
use super::hold::Hold;
use super::memory::{FeatureTable, Memory, after_pause, fresh_memories};
use super::model::Model;
use super::rules::{BoundRules, RuleSet};
use super::verdict::{Severity, Verdict};

impl Model {
    /// A live scorer that judges rows one at a time, keeping the recent past. It
    /// shares the model, so a live session can swap in a retrained one at any time.
    pub fn stream(self: &Arc<Self>, rules: &RuleSet, text_names: &[String]) -> Stream {
        Stream {
            model: Arc::clone(self),
            rules: rules.bind(&self.metrics, text_names),
            memories: fresh_memories(self.metrics.len()),
            hold: Hold::default(),
            sigmas: vec![0.0; self.metrics.len()],
            ruled: None,
            last_time: None,
        }
    }
}

/// Judges live rows one at a time with the state a batch run would have at that row.
pub struct Stream {
    model: Arc<Model>,
    rules: BoundRules,
    memories: Vec<Memory>,
    hold: Hold,
    sigmas: Vec<f64>,
    ruled: Option<Severity>,
    /// The time of the last row fed, when rows have times.
    last_time: Option<i64>,
}

impl Stream {
    /// The model this stream judges with.
    pub fn model(&self) -> &Arc<Model> {
        &self.model
    }

    /// Each metric's signed sigma from its baseline in the last judged row (the
    /// furthest of its features, see [`super::scaling::Scale::sigma`]), in model order: how
    /// far off each metric is now, for a fleet view.
    pub fn sigmas(&self) -> &[f64] {
        &self.sigmas
    }

    /// The severity the rules (thresholds, statuses, impossible readings) gave the
    /// last judged row, if any fired: it stands whatever the statistics made of
    /// the row, and a young live model's cap does not lower it.
    pub fn rule_severity(&self) -> Option<Severity> {
        self.ruled
    }

    /// Continues the incident `previous` has open, so a stream started on a retrained
    /// model neither drops nor restarts it.
    pub fn continue_incident(&mut self, previous: &Stream) {
        self.hold = previous.hold;
    }

    /// Feeds a row into the recent past without judging it, so a stream started on a
    /// retrained model continues from where the old one was.
    pub fn warm(&mut self, values: &[f64], time: Option<i64>) {
        let paused = self.take_time(time);
        let expected = self.model.expected();
        for (m, (memory, &v)) in self.memories.iter_mut().zip(values).enumerate() {
            expected.read(memory, m, v, time, paused);
        }
    }

    /// Notes the time of the next row fed and says whether it comes after a
    /// pause since the last one (see `PAUSE_STEPS`): decided once per row, as a
    /// batch part decides it from the rows' times.
    fn take_time(&mut self, time: Option<i64>) -> bool {
        let paused = after_pause(self.last_time, time, self.model.gap_ms);
        self.last_time = time.or(self.last_time);
        paused
    }

    /// Judges the next row: `values` in [`Model::metrics`] order (NaN for missing),
    /// `texts` in the order of the text names given to [`Model::stream`], `time` in
    /// Unix milliseconds when known.
    pub fn judge(&mut self, values: &[f64], texts: &[&str], time: Option<i64>) -> Verdict {
        let paused = self.take_time(time);
        // No incident is held past a pause.
        if paused {
            self.hold = Hold::default();
        }
        let model = &*self.model;
        let mut row = FeatureTable::with_capacity(self.memories.len(), 1);
        let expected = model.expected();
        for (m, memory) in self.memories.iter_mut().enumerate() {
            row.push(expected.read(memory, m, values[m], time, paused));
        }
        let forest = model.forest_scores(&row.values)[0];
        for (m, sigma) in self.sigmas.iter_mut().enumerate() {
            let features = m * PER_METRIC..(m + 1) * PER_METRIC;
            *sigma = features
                .map(|i| model.scales[i].sigma(row.values[i]))
                .filter(|s| s.is_finite())
                .max_by(|a, b| a.abs().total_cmp(&b.abs()))
                .unwrap_or(0.0);
        }
        let hits = self.rules.check(values, texts);
        // Hits come most severe first, as fusion reads them.
        self.ruled = hits.first().map(|h| h.severity);
        let mut verdict = model
            .verdict_of(
                RowInput {
                    raw: values,
                    features: &row.values,
                    expected: &row.expected,
                    references: &row.references,
                    runs: &row.runs,
                    forest,
                    hits,
                },
                Some(&mut self.hold),
            )
            .verdict;
        verdict.after_pause = paused;
        verdict
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detector::batch::SCORE_BLOCK;
    use crate::detector::frame::Frame;
    use crate::detector::reasons;
    use crate::detector::test_data::{fitted, frame};
    use crate::detector::verdict::Severity;

    #[test]
    fn stream_and_batch_give_identical_verdicts() {
        let train = frame(800, 9);
        let model = fitted(&train);
        // Batch judges blocks of rows in parallel; a spike, a frozen stretch, an
        // incident and a faded incident's tail straddle block boundaries.
        let mut test = frame(3 * SCORE_BLOCK + 600, 10);
        test.columns[0][SCORE_BLOCK] = 99.0;
        for v in &mut test.columns[1][SCORE_BLOCK - 40..SCORE_BLOCK + 40] {
            *v = 50.5;
        }
        let opens = 2 * SCORE_BLOCK - 2;
        test.columns[0][opens] = 70.0;
        // A disk plateau at 40 MB/s, then 4 MB/s with a burst to 15 MB/s every
        // eighth row, across the third boundary, and a last burst to 400 MB/s.
        let ebb = 3 * SCORE_BLOCK - 40;
        test.columns[2][ebb - 30..ebb].fill(40.0);
        for (k, v) in test.columns[2][ebb..ebb + 80].iter_mut().enumerate() {
            *v = if k == 72 {
                400.0
            } else if k > 0 && k % 8 == 0 {
                15.0
            } else {
                4.0 + 0.1 * (k % 2) as f64
            };
        }
        let batch = same_in_batch_and_stream(&model, &test);
        assert!(
            batch[SCORE_BLOCK + 20]
                .reasons
                .iter()
                .any(|r| r == "memory_percent flat at 50.5 % for 61 samples"),
            "{:?}",
            batch[SCORE_BLOCK + 20].reasons
        );
        let held = |v: &Verdict| {
            v.anomaly_score < 0.5
                && v.is_anomaly
                && v.severity == Severity::Medium
                && v.reasons[0].starts_with("continues the anomaly that began ")
        };
        assert!(batch.iter().any(held));
        // With a lower hold level, one that nine rows in ten of this uniform noise
        // reach, the incident opened just before the second boundary is held
        // across it, and rows below the level still close incidents.
        let mut scores: Vec<f64> = batch.iter().map(|v| v.anomaly_score).collect();
        scores.sort_by(f64::total_cmp);
        let level = scores[scores.len() / 10];
        let mut lower = model;
        lower.thresholds.hold = lower.thresholds.fused * level / (1.0 - level);
        let batch = same_in_batch_and_stream(&lower, &test);
        assert!(batch[opens].anomaly_score >= 0.5);
        assert!(held(&batch[opens + 3]), "{:?}", batch[opens + 3]);
        assert!(
            batch
                .iter()
                .any(|v| !lower.thresholds.holds(v.anomaly_score))
        );
        // Fading incidents (rows sampled faster than once a minute) close sooner, and
        // batch places them as the stream does, across block boundaries too.
        let mut fading = lower.clone();
        fading.thresholds.fading = true;
        let faded = same_in_batch_and_stream(&fading, &test);
        let flagged = |v: &[Verdict]| v.iter().filter(|v| v.is_anomaly).count();
        assert!(
            flagged(&faded) < flagged(&batch),
            "{} {}",
            flagged(&faded),
            flagged(&batch)
        );
        assert!(faded.iter().any(held));
        // With the bar raised so that 4 MB/s sits between the hold level and the
        // bar, the disk plateau's incident fades while its rows are held at
        // 4 MB/s, and the bursts to 15 MB/s after it, each at the bar but under
        // the plateau's peak, are its tail: none opens an incident, across the
        // third boundary too. A last burst past the peak opens one.
        let mut tail = fading.clone();
        tail.thresholds.fused *= 6.3;
        tail.thresholds.hold = tail.thresholds.fused * 0.3 / 0.7;
        let tail = same_in_batch_and_stream(&tail, &test);
        for r in (ebb + 8..ebb + 72).step_by(8) {
            let v = &tail[r];
            assert!(v.anomaly_score >= 0.5, "row {r}: {v:?}");
            assert!(!v.is_anomaly, "row {r}: {v:?}");
            assert_eq!(v.reasons[0], reasons::quelled());
        }
        let past = &tail[ebb + 72];
        assert!(
            past.is_anomaly && past.severity == Severity::Critical,
            "{past:?}"
        );
    }

    /// A file of many metrics is judged in shorter blocks, so each takes no more
    /// memory: the verdicts are still the stream's, across the blocks' boundaries.
    #[test]
    fn a_wide_file_judged_in_shorter_blocks_gives_the_streams_verdicts() {
        let wide = |rows: usize, seed: u64| {
            let mut joined = Frame::default();
            for copy in 0..20u64 {
                let part = frame(rows, seed * 100 + copy);
                for (name, column) in part.names.iter().zip(part.columns) {
                    joined.names.push(format!("{name}_{copy}"));
                    joined.columns.push(column);
                }
            }
            joined
        };
        let model = fitted(&wide(800, 1));
        let block = crate::detector::batch::score_block(60);
        assert!(block < SCORE_BLOCK, "{block}");
        let mut test = wide(3 * block + 50, 2);
        test.columns[0][block] = 99.0;
        for v in &mut test.columns[7][2 * block - 30..2 * block + 30] {
            *v = 50.5;
        }
        let batch = same_in_batch_and_stream(&model, &test);
        assert!(batch[block].is_anomaly);
        assert!(
            batch[2 * block + 20].is_anomaly,
            "{:?}",
            batch[2 * block + 20]
        );
    }

    /// `model`'s verdicts on `test` in batch, checked equal to a stream's row by row.
    fn same_in_batch_and_stream(model: &Model, test: &Frame) -> Vec<Verdict> {
        let model = Arc::new(model.clone());
        let batch = model
            .score_frame(test, &RuleSet::default(), &|_| {})
            .unwrap();
        let mut stream = model.stream(&RuleSet::default(), &[]);
        for (r, expected) in batch.iter().enumerate() {
            let row: Vec<f64> = test.columns.iter().map(|c| c[r]).collect();
            let time = test.times.as_ref().map(|t| t[r]);
            assert_eq!(&stream.judge(&row, &[], time), expected, "row {r}");
        }
        batch
    }

    #[test]
    fn a_pause_in_the_rows_starts_the_recent_past_afresh_in_batch_and_stream() {
        // One row a second, in training too, so the model knows the step.
        let mut train = frame(800, 9);
        train.times = Some((0..800).map(|i| i * 1000).collect());
        let model = fitted(&train);
        assert_eq!(model.gap_ms, Some(64_000));
        // Eight hours without rows (a laptop asleep), ten rows before a block
        // boundary, so a block replays rows from before it; memory reads 8 %
        // higher after it.
        let rows = SCORE_BLOCK + 400;
        let pause = SCORE_BLOCK - 10;
        let mut test = frame(rows, 10);
        let mut times: Vec<i64> = (0..rows as i64).map(|i| i * 1000).collect();
        for t in &mut times[pause..] {
            *t += 8 * 3_600_000;
        }
        test.times = Some(times);
        for v in &mut test.columns[1][pause..] {
            *v += 8.0;
        }
        let across = |v: &Verdict| {
            v.reasons
                .iter()
                .any(|r| r.contains("from its recent level") || r.contains("over the last 60"))
        };
        let batch = same_in_batch_and_stream(&model, &test);
        let told: Vec<_> = batch[pause..pause + 70]
            .iter()
            .enumerate()
            .filter(|(_, v)| across(v))
            .map(|(k, v)| (k, v.reasons.clone()))
            .collect();
        assert!(told.is_empty(), "{told:?}");
        // Memory is still judged against its baseline, 8 % above it.
        assert!(batch[pause + 20].is_anomaly);
        // A model saved before pauses were told judges across it, as before.
        let mut before = model.clone();
        before.gap_ms = None;
        let judged_across = same_in_batch_and_stream(&before, &test);
        assert!(judged_across[pause..pause + 70].iter().any(across));

        // An incident open at the pause is not held past it. With a hold level
        // that nine rows in ten of this noise reach, a CPU spike just before the
        // pause holds the rows after it only when the pause is not told.
        let mut spiked = frame(rows, 11);
        spiked.times = test.times.clone();
        spiked.columns[0][pause - 1] = 99.0;
        let mut scores: Vec<f64> = same_in_batch_and_stream(&model, &spiked)
            .iter()
            .map(|v| v.anomaly_score)
            .collect();
        scores.sort_by(f64::total_cmp);
        let mut lower = model.clone();
        lower.thresholds.hold =
            lower.thresholds.fused * scores[scores.len() / 10] / (1.0 - scores[scores.len() / 10]);
        let continues = |v: &Verdict| {
            v.reasons
                .first()
                .is_some_and(|r| r.starts_with("continues the anomaly"))
        };
        let told = same_in_batch_and_stream(&lower, &spiked);
        assert!(told[pause - 1].is_anomaly);
        assert!(!continues(&told[pause]), "{:?}", told[pause].reasons);
        lower.gap_ms = None;
        let untold = same_in_batch_and_stream(&lower, &spiked);
        assert!(continues(&untold[pause]), "{:?}", untold[pause].reasons);
    }
}
