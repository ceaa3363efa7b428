//! vigil-mysql-sql: what a MySQL or MariaDB statement does, decided before
//! it reaches the target.
//!
//! Pure (no I/O, no async). A pre-lexer ([`lex`]) does what the target's
//! lexer does and `sqlparser` would not see (statement splitting, comments,
//! versioned comments, `sql_mode` quoting rules) and refuses what it cannot
//! reproduce; `sqlparser`'s MySQL dialect parses each statement; an
//! allow-list walk gives the same [`SqlFacts`] the PostgreSQL analyser gives,
//! with a sound `read_only`.

mod cache;
mod error;
mod facts;
mod functions;
pub mod lex;
mod lineage;
mod mode;
mod probe;
mod set;
#[cfg(test)]
mod tests;

pub use cache::{AnalysisCache, MAX_CACHED_LEN};
pub use error::AnalysisError;
pub use lex::{Flavor, Target};
pub use lineage::{Lineage, Origin, Source};
pub use mode::{LexMode, charset_reproduced, collation_reproduced};
pub use vigil_core::SqlFacts;

use sqlparser::dialect::MySqlDialect;
use sqlparser::parser::Parser;

/// The longest message text `analyze` accepts: the MySQL front-end's
/// largest command (a statement with its data, such as a 20 MiB INSERT).
pub const MAX_SQL_LEN: usize = 64 * 1024 * 1024;
/// The most bytes of a message outside its string literals. The parser
/// allocates per token (a word, a number, a space, a comma), so a message of
/// small tokens costs many times its length, while a string literal is one
/// token however long: big data arrives in literals, and the rest of a
/// message stays under this.
pub const MAX_CODE_LEN: usize = 1024 * 1024;
/// The most statements one message may carry.
pub const MAX_STATEMENTS: usize = 1000;
/// `sqlparser`'s recursion limit: deeper nesting is refused.
pub const MAX_DEPTH: usize = 200;

/// What a statement does to the session besides its facts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Effect {
    None,
    /// It may change `sql_mode` or the client character set: read them
    /// again from the target before analysing the next statement.
    Lexing,
    /// `USE db`: the current database, once the target confirms it.
    Database(String),
}

/// One analysed statement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Analysed {
    pub facts: SqlFacts,
    pub lineage: Lineage,
    pub effect: Effect,
}

/// The session state a statement is read under.
#[derive(Clone, Copy, Debug, Default)]
pub struct Context<'a> {
    pub mode: LexMode,
    pub target: Target,
    /// The session's current database (unqualified names are in it).
    pub database: Option<&'a str>,
}

/// Analyses every statement of a message (a COM_QUERY's text or a
/// COM_STMT_PREPARE's), in order. Empty text gives `Ok(vec![])`. Anything
/// that cannot be read exactly as the target reads it is an error.
pub fn analyze(sql: &[u8], ctx: &Context<'_>) -> Result<Vec<Analysed>, AnalysisError> {
    if sql.len() > MAX_SQL_LEN {
        return Err(AnalysisError::TooLong);
    }
    if sql.contains(&0) {
        return Err(AnalysisError::NulByte);
    }
    let text = std::str::from_utf8(sql).map_err(|_| AnalysisError::NotUtf8)?;
    let pieces = lex::split(text, ctx.mode, ctx.target)?;
    let mut out = Vec::with_capacity(pieces.len());
    for piece in pieces {
        let stmt = parse_one(&piece.normalized)?;
        let (facts, effect) =
            facts::statement(&stmt, piece.original, &piece.normalized, ctx.database);
        let lineage = lineage::of(&stmt, ctx.database);
        out.push(Analysed {
            facts,
            lineage,
            effect,
        });
    }
    Ok(out)
}

fn parse_one(text: &str) -> Result<sqlparser::ast::Statement, AnalysisError> {
    let dialect = MySqlDialect {};
    let mut parsed = Parser::new(&dialect)
        .with_recursion_limit(MAX_DEPTH)
        .try_with_sql(text)
        .and_then(|mut p| p.parse_statements())
        .map_err(|e| AnalysisError::Parse(short(&e.to_string())))?;
    match parsed.len() {
        1 => parsed
            .pop()
            .ok_or_else(|| AnalysisError::Parse("no statement".into())),
        _ => Err(AnalysisError::Parse(
            "the parser and the target disagree on where the statement ends".into(),
        )),
    }
}

fn short(s: &str) -> String {
    s.chars().take(200).collect()
}
