//! A session outlives its credential. When the credential ends (an OIDC
//! token or a Vigil token expires, after the issuer's leeway and grace; a
//! Vigil token is revoked, even from another process with `vigil token
//! revoke`), the session stays open but every new statement is refused
//! until the client reconnects with a valid credential.
//!
//! The hot path stays cheap: expiry is one comparison with the principal's
//! deadline, and a Vigil token is re-checked only once its last check is
//! older than the gate's cache lifetime (`[identity] token_cache`, 1 s by
//! default), which is one atomic load and a clock read per statement. The
//! re-check itself goes through the gate's token cache, so the store is
//! read at most once per lifetime per token, whatever the number of
//! sessions that share it.

use crate::ledger::Recorded;
use crate::session::now_ms;
use crate::{Decision, Guard, GuardError, Refusal, RefusalClass, SessionCtx};
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use vigil_core::{ActionKind, VerdictKind, VerdictRecord};
use vigil_identity::IdentityError;

/// The rule name of refusals for an expired or revoked credential.
pub const EXPIRED_RULE: &str = "identity";
const EXPIRED_REASON: &str = "credential expired; reconnect with a fresh token";
const REVOKED_REASON: &str = "the credential of this session was revoked";
const UNCHECKED_REASON: &str =
    "the credential of this session could not be checked; try again shortly";

const VALID: u8 = 0;
const REVOKED: u8 = 1;
const EXPIRED: u8 = 2;

/// What a session knows about its credential since it last asked the gate.
pub(crate) struct CredentialWatch {
    /// Milliseconds after the session's start from which the credential is
    /// checked again; `u64::MAX`: never (nothing to re-check).
    recheck_after_ms: AtomicU64,
    /// Once revoked or expired, always: later statements need no lookup.
    state: AtomicU8,
}

impl CredentialWatch {
    /// `rechecks`: whether the credential can be revoked (a Vigil token).
    /// The first statement re-checks at once, through the gate's cache.
    pub(crate) fn new(rechecks: bool) -> Self {
        CredentialWatch {
            recheck_after_ms: AtomicU64::new(if rechecks { 0 } else { u64::MAX }),
            state: AtomicU8::new(VALID),
        }
    }

    fn due(&self, started: Instant) -> bool {
        let after = self.recheck_after_ms.load(Ordering::Relaxed);
        after != u64::MAX && millis(started.elapsed()) >= after
    }

    /// The store vouched for the credential at `checked_at`: good until `ttl` later.
    fn vouched(&self, started: Instant, checked_at: Instant, ttl: Duration) {
        // `checked_at` may precede the session (a login answered from the
        // cache): the lifetime still counts from the store's answer.
        let next = match checked_at.checked_add(ttl) {
            Some(until) => millis(until.saturating_duration_since(started)),
            None => u64::MAX - 1,
        };
        self.recheck_after_ms
            .store(next.min(u64::MAX - 1), Ordering::Relaxed);
    }

    fn latch(&self, state: u8) {
        self.state.store(state, Ordering::Relaxed);
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn refusal(class: RefusalClass, reason: &str) -> Refusal {
    Refusal {
        class,
        rule: EXPIRED_RULE.into(),
        reason: reason.into(),
    }
}

impl SessionCtx {
    /// The refusal every statement gets once the principal's credential has
    /// expired or was found revoked, or `None` while it is valid as far as
    /// the session knows (no store lookup here; see
    /// `Guard::credential_refusal`).
    pub fn credential_expired(&self) -> Option<Refusal> {
        match self.credential.state.load(Ordering::Relaxed) {
            REVOKED => return Some(refusal(RefusalClass::IdentityRevoked, REVOKED_REASON)),
            EXPIRED => return Some(refusal(RefusalClass::IdentityExpired, EXPIRED_REASON)),
            _ => {}
        }
        let deadline = self.principal.expires_at_ms?;
        (now_ms() > deadline).then(|| refusal(RefusalClass::IdentityExpired, EXPIRED_REASON))
    }
}

impl Guard {
    /// The refusal for the next statement of `session` when its credential
    /// has ended: expired, or revoked (re-checked with the store once the
    /// last check is older than the token cache lifetime). A store that
    /// cannot answer refuses too (fail closed), without latching.
    pub(crate) async fn credential_refusal(&self, session: &SessionCtx) -> Option<Refusal> {
        if let Some(ended) = session.credential_expired() {
            return Some(ended);
        }
        if !session.credential.due(session.started) {
            return None;
        }
        match self.auth.revalidate(&session.principal).await {
            Ok(checked_at) => {
                session
                    .credential
                    .vouched(session.started, checked_at, self.auth.cache_ttl());
                None
            }
            Err(IdentityError::Store(e)) => {
                tracing::warn!(session = %session.id, error = %e, "could not re-check a session's credential");
                Some(refusal(RefusalClass::IdentityExpired, UNCHECKED_REASON))
            }
            Err(IdentityError::Expired) => {
                session.credential.latch(EXPIRED);
                Some(refusal(RefusalClass::IdentityExpired, EXPIRED_REASON))
            }
            Err(_) => {
                tracing::info!(session = %session.id, principal = %session.principal.name, "the credential of an open session was revoked");
                session.credential.latch(REVOKED);
                Some(refusal(RefusalClass::IdentityRevoked, REVOKED_REASON))
            }
        }
    }

    /// Records each statement of the message as refused for `refusal` and
    /// returns the refusal (policy is not consulted).
    pub(crate) async fn refuse_all(
        &self,
        session: &SessionCtx,
        actions: &[ActionKind],
        refusal: Refusal,
    ) -> Result<Decision, GuardError> {
        for action in actions {
            let decision = VerdictRecord {
                verdict: VerdictKind::Deny,
                rule: refusal.rule.clone(),
                reason: Some(refusal.reason.clone()),
            };
            self.record_statement(session, Recorded::of(action), decision, VerdictKind::Deny)
                .await?;
        }
        session
            .statements
            .fetch_add(actions.len() as u64, Ordering::Relaxed);
        tracing::info!(session = %session.id, principal = %session.principal.name, reason = %refusal.reason, "statement refused: the session's credential ended");
        Ok(Decision::Refused(refusal))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_watch_without_a_token_never_rechecks() {
        let w = CredentialWatch::new(false);
        assert!(!w.due(Instant::now() - Duration::from_secs(3600)));
    }

    #[test]
    fn a_vouched_credential_is_rechecked_after_the_lifetime() {
        let started = Instant::now();
        let w = CredentialWatch::new(true);
        assert!(w.due(started), "the first statement checks");
        w.vouched(started, started, Duration::from_millis(40));
        assert!(!w.due(started));
        std::thread::sleep(Duration::from_millis(50));
        assert!(w.due(started));
    }

    #[test]
    fn the_lifetime_counts_from_the_stores_answer_not_from_now() {
        let started = Instant::now();
        std::thread::sleep(Duration::from_millis(30));
        let session = Instant::now();
        let w = CredentialWatch::new(true);
        // Vouched 30 ms before the session with a 40 ms lifetime: due 10 ms in.
        w.vouched(session, started, Duration::from_millis(40));
        assert!(!w.due(session));
        std::thread::sleep(Duration::from_millis(15));
        assert!(w.due(session));
    }

    #[tokio::test]
    async fn a_revoked_token_refuses_the_next_statement_of_an_open_session() {
        use crate::approvals::tests::guard;
        use vigil_core::{PrincipalKind, ReviewMode};
        use vigil_identity::TokenAuthority;

        let dir = tempfile::tempdir().expect("tmp");
        let g = guard(dir.path(), ReviewMode::Retry, Duration::from_secs(60))
            .with_token_cache(Duration::from_millis(100));
        let authority = TokenAuthority::new(g.store().clone());
        let token = authority
            .issue("bot", &["agents".into()], PrincipalKind::Agent, None)
            .await
            .expect("issue");
        let principal = g
            .authenticate(&crate::Login {
                protocol: vigil_core::Protocol::Postgres,
                credential: crate::Credential::Secret(&token),
                connection: "shop",
                client_addr: "test",
            })
            .await
            .expect("login");
        let s = g
            .open_session(
                principal,
                &crate::SessionRequest {
                    protocol: vigil_core::Protocol::Postgres,
                    connection: "shop",
                    client_addr: "test",
                    run_id: None,
                },
            )
            .await
            .expect("session");
        let select = || {
            vec![ActionKind::Sql(vigil_core::SqlFacts {
                kind: "select".into(),
                read_only: true,
                text: "SELECT 1".into(),
                ..vigil_core::SqlFacts::default()
            })]
        };
        assert!(matches!(
            g.decide(&s, &select(), crate::Binding::NONE)
                .await
                .expect("decide"),
            Decision::Allowed(_)
        ));
        authority.revoke("bot").await.expect("revoke");
        tokio::time::sleep(Duration::from_millis(150)).await;
        let Decision::Refused(r) = g
            .decide(&s, &select(), crate::Binding::NONE)
            .await
            .expect("decide")
        else {
            panic!("a revoked token's session must be refused");
        };
        assert_eq!(
            r.message(),
            "vigil: denied by rule 'identity': the credential of this session was revoked"
        );
        // Latched: the cheap check says so too, and a new login is refused.
        assert_eq!(s.credential_expired(), Some(r));
        assert!(
            g.authenticate(&crate::Login {
                protocol: vigil_core::Protocol::Postgres,
                credential: crate::Credential::Secret(&token),
                connection: "shop",
                client_addr: "test"
            })
            .await
            .is_err()
        );
    }
}
