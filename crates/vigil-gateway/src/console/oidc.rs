//! "Sign in with SSO": the OIDC authorization code flow with PKCE (S256),
//! a `state` that ties the callback to the browser that started it, and a
//! `nonce` that ties the ID token to this sign-in. The ID token is then
//! checked by the guard's gate like any other credential (signature,
//! issuer, audience, expiry), and the console session holds it: it ends
//! when the token expires.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use aws_lc_rs::digest::{SHA256, digest};
use axum::Extension;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use serde_json::Value;
use vigil_config::ConsoleOidc;
use vigil_core::Secret;

use super::sessions::random_token;
use crate::http::{OverTls, State as HttpState};

/// Sign-ins started and not yet finished, at most.
const MAX_PENDING: usize = 1000;
/// How long a started sign-in may take at the issuer.
const PENDING_FOR: Duration = Duration::from_secs(600);
const HTTP_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest discovery document or token answer read.
const MAX_BODY: usize = 256 * 1024;

/// The console's OIDC client and its sign-ins in progress.
pub struct OidcClient {
    config: ConsoleOidc,
    http: Option<reqwest::Client>,
    pending: Mutex<HashMap<String, Pending>>,
}

struct Pending {
    verifier: Secret<String>,
    nonce: String,
    started: Instant,
}

/// The issuer's endpoints, from its discovery document.
struct Endpoints {
    authorization: String,
    token: String,
}

impl OidcClient {
    pub fn new(config: ConsoleOidc) -> OidcClient {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(HTTP_TIMEOUT)
            .build()
            .inspect_err(|e| tracing::error!(error = %e, "cannot build the console's OIDC client"))
            .ok();
        OidcClient {
            config,
            http,
            pending: Mutex::new(HashMap::new()),
        }
    }

    async fn get_json(&self, request: reqwest::RequestBuilder) -> Result<Value, String> {
        let mut response = request
            .header("accept", "application/json")
            .send()
            .await
            .map_err(|e| format!("the issuer did not answer: {e}"))?;
        let status = response.status();
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| e.to_string())? {
            if body.len() + chunk.len() > MAX_BODY {
                return Err("the issuer's answer is too large".into());
            }
            body.extend_from_slice(&chunk);
        }
        if !status.is_success() {
            return Err(format!("the issuer answered {status}"));
        }
        serde_json::from_slice(&body).map_err(|_| "the issuer's answer is not JSON".into())
    }

    async fn endpoints(&self) -> Result<Endpoints, String> {
        let http = self.http.as_ref().ok_or("no HTTP client")?;
        let issuer = self.config.issuer.trim_end_matches('/');
        let doc = self
            .get_json(http.get(format!("{issuer}/.well-known/openid-configuration")))
            .await?;
        if doc.get("issuer").and_then(Value::as_str) != Some(self.config.issuer.as_str()) {
            return Err("the discovery document names another issuer".into());
        }
        let url = |key: &str| -> Result<String, String> {
            let u = doc
                .get(key)
                .and_then(Value::as_str)
                .ok_or(format!("the discovery document has no `{key}`"))?;
            safe_url(u)?;
            Ok(u.to_string())
        };
        Ok(Endpoints {
            authorization: url("authorization_endpoint")?,
            token: url("token_endpoint")?,
        })
    }

    fn remember(&self, state: String, pending: Pending) {
        let mut map = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        map.retain(|_, p| p.started.elapsed() < PENDING_FOR);
        if map.len() >= MAX_PENDING
            && let Some(oldest) = map
                .iter()
                .min_by_key(|(_, p)| p.started)
                .map(|(k, _)| k.clone())
        {
            map.remove(&oldest);
        }
        map.insert(state, pending);
    }

    fn take(&self, state: &str) -> Option<Pending> {
        let mut map = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        map.remove(state)
            .filter(|p| p.started.elapsed() < PENDING_FOR)
    }
}

/// HTTPS, or HTTP to loopback (a test issuer).
fn safe_url(u: &str) -> Result<(), String> {
    let url = url::Url::parse(u).map_err(|_| format!("`{u}` is not a URL"))?;
    let loopback = match url.host() {
        Some(url::Host::Domain(d)) => d == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    match url.scheme() {
        "https" => Ok(()),
        "http" if loopback => Ok(()),
        _ => Err(format!("`{u}` is neither https:// nor loopback")),
    }
}

/// `GET /console/oidc/login`: off to the issuer.
pub async fn start(State(state): State<HttpState>) -> Response {
    let Some(client) = state.console.oidc.as_ref() else {
        return page(StatusCode::NOT_FOUND, "Sign-in with SSO is not configured.");
    };
    let endpoints = match client.endpoints().await {
        Ok(e) => e,
        Err(why) => {
            tracing::warn!(error = %why, "console SSO: cannot read the issuer's endpoints");
            return page(
                StatusCode::BAD_GATEWAY,
                "The sign-in service cannot be reached.",
            );
        }
    };
    let (flow, nonce, verifier) = (random_token(), random_token(), random_token());
    let challenge = URL_SAFE_NO_PAD.encode(digest(&SHA256, verifier.as_bytes()));
    let Ok(mut url) = url::Url::parse(&endpoints.authorization) else {
        return page(
            StatusCode::BAD_GATEWAY,
            "The sign-in service is misconfigured.",
        );
    };
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", &client.config.client_id)
        .append_pair("redirect_uri", &client.config.redirect_url)
        .append_pair("scope", "openid profile email")
        .append_pair("state", &flow)
        .append_pair("nonce", &nonce)
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256");
    client.remember(
        flow,
        Pending {
            verifier: Secret::new(verifier),
            nonce,
            started: Instant::now(),
        },
    );
    (StatusCode::FOUND, [(header::LOCATION, url.to_string())]).into_response()
}

#[derive(Deserialize)]
pub struct Callback {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

/// `GET /console/oidc/callback`: the code for an ID token, the ID token
/// through the gate, then a console session.
pub async fn callback(
    State(state): State<HttpState>,
    peer: Option<Extension<SocketAddr>>,
    tls: Option<Extension<OverTls>>,
    Query(answer): Query<Callback>,
) -> Response {
    let Some(client) = state.console.oidc.as_ref() else {
        return page(StatusCode::NOT_FOUND, "Sign-in with SSO is not configured.");
    };
    if answer.error.is_some() {
        return page(
            StatusCode::UNAUTHORIZED,
            "The sign-in service refused the sign-in.",
        );
    }
    let (Some(code), Some(flow)) = (answer.code, answer.state) else {
        return page(StatusCode::BAD_REQUEST, "The sign-in answer is incomplete.");
    };
    let Some(pending) = client.take(&flow) else {
        return page(
            StatusCode::BAD_REQUEST,
            "This sign-in was not started here or took too long: sign in again.",
        );
    };
    let id_token = match exchange(client, &code, &pending).await {
        Ok(t) => t,
        Err(why) => {
            tracing::warn!(error = %why, "console SSO: the code exchange failed");
            return page(
                StatusCode::UNAUTHORIZED,
                "The sign-in could not be completed.",
            );
        }
    };
    let peer = peer.map(|Extension(p)| p);
    let principal = match super::login::sign_in(&state, peer, id_token.clone()).await {
        Ok(p) => p,
        Err(_) => {
            return page(
                StatusCode::UNAUTHORIZED,
                "The sign-in service's token was not accepted.",
            );
        }
    };
    let record = principal.record();
    let nonce = record
        .claims
        .as_ref()
        .and_then(|c| c.get("nonce"))
        .and_then(Value::as_str);
    if record.issuer != client.config.issuer || nonce != Some(pending.nonce.as_str()) {
        tracing::warn!(principal = %record.name, "console SSO: the ID token is not for this sign-in (issuer or nonce)");
        return page(
            StatusCode::UNAUTHORIZED,
            "The sign-in service's token was not for this sign-in.",
        );
    }
    let (cookie, _csrf) = state.console.sessions.open(id_token);
    let tls = tls.is_some_and(|Extension(OverTls(t))| t);
    (
        StatusCode::FOUND,
        [
            (header::LOCATION, "/".to_string()),
            (
                header::SET_COOKIE,
                super::set_cookie(&cookie, state.console.max_age, tls),
            ),
        ],
    )
        .into_response()
}

/// The token endpoint's ID token for `code`, proven with the PKCE verifier.
async fn exchange(
    client: &OidcClient,
    code: &str,
    pending: &Pending,
) -> Result<Secret<String>, String> {
    let http = client.http.as_ref().ok_or("no HTTP client")?;
    let endpoints = client.endpoints().await?;
    let body = token_request(client, code, pending);
    let answer = client
        .get_json(
            http.post(&endpoints.token)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body),
        )
        .await?;
    answer
        .get("id_token")
        .and_then(Value::as_str)
        .map(|t| Secret::new(t.to_string()))
        .ok_or_else(|| "the token answer has no id_token".into())
}

/// The token request's form body.
fn token_request(client: &OidcClient, code: &str, pending: &Pending) -> String {
    let mut form = url::form_urlencoded::Serializer::new(String::new());
    form.append_pair("grant_type", "authorization_code")
        .append_pair("code", code)
        .append_pair("redirect_uri", &client.config.redirect_url)
        .append_pair("client_id", &client.config.client_id)
        .append_pair("code_verifier", pending.verifier.expose());
    if let Some(secret) = &client.config.client_secret {
        form.append_pair("client_secret", secret.expose());
    }
    form.finish()
}

/// A short HTML page for a sign-in that did not work (no detail that could
/// help an attacker; the log has it).
fn page(status: StatusCode, message: &str) -> Response {
    let body = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>Vigil</title></head>\
         <body><h1>Vigil</h1><p>{message}</p><p><a href=\"/\">Back to the console</a></p></body></html>"
    );
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        body,
    )
        .into_response()
}
