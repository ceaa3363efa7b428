//! The writer's queue: one FIFO of [`Command`]s from async callers to the
//! writer thread.
//!
//! Bounded: a sender first takes a permit of `room`, so when the writer falls
//! behind, appenders wait (back-pressure) and nothing is ever dropped. One
//! queue for everything keeps ledger order equal to send order.
//!
//! What it adds over a channel is control of wake-ups. A wake-up of the
//! writer thread (a futex call and a context switch on both sides) costs
//! more than writing an event, so the thread is only woken for what only it
//! does: control commands, events nobody waits for when it is idle, and
//! waited-for appends when callers do not commit them themselves. A lazy
//! event (a statement's outcome) is left in the queue for the next commit:
//! the next decision's, or the thread's own short timed wait, whichever
//! comes first. See [`super::group`].

use super::writer::Command;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::thread::Thread;
use std::time::Duration;
use tokio::sync::Semaphore;

struct State {
    items: VecDeque<Command>,
    /// The writer stopped taking commands: sends fail.
    closed: bool,
    /// The only sender is gone.
    disconnected: bool,
    /// The writer is parked without a deadline: any send must wake it.
    idle: bool,
}

struct Shared {
    state: Mutex<State>,
    /// Free places in the queue.
    room: Semaphore,
    writer: OnceLock<Thread>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn wake_writer(&self) {
        if let Some(t) = self.writer.get() {
            t.unpark();
        }
    }
}

/// The queue is closed: the writer is gone or shutting down.
#[derive(Debug)]
pub(crate) struct Closed;

pub(crate) struct Sender {
    shared: Arc<Shared>,
    /// Callers commit the appends they wait for (see [`super::group`]),
    /// so those need not wake the thread.
    leaders: bool,
}

pub(crate) struct Receiver {
    shared: Arc<Shared>,
}

pub(crate) fn channel(capacity: usize, leaders: bool) -> (Sender, Receiver) {
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            items: VecDeque::with_capacity(capacity.clamp(1, 1024)),
            closed: false,
            disconnected: false,
            idle: false,
        }),
        room: Semaphore::new(capacity.clamp(1, Semaphore::MAX_PERMITS)),
        writer: OnceLock::new(),
    });
    (
        Sender {
            shared: Arc::clone(&shared),
            leaders,
        },
        Receiver { shared },
    )
}

impl Sender {
    /// Queues `cmd`, waiting for room first. Wakes the writer thread unless
    /// the command is lazy and the thread is not idle, or its sender commits
    /// it itself.
    pub(crate) async fn send(&self, cmd: Command) -> Result<(), Closed> {
        let permit = self.shared.room.acquire().await.map_err(|_| Closed)?;
        permit.forget();
        let lazy = cmd.is_lazy();
        let led = self.leaders && matches!(cmd, Command::Append { reply: Some(_), .. });
        let wake = {
            let mut s = self.shared.lock();
            if s.closed {
                return Err(Closed);
            }
            s.items.push_back(cmd);
            // An idle writer is woken by anything: it also keeps the
            // index, which falls behind the log a leader writes.
            let wake = s.idle || (!led && !lazy);
            if wake {
                s.idle = false;
            }
            wake
        };
        if wake {
            self.shared.wake_writer();
        }
        Ok(())
    }

    /// The thread that runs the writer (set once, right after spawning it).
    pub(crate) fn set_writer(&self, thread: Thread) {
        let _ = self.shared.writer.set(thread);
        // It may already wait for the first command.
        self.shared.wake_writer();
    }
}

impl Drop for Sender {
    fn drop(&mut self) {
        self.shared.lock().disconnected = true;
        self.shared.wake_writer();
    }
}

/// What [`Receiver::take`] found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Taken {
    /// This many commands were moved into the batch (at least one).
    Some(usize),
    Empty,
    /// Empty, and nothing can ever arrive again.
    Finished,
}

impl Receiver {
    /// Moves up to `max` queued commands into `out`, without waiting.
    pub(crate) fn take(&self, out: &mut Vec<Command>, max: usize) -> Taken {
        let n = {
            let mut s = self.shared.lock();
            let n = s.items.len().min(max);
            if n == 0 {
                return if s.disconnected || s.closed {
                    Taken::Finished
                } else {
                    Taken::Empty
                };
            }
            out.extend(s.items.drain(..n));
            n
        };
        self.shared.room.add_permits(n);
        Taken::Some(n)
    }

    /// Moves the appends at the head of the queue (up to `max`) into `out`,
    /// without waiting. Returns whether a control command is next in line.
    pub(crate) fn take_appends(&self, out: &mut Vec<Command>, max: usize) -> bool {
        let (n, control_next) = {
            let mut s = self.shared.lock();
            let n = s
                .items
                .iter()
                .take(max)
                .take_while(|c| matches!(c, Command::Append { .. }))
                .count();
            out.extend(s.items.drain(..n));
            let control_next = matches!(s.items.front(), Some(Command::Control(_)));
            (n, control_next)
        };
        if n > 0 {
            self.shared.room.add_permits(n);
        }
        control_next
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.shared.lock().items.is_empty()
    }

    /// Commands queued now.
    pub(crate) fn len(&self) -> usize {
        self.shared.lock().items.len()
    }

    /// Wakes the writer thread (a caller found work only it does).
    pub(crate) fn wake(&self) {
        self.shared.wake_writer();
    }

    /// Waits until a send wakes the writer or `timeout` passes (None: no
    /// deadline; every send wakes the writer then). Returns at once while
    /// the queue holds anything; may return early.
    pub(crate) fn park(&self, timeout: Option<Duration>) {
        {
            let mut s = self.shared.lock();
            if !s.items.is_empty() || s.disconnected || s.closed {
                return;
            }
            s.idle = timeout.is_none();
        }
        match timeout {
            Some(t) => std::thread::park_timeout(t),
            None => std::thread::park(),
        }
        self.shared.lock().idle = false;
    }

    /// Refuses new sends (those waiting for room fail too); what is queued stays.
    pub(crate) fn close(&self) {
        self.shared.lock().closed = true;
        self.shared.room.close();
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::sqlite::writer::Control;
    use tokio::sync::oneshot;

    fn close_cmd() -> Command {
        let (reply, _rx) = oneshot::channel();
        Command::Control(Control::Close { reply })
    }

    #[tokio::test]
    async fn fifo_bounded_and_closed() {
        let (tx, rx) = channel(2, false);
        tx.send(close_cmd()).await.unwrap();
        tx.send(close_cmd()).await.unwrap();
        // Full: a third send waits for room.
        let third = tokio::time::timeout(Duration::from_millis(50), tx.send(close_cmd())).await;
        assert!(third.is_err(), "a full queue must make the sender wait");
        let mut out = Vec::new();
        assert_eq!(rx.take(&mut out, 1), Taken::Some(1));
        tx.send(close_cmd()).await.unwrap();
        assert_eq!(rx.take(&mut out, 10), Taken::Some(2));
        assert_eq!(rx.take(&mut out, 10), Taken::Empty);
        rx.close();
        assert!(tx.send(close_cmd()).await.is_err());
        assert_eq!(rx.take(&mut out, 10), Taken::Finished);
        drop(tx);
    }
}
