//! `AnalysisCache`: same facts as `analyze`, keyed on exact text and catalog generation.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::Instant;

use vigil_sql::{AnalysisCache, AnalysisError, Catalog, MAX_CACHED_LEN, analyze};

#[test]
fn a_hit_returns_the_same_facts() {
    let cache = AnalysisCache::new(64);
    let catalog = common::catalog();
    let sql = "SELECT lower(name) FROM users WHERE id = $1; DELETE FROM t WHERE a = 1";
    let first = cache.analyze(sql, &catalog).unwrap();
    let second = cache.analyze(sql, &catalog).unwrap();
    assert!(Arc::ptr_eq(&first, &second), "the second call is a hit");
    assert_eq!(*first, *analyze(sql, &catalog).unwrap());
    assert_eq!(cache.len(), 1);
}

#[test]
fn texts_that_differ_in_any_byte_are_different_entries() {
    let cache = AnalysisCache::new(64);
    let catalog = Catalog::empty();
    let a = cache.analyze("SELECT 1", &catalog).unwrap();
    let b = cache.analyze("select 1", &catalog).unwrap();
    let c = cache.analyze("SELECT  1", &catalog).unwrap();
    assert!(!Arc::ptr_eq(&a, &b) && !Arc::ptr_eq(&a, &c));
    assert_eq!(b[0].text, "select 1");
    assert_eq!(cache.len(), 3);
}

#[test]
fn another_catalog_generation_misses() {
    let cache = AnalysisCache::new(64);
    let sql = "SELECT nextval('s')";
    let empty = common::bare();
    let known = common::catalog();
    assert_ne!(empty.generation(), known.generation());
    assert_ne!(empty.generation(), common::bare().generation());
    assert_ne!(Catalog::empty().generation(), Catalog::empty().generation());
    let a = cache.analyze(sql, &empty).unwrap();
    let b = cache.analyze(sql, &known).unwrap();
    assert!(!Arc::ptr_eq(&a, &b));
    assert_eq!(cache.len(), 2);
    // A clone is the same catalog: it shares the generation, and the entry.
    let clone = known.clone();
    assert_eq!(clone.generation(), known.generation());
    assert!(Arc::ptr_eq(&b, &cache.analyze(sql, &clone).unwrap()));
}

#[test]
fn a_refreshed_catalog_never_sees_stale_facts() {
    let cache = AnalysisCache::new(64);
    let sql = "SELECT my_fn()";
    let before = common::bare();
    assert!(!cache.analyze(sql, &before).unwrap()[0].read_only);
    let row = |d: &str| {
        vec![
            Some("function".to_owned()),
            Some("public".to_owned()),
            Some("my_fn".to_owned()),
            Some(d.to_owned()),
        ]
    };
    let after = Catalog::from_rows([row("i")]).unwrap();
    assert!(cache.analyze(sql, &after).unwrap()[0].read_only);
}

#[test]
fn the_capacity_bound_holds() {
    let cache = AnalysisCache::new(100);
    let catalog = Catalog::empty();
    for i in 0..2_000 {
        cache.analyze(&format!("SELECT {i}"), &catalog).unwrap();
        // At most one entry per shard above the requested capacity (rounding).
        assert!(cache.len() <= 112, "{} entries after {i}", cache.len());
    }
    assert!(cache.len() >= 50, "{}", cache.len());
}

#[test]
fn recently_used_entries_survive_eviction() {
    let cache = AnalysisCache::new(16 * 8);
    let catalog = Catalog::empty();
    let hot = cache.analyze("SELECT 'hot'", &catalog).unwrap();
    for i in 0..5_000 {
        cache.analyze(&format!("SELECT {i}"), &catalog).unwrap();
        assert!(Arc::ptr_eq(
            &hot,
            &cache.analyze("SELECT 'hot'", &catalog).unwrap()
        ));
    }
}

#[test]
fn errors_are_returned_and_not_cached() {
    let cache = AnalysisCache::new(64);
    let catalog = Catalog::empty();
    for _ in 0..2 {
        assert!(matches!(
            cache.analyze("SELEC 1", &catalog),
            Err(AnalysisError::Parse(_))
        ));
    }
    assert!(cache.is_empty());
}

#[test]
fn long_statements_are_analysed_but_not_cached() {
    let cache = AnalysisCache::new(64);
    let sql = format!("SELECT '{}'", "x".repeat(MAX_CACHED_LEN));
    let facts = cache.analyze(&sql, &Catalog::empty()).unwrap();
    assert!(facts[0].read_only);
    assert!(cache.is_empty());
    cache.analyze("SELECT 1", &Catalog::empty()).unwrap();
    cache.clear();
    assert!(cache.is_empty());
}

#[test]
fn the_cache_is_shared_between_threads() {
    let cache = Arc::new(AnalysisCache::new(1024));
    let catalog = Arc::new(common::catalog());
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let (cache, catalog) = (Arc::clone(&cache), Arc::clone(&catalog));
            std::thread::spawn(move || {
                for i in 0..500 {
                    let sql = format!("SELECT {} FROM t", i % 50);
                    let facts = cache.analyze(&sql, &catalog).unwrap();
                    assert_eq!(facts[0].text, sql, "thread {t}");
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(cache.len(), 50);
}

/// Cost of a hit. Ignored by default; run with
/// `cargo test -p vigil-sql --release --test cache -- --ignored --nocapture`.
#[test]
#[ignore = "measurement, not a check"]
fn hit_cost() {
    let cache = AnalysisCache::new(4096);
    let catalog = common::catalog();
    let sql = "SELECT abalance FROM pgbench_accounts WHERE aid = $1";
    let n = 1_000_000u32;
    cache.analyze(sql, &catalog).unwrap();
    let start = Instant::now();
    for _ in 0..n {
        std::hint::black_box(cache.analyze(std::hint::black_box(sql), &catalog)).ok();
    }
    let hit = start.elapsed() / n;
    let start = Instant::now();
    for _ in 0..n / 20 {
        std::hint::black_box(analyze(std::hint::black_box(sql), &catalog)).ok();
    }
    let miss = start.elapsed() / (n / 20);
    println!(
        "cache hit: {} ns; uncached analyze: {} ns",
        hit.as_nanos(),
        miss.as_nanos()
    );
}

#[test]
fn the_cache_is_send_and_sync() {
    fn shareable<T: Send + Sync>() {}
    shareable::<AnalysisCache>();
}
