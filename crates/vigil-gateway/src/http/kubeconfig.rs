//! `GET /api/v1/kubeconfig/{connection}`: what `vigil kubeconfig` needs to point kubectl
//! at `/k8s/<connection>/`: the certificate this listener serves (kubectl sends its bearer
//! only over TLS and must verify Vigil) and the connection's path.
//!
//! Any authenticated principal that some policy grants the connection may ask. A name the
//! caller is not granted is "not found", whatever its kind, so the route lists nothing.

use super::State;
use super::auth::{ApiError, Caller, api_error};
use axum::extract::Path;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use vigil_core::ConnectionKind;

pub fn routes() -> Router<State> {
    Router::new().route("/kubeconfig/{connection}", get(kubeconfig))
}

async fn kubeconfig(
    axum::extract::State(state): axum::extract::State<State>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let granted = state.guard.connections_for(&caller.0);
    let Some(connection) = granted.iter().find(|c| c.name == name) else {
        return Err(api_error(
            StatusCode::NOT_FOUND,
            &format!("no connection named '{name}' is granted to you"),
        ));
    };
    if connection.kind != ConnectionKind::Kubernetes {
        return Err(api_error(
            StatusCode::NOT_FOUND,
            &format!(
                "connection '{name}' is a {} connection, not kubernetes",
                connection.kind
            ),
        ));
    }
    Ok(Json(serde_json::json!({
        "connection": name,
        "path": format!("/k8s/{name}"),
        "certificate_pem": state.tls_cert_pem.as_str(),
    })))
}
