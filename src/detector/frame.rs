//! The detector's input: time-ordered rows of named numeric metrics, with optional
//! text columns (for status rules) and timestamps. Column-major, because every signal
//! is computed per metric first.

/// How many of `full` (rows, or blocks of rows) a file of `metrics` metrics is
/// given, when a file of up to `full_up_to` metrics is given all of them:
/// proportionally fewer beyond, so they hold about as many readings whatever the
/// width, but never fewer than `least`. The one rule behind every part of a batch
/// run whose memory would otherwise grow with a file's width (the training
/// sample, the calibration blocks, the scoring blocks).
pub fn scaled_to_width(full: usize, full_up_to: usize, metrics: usize, least: usize) -> usize {
    (full * full_up_to / metrics.max(1)).clamp(least, full)
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wider_file_gets_proportionally_less_down_to_the_least() {
        assert_eq!(scaled_to_width(4096, 32, 8, 256), 4096);
        assert_eq!(scaled_to_width(4096, 32, 32, 256), 4096);
        assert_eq!(scaled_to_width(4096, 32, 64, 256), 2048);
        assert_eq!(scaled_to_width(4096, 32, 100_000, 256), 256);
        assert_eq!(scaled_to_width(4096, 32, 0, 256), 4096);
    }
}
