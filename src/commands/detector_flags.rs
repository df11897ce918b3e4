//! The detector flags `analyze` and `watch` share, declared once and turned into
//! detector parameters, rules and a saved model in one place.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;

use metrics::detector::{
    DEFAULT_ADAPT_AFTER, DEFAULT_SAMPLE_SIZE, DEFAULT_TREES, DetectorParams, ForestParams,
    MAX_TREES, MIN_SAMPLE_SIZE, MIN_TREES, Model, RuleSet, contamination_fits,
};
use metrics::io::model_file::load_model;
use metrics::io::rules_file::load_rules;
use metrics::zone::Zone;

/// How the detector is set up: its settings, a saved model, the rules.
#[derive(Debug, Args)]
pub struct DetectorFlags {
    /// Largest share of anomalies expected in the training rows, in (0, 0.5]: the
    /// bar that opens an anomaly is set so that anomalies, held while they last,
    /// flag at most that share of them, and fewer when a few outliers stand far
    /// beyond the rest.
    #[arg(long, default_value_t = 0.05, value_parser = contamination)]
    pub contamination: f64,
    /// Seed of the forest: the same input and seed give the same verdicts.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Number of trees in the forest (at most 10000).
    #[arg(long, default_value_t = DEFAULT_TREES, value_parser = between::<MIN_TREES, MAX_TREES>)]
    pub trees: usize,
    /// Rows drawn to grow each tree (all the rows the forest is grown from, when
    /// there are fewer).
    #[arg(long, default_value_t = DEFAULT_SAMPLE_SIZE, value_parser = between::<MIN_SAMPLE_SIZE, { usize::MAX }>)]
    pub sample_size: usize,
    /// Samples a metric's shift from its baseline must persist before it is taken
    /// as the metric's new level and no longer flagged (it is dropped at once when
    /// the metric comes back); 0 never adapts. Rules are never adapted.
    #[arg(long, default_value_t = DEFAULT_ADAPT_AFTER, value_name = "SAMPLES")]
    pub adapt_after: u64,
    /// Judge with a model saved by --save-model (by analyze or watch) from the first
    /// row, instead of fitting one first.
    #[arg(long, value_name = "FILE")]
    pub model: Option<PathBuf>,
    /// Save every model fitted (JSON), for later --model runs.
    #[arg(long, value_name = "FILE", value_parser = model_file)]
    pub save_model: Option<PathBuf>,
    /// TOML file of rules that add to or override the built-in ones.
    #[arg(long, value_name = "FILE")]
    pub rules: Option<PathBuf>,
    /// IANA time zone (Europe/Berlin) whose clocks the host keeps: the time-of-day
    /// profile, learned when the baseline spans two days or more, then follows
    /// them, so a working day and cron jobs kept in local time stay expected when
    /// daylight saving time begins or ends. Timestamps are read as before [default: UTC].
    #[arg(long, value_name = "ZONE")]
    pub timezone: Option<Zone>,
}

/// `--contamination`: a share the detector takes ([`contamination_fits`]), refused
/// by the flag's name when outside; the library's check stays behind it.
fn contamination(text: &str) -> Result<f64, String> {
    let share: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("'{text}' is not a number; hint: a share such as 0.05"))?;
    if contamination_fits(share) {
        Ok(share)
    } else {
        Err(format!(
            "must be in (0, 0.5], got {share}; hint: 0.05 expects at most one training row in twenty to be anomalous"
        ))
    }
}

/// `--save-model`: a file (a model is read back from one; `-` would have made a
/// file of that name).
fn model_file(text: &str) -> Result<PathBuf, String> {
    if text == "-" {
        return Err(
            "a model is saved to a file, not to standard output; hint: give a file name, e.g. model.json"
                .into(),
        );
    }
    Ok(PathBuf::from(text))
}

/// A count from `MIN` to `MAX` (the forest's bounds), refused by the flag's
/// name when outside them.
pub(super) fn between<const MIN: usize, const MAX: usize>(text: &str) -> Result<usize, String> {
    let n: usize = text
        .trim()
        .parse()
        .map_err(|_| format!("'{text}' is not a whole number"))?;
    if n < MIN {
        Err(format!("must be at least {MIN}, got {n}"))
    } else if n > MAX {
        Err(format!("must be at most {MAX}, got {n}"))
    } else {
        Ok(n)
    }
}

impl DetectorFlags {
    /// The detector parameters the flags give, checked before any work.
    pub fn params(&self) -> Result<DetectorParams> {
        let params = DetectorParams {
            contamination: self.contamination,
            forest: ForestParams {
                n_trees: self.trees,
                sample_size: self.sample_size,
                seed: self.seed,
                ..ForestParams::default()
            },
            adapt_after: self.adapt_after,
            zone: self.timezone.clone(),
            ..DetectorParams::default()
        };
        params.check()?;
        Ok(params)
    }

    /// The rules in force: the built-in ones with `--rules` on top.
    pub fn rules(&self) -> Result<RuleSet> {
        load_rules(self.rules.as_deref()).context("--rules")
    }

    /// The model `--model` names, if any.
    pub fn saved_model(&self) -> Result<Option<Model>> {
        self.model
            .as_deref()
            .map(|path| load_model(path).context("--model"))
            .transpose()
    }
}
