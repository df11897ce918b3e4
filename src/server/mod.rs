//! `watch`'s HTTP side (axum): the embedded dashboard, the WebSocket, the REST
//! answers, the CSV upload and the Prometheus endpoint. It only reads what the
//! [`hub::Hub`] holds; the collector never waits for it. Every request first
//! passes the [`guard`] (Host and Origin) and, when `--web-config` names users,
//! [`auth`]; [`tls`] serves it all over HTTPS when the file asks for it, and
//! [`serve`] serves it on a listener with a deadline on each request's header.

pub mod assets;
pub mod auth;
pub mod guard;
pub mod hub;
pub mod process;
pub mod prometheus;
pub mod serve;
pub mod tls;
mod upload;
pub mod web_config;
mod ws;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Query, State};
use axum::http::{StatusCode, header};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::alerts::{AlertState, Policy, ReceiverStatus};
use crate::detector::{DetectorParams, RuleSet};
use hub::Hub;
use process::ProcessStats;

/// Largest CSV `POST /api/analyze` accepts.
pub const UPLOAD_LIMIT: usize = 50 * 1024 * 1024;
/// Most rows an upload may have: about 3 s of analysis on one core; bigger files
/// are `metrics analyze`'s work.
pub const UPLOAD_ROWS: usize = 500_000;
/// Uploads analysed at once; more get 429 with `Retry-After`, so uploads cannot
/// take the cores the live session needs.
pub const UPLOADS_AT_ONCE: usize = 1;

/// What can stop the server from starting.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// An `--allowed-origin` that is not `scheme://host[:port]`.
    #[error(
        "--allowed-origin {0:?} is not an origin; hint: give scheme://host[:port], as http://grafana.lan:3000"
    )]
    Origin(String),
    /// A `--web-config` file that cannot be used.
    #[error("--web-config {}: {message}", path.display())]
    WebConfig {
        /// The file.
        path: PathBuf,
        /// What is wrong, and how to fix it.
        message: String,
    },
}

/// Who may use the server: the Host and Origin checks, and the users when
/// passwords are asked.
pub struct Access {
    /// Host and Origin checks.
    pub guard: Arc<guard::Guard>,
    /// Users of `--web-config`, when one is given (it may name none yet).
    pub users: Option<Arc<auth::Users>>,
}

/// What the handlers share.
#[derive(Clone)]
pub struct AppState {
    /// The session's hub.
    pub hub: Arc<Hub>,
    /// Unit of each sampled metric, by name (for `/metrics`).
    pub units: Arc<HashMap<String, String>>,
    /// Detector settings for uploads (the session's contamination and seed).
    pub detector: DetectorParams,
    /// Rules for uploads (the session's).
    pub rules: Arc<RuleSet>,
    /// Uploads being analysed may take these permits ([`UPLOADS_AT_ONCE`]).
    pub uploads: Arc<tokio::sync::Semaphore>,
    /// Alerting, when receivers are configured.
    pub alerts: Option<AlertsView>,
}

/// What `/api/alerts` and `/metrics` show of alerting.
#[derive(Clone)]
pub struct AlertsView {
    /// The policy in force.
    pub policy: Policy,
    /// Firing notifications per receiver per hour at most.
    pub rate_per_hour: u32,
    /// Every receiver's status.
    pub receivers: Vec<Arc<ReceiverStatus>>,
}

/// The whole application, behind `access`.
pub fn router(state: AppState, access: Access) -> Router {
    let app = Router::new()
        .route("/ws", get(ws::upgrade))
        .route("/api/status", get(status))
        .route("/api/history", get(history))
        .route("/api/anomalies", get(anomalies))
        .route("/api/incidents", get(incidents))
        .route("/api/alerts", get(alerts))
        .route(
            "/api/analyze",
            post(upload::analyze).layer(DefaultBodyLimit::max(UPLOAD_LIMIT)),
        )
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/metrics", get(metrics))
        .merge(assets::routes())
        .fallback(assets::not_found)
        .with_state(state);
    let app = match access.users {
        Some(users) => app.layer(middleware::from_fn_with_state(users, auth::check)),
        None => app,
    };
    // The guard is the outermost layer: a foreign Host or Origin is refused before
    // anything else is looked at.
    app.layer(middleware::from_fn_with_state(access.guard, guard::check))
}

fn json_response(status: StatusCode, body: String) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response()
}

async fn status(State(app): State<AppState>) -> Response {
    json_response(StatusCode::OK, app.hub.status_json())
}

/// `?limit=N` of the list endpoints.
#[derive(Debug, Deserialize)]
struct Limit {
    limit: Option<usize>,
}

async fn history(State(app): State<AppState>, Query(q): Query<Limit>) -> Response {
    let limit = q.limit.unwrap_or(hub::BACKFILL);
    json_response(StatusCode::OK, app.hub.recent_json(false, limit))
}

async fn anomalies(State(app): State<AppState>, Query(q): Query<Limit>) -> Response {
    let limit = q.limit.unwrap_or(hub::HELLO_ANOMALIES);
    json_response(StatusCode::OK, app.hub.recent_json(true, limit))
}

async fn incidents(State(app): State<AppState>, Query(q): Query<Limit>) -> Response {
    let limit = q.limit.unwrap_or(hub::INCIDENTS_KEEP);
    json_response(StatusCode::OK, app.hub.incidents_json(limit))
}

/// The alerts: pending, firing and recently resolved (each in its latest state),
/// the policy, and every receiver's last delivery.
async fn alerts(State(app): State<AppState>) -> Response {
    let recent: Vec<Value> = serde_json::from_str(&app.hub.alerts_json()).unwrap_or_default();
    let by_state =
        |state: &str| -> Vec<&Value> { recent.iter().filter(|a| a["state"] == state).collect() };
    let body = match &app.alerts {
        None => json!({ "enabled": false, "receivers": [] }),
        Some(view) => json!({
            "enabled": true,
            "policy": view.policy,
            "rate_limit_per_hour": view.rate_per_hour,
            "pending": by_state(AlertState::Pending.as_str()),
            "firing": by_state(AlertState::Firing.as_str()),
            "resolved": by_state(AlertState::Resolved.as_str()),
            "receivers": view.receivers.iter().map(|r| r.report()).collect::<Vec<_>>(),
        }),
    };
    json_response(StatusCode::OK, body.to_string())
}

async fn metrics(State(app): State<AppState>) -> Response {
    let (latest, status) = app.hub.latest();
    let units = |name: &str| app.units.get(name).cloned().unwrap_or_default();
    let receivers = app.alerts.as_ref().map_or(&[][..], |a| &a.receivers[..]);
    let process = ProcessStats::read();
    let body = prometheus::render(
        &latest,
        status.as_ref(),
        &units,
        receivers,
        process.as_ref(),
    );
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, prometheus::CONTENT_TYPE)],
        body,
    )
        .into_response()
}
