//! The ledger's write connection: chains events, commits batches, signs
//! checkpoints. Who calls it and when is [`super::group`]'s business.
//!
//! A failed batch is rolled back and every waiter in it gets an error (the
//! gateway then refuses those statements: fail closed); the in-memory chain
//! head is only advanced after a successful commit, so later batches continue
//! a valid chain.

use super::prepared::PreparedEvent;
use super::{now_ms, sessions};
use crate::checkpoint::LedgerKey;
use crate::ledger::chain::{GENESIS_HASH, chain_hash, hash_from_blob};
use crate::ledger::head::HeadPublisher;
use crate::{Appended, NewToken, StoreError};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use std::sync::Arc;
use std::sync::atomic::{AtomicI32, Ordering};
use tokio::sync::oneshot;

/// WAL size, in pages (32 MiB), past which the writer thread checkpoints it
/// into the database. SQLite's own automatic checkpoint would run, with its
/// fsync, inside whichever commit crossed the line. Larger than its 1000:
/// each commit rewrites the same hot pages (the ledger's last leaf, each
/// live session's index leaf), and a checkpoint copies a page once however
/// often the WAL holds it, so a longer WAL copies much less per event.
const CHECKPOINT_PAGES: i32 = 8000;

pub(crate) type Reply<T> = oneshot::Sender<Result<T, StoreError>>;

pub(crate) enum Command {
    /// `reply` is `None` for fire-and-forget appends.
    Append {
        event: PreparedEvent,
        reply: Option<Reply<Appended>>,
    },
    /// Anything else: runs on its own, between the append batches around it.
    Control(Control),
}

impl Command {
    /// An append nobody waits for whose commit may be delayed a little: a
    /// statement's outcome. Other fire-and-forget events (a session's end,
    /// a failed login) are committed right away.
    pub(crate) fn is_lazy(&self) -> bool {
        matches!(self, Command::Append { event, reply: None } if event.event_type == "statement_done")
    }
}

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
    Run(Box<dyn FnOnce(&mut Writer) + Send>),
    /// Writes everything still queued, a final checkpoint, then stops.
    Close {
        reply: Reply<()>,
    },
}

/// The head of the chain as committed.
#[derive(Clone, Copy, Debug)]
struct Head {
    seq: i64,
    hash: [u8; 32],
    checkpoint_seq: i64,
    /// The chain hash at `checkpoint_seq`.
    checkpoint_hash: [u8; 32],
}

pub(crate) struct Writer {
    conn: Connection,
    key: LedgerKey,
    public_key: [u8; 32],
    head: Head,
    checkpoint_every: u64,
    /// Pages in the WAL after the last commit (SQLite's WAL hook).
    wal_pages: Arc<AtomicI32>,
    /// Whether this writer appended anything. A store opened only to manage
    /// tokens (`vigil token create` beside a running gateway) must not sign a
    /// checkpoint of a chain head another process is extending.
    appended: bool,
    /// Publishes each signed checkpoint outside the database.
    heads: HeadPublisher,
}

impl Writer {
    pub(crate) fn new(
        mut conn: Connection,
        key: LedgerKey,
        checkpoint_every: u64,
        heads: HeadPublisher,
    ) -> Result<Self, StoreError> {
        let head = load_head(&conn)?;
        if head.checkpoint_seq > 0 && !heads.file_exists() {
            // A data_dir from before the head file, or one whose file was
            // removed: start it from the database's own last checkpoint.
            tracing::warn!(
                seq = head.checkpoint_seq,
                "no ledger-head file: writing it from the database's last checkpoint"
            );
            heads.publish(&key, head.checkpoint_seq, &head.checkpoint_hash, now_ms());
        }
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
            public_key: key.public_key(),
            conn,
            key,
            head,
            checkpoint_every,
            wal_pages,
            appended: false,
            heads,
        })
    }

    pub(crate) fn conn(&self) -> &Connection {
        &self.conn
    }

    /// Whether the WAL grew enough to be checkpointed.
    pub(crate) fn checkpoint_due(&self) -> bool {
        self.wal_pages.load(Ordering::Relaxed) >= CHECKPOINT_PAGES
    }

    /// Copies the WAL into the database (PASSIVE: never waits for readers);
    /// the next commit then starts the WAL over. A failure is logged and
    /// retried later: the WAL only grows meanwhile.
    pub(crate) fn checkpoint(&mut self) {
        self.wal_pages.store(0, Ordering::Relaxed);
        if let Err(e) = self
            .conn
            .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
        {
            tracing::warn!(error = %e, "WAL checkpoint failed");
        }
    }

    /// Commits `appends` in one transaction; the results are in order.
    pub(crate) fn write_batch(
        &mut self,
        appends: &[(PreparedEvent, Option<Reply<Appended>>)],
    ) -> Result<Vec<Appended>, StoreError> {
        // Cached statements: `Connection::transaction` would parse BEGIN and
        // COMMIT again for every batch.
        self.conn
            .prepare_cached("BEGIN IMMEDIATE")
            .and_then(|mut s| s.execute([]))
            .map_err(StoreError::sqlite("starting a ledger batch"))?;
        let mut head = self.head;
        let written = append_in(
            &self.conn,
            &mut head,
            &self.key,
            &self.public_key,
            self.checkpoint_every,
            appends.iter().map(|(e, _)| e),
        )
        .and_then(|results| {
            self.conn
                .prepare_cached("COMMIT")
                .and_then(|mut s| s.execute([]))
                .map_err(StoreError::sqlite("committing a ledger batch"))?;
            Ok(results)
        });
        match written {
            Ok(results) => {
                self.advance(head, !results.is_empty());
                Ok(results)
            }
            Err(e) => {
                if !self.conn.is_autocommit()
                    && let Err(r) = self.conn.execute_batch("ROLLBACK")
                {
                    tracing::error!(error = %r, "could not roll back a failed ledger batch");
                }
                Err(e)
            }
        }
    }

    /// Runs `f` and appends the events it returns in ONE transaction: a state
    /// change (an approval decided, a grant revoked) and the ledger event
    /// that records it commit together or not at all. An `Err` from `f`
    /// rolls back and records nothing.
    pub(crate) fn transact<T>(
        &mut self,
        f: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<(T, Vec<PreparedEvent>), StoreError>,
    ) -> Result<T, StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(StoreError::sqlite("starting a transaction"))?;
        let (value, events) = f(&tx)?;
        let mut head = self.head;
        let results = append_in(
            &tx,
            &mut head,
            &self.key,
            &self.public_key,
            self.checkpoint_every,
            events.iter(),
        )?;
        tx.commit()
            .map_err(StoreError::sqlite("committing a transaction"))?;
        self.advance(head, !results.is_empty());
        Ok(value)
    }

    /// Takes the committed `head`; publishes a checkpoint signed on the way.
    fn advance(&mut self, head: Head, appended: bool) {
        let signed = head.checkpoint_seq > self.head.checkpoint_seq;
        self.head = head;
        self.appended |= appended;
        if signed {
            self.heads.publish(
                &self.key,
                head.checkpoint_seq,
                &head.checkpoint_hash,
                now_ms(),
            );
        }
    }

    /// Final checkpoint (when events were written since the last one) and a
    /// WAL truncation so the database file alone holds everything.
    pub(crate) fn shut_down(&mut self) -> Result<(), StoreError> {
        if self.appended && self.head.seq > self.head.checkpoint_seq {
            write_checkpoint(
                &self.conn,
                &self.key,
                &self.public_key,
                self.head.seq,
                &self.head.hash,
            )?;
            self.head.checkpoint_seq = self.head.seq;
            self.head.checkpoint_hash = self.head.hash;
            self.heads
                .publish(&self.key, self.head.seq, &self.head.hash, now_ms());
        }
        if let Err(e) = self
            .conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
        {
            tracing::warn!(error = %e, "could not truncate the WAL on close");
        }
        Ok(())
    }
}

/// Chains and inserts `events` after `head` inside the caller's transaction,
/// signing checkpoints on the way. `head` is advanced; the caller keeps it
/// only once the transaction commits.
fn append_in<'e>(
    tx: &Connection,
    head: &mut Head,
    key: &LedgerKey,
    public_key: &[u8; 32],
    checkpoint_every: u64,
    events: impl Iterator<Item = &'e PreparedEvent>,
) -> Result<Vec<Appended>, StoreError> {
    let mut results = Vec::new();
    let mut counts = sessions::Counts::default();
    let mut insert = tx
        .prepare_cached(
            "INSERT INTO ledger (seq, at_ms, session, principal, run_id, type, body, prev_hash, hash)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        )
        .map_err(StoreError::sqlite("preparing a ledger insert"))?;
    for event in events {
        let seq = head.seq + 1;
        let hash = chain_hash(&head.hash, event.body.as_bytes());
        insert
            .execute(params![
                seq,
                event.at_ms,
                event.session,
                event.principal,
                event.run_id,
                event.event_type,
                event.body,
                &head.hash[..],
                &hash[..]
            ])
            .map_err(StoreError::sqlite("inserting a ledger event"))?;
        sessions::apply(tx, event)?;
        counts.add(event, seq);
        head.seq = seq;
        head.hash = hash;
        if checkpoint_every > 0 && seq.unsigned_abs().is_multiple_of(checkpoint_every) {
            write_checkpoint(tx, key, public_key, seq, &hash)?;
            head.checkpoint_seq = seq;
            head.checkpoint_hash = hash;
        }
        results.push(Appended { seq, hash });
    }
    counts.write(tx)?;
    Ok(results)
}

fn write_checkpoint(
    conn: &Connection,
    key: &LedgerKey,
    public_key: &[u8; 32],
    seq: i64,
    hash: &[u8; 32],
) -> Result<(), StoreError> {
    let signature = key.sign(seq, hash);
    conn.prepare_cached(
        "INSERT INTO checkpoints (seq, hash, signature, public_key, at_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
    )
    .and_then(|mut s| s.execute(params![seq, &hash[..], signature, &public_key[..], now_ms()]))
    .map(|_| ())
    .map_err(StoreError::sqlite("writing a checkpoint"))
}

/// Reads the committed chain head (so appends continue the chain after a restart).
fn load_head(conn: &Connection) -> Result<Head, StoreError> {
    let last: Option<(i64, Vec<u8>)> = conn
        .query_row(
            "SELECT seq, hash FROM ledger ORDER BY seq DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()
        .map_err(StoreError::sqlite("reading the ledger head"))?;
    let checkpoint: Option<(i64, Vec<u8>)> = conn
        .query_row(
            "SELECT seq, hash FROM checkpoints ORDER BY seq DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()
        .map_err(StoreError::sqlite("reading the last checkpoint"))?;
    let (checkpoint_seq, checkpoint_hash) = match checkpoint {
        Some((seq, hash)) => (seq, hash_from_blob(&hash, "checkpoint hash", seq)?),
        None => (0, GENESIS_HASH),
    };
    Ok(match last {
        Some((seq, hash)) => Head {
            seq,
            hash: hash_from_blob(&hash, "hash", seq)?,
            checkpoint_seq,
            checkpoint_hash,
        },
        None => Head {
            seq: 0,
            hash: GENESIS_HASH,
            checkpoint_seq,
            checkpoint_hash,
        },
    })
}
