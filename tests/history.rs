//! End-to-end: `metrics analyze --prometheus` reads history a real Prometheus holds
//! (blocks the test creates with `promtool tsdb create-blocks-from openmetrics`)
//! and gives the verdicts `analyze` gives on a CSV export of the same series.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::prometheus::{Prometheus, USER, prometheus, secured_prometheus, web_config};
use common::wobble;
use metrics::timestamp::{now_ms, to_iso};

/// Ten hours of CPU and memory at one sample a minute, ending an hour ago, with a
/// spike at the seventh hour: as OpenMetrics for promtool, and as the CSV a user
/// would export (values written as Prometheus writes them).
fn history(dir: &Path) -> (i64, i64, std::path::PathBuf) {
    let rows = 600;
    let end = (now_ms() / 60_000 - 60) * 60_000;
    let start = end - (rows - 1) * 60_000;
    let mut cpu = Vec::new();
    let mut memory = Vec::new();
    for i in 0..rows as usize {
        let spike = (420..425).contains(&i);
        let c: f64 = format!(
            "{:.2}",
            if spike {
                97.0
            } else {
                30.0 + 8.0 * wobble(i, 0)
            }
        )
        .parse()
        .unwrap();
        // One reading the exporter could not take.
        let m: f64 = if i == 100 {
            f64::NAN
        } else {
            format!("{:.2}", 45.0 + 2.0 * wobble(i, 1)).parse().unwrap()
        };
        cpu.push(c);
        memory.push(m);
    }
    let mut om = String::new();
    for (name, values) in [("cpu_percent", &cpu), ("memory_percent", &memory)] {
        om.push_str(&format!("# TYPE {name} gauge\n"));
        // A second host with the same history, so a query can span two.
        for host in ["web-1:9100", "web-2:9100"] {
            for (i, v) in values.iter().enumerate() {
                let t = (start + i as i64 * 60_000) / 1000;
                om.push_str(&format!(
                    "{name}{{instance=\"{host}\",job=\"node\"}} {v} {t}\n"
                ));
            }
        }
    }
    // The same readings as a `metrics watch` on a third host exports them, scraped.
    om.push_str("# TYPE metrics_sample_value gauge\n");
    for (name, unit, values) in [("cpu_percent", "%", &cpu), ("memory_percent", "%", &memory)] {
        for (i, v) in values.iter().enumerate() {
            let t = (start + i as i64 * 60_000) / 1000;
            om.push_str(&format!(
                "metrics_sample_value{{instance=\"web-3:5000\",job=\"metrics\",metric=\"{name}\",unit=\"{unit}\"}} {v} {t}\n"
            ));
        }
    }
    om.push_str("# EOF\n");
    serve_blocks_of(dir, &om);
    let mut csv = String::from("timestamp,cpu_percent,memory_percent\n");
    for i in 0..rows as usize {
        let t = start + i as i64 * 60_000;
        csv.push_str(&format!("{},{},{}\n", to_iso(t), cpu[i], memory[i]));
    }
    let csv_file = dir.join("export.csv");
    std::fs::write(&csv_file, csv).unwrap();
    (start, end, csv_file)
}

fn analyze(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_metrics"))
        .arg("analyze")
        .args(args)
        .output()
        .unwrap()
}

/// Writes the OpenMetrics text `om` into TSDB blocks in `dir/tsdb`, the folder
/// [`prometheus`] serves.
fn serve_blocks_of(dir: &Path, om: &str) {
    let om_file = dir.join("history.om");
    std::fs::write(&om_file, om).unwrap();
    let made = Command::new("promtool")
        .args(["tsdb", "create-blocks-from", "openmetrics"])
        .arg(&om_file)
        .arg(dir.join("tsdb"))
        .output()
        .expect("promtool (Debian package prometheus) must be installed");
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
}

/// Runs `metrics analyze ARGS`, which must succeed; what it said on standard error.
fn analyze_ok(args: &[&str]) -> String {
    let out = analyze(args);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stderr}");
    stderr
}

/// The standard error of a run that must fail as bad input or an unreachable
/// source does (exit code 2).
fn refused(out: Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    stderr
}

/// The CSV export `csv` judged with `--seed 1`, into `dir/from_csv.csv`: what
/// the same series read from Prometheus must give.
fn judged_export(dir: &Path, csv: &Path) -> std::path::PathBuf {
    let from_csv = dir.join("from_csv.csv");
    analyze_ok(&[
        "--csv-file",
        csv.to_str().unwrap(),
        "--output-file",
        from_csv.to_str().unwrap(),
        "--seed",
        "1",
        "--quiet",
    ]);
    from_csv
}

/// The arguments that read `server`'s history from `start` to `end`, then `more`.
fn over_range<'a>(server: &'a str, start: &'a str, end: &'a str, more: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["--prometheus", server, "--start", start, "--end", end];
    args.extend_from_slice(more);
    args
}

fn url(prometheus: &Prometheus) -> String {
    format!("http://{}", prometheus.address)
}

#[test]
fn history_from_prometheus_gets_the_verdicts_of_the_same_series_as_a_csv() {
    let dir = tempfile::tempdir().unwrap();
    let (start, end, csv) = history(dir.path());
    // Prometheus serves the blocks promtool wrote (its data folder is `tsdb`).
    let prometheus = prometheus(dir.path(), "global:\n  scrape_interval: 1h\n");
    let from_csv = judged_export(dir.path(), &csv);
    let from_prometheus = dir.path().join("from_prometheus.csv");
    let (start, end) = (to_iso(start), to_iso(end));
    let server = url(&prometheus);
    let stderr = analyze_ok(&over_range(
        &server,
        &start,
        &end,
        &[
            "--query",
            "{__name__=~\"cpu_percent|memory_percent\", instance=\"web-1:9100\"}",
            "--step",
            "1m",
            "--output-file",
            from_prometheus.to_str().unwrap(),
            "--seed",
            "1",
        ],
    ));
    let (a, b) = (
        std::fs::read_to_string(&from_csv).unwrap(),
        std::fs::read_to_string(&from_prometheus).unwrap(),
    );
    assert_eq!(a.lines().count(), 601);
    assert!(
        a.lines().any(|l| l.contains(",critical,")),
        "the spike is found"
    );
    assert_eq!(a, b, "the same rows, the same verdicts");
    assert!(stderr.contains("prometheus http://"), "{stderr}");

    // What `watch` exported, read back: its own columns, so the CPU rule and the
    // metrics' kinds apply as they did live.
    let exported = dir.path().join("exported.csv");
    analyze_ok(&over_range(
        &server,
        &start,
        &end,
        &[
            "--query",
            "metrics_sample_value",
            "--output-file",
            exported.to_str().unwrap(),
            "--seed",
            "1",
            "--quiet",
        ],
    ));
    let exported = std::fs::read_to_string(&exported).unwrap();
    assert!(exported.contains("(rule cpu-critical)"), "the rule fires");
    assert_eq!(exported, a, "the verdicts of the native columns");

    // At one row a second the range is 35,941 steps: four requests under
    // Prometheus' 11,000 points, merged in order without a gap or a repeat.
    let fine = dir.path().join("fine.csv");
    analyze_ok(&over_range(
        &server,
        &start,
        &end,
        &[
            "--query",
            "cpu_percent{instance=\"web-1:9100\"}",
            "--step",
            "1s",
            "--output-file",
            fine.to_str().unwrap(),
            "--quiet",
        ],
    ));
    let times: Vec<i64> = std::fs::read_to_string(&fine)
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| metrics::timestamp::parse(l.split(',').next().unwrap()).unwrap())
        .collect();
    assert_eq!(times.len(), 599 * 60 + 1);
    assert!(times.windows(2).all(|w| w[1] - w[0] == 1000));

    // A query over both hosts: each is analysed on its own baseline, into its
    // own file, with the verdicts of its own export.
    let both = dir.path().join("both.csv");
    analyze_ok(&over_range(
        &server,
        &start,
        &end,
        &[
            "--query",
            "{__name__=~\"cpu_percent|memory_percent\"}",
            "--output-file",
            both.to_str().unwrap(),
            "--seed",
            "1",
            "--quiet",
        ],
    ));
    for host in ["web-1_9100", "web-2_9100"] {
        let file = dir.path().join(format!("both.{host}.csv"));
        assert_eq!(std::fs::read_to_string(&file).unwrap(), a, "{host}");
    }
}

#[test]
fn history_behind_tls_and_a_password_is_read_with_the_client_settings_promtool_reads() {
    let dir = tempfile::tempdir().unwrap();
    let (start, end, csv) = history(dir.path());
    let web = web_config(dir.path());
    let prometheus = secured_prometheus(dir.path(), "global:\n  scrape_interval: 1h\n", &web);
    let server = format!("https://{}", prometheus.address);
    let (start, end) = (to_iso(start), to_iso(end));
    // Prometheus' own client settings: the password in a file beside them, and
    // the server's certificate as the one CA trusted.
    let password = dir.path().join("password");
    std::fs::write(&password, format!("{}\n", USER.1)).unwrap();
    let settings = dir.path().join("http.yml");
    std::fs::write(
        &settings,
        format!(
            "basic_auth:\n  username: {}\n  password_file: password\ntls_config:\n  ca_file: server.crt\n",
            USER.0
        ),
    )
    .unwrap();
    let from_csv = judged_export(dir.path(), &csv);
    let from_prometheus = dir.path().join("from_prometheus.csv");
    let query = "{__name__=~\"cpu_percent|memory_percent\", instance=\"web-1:9100\"}";
    let read = |more: &[&str]| {
        let mut args = over_range(&server, &start, &end, &["--query", query, "--seed", "1"]);
        args.extend_from_slice(more);
        analyze(&args)
    };
    let out = read(&[
        "--http-config",
        settings.to_str().unwrap(),
        "--output-file",
        from_prometheus.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(&from_prometheus).unwrap(),
        std::fs::read_to_string(&from_csv).unwrap(),
        "the same rows, the same verdicts, over TLS with a password"
    );

    // `server_name` is the name checked in the certificate instead of the host
    // reached (127.0.0.1 here): one the certificate carries passes, another fails.
    for (name, passes) in [("localhost", true), ("prom.example", false)] {
        let named = dir.path().join(format!("{name}.yml"));
        let text = std::fs::read_to_string(&settings).unwrap();
        std::fs::write(&named, format!("{text}  server_name: {name}\n")).unwrap();
        let out = read(&["--http-config", named.to_str().unwrap()]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.success(), passes, "{name}: {stderr}");
        assert!(
            passes || stderr.contains("not valid for name") && stderr.contains("server_name"),
            "{stderr}"
        );
    }

    // Without the settings the certificate is not trusted, and the fix is named.
    let stderr = refused(read(&[]));
    assert!(
        stderr.contains("certificate")
            && stderr.contains("ca_file")
            && stderr.contains("--http-config"),
        "{stderr}"
    );
    // A password changed in its file is read at the next run, and refused.
    std::fs::write(&password, "guess\n").unwrap();
    let stderr = refused(read(&["--http-config", settings.to_str().unwrap()]));
    assert!(
        stderr.contains("refused the request (HTTP 401") && stderr.contains("basic_auth"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("guess"),
        "the password is not shown: {stderr}"
    );
}

#[test]
fn prometheus_errors_are_told_in_the_words_of_the_source() {
    let dir = tempfile::tempdir().unwrap();
    history(dir.path());
    let prometheus = prometheus(dir.path(), "global:\n  scrape_interval: 1h\n");
    let url = url(&prometheus);
    let run = |query: &str, start: &str, server: &str| {
        refused(analyze(&[
            "--prometheus",
            server,
            "--query",
            query,
            "--start",
            start,
        ]))
    };
    let bad = run("rate(cpu_percent[", "now-1d", &url);
    assert!(
        bad.contains("Prometheus refused") && bad.contains("bad_data"),
        "{bad}"
    );
    let empty = run("no_such_metric", "now-1d", &url);
    assert!(empty.contains("returned no series"), "{empty}");
    let long = run("cpu_percent", "now-10000d", &url);
    assert!(long.contains("raise --step"), "{long}");
    let short = run("vector(1)", "now-10m", &url);
    assert!(
        short.contains("rows at this --step, but training needs at least 32")
            && short.contains("hint: an earlier --start or a shorter --step"),
        "{short}"
    );
    // Samples at only the last steps of the range (a Prometheus started minutes
    // ago): the range is not what is short.
    let recent = format!(
        "vector(1) and on() (vector(time()) > {})",
        now_ms() / 1000 - 200
    );
    let partial = run(&recent, "now-10m", &url);
    assert!(
        partial.contains("Prometheus holds samples at only")
            && partial.contains("of the 11 steps from --start to --end"),
        "{partial}"
    );
    let closed = format!("http://127.0.0.1:{}", common::free_port());
    let unreachable = run("cpu_percent", "now-1d", &closed);
    assert!(
        unreachable.contains("cannot reach Prometheus"),
        "{unreachable}"
    );
    // A password written in the URL is sent, never shown.
    let with_password = closed.replace("http://", "http://admin:hunter2@");
    let said = run("cpu_percent", "now-1d", &with_password);
    assert!(
        said.contains("http://admin:***@127.0.0.1:") && !said.contains("hunter2"),
        "{said}"
    );
}

#[test]
fn a_proxy_named_in_the_environment_is_left_aside_with_proxy_from_environment_false() {
    // A machine whose environment names a proxy (here one that refuses every
    // connection) and a Prometheus reached directly, as on most internal networks.
    let dir = tempfile::tempdir().unwrap();
    let (start, end, _) = history(dir.path());
    let prometheus = prometheus(dir.path(), "global:\n  scrape_interval: 1h\n");
    let (server, start, end) = (url(&prometheus), to_iso(start), to_iso(end));
    let proxy = format!("http://127.0.0.1:{}", common::free_port());
    let settings = dir.path().join("http.yml");
    std::fs::write(&settings, "proxy_from_environment: false\n").unwrap();
    let read = |more: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_metrics"))
            .arg("analyze")
            .args(over_range(
                &server,
                &start,
                &end,
                &["--query", "cpu_percent"],
            ))
            .args(more)
            .env("HTTP_PROXY", &proxy)
            .env_remove("http_proxy")
            .env_remove("NO_PROXY")
            .env_remove("no_proxy")
            .output()
            .unwrap()
    };
    let stderr = refused(read(&[]));
    assert!(
        stderr.contains("cannot reach Prometheus")
            && stderr.contains("the proxy HTTP_PROXY names")
            && stderr.contains("proxy_from_environment: false"),
        "{stderr}"
    );
    let direct = read(&["--http-config", settings.to_str().unwrap()]);
    assert!(
        direct.status.success(),
        "{}",
        String::from_utf8_lossy(&direct.stderr)
    );
}

/// `scrapes` of node_exporter on `web-1:9100`, one every `every_ms` from
/// `start` (Unix ms), as OpenMetrics: 2 CPUs idle 70 % and 50 % of the time,
/// half the memory available, 1 and 2 MiB/s of disk reads and writes, 3 and 4
/// MiB/s sent and received on eth0. Not counted: 100 MiB/s on lo, the same bytes
/// again on dm-0 (a volume on sda) and on docker0 and a veth pair.
fn node_exporter_om(start: i64, scrapes: i64, every_ms: i64) -> String {
    let mib = 1_048_576.0;
    let mut om = String::new();
    let mut family = |name: &str, kind: &str, series: &[(&str, f64)], gauge: Option<f64>| {
        om.push_str(&format!("# TYPE {name} {kind}\n"));
        let sample = if kind == "counter" {
            format!("{name}_total")
        } else {
            name.to_string()
        };
        for (labels, per_second) in series {
            for k in 0..scrapes {
                let t = (start + k * every_ms) / 1000;
                let v = gauge.unwrap_or(per_second * (every_ms / 1000) as f64 * k as f64);
                om.push_str(&format!(
                    "{sample}{{instance=\"web-1:9100\",job=\"node\"{labels}}} {v} {t}\n"
                ));
            }
        }
    };
    family(
        "node_cpu_seconds",
        "counter",
        &[
            (",cpu=\"0\",mode=\"idle\"", 0.7),
            (",cpu=\"1\",mode=\"idle\"", 0.5),
            (",cpu=\"0\",mode=\"user\"", 0.3),
        ],
        None,
    );
    family(
        "node_memory_MemAvailable_bytes",
        "gauge",
        &[("", 0.0)],
        Some(8e9),
    );
    family(
        "node_memory_MemTotal_bytes",
        "gauge",
        &[("", 0.0)],
        Some(16e9),
    );
    family(
        "node_disk_read_bytes",
        "counter",
        &[(",device=\"sda\"", mib), (",device=\"dm-0\"", mib)],
        None,
    );
    family(
        "node_disk_written_bytes",
        "counter",
        &[
            (",device=\"sda\"", 2.0 * mib),
            (",device=\"dm-0\"", 2.0 * mib),
        ],
        None,
    );
    // A container's traffic crosses its pair and the bridge as well as the card.
    family(
        "node_network_transmit_bytes",
        "counter",
        &[
            (",device=\"eth0\"", 3.0 * mib),
            (",device=\"lo\"", 100.0 * mib),
            (",device=\"docker0\"", 2.0 * mib),
            (",device=\"veth3f2a1\"", 2.0 * mib),
        ],
        None,
    );
    family(
        "node_network_receive_bytes",
        "counter",
        &[
            (",device=\"eth0\"", 4.0 * mib),
            (",device=\"docker0\"", 2.0 * mib),
            (",device=\"veth3f2a1\"", 2.0 * mib),
        ],
        None,
    );
    family("node_load1", "gauge", &[("", 0.0)], Some(1.5));
    om.push_str("# EOF\n");
    om
}

/// The seven native columns of data row `row` (0-based) of `file`, which must
/// have a reading in each.
fn native_row(file: &Path, row: usize) -> Vec<f64> {
    let text = std::fs::read_to_string(file).unwrap();
    let line = text.lines().nth(row + 1).unwrap();
    line.split(',')
        .skip(1)
        .take(7)
        .map(|v| v.parse().unwrap_or_else(|_| panic!("row {row}: {line}")))
        .collect()
}

/// What [`node_exporter_om`]'s host reads in every row.
const NODE_READINGS: [f64; 7] = [40.0, 50.0, 1.0, 2.0, 3.0, 4.0, 1.5];

/// A host's node_exporter history served by a real Prometheus from `dir`, and
/// its `--instance` analysis.
struct NodeHistory {
    /// Kept running while the test asks more of it.
    _prometheus: Prometheus,
    server: String,
    start: String,
    end: String,
    /// The analysis' rows.
    out_file: std::path::PathBuf,
    /// What the analysis said.
    stderr: String,
}

/// `scrapes` of [`node_exporter_om`] one every `every_ms`, `offset_ms` after
/// the whole step, the last an hour ago, analysed over their range with
/// `--instance web-1:9100` at the default step.
fn node_history(dir: &Path, scrapes: i64, every_ms: i64, offset_ms: i64) -> NodeHistory {
    let end = (now_ms() / 60_000 - 60) * 60_000;
    let start = end - (scrapes - 1) * every_ms;
    serve_blocks_of(dir, &node_exporter_om(start + offset_ms, scrapes, every_ms));
    let prometheus = prometheus(dir, "global:\n  scrape_interval: 1h\n");
    let out_file = dir.join("web-1.csv");
    let (server, start, end) = (url(&prometheus), to_iso(start), to_iso(end));
    let stderr = analyze_ok(&over_range(
        &server,
        &start,
        &end,
        &[
            "--instance",
            "web-1:9100",
            "--output-file",
            out_file.to_str().unwrap(),
            "--quiet",
        ],
    ));
    NodeHistory {
        _prometheus: prometheus,
        server,
        start,
        end,
        out_file,
        stderr,
    }
}

#[test]
fn the_node_exporter_form_builds_the_native_columns_of_one_instance() {
    // An hour of node_exporter at a 15 s scrape.
    let dir = tempfile::tempdir().unwrap();
    let NodeHistory {
        _prometheus,
        server,
        start,
        end,
        out_file,
        stderr,
    } = node_history(dir.path(), 240, 15_000, 0);
    assert!(!stderr.contains("is a counter"), "{stderr}");
    let text = std::fs::read_to_string(&out_file).unwrap();
    let header: Vec<&str> = text.lines().next().unwrap().split(',').collect();
    let native = [
        "cpu_percent",
        "memory_percent",
        "disk_read_mb",
        "disk_write_mb",
        "network_sent_mb",
        "network_recv_mb",
        "load_1m",
    ];
    assert_eq!(&header[1..8], native);
    let middle = native_row(&out_file, 30);
    for ((name, got), want) in native.iter().zip(&middle).zip(NODE_READINGS) {
        assert!((got - want).abs() < 1e-6, "{name}: {got}, expected {want}");
    }

    // A counter asked for as it stands is judged as asked, and named once, with
    // the rate that was likely meant; its rate is not named.
    let raw = |query: &str| {
        analyze_ok(&over_range(
            &server,
            &start,
            &end,
            &["--query", query, "--step", "15s", "--quiet"],
        ))
    };
    let stderr = raw("node_network_transmit_bytes_total");
    assert_eq!(stderr.matches("is a counter").count(), 1, "{stderr}");
    // Not again in other words by the check for columns that only rise.
    assert!(!stderr.contains("only rises ("), "{stderr}");
    assert!(
        stderr.contains(
            "node_network_transmit_bytes_total is a counter, read as it stands: it only rises"
        ) && stderr.contains("hint: --query 'rate(node_network_transmit_bytes_total[5m])'"),
        "{stderr}"
    );
    let stderr = raw("rate(node_network_transmit_bytes_total[1m])");
    assert!(!stderr.contains("is a counter"), "{stderr}");
}

#[test]
fn the_node_exporter_form_reads_a_host_scraped_once_a_minute() {
    // Prometheus' default scrape interval is a minute: a one-minute `rate()`
    // window holds one sample there, and gives nothing. Scraped 7 s into each
    // minute, as a real target's offset puts it.
    let dir = tempfile::tempdir().unwrap();
    let out_file = node_history(dir.path(), 120, 60_000, 7_000).out_file;
    // Every row once the first window is behind.
    for row in 4..119 {
        let got = native_row(&out_file, row);
        for (g, want) in got.iter().zip(NODE_READINGS) {
            assert!((g - want).abs() < 1e-6, "row {row}: {got:?}");
        }
    }
}
