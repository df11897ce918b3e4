//! End-to-end: incidents reach the receivers people run. The real `metrics watch`
//! replays a recorded host with a planted incident; a real Alertmanager (Debian's
//! `prometheus-alertmanager`), a webhook receiver and a command receive it.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

use common::hook::{Answer, Hook};
use common::prometheus::{Prometheus, USER, start_ready, start_secured, web_config};
use common::socket::{connect, next, until_finished};
use common::{DEADLINE, Phase, Watch, host_csv};

/// Five minutes of a working host, a 90-second build that saturates the CPU
/// (one critical incident), then five minutes of work again.
fn planted_incident(dir: &Path) -> PathBuf {
    let file = dir.join("incident.csv");
    let csv = host_csv(&[(300, Phase::Busy), (90, Phase::Load), (300, Phase::Busy)]);
    std::fs::write(&file, csv).unwrap();
    file
}

/// Replays `file` with `extra` flags as fast as it goes, until it is finished.
async fn replay_all(file: &Path, extra: &[&str]) -> Watch {
    let mut args = vec!["--replay", file.to_str().unwrap(), "--speed", "max"];
    args.extend_from_slice(extra);
    let watch = Watch::start(&args);
    let mut socket = connect(&watch).await;
    until_finished(&mut socket).await;
    watch
}

/// How many incidents the session logged reached high or critical.
fn serious_incidents(watch: &Watch) -> usize {
    let mut worst = std::collections::BTreeMap::new();
    for line in std::fs::read_to_string(watch.log_dir.join("incidents.jsonl"))
        .unwrap_or_default()
        .lines()
    {
        let change: Value = serde_json::from_str(line).unwrap();
        worst.insert(change["id"].as_u64(), change["peak_severity"].clone());
    }
    worst
        .values()
        .filter(|s| *s == "high" || *s == "critical")
        .count()
}

/// The `status` of each body a command receiver appended to `out`, one a line.
fn statuses_told(out: &Path) -> Vec<String> {
    std::fs::read_to_string(out)
        .unwrap()
        .lines()
        .map(|l| {
            let body: Value = serde_json::from_str(l).unwrap();
            body["status"].as_str().unwrap().to_string()
        })
        .collect()
}

fn api_alerts(watch: &Watch) -> Value {
    serde_json::from_str(&watch.get("/api/alerts").body).unwrap()
}

/// Polls `watch`'s `/api/alerts` until `done` holds for its receivers.
fn wait_for_receivers(watch: &Watch, done: impl Fn(&Value) -> bool) -> Value {
    let started = Instant::now();
    loop {
        let alerts = api_alerts(watch);
        if done(&alerts["receivers"]) {
            return alerts;
        }
        assert!(started.elapsed() < DEADLINE, "receivers: {alerts}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_gets_one_firing_and_one_resolved_notification_in_alertmanagers_format() {
    let dir = tempfile::tempdir().unwrap();
    let file = planted_incident(dir.path());
    // The receiver fails twice, then takes the alert on the third try.
    let hook = Hook::start(Answer::Statuses(vec![500, 500]));
    let mut watch = replay_all(&file, &["--alert-webhook", &hook.url]).await;
    assert_eq!(serious_incidents(&watch), 1, "{}", watch.stderr());

    let got = hook.wait_for(4);
    let statuses: Vec<(u16, &str)> = got
        .iter()
        .map(|(code, body)| (*code, body["status"].as_str().unwrap()))
        .collect();
    assert_eq!(
        statuses,
        [
            (500, "firing"),
            (500, "firing"),
            (200, "firing"),
            (200, "resolved")
        ]
    );
    let (firing, resolved) = (&got[2].1, &got[3].1);
    assert_eq!(firing["version"], "4");
    assert_eq!(firing["receiver"], "webhook-1");
    let alert = &firing["alerts"][0];
    assert_eq!(alert["labels"]["alertname"], "MetricsAnomaly");
    assert_eq!(alert["labels"]["severity"], "critical");
    assert_eq!(alert["labels"]["metric"], "cpu_percent");
    assert!(
        alert["labels"]["instance"]
            .as_str()
            .is_some_and(|i| !i.is_empty())
    );
    assert_eq!(
        alert["startsAt"], "2025-03-03T09:05:00Z",
        "the incident's first row"
    );
    assert_eq!(alert["endsAt"], "0001-01-01T00:00:00Z");
    for key in ["summary", "description", "dashboard"] {
        assert!(
            alert["annotations"][key]
                .as_str()
                .is_some_and(|s| !s.is_empty()),
            "{key}"
        );
    }
    assert_eq!(
        firing["commonLabels"], alert["labels"],
        "one alert per message"
    );
    let done = &resolved["alerts"][0];
    assert_eq!(done["fingerprint"], alert["fingerprint"]);
    assert_eq!(done["status"], "resolved");
    let ended = done["endsAt"].as_str().unwrap();
    assert!(
        ("2025-03-03T09:06:30Z".."2025-03-03T09:08:00Z").contains(&ended),
        "resolved with the incident's end: {ended}"
    );

    let alerts = wait_for_receivers(&watch, |r| r[0]["sent"] == 2);
    let receiver = &alerts["receivers"][0];
    assert_eq!(
        (receiver["failed"].as_u64(), receiver["up"].as_bool()),
        (Some(0), Some(true))
    );
    assert_eq!(alerts["resolved"].as_array().unwrap().len(), 1);
    assert!(alerts["firing"].as_array().unwrap().is_empty());
    let exposed = watch.get("/metrics").body;
    assert!(
        exposed.contains(
            "metrics_alert_notifications_total{receiver=\"webhook-1\",result=\"sent\"} 2"
        ),
        "{exposed}"
    );
    assert!(watch.interrupt().0.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_that_hangs_never_delays_the_samples() {
    let dir = tempfile::tempdir().unwrap();
    let file = planted_incident(dir.path());
    let hook = Hook::start(Answer::Hang);
    // Twenty samples a second: the alert fires a minute of samples into the
    // incident, and the receiver then holds every attempt for its 10 s timeout.
    let mut watch = Watch::start(&[
        "--replay",
        file.to_str().unwrap(),
        "--speed",
        "20",
        "--alert-webhook",
        &hook.url,
    ]);
    let mut socket = connect(&watch).await;
    let mut arrivals: Vec<(u64, Instant)> = Vec::new();
    while let Some(m) = next(&mut socket).await {
        if m["type"] == "sample" {
            let seq = m["seq"].as_u64().unwrap();
            arrivals.push((seq, Instant::now()));
            if seq >= 500 {
                break;
            }
        }
    }
    assert!(
        !hook.received().is_empty(),
        "the alert was sent while samples flowed"
    );
    let fired_at = arrivals
        .iter()
        .position(|&(seq, _)| seq >= 330)
        .expect("samples after the alert fired");
    let worst = arrivals[fired_at..]
        .windows(2)
        .map(|w| w[1].1 - w[0].1)
        .max()
        .unwrap();
    // 50 ms apart on their grid; a collector waiting on the receiver would
    // stall for its 10 s timeout.
    assert!(
        worst < Duration::from_secs(2),
        "samples stalled for {worst:?}"
    );
    // Stopping waits for the notifications on their way for 10 s, not for
    // every retry of every one (over a minute each), and says what was lost.
    let (exit, took) = watch.interrupt();
    assert!(
        exit.success() && took < Duration::from_secs(13),
        "stopped in {took:?}"
    );
    assert!(
        watch
            .stderr()
            .contains("stopped with notifications to webhook-1 undelivered after 10 s"),
        "{}",
        watch.stderr()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_receives_the_alert_as_json_and_in_variables() {
    let dir = tempfile::tempdir().unwrap();
    let file = planted_incident(dir.path());
    let out = dir.path().join("alerts.jsonl");
    let command = format!(
        "cat >> '{0}'; echo \"$METRICS_ALERT_STATUS $METRICS_ALERT_SEVERITY\" >> '{0}.env'",
        out.display()
    );
    let mut watch = replay_all(&file, &["--alert-exec", &command]).await;
    wait_for_receivers(&watch, |r| r[0]["sent"] == 2);
    assert_eq!(statuses_told(&out), ["firing", "resolved"]);
    let env = std::fs::read_to_string(format!("{}.env", out.display())).unwrap();
    assert_eq!(env, "firing critical\nresolved critical\n");
    assert!(watch.interrupt().0.success());
}

/// A session stopped while its alert fires (an upgrade, a reboot) leaves no
/// receiver holding an alert nobody will end: a webhook and a command are told
/// it is resolved, as of the last sample, and why; Alertmanager keeps it until
/// its `endsAt` passes, as for a stopped Prometheus. The firing notification
/// tells the incident as it has lasted, not as it opened.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_stopped_while_its_alert_fires_resolves_it_for_webhooks_and_commands() {
    let am = Alertmanager::start();
    let dir = tempfile::tempdir().unwrap();
    // Five minutes of work, then a build still running when the replay ends.
    let file = dir.path().join("stopped.csv");
    let csv = host_csv(&[(300, Phase::Busy), (120, Phase::Load)]);
    std::fs::write(&file, csv).unwrap();
    let hook = Hook::start(Answer::Statuses(vec![]));
    let out = dir.path().join("alerts.jsonl");
    let command = format!("cat >> '{}'", out.display());
    let mut watch = replay_all(
        &file,
        &[
            "--alert-webhook",
            &hook.url,
            "--alert-exec",
            &command,
            "--alertmanager",
            &am.url,
        ],
    )
    .await;
    let firing = hook.wait_for(1)[0].1["alerts"][0].clone();
    let summary = firing["annotations"]["summary"].as_str().unwrap();
    assert!(
        summary.contains("for 31 samples (30 s)"),
        "fired 30 s into the incident: {summary}"
    );
    am.wait(|| !am.alerts().is_empty());

    assert!(watch.interrupt().0.success());
    let got = hook.received();
    assert_eq!(got.len(), 2, "firing, then resolved at the stop: {got:?}");
    let resolved = &got[1].1["alerts"][0];
    assert_eq!(resolved["status"], "resolved");
    assert_eq!(resolved["fingerprint"], firing["fingerprint"]);
    assert_eq!(
        resolved["endsAt"], "2025-03-03T09:06:59Z",
        "the last sample's time"
    );
    let summary = resolved["annotations"]["summary"].as_str().unwrap();
    assert!(
        summary.ends_with("(watch stopped while it was open)") && summary.contains("120 samples"),
        "{summary}"
    );
    assert_eq!(
        statuses_told(&out),
        ["firing", "resolved"],
        "the command too"
    );
    let kept = am.alerts();
    assert_eq!(
        kept.len(),
        1,
        "Alertmanager ends it by its endsAt: {kept:?}"
    );
    assert_eq!(kept[0]["status"]["state"], "active");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flapping_incident_is_one_alert() {
    // After the baseline, the CPU saturates for 5 s in every 20 s, 20 times.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("flapping.csv");
    let mut phases = vec![(300, Phase::Busy)];
    for _ in 0..20 {
        phases.extend([(5, Phase::Load), (15, Phase::Busy)]);
    }
    phases.push((300, Phase::Busy));
    std::fs::write(&file, host_csv(&phases)).unwrap();
    let alerts_file = dir.path().join("alerts.toml");
    // No pending time, so every flap could fire on its own.
    std::fs::write(&alerts_file, "[policy]\nfor = \"0s\"\n").unwrap();
    let hook = Hook::start(Answer::Statuses(vec![]));
    let mut watch = replay_all(
        &file,
        &[
            "--alerts",
            alerts_file.to_str().unwrap(),
            "--alert-webhook",
            &hook.url,
        ],
    )
    .await;
    let opened = serious_incidents(&watch);
    assert!(
        opened >= 10,
        "the fixture flaps: {opened} critical incidents"
    );
    wait_for_receivers(&watch, |r| r[0]["sent"] == 2);
    let got = hook.received();
    let statuses: Vec<&str> = got
        .iter()
        .map(|(_, b)| b["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses,
        ["firing", "resolved"],
        "{opened} incidents, one alert"
    );
    let incidents = got[1].1["alerts"][0]["annotations"]["incidents"]
        .as_str()
        .unwrap()
        .split(',')
        .count();
    assert_eq!(incidents, opened);
    assert!(watch.interrupt().0.success());
}

/// A real Alertmanager on a free loopback port, with its own data folder.
struct Alertmanager {
    server: Prometheus,
    url: String,
    _dir: tempfile::TempDir,
}

impl Alertmanager {
    fn start() -> Alertmanager {
        Alertmanager::start_with(None)
    }

    /// Started behind the TLS and password of `web_config` when given.
    fn start_with(web_config: Option<&Path>) -> Alertmanager {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("alertmanager.yml");
        std::fs::write(
            &config,
            "route:\n  receiver: \"null\"\nreceivers:\n  - name: \"null\"\n",
        )
        .unwrap();
        let args = [
            format!("--config.file={}", config.display()),
            format!("--storage.path={}", dir.path().join("data").display()),
            "--cluster.listen-address=".to_string(),
        ];
        let log = dir.path().join("alertmanager.log");
        let (server, scheme) = match web_config {
            None => (start_ready("prometheus-alertmanager", &args, &log), "http"),
            Some(web) => (
                start_secured("prometheus-alertmanager", &args, &log, web),
                "https",
            ),
        };
        Alertmanager {
            url: format!("{scheme}://{}", server.address),
            server,
            _dir: dir,
        }
    }

    /// The alerts its API lists (active ones).
    fn alerts(&self) -> Vec<Value> {
        let r = common::http(&self.server.address, "GET", "/api/v2/alerts", None);
        serde_json::from_str(&r.body).unwrap_or_default()
    }

    fn wait(&self, mut done: impl FnMut() -> bool) {
        let started = Instant::now();
        while !done() {
            assert!(
                started.elapsed() < DEADLINE,
                "Alertmanager: condition not met"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alertmanager_shows_the_planted_incident_as_active_then_resolved() {
    let am = Alertmanager::start();
    let dir = tempfile::tempdir().unwrap();
    let file = planted_incident(dir.path());
    // Thirty samples a second: the alert fires about 11 s in and resolves
    // about 6 s later, so Alertmanager's own API can be watched in between.
    let mut watch = Watch::start(&[
        "--replay",
        file.to_str().unwrap(),
        "--speed",
        "30",
        "--alertmanager",
        &am.url,
    ]);
    let mut seen = None;
    am.wait(|| {
        seen = am.alerts().into_iter().next();
        seen.is_some()
    });
    let alert = seen.unwrap();
    assert_eq!(alert["status"]["state"], "active");
    let labels = &alert["labels"];
    assert_eq!(labels["alertname"], "MetricsAnomaly");
    assert_eq!(labels["severity"], "critical");
    assert_eq!(labels["metric"], "cpu_percent");
    assert!(labels["instance"].as_str().is_some_and(|i| !i.is_empty()));
    assert!(
        alert["annotations"]["summary"]
            .as_str()
            .is_some_and(|s| s.contains("cpu_percent"))
    );
    let ours = api_alerts(&watch);
    assert_eq!(
        ours["firing"][0]["state"], "firing",
        "the dashboard shows it firing: {ours}"
    );
    // Resolved when the incident has closed and stayed closed for 2 min of samples.
    am.wait(|| am.alerts().is_empty());
    let ours = api_alerts(&watch);
    assert_eq!(ours["resolved"].as_array().map(Vec::len), Some(1), "{ours}");
    assert_eq!(ours["receivers"][0]["failed"], 0);
    assert!(watch.interrupt().0.success());
}

#[test]
fn alert_test_reports_each_receiver_and_fails_when_one_does() {
    let good = Hook::start(Answer::Statuses(vec![]));
    let bad = Hook::start(Answer::Statuses(vec![503]));
    let output = Command::new(env!("CARGO_BIN_EXE_metrics"))
        .args([
            "watch",
            "--alert-test",
            "--host",
            "0.0.0.0",
            "--alert-webhook",
            &good.url,
            "--alert-webhook",
            &bad.url,
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("webhook-1 (http://127.0.0.1:") && stdout.contains("ok, HTTP 200"),
        "{stdout}"
    );
    assert!(
        stdout.contains("webhook-2") && stdout.contains("FAILED, HTTP 503"),
        "{stdout}"
    );
    let body = &good.received()[0].1;
    assert_eq!(body["alerts"][0]["labels"]["alertname"], "MetricsTestAlert");
    // Linked as a real alert would be: by the host name, not the wildcard address.
    let link = body["alerts"][0]["annotations"]["dashboard"]
        .as_str()
        .unwrap();
    assert!(
        link.starts_with("http://") && link.ends_with(":5000/") && !link.contains("0.0.0.0"),
        "{link}"
    );
}

/// `metrics watch --alert-test --alerts FILE`, run to its end.
fn alert_test(file: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_metrics"))
        .args(["watch", "--alert-test", "--alerts", file.to_str().unwrap()])
        .output()
        .unwrap()
}

#[test]
fn a_receivers_http_headers_are_sent_and_a_file_of_one_is_read_at_each_notification() {
    let dir = tempfile::tempdir().unwrap();
    let hook = Hook::start(Answer::Statuses(vec![]));
    // A tenant for a multi-tenant Alertmanager (Mimir's asks X-Scope-OrgID), kept
    // in a file beside the alerts file, and a gateway's key as a secret.
    std::fs::write(dir.path().join("tenant"), "team-a\n").unwrap();
    let file = dir.path().join("alerts.toml");
    std::fs::write(
        &file,
        format!(
            "[[receiver]]\ntype = \"webhook\"\nurl = \"{}\"\n[receiver.http_headers.X-Scope-OrgID]\nfiles = [\"tenant\"]\n[receiver.http_headers.X-Gateway-Key]\nsecrets = [\"k3y\"]\n",
            hook.url
        ),
    )
    .unwrap();
    let sends = || {
        let out = alert_test(&file);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
    };
    sends();
    std::fs::write(dir.path().join("tenant"), "team-b").unwrap();
    sends();
    let sent: Vec<Vec<(String, String)>> = hook
        .headers()
        .into_iter()
        .map(|h| h.into_iter().filter(|(n, _)| n.starts_with("x-")).collect())
        .collect();
    let tenant = |t: &str| {
        vec![
            ("x-gateway-key".to_string(), "k3y".to_string()),
            ("x-scope-orgid".to_string(), t.to_string()),
        ]
    };
    assert_eq!(sent, [tenant("team-a"), tenant("team-b")]);
    // A header the client sets itself is refused at start, by name.
    std::fs::write(
        &file,
        format!(
            "[[receiver]]\ntype = \"webhook\"\nurl = \"{}\"\n[receiver.http_headers.Authorization]\nvalues = [\"Bearer x\"]\n",
            hook.url
        ),
    )
    .unwrap();
    let out = alert_test(&file);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("alerts.toml") && stderr.contains("Authorization cannot be set here"),
        "{stderr}"
    );
}

#[test]
fn a_receiver_not_reached_through_the_environments_proxy_is_told_and_reached_without_it() {
    // The environment names a proxy that refuses every connection; the receiver
    // is reached directly, as an internal Alertmanager usually is.
    let dir = tempfile::tempdir().unwrap();
    let hook = Hook::start(Answer::Statuses(vec![]));
    let proxy = format!("http://127.0.0.1:{}", common::free_port());
    let file = dir.path().join("alerts.toml");
    let send = |settings: &str| {
        std::fs::write(
            &file,
            format!(
                "[[receiver]]\ntype = \"webhook\"\nurl = \"{}\"\n{settings}",
                hook.url
            ),
        )
        .unwrap();
        let mut command = Command::new(env!("CARGO_BIN_EXE_metrics"));
        command.args(["watch", "--alert-test", "--alerts", file.to_str().unwrap()]);
        for variable in [
            "https_proxy",
            "HTTPS_PROXY",
            "http_proxy",
            "ALL_PROXY",
            "all_proxy",
        ] {
            command.env_remove(variable);
        }
        let out = command
            .env("HTTP_PROXY", &proxy)
            .env_remove("NO_PROXY")
            .env_remove("no_proxy")
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let (code, said) = send("");
    assert_eq!(code, Some(1), "{said}");
    assert!(
        said.contains("FAILED")
            && said.contains("the proxy HTTP_PROXY names")
            && said.contains("proxy_from_environment: false in the --alerts file"),
        "{said}"
    );
    assert!(hook.received().is_empty());
    let (code, said) = send("proxy_from_environment = false\n");
    assert_eq!(code, Some(0), "{said}");
    assert_eq!(hook.received().len(), 1);
}

#[tokio::test]
async fn alert_test_reaches_an_alertmanager_behind_tls_and_a_password() {
    let dir = tempfile::tempdir().unwrap();
    let web = web_config(dir.path());
    let am = Alertmanager::start_with(Some(&web));
    let password = dir.path().join("password");
    std::fs::write(&password, USER.1).unwrap();
    // Paths are relative to the alerts file; the tables are Prometheus' own
    // client settings.
    let alerts_file = |tls: bool| {
        let file = dir.path().join("alerts.toml");
        let mut text = format!(
            "[[receiver]]\ntype = \"alertmanager\"\nname = \"secured\"\nurl = \"{}\"\n[receiver.basic_auth]\nusername = \"{}\"\npassword_file = \"password\"\n",
            am.url, USER.0
        );
        if tls {
            text.push_str("[receiver.tls_config]\nca_file = \"server.crt\"\n");
        }
        std::fs::write(&file, text).unwrap();
        file
    };
    let alert_test = |file: &Path| {
        let out = alert_test(file);
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let (code, said) = alert_test(&alerts_file(true));
    assert_eq!(code, Some(0), "{said}");
    assert!(
        said.contains("secured (https://127.0.0.1:") && said.contains("ok, HTTP 200"),
        "{said}"
    );
    // Alertmanager holds it: asked over TLS with the password.
    let client = reqwest::Client::builder()
        .add_root_certificate(
            reqwest::Certificate::from_pem(&std::fs::read(dir.path().join("server.crt")).unwrap())
                .unwrap(),
        )
        .build()
        .unwrap();
    let listed: Vec<Value> = client
        .get(format!("{}/api/v2/alerts", am.url))
        .basic_auth(USER.0, Some(USER.1))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        listed
            .iter()
            .any(|a| a["labels"]["alertname"] == "MetricsTestAlert"),
        "{listed:?}"
    );

    // Without the CA, the certificate is not trusted, and the fix is named.
    let (code, said) = alert_test(&alerts_file(false));
    assert_eq!(code, Some(1), "{said}");
    assert!(
        said.contains("FAILED")
            && said.contains("certificate")
            && said.contains("tls_config.ca_file"),
        "{said}"
    );
    // A wrong password (read from its file at each attempt) is refused.
    std::fs::write(&password, "guess").unwrap();
    let (code, said) = alert_test(&alerts_file(true));
    assert_eq!(code, Some(1), "{said}");
    assert!(
        said.contains("FAILED, HTTP 401") && said.contains("basic_auth"),
        "{said}"
    );
    assert!(!said.contains("guess"), "the password is not shown: {said}");
}

#[test]
fn a_malformed_alerts_file_fails_at_start_with_its_line_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("alerts.toml");
    std::fs::write(
        &file,
        "[[receiver]]\ntype = \"webhook\"\nurl = \"hooks.example.com\"\n",
    )
    .unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_metrics"))
        .args(["watch", "--port", "0", "--alerts", file.to_str().unwrap()])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("alerts.toml:3: field url"), "{stderr}");
    assert!(stderr.contains("hint"), "{stderr}");
}
