//! End-to-end: a real Prometheus scrapes two `metrics watch` sessions on loopback
//! with the rules `contrib/prometheus/rules.yml` ships; every expression the rules
//! and the Grafana dashboard (`contrib/grafana/metrics.json`) use answers for both
//! hosts, and the planted incident's alert is pending or firing.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;

use common::prometheus::{Prometheus, prometheus};
use common::{DEADLINE, Phase, Watch, host_csv};

fn contrib(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("contrib")
        .join(path)
}

/// The `instance` labels of a query's result.
fn instances(result: &[Value]) -> Vec<String> {
    let mut seen: Vec<String> = result
        .iter()
        .filter_map(|s| s["metric"]["instance"].as_str().map(str::to_string))
        .collect();
    seen.sort();
    seen.dedup();
    seen
}

/// Waits until `expr` answers for every one of `hosts`.
async fn wait_for_both(prometheus: &Prometheus, expr: &str, hosts: &[String]) -> Vec<Value> {
    let started = Instant::now();
    loop {
        let result = prometheus.query(expr).await.unwrap();
        if instances(&result) == hosts {
            return result;
        }
        assert!(started.elapsed() < DEADLINE, "{expr}: {result:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Every PromQL expression of the dashboard (panel targets and annotations).
fn dashboard_exprs(dashboard: &Value) -> Vec<String> {
    let mut exprs = Vec::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().into_iter().flatten() {
            exprs.push(target["expr"].as_str().unwrap().to_string());
        }
    }
    for annotation in dashboard["annotations"]["list"].as_array().unwrap() {
        if let Some(expr) = annotation["expr"].as_str() {
            exprs.push(expr.to_string());
        }
    }
    exprs
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_scrapes_two_hosts_and_every_rule_and_dashboard_query_answers_for_both() {
    // Five minutes of work, then a build that is still saturating the CPU when the
    // recording ends: each session ends with a critical incident open.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("host.csv");
    std::fs::write(&file, host_csv(&[(300, Phase::Busy), (100, Phase::Load)])).unwrap();
    let hosts: Vec<Watch> = (0..2)
        .map(|_| Watch::start(&["--replay", file.to_str().unwrap(), "--speed", "max"]))
        .collect();
    for watch in &hosts {
        watch.wait_until_replayed();
    }
    let mut names: Vec<String> = hosts.iter().map(|w| w.address.clone()).collect();
    names.sort();

    let config = format!(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files:\n  - {}\nscrape_configs:\n  - job_name: metrics\n    static_configs:\n      - targets: ['{}', '{}']\n",
        contrib("prometheus/rules.yml").display(),
        names[0],
        names[1]
    );
    let prometheus = prometheus(dir.path(), &config);

    // The recording rules, evaluated on what was scraped.
    let rules: Value =
        serde_norway::from_str(&std::fs::read_to_string(contrib("prometheus/rules.yml")).unwrap())
            .unwrap();
    let rules: Vec<&Value> = rules["groups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["rules"].as_array().unwrap())
        .collect();
    for rule in &rules {
        if let Some(record) = rule["record"].as_str() {
            if record.starts_with("instance:") {
                wait_for_both(&prometheus, record, &names).await;
            } else {
                let started = Instant::now();
                while prometheus.query(record).await.unwrap().is_empty() {
                    assert!(started.elapsed() < DEADLINE, "{record} has no series");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
    }
    let ratio = prometheus
        .query("fleet:metrics_hosts_in_incident:ratio")
        .await
        .unwrap();
    assert_eq!(ratio[0]["value"][1], "1", "both hosts are in an incident");
    // Every alerting rule's expression is valid, and the incident one holds for both.
    for rule in &rules {
        if let Some(alert) = rule["alert"].as_str() {
            let expr = rule["expr"].as_str().unwrap();
            let result = prometheus
                .query(expr)
                .await
                .unwrap_or_else(|e| panic!("{alert}: {e}"));
            if alert == "MetricsHostInIncident" {
                assert_eq!(instances(&result), names, "{alert}");
            }
        }
    }
    // The planted incident's alert is pending (its `for` is minutes) or firing.
    let started = Instant::now();
    loop {
        let url = format!("http://{}/api/v1/alerts", prometheus.address);
        let alerts: Value = reqwest::get(url).await.unwrap().json().await.unwrap();
        let mut active: Vec<String> = alerts["data"]["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| {
                a["labels"]["alertname"] == "MetricsHostInIncident"
                    && (a["state"] == "pending" || a["state"] == "firing")
            })
            .map(|a| a["labels"]["instance"].as_str().unwrap().to_string())
            .collect();
        active.sort();
        if active == names {
            break;
        }
        assert!(started.elapsed() < DEADLINE, "alerts: {alerts}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // Every query of the dashboard, with every host selected.
    let dashboard: Value =
        serde_json::from_str(&std::fs::read_to_string(contrib("grafana/metrics.json")).unwrap())
            .unwrap();
    let exprs = dashboard_exprs(&dashboard);
    assert!(exprs.len() >= 10, "{exprs:?}");
    // A query over a range (an increase) answers for a host only once it has been
    // scraped twice: each is asked until it answers for both, or the deadline.
    for expr in exprs {
        let expr = expr.replace("$instance", ".*");
        let started = Instant::now();
        loop {
            let result = prometheus.query(&expr).await.unwrap();
            let seen = instances(&result);
            if !result.is_empty() && (seen.is_empty() || seen == names) {
                break;
            }
            assert!(
                started.elapsed() < DEADLINE,
                "{expr} answers for {seen:?}, not both of {names:?}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

#[test]
fn the_shipped_rules_pass_their_promtool_unit_tests() {
    let output = std::process::Command::new("promtool")
        .args(["test", "rules", "rules_test.yml"])
        .current_dir(contrib("prometheus"))
        .output()
        .expect("promtool (Debian package prometheus) must be installed");
    assert!(
        output.status.success(),
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
