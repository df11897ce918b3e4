//! The words of a verdict: every sentence a reason can be, and how a value is
//! written in one. Fusion and the rules decide which reasons a row gets; this file
//! alone decides how they read, so the wording cannot drift between them.

use super::verdict::Severity;

/// How a row's reasons are joined into one cell or line.
pub const SEPARATOR: &str = " | ";

/// A value with its unit, as reasons print it: `97.2 %`, `41.3 MB/s`, `0.042`, and
/// from `SCIENTIFIC_FROM` on `1.000e308 MB/s`.
pub fn fmt_value(v: f64, unit: &str) -> String {
    let number = fmt_number(v, if v.abs() >= 1.0 || v == 0.0 { 1 } else { 3 });
    if unit.is_empty() {
        number
    } else {
        format!("{number} {unit}")
    }
}

/// A number of sigmas, as reasons print it: `12.3`, or `1.645e300` for a corrupt
/// reading's.
fn fmt_sigma(sigma: f64) -> String {
    fmt_number(sigma, 1)
}

/// `v` with `decimals` digits after the point, or from `SCIENTIFIC_FROM` on in
/// scientific notation: past that an `f64`'s digits are noise, and a corrupt
/// reading would otherwise fill a line with 300 of them.
fn fmt_number(v: f64, decimals: usize) -> String {
    if v.abs() >= SCIENTIFIC_FROM {
        format!("{v:.3e}")
    } else {
        format!("{v:.decimals$}")
    }
}

/// Magnitude from which reasons write a number in scientific notation.
const SCIENTIFIC_FROM: f64 = 1e15;

/// How a held row's reason begins.
const HELD: &str = "continues the anomaly that began ";

/// A row held in an open incident that began `began` rows before it.
pub fn held(began: u64) -> String {
    format!("{HELD}{} ago", Samples(began))
}

/// A row at the opening bar in the tail of the incident that faded last (see
/// [`super::hold::Place::Quelled`]).
pub fn quelled() -> &'static str {
    "the tail of the incident that just faded, no higher than its peak: not a new one"
}

/// A count of samples as a person writes it: `1 sample`, `12 samples`.
struct Samples(u64);

impl std::fmt::Display for Samples {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let plural = if self.0 == 1 { "" } else { "s" };
        write!(f, "{} sample{plural}", self.0)
    }
}

/// Whether `reason` says its row continues an incident (see [`held`]), rather than
/// something about the row itself.
pub fn is_held(reason: &str) -> bool {
    reason.starts_with(HELD)
}

/// An incident in one line: `critical anomaly on cpu_percent, memory_percent for 12
/// samples (11 s); peak score 0.812: cpu_percent 97.4 % >= 95.0 % (rule cpu-critical)`.
pub fn incident_summary(
    severity: Severity,
    metrics: &[String],
    rows: usize,
    duration_s: Option<f64>,
    peak_score: f64,
    worst: Option<&str>,
) -> String {
    let mut line = format!("{severity} anomaly");
    if !metrics.is_empty() {
        line.push_str(&format!(" on {}", metrics.join(", ")));
    }
    line.push_str(&format!(" for {}", Samples(rows as u64)));
    if let Some(d) = duration_s.filter(|_| rows > 1) {
        line.push_str(&format!(" ({})", fmt_duration(d)));
    }
    line.push_str(&format!("; peak score {peak_score:.3}"));
    if let Some(w) = worst {
        line.push_str(&format!(": {w}"));
    }
    line
}

/// A duration as a person says it: `45 s`, `12 min`, `3.5 h`.
fn fmt_duration(seconds: f64) -> String {
    if seconds < 120.0 {
        format!("{seconds:.0} s")
    } else if seconds < 7200.0 {
        format!("{:.0} min", seconds / 60.0)
    } else {
        format!("{:.1} h", seconds / 3600.0)
    }
}

/// A metric that has read `value` for `run` samples in a row, or had no reading
/// (`value` NaN) for as long.
pub fn frozen(name: &str, value: f64, unit: &str, run: u64) -> String {
    if value.is_nan() {
        return format!("{name} missing for {}", Samples(run));
    }
    format!(
        "{name} flat at {} for {}",
        fmt_value(value, unit),
        Samples(run)
    )
}

/// A metric with no reading in this row, scored as its baseline median `fill`.
pub fn missing(name: &str, fill: f64, unit: &str) -> String {
    format!(
        "{name} missing; scored as its baseline median {}",
        fmt_value(fill, unit)
    )
}

/// A percent outside 0-100.
pub fn impossible_percent(name: &str, value: f64, unit: &str) -> String {
    format!(
        "{name} {} is an impossible reading (a percent must be 0-100)",
        fmt_value(value, unit)
    )
}

/// A negative reading of a rate or an amount.
pub fn impossible_negative(name: &str, value: f64, unit: &str) -> String {
    format!(
        "{name} {} is an impossible reading (it cannot be negative)",
        fmt_value(value, unit)
    )
}

/// A numeric rule that fired: `name value symbol threshold (rule rule): message`.
pub fn numeric_rule(
    name: &str,
    value: f64,
    symbol: &str,
    threshold: f64,
    unit: &str,
    rule: &str,
    message: Option<&str>,
) -> String {
    with_message(
        format!(
            "{name} {} {symbol} {} (rule {rule})",
            fmt_value(value, unit),
            fmt_value(threshold, unit)
        ),
        message,
    )
}

/// A text rule that fired on `cell` of column `column`.
pub fn text_rule(column: &str, cell: &str, rule: &str, message: Option<&str>) -> String {
    with_message(format!("{column} is {cell:?} (rule {rule})"), message)
}

fn with_message(reason: String, message: Option<&str>) -> String {
    match message {
        Some(m) => format!("{reason}: {m}"),
        None => reason,
    }
}

/// A metric `sigma` away from its baseline, in `direction` (`above` or `below`).
pub fn off_baseline(
    name: &str,
    value: f64,
    unit: &str,
    sigma: f64,
    direction: &str,
    baseline: &str,
) -> String {
    format!(
        "{name} {} is {} sigma {direction} its baseline {baseline}",
        fmt_value(value, unit),
        fmt_sigma(sigma)
    )
}

/// A metric that moved by `step` from its recent level.
pub fn moved(name: &str, value: f64, step: f64, unit: &str, sigma: f64) -> String {
    format!(
        "{name} {} {} by {} from its recent level ({} sigma)",
        fmt_value(value, unit),
        if step > 0.0 { "jumped" } else { "dropped" },
        fmt_value(step.abs(), unit),
        fmt_sigma(sigma)
    )
}

/// A metric that moved away from its expected value by `step` over the last `lag`
/// samples: a slow rise that no single step shows.
pub fn trended(name: &str, value: f64, step: f64, unit: &str, lag: usize, sigma: f64) -> String {
    format!(
        "{name} {} {} by {} over the last {lag} samples ({} sigma)",
        fmt_value(value, unit),
        if step > 0.0 { "rose" } else { "fell" },
        fmt_value(step.abs(), unit),
        fmt_sigma(sigma)
    )
}

/// A metric whose mean over the last `window` samples is off its baseline.
pub fn averaged(
    name: &str,
    mean: f64,
    unit: &str,
    window: usize,
    sigma: f64,
    direction: &str,
    baseline: &str,
) -> String {
    format!(
        "{name} averaged {} over the last {window} samples, {} sigma {direction} its baseline {baseline}",
        fmt_value(mean, unit),
        fmt_sigma(sigma)
    )
}

/// Several features off together, none alone enough to name.
pub fn joint(freedom: usize, chi_square: f64, p_value: f64) -> String {
    format!("{freedom} features deviate together (chi-square {chi_square:.1}, p = {p_value:.1e})")
}

/// The forest isolates the row though no metric stands out.
pub fn unusual_combination(forest: f64) -> String {
    format!("unusual combination of metrics (isolation score {forest:.3})")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slow_move_says_how_far_it_went_over_the_lag() {
        assert_eq!(
            trended("memory_percent", 57.9, 15.5, "%", 60, 19.1),
            "memory_percent 57.9 % rose by 15.5 % over the last 60 samples (19.1 sigma)"
        );
        assert_eq!(
            trended("memory_available_gb", 6.7, -2.5, "GB", 60, 19.0),
            "memory_available_gb 6.7 GB fell by 2.5 GB over the last 60 samples (19.0 sigma)"
        );
    }

    #[test]
    fn a_huge_reading_is_written_in_scientific_notation_not_300_digits() {
        assert_eq!(fmt_value(1e308, "MB/s"), "1.000e308 MB/s");
        assert_eq!(fmt_value(-2.5e15, ""), "-2.500e15");
        assert_eq!(fmt_value(999_999_999_999.0, ""), "999999999999.0");
        assert_eq!(fmt_value(97.25, "%"), "97.2 %");
        assert_eq!(fmt_value(0.0421, ""), "0.042");
        assert_eq!(
            moved("disk_read_mb", 1e308, 1e308, "MB/s", 1.6449e300),
            "disk_read_mb 1.000e308 MB/s jumped by 1.000e308 MB/s from its recent level (1.645e300 sigma)"
        );
    }

    #[test]
    fn one_sample_is_said_in_the_singular() {
        assert_eq!(held(1), "continues the anomaly that began 1 sample ago");
        assert_eq!(held(12), "continues the anomaly that began 12 samples ago");
        assert!(is_held(&held(1)));
        let one = incident_summary(Severity::Medium, &[], 1, Some(0.0), 0.6, None);
        assert_eq!(one, "medium anomaly for 1 sample; peak score 0.600");
        let two = incident_summary(
            Severity::High,
            &["cpu_percent".into()],
            2,
            Some(1.0),
            0.7,
            None,
        );
        assert_eq!(
            two,
            "high anomaly on cpu_percent for 2 samples (1 s); peak score 0.700"
        );
    }
}
