//! Failed logins over HTTP: the same per-source budget as the PostgreSQL
//! listener's (`[server] login_failures_per_minute`). A request answered
//! `401` to a request with an `Authorization` (or `Proxy-Authorization`)
//! header spends one; a source
//! with none left gets `429` for such requests before the credential is
//! read or recorded, so bad bearers on `/mcp` or `/api/v1`
//! cannot fill the ledger or guess tokens at line rate.

use std::net::SocketAddr;

use axum::extract::connect_info::Connected;
use axum::extract::{ConnectInfo, Request};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::serve::IncomingStream;
use vigil_core::Protocol;
use vigil_guard::admission::SourceCheck;

use super::State;
use super::sniff::SniffListener;

/// The client's address, as accepted, and whether it speaks TLS.
#[derive(Clone, Copy, Debug)]
pub struct Peer(pub SocketAddr, pub bool);

/// Whether the request came over TLS (a request extension, for the
/// console's `Secure` cookies).
#[derive(Clone, Copy, Debug)]
pub struct OverTls(pub bool);

impl Connected<IncomingStream<'_, SniffListener>> for Peer {
    fn connect_info(stream: IncomingStream<'_, SniffListener>) -> Self {
        let tls = matches!(stream.io(), super::sniff::HttpStream::Tls(_));
        Peer(*stream.remote_addr(), tls)
    }
}

pub async fn failed_logins(
    axum::extract::State(state): axum::extract::State<State>,
    ConnectInfo(Peer(peer, tls)): ConnectInfo<Peer>,
    mut request: Request,
    next: Next,
) -> Response {
    let ip = peer.ip();
    // The front-ends behind this listener record the peer with a login.
    request.extensions_mut().insert(peer);
    request.extensions_mut().insert(OverTls(tls));
    let path = request.uri().path();
    let protocol = if path.starts_with("/mcp") {
        Protocol::Mcp
    } else if path.starts_with("/proxy/") {
        Protocol::Http
    } else {
        Protocol::Rest
    };
    // Only a request that carries a credential is a login; health checks
    // and the console's sign-in page stay reachable. The proxy also reads
    // `Proxy-Authorization`.
    let headers = request.headers();
    if !headers.contains_key(axum::http::header::AUTHORIZATION)
        && !headers.contains_key(axum::http::header::PROXY_AUTHORIZATION)
    {
        return next.run(request).await;
    }
    let addr = peer.to_string();
    match state.failures.check(ip) {
        SourceCheck::Allowed { refused: 0 } => {}
        SourceCheck::Allowed { refused } => {
            state
                .guard
                .record_rejected_login(
                    protocol,
                    "",
                    &addr,
                    &format!("{refused} requests refused while this address was rate-limited"),
                )
                .await;
        }
        SourceCheck::Limited { first } => {
            if first {
                tracing::warn!(%peer, "too many failed logins: address rate-limited (http)");
                state
                    .guard
                    .record_rejected_login(
                        protocol,
                        "",
                        &addr,
                        "too many failed logins from this address: rate-limited",
                    )
                    .await;
            }
            return (
                StatusCode::TOO_MANY_REQUESTS,
                [("retry-after", "60")],
                axum::Json(serde_json::json!({
                    "error": "too many failed logins from this address; try again later"
                })),
            )
                .into_response();
        }
    }
    let response = next.run(request).await;
    if response.status() == StatusCode::UNAUTHORIZED {
        state.failures.failed(ip);
    }
    response
}
