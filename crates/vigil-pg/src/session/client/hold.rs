//! A statement held for approval: the client is told at once (a
//! NoticeResponse, sent by the server pump between two whole messages), and
//! the pump waits for the reviewer, the rule's timeout, a CancelRequest
//! (which withdraws the request) or the gateway's shutdown (which refuses
//! it, so a held client gets an error rather than a hang).

use super::ClientPump;
use crate::protocol::MessageWriter;
use tokio::sync::watch;
use vigil_guard::{Decision, GuardError, Withdrawal};

impl ClientPump<'_> {
    /// Resolves a `Held` decision into `Allowed` or `Refused` by waiting.
    pub(super) async fn settle(
        &self,
        decision: Result<Decision, GuardError>,
    ) -> Result<Decision, GuardError> {
        let hold = match decision {
            Ok(Decision::Held(hold)) => hold,
            other => return other,
        };
        let mut notice = MessageWriter::new();
        notice.notice("00000", &hold.notice());
        self.shared.send_to_client(notice.take().freeze());
        tracing::info!(session = %self.session.id, approval = %hold.approval.id, "statement held for approval");
        let withdrawn = withdrawal(self.cancels.clone(), self.shutdown.clone());
        self.guard
            .await_approval(self.session, hold, withdrawn)
            .await
    }
}

/// Resolves when the client cancels or the gateway begins to shut down.
async fn withdrawal(
    cancels: Option<watch::Receiver<u64>>,
    shutdown: Option<watch::Receiver<bool>>,
) -> Withdrawal {
    let cancelled = async move {
        match cancels {
            Some(mut rx) => {
                rx.borrow_and_update();
                let _ = rx.changed().await;
            }
            None => std::future::pending().await,
        }
    };
    let stopping = async move {
        match shutdown {
            Some(mut rx) => {
                // A closed sender means the gateway is going away too.
                while !*rx.borrow_and_update() {
                    if rx.changed().await.is_err() {
                        break;
                    }
                }
            }
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = cancelled => Withdrawal::Cancelled,
        _ = stopping => Withdrawal::Shutdown,
    }
}
