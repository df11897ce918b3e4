//! The hub between the collector and everyone watching: it keeps the recent past
//! (for the `hello` backfill and the REST answers) and fans every message out on a
//! broadcast channel. Publishing never waits: a client that falls behind loses its
//! place in the channel and is resynchronised with a fresh `hello`.

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard};
use std::time::Instant;

use axum::extract::ws::Utf8Bytes;
use serde_json::{Value, json};
use tokio::sync::{broadcast, watch};

use crate::alerts::Alert;
use crate::detector::{Change, Incident, Severity};
use crate::monitor::record::{IncidentRecord, Record, WIRE_VERSION, incident_line, message};
use crate::monitor::session::{Publish, SessionStatus};

/// Samples the `hello` backfill carries.
pub const BACKFILL: usize = 300;
/// Samples kept for `/api/history`.
pub const HISTORY_KEEP: usize = 3600;
/// Anomalies kept for `/api/anomalies`.
pub const ANOMALIES_KEEP: usize = 1000;
/// Anomalies the `hello` carries.
pub const HELLO_ANOMALIES: usize = 50;
/// Incidents kept for the `hello` and `/api/incidents`, and alerts for the
/// `hello` and `/api/alerts`: the latest state of each.
pub const INCIDENTS_KEEP: usize = 100;
/// Messages a client may lag behind before it is resynchronised.
const CHANNEL: usize = 1024;

/// The longest window [`Latest::anomaly_ratio`] is asked for.
pub const RATIO_WINDOW_MS: i64 = 5 * 60_000;

/// The latest sample, and what `/metrics` counts, for a fleet view.
#[derive(Debug, Clone, Default)]
pub struct Latest {
    /// The last record.
    pub record: Option<Record>,
    /// Samples seen.
    pub samples: u64,
    /// Anomalies by severity (index = severity as ordered in [`Severity::ALL`]).
    pub anomalies: [u64; 4],
    /// Each judged sample of the last [`RATIO_WINDOW_MS`] (by the samples' own
    /// time): its time, and whether it was an anomaly.
    pub judged: VecDeque<(i64, bool)>,
    /// Incidents opened, by the severity they opened at.
    pub incidents_opened: [u64; 4],
    /// Incidents closed, by their peak severity.
    pub incidents_closed: [u64; 4],
    /// The peak severity of the incident open now, if any.
    pub open_incident: Option<Severity>,
}

impl Latest {
    /// The share of judged samples that were anomalies over the last `window_ms`
    /// before the latest one (Netdata's node anomaly rate); `None` before any.
    pub fn anomaly_ratio(&self, window_ms: i64) -> Option<f64> {
        let (last, _) = *self.judged.back()?;
        let within = self.judged.iter().filter(|(t, _)| *t > last - window_ms);
        let (n, flagged) = within.fold((0u64, 0u64), |(n, f), (_, a)| (n + 1, f + u64::from(*a)));
        Some(flagged as f64 / n as f64)
    }
}

struct Inner {
    config: Value,
    status: Option<SessionStatus>,
    history: VecDeque<Utf8Bytes>,
    anomalies: VecDeque<Utf8Bytes>,
    incidents: LatestById,
    alerts: LatestById,
    latest: Latest,
}

/// The latest message of each recent incident (or alert), by id, oldest first.
#[derive(Default)]
struct LatestById(VecDeque<(u64, Utf8Bytes)>);

impl LatestById {
    /// Keeps `message` as the latest state of `id`, in place of its earlier one.
    fn keep(&mut self, id: u64, message: Utf8Bytes) {
        match self.0.iter_mut().find(|(i, _)| *i == id) {
            Some((_, kept)) => *kept = message,
            None => {
                if self.0.len() >= INCIDENTS_KEEP {
                    self.0.pop_front();
                }
                self.0.push_back((id, message));
            }
        }
    }

    /// Appends the messages, comma-separated.
    fn join_into(&self, out: &mut String) {
        self.join_last_into(out, usize::MAX);
    }

    /// Appends the last `limit` messages, comma-separated, oldest first.
    fn join_last_into(&self, out: &mut String, limit: usize) {
        join_into(out, self.0.iter().rev().take(limit).rev().map(|(_, m)| m));
    }
}

/// Shared by the collector thread (publishing) and the server (reading).
pub struct Hub {
    tx: broadcast::Sender<Utf8Bytes>,
    inner: Mutex<Inner>,
    closing: watch::Sender<bool>,
    started: Instant,
}

impl Hub {
    /// A hub for a session described by `config` (sent in every `hello`).
    pub fn new(config: Value) -> Hub {
        Hub {
            tx: broadcast::channel(CHANNEL).0,
            inner: Mutex::new(Inner {
                config,
                status: None,
                history: VecDeque::new(),
                anomalies: VecDeque::new(),
                incidents: LatestById::default(),
                alerts: LatestById::default(),
                latest: Latest::default(),
            }),
            closing: watch::channel(false).0,
            started: Instant::now(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic elsewhere while holding the lock leaves plain data behind; serving
        // it is better than stopping.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A `hello` for a new client and its place in the stream, taken together so the
    /// client misses nothing and sees nothing twice.
    pub fn subscribe(&self) -> (Utf8Bytes, broadcast::Receiver<Utf8Bytes>) {
        let inner = self.lock();
        let rx = self.tx.subscribe();
        let mut hello = format!(
            "{{\"type\":\"hello\",\"v\":{WIRE_VERSION},\"uptime_s\":{:.3},\"config\":{},\"status\":{},\"counts\":{},\"backfill\":[",
            self.started.elapsed().as_secs_f64(),
            inner.config,
            inner.status.as_ref().map_or(Value::Null, status_value),
            counts(&inner.latest),
        );
        join_into(&mut hello, inner.history.iter().rev().take(BACKFILL).rev());
        hello.push_str("],\"anomalies\":[");
        join_into(
            &mut hello,
            inner.anomalies.iter().rev().take(HELLO_ANOMALIES).rev(),
        );
        hello.push_str("],\"incidents\":[");
        inner.incidents.join_into(&mut hello);
        hello.push_str("],\"alerts\":[");
        inner.alerts.join_into(&mut hello);
        hello.push_str("]}");
        (hello.into(), rx)
    }

    /// Keeps samples an earlier session of this source recorded (oldest first),
    /// before this session's own, for the `hello` backfill and `/api/history`,
    /// without counting them: the page's charts go on across a restart.
    pub fn recall_samples(&self, records: &[Record]) {
        let mut inner = self.lock();
        for record in records {
            let json = serde_json::to_string(record).unwrap_or_default();
            push_capped(
                &mut inner.history,
                message("sample", &json).into(),
                HISTORY_KEEP,
            );
        }
    }

    /// Lists the incidents earlier sessions of the log folder recorded (each
    /// closed), oldest first, before this session's own, without counting them:
    /// the page lists them again after a restart, and `/metrics` counts this
    /// process's incidents only.
    pub fn recall_incidents(&self, incidents: &[Incident]) {
        let mut inner = self.lock();
        for incident in incidents {
            let json = incident_line(&Change::Closed(incident.clone()));
            inner
                .incidents
                .keep(incident.id, message("incident", &json).into());
        }
    }

    /// The status as `/api/status` gives it.
    pub fn status_json(&self) -> String {
        let inner = self.lock();
        json!({
            "v": WIRE_VERSION,
            "uptime_s": self.started.elapsed().as_secs_f64(),
            "config": inner.config,
            "status": inner.status.as_ref().map_or(Value::Null, status_value),
            "counts": counts(&inner.latest),
            "clients": self.tx.receiver_count(),
        })
        .to_string()
    }

    /// The last `limit` samples (oldest first), or anomalies, as a JSON array.
    pub fn recent_json(&self, anomalies: bool, limit: usize) -> String {
        let inner = self.lock();
        let list = if anomalies {
            &inner.anomalies
        } else {
            &inner.history
        };
        let mut out = String::from("[");
        join_into(&mut out, list.iter().rev().take(limit).rev());
        out.push(']');
        out
    }

    /// The last `limit` recent incidents (of up to [`INCIDENTS_KEEP`]), each in its
    /// latest state, oldest first, as a JSON array of `incident` messages.
    pub fn incidents_json(&self, limit: usize) -> String {
        let mut out = String::from("[");
        self.lock().incidents.join_last_into(&mut out, limit);
        out.push(']');
        out
    }

    /// The recent alerts, each in its latest state, oldest first, as a JSON array
    /// of `alert` messages.
    pub fn alerts_json(&self) -> String {
        let mut out = String::from("[");
        self.lock().alerts.join_into(&mut out);
        out.push(']');
        out
    }

    /// A copy of what `/metrics` exposes.
    pub fn latest(&self) -> (Latest, Option<SessionStatus>) {
        let inner = self.lock();
        (inner.latest.clone(), inner.status.clone())
    }

    /// Tells every client the session is ending (they send close frames).
    pub fn close(&self) {
        let _ = self.closing.send(true);
    }

    /// Resolves when [`Hub::close`] was called.
    pub fn closing(&self) -> watch::Receiver<bool> {
        self.closing.subscribe()
    }
}

/// The session publishes to the hub; the hub never waits on a client.
impl Publish for Hub {
    /// Keeps a judged sample (and, when it is one, the anomaly) and sends it to every
    /// client.
    fn sample(&self, record: &Record, json: &str) {
        let sample: Utf8Bytes = message("sample", json).into();
        let anomaly = record
            .verdict
            .as_ref()
            .filter(|v| v.is_anomaly)
            .map(|v| (v.severity, Utf8Bytes::from(message("anomaly", json))));
        let mut inner = self.lock();
        push_capped(&mut inner.history, sample.clone(), HISTORY_KEEP);
        inner.latest.samples += 1;
        let _ = self.tx.send(sample);
        if let Some(v) = &record.verdict {
            let judged = &mut inner.latest.judged;
            judged.push_back((record.time, v.is_anomaly));
            while judged
                .front()
                .is_some_and(|(t, _)| *t <= record.time - RATIO_WINDOW_MS)
            {
                judged.pop_front();
            }
        }
        if let Some((severity, anomaly)) = anomaly {
            inner.latest.anomalies[severity as usize] += 1;
            push_capped(&mut inner.anomalies, anomaly.clone(), ANOMALIES_KEEP);
            let _ = self.tx.send(anomaly);
        }
        inner.latest.record = Some(record.clone());
    }

    /// Keeps the session's status and sends it to every client.
    fn status(&self, status: SessionStatus) {
        let message = status_message(&status);
        let mut inner = self.lock();
        inner.status = Some(status);
        let _ = self.tx.send(message.into());
    }

    /// Keeps the incident's latest state, in place of its earlier one, and sends it
    /// to every client.
    fn incident(&self, record: &IncidentRecord, json: &str) {
        let message: Utf8Bytes = message("incident", json).into();
        let mut inner = self.lock();
        let severity = record.incident.peak_severity;
        let latest = &mut inner.latest;
        match record.change {
            "opened" => {
                latest.incidents_opened[severity as usize] += 1;
                latest.open_incident = Some(severity);
            }
            "closed" => {
                latest.incidents_closed[severity as usize] += 1;
                latest.open_incident = None;
            }
            _ => latest.open_incident = Some(severity),
        }
        inner.incidents.keep(record.incident.id, message.clone());
        let _ = self.tx.send(message);
    }

    /// Keeps the alert's latest state, in place of its earlier one, and sends it
    /// to every client.
    fn alert(&self, alert: &Alert, json: &str) {
        let message: Utf8Bytes = message("alert", json).into();
        self.lock().alerts.keep(alert.id, message.clone());
        let _ = self.tx.send(message);
    }
}

fn push_capped(list: &mut VecDeque<Utf8Bytes>, item: Utf8Bytes, cap: usize) {
    if list.len() >= cap {
        list.pop_front();
    }
    list.push_back(item);
}

fn join_into<'a>(out: &mut String, items: impl Iterator<Item = &'a Utf8Bytes>) {
    for (i, item) in items.enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(item.as_str());
    }
}

fn status_value(status: &SessionStatus) -> Value {
    serde_json::to_value(status).unwrap_or(Value::Null)
}

fn status_message(status: &SessionStatus) -> String {
    message("status", &status_value(status).to_string())
}

fn counts(latest: &Latest) -> Value {
    let mut by = serde_json::Map::new();
    for sev in &Severity::ALL[1..] {
        by.insert(sev.as_str().into(), latest.anomalies[*sev as usize].into());
    }
    json!({ "samples": latest.samples, "anomalies": by })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::monitor::session::Publish;
    use crate::monitor::{Sample, SampleLayout};

    fn publish(hub: &Hub, seq: u64) {
        let record = record(seq);
        hub.sample(&record, &serde_json::to_string(&record).unwrap());
    }

    fn record(seq: u64) -> Record {
        let layout = SampleLayout::of(vec!["cpu_percent".into()], vec![], true);
        let sample = Sample {
            time: seq as i64 * 1000,
            values: vec![seq as f64],
            texts: vec![],
            cores: vec![],
            processes: None,
        };
        Record::new(seq, &layout, &sample, None, &[], &[])
    }

    #[test]
    fn the_latest_by_id_keep_one_state_each_and_give_the_last_n_oldest_first() {
        let mut kept = LatestById::default();
        for (id, state) in [(1, "a"), (2, "b"), (1, "a2"), (3, "c")] {
            kept.keep(id, Utf8Bytes::from(format!("\"{state}\"")));
        }
        let joined = |limit: usize| {
            let mut out = String::new();
            kept.join_last_into(&mut out, limit);
            out
        };
        assert_eq!(joined(usize::MAX), "\"a2\",\"b\",\"c\"");
        assert_eq!(joined(2), "\"b\",\"c\"");
        assert_eq!(joined(0), "");
    }

    #[test]
    fn hello_backfills_the_last_samples_and_the_stream_continues_after_them() {
        let hub = Hub::new(json!({"source": "test"}));
        for seq in 1..=BACKFILL as u64 + 5 {
            publish(&hub, seq);
        }
        let (hello, mut rx) = hub.subscribe();
        let hello: Value = serde_json::from_str(hello.as_str()).unwrap();
        assert_eq!(hello["type"], "hello");
        let backfill = hello["backfill"].as_array().unwrap();
        assert_eq!(backfill.len(), BACKFILL);
        assert_eq!(backfill[0]["seq"], 6);
        assert_eq!(backfill[BACKFILL - 1]["seq"], BACKFILL as u64 + 5);
        publish(&hub, BACKFILL as u64 + 6);
        let next: Value = serde_json::from_str(rx.try_recv().unwrap().as_str()).unwrap();
        assert_eq!(next["seq"], BACKFILL as u64 + 6);
        let recent: Value = serde_json::from_str(&hub.recent_json(false, 2)).unwrap();
        assert_eq!(recent[1]["seq"], BACKFILL as u64 + 6);
    }
}
