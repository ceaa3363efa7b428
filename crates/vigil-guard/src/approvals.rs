//! Just-in-time approvals: what the guard does with a `review` verdict.
//!
//! An approval is bound to one operation: the principal, the connection
//! (by name, so a retry may come on a new client session), the statement's
//! exact text as analysed (statements of one message joined by `;\n`; no
//! normalisation, so a changed literal is a changed statement) and a SHA-256
//! of the extended protocol's parameter bytes. An approval runs the
//! operation once; a reviewer may instead open a time-boxed grant for the
//! principal, connection and rule.
//!
//! Requests and decisions live in the store with their ledger events; the
//! in-memory [`Hub`] only wakes the clients that wait on them.

use crate::session::now_ms;
use crate::{Guard, GuardError, Refusal, SessionCtx};
use std::collections::HashMap;
use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use vigil_core::{
    ApprovalRecord, ApprovalStatus, Event, EventBody, GrantRecord, Principal, ReviewMode, SqlFacts,
    Verdict,
};
use vigil_store::{ApprovalStore, InsertOutcome, StoreError, Transition};

/// Pending requests one principal may have at once (all connections).
pub const MAX_PENDING_PER_PRINCIPAL: usize = 20;
/// How often a held statement re-reads its request (a decision made by
/// another process, or a lost wake-up, is seen within this).
const POLL: Duration = Duration::from_secs(1);

/// Something that happened to an approval or a grant, for notifications.
#[derive(Clone, Debug)]
pub struct ApprovalNotice {
    /// `approval_requested`, `approval_decided`, `grant_created`, `grant_revoked`.
    pub event: &'static str,
    pub approval: Option<ApprovalRecord>,
    pub grant: Option<GrantRecord>,
}

/// Runs the target's estimate of a new request (`EXPLAIN`) and stores it.
/// Implemented by the gateway, which can reach targets; must not block.
pub trait Previewer: Send + Sync {
    /// `params` is the Bind message's parameter section (formats and
    /// values), empty for a simple query; `param_types` the type OIDs the
    /// client's Parse declared (often none).
    fn preview(&self, approval: &ApprovalRecord, params: &[u8], param_types: &[u32]);
}

/// Wakes held statements when their request is decided.
#[derive(Default)]
pub(crate) struct Hub {
    waiters: Mutex<HashMap<String, watch::Sender<()>>>,
    notices: Option<mpsc::Sender<ApprovalNotice>>,
    previewer: Option<std::sync::Arc<dyn Previewer>>,
}

impl Hub {
    fn subscribe(&self, id: &str) -> watch::Receiver<()> {
        let (tx, rx) = watch::channel(());
        if let Ok(mut w) = self.waiters.lock() {
            // Waiters of holds abandoned without unsubscribing (see `Abandoned`).
            w.retain(|_, tx| !tx.is_closed());
            w.insert(id.to_string(), tx);
        }
        rx
    }

    fn unsubscribe(&self, id: &str) {
        if let Ok(mut w) = self.waiters.lock() {
            w.remove(id);
        }
    }

    fn wake(&self, id: &str) {
        if let Ok(w) = self.waiters.lock()
            && let Some(tx) = w.get(id)
        {
            let _ = tx.send(());
        }
    }

    /// Never blocks: a full queue loses the notification, not the request.
    fn notify(&self, notice: ApprovalNotice) {
        if let Some(tx) = &self.notices
            && let Err(e) = tx.try_send(notice)
        {
            tracing::warn!(error = %e, "approval notification dropped (queue full or closed)");
        }
    }
}

/// A statement held for a reviewer: the front-end tells its client, then
/// waits with [`Guard::await_approval`].
#[derive(Debug)]
pub struct Hold {
    pub approval: ApprovalRecord,
    statements: Vec<SqlFacts>,
    wake: watch::Receiver<()>,
}

impl Hold {
    /// What the client is told at once (a NoticeResponse in PostgreSQL).
    pub fn notice(&self) -> String {
        let a = &self.approval;
        format!(
            "vigil: statement held for approval {id} (rule '{rule}': {reason}); a member of {who} can approve it with `vigil approvals approve {id}`; waiting up to {secs}s",
            id = a.id,
            rule = a.rule,
            reason = a.reason,
            who = a.reviewers.join(", "),
            secs = (a.expires_at_ms - a.created_at_ms).max(0) / 1000,
        )
    }
}

/// Why a held client stopped waiting on its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Withdrawal {
    /// The client sent a CancelRequest.
    Cancelled,
    /// The client closed its connection (or it broke) while held.
    ClientGone,
    /// The gateway is shutting down.
    Shutdown,
}

/// What the review step made of a message with a `review` verdict.
pub(crate) enum Reviewed {
    /// A grant or an approval covers it: `reason` says which.
    Covered {
        reason: String,
    },
    Refused(Refusal),
    Held(Box<Hold>),
}

/// Why a reviewer's decision was not applied.
#[derive(Debug, thiserror::Error)]
pub enum ApprovalError {
    #[error("no such approval request")]
    NotFound,
    #[error("no such grant")]
    GrantNotFound,
    #[error("the request is {0}, not pending")]
    NotPending(&'static str),
    #[error("nobody may decide their own request")]
    OwnRequest,
    #[error("only members of {0} may decide this request")]
    NotReviewer(String),
    #[error("only admins and the rule's reviewers may revoke this grant")]
    NotAllowed,
    #[error("the grant is already revoked or expired")]
    GrantInactive,
    #[error("this store does not keep approvals")]
    Unsupported,
    #[error("the store failed")]
    Store(#[from] StoreError),
}

/// A reviewer's answer.
#[derive(Clone, Debug, Default)]
pub struct ReviewDecision {
    pub approve: bool,
    pub reason: Option<String>,
    /// Open a window for the principal, connection and rule instead of
    /// approving one execution only.
    pub window: Option<Duration>,
}

pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes))
}

fn new_id(prefix: &str) -> String {
    let mut bytes = [0u8; 8];
    let _ = aws_lc_rs::rand::fill(&mut bytes);
    format!("{prefix}{}", hex::encode(bytes))
}

/// The status a reader should see: a pending request past its deadline has expired.
pub fn effective_status(a: &ApprovalRecord, now_ms: i64) -> ApprovalStatus {
    match a.status {
        ApprovalStatus::Pending if a.expires_at_ms <= now_ms => ApprovalStatus::Expired,
        ApprovalStatus::Approved if a.usable_until_ms.is_some_and(|u| u <= now_ms) => {
            ApprovalStatus::Expired
        }
        s => s,
    }
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// The text an approval binds: the statements of one message, as analysed.
pub(crate) fn bound_text(statements: &[SqlFacts]) -> String {
    statements
        .iter()
        .map(|f| f.text.trim())
        .collect::<Vec<_>>()
        .join(";\n")
}

impl Guard {
    /// Sends approval notifications to `tx` (webhooks); never blocks on it.
    pub fn with_approval_notices(mut self, tx: mpsc::Sender<ApprovalNotice>) -> Self {
        self.approvals.notices = Some(tx);
        self
    }

    /// Asks `previewer` for the target's estimate of each new DML request.
    pub fn with_previewer(mut self, previewer: std::sync::Arc<dyn Previewer>) -> Self {
        self.approvals.previewer = Some(previewer);
        self
    }

    fn approval_store(&self) -> Result<&dyn ApprovalStore, ApprovalError> {
        self.store.approvals().ok_or(ApprovalError::Unsupported)
    }

    /// The review step of [`Guard::decide_sql_bound`]: `review` is the first
    /// review verdict of the message, `rules` every review rule in it.
    pub(crate) async fn review(
        &self,
        session: &SessionCtx,
        statements: &[SqlFacts],
        review: &Verdict,
        rules: &[&str],
        params: &[u8],
        param_types: &[u32],
    ) -> Result<Reviewed, GuardError> {
        let Verdict::Review {
            rule,
            reason,
            reviewers,
            mode,
            timeout,
            valid_for,
        } = review
        else {
            return Ok(Reviewed::Covered {
                reason: String::new(),
            });
        };
        // A client that cannot wait gets retry semantics, whatever the rule says.
        let mode = if session.can_hold {
            mode
        } else {
            &ReviewMode::Retry
        };
        let Some(store) = self.store.approvals() else {
            return Ok(Reviewed::Refused(Refusal {
                rule: rule.clone(),
                reason: format!(
                    "{reason} (approval required from: {})",
                    reviewers.join(", ")
                ),
            }));
        };
        let now = now_ms();
        let principal = &session.principal.name;
        let connection = &session.connection.name;
        // A window the reviewer opened for every rule this message hits.
        let mut grants = Vec::new();
        for r in rules {
            match store
                .active_grant(principal, connection, r, now)
                .await
                .map_err(GuardError::Ledger)?
            {
                Some(g) => grants.push(g),
                None => break,
            }
        }
        if grants.len() == rules.len() {
            let g = &grants[0];
            return Ok(Reviewed::Covered {
                reason: format!("grant {} by {}", g.id, g.granted_by),
            });
        }
        let text = bound_text(statements);
        let params_sha256 = sha256_hex(params);
        // Retry mode: the approved identical operation passes once.
        if let Some(a) = store
            .usable_approval(principal, connection, &text, &params_sha256, now)
            .await
            .map_err(GuardError::Ledger)?
            && let Some(used) = self.use_approval(store, &a.id).await?
        {
            return Ok(Reviewed::Covered {
                reason: format!(
                    "approval {} by {}",
                    used.id,
                    used.decided_by.as_deref().unwrap_or("?")
                ),
            });
        }
        let record = ApprovalRecord {
            id: new_id("ap_"),
            status: ApprovalStatus::Pending,
            created_at_ms: now,
            expires_at_ms: now.saturating_add(ms(*timeout)),
            principal: principal.clone(),
            principal_kind: session.principal.kind,
            session: Some(session.id.clone()),
            connection: connection.clone(),
            rule: rule.clone(),
            reason: reason.clone(),
            reviewers: reviewers.clone(),
            mode: *mode,
            statement: text,
            params_sha256,
            kind: statements
                .iter()
                .map(|f| f.kind.as_str())
                .collect::<Vec<_>>()
                .join(","),
            tables_written: statements
                .iter()
                .flat_map(|f| f.tables_written.iter().cloned())
                .collect(),
            valid_for_ms: ms(*valid_for),
            preview: None,
            decided_at_ms: None,
            decided_by: None,
            decision_reason: None,
            usable_until_ms: None,
            used_at_ms: None,
            grant_id: None,
        };
        // Subscribe first, so a decision right after the insert is not missed.
        let wake = (*mode == ReviewMode::Hold).then(|| self.approvals.subscribe(&record.id));
        let event = session.event(EventBody::ApprovalRequested(record.clone()));
        let outcome = store
            .insert_approval(record.clone(), event, MAX_PENDING_PER_PRINCIPAL)
            .await;
        let outcome = match outcome {
            Ok(o) => o,
            Err(e) => {
                self.approvals.unsubscribe(&record.id);
                return Err(GuardError::Ledger(e));
            }
        };
        let approval = match outcome {
            InsertOutcome::TooMany(limit) => {
                self.approvals.unsubscribe(&record.id);
                return Ok(Reviewed::Refused(Refusal {
                    rule: rule.clone(),
                    reason: format!(
                        "{reason}; {principal} already has {limit} approval requests pending, the most allowed: wait for a decision on them"
                    ),
                }));
            }
            InsertOutcome::Existing(a) => a,
            InsertOutcome::Created(a) => {
                tracing::info!(approval = %a.id, principal = %a.principal, rule = %a.rule, mode = ?a.mode, "approval requested");
                self.approvals.notify(ApprovalNotice {
                    event: "approval_requested",
                    approval: Some(a.clone()),
                    grant: None,
                });
                if let Some(p) = &self.approvals.previewer
                    && statements.iter().all(|f| f.writes)
                {
                    p.preview(&a, params, param_types);
                }
                a
            }
        };
        Ok(match wake {
            Some(wake) => Reviewed::Held(Box::new(Hold {
                approval,
                statements: statements.to_vec(),
                wake,
            })),
            // Answered at once with the request (never awaited: no waker).
            None if !session.can_hold => Reviewed::Held(Box::new(Hold {
                approval,
                statements: statements.to_vec(),
                wake: watch::channel(()).1,
            })),
            None => Reviewed::Refused(Refusal {
                rule: rule.clone(),
                reason: format!(
                    "{reason}: approval {id} is pending; a member of {who} can approve it with `vigil approvals approve {id}`, then retry the same statement",
                    id = approval.id,
                    who = approval.reviewers.join(", "),
                ),
            }),
        })
    }

    /// Marks an approved request used; `None` if someone else used it first.
    async fn use_approval(
        &self,
        store: &dyn ApprovalStore,
        id: &str,
    ) -> Result<Option<ApprovalRecord>, GuardError> {
        store
            .transition(Transition {
                id: id.to_string(),
                from: ApprovalStatus::Approved,
                to: ApprovalStatus::Used,
                at_ms: now_ms(),
                by: None,
                reason: None,
                usable_until_ms: None,
                grant: None,
                events: vec![],
            })
            .await
            .map_err(GuardError::Ledger)
    }

    /// Closes a pending request nobody decided; records it and notifies.
    async fn close_pending(
        &self,
        store: &dyn ApprovalStore,
        id: &str,
        to: ApprovalStatus,
        reason: &str,
    ) -> Result<Option<ApprovalRecord>, StoreError> {
        let now = now_ms();
        let closed = store
            .transition(Transition {
                id: id.to_string(),
                from: ApprovalStatus::Pending,
                to,
                at_ms: now,
                by: None,
                reason: Some(reason.to_string()),
                usable_until_ms: None,
                grant: None,
                events: vec![system_event(EventBody::ApprovalDecided {
                    id: id.to_string(),
                    status: to.as_str().to_string(),
                    reviewer: None,
                    reason: Some(reason.to_string()),
                })],
            })
            .await?;
        if let Some(a) = &closed {
            self.approvals.notify(ApprovalNotice {
                event: "approval_decided",
                approval: Some(a.clone()),
                grant: None,
            });
        }
        Ok(closed)
    }

    /// Waits for a reviewer's decision on a held statement, its timeout, or
    /// `withdrawn` (the client's cancel, the gateway's shutdown). Approved:
    /// the statements are recorded as allowed and may be forwarded once.
    pub async fn await_approval(
        &self,
        session: &SessionCtx,
        mut hold: Box<Hold>,
        withdrawn: impl Future<Output = Withdrawal>,
    ) -> Result<crate::Decision, GuardError> {
        let id = hold.approval.id.clone();
        let mut abandoned = Abandoned {
            store: Some(self.store.clone()),
            id: id.clone(),
        };
        let result = self.wait(session, &mut hold, withdrawn).await;
        abandoned.store = None;
        self.approvals.unsubscribe(&id);
        result
    }

    async fn wait(
        &self,
        session: &SessionCtx,
        hold: &mut Hold,
        withdrawn: impl Future<Output = Withdrawal>,
    ) -> Result<crate::Decision, GuardError> {
        let store = self.store.approvals().ok_or_else(|| {
            GuardError::Ledger(StoreError::Internal("approvals unsupported".into()))
        })?;
        let a = hold.approval.clone();
        let deadline = tokio::time::Instant::now()
            + Duration::from_millis(u64::try_from(a.expires_at_ms - now_ms()).unwrap_or(0));
        tokio::pin!(withdrawn);
        let refuse = |reason: String| {
            Ok(crate::Decision::Refused(Refusal {
                rule: a.rule.clone(),
                reason,
            }))
        };
        loop {
            let current = store.approval(&a.id).await.map_err(GuardError::Ledger)?;
            match current.as_ref().map(|c| c.status) {
                Some(ApprovalStatus::Pending) => {}
                Some(ApprovalStatus::Approved) => {
                    let Some(used) = self.use_approval(store, &a.id).await? else {
                        return refuse(format!("approval {} could not be used", a.id));
                    };
                    let reason = format!(
                        "approval {} by {}",
                        used.id,
                        used.decided_by.as_deref().unwrap_or("?")
                    );
                    return self
                        .record_covered(session, &hold.statements, &a.rule, &reason)
                        .await;
                }
                Some(ApprovalStatus::Denied) => {
                    let c = current.as_ref();
                    let by = c.and_then(|c| c.decided_by.as_deref()).unwrap_or("?");
                    let why = c
                        .and_then(|c| c.decision_reason.as_deref())
                        .unwrap_or("no reason given");
                    return refuse(format!("approval {} denied by {by}: {why}", a.id));
                }
                Some(other) => {
                    return refuse(format!("approval {} is {}", a.id, other.as_str()));
                }
                None => return refuse(format!("approval {} vanished", a.id)),
            }
            tokio::select! {
                _ = hold.wake.changed() => {}
                _ = tokio::time::sleep(POLL) => {}
                _ = tokio::time::sleep_until(deadline) => {
                    let why = format!("no decision on approval {} within {}s", a.id, (a.expires_at_ms - a.created_at_ms) / 1000);
                    match self.close_pending(store, &a.id, ApprovalStatus::Expired, &why).await {
                        Ok(Some(_)) => return refuse(why),
                        Ok(None) => {} // decided at the last moment: look again
                        Err(e) => return Err(GuardError::Ledger(e)),
                    }
                }
                w = &mut withdrawn => {
                    let why = match w {
                        Withdrawal::Cancelled => format!("approval {} withdrawn: the client cancelled the statement", a.id),
                        Withdrawal::ClientGone => format!("approval {} withdrawn: the client disconnected", a.id),
                        Withdrawal::Shutdown => format!("approval {} withdrawn: the gateway is shutting down", a.id),
                    };
                    self.close_pending(store, &a.id, ApprovalStatus::Withdrawn, &why)
                        .await
                        .map_err(GuardError::Ledger)?;
                    // Whatever was decided meanwhile, the client is gone or going.
                    return refuse(why);
                }
            }
        }
    }

    /// Closes pending hold-mode requests left by a previous run: nobody
    /// waits on them any more. Retry-mode requests stay pending.
    pub async fn recover_approvals(&self) -> Result<usize, GuardError> {
        let Some(store) = self.store.approvals() else {
            return Ok(0);
        };
        let held = store.pending_holds().await.map_err(GuardError::Ledger)?;
        let mut closed = 0;
        for a in held {
            if self
                .close_pending(
                    store,
                    &a.id,
                    ApprovalStatus::Withdrawn,
                    "the gateway restarted while the statement was held",
                )
                .await
                .map_err(GuardError::Ledger)?
                .is_some()
            {
                closed += 1;
            }
        }
        Ok(closed)
    }

    /// Applies a reviewer's decision. Only members of the request's reviewer
    /// groups may decide, and never on their own request.
    pub async fn decide_approval(
        &self,
        reviewer: &Principal,
        id: &str,
        decision: ReviewDecision,
    ) -> Result<ApprovalRecord, ApprovalError> {
        let store = self.approval_store()?;
        let a = store.approval(id).await?.ok_or(ApprovalError::NotFound)?;
        if !a.reviewable_by(&reviewer.groups) {
            return Err(ApprovalError::NotReviewer(a.reviewers.join(", ")));
        }
        if a.principal == reviewer.name {
            return Err(ApprovalError::OwnRequest);
        }
        let now = now_ms();
        let status = effective_status(&a, now);
        if status != ApprovalStatus::Pending {
            return Err(ApprovalError::NotPending(status.as_str()));
        }
        let to = if decision.approve {
            ApprovalStatus::Approved
        } else {
            ApprovalStatus::Denied
        };
        let grant = match (decision.approve, decision.window) {
            (true, Some(window)) => Some(GrantRecord {
                id: new_id("gr_"),
                created_at_ms: now,
                expires_at_ms: now.saturating_add(ms(window)),
                principal: a.principal.clone(),
                connection: a.connection.clone(),
                rule: a.rule.clone(),
                reviewers: a.reviewers.clone(),
                approval_id: Some(a.id.clone()),
                granted_by: reviewer.name.clone(),
                reason: decision.reason.clone(),
                revoked_at_ms: None,
                revoked_by: None,
            }),
            _ => None,
        };
        let mut events = vec![reviewer_event(
            reviewer,
            EventBody::ApprovalDecided {
                id: a.id.clone(),
                status: to.as_str().to_string(),
                reviewer: Some(reviewer.name.clone()),
                reason: decision.reason.clone(),
            },
        )];
        if let Some(g) = &grant {
            events.push(reviewer_event(reviewer, EventBody::GrantCreated(g.clone())));
        }
        let decided = store
            .transition(Transition {
                id: a.id.clone(),
                from: ApprovalStatus::Pending,
                to,
                at_ms: now,
                by: Some(reviewer.name.clone()),
                reason: decision.reason.clone(),
                usable_until_ms: decision.approve.then(|| now.saturating_add(a.valid_for_ms)),
                grant: grant.clone(),
                events,
            })
            .await?
            .ok_or(ApprovalError::NotPending("no longer pending"))?;
        tracing::info!(approval = %a.id, reviewer = %reviewer.name, status = to.as_str(), "approval decided");
        self.approvals.wake(&a.id);
        self.approvals.notify(ApprovalNotice {
            event: "approval_decided",
            approval: Some(decided.clone()),
            grant: grant.clone(),
        });
        if grant.is_some() {
            self.approvals.notify(ApprovalNotice {
                event: "grant_created",
                approval: Some(decided.clone()),
                grant,
            });
        }
        Ok(decided)
    }

    /// One request, as its reader should see it; `None` when `reader` may not
    /// see it (admins see all; reviewers theirs; a principal its own).
    pub async fn approval_for(
        &self,
        reader: &Principal,
        admin: bool,
        id: &str,
    ) -> Result<Option<ApprovalRecord>, ApprovalError> {
        let store = self.approval_store()?;
        Ok(store
            .approval(id)
            .await?
            .filter(|a| admin || visible_to(a, reader))
            .map(with_effective_status))
    }

    /// The requests `reader` may see, newest first.
    pub async fn approvals_for(
        &self,
        reader: &Principal,
        admin: bool,
        limit: usize,
    ) -> Result<Vec<ApprovalRecord>, ApprovalError> {
        let store = self.approval_store()?;
        Ok(store
            .list_approvals(limit)
            .await?
            .into_iter()
            .filter(|a| admin || visible_to(a, reader))
            .map(with_effective_status)
            .collect())
    }

    /// Grants `reader` may see (admins: all; reviewers: their rules').
    pub async fn grants_for(
        &self,
        reader: &Principal,
        admin: bool,
        limit: usize,
    ) -> Result<Vec<GrantRecord>, ApprovalError> {
        let store = self.approval_store()?;
        Ok(store
            .list_grants(limit)
            .await?
            .into_iter()
            .filter(|g| admin || g.reviewers.iter().any(|r| reader.groups.contains(r)))
            .collect())
    }

    /// Revokes a grant: admins, or members of the grant's reviewer groups.
    pub async fn revoke_grant(
        &self,
        by: &Principal,
        admin: bool,
        id: &str,
    ) -> Result<GrantRecord, ApprovalError> {
        let store = self.approval_store()?;
        let g = store.grant(id).await?.ok_or(ApprovalError::GrantNotFound)?;
        if !admin && !g.reviewers.iter().any(|r| by.groups.contains(r)) {
            return Err(ApprovalError::NotAllowed);
        }
        let event = reviewer_event(
            by,
            EventBody::GrantRevoked {
                id: g.id.clone(),
                by: by.name.clone(),
            },
        );
        let revoked = store
            .revoke_grant(id, &by.name, now_ms(), event)
            .await?
            .ok_or(ApprovalError::GrantInactive)?;
        self.approvals.notify(ApprovalNotice {
            event: "grant_revoked",
            approval: None,
            grant: Some(revoked.clone()),
        });
        Ok(revoked)
    }

    /// Stores the target's estimate for a request (from a [`Previewer`]).
    pub async fn set_approval_preview(
        &self,
        id: &str,
        preview: serde_json::Value,
    ) -> Result<(), ApprovalError> {
        Ok(self.approval_store()?.set_preview(id, preview).await?)
    }
}

/// Withdraws a held request whose waiter was dropped mid-wait (its session
/// ended under it, e.g. the target closed the connection): nobody can run
/// it any more, so it must not stay pending, approvable, until it lapses.
struct Abandoned {
    store: Option<std::sync::Arc<dyn vigil_store::Store>>,
    id: String,
}

impl Drop for Abandoned {
    fn drop(&mut self) {
        let (Some(store), Ok(runtime)) = (self.store.take(), tokio::runtime::Handle::try_current())
        else {
            return;
        };
        let id = std::mem::take(&mut self.id);
        runtime.spawn(async move {
            let Some(approvals) = store.approvals() else {
                return;
            };
            let reason = "the client's session ended while the statement was held".to_string();
            let closed = approvals
                .transition(Transition {
                    id: id.clone(),
                    from: ApprovalStatus::Pending,
                    to: ApprovalStatus::Withdrawn,
                    at_ms: now_ms(),
                    by: None,
                    reason: Some(reason.clone()),
                    usable_until_ms: None,
                    grant: None,
                    events: vec![system_event(EventBody::ApprovalDecided {
                        id: id.clone(),
                        status: ApprovalStatus::Withdrawn.as_str().to_string(),
                        reviewer: None,
                        reason: Some(reason),
                    })],
                })
                .await;
            if let Err(e) = closed {
                tracing::warn!(approval = %id, error = %e, "could not withdraw an abandoned hold");
            }
        });
    }
}

fn visible_to(a: &ApprovalRecord, reader: &Principal) -> bool {
    a.reviewable_by(&reader.groups) || a.principal == reader.name
}

fn with_effective_status(mut a: ApprovalRecord) -> ApprovalRecord {
    a.status = effective_status(&a, now_ms());
    a
}

fn reviewer_event(reviewer: &Principal, body: EventBody) -> Event {
    Event {
        at_ms: now_ms(),
        session: None,
        principal: Some(reviewer.name.clone()),
        run_id: None,
        body,
    }
}

fn system_event(body: EventBody) -> Event {
    Event {
        at_ms: now_ms(),
        session: None,
        principal: None,
        run_id: None,
        body,
    }
}

#[cfg(test)]
mod tests;
