//! A live session: the loop that takes samples from a source (this machine on a
//! fixed grid, or a replayed file), puts each through the [`Pipeline`], writes it
//! to the logs and hands it to whoever publishes it. It runs on its own thread,
//! started by [`start`]; it only hands results over, so no reader can slow it.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::collector::Collector;
use super::logs::Logs;
use super::pipeline::{Outcome, Pipeline, State, Status};
use super::record::{IncidentRecord, Record, history_row, incident_line};
use super::replay::Replay;
use super::{Sample, SampleLayout};
use crate::alerts::{Alert, Alerts};
use crate::detector::incidents::Change;
use crate::detector::{IncidentTracker, reasons};
use crate::io::model_file::save_model;
use crate::timestamp::now_ms;

/// Where a session's samples come from.
pub enum SampleSource {
    /// This machine, sampled on a fixed grid.
    Live(Box<Collector>),
    /// A recorded file, at its own pace.
    Replay(Box<Replay>),
}

impl SampleSource {
    /// The metrics and text columns the source produces.
    pub fn layout(&self) -> SampleLayout {
        match self {
            SampleSource::Live(_) => Collector::layout(),
            SampleSource::Replay(replay) => replay.layout().clone(),
        }
    }

    /// When its first sample is taken (Unix ms): now for this machine, the first
    /// row's time for a replay.
    pub fn start_time(&self) -> i64 {
        match self {
            SampleSource::Live(_) => crate::timestamp::now_ms(),
            SampleSource::Replay(replay) => {
                replay.first_time().unwrap_or_else(crate::timestamp::now_ms)
            }
        }
    }

    /// What the source is, in words, for the log.
    pub fn describe(&self) -> String {
        match self {
            SampleSource::Live(_) => "sampling this machine".to_string(),
            SampleSource::Replay(r) => format!("replaying {} rows", r.len()),
        }
    }
}

/// What a session reports beyond the pipeline's status.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SessionStatus {
    /// The pipeline's state and model.
    #[serde(flatten)]
    pub pipeline: Status,
    /// Whether a replayed file has ended (the server keeps serving).
    pub replay_finished: bool,
    /// What just happened, when it is news: `trained`, `retrained`,
    /// `replay_finished`, or a warning.
    pub event: Option<String>,
}

/// Whoever shows a session's results (the dashboard's hub, a test). Every call comes
/// from the session's thread and must return at once.
pub trait Publish: Send + Sync {
    /// A judged sample; `json` is `record` serialised once, as the logs keep it.
    fn sample(&self, record: &Record, json: &str);
    /// The session's status, when it changed or there is news.
    fn status(&self, status: SessionStatus);
    /// An incident opened, grew worse or closed; `json` is its
    /// [`IncidentRecord`], serialised once, as `incidents.jsonl` keeps it.
    fn incident(&self, record: &IncidentRecord, json: &str);
    /// An alert began pending, fired, resolved or was cancelled; `json` is the
    /// [`Alert`] serialised once.
    fn alert(&self, alert: &Alert, json: &str);
}

/// How a session runs, beyond its source and pipeline.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// Time between live samples.
    pub interval: Duration,
    /// Where to save every model that goes into use.
    pub save_model: Option<PathBuf>,
    /// The highest incident id the log folder holds: this session numbers its
    /// incidents on from it.
    pub incidents_after: u64,
}

/// A running session: ask it to [`SessionHandle::stop`], then
/// [`SessionHandle::join`] it.
pub struct SessionHandle {
    stop: Sender<()>,
    thread: JoinHandle<()>,
}

impl SessionHandle {
    /// Asks the session to stop after the sample in hand; it closes its logs.
    pub fn stop(&self) {
        let _ = self.stop.send(());
    }

    /// Waits until the session has stopped and its files are written.
    pub fn join(self) {
        let _ = self.thread.join();
    }
}

/// Starts a session on its own thread. The first status is published before this
/// returns, so a client that connects after it never finds none. `alerts`, when
/// given, is told of every sample's incidents.
pub fn start(
    source: SampleSource,
    pipeline: Pipeline,
    logs: Logs,
    publisher: Arc<dyn Publish>,
    config: SessionConfig,
    alerts: Option<Alerts>,
) -> std::io::Result<SessionHandle> {
    let (stop, stop_rx) = std::sync::mpsc::channel::<()>();
    let incidents = IncidentTracker::numbered_after(config.incidents_after);
    let mut session = Session {
        layout: source.layout(),
        source,
        pipeline,
        logs,
        publisher,
        config,
        saving: None,
        seq: 0,
        last_time: None,
        last_status: None,
        incidents,
        alerts,
    };
    session.publish_status(None, false);
    let thread = std::thread::Builder::new()
        .name("metrics-collector".into())
        .spawn(move || session.run(&stop_rx))?;
    Ok(SessionHandle { stop, thread })
}

/// The session thread's state.
struct Session {
    source: SampleSource,
    layout: SampleLayout,
    pipeline: Pipeline,
    logs: Logs,
    publisher: Arc<dyn Publish>,
    config: SessionConfig,
    /// The latest model save (off the collector's path), which waits for the ones
    /// before it; finished before exit.
    saving: Option<JoinHandle<()>>,
    seq: u64,
    /// The latest sample's time (Unix ms): the time a stopping session's alert
    /// ends at.
    last_time: Option<i64>,
    last_status: Option<Status>,
    /// The incidents of the judged samples, numbered by `seq`.
    incidents: IncidentTracker,
    /// Who is told of incidents that last and matter.
    alerts: Option<Alerts>,
}

impl Session {
    fn run(mut self, stop: &Receiver<()>) {
        let started = Instant::now();
        let interval = self.config.interval;
        let mut tick: u32 = 0;
        loop {
            let sample = match &mut self.source {
                SampleSource::Live(collector) => {
                    // Ticks on a fixed grid: a slow sample never shifts the ones after.
                    tick += 1;
                    let mut due = started + interval * tick;
                    let now = Instant::now();
                    while due < now {
                        tick += 1;
                        due = started + interval * tick;
                    }
                    if stopped(stop, due - now) {
                        break;
                    }
                    collector.sample(now_ms())
                }
                SampleSource::Replay(replay) => match replay.next_sample() {
                    Some((wait, sample)) => {
                        if stopped(stop, wait) {
                            break;
                        }
                        sample
                    }
                    None => {
                        let outcome = self.pipeline.finish_training();
                        if let Some(event) = self.after_training(&outcome) {
                            self.publish_status(Some(event), false);
                        }
                        let status = self.pipeline.status();
                        if status.state == State::Collecting {
                            tracing::warn!(
                                "the replay ended after {} samples, before the {} a baseline \
                                 needs: nothing was judged; hint: replay a longer file, or \
                                 lower --window-size",
                                status.collected,
                                status.baseline
                            );
                        }
                        self.publish_status(Some("replay_finished".into()), true);
                        tracing::info!("replay finished; still serving");
                        let _ = stop.recv();
                        break;
                    }
                },
            };
            self.take(sample);
        }
        // An alert still firing is resolved for receivers that cannot end it
        // themselves, as of the last sample.
        if let (Some(alerts), Some(time)) = (&mut self.alerts, self.last_time) {
            let incidents = &mut self.incidents;
            if let Some(alert) = alerts.stop(time, || incidents.open()) {
                self.publish_alert(&alert);
            }
        }
        // The open incident is logged as it stands, so the session that closes
        // it (the next one in this folder) closes it as it lasted, not as it
        // was last told (its first row, when it never grew worse).
        if let Some(incident) = self.incidents.open() {
            self.logs
                .incident(incident_line(&Change::Updated(incident)));
        }
        self.logs.close();
        if let Some(saving) = self.saving {
            let _ = saving.join();
        }
    }

    /// Takes one sample through the pipeline, the logs and the publisher.
    fn take(&mut self, mut sample: Sample) {
        let mut outcome = self.pipeline.push(&sample);
        if self.pipeline.status().state == State::Training {
            self.publish_status(None, false);
            let trained = self.pipeline.train();
            outcome.trained = trained.trained;
            outcome.warning = outcome.warning.or(trained.warning);
        }
        // An anomaly gets the processes of this moment, not of the last refresh.
        if let (SampleSource::Live(collector), Some(v)) = (&mut self.source, &outcome.verdict)
            && v.is_anomaly
        {
            sample.processes = Some(collector.top_processes_now());
        }
        self.seq += 1;
        self.last_time = Some(sample.time);
        let metrics: &[String] = self.pipeline.model().map_or(&[], |m| &m.metrics);
        let record = Record::new(
            self.seq,
            &self.layout,
            &sample,
            outcome.verdict.as_ref(),
            metrics,
            &outcome.sigmas,
        );
        self.logs
            .history(history_row(&sample, outcome.verdict.as_ref(), metrics));
        // One serialisation serves the WebSocket, the REST rings and anomalies.jsonl.
        let json = serde_json::to_string(&record).unwrap_or_default();
        if let Some(v) = record.verdict.as_ref().filter(|v| v.is_anomaly) {
            // Each row at DEBUG: the text log tells incidents (below), so a
            // five-minute incident is two or three lines, not three hundred.
            tracing::debug!(
                "{} anomaly (score {:.3}): {}",
                v.severity,
                v.score,
                v.reasons.join(reasons::SEPARATOR)
            );
            self.logs.anomaly(json.clone());
        }
        self.publisher.sample(&record, &json);
        let changes: Vec<Change> = outcome.verdict.as_ref().map_or_else(Vec::new, |v| {
            self.incidents
                .push(self.seq as usize, Some(sample.time), v, metrics)
                .collect()
        });
        for change in &changes {
            log_incident(change);
            let json = incident_line(change);
            self.logs.incident(json.clone());
            self.publisher.incident(&IncidentRecord::of(change), &json);
        }
        // The alerts see each change, or the time going by when there is none.
        let seen = changes.iter().map(Some);
        for change in seen.chain(changes.is_empty().then_some(None)) {
            let incidents = &mut self.incidents;
            if let Some(alert) = self
                .alerts
                .as_mut()
                .and_then(|a| a.observe(sample.time, change, || incidents.open()))
            {
                self.publish_alert(&alert);
            }
        }
        if let Some(w) = &outcome.warning {
            tracing::warn!("{w}");
        }
        let event = self.after_training(&outcome);
        let event = event.or_else(|| outcome.warning.clone());
        self.publish_status(event, false);
    }

    /// Shows `alert`'s new state on the page.
    fn publish_alert(&self, alert: &Alert) {
        let json = serde_json::to_string(alert).unwrap_or_default();
        self.publisher.alert(alert, &json);
    }

    /// Logs and saves a model that went into use; the event to report, if any.
    fn after_training(&mut self, outcome: &Outcome) -> Option<String> {
        let model = outcome.trained.as_ref()?;
        let retrain = self.pipeline.status().retrains > 0;
        tracing::info!(
            "{} on {} samples",
            if retrain { "retrained" } else { "trained" },
            model.trained_rows
        );
        if let Some(path) = self.config.save_model.clone() {
            let model = Arc::clone(model);
            // Each save waits for the one before it: saves never overlap (two at
            // once wrote one temporary file together) and the newest model is the
            // one left in the file.
            let previous = self.saving.take();
            self.saving = Some(std::thread::spawn(move || {
                if let Some(previous) = previous {
                    let _ = previous.join();
                }
                if let Err(e) = save_model(&model, &path) {
                    let cause = std::error::Error::source(&e)
                        .map(|c| format!(": {c}"))
                        .unwrap_or_default();
                    tracing::warn!("--save-model {e}{cause}");
                }
            }));
        }
        Some(if retrain { "retrained" } else { "trained" }.into())
    }

    /// Publishes the status when it changed (baseline progress included) or when
    /// there is news.
    fn publish_status(&mut self, event: Option<String>, replay_finished: bool) {
        let status = self.pipeline.status().clone();
        let mut same = self.last_status.clone();
        if let Some(s) = same.as_mut() {
            s.retrain_in = status.retrain_in;
        }
        if event.is_none() && !replay_finished && same.as_ref() == Some(&status) {
            return;
        }
        self.last_status = Some(status.clone());
        self.publisher.status(SessionStatus {
            pipeline: status,
            replay_finished,
            event,
        });
    }
}

/// Tells the text log of an incident that opened or grew worse (at WARN) or
/// closed (at INFO), with its one-line summary: what a person reading the log, the
/// terminal or the journal acts on.
fn log_incident(change: &Change) {
    match change {
        Change::Opened(i) => tracing::warn!("incident {} opened: {}", i.id, i.summary),
        Change::Updated(i) => tracing::warn!("incident {} grew worse: {}", i.id, i.summary),
        Change::Closed(i) => tracing::info!("incident {} closed: {}", i.id, i.summary),
    }
}

/// Waits `wait`, or less when asked to stop; true when asked (or the asker is gone).
fn stopped(stop: &Receiver<()>, wait: Duration) -> bool {
    !matches!(stop.recv_timeout(wait), Err(RecvTimeoutError::Timeout))
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::sync::mpsc::SyncSender;

    use super::*;
    use crate::detector::{DetectorParams, Incident, RuleSet, Severity};
    use crate::monitor::record::VerdictView;
    use crate::monitor::replay::Speed;

    /// Hands every published sample's verdict to the test, in order.
    struct Collect {
        verdicts: Mutex<SyncSender<(u64, Option<VerdictView>)>>,
        statuses: Mutex<Vec<SessionStatus>>,
        incidents: Mutex<Vec<(&'static str, Incident)>>,
    }

    impl Publish for Collect {
        fn sample(&self, record: &Record, _json: &str) {
            let sender = self.verdicts.lock().unwrap_or_else(|e| e.into_inner());
            let _ = sender.send((record.seq, record.verdict.clone()));
        }

        fn status(&self, status: SessionStatus) {
            self.statuses
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(status);
        }

        fn incident(&self, record: &IncidentRecord, _json: &str) {
            self.incidents
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push((record.change, record.incident.clone()));
        }

        fn alert(&self, _alert: &Alert, _json: &str) {}
    }

    #[test]
    fn a_session_driven_in_process_by_a_replay_reports_the_planted_anomaly() {
        let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/replay/planted_spike.csv");
        let replay = Replay::open(&file, Speed::Max, 1000, 0).unwrap();
        let source = SampleSource::Replay(Box::new(replay));
        let pipeline = Pipeline::new(
            super::super::pipeline::PipelineConfig {
                detector: DetectorParams::default(),
                baseline: 100,
                window: 100,
                retrain_every: 0,
                leave_out: usize::MAX,
                rules: RuleSet::default(),
            },
            source.layout(),
        );
        let logs_dir = tempfile::tempdir().unwrap();
        let logs = Logs::open(logs_dir.path(), "timestamp\n".into(), None);
        let (tx, rx) = std::sync::mpsc::sync_channel(1024);
        let publisher = Arc::new(Collect {
            verdicts: Mutex::new(tx),
            statuses: Mutex::new(Vec::new()),
            incidents: Mutex::new(Vec::new()),
        });
        let config = SessionConfig {
            interval: Duration::from_secs(1),
            save_model: None,
            incidents_after: 0,
        };
        let handle = start(source, pipeline, logs, publisher.clone(), config, None).unwrap();
        // The file's 240 rows: a 100-sample baseline, then the spike at 10:03:20
        // (row 201), which CPU and memory both make critical.
        let mut planted = None;
        for _ in 0..240 {
            let (seq, verdict) = rx
                .recv_timeout(Duration::from_secs(60))
                .expect("the session publishes every row of the replay");
            if seq == 201 {
                planted = verdict;
            }
        }
        handle.stop();
        handle.join();
        let planted = planted.expect("row 201 is judged");
        assert!(planted.is_anomaly);
        assert_eq!(planted.severity, Severity::Critical);
        let reasons = planted.reasons.join(reasons::SEPARATOR);
        assert!(
            reasons.contains("cpu_percent") && reasons.contains("memory_percent"),
            "{reasons}"
        );
        let statuses = publisher.statuses.lock().unwrap();
        assert_eq!(statuses[0].pipeline.state, State::Collecting);
        assert!(statuses.iter().any(|s| s.replay_finished));
        let incidents = publisher.incidents.lock().unwrap();
        let spike = incidents
            .iter()
            .find(|(change, i)| *change == "opened" && i.first_row <= 201 && i.first_row > 100)
            .map(|(_, i)| i.id)
            .expect("an incident opens at or before the spike, after the baseline");
        assert!(
            incidents
                .iter()
                .any(|(_, i)| i.id == spike && i.peak_severity == Severity::Critical),
            "{incidents:?}"
        );
    }
}
