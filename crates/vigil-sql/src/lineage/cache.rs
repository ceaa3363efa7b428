//! A bounded cache of [`output_lineage`] results, keyed like
//! [`AnalysisCache`](crate::AnalysisCache): exact statement text and the
//! catalog's generation, or the literal key when the text has numbers no
//! result depends on (see [`crate::literals`]; a lineage holds no literal
//! value, so the cached result is the statement's own).

use std::sync::Arc;

use vigil_core::lru::ShardedLru;

use super::{OutputLineage, output_lineage};
use crate::literals::literal_key;
use crate::{AnalysisError, Catalog, MAX_CACHED_LEN};

/// A bounded, thread-safe cache of [`output_lineage`] results.
///
/// Holds at most about `capacity` entries (split over 16 shards); when a
/// shard is full the least recently used entry goes. Texts longer than
/// [`MAX_CACHED_LEN`] are analysed but not cached; errors are not cached.
#[derive(Debug)]
pub struct LineageCache {
    /// Keyed by (catalog generation, exact text or literal key).
    entries: ShardedLru<(u64, Box<str>), Cached>,
}

type Cached = Arc<Option<OutputLineage>>;

impl LineageCache {
    pub fn new(capacity: usize) -> LineageCache {
        LineageCache {
            // Counted by entries only: each costs one byte of the budget.
            entries: ShardedLru::new(capacity, 1, 0),
        }
    }

    /// [`output_lineage`], answered from the cache when the same text was
    /// analysed against the same catalog ([`Catalog::generation`]) before.
    pub fn output_lineage(&self, sql: &str, catalog: &Catalog) -> Result<Cached, AnalysisError> {
        if sql.len() > MAX_CACHED_LEN {
            return output_lineage(sql, catalog).map(Arc::new);
        }
        let generation = catalog.generation();
        if let Some(hit) = self.lookup(generation, sql) {
            return Ok(hit);
        }
        let literal = literal_key(sql).map(|(key, ..)| key);
        if let Some(key) = &literal
            && let Some(hit) = self.lookup(generation, key)
        {
            return Ok(hit);
        }
        let result: Cached = Arc::new(output_lineage(sql, catalog)?);
        // Cached under the literal key only, when there is one.
        let text = literal.as_deref().unwrap_or(sql);
        let hash = self.entries.hash(&(generation, text));
        self.entries
            .insert(hash, (generation, text.into()), Arc::clone(&result), 1);
        Ok(result)
    }

    fn lookup(&self, generation: u64, text: &str) -> Option<Cached> {
        let hash = self.entries.hash(&(generation, text));
        self.entries.get(
            hash,
            |(g, key)| *g == generation && **key == *text,
            |cached| Some(Arc::clone(cached)),
        )
    }

    /// How many results the cache holds.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Forgets everything.
    pub fn clear(&self) {
        self.entries.clear();
    }
}
