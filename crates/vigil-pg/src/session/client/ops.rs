//! What a statement does beyond its rows: the names it creates or drops in
//! the session (SQL-level `PREPARE`, `DECLARE`, ...), whether it may run code
//! that changes names or settings unseen, and whether its errors may quote
//! data.

use crate::mask::{Formats, StatementMask};
use crate::session::names::{Op, Portal, Prepared};
use bytes::Bytes;
use std::sync::Arc;
use vigil_core::SqlFacts;
use vigil_mask::MaskPolicy;
use vigil_sql::{Catalog, SessionOp};

/// Statements that change nothing but the transaction's state.
const TRANSACTION_CONTROL: &[&str] = &["begin", "commit", "rollback", "savepoint", "release"];

/// The name changes of each statement of `text` (one list per statement,
/// in order), applied when the target completes it.
pub(super) fn of_text(
    text: &str,
    facts: &[SqlFacts],
    policy: &MaskPolicy,
    catalog: &Catalog,
) -> Vec<Vec<Op>> {
    let named = if facts.iter().any(|f| vigil_sql::touches_names(&f.kind)) {
        // The same parser split the text for `facts`: the lists align. If
        // it fails now, every name is forgotten (fail closed).
        vigil_sql::session_ops(text).ok()
    } else {
        None
    };
    facts
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let mut ops = Vec::new();
            if vigil_sql::touches_names(&f.kind) {
                match named.as_ref().and_then(|n| n.get(i)) {
                    Some(op) => ops.extend(sql_op(op, f, policy)),
                    None => ops.push(Op::DiscardAll),
                }
            }
            if runs_unseen_code(f, catalog) {
                ops.push(Op::ForgetPortals);
            }
            ops
        })
        .collect()
}

fn sql_op(op: &SessionOp, facts: &SqlFacts, policy: &MaskPolicy) -> Option<Op> {
    let opaque = || {
        Arc::new(Prepared {
            facts: Arc::from(vec![facts.clone()]),
            // Its query's lineage is not kept: rows are masked whole.
            mask: StatementMask::unknown(policy),
            param_types: Arc::from(Vec::new()),
            sql_level: true,
            ops: Vec::new(),
        })
    };
    Some(match op {
        SessionOp::None => return None,
        SessionOp::Prepare(name) => Op::SqlPrepare {
            name: name.clone(),
            prepared: opaque(),
        },
        SessionOp::Deallocate(name) => Op::Deallocate(name.clone()),
        SessionOp::Declare {
            name,
            binary,
            holdable,
        } => Op::Declare {
            name: name.clone(),
            portal: Arc::new(Portal {
                prepared: opaque(),
                formats: if *binary {
                    Formats::AllBinary
                } else {
                    Formats::AllText
                },
                params: Bytes::new(),
                sql_level: true,
                holdable: *holdable,
            }),
        },
        SessionOp::Close(name) => Op::CloseCursor(name.clone()),
        SessionOp::DiscardAll => Op::DiscardAll,
    })
}

/// A statement after which no portal is trusted: it may run code the
/// gateway does not see (anything not read-only but transaction control:
/// functions, procedures, the triggers of a write; or a read-only statement
/// that calls a function outside `pg_catalog`, which can open or close
/// cursors by any name), or it rolls back to a savepoint (portals made since
/// die with it).
fn runs_unseen_code(facts: &SqlFacts, catalog: &Catalog) -> bool {
    if facts.kind == "rollback" {
        return true;
    }
    if !facts.read_only && !TRANSACTION_CONTROL.contains(&facts.kind.as_str()) {
        return true;
    }
    facts
        .functions
        .iter()
        .any(|f| !catalog.is_builtin_function(f))
}

/// A write whose own text changes no setting: INSERT, UPDATE, DELETE,
/// MERGE, COPY FROM. Triggers aside (see the security guide), it leaves
/// the settings later text is read under as they were.
pub(super) fn is_plain_dml(facts: &SqlFacts) -> bool {
    matches!(
        facts.kind.as_str(),
        "insert" | "update" | "delete" | "merge" | "copy" | "select"
    ) && facts.functions.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(kind: &str, read_only: bool) -> SqlFacts {
        SqlFacts {
            kind: kind.into(),
            read_only,
            ..SqlFacts::default()
        }
    }

    #[test]
    fn sql_level_names_become_ops() {
        let policy = MaskPolicy::default();
        let text = "DECLARE c CURSOR WITH HOLD FOR SELECT 1; DEALLOCATE ALL";
        let f = [facts("declare", true), facts("deallocate", true)];
        let ops = of_text(text, &f, &policy, &Catalog::empty());
        assert!(matches!(
            &ops[0][..],
            [Op::Declare { name, portal }] if name == "c" && portal.holdable && portal.sql_level
        ));
        assert!(matches!(&ops[1][..], [Op::Deallocate(None)]));
    }

    #[test]
    fn writes_and_calls_forget_portals_but_transaction_control_does_not() {
        let policy = MaskPolicy::default();
        let none = Catalog::empty();
        let ops = of_text(
            "UPDATE t SET a = 1",
            &[facts("update", false)],
            &policy,
            &none,
        );
        assert!(matches!(&ops[0][..], [Op::ForgetPortals]));
        let ops = of_text("COMMIT", &[facts("commit", true)], &policy, &none);
        assert!(ops[0].is_empty());
        let ops = of_text("ROLLBACK TO a", &[facts("rollback", true)], &policy, &none);
        assert!(matches!(&ops[0][..], [Op::ForgetPortals]));
        let mut user_fn = facts("select", true);
        user_fn.functions.push("open_report".into());
        let ops = of_text("SELECT open_report('p')", &[user_fn], &policy, &none);
        assert!(matches!(&ops[0][..], [Op::ForgetPortals]));
    }
}
