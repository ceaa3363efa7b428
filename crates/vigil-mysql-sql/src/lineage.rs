//! Where each output column of a SELECT comes from, where the tree proves
//! it: a column named directly (`c`, `t.c`, `db.t.c`, with or without an
//! alias) of tables named in FROM. An unqualified column of a FROM with
//! several tables is attributed to every one of them (it comes from one of
//! them, so a rule on any masks it). Everything else (expressions over
//! columns, subqueries, derived tables, UNION) is unproven, which masks
//! the whole column when any column rule applies. A `*` is expanded by the
//! front-end from the column definitions the target sends, only for a
//! FROM of one named table.

use crate::probe::qualify;
use sqlparser::ast::{Expr, Query, SelectItem, SetExpr, Statement, TableFactor};

/// A source column: database, table, column (lower case).
pub type Source = (String, String, String);

/// What one output column's values come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    Sources(Vec<Source>),
    /// Expanded from a `*` over `(db, table)`: the target's column names
    /// (org_name) complete it.
    Star(String, String),
    Unproven(&'static str),
}

/// What the analysis proved about a statement's result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Lineage {
    /// One origin per output column until the first `*` (the rest follow
    /// the `*` or are unproven).
    Columns(Vec<Origin>),
    /// Not a query (writes, SET, ...): no rows expected.
    NoRows,
    /// SHOW, DESCRIBE: every column is the catalog's, none a table's data.
    Catalog,
    Unproven(&'static str),
}

pub(crate) fn of(stmt: &Statement, database: Option<&str>) -> Lineage {
    match stmt {
        Statement::Query(q) => query(q, database),
        Statement::Insert(_)
        | Statement::Update { .. }
        | Statement::Delete(_)
        | Statement::Set(_)
        | Statement::Use(_)
        | Statement::StartTransaction { .. }
        | Statement::Commit { .. }
        | Statement::Rollback { .. } => Lineage::NoRows,
        // SHOW and DESCRIBE answer from the catalog, not from table rows.
        Statement::ShowVariables { .. }
        | Statement::ShowVariable { .. }
        | Statement::ShowStatus { .. }
        | Statement::ShowColumns { .. }
        | Statement::ShowDatabases { .. }
        | Statement::ShowSchemas { .. }
        | Statement::ShowTables { .. }
        | Statement::ShowViews { .. }
        | Statement::ShowCollation { .. }
        | Statement::ShowCharset(_)
        | Statement::ExplainTable { .. } => Lineage::Catalog,
        _ => Lineage::Unproven("a statement whose result Vigil does not trace"),
    }
}

/// A FROM entry: its name in scope and the table it reads.
struct Scope {
    name: String,
    table: Option<(String, String)>,
}

fn query(q: &Query, database: Option<&str>) -> Lineage {
    let SetExpr::Select(select) = q.body.as_ref() else {
        return Lineage::Unproven("a set operation");
    };
    let mut scope = Vec::new();
    for t in &select.from {
        add_factor(&t.relation, database, &mut scope);
        for j in &t.joins {
            add_factor(&j.relation, database, &mut scope);
        }
    }
    let mut out = Vec::with_capacity(select.projection.len());
    for item in &select.projection {
        let origin = match item {
            SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => {
                expr(e, &scope)
            }
            SelectItem::Wildcard(_) => match scope.as_slice() {
                [
                    Scope {
                        table: Some((db, t)),
                        ..
                    },
                ] => Origin::Star(db.clone(), t.clone()),
                _ => Origin::Unproven("a * over several or derived tables"),
            },
            SelectItem::QualifiedWildcard(..) => Origin::Unproven("a qualified *"),
        };
        let star = matches!(origin, Origin::Star(..) | Origin::Unproven(_))
            && matches!(
                item,
                SelectItem::Wildcard(_) | SelectItem::QualifiedWildcard(..)
            );
        out.push(origin);
        if star {
            // Columns after a `*` cannot be numbered without the catalog.
            break;
        }
    }
    Lineage::Columns(out)
}

fn add_factor(factor: &TableFactor, database: Option<&str>, scope: &mut Vec<Scope>) {
    match factor {
        TableFactor::Table { name, alias, .. } => {
            let q = qualify(name, database);
            let (db, table) = match q.rsplit_once('.') {
                Some((db, t)) => (db.to_string(), t.to_string()),
                None => (String::new(), q.clone()),
            };
            let shown = alias
                .as_ref()
                .map(|a| a.name.value.to_lowercase())
                .unwrap_or_else(|| table.clone());
            scope.push(Scope {
                name: shown,
                table: Some((db, table)),
            });
        }
        TableFactor::NestedJoin {
            table_with_joins, ..
        } => {
            add_factor(&table_with_joins.relation, database, scope);
            for j in &table_with_joins.joins {
                add_factor(&j.relation, database, scope);
            }
        }
        TableFactor::Derived { alias, .. } => scope.push(Scope {
            name: alias
                .as_ref()
                .map(|a| a.name.value.to_lowercase())
                .unwrap_or_default(),
            table: None,
        }),
        _ => scope.push(Scope {
            name: String::new(),
            table: None,
        }),
    }
}

fn expr(e: &Expr, scope: &[Scope]) -> Origin {
    match e {
        Expr::Nested(inner) => expr(inner, scope),
        Expr::Value(_) => Origin::Sources(Vec::new()),
        Expr::Identifier(id) => {
            if id.value.starts_with("@@") {
                // A system variable: only a statement that is not read-only
                // can put table data in one (`set.rs`).
                return Origin::Sources(Vec::new());
            }
            if id.value.starts_with('@') {
                return Origin::Unproven("a user variable");
            }
            let column = id.value.to_lowercase();
            if scope.iter().any(|s| s.table.is_none()) {
                return Origin::Unproven("a column of a derived table");
            }
            Origin::Sources(
                scope
                    .iter()
                    .filter_map(|s| s.table.clone())
                    .map(|(db, t)| (db, t, column.clone()))
                    .collect(),
            )
        }
        Expr::CompoundIdentifier(ids) => {
            let p: Vec<String> = ids.iter().map(|i| i.value.to_lowercase()).collect();
            match p.as_slice() {
                [qual, column] => match scope.iter().find(|s| &s.name == qual) {
                    Some(Scope {
                        table: Some((db, t)),
                        ..
                    }) => Origin::Sources(vec![(db.clone(), t.clone(), column.clone())]),
                    _ => Origin::Unproven("a column of a derived or unknown table"),
                },
                [db, t, column] => Origin::Sources(vec![(db.clone(), t.clone(), column.clone())]),
                _ => Origin::Unproven("a compound name"),
            }
        }
        _ => {
            // An expression derives from every column it names (a masked
            // one among them masks the value); constants and functions of
            // no column derive from none. A subquery is not traced.
            let mut refs = ColumnRefs::default();
            let _ = sqlparser::ast::Visit::visit(e, &mut refs);
            if refs.subquery {
                return Origin::Unproven("an expression with a subquery");
            }
            let mut sources = Vec::new();
            for column in &refs.columns {
                match expr(column, scope) {
                    Origin::Sources(s) => sources.extend(s),
                    other => return other,
                }
            }
            sources.sort();
            sources.dedup();
            Origin::Sources(sources)
        }
    }
}

/// The columns an expression names, and whether it holds a subquery.
#[derive(Default)]
struct ColumnRefs {
    columns: Vec<Expr>,
    subquery: bool,
}

impl sqlparser::ast::Visitor for ColumnRefs {
    type Break = ();
    fn pre_visit_expr(&mut self, e: &Expr) -> std::ops::ControlFlow<()> {
        match e {
            Expr::Identifier(_) | Expr::CompoundIdentifier(_) => self.columns.push(e.clone()),
            Expr::Subquery(_) | Expr::Exists { .. } | Expr::InSubquery { .. } => {
                self.subquery = true
            }
            _ => {}
        }
        std::ops::ControlFlow::Continue(())
    }
    fn pre_visit_query(&mut self, _q: &Query) -> std::ops::ControlFlow<()> {
        self.subquery = true;
        std::ops::ControlFlow::Continue(())
    }
}
