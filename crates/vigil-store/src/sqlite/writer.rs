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
use super::queue::{Receiver, Taken};
use super::{now_ms, sessions};
use crate::checkpoint::LedgerKey;
use crate::ledger::chain::{GENESIS_HASH, chain_hash, hash_from_blob};
use crate::{Appended, NewToken, StoreError, tokens};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// How long a round of lazy events (statement outcomes) may wait for a
/// commit it can share. Nobody waits for them, and a process crash within
/// this window loses at most these outcomes, never a decision.
const LAZY_DELAY: Duration = Duration::from_millis(2);

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

    /// The writer thread's body: runs until a `Close` or until the sender is gone.
    ///
    /// Appends collect in `pending` and commit together. A round commits at
    /// once when anyone waits for one of its events (a decision: nothing is
    /// forwarded before it is durable) or when the batch is full; a round of
    /// lazy events only (statement outcomes, which nobody waits for) is kept
    /// for at most [`LAZY_DELAY`], so it usually shares the next decision's
    /// commit instead of costing one of its own. Lazy senders do not wake
    /// the writer (see [`super::queue`]): while events flow, the writer
    /// sleeps with a deadline and picks them up on its next round.
    pub(crate) fn run(mut self, rx: Receiver) {
        let mut batch = Vec::with_capacity(self.batch_max);
        let mut pending: Vec<(PreparedEvent, Option<Reply<Appended>>)> = Vec::new();
        let mut deadline: Option<Instant> = None;
        let mut last_work = Instant::now();
        loop {
            match rx.take(&mut batch, self.batch_max) {
                Taken::Some(_) => {}
                Taken::Finished => break,
                Taken::Empty => {
                    let now = Instant::now();
                    match deadline {
                        Some(d) if now >= d => {
                            self.flush(&mut pending);
                            deadline = None;
                        }
                        Some(d) => rx.park(Some(d - now)),
                        None if now.duration_since(last_work) < LAZY_DELAY => {
                            // Events are flowing: a lazy one may be queued
                            // without waking us, so look again soon.
                            rx.park(Some(LAZY_DELAY));
                        }
                        None => rx.park(None),
                    }
                    continue;
                }
            }
            last_work = Instant::now();
            let close = self.process(&mut batch, &mut pending);
            if let Some(reply) = close {
                // Refuse new sends, but write everything already queued.
                rx.close();
                while let Taken::Some(_) = rx.take(&mut batch, self.batch_max) {
                    if let Some(extra) = self.process(&mut batch, &mut pending) {
                        let _ = extra.send(Ok(()));
                    }
                    self.flush(&mut pending);
                }
                self.flush(&mut pending);
                let _ = reply.send(self.shut_down());
                return;
            }
            if pending.len() >= self.batch_max || pending.iter().any(|(_, r)| r.is_some()) {
                self.flush(&mut pending);
                deadline = None;
            } else if !pending.is_empty() && deadline.is_none() {
                deadline = Some(last_work + LAZY_DELAY);
            }
        }
        // The sender dropped without `close`: still write what is queued and
        // leave a checkpoint.
        self.flush(&mut pending);
        if let Err(e) = self.shut_down() {
            tracing::error!(error = %e, "ledger writer could not write its final checkpoint");
        }
    }

    /// Runs one batch in order; appends are added to `pending`, which is
    /// committed before any other command so ledger order is queue order.
    /// Returns the reply of a `Close`, if the batch held one.
    fn process(
        &mut self,
        batch: &mut Vec<Command>,
        pending: &mut Vec<(PreparedEvent, Option<Reply<Appended>>)>,
    ) -> Option<Reply<()>> {
        let mut close = None;
        for cmd in batch.drain(..) {
            let control = match cmd {
                Command::Append { event, reply } => {
                    pending.push((event, reply));
                    continue;
                }
                Command::Control(control) => control,
            };
            self.flush(pending);
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
                self.head = head;
                self.appended |= !results.is_empty();
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
        counts.add(event);
        head.seq = seq;
        head.hash = hash;
        if checkpoint_every > 0 && seq.unsigned_abs().is_multiple_of(checkpoint_every) {
            write_checkpoint(tx, key, public_key, seq, &hash)?;
            head.checkpoint_seq = seq;
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
