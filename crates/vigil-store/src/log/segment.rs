//! Segment files: where the log lives on disk and how one is read back.
//!
//! `data_dir/ledger/<first seq, 20 digits>.log`, each starting with
//! [`MAGIC`]. Segments are only ever appended to; a new one starts when the
//! current one reaches its size limit, right after the checkpoint that
//! signs its last event.

use super::record::{self, DecodeError, Record};
use crate::StoreError;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

/// Directory of the log inside `data_dir`.
pub const LOG_DIR: &str = "ledger";

/// The first bytes of every segment: format and version.
pub(crate) const MAGIC: &[u8; 16] = b"VIGIL-LEDGER-01\n";

/// One segment file and the seq of its first record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Segment {
    pub first_seq: i64,
    pub path: PathBuf,
}

pub(crate) fn log_dir(data_dir: &Path) -> PathBuf {
    data_dir.join(LOG_DIR)
}

pub(crate) fn segment_path(dir: &Path, first_seq: i64) -> PathBuf {
    dir.join(format!("{first_seq:020}.log"))
}

/// The segments in `dir`, in seq order (none when `dir` does not exist).
/// Files that are not segments are ignored.
pub(crate) fn list(dir: &Path) -> Result<Vec<Segment>, StoreError> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(StoreError::io(format!("listing {}", dir.display()))(e)),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(StoreError::io(format!("listing {}", dir.display())))?;
        let name = entry.file_name();
        let Some(stem) = name.to_str().and_then(|n| n.strip_suffix(".log")) else {
            continue;
        };
        if stem.len() != 20 || !stem.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        if let Ok(first_seq) = stem.parse::<i64>() {
            out.push(Segment {
                first_seq,
                path: entry.path(),
            });
        }
    }
    out.sort_by_key(|s| s.first_seq);
    Ok(out)
}

/// What reading a segment found.
#[derive(Debug)]
pub(crate) struct Contents {
    pub records: Vec<Record>,
    /// Bytes up to the end of the last whole record (the header included).
    pub valid_len: u64,
    /// The file is longer than `valid_len`, and why.
    pub tail: Option<Tail>,
}

/// What follows the last whole record.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Tail {
    /// A record cut short: a write the process or the machine did not finish.
    Torn,
    /// A complete frame that does not decode (CRC, fields).
    Corrupt(&'static str),
}

/// Reads every record of a segment.
pub(crate) fn read(path: &Path) -> Result<Contents, StoreError> {
    let mut bytes = Vec::new();
    fs::File::open(path)
        .and_then(|mut f| f.read_to_end(&mut bytes))
        .map_err(StoreError::io(format!("reading {}", path.display())))?;
    parse(&bytes, path)
}

/// Parses a segment's bytes (see [`read`]).
pub(crate) fn parse(bytes: &[u8], path: &Path) -> Result<Contents, StoreError> {
    if bytes.len() < MAGIC.len() {
        // Created but its header never written: nothing in it.
        return Ok(Contents {
            records: Vec::new(),
            valid_len: 0,
            tail: (!bytes.is_empty()).then_some(Tail::Torn),
        });
    }
    if &bytes[..MAGIC.len()] != MAGIC {
        return Err(StoreError::Corrupt(format!(
            "{} is not a Vigil ledger segment (bad header)",
            path.display()
        )));
    }
    let mut at = MAGIC.len();
    let mut records = Vec::new();
    let mut tail = None;
    while at < bytes.len() {
        match record::decode(&bytes[at..]) {
            Ok((r, n)) => {
                records.push(r);
                at += n;
            }
            Err(DecodeError::Incomplete) => {
                tail = Some(Tail::Torn);
                break;
            }
            Err(DecodeError::Corrupt(why)) => {
                tail = Some(Tail::Corrupt(why));
                break;
            }
        }
    }
    Ok(Contents {
        records,
        valid_len: at as u64,
        tail,
    })
}
