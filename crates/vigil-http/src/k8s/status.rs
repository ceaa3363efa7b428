//! Vigil's own answers on `/k8s/`: `Status` objects, the form kubectl
//! prints (`Error from server (Forbidden): vigil: denied by rule ...`).
//! No credential, no response byte and no internal detail in them.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use vigil_guard::{Refusal, RefusalClass};

/// A `Status` body (`kind: Status`, `status: Failure`).
pub fn body(code: u16, reason: &str, message: &str) -> serde_json::Value {
    serde_json::json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    })
}

pub fn reply(status: StatusCode, reason: &str, message: &str) -> Response {
    let mut response = (status, axum::Json(body(status.as_u16(), reason, message))).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// A refusal by the guard: 403 `Forbidden` for policy, 413 for a limit,
/// 400 for what could not be analysed or is not supported, 503 when the
/// ledger could not record it.
pub fn refused(refusal: &Refusal) -> Response {
    let (status, reason) = match refusal.class {
        RefusalClass::Limit => (StatusCode::PAYLOAD_TOO_LARGE, "RequestEntityTooLarge"),
        RefusalClass::Analysis | RefusalClass::Protocol | RefusalClass::Unsupported => {
            (StatusCode::BAD_REQUEST, "BadRequest")
        }
        RefusalClass::LedgerUnavailable => (StatusCode::SERVICE_UNAVAILABLE, "ServiceUnavailable"),
        _ => (StatusCode::FORBIDDEN, "Forbidden"),
    };
    reply(status, reason, &refusal.message())
}

pub fn bad_request(message: &str) -> Response {
    reply(
        StatusCode::BAD_REQUEST,
        "BadRequest",
        &format!("vigil: {message}"),
    )
}

pub fn not_found(message: &str) -> Response {
    reply(
        StatusCode::NOT_FOUND,
        "NotFound",
        &format!("vigil: {message}"),
    )
}

pub fn ledger_unavailable() -> Response {
    reply(
        StatusCode::SERVICE_UNAVAILABLE,
        "ServiceUnavailable",
        "vigil: the audit ledger is unavailable, so nothing can be forwarded",
    )
}

/// The API server failed (unreachable, timed out, or its answer could not
/// be relayed safely).
pub fn bad_gateway(message: &str, timeout: bool) -> Response {
    if timeout {
        reply(
            StatusCode::GATEWAY_TIMEOUT,
            "Timeout",
            &format!("vigil: {message}"),
        )
    } else {
        reply(
            StatusCode::BAD_GATEWAY,
            "InternalError",
            &format!("vigil: {message}"),
        )
    }
}

/// A request body that did not arrive in time.
pub fn request_timeout() -> Response {
    reply(
        StatusCode::REQUEST_TIMEOUT,
        "Timeout",
        "vigil: the request body did not arrive in time",
    )
}
