//! Name resolution: the relations a query level can see, and what a column
//! reference (`email`, `c.email`, `s.t.email`, `c`, `c.*`) reads.

use std::collections::BTreeSet;

use pg_query::NodeEnum;
use pg_query::protobuf::Node;

use super::tables::{RelKey, ViewMap};
use super::{ColumnLineage, QualifiedColumn};
use crate::{AnalysisError, Catalog, MAX_DEPTH};

pub(crate) type Res<T> = Result<T, AnalysisError>;

/// Node visits one statement may cost: recursive CTEs are re-evaluated up to
/// a fixpoint, and nested ones multiply, so the total is bounded (a 1 MiB
/// statement has fewer nodes than this). Past it the statement is refused as
/// too deep to analyse.
const MAX_WORK: usize = 1_000_000;

/// System columns every table has: they hold no user data.
const SYSTEM_COLUMNS: &[&str] = &["ctid", "xmin", "xmax", "cmin", "cmax", "tableoid"];

/// The columns of a relation-like thing (table, view, subquery, CTE, function).
#[derive(Debug, Clone)]
pub(crate) struct Rel {
    /// Known columns, in order: name and lineage.
    pub cols: Vec<(String, ColumnLineage)>,
    /// Columns past `cols`, whose number is not known.
    pub tail: Tail,
}

#[derive(Debug, Clone)]
pub(crate) enum Tail {
    /// `cols` is every column.
    None,
    /// There may be more columns, of any name, each with this lineage.
    Any(ColumnLineage),
}

impl Rel {
    pub(crate) fn known(cols: Vec<(String, ColumnLineage)>) -> Rel {
        Rel {
            cols,
            tail: Tail::None,
        }
    }

    /// A relation whose columns are all unknown.
    pub(crate) fn opaque(why: impl Into<String>) -> Rel {
        Rel {
            cols: Vec::new(),
            tail: Tail::Any(ColumnLineage::Unknown(why.into())),
        }
    }

    /// What column `name` reads, or `None` when the relation surely has no such column.
    pub(crate) fn column(&self, name: &str) -> Option<ColumnLineage> {
        let mut found: Option<ColumnLineage> = None;
        for (n, l) in &self.cols {
            if n == name {
                match &mut found {
                    Some(f) => f.absorb(l),
                    None => found = Some(l.clone()),
                }
            }
        }
        if found.is_some() {
            return found;
        }
        match &self.tail {
            Tail::None => None,
            Tail::Any(l) => Some(l.clone()),
        }
    }

    /// Whether `name` is surely a column (not only possibly, through the tail).
    pub(crate) fn has(&self, name: &str) -> bool {
        self.cols.iter().any(|(n, _)| n == name)
    }

    /// The whole row as one value (`SELECT c FROM customers c`, `row_to_json(c)`).
    pub(crate) fn whole_row(&self) -> ColumnLineage {
        let mut out = ColumnLineage::constant();
        for (_, l) in &self.cols {
            out.absorb(l);
        }
        match &self.tail {
            Tail::None => {}
            Tail::Any(l) => out.absorb(l),
        }
        out
    }

    /// The columns of `*`, and why the list is incomplete when it is.
    pub(crate) fn expand(&self) -> (Vec<(String, ColumnLineage)>, Option<String>) {
        let why = match &self.tail {
            Tail::None => None,
            Tail::Any(ColumnLineage::Unknown(why)) => Some(why.clone()),
            Tail::Any(_) => Some("the number of columns is not known".to_owned()),
        };
        (self.cols.clone(), why)
    }

    /// Renames the first columns (`AS alias(a, b)`).
    pub(crate) fn rename(&mut self, names: &[Node]) {
        for (col, name) in self.cols.iter_mut().zip(names) {
            if let Some(NodeEnum::String(s)) = &name.node {
                col.0 = s.sval.clone();
            }
        }
    }

    /// Every column, known or not, combined.
    pub(crate) fn all(&self) -> ColumnLineage {
        self.whole_row()
    }
}

/// One FROM item as the query sees it.
#[derive(Debug, Clone)]
pub(crate) struct Item {
    /// Its reference name: the alias, else the relation or function name.
    pub name: String,
    /// The schema, for an unaliased relation (`s.t.col` references).
    pub schema: Option<String>,
    pub rel: Rel,
}

/// The shape of a FROM clause, for `*`: joins merge their `USING` columns.
#[derive(Debug, Clone)]
pub(crate) enum FromNode {
    Item(usize),
    Join {
        left: Box<FromNode>,
        right: Box<FromNode>,
        /// Merged columns (`USING`, `NATURAL`); `None` when they cannot be known.
        merged: Option<Vec<String>>,
    },
}

/// The FROM items of one query level.
#[derive(Debug, Clone, Default)]
pub(crate) struct Level {
    pub items: Vec<Item>,
    pub tree: Vec<FromNode>,
}

impl Level {
    /// The columns a FROM node contributes to `*`.
    pub(crate) fn expand(&self, node: &FromNode) -> (Vec<(String, ColumnLineage)>, Option<String>) {
        match node {
            FromNode::Item(i) => match self.items.get(*i) {
                Some(item) => item.rel.expand(),
                None => (Vec::new(), Some("internal: bad FROM index".to_owned())),
            },
            FromNode::Join {
                left,
                right,
                merged,
            } => {
                let (l, lwhy) = self.expand(left);
                let (r, rwhy) = self.expand(right);
                let Some(merged) = merged else {
                    let why = lwhy.or(rwhy);
                    return (
                        Vec::new(),
                        Some(why.unwrap_or_else(|| "NATURAL join columns not known".to_owned())),
                    );
                };
                // Merged columns first, from both sides; then each side's others.
                let mut out = Vec::new();
                for m in merged {
                    let mut lin = ColumnLineage::constant();
                    for (cols, why) in [(&l, &lwhy), (&r, &rwhy)] {
                        let mut found = false;
                        for (n, c) in cols {
                            if n == m {
                                lin.absorb(c);
                                found = true;
                            }
                        }
                        if let (false, Some(why)) = (found, why) {
                            lin.absorb(&ColumnLineage::Unknown(why.clone()));
                        }
                    }
                    out.push((m.clone(), lin));
                }
                out.extend(l.into_iter().filter(|(n, _)| !merged.contains(n)));
                if lwhy.is_some() {
                    return (out, lwhy);
                }
                out.extend(r.into_iter().filter(|(n, _)| !merged.contains(n)));
                (out, rwhy)
            }
        }
    }

    /// Every column of the level, as `*` lists them.
    pub(crate) fn expand_all(&self) -> (Vec<(String, ColumnLineage)>, Option<String>) {
        let mut out = Vec::new();
        for node in &self.tree {
            let (cols, why) = self.expand(node);
            out.extend(cols);
            if why.is_some() {
                return (out, why);
            }
        }
        (out, None)
    }
}

/// Walks one statement, computing the lineage of what it returns.
#[derive(Debug)]
pub(crate) struct Analyzer<'c> {
    pub catalog: &'c Catalog,
    /// Resolved views (the catalog's, or the partial map while it is built).
    pub views: &'c ViewMap,
    depth: usize,
    /// Nodes visited so far (recursive CTEs are evaluated more than once).
    work: usize,
    /// Query levels, outermost first.
    pub levels: Vec<Level>,
    /// CTEs in scope, innermost last.
    pub ctes: Vec<(String, Rel)>,
    /// Set when a view whose lineage is not resolved yet was read (catalog build only).
    pub pending_view: bool,
    /// Resolving a system view: sensitive catalogs it reads are not opaque
    /// (see `catalog::sensitive`).
    pub trusted_body: bool,
}

impl<'c> Analyzer<'c> {
    pub(crate) fn new(catalog: &'c Catalog, views: &'c ViewMap) -> Analyzer<'c> {
        Analyzer {
            catalog,
            views,
            depth: 0,
            work: 0,
            levels: Vec::new(),
            ctes: Vec::new(),
            pending_view: false,
            trusted_body: false,
        }
    }

    /// Runs `f` one nesting level deeper; past [`MAX_DEPTH`] the statement is refused.
    pub(crate) fn nested<T>(&mut self, f: impl FnOnce(&mut Self) -> Res<T>) -> Res<T> {
        self.depth += 1;
        self.work += 1;
        let result = if self.depth > MAX_DEPTH || self.work > MAX_WORK {
            Err(AnalysisError::TooDeep)
        } else {
            f(self)
        };
        self.depth = self.depth.saturating_sub(1);
        result
    }

    /// Runs `f` with `level` as the innermost query level.
    pub(crate) fn in_level<T>(
        &mut self,
        level: Level,
        f: impl FnOnce(&mut Self) -> Res<T>,
    ) -> Res<T> {
        self.levels.push(level);
        let result = f(self);
        self.levels.pop();
        result
    }

    /// A relation named in FROM (or the target of a DML statement).
    pub(crate) fn relation(&mut self, schema: Option<&str>, name: &str) -> Rel {
        if schema.is_none()
            && let Some((_, rel)) = self.ctes.iter().rev().find(|(n, _)| n == name)
        {
            return rel.clone();
        }
        if !self.trusted_body && crate::catalog::is_sensitive(schema, name) {
            return Rel::opaque(format!("{name} holds secrets or copies of user data"));
        }
        let lineage = self.catalog.lineage();
        let schemas = match schema {
            Some(s) => vec![s.to_owned()],
            None => lineage.schemas_of(name),
        };
        let mut rels: Vec<Rel> = Vec::new();
        for s in &schemas {
            let key: RelKey = (s.clone(), name.to_owned());
            if lineage.is_view(&key) {
                match self.views.get(&key) {
                    Some(cols) => rels.push(Rel::known(cols.clone())),
                    None => {
                        self.pending_view = true;
                        rels.push(Rel::opaque(format!(
                            "view {s}.{name} could not be resolved"
                        )));
                    }
                }
            } else if let Some(cols) = lineage.columns(&key) {
                rels.push(Rel::known(
                    cols.map(|c| {
                        (
                            c.to_owned(),
                            ColumnLineage::column(QualifiedColumn::new(s, name, c)),
                        )
                    })
                    .collect(),
                ));
            }
        }
        match rels.len() {
            // Qualified or not: a relation the catalog does not list may be a
            // view (or a temporary table) whose columns copy anything.
            0 => Rel::opaque(match schema {
                Some(s) => format!("relation {s}.{name} is not in the catalog"),
                None => format!("relation {name} is not in the catalog"),
            }),
            1 => rels.pop().unwrap_or_else(|| Rel::opaque("internal")),
            _ => merge_candidates(name, rels),
        }
    }

    /// What a column reference reads.
    pub(crate) fn column_ref(&self, fields: &[Node]) -> ColumnLineage {
        let mut names: Vec<&str> = Vec::with_capacity(fields.len());
        let mut star = false;
        for (i, f) in fields.iter().enumerate() {
            match &f.node {
                Some(NodeEnum::String(s)) => names.push(s.sval.as_str()),
                Some(NodeEnum::AStar(_)) if i + 1 == fields.len() => star = true,
                _ => return ColumnLineage::unknown("unsupported column reference"),
            }
        }
        if star {
            return self.star_value(&names);
        }
        match names.as_slice() {
            [col] => self.unqualified(col),
            [table, col] => match self.qualified(None, table, col) {
                Some(l) => l,
                // `a.b`: column `a`, field `b` (the field reads from the column).
                None => self.unqualified(table),
            },
            [.., schema, table, col] => match self.qualified(Some(schema), table, col) {
                Some(l) => l,
                // `t.col.field`
                None => self.qualified(None, schema, table).unwrap_or_else(|| {
                    ColumnLineage::unknown(format!("cannot resolve {schema}.{table}.{col}"))
                }),
            },
            [] => ColumnLineage::unknown("empty column reference"),
        }
    }

    /// An unqualified name: a column of some FROM item (innermost level first),
    /// else a whole-row reference to a FROM item of that name.
    fn unqualified(&self, col: &str) -> ColumnLineage {
        let mut acc: Option<ColumnLineage> = None;
        for level in self.levels.iter().rev() {
            let mut sure = false;
            for item in &level.items {
                if let Some(l) = item.rel.column(col) {
                    sure |= item.rel.has(col);
                    match &mut acc {
                        Some(a) => a.absorb(&l),
                        None => acc = Some(l),
                    }
                }
            }
            if sure {
                break;
            }
        }
        // A name that is surely no column may be a whole-row reference.
        if (acc.is_none() || acc.as_ref().is_some_and(ColumnLineage::is_unknown))
            && let Some(items) = self.items_named(None, col)
        {
            let mut out = acc.unwrap_or_else(ColumnLineage::constant);
            for item in items {
                out.absorb(&item.rel.whole_row());
            }
            return out;
        }
        match acc {
            Some(a) => a,
            None if SYSTEM_COLUMNS.contains(&col) => ColumnLineage::constant(),
            None => ColumnLineage::unknown(format!("column {col} not found")),
        }
    }

    /// Whether `name` is (or may be) a column of some visible FROM item.
    pub(crate) fn is_column(&self, name: &str) -> bool {
        self.levels
            .iter()
            .any(|l| l.items.iter().any(|i| i.rel.column(name).is_some()))
    }

    /// `table.col` (or `schema.table.col`); `None` when no FROM item has that name.
    fn qualified(&self, schema: Option<&str>, table: &str, col: &str) -> Option<ColumnLineage> {
        let items = self.items_named(schema, table)?;
        let mut out = ColumnLineage::constant();
        for item in items {
            match item.rel.column(col) {
                Some(l) => out.absorb(&l),
                None if SYSTEM_COLUMNS.contains(&col) => {}
                None => out.absorb(&ColumnLineage::unknown(format!(
                    "column {table}.{col} not found"
                ))),
            }
        }
        Some(out)
    }

    /// `t.*` or `*` used as a value (`row_to_json(c.*)`, `count(t.*)`).
    fn star_value(&self, qualifier: &[&str]) -> ColumnLineage {
        let items: Vec<&Item> = match qualifier {
            [] => self
                .levels
                .last()
                .map(|l| l.items.iter().collect())
                .unwrap_or_default(),
            [table] => self.items_named(None, table).unwrap_or_default(),
            [.., schema, table] => self.items_named(Some(schema), table).unwrap_or_default(),
        };
        if items.is_empty() {
            return ColumnLineage::unknown("cannot resolve the relation of a *");
        }
        let mut out = ColumnLineage::constant();
        for item in items {
            out.absorb(&item.rel.whole_row());
        }
        out
    }

    /// The FROM items called `table` at the innermost level that has any.
    pub(crate) fn items_named(&self, schema: Option<&str>, table: &str) -> Option<Vec<&Item>> {
        for level in self.levels.iter().rev() {
            let found: Vec<&Item> = level
                .items
                .iter()
                .filter(|i| {
                    i.name == table && schema.is_none_or(|s| i.schema.as_deref() == Some(s))
                })
                .collect();
            if !found.is_empty() {
                return Some(found);
            }
        }
        None
    }

    /// The columns `*` or `t.*` stands for in a target list.
    pub(crate) fn expand_star(
        &self,
        qualifier: &[&str],
    ) -> (Vec<(String, ColumnLineage)>, Option<String>) {
        match qualifier {
            [] => match self.levels.last() {
                Some(level) => level.expand_all(),
                None => (Vec::new(), None),
            },
            _ => {
                let items = match qualifier {
                    [table] => self.items_named(None, table),
                    [.., schema, table] => self.items_named(Some(schema), table),
                    [] => None,
                };
                match items.as_deref() {
                    Some([item]) => item.rel.expand(),
                    _ => (
                        Vec::new(),
                        Some("cannot resolve the relation of a *".to_owned()),
                    ),
                }
            }
        }
    }
}

/// An unqualified relation name found in several schemas: without the
/// session's `search_path` either may be meant. When they have the same
/// columns, each column reads from all of them; otherwise nothing is known.
fn merge_candidates(name: &str, rels: Vec<Rel>) -> Rel {
    let names = |r: &Rel| r.cols.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
    let first = rels.first().map(names).unwrap_or_default();
    if rels
        .iter()
        .any(|r| names(r) != first || !matches!(r.tail, Tail::None))
    {
        return Rel::opaque(format!(
            "relation {name} exists in several schemas with different columns"
        ));
    }
    let mut cols: Vec<(String, ColumnLineage)> = first
        .into_iter()
        .map(|n| (n, ColumnLineage::Derived(BTreeSet::new())))
        .collect();
    for r in &rels {
        for (c, (_, l)) in cols.iter_mut().zip(&r.cols) {
            c.1.absorb(l);
        }
    }
    Rel::known(cols)
}
