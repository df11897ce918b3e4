//! What receivers are sent: an alert's labels and annotations, in Alertmanager's
//! push format (`POST /api/v2/alerts`), its webhook format (version 4, so any
//! receiver written for Alertmanager works unchanged) and, for commands,
//! environment variables beside that body.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::policy::{Alert, Notify};
use crate::timestamp::to_iso;

/// The `alertname` of anomaly alerts.
pub const ALERT_NAME: &str = "MetricsAnomaly";

/// The `alertname` of the alert `--alert-test` sends.
pub const TEST_ALERT_NAME: &str = "MetricsTestAlert";

/// How long an alert pushed to Alertmanager stays firing without being pushed
/// again: four resend intervals, as Prometheus does, so an alert outlives a few
/// lost pushes but resolves by itself if `watch` stops.
pub const ALERTMANAGER_VALID_MS: i64 = 4 * ALERTMANAGER_RESEND_MS;

/// How often firing alerts are pushed to Alertmanager again (Prometheus'
/// `resend_delay`), as its client guide asks.
pub const ALERTMANAGER_RESEND_MS: i64 = 60_000;

/// Webhook `endsAt` of an alert still firing, as Alertmanager writes it.
const NO_END: &str = "0001-01-01T00:00:00Z";

/// Where alerts come from: what every message says besides the alert itself.
#[derive(Debug, Clone, PartialEq)]
pub struct Origin {
    /// Labels every alert has: `instance` (the host name unless the settings
    /// replace it) and the settings' own.
    pub labels: BTreeMap<String, String>,
    /// The dashboard's address, for the `dashboard` annotation.
    pub dashboard: String,
}

/// One notification: what receivers are told of one alert at one moment.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// The alert's number in the session (0 for the test alert).
    pub alert: u64,
    /// Firing (or told again) or resolved.
    pub notify: Notify,
    /// Labels that identify the alert.
    pub labels: BTreeMap<String, String>,
    /// What a person reads.
    pub annotations: BTreeMap<String, String>,
    /// Start of its first incident (Unix ms).
    pub starts_ms: i64,
    /// End of its last incident, when resolved (Unix ms).
    pub ends_ms: Option<i64>,
    /// The sample time it was decided at (Unix ms).
    pub time_ms: i64,
}

impl Message {
    /// The notification `notify` of `alert`, from `origin`, decided at sample
    /// time `time_ms`.
    pub fn of(alert: &Alert, notify: Notify, origin: &Origin, time_ms: i64) -> Message {
        let mut labels = origin.labels.clone();
        labels.insert("alertname".into(), ALERT_NAME.into());
        labels.insert("severity".into(), alert.severity.as_str().into());
        labels.insert("metric".into(), alert.metric.clone());
        let incidents: Vec<String> = alert.incidents.iter().map(u64::to_string).collect();
        let which = match incidents.len() {
            1 => format!("Incident {}", incidents[0]),
            _ => format!("Incidents {} (one flapping alert)", incidents.join(", ")),
        };
        let description = format!(
            "{which} on {}: {}. Metrics: {}. Peak severity {}, peak score {:.3}.",
            labels.get("instance").map_or("this host", String::as_str),
            alert.summary,
            alert.metrics.join(", "),
            alert.peak_severity,
            alert.peak_score,
        );
        let mut annotations = BTreeMap::new();
        annotations.insert("summary".into(), alert.summary.clone());
        annotations.insert("description".into(), description);
        annotations.insert("dashboard".into(), origin.dashboard.clone());
        annotations.insert("incidents".into(), incidents.join(","));
        annotations.insert("peak_severity".into(), alert.peak_severity.as_str().into());
        Message {
            alert: alert.id,
            notify,
            labels,
            annotations,
            starts_ms: alert.starts_ms,
            ends_ms: (notify == Notify::Resolved).then_some(alert.ends_ms.unwrap_or(time_ms)),
            time_ms,
        }
    }

    /// The alert `--alert-test` sends: firing, labelled `severity="none"`, so a
    /// route can tell it from real ones.
    pub fn test(origin: &Origin, now_ms: i64) -> Message {
        let mut labels = origin.labels.clone();
        labels.insert("alertname".into(), TEST_ALERT_NAME.into());
        labels.insert("severity".into(), "none".into());
        let mut annotations = BTreeMap::new();
        let summary = "Test alert from metrics watch --alert-test: this receiver works";
        annotations.insert("summary".into(), summary.into());
        annotations.insert("description".into(), format!("{summary}."));
        annotations.insert("dashboard".into(), origin.dashboard.clone());
        Message {
            alert: 0,
            notify: Notify::Firing,
            labels,
            annotations,
            starts_ms: now_ms,
            ends_ms: None,
            time_ms: now_ms,
        }
    }

    /// `firing` or `resolved`.
    pub fn status(&self) -> &'static str {
        match self.notify {
            Notify::Firing | Notify::Repeat => "firing",
            Notify::Resolved => "resolved",
        }
    }

    /// The label set's fingerprint as Alertmanager computes it (FNV-1a 64 over the
    /// sorted names and values, each followed by a 0xff byte), in hex: the same
    /// alert keeps it from firing to resolved.
    pub fn fingerprint(&self) -> String {
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        let mut add = |bytes: &[u8]| {
            for &b in bytes.iter().chain(std::iter::once(&0xff)) {
                hash ^= u64::from(b);
                hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
            }
        };
        for (name, value) in &self.labels {
            add(name.as_bytes());
            add(value.as_bytes());
        }
        format!("{hash:016x}")
    }

    /// The body of `POST /api/v2/alerts`, sent at wall time `now_ms`: a firing
    /// alert ends [`ALERTMANAGER_VALID_MS`] from now unless pushed again; a
    /// resolved one ends when its last incident did.
    pub fn alertmanager_body(&self, now_ms: i64) -> Value {
        let ends = match self.ends_ms {
            Some(end) => end,
            None => now_ms.max(self.time_ms) + ALERTMANAGER_VALID_MS,
        };
        json!([{
            "labels": self.labels,
            "annotations": self.annotations,
            "startsAt": to_iso(self.starts_ms),
            "endsAt": to_iso(ends),
            "generatorURL": self.generator_url(),
        }])
    }

    /// The body Alertmanager's webhook receivers get (version 4), as sent to the
    /// receiver named `receiver`: one alert per message.
    pub fn webhook_body(&self, receiver: &str) -> Value {
        let group: BTreeMap<&str, &str> = ["alertname", "instance"]
            .iter()
            .filter_map(|&k| self.labels.get(k).map(|v| (k, v.as_str())))
            .collect();
        let group_key = format!(
            "{{}}:{{{}}}",
            group
                .iter()
                .map(|(k, v)| format!("{k}={v:?}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        json!({
            "version": "4",
            "groupKey": group_key,
            "truncatedAlerts": 0,
            "status": self.status(),
            "receiver": receiver,
            "groupLabels": group,
            "commonLabels": self.labels,
            "commonAnnotations": self.annotations,
            "externalURL": self.annotations.get("dashboard"),
            "alerts": [{
                "status": self.status(),
                "labels": self.labels,
                "annotations": self.annotations,
                "startsAt": to_iso(self.starts_ms),
                "endsAt": self.ends_ms.map_or(NO_END.to_string(), to_iso),
                "generatorURL": self.generator_url(),
                "fingerprint": self.fingerprint(),
            }],
        })
    }

    /// The environment a command receiver runs with: the main fields, so a
    /// one-line script needs no JSON parser.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        let label = |k: &str| self.labels.get(k).cloned().unwrap_or_default();
        let note = |k: &str| self.annotations.get(k).cloned().unwrap_or_default();
        vec![
            ("METRICS_ALERT_STATUS", self.status().into()),
            ("METRICS_ALERT_NAME", label("alertname")),
            ("METRICS_ALERT_SEVERITY", label("severity")),
            ("METRICS_ALERT_INSTANCE", label("instance")),
            ("METRICS_ALERT_METRIC", label("metric")),
            ("METRICS_ALERT_SUMMARY", note("summary")),
            ("METRICS_ALERT_INCIDENTS", note("incidents")),
            ("METRICS_ALERT_STARTS_AT", to_iso(self.starts_ms)),
            (
                "METRICS_ALERT_ENDS_AT",
                self.ends_ms.map_or(String::new(), to_iso),
            ),
            ("METRICS_ALERT_FINGERPRINT", self.fingerprint()),
            ("METRICS_ALERT_DASHBOARD", note("dashboard")),
        ]
    }

    /// Where the alert can be seen: the dashboard, at its incidents.
    fn generator_url(&self) -> String {
        let dashboard = self
            .annotations
            .get("dashboard")
            .cloned()
            .unwrap_or_default();
        match self
            .annotations
            .get("incidents")
            .and_then(|i| i.split(',').next())
        {
            Some(first) if !first.is_empty() => format!("{dashboard}#incident-{first}"),
            _ => dashboard,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerts::policy::AlertState;
    use crate::detector::Severity;

    fn alert() -> Alert {
        Alert {
            id: 3,
            state: AlertState::Firing,
            incidents: vec![7],
            severity: Severity::Critical,
            peak_severity: Severity::Critical,
            metric: "cpu_percent".into(),
            metrics: vec!["cpu_percent".into(), "memory_percent".into()],
            summary: "critical anomaly on cpu_percent".into(),
            peak_score: 0.97,
            starts_ms: 1_736_157_800_000,
            ends_ms: Some(1_736_157_900_000),
            fired_ms: Some(1_736_157_830_000),
        }
    }

    fn origin() -> Origin {
        Origin {
            labels: BTreeMap::from([("instance".to_string(), "web-1".to_string())]),
            dashboard: "http://127.0.0.1:5000/".into(),
        }
    }

    #[test]
    fn the_fingerprint_is_alertmanagers() {
        // Alertmanager's fingerprint of {alertname="test"} (Go's
        // model.LabelSet.Fingerprint), as its API reports it.
        let m = Message {
            labels: BTreeMap::from([("alertname".to_string(), "test".to_string())]),
            ..Message::test(&origin(), 0)
        };
        assert_eq!(m.fingerprint(), "1f56cb8f931d1bd4");
    }

    #[test]
    fn firing_and_resolved_keep_one_fingerprint_and_resolved_ends_with_the_incident() {
        let firing = Message::of(&alert(), Notify::Firing, &origin(), 1_736_157_830_000);
        let resolved = Message::of(&alert(), Notify::Resolved, &origin(), 1_736_158_020_000);
        assert_eq!(firing.fingerprint(), resolved.fingerprint());
        let body = resolved.webhook_body("ops");
        assert_eq!(body["status"], "resolved");
        assert_eq!(body["alerts"][0]["endsAt"], "2025-01-06T10:05:00Z");
        let body = firing.webhook_body("ops");
        assert_eq!(body["version"], "4");
        assert_eq!(body["alerts"][0]["endsAt"], NO_END);
        assert_eq!(body["commonLabels"]["severity"], "critical");
        assert_eq!(
            body["groupKey"],
            "{}:{alertname=\"MetricsAnomaly\", instance=\"web-1\"}"
        );
        assert_eq!(
            body["alerts"][0]["generatorURL"],
            "http://127.0.0.1:5000/#incident-7"
        );
    }

    #[test]
    fn alertmanager_gets_a_firing_alert_that_expires_unless_pushed_again() {
        let firing = Message::of(&alert(), Notify::Firing, &origin(), 1_736_157_830_000);
        let now = 1_800_000_000_000;
        let body = firing.alertmanager_body(now);
        assert_eq!(body[0]["labels"]["alertname"], ALERT_NAME);
        assert_eq!(body[0]["endsAt"], to_iso(now + ALERTMANAGER_VALID_MS));
        assert_eq!(body[0]["startsAt"], "2025-01-06T10:03:20Z");
    }
}
