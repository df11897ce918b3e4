//! Saved models on disk: read and checked on load, written atomically on save, so a
//! model file is always whole and of a format this build reads.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::atomic::write_atomically;
use crate::detector::{DetectorError, Model};

/// Why a model file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum ModelFileError {
    /// The file could not be read. The system's words come before the hint, in
    /// the message, not after it as a source.
    #[error("{}: cannot read: {error}; hint: save one first with --save-model", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// What the system said.
        error: std::io::Error,
    },
    /// The file is not a model this build reads.
    #[error("{}", path.display())]
    Model {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        source: DetectorError,
    },
    /// The file could not be written.
    #[error("{}: cannot write", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
}

/// Reads a model saved by [`save_model`], checking its format version.
pub fn load_model(path: &Path) -> Result<Model, ModelFileError> {
    let text = std::fs::read_to_string(path).map_err(|error| ModelFileError::Read {
        path: path.into(),
        error,
    })?;
    Model::from_json(&text).map_err(|source| ModelFileError::Model {
        path: path.into(),
        source,
    })
}

/// Writes `model` to `path` atomically: a failure leaves any earlier file whole.
pub fn save_model(model: &Model, path: &Path) -> Result<(), ModelFileError> {
    write_atomically(path, |w| w.write_all(model.to_json().as_bytes())).map_err(|source| {
        ModelFileError::Write {
            path: path.into(),
            source,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_model_says_why_before_the_hint_and_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("model.json");
        let error = load_model(&path).unwrap_err();
        let shown = format!("{:#}", anyhow::Error::new(error));
        assert_eq!(
            shown,
            format!(
                "{}: cannot read: No such file or directory (os error 2); hint: save one first with --save-model",
                path.display()
            )
        );
    }
}
