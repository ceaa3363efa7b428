//! The query that loads the catalog from the target, and the catalog built
//! from its rows.

use super::code::{CodeRelation, unsafe_relations};
use super::{Catalog, Entry};
use crate::AnalysisError;
use crate::lineage::LineageCatalog;

impl Catalog {
    /// The query the gateway runs on the target (simple query protocol, one
    /// statement) to load the catalog. Every column is `text`:
    ///
    /// 1. `category`: `function`, `operator`, `cast`, `view`, `policy`, or,
    ///    for output lineage, `column`, `matview`, `user_operator`, `user_cast`;
    /// 2. `schema`: the object's schema (`nspname`);
    /// 3. `name`: `proname`, `oprname`, the cast's target `typname`, or the relation name;
    /// 4. `detail`: for `function`, `provolatile` (`i`, `s`, `v`; an aggregate
    ///    counts as `v` when any of its support functions is volatile, since
    ///    PostgreSQL marks every aggregate immutable); for `operator`, the
    ///    `provolatile` of its function (`v` for a shell operator); for `cast`,
    ///    `v` when a cast to the type may run a volatile function, else `s`;
    ///    for `view`, its `pg_get_viewdef`; for `policy`, the `USING`
    ///    expression; else NULL.
    ///
    /// Every operator and every type is listed, so that operators and casts
    /// are allow-lists like functions. A cast to a type may run: the type's
    /// input function (`'literal'::type`), any cast function to the type, the
    /// constraints of a domain (through the functions and operators they
    /// depend on), and all of these for the types it is built from (a
    /// domain's base type, an array's element, a range's subtype, a
    /// multirange's range, a composite type's attributes).
    ///
    /// For lineage: `column` rows give every column of tables, partitioned
    /// tables, views, materialized views, foreign tables and sequences in
    /// every schema but `pg_toast` (`name` is the relation, `detail` is
    /// `attnum:attname`); they are also the list of relations a read-only
    /// statement may read. `matview` rows give a materialized view's
    /// `pg_get_viewdef`; `user_operator` and `user_cast` rows the operators
    /// and cast target types implemented by a function outside `pg_catalog`
    /// (`detail` NULL).
    pub const LOAD_QUERY: &'static str = "\
SELECT 'function'::text AS category, n.nspname::text AS schema, p.proname::text AS name, \
CASE WHEN p.prokind = 'a' AND EXISTS (SELECT 1 FROM pg_catalog.pg_aggregate a \
JOIN pg_catalog.pg_proc f ON f.oid IN (a.aggtransfn, a.aggfinalfn, a.aggcombinefn, a.aggserialfn, \
a.aggdeserialfn, a.aggmtransfn, a.aggminvtransfn, a.aggmfinalfn) \
WHERE a.aggfnoid = p.oid AND f.provolatile = 'v') THEN 'v' ELSE p.provolatile::text END AS detail \
FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace \
UNION ALL \
SELECT 'operator', n.nspname::text, o.oprname::text, COALESCE(f.provolatile::text, 'v') \
FROM pg_catalog.pg_operator o JOIN pg_catalog.pg_namespace n ON n.oid = o.oprnamespace \
LEFT JOIN pg_catalog.pg_proc f ON f.oid = o.oprcode \
UNION ALL \
SELECT 'cast', n.nspname::text, t.typname::text, CASE WHEN u.oid IS NULL THEN 's' ELSE 'v' END \
FROM pg_catalog.pg_type t JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace \
LEFT JOIN (WITH RECURSIVE part(whole, part) AS ( \
SELECT oid, typbasetype FROM pg_catalog.pg_type WHERE typbasetype <> 0 \
UNION ALL SELECT oid, typelem FROM pg_catalog.pg_type WHERE typelem <> 0 \
UNION ALL SELECT rngtypid, rngsubtype FROM pg_catalog.pg_range \
UNION ALL SELECT rngmultitypid, rngtypid FROM pg_catalog.pg_range \
UNION ALL SELECT c.reltype, a.atttypid FROM pg_catalog.pg_attribute a \
JOIN pg_catalog.pg_class c ON c.oid = a.attrelid WHERE a.attnum > 0 AND NOT a.attisdropped), \
bad(oid) AS ( \
SELECT p.oid FROM pg_catalog.pg_type p JOIN pg_catalog.pg_proc f ON f.oid = p.typinput \
WHERE f.provolatile = 'v' \
UNION SELECT c.casttarget FROM pg_catalog.pg_cast c JOIN pg_catalog.pg_proc f ON f.oid = c.castfunc \
WHERE f.provolatile = 'v' \
UNION SELECT k.contypid FROM pg_catalog.pg_constraint k JOIN pg_catalog.pg_depend d \
ON d.classid = 'pg_catalog.pg_constraint'::pg_catalog.regclass AND d.objid = k.oid \
LEFT JOIN pg_catalog.pg_operator o \
ON d.refclassid = 'pg_catalog.pg_operator'::pg_catalog.regclass AND o.oid = d.refobjid \
JOIN pg_catalog.pg_proc f ON f.oid = CASE \
WHEN d.refclassid = 'pg_catalog.pg_proc'::pg_catalog.regclass THEN d.refobjid ELSE o.oprcode END \
WHERE k.contypid <> 0 AND f.provolatile = 'v' \
UNION SELECT part.whole FROM part JOIN bad ON bad.oid = part.part) \
SELECT DISTINCT oid FROM bad) u ON u.oid = t.oid \
UNION ALL \
SELECT 'view', n.nspname::text, c.relname::text, pg_catalog.pg_get_viewdef(c.oid) \
FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
WHERE c.relkind = 'v' \
UNION ALL \
SELECT 'policy', n.nspname::text, c.relname::text, pg_catalog.pg_get_expr(p.polqual, p.polrelid) \
FROM pg_catalog.pg_policy p JOIN pg_catalog.pg_class c ON c.oid = p.polrelid \
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE p.polqual IS NOT NULL \
UNION ALL \
SELECT 'column', n.nspname::text, c.relname::text, a.attnum::text || ':' || a.attname::text \
FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_class c ON c.oid = a.attrelid \
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S') \
AND n.nspname <> 'pg_toast' \
UNION ALL \
SELECT 'matview', n.nspname::text, c.relname::text, pg_catalog.pg_get_viewdef(c.oid) \
FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
WHERE c.relkind = 'm' \
UNION ALL \
SELECT 'user_operator', n.nspname::text, o.oprname::text, NULL \
FROM pg_catalog.pg_operator o JOIN pg_catalog.pg_namespace n ON n.oid = o.oprnamespace \
JOIN pg_catalog.pg_proc f ON f.oid = o.oprcode \
WHERE f.pronamespace <> 'pg_catalog'::regnamespace \
UNION ALL \
SELECT 'user_cast', n.nspname::text, t.typname::text, NULL \
FROM pg_catalog.pg_cast c JOIN pg_catalog.pg_type t ON t.oid = c.casttarget \
JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace \
JOIN pg_catalog.pg_proc f ON f.oid = c.castfunc \
WHERE f.pronamespace <> 'pg_catalog'::regnamespace";

    /// Builds a catalog from the rows of [`Catalog::LOAD_QUERY`].
    ///
    /// Unknown categories are refused rather than ignored: a gateway whose
    /// query and parser disagree should notice at load time.
    pub fn from_rows(
        rows: impl IntoIterator<Item = Vec<Option<String>>>,
    ) -> Result<Catalog, AnalysisError> {
        let mut catalog = Catalog {
            loaded: true,
            ..Catalog::default()
        };
        let mut relations: Vec<CodeRelation> = Vec::new();
        for (index, row) in rows.into_iter().enumerate() {
            let bad = |reason: &str| AnalysisError::CatalogRow {
                row: index,
                reason: reason.to_owned(),
            };
            let [category, schema, name, detail] =
                <[Option<String>; 4]>::try_from(row).map_err(|_| bad("expected 4 columns"))?;
            let category = category.ok_or_else(|| bad("category is NULL"))?;
            let schema = schema.ok_or_else(|| bad("schema is NULL"))?;
            let name = name.ok_or_else(|| bad("name is NULL"))?;
            match category.as_str() {
                "function" => {
                    let volatile = match detail.as_deref() {
                        Some("i") | Some("s") => false,
                        Some("v") => true,
                        _ => return Err(bad("provolatile must be i, s or v")),
                    };
                    catalog.function_count += 1;
                    catalog
                        .functions
                        .entry(name)
                        .or_default()
                        .push(Entry { schema, volatile });
                }
                "operator" | "cast" => {
                    let volatile = match detail.as_deref() {
                        Some("i") | Some("s") => false,
                        Some("v") => true,
                        _ => return Err(bad("volatility must be i, s or v")),
                    };
                    let map = if category == "operator" {
                        &mut catalog.operators
                    } else {
                        &mut catalog.cast_types
                    };
                    map.entry(name)
                        .or_default()
                        .push(Entry { schema, volatile });
                }
                "view" | "policy" => {
                    let body = detail.ok_or_else(|| bad("definition is NULL"))?;
                    if category == "view" {
                        catalog
                            .lineage
                            .add_view(schema.clone(), name.clone(), body.clone());
                    }
                    let body = if category == "policy" {
                        format!("SELECT ({body})")
                    } else {
                        body
                    };
                    match relations
                        .iter_mut()
                        .find(|r| r.schema == schema && r.name == name)
                    {
                        Some(r) => r.bodies.push(body),
                        None => relations.push(CodeRelation {
                            schema,
                            name,
                            bodies: vec![body],
                        }),
                    }
                }
                c if LineageCatalog::owns(c) => {
                    catalog
                        .lineage
                        .add_row(c, schema, name, detail)
                        .map_err(bad)?;
                }
                _ => return Err(bad("unknown category")),
            }
        }
        catalog.unsafe_relations = unsafe_relations(&catalog, &relations);
        catalog.lineage.sort();
        let views = crate::lineage::resolve_views(&catalog);
        catalog.lineage.set_views(views);
        Ok(catalog)
    }
}
