//! The names a statement creates or drops in the session's namespaces of
//! prepared statements and portals (SQL `PREPARE`, `DEALLOCATE`, `DECLARE`,
//! `CLOSE`, `DISCARD ALL`). Protocol messages share those namespaces, so a
//! gateway that tracks what each name holds must follow these too.

use crate::{AnalysisError, MAX_SQL_LEN, parse, with_stack};
use pg_query::NodeEnum;
use pg_query::protobuf::DiscardMode;

/// `DECLARE ... BINARY`, and `WITH HOLD`, as PostgreSQL's cursor options.
const CURSOR_OPT_BINARY: i32 = 0x0001;
const CURSOR_OPT_HOLD: i32 = 0x0020;

/// What one statement does to the session's names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SessionOp {
    /// Touches no name.
    None,
    Prepare(String),
    /// `DEALLOCATE name`, or `DEALLOCATE ALL` (None).
    Deallocate(Option<String>),
    Declare {
        name: String,
        binary: bool,
        holdable: bool,
    },
    /// `CLOSE name`, or `CLOSE ALL` (None).
    Close(Option<String>),
    /// `DISCARD ALL`: every prepared statement and cursor.
    DiscardAll,
}

/// The statement kinds (`SqlFacts::kind`) that can touch a name.
pub fn touches_names(kind: &str) -> bool {
    matches!(
        kind,
        "prepare" | "deallocate" | "declare" | "close" | "discard"
    )
}

/// One [`SessionOp`] per statement of `sql`, in order (the same split as
/// `analyze`).
pub fn session_ops(sql: &str) -> Result<Vec<SessionOp>, AnalysisError> {
    if sql.len() > MAX_SQL_LEN {
        return Err(AnalysisError::TooLong);
    }
    with_stack(sql.len(), || {
        let parsed = parse(sql)?;
        Ok(parsed
            .stmts
            .iter()
            .filter_map(|raw| raw.stmt.as_ref().and_then(|s| s.node.as_ref()))
            .map(op)
            .collect())
    })
}

fn op(node: &NodeEnum) -> SessionOp {
    match node {
        NodeEnum::PrepareStmt(p) => SessionOp::Prepare(p.name.clone()),
        NodeEnum::DeallocateStmt(d) if d.isall || d.name.is_empty() => SessionOp::Deallocate(None),
        NodeEnum::DeallocateStmt(d) => SessionOp::Deallocate(Some(d.name.clone())),
        NodeEnum::DeclareCursorStmt(d) => SessionOp::Declare {
            name: d.portalname.clone(),
            binary: d.options & CURSOR_OPT_BINARY != 0,
            holdable: d.options & CURSOR_OPT_HOLD != 0,
        },
        NodeEnum::ClosePortalStmt(c) if c.portalname.is_empty() => SessionOp::Close(None),
        NodeEnum::ClosePortalStmt(c) => SessionOp::Close(Some(c.portalname.clone())),
        NodeEnum::DiscardStmt(d)
            if DiscardMode::try_from(d.target) == Ok(DiscardMode::DiscardAll) =>
        {
            SessionOp::DiscardAll
        }
        _ => SessionOp::None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_each_statement_touches() {
        let ops = session_ops(
            "PREPARE s1 AS SELECT 1; DEALLOCATE s1; DEALLOCATE ALL; \
             DECLARE \"C\" BINARY CURSOR WITH HOLD FOR SELECT 1; CLOSE c; CLOSE ALL; \
             DISCARD ALL; DISCARD PLANS; SELECT 1",
        )
        .unwrap();
        assert_eq!(
            ops,
            vec![
                SessionOp::Prepare("s1".into()),
                SessionOp::Deallocate(Some("s1".into())),
                SessionOp::Deallocate(None),
                SessionOp::Declare {
                    name: "C".into(),
                    binary: true,
                    holdable: true
                },
                SessionOp::Close(Some("c".into())),
                SessionOp::Close(None),
                SessionOp::DiscardAll,
                SessionOp::None,
                SessionOp::None,
            ]
        );
    }

    #[test]
    fn kinds_that_touch_names() {
        assert!(touches_names("declare"));
        assert!(!touches_names("select"));
    }
}
