//! What the target database says about functions, operators, casts, views and
//! row-security policies: the facts `read_only` needs beyond the statement text.
//!
//! The gateway runs [`Catalog::LOAD_QUERY`] once per connection and caches the
//! result. Everything the catalog does not know is treated as unsafe, so an
//! empty catalog only lets through statements that call no function at all
//! (apart from the short [`HARMLESS_VOLATILE`] allowlist).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::AnalysisError;
use crate::lineage::LineageCatalog;
use crate::walk::{RelationRef, Walker};

/// Volatile built-ins that are known to change nothing but their own output.
///
/// They are accepted only when every `pg_proc` entry of the same name outside
/// `pg_catalog` is non-volatile, so a user function that shadows one of them
/// through `search_path` is still caught.
pub const HARMLESS_VOLATILE: &[&str] = &[
    "random",
    "random_normal",
    "clock_timestamp",
    "timeofday",
    "gen_random_uuid",
    "uuidv4",
    "uuidv7",
];

/// How deep view definitions (and policy expressions) that read other views
/// are followed before the reading view is declared unsafe.
const MAX_VIEW_DEPTH: usize = 16;

/// One `pg_proc` entry: its schema and whether it is volatile.
#[derive(Debug, Clone)]
struct Proc {
    schema: String,
    volatile: bool,
}

/// A relation whose reading runs code: a view (its definition) or a table with
/// row-security policies (their `USING` expressions).
#[derive(Debug, Clone)]
struct CodeRelation {
    schema: String,
    name: String,
    /// SQL texts evaluated when the relation is read.
    bodies: Vec<String>,
}

/// The source of [`Catalog::generation`] ids: one per catalog ever built.
static NEXT_GENERATION: AtomicU64 = AtomicU64::new(1);

/// The target database's catalog, reduced to what effect analysis needs.
///
/// A catalog never changes once built: a refresh builds a new one, with a new
/// [`generation`](Catalog::generation), so facts cached for the old one are
/// never served for the new one.
#[derive(Debug, Clone)]
pub struct Catalog {
    /// Unique per construction (clones share it: same content, same facts).
    generation: u64,
    /// `proname` → every entry of that name, in any schema.
    functions: HashMap<String, Vec<Proc>>,
    function_count: usize,
    /// Operator names (and `schema.name`) whose implementing function is volatile.
    volatile_operators: HashSet<String>,
    /// Type names (and `schema.name`) a cast to which may run a volatile function.
    volatile_cast_types: HashSet<String>,
    /// Relations that must not be read by a read-only statement, as
    /// `schema.name` and as bare `name` (for unqualified references).
    unsafe_relations: HashSet<String>,
    /// Relation columns, view definitions and opaque operators and casts, for lineage.
    lineage: LineageCatalog,
}

impl Default for Catalog {
    fn default() -> Catalog {
        Catalog {
            // Relaxed is enough: only uniqueness matters, not ordering.
            generation: NEXT_GENERATION.fetch_add(1, Ordering::Relaxed),
            functions: HashMap::new(),
            function_count: 0,
            volatile_operators: HashSet::new(),
            volatile_cast_types: HashSet::new(),
            unsafe_relations: HashSet::new(),
            lineage: LineageCatalog::default(),
        }
    }
}

impl Catalog {
    /// A catalog that knows nothing: every function call is unknown, hence not read-only.
    pub fn empty() -> Catalog {
        Catalog::default()
    }

    /// An id no other catalog built by this process has (a clone keeps its
    /// original's): what [`AnalysisCache`](crate::AnalysisCache) keys on.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// The query the gateway runs on the target (simple query protocol, one
    /// statement) to load the catalog. Every column is `text`:
    ///
    /// 1. `category`: `function`, `operator`, `cast`, `view`, `policy`, or,
    ///    for output lineage, `column`, `matview`, `user_operator`, `user_cast`;
    /// 2. `schema`: the object's schema (`nspname`);
    /// 3. `name`: `proname`, `oprname`, the cast's target `typname`, or the relation name;
    /// 4. `detail`: for `function`, `provolatile` (`i`, `s`, `v`; an aggregate
    ///    counts as `v` when any of its support functions is volatile, since
    ///    PostgreSQL marks every aggregate immutable); for `view`, its
    ///    `pg_get_viewdef`; for `policy`, the `USING` expression; else NULL.
    ///
    /// Only volatile operators and casts are listed (including types whose
    /// input function is volatile, which a `'literal'::type` cast runs).
    ///
    /// For lineage: `column` rows give every column of tables, partitioned
    /// tables, views, materialized views and foreign tables outside
    /// `pg_catalog` and `information_schema` (`name` is the relation, `detail`
    /// is `attnum:attname`); `matview` rows a materialized view's
    /// `pg_get_viewdef`; `user_operator` and `user_cast` rows the operators and
    /// cast target types implemented by a function outside `pg_catalog`
    /// (`detail` NULL).
    pub const LOAD_QUERY: &'static str = "\
SELECT 'function'::text AS category, n.nspname::text AS schema, p.proname::text AS name, \
CASE WHEN p.prokind = 'a' AND EXISTS (SELECT 1 FROM pg_catalog.pg_aggregate a \
JOIN pg_catalog.pg_proc f ON f.oid IN (a.aggtransfn, a.aggfinalfn, a.aggcombinefn, a.aggserialfn, \
a.aggdeserialfn, a.aggmtransfn, a.aggminvtransfn, a.aggmfinalfn) \
WHERE a.aggfnoid = p.oid AND f.provolatile = 'v') THEN 'v' ELSE p.provolatile::text END AS detail \
FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace \
UNION ALL \
SELECT 'operator', n.nspname::text, o.oprname::text, NULL \
FROM pg_catalog.pg_operator o JOIN pg_catalog.pg_namespace n ON n.oid = o.oprnamespace \
JOIN pg_catalog.pg_proc f ON f.oid = o.oprcode WHERE f.provolatile = 'v' \
UNION ALL \
SELECT 'cast', n.nspname::text, t.typname::text, NULL \
FROM pg_catalog.pg_cast c JOIN pg_catalog.pg_type t ON t.oid = c.casttarget \
JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace \
JOIN pg_catalog.pg_proc f ON f.oid = c.castfunc WHERE f.provolatile = 'v' \
UNION ALL \
SELECT 'cast', n.nspname::text, t.typname::text, NULL \
FROM pg_catalog.pg_type t JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace \
JOIN pg_catalog.pg_proc f ON f.oid = t.typinput WHERE f.provolatile = 'v' \
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
WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'p', 'v', 'm', 'f') \
AND n.nspname NOT IN ('pg_catalog', 'information_schema') \
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
        let mut catalog = Catalog::default();
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
                        .push(Proc { schema, volatile });
                }
                "operator" => {
                    catalog
                        .volatile_operators
                        .insert(format!("{schema}.{name}"));
                    catalog.volatile_operators.insert(name);
                }
                "cast" => {
                    catalog
                        .volatile_cast_types
                        .insert(format!("{schema}.{name}"));
                    catalog.volatile_cast_types.insert(name);
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

    /// What output-column lineage knows of the database.
    pub(crate) fn lineage(&self) -> &LineageCatalog {
        &self.lineage
    }

    /// The schemas of every `pg_proc` entry called `name`.
    pub(crate) fn function_schemas(&self, name: &str) -> impl Iterator<Item = &str> {
        self.functions
            .get(name)
            .into_iter()
            .flatten()
            .map(|p| p.schema.as_str())
    }

    /// How many `pg_proc` entries the catalog holds.
    pub fn function_count(&self) -> usize {
        self.function_count
    }

    /// Whether calling the function `schema.name` (or `name` resolved through
    /// any schema) provably changes nothing.
    pub(crate) fn function_is_safe(&self, schema: Option<&str>, name: &str) -> bool {
        let entries = self.functions.get(name).map(Vec::as_slice).unwrap_or(&[]);
        let relevant = entries
            .iter()
            .filter(|p| schema.is_none_or(|s| p.schema == s));
        if HARMLESS_VOLATILE.contains(&name) && schema.is_none_or(|s| s == "pg_catalog") {
            // Safe unless a non-pg_catalog volatile entry could shadow it.
            return !relevant
                .clone()
                .any(|p| p.volatile && p.schema != "pg_catalog");
        }
        let mut any = false;
        for p in relevant {
            if p.volatile {
                return false;
            }
            any = true;
        }
        any
    }

    /// Whether the operator (as written, possibly `schema.op`) may run a volatile function.
    pub(crate) fn operator_is_volatile(&self, qualified: &str) -> bool {
        self.volatile_operators.contains(qualified)
    }

    /// Whether a cast to the type (as written, possibly `schema.type`) may run a volatile function.
    pub(crate) fn cast_is_volatile(&self, qualified: &str) -> bool {
        self.volatile_cast_types.contains(qualified)
    }

    /// Whether reading the relation may run code that is not read-only.
    pub(crate) fn relation_is_unsafe(&self, schema: Option<&str>, name: &str) -> bool {
        if self.unsafe_relations.is_empty() {
            return false;
        }
        match schema {
            Some(s) => self.unsafe_relations.contains(&format!("{s}.{name}")),
            None => self.unsafe_relations.contains(name),
        }
    }
}

/// Decides which views and policy-bearing tables are unsafe to read.
///
/// Each body is analysed once against the catalog's functions, operators and
/// casts; then unsafety spreads from a relation to every relation whose body
/// reads it, for at most [`MAX_VIEW_DEPTH`] rounds. A relation still changing
/// after that (a chain too deep to follow) is declared unsafe.
fn unsafe_relations(catalog: &Catalog, relations: &[CodeRelation]) -> HashSet<String> {
    // Per relation: locally safe?, and the relations its bodies read.
    let mut local: Vec<(bool, Vec<RelationRef>)> = Vec::with_capacity(relations.len());
    for rel in relations {
        let mut safe = true;
        let mut reads = Vec::new();
        for body in &rel.bodies {
            match Walker::analyze_body(body, catalog) {
                Ok((ro, mut r)) => {
                    safe &= ro;
                    reads.append(&mut r);
                }
                Err(_) => safe = false,
            }
        }
        local.push((safe, reads));
    }
    let key = |r: &CodeRelation| format!("{}.{}", r.schema, r.name);
    let mut unsafe_set: HashSet<String> = relations
        .iter()
        .zip(&local)
        .filter(|(_, (safe, _))| !safe)
        .map(|(r, _)| key(r))
        .collect();
    let mut unsafe_names: HashSet<String> = relations
        .iter()
        .zip(&local)
        .filter(|(_, (safe, _))| !safe)
        .map(|(r, _)| r.name.clone())
        .collect();
    let reads_unsafe =
        |reads: &[(Option<String>, String)], set: &HashSet<String>, names: &HashSet<String>| {
            reads.iter().any(|(s, n)| match s {
                Some(s) => set.contains(&format!("{s}.{n}")),
                None => names.contains(n),
            })
        };
    let mut changed = true;
    let mut rounds = 0;
    while changed {
        changed = false;
        rounds += 1;
        let mut newly = Vec::new();
        for (rel, (_, reads)) in relations.iter().zip(&local) {
            if !unsafe_set.contains(&key(rel)) && reads_unsafe(reads, &unsafe_set, &unsafe_names) {
                newly.push(rel);
            }
        }
        for rel in newly {
            changed = true;
            unsafe_set.insert(key(rel));
            unsafe_names.insert(rel.name.clone());
        }
        if changed && rounds >= MAX_VIEW_DEPTH {
            // Too deep to follow: every relation that reads another code relation is unsafe.
            let all_names: HashSet<&str> = relations.iter().map(|r| r.name.as_str()).collect();
            for (rel, (_, reads)) in relations.iter().zip(&local) {
                if reads.iter().any(|(_, n)| all_names.contains(n.as_str())) {
                    unsafe_set.insert(key(rel));
                    unsafe_names.insert(rel.name.clone());
                }
            }
            break;
        }
    }
    unsafe_set.extend(unsafe_names);
    unsafe_set
}
