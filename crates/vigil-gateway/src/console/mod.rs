//! The web console's server side: its embedded pages, sign-in with a
//! pasted token or OIDC (authorization code with PKCE), server-side
//! sessions behind an `HttpOnly` cookie, and the CSRF token every state
//! change made with that cookie must carry. The pages call the REST API
//! (`/api/v1`), which accepts the cookie in place of a bearer token
//! ([`crate::http`]'s `Caller`); every call goes through the guard's one
//! login flow.

mod assets;
pub mod headers;
mod login;
mod oidc;
mod sessions;

use axum::Router;
use axum::http::HeaderMap;
use axum::routing::{get, post};

pub use oidc::OidcClient;
pub use sessions::ConsoleSessions;

/// The cookie that names a console session.
pub const COOKIE: &str = "vigil_console";

/// What the console's routes share.
pub struct Console {
    pub sessions: ConsoleSessions,
    /// "Sign in with SSO", when `[console] oidc_client_id` is set.
    pub oidc: Option<OidcClient>,
    /// Absolute session lifetime, for the cookie's `Max-Age`.
    pub max_age: std::time::Duration,
}

impl Console {
    pub fn new(config: &vigil_config::ConsoleConfig) -> Console {
        Console {
            sessions: ConsoleSessions::new(config.idle_timeout, config.max_age),
            oidc: config.oidc.clone().map(OidcClient::new),
            max_age: config.max_age,
        }
    }
}

pub fn routes() -> Router<crate::http::State> {
    Router::new()
        .route("/", get(assets::index))
        .route("/assets/{*path}", get(assets::asset))
        .route("/console/api/config", get(login::config))
        .route("/console/api/login", post(login::login))
        .route("/console/api/me", get(login::me))
        .route("/console/api/logout", post(login::logout))
        .route("/console/oidc/login", get(oidc::start))
        .route("/console/oidc/callback", get(oidc::callback))
        .layer(axum::middleware::from_fn(headers::secure))
}

/// The console session cookie's value in `headers`, if any.
pub fn session_cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value)
        .filter(|v| !v.is_empty())
}

/// Whether `X-CSRF-Token` carries the session's token (compared in
/// constant time).
pub fn csrf_matches(headers: &HeaderMap, csrf: &str) -> bool {
    headers
        .get("x-csrf-token")
        .map(|v| v.as_bytes())
        .is_some_and(|sent| {
            aws_lc_rs::constant_time::verify_slices_are_equal(sent, csrf.as_bytes()).is_ok()
        })
}

/// `Set-Cookie` for a new session (`Secure` when the request came over TLS).
fn set_cookie(value: &str, max_age: std::time::Duration, tls: bool) -> String {
    let secure = if tls { "; Secure" } else { "" };
    format!(
        "{COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
        max_age.as_secs()
    )
}

/// `Set-Cookie` that removes the session cookie.
fn clear_cookie(tls: bool) -> String {
    set_cookie("", std::time::Duration::ZERO, tls)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let mut h = HeaderMap::new();
        h.insert("cookie", "a=1; vigil_console=abc; b=2".parse().unwrap());
        assert_eq!(session_cookie(&h), Some("abc"));
        let mut h = HeaderMap::new();
        h.insert("cookie", "vigil_console_x=abc".parse().unwrap());
        assert_eq!(session_cookie(&h), None);
    }

    #[test]
    fn csrf_must_match_exactly() {
        let mut h = HeaderMap::new();
        assert!(!csrf_matches(&h, "tok"));
        h.insert("x-csrf-token", "tok".parse().unwrap());
        assert!(csrf_matches(&h, "tok"));
        assert!(!csrf_matches(&h, "tok2"));
        assert!(!csrf_matches(&h, "to"));
    }

    #[test]
    fn cookies_are_http_only_and_strict() {
        let c = set_cookie("v", std::time::Duration::from_secs(60), true);
        assert!(c.contains("HttpOnly") && c.contains("SameSite=Strict") && c.contains("Secure"));
        assert!(!set_cookie("v", std::time::Duration::from_secs(60), false).contains("Secure"));
        assert!(clear_cookie(false).contains("Max-Age=0"));
    }
}
