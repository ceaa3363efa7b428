//! Group commit: who writes the queued commands, and when.
//!
//! Two ways in, one connection behind one lock ([`Batcher`]):
//!
//! - **Leaders.** A caller that waits for its event (a decision: nothing
//!   is forwarded before it is durable) commits the queue itself when
//!   nobody else is writing: it takes every queued append, commits them in
//!   one transaction and answers every waiter. Callers that arrive during
//!   that commit queue their events and wait; the leader (or the next
//!   caller) commits them in the following round. There is no thread
//!   hand-off on a statement's path: waking a writer thread and being woken
//!   back cost about a third of the gateway's CPU under pgbench.
//! - **The writer thread** does the rest: control commands (tokens,
//!   approval state changes, close), appends nobody waits for (statement
//!   outcomes, within [`LAZY_DELAY`]), WAL checkpoints (whose fsync must
//!   not block a runtime worker), and everything when leaders are off
//!   (`fsync = true`: each commit waits for the disk, so it stays off the
//!   runtime's threads).
//!
//! Commands are taken from the queue only while holding the lock, so commit
//! order is queue order. No wake-up is lost: a caller queues its event
//! before it tries to lead, and whoever leads or holds the lock looks at
//! the queue again after letting go (a leader tries to lead again; the
//! writer thread does not park while the queue holds anything).

use super::prepared::PreparedEvent;
use super::queue::{Receiver, Taken};
use super::writer::{Command, Control, Reply, Writer};
use crate::{Appended, StoreError, tokens};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError, TryLockError};
use std::time::{Duration, Instant};

/// How long appends nobody waits for (statement outcomes) may wait for a
/// commit they can share. A process crash within this window loses at most
/// these outcomes, never a decision.
pub(crate) const LAZY_DELAY: Duration = Duration::from_millis(2);

/// Rounds one caller commits before it hands the queue to the writer
/// thread, so a busy gateway cannot keep one session's task writing for
/// everybody else.
const MAX_LEADER_ROUNDS: usize = 4;

/// Yields a leader makes beyond the first while its batch keeps growing.
const EXTRA_YIELDS: usize = 3;

type Pending = Vec<(PreparedEvent, Option<Reply<Appended>>)>;

/// What the lock protects: the connection, and the appends taken from the
/// queue but not committed yet.
pub(crate) struct Batcher {
    writer: Writer,
    batch: Vec<Command>,
    pending: Pending,
    /// When the oldest append in `pending` was taken.
    pending_since: Option<Instant>,
    /// The last commit, by anyone.
    last_commit: Instant,
    batch_max: usize,
}

pub(crate) struct Group {
    batcher: Mutex<Batcher>,
    rx: Receiver,
    leaders: bool,
    /// A caller is leading (between its yield and its commit).
    leading: AtomicBool,
}

impl Group {
    pub(crate) fn new(writer: Writer, rx: Receiver, batch_max: usize, leaders: bool) -> Self {
        let batch_max = batch_max.max(1);
        Group {
            batcher: Mutex::new(Batcher {
                writer,
                batch: Vec::with_capacity(batch_max),
                pending: Vec::new(),
                pending_since: None,
                last_commit: Instant::now(),
                batch_max,
            }),
            rx,
            leaders,
            leading: AtomicBool::new(false),
        }
    }

    /// Whether callers commit their own decisions (see the module docs).
    pub(crate) fn leaders(&self) -> bool {
        self.leaders
    }

    fn lock(&self) -> MutexGuard<'_, Batcher> {
        self.batcher.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Called by a caller right after it queued an append it waits for:
    /// commits the queue unless another caller is leading (that one then
    /// commits it) or the writer thread holds the connection (it looks at
    /// the queue before it parks). Blocks for the length of the commits it
    /// makes: WAL appends without fsync, tens of microseconds.
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
            // and all of them share this commit: at 10 pgbench clients a
            // leader that committed at once wrote about 2 statements per
            // commit, and a commit costs far more than an event.
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
            let (control_waiting, checkpoint) = match self.batcher.try_lock() {
                Ok(mut b) => b.lead_round(&self.rx),
                Err(TryLockError::Poisoned(p)) => p.into_inner().lead_round(&self.rx),
                Err(TryLockError::WouldBlock) => {
                    flag.finished = true;
                    return;
                }
            };
            flag.finished = true;
            drop(flag);
            if control_waiting || checkpoint {
                // Only the thread runs those; our event, if it was queued
                // behind a control, is committed by the thread too.
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
    pub(crate) fn run(&self) {
        loop {
            let mut guard = self.lock();
            let batcher = &mut *guard;
            let taken = self.rx.take(&mut batcher.batch, batcher.batch_max);
            match taken {
                Taken::Finished => {
                    // The sender dropped without `close`: still write what
                    // is queued and leave a checkpoint.
                    batcher.flush();
                    if let Err(e) = batcher.writer.shut_down() {
                        tracing::error!(error = %e, "ledger writer could not write its final checkpoint");
                    }
                    return;
                }
                Taken::Some(_) => {
                    if let Some(reply) = batcher.process() {
                        batcher.close(&self.rx, reply);
                        return;
                    }
                }
                Taken::Empty => {}
            }
            let now = Instant::now();
            if batcher.must_flush(now) {
                batcher.flush();
            }
            if batcher.writer.checkpoint_due() {
                batcher.writer.checkpoint();
            }
            let wait = batcher
                .pending_since
                .map(|since| (since + LAZY_DELAY).saturating_duration_since(Instant::now()));
            let flowing = now.duration_since(batcher.last_commit) < LAZY_DELAY;
            drop(guard);
            if taken != Taken::Empty {
                continue; // look at the queue again before parking
            }
            match wait {
                Some(wait) => self.rx.park(Some(wait)),
                // Events are flowing: an outcome may be queued without
                // waking us (see `queue`), so look again soon.
                None if flowing => self.rx.park(Some(LAZY_DELAY)),
                None => self.rx.park(None),
            }
        }
    }
}

/// The leader's flag, let go however the leader stops: a leader's future
/// dropped during its yields (its session ended) must not leave the flag
/// set, or every later caller would wait for a commit nobody makes. Then the
/// writer thread commits what was queued.
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
    /// A leader's round: commits the appends at the head of the queue.
    /// Returns whether the writer thread has work (a control command next
    /// in line, a checkpoint due).
    fn lead_round(&mut self, rx: &Receiver) -> (bool, bool) {
        let control_waiting = self.take_appends(rx);
        self.flush();
        (control_waiting, self.writer.checkpoint_due())
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

    /// Whether `pending` must be committed now: someone waits for one of
    /// its events, it is full, or its oldest outcome waited long enough.
    fn must_flush(&self, now: Instant) -> bool {
        self.pending.len() >= self.batch_max
            || self.pending.iter().any(|(_, r)| r.is_some())
            || self
                .pending_since
                .is_some_and(|since| now.duration_since(since) >= LAZY_DELAY)
    }

    /// Runs one batch in order; appends are added to `pending`, which is
    /// committed before any other command so ledger order is queue order.
    /// Returns the reply of a `Close`, if the batch held one.
    fn process(&mut self) -> Option<Reply<()>> {
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
                    let _ = reply.send(tokens::insert(self.writer.conn(), &token));
                }
                Control::RevokeToken { name, reply } => {
                    let _ = reply.send(tokens::revoke(self.writer.conn(), &name, super::now_ms()));
                }
                Control::Run(work) => work(&mut self.writer),
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

    /// Refuses new sends, writes everything already queued, signs the final
    /// checkpoint and answers the `Close`.
    fn close(&mut self, rx: &Receiver, reply: Reply<()>) {
        rx.close();
        while let Taken::Some(_) = rx.take(&mut self.batch, self.batch_max) {
            if let Some(extra) = self.process() {
                let _ = extra.send(Ok(()));
            }
            self.flush();
        }
        self.flush();
        let _ = reply.send(self.writer.shut_down());
    }

    /// Commits `pending` in one transaction and answers each waiter.
    fn flush(&mut self) {
        self.pending_since = None;
        if self.pending.is_empty() {
            return;
        }
        self.last_commit = Instant::now();
        match self.writer.write_batch(&self.pending) {
            Ok(results) => {
                for ((_, reply), appended) in self.pending.drain(..).zip(results) {
                    if let Some(reply) = reply {
                        let _ = reply.send(Ok(appended));
                    }
                }
            }
            Err(e) => {
                let message = e.to_string();
                tracing::error!(error = %message, events = self.pending.len(), "ledger batch failed; its events are not recorded");
                for (_, reply) in self.pending.drain(..) {
                    if let Some(reply) = reply {
                        let _ = reply.send(Err(StoreError::WriteFailed(message.clone())));
                    }
                }
            }
        }
    }
}
