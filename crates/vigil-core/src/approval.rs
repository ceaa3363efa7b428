//! Just-in-time approvals: an operation held for a human, and the
//! time-boxed windows (grants) a reviewer may open instead.

use crate::{IdentityKey, PrincipalKind, ReviewMode};
use serde::{Deserialize, Serialize};

/// Where an approval request stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ApprovalStatus {
    /// Waiting for a reviewer.
    Pending,
    /// Approved and not yet used.
    Approved,
    Denied,
    /// Nobody decided in time (or an approval was not used in time).
    Expired,
    /// The client gave up (cancel, disconnect) or the gateway stopped.
    Withdrawn,
    /// Approved and run: an approval covers one execution.
    Used,
}

impl ApprovalStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ApprovalStatus::Pending => "pending",
            ApprovalStatus::Approved => "approved",
            ApprovalStatus::Denied => "denied",
            ApprovalStatus::Expired => "expired",
            ApprovalStatus::Withdrawn => "withdrawn",
            ApprovalStatus::Used => "used",
        }
    }
}

impl std::str::FromStr for ApprovalStatus {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "pending" => ApprovalStatus::Pending,
            "approved" => ApprovalStatus::Approved,
            "denied" => ApprovalStatus::Denied,
            "expired" => ApprovalStatus::Expired,
            "withdrawn" => ApprovalStatus::Withdrawn,
            "used" => ApprovalStatus::Used,
            other => return Err(format!("unknown approval status `{other}`")),
        })
    }
}

/// One approval request, bound to one operation: a principal, a connection,
/// the statement's exact text and a SHA-256 of its parameters.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ApprovalRecord {
    pub id: String,
    pub status: ApprovalStatus,
    pub created_at_ms: i64,
    /// A pending request lapses at this time (the rule's `timeout`).
    pub expires_at_ms: i64,
    pub principal: String,
    /// Who asked (issuer and subject): what matching and the self-approval
    /// check compare. Absent only in records written before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal_id: Option<IdentityKey>,
    pub principal_kind: PrincipalKind,
    /// The client session that asked.
    pub session: Option<String>,
    /// The agent run the asking session belongs to, when it said so.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    pub connection: String,
    pub rule: String,
    pub reason: String,
    /// Groups whose members may decide.
    pub reviewers: Vec<String>,
    pub mode: ReviewMode,
    /// The statement text exactly as analysed (statements of one message joined by `;\n`).
    pub statement: String,
    /// Hex SHA-256 of the extended protocol's parameter bytes (of nothing for a simple query).
    pub params_sha256: String,
    /// The statement kinds of the operation, in order (`delete`, `update`,
    /// ...). Stored and recorded as one comma-separated `kind` string, as
    /// every record before this list was; either form is read.
    #[serde(rename = "kind", with = "kinds")]
    pub kinds: Vec<String>,
    pub tables_written: Vec<String>,
    /// How long an approval stays usable once given (retry mode).
    pub valid_for_ms: i64,
    /// The target's `EXPLAIN (FORMAT JSON)` estimate, once known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preview: Option<serde_json::Value>,
    #[serde(default)]
    pub decided_at_ms: Option<i64>,
    #[serde(default)]
    pub decided_by: Option<String>,
    /// The reviewer's issuer and subject.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_by_id: Option<IdentityKey>,
    #[serde(default)]
    pub decision_reason: Option<String>,
    /// An approved request may be used until then.
    #[serde(default)]
    pub usable_until_ms: Option<i64>,
    #[serde(default)]
    pub used_at_ms: Option<i64>,
    /// The window the reviewer opened with the approval, if any.
    #[serde(default)]
    pub grant_id: Option<String>,
}

impl ApprovalRecord {
    /// Whether `groups` name one of the request's reviewer groups.
    pub fn reviewable_by(&self, groups: &[String]) -> bool {
        self.reviewers.iter().any(|r| groups.contains(r))
    }
}

/// A time-boxed window: the principal's statements that hit `rule` on
/// `connection` pass until `expires_at_ms`, unless revoked.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantRecord {
    pub id: String,
    pub created_at_ms: i64,
    pub expires_at_ms: i64,
    pub principal: String,
    /// Whose window it is (issuer and subject): what matching compares.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal_id: Option<IdentityKey>,
    pub connection: String,
    pub rule: String,
    /// Groups that may revoke it (the rule's reviewers).
    pub reviewers: Vec<String>,
    pub approval_id: Option<String>,
    pub granted_by: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub granted_by_id: Option<IdentityKey>,
    pub reason: Option<String>,
    #[serde(default)]
    pub revoked_at_ms: Option<i64>,
    #[serde(default)]
    pub revoked_by: Option<String>,
}

/// An approval's statement kinds as the store and the ledger keep them: one
/// comma-separated string (so records and ledger hashes stay as they were);
/// a list is read too.
mod kinds {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(kinds: &[String], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&kinds.join(","))
    }

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Stored {
        Joined(String),
        List(Vec<String>),
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
        Ok(match Stored::deserialize(d)? {
            Stored::Joined(s) if s.is_empty() => Vec::new(),
            Stored::Joined(s) => s.split(',').map(|k| k.trim().to_string()).collect(),
            Stored::List(l) => l,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statement_kinds_are_a_list_stored_comma_joined() {
        let json = serde_json::json!({
            "id": "ap_1", "status": "pending", "created_at_ms": 1, "expires_at_ms": 2,
            "principal": "bot", "principal_kind": "agent", "session": null,
            "connection": "shop", "rule": "r", "reason": "why", "reviewers": ["dba"],
            "mode": "hold", "statement": "DELETE FROM t; UPDATE t SET a = 1",
            "params_sha256": "", "kind": "delete,update", "tables_written": [],
            "valid_for_ms": 0
        });
        let a: ApprovalRecord = serde_json::from_value(json.clone()).expect("old row");
        assert_eq!(a.kinds, ["delete", "update"]);
        assert_eq!(a.status, ApprovalStatus::Pending);
        let back = serde_json::to_value(&a).expect("encode");
        assert_eq!(back["kind"], "delete,update");
        let mut listed = json;
        listed["kind"] = serde_json::json!(["delete"]);
        let b: ApprovalRecord = serde_json::from_value(listed).expect("list");
        assert_eq!(b.kinds, ["delete"]);
    }
}
