//! What the detector says of one row: its [`Verdict`] and the [`Severity`] scale,
//! shared by every part of the detector and everything downstream of it.

use serde::{Deserialize, Serialize};

/// How bad an anomaly is. Ordered: `Normal < Medium < High < Critical`.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Nothing to report.
    #[default]
    Normal,
    /// Unusual; worth a look.
    Medium,
    /// Clearly abnormal.
    High,
    /// Needs attention now.
    Critical,
}

impl Severity {
    /// The lowercase word used in files and on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Normal => "normal",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    /// The severity a word of [`Severity::as_str`] names, if any.
    pub fn from_word(word: &str) -> Option<Severity> {
        Severity::ALL.into_iter().find(|s| s.as_str() == word)
    }

    /// All severities, mildest first.
    pub const ALL: [Severity; 4] = [
        Severity::Normal,
        Severity::Medium,
        Severity::High,
        Severity::Critical,
    ];
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The detector's judgement of one row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    /// 0..1, higher is more anomalous; 0.5 is the bar that opens an incident.
    pub anomaly_score: f64,
    /// Whether the row is reported as an anomaly.
    pub is_anomaly: bool,
    /// How bad it is.
    pub severity: Severity,
    /// Largest |sigma| of any feature: robust z weighted by the feature's own tail,
    /// so 3 means as unusual as 3 sigma of a normal distribution.
    pub z_max: f64,
    /// The metric that drove the verdict (index into the model's metrics).
    pub top_metric: Option<usize>,
    /// Sentences naming metrics and values, most severe first.
    pub reasons: Vec<String>,
    /// Whether the row comes after a pause in the rows long enough to start every
    /// metric's recent past afresh (a host asleep or down): the incident open
    /// before it ends there, however the rows on either side are judged.
    #[serde(skip)]
    pub after_pause: bool,
}

impl Verdict {
    /// The name of the metric that drove the verdict, given the model's metrics.
    pub fn top_metric_name<'a>(&self, metrics: &'a [String]) -> Option<&'a str> {
        self.top_metric
            .and_then(|m| metrics.get(m))
            .map(String::as_str)
    }
}
