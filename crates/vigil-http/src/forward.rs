//! The request to the target: only with a [`Permit`], the canonical path
//! and the query policy saw, the caller's fields without its credentials
//! and hop-by-hop fields, and the connection's credential injected.

use axum::http::header::{ACCEPT_ENCODING, CONNECTION, CONTENT_LENGTH, TRANSFER_ENCODING};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue};
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
    body: crate::answer::RequestBody,
    identity: bool,
) -> Result<reqwest::Response, reqwest::Error> {
    let url = target.url(&analysed.forward_path, analysed.forward_query.as_deref());
    let headers = fields(target, &parts.headers, identity);
    let had_body = parts.headers.contains_key(CONTENT_LENGTH)
        || parts.headers.contains_key(TRANSFER_ENCODING)
        || matches!(&body, crate::answer::RequestBody::Whole(b) if !b.is_empty());
    let mut request = target
        .client
        .request(parts.method.clone(), url)
        .headers(headers);
    if had_body {
        request = match body {
            crate::answer::RequestBody::Whole(bytes) => request.body(bytes),
            crate::answer::RequestBody::Streamed { body, .. } => request.body(body),
        };
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
/// The head of the caller's answer: the target's status and the fields
/// relayed (a masked answer keeps only those that describe its form).
pub fn response_head(upstream: &reqwest::Response, masked: bool) -> axum::http::response::Builder {
    let mut response = axum::http::Response::builder().status(upstream.status());
    let connection = connection_tokens(upstream.headers());
    for (name, value) in upstream.headers() {
        let relayed = if masked {
            vigil_http_req::headers::forward_masked_response_field(name.as_str())
        } else {
            vigil_http_req::headers::forward_response_field(name.as_str(), &connection)
        };
        if relayed {
            response = response.header(name, value);
        }
    }
    response
}

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

#[cfg(test)]
mod tests {
    use super::fields;
    use crate::target::{HttpTarget, HttpTargetConfig, UpstreamAuth};
    use axum::http::{HeaderMap, HeaderValue};
    use vigil_core::Secret;

    fn target(auth: Option<UpstreamAuth>) -> HttpTarget {
        HttpTarget::new(HttpTargetConfig {
            name: "api".into(),
            url: "https://api.internal/base/".into(),
            auth,
            ca_pem: None,
            max_response_bytes: 1024,
            graphql: false,
        })
        .unwrap()
    }

    fn client_fields() -> HeaderMap {
        let mut h = HeaderMap::new();
        for (n, v) in [
            ("authorization", "Bearer vgl_caller"),
            ("proxy-authorization", "Bearer vgl_caller"),
            ("cookie", "s=1"),
            ("connection", "keep-alive, x-hop"),
            ("x-hop", "1"),
            ("x-api-key", "caller-chosen"),
            ("accept", "application/json"),
            ("host", "gw"),
        ] {
            h.append(n, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn the_injected_bearer_replaces_the_callers_credentials() {
        let t = target(Some(UpstreamAuth::Bearer(Secret::new("up".into()))));
        let out = fields(&t, &client_fields(), false);
        assert_eq!(out.get_all("authorization").iter().count(), 1);
        assert_eq!(out["authorization"], "Bearer up");
        for gone in [
            "proxy-authorization",
            "cookie",
            "connection",
            "x-hop",
            "host",
        ] {
            assert!(!out.contains_key(gone), "{gone}");
        }
        assert_eq!(out["accept"], "application/json");
        assert_eq!(out["x-api-key"], "caller-chosen");
    }

    #[test]
    fn a_named_credential_header_cannot_be_set_by_the_caller() {
        let t = target(Some(UpstreamAuth::Header {
            name: "X-Api-Key".into(),
            value: Secret::new("vigil-held".into()),
        }));
        let out = fields(&t, &client_fields(), true);
        assert_eq!(out.get_all("x-api-key").iter().count(), 1);
        assert_eq!(out["x-api-key"], "vigil-held");
        assert!(!out.contains_key("authorization"));
        assert_eq!(out["accept-encoding"], "identity");
    }

    #[test]
    fn basic_credentials_are_encoded_and_the_url_joins_the_base() {
        let t = target(Some(UpstreamAuth::Basic {
            user: "svc".into(),
            password: Secret::new("pw".into()),
        }));
        let out = fields(&t, &HeaderMap::new(), false);
        // base64("svc:pw")
        assert_eq!(out["authorization"], "Basic c3ZjOnB3");
        assert_eq!(
            t.url("/a/b", Some("x=1")),
            "https://api.internal/base/a/b?x=1"
        );
        assert_eq!(t.url("/", None), "https://api.internal/base/");
    }
}
