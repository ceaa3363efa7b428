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

use std::sync::Arc;

use vigil_core::lru::ShardedLru;

use crate::literals::literal_key;
use crate::{AnalysisError, Catalog, SqlFacts, analyze};

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
    /// Keyed by (catalog generation, exact text or literal key).
    entries: ShardedLru<(u64, Box<str>), Cached>,
}

#[derive(Debug)]
struct Cached {
    facts: Arc<[SqlFacts]>,
    /// For a literal-key entry (one statement): bytes of the message before
    /// and after the statement's own text, which hold no replaced number and
    /// so are the same in every text of this key.
    around: Option<(usize, usize)>,
}

impl AnalysisCache {
    /// A cache of about `capacity` statements (at least one per shard).
    pub fn new(capacity: usize) -> AnalysisCache {
        AnalysisCache {
            entries: ShardedLru::new(capacity, 4 * 1024, 2 * MAX_CACHED_LEN),
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
        let bytes = text.len() + facts.iter().map(|f| f.text.len()).sum::<usize>();
        let hash = self.entries.hash(&(generation, text));
        let cached = Cached {
            facts: Arc::clone(&facts),
            around,
        };
        self.entries
            .insert(hash, (generation, text.into()), cached, bytes);
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
        let hash = self.entries.hash(&(generation, key));
        self.entries.get(
            hash,
            |(g, text)| *g == generation && **text == *key,
            |cached| match (original, cached.around) {
                (None, None) => Some(Arc::clone(&cached.facts)),
                (Some(sql), Some((before, after))) => {
                    let text = sql.get(before..sql.len().checked_sub(after)?)?;
                    let mut facts = cached.facts.first()?.clone();
                    facts.text = text.to_owned();
                    Some(Arc::from([facts]))
                }
                _ => None,
            },
        )
    }

    /// How many statements the cache holds.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the cache holds nothing.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Forgets everything (for example when every catalog was refreshed).
    pub fn clear(&self) {
        self.entries.clear();
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
