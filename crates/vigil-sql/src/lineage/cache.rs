//! A bounded cache of [`output_lineage`] results, keyed like
//! [`AnalysisCache`](crate::AnalysisCache): exact statement text and the
//! catalog's generation, or the literal key when the text has numbers no
//! result depends on (see [`crate::literals`]; a lineage holds no literal
//! value, so the cached result is the statement's own).

use std::collections::HashMap;
use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::sync::{Arc, Mutex, PoisonError};

use super::{OutputLineage, output_lineage};
use crate::literals::literal_key;
use crate::{AnalysisError, Catalog, MAX_CACHED_LEN};

const SHARDS: usize = 16;

/// A bounded, thread-safe cache of [`output_lineage`] results.
///
/// Holds at most about `capacity` entries (split over 16 shards); when a
/// shard is full the least recently used entry goes. Texts longer than
/// [`MAX_CACHED_LEN`] are analysed but not cached; errors are not cached.
#[derive(Debug)]
pub struct LineageCache {
    shards: Box<[Mutex<Shard>]>,
    hasher: RandomState,
    max_entries: usize,
}

type Cached = Arc<Option<OutputLineage>>;

#[derive(Debug, Default)]
struct Shard {
    /// Keyed by the hash of (generation, text); the entry holds both to tell
    /// a hit from a collision (a lookup then needs no copy of the text).
    entries: HashMap<u64, Entry>,
    clock: u64,
}

#[derive(Debug)]
struct Entry {
    generation: u64,
    text: Box<str>,
    cached: Cached,
    used: u64,
}

impl LineageCache {
    pub fn new(capacity: usize) -> LineageCache {
        LineageCache {
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            hasher: RandomState::new(),
            max_entries: capacity.div_ceil(SHARDS).max(1),
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
        let hash = self.hasher.hash_one((generation, text));
        let mut guard = self
            .shard(hash)
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        while guard.entries.len() >= self.max_entries {
            let oldest = guard
                .entries
                .iter()
                .min_by_key(|(_, e)| e.used)
                .map(|(k, _)| *k);
            match oldest {
                Some(k) => {
                    guard.entries.remove(&k);
                }
                None => break,
            }
        }
        let used = guard.clock;
        guard.entries.insert(
            hash,
            Entry {
                generation,
                text: text.into(),
                cached: Arc::clone(&result),
                used,
            },
        );
        Ok(result)
    }

    fn lookup(&self, generation: u64, text: &str) -> Option<Cached> {
        let hash = self.hasher.hash_one((generation, text));
        let mut guard = self
            .shard(hash)
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        guard.clock += 1;
        let now = guard.clock;
        let entry = guard.entries.get_mut(&hash)?;
        if entry.generation != generation || *entry.text != *text {
            return None;
        }
        entry.used = now;
        Some(Arc::clone(&entry.cached))
    }

    fn shard(&self, hash: u64) -> &Mutex<Shard> {
        let index = usize::try_from(hash >> 32).unwrap_or(0) % self.shards.len();
        &self.shards[index]
    }

    /// How many results the cache holds.
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| {
                s.lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .entries
                    .len()
            })
            .sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Forgets everything.
    pub fn clear(&self) {
        for s in self.shards.iter() {
            s.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .entries
                .clear();
        }
    }
}
