//! The HTTP and Kubernetes connections behind the [`ApiTarget`] seam, for
//! the MCP tools `http_request` and `kubernetes`. Each request is read by
//! the same code as on `/proxy/` and `/k8s/` (so policy sees the same
//! `http.*` or `k8s.*` facts a curl or a kubectl request would produce),
//! sent with the connection's credential the same way, and its answer
//! masked by the same code. What differs is the answer's bound: a tool
//! result holds at most `max_bytes`; an answer that must be masked and is
//! larger is refused (never cut in the middle of a JSON document), one
//! that needs no masking is cut and marked `truncated`.

use std::collections::HashMap;
use std::sync::Arc;

use axum::http::header::CONTENT_TYPE;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method};
use bytes::BytesMut;
use vigil_core::{ActionKind, K8sFacts, MaskingSummary};
use vigil_guard::{Permit, SessionCtx};
use vigil_http_req::{Analysed, BodyFacts, RequestHead};
use vigil_target::{ApiAnswer, ApiKind, ApiRequest, ApiTarget, BoxFuture, TargetError};

use crate::k8s::watch::Masking;
use crate::k8s::{answer as k8s_answer, facts as k8s_facts};
use crate::target::HttpTarget;
use crate::{HttpProxy, PREFIX, mask};

/// Kubernetes verbs a tool call never makes: streams (exec, attach,
/// port-forward) and watches have no place in one bounded answer.
const STREAM_VERBS: [&str; 4] = ["exec", "attach", "portforward", "watch"];

impl HttpProxy {
    /// The proxy's `kind = "http"` and `kind = "kubernetes"` connections
    /// behind the [`ApiTarget`] seam (the same targets, clients and
    /// credentials the proxy uses).
    pub fn api_targets(&self) -> HashMap<String, Arc<dyn ApiTarget>> {
        let http = self.targets.iter().map(|(name, t)| {
            let seam: Arc<dyn ApiTarget> = Arc::new(HttpApi(t.clone()));
            (name.clone(), seam)
        });
        let kube = self.kube.iter().map(|(name, t)| {
            let seam: Arc<dyn ApiTarget> = Arc::new(KubeApi(t.clone()));
            (name.clone(), seam)
        });
        http.chain(kube).collect()
    }
}

/// A `kind = "http"` connection, read as `/proxy/<connection>/...`.
pub struct HttpApi(pub Arc<HttpTarget>);

/// A `kind = "kubernetes"` connection, read as `/k8s/<connection>/...`.
pub struct KubeApi(pub Arc<HttpTarget>);

impl HttpApi {
    /// The head and body analysis of `/proxy/<connection><target>`.
    fn analyse(&self, request: &ApiRequest<'_>, read_body: bool) -> Result<Analysed, String> {
        let proxied = format!("{PREFIX}{}{}", self.0.name, request.target);
        let fields = content_type_field(request);
        let head = RequestHead {
            method: request.method,
            authority: None,
            path_and_query: &proxied,
            headers: &fields,
        };
        let mut analysed =
            vigil_http_req::analyse_head(&head, PREFIX).map_err(|e| e.to_string())?;
        let wanted = BodyFacts {
            json: read_body,
            graphql: self.0.graphql,
        };
        vigil_http_req::analyse_body(&mut analysed.facts, &head, request.body, wanted)
            .map_err(|e| e.to_string())?;
        Ok(analysed)
    }
}

impl ApiTarget for HttpApi {
    fn kind(&self) -> ApiKind {
        ApiKind::Http
    }

    fn action(&self, request: &ApiRequest<'_>, read_body: bool) -> Result<ActionKind, String> {
        Ok(ActionKind::Http(self.analyse(request, read_body)?.facts))
    }

    fn send<'a>(
        &'a self,
        permit: &'a Permit,
        session: &'a SessionCtx,
        request: &'a ApiRequest<'a>,
        max_bytes: usize,
    ) -> BoxFuture<'a, Result<ApiAnswer, TargetError>> {
        Box::pin(async move {
            // The body adds nothing to where the request goes.
            let analysed = self.analyse(request, false).map_err(TargetError::Failed)?;
            let parts = parts_of(request)?;
            let masked = mask::needed(session);
            let body =
                crate::answer::RequestBody::Whole(bytes::Bytes::copy_from_slice(request.body));
            let upstream = crate::forward::send(&self.0, permit, &parts, &analysed, body, masked)
                .await
                .map_err(|e| unreachable(&e))?;
            let status = upstream.status().as_u16();
            let content_type = content_type_of(upstream.headers());
            if !masked {
                return read_truncated(upstream, status, content_type, max_bytes).await;
            }
            let (body, masking) =
                crate::answer::masked_answer(session, &self.0, upstream, &content_type)
                    .await
                    .map_err(|e| TargetError::Failed(e.to_string()))?;
            bounded(status, content_type, body, masking, max_bytes)
        })
    }
}

impl KubeApi {
    /// `k8s.*` as the `/k8s/` front-end reads the request.
    fn analyse(&self, request: &ApiRequest<'_>) -> Result<K8sFacts, String> {
        if !request.target.is_ascii() {
            return Err("a request target that is not ASCII".into());
        }
        let info =
            vigil_k8s_req::analyze(request.method, request.target).map_err(|e| e.to_string())?;
        let facts = k8s_facts::of(request.method, request.target, info);
        if STREAM_VERBS.contains(&facts.verb.as_str()) {
            return Err(format!(
                "the Kubernetes tool does not {}: a tool call has one bounded answer",
                facts.verb
            ));
        }
        Ok(facts)
    }
}

impl ApiTarget for KubeApi {
    fn kind(&self) -> ApiKind {
        ApiKind::Kubernetes
    }

    fn action(&self, request: &ApiRequest<'_>, _read_body: bool) -> Result<ActionKind, String> {
        Ok(ActionKind::K8s(self.analyse(request)?))
    }

    fn send<'a>(
        &'a self,
        _permit: &'a Permit,
        session: &'a SessionCtx,
        request: &'a ApiRequest<'a>,
        max_bytes: usize,
    ) -> BoxFuture<'a, Result<ApiAnswer, TargetError>> {
        Box::pin(async move {
            let facts = self.analyse(request).map_err(TargetError::Failed)?;
            let touches = k8s_facts::touches_secrets(&facts);
            let masking = Masking {
                secrets: touches && !session.reveal_k8s_secrets,
                secrets_everywhere: touches,
                policy: mask::needed(session),
            };
            let parts = parts_of(request)?;
            let method = parts.method.clone();
            let url = self.0.url_of_target(request.target);
            let mut send = self
                .0
                .client
                .request(method, url)
                .headers(k8s_answer::fields(
                    &self.0,
                    &parts.headers,
                    masking.any(),
                    false,
                ));
            if !request.body.is_empty() {
                send = send.body(request.body.to_vec());
            }
            let upstream = send.send().await.map_err(|e| unreachable(&e))?;
            let status = upstream.status().as_u16();
            let content_type = content_type_of(upstream.headers());
            if !masking.any() {
                return read_truncated(upstream, status, content_type, max_bytes).await;
            }
            k8s_answer::maskable(&upstream, masking, true)
                .map_err(|why| TargetError::Failed(why.to_string()))?;
            let whole = read_whole(upstream, self.0.max_response_bytes).await?;
            let media = vigil_http_req::media_type(&content_type);
            let (body, masking) = if mask::is_json(&media) {
                k8s_answer::mask_json(session, masking, &whole).map_err(TargetError::Failed)?
            } else {
                mask::body(session, &media, &whole)
                    .map_err(|e| TargetError::Failed(e.to_string()))?
            };
            bounded(status, content_type, body, masking, max_bytes)
        })
    }
}

/// The request's one header field a tool call can set.
fn content_type_field<'a>(request: &ApiRequest<'a>) -> Vec<(&'static str, &'a [u8])> {
    request
        .content_type
        .map(|ct| ("content-type", ct.as_bytes()))
        .into_iter()
        .collect()
}

/// The request as the forwarding code takes it: method, target, and the
/// `Content-Type` field (the tool's only one).
fn parts_of(request: &ApiRequest<'_>) -> Result<Parts, TargetError> {
    let bad = |what: &str| TargetError::Failed(format!("the request's {what} is not valid"));
    let method = Method::from_bytes(request.method.as_bytes()).map_err(|_| bad("method"))?;
    let mut headers = HeaderMap::new();
    if let Some(ct) = request.content_type {
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_str(ct).map_err(|_| bad("content type"))?,
        );
    }
    let (mut parts, ()) = axum::http::Request::builder()
        .method(method)
        .uri(request.target)
        .body(())
        .map_err(|_| bad("target"))?
        .into_parts();
    parts.headers = headers;
    Ok(parts)
}

fn unreachable(e: &reqwest::Error) -> TargetError {
    let what = if e.is_timeout() {
        "the target did not answer in time"
    } else {
        "the target could not be reached"
    };
    TargetError::Unreachable(what.into())
}

fn content_type_of(headers: &reqwest::header::HeaderMap) -> String {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

/// An answer that needs no masking: at most `max_bytes`, then cut.
async fn read_truncated(
    mut upstream: reqwest::Response,
    status: u16,
    content_type: String,
    max_bytes: usize,
) -> Result<ApiAnswer, TargetError> {
    let mut body = BytesMut::new();
    let mut truncated = false;
    loop {
        match upstream.chunk().await {
            Ok(Some(chunk)) => {
                let room = max_bytes.saturating_sub(body.len());
                if chunk.len() > room {
                    body.extend_from_slice(&chunk[..room]);
                    truncated = true;
                    break;
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => break,
            Err(_) => {
                return Err(TargetError::Failed(
                    "the target broke off its answer".into(),
                ));
            }
        }
    }
    Ok(ApiAnswer {
        status,
        content_type,
        body: body.to_vec(),
        truncated,
        masking: None,
    })
}

/// A whole answer that must be masked, refused past `max` bytes or when
/// it is encoded (Vigil asked for identity).
async fn read_whole(upstream: reqwest::Response, max: u64) -> Result<Vec<u8>, TargetError> {
    if !crate::decode::codings_of(upstream.headers()).is_empty() {
        return Err(TargetError::Failed(mask::Unmaskable::Encoded.to_string()));
    }
    crate::decode::read_decoded(upstream, max)
        .await
        .map_err(|e| TargetError::Failed(e.to_string()))
}

/// A masked answer within the tool's bound, or refused whole.
fn bounded(
    status: u16,
    content_type: String,
    body: Vec<u8>,
    masking: Option<MaskingSummary>,
    max_bytes: usize,
) -> Result<ApiAnswer, TargetError> {
    if body.len() > max_bytes {
        return Err(TargetError::Failed(format!(
            "the masked answer is larger than {max_bytes} bytes; a masked answer is never cut, \
             so ask for less (a narrower path, a query that pages or filters)"
        )));
    }
    Ok(ApiAnswer {
        status,
        content_type,
        body,
        truncated: false,
        masking,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::target::HttpTargetConfig;

    fn target(name: &str) -> Arc<HttpTarget> {
        Arc::new(
            HttpTarget::new(HttpTargetConfig {
                name: name.into(),
                url: "https://api.internal/base".into(),
                auth: None,
                ca_pem: None,
                max_response_bytes: 1024,
                graphql: false,
            })
            .unwrap(),
        )
    }

    fn request<'a>(method: &'a str, target: &'a str, body: &'a [u8]) -> ApiRequest<'a> {
        ApiRequest {
            method,
            target,
            content_type: Some("application/json"),
            body,
        }
    }

    #[test]
    fn http_requests_are_read_as_the_proxy_reads_them() {
        let api = HttpApi(target("billing"));
        let ActionKind::Http(f) = api
            .action(&request("POST", "/orders/7?x=1", b"{\"amount\":5}"), true)
            .unwrap()
        else {
            panic!("not http");
        };
        assert_eq!(f.method, "POST");
        assert_eq!(f.path, "/orders/7");
        assert_eq!(f.text, "POST /orders/7?x=1");
        assert!(f.body.is_some());
        assert!(api.action(&request("GET", "/a#b", b""), false).is_err());
        assert!(api.action(&request("GET", "/a/../b", b""), false).is_err());
        assert!(api.action(&request("GET", "/a//b", b""), false).is_err());
        assert!(api.action(&request("delete", "/a", b""), false).is_err());
    }

    #[test]
    fn kubernetes_requests_carry_k8s_facts_and_streams_are_refused() {
        let api = KubeApi(target("prod"));
        let ActionKind::K8s(f) = api
            .action(
                &request("GET", "/api/v1/namespaces/default/pods/web-1", b""),
                false,
            )
            .unwrap()
        else {
            panic!("not k8s");
        };
        assert_eq!((f.verb.as_str(), f.name.as_str()), ("get", "web-1"));
        for target in [
            "/api/v1/namespaces/default/pods?watch=true",
            "/api/v1/watch/namespaces/default/pods",
            "/api/v1/namespaces/default/pods/web-1/exec?command=sh",
            "/api/v1/namespaces/default/pods/web-1/portforward?ports=80",
        ] {
            let refused = api.action(&request("GET", target, b""), false);
            assert!(refused.is_err(), "{target}");
        }
    }
}
