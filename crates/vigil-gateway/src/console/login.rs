//! Sign-in with a pasted token, who am I, sign-out, and what the sign-in
//! page offers.

use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::{Value, json};
use vigil_core::{Protocol, Secret};
use vigil_guard::admission::SourceCheck;
use vigil_guard::{Login, Principal};

use crate::http::State as HttpState;
use crate::http::{Caller, OverTls};

/// The longest token accepted (a JWT with many groups stays far below).
const MAX_TOKEN_LEN: usize = 16 * 1024;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LoginBody {
    token: String,
}

pub async fn config(State(state): State<HttpState>) -> Json<Value> {
    Json(json!({ "sso": state.console.oidc.is_some() }))
}

pub async fn login(
    State(state): State<HttpState>,
    peer: Option<Extension<SocketAddr>>,
    tls: Option<Extension<OverTls>>,
    body: Bytes,
) -> Response {
    let tls = tls.is_some_and(|Extension(OverTls(t))| t);
    let Ok(LoginBody { token }) = serde_json::from_slice::<LoginBody>(&body) else {
        return error(StatusCode::BAD_REQUEST, "expected {\"token\": \"...\"}");
    };
    let token = token.trim();
    if token.is_empty() || token.len() > MAX_TOKEN_LEN {
        return error(
            StatusCode::BAD_REQUEST,
            "paste a Vigil token or an OIDC token",
        );
    }
    let credential = Secret::new(token.to_string());
    match sign_in(&state, peer.map(|Extension(p)| p), credential.clone()).await {
        Ok(principal) => {
            let (cookie, csrf) = state.console.sessions.open(credential);
            let me = me_json(&state, &principal, Some(&csrf));
            (
                [(
                    header::SET_COOKIE,
                    super::set_cookie(&cookie, state.console.max_age, tls),
                )],
                Json(json!({ "csrf": csrf, "me": me })),
            )
                .into_response()
        }
        Err(response) => response,
    }
}

/// Checks `credential` through the guard's gate, within the source's
/// failed-login budget (a refusal spends one).
pub(super) async fn sign_in(
    state: &HttpState,
    peer: Option<SocketAddr>,
    credential: Secret<String>,
) -> Result<Principal, Response> {
    let addr = peer.map(|p| p.to_string()).unwrap_or_default();
    if let Some(ip) = peer.map(|p| p.ip())
        && let SourceCheck::Limited { .. } = state.failures.check(ip)
    {
        return Err(error(
            StatusCode::TOO_MANY_REQUESTS,
            "too many failed sign-ins from this address; try again later",
        ));
    }
    let login = Login {
        protocol: Protocol::Rest,
        credential: vigil_guard::Credential::Secret(&credential),
        connection: "",
        client_addr: &addr,
    };
    state.guard.authenticate(&login).await.map_err(|_| {
        if let Some(p) = peer {
            state.failures.failed(p.ip());
        }
        error(StatusCode::UNAUTHORIZED, "this token is not valid")
    })
}

pub async fn me(State(state): State<HttpState>, caller: Caller, headers: HeaderMap) -> Json<Value> {
    let csrf = super::session_cookie(&headers)
        .and_then(|c| state.console.sessions.get(c))
        .map(|(_, csrf)| csrf);
    Json(me_json(&state, &caller.0, csrf.as_deref()))
}

pub async fn logout(
    State(state): State<HttpState>,
    _caller: Caller,
    tls: Option<Extension<OverTls>>,
    headers: HeaderMap,
) -> Response {
    if let Some(cookie) = super::session_cookie(&headers) {
        state.console.sessions.close(cookie);
    }
    let tls = tls.is_some_and(|Extension(OverTls(t))| t);
    (
        StatusCode::NO_CONTENT,
        [(header::SET_COOKIE, super::clear_cookie(tls))],
    )
        .into_response()
}

fn me_json(state: &HttpState, principal: &Principal, csrf: Option<&str>) -> Value {
    let record = principal.record();
    json!({
        "name": record.name,
        "kind": record.kind,
        "groups": record.groups,
        "issuer": record.issuer,
        "run_id": record.run_id,
        "admin": state.admin_groups.iter().any(|g| principal.in_group(g)),
        "csrf": csrf,
    })
}

pub(super) fn error(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({ "error": message }))).into_response()
}
