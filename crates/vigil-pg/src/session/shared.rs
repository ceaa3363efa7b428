//! What the two pumps of a session share: the transaction status, the
//! statements in flight (for timings) and the refusals waiting for their
//! place in the response stream.

use crate::mask::{Formats, StatementMask};
use crate::protocol::txn;
use bytes::Bytes;
use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Instant;

/// At most this many statements are timed at once; past it, timings are
/// skipped (the decisions are in the ledger regardless).
const MAX_IN_FLIGHT: usize = 4096;
/// Refusals waiting for their injected error to come back.
const MAX_DENIALS: usize = 1024;

pub struct InFlight {
    pub seq: i64,
    pub started: Instant,
    batch: u64,
    mask: Option<Arc<StatementMask>>,
    formats: Formats,
}

/// What the server pump needs of the statement whose rows are arriving.
#[derive(Clone)]
pub struct Current {
    pub mask: Option<Arc<StatementMask>>,
    pub formats: Formats,
}

/// Batches are numbered by the messages that end in one ReadyForQuery
/// (Query, Sync, FunctionCall): the client pump counts them as it forwards,
/// the server pump as ReadyForQuery comes back, so a pipelined next batch is
/// never mistaken for the one being answered.
#[derive(Default)]
struct Inner {
    in_flight: VecDeque<InFlight>,
    denials: Vec<(u64, String, Bytes)>,
    answered_batches: u64,
}

pub struct Shared {
    txn: AtomicU8,
    inner: Mutex<Inner>,
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
            inner: Mutex::new(Inner::default()),
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

    pub fn set_txn(&self, status: u8) {
        self.txn.store(status, Ordering::Release);
    }

    fn with<R>(&self, f: impl FnOnce(&mut Inner) -> R) -> Option<R> {
        self.inner.lock().ok().map(|mut g| f(&mut g))
    }

    /// Queues a forwarded statement. False when the queue is full and the
    /// statement carries a mask: it must then not be forwarded, since its
    /// rows could not be matched to the mask.
    pub fn push_in_flight(
        &self,
        seq: i64,
        batch: u64,
        mask: Option<Arc<StatementMask>>,
        formats: Formats,
    ) -> bool {
        self.with(|i| {
            if i.in_flight.len() < MAX_IN_FLIGHT {
                i.in_flight.push_back(InFlight {
                    seq,
                    started: Instant::now(),
                    batch,
                    mask,
                    formats,
                });
                true
            } else {
                mask.is_none()
            }
        })
        .unwrap_or(false)
    }

    /// The statement at the head of the batch being answered.
    pub fn current(&self) -> Option<Current> {
        self.with(|i| match i.in_flight.front() {
            Some(f) if f.batch == i.answered_batches => Some(Current {
                mask: f.mask.clone(),
                formats: f.formats.clone(),
            }),
            _ => None,
        })
        .flatten()
    }

    /// The statement of the batch being answered whose completion came back.
    pub fn pop_in_flight(&self) -> Option<InFlight> {
        self.with(|i| match i.in_flight.front() {
            Some(f) if f.batch == i.answered_batches => i.in_flight.pop_front(),
            _ => None,
        })
        .flatten()
    }

    pub fn is_quiet(&self) -> bool {
        self.with(|i| i.in_flight.is_empty()).unwrap_or(true)
    }

    /// Registers the error to show in place of the server's answer to the
    /// injected marker statement. False when too many are outstanding.
    pub fn push_denial(&self, marker: String, error: Bytes, batch: u64) -> bool {
        self.with(|i| {
            if i.denials.len() >= MAX_DENIALS {
                return false;
            }
            i.denials.push((batch, marker, error));
            true
        })
        .unwrap_or(false)
    }

    /// The refusal whose marker the server's error message names, if any.
    pub fn take_denial(&self, server_message: &str) -> Option<Bytes> {
        self.with(|i| {
            let at = i
                .denials
                .iter()
                .position(|(_, m, _)| server_message.contains(m.as_str()))?;
            Some(i.denials.swap_remove(at).2)
        })
        .flatten()
    }

    /// At ReadyForQuery everything of the batch has been answered or skipped.
    pub fn batch_done(&self) {
        self.with(|i| {
            let done = i.answered_batches;
            while i.in_flight.front().is_some_and(|f| f.batch <= done) {
                i.in_flight.pop_front();
            }
            i.denials.retain(|(b, _, _)| *b > done);
            i.answered_batches += 1;
        });
    }
}
