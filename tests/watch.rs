//! End-to-end tests of `metrics watch` on `--replay` fixtures: the real binary, the
//! real server, a real WebSocket client. Time is driven by the replay, never by
//! sleeping: every wait is for a condition, with a deadline.

mod common;

use std::io::Write;
use std::process::Command;
use std::time::Duration;

use common::socket::{connect, next, until_finished};
use common::{Watch, analyze, http, planted_spike, request};
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replay_streams_hello_the_status_sequence_and_the_planted_anomaly() {
    // 240 rows at 1 s replayed 20x: the 100-sample baseline lasts 5 s, long enough
    // for the client to connect while it is collected, even on a busy machine.
    let watch = Watch::replay("20", &["--window-size", "100"]);
    let mut socket = connect(&watch).await;
    let hello = next(&mut socket).await.unwrap();
    assert_eq!(hello["type"], "hello");
    assert_eq!(hello["v"], 1);
    assert_eq!(hello["config"]["baseline"], 100);
    assert_eq!(hello["config"]["metrics"][0], "cpu_percent");
    assert_eq!(hello["status"]["state"], "collecting", "{hello}");
    let mut seq = hello["backfill"]
        .as_array()
        .unwrap()
        .last()
        .map_or(0, |m| m["seq"].as_u64().unwrap());

    let messages = until_finished(&mut socket).await;
    let mut states = Vec::new();
    let mut collected = 0;
    let mut planted = None;
    let mut incidents: Vec<(u64, String, u64, u64)> = Vec::new();
    for m in &messages {
        match m["type"].as_str().unwrap() {
            "incident" => incidents.push((
                m["id"].as_u64().unwrap(),
                m["change"].as_str().unwrap().to_string(),
                m["first_row"].as_u64().unwrap(),
                m["last_row"].as_u64().unwrap(),
            )),
            "sample" => {
                let s = m["seq"].as_u64().unwrap();
                assert_eq!(s, seq + 1, "samples arrive in order, none missing");
                seq = s;
            }
            "status" => {
                let state = m["state"].as_str().unwrap().to_string();
                if state == "collecting" {
                    let n = m["collected"].as_u64().unwrap();
                    assert!(n > collected, "baseline progress only grows");
                    collected = n;
                }
                if states.last() != Some(&state) {
                    states.push(state);
                }
            }
            "anomaly" => {
                if m["time"] == 1_736_157_800_000_i64 {
                    planted = Some(m.clone());
                }
            }
            other => panic!("unexpected message type {other}"),
        }
    }
    assert_eq!(seq, 240, "every row of the file was streamed");
    assert_eq!(states, ["collecting", "training", "monitoring"]);
    assert_eq!(
        collected, 99,
        "progress is reported up to the last sample before training"
    );
    let trained = messages
        .iter()
        .find(|m| m["event"] == "trained")
        .expect("a status says the model was trained");
    assert_eq!(trained["trained_rows"], 100);
    assert_eq!(trained["young"], true, "a model of one baseline is young");
    let planted = planted.expect("the spike at 10:03:20 is reported as an anomaly");
    assert_eq!(planted["verdict"]["severity"], "critical");
    // The spike is sample 201: an incident holding it opened, and every incident
    // opened once, before any other change of it.
    let spike = planted["seq"].as_u64().unwrap();
    assert!(
        incidents
            .iter()
            .any(|(_, change, first, _)| change == "opened" && *first <= spike),
        "{incidents:?}"
    );
    for (id, change, _, _) in &incidents {
        let first = incidents.iter().find(|(i, _, _, _)| i == id).unwrap();
        assert_eq!(first.1, "opened", "incident {id} began with {change}");
    }
    let reasons = planted["verdict"]["reasons"].to_string();
    assert!(
        reasons.contains("cpu_percent") && reasons.contains("memory_percent"),
        "{reasons}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rest_and_prometheus_answer_and_sigint_exits_cleanly_with_complete_logs() {
    let mut watch = Watch::replay("max", &["--window-size", "100"]);
    let mut socket = connect(&watch).await;
    until_finished(&mut socket).await;

    let status = watch.get("/api/status").json();
    assert_eq!(status["counts"]["samples"], 240);
    assert_eq!(status["status"]["state"], "monitoring");
    assert_eq!(status["status"]["replay_finished"], true);
    let history = watch.get("/api/history?limit=5").json();
    let seqs: Vec<u64> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, [236, 237, 238, 239, 240]);
    let anomalies = watch.get("/api/anomalies?limit=1000").json();
    let anomalies = anomalies.as_array().unwrap();
    let flagged: u64 = ["medium", "high", "critical"]
        .iter()
        .map(|s| status["counts"]["anomalies"][s].as_u64().unwrap())
        .sum();
    assert_eq!(anomalies.len() as u64, flagged);
    let incidents = watch.get("/api/incidents").json();
    let last = watch.get("/api/incidents?limit=1").json();
    let incidents = incidents.as_array().unwrap();
    assert!(!incidents.is_empty());
    assert_eq!(last.as_array().unwrap(), &incidents[incidents.len() - 1..]);
    assert_eq!(watch.get("/healthz").body, "ok\n");
    assert_eq!(watch.get("/../../etc/passwd").status, 404);
    assert_eq!(watch.get("/static/../Cargo.toml").status, 404);

    let exposition = watch.get("/metrics");
    assert!(
        exposition
            .header("content-type")
            .unwrap()
            .starts_with("text/plain")
    );
    assert!(exposition.body.contains("metrics_samples_total 240"));
    assert!(
        exposition
            .body
            .contains("metrics_sample_value{metric=\"cpu_percent\",unit=\"%\"}")
    );
    // The session's own resource use, as every exporter gives it.
    let own = |name: &str| -> f64 {
        let prefix = format!("{name} ");
        let line = exposition.body.lines().find(|l| l.starts_with(&prefix));
        line.and_then(|l| l[prefix.len()..].parse().ok())
            .unwrap_or_else(|| panic!("{name}: {}", exposition.body))
    };
    assert!(own("process_resident_memory_bytes") > 1e6);
    assert!(own("process_open_fds") >= 3.0);
    assert!(
        own("process_cpu_seconds_total") > 0.0,
        "it replayed 240 rows"
    );
    let now = metrics::timestamp::now_ms() as f64 / 1000.0;
    let started = own("process_start_time_seconds");
    assert!(
        started <= now && started > now - 300.0,
        "{started} against {now}"
    );
    promtool_check(&exposition.body);

    let (exit, took) = watch.interrupt();
    assert!(exit.success(), "exit {exit:?}: {}", watch.stderr());
    assert!(took < Duration::from_secs(2), "took {took:?}");
    assert!(next(&mut socket).await.is_none(), "the socket is closed");

    let history = std::fs::read_to_string(watch.log_dir.join("metrics_history.csv")).unwrap();
    assert_eq!(
        history.lines().count(),
        241,
        "header and one line per sample"
    );
    assert!(
        history
            .lines()
            .next()
            .unwrap()
            .ends_with("top_metric,reasons")
    );
    let jsonl = std::fs::read_to_string(watch.log_dir.join("anomalies.jsonl")).unwrap();
    assert_eq!(jsonl.lines().count(), anomalies.len());
    for line in jsonl.lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        assert!(!v["verdict"]["reasons"].as_array().unwrap().is_empty());
    }
    let text_log = std::fs::read_dir(&watch.log_dir)
        .unwrap()
        .filter_map(Result::ok)
        .find(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("system_monitor")
        })
        .expect("a system_monitor log");
    let text = std::fs::read_to_string(text_log.path()).unwrap();
    // The text log tells incidents, each change once with its summary, not every
    // anomalous row: a five-minute incident is a few lines, not three hundred.
    let changes = std::fs::read_to_string(watch.log_dir.join("incidents.jsonl")).unwrap();
    let told = |word: &str| {
        changes
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|v| v["change"] == word)
            .map(|v| format!("incident {} {word}", v["id"]))
            .collect::<Vec<_>>()
    };
    let opened = told("opened");
    assert!(!opened.is_empty(), "{changes}");
    for line in opened {
        assert!(
            text.lines()
                .filter(|l| l.contains(&format!("{line}: ")))
                .count()
                == 1
                && text.contains(&format!("WARN {line}: ")),
            "{line} is told once at WARN: {text}"
        );
    }
    assert!(text.contains("critical anomaly on"), "{text}");
    assert!(
        !text.contains("anomaly (score"),
        "rows are not told one by one at the default level: {text}"
    );
    assert!(text.contains("stopping"));
}

fn promtool_check(exposition: &str) {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("promtool is needed for this test: apt-get install prometheus");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(exposition.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replay_with_a_saved_model_gives_the_verdicts_analyze_gives() {
    let dir = tempfile::tempdir().unwrap();
    let file = planted_spike();
    let model = dir.path().join("model.json");
    let analysed = dir.path().join("analysed.csv");
    analyze(
        &file,
        &analysed,
        &["--fit-rows", "120", "--save-model", model.to_str().unwrap()],
    );
    let mut watch = Watch::replay(
        "max",
        &["--model", model.to_str().unwrap(), "--retrain-every", "0"],
    );
    let mut socket = connect(&watch).await;
    until_finished(&mut socket).await;
    assert!(watch.interrupt().0.success());

    let verdicts = |path: &std::path::Path| -> Vec<String> {
        let mut reader = csv::Reader::from_path(path).unwrap();
        let header = reader.headers().unwrap().clone();
        // The last six are the verdict columns.
        let from = header.len() - 6;
        reader
            .records()
            .map(|r| r.unwrap().iter().skip(from).collect::<Vec<_>>().join(","))
            .collect()
    };
    let batch = verdicts(&analysed);
    let history = watch.log_dir.join("metrics_history.csv");
    let live = verdicts(&history);
    assert_eq!(live.len(), 240);
    assert_eq!(live, batch, "live and batch verdicts differ");
    assert!(live.iter().any(|v| v.contains("critical")));

    // The recorded session analysed in batch with the same model: same verdicts.
    let reanalysed = dir.path().join("reanalysed.csv");
    analyze(&history, &reanalysed, &["--model", model.to_str().unwrap()]);
    let again: Vec<String> = verdicts(&reanalysed);
    assert_eq!(again, batch);

    // The recorded session replayed: its old verdicts are not replayed as text
    // columns, so the new history has the same columns and the same verdicts.
    let recorded = dir.path().join("recorded.csv");
    std::fs::copy(&history, &recorded).unwrap();
    let (model, recorded) = (model.to_str().unwrap(), recorded.to_str().unwrap());
    let args = ["--replay", recorded, "--speed", "max", "--model", model];
    let mut replayed = Watch::start(&[&args[..], &["--retrain-every", "0"]].concat());
    replayed.wait_until_replayed();
    assert!(replayed.interrupt().0.success());
    let rewritten = std::fs::read_to_string(replayed.log_dir.join("metrics_history.csv")).unwrap();
    assert_eq!(rewritten, std::fs::read_to_string(recorded).unwrap());

    // Replayed into the folder whose history it is, it would be appended to itself.
    let out = Command::new(env!("CARGO_BIN_EXE_metrics"))
        .args(["watch", "--port", "0", "--replay"])
        .arg(&history)
        .arg("--log-dir")
        .arg(&watch.log_dir)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("is the history this session writes"), "{err}");
    assert_eq!(
        std::fs::read_to_string(&history).unwrap(),
        std::fs::read_to_string(recorded).unwrap()
    );
}

#[test]
fn a_host_in_the_brackets_of_a_url_is_served_on() {
    // `[::1]` as a URL writes it; the brackets are taken off before the lookup.
    let file = planted_spike();
    let watch = Watch::start(&["--replay", file.to_str().unwrap(), "--host", "[127.0.0.1]"]);
    assert!(watch.address.starts_with("127.0.0.1:"), "{}", watch.address);
    assert_eq!(watch.get("/healthz").body, "ok\n");
}

#[test]
fn a_port_in_use_is_named_with_a_hint() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let out = Command::new(env!("CARGO_BIN_EXE_metrics"))
        .args(["watch", "--replay"])
        .arg(planted_spike())
        .args(["--port", &port])
        .arg("--log-dir")
        .arg(tempfile::tempdir().unwrap().path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("port {port}"))
            && err.contains("already in use")
            && err.contains("--port"),
        "{err}"
    );
}

/// Retrainings of the planted-spike replay with the flags below: one when the
/// window has doubled to 80 samples, then one 60 samples after each went into use.
const RETRAINS: u64 = 3;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retraining_saves_each_model_and_sigterm_stops_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let saved = dir.path().join("live-model.json");
    // Baseline 40 samples, retrainings on up to the last 100 when the window has
    // doubled (80) and every 60 samples after, each in use a fixed 10 samples after
    // it starts, whatever the replay's speed: the count is exact.
    let schedule = [
        "--window-size",
        "40",
        "--train-window",
        "100",
        "--retrain-every",
        "60",
    ];
    let mut watch = Watch::replay(
        "max",
        &[&schedule[..], &["--save-model", saved.to_str().unwrap()]].concat(),
    );
    let mut socket = connect(&watch).await;
    let messages = until_finished(&mut socket).await;
    let finished = messages.last().unwrap();
    let retrains = finished["retrains"].as_u64().unwrap();
    assert_eq!(retrains, RETRAINS, "{finished}");
    let retrained = messages
        .iter()
        .filter(|m| m["event"] == "retrained")
        .count();
    assert_eq!(retrained as u64, retrains, "each retraining is announced");
    let (exit, took) = watch.signal("-TERM");
    assert!(
        exit.success() && took < Duration::from_secs(2),
        "{exit:?} {took:?}"
    );
    let model: Value = serde_json::from_str(&std::fs::read_to_string(&saved).unwrap()).unwrap();
    assert_eq!(model["format"], metrics::detector::MODEL_FORMAT);
    let rows = model["trained_rows"].as_u64().unwrap();
    assert!((41..=100).contains(&rows), "{rows}");

    // The session's history replayed through the same flags retrains at the same
    // samples and writes the same verdicts again: how a retraining session is
    // reproduced offline, where `analyze` (one model) is not.
    let history = watch.log_dir.join("metrics_history.csv");
    let recorded = dir.path().join("recorded.csv");
    std::fs::copy(&history, &recorded).unwrap();
    let mut again = Watch::start(
        &[
            &["--replay", recorded.to_str().unwrap(), "--speed", "max"],
            &schedule[..],
        ]
        .concat(),
    );
    again.wait_until_replayed();
    again.interrupt();
    assert_eq!(
        std::fs::read_to_string(again.log_dir.join("metrics_history.csv")).unwrap(),
        std::fs::read_to_string(&recorded).unwrap(),
        "the replayed history is the recorded one"
    );
}

/// A log folder that cannot be made when the session starts (a typo under a file,
/// a folder of another user's) stops it there, with the reason: the session used
/// to run on, keeping no history for as long as it ran, after one warning. Faults
/// that come later are survived (`tests/faults.rs`).
#[test]
fn a_log_folder_that_cannot_be_made_stops_the_session_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let blocker = dir.path().join("not-a-folder");
    std::fs::write(&blocker, "").unwrap();
    let log_dir = blocker.join("logs");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_metrics"))
        .args(["watch", "--port", "0", "--replay"])
        .arg(planted_spike())
        .arg("--log-dir")
        .arg(&log_dir)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty(), "it never served");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!(
            "error: --log-dir {}: cannot keep the session's logs there",
            log_dir.display()
        )) && err.contains("hint: give --log-dir a folder this user can write to"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_is_analysed_and_bad_ones_get_the_command_lines_words() {
    let file = planted_spike();
    let watch = Watch::replay("max", &[]);
    let csv = std::fs::read(&file).unwrap();
    let ok = http(
        &watch.address,
        "POST",
        "/api/analyze?name=spike.csv",
        Some(&csv),
    );
    assert_eq!(ok.status, 200, "{}", ok.body);
    let report = ok.json();
    assert_eq!(report["summary"]["rows"], 240);
    assert_eq!(report["flagged"][0]["severity"], "critical");
    let row = report["flagged"][0]["row"].to_string();
    assert_eq!(report["cells"][&row].as_array().unwrap().len(), 9);
    assert!(report["scores"].as_array().unwrap().len() == 240);

    // A file the page cannot analyse is refused (422) with the reason.
    let refused = |name: &str, csv: &[u8]| {
        let answer = http(
            &watch.address,
            "POST",
            &format!("/api/analyze?name={name}"),
            Some(csv),
        );
        assert_eq!(answer.status, 422, "{}", answer.body);
        answer.json()["error"].as_str().unwrap().to_string()
    };
    let message = refused(
        "bad.csv",
        b"timestamp,cpu_percent\n2024-01-01T00:00:00Z,12\n2024-01-01T00:00:01Z,abc\n",
    );
    assert!(message.starts_with("bad.csv:3:2:"), "{message}");
    // Too short a file is told in the page's terms: it has no flags to fit with.
    let message = refused(
        "short.csv",
        b"timestamp,cpu_percent\n2024-01-01T00:00:00Z,12\n2024-01-01T00:00:01Z,13\n",
    );
    assert!(
        message.starts_with("short.csv has 2 rows; learning a baseline needs at least 32")
            && !message.contains("fit on"),
        "{message}"
    );

    // A form upload is told how to send the file, not that line 2 has a stray quote.
    let form = b"--x\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.csv\"\r\n\r\ntimestamp,cpu_percent\n0,1\n\r\n--x--\r\n";
    let refused = request(
        &watch.address,
        "POST",
        "/api/analyze",
        "multipart/form-data; boundary=x",
        Some(form),
    );
    assert_eq!(refused.status, 415);
    let message = refused.json()["error"].as_str().unwrap().to_string();
    assert!(
        message.contains("curl --data-binary @FILE.csv"),
        "{message}"
    );

    let huge = vec![b'1'; 50 * 1024 * 1024 + 1];
    let too_big = http(&watch.address, "POST", "/api/analyze", Some(&huge));
    assert_eq!(too_big.status, 413);
    assert!(too_big.json()["error"].as_str().unwrap().contains("50 MB"));
}

/// A session left running gives back what its uploads took: the page's uploads
/// are analysed on several threads, and before, the process kept the largest
/// one's peak for good (about 16 MB before four uploads of 250,000 rows, 175 MB
/// after).
#[test]
fn a_session_gives_back_the_memory_its_uploads_took() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("upload.csv");
    common::datagen(250_000, 1, &["--no-labels"], &csv);
    let body = std::fs::read(&csv).unwrap();
    let watch = Watch::replay("max", &[]);
    watch.wait_until_replayed();
    let resident_mb = || {
        let status = std::fs::read_to_string(format!("/proc/{}/status", watch.child.id())).unwrap();
        let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
        let kb: f64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
        kb / 1024.0
    };
    let before = resident_mb();
    for _ in 0..4 {
        let answer = http(
            &watch.address,
            "POST",
            "/api/analyze?name=big.csv",
            Some(&body),
        );
        assert_eq!(answer.status, 200, "{}", answer.body);
        assert_eq!(answer.json()["summary"]["rows"], 250_000);
    }
    let after = resident_mb();
    assert!(
        after < before + 60.0,
        "{before:.0} MB before four uploads of 250,000 rows, {after:.0} MB after"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_clients_each_get_every_sample_in_order_and_silent_ones_do_not_stall_them() {
    let watch = Watch::replay("20", &["--window-size", "100"]);
    // Clients that connect and never read.
    let mut silent = Vec::new();
    for _ in 0..5 {
        silent.push(std::net::TcpStream::connect(&watch.address).unwrap());
    }
    let mut clients = Vec::new();
    for _ in 0..20 {
        clients.push(connect(&watch).await);
    }
    let mut tasks = Vec::new();
    for mut socket in clients {
        tasks.push(tokio::spawn(async move {
            let hello = next(&mut socket).await.unwrap();
            let mut seq = hello["backfill"]
                .as_array()
                .unwrap()
                .last()
                .map_or(0, |m| m["seq"].as_u64().unwrap());
            for m in until_finished(&mut socket).await {
                if m["type"] == "sample" {
                    let s = m["seq"].as_u64().unwrap();
                    assert_eq!(s, seq + 1);
                    seq = s;
                }
            }
            socket.close(None).await.ok();
            seq
        }));
    }
    for task in tasks {
        assert_eq!(task.await.unwrap(), 240);
    }
    drop(silent);
}

#[test]
fn bad_flags_are_refused_before_anything_starts() {
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_metrics"))
            .arg("watch")
            .args(args)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, err) = run(&["--window-size", "10", "--port", "0"]);
    assert_eq!(code, Some(2));
    assert!(
        err.contains("training needs at least 32") && err.contains("--window-size"),
        "{err}"
    );
    let (code, err) = run(&["--train-window", "60", "--port", "0"]);
    assert_eq!(code, Some(2));
    assert!(
        err.contains("--train-window 60 s is shorter than --window-size 120 s"),
        "{err}"
    );
    let (code, err) = run(&["--host", "", "--port", "0"]);
    assert_eq!(code, Some(2));
    assert!(
        err.contains("invalid value '' for '--host <HOST>': empty"),
        "{err}"
    );
    let (code, err) = run(&["--interval", "0.01", "--port", "0"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("--interval"), "{err}");
    // An interval no wait can hold used to panic (exit 101) after binding.
    let (code, err) = run(&[
        "--interval",
        "1e20",
        "--window-size",
        "4e21",
        "--train-window",
        "4e21",
        "--port",
        "0",
    ]);
    assert_eq!(code, Some(2));
    assert!(err.contains("at most 86400 s (a day)"), "{err}");
    let (code, err) = run(&["--replay", "/nonexistent.csv", "--port", "0"]);
    assert_eq!(code, Some(2));
    assert!(
        err.contains("/nonexistent.csv") && err.contains("hint"),
        "{err}"
    );
    let (code, err) = run(&["--speed", "max"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("--replay"), "{err}");
    let (code, err) = run(&["--allowed-origin", "grafana.lan", "--port", "0"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("scheme://host[:port]"), "{err}");
    let (code, err) = run(&["--web-config", "/nonexistent.yml", "--port", "0"]);
    assert_eq!(code, Some(2));
    assert!(
        err.contains("--web-config /nonexistent.yml: cannot read it"),
        "{err}"
    );
}

/// A replay too short for a baseline says so on standard error: before, it ended
/// with "replay finished; still serving" and a page with no verdicts.
#[test]
fn a_replay_too_short_for_a_baseline_says_nothing_was_judged() {
    // The fixture has 240 rows; a 300-sample baseline is never complete.
    let mut watch = Watch::replay("max", &["--window-size", "300"]);
    watch.wait_until_replayed();
    watch.interrupt();
    let err = watch.stderr();
    assert!(
        err.contains("the replay ended after 240 samples, before the 300 a baseline needs: nothing was judged"),
        "{err}"
    );
    // One that trains says nothing of the kind.
    let mut enough = Watch::replay("max", &["--window-size", "100"]);
    enough.wait_until_replayed();
    enough.interrupt();
    assert!(
        !enough.stderr().contains("nothing was judged"),
        "{}",
        enough.stderr()
    );
}

/// `--timezone` acts only through the time-of-day profile, which a training
/// window of less than two days never learns: the session says so at start, and
/// says nothing of it with a window long enough.
#[test]
fn a_timezone_a_short_training_window_cannot_use_is_told() {
    let told = |extra: &[&str]| {
        let mut args = vec!["--timezone", "Europe/Berlin"];
        args.extend_from_slice(extra);
        let mut watch = Watch::replay("max", &args);
        watch.wait_until_replayed();
        watch.interrupt();
        watch.stderr()
    };
    let err = told(&[]);
    assert!(
        err.contains("--timezone Europe/Berlin changes nothing with --train-window 3600 s"),
        "{err}"
    );
    assert!(!told(&["--train-window", "172800"]).contains("--timezone"));
}

/// A replayed file whose times go backwards (two recordings joined, a file sorted
/// by another column) is told so as `analyze` tells it: it was replayed in file
/// order without a word.
#[test]
fn a_replay_whose_times_go_backwards_is_told_so() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(common::planted_spike()).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    // The 11th row moved to the end: the file steps back once, at its last row.
    let moved = lines.remove(11);
    lines.push(moved);
    let joined = dir.path().join("joined.csv");
    std::fs::write(&joined, lines.join("\n") + "\n").unwrap();
    let mut watch = Watch::start(&["--replay", joined.to_str().unwrap(), "--speed", "max"]);
    watch.wait_until_replayed();
    watch.interrupt();
    let err = watch.stderr();
    assert!(
        err.contains("joined.csv: the times go backwards at data row 240"),
        "{err}"
    );
}

/// A file sampled each minute (an export at Prometheus' default step) replays with
/// no flag but `--replay`: the baseline stretches to the 32 samples a fit needs.
/// It was refused: "--window-size 120 s at an interval of 60 s gives 2 samples".
/// Retraining learns from a week, not from the hour (60 samples) that suits one
/// sample a second.
#[test]
fn a_replay_of_minute_samples_runs_with_default_flags() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("minutes.csv");
    common::datagen(200, 3, &["--interval", "60"], &file);
    let mut watch = Watch::start(&["--replay", file.to_str().unwrap(), "--speed", "max"]);
    watch.wait_until_replayed();
    let status = watch.get("/api/status").json();
    watch.interrupt();
    let config = &status["config"];
    assert_eq!(config["interval_s"], 60.0, "{status}");
    assert_eq!(config["window_size_s"], 1920.0, "{status}");
    assert_eq!(config["baseline"], 32, "{status}");
    assert_eq!(config["train_window_s"], 604_800.0, "{status}");
    assert_eq!(status["status"]["state"], "monitoring", "{status}");
    assert_eq!(status["counts"]["samples"], 200, "{status}");
    assert!(
        watch.stderr().contains("trained on 32 samples"),
        "{}",
        watch.stderr()
    );
}

/// Two sessions writing one log folder interleaved their histories and rotated
/// each other's files: a second session started there (with `--port 0`, so the
/// port does not stop it) is refused while the first runs, and runs once it ends.
#[test]
fn a_log_folder_another_session_keeps_is_refused_until_that_one_ends() {
    let mut first = Watch::replay("max", &[]);
    first.wait_until_replayed();
    let second = || {
        Command::new(env!("CARGO_BIN_EXE_metrics"))
            .args([
                "watch",
                "--port",
                "0",
                "--alert-severity",
                "high",
                "--replay",
            ])
            .arg(planted_spike())
            .arg("--log-dir")
            .arg(&first.log_dir)
            .output()
            .unwrap()
    };
    let out = second();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!(
            "another metrics watch (process {}) keeps its logs there",
            first.child.id()
        )) && err.contains("hint: give this session another --log-dir"),
        "{err}"
    );
    assert!(first.interrupt().0.success());
    let mut again = Watch::start(&[
        "--replay",
        planted_spike().to_str().unwrap(),
        "--log-dir",
        first.log_dir.to_str().unwrap(),
    ]);
    assert!(again.interrupt().0.success());
}

/// Ctrl-C, SIGTERM or SIGHUP (the terminal closed) sent the moment the address
/// is printed stops the session cleanly. The listeners were set up only once the
/// session ran, so a signal in that moment killed the process outright (22 times
/// in 30 on this test's machine), its logs unclosed; SIGHUP was not listened for
/// at all.
#[test]
fn a_signal_sent_as_soon_as_the_address_is_printed_stops_cleanly() {
    for signal in ["-INT", "-TERM", "-HUP", "-INT", "-TERM", "-HUP"] {
        let mut watch = Watch::replay("1", &[]);
        let (status, _) = watch.signal(signal);
        assert!(status.success(), "{signal}: {status:?}; {}", watch.stderr());
    }
}
