//! Output column lineage: for each column a statement returns, which
//! base-table columns its value may derive from. The gateway masks an output
//! column when any of them is masked, and masks it whole when the lineage is
//! [`ColumnLineage::Unknown`] (invariant 3: nothing masked reaches the client
//! by any route).
//!
//! The analysis fails closed: anything it cannot follow (a user-defined
//! function, an unknown expression kind, a relation the catalog does not
//! know, a `*` it cannot count) makes the column `Unknown`, never `Derived`.
//! `Derived(∅)` is given only to values provably not read from any table
//! (constants, parameters, `now()`, `count(*)`, ...).
//!
//! What counts as "deriving": every argument of an expression, including the
//! conditions of `CASE` and the operands of comparisons (a computed boolean is
//! a projection of its inputs). What does not: `WHERE`, `GROUP BY`, `HAVING`,
//! `ORDER BY`, `JOIN ... ON`, `LIMIT`, and their counterparts inside
//! aggregates and windows (`FILTER`, `ORDER BY`, `PARTITION BY`): they choose
//! or order rows, they do not put values in them.
//!
//! Known limits (each documented where it is handled): a trigger can change
//! what `RETURNING` returns; an implicit cast inserted by the server runs code
//! the text does not show (only casts by a function outside `pg_catalog`
//! could read tables, and explicit ones are `Unknown`).

mod cache;
mod dml;
mod expr;
mod from;
mod scope;
mod stmt;
mod tables;
mod views;

use std::collections::BTreeSet;

pub use cache::LineageCache;
pub(crate) use tables::LineageCatalog;
pub(crate) use views::resolve_views;

use crate::{AnalysisError, Catalog};

/// A column of a table, view, materialized view or foreign table, as
/// PostgreSQL names it (unquoted identifiers folded to lower case).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct QualifiedColumn {
    pub schema: String,
    pub table: String,
    pub column: String,
}

impl QualifiedColumn {
    pub fn new(schema: &str, table: &str, column: &str) -> QualifiedColumn {
        QualifiedColumn {
            schema: schema.to_owned(),
            table: table.to_owned(),
            column: column.to_owned(),
        }
    }
}

impl std::fmt::Display for QualifiedColumn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}.{}", self.schema, self.table, self.column)
    }
}

/// Where one output column's value comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ColumnLineage {
    /// The value derives only from these base-table columns (empty: a
    /// constant or something not read from any table, e.g. `now()`,
    /// `count(*)`). A column read through a view lists both the view's column
    /// and the columns the view reads it from.
    Derived(BTreeSet<QualifiedColumn>),
    /// Lineage could not be proven; the gateway masks the whole column if any
    /// mask rule could apply. The string says why (for the ledger).
    Unknown(String),
}

impl ColumnLineage {
    /// A value read from no table.
    pub fn constant() -> ColumnLineage {
        ColumnLineage::Derived(BTreeSet::new())
    }

    /// A value read from one column.
    pub fn column(c: QualifiedColumn) -> ColumnLineage {
        ColumnLineage::Derived(BTreeSet::from([c]))
    }

    pub fn unknown(why: impl Into<String>) -> ColumnLineage {
        ColumnLineage::Unknown(why.into())
    }

    /// Whether the lineage could not be proven.
    pub fn is_unknown(&self) -> bool {
        matches!(self, ColumnLineage::Unknown(_))
    }

    /// Adds `other`'s sources: a value computed from both. Unknown wins (the
    /// first reason is kept).
    pub fn absorb(&mut self, other: &ColumnLineage) {
        match (&mut *self, other) {
            (ColumnLineage::Unknown(_), _) => {}
            (ColumnLineage::Derived(_), ColumnLineage::Unknown(why)) => {
                *self = ColumnLineage::Unknown(why.clone());
            }
            (ColumnLineage::Derived(mine), ColumnLineage::Derived(theirs)) => {
                mine.extend(theirs.iter().cloned());
            }
        }
    }

    /// `self` and `other` combined (see [`absorb`](Self::absorb)).
    pub fn union(mut self, other: &ColumnLineage) -> ColumnLineage {
        self.absorb(other);
        self
    }
}

/// The lineage of every column a statement returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputLineage {
    /// One entry per output column, in the order of the RowDescription.
    pub columns: Vec<ColumnLineage>,
    /// `Some(why)` when the statement may return more columns than
    /// `columns` lists and the analysis cannot count them (a `*` over a
    /// relation the catalog does not know, `FETCH`, `EXECUTE`, `CALL`...):
    /// every column at or past `columns.len()` is Unknown for that reason.
    /// Use [`column`](Self::column), which applies this rule.
    pub rest: Option<String>,
}

impl OutputLineage {
    /// The lineage of output column `index` (0-based). Past the columns the
    /// analysis knows about it is Unknown: the gateway must never treat a
    /// column it has no lineage for as harmless.
    pub fn column(&self, index: usize) -> ColumnLineage {
        match self.columns.get(index) {
            Some(c) => c.clone(),
            None => ColumnLineage::Unknown(self.rest.clone().unwrap_or_else(|| {
                "more columns than the statement was analysed to return".to_owned()
            })),
        }
    }
}

/// Lineage of the output of ONE statement's text (as in `SqlFacts.text`).
///
/// `Ok(None)` when the statement returns no rows (INSERT without RETURNING,
/// SET, SELECT INTO, CREATE TABLE AS, COPY FROM, COPY TO a server file, DDL,
/// ...). Statements whose output cannot be known from their text (`FETCH`,
/// `EXECUTE`, `CALL`, and any statement kind this module does not list) give
/// `Some` with no columns and `rest` set: every column they return is Unknown.
///
/// `COPY ... TO STDOUT` is handled here too: its lineage is that of the
/// copied columns, in order (`COPY t`, `COPY t (a, b)`, `COPY (query)`).
///
/// Errors are [`analyze`](crate::analyze)'s (the text must parse; nesting is
/// bounded by [`MAX_DEPTH`](crate::MAX_DEPTH)); text holding more than one
/// statement is refused, and so is every statement when the catalog is not
/// loaded ([`AnalysisError::CatalogNotLoaded`]).
pub fn output_lineage(
    sql: &str,
    catalog: &Catalog,
) -> Result<Option<OutputLineage>, AnalysisError> {
    if sql.len() > crate::MAX_SQL_LEN {
        return Err(AnalysisError::TooLong);
    }
    if !catalog.is_loaded() {
        // Without a catalog no lineage is provable: the caller masks whole.
        return Err(AnalysisError::CatalogNotLoaded);
    }
    crate::with_stack(sql.len(), || {
        let parsed = crate::parse(sql)?;
        let mut nodes = parsed
            .stmts
            .iter()
            .filter_map(|raw| raw.stmt.as_ref().and_then(|s| s.node.as_ref()));
        let Some(node) = nodes.next() else {
            return Ok(None);
        };
        if nodes.next().is_some() {
            return Err(AnalysisError::Parse(
                "output lineage is computed for one statement at a time".to_owned(),
            ));
        }
        let mut analyzer = scope::Analyzer::new(catalog, catalog.lineage().views());
        stmt::statement(&mut analyzer, node)
    })
}
