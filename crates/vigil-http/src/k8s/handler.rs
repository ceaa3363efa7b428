//! One Kubernetes API request, from login to answer: log its caller in,
//! read it as the API server will (a request it could read two ways is
//! refused with 400 before policy), ask the guard once, then forward it
//! with the permit, or open the exec stream. Every exit after login
//! records the request's outcome and closes its session.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::header::{RANGE, UPGRADE};
use axum::http::request::Parts;
use axum::response::Response;
use bytes::Bytes;
use tokio::sync::oneshot;
use vigil_core::{ActionKind, K8sFacts, Protocol};
use vigil_guard::{Binding, Decision, RefusalClass, SessionCtx, Unpolicied};

use super::answer::{self, Answer};
use super::watch::{self, Masking};
use super::{PREFIX, exec, facts, status};
use crate::body::{BodyError, read_body};
use crate::handler::{Streamed, binding_bytes, login, shutdown};
use crate::target::HttpTarget;
use crate::{HttpProxy, MAX_REQUEST_BODY, mask, relay};

/// The route's handler; the request runs in a task of its own, as on
/// `/proxy/`, so that its session is closed even when the client leaves.
pub async fn kube(State(proxy): State<Arc<HttpProxy>>, request: Request) -> Response {
    crate::handler::detached(|gone| run(proxy, request, gone))
        .await
        .unwrap_or_else(|| status::bad_gateway("the request could not be completed", false))
}

/// An answer that needs the session after the handler returns.
enum Owned {
    Answer(Answer),
    Exec(Box<exec::Started>),
}

async fn run(proxy: Arc<HttpProxy>, request: Request, mut gone: oneshot::Receiver<()>) -> Response {
    let (mut parts, body) = request.into_parts();
    let path_and_query = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_default();
    let connection = match vigil_http_req::connection_of(&path_and_query, PREFIX) {
        Ok(c) => c.to_string(),
        Err(e) => return status::bad_request(&e.to_string()),
    };
    let (session, _slot) = match login(&proxy, &parts, &connection, Protocol::Kubernetes).await {
        Ok(s) => s,
        Err(response) => return response,
    };
    let Some(target) = proxy.kube.get(&connection).cloned() else {
        proxy.guard.close_session(&session).await;
        return status::not_found("no Kubernetes connection of that name");
    };
    let rest = &path_and_query[PREFIX.len() + connection.len()..];
    let target_path = if rest.starts_with('/') {
        rest.to_string()
    } else {
        format!("/{rest}")
    };
    // Taken before anything else reads the request: the caller's half of
    // an exec stream.
    let upgrade = if parts.headers.contains_key(UPGRADE) {
        WebSocketUpgrade::from_request_parts(&mut parts, &())
            .await
            .ok()
    } else {
        None
    };
    let request = Incoming {
        parts: &parts,
        target_path: &target_path,
        upgrade,
    };
    let work = handle(&proxy, &target, &session, request, body);
    let outcome = tokio::select! {
        outcome = work => outcome,
        _ = &mut gone => {
            tracing::info!(session = %session.id, "k8s proxy: the client went away; request abandoned");
            Owned::Answer(Answer::Done(status::bad_gateway("the client went away", false)))
        }
    };
    match outcome {
        Owned::Answer(Answer::Done(response)) => {
            proxy.guard.close_session(&session).await;
            response
        }
        Owned::Answer(Answer::Streaming(streamed)) => {
            let Streamed {
                response,
                upstream,
                done,
            } = *streamed;
            let body = relay::stream(
                proxy.guard.clone(),
                session,
                upstream,
                target.max_response_bytes,
                done,
            );
            response.map(|()| Body::new(body))
        }
        Owned::Answer(Answer::Watch(w)) => {
            let answer::WatchStream {
                response,
                upstream,
                masking,
                done,
            } = *w;
            let body = watch::stream(
                proxy.guard.clone(),
                session,
                upstream,
                masking,
                target.max_response_bytes,
                done,
            );
            response.map(|()| Body::new(body))
        }
        Owned::Exec(started) => exec::accept(
            proxy.guard.clone(),
            session,
            *started,
            proxy.shutdown.clone(),
        ),
    }
}

/// The request as received, its target after `/k8s/<connection>`, and
/// the caller's half of a WebSocket when it asked for one.
struct Incoming<'a> {
    parts: &'a Parts,
    target_path: &'a str,
    upgrade: Option<WebSocketUpgrade>,
}

async fn handle(
    proxy: &HttpProxy,
    target: &HttpTarget,
    session: &SessionCtx,
    request: Incoming<'_>,
    body: Body,
) -> Owned {
    let Incoming {
        parts,
        target_path,
        upgrade,
    } = request;
    let method = parts.method.as_str();
    let text = format!("{method} {target_path}");
    let facts = match analyse(parts, method, target_path) {
        Ok(f) => f,
        Err((class, why)) => {
            return done(refuse(proxy, session, class, &text, method, &why, upgrade).await);
        }
    };
    let streams = matches!(facts.verb.as_str(), "exec" | "attach");
    let masking = Masking {
        secrets: facts::touches_secrets(&facts) && !session.reveal_k8s_secrets,
        secrets_everywhere: facts::touches_secrets(&facts),
        policy: mask::needed(session),
    };
    let unsupported = if facts.verb == "portforward" {
        Some("port-forward is not relayed by Vigil")
    } else if streams && upgrade.is_none() {
        Some(
            "exec and attach are relayed over WebSocket only (v5.channel.k8s.io or v4.channel.k8s.io; kubectl 1.30 and later)",
        )
    } else if streams && exec::offered(&parts.headers).is_empty() {
        Some("exec and attach need the v5.channel.k8s.io or v4.channel.k8s.io WebSocket protocol")
    } else if !streams && upgrade.is_some() {
        Some("only exec and attach are relayed as WebSockets")
    } else if streams && masking.policy {
        Some("exec and attach output cannot be masked, and this session's answers must be")
    } else if masking.any() && parts.headers.contains_key(RANGE) {
        Some("Range requests are not served where answers are masked")
    } else {
        None
    };
    if let Some(why) = unsupported {
        return done(
            refuse(
                proxy,
                session,
                RefusalClass::Unsupported,
                &facts.text,
                &facts.verb,
                why,
                upgrade,
            )
            .await,
        );
    }
    let body = if upgrade.is_some() {
        Bytes::new()
    } else {
        match read_body(parts, body).await {
            Ok(b) => b,
            Err(BodyError::TooLarge) => {
                let why = format!("the request body is larger than {MAX_REQUEST_BODY} bytes");
                return done(
                    refuse(
                        proxy,
                        session,
                        RefusalClass::Limit,
                        &facts.text,
                        &facts.verb,
                        &why,
                        None,
                    )
                    .await,
                );
            }
            Err(BodyError::Timeout) => return done(status::request_timeout()),
            Err(BodyError::Broken) => {
                return done(status::bad_request("the request body could not be read"));
            }
        }
    };
    // Impersonation is decided on its own: sent only when allowed,
    // stripped (the refusal recorded) otherwise.
    let impersonate = match super::impersonate::actions(&parts.headers) {
        Ok(a) => a,
        Err(why) => {
            let class = RefusalClass::Analysis;
            return done(
                refuse(
                    proxy,
                    session,
                    class,
                    &facts.text,
                    &facts.verb,
                    &why,
                    upgrade,
                )
                .await,
            );
        }
    };
    let impersonate = if impersonate.is_empty() {
        false
    } else {
        let actions: Vec<ActionKind> = impersonate.into_iter().map(ActionKind::K8s).collect();
        match decide(proxy, session, &actions, b"impersonate").await {
            Ok(_) => true,
            Err(refusal) if refusal.class == RefusalClass::LedgerUnavailable => {
                return done(status::ledger_unavailable());
            }
            Err(refusal) => {
                tracing::info!(session = %session.id, rule = %refusal.rule, "k8s proxy: impersonation not allowed; stripped");
                false
            }
        }
    };
    let fields: Vec<(&str, &[u8])> = parts
        .headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_bytes()))
        .collect();
    let bound = binding_bytes(&fields, &body);
    let actions = [ActionKind::K8s(facts.clone())];
    let permit = match decide(proxy, session, &actions, &bound).await {
        Ok(permit) => permit,
        Err(refusal) => {
            return done(match upgrade {
                Some(up) => exec::refuse_upgraded(up, 403, "Forbidden", &refusal.message()),
                None => status::refused(&refusal),
            });
        }
    };
    match upgrade {
        Some(up) => {
            let request = (parts, &facts, target_path);
            open_exec(proxy, target, session, request, up, permit).await
        }
        None => {
            let request = answer::Permitted {
                parts,
                target_path,
                facts: &facts,
                body,
                masking,
                impersonate,
            };
            Owned::Answer(answer::forward(proxy, target, session, request, permit).await)
        }
    }
}

fn done(response: Response) -> Owned {
    Owned::Answer(Answer::Done(response))
}

/// The request as the API server will read it, or why it cannot be told.
fn analyse(
    parts: &Parts,
    method: &str,
    target_path: &str,
) -> Result<K8sFacts, (RefusalClass, String)> {
    let fields: Vec<(&str, &[u8])> = parts
        .headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_bytes()))
        .collect();
    let analysis = |why: String| (RefusalClass::Analysis, why);
    vigil_http_req::headers::check(&fields).map_err(|e| analysis(e.to_string()))?;
    if !target_path.is_ascii() {
        return Err(analysis("a request target that is not ASCII".into()));
    }
    let spdy = parts
        .headers
        .get_all(UPGRADE)
        .iter()
        .any(|v| v.as_bytes().to_ascii_lowercase().starts_with(b"spdy"));
    if spdy {
        return Err((
            RefusalClass::Unsupported,
            "exec, attach and port-forward over SPDY are not supported: use a kubectl that speaks WebSocket (1.30 or later)".into(),
        ));
    }
    let info = vigil_k8s_req::analyze(method, target_path).map_err(|e| analysis(e.to_string()))?;
    Ok(facts::of(method, target_path, info))
}

/// Records a request refused before policy and answers it (inside the
/// WebSocket when the caller asked for one).
async fn refuse(
    proxy: &HttpProxy,
    session: &SessionCtx,
    class: RefusalClass,
    text: &str,
    kind: &str,
    why: &str,
    upgrade: Option<WebSocketUpgrade>,
) -> Response {
    let what = Unpolicied::step(class, text, kind, why);
    match proxy.guard.refuse(session, what).await {
        Ok(refusal) => match upgrade {
            Some(up) => exec::refuse_upgraded(up, 400, "BadRequest", &refusal.message()),
            None => status::refused(&refusal),
        },
        Err(e) => {
            tracing::error!(session = %session.id, error = %e, "k8s proxy: refusal not recorded");
            status::ledger_unavailable()
        }
    }
}

/// The guard's decision on `actions` (a held request waits for its
/// reviewer), its approval bound to `bound` besides their text.
async fn decide(
    proxy: &HttpProxy,
    session: &SessionCtx,
    actions: &[ActionKind],
    bound: &[u8],
) -> Result<vigil_guard::Permit, vigil_guard::Refusal> {
    let guard = &proxy.guard;
    let decided = match guard.decide(session, actions, Binding::new(bound)).await {
        Ok(Decision::Held(hold)) => {
            tracing::info!(session = %session.id, approval = %hold.approval.id, "k8s proxy: request held for approval");
            guard
                .await_approval(session, hold, shutdown(proxy.shutdown.clone()))
                .await
        }
        other => other,
    };
    match decided {
        Ok(Decision::Allowed(permit)) => Ok(permit),
        Ok(Decision::Refused(refusal)) => Err(refusal),
        Ok(Decision::Held(_)) => Err(vigil_guard::Refusal::policy(
            "review",
            "the request could not be held",
        )),
        Err(e) => {
            tracing::error!(session = %session.id, error = %e, "k8s proxy: decision failed");
            Err(vigil_guard::Refusal {
                class: RefusalClass::LedgerUnavailable,
                rule: "ledger".into(),
                reason: "the audit ledger is unavailable, so nothing can be forwarded".into(),
            })
        }
    }
}

/// An allowed exec: recorded (required), the API server's stream opened,
/// or the failure told inside the caller's WebSocket.
async fn open_exec(
    proxy: &HttpProxy,
    target: &HttpTarget,
    session: &SessionCtx,
    request: (&Parts, &K8sFacts, &str),
    upgrade: WebSocketUpgrade,
    permit: vigil_guard::Permit,
) -> Owned {
    let (parts, facts, target_path) = request;
    let seq = permit.seqs.first().copied().unwrap_or_default();
    let fail = |error: &'static str, code: u16, message: String, upgrade: WebSocketUpgrade| async move {
        proxy
            .guard
            .statement_done(
                session,
                vigil_core::StatementOutcome {
                    statement_seq: seq,
                    duration_us: 0,
                    tag: None,
                    error_code: Some(error.to_string()),
                    masking: None,
                },
            )
            .await;
        done(exec::refuse_upgraded(
            upgrade,
            code,
            "InternalError",
            &message,
        ))
    };
    let recording = match exec::record(&proxy.recordings, session, facts) {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(session = %session.id, error = %e, "k8s proxy: an exec cannot be recorded");
            let message =
                "vigil: the exec cannot be recorded, and exec streams must be".to_string();
            return fail("recording", 500, message, upgrade).await;
        }
    };
    let offered = exec::offered(&parts.headers);
    match exec::open(target, target_path, &offered).await {
        Ok((upstream, protocol)) => Owned::Exec(Box::new(exec::Started {
            upgrade,
            upstream,
            protocol,
            recording,
            seq,
        })),
        Err(e) => {
            let _ = recording.finish();
            tracing::warn!(session = %session.id, connection = %target.name, code = e.code, "k8s proxy: the API server's exec stream could not be opened");
            fail("upstream", e.code, e.message, upgrade).await
        }
    }
}
