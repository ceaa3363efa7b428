//! What lineage needs from the catalog: the columns of every relation (in
//! attnum order), view and materialized-view definitions, and the operators
//! and casts implemented outside `pg_catalog` (which may run code that reads
//! tables, so lineage cannot see through them).

use std::collections::{HashMap, HashSet};

use super::ColumnLineage;

/// `(schema, name)` of a relation.
pub(crate) type RelKey = (String, String);

/// The resolved output of each view and materialized view: per column, its
/// name and lineage (which includes the view's own column).
pub(crate) type ViewMap = HashMap<RelKey, Vec<(String, ColumnLineage)>>;

#[derive(Debug, Clone, Default)]
pub(crate) struct LineageCatalog {
    /// Columns per relation, as loaded (attnum, name); sorted by `finish`.
    columns: HashMap<RelKey, Vec<(i32, String)>>,
    /// Relation name → every schema holding a relation of that name.
    schemas: HashMap<String, Vec<String>>,
    /// View and materialized-view definitions (`pg_get_viewdef`).
    bodies: HashMap<RelKey, String>,
    /// The views' resolved outputs, computed once by `finish`.
    views: ViewMap,
    /// Operators (as `name` and `schema.name`) whose function is outside `pg_catalog`.
    opaque_operators: HashSet<String>,
    /// Cast target types (as `name` and `schema.name`) with a cast function outside `pg_catalog`.
    opaque_casts: HashSet<String>,
}

impl LineageCatalog {
    /// Takes one row of a category this module owns (`column`, `matview`,
    /// `user_operator`, `user_cast`); `Err` says what is wrong with it.
    pub(crate) fn add_row(
        &mut self,
        category: &str,
        schema: String,
        name: String,
        detail: Option<String>,
    ) -> Result<(), &'static str> {
        match category {
            "column" => {
                let detail = detail.ok_or("column detail is NULL")?;
                let (attnum, column) = detail
                    .split_once(':')
                    .ok_or("column detail must be attnum:name")?;
                let attnum: i32 = attnum
                    .parse()
                    .map_err(|_| "column attnum is not a number")?;
                let key = (schema, name);
                if !self.columns.contains_key(&key) {
                    let schemas = self.schemas.entry(key.1.clone()).or_default();
                    if !schemas.contains(&key.0) {
                        schemas.push(key.0.clone());
                    }
                }
                self.columns
                    .entry(key)
                    .or_default()
                    .push((attnum, column.to_owned()));
            }
            "matview" => {
                let body = detail.ok_or("definition is NULL")?;
                self.add_view(schema, name, body);
            }
            "user_operator" => {
                self.opaque_operators.insert(format!("{schema}.{name}"));
                self.opaque_operators.insert(name);
            }
            "user_cast" => {
                self.opaque_casts.insert(format!("{schema}.{name}"));
                self.opaque_casts.insert(name);
            }
            _ => return Err("unknown category"),
        }
        Ok(())
    }

    /// The categories `add_row` takes.
    pub(crate) fn owns(category: &str) -> bool {
        matches!(
            category,
            "column" | "matview" | "user_operator" | "user_cast"
        )
    }

    /// A view's definition (from a `view` row).
    pub(crate) fn add_view(&mut self, schema: String, name: String, body: String) {
        self.bodies.insert((schema, name), body);
    }

    /// Orders columns by attnum; called once all rows are in.
    pub(crate) fn sort(&mut self) {
        for cols in self.columns.values_mut() {
            cols.sort_by_key(|(n, _)| *n);
            cols.dedup_by_key(|(n, _)| *n);
        }
    }

    pub(crate) fn set_views(&mut self, views: ViewMap) {
        self.views = views;
    }

    pub(crate) fn views(&self) -> &ViewMap {
        &self.views
    }

    pub(crate) fn bodies(&self) -> impl Iterator<Item = (&RelKey, &str)> {
        self.bodies.iter().map(|(k, v)| (k, v.as_str()))
    }

    /// Whether the catalog lists the relation: it has columns, or it is a view.
    pub(crate) fn has_relation(&self, schema: &str, name: &str) -> bool {
        let key = (schema.to_owned(), name.to_owned());
        self.columns.contains_key(&key) || self.bodies.contains_key(&key)
    }

    pub(crate) fn is_view(&self, key: &RelKey) -> bool {
        self.bodies.contains_key(key)
    }

    /// The columns of a relation, in attnum order.
    pub(crate) fn columns(&self, key: &RelKey) -> Option<impl Iterator<Item = &str>> {
        self.columns
            .get(key)
            .map(|c| c.iter().map(|(_, n)| n.as_str()))
    }

    /// Every schema holding a relation (or view) called `name`.
    pub(crate) fn schemas_of(&self, name: &str) -> Vec<String> {
        let mut out = self.schemas.get(name).cloned().unwrap_or_default();
        for (s, n) in self.bodies.keys() {
            if n == name && !out.contains(s) {
                out.push(s.clone());
            }
        }
        out
    }

    pub(crate) fn operator_is_opaque(&self, qualified: &str, bare: &str) -> bool {
        self.opaque_operators.contains(qualified) || self.opaque_operators.contains(bare)
    }

    pub(crate) fn cast_is_opaque(&self, qualified: &str, bare: &str) -> bool {
        self.opaque_casts.contains(qualified) || self.opaque_casts.contains(bare)
    }
}
