//! Who is told, and under which policy: the `--alerts` TOML file and the flags for
//! the simple case, checked into an [`AlertsConfig`] before the session starts. A
//! malformed file fails at start with its line and field.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::Path;
use std::time::Duration;

use reqwest::Url;
use serde::Deserialize;
use toml::Spanned;

use super::policy::Policy;
use crate::detector::Severity;
use crate::http::client::{
    AuthorizationEntry, BasicAuthEntry, ClientEntries, ClientSettings, TlsEntry,
};
use crate::http::headers::HeadersEntry;
use crate::http::http_url;
use crate::timestamp::parse_duration as duration;

/// How long a receiver may take to answer (HTTP) or to finish (a command) by
/// default: longer is a failure, retried.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// The longest timeout a receiver may be given: each waits its turn in one queue.
const MAX_TIMEOUT: Duration = Duration::from_secs(300);

/// The longest `for`, `keep_firing_for` or `repeat_interval`: a year. Longer ones
/// are typos, and beyond about 292 million years their milliseconds overflowed
/// the policy's clock arithmetic.
const LONGEST_POLICY_TIME: Duration = Duration::from_secs(365 * 86_400);

/// Notifications of firing alerts each receiver gets per hour at most, by
/// default; resolutions always go through, so nothing told firing is left open.
pub const DEFAULT_RATE_PER_HOUR: u32 = 12;

/// Labels every alert has, set by `metrics`; `[labels]` may add others and
/// replace `instance`.
pub const OWN_LABELS: [&str; 3] = ["alertname", "severity", "metric"];

/// Why the alert settings cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum AlertsError {
    /// The file could not be read. The system's words are in the message, not a
    /// source too, so a chain of errors says them once.
    #[error("{path}: cannot read: {error}")]
    Read {
        /// The file.
        path: String,
        /// What the system said.
        error: std::io::Error,
    },
    /// The file is not TOML of the expected shape (the message names line and
    /// column).
    #[error("{located}")]
    Syntax {
        /// The file, line and column, and what the parser said there.
        located: String,
    },
    /// A field holds a value that cannot be used.
    #[error("{path}:{line}: field {field}: {message}")]
    Invalid {
        /// The file, or the flag.
        path: String,
        /// 1-based line.
        line: usize,
        /// The field.
        field: String,
        /// What is wrong, and how to fix it.
        message: String,
    },
    /// A flag holds a value that cannot be used.
    #[error("{flag} {value:?}: {message}")]
    Flag {
        /// The flag.
        flag: &'static str,
        /// Its value.
        value: String,
        /// What is wrong, and how to fix it.
        message: String,
    },
}

/// Where notifications go.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    /// An Alertmanager: alerts are pushed to `POST {url}/api/v2/alerts`.
    Alertmanager(Url),
    /// Any HTTP endpoint taking Alertmanager's webhook body (version 4).
    Webhook(Url),
    /// A command run by `sh -c`, the webhook body on its standard input.
    Exec(String),
}

impl Target {
    /// The kind of receiver, as the file names it.
    pub fn kind(&self) -> &'static str {
        match self {
            Target::Alertmanager(_) => "alertmanager",
            Target::Webhook(_) => "webhook",
            Target::Exec(_) => "exec",
        }
    }

    /// Where it points, safe to show: a URL's scheme, host and port only (paths
    /// and queries of webhooks often hold tokens), a command's first word.
    pub fn shown(&self) -> String {
        match self {
            Target::Alertmanager(url) | Target::Webhook(url) => {
                let mut shown = format!("{}://{}", url.scheme(), url.host_str().unwrap_or(""));
                if let Some(port) = url.port() {
                    shown.push_str(&format!(":{port}"));
                }
                shown
            }
            Target::Exec(command) => command
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_string(),
        }
    }
}

/// One receiver.
#[derive(Debug, Clone, PartialEq)]
pub struct Receiver {
    /// Its name in logs, `/api/alerts` and `/metrics` (`webhook-1` unless named).
    pub name: String,
    /// Where notifications go.
    pub target: Target,
    /// How long one attempt may take.
    pub timeout: Duration,
    /// Credentials and the CAs trusted, for an HTTP receiver.
    pub client: ClientSettings,
}

/// The checked alert settings.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertsConfig {
    /// When incidents become alerts.
    pub policy: Policy,
    /// Who is told; empty means no alerting.
    pub receivers: Vec<Receiver>,
    /// Labels added to every alert (`instance` replaces the host name).
    pub labels: BTreeMap<String, String>,
    /// Firing notifications per receiver per hour at most.
    pub rate_per_hour: u32,
}

/// The flags of the simple case.
#[derive(Debug, Clone, Default)]
pub struct AlertFlags {
    /// `--alerts FILE`.
    pub file: Option<std::path::PathBuf>,
    /// `--alertmanager URL`, repeatable.
    pub alertmanagers: Vec<String>,
    /// `--alert-webhook URL`, repeatable.
    pub webhooks: Vec<String>,
    /// `--alert-exec CMD`, repeatable.
    pub commands: Vec<String>,
    /// `--alert-severity`, over the file's `min_severity`.
    pub min_severity: Option<Severity>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct AlertsFile {
    #[serde(default)]
    receiver: Vec<ReceiverEntry>,
    #[serde(default)]
    policy: PolicyEntry,
    #[serde(default)]
    labels: BTreeMap<String, Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReceiverEntry {
    #[serde(rename = "type")]
    kind: Spanned<String>,
    name: Option<Spanned<String>>,
    url: Option<Spanned<String>>,
    command: Option<Spanned<String>>,
    timeout: Option<Spanned<String>>,
    basic_auth: Option<BasicAuthEntry>,
    authorization: Option<AuthorizationEntry>,
    tls_config: Option<TlsEntry>,
    http_headers: Option<HeadersEntry>,
    proxy_url: Option<String>,
    proxy_from_environment: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyEntry {
    min_severity: Option<Spanned<String>>,
    #[serde(rename = "for")]
    pending: Option<Spanned<String>>,
    keep_firing_for: Option<Spanned<String>>,
    repeat_interval: Option<Spanned<String>>,
    rate_limit_per_hour: Option<Spanned<u32>>,
}

impl AlertsConfig {
    /// The settings the flags give: the file's, then the flags' receivers added.
    pub fn from_flags(flags: &AlertFlags) -> Result<AlertsConfig, AlertsError> {
        let mut config = match &flags.file {
            Some(path) => AlertsConfig::load(path)?,
            None => AlertsConfig::empty(),
        };
        let mut add = |flag: &'static str, value: &String, target: Result<Target, String>| {
            let target = target.map_err(|message| AlertsError::Flag {
                flag,
                value: value.clone(),
                message,
            })?;
            let name = unique_name(&config.receivers, target.kind(), None);
            config.receivers.push(Receiver {
                name,
                target,
                timeout: DEFAULT_TIMEOUT,
                client: ClientSettings::default(),
            });
            Ok::<(), AlertsError>(())
        };
        for url in &flags.alertmanagers {
            add(
                "--alertmanager",
                url,
                http_url(url).map(Target::Alertmanager),
            )?;
        }
        for url in &flags.webhooks {
            add("--alert-webhook", url, http_url(url).map(Target::Webhook))?;
        }
        for command in &flags.commands {
            add(
                "--alert-exec",
                command,
                exec_command(command).map(Target::Exec),
            )?;
        }
        if let Some(severity) = flags.min_severity {
            config.policy.min_severity = severity;
        }
        Ok(config)
    }

    /// No receivers, the default policy.
    pub fn empty() -> AlertsConfig {
        AlertsConfig {
            policy: Policy::default(),
            receivers: Vec::new(),
            labels: BTreeMap::new(),
            rate_per_hour: DEFAULT_RATE_PER_HOUR,
        }
    }

    /// Reads the TOML file at `path`.
    pub fn load(path: &Path) -> Result<AlertsConfig, AlertsError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|error| AlertsError::Read {
            path: shown.clone(),
            error,
        })?;
        AlertsConfig::parse(&shown, &text)
    }

    /// Parses the TOML `text` of the file named `path`.
    pub fn parse(path: &str, text: &str) -> Result<AlertsConfig, AlertsError> {
        let file: AlertsFile = toml::from_str(text).map_err(|e| AlertsError::Syntax {
            located: crate::located::toml_error(path, text, &e),
        })?;
        let invalid = |span: Range<usize>, field: &str, message: String| AlertsError::Invalid {
            path: path.into(),
            line: crate::located::line_of(text, span.start),
            field: field.into(),
            message,
        };
        let mut config = AlertsConfig::empty();
        for entry in file.receiver {
            let missing = |field: &str| {
                invalid(
                    entry.kind.span(),
                    field,
                    format!("missing; a {} receiver needs one", entry.kind.get_ref()),
                )
            };
            let target = match entry.kind.get_ref().as_str() {
                "alertmanager" | "webhook" => {
                    let url = entry.url.as_ref().ok_or_else(|| missing("url"))?;
                    let parsed =
                        http_url(url.get_ref()).map_err(|m| invalid(url.span(), "url", m))?;
                    if entry.kind.get_ref() == "alertmanager" {
                        Target::Alertmanager(parsed)
                    } else {
                        Target::Webhook(parsed)
                    }
                }
                "exec" => {
                    let command = entry.command.as_ref().ok_or_else(|| missing("command"))?;
                    Target::Exec(
                        exec_command(command.get_ref())
                            .map_err(|m| invalid(command.span(), "command", m))?,
                    )
                }
                other => {
                    return Err(invalid(
                        entry.kind.span(),
                        "type",
                        format!(
                            "unknown receiver type {other:?}; hint: alertmanager, webhook or exec"
                        ),
                    ));
                }
            };
            let timeout = match &entry.timeout {
                Some(t) => {
                    let d = duration(t.get_ref())
                        .filter(|d| !d.is_zero())
                        .ok_or_else(|| invalid(t.span(), "timeout", duration_hint(t.get_ref())))?;
                    if d > MAX_TIMEOUT {
                        return Err(invalid(
                            t.span(),
                            "timeout",
                            format!(
                                "{:?} is longer than {limit}: a receiver that slow holds every notification queued behind it; hint: {limit} at most",
                                t.get_ref(),
                                limit = format_args!("{}m", MAX_TIMEOUT.as_secs() / 60),
                            ),
                        ));
                    }
                    d
                }
                None => DEFAULT_TIMEOUT,
            };
            let wanted = entry.name.as_ref().map(|n| n.get_ref().as_str());
            if let (Some(name), Some(n)) = (wanted, &entry.name)
                && config.receivers.iter().any(|r| r.name == name)
            {
                return Err(invalid(
                    n.span(),
                    "name",
                    format!("{name:?} names two receivers; hint: give each its own name"),
                ));
            }
            let entries = ClientEntries {
                basic_auth: entry.basic_auth,
                authorization: entry.authorization,
                tls_config: entry.tls_config,
                http_headers: entry.http_headers,
                proxy_url: entry.proxy_url,
                proxy_from_environment: entry.proxy_from_environment,
            };
            if entries.any() && matches!(target, Target::Exec(_)) {
                return Err(invalid(
                    entry.kind.span(),
                    "basic_auth",
                    "an exec receiver runs a command, so basic_auth, authorization, tls_config, http_headers and the proxy settings mean nothing to it; hint: remove them".into(),
                ));
            }
            let base = Path::new(path).parent().unwrap_or(Path::new("."));
            let client = ClientSettings::resolve(base, entries)
                .map_err(|m| invalid(entry.kind.span(), "receiver", m))?;
            let name = unique_name(&config.receivers, target.kind(), wanted);
            config.receivers.push(Receiver {
                name,
                target,
                timeout,
                client,
            });
        }
        let p = &file.policy;
        if let Some(s) = &p.min_severity {
            let word = s.get_ref().as_str();
            config.policy.min_severity = match Severity::from_word(word) {
                Some(severity) if severity > Severity::Normal => severity,
                _ => {
                    return Err(invalid(
                        s.span(),
                        "min_severity",
                        format!("{word:?} is not a severity; hint: medium, high or critical"),
                    ));
                }
            };
        }
        let ms = |value: &Option<Spanned<String>>, field: &str, slot: &mut i64| {
            if let Some(v) = value {
                let d = duration(v.get_ref())
                    .ok_or_else(|| invalid(v.span(), field, duration_hint(v.get_ref())))?;
                if d > LONGEST_POLICY_TIME {
                    return Err(invalid(
                        v.span(),
                        field,
                        format!(
                            "{:?} is longer than a year; hint: \"4h\" or \"7d\"",
                            v.get_ref()
                        ),
                    ));
                }
                *slot = d.as_millis() as i64;
            }
            Ok::<(), AlertsError>(())
        };
        ms(&p.pending, "for", &mut config.policy.pending_ms)?;
        ms(
            &p.keep_firing_for,
            "keep_firing_for",
            &mut config.policy.keep_firing_ms,
        )?;
        ms(
            &p.repeat_interval,
            "repeat_interval",
            &mut config.policy.repeat_ms,
        )?;
        if config.policy.repeat_ms == 0
            && let Some(v) = &p.repeat_interval
        {
            return Err(invalid(
                v.span(),
                "repeat_interval",
                "must be more than 0; hint: \"4h\"".into(),
            ));
        }
        if let Some(rate) = &p.rate_limit_per_hour {
            if *rate.get_ref() == 0 {
                return Err(invalid(
                    rate.span(),
                    "rate_limit_per_hour",
                    "0 would never notify; hint: remove the receivers instead, or give 1 or more"
                        .into(),
                ));
            }
            config.rate_per_hour = *rate.get_ref();
        }
        for (name, value) in &file.labels {
            let field = format!("labels.{name}");
            if !label_name(name) {
                return Err(invalid(
                    value.span(),
                    &field,
                    "not a Prometheus label name; hint: letters, digits and _, not starting with a digit".into(),
                ));
            }
            if OWN_LABELS.contains(&name.as_str()) {
                return Err(invalid(
                    value.span(),
                    &field,
                    format!("{name} is set by metrics itself; hint: choose another name"),
                ));
            }
            config.labels.insert(name.clone(), value.get_ref().clone());
        }
        Ok(config)
    }
}

/// `wanted`, or `kind-N` with the first N not taken.
fn unique_name(taken: &[Receiver], kind: &str, wanted: Option<&str>) -> String {
    if let Some(name) = wanted {
        return name.to_string();
    }
    (1..)
        .map(|n| format!("{kind}-{n}"))
        .find(|name| taken.iter().all(|r| &r.name != name))
        .unwrap_or_else(|| kind.to_string())
}

fn exec_command(text: &str) -> Result<String, String> {
    if text.trim().is_empty() {
        return Err("empty; hint: give a program to run, as \"/usr/local/bin/notify\"".into());
    }
    Ok(text.to_string())
}

fn label_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn duration_hint(text: &str) -> String {
    format!(
        "{text:?} is not a duration; hint: a number and a unit, as \"30s\", \"2m\", \"4h\" or \"1h30m\""
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unreadable_file_is_named_with_the_systems_words_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("alerts.toml");
        let error = AlertsConfig::load(&path).unwrap_err();
        let shown = format!("{:#}", anyhow::Error::new(error));
        assert!(
            shown.starts_with(&format!("{}: cannot read: ", path.display())),
            "{shown}"
        );
        assert_eq!(
            shown.matches("No such file or directory").count(),
            1,
            "{shown}"
        );
    }

    #[test]
    fn a_full_file_is_read() {
        let text = r#"
[[receiver]]
type = "alertmanager"
url = "http://127.0.0.1:9093"

[[receiver]]
type = "webhook"
name = "ops"
url = "https://hooks.example.com/T0/secret?token=x"
timeout = "5s"

[[receiver]]
type = "exec"
command = "logger -t metrics"

[policy]
min_severity = "critical"
for = "1m"
keep_firing_for = "5m"
repeat_interval = "1h"
rate_limit_per_hour = 3

[labels]
team = "ops"
instance = "web-1"
"#;
        let c = AlertsConfig::parse("alerts.toml", text).unwrap();
        let names: Vec<&str> = c.receivers.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["alertmanager-1", "ops", "exec-1"]);
        assert_eq!(c.receivers[1].timeout, Duration::from_secs(5));
        assert_eq!(c.receivers[1].target.shown(), "https://hooks.example.com");
        assert_eq!(c.policy.min_severity, Severity::Critical);
        assert_eq!(
            (
                c.policy.pending_ms,
                c.policy.keep_firing_ms,
                c.policy.repeat_ms
            ),
            (60_000, 300_000, 3_600_000)
        );
        assert_eq!(c.rate_per_hour, 3);
        assert_eq!(c.labels["instance"], "web-1");
    }

    #[test]
    fn a_bad_file_names_its_line_and_field() {
        let cases = [
            (
                "[[receiver]]\ntype = \"webhook\"\nurl = \"ftp://x\"\n",
                "alerts.toml:3: field url",
            ),
            (
                "[[receiver]]\ntype = \"pager\"\n",
                "alerts.toml:2: field type",
            ),
            ("[[receiver]]\ntype = \"exec\"\n", "field command: missing"),
            ("[policy]\n\nfor = \"soon\"\n", "alerts.toml:3: field for"),
            // Milliseconds past i64 used to wrap into a negative time.
            (
                "[policy]\nrepeat_interval = \"3000000000000h\"\n",
                "alerts.toml:2: field repeat_interval: \"3000000000000h\" is longer than a year",
            ),
            (
                "[policy]\nmin_severity = \"urgent\"\n",
                "field min_severity",
            ),
            // A receiver that may take days holds every notification behind it.
            (
                "[[receiver]]\ntype = \"webhook\"\nurl = \"http://h/x\"\ntimeout = \"100d\"\n",
                "alerts.toml:4: field timeout: \"100d\" is longer than 5m",
            ),
            ("[labels]\nseverity = \"x\"\n", "field labels.severity"),
            ("[labels]\n\"1x\" = \"x\"\n", "field labels.1x"),
            (
                "[policy]\nrate_limit_per_hour = 0\n",
                "field rate_limit_per_hour",
            ),
            (
                "[policy]\nwait = \"1s\"\n",
                "alerts.toml:2:1: unknown field `wait`",
            ),
            // Client settings mean nothing to a command, and are checked at
            // start like any other field.
            (
                "[[receiver]]\ntype = \"exec\"\ncommand = \"true\"\n[receiver.basic_auth]\nusername = \"u\"\n",
                "alerts.toml:2: field basic_auth: an exec receiver runs a command",
            ),
            (
                "[[receiver]]\ntype = \"alertmanager\"\nurl = \"https://am:9093\"\n[receiver.authorization]\ncredentials_file = \"no-such-token\"\n",
                "alerts.toml:2: field receiver: cannot read no-such-token",
            ),
            (
                "[[receiver]]\ntype = \"webhook\"\nurl = \"https://h/x\"\n[receiver.tls_config]\nsni = \"h\"\n",
                "unknown field `sni`",
            ),
            (
                "[[receiver]]\ntype = \"exec\"\ncommand = \"true\"\nproxy_from_environment = false\n",
                "an exec receiver runs a command",
            ),
            (
                "[[receiver]]\ntype = \"webhook\"\nurl = \"https://h/x\"\nproxy_url = \"http://p:3128\"\nproxy_from_environment = true\n",
                "alerts.toml:2: field receiver: proxy_url and proxy_from_environment: true cannot both be given",
            ),
        ];
        for (text, expected) in cases {
            let err = AlertsConfig::parse("alerts.toml", text)
                .unwrap_err()
                .to_string();
            assert!(err.contains(expected), "{text:?}: {err}");
            assert!(err.contains("alerts.toml"), "{err}");
        }
    }

    #[test]
    fn flags_add_receivers_to_the_file() {
        let flags = AlertFlags {
            webhooks: vec![
                "http://127.0.0.1:9/hook".into(),
                "http://127.0.0.1:9/b".into(),
            ],
            commands: vec!["cat".into()],
            min_severity: Some(Severity::Critical),
            ..AlertFlags::default()
        };
        let c = AlertsConfig::from_flags(&flags).unwrap();
        let names: Vec<&str> = c.receivers.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["webhook-1", "webhook-2", "exec-1"]);
        assert_eq!(c.policy.min_severity, Severity::Critical);
        let bad = AlertFlags {
            alertmanagers: vec!["localhost:9093".into()],
            ..AlertFlags::default()
        };
        let err = AlertsConfig::from_flags(&bad).unwrap_err().to_string();
        assert!(
            err.starts_with("--alertmanager \"localhost:9093\""),
            "{err}"
        );
    }
}
