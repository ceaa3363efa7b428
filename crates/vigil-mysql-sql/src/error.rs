//! Why a statement could not be analysed. Every variant makes the gateway
//! refuse the statement (fail closed); none quotes more than a short
//! excerpt of the client's text.

/// Why the analyser refused a text.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AnalysisError {
    #[error("the statement is longer than {} bytes", crate::MAX_SQL_LEN)]
    TooLong,
    #[error(
        "the statement has more than {} bytes outside its string literals",
        crate::MAX_CODE_LEN
    )]
    TooMuchCode,
    #[error("the statement is not valid UTF-8")]
    NotUtf8,
    #[error("the statement contains a NUL byte")]
    NulByte,
    #[error("more than {} statements in one message", crate::MAX_STATEMENTS)]
    TooManyStatements,
    #[error("unterminated {0}")]
    Unterminated(&'static str),
    #[error("{0}")]
    VersionedComment(String),
    #[error("{0}")]
    LexingMode(String),
    #[error("the SQL parser refused the statement: {0}")]
    Parse(String),
}
