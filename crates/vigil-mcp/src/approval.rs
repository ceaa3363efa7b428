//! The `approval_status` tool: where an approval request stands, with an
//! optional bounded long-poll until a reviewer decides. A principal sees
//! its own requests (and those it may review), through the guard.

use crate::{Mcp, outcome};
use rmcp::RoleServer;
use rmcp::model::{CallToolResult, JsonObject};
use rmcp::service::RequestContext;
use serde_json::{Value, json};
use std::time::Duration;
use vigil_core::{ApprovalRecord, ApprovalStatus};
use vigil_guard::Principal;

/// How often a long-poll reads the request again.
const POLL: Duration = Duration::from_millis(250);

impl Mcp {
    pub(crate) async fn approval_status(
        &self,
        principal: &Principal,
        args: &JsonObject,
        context: &RequestContext<RoleServer>,
    ) -> CallToolResult {
        let Some(id) = args.get("approval_id").and_then(Value::as_str) else {
            return outcome::error("the argument \"approval_id\" (a string) is required");
        };
        let wait = match args.get("wait_seconds") {
            None | Some(Value::Null) => Duration::ZERO,
            Some(v) => match v.as_f64() {
                Some(s) if s >= 0.0 && s.is_finite() => {
                    Duration::from_secs_f64(s).min(self.limits.max_wait)
                }
                _ => {
                    return outcome::error(
                        "\"wait_seconds\" must be a number of seconds, 0 or more",
                    );
                }
            },
        };
        // Too many waiting already: answer at once rather than pile up.
        let permit = self.polls.clone().try_acquire_owned().ok();
        let wait = if permit.is_some() {
            wait
        } else {
            Duration::ZERO
        };
        let deadline = tokio::time::Instant::now() + wait;
        let mut shutdown = self.shutdown.clone();
        loop {
            let record = match self.guard.approval_for(principal, false, id).await {
                Ok(Some(a)) => a,
                Ok(None) => {
                    return outcome::error(format!("no approval request \"{id}\" of yours"));
                }
                Err(e) => {
                    tracing::error!(error = %e, "mcp: could not read an approval");
                    return outcome::error(e.to_string());
                }
            };
            let now = tokio::time::Instant::now();
            if record.status != ApprovalStatus::Pending || now >= deadline {
                return status(&record);
            }
            tokio::select! {
                _ = tokio::time::sleep(POLL.min(deadline - now)) => {}
                _ = context.ct.cancelled() => return status(&record),
                _ = shutdown.changed() => return status(&record),
            }
        }
    }
}

fn status(a: &ApprovalRecord) -> CallToolResult {
    let next = match a.status {
        ApprovalStatus::Pending => {
            "No decision yet: call approval_status again (with wait_seconds) later."
        }
        ApprovalStatus::Approved => {
            "Approved: call query again with exactly the same connection, sql and parameters; it runs once."
        }
        ApprovalStatus::Denied => "Denied by the reviewer: do not run this statement.",
        ApprovalStatus::Used => "Already used: the approved statement has run.",
        ApprovalStatus::Expired => {
            "Expired without a usable decision: calling query again asks for a new approval."
        }
        ApprovalStatus::Withdrawn => "Withdrawn: calling query again asks for a new approval.",
    };
    let mut value = json!({
        "status": a.status.as_str(),
        "approval_id": a.id,
        "connection": a.connection,
        "statement": a.statement,
        "rule": a.rule,
        "reviewers": a.reviewers,
        "next": next,
    });
    if let Some(by) = &a.decided_by {
        value["decided_by"] = json!(by);
    }
    if let Some(why) = &a.decision_reason {
        value["decision_reason"] = json!(why);
    }
    if a.status == ApprovalStatus::Pending {
        value["retry_after_seconds"] = json!(outcome::RETRY_AFTER_SECONDS);
    }
    outcome::result(value, false)
}
