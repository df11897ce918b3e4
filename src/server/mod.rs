//! `watch`'s HTTP side (axum): the embedded dashboard, the WebSocket, the REST
//! answers, the CSV upload and the Prometheus endpoint. It only reads what the
//! [`hub::Hub`] holds; the collector never waits for it.

pub mod assets;
pub mod hub;
pub mod prometheus;
mod upload;
mod ws;

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use crate::detector::{DetectorParams, RuleSet};
use hub::Hub;

/// Largest CSV `POST /api/analyze` accepts.
pub const UPLOAD_LIMIT: usize = 50 * 1024 * 1024;

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
}

/// The whole application.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/ws", get(ws::upgrade))
        .route("/api/status", get(status))
        .route("/api/history", get(history))
        .route("/api/anomalies", get(anomalies))
        .route("/api/incidents", get(incidents))
        .route(
            "/api/analyze",
            post(upload::analyze).layer(DefaultBodyLimit::max(UPLOAD_LIMIT)),
        )
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/metrics", get(metrics))
        .merge(assets::routes())
        .fallback(assets::not_found)
        .with_state(state)
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

async fn incidents(State(app): State<AppState>) -> Response {
    json_response(StatusCode::OK, app.hub.incidents_json())
}

async fn metrics(State(app): State<AppState>) -> Response {
    let (latest, status) = app.hub.latest();
    let units = |name: &str| app.units.get(name).cloned().unwrap_or_default();
    let body = prometheus::render(&latest, status.as_ref(), &units);
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, prometheus::CONTENT_TYPE)],
        body,
    )
        .into_response()
}
