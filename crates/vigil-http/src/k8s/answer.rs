//! A permitted Kubernetes request sent to the API server, and its answer:
//! streamed as it is when nothing must be masked; otherwise masked, a
//! watch document by document, anything else read whole (bounded). An
//! answer that must be masked but cannot be is refused (502), never
//! relayed.

use std::time::Instant;

use axum::body::Body;
use axum::http::header::{ACCEPT, ACCEPT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Response as HttpResponse};
use axum::response::Response;
use bytes::Bytes;
use serde_json::Value;
use vigil_core::K8sFacts;
use vigil_guard::{Permit, SessionCtx};
use vigil_http_req::headers::forward_request_field;
use vigil_mask::Hits;

use super::watch::{self, Masking};
use super::{facts, status};
use crate::handler::Streamed;
use crate::mask::Unmaskable;
use crate::relay::{self, Finished};
use crate::target::HttpTarget;
use crate::{HttpProxy, mask};

/// What is sent: the request as read, its target (path and query as
/// analysed), its facts and its body.
pub struct Permitted<'a> {
    pub parts: &'a Parts,
    pub target_path: &'a str,
    pub facts: &'a K8sFacts,
    pub body: Bytes,
    pub masking: Masking,
    /// Policy allowed the request's `Impersonate-*` fields: they are sent.
    pub impersonate: bool,
}

/// How a request ends: answered; answered with the API server's body
/// still streaming as it is; or with a watch streaming, masked.
pub enum Answer {
    Done(Response),
    Streaming(Box<Streamed>),
    Watch(Box<WatchStream>),
}
use Answer::{Done, Streaming};

/// A masked watch: the relay task takes the session.
pub struct WatchStream {
    pub response: HttpResponse<()>,
    pub upstream: reqwest::Response,
    pub masking: Masking,
    pub done: Finished,
}

pub async fn forward(
    proxy: &HttpProxy,
    target: &HttpTarget,
    session: &SessionCtx,
    request: Permitted<'_>,
    permit: Permit,
) -> Answer {
    let Permitted {
        parts,
        target_path,
        facts,
        body,
        masking,
        impersonate,
    } = request;
    let mut done = Finished {
        seq: permit.seqs.first().copied().unwrap_or_default(),
        started: Instant::now(),
        status: 0,
        bytes: 0,
        error: None,
        masking: None,
    };
    let url = target.url_of_target(target_path);
    let mut send = target
        .client
        .request(parts.method.clone(), url)
        .headers(fields(target, &parts.headers, masking.any(), impersonate));
    if !body.is_empty() {
        send = send.body(body);
    }
    let upstream = match send.send().await {
        Ok(r) => r,
        Err(e) => {
            let timeout = e.is_timeout();
            tracing::warn!(session = %session.id, connection = %target.name, timeout, "k8s proxy: the API server could not be reached");
            done.error = Some(if timeout { "timeout" } else { "unreachable" });
            relay::finish_outcome(&proxy.guard, session, done).await;
            return Done(status::bad_gateway(
                "the API server could not be reached",
                timeout,
            ));
        }
    };
    done.status = upstream.status().as_u16();
    let response = match crate::forward::response_head(&upstream, masking.any()).body(()) {
        Ok(r) => r,
        Err(_) => {
            done.error = Some("bad_response");
            relay::finish_outcome(&proxy.guard, session, done).await;
            return Done(status::bad_gateway(
                "the API server's answer could not be relayed",
                false,
            ));
        }
    };
    if !masking.any() {
        return Streaming(Box::new(Streamed {
            response,
            upstream,
            done,
        }));
    }
    if let Err(why) = maskable(&upstream, masking, facts.verb == "watch") {
        tracing::warn!(session = %session.id, connection = %target.name, reason = why, "k8s proxy: answer refused (must be masked)");
        done.error = Some("unmaskable");
        relay::finish_outcome(&proxy.guard, session, done).await;
        return Done(status::bad_gateway(why, false));
    }
    if facts.verb == "watch" {
        return Answer::Watch(Box::new(WatchStream {
            response,
            upstream,
            masking,
            done,
        }));
    }
    whole(proxy, target, session, upstream, masking, response, done).await
}

/// Reads, masks and answers a whole (bounded) answer.
async fn whole(
    proxy: &HttpProxy,
    target: &HttpTarget,
    session: &SessionCtx,
    upstream: reqwest::Response,
    masking: Masking,
    response: HttpResponse<()>,
    mut done: Finished,
) -> Answer {
    let media = vigil_http_req::media_type(content_type_of(&upstream));
    let decoded = crate::decode::read_decoded(upstream, target.max_response_bytes)
        .await
        .map_err(|e| match e {
            Unmaskable::TooLarge => {
                "the API server's answer is larger than max_response_bytes and must be masked"
                    .to_string()
            }
            Unmaskable::Broken => "the API server broke off its answer".to_string(),
            other => other.to_string(),
        });
    let masked = match decoded {
        Err(why) => Err(why),
        Ok(buf) => match () {
            () if mask::is_json(&media) => mask_json(session, masking, &buf),
            // Pod logs and other text: only detectors can apply (a request
            // on Secrets answers JSON, checked before).
            () => mask::body(session, &media, &buf).map_err(|e| e.to_string()),
        },
    };
    match masked {
        Ok((bytes, summary)) => {
            done.bytes = bytes.len() as u64;
            done.masking = summary;
            relay::finish_outcome(&proxy.guard, session, done).await;
            let mut response = response.map(|()| Body::from(bytes.clone()));
            response
                .headers_mut()
                .insert(CONTENT_LENGTH, HeaderValue::from(bytes.len()));
            Done(response)
        }
        Err(why) => {
            tracing::warn!(session = %session.id, connection = %target.name, reason = %why, "k8s proxy: answer refused (must be masked)");
            done.error = Some("unmaskable");
            relay::finish_outcome(&proxy.guard, session, done).await;
            Done(status::bad_gateway(&why, false))
        }
    }
}

pub(crate) fn mask_json(
    session: &SessionCtx,
    masking: Masking,
    body: &[u8],
) -> Result<(Vec<u8>, Option<vigil_core::MaskingSummary>), String> {
    let bad = || "the API server's answer is not valid JSON and must be masked".to_string();
    let mut value: Value = serde_json::from_slice(body).map_err(|_| bad())?;
    let mut counts = (Hits::default(), 0);
    watch::mask_document(session, masking, &mut value, &mut counts);
    let out = serde_json::to_vec(&value).map_err(|_| bad())?;
    Ok((out, mask::summary(&counts.0, counts.1)))
}

/// An answer Vigil can mask: JSON when Secret values may be in it, and a
/// watch not encoded (Vigil asked for identity; a whole answer is decoded).
pub(crate) fn maskable(
    upstream: &reqwest::Response,
    masking: Masking,
    watch: bool,
) -> Result<(), &'static str> {
    if watch && !crate::decode::codings_of(upstream.headers()).is_empty() {
        return Err("the API server's watch is encoded (Content-Encoding) and must be masked");
    }
    if masking.secrets && !mask::is_json(&vigil_http_req::media_type(content_type_of(upstream))) {
        return Err("the API server's answer is not JSON and must be masked");
    }
    Ok(())
}

/// An answer's `Content-Type` ("" when absent or not text).
fn content_type_of(upstream: &reqwest::Response) -> &str {
    upstream
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

/// The fields the API server gets: the caller's, less its credentials,
/// hop-by-hop fields and impersonation (kept only when policy allowed
/// it); JSON asked for; identity encoding when the answer is masked;
/// Vigil's credential.
pub fn fields(
    target: &HttpTarget,
    from: &HeaderMap,
    identity: bool,
    impersonate: bool,
) -> HeaderMap {
    let connection = crate::forward::connection_tokens(from);
    let injected = target.credential_header();
    let mut out = HeaderMap::with_capacity(from.len() + 2);
    for (name, value) in from {
        if !forward_request_field(name.as_str(), &connection)
            || (!impersonate && facts::is_impersonation(name.as_str()))
            || name == ACCEPT
            || injected.is_some_and(|(n, _)| n == name)
        {
            continue;
        }
        out.append(name.clone(), value.clone());
    }
    out.insert(ACCEPT, facts::json_accept(from));
    if identity {
        out.insert(ACCEPT_ENCODING, HeaderValue::from_static("identity"));
    }
    if let Some((name, value)) = injected {
        out.insert(name.clone(), value.clone());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::fields;
    use crate::target::{HttpTarget, HttpTargetConfig, UpstreamAuth};
    use axum::http::{HeaderMap, HeaderValue};
    use vigil_core::Secret;

    #[test]
    fn the_api_server_gets_vigils_credential_and_no_impersonation() {
        let target = HttpTarget::new(HttpTargetConfig {
            name: "kube".into(),
            url: "https://10.0.0.9:6443".into(),
            auth: Some(UpstreamAuth::Bearer(Secret::new("sa-token".into()))),
            ca_pem: None,
            max_response_bytes: 1024,
            graphql: false,
        })
        .unwrap();
        let mut h = HeaderMap::new();
        for (n, v) in [
            ("authorization", "Bearer vgl_agent"),
            ("impersonate-user", "system:admin"),
            ("Impersonate-Group", "system:masters"),
            ("impersonate-extra-scopes", "x"),
            (
                "accept",
                "application/vnd.kubernetes.protobuf, application/json",
            ),
            ("user-agent", "kubectl/v1.32.4"),
        ] {
            h.append(
                axum::http::HeaderName::from_bytes(n.as_bytes()).unwrap(),
                HeaderValue::from_static(v),
            );
        }
        let out = fields(&target, &h, true, false);
        assert_eq!(out["authorization"], "Bearer sa-token");
        assert_eq!(out.get_all("authorization").iter().count(), 1);
        assert!(out.keys().all(|k| !k.as_str().starts_with("impersonate-")));
        assert_eq!(out["accept"], "application/json");
        assert_eq!(out["accept-encoding"], "identity");
        assert_eq!(out["user-agent"], "kubectl/v1.32.4");
        // Allowed by policy, impersonation is sent as the caller wrote it.
        let out = fields(&target, &h, true, true);
        assert_eq!(out["impersonate-user"], "system:admin");
        assert_eq!(out["authorization"], "Bearer sa-token");
    }
}
