//! The crate's one error type.
//!
//! Every message is safe to show a client: it names what was wrong with the
//! statement, never anything about the gateway or the target.

/// Why a statement could not be analysed. The gateway refuses the statement
/// (fail closed) whenever `analyze` returns one of these.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AnalysisError {
    /// The PostgreSQL parser rejected the text (the message is the parser's own).
    #[error("syntax error: {0}")]
    Parse(String),
    /// The statement nests deeper than the analyser is willing to follow.
    #[error("statement is nested too deeply to analyse")]
    TooDeep,
    /// The text is longer than the analyser accepts.
    #[error("statement text is too long to analyse (limit 1 MiB)")]
    TooLong,
    /// The text contains a NUL byte, which PostgreSQL never accepts in a query string.
    #[error("statement text contains a NUL byte")]
    NulByte,
    /// The statement calls a function, applies an operator or a cast, or
    /// reads a relation, and the target's catalog could not be loaded, so
    /// what it does cannot be known.
    #[error(
        "catalog not loaded: the statement depends on the target's catalog, which could not be read"
    )]
    CatalogNotLoaded,
    /// A catalog row did not have the shape `Catalog::LOAD_QUERY` produces.
    #[error("catalog row {row}: {reason}")]
    CatalogRow { row: usize, reason: String },
}
