//! Every `/mcp` request is authenticated through the guard's one gate
//! (a Vigil token or an OIDC JWT as `Authorization: Bearer`); without a
//! valid credential the answer is 401 and the MCP service never runs.

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::net::SocketAddr;
use std::sync::Arc;
use vigil_core::{Protocol, RunId, Secret};
use vigil_guard::{Guard, Login, Principal};

/// Ties the requests of one agent run together in the ledger.
pub const RUN_HEADER: &str = "x-vigil-run";

/// The authenticated principal of one request, the run it names (if any)
/// and where it came from.
#[derive(Clone, Debug)]
pub struct Caller {
    pub principal: Principal,
    pub run_id: Option<RunId>,
    pub client_addr: String,
}

pub async fn authenticate(
    State(guard): State<Arc<Guard>>,
    mut request: Request,
    next: Next,
) -> Response {
    let Some(token) = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|t| Secret::new(t.trim().to_string()))
    else {
        return unauthorized("missing bearer token");
    };
    let run_id = match request.headers().get(RUN_HEADER).map(run_id_of) {
        None => None,
        Some(Ok(run)) => Some(run),
        Some(Err(why)) => return (StatusCode::BAD_REQUEST, why).into_response(),
    };
    // The HTTP listener puts the peer's address in the request.
    let client_addr = request
        .extensions()
        .get::<SocketAddr>()
        .map(ToString::to_string)
        .unwrap_or_else(|| "http".to_string());
    let login = Login {
        protocol: Protocol::Mcp,
        credential: vigil_guard::Credential::Secret(&token),
        connection: "",
        client_addr: &client_addr,
    };
    // Refusals are recorded by the gate.
    let principal = match guard.authenticate(&login).await {
        Ok(p) => p,
        Err(e) => {
            tracing::info!(error = ?e, "mcp: authentication failed");
            return unauthorized("invalid credential");
        }
    };
    request.extensions_mut().insert(Caller {
        principal,
        run_id,
        client_addr,
    });
    next.run(request).await
}

fn unauthorized(message: &'static str) -> Response {
    let mut response = (StatusCode::UNAUTHORIZED, message).into_response();
    response
        .headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    response
}

fn run_id_of(value: &HeaderValue) -> Result<RunId, &'static str> {
    value
        .to_str()
        .map_err(|_| "X-Vigil-Run must be ASCII")
        .and_then(RunId::parse)
}
