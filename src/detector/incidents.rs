//! Incidents: what a person acts on. A run of consecutive anomalous rows (held ones
//! included, see [`super::hold`]) is one incident, with an id, a start and an end,
//! its peak score and severity, the metrics that drove it and a one-line summary.
//! The same tracker runs over a batch's verdicts and over a live stream's, so both
//! report the same incidents.

use serde::{Deserialize, Serialize};

use super::reasons;
use super::verdict::{Severity, Verdict};

/// One incident: consecutive anomalous rows. It reads back from the line
/// `incidents.jsonl` keeps of it (without what only its tracker needs).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Incident {
    /// 1, 2, ... in the order incidents opened.
    pub id: u64,
    /// 1-based data row of its first row (the header is not counted).
    pub first_row: usize,
    /// 1-based data row of its last row so far.
    pub last_row: usize,
    /// Time of its first row (Unix ms), when the rows have times.
    pub start_ms: Option<i64>,
    /// Time of its last row so far (Unix ms), when the rows have times.
    pub end_ms: Option<i64>,
    /// Whether it was still going on at the last row seen.
    pub open: bool,
    /// Rows it spans.
    pub rows: usize,
    /// Highest anomaly score of its rows.
    pub peak_score: f64,
    /// Highest severity of its rows.
    pub peak_severity: Severity,
    /// The metrics that drove its rows, the most frequent first (as last told).
    pub metrics: Vec<String>,
    /// One line a person reads first (as last told).
    pub summary: String,
    /// The most telling reason: the first of its worst row's own reasons.
    #[serde(skip)]
    worst_reason: Option<String>,
    /// How many of its rows each metric drove, in the order they first did.
    #[serde(skip)]
    drivers: Vec<(String, usize)>,
}

impl Incident {
    /// How long it has lasted in seconds (last row's time minus the first's), when
    /// the rows have times that run forward: in a file whose times go backwards
    /// (told by `analysis::time_order`) the difference is no duration.
    pub fn duration_s(&self) -> Option<f64> {
        let ms = self.end_ms? - self.start_ms?;
        (ms >= 0).then(|| ms as f64 / 1000.0)
    }

    /// Takes one more of its rows. The metrics and the summary are brought up to
    /// date by [`Incident::settle`], only when someone is told.
    fn add(&mut self, row: usize, time: Option<i64>, verdict: &Verdict, metric: Option<&str>) {
        self.last_row = row;
        self.end_ms = time;
        self.rows += 1;
        let worse = (verdict.severity, verdict.anomaly_score)
            > (self.peak_severity, self.peak_score)
            || self.worst_reason.is_none();
        if worse && let Some(reason) = own_reason(verdict) {
            self.worst_reason = Some(reason.to_string());
        }
        self.peak_severity = self.peak_severity.max(verdict.severity);
        self.peak_score = self.peak_score.max(verdict.anomaly_score);
        if let Some(metric) = metric {
            match self.drivers.iter_mut().find(|(m, _)| m == metric) {
                Some((_, n)) => *n += 1,
                None => self.drivers.push((metric.to_string(), 1)),
            }
        }
    }

    /// Its state as told: the metrics by how many rows they drove (a stable sort
    /// keeps first appearance among equals) and the summary.
    fn settle(&mut self) -> Incident {
        let mut order: Vec<&(String, usize)> = self.drivers.iter().collect();
        order.sort_by_key(|d| std::cmp::Reverse(d.1));
        self.metrics = order.into_iter().map(|(m, _)| m.clone()).collect();
        self.summary = reasons::incident_summary(
            self.peak_severity,
            &self.metrics,
            self.rows,
            self.duration_s(),
            self.peak_score,
            self.worst_reason.as_deref(),
        );
        self.clone()
    }
}

#[cfg(test)]
impl Incident {
    /// An incident as told, for tests elsewhere: `id`, from `start_ms` to
    /// `end_ms`, at `severity`, driven by `metric`.
    pub(crate) fn sketch(
        id: u64,
        start_ms: i64,
        end_ms: i64,
        severity: Severity,
        metric: &str,
    ) -> Incident {
        Incident {
            id,
            first_row: 1,
            last_row: 1,
            start_ms: Some(start_ms),
            end_ms: Some(end_ms),
            open: true,
            rows: 1,
            peak_score: 0.9,
            peak_severity: severity,
            metrics: vec![metric.to_string()],
            summary: format!("incident {id}"),
            worst_reason: None,
            drivers: Vec::new(),
        }
    }
}

/// A row's first reason that is about the row itself, not the incident it continues.
fn own_reason(verdict: &Verdict) -> Option<&str> {
    verdict
        .reasons
        .iter()
        .map(String::as_str)
        .find(|r| !reasons::is_held(r))
}

/// What one row did to the incidents.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// A new incident began with this row.
    Opened(Incident),
    /// The open incident grew worse: a higher severity, or a metric it had not
    /// named.
    Updated(Incident),
    /// The open incident ended before this row: the row is not anomalous, or it
    /// comes after a pause in the rows (see [`Verdict::after_pause`]).
    Closed(Incident),
}

/// Follows verdicts row by row and keeps the open incident.
#[derive(Debug, Clone, Default)]
pub struct IncidentTracker {
    opened: u64,
    open: Option<Incident>,
}

impl IncidentTracker {
    /// A tracker whose first incident is numbered `last_id + 1`: a live session
    /// goes on from the incidents its log folder already holds.
    pub fn numbered_after(last_id: u64) -> IncidentTracker {
        IncidentTracker {
            opened: last_id,
            open: None,
        }
    }

    /// Takes the next row's verdict: `row` is its 1-based data row, `time` its time
    /// when known, `metrics` the model's metric names (to name its top metric).
    /// Returns what changed worth telling, in order: at most two changes, when a
    /// row after a pause closes one incident and opens the next. An incident never
    /// spans a pause, so a host asleep for a night is no eight-hour incident.
    pub fn push(
        &mut self,
        row: usize,
        time: Option<i64>,
        verdict: &Verdict,
        metrics: &[String],
    ) -> impl Iterator<Item = Change> + use<> {
        let ended = if verdict.after_pause {
            self.close()
        } else {
            None
        };
        ended
            .into_iter()
            .chain(self.take(row, time, verdict, metrics))
    }

    /// Ends the open incident, if any.
    fn close(&mut self) -> Option<Change> {
        let mut closed = self.open.take()?;
        closed.open = false;
        Some(Change::Closed(closed.settle()))
    }

    /// What the row does to the open incident: ends it, extends it, or opens one.
    fn take(
        &mut self,
        row: usize,
        time: Option<i64>,
        verdict: &Verdict,
        metrics: &[String],
    ) -> Option<Change> {
        let metric = verdict.top_metric_name(metrics);
        if !verdict.is_anomaly {
            return self.close();
        }
        match &mut self.open {
            Some(incident) => {
                let (severity, named) = (incident.peak_severity, incident.drivers.len());
                incident.add(row, time, verdict, metric);
                (incident.peak_severity > severity || incident.drivers.len() > named)
                    .then(|| Change::Updated(incident.settle()))
            }
            None => {
                self.opened += 1;
                let mut incident = Incident {
                    id: self.opened,
                    first_row: row,
                    last_row: row,
                    start_ms: time,
                    end_ms: time,
                    open: true,
                    rows: 0,
                    peak_score: verdict.anomaly_score,
                    peak_severity: verdict.severity,
                    metrics: Vec::new(),
                    summary: String::new(),
                    worst_reason: None,
                    drivers: Vec::new(),
                };
                incident.add(row, time, verdict, metric);
                let told = incident.settle();
                self.open = Some(incident);
                Some(Change::Opened(told))
            }
        }
    }

    /// The incident still open, if any, as it stands.
    pub fn open(&mut self) -> Option<Incident> {
        self.open.as_mut().map(Incident::settle)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every incident in `verdicts` (rows in order, at `times`), the last one marked
    /// open when it runs to the end, as an analysis tallies them.
    fn incidents_of(verdicts: &[Verdict], times: &[i64], metrics: &[String]) -> Vec<Incident> {
        let mut tracker = IncidentTracker::default();
        let mut done = Vec::new();
        for (r, verdict) in verdicts.iter().enumerate() {
            for change in tracker.push(r + 1, Some(times[r]), verdict, metrics) {
                if let Change::Closed(incident) = change {
                    done.push(incident);
                }
            }
        }
        done.extend(tracker.open());
        done
    }

    fn verdict(score: f64, severity: Severity, metric: Option<usize>, reason: &str) -> Verdict {
        Verdict {
            anomaly_score: score,
            is_anomaly: severity > Severity::Normal,
            severity,
            z_max: 0.0,
            top_metric: metric,
            reasons: if reason.is_empty() {
                Vec::new()
            } else {
                vec![reason.to_string()]
            },
            after_pause: false,
        }
    }

    #[test]
    fn consecutive_anomalous_rows_are_one_incident_with_its_peak_and_metrics() {
        let metrics = vec!["cpu_percent".to_string(), "memory_percent".to_string()];
        let calm = verdict(0.2, Severity::Normal, None, "");
        let rows = [
            calm.clone(),
            verdict(0.55, Severity::Medium, Some(1), "memory_percent 80.0 % ..."),
            verdict(
                0.80,
                Severity::Critical,
                Some(0),
                "cpu_percent 99.0 % >= 95.0 %",
            ),
            verdict(0.45, Severity::Medium, Some(0), &reasons::held(2)),
            calm.clone(),
            verdict(0.6, Severity::High, Some(1), "memory_percent 85.0 % ..."),
        ];
        let times: Vec<i64> = (0..rows.len() as i64).map(|i| i * 1000).collect();
        let found = incidents_of(&rows, &times, &metrics);
        assert_eq!(found.len(), 2);
        let first = &found[0];
        assert_eq!((first.id, first.first_row, first.last_row), (1, 2, 4));
        assert_eq!(first.rows, 3);
        assert!(!first.open);
        assert_eq!(first.duration_s(), Some(2.0));
        assert_eq!(first.peak_severity, Severity::Critical);
        assert_eq!(first.peak_score, 0.80);
        assert_eq!(first.metrics, ["cpu_percent", "memory_percent"]);
        assert!(
            first.summary.contains("cpu_percent 99.0 % >= 95.0 %"),
            "{}",
            first.summary
        );
        let last = &found[1];
        assert_eq!((last.id, last.first_row, last.last_row), (2, 6, 6));
        assert!(last.open, "the last incident runs to the end of the rows");
    }

    /// What each of `rows` told, by name.
    fn told(tracker: &mut IncidentTracker, rows: &[&Verdict]) -> Vec<Vec<&'static str>> {
        let metrics = vec!["cpu_percent".to_string()];
        rows.iter()
            .enumerate()
            .map(|(i, v)| {
                tracker
                    .push(i + 1, None, v, &metrics)
                    .map(|c| match c {
                        Change::Opened(_) => "opened",
                        Change::Updated(_) => "updated",
                        Change::Closed(_) => "closed",
                    })
                    .collect()
            })
            .collect()
    }

    #[test]
    fn the_tracker_tells_opening_worsening_and_closing_once_each() {
        let mut tracker = IncidentTracker::default();
        let medium = verdict(0.55, Severity::Medium, Some(0), "x");
        let critical = verdict(0.9, Severity::Critical, Some(0), "y");
        let calm = verdict(0.1, Severity::Normal, None, "");
        let rows = [&medium, &medium, &critical, &critical, &calm, &calm];
        assert_eq!(
            told(&mut tracker, &rows),
            [
                vec!["opened"],
                vec![],
                vec!["updated"],
                vec![],
                vec!["closed"],
                vec![]
            ]
        );
        assert!(tracker.open().is_none());
    }

    #[test]
    fn an_incident_ends_at_a_pause_in_the_rows_and_the_next_row_opens_its_own() {
        let critical = verdict(0.9, Severity::Critical, Some(0), "cpu_percent 99.0 %");
        let medium = verdict(0.55, Severity::Medium, Some(0), "cpu_percent 60.0 %");
        let woke = |v: &Verdict| Verdict {
            after_pause: true,
            ..v.clone()
        };
        let calm = verdict(0.1, Severity::Normal, None, "");
        let mut tracker = IncidentTracker::default();
        let rows = [&critical, &critical, &woke(&medium), &medium, &calm];
        assert_eq!(
            told(&mut tracker, &rows),
            [
                vec!["opened"],
                vec![],
                vec!["closed", "opened"],
                vec![],
                vec!["closed"]
            ]
        );
        // An hour asleep between rows 2 and 3: neither incident spans it.
        let times = [0, 1000, 3_601_000, 3_602_000, 3_603_000];
        let rows = [
            critical.clone(),
            critical.clone(),
            woke(&medium),
            medium,
            calm.clone(),
        ];
        let found = incidents_of(&rows, &times, &["cpu_percent".to_string()]);
        assert_eq!(found.len(), 2);
        assert_eq!((found[0].first_row, found[0].last_row), (1, 2));
        assert_eq!(found[0].duration_s(), Some(1.0));
        assert_eq!(found[0].peak_severity, Severity::Critical);
        assert_eq!((found[1].first_row, found[1].last_row), (3, 4));
        assert_eq!(found[1].peak_severity, Severity::Medium);
        // A calm row after a pause closes the incident once.
        let mut tracker = IncidentTracker::default();
        let rows = [&critical, &woke(&calm)];
        assert_eq!(told(&mut tracker, &rows), [vec!["opened"], vec!["closed"]]);
    }

    #[test]
    fn times_that_go_backwards_give_no_duration() {
        let metrics = vec!["cpu_percent".to_string()];
        let medium = verdict(0.55, Severity::Medium, Some(0), "cpu_percent 60.0 % ...");
        let found = incidents_of(&[medium.clone(), medium], &[5000, 1000], &metrics);
        assert_eq!(found[0].duration_s(), None);
        assert!(!found[0].summary.contains(" s)"), "{}", found[0].summary);
    }
}
