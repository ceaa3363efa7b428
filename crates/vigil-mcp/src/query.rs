//! The `query` tool: one statement, decided by the guard exactly like a
//! psql statement (analysis with the target's catalog, policy, review,
//! the decision durable in the ledger before anything is sent), run through
//! the target seam with the permit, its rows masked by the same plan as on
//! the proxy path (same policy, same lineage).
//!
//! Each call is one Vigil session (protocol `mcp`): opened through the
//! guard, which checks the grant, and closed when the call returns.

use crate::auth::Caller;
use crate::{Mcp, outcome};
use rmcp::model::{CallToolResult, JsonObject};
use serde_json::Value;
use std::sync::Arc;
use std::time::Instant;
use vigil_core::{ActionKind, StatementOutcome};
use vigil_guard::{Binding, Decision, SessionCtx, Unpolicied};
use vigil_target::{Analysed, QueryError, SqlSession, SqlTarget, Statement, encode_params};

/// What the client side of the upstream login says it is.
const APPLICATION_NAME: &str = "vigil-mcp";

/// An open session with its logged-in upstream.
pub(crate) struct Opened {
    pub session: SessionCtx,
    pub upstream: Box<dyn SqlSession>,
    pub target: Arc<dyn SqlTarget>,
    /// Counts against `Limits::max_concurrent_calls` until dropped.
    _permit: tokio::sync::OwnedSemaphorePermit,
}

impl Mcp {
    /// Opens a Vigil session on `connection` and logs in upstream. Errors
    /// are already tool results.
    pub(crate) async fn open(
        &self,
        caller: Caller,
        connection: &str,
    ) -> Result<Opened, CallToolResult> {
        let Some(target) = self.targets.get(connection).cloned() else {
            return Err(outcome::error(format!(
                "unknown connection \"{connection}\""
            )));
        };
        let (permit, session) = self.tool_session(caller, connection).await?;
        let upstream = match target.connect(APPLICATION_NAME).await {
            Ok(u) => u,
            Err(e) => {
                tracing::warn!(session = %session.id, connection, error = %e, "mcp: upstream login failed");
                self.guard.close_session(&session).await;
                return Err(outcome::error(format!(
                    "cannot connect to the target of connection \"{connection}\""
                )));
            }
        };
        Ok(Opened {
            session,
            upstream,
            target,
            _permit: permit,
        })
    }

    /// Ends the upstream login and records the end of the session.
    pub(crate) async fn close(&self, opened: Opened) {
        let Opened {
            session, upstream, ..
        } = opened;
        upstream.close().await;
        self.guard.close_session(&session).await;
    }

    pub(crate) async fn query(
        &self,
        caller: Caller,
        connection: &str,
        args: &JsonObject,
    ) -> CallToolResult {
        let call = match Call::parse(args, &self.limits) {
            Ok(c) => c,
            Err(e) => return outcome::error(e),
        };
        let mut opened = match self.open(caller, connection).await {
            Ok(o) => o,
            Err(e) => return e,
        };
        let result = self.run(&mut opened, &call).await;
        self.close(opened).await;
        result
    }

    async fn run(&self, opened: &mut Opened, call: &Call) -> CallToolResult {
        let session = &opened.session;
        let Analysed { facts, mask } = match opened.target.analyze(&call.sql, &session.mask).await {
            Ok(a) => a,
            Err(e) => {
                return self
                    .refuse_unanalysable(session, &call.sql, &e.to_string())
                    .await;
            }
        };
        match facts.len() {
            0 => return outcome::error("the sql holds no statement"),
            1 => {}
            _ => {
                return self
                    .refuse_unanalysable(
                        session,
                        &call.sql,
                        "a query call runs exactly one statement; send them one by one",
                    )
                    .await;
            }
        }
        let binding = encode_params(&call.parameters);
        let actions: Vec<ActionKind> = facts.iter().cloned().map(ActionKind::Sql).collect();
        let permit = match self
            .guard
            .decide(session, &actions, Binding::new(&binding))
            .await
        {
            Ok(Decision::Allowed(permit)) => permit,
            Ok(Decision::Refused(r)) => return outcome::denied(&r),
            Ok(Decision::Held(hold)) => {
                tracing::info!(session = %session.id, approval = %hold.approval.id, "mcp: statement needs approval");
                return outcome::pending(&hold.approval);
            }
            Err(e) => {
                tracing::error!(session = %session.id, error = %e, "mcp: statement refused: guard failed");
                return outcome::error(e.to_string());
            }
        };
        let started = Instant::now();
        let statement = Statement {
            sql: &call.sql,
            params: &call.parameters,
            max_rows: call.max_rows,
            max_bytes: self.limits.max_result_bytes,
        };
        let ran = tokio::time::timeout(
            self.limits.statement_timeout,
            opened.upstream.run(&permit, &statement, &mask),
        )
        .await;
        let ran = match ran {
            Ok(ran) => ran,
            Err(_) => {
                // Stop the statement on the target too, with its own key.
                if let Err(e) = opened.upstream.cancel().await {
                    tracing::warn!(session = %session.id, error = %e, "mcp: could not cancel a timed-out statement");
                }
                Err(QueryError::Server {
                    code: "57014".into(),
                    message: format!(
                        "vigil: the statement took longer than {}s and was abandoned",
                        self.limits.statement_timeout.as_secs()
                    ),
                    masking: None,
                })
            }
        };
        let (tag, error_code, summary) = match &ran {
            Ok(r) => (r.tag.clone(), None, r.masking.clone()),
            Err(QueryError::Server { code, masking, .. }) => {
                (None, Some(code.clone()), masking.clone())
            }
            Err(_) => (None, Some("08006".to_string()), None),
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
                        masking: summary,
                    },
                )
                .await;
        }
        match ran {
            Ok(r) => outcome::rows(&r),
            Err(QueryError::Server { code, message, .. }) => outcome::result(
                serde_json::json!({
                    "status": "error",
                    "sqlstate": code,
                    "message": message,
                    "reason": "the database refused or failed the statement",
                }),
                true,
            ),
            Err(e) => {
                tracing::warn!(session = %session.id, error = %e, "mcp: statement failed on the way");
                outcome::error("the connection to the target failed while running the statement")
            }
        }
    }

    async fn refuse_unanalysable(
        &self,
        session: &SessionCtx,
        sql: &str,
        why: &str,
    ) -> CallToolResult {
        match self
            .guard
            .refuse(session, Unpolicied::unanalysable(sql, why))
            .await
        {
            Ok(r) => outcome::denied(&r),
            Err(e) => {
                tracing::error!(session = %session.id, error = %e, "mcp: ledger unavailable");
                outcome::error(e.to_string())
            }
        }
    }
}

/// The arguments of one `query` call.
struct Call {
    sql: String,
    parameters: Vec<Option<String>>,
    max_rows: usize,
}

impl Call {
    fn parse(args: &JsonObject, limits: &crate::Limits) -> Result<Call, String> {
        let sql = args
            .get("sql")
            .and_then(Value::as_str)
            .filter(|s| !s.trim().is_empty())
            .ok_or("the argument \"sql\" (a non-empty string) is required")?
            .to_string();
        let parameters = match args.get("parameters") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(values)) if values.len() <= limits.max_parameters => {
                values.iter().map(parameter_text).collect()
            }
            Some(Value::Array(_)) => {
                return Err(format!(
                    "at most {} parameters may be bound",
                    limits.max_parameters
                ));
            }
            Some(_) => return Err("\"parameters\" must be an array".into()),
        };
        let max_rows = match args.get("max_rows") {
            None | Some(Value::Null) => limits.default_rows,
            Some(v) => match v.as_u64() {
                Some(n) if n >= 1 => usize::try_from(n)
                    .unwrap_or(usize::MAX)
                    .min(limits.max_rows),
                _ => return Err("\"max_rows\" must be a positive integer".into()),
            },
        };
        Ok(Call {
            sql,
            parameters,
            max_rows,
        })
    }
}

/// A JSON parameter in PostgreSQL's text format.
fn parameter_text(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(if *b { "true" } else { "false" }.to_string()),
        other => Some(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn args(v: Value) -> JsonObject {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn arguments_are_bounded_and_typed() {
        let limits = crate::Limits::default();
        let c = Call::parse(
            &args(
                json!({"sql": "select $1, $2, $3", "parameters": ["a", 2, null], "max_rows": 5000}),
            ),
            &limits,
        )
        .unwrap();
        assert_eq!(c.parameters, vec![Some("a".into()), Some("2".into()), None]);
        assert_eq!(c.max_rows, limits.max_rows);
        let c = Call::parse(&args(json!({"sql": "select 1"})), &limits).unwrap();
        assert_eq!(c.max_rows, limits.default_rows);
        assert!(Call::parse(&args(json!({"sql": " "})), &limits).is_err());
        assert!(Call::parse(&args(json!({"sql": "x", "max_rows": 0})), &limits).is_err());
        assert!(Call::parse(&args(json!({"sql": "x", "parameters": "a"})), &limits).is_err());
        let many: Vec<i32> = (0..300).collect();
        assert!(Call::parse(&args(json!({"sql": "x", "parameters": many})), &limits).is_err());
    }
}
