//! `/api/v1`: sessions and their ledger events (listed with filters,
//! exported as JSON lines), agent runs, and the ledger's verification.

use super::State;
use super::auth::{ApiError, Caller, api_error};
use axum::extract::{Path, Query};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;

pub fn routes() -> Router<State> {
    Router::new()
        .route("/sessions", get(list_sessions))
        .route("/sessions/{id}", get(show_session))
        .route("/sessions/{id}/export", get(export_session))
        .route("/runs/{run}/export", get(export_run))
        .route("/audit", get(audit))
}

/// Sessions read to apply the filters, at most.
const FILTER_WINDOW: usize = 10_000;

#[derive(Deserialize)]
struct ListParams {
    limit: Option<usize>,
    /// Only the sessions of this agent run, oldest first, with its events.
    run: Option<String>,
    /// Filters: principal name, connection, protocol (exact); `verdict`
    /// `denied` (a statement was denied) or `allowed` (none was); a time
    /// range on the start (Unix ms).
    principal: Option<String>,
    connection: Option<String>,
    protocol: Option<String>,
    verdict: Option<String>,
    since: Option<i64>,
    until: Option<i64>,
}

impl ListParams {
    fn filtered(&self) -> bool {
        self.principal.is_some()
            || self.connection.is_some()
            || self.protocol.is_some()
            || self.verdict.is_some()
            || self.since.is_some()
            || self.until.is_some()
    }

    fn keeps(&self, s: &vigil_store::SessionSummary) -> bool {
        let is = |want: &Option<String>, have: &Option<String>| {
            want.as_ref()
                .is_none_or(|w| have.as_deref() == Some(w.as_str()))
        };
        let started = s.started_at_ms.unwrap_or(0);
        is(&self.principal, &s.principal)
            && is(&self.connection, &s.connection)
            && is(&self.protocol, &s.protocol)
            && match self.verdict.as_deref() {
                Some("denied") => s.denied > 0,
                Some("allowed") => s.denied == 0,
                _ => true,
            }
            && self.since.is_none_or(|t| started >= t)
            && self.until.is_none_or(|t| started <= t)
    }
}

async fn list_sessions(
    axum::extract::State(state): axum::extract::State<State>,
    caller: Caller,
    Query(params): Query<ListParams>,
) -> Result<Json<serde_json::Value>, ApiError> {
    caller.require_admin(&state)?;
    let limit = params.limit.unwrap_or(100).min(10_000);
    if let Some(run) = params.run {
        let store = state.guard.store();
        let sessions = store.run_sessions(&run, limit).await.map_err(internal)?;
        let events = store.run_events(&run, 10_000).await.map_err(internal)?;
        return Ok(Json(
            serde_json::json!({ "run": run, "sessions": sessions, "events": events }),
        ));
    }
    if let Some(v) = params.verdict.as_deref()
        && v != "denied"
        && v != "allowed"
    {
        return Err(api_error(
            StatusCode::BAD_REQUEST,
            "verdict is `denied` or `allowed`",
        ));
    }
    let read = if params.filtered() {
        FILTER_WINDOW
    } else {
        limit
    };
    let sessions: Vec<_> = state
        .guard
        .store()
        .list_sessions(read)
        .await
        .map_err(internal)?
        .into_iter()
        .filter(|s| params.keeps(s))
        .take(limit)
        .collect();
    Ok(Json(serde_json::json!({ "sessions": sessions })))
}

async fn show_session(
    axum::extract::State(state): axum::extract::State<State>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    caller.require_admin(&state)?;
    let events = state
        .guard
        .store()
        .session_events(&id)
        .await
        .map_err(internal)?;
    if events.is_empty() {
        return Err(api_error(StatusCode::NOT_FOUND, "no such session"));
    }
    Ok(Json(serde_json::json!({ "id": id, "events": events })))
}

/// A session's events as JSON lines, one event a line, as a download.
async fn export_session(
    axum::extract::State(state): axum::extract::State<State>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    caller.require_admin(&state)?;
    let events = state
        .guard
        .store()
        .session_events(&id)
        .await
        .map_err(internal)?;
    if events.is_empty() {
        return Err(api_error(StatusCode::NOT_FOUND, "no such session"));
    }
    Ok(json_lines(&format!("session-{}", file_safe(&id)), &events))
}

/// An agent run's events, across its sessions, as JSON lines.
async fn export_run(
    axum::extract::State(state): axum::extract::State<State>,
    caller: Caller,
    Path(run): Path<String>,
) -> Result<Response, ApiError> {
    caller.require_admin(&state)?;
    let events = state
        .guard
        .store()
        .run_events(&run, FILTER_WINDOW * 10)
        .await
        .map_err(internal)?;
    if events.is_empty() {
        return Err(api_error(StatusCode::NOT_FOUND, "no such run"));
    }
    Ok(json_lines(&format!("run-{}", file_safe(&run)), &events))
}

fn json_lines(name: &str, events: &[vigil_store::LedgerRecord]) -> Response {
    let mut body = String::new();
    for e in events {
        if let Ok(line) = serde_json::to_string(e) {
            body.push_str(&line);
            body.push('\n');
        }
    }
    (
        [
            (header::CONTENT_TYPE, "application/x-ndjson".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}.jsonl\""),
            ),
        ],
        body,
    )
        .into_response()
}

/// Letters, digits, `-` and `_` of `id`, for a file name.
fn file_safe(id: &str) -> String {
    id.chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .take(80)
        .collect()
}

/// The ledger's verification, as `vigil audit verify` runs it.
async fn audit(
    axum::extract::State(state): axum::extract::State<State>,
    caller: Caller,
) -> Result<Json<serde_json::Value>, ApiError> {
    caller.require_admin(&state)?;
    let (dir, options) = (state.ledger.data_dir.clone(), state.ledger.options.clone());
    let report =
        tokio::task::spawn_blocking(move || vigil_store::verify_ledger_with(&dir, &options))
            .await
            .map_err(|_| api_error(StatusCode::INTERNAL_SERVER_ERROR, "verification stopped"))?
            .map_err(internal)?;
    Ok(Json(serde_json::json!({
        "ok": report.is_intact(),
        "events": report.events,
        "checkpoints": report.checkpoints,
        "head_seq": report.head_seq,
        "first_bad": report.first_bad,
        "verified_at_ms": std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0),
    })))
}

fn internal(e: vigil_store::StoreError) -> ApiError {
    tracing::error!(error = %e, "store read failed");
    api_error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "the store could not be read",
    )
}
