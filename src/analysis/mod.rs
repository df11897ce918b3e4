//! One batch analysis, shared by `metrics analyze`, the web upload and the quality
//! bench: choose the training rows, fit (or take a saved model) and judge every
//! row (`report::Tally` groups the anomalous rows into incidents; [`row_warnings`]
//! tells what the rows say of the input: when their times go backwards
//! ([`time_order`]) and of cells read as missing for being infinite
//! ([`infinite`])). [`analyze`] does
//! it on a table
//! held whole; [`windowed`] on a file read window by window, with the same
//! verdicts.

pub mod counters;
pub mod fit_sample;
pub mod infinite;
pub mod row_warnings;
pub mod time_order;
pub mod windowed;

use std::time::{Duration, Instant};

use crate::detector::{DetectorError, DetectorParams, Model, RuleSet, Verdict};
use crate::io::InputError;
use crate::io::input::Table;
use fit_sample::{FitSample, max_fit_rows};

/// Which rows the baseline is learned from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FitRows {
    /// Every row (what the Python tool did).
    All,
    /// The first N rows.
    First(usize),
    /// Rows whose column has a value, e.g. `split=train`.
    Where {
        /// The column.
        column: String,
        /// The value.
        value: String,
    },
}

/// Why an analysis failed.
#[derive(Debug, thiserror::Error)]
pub enum AnalysisError {
    /// The input was wrong.
    #[error(transparent)]
    Input(#[from] InputError),
    /// The detector refused.
    #[error("{source_name}: {error}")]
    Detector {
        /// The input's name.
        source_name: String,
        /// What the detector said.
        error: DetectorError,
    },
    /// Writing the verdicts failed. The cause is in the message, not also a
    /// source, so a chain of errors names it once.
    #[error("cannot write the verdicts: {0}")]
    Write(csv::Error),
}

/// A finished analysis.
#[derive(Debug)]
pub struct Analysis {
    /// The model used (fitted here or loaded).
    pub model: Model,
    /// One verdict per row, in input order.
    pub verdicts: Vec<Verdict>,
    /// Rows the model was fitted on here (0 with a loaded model).
    pub fit_rows: usize,
    /// Time spent fitting.
    pub fit_time: Duration,
    /// Time spent judging.
    pub score_time: Duration,
}

/// Fits on the chosen rows of `table` (unless `model` is given) and judges every row.
pub fn analyze(
    table: &Table,
    params: &DetectorParams,
    fit: &FitRows,
    model: Option<Model>,
    rules: &RuleSet,
    progress: &(dyn Fn(usize) + Sync),
) -> Result<Analysis, AnalysisError> {
    let detector_error = |error| AnalysisError::Detector {
        source_name: table.source.clone(),
        error,
    };
    let started = Instant::now();
    let (model, fit_rows) = match model {
        Some(m) => (m, 0),
        None => fit_whole(table, table.frame.names.len(), params, fit)?,
    };
    let fit_time = started.elapsed();
    let started = Instant::now();
    let verdicts = model
        .score_frame(&table.frame, rules, progress)
        .map_err(detector_error)?;
    Ok(Analysis {
        model,
        verdicts,
        fit_rows,
        fit_time,
        score_time: started.elapsed(),
    })
}

/// The rows of `table` that `fit` trains on, when `before` training rows came
/// before it (in earlier windows of the file).
pub(crate) fn training_rows(
    table: &Table,
    fit: &FitRows,
    before: usize,
) -> Result<Vec<usize>, AnalysisError> {
    let rows = table.frame.rows();
    Ok(match fit {
        FitRows::All => (0..rows).collect(),
        FitRows::First(n) => (0..rows.min(n.saturating_sub(before))).collect(),
        FitRows::Where { column, value } => table.rows_where(column, value)?,
    })
}

/// Fits on the training rows of `table`, a whole file held at once, of which a
/// [`FitSample`] of a file of `metrics` metric columns (before any left out for
/// having no reading) keeps [`max_fit_rows`]. When the sample of them would be
/// every row, the fit reads the table itself rather than a copy of it (72 MB at a
/// million rows of eight metrics).
pub(crate) fn fit_whole(
    table: &Table,
    metrics: usize,
    params: &DetectorParams,
    fit: &FitRows,
) -> Result<(Model, usize), AnalysisError> {
    let train = training_rows(table, fit, 0)?;
    if train.len() == table.frame.rows() && train.len() <= max_fit_rows(metrics) {
        return fit_on(&table.frame, params, fit, &table.source);
    }
    let mut sample = FitSample::of_metrics(metrics);
    sample.push(&table.frame, train);
    fit_on(&sample.finish(), params, fit, &table.source)
}

/// Fits on the training rows `train` of the input named `source`; returns the
/// model and the rows it was fitted on.
pub(crate) fn fit_on(
    train: &crate::detector::Frame,
    params: &DetectorParams,
    fit: &FitRows,
    source: &str,
) -> Result<(Model, usize), AnalysisError> {
    let detector_error = |error| AnalysisError::Detector {
        source_name: source.to_string(),
        error,
    };
    if let FitRows::Where { column, value } = fit
        && train.rows() == 0
    {
        return Err(InputError::at(
            source,
            None,
            None,
            &format!("no row has {column}={value}, so there is nothing to fit on"),
        )
        .hint("check the value's spelling and case")
        .into());
    }
    let detector = params.check().map_err(detector_error)?;
    let rows = train.rows();
    Ok((detector.fit(train).map_err(detector_error)?, rows))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_write_names_its_cause_once_in_a_chain_of_errors() {
        let io = std::io::Error::other("No space left on device");
        let error = anyhow::Error::new(AnalysisError::Write(csv::Error::from(io)))
            .context("--output-file /dev/full: cannot write");
        let shown = format!("{error:#}");
        assert_eq!(
            shown.matches("No space left on device").count(),
            1,
            "{shown}"
        );
        assert!(
            shown.starts_with("--output-file /dev/full: cannot write: cannot write the verdicts: ")
        );
    }
}
