//! Atomic file writes: write a temporary file beside the target, then rename it over
//! the target, so readers see the old file or the whole new one, never a part.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

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

/// Runs `write` into a temporary file and renames it to `target` when it succeeds;
/// on any error the temporary file is removed and `target` is untouched.
pub fn write_atomically<E>(
    target: &Path,
    write: impl FnOnce(&mut BufWriter<File>) -> Result<(), E>,
) -> Result<(), E>
where
    E: From<std::io::Error>,
{
    let temp = temp_path(target);
    let result = (|| {
        let mut out = BufWriter::with_capacity(1 << 20, File::create(&temp)?);
        write(&mut out)?;
        out.flush()?;
        out.get_ref().sync_all()?;
        std::fs::rename(&temp, target)?;
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    result
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
