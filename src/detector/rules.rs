//! Threshold and status rules: what an operator already knows is bad, whatever the
//! statistics say. Built-in defaults cover CPU, memory and task status; a TOML file
//! adds rules or overrides them by name. Impossible readings are always flagged.

use serde::Deserialize;

use super::reasons;
use super::verdict::Severity;
use crate::schema::{self, MetricKind};

/// Why a rules file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum RulesError {
    /// The TOML did not parse or a field had the wrong type; the message carries
    /// the line, column and field.
    #[error("{located}")]
    Syntax {
        /// The rules file, line and column, and what the TOML reader said there.
        located: String,
    },
    /// A rule was well-formed TOML but made no sense.
    #[error("{path}:{line}: rule {index} ({name}): {message}")]
    Invalid {
        /// The rules file.
        path: String,
        /// 1-based line of the offending field.
        line: usize,
        /// 1-based position among the `[[rule]]` tables.
        index: usize,
        /// The rule's name.
        name: String,
        /// What is wrong and how to fix it.
        message: String,
    },
}

/// How a rule compares a reading with its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum Comparison {
    /// Greater than.
    #[serde(rename = ">")]
    Gt,
    /// Greater than or equal.
    #[serde(rename = ">=")]
    Ge,
    /// Less than.
    #[serde(rename = "<")]
    Lt,
    /// Less than or equal.
    #[serde(rename = "<=")]
    Le,
    /// Equal (numbers or text).
    #[serde(rename = "==")]
    Eq,
    /// Not equal (numbers or text).
    #[serde(rename = "!=")]
    Ne,
    /// Text is one of a list.
    #[serde(rename = "in")]
    In,
}

impl Comparison {
    fn symbol(self) -> &'static str {
        match self {
            Comparison::Gt => ">",
            Comparison::Ge => ">=",
            Comparison::Lt => "<",
            Comparison::Le => "<=",
            Comparison::Eq => "==",
            Comparison::Ne => "!=",
            Comparison::In => "in",
        }
    }
}

/// What a rule compares with.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(
    untagged,
    expecting = "a number (value = 95), a text (value = \"failed\") or a list of texts (value = [\"failed\", \"error\"])"
)]
pub enum RuleValue {
    /// A threshold for a numeric metric.
    Number(f64),
    /// A status text.
    Text(String),
    /// Status texts, for `in`.
    List(Vec<String>),
}

/// One rule: when `metric` compares true with `value`, the row gets `severity`.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    /// Unique name; a user rule with a built-in's name replaces it.
    pub name: String,
    /// Column the rule reads (aliases allowed).
    pub metric: String,
    /// The comparison.
    pub comparison: Comparison,
    /// The threshold or status texts.
    pub value: RuleValue,
    /// Severity of a row the rule fires on.
    pub severity: Severity,
    /// Optional words appended to the reason.
    pub message: Option<String>,
    /// Whether a rules file wrote it: a built-in sits idle on a table without its
    /// column, as it should, but a written rule that can never fire is said.
    pub written: bool,
}

fn enabled() -> bool {
    true
}

/// A rule as written, with where its checked fields stand in the file. A rule
/// switched off (`enabled = false`) needs only its name.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WrittenRule {
    name: toml::Spanned<String>,
    metric: Option<toml::Spanned<String>>,
    op: Option<Comparison>,
    value: Option<toml::Spanned<RuleValue>>,
    severity: Option<toml::Spanned<Severity>>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default = "enabled")]
    enabled: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RulesFile {
    #[serde(default)]
    rule: Vec<WrittenRule>,
}

/// A rule that fired on a row.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleHit {
    /// The column it read.
    pub column: usize,
    /// Severity it gives.
    pub severity: Severity,
    /// The sentence for the reasons.
    pub reason: String,
}

/// The rules in force: defaults, then the user's file on top.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleSet {
    rules: Vec<Rule>,
}

fn number_rule(name: &str, metric: &str, threshold: f64, severity: Severity) -> Rule {
    Rule {
        name: name.into(),
        metric: metric.into(),
        comparison: Comparison::Ge,
        value: RuleValue::Number(threshold),
        severity,
        message: None,
        written: false,
    }
}

impl Default for RuleSet {
    fn default() -> Self {
        let statuses = ["failed", "timeout", "error"].map(String::from).to_vec();
        RuleSet {
            rules: vec![
                number_rule("cpu-critical", "cpu_percent", 95.0, Severity::Critical),
                number_rule("cpu-high", "cpu_percent", 85.0, Severity::High),
                number_rule(
                    "memory-critical",
                    "memory_percent",
                    95.0,
                    Severity::Critical,
                ),
                number_rule("memory-high", "memory_percent", 90.0, Severity::High),
                Rule {
                    name: "task-failed".into(),
                    metric: "task_status".into(),
                    comparison: Comparison::In,
                    value: RuleValue::List(statuses),
                    severity: Severity::Critical,
                    message: None,
                    written: false,
                },
            ],
        }
    }
}

impl RuleSet {
    /// The defaults with the rules in `text` (the TOML of file `path`) added or,
    /// where a name matches, replacing them.
    pub fn with_file(path: &str, text: &str) -> Result<RuleSet, RulesError> {
        let file: RulesFile = toml::from_str(text).map_err(|e| RulesError::Syntax {
            located: crate::located::toml_error(path, text, &e),
        })?;
        let line_of = |span: std::ops::Range<usize>| crate::located::line_of(text, span.start);
        let mut set = RuleSet::default();
        // Where each name was first written: a second rule of the same name would
        // silently replace the first.
        let mut named: Vec<(String, usize)> = Vec::new();
        for (i, written) in file.rule.into_iter().enumerate() {
            let name = written.name.get_ref().clone();
            let invalid = |span: std::ops::Range<usize>, message: &str| RulesError::Invalid {
                path: path.into(),
                line: line_of(span),
                index: i + 1,
                name: name.clone(),
                message: message.into(),
            };
            let name_span = written.name.span();
            if name.trim().is_empty() {
                return Err(invalid(
                    name_span,
                    "field name: empty; give the rule a name its reasons can show, e.g. name = \"disk-busy\"",
                ));
            }
            if let Some((_, first)) = named.iter().find(|(n, _)| *n == name) {
                return Err(invalid(
                    name_span,
                    &format!(
                        "rule {first} has this name too; give each rule its own name (a built-in's name replaces the built-in)"
                    ),
                ));
            }
            named.push((name.clone(), i + 1));
            if !written.enabled {
                // Switched off: it takes the place of the rule of its name. One
                // written whole is a rule kept for later; a name alone must name one.
                if written.metric.is_none() && !set.rules.iter().any(|r| r.name == name) {
                    let known: Vec<&str> = set.rules.iter().map(|r| r.name.as_str()).collect();
                    return Err(invalid(
                        name_span,
                        &format!(
                            "enabled = false switches off a rule by name, and no rule before it is called that; the rules so far: {}",
                            known.join(", ")
                        ),
                    ));
                }
                set.rules.retain(|r| r.name != name);
                continue;
            }
            let missing = |field: &str, example: &str| {
                invalid(
                    name_span.clone(),
                    &format!("field {field} is missing; e.g. {example}"),
                )
            };
            let metric = written
                .metric
                .ok_or_else(|| missing("metric", "metric = \"cpu_percent\""))?;
            let op = written.op.ok_or_else(|| missing("op", "op = \">=\""))?;
            let value = written
                .value
                .ok_or_else(|| missing("value", "value = 95"))?;
            let severity = written
                .severity
                .ok_or_else(|| missing("severity", "severity = \"high\""))?;
            let value_span = value.span();
            let problem = match (op, value.get_ref()) {
                (Comparison::In, RuleValue::List(_)) => None,
                (Comparison::In, _) => Some(
                    "field value: op \"in\" needs a list, e.g. value = [\"failed\", \"error\"]",
                ),
                (_, RuleValue::List(_)) => Some("field value: a list needs op = \"in\""),
                (_, RuleValue::Number(v)) if !v.is_finite() => Some(
                    "field value: nan and inf never match or always match; give a number, e.g. value = 95",
                ),
                (Comparison::Eq | Comparison::Ne, _) => None,
                (_, RuleValue::Text(_)) => Some(
                    "field value: text only works with op ==, != or in; use a number for >, >=, < and <=",
                ),
                _ => None,
            };
            if let Some(problem) = problem {
                return Err(invalid(value_span, problem));
            }
            if metric.get_ref().trim().is_empty() {
                return Err(invalid(
                    metric.span(),
                    "field metric: empty; name the column the rule reads",
                ));
            }
            if *severity.get_ref() == Severity::Normal {
                return Err(invalid(
                    severity.span(),
                    "field severity: normal would flag nothing; use medium, high or critical, or enabled = false to switch a rule off",
                ));
            }
            let rule = Rule {
                name,
                metric: metric.into_inner(),
                comparison: op,
                value: value.into_inner(),
                severity: severity.into_inner(),
                message: written.message,
                written: true,
            };
            set.rules.retain(|r| r.name != rule.name);
            set.rules.push(rule);
        }
        Ok(set)
    }

    /// Why each rule a file wrote would never fire on a table whose numeric and
    /// text columns are `numeric` and `text`: its column is absent, or holds numbers
    /// where the rule compares texts, or texts where it compares numbers. One
    /// sentence per such rule, naming it; built-ins are expected to sit idle where
    /// their column is absent and are not listed.
    pub fn idle(&self, numeric: &[String], text: &[String]) -> Vec<String> {
        let has = |names: &[String], metric: &str| column_of(names, metric).is_some();
        self.rules
            .iter()
            .filter(|r| r.written)
            .filter_map(|rule| {
                let by_number = matches!(rule.value, RuleValue::Number(_));
                let (wanted, other) = if by_number {
                    (numeric, text)
                } else {
                    (text, numeric)
                };
                let why = if has(wanted, &rule.metric) {
                    return None;
                } else if has(other, &rule.metric) && by_number {
                    "holds text, and a number never matches it; compare with == or in and texts"
                } else if has(other, &rule.metric) {
                    "holds numbers, and a text never matches them; compare with a number"
                } else {
                    "is not a column here"
                };
                Some(format!(
                    "rule {} never fires: {} {why}",
                    rule.name, rule.metric
                ))
            })
            .collect()
    }

    /// Binds the rules to the columns of a table: `numeric` and `text` are its
    /// column names. Rules whose column is absent are left out.
    pub fn bind(&self, numeric: &[String], text: &[String]) -> BoundRules {
        let mut bound = BoundRules::default();
        for rule in &self.rules {
            match &rule.value {
                RuleValue::Number(_) => {
                    if let Some(c) = column_of(numeric, &rule.metric) {
                        bound.numeric.push((c, rule.clone()));
                    }
                }
                _ => {
                    if let Some(c) = column_of(text, &rule.metric) {
                        bound.text.push((c, rule.clone()));
                    }
                }
            }
        }
        bound.kinds = numeric.iter().map(|n| schema::describe(n)).collect();
        bound.names = numeric.to_vec();
        bound.text_names = text.to_vec();
        bound
    }
}

/// The position among `names` of the column `metric` names (aliases allowed).
fn column_of(names: &[String], metric: &str) -> Option<usize> {
    let want = schema::canonical(metric);
    names.iter().position(|n| schema::canonical(n) == want)
}

/// Rules bound to column positions, ready to check rows.
#[derive(Debug, Clone, Default)]
pub struct BoundRules {
    numeric: Vec<(usize, Rule)>,
    text: Vec<(usize, Rule)>,
    kinds: Vec<schema::Metric>,
    names: Vec<String>,
    text_names: Vec<String>,
}

impl BoundRules {
    /// The rules that fire on a row: `values` are its raw numeric readings (NaN for
    /// missing), `texts` its text cells. One hit per column, the most severe.
    pub fn check(&self, values: &[f64], texts: &[&str]) -> Vec<RuleHit> {
        let mut hits: Vec<RuleHit> = values
            .iter()
            .enumerate()
            .filter_map(|(c, &v)| {
                impossible(&self.names[c], self.kinds[c], v).map(|reason| RuleHit {
                    column: c,
                    severity: Severity::High,
                    reason,
                })
            })
            .collect();
        // A reading the sensor cannot give says nothing about the thresholds.
        let broken: Vec<usize> = hits.iter().map(|h| h.column).collect();
        for (c, rule) in self.numeric.iter().filter(|(c, _)| !broken.contains(c)) {
            let v = values[*c];
            let RuleValue::Number(t) = rule.value else {
                continue;
            };
            let fires = match rule.comparison {
                Comparison::Gt => v > t,
                Comparison::Ge => v >= t,
                Comparison::Lt => v < t,
                Comparison::Le => v <= t,
                Comparison::Eq => v == t,
                Comparison::Ne => !v.is_nan() && v != t,
                Comparison::In => false,
            };
            if fires {
                let reason = reasons::numeric_rule(
                    &self.names[*c],
                    v,
                    rule.comparison.symbol(),
                    t,
                    self.kinds[*c].unit,
                    &rule.name,
                    rule.message.as_deref(),
                );
                keep_worst(
                    &mut hits,
                    RuleHit {
                        column: *c,
                        severity: rule.severity,
                        reason,
                    },
                );
            }
        }
        for (c, rule) in &self.text {
            let cell = texts.get(*c).copied().unwrap_or("").trim();
            let fires = match &rule.value {
                RuleValue::List(list) => list.iter().any(|s| s.eq_ignore_ascii_case(cell)),
                RuleValue::Text(s) if rule.comparison == Comparison::Eq => {
                    s.eq_ignore_ascii_case(cell)
                }
                RuleValue::Text(s) => !cell.is_empty() && !s.eq_ignore_ascii_case(cell),
                RuleValue::Number(_) => false,
            };
            if fires {
                let reason = reasons::text_rule(
                    &self.text_names[*c],
                    cell,
                    &rule.name,
                    rule.message.as_deref(),
                );
                // Text columns come after the numeric ones in hit positions.
                keep_worst(
                    &mut hits,
                    RuleHit {
                        column: self.names.len() + c,
                        severity: rule.severity,
                        reason,
                    },
                );
            }
        }
        hits.sort_by_key(|h| std::cmp::Reverse(h.severity));
        hits
    }
}

/// Adds `hit` unless its column already has a hit at least as severe.
fn keep_worst(hits: &mut Vec<RuleHit>, hit: RuleHit) {
    match hits.iter_mut().find(|h| h.column == hit.column) {
        Some(h) if h.severity < hit.severity => *h = hit,
        Some(_) => {}
        None => hits.push(hit),
    }
}

/// A reading no healthy sensor can give, for metrics whose kind is known.
fn impossible(name: &str, metric: schema::Metric, v: f64) -> Option<String> {
    let unit = metric.unit;
    match metric.kind {
        MetricKind::Percent if !(0.0..=100.0).contains(&v) && !v.is_nan() => {
            Some(reasons::impossible_percent(name, v, unit))
        }
        MetricKind::Rate | MetricKind::Amount if v < 0.0 => {
            Some(reasons::impossible_negative(name, v, unit))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn native() -> Vec<String> {
        ["cpu_percent", "memory_percent", "disk_read_mb"]
            .map(String::from)
            .to_vec()
    }

    #[test]
    fn cpu_above_95_is_critical_and_only_the_worst_rule_is_reported() {
        let bound = RuleSet::default().bind(&native(), &[]);
        let hits = bound.check(&[97.2, 40.0, 1.0], &[]);
        assert_eq!(hits.len(), 1);
        assert_eq!(hits[0].severity, Severity::Critical);
        assert_eq!(
            hits[0].reason,
            "cpu_percent 97.2 % >= 95.0 % (rule cpu-critical)"
        );
    }

    #[test]
    fn impossible_readings_are_always_flagged() {
        let bound = RuleSet::default().bind(&native(), &[]);
        let hits = bound.check(&[120.0, 40.0, -3.0], &[]);
        assert!(
            hits.iter()
                .any(|h| h.reason.contains("cpu_percent 120.0 % is an impossible"))
        );
        assert!(
            hits.iter()
                .any(|h| h.reason.contains("disk_read_mb -3.0 MB/s is an impossible"))
        );
    }

    #[test]
    fn failed_task_status_is_critical() {
        let bound = RuleSet::default().bind(&native(), &["task_status".into()]);
        let hits = bound.check(&[10.0, 10.0, 1.0], &["Timeout"]);
        assert_eq!(hits[0].severity, Severity::Critical);
        assert!(hits[0].reason.contains("task_status is \"Timeout\""));
        assert!(bound.check(&[10.0, 10.0, 1.0], &["ok"]).is_empty());
    }

    #[test]
    fn a_user_file_overrides_a_builtin_by_name_and_adds_rules() {
        let text = r#"
[[rule]]
name = "cpu-critical"
metric = "cpu"
op = ">="
value = 99
severity = "critical"

[[rule]]
name = "disk-busy"
metric = "disk_read_mb"
op = ">"
value = 50
severity = "medium"
message = "check the backup job"
"#;
        let set = RuleSet::with_file("r.toml", text).unwrap();
        let bound = set.bind(&native(), &[]);
        let hits = bound.check(&[97.0, 10.0, 60.0], &[]);
        assert!(
            hits.iter()
                .any(|h| h.severity == Severity::High && h.reason.contains("cpu-high"))
        );
        assert!(
            hits.iter()
                .any(|h| h.reason.ends_with("(rule disk-busy): check the backup job"))
        );
    }

    #[test]
    fn a_malformed_rules_file_names_the_line_and_the_field() {
        let text = "[[rule]]\nname = \"x\"\nmetric = \"cpu\"\nop = \">=\"\nvalue = 5\nseverity = \"severe\"\n";
        let err = RuleSet::with_file("rules.toml", text)
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("rules.toml:6:12: "), "{err}");
        assert!(err.contains("severe"), "{err}");
        let text = "[[rule]]\nname = \"x\"\nmetric = \"cpu\"\nop = \">=\"\nvalue = 5\nseverity = \"high\"\nthreshold = 3\n";
        let err = RuleSet::with_file("rules.toml", text)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("rules.toml:7:1: unknown field `threshold`"),
            "{err}"
        );
    }

    #[test]
    fn an_in_rule_needs_a_list() {
        let text = "[[rule]]\nname = \"s\"\nmetric = \"status\"\nop = \"in\"\nvalue = \"failed\"\nseverity = \"high\"\n";
        let err = RuleSet::with_file("r.toml", text).unwrap_err().to_string();
        assert!(
            err.starts_with("r.toml:5: rule 1 (s): field value: op \"in\" needs a list"),
            "{err}"
        );
    }

    #[test]
    fn a_rule_switched_off_needs_only_its_name_and_must_name_one() {
        let set = RuleSet::with_file("r.toml", "[[rule]]\nname = \"cpu-high\"\nenabled = false\n")
            .unwrap();
        let bound = set.bind(&native(), &[]);
        assert!(bound.check(&[90.0, 10.0, 1.0], &[]).is_empty());
        assert_eq!(
            bound.check(&[97.0, 10.0, 1.0], &[])[0].severity,
            Severity::Critical
        );
        let err = RuleSet::with_file(
            "r.toml",
            "\n[[rule]]\nname = \"cpu-hgih\"\nenabled = false\n",
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.starts_with(
                "r.toml:3: rule 1 (cpu-hgih): enabled = false switches off a rule by name"
            ) && err.contains("cpu-high"),
            "{err}"
        );
        let err = RuleSet::with_file(
            "r.toml",
            "[[rule]]\nname = \"x\"\nop = \">\"\nvalue = 1\nseverity = \"high\"\n",
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.starts_with("r.toml:2: rule 1 (x): field metric is missing"),
            "{err}"
        );
        // A whole rule kept switched off for later is no mistake.
        let kept = "[[rule]]\nname = \"later\"\nmetric = \"cpu\"\nop = \">\"\nvalue = 1\nseverity = \"high\"\nenabled = false\n";
        assert_eq!(
            RuleSet::with_file("r.toml", kept).unwrap(),
            RuleSet::default()
        );
    }

    #[test]
    fn a_rule_of_severity_normal_is_refused() {
        let text = "[[rule]]\nname = \"x\"\nmetric = \"cpu\"\nop = \">\"\nvalue = 1\nseverity = \"normal\"\n";
        let err = RuleSet::with_file("r.toml", text).unwrap_err().to_string();
        assert!(
            err.starts_with("r.toml:6: rule 1 (x): field severity: normal would flag nothing"),
            "{err}"
        );
    }

    #[test]
    fn a_written_rule_that_can_never_fire_is_named_and_an_idle_builtin_is_not() {
        let text = "[[rule]]\nname = \"typo\"\nmetric = \"cpu_pct\"\nop = \">\"\nvalue = 1\nseverity = \"high\"\n\
                    [[rule]]\nname = \"words\"\nmetric = \"status\"\nop = \">\"\nvalue = 1\nseverity = \"high\"\n\
                    [[rule]]\nname = \"list\"\nmetric = \"cpu\"\nop = \"in\"\nvalue = [\"a\"]\nseverity = \"high\"\n\
                    [[rule]]\nname = \"fine\"\nmetric = \"cpu\"\nop = \">\"\nvalue = 1\nseverity = \"high\"\n";
        let set = RuleSet::with_file("r.toml", text).unwrap();
        let idle = set.idle(&native(), &["status".into()]);
        assert_eq!(
            idle,
            [
                "rule typo never fires: cpu_pct is not a column here",
                "rule words never fires: status holds text, and a number never matches it; compare with == or in and texts",
                "rule list never fires: cpu holds numbers, and a text never matches them; compare with a number",
            ]
        );
        // memory-critical and task-failed have no column in a CPU-only table: built-ins, not said.
        assert!(RuleSet::default().idle(&["cpu".into()], &[]).is_empty());
    }

    #[test]
    fn a_rule_needs_a_name_of_its_own() {
        let rule = |name: &str| {
            format!(
                "[[rule]]\nname = \"{name}\"\nmetric = \"cpu\"\nop = \">\"\nvalue = 1\nseverity = \"high\"\n"
            )
        };
        let err = RuleSet::with_file("r.toml", &rule(" "))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("r.toml:2: rule 1 ( ): field name: empty"),
            "{err}"
        );
        // The second `x` used to replace the first without a word.
        let text = format!("{}{}", rule("x"), rule("x"));
        let err = RuleSet::with_file("r.toml", &text).unwrap_err().to_string();
        assert!(
            err.starts_with("r.toml:8: rule 2 (x): rule 1 has this name too"),
            "{err}"
        );
        // Replacing a built-in once is what names are for.
        assert!(RuleSet::with_file("r.toml", &rule("cpu-high")).is_ok());
    }

    #[test]
    fn a_value_of_the_wrong_shape_says_what_it_may_be() {
        let text = "[[rule]]\nname = \"s\"\nmetric = \"status\"\nop = \"in\"\nvalue = [1, 2]\nseverity = \"high\"\n";
        let err = RuleSet::with_file("r.toml", text).unwrap_err().to_string();
        assert!(
            err.starts_with("r.toml:5:9: ") && err.contains("a list of texts"),
            "{err}"
        );
    }

    #[test]
    fn a_value_of_nan_or_inf_is_refused() {
        // `cpu >= nan` never fired and `cpu != nan` always did, without a word.
        for (op, value) in [(">=", "nan"), ("!=", "nan"), ("<", "inf"), (">", "-inf")] {
            let text = format!(
                "[[rule]]\nname = \"c\"\nmetric = \"cpu\"\nop = \"{op}\"\nvalue = {value}\nseverity = \"high\"\n"
            );
            let err = RuleSet::with_file("r.toml", &text).unwrap_err().to_string();
            assert!(
                err.starts_with("r.toml:5: rule 1 (c): field value: nan and inf"),
                "{op} {value}: {err}"
            );
        }
    }
}
