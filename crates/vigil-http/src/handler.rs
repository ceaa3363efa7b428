//! One proxied request, from login to answer: read it, log its caller in,
//! read its body (bounded), ask the guard once, then forward it with the
//! permit and relay (or mask) the answer. Every exit after login records
//! the request's outcome and closes its session.

use std::sync::Arc;

use tokio::sync::oneshot;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::Response as HttpResponse;
use axum::http::header::{CONTENT_LENGTH, RANGE, TRANSFER_ENCODING};
use axum::http::request::Parts;
use axum::response::Response;
use vigil_core::{ActionKind, Protocol, RunId};
use vigil_guard::admission::SessionSlot;
use vigil_guard::{
    Binding, Decision, GuardError, Login, RefusalClass, SessionCtx, SessionRequest, Unpolicied,
    Withdrawal,
};
use vigil_http_req::{Analysed, BodyFacts, HttpReqError, RequestHead};

use crate::answer;
use crate::body::{BodyError, read_body};
use crate::relay::{self, Finished};
use crate::target::HttpTarget;
use crate::{HttpProxy, MAX_REQUEST_BODY, MAX_STREAMED_BODY, PREFIX, RUN_HEADER, mask, reply};

/// The route's handler. The request runs in a task of its own so that its
/// session is closed in the ledger even when the client goes away (hyper
/// then drops this future): the task hears it and stops the request where
/// it is (a held request is withdrawn; one not yet sent is not sent).
pub async fn proxy(State(proxy): State<Arc<HttpProxy>>, request: Request) -> Response {
    detached(|gone| run(proxy, request, gone))
        .await
        .unwrap_or_else(|| reply::bad_gateway("the request could not be completed", false))
}

/// Runs one request in a task of its own; `gone` (what `run` gets)
/// resolves when the client leaves and hyper drops the returned future.
/// `None` when the task ended without an answer.
pub(crate) async fn detached<F, Fut>(run: F) -> Option<Response>
where
    F: FnOnce(oneshot::Receiver<()>) -> Fut,
    Fut: std::future::Future<Output = Response> + Send + 'static,
{
    let (answer_tx, answer_rx) = oneshot::channel();
    // Dropped with this future: tells the task that the client is gone.
    let (_client, gone) = oneshot::channel::<()>();
    let work = run(gone);
    tokio::spawn(async move {
        let _ = answer_tx.send(work.await);
    });
    answer_rx.await.ok()
}

async fn run(proxy: Arc<HttpProxy>, request: Request, mut gone: oneshot::Receiver<()>) -> Response {
    let (parts, body) = request.into_parts();
    let fields: Vec<(&str, &[u8])> = parts
        .headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_bytes()))
        .collect();
    let path_and_query = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("");
    let head = RequestHead {
        method: parts.method.as_str(),
        authority: parts.uri.authority().map(|a| a.as_str()),
        path_and_query,
        headers: &fields,
    };
    let connection = match vigil_http_req::connection_of(path_and_query, PREFIX) {
        Ok(c) => c,
        Err(e) => return reply::bad_request(e.status(), &e.to_string()),
    };
    // Log in first: before it, nobody learns which connection names exist.
    // The slot is held until the request is answered.
    let (session, _slot) = match login(&proxy, &parts, connection, Protocol::Http).await {
        Ok(s) => s,
        Err(response) => return response,
    };
    let Some(target) = proxy.targets.get(connection).cloned() else {
        // A connection of another kind (the guard knows its name).
        proxy.guard.close_session(&session).await;
        return reply::not_found("no HTTP connection of that name");
    };
    let analysed = vigil_http_req::analyse_head(&head, PREFIX);
    // What the ledger shows of a request refused before analysis finished.
    let refused_text = format!("{} {path_and_query}", parts.method);
    let method = parts.method.as_str().to_string();
    let work = async {
        match analysed {
            Ok(analysed) => {
                decide_and_forward(&proxy, &target, &session, parts, body, analysed).await
            }
            Err(e) => Done(refuse(&proxy, &session, &refused_text, &method, e).await),
        }
    };
    let outcome = tokio::select! {
        outcome = work => outcome,
        _ = &mut gone => {
            tracing::info!(session = %session.id, "http proxy: the client went away; request abandoned");
            Done(reply::bad_gateway("the client went away", false))
        }
    };
    match outcome {
        Done(response) => {
            proxy.guard.close_session(&session).await;
            response
        }
        Streaming(streamed) => {
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
        MaskedLines(streamed) => {
            let Streamed {
                response,
                upstream,
                done,
            } = *streamed;
            let body = crate::ndjson::stream(
                proxy.guard.clone(),
                session,
                upstream,
                target.max_response_bytes,
                done,
            );
            response.map(|()| Body::new(body))
        }
    }
}

/// How a request ends: answered, or answered with a body still coming
/// from the target (the relay task then owns the session).
pub enum Outcome {
    Done(Response),
    Streaming(Box<Streamed>),
    /// A masked answer of newline-delimited JSON, masked line by line as
    /// it streams (the relay task owns the session).
    MaskedLines(Box<Streamed>),
}

pub struct Streamed {
    pub response: HttpResponse<()>,
    pub upstream: reqwest::Response,
    pub done: Finished,
}
use Outcome::Done;
use Outcome::MaskedLines;
use Outcome::Streaming;

/// The caller's login through the guard's gate, then a slot under the
/// gateway's caps (`max_connections`, `max_connections_per_principal`: each
/// request in flight holds one, as a SQL or SSH session does), then its
/// session.
pub(crate) async fn login(
    proxy: &HttpProxy,
    parts: &Parts,
    connection: &str,
    protocol: Protocol,
) -> Result<(SessionCtx, SessionSlot), Response> {
    let Some(credential) = crate::credential::of(&parts.headers) else {
        return Err(reply::unauthorized("missing bearer token"));
    };
    let run_id = match parts.headers.get(RUN_HEADER) {
        None => None,
        Some(v) => match v
            .to_str()
            .map_err(|_| "X-Vigil-Run must be ASCII")
            .and_then(RunId::parse)
        {
            Ok(r) => Some(r),
            Err(why) => return Err(reply::bad_request(400, why)),
        },
    };
    let client_addr = parts
        .extensions
        .get::<std::net::SocketAddr>()
        .map(ToString::to_string)
        .unwrap_or_else(|| "http".to_string());
    let login = Login {
        protocol,
        credential: vigil_guard::Credential::Secret(&credential),
        connection,
        client_addr: &client_addr,
    };
    let principal = match proxy.guard.authenticate(&login).await {
        Ok(p) => p,
        Err(GuardError::Authentication(_)) => {
            return Err(reply::unauthorized("invalid credential"));
        }
        Err(e) => {
            tracing::error!(error = %e, "http proxy: login failed");
            return Err(reply::ledger_unavailable());
        }
    };
    let slot = match proxy.caps.session(&principal.identity()) {
        Ok(slot) => slot,
        Err(cap) => {
            proxy
                .guard
                .record_rejected_login(protocol, connection, &client_addr, &cap.message())
                .await;
            return Err(reply::too_many(&cap.message()));
        }
    };
    let request = SessionRequest {
        protocol,
        connection,
        client_addr: &client_addr,
        run_id,
    };
    match proxy.guard.open_session(principal, &request).await {
        Ok(session) => Ok((session, slot)),
        Err(e @ GuardError::NotGranted { .. }) => Err(reply::refused(
            &vigil_guard::Refusal::policy("grant", e.to_string()),
        )),
        Err(GuardError::UnknownConnection(_)) => {
            Err(reply::not_found("no connection of that name"))
        }
        Err(e) => {
            tracing::error!(error = %e, "http proxy: login failed");
            Err(reply::ledger_unavailable())
        }
    }
}

/// Records a request refused before policy (it could not be read one way
/// only, or is past a limit) and answers it.
async fn refuse(
    proxy: &HttpProxy,
    session: &SessionCtx,
    text: &str,
    kind: &str,
    error: HttpReqError,
) -> Response {
    let what = Unpolicied::step(RefusalClass::Analysis, text, kind, &error.to_string());
    match proxy.guard.refuse(session, what).await {
        Ok(_) => reply::bad_request(error.status(), &error.to_string()),
        Err(e) => {
            tracing::error!(session = %session.id, error = %e, "http proxy: refusal not recorded");
            reply::ledger_unavailable()
        }
    }
}

async fn decide_and_forward(
    proxy: &HttpProxy,
    target: &HttpTarget,
    session: &SessionCtx,
    parts: Parts,
    body: Body,
    mut analysed: Analysed,
) -> Outcome {
    let guard = &proxy.guard;
    let method = parts.method.as_str().to_string();
    let masked = mask::needed(session);
    if masked && parts.headers.contains_key(RANGE) {
        // A range of a masked body could cut a value in two.
        let what = Unpolicied::step(
            RefusalClass::Unsupported,
            &analysed.facts.text,
            &method,
            "Range requests are not served where answers are masked",
        );
        return Done(match guard.refuse(session, what).await {
            Ok(r) => reply::refused(&r),
            Err(_) => reply::ledger_unavailable(),
        });
    }
    // A body nothing reads or binds (no rule reads `http.body`, the
    // connection is not GraphQL, policy would not hold the request) is
    // streamed to the target as it arrives, not held in memory.
    let actions = [ActionKind::Http(analysed.facts.clone())];
    // (Bodyless requests skip the check: it evaluates policy once more.)
    let streamable = has_body(&parts)
        && !guard.reads_http_body()
        && !target.graphql
        && !guard.would_review(session, &actions);
    if streamable {
        return stream_and_forward(proxy, target, session, &parts, body, &analysed).await;
    }
    let body = match read_body(&parts, body).await {
        Ok(b) => b,
        Err(BodyError::TooLarge) => {
            let what = Unpolicied::step(
                RefusalClass::Limit,
                &analysed.facts.text,
                &method,
                &format!("the request body is larger than {MAX_REQUEST_BODY} bytes"),
            );
            return Done(match guard.refuse(session, what).await {
                Ok(r) => reply::refused(&r),
                Err(_) => reply::ledger_unavailable(),
            });
        }
        Err(BodyError::Timeout) => return Done(reply::request_timeout()),
        Err(BodyError::Broken) => {
            return Done(reply::bad_request(
                400,
                "the request body could not be read",
            ));
        }
    };
    let wanted = BodyFacts {
        json: guard.reads_http_body(),
        graphql: target.graphql,
    };
    let fields: Vec<(&str, &[u8])> = parts
        .headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_bytes()))
        .collect();
    let head = RequestHead {
        method: &method,
        authority: None,
        path_and_query: "",
        headers: &fields,
    };
    if let Err(e) = vigil_http_req::analyse_body(&mut analysed.facts, &head, &body, wanted) {
        let text = analysed.facts.text.clone();
        return Done(refuse(proxy, session, &text, &method, e).await);
    }
    let actions = [ActionKind::Http(analysed.facts.clone())];
    // The approval binds what the target reads the body as, with the body.
    let bound = binding_bytes(&fields, &body);
    let decided = guard.decide(session, &actions, Binding::new(&bound)).await;
    let decided = match decided {
        Ok(Decision::Held(hold)) => {
            tracing::info!(session = %session.id, approval = %hold.approval.id, "http proxy: request held for approval");
            let withdrawn = shutdown(proxy.shutdown.clone());
            guard.await_approval(session, hold, withdrawn).await
        }
        other => other,
    };
    let permit = match decided {
        Ok(Decision::Allowed(permit)) => permit,
        Ok(Decision::Refused(refusal)) => return Done(reply::refused(&refusal)),
        Ok(Decision::Held(_)) => {
            let r = vigil_guard::Refusal::policy("review", "the request could not be held");
            return Done(reply::refused(&r));
        }
        Err(e) => {
            tracing::error!(session = %session.id, error = %e, "http proxy: decision failed");
            return Done(reply::ledger_unavailable());
        }
    };
    let request = answer::Permitted {
        parts: &parts,
        analysed: &analysed,
        body: answer::RequestBody::Whole(body),
        masked,
    };
    answer::forward(proxy, target, session, request, permit).await
}

/// Whether the request says it has a body.
fn has_body(parts: &Parts) -> bool {
    parts.headers.contains_key(TRANSFER_ENCODING)
        || parts
            .headers
            .get(CONTENT_LENGTH)
            .is_some_and(|v| v.as_bytes() != b"0")
}

/// Decides a request whose body nothing reads, then streams the body to
/// the target as it arrives (bounded by [`MAX_STREAMED_BODY`]).
async fn stream_and_forward(
    proxy: &HttpProxy,
    target: &HttpTarget,
    session: &SessionCtx,
    parts: &Parts,
    body: Body,
    analysed: &Analysed,
) -> Outcome {
    let guard = &proxy.guard;
    let declared = parts
        .headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_STREAMED_BODY) {
        let what = Unpolicied::step(
            RefusalClass::Limit,
            &analysed.facts.text,
            parts.method.as_str(),
            &format!("the request body is larger than {MAX_STREAMED_BODY} bytes"),
        );
        return Done(match guard.refuse(session, what).await {
            Ok(r) => reply::refused(&r),
            Err(_) => reply::ledger_unavailable(),
        });
    }
    let actions = [ActionKind::Http(analysed.facts.clone())];
    // Policy would not review it, so nothing reads the binding.
    let permit = match guard.decide(session, &actions, Binding::NONE).await {
        Ok(Decision::Allowed(permit)) => permit,
        Ok(Decision::Refused(refusal)) => return Done(reply::refused(&refusal)),
        Ok(Decision::Held(_)) => {
            // Policy changed between the check and the decision: the body
            // was never bound, so this request cannot be approved.
            let r = vigil_guard::Refusal::policy(
                "review",
                "policy changed while the request arrived: send it again",
            );
            return Done(reply::refused(&r));
        }
        Err(e) => {
            tracing::error!(session = %session.id, error = %e, "http proxy: decision failed");
            return Done(reply::ledger_unavailable());
        }
    };
    let cut = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let request = answer::Permitted {
        parts,
        analysed,
        body: answer::RequestBody::Streamed {
            body: crate::body::stream(body, MAX_STREAMED_BODY, cut.clone()),
            cut,
        },
        masked: mask::needed(session),
    };
    answer::forward(proxy, target, session, request, permit).await
}

/// Resolves when the gateway shuts down (a held request is withdrawn).
pub(crate) async fn shutdown(mut rx: tokio::sync::watch::Receiver<bool>) -> Withdrawal {
    while !*rx.borrow() {
        if rx.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
    Withdrawal::Shutdown
}

/// What a held request's approval is bound to besides its text: the body
/// and the fields that say how the target reads it (`Content-Type`,
/// `Content-Encoding`), so an approved request cannot be replayed with the
/// same bytes read another way. Each part length-prefixed.
pub(crate) fn binding_bytes(fields: &[(&str, &[u8])], body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + 64);
    for name in ["content-type", "content-encoding"] {
        for (_, value) in fields.iter().filter(|(n, _)| n.eq_ignore_ascii_case(name)) {
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(&(value.len() as u64).to_be_bytes());
            out.extend_from_slice(value);
        }
    }
    out.extend_from_slice(b"body");
    out.extend_from_slice(&(body.len() as u64).to_be_bytes());
    out.extend_from_slice(body);
    out
}
