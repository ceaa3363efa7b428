//! A bounded cache of analyses, for the proxy's hot path: a session sends the
//! same statement text again and again, and a hit costs a hash and a lookup
//! instead of a parse.
//!
//! The key is the exact statement text and the catalog's generation, with
//! one exception: a single statement whose text differs from a cached one
//! only in numbers that are operands of comparison or arithmetic operators
//! (`WHERE aid = 12345`, as the PostgreSQL lexer itself splits the text, see
//! [`crate::literals`]) shares its entry; the facts are the cached ones with
//! the statement's own text. Case, whitespace, comments, names and every
//! other literal still make a different entry.

use std::collections::HashMap;
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};

use crate::literals::literal_key;
use crate::{AnalysisError, Catalog, SqlFacts, analyze};

/// Shards (each behind its own lock), so sessions on different statements do
/// not wait for each other.
const SHARDS: usize = 16;

/// Statements longer than this are analysed but not cached: they are rarely
/// repeated, and caching them would let a few clients fill the memory budget.
pub const MAX_CACHED_LEN: usize = 16 * 1024;

/// A bounded, thread-safe cache of [`analyze`] results.
///
/// Holds at most `capacity` entries (rounded up to a multiple of 16: the
/// cache is split into 16 shards) and at most
/// `capacity * 4 KiB` of statement text (counted twice: the key and the facts'
/// copy), evicting the least recently used entry of a shard when either bound
/// would be passed.
///
/// Errors are not cached: a statement that fails analysis is refused either
/// way, and is re-analysed if it is sent again.
#[derive(Debug)]
pub struct AnalysisCache {
    shards: Box<[RwLock<Shard>]>,
    hasher: RandomState,
    /// Per shard.
    max_entries: usize,
    /// Per shard.
    max_bytes: usize,
}

#[derive(Debug, Default)]
struct Shard {
    /// Keyed by the 64-bit hash of (generation, text); the entry holds both
    /// to tell a true hit from a hash collision.
    entries: HashMap<u64, Entry, BuildHasherDefault<Prehashed>>,
    bytes: usize,
    /// Ticks on every hit or insert: the "time" of `Entry::used`.
    clock: AtomicU64,
}

#[derive(Debug)]
struct Entry {
    generation: u64,
    /// The exact text, or the literal key (see [`crate::literals`]).
    text: Box<str>,
    facts: Arc<[SqlFacts]>,
    /// For a literal-key entry (one statement): bytes of the message before
    /// and after the statement's own text, which hold no replaced number and
    /// so are the same in every text of this key.
    around: Option<(usize, usize)>,
    bytes: usize,
    /// `Shard::clock` when last used; atomic so a hit needs only a read lock.
    used: AtomicU64,
}

impl AnalysisCache {
    /// A cache of about `capacity` statements (at least one per shard).
    pub fn new(capacity: usize) -> AnalysisCache {
        let max_entries = capacity.div_ceil(SHARDS).max(1);
        AnalysisCache {
            shards: (0..SHARDS).map(|_| RwLock::default()).collect(),
            hasher: RandomState::new(),
            max_entries,
            max_bytes: max_entries.saturating_mul(4 * 1024).max(2 * MAX_CACHED_LEN),
        }
    }

    /// [`analyze`], answered from the cache when the same text was analysed
    /// against the same catalog (same [`Catalog::generation`]) before.
    pub fn analyze(&self, sql: &str, catalog: &Catalog) -> Result<Arc<[SqlFacts]>, AnalysisError> {
        if sql.len() > MAX_CACHED_LEN {
            return analyze(sql, catalog).map(Arc::from);
        }
        let generation = catalog.generation();
        if let Some(hit) = self.lookup(generation, sql, None) {
            return Ok(hit);
        }
        let literal = literal_key(sql);
        if let Some((key, ..)) = &literal
            && let Some(hit) = self.lookup(generation, key, Some(sql))
        {
            return Ok(hit);
        }
        let facts: Arc<[SqlFacts]> = analyze(sql, catalog)?.into();
        // A statement with replaceable numbers is cached under its literal
        // key only; the exact text would be a second entry for the same facts.
        let (text, around) = match &literal {
            Some((key, first, last)) => match statement_around(sql, &facts, *first, *last) {
                Some(around) => (key.as_str(), Some(around)),
                None => (sql, None),
            },
            None => (sql, None),
        };
        let hash = self.hasher.hash_one((generation, text));
        let entry = Entry {
            generation,
            text: text.into(),
            bytes: text.len() + facts.iter().map(|f| f.text.len()).sum::<usize>(),
            facts: Arc::clone(&facts),
            around,
            used: AtomicU64::new(0),
        };
        let mut guard = self
            .shard(hash)
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        guard.insert(hash, entry, self.max_entries, self.max_bytes);
        Ok(facts)
    }

    /// The cached facts for `key` (an exact text, or the literal key of
    /// `original`, whose own text then replaces the cached statement's).
    fn lookup(
        &self,
        generation: u64,
        key: &str,
        original: Option<&str>,
    ) -> Option<Arc<[SqlFacts]>> {
        let hash = self.hasher.hash_one((generation, key));
        let guard = self
            .shard(hash)
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        let entry = guard.entries.get(&hash)?;
        if entry.generation != generation || *entry.text != *key {
            return None;
        }
        let facts = match (original, entry.around) {
            (None, None) => Arc::clone(&entry.facts),
            (Some(sql), Some((before, after))) => {
                let text = sql.get(before..sql.len().checked_sub(after)?)?;
                let mut facts = entry.facts.first()?.clone();
                facts.text = text.to_owned();
                Arc::from([facts])
            }
            _ => return None,
        };
        let now = guard.clock.fetch_add(1, Ordering::Relaxed);
        entry.used.store(now, Ordering::Relaxed);
        Some(facts)
    }

    /// How many statements the cache holds.
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| {
                s.read()
                    .unwrap_or_else(PoisonError::into_inner)
                    .entries
                    .len()
            })
            .sum()
    }

    /// Whether the cache holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Forgets everything (for example when every catalog was refreshed).
    pub fn clear(&self) {
        for shard in self.shards.iter() {
            let mut guard = shard.write().unwrap_or_else(PoisonError::into_inner);
            guard.entries.clear();
            guard.bytes = 0;
        }
    }

    fn shard(&self, hash: u64) -> &RwLock<Shard> {
        // Middle bits pick the shard: the map itself uses the low bits (bucket)
        // and the top 7 (tag), which should stay varied within a shard.
        let index = usize::try_from((hash >> 32) & 0xffff).unwrap_or(0) % self.shards.len();
        &self.shards[index]
    }
}

/// For a message of one statement whose text spans every replaced number
/// (`first..last`): how many bytes of `sql` come before and after that text.
fn statement_around(
    sql: &str,
    facts: &[SqlFacts],
    first: usize,
    last: usize,
) -> Option<(usize, usize)> {
    let [only] = facts else { return None };
    let text = only.text.as_str();
    let (start, _) = sql
        .match_indices(text)
        .find(|(start, _)| *start <= first && last <= start + text.len())?;
    Some((start, sql.len() - start - text.len()))
}

impl Shard {
    fn insert(&mut self, hash: u64, entry: Entry, max_entries: usize, max_bytes: usize) {
        let now = self.clock.fetch_add(1, Ordering::Relaxed);
        entry.used.store(now, Ordering::Relaxed);
        if let Some(old) = self.entries.remove(&hash) {
            self.bytes = self.bytes.saturating_sub(old.bytes);
        }
        while !self.entries.is_empty()
            && (self.entries.len() >= max_entries || self.bytes + entry.bytes > max_bytes)
        {
            self.evict_oldest();
        }
        self.bytes += entry.bytes;
        self.entries.insert(hash, entry);
    }

    /// Drops the least recently used entry (a scan: a shard is small, and
    /// this runs only on a miss, after a parse that costs far more).
    fn evict_oldest(&mut self) {
        let oldest = self
            .entries
            .iter()
            .min_by_key(|(_, e)| e.used.load(Ordering::Relaxed))
            .map(|(k, _)| *k);
        if let Some(old) = oldest.and_then(|k| self.entries.remove(&k)) {
            self.bytes = self.bytes.saturating_sub(old.bytes);
        }
    }
}

/// The shard maps' hasher: their keys are already uniformly distributed
/// 64-bit hashes (from a randomly keyed SipHash), so they are used as is.
#[derive(Debug, Default)]
struct Prehashed(u64);

impl Hasher for Prehashed {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only `write_u64` is expected; fold anything else in anyway.
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}
