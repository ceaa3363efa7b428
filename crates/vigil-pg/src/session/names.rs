//! The session's prepared statements and portals, as the target holds them.
//!
//! A name changes in [`Names`] only when the target confirms the message
//! that changed it (ParseComplete, BindComplete, CloseComplete, the
//! CommandComplete of a SQL-level `PREPARE`, `DEALLOCATE`, `DECLARE`,
//! `CLOSE`, `DISCARD`), and portals die when the transaction that made them
//! ends. Messages still on their way are [`Op`]s in the expectation queue
//! (`shared.rs`): a later message of the same batch may rely on them (if
//! one fails, the target skips the rest of the batch), a message of a later
//! batch waits until they are confirmed or discarded.

use crate::mask::{Formats, StatementMask};
use bytes::Bytes;
use std::collections::HashMap;
use std::sync::Arc;
use vigil_core::SqlFacts;

pub(crate) type Facts = Arc<[SqlFacts]>;

/// A statement parsed through the gateway: what it does, and how its rows
/// are masked.
#[derive(Clone)]
pub(crate) struct Prepared {
    pub facts: Facts,
    pub mask: Option<Arc<StatementMask>>,
    /// The parameter type OIDs Parse declared, as Parse carries them (the
    /// approval previewer's hint).
    pub param_types: Arc<[u8]>,
    /// Made by SQL `PREPARE`: its text never passed through a Parse here,
    /// so a protocol Bind of it is refused (SQL `EXECUTE` is opaque anyway).
    pub sql_level: bool,
    /// What running it does to the session's names (SQL-level `DECLARE`,
    /// `DEALLOCATE`, ...), applied when it completes.
    pub ops: Vec<Op>,
}

/// A portal: its statement, and the result formats Bind asked for.
#[derive(Clone)]
pub(crate) struct Portal {
    pub prepared: Arc<Prepared>,
    pub formats: Formats,
    /// Bind's parameter formats and values: an approval binds them.
    pub params: Bytes,
    /// Made by SQL `DECLARE`: its rows are masked whole when executed
    /// through the protocol, since its query's lineage is not kept.
    pub sql_level: bool,
    /// `DECLARE ... WITH HOLD`: survives the end of its transaction.
    pub holdable: bool,
}

/// One change to the target's names that a forwarded message makes if it
/// succeeds, in the order the target applies them.
#[derive(Clone)]
pub(crate) enum Op {
    Parse {
        name: String,
        prepared: Arc<Prepared>,
    },
    Bind {
        name: String,
        portal: Arc<Portal>,
    },
    CloseStatement(String),
    ClosePortal(String),
    /// SQL `PREPARE name`.
    SqlPrepare {
        name: String,
        prepared: Arc<Prepared>,
    },
    /// SQL `DEALLOCATE name`, or `DEALLOCATE ALL` (None).
    Deallocate(Option<String>),
    /// SQL `DECLARE name CURSOR`.
    Declare {
        name: String,
        portal: Arc<Portal>,
    },
    /// SQL `CLOSE name`, or `CLOSE ALL` (None).
    CloseCursor(Option<String>),
    /// `DISCARD ALL`.
    DiscardAll,
    /// A simple Query, or the injected marker of a refusal: the target
    /// drops the unnamed statement before it parses anything.
    DropUnnamedStatement,
    /// A simple Query runs each statement in the unnamed portal.
    DropUnnamedPortal,
    /// Code the gateway cannot see into ran (a function, a procedure, a
    /// trigger): it may have opened or closed cursors by any name, so no
    /// portal is trusted after it.
    ForgetPortals,
}

/// What an [`Op`] says about one statement or portal name.
pub(crate) enum Effect<T> {
    /// The op does not touch the name.
    None,
    /// After the op the name holds this.
    Set(T),
    /// After the op the name is gone.
    Gone,
}

impl Op {
    pub fn on_statement(&self, name: &str) -> Effect<Arc<Prepared>> {
        match self {
            Op::Parse { name: n, prepared } | Op::SqlPrepare { name: n, prepared } if n == name => {
                Effect::Set(prepared.clone())
            }
            Op::CloseStatement(n) | Op::Deallocate(Some(n)) if n == name => Effect::Gone,
            Op::Deallocate(None) | Op::DiscardAll => Effect::Gone,
            Op::DropUnnamedStatement if name.is_empty() => Effect::Gone,
            _ => Effect::None,
        }
    }

    pub fn on_portal(&self, name: &str) -> Effect<Arc<Portal>> {
        match self {
            Op::Bind { name: n, portal } | Op::Declare { name: n, portal } if n == name => {
                Effect::Set(portal.clone())
            }
            Op::ClosePortal(n) | Op::CloseCursor(Some(n)) if n == name => Effect::Gone,
            Op::CloseCursor(None) | Op::DiscardAll | Op::ForgetPortals => Effect::Gone,
            Op::DropUnnamedPortal if name.is_empty() => Effect::Gone,
            _ => Effect::None,
        }
    }
}

/// Statements and portals the target confirmed, with the bytes they hold.
#[derive(Default)]
pub(crate) struct Names {
    statements: HashMap<String, Arc<Prepared>>,
    portals: HashMap<String, Arc<Portal>>,
    bytes: usize,
}

impl Prepared {
    /// What keeping it costs: its text and parameter types.
    pub fn size(&self) -> usize {
        self.facts.iter().map(|f| f.text.len()).sum::<usize>() + self.param_types.len()
    }
}

impl Portal {
    /// What keeping it costs: its parameters, and its statement (which a
    /// portal keeps alive after the statement is closed).
    pub fn size(&self) -> usize {
        self.params.len() + self.prepared.size()
    }
}

impl Names {
    pub fn statement(&self, name: &str) -> Option<Arc<Prepared>> {
        self.statements.get(name).cloned()
    }

    pub fn portal(&self, name: &str) -> Option<Arc<Portal>> {
        self.portals.get(name).cloned()
    }

    pub fn statement_count(&self) -> usize {
        self.statements.len()
    }

    pub fn portal_count(&self) -> usize {
        self.portals.len()
    }

    /// Bytes held by every confirmed statement and portal.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    fn set_statement(&mut self, name: &str, p: Option<Arc<Prepared>>) {
        let old = match p {
            Some(p) => {
                self.bytes += p.size();
                self.statements.insert(name.to_string(), p)
            }
            None => self.statements.remove(name),
        };
        if let Some(old) = old {
            self.bytes = self.bytes.saturating_sub(old.size());
        }
    }

    fn set_portal(&mut self, name: &str, p: Option<Arc<Portal>>) {
        let old = match p {
            Some(p) => {
                self.bytes += p.size();
                self.portals.insert(name.to_string(), p)
            }
            None => self.portals.remove(name),
        };
        if let Some(old) = old {
            self.bytes = self.bytes.saturating_sub(old.size());
        }
    }

    fn recount(&mut self) {
        self.bytes = self.statements.values().map(|p| p.size()).sum::<usize>()
            + self.portals.values().map(|p| p.size()).sum::<usize>();
    }

    /// Applies an op the target confirmed.
    pub fn apply(&mut self, op: &Op) {
        match op {
            Op::Parse { name, prepared } | Op::SqlPrepare { name, prepared } => {
                self.set_statement(name, Some(prepared.clone()));
            }
            Op::Bind { name, portal } | Op::Declare { name, portal } => {
                self.set_portal(name, Some(portal.clone()));
            }
            Op::CloseStatement(name) | Op::Deallocate(Some(name)) => {
                self.set_statement(name, None);
            }
            Op::Deallocate(None) => {
                self.statements.clear();
                self.recount();
            }
            Op::ClosePortal(name) | Op::CloseCursor(Some(name)) => {
                self.set_portal(name, None);
            }
            Op::CloseCursor(None) | Op::ForgetPortals => {
                self.portals.clear();
                self.recount();
            }
            Op::DiscardAll => {
                self.statements.clear();
                self.portals.clear();
                self.bytes = 0;
            }
            Op::DropUnnamedStatement => self.set_statement("", None),
            Op::DropUnnamedPortal => self.set_portal("", None),
        }
    }

    /// The target reported that no transaction is open: every portal but
    /// the holdable cursors is gone.
    pub fn end_transaction(&mut self) {
        if !self.portals.is_empty() {
            self.portals.retain(|_, p| p.holdable);
            self.recount();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prepared(text: &str) -> Arc<Prepared> {
        Arc::new(Prepared {
            facts: Arc::from(vec![SqlFacts {
                kind: "select".into(),
                text: text.into(),
                ..SqlFacts::default()
            }]),
            mask: None,
            param_types: Arc::from(Vec::new()),
            sql_level: false,
            ops: Vec::new(),
        })
    }

    fn portal(p: &Arc<Prepared>, holdable: bool) -> Arc<Portal> {
        Arc::new(Portal {
            prepared: p.clone(),
            formats: Formats::AllText,
            params: Bytes::new(),
            sql_level: false,
            holdable,
        })
    }

    fn text(p: &Option<Arc<Prepared>>) -> Option<&str> {
        p.as_ref().map(|p| p.facts[0].text.as_str())
    }

    #[test]
    fn confirmed_ops_change_names_in_order() {
        let mut names = Names::default();
        let a = prepared("a");
        names.apply(&Op::Parse {
            name: "s".into(),
            prepared: a.clone(),
        });
        names.apply(&Op::Bind {
            name: "p".into(),
            portal: portal(&a, false),
        });
        assert_eq!(text(&names.statement("s")), Some("a"));
        assert_eq!(
            names.bytes(),
            2,
            "the statement's text, once for it and once in the portal"
        );
        names.apply(&Op::Deallocate(None));
        assert!(names.statement("s").is_none());
        assert_eq!(names.bytes(), 1);
        assert!(names.portal("p").is_some(), "portals outlive statements");
        names.end_transaction();
        assert!(names.portal("p").is_none());
    }

    #[test]
    fn holdable_cursors_survive_the_transaction_and_discard_all_clears_them() {
        let mut names = Names::default();
        let a = prepared("a");
        names.apply(&Op::Declare {
            name: "c".into(),
            portal: portal(&a, true),
        });
        names.end_transaction();
        assert!(names.portal("c").is_some());
        names.apply(&Op::DiscardAll);
        assert!(names.portal("c").is_none());
    }

    #[test]
    fn effects_name_only_what_they_touch() {
        let a = prepared("a");
        let op = Op::Parse {
            name: "s".into(),
            prepared: a,
        };
        assert!(matches!(op.on_statement("s"), Effect::Set(_)));
        assert!(matches!(op.on_statement("t"), Effect::None));
        assert!(matches!(op.on_portal("s"), Effect::None));
        assert!(matches!(
            Op::DropUnnamedStatement.on_statement(""),
            Effect::Gone
        ));
        assert!(matches!(
            Op::DropUnnamedStatement.on_statement("s"),
            Effect::None
        ));
        assert!(matches!(Op::ForgetPortals.on_portal("x"), Effect::Gone));
    }
}
