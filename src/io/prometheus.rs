//! History Prometheus holds, as metrics CSVs (one per instance): `query_range`
//! requests split so no series exceeds Prometheus' 11,000 points a request, their
//! string values (`NaN`, `+Inf`) and missing steps turned into cells, one column
//! per series named from its labels. Each CSV then goes through the same reader as
//! a file, so it is analysed exactly as a CSV with the same columns would be.

use std::collections::BTreeMap;
use std::time::Duration;

use reqwest::Url;
use serde::Deserialize;

use crate::http::client::ClientSettings;
use crate::http::{api_url, body_start, credentials_wanted, error_chain, http_url, shown_url};
use crate::schema::SAMPLE_VALUE_SERIES;
use crate::timestamp::{median_step_ms, to_iso};

/// Points per series per request: under Prometheus' limit of 11,000.
pub const POINTS_PER_REQUEST: i64 = 10_000;

/// Steps per series one analysis takes at most (about 3 years at 1 min; a week
/// at 1 s would be 0.6 M).
pub const MAX_STEPS: i64 = 2_000_000;

/// How long one request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// Why the history could not be read, in the words of the source.
#[derive(Debug, thiserror::Error)]
pub enum PrometheusError {
    /// `--prometheus` is not a usable URL.
    #[error(
        "--prometheus {0:?} is not an http:// or https:// URL; hint: give the server's base URL, as http://127.0.0.1:9090"
    )]
    Url(String),
    /// The server could not be reached.
    #[error("cannot reach Prometheus at {url}: {message}; hint: {hint}")]
    Unreachable {
        /// The server.
        url: String,
        /// What the connection said.
        message: String,
        /// What to check: the URL, the proxy the environment names, or for a
        /// certificate, the CA to trust or the name to check.
        hint: String,
    },
    /// The server wants credentials, or refused the ones given.
    #[error(
        "Prometheus at {url} refused the request (HTTP {status}: {body}); hint: give its user and password (basic_auth) or token (authorization) in a file named by --http-config"
    )]
    Unauthorized {
        /// The server.
        url: String,
        /// 401 or 403.
        status: u16,
        /// The start of what it said.
        body: String,
    },
    /// The client settings cannot be used to make a request.
    #[error("--http-config: {0}")]
    Client(String),
    /// The server answered something that is not Prometheus' API.
    #[error(
        "{url} answered HTTP {status}, not Prometheus' API: {body}; hint: give the server's base URL, without /api/v1"
    )]
    NotPrometheus {
        /// The server.
        url: String,
        /// The HTTP status.
        status: u16,
        /// The start of what it said.
        body: String,
    },
    /// Prometheus refused the query, in its own words.
    #[error(
        "Prometheus refused {query:?}: {kind}: {message}; hint: check the query in Prometheus' own page first"
    )]
    Query {
        /// The query.
        query: String,
        /// Its `errorType`.
        kind: String,
        /// Its `error`.
        message: String,
    },
    /// The query matched nothing in the range.
    #[error(
        "{query:?} returned no series from {start} to {end}; hint: check the metric names and labels, and that Prometheus holds data for that range (its retention is 15 days by default)"
    )]
    Empty {
        /// The query.
        query: String,
        /// The range's start, ISO 8601.
        start: String,
        /// The range's end, ISO 8601.
        end: String,
    },
    /// The range has more steps than one analysis takes.
    #[error(
        "--start to --end at --step {step_s} s is {steps} steps, more than {MAX_STEPS}; hint: raise --step or shorten the range"
    )]
    TooLong {
        /// Steps asked for.
        steps: i64,
        /// The step in seconds.
        step_s: f64,
    },
    /// `--start` is not before `--end`, or the step is zero.
    #[error("{0}")]
    Range(String),
    /// Two series would get the same column name.
    #[error(
        "two series of {query:?} would both be the column {column:?}; hint: narrow the query, or aggregate the labels that tell them apart"
    )]
    Collision {
        /// The query.
        query: String,
        /// The column.
        column: String,
    },
}

/// What to read: queries over one range.
#[derive(Debug, Clone)]
pub struct RangeQuery {
    /// The server's base URL.
    pub url: String,
    /// The queries, each with the column name its one series gets (`None`: one
    /// column per series, named from its labels).
    pub queries: Vec<(Option<String>, String)>,
    /// First step (Unix ms).
    pub start_ms: i64,
    /// Last step at most (Unix ms).
    pub end_ms: i64,
    /// Between steps (ms).
    pub step_ms: i64,
    /// Credentials and the CAs trusted.
    pub client: ClientSettings,
}

/// The scrape interval assumed when the samples do not tell it: the usual 15 s.
const USUAL_SCRAPE_MS: i64 = 15_000;

/// The `rate()` window of the node_exporter columns at `step_ms` for an
/// instance scraped every `scrape_ms` (`None`: not known, taken as the usual 15
/// s): four scrapes at least, as Grafana's `$__rate_interval`, so a window holds
/// two samples even with a scrape missed (at one scrape a minute, Prometheus'
/// default, a one-minute window holds one and `rate()` gives nothing); and the
/// step at least, so no increase between two rows is left out. A shorter window
/// keeps a burst sharp: at 5 s scrapes and `--step 5s`, 20 s, where a minute
/// spread ten seconds of writes over twelve rows.
pub fn rate_window_ms(step_ms: i64, scrape_ms: Option<i64>) -> i64 {
    step_ms.max(4 * scrape_ms.unwrap_or(USUAL_SCRAPE_MS))
}

/// The gauge whose samples tell how often an instance is scraped.
pub fn scrape_probe(instance: &str) -> String {
    format!("node_load1{{instance=\"{}\"}}", selector_value(instance))
}

/// `value` quoted safely inside a PromQL label matcher's double quotes.
fn selector_value(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"")
}

/// The disks the disk columns sum, as the live collector's: node_exporter already
/// leaves out partitions, loop and ram devices, and these are the volumes stacked
/// on disks (device-mapper, md), whose bytes their disks count.
const DISKS: &str = ", device!~\"dm-.*|md.*\"";

/// The interfaces the network columns sum, as near the live collector's physical
/// ones as names allow (node_exporter does not say which are virtual): not
/// loopback, and not the bridges, container and VM pairs and tunnels whose
/// traffic a physical card also carries.
const INTERFACES: &str = ", device!~\"lo|veth.*|docker.*|br-.*|virbr.*|vnet.*|cni.*|flannel.*|cali.*|cilium.*|vxlan.*|lxc.*|lxd.*|tun.*|tap.*|wg.*|tailscale.*|zt.*\"";

/// The native columns from node_exporter's metrics of one `instance`, as
/// `(column, query)`: CPU %, memory %, disk and network MB/s (MiB, over the
/// devices the live collector counts: `DISKS`, `INTERFACES`) and the 1-minute
/// load. Rates are taken over `window_ms` (see [`rate_window_ms`]). Every query
/// aggregates, so its one series has no `instance` and all are one host's columns.
pub fn node_exporter_queries(instance: &str, window_ms: i64) -> Vec<(Option<String>, String)> {
    let i = selector_value(instance);
    let w = if window_ms % 1000 == 0 {
        format!("{}s", window_ms / 1000)
    } else {
        format!("{window_ms}ms")
    };
    let per_second_mb = |metric: &str, extra: &str| {
        format!("sum(rate({metric}{{instance=\"{i}\"{extra}}}[{w}])) / 1048576")
    };
    [
        (
            "cpu_percent",
            format!("100 * (1 - avg(rate(node_cpu_seconds_total{{instance=\"{i}\", mode=\"idle\"}}[{w}])))"),
        ),
        (
            "memory_percent",
            format!("100 * (1 - sum(node_memory_MemAvailable_bytes{{instance=\"{i}\"}}) / sum(node_memory_MemTotal_bytes{{instance=\"{i}\"}}))"),
        ),
        ("disk_read_mb", per_second_mb("node_disk_read_bytes_total", DISKS)),
        ("disk_write_mb", per_second_mb("node_disk_written_bytes_total", DISKS)),
        (
            "network_sent_mb",
            per_second_mb("node_network_transmit_bytes_total", INTERFACES),
        ),
        (
            "network_recv_mb",
            per_second_mb("node_network_receive_bytes_total", INTERFACES),
        ),
        ("load_1m", format!("max(node_load1{{instance=\"{i}\"}})")),
    ]
    .into_iter()
    .map(|(column, query)| (Some(column.to_string()), query))
    .collect()
}

/// A series' labels, sorted by name.
type Labels = Vec<(String, String)>;

/// The history of one host, as a metrics CSV.
#[derive(Debug, Clone, PartialEq)]
pub struct History {
    /// Its `instance` label (`None` for series without one, such as aggregates).
    pub instance: Option<String>,
    /// The CSV.
    pub csv: String,
    /// The names of the counters among its columns, read raw (see
    /// `counter_name`), each once.
    pub counters: Vec<String>,
    /// The columns those counters' series became, which the check for columns
    /// that only rise need not name again.
    pub counter_columns: Vec<String>,
}

impl History {
    /// What to tell the user of each counter read raw: it only rises (and falls to
    /// 0 at a restart), so its level is how long the process has run, judged as a
    /// drift, and `rate()` is what was meant.
    pub fn counter_warnings(&self) -> Vec<String> {
        self.counters
            .iter()
            .map(|name| {
                format!(
                    "{name} is a counter, read as it stands: it only rises, so its level tells how long the process has run, not how it is doing; hint: --query 'rate({name}[5m])'"
                )
            })
            .collect()
    }
}

/// A series' metric name when it is a counter's by Prometheus' naming rules
/// (`_total`; a summary's or histogram's `_count`, `_sum` and `_bucket`).
fn counter_name(labels: &[(String, String)]) -> Option<&str> {
    labels
        .iter()
        .find(|(k, _)| k == "__name__")
        .map(|(_, v)| v.as_str())
        .filter(|v| {
            ["_total", "_count", "_sum", "_bucket"]
                .iter()
                .any(|end| v.ends_with(end))
        })
}

/// One host's columns as they are read, and each step's cells by column.
#[derive(Debug, Default)]
struct Host {
    columns: Vec<String>,
    counters: Vec<String>,
    counter_columns: Vec<String>,
    cells: BTreeMap<i64, BTreeMap<usize, String>>,
}

impl Host {
    fn csv(self) -> Result<String, PrometheusError> {
        let broken = |e: String| PrometheusError::Range(format!("cannot build the CSV: {e}"));
        let mut writer = csv::WriterBuilder::new()
            .terminator(csv::Terminator::Any(b'\n'))
            .from_writer(Vec::new());
        let header = std::iter::once("timestamp".to_string()).chain(self.columns.iter().cloned());
        writer
            .write_record(header)
            .map_err(|e| broken(e.to_string()))?;
        for (t, row) in self.cells {
            let line = std::iter::once(to_iso(t))
                .chain((0..self.columns.len()).map(|c| row.get(&c).cloned().unwrap_or_default()));
            writer
                .write_record(line)
                .map_err(|e| broken(e.to_string()))?;
        }
        let bytes = writer.into_inner().map_err(|e| broken(e.to_string()))?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }
}

#[derive(Debug, Deserialize)]
struct Answer {
    status: String,
    #[serde(default)]
    data: Option<Data>,
    #[serde(rename = "errorType", default)]
    error_type: Option<String>,
    #[serde(default)]
    error: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Data {
    #[serde(default)]
    result: Vec<Series>,
}

#[derive(Debug, Deserialize)]
struct Series {
    metric: BTreeMap<String, String>,
    #[serde(default)]
    values: Vec<(f64, String)>,
}

impl RangeQuery {
    /// Reads every query over the range and returns one CSV per instance (each
    /// host has its own baseline, so each is analysed on its own), in the order of
    /// their names: a `timestamp` column (ISO 8601) and one column per series, a
    /// row per step where any series has a value, empty cells where one has none.
    pub async fn fetch(&self) -> Result<Vec<History>, PrometheusError> {
        let base = http_url(&self.url).map_err(|_| PrometheusError::Url(shown_url(&self.url)))?;
        if self.step_ms <= 0 {
            return Err(PrometheusError::Range(
                "--step must be more than 0; hint: 1m".into(),
            ));
        }
        if self.start_ms >= self.end_ms {
            return Err(PrometheusError::Range(format!(
                "--start {} is not before --end {}; hint: give an earlier --start",
                to_iso(self.start_ms),
                to_iso(self.end_ms)
            )));
        }
        if self.step_ms > self.end_ms - self.start_ms {
            return Err(PrometheusError::Range(format!(
                "--step {} s is longer than --start to --end ({} s), which would give one row; hint: a shorter --step",
                self.step_ms as f64 / 1000.0,
                (self.end_ms - self.start_ms) as f64 / 1000.0
            )));
        }
        let steps = self.steps();
        if steps > MAX_STEPS {
            return Err(PrometheusError::TooLong {
                steps,
                step_s: self.step_ms as f64 / 1000.0,
            });
        }
        let endpoint = api_url(&base, "api/v1/query_range")
            .ok_or_else(|| PrometheusError::Url(shown_url(&self.url)))?;
        let client = self.http_client()?;
        // Per instance (none for series without one): its columns, and each step's
        // cells by column.
        let mut hosts: BTreeMap<Option<String>, Host> = BTreeMap::new();
        for (name, query) in &self.queries {
            let mut series: BTreeMap<Labels, Vec<(f64, String)>> = BTreeMap::new();
            let mut from = self.start_ms;
            while from <= self.end_ms {
                let to = (from + (POINTS_PER_REQUEST - 1) * self.step_ms).min(self.end_ms);
                for s in self.request(&client, &endpoint, query, from, to).await? {
                    series
                        .entry(s.metric.into_iter().collect())
                        .or_default()
                        .extend(s.values);
                }
                from = to + self.step_ms;
            }
            if series.is_empty() {
                return Err(PrometheusError::Empty {
                    query: query.clone(),
                    start: to_iso(self.start_ms),
                    end: to_iso(self.end_ms),
                });
            }
            let single = series.len() == 1;
            for (labels, values) in series {
                let instance = labels
                    .iter()
                    .find(|(k, _)| k == "instance")
                    .map(|(_, v)| v.clone());
                let column = match name {
                    Some(n) if single => n.clone(),
                    _ => column_name(&labels, name.as_deref()),
                };
                let host = hosts.entry(instance).or_default();
                if host.columns.contains(&column) {
                    return Err(PrometheusError::Collision {
                        query: query.clone(),
                        column,
                    });
                }
                if let Some(counter) = counter_name(&labels) {
                    if !host.counters.iter().any(|c| c == counter) {
                        host.counters.push(counter.to_string());
                    }
                    host.counter_columns.push(column.clone());
                }
                host.columns.push(column);
                let at = host.columns.len() - 1;
                for (t, v) in values {
                    host.cells
                        .entry((t * 1000.0).round() as i64)
                        .or_default()
                        .insert(at, cell(&v));
                }
            }
        }
        hosts
            .into_iter()
            .map(|(instance, mut host)| {
                let counters = std::mem::take(&mut host.counters);
                let counter_columns = std::mem::take(&mut host.counter_columns);
                Ok(History {
                    instance,
                    csv: host.csv()?,
                    counters,
                    counter_columns,
                })
            })
            .collect()
    }

    /// How often Prometheus holds a sample of `selector` (one gauge's series),
    /// from the median gap between its raw samples in the 15 minutes before the
    /// range's end, to the whole second: the scrape interval. `None` when it
    /// holds fewer than two there or cannot be asked (the range queries then
    /// tell why).
    pub async fn sample_spacing_ms(&self, selector: &str) -> Option<i64> {
        let base = http_url(&self.url).ok()?;
        let endpoint = api_url(&base, "api/v1/query")?;
        let client = self.http_client().ok()?;
        let query = format!("{selector}[15m]");
        let form = [("query", query.clone()), ("time", seconds(self.end_ms))];
        let series = self.ask(&client, &endpoint, &query, &form).await.ok()?;
        let times: Vec<i64> = (series.first()?.values.iter())
            .map(|v| (v.0 * 1000.0).round() as i64)
            .collect();
        let gap = median_step_ms(&times)?;
        Some(((gap + 500) / 1000).max(1) * 1000)
    }

    /// The steps from the range's start to its end.
    pub fn steps(&self) -> i64 {
        (self.end_ms - self.start_ms) / self.step_ms.max(1) + 1
    }

    /// The client every request goes through: the settings' credentials and CAs,
    /// and the request timeout.
    fn http_client(&self) -> Result<reqwest::Client, PrometheusError> {
        (self.client)
            .client(reqwest::Client::builder().timeout(REQUEST_TIMEOUT))
            .map_err(PrometheusError::Client)
    }

    /// One `query_range` request from `from` to `to` (Unix ms).
    async fn request(
        &self,
        client: &reqwest::Client,
        endpoint: &Url,
        query: &str,
        from: i64,
        to: i64,
    ) -> Result<Vec<Series>, PrometheusError> {
        let form = [
            ("query", query.to_string()),
            ("start", seconds(from)),
            ("end", seconds(to)),
            ("step", seconds(self.step_ms)),
        ];
        self.ask(client, endpoint, query, &form).await
    }

    /// Posts `form` (about `query`) to `endpoint`: the series of its result, or
    /// why not in the words of the source.
    async fn ask(
        &self,
        client: &reqwest::Client,
        endpoint: &Url,
        query: &str,
        form: &[(&str, String)],
    ) -> Result<Vec<Series>, PrometheusError> {
        let request = client.post(endpoint.clone()).form(form);
        let unreachable = |e: reqwest::Error| {
            let message = error_chain(&e);
            let hint = match self.client.connection_fix(&message) {
                Some(fix) => format!("{fix}, in a file named by --http-config"),
                None => {
                    "check --prometheus (the server's base URL, as http://127.0.0.1:9090) and that it is running".into()
                }
            };
            PrometheusError::Unreachable {
                url: shown_url(&self.url),
                message,
                hint,
            }
        };
        let response = self
            .client
            .apply(request)
            .map_err(PrometheusError::Client)?
            .send()
            .await
            .map_err(unreachable)?;
        let status = response.status().as_u16();
        let text = response.text().await.map_err(unreachable)?;
        if credentials_wanted(status) {
            return Err(PrometheusError::Unauthorized {
                url: shown_url(&self.url),
                status,
                body: body_start(&text),
            });
        }
        let answer: Answer =
            serde_json::from_str(&text).map_err(|_| PrometheusError::NotPrometheus {
                url: shown_url(&self.url),
                status,
                body: body_start(&text),
            })?;
        if answer.status != "success" {
            return Err(PrometheusError::Query {
                query: query.to_string(),
                kind: answer.error_type.unwrap_or_default(),
                message: answer.error.unwrap_or_default(),
            });
        }
        Ok(answer.data.map(|d| d.result).unwrap_or_default())
    }
}

/// Unix ms as the seconds Prometheus' API takes.
fn seconds(ms: i64) -> String {
    format!("{:.3}", ms as f64 / 1000.0)
}

/// A column name from a series' labels: its metric name, then the labels that
/// tell it from others (`instance` and `job` left out: one host is analysed at a
/// time), as Prometheus writes a selector; `fallback` or `value` without a name.
/// A sample `watch` exported ([`SAMPLE_VALUE_SERIES`]) is the column its `metric`
/// label names, so its rules and kinds apply again.
fn column_name(labels: &[(String, String)], fallback: Option<&str>) -> String {
    let label = |name: &str| {
        labels
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let name = label("__name__").or(fallback).unwrap_or("value");
    if name == SAMPLE_VALUE_SERIES
        && let Some(metric) = label("metric")
    {
        return metric.to_string();
    }
    let rest: Vec<String> = labels
        .iter()
        .filter(|(k, _)| !matches!(k.as_str(), "__name__" | "instance" | "job"))
        .map(|(k, v)| format!("{k}=\"{v}\""))
        .collect();
    if rest.is_empty() {
        name.to_string()
    } else {
        format!("{name}{{{}}}", rest.join(","))
    }
}

/// A value as a CSV cell: Prometheus' numbers as they are, `NaN` and infinities
/// as the CSV reader takes them.
fn cell(value: &str) -> String {
    match value {
        "+Inf" => "inf".into(),
        "-Inf" => "-inf".into(),
        v => v.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn columns_are_named_from_labels_without_instance_and_job() {
        let l = labels(&[
            ("__name__", "node_load1"),
            ("instance", "a:9100"),
            ("job", "node"),
        ]);
        assert_eq!(column_name(&l, None), "node_load1");
        let l = labels(&[
            ("__name__", "node_cpu_seconds_total"),
            ("cpu", "0"),
            ("mode", "idle"),
        ]);
        assert_eq!(
            column_name(&l, None),
            "node_cpu_seconds_total{cpu=\"0\",mode=\"idle\"}"
        );
        assert_eq!(column_name(&labels(&[("instance", "a")]), None), "value");
        // What `watch` exported is read back as its own columns.
        let l = labels(&[
            ("__name__", "metrics_sample_value"),
            ("instance", "web-1:5000"),
            ("metric", "cpu_percent"),
            ("unit", "%"),
        ]);
        assert_eq!(column_name(&l, None), "cpu_percent");
    }

    #[test]
    fn the_instance_of_the_convenience_form_is_quoted_safely() {
        let queries = node_exporter_queries("web\"1", 60_000);
        assert_eq!(queries.len(), 7);
        assert!(
            queries[0].1.contains("instance=\"web\\\"1\""),
            "{}",
            queries[0].1
        );
        assert!(queries[2].1.contains("[60s]"));
    }

    #[test]
    fn a_rate_window_spans_four_scrapes_and_a_step() {
        // Not known: four of the usual 15 s, as before.
        assert_eq!(rate_window_ms(60_000, None), 60_000);
        assert_eq!(rate_window_ms(5_000, None), 60_000);
        // Prometheus' default of one scrape a minute: a minute held one sample.
        assert_eq!(rate_window_ms(60_000, Some(60_000)), 240_000);
        // Fine scrapes and steps keep a burst sharp.
        assert_eq!(rate_window_ms(5_000, Some(5_000)), 20_000);
        assert_eq!(rate_window_ms(3_600_000, Some(15_000)), 3_600_000);
        let fine = node_exporter_queries("web-1", 1_500);
        assert!(fine[2].1.contains("[1500ms]"), "{}", fine[2].1);
    }

    #[tokio::test]
    async fn a_bad_range_is_refused_before_any_request() {
        let q = RangeQuery {
            url: "http://127.0.0.1:1".into(),
            queries: vec![(None, "up".into())],
            start_ms: 0,
            end_ms: 10 * MAX_STEPS * 1000,
            step_ms: 1000,
            client: ClientSettings::default(),
        };
        let err = q.fetch().await.unwrap_err().to_string();
        assert!(err.contains("raise --step"), "{err}");
        let long = RangeQuery {
            end_ms: 3_600_000,
            step_ms: i64::MAX,
            ..q.clone()
        };
        let err = long.fetch().await.unwrap_err().to_string();
        assert!(
            err.contains("is longer than --start to --end (3600 s)"),
            "{err}"
        );
        let q = RangeQuery { end_ms: -1, ..q };
        assert!(
            q.fetch()
                .await
                .unwrap_err()
                .to_string()
                .contains("not before --end")
        );
        let q = RangeQuery {
            url: "localhost:9090".into(),
            ..q
        };
        assert!(
            q.fetch()
                .await
                .unwrap_err()
                .to_string()
                .contains("--prometheus")
        );
    }
}
