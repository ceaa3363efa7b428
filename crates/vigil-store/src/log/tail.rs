//! Follows the log from a seq on, for the index: reads whatever whole
//! records were written since the last call.
//!
//! It reads the files, not the writer's memory, so the index is fed the same
//! way whether it follows a running gateway or catches up after a crash.

use super::record::{self, DecodeError, Record};
use super::segment::{self, MAGIC};
use crate::StoreError;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

/// Where a run of records read in one go sits in the log: what the index
/// keeps instead of a row per statement.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Chunk {
    /// The segment (its first seq, the file's name).
    pub segment: i64,
    /// Byte offsets of the first record and after the last.
    pub start: u64,
    pub end: u64,
    /// The first and last event in it, and the last one's hash.
    pub first_seq: i64,
    pub last_seq: i64,
    pub last_hash: [u8; 32],
}

pub(crate) struct Tail {
    dir: PathBuf,
    /// The segment being read, its first seq, and the offset of the next record.
    current: Option<(File, i64, u64)>,
    /// The next seq the index needs.
    next_seq: i64,
    buf: Vec<u8>,
    /// Bytes the next read must take: a record larger than one read.
    min_read: usize,
    /// The last seq the writer wrote successfully: records after it are
    /// left for later.
    written: Arc<AtomicI64>,
}

impl Tail {
    /// Follows the log in `dir` from `next_seq` on.
    pub(crate) fn new(dir: PathBuf, next_seq: i64, written: Arc<AtomicI64>) -> Self {
        Tail {
            dir,
            current: None,
            next_seq,
            buf: Vec::new(),
            min_read: 0,
            written,
        }
    }

    /// Appends to `out` the records written since the last call (at most
    /// about `max_bytes` of them), checkpoints included; none when the index
    /// is caught up. Records before `next_seq` are skipped. `chunks` gets
    /// where the events read sit in the log.
    pub(crate) fn read(
        &mut self,
        out: &mut Vec<Record>,
        chunks: &mut Vec<Chunk>,
        max_bytes: usize,
    ) -> Result<(), StoreError> {
        loop {
            if self.current.is_none() && !self.open_segment_of(self.next_seq)? {
                return Ok(());
            }
            let Some((file, first_seq, offset)) = self.current.as_mut() else {
                return Ok(());
            };
            let len = file
                .metadata()
                .map_err(StoreError::io("reading the ledger log's length"))?
                .len();
            if len > *offset {
                let available = usize::try_from(len - *offset).unwrap_or(usize::MAX);
                // Whole records only: at least the one at the offset, however large.
                let want = available.min(max_bytes.max(1 << 16).max(self.min_read));
                self.buf.resize(want, 0);
                let n = file
                    .read_at(&mut self.buf, *offset)
                    .map_err(StoreError::io("reading the ledger log"))?;
                let mut at = 0;
                let mut whole = false;
                let mut chunk: Option<Chunk> = None;
                while at < n {
                    match record::decode(&self.buf[at..n]) {
                        Ok((r, size)) => {
                            let seq = r.seq();
                            // Not acknowledged yet: the write may still
                            // fail and be cut back off the file.
                            if seq > self.written.load(Ordering::Acquire) {
                                break;
                            }
                            if let Record::Event(e) = &r {
                                let c = chunk.get_or_insert(Chunk {
                                    segment: *first_seq,
                                    start: *offset + at as u64,
                                    end: 0,
                                    first_seq: e.seq,
                                    last_seq: e.seq,
                                    last_hash: e.hash,
                                });
                                c.last_seq = e.seq;
                                c.last_hash = e.hash;
                                c.end = *offset + (at + size) as u64;
                            }
                            at += size;
                            whole = true;
                            match &r {
                                Record::Event(_) if seq < self.next_seq => continue,
                                Record::Event(_) => self.next_seq = seq + 1,
                                Record::Checkpoint(_) => {}
                            }
                            out.push(r);
                        }
                        // The writer is in the middle of a write, or our
                        // read stopped inside a record: read it next time.
                        Err(DecodeError::Incomplete) => {
                            if at == 0 && n == want && want < available {
                                self.min_read = frame_len(&self.buf[..n]);
                            }
                            break;
                        }
                        Err(DecodeError::Corrupt(why)) => {
                            return Err(StoreError::Corrupt(format!(
                                "ledger segment {first_seq:020}.log at byte {}: {why}",
                                *offset + at as u64
                            )));
                        }
                    }
                }
                *offset += at as u64;
                chunks.extend(chunk);
                if at > 0 {
                    self.min_read = 0;
                }
                if n == want && want < available && (whole || self.min_read > want) {
                    continue;
                }
                return Ok(());
            }
            // The end of this segment: a newer one means it is finished.
            let next = segment::list(&self.dir)?
                .into_iter()
                .find(|s| s.first_seq > *first_seq);
            match next {
                Some(s) if s.first_seq <= self.next_seq => {
                    self.current = None;
                    if !self.open_segment_of(self.next_seq)? {
                        return Ok(());
                    }
                }
                _ => return Ok(()),
            }
        }
    }

    /// The index has `seq` already (written with the state change it
    /// records): the read skips it.
    pub(crate) fn skip_through(&mut self, seq: i64) {
        self.next_seq = self.next_seq.max(seq + 1);
    }

    /// Opens the segment that holds `seq` (the last one starting at or
    /// before it). `false` when there is none yet.
    fn open_segment_of(&mut self, seq: i64) -> Result<bool, StoreError> {
        let segments = segment::list(&self.dir)?;
        let Some(seg) = segments.iter().rev().find(|s| s.first_seq <= seq) else {
            return Ok(false);
        };
        let file = File::open(&seg.path)
            .map_err(StoreError::io(format!("opening {}", seg.path.display())))?;
        self.current = Some((file, seg.first_seq, MAGIC.len() as u64));
        Ok(true)
    }
}

/// The whole frame's length from its header (0 when the header is short).
fn frame_len(buf: &[u8]) -> usize {
    match buf.get(..4) {
        Some(h) => record::FRAME_HEADER + u32::from_le_bytes([h[0], h[1], h[2], h[3]]) as usize,
        None => 0,
    }
}
