//! `POST /api/analyze`: a CSV in the request body, analysed by the same code as
//! `metrics analyze` (fit on all rows, judge every row). The answer is the summary,
//! the flagged rows and the score series; errors carry the command line's words.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;

use super::{AppState, UPLOAD_LIMIT, UPLOAD_ROWS, UPLOADS_AT_ONCE, json_response};
use crate::analysis::{AnalysisError, FitRows, analyze as run_analysis};
use crate::detector::DetectorError;
use crate::io::input::{ReadOptions, read_table};
use crate::io::text::CsvInput;
use crate::report::{Summary, flagged};

/// Flagged rows returned at most (the worst first).
pub const FLAGGED_LIMIT: usize = 500;
/// Points of the score series at most (maximum per bucket, so no spike is lost).
pub const SCORE_POINTS: usize = 2000;

/// `?name=FILE.csv`: how errors name the upload.
#[derive(Debug, Deserialize)]
pub struct UploadQuery {
    name: Option<String>,
}

/// Seconds a refused upload is told to wait before trying again.
const RETRY_AFTER_S: u64 = 5;

/// `POST /api/analyze`: analyses the body off the async workers and answers JSON.
pub async fn analyze(
    State(app): State<AppState>,
    Query(q): Query<UploadQuery>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    // A form upload (`curl -F file=@x.csv`) wraps the file in boundaries, which the
    // CSV reader would only report as a stray quote on line 2.
    let form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.trim_start()
                .to_ascii_lowercase()
                .starts_with("multipart/")
        });
    if form {
        return error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "send the CSV itself as the request body, not as a form: curl --data-binary @FILE.csv -H 'Content-Type: text/csv' URL".into(),
        );
    }
    let body = match body {
        Ok(b) => b,
        Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return error(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!(
                    "the upload is larger than the {} MB limit; analyse big files with `metrics analyze --csv-file FILE`",
                    UPLOAD_LIMIT / (1024 * 1024)
                ),
            );
        }
        Err(rejection) => return error(rejection.status(), rejection.body_text()),
    };
    let Ok(permit) = Arc::clone(&app.uploads).try_acquire_owned() else {
        let mut response = error(
            StatusCode::TOO_MANY_REQUESTS,
            format!(
                "{UPLOADS_AT_ONCE} upload is being analysed already; try again in {RETRY_AFTER_S} s"
            ),
        );
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_S));
        return response;
    };
    let name = q
        .name
        .filter(|n| !n.trim().is_empty())
        .unwrap_or_else(|| "upload.csv".into());
    let result = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        let analysed = analyse(&app, name, body.to_vec());
        give_back_freed_memory();
        analysed
    })
    .await;
    match result {
        Ok(Ok(body)) => json_response(StatusCode::OK, body),
        Ok(Err(message)) => error(StatusCode::UNPROCESSABLE_ENTITY, message),
        Err(e) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("the analysis stopped: {e}"),
        ),
    }
}

/// Hands the memory an analysis freed back to the system: glibc keeps freed
/// pages in its heap, so a session left running kept the peak of its largest
/// upload for good. 250,000 rows (17 MB) uploaded six times took `watch` from 16
/// to 92 MB with one malloc arena, and to 38 MB with this too (175 MB after three
/// with glibc's arena per thread and neither).
fn give_back_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim(3) takes an integer and only returns free pages of
    // glibc's heaps to the system; it is safe to call from any thread.
    unsafe {
        libc::malloc_trim(0);
    }
}

fn error(status: StatusCode, message: String) -> Response {
    json_response(status, json!({ "error": message }).to_string())
}

fn analyse(app: &AppState, name: String, bytes: Vec<u8>) -> Result<String, String> {
    let started = Instant::now();
    let table = read_table(&CsvInput::Bytes { name, bytes }, &ReadOptions::default())
        .map_err(|e| e.to_string())?;
    if table.frame.rows() > UPLOAD_ROWS {
        return Err(format!(
            "{} has {} rows; the dashboard analyses at most {UPLOAD_ROWS}; hint: analyse it with `metrics analyze --csv-file FILE`",
            table.source,
            table.frame.rows()
        ));
    }
    let read_seconds = started.elapsed().as_secs_f64();
    let analysis = run_analysis(
        &table,
        &app.detector,
        &FitRows::All,
        None,
        &app.rules,
        &|_| {},
    )
    .map_err(|e| match e {
        // Said in the page's terms: the upload fits on every row it has.
        AnalysisError::Detector {
            source_name,
            error: DetectorError::TooFewRows { needed, found },
        } => format!(
            "{source_name} has {found} rows; learning a baseline needs at least {needed}; hint: upload a longer stretch of readings"
        ),
        e => e.to_string(),
    })?;
    let summary = Summary::new(&table, &analysis, 10, read_seconds);
    let scores: Vec<f64> = analysis.verdicts.iter().map(|v| v.anomaly_score).collect();
    let worst = flagged(&table, &analysis, FLAGGED_LIMIT);
    let cells = flagged_cells(&table, worst.iter().map(|f| f.row).collect());
    Ok(json!({
        "summary": summary,
        "flagged": worst,
        "columns": table.header,
        "cells": cells,
        "scores": decimate(&scores, SCORE_POINTS),
    })
    .to_string())
}

/// The cells of the `wanted` rows (1-based) as uploaded, by row number, so the page
/// can show them.
fn flagged_cells(
    table: &crate::io::input::Table,
    wanted: std::collections::BTreeSet<usize>,
) -> serde_json::Map<String, serde_json::Value> {
    let mut rows = serde_json::Map::new();
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(table.delimiter)
        .flexible(true)
        .from_reader(table.bytes.as_slice());
    for (i, record) in reader.records().enumerate() {
        let row = i + 1;
        if wanted.contains(&row)
            && let Ok(record) = record
        {
            rows.insert(row.to_string(), json!(record.iter().collect::<Vec<_>>()));
        }
    }
    rows
}

/// `[row, score]` pairs, at most `points` of them, each the highest score of its
/// bucket of consecutive rows.
fn decimate(scores: &[f64], points: usize) -> Vec<(usize, f64)> {
    let bucket = scores.len().div_ceil(points.max(1)).max(1);
    scores
        .chunks(bucket)
        .enumerate()
        .map(|(b, chunk)| {
            let (i, s) = chunk
                .iter()
                .enumerate()
                .max_by(|a, b| a.1.total_cmp(b.1))
                .map_or((0, 0.0), |(i, s)| (i, *s));
            (b * bucket + i + 1, s)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detector::{DetectorParams, RuleSet};
    use crate::server::hub::Hub;

    /// A server's state with default settings and `permits` uploads free.
    fn app_with(permits: usize) -> AppState {
        AppState {
            hub: Arc::new(Hub::new(json!({}))),
            units: Arc::default(),
            detector: DetectorParams::default(),
            rules: Arc::new(RuleSet::default()),
            uploads: Arc::new(tokio::sync::Semaphore::new(permits)),
            alerts: None,
        }
    }

    #[tokio::test]
    async fn an_upload_while_another_is_analysed_is_told_when_to_retry() {
        // Every permit taken, as by an upload being analysed.
        let app = app_with(0);
        let body = Bytes::from_static(b"cpu_percent\n1\n2\n");
        let response = analyze(
            State(app),
            Query(UploadQuery { name: None }),
            HeaderMap::new(),
            Ok(body),
        )
        .await;
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers()[header::RETRY_AFTER], "5");
    }

    #[test]
    fn decimation_keeps_every_spike_and_the_row_it_was_on() {
        let mut scores = vec![0.1; 10_000];
        scores[4321] = 0.9;
        let points = decimate(&scores, 100);
        assert_eq!(points.len(), 100);
        assert!(points.contains(&(4322, 0.9)));
        assert_eq!(decimate(&[0.2, 0.3], 100), vec![(1, 0.2), (2, 0.3)]);
    }

    #[test]
    fn an_upload_whose_times_go_backwards_is_told_so() {
        let app = app_with(1);
        let mut csv = String::from("timestamp,cpu_percent\n");
        for (k, t) in (60..120).chain(0..60).enumerate() {
            csv.push_str(&format!("{},{}\n", 1_700_000_000 + t, 30 + k % 7));
        }
        let answer: serde_json::Value =
            serde_json::from_str(&analyse(&app, "up.csv".into(), csv.into_bytes()).unwrap())
                .unwrap();
        let warnings = answer["summary"]["warnings"].to_string();
        assert!(
            warnings.contains("the times go backwards at data row 61 (2023-11-14T22:13:20Z after 2023-11-14T22:15:19Z)"),
            "{warnings}"
        );
    }
}
