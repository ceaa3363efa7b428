//! What the target database says about functions, operators, casts,
//! relations, views and row-security policies: the facts `read_only` needs
//! beyond the statement text.
//!
//! The gateway runs [`Catalog::LOAD_QUERY`] once per connection and caches the
//! result. Functions, operators, casts and relations are allow-lists: what
//! the catalog does not list is treated as unsafe. A catalog that was never
//! loaded ([`Catalog::unloaded`], also `Catalog::empty()` and `Default`) knows
//! nothing at all, and [`analyze`](crate::analyze) refuses every statement
//! whose facts depend on it (issue 11, class 5): a gateway that could not
//! read the target's catalog must not guess.

mod code;
mod load;
mod sensitive;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::lineage::LineageCatalog;

pub use sensitive::SENSITIVE_CATALOGS;
pub(crate) use sensitive::{is_sensitive, is_system_schema};

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

/// One `pg_proc`, `pg_operator` or `pg_type` entry of a given name: its
/// schema and whether it may run a volatile function.
#[derive(Debug, Clone)]
struct Entry {
    schema: String,
    volatile: bool,
}

/// `name` → every entry of that name, in any schema.
type Entries = HashMap<String, Vec<Entry>>;

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
    /// Built from the target's rows ([`Catalog::from_rows`]).
    loaded: bool,
    /// `proname` → its `pg_proc` entries.
    functions: Entries,
    function_count: usize,
    /// `oprname` → its `pg_operator` entries (volatile: the implementing function is).
    operators: Entries,
    /// `typname` → its `pg_type` entries (volatile: a cast to it may run a volatile function).
    cast_types: Entries,
    /// Relations that must not be read by a read-only statement, as
    /// `schema.name` and as bare `name` (for unqualified references).
    unsafe_relations: HashSet<String>,
    /// Relation columns, view definitions and opaque operators and casts, for lineage.
    lineage: LineageCatalog,
}

impl Default for Catalog {
    /// The catalog of a target that could not be read: see [`Catalog::unloaded`].
    fn default() -> Catalog {
        Catalog {
            // Relaxed is enough: only uniqueness matters, not ordering.
            generation: NEXT_GENERATION.fetch_add(1, Ordering::Relaxed),
            loaded: false,
            functions: HashMap::new(),
            function_count: 0,
            operators: HashMap::new(),
            cast_types: HashMap::new(),
            unsafe_relations: HashSet::new(),
            lineage: LineageCatalog::default(),
        }
    }
}

impl Catalog {
    /// The catalog of a target whose catalog could not be loaded. Analysis
    /// refuses ([`AnalysisError::CatalogNotLoaded`](crate::AnalysisError))
    /// every statement that calls a function, applies an operator or a cast,
    /// or reads a relation; statements that need none of these (`SELECT 1`,
    /// `BEGIN`, `SET application_name = 'x'`, `INSERT ... VALUES (1)`) are
    /// analysed as usual. [`output_lineage`](crate::output_lineage) refuses
    /// every statement.
    pub fn unloaded() -> Catalog {
        Catalog::default()
    }

    /// The same as [`Catalog::unloaded`]: a catalog that knows nothing is one
    /// that was not loaded.
    pub fn empty() -> Catalog {
        Catalog::default()
    }

    /// Whether the catalog was built from the target's rows. When it was not,
    /// statements that depend on it cannot be analysed.
    pub fn is_loaded(&self) -> bool {
        self.loaded
    }

    /// An id no other catalog built by this process has (a clone keeps its
    /// original's): what [`AnalysisCache`](crate::AnalysisCache) keys on.
    pub fn generation(&self) -> u64 {
        self.generation
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
        if sensitive::SENSITIVE_FUNCTIONS.contains(&name) {
            return false;
        }
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
        all_safe(entries, schema)
    }

    /// Whether `name` as a statement's facts list it (`f` or `schema.f`)
    /// can only be a built-in: the catalog lists it in `pg_catalog` and,
    /// unqualified, nowhere else.
    pub fn is_builtin_function(&self, name: &str) -> bool {
        let (schema, name) = match name.rsplit_once('.') {
            Some((schema, name)) => (Some(schema), name),
            None => (None, name),
        };
        let entries = self.functions.get(name).map(Vec::as_slice).unwrap_or(&[]);
        match schema {
            Some(s) => s == "pg_catalog" && entries.iter().any(|p| p.schema == "pg_catalog"),
            None => !entries.is_empty() && entries.iter().all(|p| p.schema == "pg_catalog"),
        }
    }

    /// Whether applying the operator `schema.name` (or `name` through any
    /// schema) provably runs no volatile function: the catalog lists it and
    /// no entry of that name (in that schema) is volatile.
    pub(crate) fn operator_is_safe(&self, schema: Option<&str>, name: &str) -> bool {
        all_safe(
            self.operators.get(name).map(Vec::as_slice).unwrap_or(&[]),
            schema,
        )
    }

    /// Whether a cast to the type `schema.name` (or `name` through any
    /// schema) provably runs no volatile function: its input function, every
    /// cast function to it, its domain constraints and those of the types it
    /// is built from.
    pub(crate) fn cast_is_safe(&self, schema: Option<&str>, name: &str) -> bool {
        all_safe(
            self.cast_types.get(name).map(Vec::as_slice).unwrap_or(&[]),
            schema,
        )
    }

    /// Whether the catalog lists the relation (any schema, when unqualified).
    pub(crate) fn relation_is_known(&self, schema: Option<&str>, name: &str) -> bool {
        match schema {
            Some(s) => self.lineage.has_relation(s, name),
            None => !self.lineage.schemas_of(name).is_empty(),
        }
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

/// At least one entry (in `schema`, when given), and none volatile.
fn all_safe(entries: &[Entry], schema: Option<&str>) -> bool {
    let mut any = false;
    for e in entries
        .iter()
        .filter(|e| schema.is_none_or(|s| e.schema == s))
    {
        if e.volatile {
            return false;
        }
        any = true;
    }
    any
}
