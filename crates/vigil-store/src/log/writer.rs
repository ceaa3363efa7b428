//! The log's one writer: chains events, frames them, and writes a whole
//! group with one `write` (and one `fdatasync` with `[ledger] fsync`).
//!
//! A decision is durable against a crash of the process once the `write`
//! returned (the page cache outlives the process), which is before its
//! statement is forwarded. The in-memory head only advances after a write
//! succeeded; a failed write is cut back off the file so the next group
//! continues a valid chain, and when even that fails the log refuses every
//! later append (fail closed) until the gateway restarts and recovers it.

use super::record::{self, CheckpointRecord};
pub(crate) use super::record::{Chained, EventFields};
use super::segment::{MAGIC, segment_path};
use crate::checkpoint::LedgerKey;
use crate::ledger::chain::chain_hash;
use crate::ledger::head::HeadPublisher;
use crate::sqlite::now_ms;
use crate::sqlite::prepared::PreparedEvent;
use crate::{Appended, StoreError};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

/// The chain's head as written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Head {
    pub seq: i64,
    pub hash: [u8; 32],
    /// The seq of the last checkpoint written (0: none yet).
    pub checkpoint_seq: i64,
}

/// Tuning the log writer takes from `StoreOptions`.
#[derive(Clone, Debug)]
pub(crate) struct LogOptions {
    pub fsync: bool,
    pub checkpoint_every: u64,
    pub segment_bytes: u64,
    /// Tests: while set, each write stops halfway and fails.
    pub fail_writes: Option<Arc<std::sync::atomic::AtomicBool>>,
}

pub(crate) struct LogWriter {
    dir: PathBuf,
    file: File,
    /// Bytes in the current segment (all of them whole records).
    size: u64,
    first_seq: i64,
    head: Head,
    key: LedgerKey,
    public_key: [u8; 32],
    opts: LogOptions,
    heads: HeadPublisher,
    buf: Vec<u8>,
    /// Checkpoints in `buf`, published once it is written.
    signed: Vec<CheckpointRecord>,
    /// Set when a failed write could not be cut back: every append fails.
    broken: Option<String>,
    /// Whether this writer appended anything (see `close`).
    appended: bool,
    /// The last seq written, for readers waiting on the index.
    logged: Arc<AtomicI64>,
    /// The lock that makes this the one writer of the log (held while open).
    _lock: Option<File>,
}

impl LogWriter {
    /// Continues the log whose last segment is `first_seq`/`size` with `head`
    /// (see [`super::recover`]), or starts it when `size` is 0.
    pub(crate) fn open(
        dir: &Path,
        first_seq: i64,
        size: u64,
        head: Head,
        key: LedgerKey,
        opts: LogOptions,
        heads: HeadPublisher,
    ) -> Result<Self, StoreError> {
        let (file, size) = open_segment(dir, first_seq, size, opts.fsync)?;
        Ok(LogWriter {
            dir: dir.to_path_buf(),
            file,
            size,
            first_seq,
            public_key: key.public_key(),
            key,
            head,
            opts,
            heads,
            buf: Vec::with_capacity(64 << 10),
            signed: Vec::new(),
            broken: None,
            appended: false,
            logged: Arc::new(AtomicI64::new(head.seq)),
            _lock: None,
        })
    }

    /// Keeps `lock` (see [`super::lock`]) for as long as this writer lives.
    pub(crate) fn hold(mut self, lock: File) -> Self {
        self._lock = Some(lock);
        self
    }

    /// A writer for a process that must not write the ledger (`vigil token`
    /// beside a running gateway): every append fails, nothing is opened for
    /// writing, and nothing is recovered.
    pub(crate) fn refusing(
        dir: &Path,
        key: LedgerKey,
        opts: LogOptions,
        heads: HeadPublisher,
        why: String,
    ) -> Result<Self, StoreError> {
        let file = File::open(dir).map_err(StoreError::io(format!("opening {}", dir.display())))?;
        Ok(LogWriter {
            dir: dir.to_path_buf(),
            file,
            size: 0,
            first_seq: 1,
            public_key: key.public_key(),
            key,
            head: Head {
                seq: 0,
                hash: crate::ledger::chain::GENESIS_HASH,
                checkpoint_seq: 0,
            },
            opts,
            heads,
            buf: Vec::new(),
            signed: Vec::new(),
            broken: Some(why),
            appended: false,
            logged: Arc::new(AtomicI64::new(0)),
            _lock: None,
        })
    }

    pub(crate) fn head(&self) -> Head {
        self.head
    }

    /// The last seq written, shared with readers of the index.
    pub(crate) fn logged(&self) -> Arc<AtomicI64> {
        Arc::clone(&self.logged)
    }

    /// Places `events` in the chain after the head, without writing: the
    /// positions [`Self::write_chained`] will write them at.
    pub(crate) fn chain<'e>(
        &self,
        events: impl Iterator<Item = &'e PreparedEvent>,
    ) -> Vec<Chained> {
        let mut prev = self.head.hash;
        let mut seq = self.head.seq;
        events
            .map(|e| {
                seq += 1;
                let hash = chain_hash(&prev, e.body.as_bytes());
                let c = Chained {
                    seq,
                    prev_hash: prev,
                    hash,
                };
                prev = hash;
                c
            })
            .collect()
    }

    /// Chains and writes `events` as one group: durable (as configured)
    /// when this returns `Ok`.
    pub(crate) fn append<'e>(
        &mut self,
        events: impl Iterator<Item = &'e PreparedEvent> + Clone,
    ) -> Result<Vec<Appended>, StoreError> {
        let chained = self.chain(events.clone());
        self.write_chained(events, &chained)?;
        Ok(chained
            .iter()
            .map(|c| Appended {
                seq: c.seq,
                hash: c.hash,
            })
            .collect())
    }

    /// Writes events already placed by [`Self::chain`] (against the current
    /// head), signing checkpoints on the way.
    pub(crate) fn write_chained<'e>(
        &mut self,
        events: impl Iterator<Item = &'e PreparedEvent>,
        chained: &[Chained],
    ) -> Result<(), StoreError> {
        let rows = events.zip(chained.iter()).map(|(e, c)| (*c, e.fields()));
        self.write_rows(rows)
    }

    /// Writes already-chained rows (the general form of `write_chained`,
    /// also used to copy index rows into the log when recovering).
    pub(crate) fn write_rows<'e>(
        &mut self,
        rows: impl Iterator<Item = (Chained, EventFields<'e>)>,
    ) -> Result<(), StoreError> {
        if let Some(why) = &self.broken {
            return Err(StoreError::WriteFailed(why.clone()));
        }
        if self.size >= self.opts.segment_bytes && self.head.seq >= self.first_seq {
            self.rotate()?;
        }
        self.buf.clear();
        self.signed.clear();
        let mut head = self.head;
        for (c, f) in rows {
            if c.seq != head.seq + 1 || c.prev_hash != head.hash {
                return Err(StoreError::Internal(format!(
                    "ledger event {} does not continue the chain at {}",
                    c.seq, head.seq
                )));
            }
            record::encode_event(&mut self.buf, &c, &f);
            head.seq = c.seq;
            head.hash = c.hash;
            let every = self.opts.checkpoint_every;
            if every > 0 && c.seq.unsigned_abs().is_multiple_of(every) {
                self.sign_into_buf(&mut head);
            }
        }
        if self.buf.is_empty() {
            return Ok(());
        }
        self.write_buf()?;
        self.head = head;
        self.appended = true;
        self.logged.store(head.seq, Ordering::Release);
        self.publish_signed();
        Ok(())
    }

    /// Encodes a checkpoint of `head` into the buffer.
    fn sign_into_buf(&mut self, head: &mut Head) {
        let c = CheckpointRecord {
            seq: head.seq,
            hash: head.hash,
            signature: self.key.sign(head.seq, &head.hash),
            public_key: self.public_key,
            at_ms: now_ms(),
        };
        record::encode_checkpoint(&mut self.buf, &c);
        head.checkpoint_seq = head.seq;
        self.signed.push(c);
    }

    /// One `write` of the buffer (and `fdatasync` when configured). On
    /// failure the file is cut back to its last whole record.
    fn write_buf(&mut self) -> Result<(), StoreError> {
        let injected = self
            .opts
            .fail_writes
            .as_ref()
            .is_some_and(|f| f.load(Ordering::Relaxed));
        let written = if injected {
            // Half a group reaches the file, as with a full disk.
            let half = self.buf.len() / 2;
            self.file
                .write_all(&self.buf[..half])
                .and_then(|()| Err(std::io::Error::other("injected failure")))
        } else {
            self.file.write_all(&self.buf)
        };
        let written = written.and_then(|()| {
            if self.opts.fsync {
                self.file.sync_data()
            } else {
                Ok(())
            }
        });
        match written {
            Ok(()) => {
                self.size += self.buf.len() as u64;
                Ok(())
            }
            Err(e) => {
                let message = format!("writing the ledger log: {e}");
                if let Err(cut) = self.file.set_len(self.size) {
                    let why = format!("{message}; cutting the partial write back failed: {cut}");
                    tracing::error!(error = %why, "the ledger log refuses further appends until restart");
                    self.broken = Some(why);
                }
                Err(StoreError::WriteFailed(message))
            }
        }
    }

    fn publish_signed(&mut self) {
        for c in self.signed.drain(..) {
            self.heads
                .publish_signed(c.seq, c.hash, c.signature, c.at_ms);
        }
    }

    /// Ends the current segment with a checkpoint of its last event (unless
    /// one is there already) and starts the next one.
    fn rotate(&mut self) -> Result<(), StoreError> {
        if self.head.checkpoint_seq < self.head.seq {
            self.buf.clear();
            self.signed.clear();
            let mut head = self.head;
            self.sign_into_buf(&mut head);
            self.write_buf()?;
            if !self.opts.fsync {
                // The segment is finished: nothing will sync it later.
                self.file
                    .sync_data()
                    .map_err(StoreError::io("syncing a finished ledger segment"))?;
            }
            self.head = head;
            self.publish_signed();
        }
        let first_seq = self.head.seq + 1;
        let (file, size) = open_segment(&self.dir, first_seq, 0, true)?;
        self.file = file;
        self.size = size;
        self.first_seq = first_seq;
        Ok(())
    }

    /// A final checkpoint when this writer appended since the last one,
    /// synced; then the writer lock is let go (nothing is written after).
    pub(crate) fn close(&mut self) -> Result<(), StoreError> {
        let result = self.finish();
        self.broken
            .get_or_insert_with(|| "the ledger is closed".to_string());
        self._lock = None;
        result
    }

    fn finish(&mut self) -> Result<(), StoreError> {
        if self.broken.is_some() {
            return Ok(());
        }
        if self.appended && self.head.checkpoint_seq < self.head.seq {
            self.buf.clear();
            self.signed.clear();
            let mut head = self.head;
            self.sign_into_buf(&mut head);
            self.write_buf()?;
            self.head = head;
            self.publish_signed();
        }
        self.file
            .sync_data()
            .map_err(StoreError::io("syncing the ledger log"))
    }
}

/// Opens segment `first_seq` for appending; writes its header when it is
/// new (`size` 0), syncing the directory so the file itself survives.
fn open_segment(
    dir: &Path,
    first_seq: i64,
    size: u64,
    sync_dir: bool,
) -> Result<(File, u64), StoreError> {
    let path = segment_path(dir, first_seq);
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(&path)
        .map_err(StoreError::io(format!("opening {}", path.display())))?;
    if size > 0 {
        return Ok((file, size));
    }
    file.set_len(0)
        .and_then(|()| file.write_all(MAGIC))
        .map_err(StoreError::io(format!("starting {}", path.display())))?;
    if sync_dir {
        file.sync_data()
            .and_then(|()| File::open(dir)?.sync_all())
            .map_err(StoreError::io(format!("syncing {}", dir.display())))?;
    }
    Ok((file, MAGIC.len() as u64))
}
