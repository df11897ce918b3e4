//! `watch`'s files in the log folder: `metrics_history.csv` (every sample and its
//! verdict), `anomalies.jsonl` (one object per anomaly) and `incidents.jsonl` (one
//! object each time an incident opens, grows worse or closes). A writer thread owns
//! them, so a slow or full disk never delays the collector: lines are handed over
//! without waiting and dropped (and counted) when the writer falls behind. Each line
//! goes out in one `write` to a file opened for appending, so a crash never leaves a
//! torn line in the middle of the file. A file that reaches the size limit is
//! renamed with `.1` before its extension (replacing the one before) and a new one
//! is begun, so a session left running keeps at most two of each. The text log is
//! tracing's (set up by the command).

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Name of the history file.
pub const HISTORY_FILE: &str = "metrics_history.csv";
/// Name of the anomalies file.
pub const ANOMALIES_FILE: &str = "anomalies.jsonl";
/// Name of the incidents file: one object each time an incident opens, grows
/// worse or closes.
pub const INCIDENTS_FILE: &str = "incidents.jsonl";
/// Lines the writer may be behind before new ones are dropped.
const QUEUE: usize = 4096;
/// Bytes in a megabyte, as the size limit is given (`--log-max-mb`, like
/// `analyze --window-mb`, counts 2^20).
const MB: f64 = (1u64 << 20) as f64;

enum Line {
    History(String),
    Anomaly(String),
    Incident(String),
}

/// The open log files.
pub struct Logs {
    tx: Option<SyncSender<Line>>,
    dropped: AtomicU64,
    writer: Option<JoinHandle<()>>,
}

impl Logs {
    /// Opens (or creates) the files in `dir`, whose history has `header` (with its
    /// newline). An existing history with another header is set aside as
    /// `metrics_history.<unix seconds>.csv` first. Each file is rotated (see
    /// [`rotated`]) once it holds `limit` bytes; `None` never rotates. Never fails:
    /// a folder that cannot be written is reported once and the session goes on
    /// without files.
    pub fn open(dir: &Path, header: String, limit: Option<u64>) -> Logs {
        let (tx, rx) = std::sync::mpsc::sync_channel(QUEUE);
        let dir = dir.to_path_buf();
        let writer = std::thread::Builder::new()
            .name("metrics-logs".into())
            .spawn(move || Writer::new(dir, header, limit).run(rx))
            .ok();
        Logs {
            tx: Some(tx),
            dropped: AtomicU64::new(0),
            writer,
        }
    }

    /// Queues a history row (newline included).
    pub fn history(&self, line: String) {
        self.send(Line::History(line));
    }

    /// Queues an anomaly object (one line of JSON, without newline).
    pub fn anomaly(&self, json: String) {
        self.send(Line::Anomaly(json));
    }

    /// Queues an incident change (one line of JSON, without newline).
    pub fn incident(&self, json: String) {
        self.send(Line::Incident(json));
    }

    fn send(&self, line: Line) {
        if let Some(tx) = &self.tx {
            match tx.try_send(line) {
                Ok(()) => {}
                Err(TrySendError::Full(_)) => {
                    if self.dropped.fetch_add(1, Ordering::Relaxed) == 0 {
                        tracing::warn!("the log writer is behind; log lines are being dropped");
                    }
                }
                Err(TrySendError::Disconnected(_)) => {}
            }
        }
    }

    /// Writes what is queued and closes the files.
    pub fn close(mut self) {
        self.tx = None;
        if let Some(w) = self.writer.take() {
            let _ = w.join();
        }
    }
}

/// How often a writer checks that its file is still the one at its path.
const RECHECK: Duration = Duration::from_secs(1);

/// Where a log file at `path` goes when it is rotated: `metrics_history.csv`
/// becomes `metrics_history.1.csv`, `anomalies.jsonl` `anomalies.1.jsonl`.
pub fn rotated(path: &Path) -> PathBuf {
    match path.extension() {
        Some(ext) => path.with_extension(format!("1.{}", ext.to_string_lossy())),
        None => path.with_extension("1"),
    }
}

/// One appendable file, opened lazily and reopened after a failure, or when the
/// file at its path was deleted or replaced (the folder removed, a rotation).
struct Appender {
    path: PathBuf,
    file: Option<File>,
    header: Option<String>,
    /// A failure was reported and no write has succeeded since.
    warned: bool,
    checked: Instant,
    recheck: Duration,
    /// Bytes at which the file is rotated; `None` never rotates.
    limit: Option<u64>,
    /// Bytes in the open file, when it is a regular one (a device is never rotated).
    size: Option<u64>,
}

impl Appender {
    /// A file of JSON lines, without header.
    fn jsonl(path: PathBuf, limit: Option<u64>) -> Appender {
        Appender::new(path, None, limit)
    }

    fn new(path: PathBuf, header: Option<String>, limit: Option<u64>) -> Appender {
        Appender {
            path,
            file: None,
            header,
            warned: false,
            checked: Instant::now(),
            recheck: RECHECK,
            limit,
            size: None,
        }
    }

    fn write(&mut self, line: &str) {
        if self.file.is_some() && self.checked.elapsed() >= self.recheck {
            self.checked = Instant::now();
            if !self.still_at_path() {
                tracing::warn!(
                    "{} was deleted or replaced; writing a new one",
                    self.path.display()
                );
                self.file = None;
            }
        }
        if self.file.is_none() {
            match self.open() {
                Ok(f) => self.file = Some(f),
                Err(e) => return self.warn(&e),
            }
        }
        if let Some(f) = self.file.as_mut() {
            match f.write_all(line.as_bytes()) {
                Ok(()) => {
                    if self.warned {
                        self.warned = false;
                        tracing::info!("writing {} again", self.path.display());
                    }
                    self.size = self.size.map(|s| s + line.len() as u64);
                    self.rotate_when_full();
                }
                Err(e) => {
                    self.file = None;
                    self.warn(&e);
                }
            }
        }
    }

    /// Renames a file that reached the limit to [`rotated`] (replacing the one
    /// before); the next line begins a new file, with its header.
    fn rotate_when_full(&mut self) {
        let (Some(limit), Some(size)) = (self.limit, self.size) else {
            return;
        };
        if size < limit {
            return;
        }
        let aside = rotated(&self.path);
        self.file = None;
        match std::fs::rename(&self.path, &aside) {
            Ok(()) => tracing::info!(
                "{} reached {} MB; moved it to {}",
                self.path.display(),
                limit as f64 / MB,
                aside.display()
            ),
            Err(e) => {
                // Tried again at every line, it would report at every line.
                self.limit = None;
                tracing::warn!(
                    "cannot move {} to {}: {e}; it grows on without rotation",
                    self.path.display(),
                    aside.display()
                );
            }
        }
    }

    /// Whether the open file is still the one its path names.
    fn still_at_path(&self) -> bool {
        let (Some(file), Ok(at_path)) = (&self.file, std::fs::metadata(&self.path)) else {
            return false;
        };
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            file.metadata()
                .is_ok_and(|open| open.dev() == at_path.dev() && open.ino() == at_path.ino())
        }
        #[cfg(not(unix))]
        {
            let _ = (file, at_path);
            true
        }
    }

    /// Reports a failure once until a write succeeds again.
    fn warn(&mut self, e: &std::io::Error) {
        if !self.warned {
            self.warned = true;
            tracing::warn!(
                "cannot write {}: {e}; detection and the server go on without it",
                self.path.display()
            );
        }
    }

    fn open(&mut self) -> std::io::Result<File> {
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        // Only a regular file is checked and mended: a path the user pointed at a
        // device (/dev/null to keep no history) is written as it is.
        let regular = std::fs::metadata(&self.path).map_or(true, |m| m.is_file());
        if let Some(header) = &self.header
            && regular
            && let Some(found) = first_line(&self.path)?
            && found != header.trim_end()
        {
            let stamp = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            let aside = self.path.with_extension(format!("{stamp}.csv"));
            std::fs::rename(&self.path, &aside)?;
            tracing::info!(
                "{} had other columns; moved it to {}",
                self.path.display(),
                aside.display()
            );
        }
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .read(true)
            .open(&self.path)?;
        let len = file.metadata()?.len();
        self.size = regular.then_some(len);
        if len == 0 || !regular {
            if let Some(header) = &self.header {
                file.write_all(header.as_bytes())?;
                self.size = self.size.map(|s| s + header.len() as u64);
            }
        } else {
            // A line cut short by power loss would glue onto the next one.
            let mut last = [0u8];
            file.seek(SeekFrom::Start(len - 1))?;
            file.read_exact(&mut last)?;
            if last[0] != b'\n' {
                file.write_all(b"\n")?;
                self.size = self.size.map(|s| s + 1);
            }
        }
        Ok(file)
    }
}

/// Longest first line read when checking a history's header.
const HEADER_LIMIT: u64 = 64 * 1024;

/// The first line of the file at `path` (its header), without its line break;
/// `None` when the file does not exist or is empty.
pub(super) fn first_line(path: &Path) -> std::io::Result<Option<String>> {
    match File::open(path) {
        Ok(f) => {
            let mut line = String::new();
            let mut reader = std::io::BufReader::new(f.take(HEADER_LIMIT));
            std::io::BufRead::read_line(&mut reader, &mut line)?;
            Ok((!line.is_empty()).then(|| line.trim_end().to_string()))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Bytes read at a time, backwards from the end of a log file, until the lines
/// asked for are in.
const BLOCK: u64 = 1 << 20;

/// The last lines of the file at `path` after its first `records_from` bytes (the
/// header): at least `lines` whole ones when the file has them.
pub(super) fn read_tail(path: &Path, records_from: u64, lines: usize) -> std::io::Result<Vec<u8>> {
    let mut file = File::open(path)?;
    let end = file.metadata()?.len();
    let mut from = end;
    // Read backwards, last block first; put in order once at the end.
    let mut blocks: Vec<Vec<u8>> = Vec::new();
    let mut breaks = 0;
    while from > records_from && breaks <= lines {
        let start = from.saturating_sub(BLOCK).max(records_from);
        let mut block = vec![0; (from - start) as usize];
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(&mut block)?;
        breaks += memchr::memchr_iter(b'\n', &block).count();
        blocks.push(block);
        from = start;
    }
    blocks.reverse();
    let mut tail = blocks.concat();
    // A block that starts inside a line leaves that line's end first: not a sample.
    if from > records_from {
        let cut = memchr::memchr(b'\n', &tail).map_or(tail.len(), |i| i + 1);
        tail.drain(..cut);
    }
    Ok(tail)
}

struct Writer {
    history: Appender,
    anomalies: Appender,
    incidents: Appender,
}

impl Writer {
    fn new(dir: PathBuf, header: String, limit: Option<u64>) -> Writer {
        Writer {
            history: Appender::new(dir.join(HISTORY_FILE), Some(header), limit),
            anomalies: Appender::jsonl(dir.join(ANOMALIES_FILE), limit),
            incidents: Appender::jsonl(dir.join(INCIDENTS_FILE), limit),
        }
    }

    fn run(mut self, rx: Receiver<Line>) {
        let mut buf = String::new();
        for line in rx {
            match line {
                Line::History(l) => self.history.write(&l),
                Line::Anomaly(json) => write_line(&mut self.anomalies, &mut buf, &json),
                Line::Incident(json) => write_line(&mut self.incidents, &mut buf, &json),
            }
        }
    }
}

/// Writes `json` and its newline to `file` in one call, through `buf`.
fn write_line(file: &mut Appender, buf: &mut String, json: &str) {
    buf.clear();
    buf.push_str(json);
    buf.push('\n');
    file.write(buf);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_restart_appends_below_one_header_and_mends_a_torn_last_line() {
        let dir = tempfile::tempdir().unwrap();
        let logs = Logs::open(dir.path(), "a,b\n".into(), None);
        logs.history("1,2\n".into());
        logs.anomaly("{\"x\":1}".into());
        logs.close();
        let path = dir.path().join(HISTORY_FILE);
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"3,").unwrap();
        let logs = Logs::open(dir.path(), "a,b\n".into(), None);
        logs.history("5,6\n".into());
        logs.close();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "a,b\n1,2\n3,\n5,6\n"
        );
        let anomalies = std::fs::read_to_string(dir.path().join(ANOMALIES_FILE)).unwrap();
        assert_eq!(anomalies, "{\"x\":1}\n");
    }

    #[test]
    fn another_schema_sets_the_old_history_aside() {
        let dir = tempfile::tempdir().unwrap();
        let logs = Logs::open(dir.path(), "a,b\n".into(), None);
        logs.history("1,2\n".into());
        logs.close();
        let logs = Logs::open(dir.path(), "c\n".into(), None);
        logs.history("9\n".into());
        logs.close();
        let path = dir.path().join(HISTORY_FILE);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "c\n9\n");
        let files = std::fs::read_dir(dir.path()).unwrap().count();
        assert_eq!(files, 2, "the old history is kept beside the new one");
    }

    #[test]
    fn a_full_file_is_rotated_keeping_one_before_it_each_with_its_header() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(HISTORY_FILE);
        // Header (4 bytes) and rows of 4 bytes: a 20-byte file holds four rows.
        let mut history = Appender::new(path.clone(), Some("a,b\n".into()), Some(20));
        for r in 0..10 {
            history.write(&format!("{r},{r}\n"));
        }
        let read = |p: &Path| std::fs::read_to_string(p).unwrap();
        let aside = rotated(&path);
        assert_eq!(aside, dir.path().join("metrics_history.1.csv"));
        assert_eq!(read(&aside), "a,b\n4,4\n5,5\n6,6\n7,7\n");
        assert_eq!(read(&path), "a,b\n8,8\n9,9\n");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
        assert_eq!(
            rotated(&dir.path().join(ANOMALIES_FILE)),
            dir.path().join("anomalies.1.jsonl")
        );
        // A restart appends to the newest file and rotates it when it is full.
        let mut history = Appender::new(path.clone(), Some("a,b\n".into()), Some(20));
        history.write("x,x\n");
        history.write("y,y\n");
        assert_eq!(read(&aside), "a,b\n8,8\n9,9\nx,x\ny,y\n");
        assert!(!path.exists(), "begun again with the next line");
    }

    #[test]
    fn a_rotation_that_cannot_be_made_leaves_the_file_growing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(ANOMALIES_FILE);
        // A folder where the rotated file would go: the rename fails.
        std::fs::create_dir(rotated(&path)).unwrap();
        let mut anomalies = Appender::jsonl(path.clone(), Some(4));
        for _ in 0..3 {
            anomalies.write("{}\n");
        }
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "{}\n{}\n{}\n");
        assert_eq!(anomalies.limit, None);
    }

    #[test]
    fn a_deleted_folder_is_made_again_with_the_header() {
        let dir = tempfile::tempdir().unwrap();
        let logs = dir.path().join("logs");
        let mut history = Appender::new(logs.join(HISTORY_FILE), Some("a,b\n".into()), None);
        history.recheck = Duration::ZERO;
        history.write("1,2\n");
        std::fs::remove_dir_all(&logs).unwrap();
        history.write("3,4\n");
        assert_eq!(
            std::fs::read_to_string(logs.join(HISTORY_FILE)).unwrap(),
            "a,b\n3,4\n"
        );
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_full_disk_is_survived_and_writing_resumes_when_there_is_room() {
        // /dev/full fails every write with "no space left on device".
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(ANOMALIES_FILE);
        std::os::unix::fs::symlink("/dev/full", &path).unwrap();
        let mut anomalies = Appender::jsonl(path.clone(), None);
        anomalies.recheck = Duration::ZERO;
        anomalies.write("{}\n");
        assert!(anomalies.warned && anomalies.file.is_none());
        std::fs::remove_file(&path).unwrap();
        anomalies.write("{\"x\":1}\n");
        assert!(!anomalies.warned);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "{\"x\":1}\n");
    }

    #[test]
    fn an_unwritable_folder_is_survived() {
        let dir = tempfile::tempdir().unwrap();
        let blocker = dir.path().join("file");
        std::fs::write(&blocker, "").unwrap();
        let logs = Logs::open(&blocker.join("logs"), "a\n".into(), None);
        logs.history("1\n".into());
        logs.anomaly("{}".into());
        logs.close();
        assert!(!blocker.join("logs").exists());
    }
}
