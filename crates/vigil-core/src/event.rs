use crate::{PrincipalRecord, Protocol, Verdict};
use serde::{Deserialize, Serialize};

/// Identifies one client session across the ledger.
pub type SessionId = String;

/// One ledger entry before it is chained: who, when, in which session, what.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Milliseconds since the Unix epoch.
    pub at_ms: i64,
    pub session: Option<SessionId>,
    pub principal: Option<String>,
    pub run_id: Option<String>,
    pub body: EventBody,
}

/// What the ledger says the guard answered: `allow`, `deny` or `review`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VerdictKind {
    Allow,
    Deny,
    Review,
}

impl VerdictKind {
    /// The ledger's (and the metrics label's) spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            VerdictKind::Allow => "allow",
            VerdictKind::Deny => "deny",
            VerdictKind::Review => "review",
        }
    }
}

impl std::fmt::Display for VerdictKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A verdict as the ledger keeps it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerdictRecord {
    pub verdict: VerdictKind,
    pub rule: String,
    pub reason: Option<String>,
}

impl From<&Verdict> for VerdictRecord {
    fn from(v: &Verdict) -> Self {
        let reason = match v {
            Verdict::Allow { .. } => None,
            Verdict::Deny { reason, .. } | Verdict::Review { reason, .. } => Some(reason.clone()),
        };
        VerdictRecord {
            verdict: v.kind(),
            rule: v.rule().to_string(),
            reason,
        }
    }
}

/// How a forwarded statement ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatementOutcome {
    /// The `seq` of the statement's decision event.
    pub statement_seq: i64,
    pub duration_us: u64,
    /// The command tag the server answered (`SELECT 3`), when it answered one.
    pub tag: Option<String>,
    /// The SQLSTATE of an error, when the statement failed.
    pub error_code: Option<String>,
    /// What was masked in the statement's results: never the values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub masking: Option<MaskingSummary>,
}

/// What masking did to one statement's results, for the ledger.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MaskingSummary {
    /// Output columns masked whole, with the source column or reason:
    /// `2 <- public.customers.email`, `3 <- unproven: function in FROM`.
    pub columns: Vec<String>,
    /// Values replaced because a masked column carried them.
    pub column_values: u64,
    /// Content detector hits by detector name.
    pub detector_hits: std::collections::BTreeMap<String, u64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EventBody {
    SessionStart {
        protocol: Protocol,
        connection: String,
        client_addr: String,
        principal: PrincipalRecord,
    },
    SessionEnd {
        statements: u64,
        duration_ms: u64,
    },
    /// A statement and the guard's decision on it. Durable before forwarding.
    Statement {
        connection: String,
        text: String,
        kind: String,
        tables_read: Vec<String>,
        tables_written: Vec<String>,
        decision: VerdictRecord,
    },
    StatementDone(StatementOutcome),
    /// A connection attempt that was refused (bad credential, no grant).
    AuthFailure {
        protocol: Protocol,
        connection: String,
        client_addr: String,
        reason: String,
    },
    Error {
        message: String,
    },
    /// A review rule held an operation for a human (see `approval`).
    ApprovalRequested(Box<crate::ApprovalRecord>),
    /// A reviewer approved or denied a request, or it expired or was withdrawn.
    ApprovalDecided {
        id: String,
        /// `approved`, `denied`, `expired`, `withdrawn` or `used`.
        status: crate::ApprovalStatus,
        /// The reviewer's name; `None` when nobody decided (timeout, withdrawal).
        reviewer: Option<String>,
        reason: Option<String>,
    },
    /// A reviewer opened a time-boxed window for one principal, connection and rule.
    GrantCreated(crate::GrantRecord),
    GrantRevoked {
        id: String,
        by: String,
    },
}

impl EventBody {
    pub fn type_name(&self) -> &'static str {
        match self {
            EventBody::SessionStart { .. } => "session_start",
            EventBody::SessionEnd { .. } => "session_end",
            EventBody::Statement { .. } => "statement",
            EventBody::StatementDone(_) => "statement_done",
            EventBody::AuthFailure { .. } => "auth_failure",
            EventBody::Error { .. } => "error",
            EventBody::ApprovalRequested(_) => "approval_requested",
            EventBody::ApprovalDecided { .. } => "approval_decided",
            EventBody::GrantCreated(_) => "grant_created",
            EventBody::GrantRevoked { .. } => "grant_revoked",
        }
    }
}
