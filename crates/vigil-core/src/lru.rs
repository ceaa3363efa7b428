//! A bounded, sharded, least-recently-used map for the proxies' hot paths
//! (statement analyses): a hit costs a hash, a read lock and a lookup.
//!
//! Callers hash their key with [`ShardedLru::hash`] and pass a predicate
//! that tells a true hit from a hash collision, so a lookup can compare a
//! borrowed form of the key (a `&str` against a stored `Box<str>`) without
//! building an owned one.

use std::collections::HashMap;
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, BuildHasherDefault, Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{PoisonError, RwLock};

/// Shards (each behind its own lock), so sessions on different keys do not
/// wait for each other.
const SHARDS: usize = 16;

/// At most `capacity` entries (rounded up to a multiple of 16) and at most
/// `capacity * bytes_per_entry` bytes as the caller counts them; the least
/// recently used entry of a shard goes first when either bound would be
/// passed.
#[derive(Debug)]
pub struct ShardedLru<K, V> {
    shards: Box<[RwLock<Shard<K, V>>]>,
    hasher: RandomState,
    /// Per shard.
    max_entries: usize,
    /// Per shard.
    max_bytes: usize,
}

#[derive(Debug)]
struct Shard<K, V> {
    /// Keyed by the caller's 64-bit hash; the entry keeps the key itself.
    entries: HashMap<u64, Entry<K, V>, BuildHasherDefault<Prehashed>>,
    bytes: usize,
    /// Ticks on every hit or insert: the "time" of `Entry::used`.
    clock: AtomicU64,
}

impl<K, V> Default for Shard<K, V> {
    fn default() -> Self {
        Shard {
            entries: HashMap::default(),
            bytes: 0,
            clock: AtomicU64::new(0),
        }
    }
}

#[derive(Debug)]
struct Entry<K, V> {
    key: K,
    value: V,
    bytes: usize,
    /// `Shard::clock` when last used; atomic so a hit needs only a read lock.
    used: AtomicU64,
}

impl<K, V> ShardedLru<K, V> {
    /// A map of about `capacity` entries (at least one per shard), each
    /// shard holding at least `min_shard_bytes`.
    pub fn new(capacity: usize, bytes_per_entry: usize, min_shard_bytes: usize) -> Self {
        let max_entries = capacity.div_ceil(SHARDS).max(1);
        ShardedLru {
            shards: (0..SHARDS).map(|_| RwLock::default()).collect(),
            hasher: RandomState::new(),
            max_entries,
            max_bytes: max_entries
                .saturating_mul(bytes_per_entry)
                .max(min_shard_bytes),
        }
    }

    /// The hash lookups and inserts of `key` use (randomly keyed).
    pub fn hash<Q: Hash + ?Sized>(&self, key: &Q) -> u64 {
        self.hasher.hash_one(key)
    }

    /// `found` applied to the entry of `hash` whose key satisfies `is_key`;
    /// marks it used when `found` returns something.
    pub fn get<R>(
        &self,
        hash: u64,
        is_key: impl FnOnce(&K) -> bool,
        found: impl FnOnce(&V) -> Option<R>,
    ) -> Option<R> {
        let guard = self
            .shard(hash)
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        let entry = guard.entries.get(&hash)?;
        if !is_key(&entry.key) {
            return None;
        }
        let out = found(&entry.value)?;
        let now = guard.clock.fetch_add(1, Ordering::Relaxed);
        entry.used.store(now, Ordering::Relaxed);
        Some(out)
    }

    /// Stores `value` under `key` (hashed to `hash`), counting `bytes`
    /// against the budget; evicts the shard's least recently used entries
    /// first if needed. An entry larger than a whole shard is not stored.
    pub fn insert(&self, hash: u64, key: K, value: V, bytes: usize) {
        if bytes > self.max_bytes {
            return;
        }
        let mut guard = self
            .shard(hash)
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        let now = guard.clock.fetch_add(1, Ordering::Relaxed);
        if let Some(old) = guard.entries.remove(&hash) {
            guard.bytes = guard.bytes.saturating_sub(old.bytes);
        }
        while !guard.entries.is_empty()
            && (guard.entries.len() >= self.max_entries || guard.bytes + bytes > self.max_bytes)
        {
            guard.evict_oldest();
        }
        guard.bytes += bytes;
        let entry = Entry {
            key,
            value,
            bytes,
            used: AtomicU64::new(now),
        };
        guard.entries.insert(hash, entry);
    }

    /// How many entries the map holds.
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

    /// Whether the map holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Forgets everything.
    pub fn clear(&self) {
        for shard in self.shards.iter() {
            let mut guard = shard.write().unwrap_or_else(PoisonError::into_inner);
            guard.entries.clear();
            guard.bytes = 0;
        }
    }

    fn shard(&self, hash: u64) -> &RwLock<Shard<K, V>> {
        // Middle bits pick the shard: the map itself uses the low bits (bucket)
        // and the top 7 (tag), which should stay varied within a shard.
        let index = usize::try_from((hash >> 32) & 0xffff).unwrap_or(0) % self.shards.len();
        &self.shards[index]
    }
}

impl<K, V> Shard<K, V> {
    /// Drops the least recently used entry (a scan: a shard is small, and
    /// this runs only on a miss, after work that costs far more).
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

#[cfg(test)]
mod tests {
    use super::*;

    fn put(map: &ShardedLru<String, u32>, key: &str, value: u32, bytes: usize) {
        map.insert(map.hash(key), key.to_string(), value, bytes);
    }

    fn get(map: &ShardedLru<String, u32>, key: &str) -> Option<u32> {
        map.get(map.hash(key), |k| k == key, |v| Some(*v))
    }

    #[test]
    fn a_stored_value_is_found_under_its_key_only() {
        let map = ShardedLru::new(64, 1024, 0);
        put(&map, "a", 1, 1);
        assert_eq!(get(&map, "a"), Some(1));
        assert_eq!(get(&map, "b"), None);
        // Same hash, different key: not a hit.
        assert_eq!(map.get(map.hash("a"), |k| k == "b", |v| Some(*v)), None);
    }

    #[test]
    fn entries_stay_within_the_count_bound() {
        let map = ShardedLru::new(16, 1024, 0);
        for i in 0..1000 {
            put(&map, &i.to_string(), i, 1);
        }
        assert!(map.len() <= 16, "{}", map.len());
        map.clear();
        assert!(map.is_empty());
    }

    #[test]
    fn entries_stay_within_the_byte_bound() {
        // One entry per shard's worth of bytes: a second evicts the first.
        let map = ShardedLru::new(16, 100, 0);
        for i in 0..1000 {
            put(&map, &i.to_string(), i, 100);
        }
        assert!(map.len() <= 16);
        // Larger than a shard: not stored at all.
        put(&map, "huge", 0, 101);
        assert_eq!(get(&map, "huge"), None);
    }

    #[test]
    fn the_least_recently_used_entry_goes_first() {
        // One shard's worth: find three keys of one shard.
        let map: ShardedLru<String, u32> = ShardedLru::new(2 * SHARDS, 1024, 0);
        let shard_of = |k: &str| (map.hash(k) >> 32 & 0xffff) as usize % SHARDS;
        let keys: Vec<String> = (0..10_000)
            .map(|i| i.to_string())
            .filter(|k| shard_of(k) == 0)
            .take(3)
            .collect();
        put(&map, &keys[0], 0, 1);
        put(&map, &keys[1], 1, 1);
        assert_eq!(get(&map, &keys[0]), Some(0));
        put(&map, &keys[2], 2, 1);
        assert_eq!(get(&map, &keys[1]), None);
        assert_eq!(get(&map, &keys[0]), Some(0));
        assert_eq!(get(&map, &keys[2]), Some(2));
    }
}
