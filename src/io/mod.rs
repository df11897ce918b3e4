//! Files in and out: reading metrics CSVs into frames, writing rows back with their
//! verdicts, and writing any output atomically so a failure never leaves half a file.

pub mod atomic;
pub mod input;
pub mod output;
pub mod structure;

/// Bad input, located as precisely as the problem allows: `file:line:column: what
/// was expected and found; hint: how to fix it`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{location}: {problem}; hint: {hint}")]
pub struct InputError {
    location: String,
    problem: String,
    hint: String,
}

impl InputError {
    /// A problem in `file`, at `line` and `column` (1-based) when known.
    pub fn at(file: &str, line: Option<u64>, column: Option<u64>, problem: &str) -> InputError {
        let location = match (line, column) {
            (Some(l), Some(c)) => format!("{file}:{l}:{c}"),
            (Some(l), None) => format!("{file}:{l}"),
            _ => file.to_string(),
        };
        InputError {
            location,
            problem: problem.into(),
            hint: String::new(),
        }
    }

    /// Adds how to fix it.
    pub fn hint(mut self, hint: &str) -> InputError {
        self.hint = hint.into();
        self
    }
}
