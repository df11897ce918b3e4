//! Saved models on disk: read and checked on load, written atomically on save, so a
//! model file is always whole and of a format this build reads.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::atomic::write_atomically;
use crate::detector::{DetectorError, Model};

/// Why a model file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum ModelFileError {
    /// The file could not be read.
    #[error("{}: cannot read; hint: save one first with --save-model", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// What the system said.
        source: std::io::Error,
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
    let text = std::fs::read_to_string(path).map_err(|source| ModelFileError::Read {
        path: path.into(),
        source,
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
