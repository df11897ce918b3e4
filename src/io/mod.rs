//! Files in and out: reading metrics CSVs into frames, writing rows back with their
//! verdicts, saved models and rules files, and writing any output atomically so a
//! failure never leaves half a file.
//!
//! A straight stack: [`text`] reads a CSV's bytes and checks they are text,
//! [`structure`] scans a file's records, [`input`] reads it into a table on top of
//! that scan ([`numbers`] parses the usual file of numbers), [`windows`] cuts a
//! file too large to hold into tables of whole records, [`output`] writes the table back with its verdicts;
//! [`atomic`], [`events`], [`model_file`], [`rules_file`], [`settings_file`] and [`spool`] stand beside them,
//! [`prometheus`] turns history a Prometheus holds into such a CSV, and [`sysstat`]
//! knows the CSV sysstat's `sadf -d` writes.

pub mod atomic;
pub mod events;
pub mod input;
pub mod model_file;
pub mod numbers;
pub mod output;
pub mod prometheus;
pub mod rules_file;
pub mod settings_file;
pub mod spool;
pub mod structure;
pub mod sysstat;
pub mod text;
pub mod windows;

/// Bad input, located as precisely as the problem allows: `file:line:column: what
/// was expected and found; hint: how to fix it`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {problem}; hint: {hint}", self.location())]
pub struct InputError {
    file: String,
    line: Option<u64>,
    column: Option<u64>,
    problem: String,
    hint: String,
}

impl InputError {
    /// A problem in `file`, at `line` and `column` (1-based) when known.
    pub fn at(file: &str, line: Option<u64>, column: Option<u64>, problem: &str) -> InputError {
        InputError {
            file: file.into(),
            line,
            column: line.and(column),
            problem: problem.into(),
            hint: String::new(),
        }
    }

    /// Adds how to fix it.
    pub fn hint(mut self, hint: &str) -> InputError {
        self.hint = hint.into();
        self
    }

    /// The same problem found in a window of a file whose data begins `by` lines
    /// further down the file than in the window: lines from `from` on move down.
    pub fn shifted(mut self, from: u64, by: u64) -> InputError {
        if let Some(line) = self.line.as_mut().filter(|l| **l >= from) {
            *line += by;
        }
        self
    }

    fn location(&self) -> String {
        match (self.line, self.column) {
            (Some(l), Some(c)) => format!("{}:{l}:{c}", self.file),
            (Some(l), None) => format!("{}:{l}", self.file),
            _ => self.file.clone(),
        }
    }
}
