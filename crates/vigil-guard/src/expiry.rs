//! A session outlives its credential: when an OIDC token expires (after its
//! issuer's leeway and grace), the session stays open but every new statement
//! is refused until the client reconnects with a fresh token.

use crate::metrics::VerdictLabel;
use crate::session::now_ms;
use crate::{Decision, Guard, GuardError, Refusal, SessionCtx};
use std::sync::atomic::Ordering;
use vigil_core::{EventBody, SqlFacts, VerdictRecord};

/// The rule name of refusals for an expired credential.
pub const EXPIRED_RULE: &str = "identity";
const EXPIRED_REASON: &str = "credential expired; reconnect with a fresh token";

impl SessionCtx {
    /// The refusal every statement gets once the principal's credential has
    /// expired, or `None` while it is valid (or never expires).
    pub fn credential_expired(&self) -> Option<Refusal> {
        let deadline = self.principal.expires_at_ms?;
        (now_ms() > deadline).then(|| Refusal {
            rule: EXPIRED_RULE.into(),
            reason: EXPIRED_REASON.into(),
        })
    }
}

impl Guard {
    /// Records each statement of the message as refused for `refusal` and
    /// returns the refusal (policy is not consulted).
    pub(crate) async fn refuse_all(
        &self,
        session: &SessionCtx,
        statements: &[SqlFacts],
        refusal: Refusal,
    ) -> Result<Decision, GuardError> {
        for facts in statements {
            self.metrics
                .statements
                .get_or_create(&VerdictLabel { verdict: "deny" })
                .inc();
            let event = session.event(EventBody::Statement {
                connection: session.connection.name.clone(),
                text: facts.text.clone(),
                kind: facts.kind.clone(),
                tables_read: facts.tables_read.clone(),
                tables_written: facts.tables_written.clone(),
                decision: VerdictRecord {
                    verdict: "deny".into(),
                    rule: refusal.rule.clone(),
                    reason: Some(refusal.reason.clone()),
                },
            });
            self.store.append(event).await.map_err(GuardError::Ledger)?;
        }
        session
            .statements
            .fetch_add(statements.len() as u64, Ordering::Relaxed);
        tracing::info!(session = %session.id, principal = %session.principal.name, "statement refused: credential expired");
        Ok(Decision::Refused(refusal))
    }
}
