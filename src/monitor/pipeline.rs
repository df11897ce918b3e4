//! The live state machine both sources go through: collecting a baseline (n of
//! N) -> training -> monitoring, then retraining on the rolling window of
//! recent samples, leaving out the rows judged high or critical in the last
//! six hours ([`LEAVE_OUT_S`]): whenever the
//! window has doubled while it grows, then every so many samples. The first
//! models (a window of fewer than [`YOUNG_BASELINES`] baselines) have seen
//! minutes of the host, not its ordinary extremes, so their bars are raised
//! (`young_bar_factor`), what their statistics find is medium at most and its
//! rows are learned from; a rule's high or critical stands, and its rows are
//! left out. A restarted session may start from the samples its predecessor
//! recorded ([`Pipeline::resume`]). A retraining runs in the
//! background and its model goes into use a fixed number of samples after it
//! started, so detection never pauses and a replay gives the same verdicts at
//! any speed. Time here is counted in samples. A shift that persists is
//! absorbed by the detector's adapted levels, so its rows become ordinary and
//! retraining learns them: the window never runs out of rows to learn from. A
//! retrained model keeps half of the bars it replaces
//! ([`crate::detector::Thresholds::steadied_by`]), so one unusual hour in the
//! window does not move them far.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::mpsc::Receiver;

use serde::Serialize;

use super::resume::PastSample;
use super::{Sample, SampleLayout};
use crate::detector::{
    DetectorError, DetectorParams, Frame, MIN_TRAIN_ROWS, Model, RuleSet, Severity, Stream, Verdict,
};

/// Samples judged by the old model after a retraining starts, before its model
/// goes into use: at one sample a second, far longer than a retraining takes, so
/// the session never waits, yet the same samples get the new model at any speed.
pub const SWAP_AFTER: usize = 10;

/// A model fitted on a window of fewer than this many baselines is young: what its
/// statistics say is at most medium, so the rows it finds far off are still learned
/// from; what a rule (a threshold, a failed status, an impossible reading) says
/// stands, and leaves its row out of retraining. At the defaults, the first model
/// and the two retrainings as its window doubles (120, 240 and 480 samples): they
/// read the host's first ordinary bursts as 18-33 sigma, critical, and leaving
/// those rows out kept the next model as ignorant of them (technical.md, "What the
/// first models cost").
pub const YOUNG_BASELINES: usize = 5;

/// Seconds after which a row left out of retraining (judged high or critical) is
/// learned from after all. Left out, an anomaly does not teach the models that
/// judge it while it lasts; left out for good, a job that recurs every day (a
/// nightly backup) was never seen by any model of a session whose
/// `--train-window` spans days, and was alarmed on every night (technical.md, "A
/// nightly job in a window of days"). Six hours: beyond the default window of an
/// hour, where nothing changes, and well before the same time the next day.
pub const LEAVE_OUT_S: f64 = 6.0 * 3600.0;

/// Settings of a live session.
#[derive(Debug, Clone)]
pub struct PipelineConfig {
    /// The detector's settings (contamination, forest, seed).
    pub detector: DetectorParams,
    /// Samples collected before the first training.
    pub baseline: usize,
    /// The most recent samples each retraining learns from (at least `baseline`).
    pub window: usize,
    /// Samples between retrainings; 0 never retrains.
    pub retrain_every: usize,
    /// Samples after which a row judged high or critical is learned from (see
    /// [`LEAVE_OUT_S`]).
    pub leave_out: usize,
    /// Rules in force.
    pub rules: RuleSet,
}

/// Where the session is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// Gathering the baseline.
    Collecting,
    /// Fitting the first model.
    Training,
    /// Judging every sample.
    Monitoring,
}

/// What the session reports about itself after every sample.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Status {
    /// The state.
    pub state: State,
    /// Baseline samples collected so far.
    pub collected: usize,
    /// Baseline samples needed.
    pub baseline: usize,
    /// Time (Unix ms) of the sample after which the model in use was trained.
    pub trained_at: Option<i64>,
    /// Rows the model in use was trained on (0 for a loaded model).
    pub trained_rows: usize,
    /// Retrainings done so far.
    pub retrains: u64,
    /// Samples until the next retraining starts, when retraining is on.
    pub retrain_in: Option<usize>,
    /// Whether the model in use is young (see [`YOUNG_BASELINES`]): its bars are
    /// raised and what its statistics find is medium at most, so the page can say
    /// it is still learning the host.
    pub young: bool,
}

/// What happened to one sample.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Outcome {
    /// The sample's verdict; `None` while there is no model yet.
    pub verdict: Option<Verdict>,
    /// With a verdict, each model metric's signed sigma from its baseline
    /// (see [`crate::detector::Stream::sigmas`]).
    pub sigmas: Vec<f64>,
    /// A new model went into use (first training or retraining).
    pub trained: Option<Arc<Model>>,
    /// Whether the state changed (not counting baseline progress).
    pub state_changed: bool,
    /// A training that failed or was skipped, in words.
    pub warning: Option<String>,
}

/// One row of the rolling window.
struct Row {
    values: Vec<f64>,
    time: i64,
    /// As judged, a young model's statistics capped (see [`YOUNG_BASELINES`]):
    /// rows at high or critical are not learned from.
    severity: Severity,
}

/// The session: feed it samples with [`Pipeline::push`].
pub struct Pipeline {
    config: PipelineConfig,
    layout: SampleLayout,
    window: VecDeque<Row>,
    stream: Option<Stream>,
    /// Position in the sample of each of the model's metrics.
    order: Vec<usize>,
    status: Status,
    since_training: usize,
    pending: Option<Receiver<Result<Model, DetectorError>>>,
    pending_time: i64,
    /// Samples until the model in training goes into use.
    pending_in: usize,
    /// Window length at the last training, while the window still grows.
    trained_window: usize,
    /// Whether the model in training is young (see [`YOUNG_BASELINES`]); whether
    /// the model in use is, is in the status (a saved model is not).
    pending_young: bool,
}

impl Pipeline {
    /// A session that collects a baseline and trains its own model.
    pub fn new(config: PipelineConfig, layout: SampleLayout) -> Pipeline {
        let status = Status {
            state: State::Collecting,
            collected: 0,
            baseline: config.baseline,
            trained_at: None,
            trained_rows: 0,
            retrains: 0,
            retrain_in: None,
            young: false,
        };
        Pipeline {
            config,
            layout,
            window: VecDeque::new(),
            stream: None,
            order: Vec::new(),
            status,
            since_training: 0,
            pending: None,
            pending_time: 0,
            pending_in: 0,
            trained_window: 0,
            pending_young: false,
        }
    }

    /// A session that monitors from the first sample with a saved model; fails when
    /// the source lacks a metric the model needs.
    pub fn with_model(
        config: PipelineConfig,
        layout: SampleLayout,
        model: Model,
    ) -> Result<Pipeline, DetectorError> {
        let mut pipeline = Pipeline::new(config, layout);
        pipeline.install(Arc::new(model), None)?;
        pipeline.status.state = State::Monitoring;
        pipeline.status.collected = pipeline.config.baseline;
        Ok(pipeline)
    }

    /// Takes the samples an earlier session recorded (oldest first, each with one
    /// value per metric of this session's source; see [`super::resume`]) as the
    /// start of the rolling window, so a restarted session does not learn its host
    /// afresh: with at least a baseline of them, the first model is fitted on them
    /// at the first sample (young only if they are few), and with a saved model in
    /// use they warm its stream. As ever, the rows judged high or critical are not
    /// learned from. Returns how many were taken.
    pub fn resume(&mut self, past: Vec<PastSample>) -> Result<usize, DetectorError> {
        let width = self.layout.names.len();
        for p in past.into_iter().filter(|p| p.values.len() == width) {
            let severity = p.severity();
            self.remember_row(Row {
                values: p.values,
                time: p.time,
                severity,
            });
        }
        let taken = self.window.len();
        match self.status.state {
            State::Collecting => {
                self.status.collected = taken.min(self.config.baseline);
                if taken >= self.config.baseline {
                    self.status.state = State::Training;
                }
            }
            State::Monitoring => {
                if let Some(model) = self.model().cloned() {
                    self.install(model, self.status.trained_at)?;
                }
            }
            State::Training => {}
        }
        Ok(taken)
    }

    /// The session's state now.
    pub fn status(&self) -> &Status {
        &self.status
    }

    /// The model in use, once there is one.
    pub fn model(&self) -> Option<&Arc<Model>> {
        self.stream.as_ref().map(Stream::model)
    }

    /// Takes the next sample through the state machine.
    pub fn push(&mut self, sample: &Sample) -> Outcome {
        let mut outcome = Outcome::default();
        if self.pending.is_some() {
            if self.pending_in == 0 {
                self.collect_retrained(&mut outcome);
            } else {
                self.pending_in -= 1;
            }
        }
        if self.status.state == State::Training {
            let trained = self.train();
            outcome.trained = trained.trained;
            outcome.warning = trained.warning;
            outcome.state_changed = true;
        }
        let time = self.layout.timed.then_some(sample.time);
        match self.status.state {
            State::Collecting | State::Training => {
                self.remember(sample, Severity::Normal);
                self.status.collected = self.window.len().min(self.config.baseline);
                if self.window.len() >= self.config.baseline {
                    self.status.state = State::Training;
                    outcome.state_changed = true;
                }
            }
            State::Monitoring => {
                if let Some(stream) = self.stream.as_mut() {
                    let values: Vec<f64> = self.order.iter().map(|&p| sample.values[p]).collect();
                    let texts: Vec<&str> = sample.texts.iter().map(String::as_str).collect();
                    let mut verdict = stream.judge(&values, &texts, time);
                    outcome.sigmas = stream.sigmas().to_vec();
                    if self.status.young {
                        verdict.severity = young_severity(verdict.severity, stream.rule_severity());
                    }
                    self.remember(sample, verdict.severity);
                    outcome.verdict = Some(verdict);
                }
                self.maybe_retrain(sample.time, &mut outcome);
            }
        }
        self.status.retrain_in = (self.config.retrain_every > 0
            && self.status.state == State::Monitoring)
            .then(|| self.samples_to_retraining());
        outcome
    }

    /// Fits the first model on the baseline once [`Pipeline::push`] has left the
    /// state at [`State::Training`] (the next push does it otherwise), so the caller
    /// can report "training" first. On failure the baseline is collected afresh.
    pub fn train(&mut self) -> Outcome {
        if self.status.state != State::Training {
            return Outcome::default();
        }
        let mut outcome = Outcome {
            state_changed: true,
            ..Outcome::default()
        };
        let frame = self.training_frame();
        let trained_at = self.window.back().map(|r| r.time);
        let fitted = fit_raised(&self.config.detector, &frame, self.young_bar_factor());
        match fitted.and_then(|model| {
            let model = Arc::new(model);
            self.install(Arc::clone(&model), trained_at).map(|()| model)
        }) {
            Ok(model) => {
                self.status.state = State::Monitoring;
                self.status.young = self.is_young_window();
                outcome.trained = Some(model);
            }
            Err(e) => {
                outcome.warning =
                    Some(format!("training failed: {e}; collecting a fresh baseline"));
                self.window.clear();
                self.status.collected = 0;
                self.status.state = State::Collecting;
            }
        }
        outcome
    }

    /// Puts `model` in use: a fresh stream warmed with the window, so its recent past
    /// is the session's, continuing any incident the previous one had open.
    fn install(&mut self, model: Arc<Model>, trained_at: Option<i64>) -> Result<(), DetectorError> {
        let order = model.align(&self.layout.names)?;
        let mut stream = model.stream(&self.config.rules, &self.layout.text_names);
        for row in &self.window {
            let values: Vec<f64> = order.iter().map(|&p| row.values[p]).collect();
            stream.warm(&values, self.layout.timed.then_some(row.time));
        }
        if let Some(previous) = &self.stream {
            stream.continue_incident(previous);
        }
        self.status.trained_at = trained_at;
        self.status.trained_rows = model.trained_rows;
        self.stream = Some(stream);
        self.order = order;
        self.since_training = 0;
        self.trained_window = self.trained_window.max(self.window.len());
        Ok(())
    }

    fn remember(&mut self, sample: &Sample, severity: Severity) {
        self.remember_row(Row {
            values: sample.values.clone(),
            time: sample.time,
            severity,
        });
    }

    fn remember_row(&mut self, row: Row) {
        if self.window.len() >= self.config.window.max(self.config.baseline).max(1) {
            self.window.pop_front();
        }
        self.window.push_back(row);
    }

    /// Whether a model fitted on the window now would be young (see
    /// [`YOUNG_BASELINES`]).
    fn is_young_window(&self) -> bool {
        self.window.len() < YOUNG_BASELINES * self.config.baseline
    }

    /// How far the bars of a model fitted on the window now are raised (see
    /// [`young_bar_factor`]).
    fn young_bar_factor(&self) -> f64 {
        young_bar_factor(self.window.len(), YOUNG_BASELINES * self.config.baseline)
    }

    /// The window as a frame, without the rows judged high or critical in the
    /// last `leave_out` samples.
    fn training_frame(&self) -> Frame {
        let newest = self.window.len().saturating_sub(1);
        let rows: Vec<&Row> = self
            .window
            .iter()
            .enumerate()
            .filter(|&(i, r)| r.severity < Severity::High || newest - i >= self.config.leave_out)
            .map(|(_, r)| r)
            .collect();
        Frame {
            names: self.layout.names.clone(),
            columns: (0..self.layout.names.len())
                .map(|m| rows.iter().map(|r| r.values[m]).collect())
                .collect(),
            text_names: Vec::new(),
            text_columns: Vec::new(),
            times: self
                .layout
                .timed
                .then(|| rows.iter().map(|r| r.time).collect()),
        }
    }

    /// Samples until the next retraining is due: the window's doubling while it
    /// grows, else the schedule.
    fn samples_to_retraining(&self) -> usize {
        let scheduled = self
            .config
            .retrain_every
            .saturating_sub(self.since_training);
        let window = self.window.len();
        if window < self.config.window && self.trained_window > 0 {
            scheduled.min((2 * self.trained_window).saturating_sub(window))
        } else {
            scheduled
        }
    }

    fn maybe_retrain(&mut self, time: i64, outcome: &mut Outcome) {
        self.since_training += 1;
        if self.config.retrain_every == 0
            || self.samples_to_retraining() > 0
            || self.pending.is_some()
        {
            return;
        }
        self.since_training = 0;
        self.trained_window = self.window.len();
        self.pending_young = self.is_young_window();
        let frame = self.training_frame();
        if frame.rows() < MIN_TRAIN_ROWS {
            outcome.warning = Some(format!(
                "retraining skipped: only {} of the last {} samples were normal enough to learn from (at least {MIN_TRAIN_ROWS} needed)",
                frame.rows(),
                self.window.len()
            ));
            return;
        }
        let mut detector = self.config.detector.clone();
        detector.contamination =
            kept_contamination(detector.contamination, self.window.len(), frame.rows());
        let raise = self.young_bar_factor();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            // The receiver may be gone when the session ended meanwhile.
            let _ = tx.send(fit_raised(&detector, &frame, raise));
        });
        self.pending = Some(rx);
        self.pending_time = time;
        self.pending_in = SWAP_AFTER;
    }

    /// Puts the model of the retraining in flight in use, waiting for it if it is
    /// not done yet.
    fn collect_retrained(&mut self, outcome: &mut Outcome) {
        let Some(rx) = &self.pending else { return };
        let result = match rx.recv() {
            Ok(result) => result.map_err(|e| e.to_string()),
            Err(_) => Err("the training thread stopped".to_string()),
        };
        self.pending = None;
        // A retraining's bars rest on its window's few highest rows: it keeps most
        // of the bars in use, so one unusual hour does not move them far.
        let previous = self.model().cloned();
        let installed = result.and_then(|mut model| {
            if let Some(previous) = &previous {
                model.steady_bars(previous);
            }
            let model = Arc::new(model);
            self.install(Arc::clone(&model), Some(self.pending_time))
                .map(|()| model)
                .map_err(|e| e.to_string())
        });
        match installed {
            Ok(model) => {
                self.status.young = self.pending_young;
                self.status.retrains += 1;
                outcome.trained = Some(model);
                outcome.state_changed = true;
            }
            Err(e) => outcome.warning = Some(format!("retraining failed: {e}")),
        }
    }

    /// Waits for a retraining in flight and puts it in use, so a replay that ends
    /// reports the model its window produced.
    pub fn finish_training(&mut self) -> Outcome {
        let mut outcome = Outcome::default();
        self.collect_retrained(&mut outcome);
        outcome
    }
}

/// A model fitted on `frame` with `detector`'s settings, its bars raised by
/// `raise` (see [`young_bar_factor`]): the first training and every retraining.
fn fit_raised(
    detector: &DetectorParams,
    frame: &Frame,
    raise: f64,
) -> Result<Model, DetectorError> {
    let mut model = detector.check()?.fit(frame)?;
    model.raise_bars(raise);
    Ok(model)
}

/// The factor a young model's bars are raised by: √(mature / rows) for a model
/// fitted on a window of `rows` samples, fewer than the `mature` of a model that is
/// no longer young; 1 from there on. A bar rests on the window's few highest rows,
/// and a window of minutes has not yet seen the host's ordinary bursts: the less it
/// has seen, the further out a row must be before it opens an incident, shrinking
/// as the error of an estimate from `rows` samples does. At the defaults: 2.24 for
/// the first model (120 samples), 1.58 at 240, 1.12 at 480. Measured on 87 sessions
/// started 500 samples before a planted anomaly (technical.md, "Young models'
/// bars").
fn young_bar_factor(rows: usize, mature: usize) -> f64 {
    if rows >= mature || rows == 0 {
        1.0
    } else {
        (mature as f64 / rows as f64).sqrt()
    }
}

/// The severity of a row a young model (see [`YOUNG_BASELINES`]) judged `severity`
/// when the rules gave it `ruled`: what the statistics say is at most medium, what
/// the rules say stands.
fn young_severity(severity: Severity, ruled: Option<Severity>) -> Severity {
    severity
        .min(Severity::Medium)
        .max(ruled.unwrap_or(Severity::Normal))
}

/// The contamination a retraining calibrates its bars at, on the `kept` rows left
/// after the rows judged high or critical were taken out of a `window` of rows.
/// `contamination` is the share of anomalies expected in the whole window, and the
/// rows taken out already account for part of it: calibrating the kept rows at the
/// full share would flag that share of rows already judged normal (measured: 5-8 %
/// of the normal rows of a replayed session, against 4-5 % this way). Never below
/// a fifth of `contamination`, so a window whose anomalies were all taken out still
/// leaves the bars a margin above its highest normal rows.
fn kept_contamination(contamination: f64, window: usize, kept: usize) -> f64 {
    let taken_out = window.saturating_sub(kept) as f64;
    ((contamination * window as f64 - taken_out) / kept.max(1) as f64).max(contamination / 5.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detector::ForestParams;
    use crate::monitor::record::VerdictView;

    fn config(baseline: usize, retrain_every: usize) -> PipelineConfig {
        PipelineConfig {
            detector: DetectorParams {
                forest: ForestParams {
                    n_trees: 50,
                    ..ForestParams::default()
                },
                ..DetectorParams::default()
            },
            baseline,
            window: baseline,
            retrain_every,
            leave_out: usize::MAX,
            rules: RuleSet::default(),
        }
    }

    fn layout() -> SampleLayout {
        SampleLayout::of(
            vec!["cpu_percent".into(), "memory_percent".into()],
            vec![],
            true,
        )
    }

    fn sample(i: usize, cpu: f64) -> Sample {
        Sample {
            time: 1_700_000_000_000 + i as i64 * 1000,
            values: vec![cpu, 40.0 + (i % 5) as f64],
            texts: vec![],
            cores: vec![],
            processes: None,
        }
    }

    /// A session whose window grows from a baseline of 40 samples to 200,
    /// retraining every 30.
    fn growing_window() -> Pipeline {
        let config = PipelineConfig {
            window: 200,
            ..config(40, 30)
        };
        Pipeline::new(config, layout())
    }

    fn normal_cpu(i: usize) -> f64 {
        20.0 + ((i * 7919) % 13) as f64
    }

    #[test]
    fn a_young_models_statistics_say_medium_at_most_and_rules_stand() {
        use Severity::*;
        assert_eq!(young_severity(Critical, None), Medium);
        assert_eq!(young_severity(High, None), Medium);
        assert_eq!(young_severity(Medium, None), Medium);
        assert_eq!(young_severity(Normal, None), Normal);
        assert_eq!(young_severity(Critical, Some(High)), High);
        assert_eq!(young_severity(Critical, Some(Critical)), Critical);
    }

    #[test]
    fn a_young_models_bars_are_raised_by_the_root_of_how_far_it_is_from_mature() {
        assert!((young_bar_factor(120, 600) - 5f64.sqrt()).abs() < 1e-12);
        assert!((young_bar_factor(480, 600) - 1.25f64.sqrt()).abs() < 1e-12);
        assert_eq!(young_bar_factor(600, 600), 1.0);
        assert_eq!(young_bar_factor(3600, 600), 1.0);
        // The first model of a session whose window grows from 40 samples to 200
        // (mature at 200): its bars are those of the same fit raised by √5.
        let mut p = growing_window();
        for i in 0..41 {
            p.push(&sample(i, normal_cpu(i)));
        }
        let young: serde_json::Value = serde_json::from_str(&p.model().unwrap().to_json()).unwrap();
        let frame = Frame {
            names: layout().names,
            columns: vec![
                (0..40).map(normal_cpu).collect(),
                (0..40).map(|i| sample(i, 0.0).values[1]).collect(),
            ],
            text_names: Vec::new(),
            text_columns: Vec::new(),
            times: Some((0..40).map(|i| sample(i, 0.0).time).collect()),
        };
        let fitted = config(40, 30)
            .detector
            .check()
            .unwrap()
            .fit(&frame)
            .unwrap();
        let plain: serde_json::Value = serde_json::from_str(&fitted.to_json()).unwrap();
        for bar in ["fused", "hold"] {
            let (raised, base) = (
                young["thresholds"][bar].as_f64().unwrap(),
                plain["thresholds"][bar].as_f64().unwrap(),
            );
            assert!(
                (raised / base - 5f64.sqrt()).abs() < 1e-9,
                "{bar}: {raised} {base}"
            );
        }
    }

    #[test]
    fn rows_taken_out_of_retraining_count_towards_the_contamination() {
        // Nothing taken out: the kept rows are calibrated at the full share.
        assert!((kept_contamination(0.05, 1000, 1000) - 0.05).abs() < 1e-12);
        // 30 of the 50 expected anomalies already taken out: 20 left among 970.
        assert!((kept_contamination(0.05, 1000, 970) - 20.0 / 970.0).abs() < 1e-12);
        // More taken out than expected: a fifth of the share stays.
        assert!((kept_contamination(0.05, 1000, 900) - 0.01).abs() < 1e-12);
    }

    #[test]
    fn collects_the_baseline_then_trains_then_flags_a_spike() {
        let mut p = Pipeline::new(config(60, 0), layout());
        for i in 0..59 {
            let outcome = p.push(&sample(i, normal_cpu(i)));
            assert!(outcome.verdict.is_none());
            assert_eq!(p.status().state, State::Collecting);
            assert_eq!(p.status().collected, i + 1);
        }
        let outcome = p.push(&sample(59, normal_cpu(59)));
        assert!(outcome.state_changed && outcome.trained.is_none());
        assert_eq!(p.status().state, State::Training);
        let outcome = p.train();
        assert!(outcome.trained.is_some() && outcome.state_changed);
        assert_eq!(p.status().state, State::Monitoring);
        assert_eq!(p.status().trained_rows, 60);
        let calm = p.push(&sample(60, normal_cpu(60))).verdict.unwrap();
        assert!(!calm.is_anomaly || calm.severity == Severity::Medium);
        let spike = p.push(&sample(61, 99.0)).verdict.unwrap();
        assert!(spike.is_anomaly && spike.severity >= Severity::High);
        assert!(
            spike.reasons[0].contains("cpu_percent"),
            "{:?}",
            spike.reasons
        );
    }

    #[test]
    fn retrains_on_schedule_without_pausing_and_leaves_out_what_a_rule_calls_severe() {
        let mut p = Pipeline::new(config(40, 30), layout());
        for i in 0..40 {
            p.push(&sample(i, normal_cpu(i)));
        }
        let mut judged = 0;
        for i in 40..70 {
            let cpu = if i == 50 { 99.0 } else { normal_cpu(i) };
            judged += usize::from(p.push(&sample(i, cpu)).verdict.is_some());
        }
        assert_eq!(judged, 30, "every sample is judged while retraining");
        assert_eq!(p.status().retrain_in, Some(30));
        let outcome = p.finish_training();
        assert!(outcome.trained.is_some());
        assert_eq!(p.status().retrains, 1);
        // CPU at 99 % is critical by rule: left out even by a young model.
        assert_eq!(p.status().trained_rows, 39, "the spike row is left out");
    }

    #[test]
    fn once_a_model_has_learned_five_baselines_the_rows_it_calls_severe_are_left_out() {
        let mut p = growing_window();
        let mut i = 0;
        while p.status().trained_rows < YOUNG_BASELINES * 40 {
            p.push(&sample(i, normal_cpu(i)));
            i += 1;
        }
        assert!(!p.status().young, "five baselines make a model mature");
        let retrains = p.status().retrains;
        let severe = |v: Option<Verdict>| v.is_some_and(|v| v.severity >= Severity::High);
        assert!(severe(p.push(&sample(i, 80.0)).verdict));
        // The spike and any row held after it at high severity.
        let mut left_out = 1;
        while p.status().retrains == retrains {
            i += 1;
            left_out += usize::from(severe(p.push(&sample(i, normal_cpu(i))).verdict));
            p.finish_training();
        }
        assert_eq!(p.status().trained_rows, 200 - left_out);
    }

    #[test]
    fn a_row_left_out_is_learned_from_once_it_is_older_than_the_leave_out() {
        // As above, but a row judged severe is left out for 50 samples only.
        let mut p = Pipeline::new(
            PipelineConfig {
                window: 200,
                leave_out: 50,
                ..config(40, 30)
            },
            layout(),
        );
        let mut i = 0;
        while p.status().trained_rows < YOUNG_BASELINES * 40 {
            p.push(&sample(i, normal_cpu(i)));
            i += 1;
        }
        let severe = |v: Option<Verdict>| v.is_some_and(|v| v.severity >= Severity::High);
        assert!(severe(p.push(&sample(i, 80.0)).verdict));
        let spike = i;
        // Retrainings within 50 samples of the spike leave it out; the first one
        // after learns from it, and from every row held after it.
        loop {
            i += 1;
            p.push(&sample(i, normal_cpu(i)));
            if p.finish_training().trained.is_some() && i - spike >= 50 {
                break;
            }
        }
        assert_eq!(p.status().trained_rows, 200, "nothing is left out");
    }

    #[test]
    fn a_young_model_says_medium_at_most_and_learns_from_what_it_finds() {
        // The first model learns 40 samples, the next 70: both young.
        let mut p = growing_window();
        for i in 0..40 {
            p.push(&sample(i, normal_cpu(i)));
        }
        for i in 40..80 {
            // 80 % is far beyond a baseline of 20-32 %, but under every CPU rule.
            let cpu = if i == 50 { 80.0 } else { normal_cpu(i) };
            let verdict = p.push(&sample(i, cpu)).verdict;
            if i == 50 {
                let v = verdict.unwrap();
                assert!(v.is_anomaly && v.severity == Severity::Medium, "{v:?}");
            }
        }
        assert!(p.status().young, "the status says the model is young");
        p.finish_training();
        assert_eq!(p.status().retrains, 1);
        // Retrained 30 samples after the first training, on a window of 70 rows:
        // the spike is among them.
        assert_eq!(p.status().trained_rows, 70, "nothing is left out");
    }

    #[test]
    fn a_retrained_model_goes_into_use_a_fixed_number_of_samples_after_it_starts() {
        let mut p = Pipeline::new(config(40, 30), layout());
        let mut trained = Vec::new();
        for i in 0..130 {
            if p.push(&sample(i, normal_cpu(i))).trained.is_some() {
                trained.push(i);
            }
        }
        // First training on the 40th push's successor, then a retraining started
        // every 30 samples after the last went into use, each in use SWAP_AFTER + 1
        // samples later: whatever the machine's speed.
        let first = 40;
        let second = first + 29 + SWAP_AFTER + 1;
        assert_eq!(trained[..2], [first, second], "{trained:?}");
        assert_eq!(trained[2], second + 29 + SWAP_AFTER + 1, "{trained:?}");
    }

    #[test]
    fn a_resumed_session_judges_its_first_sample_with_a_model_of_its_past() {
        let past = |rows: std::ops::Range<usize>| -> Vec<PastSample> {
            rows.map(|i| {
                let s = sample(i, normal_cpu(i));
                PastSample {
                    time: s.time,
                    values: s.values,
                    // A spike the earlier session called critical is not learned.
                    verdict: (i == 150).then(|| VerdictView {
                        is_anomaly: true,
                        score: 0.9,
                        severity: Severity::Critical,
                        z_max: 9.0,
                        top_metric: None,
                        reasons: Vec::new(),
                    }),
                }
            })
            .collect()
        };
        let mut p = growing_window();
        // Five baselines of the past: the first model is not young.
        assert_eq!(p.resume(past(0..250)).unwrap(), 200, "the window holds 200");
        assert_eq!(p.status().state, State::Training);
        let outcome = p.push(&sample(250, 95.0));
        let verdict = outcome.verdict.expect("judged at once");
        assert!(verdict.severity >= Severity::High, "{verdict:?}");
        assert_eq!(p.status().trained_rows, 199, "the critical row is left out");
        assert_eq!(p.status().trained_at, Some(sample(249, 0.0).time));

        // A few samples of the past are a start, not a baseline.
        let mut q = growing_window();
        assert_eq!(q.resume(past(0..25)).unwrap(), 25);
        assert_eq!(q.status().collected, 25);
        for i in 25..39 {
            assert!(q.push(&sample(i, normal_cpu(i))).verdict.is_none());
        }
        assert!(q.push(&sample(39, normal_cpu(39))).verdict.is_none());
        assert!(q.push(&sample(40, normal_cpu(40))).verdict.is_some());
    }

    #[test]
    fn a_saved_model_monitors_at_once_and_must_match_the_source() {
        let mut p = Pipeline::new(config(40, 0), layout());
        for i in 0..40 {
            p.push(&sample(i, normal_cpu(i)));
        }
        p.train();
        let model = (**p.model().unwrap()).clone();
        let mut q = Pipeline::with_model(config(40, 0), layout(), model.clone()).unwrap();
        assert_eq!(q.status().state, State::Monitoring);
        assert!(q.push(&sample(0, 30.0)).verdict.is_some());
        let other = SampleLayout::of(vec!["cpu_percent".into()], vec![], true);
        let err = Pipeline::with_model(config(40, 0), other, model)
            .err()
            .unwrap();
        assert!(err.to_string().contains("memory_percent"), "{err}");
    }
}
