//! Fusion: the forest score, the z-score evidence, rule hits, frozen sensors and
//! missing readings become one verdict per row. The table of which signal gives which
//! severity is in technical.md; this is its only implementation.

use serde::{Deserialize, Serialize};

use super::features;
use super::hold::{Hold, Levels, Place, Step};
use super::level::Reference;
use super::reasons;
use super::rules::RuleHit;
use super::scaling::Scale;
use super::transform::Transform;
use super::verdict::{Severity, Verdict};
use super::zscore::ZEvidence;
use crate::schema;

/// The anomaly score that opens an incident: the score of the opening bar
/// ([`Thresholds::fused`]), and where medium severity starts.
pub const OPENING_SCORE: f64 = 0.5;

/// The weight a live session's bars in use keep when a retraining brings new ones
/// (see [`Thresholds::steadied_by`]): each new bar counts for half, so the bars
/// follow the host over a few retrainings (5 minutes apart by default) instead of
/// jumping with each hour's few highest rows. 0.75 and 0.9 were measured too
/// (technical.md, "Bars across retrainings").
pub const BAR_MEMORY: f64 = 0.5;

/// A sigma (see [`Scale::sigma`]) at or above this names its metric in the reasons.
pub const REASON_Z: f64 = 3.0;

/// What the fused score is made of; the single-signal modes exist to measure what
/// fusion adds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Forest, z-scores, rules and frozen-sensor checks together.
    #[default]
    Fused,
    /// The isolation forest alone, no rules.
    ForestOnly,
    /// The z-scores alone, no rules.
    ZScoresOnly,
}

/// Per-signal thresholds learned from the training rows.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Thresholds {
    /// (1 - contamination) quantile of the forest scores.
    pub forest: f64,
    /// (1 - contamination) quantile of the z-score signal.
    pub z: f64,
    /// The combined ratio that opens an incident; maps to score 0.5. Calibrated so
    /// that incidents, held, flag at most the contamination share of the training
    /// rows (see [`super::train`]).
    pub fused: f64,
    /// The combined ratio an open incident is held at (see [`super::hold`]).
    pub hold: f64,
    /// Whether held incidents fade (see [`super::hold::FADE_SHARE`]): the training
    /// rows were sampled more often than once a minute. Models saved before this
    /// field hold incidents to the end.
    #[serde(default)]
    pub fading: bool,
}

impl Thresholds {
    /// How far past its threshold the row is, per the mode: above 1 means beyond.
    pub fn ratio(&self, mode: Mode, forest: f64, z: f64) -> f64 {
        let rf = forest / self.forest.max(f64::MIN_POSITIVE);
        let rz = z / self.z.max(1e-9);
        match mode {
            Mode::Fused => rf.max(rz),
            Mode::ForestOnly => rf,
            Mode::ZScoresOnly => rz,
        }
    }

    /// These bars, steadied by `previous`, the bars they replace: the opening bar
    /// and the hold level each become the weighted geometric mean of the two,
    /// [`BAR_MEMORY`] on `previous`. A retraining's bar rests on the top few rows
    /// of its window, so one hour with a backup in it lifts the bar and the next
    /// without one drops it; measured on live replays (technical.md, "Bars across
    /// retrainings"). Both bars move the same way, so the hold level stays below
    /// the opening bar; the per-signal thresholds are the new model's own.
    pub fn steadied_by(self, previous: &Thresholds) -> Thresholds {
        let blend = |new: f64, old: f64| new.powf(1.0 - BAR_MEMORY) * old.powf(BAR_MEMORY);
        Thresholds {
            fused: blend(self.fused, previous.fused),
            hold: blend(self.hold, previous.hold),
            ..self
        }
    }

    /// Whether a row scoring `score` rises above the hold level, below
    /// [`OPENING_SCORE`]: a row that does not closes any open incident.
    pub fn holds(&self, score: f64) -> bool {
        // Strictly above: where most training rows tie (a metric that never
        // moves), the hold level is their common ratio, and a row back at it is
        // typical; at or above, every such row held the incident for its full
        // [`super::hold::HOLD_ROWS`].
        score > self.score(self.hold)
    }

    /// Where a row scoring `score` with fading levels `levels` stands among
    /// incidents, given the incident state `hold` of the rows before it, which it
    /// advances.
    pub fn step(&self, hold: &mut Hold, score: f64, levels: &Levels) -> Place {
        hold.step(Step {
            opens: score >= OPENING_SCORE,
            holds: self.holds(score),
            fading: self.fading.then_some(levels),
        })
    }

    /// The anomaly score in (0, 1): exactly 0.5 at the opening bar.
    pub fn score(&self, ratio: f64) -> f64 {
        let t = self.fused.max(f64::MIN_POSITIVE);
        if ratio.is_finite() {
            ratio / (ratio + t)
        } else {
            1.0
        }
    }
}

/// Statistical severity from the score: the further past the threshold, the worse.
pub fn severity_of_score(score: f64) -> Severity {
    if score >= 0.75 {
        Severity::Critical
    } else if score >= 0.6 {
        Severity::High
    } else if score >= OPENING_SCORE {
        Severity::Medium
    } else {
        Severity::Normal
    }
}

/// A row's verdict, and what it needs if [`place_in_incident`] places it later.
#[derive(Debug, Clone, PartialEq)]
pub struct Judged {
    /// The verdict: final when the row was placed as it was judged, else from the
    /// row alone.
    pub verdict: Verdict,
    /// What placing it needs, when it was judged unplaced.
    pub pending: Pending,
}

/// What placing a row among incidents needs beyond its verdict from the row alone.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Pending {
    /// The reasons the row adds if it turns out to be held: filled only for a row
    /// that would otherwise be normal and reaches the hold level.
    pub if_held: Vec<String>,
    /// What the row brings to an open incident's fading: filled only for a row
    /// judged unplaced that reaches the hold level, where incidents fade.
    pub levels: Levels,
    /// The severity the rules and frozen sensors give the row, apart from its
    /// score: what it keeps if it is quelled.
    pub ruled: Severity,
}

/// Completes a row's `verdict` with its `place` among incidents and what placing
/// it needs (`pending`). A held row is at least a medium anomaly, and its first
/// reason names the incident it continues, followed by the reasons it adds if held.
/// A quelled row keeps only the severity the rules and frozen sensors give it: its
/// score is the faded incident's tail, which the incident already told.
pub fn place_in_incident(verdict: &mut Verdict, place: Place, pending: Pending) {
    match place {
        Place::Held { began } => {
            let held = reasons::held(began);
            if verdict.severity == Severity::Normal {
                verdict
                    .reasons
                    .splice(0..0, std::iter::once(held).chain(pending.if_held));
            } else {
                verdict.reasons.push(held);
            }
            verdict.severity = verdict.severity.max(Severity::Medium);
            verdict.is_anomaly = true;
        }
        Place::Quelled if verdict.severity > pending.ruled => {
            verdict.severity = pending.ruled;
            verdict.is_anomaly = pending.ruled > Severity::Normal;
            let at = if verdict.is_anomaly {
                verdict.reasons.len()
            } else {
                0
            };
            verdict.reasons.insert(at, reasons::quelled().to_string());
        }
        _ => {}
    }
}

/// What a pass over rows, batch or live, knows of one row on its way to a verdict.
pub struct RowInput<'a> {
    /// Raw readings, in the model's metric order (NaN for missing).
    pub raw: &'a [f64],
    /// The row's features, [`features::PER_METRIC`] per metric.
    pub features: &'a [f64],
    /// Each metric's expected value at the row's time, in model space.
    pub expected: &'a [f64],
    /// What each metric's deviations are measured against (see [`super::level`]).
    pub references: &'a [Reference],
    /// Per metric, how many samples it has read the same value.
    pub runs: &'a [u64],
    /// The forest score, 0 when there is no forest.
    pub forest: f64,
    /// Rule hits, most severe first.
    pub hits: Vec<RuleHit>,
}

/// Everything known about one row when it is judged: the row, and what the model
/// judges it against.
pub struct RowEvidence<'a> {
    /// The row.
    pub row: RowInput<'a>,
    /// Metric names, as in the model.
    pub names: &'a [String],
    /// Baseline scale per feature.
    pub scales: &'a [Scale],
    /// Each metric's transform into model space.
    pub transforms: &'a [Transform],
    /// The z evidence.
    pub z: ZEvidence,
    /// Per metric, the flat run that makes it frozen (three times its
    /// 99.9th-percentile flat run in training).
    pub frozen_limit: &'a [u64],
    /// Per metric, its lowest training reading (empty: not known).
    pub lowest: &'a [f64],
    /// The fill value used for each metric that was missing.
    pub fill: &'a [f64],
}

impl RowEvidence<'_> {
    /// `Some(run)` when metric `m` has read the same value for at least its frozen
    /// limit; never for a metric constant in training, nor for one at rest: flat at
    /// or below its lowest training reading when a low reading is no harm (a disk
    /// writing nothing, a CPU at its floor overnight). A sensor that freezes repeats
    /// its last reading wherever that was; one that sits at the bottom of its range
    /// is what idle looks like.
    fn frozen(&self, m: usize) -> Option<u64> {
        let run = self.row.runs[m];
        let at_rest = || {
            self.lowest
                .get(m)
                .is_some_and(|&low| self.row.raw[m] <= low)
                && !schema::describe(&self.names[m]).harm.towards(false)
        };
        (!self.scales[m * features::PER_METRIC].constant
            && run >= self.frozen_limit[m]
            && !at_rest())
        .then_some(run)
    }

    /// Each feature at least [`REASON_Z`] sigmas off, with its signed sigma, in
    /// feature order: the metrics a row's statistics are about.
    fn strong(&self) -> impl Iterator<Item = (usize, f64)> + '_ {
        self.row
            .features
            .iter()
            .zip(self.scales)
            .map(|(&f, s)| s.sigma(f))
            .enumerate()
            .filter(|(_, z)| z.abs() >= REASON_Z)
    }
}

/// Fuses one row's evidence into its verdict, and places it among incidents when the
/// incident state of the rows before it is known (`hold`, which it advances).
pub fn fuse(
    ev: &RowEvidence,
    thresholds: &Thresholds,
    mode: Mode,
    hold: Option<&mut Hold>,
) -> Judged {
    let ratio = thresholds.ratio(mode, ev.row.forest, ev.z.signal());
    let anomaly_score = thresholds.score(ratio);
    let mut severity = severity_of_score(anomaly_score);
    if severity > Severity::Medium && !towards_harm(ev) {
        severity = Severity::Medium;
    }
    let mut said = Vec::new();
    let top_z_metric = ev.z.top_feature.map(|f| f / features::PER_METRIC);
    let mut top_metric = top_z_metric;
    let mut ruled = Severity::Normal;
    if mode == Mode::Fused {
        if let Some(hit) = ev.row.hits.first() {
            ruled = hit.severity;
            if hit.column < ev.names.len() {
                top_metric = Some(hit.column);
            }
        }
        said.extend(ev.row.hits.iter().map(|h| h.reason.clone()));
        for m in 0..ev.row.runs.len() {
            if let Some(run) = ev.frozen(m) {
                ruled = ruled.max(Severity::Medium);
                let unit = schema::describe(&ev.names[m]).unit;
                said.push(reasons::frozen(&ev.names[m], ev.row.raw[m], unit, run));
                if top_metric == top_z_metric && ev.z.z_max < REASON_Z {
                    top_metric = Some(m);
                }
            }
        }
    }
    severity = severity.max(ruled);
    // Levels are only read in an open incident or one the row opens; a row placed
    // later may find either. About half the rows reach the hold level, so the rest
    // are spared the work.
    let may_fade = match &hold {
        Some(h) => h.is_open() || anomaly_score >= OPENING_SCORE,
        None => true,
    };
    let levels = if thresholds.fading && thresholds.holds(anomaly_score) && may_fade {
        fading_levels(ev)
    } else {
        Levels::default()
    };
    let place = hold.map(|h| thresholds.step(h, anomaly_score, &levels));
    let mut if_held = Vec::new();
    if severity > Severity::Normal {
        statistical_reasons(ev, anomaly_score, &mut said);
    } else if matches!(place, None | Some(Place::Held { .. })) && thresholds.holds(anomaly_score) {
        statistical_reasons(ev, anomaly_score, &mut if_held);
    }
    for (m, v) in ev.row.raw.iter().enumerate() {
        if v.is_nan() {
            let unit = schema::describe(&ev.names[m]).unit;
            said.push(reasons::missing(&ev.names[m], ev.fill[m], unit));
        }
    }
    let mut verdict = Verdict {
        anomaly_score,
        is_anomaly: severity > Severity::Normal,
        severity,
        z_max: ev.z.z_max,
        top_metric,
        reasons: said,
        after_pause: false,
    };
    let pending = Pending {
        if_held,
        levels,
        ruled,
    };
    match place {
        Some(place) => {
            place_in_incident(&mut verdict, place, pending);
            Judged {
                verdict,
                pending: Pending::default(),
            }
        }
        None => Judged { verdict, pending },
    }
}

/// Largest model-space deviation counted in proportion to the raw excess: e^50 is
/// beyond any reading, and keeps the level finite.
const MAX_LOG_EXCESS: f64 = 50.0;

/// What the row brings to an open incident's fading (see [`super::hold`]): each
/// metric's largest sigma over its features, and the metric of the row's largest
/// sigma. For a metric modelled as log(1 + x) (bursty I/O and traffic), a sigma is
/// counted in proportion to the raw reading's excess: a feature `d` in model space
/// is a raw excess of e^d - 1 times the expected level, so its sigma is weighed by
/// (e^d - 1) / d. An ordinary burst decays by a constant share of its raw excess
/// each second, which in log space is a slow linear fall: measured as it reads, it
/// was held for some 20 rows after its peak; a plateau (a level shift, a flood)
/// stays level either way. Only the metric an incident follows is compared with
/// its own peak, so the scales of two metrics never meet. The trend is left out:
/// it measures a move over the last [`features::TREND_LAG`] samples, not where the
/// metric stands, so a plateau's trend dies away while the plateau stays, and a
/// ramp's keeps an incident over an expected heavy period (a nightly backup's
/// first minutes) from fading (technical.md, "A slow rise over a minute").
pub fn fading_levels(ev: &RowEvidence) -> Levels {
    let mut per_metric = vec![0.0f64; ev.row.runs.len()];
    for (i, (&f, scale)) in ev.row.features.iter().zip(ev.scales).enumerate() {
        let m = i / features::PER_METRIC;
        if i % features::PER_METRIC == features::TREND {
            continue;
        }
        let sigma = scale.sigma(f).abs();
        let level = if ev.transforms[m] == Transform::Log1p && f != 0.0 {
            let d = f.min(MAX_LOG_EXCESS);
            sigma * (d.exp_m1() / d)
        } else {
            sigma
        };
        per_metric[m] = per_metric[m].max(level);
    }
    Levels {
        per_metric,
        top: ev.z.top_feature.map_or(0, |f| f / features::PER_METRIC),
    }
}

/// Whether the row's statistical evidence may mean harm: false only when every
/// metric at least [`REASON_Z`] sigmas off moves the way that is no harm (see
/// [`schema::Harm`]), such as disk writes or processes falling towards idle; a row
/// that only the forest or the joint deviation flags may.
fn towards_harm(ev: &RowEvidence) -> bool {
    let mut off = ev.strong().peekable();
    off.peek().is_none()
        || off.any(|(i, z)| {
            schema::describe(&ev.names[i / features::PER_METRIC])
                .harm
                .towards(z > 0.0)
        })
}

/// Reasons from the statistics: the metrics furthest from their baseline, or, when
/// none stands out alone, the joint deviation or the forest's verdict.
fn statistical_reasons(ev: &RowEvidence, score: f64, said: &mut Vec<String>) {
    let mut strong: Vec<(usize, f64)> = ev.strong().collect();
    strong.sort_by(|a, b| b.1.abs().total_cmp(&a.1.abs()));
    let mut named = Vec::new();
    for (i, z) in strong {
        let m = i / features::PER_METRIC;
        if named.contains(&m) || named.len() == 3 {
            continue;
        }
        named.push(m);
        let name = &ev.names[m];
        let unit = schema::describe(name).unit;
        let direction = if z > 0.0 { "above" } else { "below" };
        let value = ev.row.raw[m];
        let t = ev.transforms[m];
        let base = i - i % features::PER_METRIC;
        // A feature as the raw reading it stands for, the adapted level undone.
        let reading = |f: f64| {
            t.invert(ev.row.expected[m] + ev.row.references[m].raw(f, ev.scales[base].median))
        };
        let baseline = reasons::fmt_value(reading(ev.scales[i].median), unit);
        let sigma = z.abs();
        // For a feature that measures a move: how far the reading moved, from the
        // reading it stood at before.
        let moved_by = || value - reading(ev.row.features[base] - ev.row.features[i]);
        let sentence = match i % features::PER_METRIC {
            0 => reasons::off_baseline(name, value, unit, sigma, direction, &baseline),
            1 => reasons::moved(name, value, moved_by(), unit, sigma),
            features::TREND => {
                reasons::trended(name, value, moved_by(), unit, features::TREND_LAG, sigma)
            }
            _ => reasons::averaged(
                name,
                reading(ev.row.features[i]),
                unit,
                features::MEAN_WINDOW,
                sigma,
                direction,
                &baseline,
            ),
        };
        said.push(sentence);
    }
    if named.is_empty() {
        if ev.z.joint_z() >= REASON_Z && ev.z.joint_z() >= ev.z.z_max {
            said.push(reasons::joint(
                ev.z.freedom,
                ev.z.chi_square,
                ev.z.joint_p_value(),
            ));
        } else if score >= OPENING_SCORE {
            said.push(reasons::unusual_combination(ev.row.forest));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detector::test_data::unit;

    #[test]
    fn a_log_modelled_metric_fades_by_its_raw_excess_and_a_plain_one_by_its_sigma() {
        // Two metrics, each with the same features: a deviation of 2 (a raw excess
        // of e^2 - 1 = 6.4 times the expected level when modelled as log(1 + x)),
        // then 1 and 0, and a trend of 5, which measures a move, not where the
        // metric stands, and is left out.
        let names = vec!["disk_read_mb".to_string(), "cpu_percent".to_string()];
        let one_metric = [2.0, 1.0, 0.0, 5.0];
        let features: Vec<f64> = one_metric.iter().chain(&one_metric).copied().collect();
        let scales = vec![unit(); features.len()];
        let transforms = [Transform::Log1p, Transform::Identity];
        let evidence = RowEvidence {
            row: RowInput {
                raw: &[0.0, 0.0],
                features: &features,
                expected: &[0.0, 0.0],
                references: &[Reference::default(); 2],
                runs: &[1, 1],
                forest: 0.0,
                hits: Vec::new(),
            },
            names: &names,
            scales: &scales,
            transforms: &transforms,
            z: ZEvidence::of(&features, &scales),
            frozen_limit: &[u64::MAX; 2],
            lowest: &[],
            fill: &[0.0, 0.0],
        };
        let levels = fading_levels(&evidence);
        assert_eq!(levels.top, 0);
        let log_level = 2.0 * 2f64.exp_m1() / 2.0;
        assert!(
            (levels.per_metric[0] - log_level).abs() < 1e-12,
            "{levels:?}"
        );
        assert_eq!(levels.per_metric[1], 2.0);
    }

    #[test]
    fn a_quelled_row_keeps_only_what_the_rules_and_frozen_sensors_say() {
        let by_score = || Verdict {
            anomaly_score: 0.62,
            is_anomaly: true,
            severity: Severity::High,
            z_max: 6.0,
            top_metric: Some(0),
            reasons: vec!["disk_write_mb 40.0 MB/s is 6.0 sigma above".into()],
            after_pause: false,
        };
        let mut tail = by_score();
        place_in_incident(&mut tail, Place::Quelled, Pending::default());
        assert_eq!(tail.severity, Severity::Normal);
        assert!(!tail.is_anomaly);
        assert_eq!(tail.reasons[0], reasons::quelled(), "{:?}", tail.reasons);
        assert_eq!(tail.reasons.len(), 2, "the metric's reason stays");
        let mut ruled = by_score();
        let frozen = Pending {
            ruled: Severity::Medium,
            ..Pending::default()
        };
        place_in_incident(&mut ruled, Place::Quelled, frozen);
        assert_eq!(ruled.severity, Severity::Medium);
        assert!(ruled.is_anomaly);
        assert_eq!(ruled.reasons.last().unwrap(), reasons::quelled());
        // A row placed anywhere else keeps its verdict.
        let mut outside = by_score();
        place_in_incident(&mut outside, Place::Opening, Pending::default());
        assert_eq!(outside, by_score());
    }
}
