//! Atomic file writes: write a temporary file beside the target, then rename it over
//! the target, so readers see the old file or the whole new one, never a part.
//! The temporary files being written are listed, so a command stopped by a signal
//! removes them ([`remove_unfinished`]) rather than leaving a hidden part of its
//! output beside the target.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// Bytes written between two requests to the kernel to start writing a file's
/// pages to disk (see [`Output`]).
const WRITEBACK_STEP: u64 = 8 << 20;

/// The temporary file an atomic write goes to. Every `WRITEBACK_STEP` bytes it
/// asks the kernel to start writing the pages just written out (on Linux,
/// `sync_file_range` without waiting), so the disk works while the rest is made
/// and the `fsync` before the rename waits for the last few megabytes, not for the
/// whole file: 1.19 s of an `analyze` of 10M rows (1.2 GB) went to that `fsync`.
pub struct Output {
    file: File,
    /// Bytes written so far.
    written: u64,
    /// Where the bytes not yet handed to the disk begin.
    pending: u64,
}

impl Output {
    fn new(file: File) -> Output {
        Output {
            file,
            written: 0,
            pending: 0,
        }
    }
}

impl Write for Output {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.file.write(buf)?;
        self.written += n as u64;
        if self.written - self.pending >= WRITEBACK_STEP {
            start_writeback(&self.file, self.pending, self.written - self.pending);
            self.pending = self.written;
        }
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

/// Asks the kernel to start writing `len` bytes of `file` from `offset` to disk and
/// returns at once. Only a hint: the `fsync` that follows is what makes the data
/// safe and reports any error, so a refusal here changes nothing.
#[cfg(target_os = "linux")]
fn start_writeback(file: &File, offset: u64, len: u64) {
    use std::os::fd::AsRawFd;
    let (Ok(offset), Ok(len)) = (offset.try_into(), len.try_into()) else {
        return;
    };
    // SAFETY: the descriptor is open for as long as `file` is borrowed, and
    // sync_file_range reads no memory of ours.
    unsafe {
        libc::sync_file_range(file.as_raw_fd(), offset, len, libc::SYNC_FILE_RANGE_WRITE);
    }
}

/// Elsewhere the `fsync` before the rename does all the writing out.
#[cfg(not(target_os = "linux"))]
fn start_writeback(_file: &File, _offset: u64, _len: u64) {}

/// The temporary path beside `target` (hidden, unique to this process).
fn temp_path(target: &Path) -> PathBuf {
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    // Unique per write, so two writes of one target never share a temporary file.
    static WRITES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = WRITES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    target.with_file_name(format!(".{name}.{}.{n}.tmp", std::process::id()))
}

/// The temporary files being written now, each with its target.
static UNFINISHED: std::sync::Mutex<Vec<(PathBuf, PathBuf)>> = std::sync::Mutex::new(Vec::new());

fn unfinished() -> std::sync::MutexGuard<'static, Vec<(PathBuf, PathBuf)>> {
    UNFINISHED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Removes every temporary file an atomic write is still writing, for a command
/// stopped before it could finish: its targets stay as they were. Returns the
/// targets whose writes were cut short.
pub fn remove_unfinished() -> Vec<PathBuf> {
    remove_unfinished_where(|_| true)
}

/// [`remove_unfinished`] for the targets `chosen` picks.
fn remove_unfinished_where(chosen: impl Fn(&Path) -> bool) -> Vec<PathBuf> {
    let mut cut = Vec::new();
    unfinished().retain(|(temp, target)| {
        if !chosen(target) {
            return true;
        }
        if std::fs::remove_file(temp).is_ok() {
            cut.push(target.clone());
        }
        false
    });
    cut
}

/// Where a write to a path puts its bytes.
enum Destination {
    /// A regular file, new or old: written beside it and renamed over it. A symbolic
    /// link is followed, so the link stays and the file it names is replaced.
    Replace(PathBuf),
    /// A device, pipe or socket (`/dev/null`, `/dev/stdout`, a named pipe): written
    /// as it is. Renaming a file over it would replace the device itself (as root,
    /// `/dev/null` became a regular file holding the output) or fail.
    InPlace,
}

/// Where a write to `target` goes (see [`Destination`]).
fn destination(target: &Path) -> Destination {
    match std::fs::metadata(target) {
        Ok(m) if !m.is_file() && !m.is_dir() => Destination::InPlace,
        Ok(_) if target.is_symlink() => {
            Destination::Replace(std::fs::canonicalize(target).unwrap_or_else(|_| target.into()))
        }
        _ => Destination::Replace(target.into()),
    }
}

/// Runs `write` into a temporary file and renames it to `target` when it succeeds;
/// on any error the temporary file is removed and `target` is untouched. A target
/// that is not a file (a device or a pipe) is written as it is: what reached it
/// before an error stays there, as with any stream.
pub fn write_atomically<E>(
    target: &Path,
    write: impl FnOnce(&mut BufWriter<Output>) -> Result<(), E>,
) -> Result<(), E>
where
    E: From<std::io::Error>,
{
    let target = match destination(target) {
        Destination::InPlace => return written(target, write).map(drop),
        Destination::Replace(target) => target,
    };
    let temp = temp_path(&target);
    // Listed before it exists, so no moment has it on disk unlisted.
    unfinished().push((temp.clone(), target.clone()));
    let result = (|| {
        let out = written(&temp, write)?;
        out.get_ref().file.sync_all()?;
        std::fs::rename(&temp, &target)?;
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    unfinished().retain(|(t, _)| *t != temp);
    result
}

/// Creates `path` and runs `write` into it through a 1 MB buffer, flushed.
fn written<E>(
    path: &Path,
    write: impl FnOnce(&mut BufWriter<Output>) -> Result<(), E>,
) -> Result<BufWriter<Output>, E>
where
    E: From<std::io::Error>,
{
    let mut out = BufWriter::with_capacity(1 << 20, Output::new(File::create(path)?));
    write(&mut out)?;
    out.flush()?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_of_one_target_at_once_never_mix() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("model.json");
        std::thread::scope(|s| {
            for t in 0..8u8 {
                let target = &target;
                s.spawn(move || {
                    let body = vec![b'a' + t; 1 << 20];
                    write_atomically(target, |w| w.write_all(&body)).unwrap();
                });
            }
        });
        let written = std::fs::read(&target).unwrap();
        assert_eq!(written.len(), 1 << 20);
        assert!(written.iter().all(|&b| b == written[0]), "two writes mixed");
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "a temporary left"
        );
    }

    #[test]
    fn a_large_write_is_handed_to_the_disk_as_it_goes_and_arrives_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.csv");
        let mut out = Output::new(File::create(&path).unwrap());
        let piece: Vec<u8> = (0..=255u8).cycle().take(1 << 20).collect();
        for _ in 0..20 {
            out.write_all(&piece).unwrap();
        }
        // Two steps of 8 MB handed on; the last 4 MB wait for the fsync.
        assert_eq!((out.written, out.pending), (20 << 20, 2 * WRITEBACK_STEP));
        out.file.sync_all().unwrap();
        let written = std::fs::read(&path).unwrap();
        assert_eq!(written.len(), 20 << 20);
        assert!(written.chunks(1 << 20).all(|c| c == piece));
    }

    #[cfg(unix)]
    #[test]
    fn a_link_stays_a_link_and_the_file_it_names_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real.csv");
        let link = dir.path().join("link.csv");
        std::fs::write(&real, "old").unwrap();
        std::os::unix::fs::symlink(&real, &link).unwrap();
        write_atomically::<std::io::Error>(&link, |w| w.write_all(b"new")).unwrap();
        assert!(link.is_symlink(), "the link was replaced by a file");
        assert_eq!(std::fs::read_to_string(&real).unwrap(), "new");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
    }

    #[cfg(unix)]
    #[test]
    fn a_pipe_is_written_as_it_is_not_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("out.fifo");
        let path = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: `path` is a valid NUL-terminated string for the call's duration.
        assert_eq!(unsafe { libc::mkfifo(path.as_ptr(), 0o600) }, 0);
        let reader = {
            let fifo = fifo.clone();
            std::thread::spawn(move || std::fs::read(fifo).unwrap())
        };
        write_atomically::<std::io::Error>(&fifo, |w| w.write_all(b"streamed")).unwrap();
        // Checked before waiting for the reader, which a replaced pipe would leave waiting.
        assert!(
            std::os::unix::fs::FileTypeExt::is_fifo(&std::fs::metadata(&fifo).unwrap().file_type()),
            "the pipe was replaced by a file"
        );
        assert_eq!(reader.join().unwrap(), b"streamed");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_write_cut_short_is_removed_and_its_target_named() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out.csv");
        std::fs::write(&target, "old").unwrap();
        write_atomically(&target, |w| {
            w.write_all(b"half of it")?;
            w.flush()?;
            // A signal arrives now: the command removes what it was writing
            // (here only this test's, as other tests write at the same time).
            let ours = |t: &Path| t.starts_with(dir.path());
            assert_eq!(remove_unfinished_where(ours), vec![target.clone()]);
            Ok::<(), std::io::Error>(())
        })
        .unwrap_err();
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "old");
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(left.len(), 1, "only the target: {left:?}");
        assert!(remove_unfinished_where(|t| t.starts_with(dir.path())).is_empty());
    }

    #[test]
    fn a_failed_write_leaves_the_old_file_and_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out.csv");
        std::fs::write(&target, "old").unwrap();
        let result: Result<(), std::io::Error> = write_atomically(&target, |w| {
            w.write_all(b"half")?;
            Err(std::io::Error::other("disk full"))
        });
        assert!(result.is_err());
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "old");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        write_atomically::<std::io::Error>(&target, |w| w.write_all(b"new")).unwrap();
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "new");
    }
}
