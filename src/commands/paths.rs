//! Checks on the files a command will write, made before any work, so a long run
//! never fails at its end because of a typo in an output path.

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
