//! Turns one top-level statement into its `SqlFacts`.
//!
//! `read_only` starts true in the walker and is only ever lowered; this file
//! lowers it for every statement kind that is not on the read-only allowlist.

use pg_query::NodeEnum;
use pg_query::protobuf::{
    CopyStmt, DefElem, DiscardMode, ExplainStmt, Node, ObjectType, TransactionStmtKind,
    VariableSetKind, VariableSetStmt,
};

use crate::walk::{Walked, Walker};
use crate::{AnalysisError, Catalog, SqlFacts, kind, settings};

/// The shape of a statement once walked.
struct Shape {
    kind: String,
    has_where: bool,
}

/// Analyses one statement node; `text` is its own text.
pub(crate) fn statement(
    node: &NodeEnum,
    text: &str,
    catalog: &Catalog,
) -> Result<SqlFacts, AnalysisError> {
    let mut w = Walker::new(catalog);
    let shape = walk_statement(&mut w, node)?;
    if w.needs_catalog && !catalog.is_loaded() {
        return Err(AnalysisError::CatalogNotLoaded);
    }
    Ok(SqlFacts {
        kind: shape.kind,
        read_only: w.read_only,
        writes: w.writes,
        ddl: w.ddl,
        has_where: shape.has_where,
        tables_read: sorted(w.tables_read),
        tables_written: sorted(w.tables_written),
        functions: sorted(w.functions),
        settings: sorted(w.settings),
        text: text.to_owned(),
    })
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort_unstable();
    v.dedup();
    v
}

fn shape(kind: &str, has_where: bool) -> Result<Shape, AnalysisError> {
    Ok(Shape {
        kind: kind.to_owned(),
        has_where,
    })
}

fn walk_statement(w: &mut Walker<'_>, node: &NodeEnum) -> Result<Shape, AnalysisError> {
    use NodeEnum as N;
    match node {
        N::SelectStmt(s) => {
            w.select(s)?;
            let kind = if s.into_clause.is_some() {
                "select_into"
            } else {
                "select"
            };
            shape(kind, s.where_clause.is_some())
        }
        N::InsertStmt(s) => {
            w.insert(s)?;
            shape("insert", false)
        }
        N::UpdateStmt(s) => {
            w.update(s)?;
            shape("update", s.where_clause.is_some())
        }
        N::DeleteStmt(s) => {
            w.delete(s)?;
            shape("delete", s.where_clause.is_some())
        }
        N::MergeStmt(s) => {
            w.merge(s)?;
            shape("merge", false)
        }
        N::CopyStmt(c) => {
            copy(w, c)?;
            shape("copy", false)
        }
        N::ExplainStmt(e) => explain(w, e),
        N::CreateTableAsStmt(c) => {
            w.ddl = true;
            w.writes = true;
            w.unsafe_();
            if let Some(rel) = c.into.as_ref().and_then(|i| i.rel.as_ref()) {
                w.write_relation(rel);
            }
            let inner = query(w, c.query.as_deref())?;
            let kind = match ObjectType::try_from(c.objtype) {
                Ok(ObjectType::ObjectMatview) => "create_materialized_view",
                _ if c.is_select_into => "select_into",
                _ => "create_table_as",
            };
            shape(kind, inner.is_some_and(|s| s.has_where))
        }
        N::DeclareCursorStmt(d) => {
            // A cursor runs its query on FETCH: it is as read-only as the query.
            let inner = query(w, d.query.as_deref())?;
            shape("declare", inner.is_some_and(|s| s.has_where))
        }
        N::PrepareStmt(p) => {
            // Preparing runs nothing, but EXECUTE is refused as opaque, so the
            // decision is taken here: as read-only as the prepared statement.
            let inner = query(w, p.query.as_deref())?;
            shape("prepare", inner.is_some_and(|s| s.has_where))
        }
        N::VariableSetStmt(v) => set(w, v),
        N::VariableShowStmt(_) => shape("show", false),
        N::TransactionStmt(t) => {
            let (kind, safe) = match TransactionStmtKind::try_from(t.kind) {
                // `READ WRITE` lifts a read-only default the role may carry.
                Ok(TransactionStmtKind::TransStmtBegin | TransactionStmtKind::TransStmtStart) => {
                    ("begin", settings::begin_options_harmless(&t.options))
                }
                Ok(TransactionStmtKind::TransStmtCommit) => ("commit", true),
                Ok(TransactionStmtKind::TransStmtRollback) => ("rollback", true),
                Ok(TransactionStmtKind::TransStmtSavepoint) => ("savepoint", true),
                Ok(TransactionStmtKind::TransStmtRelease) => ("release", true),
                Ok(TransactionStmtKind::TransStmtRollbackTo) => ("rollback", true),
                // Two-phase commit acts on transactions other sessions left behind.
                Ok(TransactionStmtKind::TransStmtPrepare) => ("prepare_transaction", false),
                Ok(TransactionStmtKind::TransStmtCommitPrepared) => ("commit_prepared", false),
                Ok(TransactionStmtKind::TransStmtRollbackPrepared) => ("rollback_prepared", false),
                _ => ("transaction", false),
            };
            if !safe {
                w.unsafe_();
            }
            shape(kind, false)
        }
        N::FetchStmt(f) => shape(if f.ismove { "move" } else { "fetch" }, false),
        N::ClosePortalStmt(_) => shape("close", false),
        N::ListenStmt(_) => shape("listen", false),
        N::UnlistenStmt(_) => shape("unlisten", false),
        N::DeallocateStmt(_) => shape("deallocate", false),
        N::DiscardStmt(d) => {
            // PLANS and SEQUENCES drop caches; ALL also resets every setting
            // (and the role's read-only default with them), TEMP drops tables.
            match DiscardMode::try_from(d.target) {
                Ok(DiscardMode::DiscardPlans | DiscardMode::DiscardSequences) => {}
                Ok(DiscardMode::DiscardAll) => {
                    w.settings.push("all".to_owned());
                    w.unsafe_();
                }
                _ => w.unsafe_(),
            }
            shape("discard", false)
        }
        other => {
            let (kind, ddl) = kind::utility(other);
            w.unsafe_();
            w.ddl = ddl;
            utility_effects(w, other)?;
            if kind == "unknown" {
                Ok(Shape {
                    kind: snake_name(other),
                    has_where: false,
                })
            } else {
                shape(kind, false)
            }
        }
    }
}

/// Walks the query of EXPLAIN, DECLARE, PREPARE, CREATE TABLE AS, ...
fn query(w: &mut Walker<'_>, q: Option<&Node>) -> Result<Option<Shape>, AnalysisError> {
    match q.and_then(|n| n.node.as_ref()) {
        Some(inner) => walk_statement(w, inner).map(Some),
        None => Ok(None),
    }
}

fn copy(w: &mut Walker<'_>, c: &CopyStmt) -> Walked {
    if c.is_from {
        w.writes = true;
        w.unsafe_();
        if let Some(rel) = &c.relation {
            w.write_relation(rel);
        }
        w.opt(c.where_clause.as_deref())?;
    } else {
        if let Some(rel) = &c.relation {
            w.read_relation(rel);
        }
        query(w, c.query.as_deref())?;
    }
    if c.is_program || !c.filename.is_empty() {
        // The server reads or writes its own files, or runs a program.
        w.unsafe_();
    }
    Ok(())
}

fn explain(w: &mut Walker<'_>, e: &ExplainStmt) -> Result<Shape, AnalysisError> {
    let analyze = e.options.iter().any(|o| match &o.node {
        Some(NodeEnum::DefElem(d)) => d.defname == "analyze" && option_is_on(d),
        _ => false,
    });
    let (ro, writes, ddl) = (w.read_only, w.writes, w.ddl);
    let inner = query(w, e.query.as_deref())?;
    if !analyze {
        // Plain EXPLAIN plans and executes nothing; what it would touch is still reported.
        w.read_only = ro;
        w.writes = writes;
        w.ddl = ddl;
        let written = std::mem::take(&mut w.tables_written);
        w.tables_read.extend(written);
    }
    shape("explain", inner.is_some_and(|s| s.has_where))
}

/// Whether an EXPLAIN option is switched on; anything but a clear "off" counts as on.
fn option_is_on(d: &DefElem) -> bool {
    match d.arg.as_deref().and_then(|n| n.node.as_ref()) {
        None => true,
        Some(NodeEnum::String(s)) => !matches!(
            s.sval.to_ascii_lowercase().as_str(),
            "false" | "off" | "0" | "no"
        ),
        Some(NodeEnum::Integer(i)) => i.ival != 0,
        Some(NodeEnum::Boolean(b)) => b.boolval,
        Some(_) => true,
    }
}

/// SET, SET LOCAL, RESET: read-only only for the allow-listed settings of
/// [`settings`]; any other is a change of server settings (not a write of data).
fn set(w: &mut Walker<'_>, v: &VariableSetStmt) -> Result<Shape, AnalysisError> {
    let reset = matches!(
        VariableSetKind::try_from(v.kind),
        Ok(VariableSetKind::VarReset | VariableSetKind::VarResetAll)
    );
    record_set(w, v);
    // SET arguments are constants by grammar: nothing in them can run.
    shape(if reset { "reset" } else { "set" }, false)
}

fn record_set(w: &mut Walker<'_>, v: &VariableSetStmt) {
    let effect = settings::variable_set(v);
    if !effect.harmless {
        w.unsafe_();
    }
    w.settings.extend(effect.settings);
}

/// Tables and functions named by statements that are never read-only.
fn utility_effects(w: &mut Walker<'_>, node: &NodeEnum) -> Walked {
    use NodeEnum as N;
    match node {
        N::TruncateStmt(t) => {
            w.writes = true;
            for rel in relations(&t.relations) {
                w.write_relation(rel);
            }
        }
        N::RefreshMatViewStmt(r) => {
            w.writes = true;
            if let Some(rel) = &r.relation {
                w.write_relation(rel);
            }
        }
        N::CreateStmt(c) => {
            if let Some(rel) = &c.relation {
                w.write_relation(rel);
            }
        }
        N::CreateForeignTableStmt(c) => {
            if let Some(rel) = c.base_stmt.as_ref().and_then(|b| b.relation.as_ref()) {
                w.write_relation(rel);
            }
        }
        N::AlterTableStmt(a) => {
            if let Some(rel) = &a.relation {
                w.write_relation(rel);
            }
        }
        N::IndexStmt(i) => {
            if let Some(rel) = &i.relation {
                w.write_relation(rel);
            }
        }
        N::ViewStmt(v) => {
            if let Some(rel) = &v.view {
                w.write_relation(rel);
            }
            w.opt(v.query.as_deref())?;
        }
        N::RenameStmt(r) => {
            if let Some(rel) = &r.relation {
                w.write_relation(rel);
            }
        }
        N::DropStmt(d) => drop_targets(w, d.remove_type, &d.objects),
        N::LockStmt(l) => w.list(&l.relations)?,
        N::VacuumStmt(v) => {
            for rel in &v.rels {
                if let Some(NodeEnum::VacuumRelation(vr)) = &rel.node
                    && let Some(r) = &vr.relation
                {
                    w.write_relation(r);
                }
            }
        }
        N::CallStmt(c) => {
            if let Some(f) = &c.funccall {
                w.func_call(f)?;
            }
        }
        N::ExecuteStmt(e) => w.list(&e.params)?,
        // Server-wide, per-role and per-database settings: named for policy.
        N::AlterSystemStmt(a) => {
            if let Some(v) = &a.setstmt {
                record_set(w, v);
            }
        }
        N::AlterRoleSetStmt(a) => {
            if let Some(v) = &a.setstmt {
                record_set(w, v);
            }
        }
        N::AlterDatabaseSetStmt(a) => {
            if let Some(v) = &a.setstmt {
                record_set(w, v);
            }
        }
        _ => {}
    }
    Ok(())
}

fn relations(nodes: &[Node]) -> impl Iterator<Item = &pg_query::protobuf::RangeVar> {
    nodes.iter().filter_map(|n| match &n.node {
        Some(NodeEnum::RangeVar(r)) => Some(r),
        _ => None,
    })
}

/// DROP TABLE / VIEW / MATERIALIZED VIEW / FOREIGN TABLE: the dropped relations are written.
fn drop_targets(w: &mut Walker<'_>, remove_type: i32, objects: &[Node]) {
    let relation_like = matches!(
        ObjectType::try_from(remove_type),
        Ok(ObjectType::ObjectTable
            | ObjectType::ObjectView
            | ObjectType::ObjectMatview
            | ObjectType::ObjectForeignTable)
    );
    if !relation_like {
        return;
    }
    for o in objects {
        if let Some(NodeEnum::List(l)) = &o.node {
            let names: Vec<&str> = l
                .items
                .iter()
                .filter_map(|i| match &i.node {
                    Some(NodeEnum::String(s)) => Some(s.sval.as_str()),
                    _ => None,
                })
                .collect();
            let name = match names.as_slice() {
                [table] => format!("public.{table}"),
                [.., schema, table] => format!("{schema}.{table}"),
                [] => continue,
            };
            w.tables_written.push(name);
        }
    }
}

/// `snake_case` of a node's variant name without its `Stmt` suffix, for
/// statements this crate has no name for yet.
fn snake_name(node: &NodeEnum) -> String {
    let debug = format!("{node:?}");
    let variant = debug.split('(').next().unwrap_or("unknown");
    let variant = variant.strip_suffix("Stmt").unwrap_or(variant);
    let mut out = String::with_capacity(variant.len() + 4);
    for (i, c) in variant.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}
