//! Rules files on disk: the built-in rules with a user's TOML file added on top.

use std::path::{Path, PathBuf};

use crate::detector::{RuleSet, RulesError};

/// Why a rules file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum RulesFileError {
    /// The file could not be read.
    #[error("{}: cannot read", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
    /// The file is not valid rules (the error names its line and field).
    #[error(transparent)]
    Rules(#[from] RulesError),
}

/// The rule set in force: the built-in rules, with those of the file at `path` (when
/// given) added or replacing them by name.
pub fn load_rules(path: Option<&Path>) -> Result<RuleSet, RulesFileError> {
    let Some(path) = path else {
        return Ok(RuleSet::default());
    };
    let text = std::fs::read_to_string(path).map_err(|source| RulesFileError::Read {
        path: path.into(),
        source,
    })?;
    Ok(RuleSet::with_file(&path.display().to_string(), &text)?)
}
