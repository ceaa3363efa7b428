//! The `ssh_exec` tool: one command on an SSH connection, analysed and
//! decided exactly as an exec request of the SSH front-end (same facts,
//! same rules, the decision durable before anything is sent), run through
//! the exec seam with the permit, its output masked and bounded.

use crate::auth::Caller;
use crate::{Mcp, outcome};
use rmcp::model::{CallToolResult, JsonObject};
use std::time::Instant;
use vigil_core::StatementOutcome;
use vigil_guard::{Binding, Decision};

/// Longest command an agent may send.
const MAX_COMMAND: usize = 64 * 1024;

impl Mcp {
    pub(crate) async fn ssh_exec(
        &self,
        caller: Caller,
        connection: &str,
        args: &JsonObject,
    ) -> CallToolResult {
        let Some(command) = args.get("command").and_then(|v| v.as_str()) else {
            return outcome::error("the argument \"command\" (a string) is required");
        };
        if command.len() > MAX_COMMAND {
            return outcome::error("the command is longer than 64 KiB");
        }
        let Some(target) = self.exec_targets.get(connection).cloned() else {
            return outcome::error(format!("unknown connection \"{connection}\""));
        };
        let (_slot, session) = match self.tool_session(caller, connection).await {
            Ok(opened) => opened,
            Err(refused) => return refused,
        };
        let actions = [target.action(command.as_bytes())];
        let decided = self
            .guard
            .decide(&session, &actions, Binding::new(command.as_bytes()))
            .await;
        let result = match decided {
            Ok(Decision::Allowed(permit)) => {
                let started = Instant::now();
                let ran = tokio::time::timeout(
                    self.limits.statement_timeout,
                    target.exec(
                        &permit,
                        command.as_bytes(),
                        self.limits.max_result_bytes,
                        session.mask.content().cloned(),
                    ),
                )
                .await;
                let (tag, error_code, answer) = match ran {
                    Ok(Ok(out)) => {
                        let tag = match out.exit_status {
                            Some(code) => format!("exit {code}"),
                            None => "closed".to_string(),
                        };
                        let answer = outcome::result(
                            serde_json::json!({
                                "status": "ok",
                                "exit_status": out.exit_status,
                                "stdout": String::from_utf8_lossy(&out.stdout),
                                "stderr": String::from_utf8_lossy(&out.stderr),
                                "truncated": out.truncated,
                            }),
                            false,
                        );
                        (Some(tag), None, answer)
                    }
                    Ok(Err(e)) => {
                        tracing::warn!(session = %session.id, error = %e, "mcp: ssh_exec failed upstream");
                        (
                            None,
                            Some("upstream".to_string()),
                            outcome::error(e.to_string()),
                        )
                    }
                    Err(_) => (
                        None,
                        Some("timeout".to_string()),
                        outcome::error(format!(
                            "the command took longer than {}s and was abandoned",
                            self.limits.statement_timeout.as_secs()
                        )),
                    ),
                };
                if let Some(&seq) = permit.seqs.first() {
                    self.guard
                        .statement_done(
                            &session,
                            StatementOutcome {
                                statement_seq: seq,
                                duration_us: started.elapsed().as_micros() as u64,
                                tag,
                                error_code,
                                masking: None,
                            },
                        )
                        .await;
                }
                answer
            }
            Ok(Decision::Refused(r)) => outcome::denied(&r),
            Ok(Decision::Held(hold)) => {
                outcome::pending_for(&hold.approval, crate::tools::SSH_EXEC)
            }
            Err(e) => {
                tracing::error!(session = %session.id, error = %e, "mcp: command refused: guard failed");
                outcome::error(e.to_string())
            }
        };
        self.guard.close_session(&session).await;
        result
    }
}
