//! Checks on the files a command will write, made before any work, so a long run
//! never fails at its end because of a typo in an output path.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{Result, bail};

/// The absolute form of `path`, resolving its folder even when the file is new.
fn resolved(path: &Path) -> Option<PathBuf> {
    if let Ok(p) = path.canonicalize() {
        return Some(p);
    }
    let folder = match path.parent() {
        Some(f) if !f.as_os_str().is_empty() => f,
        _ => Path::new("."),
    };
    Some(folder.canonicalize().ok()?.join(path.file_name()?))
}

/// Fails when `output` cannot be written: its folder is missing, it is a folder, or
/// it is one of `inputs`. `what` names the flag in the message.
pub fn check_output(output: &Path, what: &str, inputs: &[&Path]) -> Result<()> {
    if output.as_os_str() == "-" {
        return Ok(());
    }
    if output.is_dir() {
        bail!(
            "{what} {}: is a directory; hint: name a file inside it",
            output.display()
        );
    }
    let folder = match output.parent() {
        Some(f) if !f.as_os_str().is_empty() => f,
        _ => Path::new("."),
    };
    if !folder.is_dir() {
        bail!(
            "{what} {}: the folder {} does not exist; hint: create it (mkdir -p {}) or write elsewhere",
            output.display(),
            folder.display(),
            folder.display()
        );
    }
    let out = resolved(output);
    for input in inputs {
        if input.as_os_str() != "-" && out.is_some() && resolved(input) == out {
            bail!(
                "{what} {} is the input file; writing it would destroy the input; hint: choose another output name",
                output.display()
            );
        }
    }
    Ok(())
}

/// Fails when two of `outputs` (each a path and the flag that names it) are the
/// same file, or both standard output: the one written last would replace or
/// interleave with the other.
pub fn check_distinct(outputs: &[(&Path, &str)]) -> Result<()> {
    // Each path resolved once (it asks the file system), not once per pair.
    let keys: Vec<Option<PathBuf>> = outputs
        .iter()
        .map(|(p, _)| {
            if p.as_os_str() == "-" {
                Some(PathBuf::from("-"))
            } else {
                resolved(p)
            }
        })
        .collect();
    for (i, ((_, first), a)) in outputs.iter().zip(&keys).enumerate() {
        for ((b, second), b_key) in outputs[i + 1..].iter().zip(&keys[i + 1..]) {
            if a.is_some() && a == b_key {
                let same = if b.as_os_str() == "-" {
                    "writes to standard output as".to_string()
                } else {
                    format!("{} is also the file of", b.display())
                };
                bail!(
                    "{second} {same} {first}: each output needs its own; hint: give {second} another name"
                );
            }
        }
    }
    Ok(())
}

/// The file in a session's log folder that the session holds locked while it runs.
pub const LOCK_FILE: &str = "watch.lock";

/// A log folder claimed by this session: held locked until the session ends (or
/// its process does, however it ends).
#[derive(Debug)]
pub struct LogDirClaim {
    _lock: std::fs::File,
}

/// Makes the log folder of a session and claims it, or fails saying why: a
/// session whose folder cannot be made or written to (a typo under a folder of
/// another user's, a file of that name) would otherwise run for days keeping no
/// history, warned once; and two sessions writing one folder (a second started
/// with `--port 0` from the same place) interleaved their histories and rotated
/// each other's files. Faults that come later (a full disk, a folder made
/// read-only) are survived instead.
pub fn claim_log_dir(dir: &Path) -> Result<LogDirClaim> {
    let cannot = |e: std::io::Error| {
        anyhow::anyhow!(
            "--log-dir {}: cannot keep the session's logs there: {e}; hint: give --log-dir a folder this user can write to",
            dir.display()
        )
    };
    std::fs::create_dir_all(dir).map_err(cannot)?;
    let path = dir.join(LOCK_FILE);
    let mut lock = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(cannot)?;
    match lock.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let _ = lock.read_to_string(&mut holder);
            let holder = match holder.trim() {
                "" => String::new(),
                pid => format!(" (process {pid})"),
            };
            bail!(
                "--log-dir {}: another metrics watch{holder} keeps its logs there; hint: give this session another --log-dir, or stop that one",
                dir.display()
            );
        }
        // A file system without locks (some network ones) keeps the logs all the
        // same, unguarded.
        Err(std::fs::TryLockError::Error(e)) => eprintln!(
            "warning: --log-dir {}: cannot lock {LOCK_FILE} ({e}): a second session given this folder would not be stopped",
            dir.display()
        ),
    }
    // Who holds it, for the message above; the lock, not the text, is the claim.
    let _ = lock
        .set_len(0)
        .and_then(|()| lock.write_all(format!("{}\n", std::process::id()).as_bytes()));
    Ok(LogDirClaim { _lock: lock })
}

/// Fails when `input` is a file the session in `log_dir` appends to, its history
/// (`written`, each the file's path and what it holds): the rows replayed would be
/// written again after themselves, each time twice over, and the session's
/// resumption would read them as its own recent past.
pub fn check_not_appended(input: &Path, written: &[(PathBuf, &str)]) -> Result<()> {
    let Some(input_key) = resolved(input) else {
        return Ok(());
    };
    for (path, what) in written {
        if resolved(path).as_ref() == Some(&input_key) {
            bail!(
                "--replay {} is the {what} this session writes; replaying it would append its rows after themselves; hint: copy it elsewhere first, or give --log-dir another folder",
                input.display()
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_replay_of_the_history_the_session_appends_to_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let history = dir.path().join("metrics_history.csv");
        std::fs::write(&history, "timestamp,cpu\n").unwrap();
        let written = [(history.clone(), "history")];
        let roundabout = dir.path().join(".").join("metrics_history.csv");
        let err = check_not_appended(&roundabout, &written).unwrap_err();
        assert!(
            err.to_string()
                .contains("is the history this session writes"),
            "{err}"
        );
        let copy = dir.path().join("yesterday.csv");
        std::fs::write(&copy, "timestamp,cpu\n").unwrap();
        check_not_appended(&copy, &written).unwrap();
    }

    #[test]
    fn a_log_folder_that_cannot_be_made_is_refused_and_a_new_one_made() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("afile");
        std::fs::write(&file, "").unwrap();
        let err = claim_log_dir(&file.join("logs")).unwrap_err().to_string();
        assert!(
            err.contains("cannot keep the session's logs there"),
            "{err}"
        );
        let err = claim_log_dir(&file).unwrap_err().to_string();
        assert!(
            err.starts_with(&format!("--log-dir {}", file.display())),
            "{err}"
        );
        let logs = dir.path().join("a/b/logs");
        let claim = claim_log_dir(&logs).unwrap();
        assert!(logs.is_dir());
        let left: Vec<_> = std::fs::read_dir(&logs).unwrap().flatten().collect();
        assert_eq!(left.len(), 1, "only the lock file");
        assert_eq!(left[0].file_name(), LOCK_FILE);
        // A second claim while the first holds is refused, naming the holder; once
        // the first is let go the folder is free again.
        let err = claim_log_dir(&logs).unwrap_err().to_string();
        assert!(
            err.contains(&format!(
                "another metrics watch (process {}) keeps its logs there",
                std::process::id()
            )),
            "{err}"
        );
        drop(claim);
        claim_log_dir(&logs).unwrap();
    }

    #[test]
    fn two_outputs_naming_one_file_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out.csv");
        let same = dir.path().join(".").join("out.csv");
        let err = check_distinct(&[(&out, "--output-file"), (&same, "--events")]).unwrap_err();
        assert!(
            err.to_string()
                .contains("is also the file of --output-file"),
            "{err}"
        );
        let dash = Path::new("-");
        assert!(check_distinct(&[(dash, "--output-file"), (dash, "--json")]).is_err());
        let other = dir.path().join("events.csv");
        assert!(
            check_distinct(&[
                (&out, "--output-file"),
                (&other, "--events"),
                (dash, "--json")
            ])
            .is_ok()
        );
    }
}
