//! The command receiver: runs `sh -c COMMAND` with the webhook body on standard
//! input and the main fields in `METRICS_ALERT_*` variables. A command that
//! outlives its timeout is killed with everything it started (its own process
//! group), so a hung script cannot pile up.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::Command;

use super::payload::Message;

/// Most bytes of a command's standard error kept for the log.
const STDERR_KEPT: usize = 1024;

/// Runs `command` for `message`, waiting at most `timeout`: what it said on
/// standard error when it succeeded, or why it failed.
pub async fn run(command: &str, message: &Message, timeout: Duration) -> Result<String, String> {
    let body = message.webhook_body("exec").to_string();
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(command)
        .envs(message.env())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot start sh -c {command:?}: {e}"))?;
    let pid = child.id();
    let mut stdin = child.stdin.take();
    let mut stderr = child.stderr.take();
    let work = async {
        if let Some(stdin) = stdin.as_mut() {
            // A command that does not read its input is no failure.
            let _ = stdin.write_all(body.as_bytes()).await;
            let _ = stdin.write_all(b"\n").await;
        }
        drop(stdin.take());
        let mut said = Vec::new();
        if let Some(stderr) = stderr.as_mut() {
            let _ = stderr.take(STDERR_KEPT as u64).read_to_end(&mut said).await;
        }
        let status = child.wait().await;
        (status, said)
    };
    match tokio::time::timeout(timeout, work).await {
        Ok((Ok(status), said)) => {
            let said = String::from_utf8_lossy(&said).trim().to_string();
            if status.success() {
                Ok(if said.is_empty() {
                    "exit status 0".to_string()
                } else {
                    format!("exit status 0; stderr: {said}")
                })
            } else {
                Err(format!("{status}; stderr: {said}"))
            }
        }
        Ok((Err(e), _)) => Err(format!("cannot wait for the command: {e}")),
        Err(_) => {
            if let Some(pid) = pid {
                kill_group(pid);
            }
            Err(format!(
                "still running after {} s: killed with its process group",
                timeout.as_secs_f64()
            ))
        }
    }
}

/// Kills the process group `pid` leads (the command and all it started).
fn kill_group(pid: u32) {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return;
    };
    // SAFETY: kill(2) takes plain integers and touches no memory of ours; the
    // group is the one `process_group(0)` made for the child, which has not been
    // reaped yet (its handle is still held), so its id cannot have been reused.
    unsafe {
        libc::kill(-pid, libc::SIGKILL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerts::payload::Origin;
    use std::collections::BTreeMap;

    fn message() -> Message {
        let origin = Origin {
            labels: BTreeMap::from([("instance".to_string(), "web-1".to_string())]),
            dashboard: "http://127.0.0.1:5000/".into(),
        };
        Message::test(&origin, 1_736_157_800_000)
    }

    #[tokio::test]
    async fn the_command_gets_the_body_and_the_fields() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("alert.json");
        let command = format!(
            "cat > '{}'; echo \"$METRICS_ALERT_STATUS $METRICS_ALERT_INSTANCE\" >&2",
            out.display()
        );
        let said = run(&command, &message(), Duration::from_secs(10))
            .await
            .unwrap();
        assert_eq!(said, "exit status 0; stderr: firing web-1");
        let body: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
        assert_eq!(body["alerts"][0]["labels"]["alertname"], "MetricsTestAlert");
    }

    #[tokio::test]
    async fn a_failing_command_reports_its_status_and_stderr() {
        let err = run("echo nope >&2; exit 3", &message(), Duration::from_secs(10))
            .await
            .unwrap_err();
        assert!(
            err.contains("exit status: 3") && err.contains("nope"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn a_command_that_hangs_is_killed_with_its_children_at_the_timeout() {
        let dir = tempfile::tempdir().unwrap();
        let pid_file = dir.path().join("pid");
        // The shell starts a child that would outlive it if only the shell died.
        let command = format!("sleep 30 & echo $! > '{}'; wait", pid_file.display());
        let started = std::time::Instant::now();
        let err = run(&command, &message(), Duration::from_millis(500))
            .await
            .unwrap_err();
        assert!(err.contains("killed"), "{err}");
        assert!(started.elapsed() < Duration::from_secs(5));
        let pid = std::fs::read_to_string(&pid_file).unwrap();
        let proc = format!("/proc/{}", pid.trim());
        // The killed child is reaped by init; give it a moment to vanish.
        let gone = (0..100).any(|_| {
            let state = std::fs::read_to_string(format!("{proc}/stat")).unwrap_or_default();
            if state.is_empty() || state.contains(") Z ") {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
            false
        });
        assert!(gone, "the command's child still runs");
    }
}
