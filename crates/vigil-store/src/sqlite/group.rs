//! Group commit: who writes the queued commands, and when.
//!
//! Two ways in, one log writer behind one lock ([`Batcher`]):
//!
//! - **Leaders.** A caller that waits for its event (a decision: nothing
//!   is forwarded before it is durable) writes the queue itself when
//!   nobody else is writing: it takes every queued append, writes them to
//!   the log with one `write` and answers every waiter. Callers that arrive
//!   during that write queue their events and wait; the leader (or the next
//!   caller) writes them in the following round. There is no thread
//!   hand-off on a statement's path.
//! - **The writer thread** does the rest: control commands (tokens,
//!   approval state changes, close), appends nobody waits for (statement
//!   outcomes, within [`LAZY_DELAY`]), everything when leaders are off
//!   (`fsync = true`: each write waits for the disk, so it stays off the
//!   runtime's threads), and, without the lock, the SQLite index: it
//!   follows the log in large transactions ([`INDEX_DELAY`]), and at once
//!   when a reader needs it to be current.
//!
//! Commands are taken from the queue only while holding the lock, so log
//! order is queue order. No wake-up is lost: a caller queues its event
//! before it tries to lead, and whoever leads or holds the lock looks at
//! the queue again after letting go.

use super::prepared::PreparedEvent;
use super::queue::{Receiver, Taken};
use super::writer::{Command, Control, Reply, Writer};
use crate::log::writer::LogWriter;
use crate::{Appended, StoreError, tokens};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError, TryLockError};
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// How long appends nobody waits for (statement outcomes) may wait for a
/// write they can share. A process crash within this window loses at most
/// these outcomes, never a decision.
pub(crate) const LAZY_DELAY: Duration = Duration::from_millis(2);

/// How long the index may lag the log while nobody reads it: larger
/// transactions cost SQLite far less per event.
pub(crate) const INDEX_DELAY: Duration = Duration::from_millis(20);

/// Events past which the index is brought up at once.
const INDEX_BACKLOG: i64 = 4096;

/// Rounds one caller writes before it hands the queue to the writer
/// thread, so a busy gateway cannot keep one session's task writing for
/// everybody else.
const MAX_LEADER_ROUNDS: usize = 4;

/// Yields a leader makes beyond the first while its batch keeps growing.
const EXTRA_YIELDS: usize = 3;

type Pending = Vec<(PreparedEvent, Option<Reply<Appended>>)>;

/// What the lock protects: the log, and the appends taken from the queue
/// but not written yet.
pub(crate) struct Batcher {
    log: LogWriter,
    batch: Vec<Command>,
    pending: Pending,
    /// When the oldest append in `pending` was taken.
    pending_since: Option<Instant>,
    /// The last write, by anyone.
    last_write: Instant,
    batch_max: usize,
}

pub(crate) struct Group {
    batcher: Mutex<Batcher>,
    rx: Receiver,
    leaders: bool,
    /// A caller is leading (between its yield and its write).
    leading: AtomicBool,
    /// The last seq in the index, for readers that need it current.
    indexed: watch::Sender<i64>,
    /// A reader waits for the index.
    sync_wanted: AtomicBool,
}

impl Group {
    pub(crate) fn new(
        log: LogWriter,
        rx: Receiver,
        batch_max: usize,
        leaders: bool,
        indexed: i64,
    ) -> Self {
        let batch_max = batch_max.max(1);
        Group {
            batcher: Mutex::new(Batcher {
                log,
                batch: Vec::with_capacity(batch_max),
                pending: Vec::new(),
                pending_since: None,
                last_write: Instant::now(),
                batch_max,
            }),
            rx,
            leaders,
            leading: AtomicBool::new(false),
            indexed: watch::Sender::new(indexed),
            sync_wanted: AtomicBool::new(false),
        }
    }

    /// Whether callers write their own decisions (see the module docs).
    pub(crate) fn leaders(&self) -> bool {
        self.leaders
    }

    fn lock(&self) -> MutexGuard<'_, Batcher> {
        self.batcher.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits until the index holds every event written before the call.
    pub(crate) async fn index_sync(&self, logged: i64) -> Result<(), StoreError> {
        let mut rx = self.indexed.subscribe();
        if *rx.borrow_and_update() >= logged {
            return Ok(());
        }
        self.sync_wanted.store(true, Ordering::Release);
        self.rx.wake();
        let wait = rx.wait_for(|&seq| seq >= logged);
        match tokio::time::timeout(Duration::from_secs(10), wait).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(_)) => Err(StoreError::Closed),
            Err(_) => Err(StoreError::Internal(
                "the ledger index did not catch up with the log within 10 s (see the gateway log)"
                    .into(),
            )),
        }
    }

    /// Called by a caller right after it queued an append it waits for:
    /// writes the queue unless another caller is leading (that one then
    /// writes it) or the writer thread holds the lock (it looks at the
    /// queue before it parks). Blocks for the length of the writes it
    /// makes: one `write` to the page cache each.
    pub(crate) async fn lead(&self) {
        for _ in 0..MAX_LEADER_ROUNDS {
            if self
                .leading
                .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
                .is_err()
            {
                return;
            }
            let mut flag = LeaderFlag {
                group: self,
                finished: false,
            };
            // Sessions that are ready to run queue their decisions first,
            // and all of them share this write.
            tokio::task::yield_now().await;
            // While others keep joining, let them: each yield also lets the
            // runtime poll the network once more.
            let mut queued = self.rx.len();
            for _ in 0..EXTRA_YIELDS {
                tokio::task::yield_now().await;
                let now = self.rx.len();
                if now <= queued {
                    break;
                }
                queued = now;
            }
            let control_waiting = match self.batcher.try_lock() {
                Ok(mut b) => b.lead_round(&self.rx),
                Err(TryLockError::Poisoned(p)) => p.into_inner().lead_round(&self.rx),
                Err(TryLockError::WouldBlock) => {
                    flag.finished = true;
                    return;
                }
            };
            flag.finished = true;
            drop(flag);
            if control_waiting {
                // Only the thread runs those; our event, if it was queued
                // behind a control, is written by the thread too.
                self.rx.wake();
                return;
            }
            // A caller that queued while we led and found us leading relies
            // on this look.
            if self.rx.is_empty() {
                return;
            }
        }
        self.rx.wake();
    }

    /// The writer thread's body: runs until a `Close` or until the sender is gone.
    pub(crate) fn run(&self, mut index: Writer) {
        let mut last_index = Instant::now();
        loop {
            let mut guard = self.lock();
            let batcher = &mut *guard;
            let taken = self.rx.take(&mut batcher.batch, batcher.batch_max);
            match taken {
                Taken::Finished => {
                    // The sender dropped without `close`: still write what
                    // is queued and leave a checkpoint.
                    batcher.flush();
                    if let Err(e) = batcher.log.close() {
                        tracing::error!(error = %e, "ledger log could not write its final checkpoint");
                    }
                    drop(guard);
                    self.shut_down(&mut index);
                    return;
                }
                Taken::Some(_) => {
                    if let Some(reply) = batcher.process(&mut index) {
                        let result = batcher.close(&self.rx);
                        drop(guard);
                        self.shut_down(&mut index);
                        let _ = reply.send(result);
                        return;
                    }
                }
                Taken::Empty => {}
            }
            let now = Instant::now();
            if batcher.must_flush(now) {
                batcher.flush();
            }
            let wait = batcher
                .pending_since
                .map(|since| (since + LAZY_DELAY).saturating_duration_since(Instant::now()));
            let flowing = now.duration_since(batcher.last_write) < LAZY_DELAY;
            let logged = batcher.log.head().seq;
            drop(guard);

            // The index, without the lock: leaders keep writing meanwhile.
            let behind = logged - index.indexed_seq();
            if behind > 0
                && (self.sync_wanted.swap(false, Ordering::AcqRel)
                    || behind >= INDEX_BACKLOG
                    || now.duration_since(last_index) >= INDEX_DELAY)
            {
                self.index(&mut index);
                last_index = Instant::now();
            }
            // A state change (approvals) indexes its own events on the way:
            // tell the readers waiting for them too.
            if index.indexed_seq() > *self.indexed.borrow() {
                self.indexed.send_replace(index.indexed_seq());
            }
            if index.checkpoint_due() {
                index.checkpoint();
            }
            if taken != Taken::Empty {
                continue; // look at the queue again before parking
            }
            let index_wait = (logged > index.indexed_seq())
                .then(|| (last_index + INDEX_DELAY).saturating_duration_since(Instant::now()));
            let wait = match (wait, index_wait) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            match wait {
                Some(wait) => self.rx.park(Some(wait)),
                // Events are flowing: an outcome may be queued without
                // waking us (see `queue`), so look again soon.
                None if flowing => self.rx.park(Some(LAZY_DELAY)),
                None => self.rx.park(None),
            }
        }
    }

    /// Brings the index up to the log and tells readers waiting for it.
    fn index(&self, index: &mut Writer) {
        if let Err(e) = index.catch_up() {
            tracing::error!(error = %e, "could not bring the ledger index up to the log; retrying");
        }
        self.indexed.send_replace(index.indexed_seq());
    }

    /// The index brought up to the end of the log, the WAL folded in.
    fn shut_down(&self, index: &mut Writer) {
        self.index(index);
        if let Err(e) = index
            .conn()
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
        {
            tracing::warn!(error = %e, "could not truncate the WAL on close");
        }
    }
}

/// The leader's flag, let go however the leader stops: a leader's future
/// dropped during its yields (its session ended) must not leave the flag
/// set, or every later caller would wait for a write nobody makes. Then the
/// writer thread writes what was queued.
struct LeaderFlag<'a> {
    group: &'a Group,
    finished: bool,
}

impl Drop for LeaderFlag<'_> {
    fn drop(&mut self) {
        self.group.leading.store(false, Ordering::Release);
        if !self.finished {
            self.group.rx.wake();
        }
    }
}

impl Batcher {
    /// A leader's round: writes the appends at the head of the queue.
    /// Returns whether a control command is next in line (the thread's).
    fn lead_round(&mut self, rx: &Receiver) -> bool {
        let control_waiting = self.take_appends(rx);
        self.flush();
        control_waiting
    }

    /// Moves the appends at the head of the queue into `pending`. Returns
    /// whether a control command is next in line (only the thread runs those).
    fn take_appends(&mut self, rx: &Receiver) -> bool {
        let control_waiting = rx.take_appends(&mut self.batch, self.batch_max);
        for cmd in self.batch.drain(..) {
            if let Command::Append { event, reply } = cmd {
                self.pending.push((event, reply));
            }
        }
        if !self.pending.is_empty() && self.pending_since.is_none() {
            self.pending_since = Some(Instant::now());
        }
        control_waiting
    }

    /// Whether `pending` must be written now: someone waits for one of
    /// its events, it is full, or its oldest outcome waited long enough.
    fn must_flush(&self, now: Instant) -> bool {
        self.pending.len() >= self.batch_max
            || self.pending.iter().any(|(_, r)| r.is_some())
            || self
                .pending_since
                .is_some_and(|since| now.duration_since(since) >= LAZY_DELAY)
    }

    /// Runs one batch in order; appends are added to `pending`, which is
    /// written before any other command so log order is queue order.
    /// Returns the reply of a `Close`, if the batch held one.
    fn process(&mut self, index: &mut Writer) -> Option<Reply<()>> {
        let mut close = None;
        let mut batch = std::mem::take(&mut self.batch);
        for cmd in batch.drain(..) {
            let control = match cmd {
                Command::Append { event, reply } => {
                    if self.pending_since.is_none() {
                        self.pending_since = Some(Instant::now());
                    }
                    self.pending.push((event, reply));
                    continue;
                }
                Command::Control(control) => control,
            };
            self.flush();
            match control {
                Control::CreateToken { token, reply } => {
                    let _ = reply.send(tokens::insert(index.conn(), &token));
                }
                Control::RevokeToken { name, reply } => {
                    let _ = reply.send(tokens::revoke(index.conn(), &name, super::now_ms()));
                }
                Control::Run(work) => work(index, &mut self.log),
                Control::Close { reply } => {
                    if let Some(earlier) = close.replace(reply) {
                        let _ = earlier.send(Ok(()));
                    }
                }
            }
        }
        self.batch = batch;
        close
    }

    /// Refuses new sends, writes everything already queued and the final
    /// checkpoint. The caller then shuts the index down and answers.
    fn close(&mut self, rx: &Receiver) -> Result<(), StoreError> {
        rx.close();
        let mut extra = Vec::new();
        while let Taken::Some(_) = rx.take(&mut self.batch, self.batch_max) {
            // Controls queued behind the close: answered, not run.
            for cmd in self.batch.drain(..) {
                match cmd {
                    Command::Append { event, reply } => self.pending.push((event, reply)),
                    Command::Control(Control::Close { reply }) => extra.push(reply),
                    Command::Control(_) => {}
                }
            }
            self.flush();
        }
        self.flush();
        for reply in extra {
            let _ = reply.send(Ok(()));
        }
        self.log.close()
    }

    /// Writes `pending` as one group and answers each waiter.
    fn flush(&mut self) {
        self.pending_since = None;
        if self.pending.is_empty() {
            return;
        }
        self.last_write = Instant::now();
        match self.log.append(self.pending.iter().map(|(e, _)| e)) {
            Ok(results) => {
                for ((_, reply), appended) in self.pending.drain(..).zip(results) {
                    if let Some(reply) = reply {
                        let _ = reply.send(Ok(appended));
                    }
                }
            }
            Err(e) => {
                let message = e.to_string();
                tracing::error!(error = %message, events = self.pending.len(), "ledger write failed; its events are not recorded");
                for (_, reply) in self.pending.drain(..) {
                    if let Some(reply) = reply {
                        let _ = reply.send(Err(StoreError::WriteFailed(message.clone())));
                    }
                }
            }
        }
    }
}
