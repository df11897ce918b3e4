//! `metrics watch`: sample this machine (or replay a CSV), judge every sample live,
//! log it and serve the dashboard. The collector runs on its own thread and only
//! hands results over; the server runs on tokio and only reads them.

use std::collections::HashMap;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result, bail};
use clap::Args;
use serde_json::json;

use super::analyze::{load_model, load_rules, save_model};
use super::paths::check_output;
use metrics::detector::{DetectorParams, ForestParams, MIN_TRAIN_ROWS};
use metrics::monitor::collector::Collector;
use metrics::monitor::logs::Logs;
use metrics::monitor::pipeline::{Pipeline, PipelineConfig, State, Status, Step};
use metrics::monitor::record::{Record, history_header, history_row};
use metrics::monitor::replay::{Replay, Speed};
use metrics::monitor::{Sample, Schema};
use metrics::server::hub::{Hub, SessionStatus};
use metrics::server::{AppState, router};

/// Arguments of `metrics watch`.
#[derive(Debug, Args)]
pub struct WatchArgs {
    /// Expected share of anomalies in the baseline, in (0, 0.5]; sets the threshold.
    #[arg(long, default_value_t = 0.05)]
    pub contamination: f64,
    /// Seconds of samples collected before the first training; also the rolling
    /// window retraining learns from.
    #[arg(long, default_value_t = 120.0, value_name = "SECONDS")]
    pub window_size: f64,
    /// Seconds between samples (at least 0.2) [default: 1; with --replay, the file's
    /// median spacing].
    #[arg(long, value_name = "SECONDS")]
    pub interval: Option<f64>,
    /// Seconds between retrainings on the rolling window; 0 never retrains.
    #[arg(long, default_value_t = 300.0, value_name = "SECONDS")]
    pub retrain_every: f64,
    /// Address to serve on; the default keeps the dashboard on this machine.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// Port to serve on; 0 lets the system choose (the address is printed).
    #[arg(long, default_value_t = 5000)]
    pub port: u16,
    /// Folder for the text log, metrics_history.csv and anomalies.jsonl.
    #[arg(long, default_value = "logs", value_name = "DIR")]
    pub log_dir: PathBuf,
    /// Replay a metrics CSV (any file `analyze` reads) instead of sampling this machine.
    #[arg(long, value_name = "FILE")]
    pub replay: Option<PathBuf>,
    /// Replay speed: a factor on the file's timestamps (10 = ten times faster) or `max`.
    #[arg(long, default_value = "1", requires = "replay", value_name = "X|max")]
    pub speed: Speed,
    /// Start monitoring at once with a model saved by --save-model (here or by analyze).
    #[arg(long, value_name = "FILE")]
    pub model: Option<PathBuf>,
    /// Save the model after every training.
    #[arg(long, value_name = "FILE")]
    pub save_model: Option<PathBuf>,
    /// TOML file of rules that add to or override the built-in ones.
    #[arg(long, value_name = "FILE")]
    pub rules: Option<PathBuf>,
    /// Seed of the forest.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

/// How long a stopping session waits for the collector and the clients.
const STOP_GRACE: Duration = Duration::from_millis(1200);

/// The source of samples.
enum Source {
    Live(Box<Collector>),
    Replay(Box<Replay>),
}

/// Runs the command until Ctrl-C or SIGTERM.
pub fn run(args: WatchArgs) -> Result<ExitCode> {
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
    let _log_guard = init_logging(&args.log_dir);
    if let Some(path) = &args.save_model {
        check_output(path, "--save-model", &[])?;
    }
    let rules = load_rules(args.rules.as_deref())?;
    let saved = args.model.as_deref().map(load_model).transpose()?;
    let detector = DetectorParams {
        contamination: args.contamination,
        forest: ForestParams {
            seed: args.seed,
            ..ForestParams::default()
        },
        ..DetectorParams::default()
    };
    detector.check()?;

    let (source, schema, interval) = open_source(&args)?;
    let baseline = samples_in(args.window_size, interval, "--window-size")?;
    if baseline < MIN_TRAIN_ROWS {
        bail!(
            "--window-size {} s at an interval of {interval} s gives {baseline} samples, but training needs at least {MIN_TRAIN_ROWS}; hint: raise --window-size to {} or more",
            args.window_size,
            (MIN_TRAIN_ROWS as f64 * interval).ceil()
        );
    }
    let retrain_every = samples_in(args.retrain_every, interval, "--retrain-every")?;
    let config = PipelineConfig {
        detector: detector.clone(),
        baseline,
        retrain_every,
        rules: rules.clone(),
    };
    let pipeline = match (saved, &args.model) {
        (Some(model), Some(path)) => Pipeline::with_model(config, schema.clone(), model)
            .with_context(|| format!("--model {}", path.display()))?,
        _ => Pipeline::new(config, schema.clone()),
    };

    let listener = bind(&args.host, args.port).await?;
    let address = listener
        .local_addr()
        .context("cannot read the bound address")?;
    let hub = Arc::new(Hub::new(session_config(&args, &schema, interval, baseline)));
    let units: HashMap<String, String> = schema
        .names
        .iter()
        .cloned()
        .zip(schema.units.iter().cloned())
        .collect();
    let app = router(AppState {
        hub: Arc::clone(&hub),
        units: Arc::new(units),
        detector,
        rules: Arc::new(rules),
    });
    println!("http://{}", url_host(address));
    let _ = std::io::stdout().flush();
    tracing::info!(
        "serving the dashboard at http://{}; {}",
        url_host(address),
        match &source {
            Source::Live(_) => "sampling this machine".to_string(),
            Source::Replay(r) => format!("replaying {} rows", r.len()),
        }
    );

    let (stop_tx, stop_rx) = std::sync::mpsc::channel::<()>();
    let mut session = Session {
        logs: Logs::open(&args.log_dir, history_header(&schema)),
        source,
        schema,
        pipeline,
        hub: Arc::clone(&hub),
        interval: Duration::from_secs_f64(interval),
        save_model: args.save_model.clone(),
        saving: Vec::new(),
        seq: 0,
        last_status: None,
    };
    // The first status is in the hub before any client can connect.
    session.publish_status(None, false);
    let collector = std::thread::Builder::new()
        .name("metrics-collector".into())
        .spawn(move || session.run(&stop_rx))
        .context("cannot start the collector thread")?;

    let (server_stop_tx, server_stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = server_stop_rx.await;
            })
            .await
    });
    stop_signal().await;
    tracing::info!("stopping");
    let _ = stop_tx.send(());
    let joined = tokio::task::spawn_blocking(move || collector.join());
    let _ = tokio::time::timeout(STOP_GRACE, joined).await;
    hub.close();
    let _ = server_stop_tx.send(());
    let _ = tokio::time::timeout(STOP_GRACE / 2, server).await;
    Ok(ExitCode::SUCCESS)
}

/// Samples in `seconds` at `interval`; 0 stays 0.
fn samples_in(seconds: f64, interval: f64, flag: &str) -> Result<usize> {
    if !(seconds.is_finite() && seconds >= 0.0) {
        bail!("{flag} must be a number of seconds, 0 or more; found {seconds}");
    }
    Ok((seconds / interval).round() as usize)
}

fn open_source(args: &WatchArgs) -> Result<(Source, Schema, f64)> {
    if let Some(i) = args.interval
        && !(i.is_finite() && i >= sysinfo::MINIMUM_CPU_UPDATE_INTERVAL.as_secs_f64())
    {
        bail!(
            "--interval {i}: must be at least {} s (CPU usage needs that long between readings)",
            sysinfo::MINIMUM_CPU_UPDATE_INTERVAL.as_secs_f64()
        );
    }
    match &args.replay {
        None => Ok((
            Source::Live(Box::new(Collector::new())),
            Collector::schema(),
            args.interval.unwrap_or(1.0),
        )),
        Some(path) => {
            let given = args.interval.unwrap_or(1.0);
            let replay = Replay::open(path, args.speed, (given * 1000.0) as i64, now_ms())?;
            let interval = args
                .interval
                .or_else(|| replay.median_spacing())
                .unwrap_or(1.0);
            let schema = replay.schema().clone();
            Ok((Source::Replay(Box::new(replay)), schema, interval))
        }
    }
}

fn session_config(
    args: &WatchArgs,
    schema: &Schema,
    interval: f64,
    baseline: usize,
) -> serde_json::Value {
    let host = sysinfo::System::host_name().unwrap_or_else(|_| "unknown".into());
    json!({
        "host": host,
        "version": env!("CARGO_PKG_VERSION"),
        "source": match &args.replay {
            Some(p) => format!("replay of {}", p.display()),
            None => "live".into(),
        },
        "metrics": schema.names,
        "units": schema.units,
        "interval_s": interval,
        "window_size_s": args.window_size,
        "baseline": baseline,
        "retrain_every_s": args.retrain_every,
        "contamination": args.contamination,
    })
}

fn url_host(address: SocketAddr) -> String {
    match address {
        SocketAddr::V6(a) => format!("[{}]:{}", a.ip(), a.port()),
        SocketAddr::V4(a) => a.to_string(),
    }
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

async fn stop_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

/// Text log: stderr and a daily file in `dir` (non-blocking), both filtered by
/// `RUST_LOG` (default `info`). A folder that cannot be written is reported once.
fn init_logging(dir: &Path) -> Option<tracing_appender::non_blocking::WorkerGuard> {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    use tracing_subscriber::{EnvFilter, Layer, fmt};

    let filter = || EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let appender = std::fs::create_dir_all(dir)
        .map_err(|e| e.to_string())
        .and_then(|()| {
            tracing_appender::rolling::RollingFileAppender::builder()
                .rotation(tracing_appender::rolling::Rotation::DAILY)
                .filename_prefix("system_monitor")
                .filename_suffix("log")
                .build(dir)
                .map_err(|e| e.to_string())
        });
    let stderr = fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .with_filter(filter());
    match appender {
        Ok(appender) => {
            let (writer, guard) = tracing_appender::non_blocking(appender);
            let file = fmt::layer()
                .with_writer(writer)
                .with_ansi(false)
                .with_target(false)
                .with_filter(filter());
            let _ = tracing_subscriber::registry()
                .with(stderr)
                .with(file)
                .try_init();
            Some(guard)
        }
        Err(e) => {
            let _ = tracing_subscriber::registry().with(stderr).try_init();
            tracing::warn!(
                "cannot write logs to {}: {e}; detection and the server go on without them",
                dir.display()
            );
            None
        }
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// The collector thread's state.
struct Session {
    source: Source,
    schema: Schema,
    pipeline: Pipeline,
    logs: Logs,
    hub: Arc<Hub>,
    interval: Duration,
    save_model: Option<PathBuf>,
    /// Model files being written (off the collector's path), finished before exit.
    saving: Vec<std::thread::JoinHandle<()>>,
    seq: u64,
    last_status: Option<Status>,
}

impl Session {
    fn run(mut self, stop: &Receiver<()>) {
        let started = Instant::now();
        let mut tick: u32 = 0;
        loop {
            let sample = match &mut self.source {
                Source::Live(collector) => {
                    // Ticks on a fixed grid: a slow sample never shifts the ones after.
                    tick += 1;
                    let mut due = started + self.interval * tick;
                    let now = Instant::now();
                    while due < now {
                        tick += 1;
                        due = started + self.interval * tick;
                    }
                    if stopped(stop, due - now) {
                        break;
                    }
                    collector.sample(now_ms())
                }
                Source::Replay(replay) => match replay.next_sample() {
                    Some((wait, sample)) => {
                        if stopped(stop, wait) {
                            break;
                        }
                        sample
                    }
                    None => {
                        let step = self.pipeline.finish_training();
                        if let Some(event) = self.after_training(&step) {
                            self.publish_status(Some(event), false);
                        }
                        self.publish_status(Some("replay_finished".into()), true);
                        tracing::info!("replay finished; still serving");
                        let _ = stop.recv();
                        break;
                    }
                },
            };
            self.judge(sample);
        }
        self.logs.close();
        for saving in self.saving {
            let _ = saving.join();
        }
    }

    fn judge(&mut self, mut sample: Sample) {
        let mut step = self.pipeline.push(&sample);
        if self.pipeline.status().state == State::Training {
            self.publish_status(None, false);
            let trained = self.pipeline.train();
            step.trained = trained.trained;
            step.warning = step.warning.or(trained.warning);
        }
        // An anomaly gets the processes of this moment, not of the last refresh.
        if let (Source::Live(collector), Some(v)) = (&mut self.source, &step.verdict)
            && v.is_anomaly
        {
            sample.processes = Some(collector.top_processes_now());
        }
        self.seq += 1;
        let metrics: &[String] = self.pipeline.model().map_or(&[], |m| &m.metrics);
        let record = Record::new(
            self.seq,
            &self.schema,
            &sample,
            step.verdict.as_ref(),
            metrics,
        );
        self.logs
            .history(history_row(&sample, step.verdict.as_ref(), metrics));
        // One serialisation serves the WebSocket, the REST rings and anomalies.jsonl.
        let json = serde_json::to_string(&record).unwrap_or_default();
        if let Some(v) = record.verdict.as_ref().filter(|v| v.is_anomaly) {
            tracing::warn!(
                "{} anomaly (score {:.3}): {}",
                v.severity,
                v.score,
                v.reasons.join(" | ")
            );
            self.logs.anomaly(json.clone());
        }
        self.hub.publish(&record, &json);
        if let Some(w) = &step.warning {
            tracing::warn!("{w}");
        }
        let event = self.after_training(&step);
        let event = event.or_else(|| step.warning.clone());
        self.publish_status(event, false);
    }

    /// Logs and saves a model that went into use; the event to report, if any.
    fn after_training(&mut self, step: &Step) -> Option<String> {
        let model = step.trained.as_ref()?;
        let retrain = self.pipeline.status().retrains > 0;
        tracing::info!(
            "{} on {} samples",
            if retrain { "retrained" } else { "trained" },
            model.trained_rows
        );
        if let Some(path) = self.save_model.clone() {
            let model = Arc::clone(model);
            self.saving.retain(|s| !s.is_finished());
            self.saving.push(std::thread::spawn(move || {
                if let Err(e) = save_model(&model, &path) {
                    tracing::warn!("{e:#}");
                }
            }));
        }
        Some(if retrain { "retrained" } else { "trained" }.into())
    }

    /// Publishes the status when it changed (baseline progress included) or when
    /// there is news.
    fn publish_status(&mut self, event: Option<String>, replay_finished: bool) {
        let status = self.pipeline.status().clone();
        let mut same = self.last_status.clone();
        if let Some(s) = same.as_mut() {
            s.retrain_in = status.retrain_in;
        }
        if event.is_none() && !replay_finished && same.as_ref() == Some(&status) {
            return;
        }
        self.last_status = Some(status.clone());
        self.hub.publish_status(SessionStatus {
            pipeline: status,
            replay_finished,
            event,
        });
    }
}

/// Waits `wait`, or less when asked to stop; true when asked (or the asker is gone).
fn stopped(stop: &Receiver<()>, wait: Duration) -> bool {
    !matches!(stop.recv_timeout(wait), Err(RecvTimeoutError::Timeout))
}
