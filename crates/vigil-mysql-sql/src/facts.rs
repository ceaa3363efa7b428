//! One parsed statement into the `sql.*` facts policy reads. `read_only` is
//! an allow-list: only the statement kinds below can be read-only, and only
//! when the [`Probe`] found nothing that writes.

use crate::probe::{Probe, parts, qualify};
use crate::set::{self, SetFacts};
use crate::{Effect, SqlFacts};
use sqlparser::ast::{FromTable, ObjectName, ObjectType, Statement, TableFactor, TableObject, Use};

/// Facts of `stmt`, whose text is `text`; `database` is the session's current one.
pub(crate) fn statement(
    stmt: &Statement,
    text: &str,
    normalized: &str,
    database: Option<&str>,
) -> (SqlFacts, Effect) {
    let probe = Probe::run(stmt, database);
    let mut facts = SqlFacts {
        text: text.to_string(),
        functions: probe.functions.clone(),
        ..SqlFacts::default()
    };
    let mut effect = Effect::None;
    let mut written: Vec<String> = Vec::new();
    let read_only_kind = match stmt {
        Statement::Query(q) => {
            facts.kind = "select".into();
            facts.has_where = query_has_where(q);
            true
        }
        Statement::ShowVariables { .. }
        | Statement::ShowVariable { .. }
        | Statement::ShowStatus { .. }
        | Statement::ShowCreate { .. }
        | Statement::ShowColumns { .. }
        | Statement::ShowDatabases { .. }
        | Statement::ShowSchemas { .. }
        | Statement::ShowTables { .. }
        | Statement::ShowViews { .. }
        | Statement::ShowCollation { .. }
        | Statement::ShowCharset(_)
        | Statement::ShowFunctions { .. } => {
            facts.kind = "show".into();
            true
        }
        Statement::ExplainTable { .. } => {
            facts.kind = "describe".into();
            true
        }
        Statement::Explain {
            analyze, statement, ..
        } => {
            facts.kind = "explain".into();
            // Plain EXPLAIN runs nothing; ANALYZE runs the statement.
            !*analyze || matches!(**statement, Statement::Query(_))
        }
        Statement::Use(u) => {
            facts.kind = "use".into();
            match use_database(u) {
                Some(db) => {
                    effect = Effect::Database(db);
                    true
                }
                None => false,
            }
        }
        Statement::StartTransaction { .. } => {
            facts.kind = "begin".into();
            true
        }
        Statement::Commit { .. } => {
            facts.kind = "commit".into();
            true
        }
        Statement::Rollback { .. } => {
            facts.kind = "rollback".into();
            true
        }
        Statement::Savepoint { .. } | Statement::ReleaseSavepoint { .. } => {
            facts.kind = "savepoint".into();
            true
        }
        Statement::Set(s) => {
            facts.kind = "set".into();
            let SetFacts {
                settings,
                read_only,
                lexing,
            } = set::facts(s, normalized);
            facts.settings = settings;
            if lexing {
                effect = Effect::Lexing;
            }
            read_only
        }
        Statement::Insert(i) => {
            facts.kind = if i.replace_into { "replace" } else { "insert" }.into();
            facts.writes = true;
            if let TableObject::TableName(name) = &i.table {
                written.push(qualify(name, database));
            }
            false
        }
        Statement::Update {
            table, selection, ..
        } => {
            facts.kind = "update".into();
            facts.writes = true;
            facts.has_where = selection.is_some();
            if let TableFactor::Table { name, .. } = &table.relation {
                written.push(qualify(name, database));
            }
            for j in &table.joins {
                if let TableFactor::Table { name, .. } = &j.relation {
                    written.push(qualify(name, database));
                }
            }
            false
        }
        Statement::Delete(d) => {
            facts.kind = "delete".into();
            facts.writes = true;
            facts.has_where = d.selection.is_some();
            let from = match &d.from {
                FromTable::WithFromKeyword(t) | FromTable::WithoutKeyword(t) => t,
            };
            if d.tables.is_empty() {
                for t in from {
                    if let TableFactor::Table { name, .. } = &t.relation {
                        written.push(qualify(name, database));
                    }
                }
            } else {
                written.extend(d.tables.iter().map(|n| qualify(n, database)));
            }
            false
        }
        Statement::Truncate { table_names, .. } => {
            facts.kind = "truncate".into();
            facts.writes = true;
            written.extend(table_names.iter().map(|t| qualify(&t.name, database)));
            false
        }
        Statement::LoadData { .. } => {
            facts.kind = "load_data".into();
            facts.writes = true;
            false
        }
        other => {
            let (kind, ddl) = other_kind(other);
            facts.kind = kind.into();
            facts.ddl = ddl;
            facts.writes = ddl;
            written.extend(ddl_targets(other).into_iter().map(|n| qualify(n, database)));
            false
        }
    };
    facts.read_only = read_only_kind && probe.read_only && !facts.writes;
    facts.tables_written = written.clone();
    facts.tables_read = probe
        .relations
        .iter()
        .filter(|r| !written.contains(r))
        .cloned()
        .collect();
    if matches!(facts.kind.as_str(), "describe" | "show") && facts.tables_read.is_empty() {
        facts.tables_read = probe.relations.clone();
    }
    (facts, effect)
}

fn query_has_where(q: &sqlparser::ast::Query) -> bool {
    match q.body.as_ref() {
        sqlparser::ast::SetExpr::Select(s) => s.selection.is_some(),
        _ => false,
    }
}

fn use_database(u: &Use) -> Option<String> {
    let name: &ObjectName = match u {
        Use::Object(n) | Use::Database(n) | Use::Schema(n) => n,
        _ => return None,
    };
    let p = parts(name);
    match p.as_slice() {
        [db] => Some(db.clone()),
        _ => None,
    }
}

/// The tables and views a DDL statement creates, changes or drops: they are
/// written (`"shop.customers" in sql.tables_written` holds for `DROP TABLE
/// customers`, as `"public.customers"` does for PostgreSQL).
fn ddl_targets(stmt: &Statement) -> Vec<&ObjectName> {
    match stmt {
        Statement::Drop {
            object_type: ObjectType::Table | ObjectType::View,
            names,
            ..
        } => names.iter().collect(),
        // MySQL's `DROP INDEX i ON t` changes `t`.
        Statement::Drop {
            table: Some(table), ..
        } => vec![table],
        Statement::CreateTable(c) => vec![&c.name],
        Statement::CreateView { name, .. }
        | Statement::AlterView { name, .. }
        | Statement::AlterTable { name, .. } => vec![name],
        Statement::CreateIndex(i) => vec![&i.table_name],
        Statement::RenameTable(r) => r.iter().flat_map(|r| [&r.old_name, &r.new_name]).collect(),
        _ => Vec::new(),
    }
}

/// The kind name and whether it is DDL, for statements that are never read-only.
fn other_kind(stmt: &Statement) -> (&'static str, bool) {
    match stmt {
        Statement::CreateTable(_) => ("create_table", true),
        Statement::CreateView { .. } => ("create_view", true),
        Statement::CreateIndex(_) => ("create_index", true),
        Statement::CreateDatabase { .. } | Statement::CreateSchema { .. } => {
            ("create_database", true)
        }
        Statement::CreateFunction(_) => ("create_function", true),
        Statement::CreateProcedure { .. } => ("create_procedure", true),
        Statement::CreateTrigger(_) => ("create_trigger", true),
        Statement::CreateSequence { .. } => ("create_sequence", true),
        Statement::CreateUser(_) | Statement::CreateRole { .. } => ("create_user", true),
        Statement::AlterTable { .. } => ("alter_table", true),
        Statement::AlterView { .. } => ("alter_view", true),
        Statement::AlterRole { .. } => ("alter_user", true),
        Statement::Drop { .. }
        | Statement::DropFunction { .. }
        | Statement::DropProcedure { .. }
        | Statement::DropTrigger(_) => ("drop", true),
        Statement::RenameTable(_) => ("rename_table", true),
        Statement::Grant { .. } => ("grant", true),
        Statement::Revoke { .. } => ("revoke", true),
        Statement::Call(_) => ("call", false),
        Statement::Prepare { .. } => ("prepare", false),
        Statement::Execute { .. } => ("execute", false),
        Statement::Deallocate { .. } => ("deallocate", false),
        Statement::LockTables { .. } => ("lock_tables", false),
        Statement::UnlockTables => ("unlock_tables", false),
        Statement::Kill { .. } => ("kill", false),
        Statement::Flush { .. } => ("flush", false),
        Statement::OptimizeTable { .. } => ("optimize", false),
        Statement::Analyze { .. } => ("analyze", false),
        Statement::Install { .. } => ("install", true),
        Statement::Merge { .. } => ("merge", false),
        _ => ("other", false),
    }
}
