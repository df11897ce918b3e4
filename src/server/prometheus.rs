//! `GET /metrics`: the session in Prometheus' text exposition format, named by its
//! conventions (a `metrics_` prefix, `_total` counters, seconds, `_info` with labels),
//! checked in CI with `promtool check metrics`.

use std::fmt::Write;
use std::sync::Arc;

use super::hub::{Latest, RATIO_WINDOW_MS};
use super::process::ProcessStats;
use crate::alerts::ReceiverStatus;
use crate::detector::Severity;
use crate::detector::fusion::REASON_Z;
use crate::monitor::pipeline::State;
use crate::monitor::session::SessionStatus;
use crate::schema::SAMPLE_VALUE_SERIES;

/// The content type Prometheus expects for this format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Renders the exposition. `units` gives each metric's unit by name; `receivers`
/// are the alert receivers, if any; `process` the serving process's own resource
/// use, when it could be read.
pub fn render(
    latest: &Latest,
    status: Option<&SessionStatus>,
    units: &dyn Fn(&str) -> String,
    receivers: &[Arc<ReceiverStatus>],
    process: Option<&ProcessStats>,
) -> String {
    let mut out = String::new();
    family(
        &mut out,
        "metrics_build_info",
        "gauge",
        "Version of the metrics binary serving this endpoint.",
    );
    let _ = writeln!(
        out,
        "metrics_build_info{{version=\"{}\"}} 1",
        escape(env!("CARGO_PKG_VERSION"))
    );
    if let Some(record) = &latest.record {
        family(
            &mut out,
            SAMPLE_VALUE_SERIES,
            "gauge",
            "Latest sampled value of each metric, in the unit its unit label names.",
        );
        for (name, value) in &record.metrics {
            let _ = writeln!(
                out,
                "{SAMPLE_VALUE_SERIES}{{metric=\"{}\",unit=\"{}\"}} {}",
                escape(name),
                escape(&units(name)),
                value.as_f64().map_or("NaN".to_string(), float)
            );
        }
        if let Some(v) = &record.verdict {
            family(
                &mut out,
                "metrics_anomaly_score",
                "gauge",
                "Anomaly score of the latest sample, 0 to 1; 0.5 is the threshold.",
            );
            let _ = writeln!(out, "metrics_anomaly_score {}", float(v.score));
            family(
                &mut out,
                "metrics_anomaly_severity",
                "gauge",
                "Severity of the latest sample: 0 normal, 1 medium, 2 high, 3 critical.",
            );
            let _ = writeln!(out, "metrics_anomaly_severity {}", v.severity as u8);
        }
    }
    if let Some(record) = latest.record.as_ref().filter(|r| !r.sigmas.is_empty()) {
        family(
            &mut out,
            "metrics_metric_sigma",
            "gauge",
            "How far each judged metric of the latest sample is from its baseline, in signed sigmas.",
        );
        for (name, sigma) in &record.sigmas {
            let _ = writeln!(
                out,
                "metrics_metric_sigma{{metric=\"{}\"}} {}",
                escape(name),
                sigma.as_f64().map_or("NaN".to_string(), float)
            );
        }
        family(
            &mut out,
            "metrics_metric_anomalous",
            "gauge",
            "1 when the latest sample is an anomaly and this metric is one it names (3 sigmas or more, or its leading metric).",
        );
        let verdict = record.verdict.as_ref().filter(|v| v.is_anomaly);
        for (name, sigma) in &record.sigmas {
            let named = verdict.is_some_and(|v| {
                v.top_metric.as_deref() == Some(name.as_str())
                    || sigma.as_f64().is_some_and(|s| s.abs() >= REASON_Z)
            });
            let _ = writeln!(
                out,
                "metrics_metric_anomalous{{metric=\"{}\"}} {}",
                escape(name),
                u8::from(named)
            );
        }
    }
    if latest.anomaly_ratio(60_000).is_some() {
        family(
            &mut out,
            "metrics_anomaly_ratio",
            "gauge",
            "Share of the judged samples of the last minute (window=\"1m\") or five minutes (\"5m\") that were anomalies, 0 to 1.",
        );
        for (window, ms) in [("1m", 60_000), ("5m", RATIO_WINDOW_MS)] {
            let ratio = latest.anomaly_ratio(ms).unwrap_or(0.0);
            let _ = writeln!(
                out,
                "metrics_anomaly_ratio{{window=\"{window}\"}} {}",
                float(ratio)
            );
        }
    }
    family(
        &mut out,
        "metrics_incidents_open",
        "gauge",
        "1 for the peak severity of the incident open now (at most one is open).",
    );
    for sev in &Severity::ALL[1..] {
        let _ = writeln!(
            out,
            "metrics_incidents_open{{severity=\"{}\"}} {}",
            sev.as_str(),
            u8::from(latest.open_incident == Some(*sev))
        );
    }
    for (name, help, counts) in [
        (
            "metrics_incidents_opened_total",
            "Incidents opened since the session started, by the severity they opened at.",
            &latest.incidents_opened,
        ),
        (
            "metrics_incidents_closed_total",
            "Incidents closed since the session started, by their peak severity.",
            &latest.incidents_closed,
        ),
    ] {
        family(&mut out, name, "counter", help);
        for sev in &Severity::ALL[1..] {
            let _ = writeln!(
                out,
                "{name}{{severity=\"{}\"}} {}",
                sev.as_str(),
                counts[*sev as usize]
            );
        }
    }
    family(
        &mut out,
        "metrics_samples_total",
        "counter",
        "Samples judged or collected since the session started.",
    );
    let _ = writeln!(out, "metrics_samples_total {}", latest.samples);
    family(
        &mut out,
        "metrics_anomalies_total",
        "counter",
        "Anomalies flagged since the session started, by severity.",
    );
    for sev in &Severity::ALL[1..] {
        let _ = writeln!(
            out,
            "metrics_anomalies_total{{severity=\"{}\"}} {}",
            sev.as_str(),
            latest.anomalies[*sev as usize]
        );
    }
    if let Some(status) = status {
        family(
            &mut out,
            "metrics_pipeline_state",
            "gauge",
            "1 for the state the session is in: collecting, training or monitoring.",
        );
        for (state, name) in [
            (State::Collecting, "collecting"),
            (State::Training, "training"),
            (State::Monitoring, "monitoring"),
        ] {
            let _ = writeln!(
                out,
                "metrics_pipeline_state{{state=\"{name}\"}} {}",
                u8::from(status.pipeline.state == state)
            );
        }
        family(
            &mut out,
            "metrics_model_retrains_total",
            "counter",
            "Retrainings finished since the session started.",
        );
        let _ = writeln!(
            out,
            "metrics_model_retrains_total {}",
            status.pipeline.retrains
        );
        family(
            &mut out,
            "metrics_model_ready",
            "gauge",
            "1 when a model judges the samples (monitoring), 0 while the baseline is collected.",
        );
        let _ = writeln!(
            out,
            "metrics_model_ready {}",
            u8::from(status.pipeline.state == State::Monitoring)
        );
        if let (Some(t), Some(now)) = (
            status.pipeline.trained_at,
            latest.record.as_ref().map(|r| r.time),
        ) {
            family(
                &mut out,
                "metrics_model_age_seconds",
                "gauge",
                "Sample time since the model in use was trained.",
            );
            let _ = writeln!(
                out,
                "metrics_model_age_seconds {}",
                float((now - t).max(0) as f64 / 1000.0)
            );
        }
        if let Some(t) = status.pipeline.trained_at {
            family(
                &mut out,
                "metrics_model_last_trained_timestamp_seconds",
                "gauge",
                "Time of the sample after which the model in use was trained.",
            );
            let _ = writeln!(
                out,
                "metrics_model_last_trained_timestamp_seconds {}",
                float(t as f64 / 1000.0)
            );
        }
        family(
            &mut out,
            "metrics_model_trained_rows",
            "gauge",
            "Rows the model in use was trained on (0 for a loaded model).",
        );
        let _ = writeln!(
            out,
            "metrics_model_trained_rows {}",
            status.pipeline.trained_rows
        );
    }
    if !receivers.is_empty() {
        family(
            &mut out,
            "metrics_alert_notifications_total",
            "counter",
            "Alert notifications per receiver: sent, failed after every retry, dropped (queue full) or limited (rate limit).",
        );
        for r in receivers {
            for (result, n) in r.counts() {
                let _ = writeln!(
                    out,
                    "metrics_alert_notifications_total{{receiver=\"{}\",result=\"{result}\"}} {n}",
                    escape(&r.name)
                );
            }
        }
        family(
            &mut out,
            "metrics_alert_receiver_up",
            "gauge",
            "1 when the latest notification to the receiver got through (or none was sent yet).",
        );
        for r in receivers {
            let _ = writeln!(
                out,
                "metrics_alert_receiver_up{{receiver=\"{}\"}} {}",
                escape(&r.name),
                u8::from(r.up())
            );
        }
    }
    if let Some(process) = process {
        process_families(&mut out, process);
    }
    out
}

/// The `process_*` families, named and worded as client_golang's process
/// collector writes them.
fn process_families(out: &mut String, p: &ProcessStats) {
    let mut one = |name: &str, kind: &str, help: &str, value: String| {
        family(out, name, kind, help);
        let _ = writeln!(out, "{name} {value}");
    };
    one(
        "process_cpu_seconds_total",
        "counter",
        "Total user and system CPU time spent in seconds.",
        float(p.cpu_seconds),
    );
    one(
        "process_resident_memory_bytes",
        "gauge",
        "Resident memory size in bytes.",
        p.resident_bytes.to_string(),
    );
    one(
        "process_virtual_memory_bytes",
        "gauge",
        "Virtual memory size in bytes.",
        p.virtual_bytes.to_string(),
    );
    one(
        "process_open_fds",
        "gauge",
        "Number of open file descriptors.",
        p.open_fds.to_string(),
    );
    if let Some(max) = p.max_fds {
        one(
            "process_max_fds",
            "gauge",
            "Maximum number of open file descriptors.",
            max.to_string(),
        );
    }
    one(
        "process_start_time_seconds",
        "gauge",
        "Start time of the process since unix epoch in seconds.",
        float(p.start_time_seconds),
    );
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn float(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else {
        format!("{v}")
    }
}

/// Escapes a label value: backslash, double quote and newline.
fn escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }

    #[test]
    fn counters_end_in_total_and_every_family_has_help_and_type() {
        let process = ProcessStats::read();
        let text = render(
            &Latest::default(),
            None,
            &|_| String::new(),
            &[],
            process.as_ref(),
        );
        assert!(text.contains("process_resident_memory_bytes "));
        assert!(text.contains("# TYPE process_cpu_seconds_total counter\n"));
        assert!(text.contains("metrics_samples_total 0"));
        assert!(text.contains("metrics_anomalies_total{severity=\"critical\"} 0"));
        for line in text.lines().filter(|l| l.starts_with("# TYPE")) {
            let name = line.split(' ').nth(2).unwrap();
            assert!(text.contains(&format!("# HELP {name} ")), "{name}");
        }
    }
}
