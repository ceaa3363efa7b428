//! `/api/v1/approvals` and `/api/v1/grants`: reviewers decide the requests
//! whose rule names one of their groups; admins see every request and
//! manage every grant; a principal may read its own requests. Every caller
//! comes through the one authentication gate ([`Caller`]).

use super::State;
use super::auth::{ApiError, Caller, api_error};
use axum::body::Bytes;
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use vigil_guard::{ApprovalError, ReviewDecision};

pub fn routes() -> Router<State> {
    Router::new()
        .route("/approvals", get(list))
        .route("/approvals/{id}", get(show))
        .route("/approvals/{id}/approve", post(approve))
        .route("/approvals/{id}/deny", post(deny))
        .route("/grants", get(list_grants))
        .route("/grants/{id}/revoke", post(revoke_grant))
}

/// Longest window a reviewer may open with one approval.
const MAX_WINDOW: std::time::Duration = std::time::Duration::from_secs(7 * 24 * 3600);

#[derive(Deserialize)]
struct ListParams {
    limit: Option<usize>,
}

/// `{ "reason": "...", "for": "30m" }`, every field optional.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct DecideBody {
    reason: Option<String>,
    #[serde(rename = "for")]
    window: Option<String>,
}

async fn list(
    axum::extract::State(state): axum::extract::State<State>,
    caller: Caller,
    Query(params): Query<ListParams>,
) -> Result<Json<Value>, ApiError> {
    let limit = params.limit.unwrap_or(100).min(10_000);
    let admin = caller.is_admin(&state);
    let approvals: Vec<Value> = state
        .guard
        .approvals_for(&caller.0, admin, limit)
        .await
        .map_err(refused)?
        .into_iter()
        .map(|a| with_can_decide(&state, &caller, a))
        .collect();
    Ok(Json(json!({ "approvals": approvals })))
}

async fn show(
    axum::extract::State(state): axum::extract::State<State>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let admin = caller.is_admin(&state);
    match state
        .guard
        .approval_for(&caller.0, admin, &id)
        .await
        .map_err(refused)?
    {
        Some(a) => Ok(Json(with_can_decide(&state, &caller, a))),
        None => Err(api_error(StatusCode::NOT_FOUND, "no such approval request")),
    }
}

async fn approve(
    state: axum::extract::State<State>,
    caller: Caller,
    path: Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    decide(state, caller, path, body, true).await
}

async fn deny(
    state: axum::extract::State<State>,
    caller: Caller,
    path: Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    decide(state, caller, path, body, false).await
}

async fn decide(
    axum::extract::State(state): axum::extract::State<State>,
    caller: Caller,
    Path(id): Path<String>,
    body: Bytes,
    approve: bool,
) -> Result<Json<Value>, ApiError> {
    let body: DecideBody = if body.iter().all(u8::is_ascii_whitespace) {
        DecideBody::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| {
            api_error(
                StatusCode::BAD_REQUEST,
                &format!("expected {{\"reason\": ..., \"for\": ...}}: {e}"),
            )
        })?
    };
    let window = match body.window.as_deref() {
        None => None,
        Some(_) if !approve => {
            return Err(api_error(
                StatusCode::BAD_REQUEST,
                "\"for\" opens a window, so it only goes with approve",
            ));
        }
        Some(text) => {
            let d = humantime::parse_duration(text).map_err(|e| {
                api_error(
                    StatusCode::BAD_REQUEST,
                    &format!("\"for\": {e} (e.g. 30m, 2h)"),
                )
            })?;
            if d.is_zero() || d > MAX_WINDOW {
                return Err(api_error(
                    StatusCode::BAD_REQUEST,
                    "\"for\" must be more than 0 and at most 7d",
                ));
            }
            Some(d)
        }
    };
    let reason = body.reason.filter(|r| !r.trim().is_empty());
    if reason.as_ref().is_some_and(|r| r.len() > 2000) {
        return Err(api_error(
            StatusCode::BAD_REQUEST,
            "the reason is longer than 2000 bytes",
        ));
    }
    let decided = state
        .guard
        .decide_approval(
            &caller.0,
            &id,
            ReviewDecision {
                approve,
                reason,
                window,
            },
        )
        .await
        .map_err(refused)?;
    Ok(Json(json!(decided)))
}

async fn list_grants(
    axum::extract::State(state): axum::extract::State<State>,
    caller: Caller,
    Query(params): Query<ListParams>,
) -> Result<Json<Value>, ApiError> {
    let limit = params.limit.unwrap_or(100).min(10_000);
    let admin = caller.is_admin(&state);
    let grants = state
        .guard
        .grants_for(&caller.0, admin, limit)
        .await
        .map_err(refused)?;
    Ok(Json(json!({ "grants": grants })))
}

async fn revoke_grant(
    axum::extract::State(state): axum::extract::State<State>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let admin = caller.is_admin(&state);
    let revoked = state
        .guard
        .revoke_grant(&caller.0, admin, &id)
        .await
        .map_err(refused)?;
    Ok(Json(json!(revoked)))
}

/// The record as JSON, with `can_decide`: whether the caller may approve
/// or deny it now (what the console shows buttons for).
fn with_can_decide(state: &State, caller: &Caller, a: vigil_core::ApprovalRecord) -> Value {
    let can = state.guard.may_decide(&caller.0, &a);
    let mut v = json!(a);
    if let Some(map) = v.as_object_mut() {
        map.insert("can_decide".into(), Value::Bool(can));
    }
    v
}

fn refused(e: ApprovalError) -> ApiError {
    let status = match &e {
        ApprovalError::NotFound | ApprovalError::GrantNotFound => StatusCode::NOT_FOUND,
        ApprovalError::NotPending(_) | ApprovalError::GrantInactive => StatusCode::CONFLICT,
        ApprovalError::OwnRequest | ApprovalError::NotReviewer(_) | ApprovalError::NotAllowed => {
            StatusCode::FORBIDDEN
        }
        ApprovalError::Unsupported => StatusCode::NOT_IMPLEMENTED,
        ApprovalError::Store(inner) => {
            tracing::error!(error = %inner, "approval store failed");
            StatusCode::INTERNAL_SERVER_ERROR
        }
    };
    api_error(status, &e.to_string())
}
