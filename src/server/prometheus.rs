//! `GET /metrics`: the session in Prometheus' text exposition format, named by its
//! conventions (a `metrics_` prefix, `_total` counters, seconds, `_info` with labels),
//! checked in CI with `promtool check metrics`.

use std::fmt::Write;
use std::sync::Arc;

use super::hub::Latest;
use crate::alerts::ReceiverStatus;
use crate::detector::Severity;
use crate::monitor::pipeline::State;
use crate::monitor::session::SessionStatus;

/// The content type Prometheus expects for this format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Renders the exposition. `units` gives each metric's unit by name; `receivers`
/// are the alert receivers, if any.
pub fn render(
    latest: &Latest,
    status: Option<&SessionStatus>,
    units: &dyn Fn(&str) -> String,
    receivers: &[Arc<ReceiverStatus>],
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
            "metrics_sample_value",
            "gauge",
            "Latest sampled value of each metric, in the unit its unit label names.",
        );
        for (name, value) in &record.metrics {
            let _ = writeln!(
                out,
                "metrics_sample_value{{metric=\"{}\",unit=\"{}\"}} {}",
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
    out
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
        let text = render(&Latest::default(), None, &|_| String::new(), &[]);
        assert!(text.contains("metrics_samples_total 0"));
        assert!(text.contains("metrics_anomalies_total{severity=\"critical\"} 0"));
        for line in text.lines().filter(|l| l.starts_with("# TYPE")) {
            let name = line.split(' ').nth(2).unwrap();
            assert!(text.contains(&format!("# HELP {name} ")), "{name}");
        }
    }
}
