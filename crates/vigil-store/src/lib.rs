//! The Vigil store: the hash-chained audit ledger, API tokens and session summaries.
//!
//! Everything the gateway persists goes through the [`Store`] trait so that the
//! embedded SQLite store ([`SqliteStore`]) and a shared PostgreSQL store (later)
//! are interchangeable. The ledger is the part that carries invariants:
//!
//! * an event is durable before [`Store::append`] returns: written to the
//!   append-only log with one `write` per group commit (and one `fdatasync`
//!   with `fsync`), SQLite being its index (see the `log` module);
//! * nothing is ever dropped: when the writer falls behind, appenders wait for
//!   room in a bounded queue (back-pressure) instead of losing events;
//! * every event is chained, `hash = sha256(prev_hash || canonical_json(event))`,
//!   and the chain is periodically signed, so [`verify_ledger`] can name the
//!   first event that was changed, removed or reordered.

mod approvals;
mod checkpoint;
mod error;
mod ledger;
mod log;
mod sqlite;
mod ssh_keys;
mod tokens;
mod types;

pub use approvals::{ApprovalStore, InsertOutcome, Transition};
pub use checkpoint::{LEDGER_KEY_FILE, LEDGER_PUB_FILE};
pub use error::StoreError;
pub use ledger::chain::{GENESIS_HASH, canonical_json, chain_hash};
pub use ledger::head::{LEDGER_HEAD_FILE, SignedHead, read_head};
pub use ledger::verify::{
    BadEvent, VerifyOptions, VerifyReport, verify_ledger, verify_ledger_with,
};
pub use sqlite::{DB_FILE, SqliteStore, StoreOptions};
pub use types::{
    Appended, LedgerRecord, NewSshKey, NewToken, SessionSummary, SshKeyRecord, TokenRecord,
};

use vigil_core::Event;

/// Persistence for the gateway. Implemented by [`SqliteStore`]; a PostgreSQL
/// implementation will share the same contract so several replicas can share
/// one ledger.
#[async_trait::async_trait]
pub trait Store: Send + Sync + 'static {
    /// Appends `event` to the hash-chained ledger and returns once it is
    /// durable (committed by the group-commit writer). An `Err` means the event
    /// is NOT recorded: callers must refuse the operation it describes (fail closed).
    async fn append(&self, event: Event) -> Result<Appended, StoreError>;

    /// Queues `event` for the ledger without waiting for its commit, for events
    /// nobody waits on (statement outcomes). It is still never dropped: when
    /// the queue is full this waits for room (back-pressure). A later write
    /// failure is logged by the writer, since no caller is left to tell.
    async fn append_nowait(&self, event: Event) -> Result<(), StoreError>;

    /// Stores a new API token (its hash only). Fails with
    /// [`StoreError::DuplicateToken`] when an active token has the same name.
    async fn create_token(&self, token: NewToken) -> Result<(), StoreError>;

    /// The token whose SHA-256 is `hash`, revoked or expired ones included so
    /// the caller can say why it refuses them.
    async fn token_by_hash(&self, hash: &[u8; 32]) -> Result<Option<TokenRecord>, StoreError>;

    /// Every token, revoked ones included, oldest first.
    async fn list_tokens(&self) -> Result<Vec<TokenRecord>, StoreError>;

    /// Revokes the active token called `name`; `false` when there is none.
    async fn revoke_token(&self, name: &str) -> Result<bool, StoreError>;

    /// Registers an SSH public key for a principal. Fails with
    /// [`StoreError::DuplicateSshKey`] when the name or the key is already
    /// registered and not removed.
    async fn add_ssh_key(&self, key: NewSshKey) -> Result<(), StoreError>;

    /// The key with this fingerprint: the active one, else the latest
    /// removed one, so the caller can say why it refuses it.
    async fn ssh_key_by_fingerprint(
        &self,
        fingerprint: &[u8; 32],
    ) -> Result<Option<SshKeyRecord>, StoreError>;

    /// Every registered key, removed ones included, oldest first.
    async fn list_ssh_keys(&self) -> Result<Vec<SshKeyRecord>, StoreError>;

    /// Removes the active key called `name`; `false` when there is none.
    async fn remove_ssh_key(&self, name: &str) -> Result<bool, StoreError>;

    /// The most recently started sessions, newest first, at most `limit`.
    async fn list_sessions(&self, limit: usize) -> Result<Vec<SessionSummary>, StoreError>;

    /// Every ledger event of one session, in ledger order.
    async fn session_events(&self, session: &str) -> Result<Vec<LedgerRecord>, StoreError>;

    /// The sessions of one agent run (events carrying `run_id`), oldest first.
    async fn run_sessions(
        &self,
        run_id: &str,
        limit: usize,
    ) -> Result<Vec<SessionSummary>, StoreError> {
        let _ = (run_id, limit);
        Err(StoreError::Internal(
            "this store does not index runs".into(),
        ))
    }

    /// The ledger events of one agent run, in ledger order, at most `limit`.
    async fn run_events(
        &self,
        run_id: &str,
        limit: usize,
    ) -> Result<Vec<LedgerRecord>, StoreError> {
        let _ = (run_id, limit);
        Err(StoreError::Internal(
            "this store does not index runs".into(),
        ))
    }

    /// Approval requests and grants, when this store keeps them. `None`:
    /// review rules refuse (fail closed) instead of holding.
    fn approvals(&self) -> Option<&dyn ApprovalStore> {
        None
    }
}
