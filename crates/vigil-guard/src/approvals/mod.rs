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

use crate::Principal;
use crate::session::now_ms;
use crate::{Binding, Guard, GuardError, Refusal, SessionCtx};
use std::collections::HashMap;
use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use vigil_core::{
    ActionKind, ApprovalRecord, ApprovalStatus, Event, EventBody, GrantRecord, ReviewMode, Verdict,
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
    pub event: NoticeKind,
    pub approval: Option<ApprovalRecord>,
    pub grant: Option<GrantRecord>,
}

/// What an [`ApprovalNotice`] tells; its name is the webhook's `event`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NoticeKind {
    ApprovalRequested,
    ApprovalDecided,
    GrantCreated,
    GrantRevoked,
}

impl NoticeKind {
    /// The event name webhooks are configured and sent with.
    pub fn as_str(self) -> &'static str {
        match self {
            NoticeKind::ApprovalRequested => "approval_requested",
            NoticeKind::ApprovalDecided => "approval_decided",
            NoticeKind::GrantCreated => "grant_created",
            NoticeKind::GrantRevoked => "grant_revoked",
        }
    }
}

/// Runs the target's estimate of a new request (`EXPLAIN`) and stores it.
/// Implemented by the gateway, which can reach targets; must not block.
pub trait Previewer: Send + Sync {
    /// `binding` is what the front-end bound the operation to (PostgreSQL:
    /// the Bind message's parameter section as values, the type OIDs the
    /// client's Parse declared as the hint), opaque to the guard.
    fn preview(&self, approval: &ApprovalRecord, binding: Binding<'_>);
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
    actions: Vec<ActionKind>,
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
pub(crate) fn bound_text(actions: &[ActionKind]) -> String {
    actions
        .iter()
        .map(|a| crate::ledger::Recorded::of(a).text.trim())
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

    pub(super) fn approval_store(&self) -> Result<&dyn ApprovalStore, ApprovalError> {
        self.store.approvals().ok_or(ApprovalError::Unsupported)
    }
}

pub(super) fn visible_to(a: &ApprovalRecord, reader: &Principal) -> bool {
    a.reviewable_by(&reader.groups) || is_own_request(a, reader)
}

/// Whether `who` asked for `a`: the same issuer and subject. A record
/// written before identities were kept counts as anyone's of that name, so
/// nobody of that name may approve it (the cautious reading).
pub(super) fn is_own_request(a: &ApprovalRecord, who: &Principal) -> bool {
    match &a.principal_id {
        Some(id) => *id == who.identity(),
        None => a.principal == who.name,
    }
}

pub(super) fn with_effective_status(mut a: ApprovalRecord) -> ApprovalRecord {
    a.status = effective_status(&a, now_ms());
    a
}

pub(super) fn reviewer_event(reviewer: &Principal, body: EventBody) -> Event {
    Event {
        at_ms: now_ms(),
        session: None,
        principal: Some(reviewer.name.clone()),
        run_id: None,
        body,
    }
}

pub(super) fn system_event(body: EventBody) -> Event {
    Event {
        at_ms: now_ms(),
        session: None,
        principal: None,
        run_id: None,
        body,
    }
}

mod decisions;
mod review;
mod wait;

#[cfg(test)]
mod decide_tests;
#[cfg(test)]
mod identity_tests;
#[cfg(test)]
pub(crate) mod tests;
