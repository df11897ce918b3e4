//! One judged sample as people and programs see it: on the WebSocket, in the REST
//! answers, in `anomalies.jsonl` and as a row of `metrics_history.csv`. One shape, so
//! what the page shows and what the logs keep cannot drift apart.

use serde::Serialize;
use serde_json::{Map, Value};

use super::{Sample, SampleLayout, TopProcesses};
use crate::detector::{Change, Incident, Severity, Verdict};
use crate::io::output::push_verdict;
use crate::schema::VERDICT_COLUMNS;
use crate::timestamp;

/// Version of the JSON messages; a client checks it before reading further.
pub const WIRE_VERSION: u32 = 1;

/// A verdict with the driving metric named.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VerdictView {
    /// Whether the sample is an anomaly.
    pub is_anomaly: bool,
    /// 0..1; 0.5 is the threshold.
    pub score: f64,
    /// How bad.
    pub severity: Severity,
    /// Largest |sigma| of any feature.
    pub z_max: f64,
    /// The metric that drove the verdict.
    pub top_metric: Option<String>,
    /// Why, most severe first.
    pub reasons: Vec<String>,
}

/// One sample with its verdict.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Record {
    /// Position in the session, from 1; a client seeing a gap knows it missed one.
    /// 0 for a sample of an earlier session, shown again after a restart.
    pub seq: u64,
    /// Unix time in milliseconds.
    pub time: i64,
    /// Each metric's value by name (null when a subsystem gave nothing).
    pub metrics: Map<String, Value>,
    /// Per-core CPU usage in percent (live only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cores: Vec<f32>,
    /// The verdict; absent while the baseline is collected.
    pub verdict: Option<VerdictView>,
    /// With a verdict, each judged metric's signed sigma from its baseline.
    #[serde(skip_serializing_if = "Map::is_empty")]
    pub sigmas: Map<String, Value>,
    /// The busiest processes, on anomalies only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub processes: Option<TopProcesses>,
}

impl Record {
    /// Builds the record of `sample`, judged by a model whose metrics are
    /// `model_metrics` (to name `top_metric`), which found them `sigmas` from
    /// their baseline (in the same order; empty without a verdict).
    pub fn new(
        seq: u64,
        layout: &SampleLayout,
        sample: &Sample,
        verdict: Option<&Verdict>,
        model_metrics: &[String],
        sigmas: &[f64],
    ) -> Record {
        let metrics = metric_values(layout, &sample.values);
        let verdict = verdict.map(|v| VerdictView {
            is_anomaly: v.is_anomaly,
            score: v.anomaly_score,
            severity: v.severity,
            z_max: v.z_max,
            top_metric: v.top_metric_name(model_metrics).map(str::to_string),
            reasons: v.reasons.clone(),
        });
        let anomalous = verdict.as_ref().is_some_and(|v| v.is_anomaly);
        Record {
            seq,
            time: sample.time,
            metrics,
            cores: sample.cores.clone(),
            verdict,
            sigmas: model_metrics
                .iter()
                .zip(sigmas)
                .map(|(n, &s)| (n.clone(), number(s)))
                .collect(),
            processes: sample.processes.clone().filter(|_| anomalous),
        }
    }
}

/// An incident change as people and programs see it: on the WebSocket (an
/// `incident` message) and in `incidents.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IncidentRecord<'a> {
    /// `opened`, `updated` or `closed`.
    pub change: &'static str,
    /// The incident as it stands; its rows are the session's sample numbers
    /// (`seq`).
    #[serde(flatten)]
    pub incident: &'a Incident,
}

impl IncidentRecord<'_> {
    /// The record of `change`.
    pub fn of(change: &Change) -> IncidentRecord<'_> {
        let (word, incident) = match change {
            Change::Opened(i) => ("opened", i),
            Change::Updated(i) => ("updated", i),
            Change::Closed(i) => ("closed", i),
        };
        IncidentRecord {
            change: word,
            incident,
        }
    }
}

/// The line `incidents.jsonl` keeps for `change` (and the body of its `incident`
/// message).
pub fn incident_line(change: &Change) -> String {
    serde_json::to_string(&IncidentRecord::of(change)).unwrap_or_default()
}

/// A WebSocket message of `kind` (`sample`, `anomaly`, `status`, `incident`):
/// `type` and `v` first, then the fields of `object` (a JSON object as text, e.g. a
/// serialised [`Record`]).
pub fn message(kind: &str, object: &str) -> String {
    let fields = object
        .strip_prefix('{')
        .and_then(|o| o.strip_suffix('}'))
        .unwrap_or_default();
    let comma = if fields.is_empty() { "" } else { "," };
    format!("{{\"type\":\"{kind}\",\"v\":{WIRE_VERSION}{comma}{fields}}}")
}

/// Each metric of `layout` with its value in `values` (null when it has none), as
/// a record's `metrics`.
pub fn metric_values(layout: &SampleLayout, values: &[f64]) -> Map<String, Value> {
    layout
        .names
        .iter()
        .zip(values)
        .map(|(n, &v)| (n.clone(), number(v)))
        .collect()
}

/// A JSON number, or null for NaN and infinities (which JSON cannot carry).
pub fn number(v: f64) -> Value {
    serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number)
}

/// The header of `metrics_history.csv` for a source: `timestamp`, its metrics, its
/// text columns, then the verdict columns `analyze` writes.
pub fn history_header(layout: &SampleLayout) -> String {
    let mut record = csv::ByteRecord::new();
    record.push_field(crate::schema::DEFAULT_TIMESTAMP.as_bytes());
    for n in layout.names.iter().chain(&layout.text_names) {
        record.push_field(n.as_bytes());
    }
    for c in VERDICT_COLUMNS {
        record.push_field(c.as_bytes());
    }
    csv_line(&record)
}

/// One row of `metrics_history.csv`, newline included. Values are written in full
/// precision, so `analyze` on the file with the session's model gives the same
/// verdicts.
pub fn history_row(sample: &Sample, verdict: Option<&Verdict>, model_metrics: &[String]) -> String {
    let mut record = csv::ByteRecord::new();
    let mut cell = String::new();
    timestamp::push_iso(&mut cell, sample.time);
    record.push_field(cell.as_bytes());
    for &v in &sample.values {
        cell.clear();
        if v.is_finite() {
            use std::fmt::Write;
            let _ = write!(cell, "{v}");
        }
        record.push_field(cell.as_bytes());
    }
    for t in &sample.texts {
        record.push_field(t.as_bytes());
    }
    // The same scratch buffer, as bytes: the verdict cells clear it before each use.
    // `watch` writes its history with decimal points.
    push_verdict(
        &mut record,
        verdict,
        model_metrics,
        false,
        &mut cell.into_bytes(),
    );
    csv_line(&record)
}

fn csv_line(record: &csv::ByteRecord) -> String {
    let mut writer = csv::WriterBuilder::new().from_writer(Vec::new());
    // Writing to memory cannot fail.
    let _ = writer.write_byte_record(record);
    let bytes = writer.into_inner().unwrap_or_default();
    String::from_utf8_lossy(&bytes).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_rows_quote_what_needs_it_and_leave_verdicts_empty_while_collecting() {
        let layout = SampleLayout::of(vec!["cpu_percent".into()], vec!["status".into()], true);
        let sample = Sample {
            time: 0,
            values: vec![f64::NAN],
            texts: vec!["a,b".into()],
            cores: vec![],
            processes: None,
        };
        assert_eq!(
            history_header(&layout),
            "timestamp,cpu_percent,status,is_anomaly,anomaly_score,severity,z_max,top_metric,reasons\n"
        );
        assert_eq!(
            history_row(&sample, None, &[]),
            "1970-01-01T00:00:00Z,,\"a,b\",,,,,,\n"
        );
        let record = Record::new(7, &layout, &sample, None, &[], &[]);
        let json = serde_json::to_string(&record).unwrap();
        let message: Value = serde_json::from_str(&message("sample", &json)).unwrap();
        assert_eq!(message["type"], "sample");
        assert_eq!(message["v"], 1);
        assert_eq!(message["seq"], 7);
        assert_eq!(message["metrics"]["cpu_percent"], Value::Null);
    }
}
