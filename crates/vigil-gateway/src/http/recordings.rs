//! `/api/v1/sessions/{id}/recordings`: the channel recordings of an SSH
//! session (asciicast v2), for admins.

use super::State;
use super::auth::{ApiError, Caller, api_error};
use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};

pub fn routes() -> Router<State> {
    Router::new()
        .route("/sessions/{id}/recordings", get(list))
        .route("/sessions/{id}/recordings/{channel}", get(fetch))
}

/// A session id as the SSH front-end names its directory: anything else
/// cannot name a recording (and cannot walk out of the directory).
fn session_dir(state: &State, id: &str) -> Result<std::path::PathBuf, ApiError> {
    if id.is_empty() || id.len() > 128 || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    {
        return Err(api_error(StatusCode::NOT_FOUND, "no such session"));
    }
    Ok(state.recordings.join(id))
}

async fn list(
    axum::extract::State(state): axum::extract::State<State>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    caller.require_admin(&state)?;
    let dir = session_dir(&state, &id)?;
    let mut channels = Vec::new();
    if let Ok(entries) = std::fs::read_dir(&dir) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(n) = name
                .strip_suffix(".cast")
                .and_then(|n| n.parse::<u32>().ok())
            else {
                continue;
            };
            let bytes = entry.metadata().map(|m| m.len()).unwrap_or(0);
            channels.push((n, bytes));
        }
    }
    channels.sort_unstable();
    let channels: Vec<serde_json::Value> = channels
        .into_iter()
        .map(|(channel, bytes)| serde_json::json!({ "channel": channel, "bytes": bytes }))
        .collect();
    Ok(Json(
        serde_json::json!({ "session": id, "channels": channels }),
    ))
}

async fn fetch(
    axum::extract::State(state): axum::extract::State<State>,
    caller: Caller,
    Path((id, channel)): Path<(String, u32)>,
) -> Result<impl IntoResponse, ApiError> {
    caller.require_admin(&state)?;
    let path = session_dir(&state, &id)?.join(format!("{channel}.cast"));
    let read = tokio::task::spawn_blocking(move || std::fs::read(path)).await;
    match read {
        Ok(Ok(bytes)) => Ok(([(header::CONTENT_TYPE, "application/x-asciicast")], bytes)),
        _ => Err(api_error(StatusCode::NOT_FOUND, "no such recording")),
    }
}
