//! `metrics watch`: sample this machine (or replay a CSV), judge every sample live,
//! log it and serve the dashboard. The command only reads its flags, builds the
//! pieces from the library (a source, a pipeline, the logs, the hub and the
//! router), starts the session and the server, and waits for Ctrl-C or SIGTERM.

use std::collections::HashMap;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Args;
use serde_json::json;

use super::detector_flags::DetectorFlags;
use super::paths::{check_not_appended, check_output, claim_log_dir};
use metrics::alerts::delivery::test_all;
use metrics::alerts::{AlertFlags, Alerts, AlertsConfig, Dispatcher, Message, Origin};
use metrics::detector::{Change, MIN_TRAIN_ROWS, SUB_MINUTE_MS, Severity, season};
use metrics::monitor::SampleLayout;
use metrics::monitor::collector::Collector;
use metrics::monitor::logs::{HISTORY_FILE, INCIDENTS_FILE, Logs, rotated};
use metrics::monitor::past_incidents::past_incidents;
use metrics::monitor::pipeline::{LEAVE_OUT_S, Pipeline, PipelineConfig};
use metrics::monitor::record::{Record, history_header, incident_line};
use metrics::monitor::replay::{Replay, Speed};
use metrics::monitor::resume::recent_past;
use metrics::monitor::session::{self, SampleSource, SessionConfig};
use metrics::monitor::text_log::{FILE_ONLY, init_text_log};
use metrics::server::guard::Guard;
use metrics::server::hub::{HISTORY_KEEP, Hub, INCIDENTS_KEEP};
use metrics::server::tls::TlsListener;
use metrics::server::web_config::WebConfig;
use metrics::server::{Access, AlertsView, AppState, UPLOADS_AT_ONCE, router};
use metrics::timestamp::now_ms;

/// Arguments of `metrics watch`.
#[derive(Debug, Args)]
pub struct WatchArgs {
    /// Seconds of samples collected before the first training [default: 120, or 32
    /// samples at intervals over 3.75 s].
    #[arg(long, value_name = "SECONDS")]
    pub window_size: Option<f64>,
    /// Seconds of the most recent samples each retraining learns from (at least
    /// --window-size): long enough to hold a host's ordinary swings, so a model is
    /// not surprised by the next quarter hour [default: 3600; 604800 (a week) at
    /// intervals of 60 s or more; --window-size when longer].
    #[arg(long, value_name = "SECONDS")]
    pub train_window: Option<f64>,
    /// Seconds between samples (0.2 to 86400) [default: 1; with --replay, the file's
    /// median spacing].
    #[arg(long, value_name = "SECONDS")]
    pub interval: Option<f64>,
    /// Seconds between retrainings on the rolling window; 0 never retrains
    /// [default: 300, or one interval when longer].
    #[arg(long, value_name = "SECONDS")]
    pub retrain_every: Option<f64>,
    /// Address to serve on; the default keeps the dashboard on this machine. Any
    /// other address should come with --web-config.
    #[arg(long, default_value = "127.0.0.1", value_parser = listen_host)]
    pub host: String,
    /// Port to serve on; 0 lets the system choose (the address is printed).
    #[arg(long, default_value_t = 5000)]
    pub port: u16,
    /// TLS certificate and key, and users with bcrypt password hashes, in the
    /// Prometheus exporters' web-config.yml format (tls_server_config,
    /// basic_auth_users); followed while running: a renewed certificate serves
    /// from the next connection, changed users from the next request.
    #[arg(long, value_name = "FILE")]
    pub web_config: Option<PathBuf>,
    /// A DNS name this server is reached by, besides its addresses, localhost and
    /// the machine's host name (requests naming another Host are refused); repeatable.
    #[arg(long = "allowed-host", value_name = "NAME")]
    pub allowed_hosts: Vec<String>,
    /// An origin (scheme://host[:port]) whose pages may use the dashboard's
    /// WebSocket and upload, besides the dashboard itself; repeatable.
    #[arg(long = "allowed-origin", value_name = "ORIGIN")]
    pub allowed_origins: Vec<String>,
    /// Folder for the text log, metrics_history.csv, anomalies.jsonl and incidents.jsonl.
    #[arg(long, default_value = "logs", value_name = "DIR")]
    pub log_dir: PathBuf,
    /// Megabytes at which metrics_history.csv, anomalies.jsonl and incidents.jsonl
    /// are each renamed with .1 before the extension (replacing the one before) and
    /// begun anew, so a session left running keeps at most two of each (256 MB:
    /// about 25 days of history at one sample a second); 0 never rotates. The
    /// daily text logs keep the last 30 days.
    #[arg(long, value_name = "MB", default_value_t = 256, value_parser = clap::value_parser!(u64).range(0..=1 << 20))]
    pub log_max_mb: u64,
    /// Replay a metrics CSV (any file `analyze` reads) instead of sampling this machine.
    #[arg(long, value_name = "FILE")]
    pub replay: Option<PathBuf>,
    /// Learn a fresh baseline even when --log-dir holds this source's history from
    /// the last --train-window (by default a restarted session takes those samples
    /// up, judges its first sample with a model of them, and charts them with the
    /// folder's recent incidents); incidents are numbered on from the folder's last
    /// either way.
    #[arg(long)]
    pub fresh: bool,
    /// Replay speed: a factor on the file's timestamps (10 = ten times faster) or `max`.
    #[arg(long, default_value = "1", requires = "replay", value_name = "X|max")]
    pub speed: Speed,
    /// The detector's settings, a saved model and the rules.
    #[command(flatten)]
    pub detector: DetectorFlags,
    /// Who is told of incidents.
    #[command(flatten)]
    pub alerts: AlertArgs,
}

/// Flags of the alert receivers and policy.
#[derive(Debug, Args)]
pub struct AlertArgs {
    /// Push alerts to this Alertmanager (its base URL, as http://127.0.0.1:9093),
    /// as Prometheus does; repeatable.
    #[arg(long = "alertmanager", value_name = "URL")]
    pub alertmanagers: Vec<String>,
    /// POST alerts to this URL in Alertmanager's webhook format (version 4), so any
    /// receiver written for Alertmanager works; repeatable.
    #[arg(long = "alert-webhook", value_name = "URL")]
    pub webhooks: Vec<String>,
    /// Run this command (with sh -c) for each notification: the webhook body on
    /// standard input, the main fields in METRICS_ALERT_* variables, killed after
    /// 10 s; repeatable.
    #[arg(long = "alert-exec", value_name = "CMD")]
    pub commands: Vec<String>,
    /// TOML file of receivers, the policy (min_severity, for, keep_firing_for,
    /// repeat_interval, rate_limit_per_hour) and labels added to every alert.
    #[arg(long = "alerts", value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// Least incident severity that alerts [default: high, or the file's].
    #[arg(long = "alert-severity", value_name = "SEVERITY")]
    pub min_severity: Option<AlertSeverity>,
    /// Send one test alert to every receiver, print each result and exit: non-zero
    /// when any failed.
    #[arg(long)]
    pub alert_test: bool,
}

/// The severities an alert may start at.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum AlertSeverity {
    /// Medium, high and critical incidents.
    Medium,
    /// High and critical incidents.
    High,
    /// Critical incidents only.
    Critical,
}

impl AlertArgs {
    /// The checked alert settings.
    fn config(&self) -> Result<AlertsConfig> {
        Ok(AlertsConfig::from_flags(&AlertFlags {
            file: self.file.clone(),
            alertmanagers: self.alertmanagers.clone(),
            webhooks: self.webhooks.clone(),
            commands: self.commands.clone(),
            min_severity: self.min_severity.map(|s| match s {
                AlertSeverity::Medium => Severity::Medium,
                AlertSeverity::High => Severity::High,
                AlertSeverity::Critical => Severity::Critical,
            }),
        })?)
    }
}

/// How long a stopping session waits for the collector and the clients.
const STOP_GRACE: Duration = Duration::from_millis(1200);

/// How long a stopping session waits for notifications still on their way
/// (the alert it resolves among them): one request's timeout, so a receiver
/// that is down delays a stop by seconds, not by every retry.
const ALERTS_GRACE: Duration = Duration::from_secs(10);

/// Runs the command until Ctrl-C or SIGTERM.
pub fn run(args: WatchArgs) -> Result<ExitCode> {
    super::heap::one_heap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let result = runtime.block_on(serve(args));
    runtime.shutdown_timeout(Duration::from_millis(200));
    result
}

async fn serve(args: WatchArgs) -> Result<ExitCode> {
    // Every setting is checked before anything is made or logged.
    let alerts = args.alerts.config()?;
    let web = match &args.web_config {
        Some(path) => WebConfig::load(path)?,
        None => WebConfig::default(),
    };
    let scheme = if web.tls.is_some() { "https" } else { "http" };
    if args.alerts.alert_test {
        return test_alerts(&alerts, &args, scheme).await;
    }
    let access = Access {
        guard: Arc::new(Guard::new(
            &args.host,
            &args.allowed_hosts,
            &args.allowed_origins,
            web.tls.is_some(),
        )?),
        users: web.users.map(Arc::new),
    };
    // Held until the session ends: no other session writes this folder meanwhile.
    let _claim = claim_log_dir(&args.log_dir)?;
    let _log_guard = init_text_log(&args.log_dir);
    if let Some(path) = &args.detector.save_model {
        check_output(path, "--save-model", &[])?;
    }
    let rules = args.detector.rules()?;
    let saved = args.detector.saved_model()?;
    let detector = args.detector.params()?;

    let (source, interval) = open_source(&args)?;
    let layout = source.layout();
    for idle in rules.idle(&layout.names, &layout.text_names) {
        tracing::warn!("--rules: {idle}");
    }
    let spans = Spans::of(&args, interval);
    let baseline = samples_in(spans.window_size, interval, "--window-size")?;
    if baseline < MIN_TRAIN_ROWS {
        bail!(
            "--window-size {} s at an interval of {interval} s gives {baseline} samples, but training needs at least {MIN_TRAIN_ROWS}; hint: raise --window-size to {} or more",
            spans.window_size,
            (MIN_TRAIN_ROWS as f64 * interval).ceil()
        );
    }
    let retrain_every = samples_in(spans.retrain_every, interval, "--retrain-every")?;
    let window = samples_in(spans.train_window, interval, "--train-window")?;
    if window < baseline {
        bail!(
            "--train-window {} s is shorter than --window-size {} s; hint: give --train-window at least {} s",
            spans.train_window,
            spans.window_size,
            spans.window_size
        );
    }
    if let Some(zone) = &args.detector.timezone
        && spans.train_window < season::MIN_DAYS * 86_400.0
    {
        tracing::warn!(
            "--timezone {} changes nothing with --train-window {} s: a time-of-day profile is learned only from two days of samples or more; hint: give --train-window 172800 or more",
            zone.name(),
            spans.train_window
        );
    }
    let config = PipelineConfig {
        detector: detector.clone(),
        baseline,
        window,
        retrain_every,
        leave_out: samples_in(LEAVE_OUT_S, interval, "--interval")?,
        rules: rules.clone(),
    };
    let mut pipeline = match saved {
        Some(model) => Pipeline::with_model(config, layout.clone(), model).context("--model")?,
        None => Pipeline::new(config, layout.clone()),
    };
    let recalled = if args.fresh {
        Vec::new()
    } else {
        resume(&mut pipeline, &args, &source, &layout, window, interval)?
    };

    let listener = bind(&args.host, args.port).await?;
    let address = listener
        .local_addr()
        .context("cannot read the bound address")?;
    if !address.ip().is_loopback() {
        let passwords = access.users.as_ref().is_some_and(|u| u.ask_passwords());
        let missing = match (web.tls.is_some(), passwords) {
            (false, false) => Some("no TLS and no password"),
            (false, true) => Some("no TLS (passwords travel in clear)"),
            (true, false) => Some("no password"),
            (true, true) => None,
        };
        if let Some(missing) = missing {
            let warning = format!(
                "serving on {} with {missing}: anyone who can reach it sees this machine's metrics and top processes and can upload files; hint: give --web-config with tls_server_config and basic_auth_users",
                url_host(address)
            );
            eprintln!("warning: {warning}");
            tracing::warn!(target: FILE_ONLY, "{warning}");
        }
    }
    let dispatcher = if alerts.receivers.is_empty() {
        None
    } else {
        Some(Arc::new(
            Dispatcher::start(&alerts).map_err(anyhow::Error::msg)?,
        ))
    };
    let hub = Arc::new(Hub::new(session_config(
        &args, &spans, &layout, interval, baseline,
    )));
    let units: HashMap<String, String> = layout
        .names
        .iter()
        .cloned()
        .zip(layout.units.iter().cloned())
        .collect();
    let app = router(
        AppState {
            hub: Arc::clone(&hub),
            units: Arc::new(units),
            detector,
            rules: Arc::new(rules),
            uploads: Arc::new(tokio::sync::Semaphore::new(UPLOADS_AT_ONCE)),
            alerts: dispatcher.as_ref().map(|d| AlertsView {
                policy: alerts.policy,
                rate_per_hour: alerts.rate_per_hour,
                receivers: d.statuses(),
            }),
        },
        access,
    );
    let stop = StopSignals::listen();
    println!("{scheme}://{}", url_host(address));
    let _ = std::io::stdout().flush();
    tracing::info!(
        "serving the dashboard at {scheme}://{}; {}",
        url_host(address),
        source.describe()
    );

    let limit = (args.log_max_mb > 0).then_some(args.log_max_mb << 20);
    let logs = Logs::open(&args.log_dir, history_header(&layout), limit);
    hub.recall_samples(&recalled);
    let past = recall_incidents(&args.log_dir, &logs, &hub, !recalled.is_empty());
    let session = session::start(
        source,
        pipeline,
        logs,
        hub.clone(),
        SessionConfig {
            interval: Duration::from_secs_f64(interval),
            save_model: args.detector.save_model.clone(),
            incidents_after: past,
        },
        dispatcher.clone().map(|d| {
            let dashboard = format!("{scheme}://{}/", dashboard_host(address));
            Alerts::new(alerts.policy, origin(&alerts, dashboard), d)
        }),
    )
    .context("cannot start the collector thread")?;

    let (server_stop_tx, server_stop_rx) = tokio::sync::oneshot::channel::<()>();
    let stopped = async {
        let _ = server_stop_rx.await;
    };
    let server = match web.tls {
        Some(config) => spawn_server(
            TlsListener::new(listener, config).context("cannot read the bound address")?,
            app,
            stopped,
        ),
        None => spawn_server(listener, app, stopped),
    };
    stop.wait().await;
    tracing::info!("stopping");
    session.stop();
    let joined = tokio::task::spawn_blocking(move || session.join());
    let _ = tokio::time::timeout(STOP_GRACE, joined).await;
    if let Some(dispatcher) = dispatcher {
        dispatcher.finish(ALERTS_GRACE).await;
    }
    hub.close();
    let _ = server_stop_tx.send(());
    let _ = tokio::time::timeout(STOP_GRACE / 2, server).await;
    Ok(ExitCode::SUCCESS)
}

/// Takes up the incidents earlier sessions recorded in the log folder: the one
/// left open by a session that stopped is closed in `incidents.jsonl`, and, when
/// this session `resumed` their source's samples, the hub lists the recent ones
/// again. Returns the highest id, for this session to number on from (0 when the
/// file cannot be read, which is told).
fn recall_incidents(dir: &Path, logs: &Logs, hub: &Hub, resumed: bool) -> u64 {
    let path = dir.join(INCIDENTS_FILE);
    let past = match past_incidents(&path, INCIDENTS_KEEP) {
        Ok(past) => past,
        Err(e) => {
            tracing::warn!(
                "cannot read {}: {e}; this session numbers its incidents from 1",
                path.display()
            );
            return 0;
        }
    };
    for incident in &past.left_open {
        tracing::info!(
            "incident {} closed: {} (its session stopped while it was open)",
            incident.id,
            incident.summary
        );
        logs.incident(incident_line(&Change::Closed(incident.clone())));
    }
    if resumed {
        hub.recall_incidents(&past.latest);
    }
    past.last_id
}

/// Starts `pipeline` from the samples an earlier session of this source recorded
/// in the log folder within one training window before the first sample, when
/// there are any; says what it found either way. Returns the records of the
/// last of them (as many as the page keeps), to show again.
fn resume(
    pipeline: &mut Pipeline,
    args: &WatchArgs,
    source: &SampleSource,
    layout: &SampleLayout,
    window: usize,
    interval: f64,
) -> Result<Vec<Record>> {
    let history = args.log_dir.join(HISTORY_FILE);
    let span_ms = (window as f64 * interval * 1000.0).round() as i64;
    match recent_past(&history, layout, window, source.start_time(), span_ms) {
        Ok(past) => {
            let shown = past.len().saturating_sub(HISTORY_KEEP);
            let recalled = past[shown..].iter().map(|p| p.record(layout)).collect();
            let taken = pipeline
                .resume(past)
                .with_context(|| format!("resuming from {}", history.display()))?;
            let said = format!(
                "resuming from the last {taken} samples of {} (--fresh learns a new baseline)",
                history.display()
            );
            eprintln!("{said}");
            tracing::info!(target: FILE_ONLY, "{said}");
            Ok(recalled)
        }
        Err(why) => {
            tracing::info!("learning a fresh baseline: {why}");
            Ok(Vec::new())
        }
    }
}

/// `--alert-test`: one test alert to every receiver, each result printed; exits
/// non-zero when any failed.
async fn test_alerts(alerts: &AlertsConfig, args: &WatchArgs, scheme: &str) -> Result<ExitCode> {
    if alerts.receivers.is_empty() {
        bail!(
            "--alert-test: no receivers to test; hint: give --alertmanager URL, --alert-webhook URL, --alert-exec CMD or --alerts FILE"
        );
    }
    // The address the real alerts would link to, without binding it (`--host`
    // comes without the brackets of an IPv6 address: `listen_host`).
    let host = match args.host.parse::<std::net::IpAddr>() {
        Ok(ip) => dashboard_host(SocketAddr::new(ip, args.port)),
        Err(_) => host_port(&args.host, args.port),
    };
    let dashboard = format!("{scheme}://{host}/");
    let message = Message::test(&origin(alerts, dashboard), now_ms());
    let mut failed = 0;
    for ((name, outcome), receiver) in test_all(alerts, &message)
        .await
        .into_iter()
        .zip(&alerts.receivers)
    {
        let target = receiver.target.shown();
        match outcome {
            Ok(detail) => println!("{name} ({target}): ok, {detail}"),
            Err(e) => {
                failed += 1;
                println!("{name} ({target}): FAILED, {e}");
            }
        }
    }
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        eprintln!(
            "{failed} of {} receivers failed the test alert",
            alerts.receivers.len()
        );
        ExitCode::from(1)
    })
}

/// Labels and dashboard address every alert carries: `instance` is the host name
/// unless the settings' labels name another.
fn origin(alerts: &AlertsConfig, dashboard: String) -> Origin {
    let mut labels = alerts.labels.clone();
    labels.entry("instance".into()).or_insert_with(host_name);
    Origin { labels, dashboard }
}

fn host_name() -> String {
    sysinfo::System::host_name().unwrap_or_else(|_| "unknown".into())
}

/// The server's address as a link can use it: the host name when it listens on
/// every address.
fn dashboard_host(address: SocketAddr) -> String {
    if address.ip().is_unspecified() {
        format!("{}:{}", host_name(), address.port())
    } else {
        url_host(address)
    }
}

/// Serves `app` on `listener` until `stopped` completes.
fn spawn_server<L>(
    listener: L,
    app: axum::Router,
    stopped: impl Future<Output = ()> + Send + 'static,
) -> tokio::task::JoinHandle<std::io::Result<()>>
where
    L: axum::serve::Listener,
{
    tokio::spawn(metrics::server::serve::serve(listener, app, stopped))
}

/// Samples in `seconds` at `interval`; 0 stays 0.
fn samples_in(seconds: f64, interval: f64, flag: &str) -> Result<usize> {
    if !(seconds.is_finite() && seconds >= 0.0) {
        bail!("{flag} must be a number of seconds, 0 or more; found {seconds}");
    }
    Ok((seconds / interval).round() as usize)
}

/// Longest `--interval`: a sample a day. Longer ones are no monitoring, and
/// beyond about 10^19 s no wait can be said at all.
const LONGEST_INTERVAL_S: f64 = 86_400.0;

/// The source the flags name, and the interval between its samples.
fn open_source(args: &WatchArgs) -> Result<(SampleSource, f64)> {
    let shortest = sysinfo::MINIMUM_CPU_UPDATE_INTERVAL.as_secs_f64();
    if let Some(i) = args.interval
        && !(i >= shortest && i <= LONGEST_INTERVAL_S)
    {
        bail!(
            "--interval {i}: must be at least {shortest} s (CPU usage needs that long between readings) and at most {LONGEST_INTERVAL_S} s (a day)"
        );
    }
    match &args.replay {
        None => Ok((
            SampleSource::Live(Box::new(Collector::new())),
            args.interval.unwrap_or(1.0),
        )),
        Some(path) => {
            let history = args.log_dir.join(HISTORY_FILE);
            check_not_appended(
                path,
                &[(rotated(&history), "rotated history"), (history, "history")],
            )?;
            let given = args.interval.unwrap_or(1.0);
            let replay = Replay::open(path, args.speed, (given * 1000.0) as i64, now_ms())?;
            let interval = args
                .interval
                .or_else(|| replay.median_spacing())
                .unwrap_or(1.0);
            Ok((SampleSource::Replay(Box::new(replay)), interval))
        }
    }
}

/// The session's spans in seconds: the flags', or defaults made for one sample a
/// second and stretched for longer intervals, so `--interval 60`, or a replay of
/// a file sampled each minute, runs with no other flag. Without the stretch, 120 s
/// at 60 s was 2 samples and refused, and 300 s between retrainings at an
/// interval over 600 s rounded to 0: never.
struct Spans {
    window_size: f64,
    train_window: f64,
    retrain_every: f64,
}

impl Spans {
    fn of(args: &WatchArgs, interval: f64) -> Spans {
        let window_size = args
            .window_size
            .unwrap_or((MIN_TRAIN_ROWS as f64 * interval).max(120.0));
        Spans {
            window_size,
            train_window: args
                .train_window
                .unwrap_or(window_size.max(default_train_window(interval))),
            retrain_every: args.retrain_every.unwrap_or(interval.max(300.0)),
        }
    }
}

/// The default `--train-window` at `interval` seconds between samples: an hour
/// when sampling more often than once a minute (measured best at one a second), a
/// week at a minute or slower, where held incidents do not fade either
/// ([`SUB_MINUTE_MS`]). An hour of minute samples is 60 of them, and its
/// models flagged 6.0-6.8 % of normal rows (F1 0.17-0.26) on replays of `datagen
/// --interval 60`, seeds 1-4; a day 3.3-4.2 % (F1 0.43-0.59), a week 1.4-3.4 %
/// (F1 0.63-0.80): a week holds the days the time-of-day profile learns from.
fn default_train_window(interval: f64) -> f64 {
    if interval * 1000.0 < SUB_MINUTE_MS as f64 {
        3600.0
    } else {
        7.0 * 86_400.0
    }
}

fn session_config(
    args: &WatchArgs,
    spans: &Spans,
    layout: &SampleLayout,
    interval: f64,
    baseline: usize,
) -> serde_json::Value {
    json!({
        "host": host_name(),
        "version": env!("CARGO_PKG_VERSION"),
        "source": match &args.replay {
            Some(p) => format!("replay of {}", p.display()),
            None => "live".into(),
        },
        "metrics": layout.names,
        "units": layout.units,
        "interval_s": interval,
        "window_size_s": spans.window_size,
        "baseline": baseline,
        "train_window_s": spans.train_window,
        "retrain_every_s": spans.retrain_every,
        "contamination": args.detector.contamination,
    })
}

fn url_host(address: SocketAddr) -> String {
    host_port(&address.ip().to_string(), address.port())
}

/// `host:port` as a URL writes it: an IPv6 address in brackets.
fn host_port(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// `--host`: a name or an address; an IPv6 address may come in the brackets a URL
/// puts it in (`[::1]`), which the system's lookup does not take.
fn listen_host(text: &str) -> Result<String, String> {
    let host = text.trim();
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if host.is_empty() {
        return Err(
            "empty; hint: 127.0.0.1 (this machine only) or 0.0.0.0 (every interface)".into(),
        );
    }
    Ok(host.to_string())
}

async fn bind(host: &str, port: u16) -> Result<tokio::net::TcpListener> {
    match tokio::net::TcpListener::bind((host, port)).await {
        Ok(l) => Ok(l),
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => bail!(
            "port {port} on {host} is already in use (another `metrics watch`?); hint: choose another with --port, or --port 0 for any free one"
        ),
        Err(e) => bail!("cannot listen on {host}:{port}: {e}; hint: check --host and --port"),
    }
}

/// Ctrl-C, SIGTERM and SIGHUP (the terminal closed), listened for from the
/// moment [`StopSignals::listen`] is called: before the address is printed, so a
/// signal sent as soon as the address is read stops the session cleanly. Listened
/// for only once the session ran, one sent in that moment killed the process
/// outright, its logs unclosed.
struct StopSignals {
    #[cfg(unix)]
    listeners: Option<[tokio::signal::unix::Signal; 3]>,
}

impl StopSignals {
    fn listen() -> StopSignals {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let listeners = (|| {
                Ok::<_, std::io::Error>([
                    signal(SignalKind::interrupt())?,
                    signal(SignalKind::terminate())?,
                    signal(SignalKind::hangup())?,
                ])
            })();
            StopSignals {
                listeners: listeners.ok(),
            }
        }
        #[cfg(not(unix))]
        StopSignals {}
    }

    /// Waits for any of them.
    async fn wait(self) {
        #[cfg(unix)]
        if let Some([mut interrupt, mut terminate, mut hangup]) = self.listeners {
            tokio::select! {
                _ = interrupt.recv() => {}
                _ = terminate.recv() => {}
                _ = hangup.recv() => {}
            }
            return;
        }
        let _ = tokio::signal::ctrl_c().await;
    }
}
