//! The one decision entry point, for every kind of action: policy, the
//! review step, and the ledger, before anything is forwarded.

use crate::approvals::{Hold, Reviewed};
use crate::ledger::Recorded;
use crate::{Binding, Guard, GuardError, Refusal, SessionCtx, Unpolicied};
use std::sync::atomic::Ordering;
use std::time::{Instant, SystemTime};
use vigil_core::{ActionKind, EventBody, StatementOutcome, Verdict, VerdictKind, VerdictRecord};
use vigil_policy::EvalInput;

/// Proof that the guard allowed an action and recorded that durably.
/// Only this crate can make one; forwarding functions require it.
/// `non_exhaustive` is what seals it: no other crate can construct one.
///
/// Outside this crate a struct literal does not compile:
///
/// ```compile_fail,E0639
/// let forged = vigil_guard::Permit { seqs: vec![1] };
/// ```
///
/// there is no `Default` to start from,
///
/// ```compile_fail,E0599
/// let forged = vigil_guard::Permit::default();
/// ```
///
/// and no `Clone` to reuse one for another action:
///
/// ```compile_fail,E0308
/// fn copy(p: &vigil_guard::Permit) -> vigil_guard::Permit {
///     p.clone()
/// }
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub struct Permit {
    /// Ledger `seq` of each statement's decision, in order.
    pub seqs: Vec<i64>,
}

#[derive(Debug)]
pub enum Decision {
    Allowed(Permit),
    Refused(Refusal),
    /// A `hold` review: tell the client, then [`Guard::await_approval`].
    Held(Box<crate::approvals::Hold>),
}

impl Guard {
    /// Decides the actions of one client message (one or more statements,
    /// say), bound to `binding`. Each action is evaluated; if any is refused
    /// the message is refused whole. Every action's decision is durable in
    /// the ledger before this returns.
    pub async fn decide(
        &self,
        session: &SessionCtx,
        actions: &[ActionKind],
        binding: Binding<'_>,
    ) -> Result<Decision, GuardError> {
        if let Some(ended) = self.credential_refusal(session).await {
            return self.refuse_all(session, actions, ended).await;
        }
        let started = Instant::now();
        let now = SystemTime::now();
        let mut verdicts = Vec::with_capacity(actions.len());
        let mut refusal = None;
        for action in actions {
            let verdict = self.policies.verdict(&EvalInput {
                principal: &session.principal,
                connection: &session.connection,
                action,
                now,
            });
            if refusal.is_none() {
                refusal = refusal_of(&verdict);
            }
            verdicts.push(verdict);
        }
        let (covered, held) = match &refusal {
            None => match self
                .review_step(session, actions, &verdicts, binding)
                .await?
            {
                Some(Reviewed::Covered { reason }) => (Some(reason), None),
                Some(Reviewed::Refused(r)) => {
                    refusal = Some(r);
                    (None, None)
                }
                Some(Reviewed::Held(hold)) => (None, Some(hold)),
                None => (None, None),
            },
            Some(_) => (None, None),
        };
        // A refused message records every statement as refused by the same
        // rule: none of them runs.
        let mut seqs = Vec::with_capacity(actions.len());
        for (action, verdict) in actions.iter().zip(&verdicts) {
            let decision = match &refusal {
                Some(r) if matches!(verdict, Verdict::Allow { .. }) => VerdictRecord {
                    verdict: VerdictKind::Deny,
                    rule: r.rule.clone(),
                    reason: Some(format!(
                        "another statement of the same message was refused: {}",
                        r.reason
                    )),
                },
                _ => reviewed_record(
                    verdict,
                    covered.as_deref(),
                    refusal.as_ref(),
                    held.as_deref(),
                ),
            };
            let label = match (decision.verdict, verdict.kind()) {
                (VerdictKind::Allow, _) => VerdictKind::Allow,
                (_, VerdictKind::Review) => VerdictKind::Review,
                _ => VerdictKind::Deny,
            };
            seqs.push(
                self.record_statement(session, Recorded::of(action), decision, label)
                    .await?,
            );
        }
        session
            .statements
            .fetch_add(actions.len() as u64, Ordering::Relaxed);
        self.metrics
            .decision_seconds
            .observe(started.elapsed().as_secs_f64());
        if let Some(hold) = held {
            return Ok(Decision::Held(hold));
        }
        Ok(match refusal {
            Some(r) => Decision::Refused(r),
            None => Decision::Allowed(Permit { seqs }),
        })
    }

    /// Runs the review step when a statement of the message needs review.
    async fn review_step(
        &self,
        session: &SessionCtx,
        actions: &[ActionKind],
        verdicts: &[Verdict],
        binding: Binding<'_>,
    ) -> Result<Option<Reviewed>, GuardError> {
        let Some(first) = verdicts
            .iter()
            .find(|v| matches!(v, Verdict::Review { .. }))
        else {
            return Ok(None);
        };
        let mut rules: Vec<&str> = verdicts
            .iter()
            .filter(|v| matches!(v, Verdict::Review { .. }))
            .map(Verdict::rule)
            .collect();
        rules.dedup();
        self.review(session, actions, first, &rules, binding)
            .await
            .map(Some)
    }

    /// Records the statements of an approved held message as allowed and
    /// returns the permit to forward them.
    pub(crate) async fn record_covered(
        &self,
        session: &SessionCtx,
        actions: &[ActionKind],
        rule: &str,
        reason: &str,
    ) -> Result<Decision, GuardError> {
        let mut seqs = Vec::with_capacity(actions.len());
        for action in actions {
            let decision = VerdictRecord {
                verdict: VerdictKind::Allow,
                rule: rule.to_string(),
                reason: Some(reason.to_string()),
            };
            seqs.push(
                self.record_statement(session, Recorded::of(action), decision, VerdictKind::Allow)
                    .await?,
            );
        }
        Ok(Decision::Allowed(Permit { seqs }))
    }

    /// What policy says of `actions` now, recording nothing and permitting
    /// nothing: for protocol steps that run nothing (PostgreSQL's Parse,
    /// MCP's listing of readable tables), so that a refusal comes early.
    /// Whatever runs still goes through [`Guard::decide`].
    pub fn would_refuse(&self, session: &SessionCtx, actions: &[ActionKind]) -> Option<Refusal> {
        if let Some(expired) = session.credential_expired() {
            return Some(expired);
        }
        let now = SystemTime::now();
        actions.iter().find_map(|action| {
            refusal_of(&self.policies.verdict(&EvalInput {
                principal: &session.principal,
                connection: &session.connection,
                action,
                now,
            }))
        })
    }

    /// Whether policy would hold any of `actions` for review now: the one
    /// case where [`Guard::decide`] reads the binding. A front-end that can
    /// only know the binding by buffering (an HTTP request body) asks
    /// first, and streams what policy allows outright. Records nothing.
    pub fn would_review(&self, session: &SessionCtx, actions: &[ActionKind]) -> bool {
        let now = SystemTime::now();
        actions.iter().any(|action| {
            matches!(
                self.policies.verdict(&EvalInput {
                    principal: &session.principal,
                    connection: &session.connection,
                    action,
                    now,
                }),
                Verdict::Review { .. }
            )
        })
    }

    /// Refuses and records an operation that policy cannot speak about: one
    /// that could not be analysed, a protocol step with no statement to
    /// analyse (a fast-path function call, an Execute of a portal the
    /// gateway never saw) or one past a resource limit. Front-ends ask for
    /// these here so every refusal is in the ledger.
    pub async fn refuse(
        &self,
        session: &SessionCtx,
        what: Unpolicied<'_>,
    ) -> Result<Refusal, GuardError> {
        let refusal = Refusal {
            class: what.class,
            rule: what.class.rule().to_string(),
            reason: what.reason,
        };
        let decision = VerdictRecord {
            verdict: VerdictKind::Deny,
            rule: refusal.rule.clone(),
            reason: Some(refusal.reason.clone()),
        };
        self.record_statement(
            session,
            Recorded::bare(what.text, what.kind),
            decision,
            VerdictKind::Deny,
        )
        .await?;
        Ok(refusal)
    }

    /// Records how a forwarded statement ended. Waits for room in the ledger
    /// queue (never dropped) but not for the commit.
    pub async fn statement_done(&self, session: &SessionCtx, outcome: StatementOutcome) {
        self.metrics
            .statement_seconds
            .observe(outcome.duration_us as f64 / 1e6);
        if let Err(e) = self
            .store
            .append_nowait(session.event(EventBody::StatementDone(outcome)))
            .await
        {
            tracing::error!(session = %session.id, error = %e, "could not record a statement outcome");
        }
    }
}

/// How the ledger records a statement after the review step.
fn reviewed_record(
    verdict: &Verdict,
    covered: Option<&str>,
    refusal: Option<&Refusal>,
    held: Option<&Hold>,
) -> VerdictRecord {
    let Verdict::Review { rule, .. } = verdict else {
        return VerdictRecord::from(verdict);
    };
    let (verdict, reason) = match (covered, refusal, held) {
        (Some(how), _, _) => (VerdictKind::Allow, how.to_string()),
        (_, _, Some(h)) => (
            VerdictKind::Review,
            format!("held for approval {}", h.approval.id),
        ),
        (_, Some(r), _) => (VerdictKind::Review, r.reason.clone()),
        _ => return VerdictRecord::from(verdict),
    };
    VerdictRecord {
        verdict,
        rule: rule.clone(),
        reason: Some(reason),
    }
}

/// A `review` verdict is not a refusal here: the review step decides.
fn refusal_of(verdict: &Verdict) -> Option<Refusal> {
    match verdict {
        Verdict::Allow { .. } => None,
        Verdict::Deny { rule, reason } => Some(Refusal::policy(rule.clone(), reason.clone())),
        Verdict::Review { .. } => None,
    }
}
