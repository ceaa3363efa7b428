//! `/api/v1`: sessions and their ledger events.

use super::State;
use super::auth::{ApiError, Caller, api_error};
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;

pub fn routes() -> Router<State> {
    Router::new()
        .route("/sessions", get(list_sessions))
        .route("/sessions/{id}", get(show_session))
}

#[derive(Deserialize)]
struct ListParams {
    limit: Option<usize>,
    /// Only the sessions of this agent run, oldest first, with its events.
    run: Option<String>,
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
    let sessions = state
        .guard
        .store()
        .list_sessions(limit)
        .await
        .map_err(internal)?;
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

fn internal(e: vigil_store::StoreError) -> ApiError {
    tracing::error!(error = %e, "store read failed");
    api_error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "the store could not be read",
    )
}
