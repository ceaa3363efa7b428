//! A small cache of successful token lookups.
//!
//! The PostgreSQL front-end authenticates every connection (`pgbench -C`
//! opens one per transaction), so a store query per connection would put the
//! database on the hot path. Only positive results are cached, keyed by the
//! token's hash (never its text): a client sending garbage cannot fill or
//! flush the cache, since only valid tokens get in. The cost is that a
//! revocation takes effect within the cache TTL (1 s by default) rather than
//! at once; expiry is still checked on every hit.

use crate::Principal;
use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

#[derive(Clone)]
pub(crate) struct Entry {
    pub principal: Principal,
    pub expires_at_ms: Option<i64>,
    /// When the store last vouched for the token.
    pub cached_at: Instant,
}

pub(crate) struct PositiveCache {
    ttl: Duration,
    capacity: usize,
    entries: Mutex<HashMap<[u8; 32], Entry>>,
}

impl PositiveCache {
    pub(crate) fn new(ttl: Duration, capacity: usize) -> Self {
        PositiveCache {
            ttl,
            capacity,
            entries: Mutex::new(HashMap::new()),
        }
    }

    pub(crate) fn ttl(&self) -> Duration {
        self.ttl
    }

    fn enabled(&self) -> bool {
        !self.ttl.is_zero() && self.capacity > 0
    }

    /// A poisoned lock only means another thread panicked mid-update; the
    /// safe recovery for a cache is to forget everything.
    fn lock(&self) -> MutexGuard<'_, HashMap<[u8; 32], Entry>> {
        match self.entries.lock() {
            Ok(guard) => guard,
            Err(poisoned) => {
                let mut guard = poisoned.into_inner();
                guard.clear();
                guard
            }
        }
    }

    /// A fresh entry for `hash`, if any.
    pub(crate) fn get(&self, hash: &[u8; 32]) -> Option<Entry> {
        if !self.enabled() {
            return None;
        }
        let mut entries = self.lock();
        match entries.get(hash) {
            Some(entry) if entry.cached_at.elapsed() < self.ttl => Some(entry.clone()),
            Some(_) => {
                entries.remove(hash);
                None
            }
            None => None,
        }
    }

    pub(crate) fn insert(&self, hash: [u8; 32], principal: Principal, expires_at_ms: Option<i64>) {
        self.insert_at(hash, principal, expires_at_ms, Instant::now());
    }

    /// [`PositiveCache::insert`] of a lookup made at `cached_at` (an entry is
    /// never fresher than the read it caches).
    pub(crate) fn insert_at(
        &self,
        hash: [u8; 32],
        principal: Principal,
        expires_at_ms: Option<i64>,
        cached_at: Instant,
    ) {
        if !self.enabled() {
            return;
        }
        let mut entries = self.lock();
        if entries.len() >= self.capacity && !entries.contains_key(&hash) {
            let ttl = self.ttl;
            entries.retain(|_, e| e.cached_at.elapsed() < ttl);
            if entries.len() >= self.capacity {
                let oldest = entries
                    .iter()
                    .min_by_key(|(_, e)| e.cached_at)
                    .map(|(k, _)| *k);
                if let Some(oldest) = oldest {
                    entries.remove(&oldest);
                }
            }
        }
        entries.insert(
            hash,
            Entry {
                principal,
                expires_at_ms,
                cached_at,
            },
        );
    }

    pub(crate) fn remove(&self, hash: &[u8; 32]) {
        self.lock().remove(hash);
    }

    pub(crate) fn clear(&self) {
        self.lock().clear();
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigil_core::PrincipalKind;

    fn principal(name: &str) -> Principal {
        let record = vigil_core::PrincipalRecord {
            name: name.into(),
            groups: vec![],
            kind: PrincipalKind::Agent,
            issuer: "vigil".into(),
            ..Default::default()
        };
        Principal::verified(record, None)
    }

    #[test]
    fn the_cache_is_bounded() {
        let cache = PositiveCache::new(Duration::from_secs(30), 3);
        for i in 0..10u8 {
            cache.insert([i; 32], principal("p"), None);
        }
        assert_eq!(cache.len(), 3);
        assert!(cache.get(&[9; 32]).is_some(), "newest entries stay");
        assert!(cache.get(&[0; 32]).is_none(), "oldest entries go");
    }

    #[test]
    fn entries_go_stale_after_the_ttl() {
        let cache = PositiveCache::new(Duration::from_millis(20), 10);
        cache.insert([1; 32], principal("p"), None);
        assert!(cache.get(&[1; 32]).is_some());
        std::thread::sleep(Duration::from_millis(30));
        assert!(cache.get(&[1; 32]).is_none());
    }

    #[test]
    fn a_zero_ttl_disables_the_cache() {
        let cache = PositiveCache::new(Duration::ZERO, 10);
        cache.insert([1; 32], principal("p"), None);
        assert!(cache.get(&[1; 32]).is_none());
    }
}
