//! What every tool call that reaches a target starts with: a call slot
//! (bounded by `Limits::max_concurrent_calls`) and a Vigil session that
//! never holds (reviews answer at once, in retry mode).

use rmcp::model::CallToolResult;
use tokio::sync::OwnedSemaphorePermit;
use vigil_core::Protocol;
use vigil_guard::{GuardError, SessionCtx, SessionRequest};

use crate::auth::Caller;
use crate::{Mcp, outcome};

impl Mcp {
    /// A call slot and a session of `caller` on `connection`; errors are
    /// already tool results.
    pub(crate) async fn tool_session(
        &self,
        caller: Caller,
        connection: &str,
    ) -> Result<(OwnedSemaphorePermit, SessionCtx), CallToolResult> {
        let permit =
            tokio::time::timeout(self.limits.busy_wait, self.calls.clone().acquire_owned()).await;
        let Ok(Ok(permit)) = permit else {
            return Err(outcome::error(
                "the gateway is busy with other tool calls: try again in a few seconds",
            ));
        };
        let request = SessionRequest {
            protocol: Protocol::Mcp,
            connection,
            client_addr: &caller.client_addr,
            run_id: caller.run_id,
        };
        match self.guard.open_session(caller.principal, &request).await {
            Ok(s) => Ok((permit, s.without_holds())),
            Err(e @ (GuardError::NotGranted { .. } | GuardError::UnknownConnection(_))) => {
                Err(outcome::error(e.to_string()))
            }
            Err(e) => {
                tracing::error!(connection, error = %e, "mcp: could not open a session");
                Err(outcome::error(e.to_string()))
            }
        }
    }
}
