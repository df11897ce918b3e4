//! The systemd unit `contrib/systemd/metrics-watch.service`: systemd's own checker
//! accepts it and rates it confined, and a live session samples this machine,
//! trains, judges, serves and runs an alert command within the unit's system call
//! filter, applied as systemd applies it (`common/under_unit_filter.py`, with
//! libseccomp). systemd itself cannot start services on the test machine (it is
//! not its init), so the rest of the confinement (its own user, a read-only file
//! system) is what `systemd-analyze security` rates, not what runs here.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{DEADLINE, Watch};

fn unit() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("contrib/systemd/metrics-watch.service")
}

/// The Debian Python that has libseccomp's module (Debian package python3-seccomp).
const PYTHON: &str = "/usr/bin/python3";

fn filter_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/common/under_unit_filter.py")
}

fn systemd_analyze(args: &[&str]) -> std::process::Output {
    Command::new("systemd-analyze")
        .args(args)
        .output()
        .expect("systemd-analyze (Debian package systemd) must be installed")
}

#[test]
fn the_shipped_unit_is_accepted_by_systemd_and_rated_confined() {
    // The checker wants the program to exist: the one this build made stands in
    // for /usr/local/bin/metrics.
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(unit()).unwrap();
    assert!(text.contains("ExecStart=/usr/local/bin/metrics watch"));
    let copy = dir.path().join("metrics-watch.service");
    std::fs::write(
        &copy,
        text.replace("/usr/local/bin/metrics", env!("CARGO_BIN_EXE_metrics")),
    )
    .unwrap();
    let copy = copy.to_str().unwrap();

    let verify = systemd_analyze(&["verify", copy]);
    let said = String::from_utf8_lossy(&verify.stderr);
    assert!(verify.status.success() && said.trim().is_empty(), "{said}");

    // Exposure 0 (locked down) to 10 (exposed); --threshold is in tenths.
    let security = systemd_analyze(&["security", "--offline=true", "--threshold=20", copy]);
    let rating = String::from_utf8_lossy(&security.stdout);
    let overall = rating
        .lines()
        .find(|l| l.contains("Overall exposure level"))
        .unwrap_or_default();
    assert!(
        security.status.success() && overall.contains("OK"),
        "{overall}\n{rating}"
    );
}

#[test]
fn a_live_session_samples_trains_judges_and_alerts_within_the_units_system_call_filter() {
    let (python, script, unit) = (
        PYTHON,
        filter_script(),
        unit().to_str().unwrap().to_string(),
    );
    let wrapper = [python, script.to_str().unwrap(), &unit];
    // 32 samples 0.2 s apart: the fewest a model is trained on.
    let mut watch = Watch::start_under(&wrapper, &["--interval", "0.2", "--window-size", "6.4"]);
    let started = Instant::now();
    let status = loop {
        let status = watch.get("/api/status").json();
        if status["status"]["state"] == "monitoring"
            && status["counts"]["samples"].as_u64() > Some(40)
        {
            break status;
        }
        assert!(
            started.elapsed() < DEADLINE,
            "no model within the filter: {status}\n{}",
            watch.stderr()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(watch.get("/").body.contains("<canvas"), "{status}");
    assert!(watch.get("/metrics").body.contains("metrics_samples_total"));
    // Read once the session has closed its logs.
    let (exit, _) = watch.interrupt();
    assert!(exit.success(), "{}", watch.stderr());
    let history = std::fs::read_to_string(watch.log_dir.join("metrics_history.csv")).unwrap();
    let judged: Vec<&str> = history
        .lines()
        .skip(1)
        .filter(|l| {
            l.contains(",normal,")
                || l.contains(",medium,")
                || l.contains(",high,")
                || l.contains(",critical,")
        })
        .collect();
    assert!(!judged.is_empty(), "{history}");
    // Each sample read CPU, memory and the process count.
    let last: Vec<f64> = judged[judged.len() - 1]
        .split(',')
        .map(|v| v.parse().unwrap_or(f64::NAN))
        .collect();
    let (cpu, memory, processes) = (last[1], last[3], last[13]);
    assert!((0.0..=100.0).contains(&cpu), "{cpu}");
    assert!(memory > 0.0 && memory < 100.0, "{memory}");
    assert!(processes >= 1.0, "{processes}");

    // A receiver's command runs too (a shell and what it starts).
    let dir = tempfile::tempdir().unwrap();
    let told = dir.path().join("alert.json");
    let exec = format!("cat > '{}'", told.display());
    let output = Command::new(python)
        .args([
            script.to_str().unwrap(),
            &unit,
            env!("CARGO_BIN_EXE_metrics"),
        ])
        .args(["watch", "--log-dir"])
        .arg(dir.path().join("logs"))
        .args(["--alert-exec", &exec, "--alert-test"])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let body = std::fs::read_to_string(&told).unwrap();
    assert!(body.contains("\"alerts\""), "{body}");
}
