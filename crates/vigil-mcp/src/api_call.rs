//! The `http_request` and `kubernetes` tools: one request to an HTTP API
//! or a Kubernetes API server, read and decided exactly as a request on
//! `/proxy/` or `/k8s/` (same facts, same rules, the decision durable
//! before anything is sent), sent through the API seam with the permit,
//! its answer masked and bounded. The approval binds the method, the
//! target, the content type and the body, so an approval for one request
//! does not pass another.

use crate::auth::Caller;
use crate::{Mcp, k8s_path, outcome, tools};
use rmcp::model::{CallToolResult, JsonObject};
use serde_json::{Value, json};
use std::time::Instant;
use vigil_core::StatementOutcome;
use vigil_guard::{Binding, Decision, RefusalClass, SessionCtx, Unpolicied};
use vigil_target::{ApiRequest, ApiTarget, TargetError};

/// Longest path (with its query) an agent may send.
const MAX_TARGET: usize = 16 * 1024;

impl Mcp {
    /// `http_request`: method, path (with its query), optional body.
    pub(crate) async fn http_request(
        &self,
        caller: Caller,
        connection: &str,
        args: &JsonObject,
    ) -> CallToolResult {
        let Some(method) = args.get("method").and_then(Value::as_str) else {
            return outcome::error("the argument \"method\" (a string) is required");
        };
        let Some(path) = args.get("path").and_then(Value::as_str) else {
            return outcome::error("the argument \"path\" (a string) is required");
        };
        if !path.starts_with('/') || path.len() > MAX_TARGET {
            return outcome::error("\"path\" must start with / and be at most 16 KiB");
        }
        let body = match args.get("body") {
            None | Some(Value::Null) => "",
            Some(Value::String(s)) => s.as_str(),
            Some(_) => return outcome::error("\"body\" must be a string (JSON as text)"),
        };
        let content_type = match args.get("content_type") {
            None | Some(Value::Null) => (!body.is_empty()).then_some("application/json"),
            Some(Value::String(s)) => Some(s.as_str()),
            Some(_) => return outcome::error("\"content_type\" must be a string"),
        };
        let request = ApiRequest {
            method,
            target: path,
            content_type,
            body: body.as_bytes(),
        };
        self.api_call(caller, connection, tools::HTTP_REQUEST, &request)
            .await
    }

    /// `kubernetes`: the request kubectl would send for these arguments.
    pub(crate) async fn kubernetes(
        &self,
        caller: Caller,
        connection: &str,
        args: &JsonObject,
    ) -> CallToolResult {
        let call = match k8s_path::build(args) {
            Ok(c) => c,
            Err(e) => return outcome::error(e.to_string()),
        };
        let request = ApiRequest {
            method: call.method,
            target: &call.target,
            content_type: call.content_type,
            body: &call.body,
        };
        self.api_call(caller, connection, tools::KUBERNETES, &request)
            .await
    }

    async fn api_call(
        &self,
        caller: Caller,
        connection: &str,
        tool: &str,
        request: &ApiRequest<'_>,
    ) -> CallToolResult {
        let Some(target) = self.api_targets.get(connection).cloned() else {
            return outcome::error(format!("unknown connection \"{connection}\""));
        };
        let (_slot, session) = match self.tool_session(caller, connection).await {
            Ok(opened) => opened,
            Err(refused) => return refused,
        };
        let result = self
            .decide_and_send(&session, target.as_ref(), tool, request)
            .await;
        self.guard.close_session(&session).await;
        result
    }

    async fn decide_and_send(
        &self,
        session: &SessionCtx,
        target: &dyn ApiTarget,
        tool: &str,
        request: &ApiRequest<'_>,
    ) -> CallToolResult {
        let action = match target.action(request, self.guard.reads_http_body()) {
            Ok(a) => a,
            Err(why) => {
                // Recorded like the front-end's refusal of an unreadable request.
                let text = format!("{} {}", request.method, request.target);
                let what = Unpolicied::step(RefusalClass::Analysis, &text, request.method, &why);
                return match self.guard.refuse(session, what).await {
                    Ok(_) => outcome::error(format!("the request cannot be read one way: {why}")),
                    Err(e) => outcome::error(e.to_string()),
                };
            }
        };
        let bound = binding(request);
        let decided = self
            .guard
            .decide(session, &[action], Binding::new(&bound))
            .await;
        let permit = match decided {
            Ok(Decision::Allowed(permit)) => permit,
            Ok(Decision::Refused(r)) => return outcome::denied(&r),
            Ok(Decision::Held(hold)) => return outcome::pending_for(&hold.approval, tool),
            Err(e) => {
                tracing::error!(session = %session.id, error = %e, "mcp: request refused: guard failed");
                return outcome::error(e.to_string());
            }
        };
        let started = Instant::now();
        let sent = tokio::time::timeout(
            self.limits.statement_timeout,
            target.send(&permit, session, request, self.limits.max_result_bytes),
        )
        .await;
        let (tag, error_code, masking, answer) = match sent {
            Ok(Ok(a)) => {
                let tag = format!("{} {} bytes", a.status, a.body.len());
                let answer = ok(&a);
                (Some(tag), None, a.masking, answer)
            }
            Ok(Err(e)) => {
                tracing::warn!(session = %session.id, error = %e, "mcp: api request failed");
                let code = match e {
                    TargetError::Unreachable(_) => "unreachable",
                    TargetError::Failed(_) => "unmaskable",
                };
                (
                    None,
                    Some(code.to_string()),
                    None,
                    outcome::error(e.to_string()),
                )
            }
            Err(_) => (
                None,
                Some("timeout".to_string()),
                None,
                outcome::error(format!(
                    "the request took longer than {}s and was abandoned",
                    self.limits.statement_timeout.as_secs()
                )),
            ),
        };
        if let Some(&seq) = permit.seqs.first() {
            self.guard
                .statement_done(
                    session,
                    StatementOutcome {
                        statement_seq: seq,
                        duration_us: started.elapsed().as_micros() as u64,
                        tag,
                        error_code,
                        masking,
                    },
                )
                .await;
        }
        answer
    }
}

/// What an approval of the request is bound to besides its text: method,
/// target, content type and body, each length-prefixed.
fn binding(request: &ApiRequest<'_>) -> Vec<u8> {
    let mut out = Vec::with_capacity(request.body.len() + request.target.len() + 64);
    let parts: [(&str, &[u8]); 4] = [
        ("method", request.method.as_bytes()),
        ("target", request.target.as_bytes()),
        (
            "content-type",
            request.content_type.unwrap_or_default().as_bytes(),
        ),
        ("body", request.body),
    ];
    for (name, value) in parts {
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(&(value.len() as u64).to_be_bytes());
        out.extend_from_slice(value);
    }
    out
}

/// `ok`: the status, the content type, the body (JSON as JSON when whole
/// and valid, otherwise text), whether it was cut and what was masked.
fn ok(a: &vigil_target::ApiAnswer) -> CallToolResult {
    let media = a
        .content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    let json_media = media == "application/json" || media.ends_with("+json");
    let body = if json_media && !a.truncated {
        serde_json::from_slice::<Value>(&a.body)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&a.body).into_owned()))
    } else {
        Value::String(String::from_utf8_lossy(&a.body).into_owned())
    };
    let mut value = json!({
        "status": "ok",
        "http_status": a.status,
        "content_type": a.content_type,
        "body": body,
        "truncated": a.truncated,
    });
    if let Some(m) = &a.masking {
        value["masked"] = json!({
            "values": m.column_values,
            "detector_hits": m.detector_hits.values().sum::<u64>(),
        });
    }
    outcome::result(value, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req<'a>(method: &'a str, target: &'a str, body: &'a [u8]) -> ApiRequest<'a> {
        ApiRequest {
            method,
            target,
            content_type: Some("application/json"),
            body,
        }
    }

    #[test]
    fn the_binding_covers_method_target_and_body() {
        let a = binding(&req("POST", "/orders", b"{\"n\":1}"));
        assert_ne!(a, binding(&req("PUT", "/orders", b"{\"n\":1}")));
        assert_ne!(a, binding(&req("POST", "/orders/2", b"{\"n\":1}")));
        assert_ne!(a, binding(&req("POST", "/orders", b"{\"n\":2}")));
        let mut other = req("POST", "/orders", b"{\"n\":1}");
        other.content_type = Some("text/plain");
        assert_ne!(a, binding(&other));
        // Length prefixes: moving bytes between parts changes the binding.
        assert_ne!(
            binding(&req("POST", "/ab", b"c")),
            binding(&req("POST", "/a", b"bc"))
        );
        assert_eq!(a, binding(&req("POST", "/orders", b"{\"n\":1}")));
    }
}
