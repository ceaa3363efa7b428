//! The answers Vigil itself gives on the proxy route (as opposed to the
//! target's): JSON bodies with an `error` code and a reason a client may
//! see (no credential, no response byte, no internal detail).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use vigil_guard::{Refusal, RefusalClass};

fn json(status: StatusCode, body: serde_json::Value) -> Response {
    let mut response = (status, axum::Json(body)).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// A request Vigil could not read one way only (400), or past a header
/// limit (431).
pub fn bad_request(status: u16, reason: &str) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    json(
        status,
        serde_json::json!({ "error": "bad_request", "reason": reason }),
    )
}

pub fn unauthorized(reason: &str) -> Response {
    let mut response = json(
        StatusCode::UNAUTHORIZED,
        serde_json::json!({ "error": "unauthorized", "reason": reason }),
    );
    response
        .headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    response
}

pub fn not_found(reason: &str) -> Response {
    json(
        StatusCode::NOT_FOUND,
        serde_json::json!({ "error": "not_found", "reason": reason }),
    )
}

/// A refusal by the guard: 403 for policy (the contract's form), 413 for a
/// size limit, 400 for what could not be analysed or is not supported, 503
/// when the ledger could not record it.
pub fn refused(refusal: &Refusal) -> Response {
    let status = match refusal.class {
        RefusalClass::Limit => StatusCode::PAYLOAD_TOO_LARGE,
        RefusalClass::Analysis | RefusalClass::Protocol | RefusalClass::Unsupported => {
            StatusCode::BAD_REQUEST
        }
        RefusalClass::LedgerUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::FORBIDDEN,
    };
    let error = match status {
        StatusCode::FORBIDDEN => "denied",
        StatusCode::PAYLOAD_TOO_LARGE => "too_large",
        StatusCode::BAD_REQUEST => "bad_request",
        _ => "unavailable",
    };
    json(
        status,
        serde_json::json!({ "error": error, "rule": refusal.rule, "reason": refusal.reason }),
    )
}

/// The decision could not be made durable: nothing was forwarded.
pub fn ledger_unavailable() -> Response {
    json(
        StatusCode::SERVICE_UNAVAILABLE,
        serde_json::json!({
            "error": "unavailable",
            "reason": "the audit ledger is unavailable, so nothing can be forwarded"
        }),
    )
}

/// The target failed (unreachable, timed out, or its answer could not be
/// relayed safely): 502 (or 504 for a timeout).
pub fn bad_gateway(reason: &str, timeout: bool) -> Response {
    let status = if timeout {
        StatusCode::GATEWAY_TIMEOUT
    } else {
        StatusCode::BAD_GATEWAY
    };
    json(
        status,
        serde_json::json!({ "error": "upstream", "reason": reason }),
    )
}

/// Past the gateway's caps on requests in flight (global or per principal).
pub fn too_many(reason: &str) -> Response {
    json(
        StatusCode::TOO_MANY_REQUESTS,
        serde_json::json!({ "error": "limit", "reason": reason }),
    )
}

pub fn request_timeout() -> Response {
    json(
        StatusCode::REQUEST_TIMEOUT,
        serde_json::json!({ "error": "timeout", "reason": "the request body did not arrive in time" }),
    )
}

/// A streamed request body that went past its bound (the target got a
/// broken body, never a complete one).
pub fn too_large(limit: u64) -> Response {
    json(
        StatusCode::PAYLOAD_TOO_LARGE,
        serde_json::json!({
            "error": "too_large",
            "reason": format!("the request body is larger than {limit} bytes"),
        }),
    )
}
