//! Bearer authentication for the REST API, through the one identity gate.

use super::State;
use axum::Json;
use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::request::Parts;
use vigil_core::{Protocol, Secret};
use vigil_guard::{Login, Principal};

/// A principal authenticated from `Authorization: Bearer <token>`.
pub struct Caller(pub Principal);

pub type ApiError = (StatusCode, Json<serde_json::Value>);

pub fn api_error(status: StatusCode, message: &str) -> ApiError {
    (status, Json(serde_json::json!({ "error": message })))
}

impl FromRequestParts<State> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &State) -> Result<Self, Self::Rejection> {
        let bearer = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        // A browser signed in to the console sends its session cookie
        // instead; a state change must then also carry the CSRF token.
        let (credential, console_cookie) = match bearer {
            Some(b) => (Secret::new(b.trim().to_string()), None),
            None => {
                let cookie = crate::console::session_cookie(&parts.headers)
                    .ok_or_else(|| api_error(StatusCode::UNAUTHORIZED, "missing bearer token"))?;
                let (credential, csrf) = state.console.sessions.get(cookie).ok_or_else(|| {
                    api_error(
                        StatusCode::UNAUTHORIZED,
                        "the console session ended: sign in again",
                    )
                })?;
                if !parts.method.is_safe() && !crate::console::csrf_matches(&parts.headers, &csrf) {
                    return Err(api_error(
                        StatusCode::FORBIDDEN,
                        "a state change from the console needs its X-CSRF-Token header",
                    ));
                }
                (credential, Some(cookie.to_string()))
            }
        };
        let client_addr = parts
            .extensions
            .get::<std::net::SocketAddr>()
            .map(ToString::to_string)
            .unwrap_or_default();
        let login = Login {
            protocol: Protocol::Rest,
            credential: vigil_guard::Credential::Secret(&credential),
            connection: "",
            client_addr: &client_addr,
        };
        // The gate records a refused credential in the ledger.
        match state.guard.authenticate(&login).await {
            Ok(principal) => Ok(Caller(principal)),
            Err(_) => {
                if let Some(cookie) = console_cookie {
                    // Revoked or expired since sign-in: the session ends.
                    state.console.sessions.close(&cookie);
                }
                Err(api_error(StatusCode::UNAUTHORIZED, "invalid credential"))
            }
        }
    }
}

impl Caller {
    /// Whether the caller is a member of `server.admin_groups`.
    pub fn is_admin(&self, state: &State) -> bool {
        state.admin_groups.iter().any(|g| self.0.in_group(g))
    }

    /// Members of `server.admin_groups` may read sessions and events.
    pub fn require_admin(&self, state: &State) -> Result<(), ApiError> {
        if self.is_admin(state) {
            Ok(())
        } else {
            Err(api_error(
                StatusCode::FORBIDDEN,
                "this requires membership of an admin group",
            ))
        }
    }
}
