//! Plain records that cross the [`crate::Store`] boundary.

use serde::Serialize;
use vigil_core::PrincipalKind;

/// Where an appended event landed in the ledger.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Appended {
    /// Position in the ledger, monotonic from 1.
    pub seq: i64,
    /// `sha256(prev_hash || canonical_json(event))`.
    pub hash: [u8; 32],
}

impl Appended {
    /// The hash as lower-case hex, the form the CLI and the API print.
    pub fn hash_hex(&self) -> String {
        hex::encode(self.hash)
    }
}

/// A token to store. Only its SHA-256 is given: the token text itself never
/// reaches the store, so a copy of the database cannot be used to log in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewToken {
    pub name: String,
    pub groups: Vec<String>,
    pub kind: PrincipalKind,
    pub hash: [u8; 32],
    pub expires_at_ms: Option<i64>,
    pub created_at_ms: i64,
}

/// A stored token, as listed or looked up. Carries no secret.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TokenRecord {
    pub name: String,
    pub groups: Vec<String>,
    pub kind: PrincipalKind,
    pub created_at_ms: i64,
    pub expires_at_ms: Option<i64>,
    /// Set once the token is revoked; a revoked token never authenticates.
    pub revoked_at_ms: Option<i64>,
}

/// One session as `vigil sessions list` shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SessionSummary {
    pub id: String,
    pub principal: Option<String>,
    pub connection: Option<String>,
    pub protocol: Option<String>,
    pub started_at_ms: Option<i64>,
    pub ended_at_ms: Option<i64>,
    /// Statement decisions recorded in this session.
    pub statements: i64,
    /// Of those, how many were denied.
    pub denied: i64,
}

/// One ledger row as read back for a session.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LedgerRecord {
    pub seq: i64,
    pub at_ms: i64,
    #[serde(rename = "type")]
    pub event_type: String,
    /// The whole event as canonical JSON, exactly as it was hashed.
    pub body: serde_json::Value,
}

/// An SSH public key to register for a principal: it logs in to the SSH
/// listener like a token would, as `name` with `groups`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewSshKey {
    pub name: String,
    pub groups: Vec<String>,
    pub kind: PrincipalKind,
    /// SHA-256 of the key's SSH wire encoding (OpenSSH's `SHA256:` fingerprint).
    pub fingerprint: [u8; 32],
    /// The key as one `authorized_keys` line (`ssh-ed25519 AAAA... comment`).
    pub public_key: String,
    pub created_at_ms: i64,
}

/// A registered SSH public key, as listed or looked up. Public data only.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SshKeyRecord {
    pub name: String,
    pub groups: Vec<String>,
    pub kind: PrincipalKind,
    pub fingerprint: [u8; 32],
    pub public_key: String,
    pub created_at_ms: i64,
    /// Set once the key is removed; a removed key never authenticates.
    pub removed_at_ms: Option<i64>,
}
