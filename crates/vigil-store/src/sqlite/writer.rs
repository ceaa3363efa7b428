//! The index's write connection: puts the log's records into SQLite, runs
//! state changes (tokens, approvals) with the ledger events that record
//! them, and checkpoints the WAL. Who calls it and when is
//! [`super::group`]'s business; it only ever runs on the writer thread.

use super::prepared::PreparedEvent;
use super::sessions;
use crate::log::record::Record;
use crate::log::tail::{Chunk, Tail};
use crate::log::writer::{Chained, EventFields, LogWriter};
use crate::{NewToken, StoreError};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use std::sync::Arc;
use std::sync::atomic::{AtomicI32, Ordering};
use tokio::sync::oneshot;

/// WAL size, in pages (32 MiB), past which the writer thread checkpoints it
/// into the database. SQLite's own automatic checkpoint would run, with its
/// fsync, inside whichever commit crossed the line.
const CHECKPOINT_PAGES: i32 = 8000;

/// Most log bytes put into the index in one transaction.
const INDEX_BATCH_BYTES: usize = 8 << 20;

pub(crate) type Reply<T> = oneshot::Sender<Result<T, StoreError>>;

pub(crate) enum Command {
    /// `reply` is `None` for fire-and-forget appends.
    Append {
        event: PreparedEvent,
        reply: Option<Reply<crate::Appended>>,
    },
    /// Anything else: runs on its own, between the append batches around it.
    Control(Control),
}

impl Command {
    /// An append nobody waits for whose write may be delayed a little: a
    /// statement's outcome. Other fire-and-forget events (a session's end,
    /// a failed login) are written right away.
    pub(crate) fn is_lazy(&self) -> bool {
        matches!(self, Command::Append { event, reply: None } if event.event_type == "statement_done")
    }
}

/// Work run on the writer thread, with the index and the log.
pub(crate) type Work = Box<dyn FnOnce(&mut Writer, &mut LogWriter) + Send>;

pub(crate) enum Control {
    CreateToken {
        token: NewToken,
        reply: Reply<()>,
    },
    RevokeToken {
        name: String,
        reply: Reply<bool>,
    },
    /// Work that must run on the write connection, in queue order (approval
    /// state changes with the ledger events that record them, see
    /// [`Writer::transact`]). The closure answers its own caller.
    Run(Work),
    /// Writes everything still queued, a final checkpoint, then stops.
    Close {
        reply: Reply<()>,
    },
}

pub(crate) struct Writer {
    conn: Connection,
    /// Pages in the WAL after the last commit (SQLite's WAL hook).
    wal_pages: Arc<AtomicI32>,
    tail: Tail,
    records: Vec<Record>,
    chunks: Vec<Chunk>,
    /// The last event in the index, and its hash.
    indexed: (i64, [u8; 32]),
}

impl Writer {
    /// `indexed`: the index's last event (seq, hash), from [`last_indexed`].
    pub(crate) fn new(
        mut conn: Connection,
        tail: Tail,
        indexed: (i64, [u8; 32]),
    ) -> Result<Self, StoreError> {
        // Our hook replaces SQLite's automatic checkpoint: see `checkpoint`.
        let wal_pages = Arc::new(AtomicI32::new(0));
        let pages = Arc::clone(&wal_pages);
        conn.wal_hook(Some(
            move |_: &mut rusqlite::hooks::Wal, n: std::ffi::c_int| {
                pages.store(n, Ordering::Relaxed);
                Ok(())
            },
        ))
        .map_err(StoreError::sqlite("installing the WAL hook"))?;
        Ok(Writer {
            conn,
            wal_pages,
            tail,
            records: Vec::new(),
            chunks: Vec::new(),
            indexed,
        })
    }

    pub(crate) fn conn(&self) -> &Connection {
        &self.conn
    }

    /// The last seq in the index.
    pub(crate) fn indexed_seq(&self) -> i64 {
        self.indexed.0
    }

    /// Whether the WAL grew enough to be checkpointed.
    pub(crate) fn checkpoint_due(&self) -> bool {
        self.wal_pages.load(Ordering::Relaxed) >= CHECKPOINT_PAGES
    }

    /// Copies the WAL into the database (PASSIVE: never waits for readers).
    /// A failure is logged and retried later: the WAL only grows meanwhile.
    pub(crate) fn checkpoint(&mut self) {
        self.wal_pages.store(0, Ordering::Relaxed);
        if let Err(e) = self
            .conn
            .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
        {
            tracing::warn!(error = %e, "WAL checkpoint failed");
        }
    }

    /// Puts what the log holds beyond the index into it, one transaction
    /// per batch, until the index holds everything written so far.
    pub(crate) fn catch_up(&mut self) -> Result<(), StoreError> {
        loop {
            self.records.clear();
            self.chunks.clear();
            self.tail
                .read(&mut self.records, &mut self.chunks, INDEX_BATCH_BYTES)?;
            if self.records.is_empty() && self.chunks.is_empty() {
                return Ok(());
            }
            let records = std::mem::take(&mut self.records);
            let chunks = std::mem::take(&mut self.chunks);
            let result = self.index(&records, &chunks);
            self.records = records;
            self.chunks = chunks;
            result?;
        }
    }

    /// Indexes `records` (found in the log at `chunks`) in one transaction.
    fn index(&mut self, records: &[Record], chunks: &[Chunk]) -> Result<(), StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(StoreError::sqlite("starting an index batch"))?;
        let mut indexed = self.indexed;
        let mut counts = sessions::Counts::default();
        for r in records {
            match r {
                Record::Event(e) => {
                    if e.seq != indexed.0 + 1 || e.prev_hash != indexed.1 {
                        return Err(StoreError::Corrupt(format!(
                            "ledger log event {} does not continue the index at seq {}",
                            e.seq, indexed.0
                        )));
                    }
                    let fields = e.fields();
                    let chained = e.chained();
                    if has_row(&fields) {
                        insert_event(&tx, &chained, &fields)?;
                    } else {
                        sessions::apply(&tx, &fields)?;
                    }
                    counts.add(fields, e.seq);
                    indexed = (e.seq, e.hash);
                }
                Record::Checkpoint(c) => insert_checkpoint(&tx, c)?,
            }
        }
        counts.write(&tx)?;
        for c in chunks {
            insert_chunk(&tx, c)?;
        }
        tx.commit()
            .map_err(StoreError::sqlite("committing an index batch"))?;
        self.indexed = indexed;
        Ok(())
    }

    /// Runs `f` and records the events it returns in ONE step: a state
    /// change (an approval decided, a grant revoked) and the ledger events
    /// that record it. The events are written to the log first (durable),
    /// then the transaction commits; an `Err` from `f` records nothing. Should
    /// the commit itself fail after the log write, the events stay in the
    /// log (and reach the index from there) while the change does not
    /// happen: the record says more than was done, never less.
    pub(crate) fn transact<T>(
        &mut self,
        log: &mut LogWriter,
        f: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<(T, Vec<PreparedEvent>), StoreError>,
    ) -> Result<T, StoreError> {
        // The index must end where the log does: these events follow it.
        self.catch_up()?;
        if self.indexed.0 != log.head().seq {
            return Err(StoreError::Internal(format!(
                "the index ends at seq {} but the log at {}",
                self.indexed.0,
                log.head().seq
            )));
        }
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(StoreError::sqlite("starting a transaction"))?;
        let (value, events) = f(&tx)?;
        let chained = log.chain(events.iter());
        let mut counts = sessions::Counts::default();
        for (e, c) in events.iter().zip(&chained) {
            let fields = e.fields();
            insert_event(&tx, c, &fields)?;
            counts.add(fields, c.seq);
        }
        counts.write(&tx)?;
        log.write_chained(events.iter(), &chained)?;
        tx.commit()
            .map_err(StoreError::sqlite("committing a transaction"))?;
        if let Some(last) = chained.last() {
            self.indexed = (last.seq, last.hash);
            self.tail.skip_through(last.seq);
        }
        Ok(value)
    }

    /// Copies the rows of an index that has no log yet (a data directory
    /// from before the log) into the log, in order.
    pub(crate) fn copy_into_log(&mut self, log: &mut LogWriter) -> Result<u64, StoreError> {
        let mut copied = 0u64;
        loop {
            let from = log.head().seq;
            let rows = legacy_rows(&self.conn, from, 1000)?;
            if rows.is_empty() {
                return Ok(copied);
            }
            let none = super::prepared::SessionEffect::None;
            log.write_rows(rows.iter().map(|r| {
                (
                    r.chained,
                    EventFields {
                        at_ms: r.at_ms,
                        session: r.session.as_deref(),
                        principal: r.principal.as_deref(),
                        run_id: r.run_id.as_deref(),
                        event_type: &r.event_type,
                        body: &r.body,
                        effect: &none,
                    },
                )
            }))?;
            copied += rows.len() as u64;
        }
    }
}

fn insert_event(tx: &Connection, c: &Chained, e: &EventFields<'_>) -> Result<(), StoreError> {
    tx.prepare_cached(
        "INSERT INTO ledger (seq, at_ms, session, principal, run_id, type, body, prev_hash, hash)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )
    .and_then(|mut s| {
        s.execute(params![
            c.seq,
            e.at_ms,
            e.session,
            e.principal,
            e.run_id,
            e.event_type,
            e.body,
            &c.prev_hash[..],
            &c.hash[..]
        ])
    })
    .map_err(StoreError::sqlite("indexing a ledger event"))?;
    sessions::apply(tx, e)
}

/// Whether an event gets its own `ledger` row. Statements and outcomes
/// outside an agent run do not (migration 6): they are read from the log
/// through `log_chunks`, by their session's seq range.
pub(crate) fn has_row(e: &EventFields<'_>) -> bool {
    e.run_id.is_some() || !is_statement_type(e.event_type)
}

pub(crate) fn is_statement_type(event_type: &str) -> bool {
    event_type == "statement" || event_type == "statement_done"
}

fn insert_chunk(tx: &Connection, c: &Chunk) -> Result<(), StoreError> {
    tx.prepare_cached(
        "INSERT OR REPLACE INTO log_chunks (first_seq, last_seq, last_hash, segment, start, end)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )
    .and_then(|mut s| {
        s.execute(params![
            c.first_seq,
            c.last_seq,
            &c.last_hash[..],
            c.segment,
            i64::try_from(c.start).unwrap_or(i64::MAX),
            i64::try_from(c.end).unwrap_or(i64::MAX)
        ])
    })
    .map(|_| ())
    .map_err(StoreError::sqlite("indexing a log chunk"))
}

fn insert_checkpoint(
    tx: &Connection,
    c: &crate::log::record::CheckpointRecord,
) -> Result<(), StoreError> {
    tx.prepare_cached(
        "INSERT OR IGNORE INTO checkpoints (seq, hash, signature, public_key, at_ms)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )
    .and_then(|mut s| {
        s.execute(params![
            c.seq,
            &c.hash[..],
            &c.signature,
            &c.public_key[..],
            c.at_ms
        ])
    })
    .map(|_| ())
    .map_err(StoreError::sqlite("indexing a checkpoint"))
}

/// An index row, as copied into a new log.
struct LegacyRow {
    chained: Chained,
    at_ms: i64,
    session: Option<String>,
    principal: Option<String>,
    run_id: Option<String>,
    event_type: String,
    body: String,
}

fn legacy_rows(conn: &Connection, after: i64, limit: i64) -> Result<Vec<LegacyRow>, StoreError> {
    let mut stmt = conn
        .prepare(
            "SELECT seq, prev_hash, hash, at_ms, session, principal, run_id, type, body
             FROM ledger WHERE seq > ?1 ORDER BY seq LIMIT ?2",
        )
        .map_err(StoreError::sqlite("reading the index"))?;
    let rows = stmt
        .query_map(params![after, limit], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, Vec<u8>>(1)?,
                r.get::<_, Vec<u8>>(2)?,
                LegacyRow {
                    chained: Chained {
                        seq: 0,
                        prev_hash: [0; 32],
                        hash: [0; 32],
                    },
                    at_ms: r.get(3)?,
                    session: r.get(4)?,
                    principal: r.get(5)?,
                    run_id: r.get(6)?,
                    event_type: r.get(7)?,
                    body: r.get(8)?,
                },
            ))
        })
        .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
        .map_err(StoreError::sqlite("reading the index"))?;
    rows.into_iter()
        .map(|(seq, prev, hash, mut row)| {
            row.chained = Chained {
                seq,
                prev_hash: crate::ledger::chain::hash_from_blob(&prev, "prev_hash", seq)?,
                hash: crate::ledger::chain::hash_from_blob(&hash, "hash", seq)?,
            };
            Ok(row)
        })
        .collect()
}

/// The index's last event: `(seq, hash)`, `(0, genesis)` when empty: the
/// last row, or the end of the last log chunk when that is later.
pub(crate) fn last_indexed(conn: &Connection) -> Result<(i64, [u8; 32]), StoreError> {
    let last: Option<(i64, Vec<u8>)> = conn
        .query_row(
            "SELECT seq, hash FROM (
                 SELECT seq, hash FROM ledger ORDER BY seq DESC LIMIT 1)
             UNION ALL
             SELECT last_seq, last_hash FROM (
                 SELECT last_seq, last_hash FROM log_chunks ORDER BY first_seq DESC LIMIT 1)
             ORDER BY 1 DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()
        .map_err(StoreError::sqlite("reading the index's last event"))?;
    match last {
        Some((seq, hash)) => Ok((
            seq,
            crate::ledger::chain::hash_from_blob(&hash, "hash", seq)?,
        )),
        None => Ok((0, crate::ledger::chain::GENESIS_HASH)),
    }
}
