//! What an analysis found, as one serialisable summary: counts by severity, timings,
//! quality against labels, and the worst rows. The terminal table, `--json` and the
//! web upload all render this one structure.

use std::collections::BTreeMap;
use std::fmt::Write;

use serde::Serialize;

use crate::analysis::Analysis;
use crate::analysis::row_warnings::RowWarnings;
use crate::detector::{Change, Incident, IncidentTracker, Severity, Verdict, reasons};
use crate::evaluation::{Quality, evaluate};
use crate::io::input::Table;
use crate::io::spool::Spool;
use crate::timestamp;

/// One flagged row, as reported.
#[derive(Debug, Clone, Serialize)]
pub struct Flagged {
    /// 1-based data row (the header is not counted).
    pub row: usize,
    /// The row's time, ISO 8601, when the input has a time column.
    pub time: Option<String>,
    /// Anomaly score, 0..1.
    pub score: f64,
    /// Severity.
    pub severity: Severity,
    /// The metric that drove the verdict.
    pub top_metric: Option<String>,
    /// Why.
    pub reasons: Vec<String>,
}

/// The outcome of one analysis.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// The input's name.
    pub source: String,
    /// Data rows.
    pub rows: usize,
    /// Rows the model was fitted on (0 with a loaded model).
    pub fit_rows: usize,
    /// Metrics judged.
    pub metrics: Vec<String>,
    /// What the reader left out and why, and whether the rows' times went backwards.
    pub warnings: Vec<String>,
    /// Rows flagged as anomalies.
    pub anomalies: usize,
    /// Anomalies per severity (normal rows not counted).
    pub by_severity: BTreeMap<Severity, usize>,
    /// Anomalies over rows.
    pub rate: f64,
    /// Seconds spent reading, fitting, scoring.
    pub seconds: BTreeMap<&'static str, f64>,
    /// Quality against the label column, when there is one with anomalies.
    pub quality: Option<Quality>,
    /// Incidents (runs of anomalous rows).
    pub incidents: usize,
    /// Incidents per peak severity.
    pub incidents_by_severity: BTreeMap<Severity, usize>,
    /// The worst incidents, highest peak severity then peak score first.
    pub worst_incidents: Vec<Incident>,
    /// The worst anomalies, highest severity then score first.
    pub worst: Vec<Flagged>,
}

/// The `limit` worst of `incidents`: highest peak severity, then peak score, then
/// the earliest.
pub fn worst_incidents(incidents: &[Incident], limit: usize) -> Vec<Incident> {
    let mut order: Vec<&Incident> = incidents.iter().collect();
    order.sort_by(|a, b| {
        b.peak_severity
            .cmp(&a.peak_severity)
            .then(b.peak_score.total_cmp(&a.peak_score))
            .then(a.id.cmp(&b.id))
    });
    order.into_iter().take(limit).cloned().collect()
}

/// The flagged rows of an analysis, worst first (severity, then score, then row).
pub fn flagged(table: &Table, analysis: &Analysis, limit: usize) -> Vec<Flagged> {
    let mut tally = Tally::new(limit);
    tally.add(table, 0, &analysis.verdicts, &analysis.model.metrics);
    tally.worst
}

/// What orders a flagged row in a report: its severity, score and 1-based row.
type RankKey = (Severity, f64, usize);

/// Worst first: highest severity, then score, then the earliest row.
fn worst_first(a: RankKey, b: RankKey) -> std::cmp::Ordering {
    b.0.cmp(&a.0).then(b.1.total_cmp(&a.1)).then(a.2.cmp(&b.2))
}

impl Flagged {
    fn rank(&self) -> RankKey {
        (self.severity, self.score, self.row)
    }
}

/// What an analysis found so far, taken window by window of rows in order: counts,
/// the worst rows, the incidents, and what quality against labels needs. It keeps
/// a few numbers per row only when there are labels.
#[derive(Debug, Default)]
pub struct Tally {
    /// Rows taken.
    rows: usize,
    /// Anomalies per severity.
    by_severity: BTreeMap<Severity, usize>,
    /// Ground truth, flag and score per row, when the input has labels.
    labelled: Option<(Vec<bool>, Vec<bool>, Vec<f64>)>,
    /// The worst flagged rows, worst first, at most `limit`.
    worst: Vec<Flagged>,
    limit: usize,
    /// The incidents closed so far, and the one open.
    tracker: IncidentTracker,
    incidents: Vec<Incident>,
    /// Every flagged row, when asked for: each as JSON in a spool on disk, with
    /// what orders it in memory (severity, score, row).
    every: Option<(Spool, Vec<RankKey>)>,
    /// What the rows said of the input: their times, their infinite cells.
    found: RowWarnings,
}

impl Tally {
    /// A tally that keeps the `limit` worst flagged rows.
    pub fn new(limit: usize) -> Tally {
        Tally {
            limit,
            ..Tally::default()
        }
    }

    /// A tally that also keeps every flagged row, for [`Tally::write_every_flagged`]:
    /// on disk, with about 40 bytes of memory each.
    pub fn keeping_every_flagged(limit: usize) -> std::io::Result<Tally> {
        Ok(Tally {
            every: Some((Spool::new()?, Vec::new())),
            ..Tally::new(limit)
        })
    }

    /// Takes the next rows: `table`'s from its row `from` on, one for each of
    /// `verdicts`, judged by a model of `metrics`.
    pub fn add(&mut self, table: &Table, from: usize, verdicts: &[Verdict], metrics: &[String]) {
        let rows = from..from + verdicts.len();
        self.found.add(table, rows.clone(), self.rows, metrics);
        let times = table.frame.times.as_ref().map(|t| &t[rows.clone()]);
        let mut flagged: Vec<(usize, &Verdict)> = Vec::new();
        let rank = |r: usize, v: &Verdict| (v.severity, v.anomaly_score, self.rows + r + 1);
        for (r, v) in verdicts.iter().enumerate() {
            let time = times.map(|t| t[r]);
            for change in self.tracker.push(self.rows + r + 1, time, v, metrics) {
                if let Change::Closed(incident) = change {
                    self.incidents.push(incident);
                }
            }
            if v.is_anomaly {
                *self.by_severity.entry(v.severity).or_insert(0) += 1;
                flagged.push((r, v));
            }
        }
        if let Some((spool, order)) = self.every.as_mut() {
            for &(r, v) in &flagged {
                let row = self.rows + r + 1;
                let entry = flagged_row(row, times.map(|t| t[r]), v, metrics);
                spool.push(&serde_json::to_vec(&entry).unwrap_or_default());
                order.push(rank(r, v));
            }
        }
        // Only the rows that can be among the worst are written out.
        flagged.sort_by(|&(ra, a), &(rb, b)| worst_first(rank(ra, a), rank(rb, b)));
        flagged.truncate(self.limit);
        self.worst.extend(
            flagged
                .into_iter()
                .map(|(r, v)| flagged_row(self.rows + r + 1, times.map(|t| t[r]), v, metrics)),
        );
        self.worst.sort_by(|a, b| worst_first(a.rank(), b.rank()));
        self.worst.truncate(self.limit);
        if let Some(labels) = &table.labels {
            let (l, f, s) = self.labelled.get_or_insert_default();
            l.extend_from_slice(&labels[rows]);
            f.extend(verdicts.iter().map(|v| v.is_anomaly));
            s.extend(verdicts.iter().map(|v| v.anomaly_score));
        }
        self.rows += verdicts.len();
    }

    /// The incidents, the last one marked open when it runs to the end.
    pub fn incidents(&mut self) -> Vec<Incident> {
        let mut all = std::mem::take(&mut self.incidents);
        all.extend(self.tracker.open());
        all
    }

    /// What to tell the user of the rows taken from `file`, found as they were
    /// taken (see [`RowWarnings`]). The summary lists it after the run's own
    /// warnings.
    pub fn found_warnings(&self, file: &str) -> Vec<String> {
        self.found.warnings(file)
    }

    /// The summary of every row taken, listing the `top` worst rows and incidents
    /// of `incidents` (from [`Tally::incidents`]).
    pub fn summary(&self, run: &Run, incidents: &[Incident], top: usize) -> Summary {
        let anomalies = self.by_severity.values().sum();
        let quality = self
            .labelled
            .as_ref()
            .and_then(|(labels, flagged, scores)| evaluate(labels, flagged, scores));
        let mut incidents_by_severity = BTreeMap::new();
        for i in incidents {
            *incidents_by_severity.entry(i.peak_severity).or_insert(0) += 1;
        }
        Summary {
            source: run.source.clone(),
            rows: self.rows,
            fit_rows: run.fit_rows,
            metrics: run.metrics.clone(),
            warnings: run
                .warnings
                .iter()
                .cloned()
                .chain(self.found_warnings(&run.source))
                .collect(),
            anomalies,
            by_severity: self.by_severity.clone(),
            rate: anomalies as f64 / self.rows.max(1) as f64,
            seconds: run.seconds.clone(),
            quality,
            incidents: incidents.len(),
            incidents_by_severity,
            worst_incidents: worst_incidents(incidents, top),
            worst: self.worst.iter().take(top).cloned().collect(),
        }
    }

    /// Writes every flagged row (from a [`Tally::keeping_every_flagged`]) as the
    /// elements of a JSON array, worst first, one to a line after `indent`.
    pub fn write_every_flagged(
        &mut self,
        indent: &str,
        out: &mut dyn std::io::Write,
    ) -> std::io::Result<()> {
        let Some((spool, order)) = self.every.as_mut() else {
            return Ok(());
        };
        let mut ranks: Vec<usize> = (0..order.len()).collect();
        ranks.sort_by(|&a, &b| worst_first(order[a], order[b]));
        let first = format!("\n{indent}");
        let separator = format!(",\n{indent}");
        spool.write_in(ranks, first.as_bytes(), separator.as_bytes(), out)
    }
}

/// Row `row` (1-based) at `time`, judged `v` by a model of `metrics`, as reported.
fn flagged_row(row: usize, time: Option<i64>, v: &Verdict, metrics: &[String]) -> Flagged {
    Flagged {
        row,
        time: time.map(timestamp::to_iso),
        score: v.anomaly_score,
        severity: v.severity,
        top_metric: v.top_metric_name(metrics).map(str::to_string),
        reasons: v.reasons.clone(),
    }
}

/// What a summary says of the run itself, beside what its rows were found to be.
#[derive(Debug, Clone, Default)]
pub struct Run {
    /// The input's name.
    pub source: String,
    /// Rows the model was fitted on (0 with a loaded model).
    pub fit_rows: usize,
    /// Metrics judged.
    pub metrics: Vec<String>,
    /// What the reader left out and why.
    pub warnings: Vec<String>,
    /// Seconds spent reading, fitting, scoring (and writing).
    pub seconds: BTreeMap<&'static str, f64>,
}

impl Summary {
    /// Summarises `analysis` of `table`, keeping the `top` worst rows.
    pub fn new(table: &Table, analysis: &Analysis, top: usize, read_seconds: f64) -> Summary {
        let mut tally = Tally::new(top);
        tally.add(table, 0, &analysis.verdicts, &analysis.model.metrics);
        let run = Run {
            source: table.source.clone(),
            fit_rows: analysis.fit_rows,
            metrics: analysis.model.metrics.clone(),
            warnings: table.warnings.clone(),
            seconds: BTreeMap::from([
                ("read", read_seconds),
                ("fit", analysis.fit_time.as_secs_f64()),
                ("score", analysis.score_time.as_secs_f64()),
            ]),
        };
        let incidents = tally.incidents();
        tally.summary(&run, &incidents, top)
    }

    /// The human-readable summary printed on standard error.
    pub fn render(&self) -> String {
        let mut s = String::new();
        let fit = if self.fit_rows > 0 {
            format!("fitted on {}", self.fit_rows)
        } else {
            "saved model".into()
        };
        let metrics = match self.metrics.len() {
            1 => "1 metric".to_string(),
            n => format!("{n} metrics"),
        };
        let _ = writeln!(s, "{}: {} rows, {metrics}, {fit}", self.source, self.rows);
        for warning in &self.warnings {
            let _ = writeln!(s, "warning: {warning}");
        }
        let _ = writeln!(
            s,
            "anomalies: {} ({:.2} %): {}",
            self.anomalies,
            100.0 * self.rate,
            by_severity(&self.by_severity)
        );
        let _ = writeln!(
            s,
            "incidents: {}: {}",
            self.incidents,
            by_severity(&self.incidents_by_severity)
        );
        let times: Vec<String> = ["read", "fit", "score", "write"]
            .iter()
            .filter_map(|k| self.seconds.get(k).map(|v| format!("{k} {v:.2} s")))
            .collect();
        let _ = writeln!(s, "time: {}", times.join(", "));
        if let Some(q) = &self.quality {
            let _ = writeln!(
                s,
                "against labels: precision {:.3}, recall {:.3}, F1 {:.3}, events caught {} of {}, AUC-PR {:.3}, ROC-AUC {:.3}",
                q.precision,
                q.recall,
                q.f1,
                (q.event_recall * q.events as f64).round(),
                q.events,
                q.auc_pr,
                q.roc_auc
            );
        }
        if !self.worst_incidents.is_empty() {
            let _ = writeln!(s, "worst incidents:");
            let _ = writeln!(s, "  {:<24} {:>6}  summary", "start / rows", "id");
            for i in &self.worst_incidents {
                let when = match i.start_ms {
                    Some(ms) => timestamp::to_iso(ms),
                    None => format!("rows {}-{}", i.first_row, i.last_row),
                };
                let _ = writeln!(s, "  {when:<24} {:>6}  {}", i.id, i.summary);
            }
        }
        if !self.worst.is_empty() {
            let _ = writeln!(s, "worst anomalies:");
            let _ = writeln!(
                s,
                "  {:<24} {:>6}  {:<8}  reasons",
                "time / row", "score", "severity"
            );
            for f in &self.worst {
                let when = f.time.clone().unwrap_or_else(|| format!("row {}", f.row));
                let _ = writeln!(
                    s,
                    "  {when:<24} {:>6.3}  {:<8}  {}",
                    f.score,
                    f.severity.as_str(),
                    f.reasons.join(reasons::SEPARATOR)
                );
            }
        }
        s
    }
}

/// `critical 3, high 1, medium 0`: a count per severity, worst first.
fn by_severity(counts: &BTreeMap<Severity, usize>) -> String {
    Severity::ALL[1..]
        .iter()
        .rev()
        .map(|sev| format!("{sev} {}", counts.get(sev).copied().unwrap_or(0)))
        .collect::<Vec<_>>()
        .join(", ")
}
