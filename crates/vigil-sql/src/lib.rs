//! vigil-sql: what a PostgreSQL statement does, decided before it reaches the target.
//!
//! Pure (no I/O, no async). Statements are parsed by `pg_query`, the real
//! PostgreSQL parser, so the gateway and the target cannot disagree on what
//! the text means. Each statement becomes one [`SqlFacts`], whose `read_only`
//! is sound: it is built as an allowlist and anything the analyser cannot
//! prove harmless makes it false.

mod cache;
mod catalog;
mod copy;
mod error;
mod facts;
mod kind;
mod lineage;
mod literals;
mod session_ops;
mod settings;
mod walk;
mod walk_ops;
mod walk_statements;

pub use cache::{AnalysisCache, MAX_CACHED_LEN};
pub use catalog::{Catalog, HARMLESS_VOLATILE, SENSITIVE_CATALOGS};
pub use copy::{CopyKind, CopyOutFormat, copy_out_format};
pub use error::AnalysisError;
pub use lineage::{ColumnLineage, LineageCache, OutputLineage, QualifiedColumn, output_lineage};
pub use session_ops::{SessionOp, session_ops, touches_names};
pub use vigil_core::SqlFacts;
pub use walk::MAX_DEPTH;

/// The longest statement text `analyze` accepts.
pub const MAX_SQL_LEN: usize = 1024 * 1024;

/// Stack any analysis may need, however short the input: libpg_query's
/// scanner and bison's initial stacks, the first levels of decode and walk.
const BASE_STACK: usize = 256 * 1024;

/// Stack each byte of input may add. The decode of pg_query's protobuf tree
/// recurses once per nested message, and one byte of SQL can add a level:
/// the scanner splits `+-+-+-x` into one-character prefix operators. Measured
/// with `tests/stack.rs`: at most 2.2 KiB per byte in release builds (that
/// shape; `ARRAY[[[...]]]` costs 3.5 KiB per level but two bytes), 35 KiB in
/// debug builds (dependencies at opt-level 1). libpg_query's own recursion,
/// which runs before the decode, needs far less (about 300 bytes per level).
const STACK_PER_BYTE: usize = if cfg!(debug_assertions) {
    64 * 1024
} else {
    4 * 1024
};

/// The most stack any input needs. libpg_query refuses to serialise a tree
/// nested more than 10 000 protobuf messages deep (5 000 SQL levels), and
/// decoding the deepest tree it accepts was measured at 17 MiB in release
/// builds and 180 MiB in debug builds (reserved, not touched, by shallower
/// inputs).
const MAX_STACK: usize = if cfg!(debug_assertions) {
    384 * 1024 * 1024
} else {
    32 * 1024 * 1024
};

/// libpg_query sizes its stack-depth budget to the stack left below the
/// caller minus 512 KiB; with less than 612 KiB left it keeps the previous
/// call's budget. It never runs with less than this left.
const MIN_STACK: usize = 1024 * 1024;

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

/// Runs `f` on the current stack when enough of it is left for an input of
/// `len` bytes, and on a fresh stack of the size it may need otherwise:
/// libpg_query, the protobuf decode and the tree walk all recurse with the
/// input's nesting, and a stack overflow would abort the whole gateway.
pub(crate) fn with_stack<T>(len: usize, f: impl FnOnce() -> T) -> T {
    let need = len
        .saturating_mul(STACK_PER_BYTE)
        .saturating_add(BASE_STACK)
        .clamp(MIN_STACK, MAX_STACK);
    match stacker::remaining_stack() {
        Some(left) if left >= need => {
            C_BUDGET_SET.set(true);
            f()
        }
        left => {
            if left.is_some_and(|l| l >= MIN_STACK) && !C_BUDGET_SET.get() {
                // See `C_BUDGET_SET`. The statement is irrelevant.
                let _ = pg_query::parse("SELECT", 0);
                C_BUDGET_SET.set(true);
            }
            stacker::grow(need, f)
        }
    }
}

thread_local! {
    /// Whether libpg_query has run on this thread's own stack with at least
    /// `MIN_STACK` left. It sizes its stack-depth budget per call from the
    /// thread's stack bounds, which it cannot do on a stacker-grown stack:
    /// there it keeps the thread's previous budget, 100 KiB (about 350 nested
    /// operators) until a call on the real stack raises it. Safety does not
    /// depend on the budget (`with_stack` sizes stacks for the input), but
    /// the nesting limit should be the walker's `MAX_DEPTH` on every thread,
    /// not depend on what the thread analysed before.
    static C_BUDGET_SET: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Parses `sql` once into its protobuf tree.
pub(crate) fn parse(sql: &str) -> Result<pg_query::protobuf::ParseResult, AnalysisError> {
    if sql.as_bytes().contains(&0) {
        return Err(AnalysisError::NulByte);
    }
    match pg_query::parse(sql, 0) {
        Ok(result) => Ok(result.protobuf),
        Err(pg_query::Error::Parse(message)) => Err(parse_error(message)),
        // prost's recursion limit is lifted (see Cargo.toml): not a depth issue.
        Err(pg_query::Error::Decode(_)) => Err(AnalysisError::Parse(
            "the parse tree could not be decoded".to_owned(),
        )),
        Err(other) => Err(AnalysisError::Parse(other.to_string())),
    }
}

fn parse_error(message: String) -> AnalysisError {
    // libpg_query's stack-depth check, its 10 000-message protobuf limit, and
    // bison's parser stack limit (`memory exhausted at or near ...`).
    const DEPTH_ERRORS: [&str; 3] = [
        "stack depth limit exceeded",
        "nested too deeply",
        "memory exhausted",
    ];
    if DEPTH_ERRORS.iter().any(|e| message.contains(e)) {
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
