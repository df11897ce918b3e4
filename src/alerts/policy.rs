//! When an incident becomes an alert, and when the alert ends: the pending time
//! (`for`, as in Prometheus rules), the least severity worth telling, hysteresis
//! (`keep_firing_for`, which also folds an incident that closes and reopens into
//! one alert) and the repeat interval. Time is the samples' own, so a replay
//! alerts exactly as the session it records did, at any speed.

use serde::Serialize;

use crate::detector::{Change, Incident, Severity};

/// The settings that decide which incidents are told, and when.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Policy {
    /// Least peak severity an incident must reach to become an alert.
    pub min_severity: Severity,
    /// How long (ms) an incident must stay open at that severity before the alert
    /// fires: shorter ones end by themselves, and nobody needs to be woken for them.
    pub pending_ms: i64,
    /// How long (ms) a firing alert stays firing after its incident closes: an
    /// incident opening within it continues the same alert (no new notification),
    /// so a flapping metric gives one alert, not one per flap.
    pub keep_firing_ms: i64,
    /// How often (ms) receivers are told again of an alert whose incident is
    /// still open.
    pub repeat_ms: i64,
}

impl Default for Policy {
    /// High and critical incidents only (a medium one is worth a look on the page,
    /// not a notification), after 30 s, kept 2 min, repeated every 4 h
    /// (Alertmanager's own repeat interval).
    fn default() -> Policy {
        Policy {
            min_severity: Severity::High,
            pending_ms: 30_000,
            keep_firing_ms: 120_000,
            repeat_ms: 4 * 3_600_000,
        }
    }
}

/// Where an alert stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertState {
    /// Its incident is open but has not lasted the pending time yet.
    Pending,
    /// Told to the receivers; not resolved yet.
    Firing,
    /// Its last incident closed, and no other followed within `keep_firing_for`.
    Resolved,
    /// Its incident closed before the pending time: never told.
    Cancelled,
}

impl AlertState {
    /// The word used on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertState::Pending => "pending",
            AlertState::Firing => "firing",
            AlertState::Resolved => "resolved",
            AlertState::Cancelled => "cancelled",
        }
    }
}

/// One alert: one incident, or several that followed each other within
/// `keep_firing_for`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Alert {
    /// 1, 2, ... in the order alerts began pending.
    pub id: u64,
    /// Where it stands.
    pub state: AlertState,
    /// Ids of its incidents, oldest first.
    pub incidents: Vec<u64>,
    /// Its severity label: the incidents' peak when it fired (or so far, while
    /// pending). Fixed once fired, so receivers see one alert, not one per step.
    pub severity: Severity,
    /// The worst severity of its incidents so far.
    pub peak_severity: Severity,
    /// The metric that drove it most, when it fired.
    pub metric: String,
    /// Every metric its incidents named, the most frequent first.
    pub metrics: Vec<String>,
    /// The latest incident's one-line summary.
    pub summary: String,
    /// Highest anomaly score of its incidents.
    pub peak_score: f64,
    /// Start of its first incident (Unix ms).
    pub starts_ms: i64,
    /// End of its last incident, once resolved (Unix ms).
    pub ends_ms: Option<i64>,
    /// When it fired (Unix ms, sample time).
    pub fired_ms: Option<i64>,
}

/// What receivers must be told.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Notify {
    /// The alert fired.
    Firing,
    /// The alert is still firing, a repeat interval after it was last told.
    Repeat,
    /// The alert is resolved.
    Resolved,
}

/// What one sample did to the alert: its new state, and what receivers are told.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// The alert as it now stands.
    pub alert: Alert,
    /// What receivers are told, if anything.
    pub notify: Option<Notify>,
}

/// The alert in progress, and what its timing depends on.
#[derive(Debug, Clone)]
struct Active {
    alert: Alert,
    /// When its incident reached the least severity.
    pending_since: i64,
    /// When receivers were last told it fires.
    told_ms: Option<i64>,
    /// Its incident still open, if any.
    open: Option<u64>,
    /// When its last incident closed (it keeps firing until `keep_firing_for`).
    quiet_since: Option<i64>,
}

/// The alerts of a session's incidents, sample by sample. Incidents never
/// overlap, so at most one alert is in progress.
#[derive(Debug, Clone, Default)]
pub struct Alerting {
    policy: Policy,
    active: Option<Active>,
    began: u64,
}

impl Alerting {
    /// No alert yet, under `policy`.
    pub fn new(policy: Policy) -> Alerting {
        Alerting {
            policy,
            active: None,
            began: 0,
        }
    }

    /// The policy in force.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Takes the next sample, at `now` (Unix ms), with the incident change it
    /// made, if any. Returns the alert's new state when it changed.
    pub fn observe(&mut self, now: i64, change: Option<&Change>) -> Option<Step> {
        let mut changed = false;
        match change {
            Some(Change::Opened(incident) | Change::Updated(incident))
                if incident.peak_severity >= self.policy.min_severity =>
            {
                changed = true;
                match &mut self.active {
                    Some(active) => {
                        if active.open != Some(incident.id) {
                            active.alert.incidents.push(incident.id);
                            active.open = Some(incident.id);
                            active.quiet_since = None;
                        }
                        active.take(incident);
                    }
                    None => {
                        self.began += 1;
                        self.active = Some(Active::begin(self.began, now, incident));
                    }
                }
            }
            Some(Change::Closed(incident)) => {
                if let Some(active) = &mut self.active
                    && active.open == Some(incident.id)
                {
                    active.take(incident);
                    active.open = None;
                    if active.alert.state == AlertState::Pending {
                        let mut alert = self.active.take()?.alert;
                        alert.state = AlertState::Cancelled;
                        alert.ends_ms = incident.end_ms;
                        return Some(Step {
                            alert,
                            notify: None,
                        });
                    }
                    active.quiet_since = Some(now);
                    changed = true;
                }
            }
            _ => {}
        }
        let policy = self.policy;
        let active = self.active.as_mut()?;
        let mut notify = None;
        match active.alert.state {
            AlertState::Pending if now - active.pending_since >= policy.pending_ms => {
                active.alert.state = AlertState::Firing;
                active.alert.severity = active.alert.peak_severity;
                active.alert.fired_ms = Some(now);
                active.told_ms = Some(now);
                notify = Some(Notify::Firing);
            }
            AlertState::Firing => match active.quiet_since {
                Some(quiet) if now - quiet >= policy.keep_firing_ms => {
                    let mut alert = self.active.take()?.alert;
                    alert.state = AlertState::Resolved;
                    return Some(Step {
                        alert,
                        notify: Some(Notify::Resolved),
                    });
                }
                None if active
                    .told_ms
                    .is_some_and(|told| now - told >= policy.repeat_ms) =>
                {
                    active.told_ms = Some(now);
                    notify = Some(Notify::Repeat);
                }
                _ => {}
            },
            _ => {}
        }
        (changed || notify.is_some()).then(|| Step {
            alert: active.alert.clone(),
            notify,
        })
    }

    /// The alert in progress (pending or firing), if any.
    pub fn current(&self) -> Option<&Alert> {
        self.active.as_ref().map(|a| &a.alert)
    }

    /// Brings the alert in progress up to date with `incident`, the open
    /// incident as it stands now, when the alert follows it; returns the alert
    /// then. An incident is told as changed only when it grows worse, so without
    /// this a notification would describe the incident as it opened ("for 1
    /// sample"), not as it has lasted.
    pub fn refresh(&mut self, incident: &Incident) -> Option<&Alert> {
        let active = self.active.as_mut()?;
        if active.open != Some(incident.id) {
            return None;
        }
        active.take(incident);
        Some(&active.alert)
    }

    /// Ends the alert in progress because the session stops at `now` (sample
    /// time): a firing one is resolved, as Alertmanager resolves an alert whose
    /// source stops sending it, so no receiver is left holding an alert nobody
    /// will end; its summary says why when its incident was still open. One
    /// still pending is cancelled, never told.
    pub fn stop(&mut self, now: i64) -> Option<Step> {
        let active = self.active.take()?;
        let mut alert = active.alert;
        let open = active.open.is_some();
        if open {
            alert.ends_ms = Some(now);
        }
        if alert.state != AlertState::Firing {
            alert.state = AlertState::Cancelled;
            return Some(Step {
                alert,
                notify: None,
            });
        }
        if open {
            alert.summary = format!("{} (watch stopped while it was open)", alert.summary);
        }
        alert.state = AlertState::Resolved;
        Some(Step {
            alert,
            notify: Some(Notify::Resolved),
        })
    }
}

impl Active {
    fn begin(id: u64, now: i64, incident: &Incident) -> Active {
        let mut active = Active {
            alert: Alert {
                id,
                state: AlertState::Pending,
                incidents: vec![incident.id],
                severity: incident.peak_severity,
                peak_severity: incident.peak_severity,
                metric: String::new(),
                metrics: Vec::new(),
                summary: String::new(),
                peak_score: incident.peak_score,
                starts_ms: incident.start_ms.unwrap_or(now),
                ends_ms: None,
                fired_ms: None,
            },
            pending_since: now,
            told_ms: None,
            open: Some(incident.id),
            quiet_since: None,
        };
        active.take(incident);
        active
    }

    /// Brings the alert up to date with one of its incidents as it stands.
    fn take(&mut self, incident: &Incident) {
        let alert = &mut self.alert;
        alert.peak_severity = alert.peak_severity.max(incident.peak_severity);
        alert.peak_score = alert.peak_score.max(incident.peak_score);
        if alert.state == AlertState::Pending {
            alert.severity = alert.peak_severity;
            alert.metric = incident.metrics.first().cloned().unwrap_or_default();
        }
        for m in &incident.metrics {
            if !alert.metrics.contains(m) {
                alert.metrics.push(m.clone());
            }
        }
        alert.summary = incident.summary.clone();
        alert.ends_ms = incident.end_ms;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn incident(id: u64, start: i64, end: i64, severity: Severity) -> Incident {
        Incident::sketch(id, start, end, severity, "cpu_percent")
    }

    /// Runs one sample a second from 0 to `until` s, with the changes given by
    /// second; returns every step, by second.
    fn run(policy: Policy, until: i64, changes: &[(i64, Change)]) -> Vec<(i64, Step)> {
        let mut alerting = Alerting::new(policy);
        (0..=until)
            .filter_map(|s| {
                let change = changes.iter().find(|(at, _)| *at == s).map(|(_, c)| c);
                alerting.observe(s * 1000, change).map(|step| (s, step))
            })
            .collect()
    }

    fn notices(steps: &[(i64, Step)]) -> Vec<(i64, Notify)> {
        steps
            .iter()
            .filter_map(|(s, step)| step.notify.map(|n| (*s, n)))
            .collect()
    }

    #[test]
    fn an_incident_fires_after_the_pending_time_and_resolves_after_keep_firing_for() {
        let policy = Policy::default();
        let i = incident(1, 10_000, 10_000, Severity::Critical);
        let steps = run(
            policy,
            400,
            &[
                (10, Change::Opened(i.clone())),
                (
                    100,
                    Change::Closed(incident(1, 10_000, 99_000, Severity::Critical)),
                ),
            ],
        );
        assert_eq!(
            notices(&steps),
            vec![(40, Notify::Firing), (220, Notify::Resolved)]
        );
        let resolved = &steps.last().unwrap().1.alert;
        assert_eq!(resolved.state, AlertState::Resolved);
        assert_eq!(
            (resolved.starts_ms, resolved.ends_ms),
            (10_000, Some(99_000))
        );
    }

    #[test]
    fn an_incident_shorter_than_the_pending_time_is_never_told() {
        let steps = run(
            Policy::default(),
            300,
            &[
                (
                    10,
                    Change::Opened(incident(1, 10_000, 10_000, Severity::Critical)),
                ),
                (
                    25,
                    Change::Closed(incident(1, 10_000, 24_000, Severity::Critical)),
                ),
            ],
        );
        assert!(notices(&steps).is_empty());
        assert_eq!(steps.last().unwrap().1.alert.state, AlertState::Cancelled);
    }

    #[test]
    fn incidents_below_the_least_severity_are_not_alerts() {
        let steps = run(
            Policy::default(),
            300,
            &[(
                10,
                Change::Opened(incident(1, 10_000, 10_000, Severity::Medium)),
            )],
        );
        assert!(steps.is_empty());
    }

    #[test]
    fn a_flapping_incident_is_one_alert() {
        // An incident every 20 s, each open 10 s, for ten minutes.
        let mut changes = Vec::new();
        for k in 0..30 {
            let (open, close) = (10 + 20 * k, 20 + 20 * k);
            let i = incident(k as u64 + 1, open * 1000, open * 1000, Severity::High);
            changes.push((open, Change::Opened(i.clone())));
            changes.push((close, Change::Closed(i)));
        }
        let policy = Policy {
            pending_ms: 5_000,
            ..Policy::default()
        };
        let steps = run(policy, 1000, &changes);
        assert_eq!(
            notices(&steps),
            vec![(15, Notify::Firing), (600 + 120, Notify::Resolved)]
        );
        assert_eq!(steps.last().unwrap().1.alert.incidents.len(), 30);
    }

    #[test]
    fn a_long_incident_is_told_again_each_repeat_interval_and_keeps_its_labels() {
        let policy = Policy {
            repeat_ms: 100_000,
            ..Policy::default()
        };
        let steps = run(
            policy,
            300,
            &[
                (0, Change::Opened(incident(1, 0, 0, Severity::High))),
                (
                    50,
                    Change::Updated(incident(1, 0, 50_000, Severity::Critical)),
                ),
            ],
        );
        assert_eq!(
            notices(&steps),
            vec![
                (30, Notify::Firing),
                (130, Notify::Repeat),
                (230, Notify::Repeat)
            ]
        );
        let last = &steps.last().unwrap().1.alert;
        assert_eq!(last.severity, Severity::High, "labels stay as fired");
        assert_eq!(last.peak_severity, Severity::Critical);
    }

    #[test]
    fn a_notification_tells_the_incident_as_it_stands_when_it_fires() {
        let mut alerting = Alerting::new(Policy::default());
        let opened = incident(1, 0, 0, Severity::Critical);
        alerting.observe(0, Some(&Change::Opened(opened)));
        let step = alerting.observe(30_000, None).unwrap();
        assert_eq!(step.notify, Some(Notify::Firing));
        assert_eq!(step.alert.summary, "incident 1", "as it opened");
        let mut lasted = incident(1, 0, 30_000, Severity::Critical);
        lasted.summary = "31 samples".into();
        let refreshed = alerting.refresh(&lasted).unwrap();
        assert_eq!(
            (refreshed.summary.as_str(), refreshed.ends_ms),
            ("31 samples", Some(30_000))
        );
        let other = incident(2, 0, 30_000, Severity::Critical);
        assert!(alerting.refresh(&other).is_none(), "not its incident");
    }

    #[test]
    fn a_session_stopping_resolves_a_firing_alert_and_cancels_a_pending_one() {
        let mut firing = Alerting::new(Policy::default());
        firing.observe(0, Some(&Change::Opened(incident(1, 0, 0, Severity::High))));
        firing.observe(30_000, None);
        let step = firing.stop(45_000).unwrap();
        assert_eq!(step.notify, Some(Notify::Resolved));
        assert_eq!(step.alert.state, AlertState::Resolved);
        assert_eq!(step.alert.ends_ms, Some(45_000));
        assert_eq!(
            step.alert.summary,
            "incident 1 (watch stopped while it was open)"
        );
        assert!(firing.current().is_none() && firing.stop(46_000).is_none());

        let mut pending = Alerting::new(Policy::default());
        pending.observe(0, Some(&Change::Opened(incident(1, 0, 0, Severity::High))));
        let step = pending.stop(10_000).unwrap();
        assert_eq!(
            (step.notify, step.alert.state),
            (None, AlertState::Cancelled)
        );

        let mut quiet = Alerting::new(Policy::default());
        quiet.observe(0, Some(&Change::Opened(incident(1, 0, 0, Severity::High))));
        quiet.observe(30_000, None);
        let closed = incident(1, 0, 40_000, Severity::High);
        quiet.observe(41_000, Some(&Change::Closed(closed)));
        let step = quiet.stop(60_000).unwrap();
        assert_eq!(step.notify, Some(Notify::Resolved));
        assert_eq!(
            (step.alert.ends_ms, step.alert.summary.as_str()),
            (Some(40_000), "incident 1"),
            "its incident had ended"
        );
    }

    #[test]
    fn no_pending_time_fires_with_the_opening_sample() {
        let policy = Policy {
            pending_ms: 0,
            ..Policy::default()
        };
        let steps = run(
            policy,
            5,
            &[(
                3,
                Change::Opened(incident(1, 3000, 3000, Severity::Critical)),
            )],
        );
        assert_eq!(notices(&steps), vec![(3, Notify::Firing)]);
    }
}
