//! What a statement's answer is, once read: columns, masked rows, the
//! command tag, or the target's (masked) error.

use vigil_core::MaskingSummary;

/// How a value is best given to a client that wants typed values (JSON).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ValueType {
    Bool,
    /// Fits an i64.
    Integer,
    /// A binary float (NaN and infinities stay text).
    Float,
    Json,
    /// Everything else, exact decimals and dates included.
    Text,
}

/// One output column.
#[derive(Clone, Debug)]
pub struct Column {
    pub name: String,
    pub value_type: ValueType,
}

/// A statement's answer, masked.
#[derive(Debug, Default)]
pub struct QueryResult {
    pub columns: Vec<Column>,
    /// Values as text; `None` is NULL (or a masked non-text value).
    pub rows: Vec<Vec<Option<String>>>,
    pub truncated: bool,
    /// The command tag (`SELECT 3`, `DELETE 1`), when the target sent one.
    pub tag: Option<String>,
    /// What was masked, for the ledger (never the values).
    pub masking: Option<MaskingSummary>,
}

/// Why a statement produced no result.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// The target refused or failed the statement; the message is masked.
    #[error("{message} (code {code})")]
    Server {
        /// The target's own error code (a SQLSTATE for PostgreSQL).
        code: String,
        message: String,
        masking: Option<MaskingSummary>,
    },
    #[error("target connection failed: {0}")]
    Io(#[from] std::io::Error),
    #[error("target protocol error: {0}")]
    Protocol(String),
}

/// One column of a relation the login may read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RelationColumn {
    pub schema: String,
    pub relation: String,
    /// `table`, `view`, `materialized view`, `foreign table`, `partitioned table`.
    pub kind: &'static str,
    pub column: String,
    /// The target's name of the column's type.
    pub data_type: String,
}
