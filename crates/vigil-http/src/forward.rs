//! The request to the target: only with a [`Permit`], the canonical path
//! and the query policy saw, the caller's fields without its credentials
//! and hop-by-hop fields, and the connection's credential injected.

use axum::http::header::{ACCEPT_ENCODING, CONNECTION, CONTENT_LENGTH, TRANSFER_ENCODING};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue};
use bytes::Bytes;
use vigil_guard::Permit;
use vigil_http_req::Analysed;
use vigil_http_req::headers::forward_request_field;

use crate::target::HttpTarget;

/// Sends the request. `identity` asks the target for an unencoded body
/// (when the answer must be masked).
pub async fn send(
    target: &HttpTarget,
    _permit: &Permit,
    parts: &Parts,
    analysed: &Analysed,
    body: Bytes,
    identity: bool,
) -> Result<reqwest::Response, reqwest::Error> {
    let url = target.url(&analysed.forward_path, analysed.forward_query.as_deref());
    let headers = fields(target, &parts.headers, identity);
    let had_body = !body.is_empty()
        || parts.headers.contains_key(CONTENT_LENGTH)
        || parts.headers.contains_key(TRANSFER_ENCODING);
    let mut request = target
        .client
        .request(parts.method.clone(), url)
        .headers(headers);
    if had_body {
        request = request.body(body);
    }
    request.send().await
}

/// The fields the target gets.
fn fields(target: &HttpTarget, from: &HeaderMap, identity: bool) -> HeaderMap {
    let connection = connection_tokens(from);
    let injected = target.credential_header();
    let mut out = HeaderMap::with_capacity(from.len() + 1);
    for (name, value) in from {
        if !forward_request_field(name.as_str(), &connection) {
            continue;
        }
        // The caller cannot set (or add to) the field that carries
        // Vigil's credential.
        if injected.is_some_and(|(n, _)| n == name) {
            continue;
        }
        out.append(name.clone(), value.clone());
    }
    if identity {
        out.insert(ACCEPT_ENCODING, HeaderValue::from_static("identity"));
    }
    if let Some((name, value)) = injected {
        out.insert(name.clone(), value.clone());
    }
    out
}

/// The field names a `Connection` field lists (hop-by-hop as well).
pub fn connection_tokens(headers: &HeaderMap) -> Vec<&str> {
    headers
        .get_all(CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .collect()
}
