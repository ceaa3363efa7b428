//! Every `/mcp` request is authenticated through the guard's one gate
//! (a Vigil token or an OIDC JWT as `Authorization: Bearer`); without a
//! valid credential the answer is 401 and the MCP service never runs.

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;
use vigil_core::{Principal, Secret};
use vigil_guard::Guard;

/// Ties the requests of one agent run together in the ledger.
pub const RUN_HEADER: &str = "x-vigil-run";
/// The longest run id accepted.
const MAX_RUN_ID: usize = 128;

/// The authenticated principal of one request, with its run id if given.
#[derive(Clone, Debug)]
pub struct Caller(pub Principal);

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
    let mut principal = match guard.authenticate(&token).await {
        Ok(p) => p,
        Err(e) => {
            tracing::info!(error = ?e, "mcp: authentication failed");
            guard
                .record_rejected_login("mcp", "", "http", "invalid credential")
                .await;
            return unauthorized("invalid credential");
        }
    };
    principal.run_id = run_id;
    request.extensions_mut().insert(Caller(principal));
    next.run(request).await
}

fn unauthorized(message: &'static str) -> Response {
    let mut response = (StatusCode::UNAUTHORIZED, message).into_response();
    response
        .headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    response
}

fn run_id_of(value: &HeaderValue) -> Result<String, &'static str> {
    value
        .to_str()
        .map_err(|_| "X-Vigil-Run must be ASCII")
        .and_then(valid_run_id)
}

/// A run id is 1 to 128 characters of letters, digits and `._:-`.
pub fn valid_run_id(run: &str) -> Result<String, &'static str> {
    let run = run.trim();
    if run.is_empty() || run.len() > MAX_RUN_ID {
        return Err("a run id has 1 to 128 characters");
    }
    if !run
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-'))
    {
        return Err("a run id has only letters, digits and . _ : -");
    }
    Ok(run.to_string())
}

#[cfg(test)]
mod tests {
    use super::valid_run_id;

    #[test]
    fn run_ids_are_short_and_plain() {
        assert_eq!(valid_run_id(" crew-42:a.b_c ").unwrap(), "crew-42:a.b_c");
        assert!(valid_run_id("").is_err());
        assert!(valid_run_id("a b").is_err());
        assert!(valid_run_id("x\n").is_ok()); // trimmed
        assert!(valid_run_id("é").is_err());
        assert!(valid_run_id(&"a".repeat(129)).is_err());
    }
}
