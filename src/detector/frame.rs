//! The detector's input: time-ordered rows of named numeric metrics, with optional
//! text columns (for status rules) and timestamps. Column-major, because every signal
//! is computed per metric first.

/// A table of samples. Missing readings are NaN.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Frame {
    /// Names of the numeric metric columns.
    pub names: Vec<String>,
    /// One vector per metric, all of the same length.
    pub columns: Vec<Vec<f64>>,
    /// Names of text columns the status rules may read.
    pub text_names: Vec<String>,
    /// One vector per text column.
    pub text_columns: Vec<Vec<String>>,
    /// Unix time in milliseconds per row, when the source had a time column.
    pub times: Option<Vec<i64>>,
}

impl Frame {
    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.columns
            .first()
            .map(Vec::len)
            .or_else(|| self.text_columns.first().map(Vec::len))
            .unwrap_or(0)
    }

    /// The rows at `indices`, in that order.
    pub fn select(&self, indices: &[usize]) -> Frame {
        Frame {
            names: self.names.clone(),
            columns: self
                .columns
                .iter()
                .map(|c| indices.iter().map(|&i| c[i]).collect())
                .collect(),
            text_names: self.text_names.clone(),
            text_columns: self
                .text_columns
                .iter()
                .map(|c| indices.iter().map(|&i| c[i].clone()).collect())
                .collect(),
            times: self
                .times
                .as_ref()
                .map(|t| indices.iter().map(|&i| t[i]).collect()),
        }
    }

    /// The first `n` rows.
    pub fn head(&self, n: usize) -> Frame {
        let n = n.min(self.rows());
        self.select(&(0..n).collect::<Vec<_>>())
    }
}
