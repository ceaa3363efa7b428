//! One pass over a statement's tree that collects what `read_only` needs:
//! every function called (each must be an allow-listed built-in), every
//! relation named, and any query shape that writes or locks (`SELECT ...
//! INTO`, `FOR UPDATE`, a data-modifying set expression, a table function).
//! Anything it does not recognise as harmless clears `read_only`.

use crate::functions;
use sqlparser::ast::{
    BinaryOperator, Expr, ObjectName, ObjectNamePart, Query, SetExpr, TableFactor, Visit, Visitor,
};
use std::ops::ControlFlow;

#[derive(Debug)]
pub(crate) struct Probe<'a> {
    /// The session's current database, for unqualified names.
    database: Option<&'a str>,
    pub(crate) read_only: bool,
    /// Why `read_only` was cleared (first reason).
    pub(crate) why: Option<String>,
    pub(crate) functions: Vec<String>,
    /// `db.table`, every relation named (written ones included).
    pub(crate) relations: Vec<String>,
    ctes: Vec<String>,
}

impl<'a> Probe<'a> {
    pub(crate) fn run(node: &impl Visit, database: Option<&'a str>) -> Probe<'a> {
        let mut probe = Probe {
            database,
            read_only: true,
            why: None,
            functions: Vec::new(),
            relations: Vec::new(),
            ctes: Vec::new(),
        };
        let _ = node.visit(&mut probe);
        probe
    }

    fn not_read_only(&mut self, why: impl Into<String>) {
        self.read_only = false;
        if self.why.is_none() {
            self.why = Some(why.into());
        }
    }

    /// `db.table` for a relation name as written.
    pub(crate) fn qualify(&self, name: &ObjectName) -> String {
        qualify(name, self.database)
    }
}

/// The parts of a name, lower case (MySQL table names are case-sensitive on
/// some systems; policy compares lower case).
pub(crate) fn parts(name: &ObjectName) -> Vec<String> {
    name.0
        .iter()
        .map(|p| match p {
            ObjectNamePart::Identifier(i) => i.value.to_lowercase(),
            ObjectNamePart::Function(f) => f.name.value.to_lowercase(),
        })
        .collect()
}

/// `db.table`: an unqualified name is in the session's current database.
pub(crate) fn qualify(name: &ObjectName, database: Option<&str>) -> String {
    let p = parts(name);
    match p.as_slice() {
        [table] => match database {
            Some(db) => format!("{}.{table}", db.to_lowercase()),
            None => table.clone(),
        },
        _ => p.join("."),
    }
}

impl Visitor for Probe<'_> {
    type Break = ();

    fn pre_visit_query(&mut self, query: &Query) -> ControlFlow<()> {
        if !query.locks.is_empty() {
            self.not_read_only("a locking clause");
        }
        if query.settings.is_some()
            || query.format_clause.is_some()
            || !query.pipe_operators.is_empty()
            || query.for_clause.is_some()
        {
            self.not_read_only("a query clause Vigil does not know");
        }
        if let Some(with) = &query.with {
            for cte in &with.cte_tables {
                self.ctes.push(cte.alias.name.value.to_lowercase());
            }
        }
        self.set_expr(&query.body);
        ControlFlow::Continue(())
    }

    fn pre_visit_table_factor(&mut self, factor: &TableFactor) -> ControlFlow<()> {
        match factor {
            TableFactor::Table { args: None, .. }
            | TableFactor::Derived { .. }
            | TableFactor::NestedJoin { .. }
            | TableFactor::JsonTable { .. } => {}
            TableFactor::Table { args: Some(_), .. } => self.not_read_only("a table function"),
            _ => self.not_read_only("a FROM item Vigil does not know"),
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_relation(&mut self, relation: &ObjectName) -> ControlFlow<()> {
        let p = parts(relation);
        if let [single] = p.as_slice()
            && self.ctes.contains(single)
        {
            return ControlFlow::Continue(());
        }
        let q = self.qualify(relation);
        if !self.relations.contains(&q) {
            self.relations.push(q);
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_expr(&mut self, expr: &Expr) -> ControlFlow<()> {
        match expr {
            Expr::Function(f) => {
                let p = parts(&f.name);
                let name = p.join(".");
                if !(p.len() == 1 && functions::is_read_only(&name)) {
                    self.not_read_only(format!("function {name} may write or is unknown"));
                }
                if !self.functions.contains(&name) {
                    self.functions.push(name);
                }
            }
            Expr::BinaryOp {
                op: BinaryOperator::Assignment,
                ..
            } => self.not_read_only("a variable assignment"),
            _ => {}
        }
        ControlFlow::Continue(())
    }
}

impl Probe<'_> {
    fn set_expr(&mut self, body: &SetExpr) {
        match body {
            SetExpr::Select(select) => {
                if select.into.is_some() {
                    self.not_read_only("SELECT ... INTO");
                }
                if select.top.is_some()
                    || !select.lateral_views.is_empty()
                    || select.prewhere.is_some()
                    || select.connect_by.is_some()
                {
                    self.not_read_only("a SELECT clause Vigil does not know");
                }
            }
            SetExpr::Query(q) => self.set_expr(&q.body),
            SetExpr::SetOperation { left, right, .. } => {
                self.set_expr(left);
                self.set_expr(right);
            }
            SetExpr::Values(_) | SetExpr::Table(_) => {}
            _ => self.not_read_only("a data-modifying query"),
        }
    }
}
