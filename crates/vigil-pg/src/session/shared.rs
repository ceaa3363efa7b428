//! What the two pumps of a session share: one expectation per forwarded
//! message that the target answers, in the order it answers them; the names
//! the target confirmed; the transaction status; the lexing settings the
//! target reported.
//!
//! The target answers every message in order, so the head of the queue is
//! always what the next answer belongs to: rows are masked by the statement
//! at the head, an error replaces the head's answer, and after an error in
//! the extended protocol the target skips to Sync, so ReadyForQuery drops
//! everything up to the batch's end. Nothing is matched by counting or by
//! text, and an answer that fits no expectation ends the session.

use super::names::{Effect, Names, Op, Portal, Prepared};
use crate::mask::{Formats, StatementMask};
use crate::protocol::txn;
use bytes::Bytes;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::sync::watch;

/// Answers a session may have outstanding; past it the client is read no
/// further until the target catches up.
pub const MAX_EXPECTED: usize = 4096;

/// A statement on its way to the target.
pub struct Stmt {
    /// Ledger `seq` of its decision (None: nothing to decide, e.g. empty).
    pub seq: Option<i64>,
    pub started: Instant,
    pub mask: Option<Arc<StatementMask>>,
    pub formats: Formats,
    /// Its errors and notices may quote data the session must not see.
    pub guarded: bool,
    /// It changes the schema: the catalog is stale once it completes.
    pub ddl: bool,
    /// Name changes it makes when it completes (SQL-level PREPARE, ...).
    pub ops: Vec<Op>,
}

pub enum Kind {
    Parse,
    Bind,
    Close,
    Describe,
    Execute(Stmt),
    Query(VecDeque<Stmt>),
    Sync,
    /// A Sync sent after a `COPY ... FROM STDIN` and before its data: the
    /// target ignores it if the copy starts (CopyInResponse drops it here),
    /// and answers it if the copy fails first.
    CopySync,
    /// An injected marker that fails; its error is replaced by this one.
    Refusal {
        error: Bytes,
        ends_batch: bool,
    },
}

pub struct Entry {
    pub batch: u64,
    pub kind: Kind,
    /// Applied when the target confirms the message (Query: at its end).
    pub ops: Vec<Op>,
    /// Parse, Bind, Describe, Close: an error may quote data (planning at
    /// Bind runs functions over constants). Statements carry their own.
    pub guarded: bool,
}

impl Entry {
    fn ends_batch(&self) -> bool {
        matches!(
            self.kind,
            Kind::Sync
                | Kind::CopySync
                | Kind::Query(_)
                | Kind::Refusal {
                    ends_batch: true,
                    ..
                }
        )
    }

    /// Every op of the entry, last applied first.
    fn ops_newest_first(&self) -> impl Iterator<Item = &Op> {
        let stmt_ops: Box<dyn Iterator<Item = &Op>> = match &self.kind {
            Kind::Execute(s) => Box::new(s.ops.iter().rev()),
            Kind::Query(stmts) => Box::new(stmts.iter().rev().flat_map(|s| s.ops.iter().rev())),
            _ => Box::new(std::iter::empty()),
        };
        stmt_ops.chain(self.ops.iter().rev())
    }
}

/// What a name will hold when the target reaches a message of `batch`.
pub enum Lookup<T> {
    Found(T),
    Missing,
    /// An earlier batch still changes the name: wait until it is answered.
    Wait,
}

/// What the statement whose rows are arriving needs of its entry.
#[derive(Clone)]
pub struct Current {
    pub mask: Option<Arc<StatementMask>>,
    pub formats: Formats,
    pub guarded: bool,
}

/// A statement that completed or failed, for its outcome record.
pub struct Done {
    pub seq: i64,
    pub started: Instant,
    pub ddl: bool,
}

/// How an ErrorResponse is routed.
pub enum ErrorRoute {
    /// A refusal's marker failed: send this in its place.
    Replace(Bytes),
    /// The target's own error; `guarded` when it may quote masked data.
    Target { done: Option<Done>, guarded: bool },
}

/// The target's answers fit none of what was sent: the session is closed.
#[derive(Debug)]
pub struct Desync(pub &'static str);

impl std::fmt::Display for Desync {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the target's answers do not match the messages sent ({})",
            self.0
        )
    }
}

impl std::error::Error for Desync {}

#[derive(Default)]
struct Inner {
    queue: VecDeque<Entry>,
    names: Names,
    /// The batch whose error makes the target skip to its Sync.
    skipping: Option<u64>,
    /// A statement of the target's last answered batch may have changed
    /// settings or run unseen code, and is not yet answered.
    answered: u64,
}

/// Where a `COPY ... FROM STDIN` stands, as the target answered it.
pub mod copy_in {
    pub const NONE: u8 = 0;
    /// Forwarded; the target has not said whether it started.
    pub const EXPECTED: u8 = 1;
    /// CopyInResponse came: the target reads copy data and ignores Sync.
    pub const ACTIVE: u8 = 2;
}

pub struct Shared {
    txn: AtomicU8,
    copy_in: AtomicU8,
    inner: Mutex<Inner>,
    /// The expectation queue's length as of the last unlock, for the client
    /// pump's check before each message without taking the lock. Only the
    /// client pump adds entries, so the length it reads can only be too
    /// high (an answer just arrived), never too low.
    queued: AtomicUsize,
    answered: watch::Sender<u64>,
    /// The lexing setting the target reported that Vigil does not
    /// reproduce, if any: every later statement is refused.
    lexing: Mutex<Option<String>>,
    /// Whether `lexing` holds a problem: read before every statement.
    lexing_set: AtomicBool,
    /// Messages for the client that no target answer carries (the notice
    /// that a statement is held for approval); the server pump sends them
    /// between two whole messages.
    to_client: Mutex<Vec<Bytes>>,
    pub(crate) to_client_ready: tokio::sync::Notify,
}

impl Default for Shared {
    fn default() -> Self {
        Self {
            txn: AtomicU8::new(txn::IDLE),
            copy_in: AtomicU8::new(copy_in::NONE),
            inner: Mutex::new(Inner::default()),
            queued: AtomicUsize::new(0),
            answered: watch::Sender::new(0),
            lexing: Mutex::new(None),
            lexing_set: AtomicBool::new(false),
            to_client: Mutex::new(Vec::new()),
            to_client_ready: tokio::sync::Notify::new(),
        }
    }
}

impl Shared {
    /// Queues a message for the client, sent at the next message boundary.
    pub fn send_to_client(&self, message: Bytes) {
        if let Ok(mut q) = self.to_client.lock() {
            q.push(message);
        }
        self.to_client_ready.notify_one();
    }

    /// Messages queued by [`Shared::send_to_client`].
    pub fn take_to_client(&self) -> Vec<Bytes> {
        self.to_client
            .lock()
            .map(|mut q| std::mem::take(&mut *q))
            .unwrap_or_default()
    }

    pub fn txn(&self) -> u8 {
        self.txn.load(Ordering::Acquire)
    }

    pub fn copy_in(&self) -> u8 {
        self.copy_in.load(Ordering::Acquire)
    }

    /// The client pump forwarded a `COPY ... FROM STDIN`.
    pub fn copy_in_expected(&self) {
        self.copy_in.store(copy_in::EXPECTED, Ordering::Release);
    }

    /// CopyInResponse: the Syncs sent since the COPY are ignored by the target.
    pub fn copy_in_started(&self) {
        self.copy_in.store(copy_in::ACTIVE, Ordering::Release);
        self.with(|i| i.queue.retain(|e| !matches!(e.kind, Kind::CopySync)));
    }

    fn copy_in_over(&self) {
        self.copy_in.store(copy_in::NONE, Ordering::Release);
    }

    fn with<R>(&self, f: impl FnOnce(&mut Inner) -> R) -> Option<R> {
        self.inner.lock().ok().map(|mut g| {
            let r = f(&mut g);
            self.queued.store(g.queue.len(), Ordering::Release);
            r
        })
    }

    // ---- lexing settings -------------------------------------------------

    /// Records a setting the target reported that Vigil cannot reproduce.
    pub fn lexing_broken(&self, what: String) {
        if let Ok(mut l) = self.lexing.lock()
            && l.is_none()
        {
            *l = Some(what);
        }
        self.lexing_set.store(true, Ordering::Release);
    }

    /// Why statements can no longer be analysed as the target reads them.
    pub fn lexing_problem(&self) -> Option<String> {
        if !self.lexing_set.load(Ordering::Acquire) {
            return None;
        }
        match self.lexing.lock() {
            Ok(l) => l.clone(),
            Err(_) => Some("session state unavailable".into()),
        }
    }

    // ---- the client pump's side -----------------------------------------

    /// Queues what the target will answer for a message about to be
    /// forwarded. False when the queue is full (nothing was queued).
    pub fn push(&self, entry: Entry) -> bool {
        self.with(|i| {
            if i.skipping == Some(entry.batch) && !entry.ends_batch() {
                // The target skips it: it is never answered, never applied.
                return true;
            }
            if i.queue.len() >= MAX_EXPECTED {
                return false;
            }
            i.queue.push_back(entry);
            true
        })
        .unwrap_or(false)
    }

    pub fn is_full(&self) -> bool {
        self.queued.load(Ordering::Acquire) >= MAX_EXPECTED
    }

    pub fn is_quiet(&self) -> bool {
        self.with(|i| i.queue.is_empty()).unwrap_or(true)
    }

    /// The statement `name` will name when the target reads a message of `batch`.
    pub fn statement(&self, name: &str, batch: u64) -> Lookup<Arc<Prepared>> {
        self.with(|i| lookup(i, batch, |op| op.on_statement(name), |n| n.statement(name)))
            .unwrap_or(Lookup::Missing)
    }

    /// The portal `name` will name when the target reads a message of `batch`.
    pub fn portal(&self, name: &str, batch: u64) -> Lookup<Arc<Portal>> {
        self.with(|i| lookup(i, batch, |op| op.on_portal(name), |n| n.portal(name)))
            .unwrap_or(Lookup::Missing)
    }

    /// Confirmed names and in-flight entries, for the per-session budget.
    pub fn name_counts(&self) -> (usize, usize) {
        self.with(|i| (i.names.statement_count(), i.names.portal_count()))
            .unwrap_or((usize::MAX, usize::MAX))
    }

    /// Bytes the confirmed statements and portals hold.
    pub fn name_bytes(&self) -> usize {
        self.with(|i| i.names.bytes()).unwrap_or(usize::MAX)
    }

    /// Resolves once every batch before `batch` is answered.
    pub async fn wait_answered(&self, batch: u64) {
        let mut rx = self.answered.subscribe();
        let _ = rx.wait_for(|a| *a >= batch).await;
    }

    // ---- the server pump's side -----------------------------------------

    /// ParseComplete, BindComplete, CloseComplete, NoData / RowDescription
    /// of a Describe: the head must be that message; its ops now hold.
    pub fn confirm(&self, tag: u8) -> Result<(), Desync> {
        self.with(|i| {
            let fits = matches!(
                (tag, i.queue.front().map(|e| &e.kind)),
                (b'1', Some(Kind::Parse))
                    | (b'2', Some(Kind::Bind))
                    | (b'3', Some(Kind::Close))
                    | (b'n' | b'T', Some(Kind::Describe))
            );
            if !fits {
                return Err(Desync("confirmation"));
            }
            if let Some(entry) = i.queue.pop_front() {
                for op in &entry.ops {
                    i.names.apply(op);
                }
            }
            Ok(())
        })
        .unwrap_or(Err(Desync("state lock")))
    }

    /// Whether a RowDescription belongs to a Describe at the head.
    pub fn describing(&self) -> bool {
        self.with(|i| matches!(i.queue.front().map(|e| &e.kind), Some(Kind::Describe)))
            .unwrap_or(false)
    }

    /// The statement whose rows or errors are arriving: the Execute at the
    /// head, or the running statement of the Query at the head.
    pub fn current(&self) -> Option<Current> {
        self.with(|i| {
            let stmt = match &i.queue.front()?.kind {
                Kind::Execute(s) => s,
                Kind::Query(stmts) => stmts.front()?,
                _ => return None,
            };
            Some(Current {
                mask: stmt.mask.clone(),
                formats: stmt.formats.clone(),
                guarded: stmt.guarded,
            })
        })
        .flatten()
    }

    /// CommandComplete (`applied`: its name changes hold), EmptyQuery or
    /// PortalSuspended: the running statement is done.
    pub fn complete(&self, applied: bool) -> Result<Option<Done>, Desync> {
        self.copy_in_over();
        self.with(|i| {
            let stmt = match i.queue.front_mut().map(|e| &mut e.kind) {
                Some(Kind::Execute(_)) => match i.queue.pop_front().map(|e| e.kind) {
                    Some(Kind::Execute(s)) => Some(s),
                    _ => None,
                },
                Some(Kind::Query(stmts)) => stmts.pop_front(),
                _ => return Err(Desync("completion")),
            };
            let Some(stmt) = stmt else {
                // An empty Query answers with EmptyQueryResponse alone.
                return Ok(None);
            };
            if applied {
                for op in &stmt.ops {
                    i.names.apply(op);
                }
            }
            Ok(stmt.seq.map(|seq| Done {
                seq,
                started: stmt.started,
                ddl: stmt.ddl && applied,
            }))
        })
        .unwrap_or(Err(Desync("state lock")))
    }

    /// An ErrorResponse: what it answers, and how to show it.
    pub fn error(&self, guard_unknown: bool) -> ErrorRoute {
        self.copy_in_over();
        self.with(|i| {
            let Some(entry) = i.queue.front_mut() else {
                // Not an answer to anything sent (a FATAL at idle).
                return ErrorRoute::Target {
                    done: None,
                    guarded: guard_unknown,
                };
            };
            let batch = entry.batch;
            let route = match &mut entry.kind {
                Kind::Query(stmts) => {
                    // The Query stops here; ReadyForQuery ends it.
                    let stmt = stmts.pop_front();
                    stmts.clear();
                    if let Some(s) = &stmt {
                        forget_portals_if_code_ran(&mut i.names, &s.ops);
                    }
                    return ErrorRoute::Target {
                        guarded: stmt.as_ref().map_or(guard_unknown, |s| s.guarded),
                        done: stmt.and_then(|s| {
                            s.seq.map(|seq| Done {
                                seq,
                                started: s.started,
                                ddl: false,
                            })
                        }),
                    };
                }
                Kind::Sync | Kind::CopySync => {
                    // An error while the target syncs (a deferred constraint
                    // at the implicit commit): ReadyForQuery still follows.
                    return ErrorRoute::Target {
                        done: None,
                        guarded: guard_unknown,
                    };
                }
                _ => match i.queue.pop_front() {
                    Some(Entry {
                        kind: Kind::Refusal { error, ends_batch },
                        ops,
                        ..
                    }) => {
                        for op in &ops {
                            i.names.apply(op);
                        }
                        if ends_batch {
                            // Its ReadyForQuery is still to come.
                            i.queue.push_front(Entry {
                                batch,
                                kind: Kind::Sync,
                                ops: Vec::new(),
                                guarded: false,
                            });
                        }
                        ErrorRoute::Replace(error)
                    }
                    Some(Entry {
                        kind: Kind::Execute(s),
                        ..
                    }) => {
                        forget_portals_if_code_ran(&mut i.names, &s.ops);
                        ErrorRoute::Target {
                            guarded: s.guarded,
                            done: s.seq.map(|seq| Done {
                                seq,
                                started: s.started,
                                ddl: false,
                            }),
                        }
                    }
                    Some(entry) => {
                        // A failed Bind may still have run code while planning.
                        forget_portals_if_code_ran(&mut i.names, &entry.ops);
                        ErrorRoute::Target {
                            done: None,
                            guarded: entry.guarded,
                        }
                    }
                    None => ErrorRoute::Target {
                        done: None,
                        guarded: guard_unknown,
                    },
                },
            };
            // Extended protocol: the target skips everything to the Sync.
            skip_to_sync(i, batch);
            route
        })
        .unwrap_or(ErrorRoute::Target {
            done: None,
            guarded: true,
        })
    }

    /// ReadyForQuery: the head batch is over. Entries the target skipped
    /// are dropped unapplied; portals die with their transaction.
    pub fn ready(&self, status: u8) -> Result<(), Desync> {
        self.txn.store(status, Ordering::Release);
        self.copy_in_over();
        let answered = self
            .with(|i| {
                loop {
                    let Some(entry) = i.queue.pop_front() else {
                        return Err(Desync("ReadyForQuery"));
                    };
                    if entry.ends_batch() {
                        if matches!(entry.kind, Kind::Query(_)) {
                            for op in &entry.ops {
                                i.names.apply(op);
                            }
                        }
                        i.skipping = None;
                        if status == txn::IDLE {
                            i.names.end_transaction();
                        }
                        i.answered = entry.batch + 1;
                        return Ok(i.answered);
                    }
                }
            })
            .unwrap_or(Err(Desync("state lock")))?;
        self.answered.send_replace(answered);
        Ok(())
    }
}

/// Code ran that may have opened or closed cursors by any name (a failed
/// statement still ran until it failed; a failed Bind may have planned).
fn forget_portals_if_code_ran(names: &mut Names, ops: &[Op]) {
    if ops.iter().any(|o| matches!(o, Op::ForgetPortals)) {
        names.apply(&Op::ForgetPortals);
    }
}

/// Drops the entries of `batch` the target will skip, keeping its Sync.
fn skip_to_sync(i: &mut Inner, batch: u64) {
    i.skipping = Some(batch);
    while let Some(entry) = i.queue.front() {
        if entry.batch != batch || entry.ends_batch() {
            break;
        }
        i.queue.pop_front();
    }
}

fn lookup<T>(
    i: &Inner,
    batch: u64,
    effect: impl Fn(&Op) -> Effect<T>,
    confirmed: impl Fn(&Names) -> Option<T>,
) -> Lookup<T> {
    for entry in i.queue.iter().rev() {
        for op in entry.ops_newest_first() {
            match effect(op) {
                Effect::None => continue,
                _ if entry.batch < batch => return Lookup::Wait,
                Effect::Set(v) => return Lookup::Found(v),
                Effect::Gone => return Lookup::Missing,
            }
        }
    }
    match confirmed(&i.names) {
        Some(v) => Lookup::Found(v),
        None => Lookup::Missing,
    }
}
