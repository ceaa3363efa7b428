//! vigil-sql: what a PostgreSQL statement does, decided before it reaches the target.
//!
//! Pure (no I/O, no async). Statements are parsed by `pg_query`, the real
//! PostgreSQL parser, so the gateway and the target cannot disagree on what
//! the text means. Each statement becomes one [`SqlFacts`], whose `read_only`
//! is sound: it is built as an allowlist and anything the analyser cannot
//! prove harmless makes it false.

mod catalog;
mod error;
mod facts;
mod kind;
mod walk;

pub use catalog::{Catalog, HARMLESS_VOLATILE};
pub use error::AnalysisError;
pub use vigil_core::SqlFacts;

/// The longest statement text `analyze` accepts.
pub const MAX_SQL_LEN: usize = 1024 * 1024;

/// Inputs longer than this are parsed and walked on a freshly grown stack.
const SMALL_INPUT: usize = 1024;

/// Stack given to large inputs. libpg_query caps its own stack budget at
/// 2 MiB plus a 512 KiB safety margin; the rest is room for the walk.
const BIG_STACK: usize = 16 * 1024 * 1024;

/// Splits `sql` into statements and analyses each one, in order.
///
/// Empty input (or only comments) gives `Ok(vec![])`. Anything the parser
/// rejects is an error, so the gateway refuses it (fail closed).
pub fn analyze(sql: &str, catalog: &Catalog) -> Result<Vec<SqlFacts>, AnalysisError> {
    if sql.len() > MAX_SQL_LEN {
        return Err(AnalysisError::TooLong);
    }
    with_stack(sql.len(), || {
        let parsed = parse(sql)?;
        let mut out = Vec::with_capacity(parsed.stmts.len());
        for raw in &parsed.stmts {
            let Some(node) = raw.stmt.as_ref().and_then(|s| s.node.as_ref()) else {
                continue;
            };
            let text = statement_text(sql, raw.stmt_location, raw.stmt_len)?;
            out.push(facts::statement(node, text, catalog)?);
        }
        Ok(out)
    })
}

/// Runs `f` directly for small inputs, and on a large fresh stack for the
/// rest: pg_query's C code and the tree walk both recurse with the input's
/// nesting, and a stack overflow would abort the whole gateway.
pub(crate) fn with_stack<T>(len: usize, f: impl FnOnce() -> T) -> T {
    if len <= SMALL_INPUT {
        f()
    } else {
        stacker::grow(BIG_STACK, f)
    }
}

/// Parses `sql` once into its protobuf tree.
pub(crate) fn parse(sql: &str) -> Result<pg_query::protobuf::ParseResult, AnalysisError> {
    if sql.as_bytes().contains(&0) {
        return Err(AnalysisError::NulByte);
    }
    match pg_query::parse(sql, 0) {
        Ok(result) => Ok(result.protobuf),
        Err(pg_query::Error::Parse(message)) => Err(parse_error(message)),
        // prost refuses trees nested past its recursion limit (100 messages).
        Err(pg_query::Error::Decode(_)) => Err(AnalysisError::TooDeep),
        Err(other) => Err(AnalysisError::Parse(other.to_string())),
    }
}

fn parse_error(message: String) -> AnalysisError {
    if message.contains("stack depth limit exceeded") {
        AnalysisError::TooDeep
    } else {
        AnalysisError::Parse(message)
    }
}

/// The text of one statement, from the parser's byte offsets
/// (`stmt_len == 0` means "to the end of the input").
fn statement_text(sql: &str, location: i32, len: i32) -> Result<&str, AnalysisError> {
    let out_of_range = || AnalysisError::Parse("statement location out of range".to_owned());
    let start = usize::try_from(location).map_err(|_| out_of_range())?;
    let end = if len == 0 {
        sql.len()
    } else {
        start + usize::try_from(len).map_err(|_| out_of_range())?
    };
    sql.get(start..end).map(str::trim).ok_or_else(out_of_range)
}
