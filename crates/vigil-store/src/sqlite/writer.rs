//! The group-commit ledger writer.
//!
//! One thread owns the write connection. Callers send [`Command`]s through a
//! bounded channel; the thread takes whatever is queued (up to a batch cap),
//! writes all the appends in ONE transaction, commits, and only then answers
//! every waiter. One commit per batch instead of one per event is what makes
//! durable appends cheap under concurrency. The bounded channel gives
//! back-pressure: when the writer falls behind, senders wait for room, so an
//! event is never dropped and a statement is never forwarded unrecorded.
//!
//! A failed batch is rolled back and every waiter in it gets an error (the
//! gateway then refuses those statements: fail closed); the in-memory chain
//! head is only advanced after a successful commit, so later batches continue
//! a valid chain.

use super::prepared::PreparedEvent;
use super::{now_ms, sessions};
use crate::checkpoint::LedgerKey;
use crate::ledger::chain::{GENESIS_HASH, chain_hash, hash_from_blob};
use crate::{Appended, NewToken, StoreError, tokens};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use tokio::sync::{mpsc, oneshot};

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
}

pub(crate) struct Writer {
    conn: Connection,
    key: LedgerKey,
    public_key: [u8; 32],
    head: Head,
    checkpoint_every: u64,
    batch_max: usize,
    /// Whether this writer appended anything. A store opened only to manage
    /// tokens (`vigil token create` beside a running gateway) must not sign a
    /// checkpoint of a chain head another process is extending.
    appended: bool,
}

impl Writer {
    pub(crate) fn new(
        conn: Connection,
        key: LedgerKey,
        checkpoint_every: u64,
        batch_max: usize,
    ) -> Result<Self, StoreError> {
        let head = load_head(&conn)?;
        Ok(Writer {
            public_key: key.public_key(),
            conn,
            key,
            head,
            checkpoint_every,
            batch_max: batch_max.max(1),
            appended: false,
        })
    }

    /// The writer thread's body: runs until a `Close` or until every sender is gone.
    pub(crate) fn run(mut self, mut rx: mpsc::Receiver<Command>) {
        let mut batch = Vec::with_capacity(self.batch_max);
        while let Some(first) = rx.blocking_recv() {
            batch.push(first);
            while batch.len() < self.batch_max {
                match rx.try_recv() {
                    Ok(cmd) => batch.push(cmd),
                    Err(_) => break,
                }
            }
            let close = self.process(&mut batch);
            if let Some(reply) = close {
                // Refuse new sends, but write everything already queued.
                rx.close();
                while let Some(cmd) = rx.blocking_recv() {
                    batch.push(cmd);
                    if batch.len() >= self.batch_max {
                        self.drain_after_close(&mut batch);
                    }
                }
                self.drain_after_close(&mut batch);
                let _ = reply.send(self.shut_down());
                return;
            }
        }
        // Every sender dropped without `close`: still leave a checkpoint.
        if let Err(e) = self.shut_down() {
            tracing::error!(error = %e, "ledger writer could not write its final checkpoint");
        }
    }

    fn drain_after_close(&mut self, batch: &mut Vec<Command>) {
        if let Some(extra) = self.process(batch) {
            let _ = extra.send(Ok(()));
        }
    }

    /// Runs one batch in order; appends between other commands share one
    /// transaction. Returns the reply of a `Close`, if the batch held one.
    fn process(&mut self, batch: &mut Vec<Command>) -> Option<Reply<()>> {
        let mut appends: Vec<(PreparedEvent, Option<Reply<Appended>>)> = Vec::new();
        let mut close = None;
        for cmd in batch.drain(..) {
            let control = match cmd {
                Command::Append { event, reply } => {
                    appends.push((event, reply));
                    continue;
                }
                Command::Control(control) => control,
            };
            self.flush(&mut appends);
            match control {
                Control::CreateToken { token, reply } => {
                    let _ = reply.send(tokens::insert(&self.conn, &token));
                }
                Control::RevokeToken { name, reply } => {
                    let _ = reply.send(tokens::revoke(&self.conn, &name, now_ms()));
                }
                Control::Run(work) => work(self),
                Control::Close { reply } => {
                    if let Some(earlier) = close.replace(reply) {
                        let _ = earlier.send(Ok(()));
                    }
                }
            }
        }
        self.flush(&mut appends);
        close
    }

    /// Commits `appends` in one transaction and answers each waiter.
    fn flush(&mut self, appends: &mut Vec<(PreparedEvent, Option<Reply<Appended>>)>) {
        if appends.is_empty() {
            return;
        }
        match self.write_batch(appends) {
            Ok(results) => {
                for ((_, reply), appended) in appends.drain(..).zip(results) {
                    if let Some(reply) = reply {
                        let _ = reply.send(Ok(appended));
                    }
                }
            }
            Err(e) => {
                let message = e.to_string();
                tracing::error!(error = %message, events = appends.len(), "ledger batch failed; its events are not recorded");
                for (_, reply) in appends.drain(..) {
                    if let Some(reply) = reply {
                        let _ = reply.send(Err(StoreError::WriteFailed(message.clone())));
                    }
                }
            }
        }
    }

    fn write_batch(
        &mut self,
        appends: &[(PreparedEvent, Option<Reply<Appended>>)],
    ) -> Result<Vec<Appended>, StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(StoreError::sqlite("starting a ledger batch"))?;
        let mut head = self.head;
        let results = append_in(
            &tx,
            &mut head,
            &self.key,
            &self.public_key,
            self.checkpoint_every,
            appends.iter().map(|(e, _)| e),
        )?;
        tx.commit()
            .map_err(StoreError::sqlite("committing a ledger batch"))?;
        self.head = head;
        self.appended |= !results.is_empty();
        Ok(results)
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
        self.head = head;
        self.appended |= !results.is_empty();
        Ok(value)
    }

    /// Final checkpoint (when events were written since the last one) and a
    /// WAL truncation so the database file alone holds everything.
    fn shut_down(&mut self) -> Result<(), StoreError> {
        if self.appended && self.head.seq > self.head.checkpoint_seq {
            write_checkpoint(
                &self.conn,
                &self.key,
                &self.public_key,
                self.head.seq,
                &self.head.hash,
            )?;
            self.head.checkpoint_seq = self.head.seq;
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
    tx: &rusqlite::Transaction<'_>,
    head: &mut Head,
    key: &LedgerKey,
    public_key: &[u8; 32],
    checkpoint_every: u64,
    events: impl Iterator<Item = &'e PreparedEvent>,
) -> Result<Vec<Appended>, StoreError> {
    let mut results = Vec::new();
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
        head.seq = seq;
        head.hash = hash;
        if checkpoint_every > 0 && seq.unsigned_abs().is_multiple_of(checkpoint_every) {
            write_checkpoint(tx, key, public_key, seq, &hash)?;
            head.checkpoint_seq = seq;
        }
        results.push(Appended { seq, hash });
    }
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
    let checkpoint_seq: i64 = conn
        .query_row("SELECT COALESCE(MAX(seq), 0) FROM checkpoints", [], |r| {
            r.get(0)
        })
        .map_err(StoreError::sqlite("reading the last checkpoint"))?;
    Ok(match last {
        Some((seq, hash)) => Head {
            seq,
            hash: hash_from_blob(&hash, "hash", seq)?,
            checkpoint_seq,
        },
        None => Head {
            seq: 0,
            hash: GENESIS_HASH,
            checkpoint_seq,
        },
    })
}
