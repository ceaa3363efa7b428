//! `vigil audit verify`: recompute the chain from seq 1 and name the first
//! event that was changed, removed or reordered.
//!
//! The chain alone detects any edit by someone who does not recompute the
//! hashes after it; signed checkpoints also catch a rewrite that recomputes
//! them, up to the last checkpoint, unless `ledger.key` was stolen too.
//! Checkpoints must come at the configured cadence (a stretch of
//! `checkpoint_every` events without one means checkpoint rows were
//! deleted), and the head published outside the database
//! (`data_dir/ledger-head`, see [`super::head`]) must be in the database, so
//! events cut from the tail together with their checkpoints are found too.

use super::verify_log::walk_log;
use crate::StoreError;
use crate::checkpoint::{read_public_key, signature_valid};
use crate::ledger::chain::{GENESIS_HASH, chain_hash};
use crate::ledger::head::{LEDGER_HEAD_FILE, SignedHead, read_head};
use crate::log::segment::log_dir;
use crate::sqlite::{DB_FILE, SCHEMA_LATEST, check_not_newer, current_version};
use rusqlite::Connection;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;

/// What [`verify_ledger_with`] checks beyond the chain itself.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VerifyOptions {
    /// The gateway's `[ledger] checkpoint_every`: a stretch of this many
    /// events without a signed checkpoint fails. 0: not checked.
    pub checkpoint_every: u64,
}

/// What `verify_ledger` found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    /// Events checked (up to the first bad one).
    pub events: u64,
    /// Checkpoints whose signature and hash were checked.
    pub checkpoints: u64,
    /// The head of `data_dir/ledger-head` that was found in the database;
    /// `None` when there is no such file (an empty ledger).
    pub head_seq: Option<i64>,
    /// The first problem, in ledger order; `None` when the ledger is intact.
    pub first_bad: Option<BadEvent>,
    /// The last event in the SQLite index, which follows the log a few
    /// milliseconds behind while the gateway runs (`None`: not checked).
    pub index_seq: Option<i64>,
}

impl VerifyReport {
    /// The report before anything was read.
    pub(crate) fn nothing_checked() -> Self {
        VerifyReport {
            events: 0,
            checkpoints: 0,
            head_seq: None,
            first_bad: None,
            index_seq: None,
        }
    }

    pub fn is_intact(&self) -> bool {
        self.first_bad.is_none()
    }
}

/// The first event that does not verify, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BadEvent {
    pub seq: i64,
    /// One of: `hash mismatch: event changed`, `missing event`, `out of order`,
    /// `prev_hash mismatch: chain broken`, `columns disagree with the event body`,
    /// `checkpoint signature invalid`, `checkpoint does not match the event`,
    /// `missing checkpoint (...)`, `missing event (the signed head in
    /// ledger-head is ...)`, `event differs from the signed head in
    /// ledger-head (...)`, `ledger-head signature invalid`,
    /// `no ledger-head file beside a ledger with checkpoints`.
    pub problem: String,
}

pub(crate) const HASH_MISMATCH: &str = "hash mismatch: event changed";
pub(crate) const MISSING: &str = "missing event";
pub(crate) const OUT_OF_ORDER: &str = "out of order";
pub(crate) const PREV_MISMATCH: &str = "prev_hash mismatch: chain broken";
pub(crate) const COLUMNS_DISAGREE: &str = "columns disagree with the event body";
pub(crate) const BAD_SIGNATURE: &str = "checkpoint signature invalid";
pub(crate) const CHECKPOINT_MISMATCH: &str = "checkpoint does not match the event";
pub(crate) const CHECKPOINT_MISSING: &str = "missing checkpoint";
pub(crate) const HEAD_MISMATCH: &str = "event differs from the signed head in ledger-head";
pub(crate) const HEAD_BAD_SIGNATURE: &str = "ledger-head signature invalid";
pub(crate) const INDEX_DIFFERS: &str = "index row differs from the log";
pub(crate) const HEAD_MISSING: &str = "no ledger-head file beside a ledger with checkpoints";

/// Checkpoint rows by seq: `(hash, signature)`.
type Checkpoints = BTreeMap<i64, (Vec<u8>, Vec<u8>)>;

/// One ledger row as stored.
struct Row {
    seq: i64,
    at_ms: i64,
    session: Option<String>,
    principal: Option<String>,
    run_id: Option<String>,
    event_type: String,
    body: String,
    prev_hash: Vec<u8>,
    hash: Vec<u8>,
}

const SELECT_ROWS: &str = "SELECT seq, at_ms, session, principal, run_id, type, body, prev_hash, hash FROM ledger ORDER BY seq";

fn read_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Row> {
    Ok(Row {
        seq: r.get(0)?,
        at_ms: r.get(1)?,
        session: r.get(2)?,
        principal: r.get(3)?,
        run_id: r.get(4)?,
        event_type: r.get(5)?,
        body: r.get(6)?,
        prev_hash: r.get(7)?,
        hash: r.get(8)?,
    })
}

/// Verifies the ledger in `data_dir` (opened read-only; safe while the
/// gateway runs), without a cadence for checkpoints.
pub fn verify_ledger(data_dir: &Path) -> Result<VerifyReport, StoreError> {
    verify_ledger_with(data_dir, &VerifyOptions::default())
}

/// Verifies the ledger in `data_dir`: the chain, the signed checkpoints,
/// their cadence, and the head published outside the database.
pub fn verify_ledger_with(
    data_dir: &Path,
    options: &VerifyOptions,
) -> Result<VerifyReport, StoreError> {
    let path = data_dir.join(DB_FILE);
    if !path.exists() {
        return Err(StoreError::io(format!("opening {}", path.display()))(
            std::io::Error::from(std::io::ErrorKind::NotFound),
        ));
    }
    let conn = crate::sqlite::open_reader(&path)?;
    let version = current_version(&conn)?;
    check_not_newer(version)?;
    if version < SCHEMA_LATEST {
        return Err(StoreError::Corrupt(format!(
            "{} has schema version {version}; open it with the gateway once to migrate",
            path.display()
        )));
    }
    let public_key = read_public_key(data_dir)?;
    // Read before the log and the snapshot: the gateway writes the file
    // after the log, so the head read here is never newer than either.
    let head = read_head(data_dir)?;
    let log = walk_log(
        &log_dir(data_dir),
        &public_key,
        options.checkpoint_every,
        head.as_ref().map(|h| h.seq),
    )?;
    if !log.present {
        // A data_dir from before the log: the index is the ledger.
        return verify_index(&conn, &public_key, options, head.as_ref(), None);
    }
    let has_checkpoints = log.checkpoints > 0;
    let (hashes, has_row, checkpoint_seqs) = (log.hashes, log.has_row, log.checkpoint_seqs);
    let mut report = check_head(log.walked, head.as_ref(), &public_key, has_checkpoints)?;
    if report.first_bad.is_some() {
        return Ok(report);
    }
    // The index: its own chain and checkpoints, and each row the log's.
    let view = LogView {
        hashes: &hashes,
        has_row: &has_row,
        checkpoints: &checkpoint_seqs,
    };
    let index = verify_index(&conn, &public_key, options, None, Some(view))?;
    report.first_bad = index.first_bad;
    report.index_seq = index.index_seq;
    Ok(report)
}

/// Walks the SQLite index in one read snapshot. With `log`, each row
/// must also be the log's event at its seq.
fn verify_index(
    conn: &Connection,
    public_key: &[u8; 32],
    options: &VerifyOptions,
    head: Option<&SignedHead>,
    log: Option<LogView<'_>>,
) -> Result<VerifyReport, StoreError> {
    // One read transaction, so checkpoints and events come from the same
    // snapshot while the gateway keeps appending.
    conn.execute_batch("BEGIN")
        .map_err(StoreError::sqlite("starting a read transaction"))?;
    let report = load_checkpoints(conn).and_then(|cps| {
        let walked = walk(
            conn,
            public_key,
            &cps,
            options.checkpoint_every,
            head.map(|h| h.seq),
            log,
        )?;
        let last = crate::sqlite::last_indexed(conn)?.0.max(walked.last_seq);
        let mut walked = walked;
        if let Some(view) = log
            && walked.report.first_bad.is_none()
        {
            // Rows the index should hold up to where it goes.
            // (Only as far as the log was read: the index may have moved on.)
            let logged = i64::try_from(view.hashes.len()).unwrap_or(i64::MAX);
            let cut =
                (walked.last_seq + 1..=last.min(logged)).find(|&seq| !view.rowless(seq, seq + 1));
            walked.report.first_bad = cut
                .map(|seq| BadEvent {
                    seq,
                    problem: MISSING.to_string(),
                })
                .or_else(|| index_checkpoints_disagree(&cps, view, last.min(logged)));
        }
        let mut report = if log.is_some() {
            walked.report
        } else {
            check_head(walked, head, public_key, !cps.is_empty())?
        };
        report.index_seq = Some(last);
        Ok(report)
    });
    let _ = conn.execute_batch("COMMIT");
    report
}

/// Compares the walked chain with the head published outside the database.
fn check_head(
    walked: Walked,
    head: Option<&SignedHead>,
    public_key: &[u8; 32],
    has_checkpoints: bool,
) -> Result<VerifyReport, StoreError> {
    let mut report = walked.report;
    if report.first_bad.is_some() {
        return Ok(report);
    }
    let bad = |seq: i64, problem: String| Some(BadEvent { seq, problem });
    report.first_bad = match head {
        None if has_checkpoints => bad(walked.last_seq, HEAD_MISSING.to_string()),
        None => None,
        Some(h) if !h.is_signed_by(public_key) => bad(h.seq, HEAD_BAD_SIGNATURE.to_string()),
        Some(h) if h.seq > walked.last_seq => bad(
            walked.last_seq + 1,
            format!(
                "{MISSING} (the signed head in {LEDGER_HEAD_FILE} is seq {}, hash {})",
                h.seq,
                h.hash_hex()
            ),
        ),
        Some(h) if walked.head_hash != Some(h.hash) => {
            bad(h.seq, format!("{HEAD_MISMATCH} (hash {})", h.hash_hex()))
        }
        Some(h) => {
            report.head_seq = Some(h.seq);
            None
        }
    };
    Ok(report)
}

fn load_checkpoints(conn: &Connection) -> Result<Checkpoints, StoreError> {
    let mut stmt = conn
        .prepare("SELECT seq, hash, signature FROM checkpoints ORDER BY seq")
        .map_err(StoreError::sqlite("reading checkpoints"))?;
    let rows = stmt
        .query_map([], |r| Ok((r.get(0)?, (r.get(1)?, r.get(2)?))))
        .and_then(|rows| rows.collect::<Result<BTreeMap<_, _>, _>>())
        .map_err(StoreError::sqlite("reading checkpoints"))?;
    Ok(rows)
}

/// The walk's report, and what the head check needs of the chain.
pub(crate) struct Walked {
    pub(crate) report: VerifyReport,
    pub(crate) last_seq: i64,
    /// The recomputed hash at the published head's seq, once passed.
    pub(crate) head_hash: Option<[u8; 32]>,
}

fn walk(
    conn: &Connection,
    public_key: &[u8; 32],
    checkpoints: &Checkpoints,
    checkpoint_every: u64,
    head_seq: Option<i64>,
    log: Option<LogView<'_>>,
) -> Result<Walked, StoreError> {
    let mut walked = Walked {
        report: VerifyReport::nothing_checked(),
        last_seq: 0,
        head_hash: None,
    };
    let report = &mut walked.report;
    let mut stmt = conn
        .prepare(SELECT_ROWS)
        .map_err(StoreError::sqlite("reading the ledger"))?;
    let mut rows = stmt
        .query([])
        .map_err(StoreError::sqlite("reading the ledger"))?;
    let mut last_seq = 0i64;
    // The seq of the last checkpoint passed (0: the genesis).
    let mut last_checkpoint = 0i64;
    let mut prev = GENESIS_HASH;
    while let Some(r) = rows
        .next()
        .map_err(StoreError::sqlite("reading the ledger"))?
    {
        let row = read_row(r).map_err(StoreError::sqlite("reading a ledger row"))?;
        let expected = last_seq + 1;
        // Statements the index keeps no row for leave gaps the log fills.
        if row.seq > expected
            && let Some(view) = log
            && view.rowless(expected, row.seq)
            && let Some(before) = view.hash_before(row.seq)
        {
            prev = before;
            last_seq = row.seq - 1;
        }
        let expected = last_seq + 1;
        let problem = if row.seq > expected {
            Some((expected, MISSING.to_string()))
        } else if row.seq < expected {
            Some((row.seq, OUT_OF_ORDER.to_string()))
        } else {
            check_row(conn, &row, &prev, public_key, checkpoints, report)?
                .map(|p| (row.seq, p.to_string()))
                .or_else(|| differs_from_log(&row, log))
        };
        let problem = problem.or_else(|| {
            if checkpoints.contains_key(&row.seq) {
                last_checkpoint = row.seq;
            }
            // With a log, the cadence is the log's to check: the index has
            // no row where a checkpoint may follow a statement.
            if log.is_some() {
                return None;
            }
            cadence_broken(row.seq, last_checkpoint, checkpoint_every)
        });
        if let Some((seq, problem)) = problem {
            report.first_bad = Some(BadEvent { seq, problem });
            walked.last_seq = last_seq;
            return Ok(walked);
        }
        prev = chain_hash(&prev, row.body.as_bytes());
        if head_seq == Some(row.seq) {
            walked.head_hash = Some(prev);
        }
        last_seq = row.seq;
        report.events += 1;
    }
    // A checkpoint past the end means events were cut from the tail (with
    // a log, the statements after the last row have no row of their own).
    if log.is_none()
        && let Some((&seq, _)) = checkpoints.range(last_seq + 1..).next()
    {
        report.first_bad = Some(BadEvent {
            seq: last_seq + 1,
            problem: format!("{MISSING} (checkpoint at seq {seq})"),
        });
    }
    walked.last_seq = last_seq;
    Ok(walked)
}

/// What the index is checked against: the log's hash of every event, and
/// whether each has an index row (`has_row[i]` for seq `i + 1`).
#[derive(Clone, Copy)]
pub(crate) struct LogView<'a> {
    pub hashes: &'a [[u8; 32]],
    pub has_row: &'a [bool],
    /// The seqs the log's checkpoints sign.
    pub checkpoints: &'a [i64],
}

impl LogView<'_> {
    /// Whether every event in `from..to` is one the index keeps no row
    /// for (a statement read from the log instead).
    fn rowless(&self, from: i64, to: i64) -> bool {
        (from..to).all(|seq| {
            usize::try_from(seq - 1)
                .ok()
                .and_then(|i| self.has_row.get(i))
                .is_some_and(|has| !has)
        })
    }

    /// The log's hash of the event before `seq` (the genesis for seq 1).
    fn hash_before(&self, seq: i64) -> Option<[u8; 32]> {
        if seq == 1 {
            return Some(GENESIS_HASH);
        }
        usize::try_from(seq - 2)
            .ok()
            .and_then(|i| self.hashes.get(i))
            .copied()
    }
}

/// The index's checkpoints against the log's, up to where the index goes
/// (`indexed`): one past it means events were cut from the index; one of
/// the log's missing from it means a checkpoint row was deleted.
fn index_checkpoints_disagree(
    cps: &Checkpoints,
    log: LogView<'_>,
    indexed: i64,
) -> Option<BadEvent> {
    if let Some((&seq, _)) = cps.range(indexed + 1..).next() {
        return Some(BadEvent {
            seq: indexed + 1,
            problem: format!("{MISSING} (checkpoint at seq {seq})"),
        });
    }
    log.checkpoints
        .iter()
        .find(|&&seq| seq <= indexed && !cps.contains_key(&seq))
        .map(|&seq| BadEvent {
            seq,
            problem: format!("{CHECKPOINT_MISSING} (the log signs seq {seq}; the index lost it)"),
        })
}

/// An index row that is not the log's event at its seq (the log is the
/// ledger; the index only copies it). Rows past the log's end were written
/// after the log was read.
fn differs_from_log(row: &Row, log: Option<LogView<'_>>) -> Option<(i64, String)> {
    let hashes = log?.hashes;
    let logged = usize::try_from(row.seq - 1)
        .ok()
        .and_then(|i| hashes.get(i))?;
    (logged.as_slice() != row.hash.as_slice()).then(|| (row.seq, INDEX_DIFFERS.to_string()))
}

/// A checkpoint is signed every `every` events (and on a clean stop, which
/// only shortens the stretch after it), so `every` events past the last one
/// there must be another.
pub(crate) fn cadence_broken(seq: i64, last_checkpoint: i64, every: u64) -> Option<(i64, String)> {
    if every == 0 || (seq - last_checkpoint).unsigned_abs() < every {
        return None;
    }
    Some((
        seq,
        format!("{CHECKPOINT_MISSING} (one is signed every {every} events)"),
    ))
}

/// Checks one row that sits at the expected seq, given the recomputed hash of
/// the event before it.
fn check_row(
    conn: &Connection,
    row: &Row,
    prev: &[u8; 32],
    public_key: &[u8; 32],
    checkpoints: &Checkpoints,
    report: &mut VerifyReport,
) -> Result<Option<&'static str>, StoreError> {
    let recomputed_here = chain_hash(prev, row.body.as_bytes());
    let self_consistent = <[u8; 32]>::try_from(row.prev_hash.as_slice())
        .map(|p| chain_hash(&p, row.body.as_bytes()).as_slice() == row.hash.as_slice())
        .unwrap_or(false);
    if row.prev_hash.as_slice() != prev.as_slice() {
        // The row is intact but not where it was written: moved.
        if self_consistent && hash_exists_elsewhere(conn, &row.prev_hash, row.seq)? {
            return Ok(Some(OUT_OF_ORDER));
        }
        return Ok(Some(if self_consistent {
            PREV_MISMATCH
        } else {
            HASH_MISMATCH
        }));
    }
    if recomputed_here.as_slice() != row.hash.as_slice() {
        if body_belongs_elsewhere(conn, &row.body, row.seq)? {
            return Ok(Some(OUT_OF_ORDER));
        }
        return Ok(Some(HASH_MISMATCH));
    }
    if !columns_match_body(
        &row.body,
        row.at_ms,
        row.session.as_deref(),
        row.principal.as_deref(),
        row.run_id.as_deref(),
        &row.event_type,
    ) {
        return Ok(Some(COLUMNS_DISAGREE));
    }
    if let Some((hash, signature)) = checkpoints.get(&row.seq) {
        let Ok(hash) = <[u8; 32]>::try_from(hash.as_slice()) else {
            return Ok(Some(CHECKPOINT_MISMATCH));
        };
        if !signature_valid(public_key, row.seq, &hash, signature) {
            return Ok(Some(BAD_SIGNATURE));
        }
        if hash != recomputed_here {
            return Ok(Some(CHECKPOINT_MISMATCH));
        }
        report.checkpoints += 1;
    }
    Ok(None)
}

/// Whether some other row was chained with `body` (its content was swapped in here).
/// Only runs once, on the first failure, so a full scan is acceptable.
fn body_belongs_elsewhere(conn: &Connection, body: &str, seq: i64) -> Result<bool, StoreError> {
    let mut stmt = conn
        .prepare("SELECT prev_hash, hash FROM ledger WHERE seq != ?1")
        .map_err(StoreError::sqlite("scanning the ledger"))?;
    let mut rows = stmt
        .query([seq])
        .map_err(StoreError::sqlite("scanning the ledger"))?;
    while let Some(r) = rows
        .next()
        .map_err(StoreError::sqlite("scanning the ledger"))?
    {
        let prev: Vec<u8> = r
            .get(0)
            .map_err(StoreError::sqlite("scanning the ledger"))?;
        let hash: Vec<u8> = r
            .get(1)
            .map_err(StoreError::sqlite("scanning the ledger"))?;
        if let Ok(prev) = <[u8; 32]>::try_from(prev.as_slice())
            && chain_hash(&prev, body.as_bytes()).as_slice() == hash.as_slice()
        {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Whether another row carries `hash` (the row at `seq` was moved from after it).
fn hash_exists_elsewhere(conn: &Connection, hash: &[u8], seq: i64) -> Result<bool, StoreError> {
    conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM ledger WHERE hash = ?1 AND seq != ?2)",
        rusqlite::params![hash, seq],
        |r| r.get(0),
    )
    .map_err(StoreError::sqlite("scanning the ledger"))
}

/// The indexed columns are copies of fields of the hashed body; an edit to
/// them alone would mislead session lookups without breaking the chain.
pub(crate) fn columns_match_body(
    body: &str,
    at_ms: i64,
    session: Option<&str>,
    principal: Option<&str>,
    run_id: Option<&str>,
    event_type: &str,
) -> bool {
    let Ok(body) = serde_json::from_str::<serde_json::Value>(body) else {
        return false;
    };
    let text = |key: &str| body.get(key).and_then(|v| v.as_str());
    body.get("at_ms").and_then(|v| v.as_i64()) == Some(at_ms)
        && text("session") == session
        && text("principal") == principal
        && text("run_id") == run_id
        && body
            .get("body")
            .and_then(|b| b.get("type"))
            .and_then(|t| t.as_str())
            == Some(event_type)
}
