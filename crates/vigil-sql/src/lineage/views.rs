//! Views and materialized views, resolved once when the catalog is built:
//! each output column reads the view's own column and what its definition
//! reads, through other views as deep as [`MAX_VIEW_ROUNDS`] allows.

use pg_query::NodeEnum;

use super::scope::{Analyzer, Rel};
use super::tables::ViewMap;
use super::{ColumnLineage, QualifiedColumn};
use crate::Catalog;

/// Rounds of resolution: a view reading views `n` deep resolves in round `n`.
/// Views still unresolved after that (a chain too deep, or a cycle) have
/// every column Unknown.
const MAX_VIEW_ROUNDS: usize = 16;

/// Resolves every view of `catalog` (its lineage tables must be loaded).
pub(crate) fn resolve_views(catalog: &Catalog) -> ViewMap {
    let lineage = catalog.lineage();
    let mut done = ViewMap::new();
    let mut pending: Vec<_> = lineage.bodies().collect();
    for _ in 0..MAX_VIEW_ROUNDS {
        if pending.is_empty() {
            break;
        }
        let mut resolved = Vec::new();
        let mut still = Vec::new();
        for (key, body) in pending {
            let mut a = Analyzer::new(catalog, &done);
            a.trusted_body = crate::catalog::is_system_schema(&key.0);
            let result = body_rel(&mut a, body);
            if a.pending_view {
                still.push((key, body));
            } else {
                resolved.push((key.clone(), columns(catalog, key, result)));
            }
        }
        let progress = !resolved.is_empty();
        done.extend(resolved);
        pending = still;
        if !progress {
            break;
        }
    }
    for (key, _) in pending {
        let cols = columns(
            catalog,
            key,
            Rel::opaque(format!(
                "view {}.{} is nested too deeply or cyclic",
                key.0, key.1
            )),
        );
        done.insert(key.clone(), cols);
    }
    done
}

/// The definition's output; parse or analysis failures make it opaque.
fn body_rel(a: &mut Analyzer<'_>, body: &str) -> Rel {
    let parsed = crate::with_stack(body.len(), || {
        let parsed = crate::parse(body)?;
        match parsed
            .stmts
            .first()
            .and_then(|s| s.stmt.as_ref())
            .and_then(|s| s.node.as_ref())
        {
            Some(NodeEnum::SelectStmt(s)) => a.select(s),
            _ => Ok(Rel::opaque("view definition is not a SELECT")),
        }
    });
    parsed.unwrap_or_else(|e| Rel::opaque(format!("view definition: {e}")))
}

/// The view's columns (names from the catalog when it lists them), each
/// reading the view's own column and the definition's column at that position.
fn columns(catalog: &Catalog, key: &(String, String), body: Rel) -> Vec<(String, ColumnLineage)> {
    let (schema, name) = key;
    let (cols, why) = body.expand();
    let names: Vec<String> = match catalog.lineage().columns(key) {
        Some(names) => names.map(str::to_owned).collect(),
        None => cols.iter().map(|(n, _)| n.clone()).collect(),
    };
    let mismatch = why.is_some() || names.len() != cols.len();
    names
        .into_iter()
        .enumerate()
        .map(|(i, n)| {
            let own = ColumnLineage::column(QualifiedColumn::new(schema, name, &n));
            let from = match (cols.get(i), &why) {
                (_, Some(why)) => ColumnLineage::Unknown(why.clone()),
                (Some((_, l)), None) if !mismatch => l.clone(),
                _ => ColumnLineage::unknown(format!(
                    "view {schema}.{name}: definition and catalog disagree on its columns"
                )),
            };
            (n, own.union(&from))
        })
        .collect()
}
