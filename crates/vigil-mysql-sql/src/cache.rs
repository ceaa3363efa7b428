//! A bounded cache of [`analyze`] results for the proxy's hot path: a
//! session sends the same statement text again and again, and a hit costs a
//! hash and a lookup instead of a lex and a parse.
//!
//! The key is everything [`analyze`] reads: the exact bytes of the text and
//! the whole [`Context`] (lexing mode, target flavor and version, current
//! database). A text read under another `sql_mode` or another database is
//! another entry, so a hit is always the analysis the text would get now.

use std::sync::Arc;

use vigil_core::lru::ShardedLru;

use crate::{Analysed, AnalysisError, Context, LexMode, Target, analyze};

/// Texts longer than this are analysed but not cached: they are rarely
/// repeated, and caching them would let a few clients fill the budget.
pub const MAX_CACHED_LEN: usize = 16 * 1024;

type Key = (Box<[u8]>, LexMode, Target, Option<Box<str>>);

/// A bounded, thread-safe cache of [`analyze`] results: at most about
/// `capacity` entries (16 shards, least recently used first out) and
/// `capacity * 8 KiB` of text and facts. Errors are not cached.
#[derive(Debug)]
pub struct AnalysisCache {
    entries: ShardedLru<Key, Arc<[Analysed]>>,
}

impl AnalysisCache {
    pub fn new(capacity: usize) -> AnalysisCache {
        AnalysisCache {
            entries: ShardedLru::new(capacity, 8 * 1024, 4 * MAX_CACHED_LEN),
        }
    }

    /// [`analyze`], answered from the cache when the same text was analysed
    /// under the same context before.
    pub fn analyze(&self, sql: &[u8], ctx: &Context<'_>) -> Result<Arc<[Analysed]>, AnalysisError> {
        if sql.len() > MAX_CACHED_LEN {
            return analyze(sql, ctx).map(Arc::from);
        }
        let hash = self
            .entries
            .hash(&(sql, ctx.mode, ctx.target, ctx.database));
        let is_key = |(text, mode, target, database): &Key| {
            **text == *sql
                && *mode == ctx.mode
                && *target == ctx.target
                && database.as_deref() == ctx.database
        };
        if let Some(hit) = self.entries.get(hash, is_key, |a| Some(Arc::clone(a))) {
            return Ok(hit);
        }
        let analysed: Arc<[Analysed]> = analyze(sql, ctx)?.into();
        let bytes = sql.len()
            + analysed
                .iter()
                .map(|a| 256 + a.facts.text.len())
                .sum::<usize>();
        let key = (
            Box::from(sql),
            ctx.mode,
            ctx.target,
            ctx.database.map(Box::from),
        );
        self.entries.insert(hash, key, Arc::clone(&analysed), bytes);
        Ok(analysed)
    }

    /// How many texts the cache holds.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Flavor;
    use proptest::prelude::*;

    fn ctx(mode: LexMode, database: Option<&str>) -> Context<'_> {
        Context {
            mode,
            target: Target {
                flavor: Flavor::Mariadb,
                version: Some(101106),
            },
            database,
        }
    }

    #[test]
    fn a_repeated_text_is_answered_from_the_cache() {
        let cache = AnalysisCache::new(64);
        let c = ctx(LexMode::default(), Some("shop"));
        let first = cache.analyze(b"SELECT * FROM orders", &c).unwrap();
        let second = cache.analyze(b"SELECT * FROM orders", &c).unwrap();
        assert!(Arc::ptr_eq(&first, &second));
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn another_database_is_another_analysis() {
        let cache = AnalysisCache::new(64);
        let shop = cache
            .analyze(
                b"DELETE FROM orders",
                &ctx(LexMode::default(), Some("shop")),
            )
            .unwrap();
        let crm = cache
            .analyze(b"DELETE FROM orders", &ctx(LexMode::default(), Some("crm")))
            .unwrap();
        assert_eq!(shop[0].facts.tables_written, vec!["shop.orders"]);
        assert_eq!(crm[0].facts.tables_written, vec!["crm.orders"]);
    }

    #[test]
    fn another_sql_mode_is_another_analysis() {
        // Under ANSI_QUOTES "x" is an identifier; a cached string reading
        // must not be reused.
        let cache = AnalysisCache::new(64);
        let text = b"SELECT \"a\" FROM t";
        let plain = cache.analyze(text, &ctx(LexMode::default(), None));
        let ansi = LexMode {
            ansi_quotes: true,
            ..LexMode::default()
        };
        let quoted = cache.analyze(text, &ctx(ansi, None));
        assert_eq!(
            plain.is_ok(),
            analyze(text, &ctx(LexMode::default(), None)).is_ok()
        );
        assert_eq!(quoted.map(|a| a.to_vec()), analyze(text, &ctx(ansi, None)));
    }

    #[test]
    fn errors_are_not_cached() {
        let cache = AnalysisCache::new(64);
        let c = ctx(LexMode::default(), None);
        assert!(cache.analyze(b"SELEC nonsense", &c).is_err());
        assert!(cache.is_empty());
    }

    proptest! {
        /// Whatever was cached before, the answer is what `analyze` gives.
        #[test]
        fn the_cache_answers_as_analyze_does(
            texts in proptest::collection::vec(
                prop_oneof![
                    Just("SELECT a FROM t".to_string()),
                    Just("select a from t".to_string()),
                    Just("DELETE FROM t WHERE a = 1".to_string()),
                    Just("SELECT \"x\" FROM t".to_string()),
                    Just("SELECT 1; DROP TABLE t".to_string()),
                    Just("SELECT /*!50000 SLEEP(1) */ 1".to_string()),
                    "[a-zA-Z0-9 ;'\"*/!]{0,40}",
                ],
                1..40,
            ),
            modes in proptest::collection::vec((any::<bool>(), any::<bool>(), any::<bool>(), any::<bool>()), 1..40),
        ) {
            let cache = AnalysisCache::new(16);
            for (text, (ansi, nbe, pipes, db)) in texts.iter().zip(modes.iter().cycle()) {
                let mode = LexMode { ansi_quotes: *ansi, no_backslash_escapes: *nbe, pipes_as_concat: *pipes };
                let c = ctx(mode, db.then_some("shop"));
                let cached = cache.analyze(text.as_bytes(), &c).map(|a| a.to_vec());
                prop_assert_eq!(cached, analyze(text.as_bytes(), &c));
            }
        }
    }
}
