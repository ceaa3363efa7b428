//! The store's one error type.

/// Why a store operation failed. Messages never contain token text or target
/// credentials: the store never sees them.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store I/O error while {context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("SQLite error while {context}: {source}")]
    Sqlite {
        context: &'static str,
        #[source]
        source: rusqlite::Error,
    },
    /// The ledger write that carried this event failed; the event is not recorded.
    #[error("ledger write failed, event not recorded: {0}")]
    WriteFailed(String),
    /// The writer has stopped (the store was closed).
    #[error("the store is closed")]
    Closed,
    #[error(
        "database schema version {found} is newer than this binary knows ({known}); upgrade vigil"
    )]
    SchemaTooNew { found: i64, known: i64 },
    #[error("ledger signing key: {0}")]
    Key(String),
    #[error("JSON error while {context}: {source}")]
    Json {
        context: &'static str,
        #[source]
        source: serde_json::Error,
    },
    #[error("an active token named `{0}` already exists")]
    DuplicateToken(String),
    /// The name or the key is already registered (the message says which).
    #[error("{0}")]
    DuplicateSshKey(String),
    /// A stored row does not have the shape this binary expects.
    #[error("corrupt store data: {0}")]
    Corrupt(String),
    /// Another process holds what this one needs (the ledger's writer lock).
    #[error("{0}")]
    Busy(String),
    /// A broken internal invariant (poisoned lock, lost task).
    #[error("internal store error: {0}")]
    Internal(String),
}

impl StoreError {
    /// Wraps a SQLite error with what the store was doing.
    pub(crate) fn sqlite(context: &'static str) -> impl FnOnce(rusqlite::Error) -> StoreError {
        move |source| StoreError::Sqlite { context, source }
    }

    /// Wraps an I/O error with what the store was doing.
    pub(crate) fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> StoreError {
        let context = context.into();
        move |source| StoreError::Io { context, source }
    }
}
