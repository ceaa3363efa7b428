//! Which statements' errors and notices may quote data: with column mask
//! rules, the target's text of those is replaced (see `fields.rs`).

use vigil_core::SqlFacts;

/// Whether a statement's errors may quote data: it reads or writes a
/// table, calls a function, or reads rows it does not name (a cursor, a
/// prepared statement). COMMIT counts: it runs deferred triggers and
/// constraints, and the queries of `WITH HOLD` cursors.
pub fn may_quote_data(facts: &SqlFacts) -> bool {
    !facts.tables_read.is_empty()
        || !facts.tables_written.is_empty()
        || !facts.functions.is_empty()
        || !matches!(
            facts.kind.as_str(),
            "select"
                | "values"
                | "set"
                | "reset"
                | "show"
                | "begin"
                | "rollback"
                | "savepoint"
                | "release"
                | "listen"
                | "unlisten"
                | "deallocate"
                | "discard"
                | "close"
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(kind: &str) -> SqlFacts {
        SqlFacts {
            kind: kind.into(),
            ..SqlFacts::default()
        }
    }

    #[test]
    fn errors_of_constant_selects_are_not_guarded() {
        assert!(!may_quote_data(&facts("select")));
        let mut f = facts("select");
        f.tables_read.push("public.customers".into());
        assert!(may_quote_data(&f));
        assert!(may_quote_data(&facts("fetch")));
        assert!(may_quote_data(&facts("execute")));
        assert!(may_quote_data(&facts("commit")));
    }
}
