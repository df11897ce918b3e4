//! The metric catalogue: the column names `metrics` reads and writes, their units
//! and kinds, and the aliases users send. One fact, one place: everything that needs
//! to know what `cpu_percent` means asks here.

/// What a metric measures, which decides what readings are impossible.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricKind {
    /// A share from 0 to 100.
    Percent,
    /// A non-negative amount per second.
    Rate,
    /// A non-negative amount (memory in GB, frequency in MHz, load).
    Amount,
    /// Anything else: no range is assumed.
    Other,
}

/// Which way a metric moves when something is wrong, which decides how severe a
/// statistical departure may be: a metric falling back towards idle is news, not
/// harm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Harm {
    /// Harm is a high reading (usage, traffic, load); a low one is a machine at rest.
    High,
    /// Harm is a low reading (memory left).
    Low,
    /// Either way may be harm (unknown metrics, frequency).
    Either,
}

impl Harm {
    /// Whether a departure in direction `above` is towards harm.
    pub fn towards(self, above: bool) -> bool {
        match self {
            Harm::High => above,
            Harm::Low => !above,
            Harm::Either => true,
        }
    }
}

/// A metric the tool knows by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Metric {
    /// Canonical column name.
    pub name: &'static str,
    /// Unit printed after values in reasons.
    pub unit: &'static str,
    /// What the value measures.
    pub kind: MetricKind,
    /// Which way it moves when something is wrong.
    pub harm: Harm,
}

/// The native schema, in column order: what `datagen` writes and `watch` samples.
pub const NATIVE: [Metric; 8] = [
    Metric {
        name: "cpu_percent",
        unit: "%",
        kind: MetricKind::Percent,
        harm: Harm::High,
    },
    Metric {
        name: "cpu_frequency",
        unit: "MHz",
        kind: MetricKind::Amount,
        harm: Harm::Either,
    },
    Metric {
        name: "memory_percent",
        unit: "%",
        kind: MetricKind::Percent,
        harm: Harm::High,
    },
    Metric {
        name: "memory_available_gb",
        unit: "GB",
        kind: MetricKind::Amount,
        harm: Harm::Low,
    },
    Metric {
        name: "disk_read_mb",
        unit: "MB/s",
        kind: MetricKind::Rate,
        harm: Harm::High,
    },
    Metric {
        name: "disk_write_mb",
        unit: "MB/s",
        kind: MetricKind::Rate,
        harm: Harm::High,
    },
    Metric {
        name: "network_sent_mb",
        unit: "MB/s",
        kind: MetricKind::Rate,
        harm: Harm::High,
    },
    Metric {
        name: "network_recv_mb",
        unit: "MB/s",
        kind: MetricKind::Rate,
        harm: Harm::High,
    },
];

/// Extra metrics `watch` samples beyond the native schema.
pub const LIVE_EXTRA: [Metric; 5] = [
    Metric {
        name: "swap_percent",
        unit: "%",
        kind: MetricKind::Percent,
        harm: Harm::High,
    },
    Metric {
        name: "load_1m",
        unit: "",
        kind: MetricKind::Amount,
        harm: Harm::High,
    },
    Metric {
        name: "load_5m",
        unit: "",
        kind: MetricKind::Amount,
        harm: Harm::High,
    },
    Metric {
        name: "load_15m",
        unit: "",
        kind: MetricKind::Amount,
        harm: Harm::High,
    },
    Metric {
        name: "process_count",
        unit: "",
        kind: MetricKind::Amount,
        harm: Harm::High,
    },
];

/// Columns a file in the native schema is expected to have: the ones the Python
/// tool's users always had, so a file missing one is told (it may be a misspelt
/// name), though judged on what it has.
pub const REQUIRED_NATIVE: [&str; 4] = [
    "cpu_percent",
    "memory_percent",
    "disk_read_mb",
    "network_sent_mb",
];

/// The series `watch` exports each sampled metric as (`/metrics`), labelled
/// `metric` (the column's name) and `unit`: read back from Prometheus, each is the
/// column it was.
pub const SAMPLE_VALUE_SERIES: &str = "metrics_sample_value";

/// Name of the time column unless the user names another.
pub const DEFAULT_TIMESTAMP: &str = "timestamp";

/// Name of the ground-truth column unless the user names another; never a feature.
pub const DEFAULT_LABEL: &str = "label";

/// The verdict columns `metrics` appends to every row it writes (`analyze`'s
/// output, `watch`'s history), in order; never read back as metrics.
pub const VERDICT_COLUMNS: [&str; 6] = [
    "is_anomaly",
    "anomaly_score",
    "severity",
    "z_max",
    "top_metric",
    "reasons",
];

/// Short names people use for native metrics.
const ALIASES: [(&str, &str); 8] = [
    ("cpu", "cpu_percent"),
    ("cpu_usage", "cpu_percent"),
    ("mem", "memory_percent"),
    ("memory", "memory_percent"),
    ("memory_usage", "memory_percent"),
    ("disk_read", "disk_read_mb"),
    ("disk_write", "disk_write_mb"),
    ("cpu_freq", "cpu_frequency"),
];

/// The canonical name for a column, resolving aliases case-insensitively.
pub fn canonical(name: &str) -> String {
    let lower = name.trim().to_ascii_lowercase();
    ALIASES
        .iter()
        .find(|(alias, _)| *alias == lower)
        .map(|(_, target)| (*target).to_string())
        .unwrap_or(lower)
}

/// What is known about a column: a catalogue entry, or a guess from its suffix.
pub fn describe(name: &str) -> Metric {
    let name = canonical(name);
    if let Some(m) = NATIVE
        .iter()
        .chain(LIVE_EXTRA.iter())
        .find(|m| m.name == name)
    {
        return *m;
    }
    let (unit, kind, harm) = if name.ends_with("_percent") || name.ends_with("_pct") {
        ("%", MetricKind::Percent, Harm::Either)
    } else if name.ends_with("_mb") || name.ends_with("_per_sec") || name.ends_with("_bytes") {
        ("", MetricKind::Rate, Harm::High)
    } else {
        ("", MetricKind::Other, Harm::Either)
    };
    Metric {
        name: "",
        unit,
        kind,
        harm,
    }
}

/// Native metrics a header must name before it counts as the native schema: one
/// or two (`cpu`, `mem`) are common in any file; three mean the file is ours.
const NATIVE_SCHEMA_MIN: usize = 3;

/// True when `columns` looks like the native schema, so its expected columns are looked for.
pub fn uses_native_schema(columns: &[String]) -> bool {
    NATIVE
        .iter()
        .filter(|m| columns.iter().any(|c| canonical(c) == m.name))
        .count()
        >= NATIVE_SCHEMA_MIN
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_resolve_to_native_names() {
        assert_eq!(canonical("CPU"), "cpu_percent");
        assert_eq!(canonical("memory"), "memory_percent");
        assert_eq!(canonical("m00"), "m00");
    }

    #[test]
    fn kinds_come_from_the_catalogue_or_the_suffix() {
        assert_eq!(describe("cpu").kind, MetricKind::Percent);
        assert_eq!(describe("disk_write_mb").unit, "MB/s");
        assert_eq!(describe("gpu_util_percent").kind, MetricKind::Percent);
        assert_eq!(describe("value").kind, MetricKind::Other);
    }

    #[test]
    fn native_schema_is_recognised_by_any_native_column() {
        let native =
            ["timestamp", "cpu_percent", "memory_percent", "disk_read_mb"].map(String::from);
        assert!(uses_native_schema(&native));
        assert!(!uses_native_schema(&[
            "timestamp".into(),
            "cpu".into(),
            "mem".into()
        ]));
        assert!(!uses_native_schema(&["timestamp".into(), "value".into()]));
    }
}
