//! Opening the log: find its head, cut off a torn tail, and start the
//! first segment of a new log.
//!
//! A tail that does not decode is what a crash in the middle of a `write`
//! (or a power loss before the page cache reached the disk) leaves. Nothing
//! in it was acknowledged: a decision is acknowledged only after its whole
//! group was written (and, with `fsync`, synced). The cut bytes are kept
//! beside the segment (`<segment>.tail-<ms>`) for whoever investigates, and
//! the log continues from its last whole record.

use super::record::{CheckpointRecord, Record};
use super::segment::{self, Segment, Tail};
use super::writer::Head;
use crate::StoreError;
use crate::ledger::chain::GENESIS_HASH;
use crate::sqlite::now_ms;
use std::fs::OpenOptions;
use std::path::Path;

/// Where the log stands after [`scan`].
#[derive(Debug)]
pub(crate) struct Scanned {
    pub head: Head,
    /// The segment appends continue in, and its length (0: create it).
    pub first_seq: i64,
    pub size: u64,
    /// The log's last signed checkpoint.
    pub last_checkpoint: Option<CheckpointRecord>,
    /// There was no segment at all: a new log.
    pub fresh: bool,
}

/// Reads the log's last segments to find its head, cutting a torn tail.
pub(crate) fn scan(dir: &Path) -> Result<Scanned, StoreError> {
    let segments = segment::list(dir)?;
    let Some(last) = segments.last() else {
        return Ok(Scanned {
            head: Head {
                seq: 0,
                hash: GENESIS_HASH,
                checkpoint_seq: 0,
            },
            first_seq: 1,
            size: 0,
            last_checkpoint: None,
            fresh: true,
        });
    };
    let contents = segment::read(&last.path)?;
    match &contents.tail {
        None => {}
        Some(Tail::Torn) => cut_tail(last, contents.valid_len, &Tail::Torn)?,
        // A crash can leave zeros where a write did not reach the disk;
        // anything else is damage or tampering: refuse to build on it.
        Some(Tail::Corrupt(why)) => {
            if !rest_is_zero(&last.path, contents.valid_len)? {
                return Err(StoreError::Corrupt(format!(
                    "{} is damaged at byte {} ({why}), with records after it: run `vigil audit verify`, \
                     and move the segment aside only once it is investigated",
                    last.path.display(),
                    contents.valid_len
                )));
            }
            cut_tail(last, contents.valid_len, &Tail::Torn)?;
        }
    }
    // The head is in the last segment unless it holds no event yet (it was
    // just started); the last checkpoint at most one segment back (each
    // segment ends with one).
    let mut head = None;
    let mut checkpoint = None;
    find_last(&contents.records, &mut head, &mut checkpoint);
    if (head.is_none() || checkpoint.is_none()) && segments.len() > 1 {
        let before = &segments[segments.len() - 2];
        let older = segment::read(&before.path)?;
        find_last(&older.records, &mut head, &mut checkpoint);
    }
    let (seq, hash) = match head {
        Some(h) => h,
        None if last.first_seq == 1 => (0, GENESIS_HASH),
        None => {
            return Err(StoreError::Corrupt(format!(
                "{} holds no event and the segment before it is missing or empty",
                last.path.display()
            )));
        }
    };
    if last.first_seq > seq + 1 {
        return Err(StoreError::Corrupt(format!(
            "{} starts at seq {} but the log before it ends at {seq}",
            last.path.display(),
            last.first_seq
        )));
    }
    Ok(Scanned {
        head: Head {
            seq,
            hash,
            checkpoint_seq: checkpoint.as_ref().map_or(0, |c| c.seq),
        },
        first_seq: last.first_seq,
        size: contents.valid_len,
        last_checkpoint: checkpoint,
        fresh: false,
    })
}

/// Fills in the last event's `(seq, hash)` and the last checkpoint of
/// `records`, where not found yet.
fn find_last(
    records: &[Record],
    head: &mut Option<(i64, [u8; 32])>,
    checkpoint: &mut Option<CheckpointRecord>,
) {
    for r in records.iter().rev() {
        match r {
            Record::Event(e) if head.is_none() => *head = Some((e.seq, e.hash)),
            Record::Checkpoint(c) if checkpoint.is_none() => {
                *checkpoint = Some(CheckpointRecord {
                    signature: c.signature.clone(),
                    ..*c
                });
            }
            _ => {}
        }
        if head.is_some() && checkpoint.is_some() {
            return;
        }
    }
}

/// Whether every byte of `path` from `from` on is zero.
fn rest_is_zero(path: &Path, from: u64) -> Result<bool, StoreError> {
    let bytes =
        std::fs::read(path).map_err(StoreError::io(format!("reading {}", path.display())))?;
    let start = usize::try_from(from)
        .unwrap_or(bytes.len())
        .min(bytes.len());
    Ok(bytes[start..].iter().all(|&b| b == 0))
}

/// Keeps the bytes after `valid_len` in a side file and cuts them off.
fn cut_tail(seg: &Segment, valid_len: u64, tail: &Tail) -> Result<(), StoreError> {
    let bytes = std::fs::read(&seg.path)
        .map_err(StoreError::io(format!("reading {}", seg.path.display())))?;
    let start = usize::try_from(valid_len)
        .unwrap_or(bytes.len())
        .min(bytes.len());
    let side = seg.path.with_extension(format!("log.tail-{}", now_ms()));
    std::fs::write(&side, &bytes[start..])
        .map_err(StoreError::io(format!("writing {}", side.display())))?;
    let file = OpenOptions::new()
        .write(true)
        .open(&seg.path)
        .map_err(StoreError::io(format!("opening {}", seg.path.display())))?;
    file.set_len(valid_len)
        .and_then(|()| file.sync_all())
        .map_err(StoreError::io(format!(
            "cutting the tail of {}",
            seg.path.display()
        )))?;
    tracing::warn!(
        segment = %seg.path.display(),
        kept_in = %side.display(),
        bytes = bytes.len() - start,
        tail = ?tail,
        "the ledger log ended in an unfinished record (a crash during a write): cut it off; nothing in it was acknowledged"
    );
    Ok(())
}
