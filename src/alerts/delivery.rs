//! Getting notifications to receivers without ever slowing the collector: each
//! receiver has its own task and a bounded queue, so one that hangs or fails
//! delays nobody else. Failed attempts are retried with capped, jittered backoff;
//! what the queue or the rate limit drops is counted and logged; firing alerts are
//! pushed to Alertmanager again every minute, as its clients must.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rand::RngExt;
use serde::Serialize;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::config::{AlertsConfig, Receiver, Target};
use super::exec;
use super::payload::{ALERTMANAGER_RESEND_MS, Message};
use super::policy::Notify;
use crate::http::{api_url, body_start, credentials_wanted, error_chain};
use crate::timestamp::now_ms;

/// Notifications waiting per receiver at most; more are dropped and counted.
pub const QUEUE: usize = 64;

/// Attempts per notification before it counts as failed.
pub const ATTEMPTS: u32 = 6;

/// First wait between attempts; it doubles up to [`MAX_BACKOFF`], each wait
/// drawn within 25 % of that, so receivers that failed together do not retry
/// together.
pub const FIRST_BACKOFF: Duration = Duration::from_secs(1);

/// Longest wait between attempts.
pub const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Delivery latencies kept per receiver for the percentiles.
const LATENCIES: usize = 512;

/// How one receiver is doing, shared with the server.
#[derive(Debug)]
pub struct ReceiverStatus {
    /// Its name.
    pub name: String,
    /// `alertmanager`, `webhook` or `exec`.
    pub kind: &'static str,
    /// Where it points, safe to show (see [`Target::shown`]).
    pub target: String,
    sent: AtomicU64,
    failed: AtomicU64,
    dropped: AtomicU64,
    limited: AtomicU64,
    last: Mutex<Option<LastDelivery>>,
    latencies_ms: Mutex<VecDeque<u64>>,
}

/// The outcome of the latest notification to a receiver.
#[derive(Debug, Clone, Serialize)]
pub struct LastDelivery {
    /// Wall time it ended (Unix ms).
    pub at_ms: i64,
    /// Whether it got through.
    pub ok: bool,
    /// Attempts it took.
    pub attempts: u32,
    /// What the receiver answered, or why it failed.
    pub detail: String,
}

/// A receiver's status as `/api/alerts` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct ReceiverReport {
    /// Its name.
    pub name: String,
    /// Its kind.
    pub kind: &'static str,
    /// Where it points.
    pub target: String,
    /// Whether the latest notification got through (true before any).
    pub up: bool,
    /// Notifications delivered.
    pub sent: u64,
    /// Notifications that failed after every attempt.
    pub failed: u64,
    /// Notifications dropped because its queue was full.
    pub dropped: u64,
    /// Firing notifications held back by the rate limit.
    pub limited: u64,
    /// The latest outcome.
    pub last: Option<LastDelivery>,
    /// Median and 99th percentile of the time from the sample that decided a
    /// notification to its delivery (ms), over the latest deliveries.
    pub latency_ms: Option<[u64; 2]>,
}

impl ReceiverStatus {
    fn new(receiver: &Receiver) -> ReceiverStatus {
        ReceiverStatus {
            name: receiver.name.clone(),
            kind: receiver.target.kind(),
            target: receiver.target.shown(),
            sent: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            limited: AtomicU64::new(0),
            last: Mutex::new(None),
            latencies_ms: Mutex::new(VecDeque::new()),
        }
    }

    /// Counts of `sent`, `failed`, `dropped` and `limited`, for `/metrics`.
    pub fn counts(&self) -> [(&'static str, u64); 4] {
        [
            ("sent", self.sent.load(Ordering::Relaxed)),
            ("failed", self.failed.load(Ordering::Relaxed)),
            ("dropped", self.dropped.load(Ordering::Relaxed)),
            ("limited", self.limited.load(Ordering::Relaxed)),
        ]
    }

    /// Whether the latest notification got through (true before any).
    pub fn up(&self) -> bool {
        lock(&self.last).as_ref().is_none_or(|l| l.ok)
    }

    /// Its status as `/api/alerts` shows it.
    pub fn report(&self) -> ReceiverReport {
        let latency_ms = {
            let mut l: Vec<u64> = lock(&self.latencies_ms).iter().copied().collect();
            l.sort_unstable();
            let at = |q: f64| l[((l.len() - 1) as f64 * q).round() as usize];
            (!l.is_empty()).then(|| [at(0.5), at(0.99)])
        };
        let [sent, failed, dropped, limited] = self.counts().map(|(_, n)| n);
        ReceiverReport {
            name: self.name.clone(),
            kind: self.kind,
            target: self.target.clone(),
            up: self.up(),
            sent,
            failed,
            dropped,
            limited,
            last: lock(&self.last).clone(),
            latency_ms,
        }
    }

    fn record(&self, ok: bool, attempts: u32, detail: String, latency: Option<Duration>) {
        if ok {
            self.sent.fetch_add(1, Ordering::Relaxed);
        } else {
            self.failed.fetch_add(1, Ordering::Relaxed);
        }
        if let Some(latency) = latency {
            let mut l = lock(&self.latencies_ms);
            if l.len() == LATENCIES {
                l.pop_front();
            }
            l.push_back(latency.as_millis() as u64);
        }
        *lock(&self.last) = Some(LastDelivery {
            at_ms: now_ms(),
            ok,
            attempts,
            detail,
        });
    }
}

/// A poisoned lock still holds usable counts: a panic elsewhere must not stop
/// the reports.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A notification on its way, and when it was decided.
struct Queued {
    message: Message,
    made: Instant,
}

/// One receiver's queue and what the rate limit remembers.
struct Lane {
    status: Arc<ReceiverStatus>,
    /// Whether it is an Alertmanager (which resolves a stopped session's alerts
    /// by itself).
    alertmanager: bool,
    /// Its queue, until the dispatcher finishes.
    queue: Option<mpsc::Sender<Queued>>,
    /// Sample times of the firing notifications let through in the last hour.
    recent: VecDeque<i64>,
    /// Alerts told firing (a resolution of one never told is not sent).
    told: Vec<u64>,
}

/// Sends notifications to every receiver, each on its own task.
pub struct Dispatcher {
    lanes: Mutex<Vec<Lane>>,
    /// The receivers' tasks, awaited when the session finishes.
    tasks: Mutex<Vec<JoinHandle<()>>>,
    rate_per_hour: u32,
}

impl Dispatcher {
    /// Starts one task per receiver of `config` on the current Tokio runtime;
    /// why not, when a receiver's HTTP client cannot be built.
    pub fn start(config: &AlertsConfig) -> Result<Dispatcher, String> {
        let mut lanes = Vec::with_capacity(config.receivers.len());
        let mut tasks = Vec::with_capacity(config.receivers.len());
        for receiver in &config.receivers {
            let client = http_client(receiver)?;
            let status = Arc::new(ReceiverStatus::new(receiver));
            let (queue, rx) = mpsc::channel(QUEUE);
            let lane = run_lane(receiver.clone(), client, Arc::clone(&status), rx);
            tasks.push(tokio::spawn(lane));
            lanes.push(Lane {
                status,
                alertmanager: matches!(receiver.target, Target::Alertmanager(_)),
                queue: Some(queue),
                recent: VecDeque::new(),
                told: Vec::new(),
            });
        }
        Ok(Dispatcher {
            lanes: Mutex::new(lanes),
            tasks: Mutex::new(tasks),
            rate_per_hour: config.rate_per_hour,
        })
    }

    /// Every receiver's status, shared.
    pub fn statuses(&self) -> Vec<Arc<ReceiverStatus>> {
        lock(&self.lanes)
            .iter()
            .map(|l| Arc::clone(&l.status))
            .collect()
    }

    /// Queues `message` for every receiver; never waits.
    pub fn send(&self, message: &Message) {
        self.queue(message, |_| true);
    }

    /// Queues `message`, the resolution of an alert a stopping session leaves,
    /// for every receiver but Alertmanager, which resolves it by itself once its
    /// `endsAt` passes; never waits.
    pub fn send_at_stop(&self, message: &Message) {
        self.queue(message, |lane| !lane.alertmanager);
    }

    /// Queues `message` for the receivers `to` picks, within the rate limit and
    /// only resolutions of alerts told.
    fn queue(&self, message: &Message, to: impl Fn(&Lane) -> bool) {
        let mut lanes = lock(&self.lanes);
        for lane in lanes.iter_mut().filter(|lane| to(lane)) {
            let Some(queue) = &lane.queue else { continue };
            let name = &lane.status.name;
            match message.notify {
                Notify::Firing | Notify::Repeat => {
                    let hour_ago = message.time_ms - 3_600_000;
                    while lane.recent.front().is_some_and(|&t| t <= hour_ago) {
                        lane.recent.pop_front();
                    }
                    if lane.recent.len() >= self.rate_per_hour as usize {
                        lane.status.limited.fetch_add(1, Ordering::Relaxed);
                        tracing::warn!(
                            "alert {} not sent to {name}: {} notifications in the last hour reach its rate limit",
                            message.alert,
                            lane.recent.len()
                        );
                        continue;
                    }
                    lane.recent.push_back(message.time_ms);
                    if !lane.told.contains(&message.alert) {
                        lane.told.push(message.alert);
                    }
                }
                Notify::Resolved => {
                    let Some(at) = lane.told.iter().position(|&a| a == message.alert) else {
                        continue;
                    };
                    lane.told.swap_remove(at);
                }
            }
            let queued = Queued {
                message: message.clone(),
                made: Instant::now(),
            };
            if queue.try_send(queued).is_err() {
                lane.status.dropped.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(
                    "alert {} {} dropped for {name}: its queue of {QUEUE} is full (the receiver is failing or slow)",
                    message.alert,
                    message.status()
                );
            }
        }
    }

    /// Finishes delivery as the session ends: no more notifications are taken,
    /// and those queued are delivered (retries included) for at most `grace`;
    /// what is left then is logged as lost.
    pub async fn finish(&self, grace: Duration) {
        for lane in lock(&self.lanes).iter_mut() {
            lane.queue = None;
        }
        let tasks = std::mem::take(&mut *lock(&self.tasks));
        let names: Vec<String> = self.statuses().iter().map(|s| s.name.clone()).collect();
        let deadline = tokio::time::Instant::now() + grace;
        for (task, name) in tasks.into_iter().zip(names) {
            if tokio::time::timeout_at(deadline, task).await.is_err() {
                tracing::warn!(
                    "stopped with notifications to {name} undelivered after {} s",
                    grace.as_secs_f64()
                );
            }
        }
    }
}

/// The client `receiver` is called with: no redirects (an alert is not posted
/// somewhere else than configured), the CAs its settings trust (the system's
/// unless told) and its client certificate; why not, naming the receiver.
fn http_client(receiver: &Receiver) -> Result<reqwest::Client, String> {
    let builder = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("metrics/", env!("CARGO_PKG_VERSION")));
    receiver.client.client(builder).map_err(|e| {
        format!(
            "receiver {}: cannot make its HTTP client: {e}",
            receiver.name
        )
    })
}

/// One receiver's task: delivers its queue in order, retrying each notification
/// with backoff; for Alertmanager, also pushes firing alerts again every minute.
async fn run_lane(
    receiver: Receiver,
    client: reqwest::Client,
    status: Arc<ReceiverStatus>,
    mut queue: mpsc::Receiver<Queued>,
) {
    let is_alertmanager = matches!(receiver.target, Target::Alertmanager(_));
    let mut firing: BTreeMap<u64, Message> = BTreeMap::new();
    let resend = Duration::from_millis(ALERTMANAGER_RESEND_MS as u64);
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + resend, resend);
    loop {
        tokio::select! {
            next = queue.recv() => {
                let Some(Queued { message, made }) = next else { return };
                if is_alertmanager {
                    match message.notify {
                        Notify::Resolved => { firing.remove(&message.alert); }
                        _ => { firing.insert(message.alert, message.clone()); }
                    }
                }
                deliver(&receiver, &client, &status, &message, made).await;
            }
            _ = tick.tick(), if is_alertmanager && !firing.is_empty() => {
                for message in firing.values() {
                    if let Err(e) = attempt(&receiver, &client, message).await {
                        tracing::warn!("pushing firing alert {} to {} again failed: {e}", message.alert, receiver.name);
                    }
                }
            }
        }
    }
}

/// Delivers one notification, retrying with backoff, and records the outcome.
async fn deliver(
    receiver: &Receiver,
    client: &reqwest::Client,
    status: &ReceiverStatus,
    message: &Message,
    made: Instant,
) {
    let mut wait = FIRST_BACKOFF;
    for n in 1..=ATTEMPTS {
        match attempt(receiver, client, message).await {
            Ok(detail) => {
                tracing::info!(
                    "alert {} {} sent to {}: {detail}",
                    message.alert,
                    message.status(),
                    receiver.name
                );
                status.record(true, n, detail, Some(made.elapsed()));
                return;
            }
            Err(e) if n == ATTEMPTS => {
                tracing::error!(
                    "alert {} {} to {} failed after {ATTEMPTS} attempts: {e}",
                    message.alert,
                    message.status(),
                    receiver.name
                );
                status.record(false, n, e, None);
            }
            Err(e) => {
                let jittered = wait.mul_f64(rand::rng().random_range(0.75..1.25));
                tracing::warn!(
                    "alert {} {} to {} failed (attempt {n} of {ATTEMPTS}), retrying in {:.1} s: {e}",
                    message.alert,
                    message.status(),
                    receiver.name,
                    jittered.as_secs_f64()
                );
                *lock(&status.last) = Some(LastDelivery {
                    at_ms: now_ms(),
                    ok: false,
                    attempts: n,
                    detail: e,
                });
                tokio::time::sleep(jittered).await;
                wait = (wait * 2).min(MAX_BACKOFF);
            }
        }
    }
}

/// One try at telling `receiver` of `message`: what it answered, or why not.
pub async fn attempt(
    receiver: &Receiver,
    client: &reqwest::Client,
    message: &Message,
) -> Result<String, String> {
    let (url, body) = match &receiver.target {
        Target::Alertmanager(base) => {
            let url = api_url(base, "api/v2/alerts")
                .ok_or_else(|| format!("cannot form the push URL under {base}"))?;
            (url, message.alertmanager_body(now_ms()))
        }
        Target::Webhook(url) => (url.clone(), message.webhook_body(&receiver.name)),
        Target::Exec(command) => {
            return exec::run(command, message, receiver.timeout).await;
        }
    };
    let started = Instant::now();
    let request = client.post(url).json(&body).timeout(receiver.timeout);
    let response = receiver
        .client
        .apply(request)?
        .send()
        .await
        .map_err(|e| describe_http_error(&e, receiver))?;
    let code = response.status();
    if code.is_success() {
        return Ok(format!(
            "HTTP {} in {} ms",
            code.as_u16(),
            started.elapsed().as_millis()
        ));
    }
    let text = response.text().await.unwrap_or_default();
    let text = body_start(&text);
    let hint = if credentials_wanted(code.as_u16()) {
        "; hint: give the receiver basic_auth or authorization in the --alerts file"
    } else {
        ""
    };
    Err(format!("HTTP {code}: {text}{hint}"))
}

fn describe_http_error(e: &reqwest::Error, receiver: &Receiver) -> String {
    if e.is_timeout() {
        format!("no answer within {} s", receiver.timeout.as_secs_f64())
    } else if e.is_connect() {
        let chain = error_chain(e);
        let hint = (receiver.client.connection_fix(&chain))
            .map(|fix| format!("; hint: {fix} in the --alerts file"))
            .unwrap_or_default();
        format!("cannot connect: {chain}{hint}")
    } else {
        error_chain(e)
    }
}

/// Sends the test alert to every receiver of `config` at once and returns each
/// one's outcome, in order.
pub async fn test_all(
    config: &AlertsConfig,
    message: &Message,
) -> Vec<(String, Result<String, String>)> {
    let tries: Vec<_> = config
        .receivers
        .iter()
        .cloned()
        .map(|receiver| {
            let message = message.clone();
            tokio::spawn(async move {
                let client = http_client(&receiver)?;
                attempt(&receiver, &client, &message).await
            })
        })
        .collect();
    let mut results = Vec::with_capacity(tries.len());
    for (receiver, handle) in config.receivers.iter().zip(tries) {
        let outcome = handle
            .await
            .unwrap_or_else(|e| Err(format!("the attempt stopped: {e}")));
        results.push((receiver.name.clone(), outcome));
    }
    results
}
