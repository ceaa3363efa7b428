use crate::approvals::{Hold, Reviewed};
use crate::metrics::VerdictLabel;
use crate::{Guard, GuardError, SessionCtx};
use std::sync::atomic::Ordering;
use std::time::{Instant, SystemTime};
use vigil_core::{
    Action, ActionKind, EventBody, SqlFacts, StatementOutcome, Verdict, VerdictRecord,
};
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

/// Why an action was refused, in words a client may see.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    pub rule: String,
    pub reason: String,
}

impl Refusal {
    /// The message ARCHITECTURE.md fixes for every protocol.
    pub fn message(&self) -> String {
        format!("vigil: denied by rule '{}': {}", self.rule, self.reason)
    }
}

#[derive(Debug)]
pub enum Decision {
    Allowed(Permit),
    Refused(Refusal),
    /// A `hold` review: tell the client, then [`Guard::await_approval`].
    Held(Box<crate::approvals::Hold>),
}

impl Guard {
    /// Decides a message of one or more SQL statements. Each statement is
    /// evaluated; if any is refused the message is refused whole. Every
    /// statement's decision is durable in the ledger before this returns.
    pub async fn decide_sql(
        &self,
        session: &SessionCtx,
        statements: &[SqlFacts],
    ) -> Result<Decision, GuardError> {
        self.decide_sql_bound(session, statements, &[]).await
    }

    /// [`Guard::decide_sql`] for statements with parameters (the extended
    /// protocol's Bind): an approval binds their bytes too.
    pub async fn decide_sql_bound(
        &self,
        session: &SessionCtx,
        statements: &[SqlFacts],
        params: &[u8],
    ) -> Result<Decision, GuardError> {
        self.decide_sql_typed(session, statements, params, &[])
            .await
    }

    /// [`Guard::decide_sql_bound`] with the parameter type OIDs the client's
    /// Parse declared, for the reviewer's preview (which re-plans the
    /// statement with the same values, so needs the same types).
    pub async fn decide_sql_typed(
        &self,
        session: &SessionCtx,
        statements: &[SqlFacts],
        params: &[u8],
        param_types: &[u32],
    ) -> Result<Decision, GuardError> {
        if let Some(ended) = self.credential_refusal(session).await {
            return self.refuse_all(session, statements, ended).await;
        }
        let started = Instant::now();
        let now = SystemTime::now();
        let mut verdicts = Vec::with_capacity(statements.len());
        let mut refusal = None;
        for facts in statements {
            let action = Action {
                connection: session.connection.clone(),
                kind: ActionKind::Sql(facts.clone()),
            };
            let evaluation = self.policies.evaluate(&EvalInput {
                principal: &session.principal,
                action: &action,
                now,
            });
            let verdict = evaluation.verdict;
            if refusal.is_none() {
                refusal = refusal_of(&verdict);
            }
            verdicts.push(verdict);
        }
        let (covered, held) = match &refusal {
            None => match self
                .review_step(session, statements, &verdicts, params, param_types)
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
        let mut seqs = Vec::with_capacity(statements.len());
        for (facts, verdict) in statements.iter().zip(&verdicts) {
            let decision = match &refusal {
                Some(r) if matches!(verdict, Verdict::Allow { .. }) => VerdictRecord {
                    verdict: "deny".into(),
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
            let label = if decision.verdict == "allow" {
                "allow"
            } else if verdict.label() == "review" {
                "review"
            } else {
                "deny"
            };
            self.metrics
                .statements
                .get_or_create(&VerdictLabel { verdict: label })
                .inc();
            let event = session.event(EventBody::Statement {
                connection: session.connection.name.clone(),
                text: recorded_text(&facts.text, decision.verdict == "allow"),
                kind: facts.kind.clone(),
                tables_read: facts.tables_read.clone(),
                tables_written: facts.tables_written.clone(),
                decision,
            });
            let appended = self.store.append(event).await.map_err(GuardError::Ledger)?;
            seqs.push(appended.seq);
        }
        session
            .statements
            .fetch_add(statements.len() as u64, Ordering::Relaxed);
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
        statements: &[SqlFacts],
        verdicts: &[Verdict],
        params: &[u8],
        param_types: &[u32],
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
        self.review(session, statements, first, &rules, params, param_types)
            .await
            .map(Some)
    }

    /// Records the statements of an approved held message as allowed and
    /// returns the permit to forward them.
    pub(crate) async fn record_covered(
        &self,
        session: &SessionCtx,
        statements: &[SqlFacts],
        rule: &str,
        reason: &str,
    ) -> Result<Decision, GuardError> {
        let mut seqs = Vec::with_capacity(statements.len());
        for facts in statements {
            self.metrics
                .statements
                .get_or_create(&VerdictLabel { verdict: "allow" })
                .inc();
            let event = session.event(EventBody::Statement {
                connection: session.connection.name.clone(),
                text: recorded_text(&facts.text, true),
                kind: facts.kind.clone(),
                tables_read: facts.tables_read.clone(),
                tables_written: facts.tables_written.clone(),
                decision: VerdictRecord {
                    verdict: "allow".into(),
                    rule: rule.to_string(),
                    reason: Some(reason.to_string()),
                },
            });
            seqs.push(
                self.store
                    .append(event)
                    .await
                    .map_err(GuardError::Ledger)?
                    .seq,
            );
        }
        Ok(Decision::Allowed(Permit { seqs }))
    }

    /// Evaluates policy without recording anything: for protocol steps that
    /// run nothing (PostgreSQL's Parse), so that a refusal comes early. The
    /// execution itself still goes through [`Guard::decide_sql`].
    pub fn preview_sql(&self, session: &SessionCtx, statements: &[SqlFacts]) -> Option<Refusal> {
        if let Some(expired) = session.credential_expired() {
            return Some(expired);
        }
        let now = SystemTime::now();
        statements.iter().find_map(|facts| {
            let action = Action {
                connection: session.connection.clone(),
                kind: ActionKind::Sql(facts.clone()),
            };
            refusal_of(
                &self
                    .policies
                    .evaluate(&EvalInput {
                        principal: &session.principal,
                        action: &action,
                        now,
                    })
                    .verdict,
            )
        })
    }

    /// Records a statement that was refused before policy could see it (it
    /// could not be analysed): fail closed, and say why.
    pub async fn refuse_unanalysable(
        &self,
        session: &SessionCtx,
        text: &str,
        error: &str,
    ) -> Result<Refusal, GuardError> {
        let reason = format!("the statement could not be analysed: {error}");
        self.refuse_unpolicied(session, text, "unknown", "analysis", &reason)
            .await
    }

    /// Refuses and records an operation that policy cannot speak about: a
    /// protocol step with no statement to analyse (a fast-path function call,
    /// an Execute of a portal the gateway never saw) or one past a resource
    /// limit. Front-ends ask for these here so every refusal is in the ledger.
    pub async fn refuse_unpolicied(
        &self,
        session: &SessionCtx,
        text: &str,
        kind: &str,
        rule: &str,
        reason: &str,
    ) -> Result<Refusal, GuardError> {
        let refusal = Refusal {
            rule: rule.into(),
            reason: reason.into(),
        };
        self.metrics
            .statements
            .get_or_create(&VerdictLabel { verdict: "deny" })
            .inc();
        let event = session.event(EventBody::Statement {
            connection: session.connection.name.clone(),
            text: recorded_text(text, false),
            kind: kind.into(),
            tables_read: vec![],
            tables_written: vec![],
            decision: VerdictRecord {
                verdict: "deny".into(),
                rule: refusal.rule.clone(),
                reason: Some(refusal.reason.clone()),
            },
        });
        self.store.append(event).await.map_err(GuardError::Ledger)?;
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

/// Bytes of a refused statement's text the ledger keeps: a client may send
/// refused statements as large as a protocol message (64 MiB for
/// PostgreSQL) as often as it likes, and none of them ran.
const REFUSED_TEXT_KEPT: usize = 4 * 1024;
/// Bytes of an allowed statement's text the ledger keeps: what ran on the
/// target, whole, unless it is a bulk load past this.
const ALLOWED_TEXT_KEPT: usize = 1024 * 1024;

/// The statement text a ledger event keeps: whole when short, else its
/// first bytes (cut on a character boundary), its length and its SHA-256,
/// so a copy of the full text can still be matched against the record.
fn recorded_text(text: &str, allowed: bool) -> String {
    let keep = if allowed {
        ALLOWED_TEXT_KEPT
    } else {
        REFUSED_TEXT_KEPT
    };
    if text.len() <= keep {
        return text.to_string();
    }
    let mut cut = keep;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, text.as_bytes());
    format!(
        "{}… [vigil: {} bytes, sha256 {}]",
        &text[..cut],
        text.len(),
        hex::encode(digest.as_ref())
    )
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
        (Some(how), _, _) => ("allow", how.to_string()),
        (_, _, Some(h)) => ("review", format!("held for approval {}", h.approval.id)),
        (_, Some(r), _) => ("review", r.reason.clone()),
        _ => return VerdictRecord::from(verdict),
    };
    VerdictRecord {
        verdict: verdict.into(),
        rule: rule.clone(),
        reason: Some(reason),
    }
}

/// A `review` verdict is not a refusal here: the review step decides.
fn refusal_of(verdict: &Verdict) -> Option<Refusal> {
    match verdict {
        Verdict::Allow { .. } => None,
        Verdict::Deny { rule, reason } => Some(Refusal {
            rule: rule.clone(),
            reason: reason.clone(),
        }),
        Verdict::Review { .. } => None,
    }
}

#[cfg(test)]
mod recorded_text_tests {
    use super::{REFUSED_TEXT_KEPT, recorded_text};

    #[test]
    fn refused_text_past_4_kib_keeps_a_prefix_its_length_and_hash() {
        let short = "SELECT 1";
        assert_eq!(recorded_text(short, false), short);
        // A multi-byte character straddles the cut: the prefix stops before it.
        let long = format!(
            "{}é{}",
            "x".repeat(REFUSED_TEXT_KEPT - 1),
            "y".repeat(1 << 20)
        );
        let kept = recorded_text(&long, false);
        assert!(kept.len() < REFUSED_TEXT_KEPT + 120, "{}", kept.len());
        assert!(kept.starts_with(&"x".repeat(REFUSED_TEXT_KEPT - 1)));
        assert!(kept.contains(&format!("[vigil: {} bytes, sha256 ", long.len())));
        let hex = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, long.as_bytes());
        assert!(kept.contains(&hex::encode(hex.as_ref())));
        // The same text, allowed, is kept whole (under 1 MiB + a bit it is not).
        let allowed = "z".repeat(REFUSED_TEXT_KEPT * 2);
        assert_eq!(recorded_text(&allowed, true), allowed);
    }
}
