//! The verdict cache: a decision whose rules' inputs did not change is not
//! evaluated again.
//!
//! A policy set's answer for an action is a function of the policies that
//! match (the principal's groups, the connection's name) and of the CEL
//! variables their rules read. When none of those rules reads something that
//! changes from one statement to the next or over time (`now`, `sql.text`,
//! `principal.claims`; see [`VarSet::VOLATILE`]), everything the answer
//! depends on fits in a [`Key`], and the [`Evaluation`] is stored under it.
//!
//! The key holds every input a rule could read, not just the ones it does:
//! the principal's name, kind and groups, the connection's name and kind,
//! and every field of the statement's facts except its text. So a hit never
//! depends on which variables a rule reads, only on whether the entry was
//! stored, and an entry is stored only when the rules read nothing volatile
//! (which the key determines: same groups, same connection, same protocol,
//! same rules). Keys are compared whole; the 64-bit hash only finds the slot.
//!
//! The cache lives inside its [`PolicySet`](crate::PolicySet): a new set
//! (a reload) starts empty, so a verdict never outlives the rules that gave
//! it. Only SQL statements are cached: they are the per-statement hot path,
//! and every field of their facts but the text is a small, repeated value.
//! SSH, HTTP and Kubernetes actions are evaluated every time.

use std::sync::Arc;

use vigil_core::lru::ShardedLru;
use vigil_core::{ActionKind, ConnectionKind, PrincipalKind, SqlFacts};

use crate::EvalInput;
use crate::check::{Var, VarSet};
use crate::set::Evaluation;

/// Entries kept by default, across all principals and connections.
pub const DEFAULT_CAPACITY: usize = 4096;
/// Bytes an entry is assumed to take on average (key, verdict and masks),
/// bounding the cache at about `capacity * BYTES_PER_ENTRY`.
const BYTES_PER_ENTRY: usize = 1024;
/// What one entry costs beyond the strings it holds.
const ENTRY_OVERHEAD: usize = 256;

/// Verdicts by [`Key`], bounded in entries and bytes.
pub struct VerdictCache {
    entries: ShardedLru<Key, Arc<Evaluation>>,
}

impl std::fmt::Debug for VerdictCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerdictCache")
            .field("entries", &self.entries.len())
            .finish()
    }
}

impl VerdictCache {
    /// A cache of about `capacity` entries (at least one per shard).
    pub fn new(capacity: usize) -> Self {
        VerdictCache {
            entries: ShardedLru::new(capacity, BYTES_PER_ENTRY, 16 * BYTES_PER_ENTRY),
        }
    }

    /// The stored evaluation for `input`, if there is one.
    pub fn get(&self, input: &EvalInput<'_>) -> Option<Arc<Evaluation>> {
        let key = KeyRef::of(input)?;
        self.entries.get(
            self.entries.hash(&key),
            |stored| stored.borrowed() == key,
            |value| Some(Arc::clone(value)),
        )
    }

    /// Stores `evaluation` for `input` when `needed` (the variables of the
    /// rules that gave it) holds nothing volatile and the action is cacheable.
    pub fn put(&self, input: &EvalInput<'_>, needed: VarSet, evaluation: &Evaluation) {
        if !cacheable(needed) {
            return;
        }
        let Some(key) = KeyRef::of(input) else { return };
        let hash = self.entries.hash(&key);
        let bytes = key.bytes() + evaluation_bytes(evaluation) + ENTRY_OVERHEAD;
        self.entries
            .insert(hash, key.to_key(), Arc::new(evaluation.clone()), bytes);
    }

    /// How many verdicts are stored.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.entries.len()
    }
}

/// Whether an evaluation that read `needed` may be reused for the same key.
pub fn cacheable(needed: VarSet) -> bool {
    !needed.intersects(VarSet::VOLATILE) && !needed.contains(Var::HttpBody)
}

/// Everything an evaluation of a SQL statement can depend on, text aside.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Key {
    principal: String,
    principal_kind: PrincipalKind,
    groups: Vec<String>,
    connection: String,
    connection_kind: ConnectionKind,
    sql: SqlShape,
}

/// [`SqlFacts`] without the text.
#[derive(Clone, Debug, PartialEq, Eq)]
struct SqlShape {
    kind: String,
    read_only: bool,
    writes: bool,
    ddl: bool,
    has_where: bool,
    tables_read: Vec<String>,
    tables_written: Vec<String>,
    functions: Vec<String>,
    settings: Vec<String>,
}

/// A [`Key`] borrowed from an input, for lookups that copy nothing. Hashing
/// is always of this form, so a stored key and a looked-up one agree.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct KeyRef<'a> {
    principal: &'a str,
    principal_kind: PrincipalKind,
    groups: &'a [String],
    connection: &'a str,
    connection_kind: ConnectionKind,
    sql: SqlShapeRef<'a>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct SqlShapeRef<'a> {
    kind: &'a str,
    read_only: bool,
    writes: bool,
    ddl: bool,
    has_where: bool,
    tables_read: &'a [String],
    tables_written: &'a [String],
    functions: &'a [String],
    settings: &'a [String],
}

impl<'a> KeyRef<'a> {
    /// The key of `input`; `None` for an action that is never cached.
    fn of(input: &EvalInput<'a>) -> Option<KeyRef<'a>> {
        let ActionKind::Sql(facts) = input.action else {
            return None;
        };
        // Every field but `text`, named so that a new field of `SqlFacts`
        // does not compile until it is placed here or in the key.
        let SqlFacts {
            kind,
            read_only,
            writes,
            ddl,
            has_where,
            tables_read,
            tables_written,
            functions,
            settings,
            text: _,
        } = facts;
        let p = input.principal;
        Some(KeyRef {
            principal: &p.name,
            principal_kind: p.kind,
            groups: &p.groups,
            connection: &input.connection.name,
            connection_kind: input.connection.kind,
            sql: SqlShapeRef {
                kind,
                read_only: *read_only,
                writes: *writes,
                ddl: *ddl,
                has_where: *has_where,
                tables_read,
                tables_written,
                functions,
                settings,
            },
        })
    }

    fn to_key(self) -> Key {
        let s = self.sql;
        Key {
            principal: self.principal.to_owned(),
            principal_kind: self.principal_kind,
            groups: self.groups.to_vec(),
            connection: self.connection.to_owned(),
            connection_kind: self.connection_kind,
            sql: SqlShape {
                kind: s.kind.to_owned(),
                read_only: s.read_only,
                writes: s.writes,
                ddl: s.ddl,
                has_where: s.has_where,
                tables_read: s.tables_read.to_vec(),
                tables_written: s.tables_written.to_vec(),
                functions: s.functions.to_vec(),
                settings: s.settings.to_vec(),
            },
        }
    }

    /// The bytes the owned key holds, roughly.
    fn bytes(&self) -> usize {
        let s = &self.sql;
        self.principal.len()
            + self.connection.len()
            + s.kind.len()
            + strings_bytes(self.groups)
            + strings_bytes(s.tables_read)
            + strings_bytes(s.tables_written)
            + strings_bytes(s.functions)
            + strings_bytes(s.settings)
    }
}

impl Key {
    fn borrowed(&self) -> KeyRef<'_> {
        let s = &self.sql;
        KeyRef {
            principal: &self.principal,
            principal_kind: self.principal_kind,
            groups: &self.groups,
            connection: &self.connection,
            connection_kind: self.connection_kind,
            sql: SqlShapeRef {
                kind: &s.kind,
                read_only: s.read_only,
                writes: s.writes,
                ddl: s.ddl,
                has_where: s.has_where,
                tables_read: &s.tables_read,
                tables_written: &s.tables_written,
                functions: &s.functions,
                settings: &s.settings,
            },
        }
    }
}

fn strings_bytes(items: &[String]) -> usize {
    items
        .iter()
        .map(|s| s.len() + std::mem::size_of::<String>())
        .sum()
}

fn evaluation_bytes(e: &Evaluation) -> usize {
    let verdict = match &e.verdict {
        vigil_core::Verdict::Allow { rule } => rule.len(),
        vigil_core::Verdict::Deny { rule, reason } => rule.len() + reason.len(),
        vigil_core::Verdict::Review {
            rule,
            reason,
            reviewers,
            ..
        } => rule.len() + reason.len() + strings_bytes(reviewers),
    };
    let masks: usize = e
        .masks
        .iter()
        .map(|m| {
            strings_bytes(&m.columns) + strings_bytes(&m.detectors) + strings_bytes(&m.json_paths)
        })
        .sum();
    verdict + masks
}

#[cfg(test)]
mod tests;
