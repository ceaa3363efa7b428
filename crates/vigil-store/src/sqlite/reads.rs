//! Read-only connections, used from `spawn_blocking` so queries never block
//! the async runtime nor wait behind the writer (WAL readers see the last
//! committed state).

use super::BUSY_TIMEOUT;
use super::writer::is_statement_type;
use crate::log::record::{self, Record};
use crate::log::segment::segment_path;
use crate::{LedgerRecord, StoreError};
use rusqlite::{Connection, OpenFlags, OptionalExtension, params};
use std::collections::BTreeMap;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::path::PathBuf;
use std::sync::Mutex;
use tokio::sync::Semaphore;

pub(crate) struct ReadPool {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    /// Bounds concurrent queries (and so open read connections).
    permits: Semaphore,
}

impl ReadPool {
    pub(crate) fn new(path: PathBuf, size: usize) -> Self {
        ReadPool {
            path,
            idle: Mutex::new(Vec::new()),
            permits: Semaphore::new(size.max(1)),
        }
    }

    /// Runs `f` on a pooled read-only connection on the blocking pool.
    pub(crate) async fn run<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| StoreError::Internal("read pool closed".into()))?;
        let pooled = self
            .idle
            .lock()
            .map_err(|_| StoreError::Internal("read pool lock poisoned".into()))?
            .pop();
        let path = self.path.clone();
        let (conn, result) = tokio::task::spawn_blocking(move || {
            let conn = match pooled {
                Some(conn) => conn,
                None => match open_reader(&path) {
                    Ok(conn) => conn,
                    Err(e) => return (None, Err(e)),
                },
            };
            let result = f(&conn);
            (Some(conn), result)
        })
        .await
        .map_err(|e| StoreError::Internal(format!("read task failed: {e}")))?;
        if let Some(conn) = conn {
            self.idle
                .lock()
                .map_err(|_| StoreError::Internal("read pool lock poisoned".into()))?
                .push(conn);
        }
        result
    }
}

pub(crate) fn open_reader(path: &std::path::Path) -> Result<Connection, StoreError> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(StoreError::sqlite("opening a read connection"))?;
    conn.busy_timeout(BUSY_TIMEOUT)
        .map_err(StoreError::sqlite("setting busy_timeout"))?;
    Ok(conn)
}

/// The events of `session` in ledger order: its statements and outcomes
/// by the session's seq range (rows where they have one, the log through
/// `log_chunks` where not: migration 6), the rest through the session
/// index (see migration 3).
pub(crate) fn session_events(
    conn: &Connection,
    log_dir: &Path,
    session: &str,
) -> Result<Vec<LedgerRecord>, StoreError> {
    let range: Option<(Option<i64>, Option<i64>)> = conn
        .prepare_cached("SELECT first_seq, last_seq FROM sessions WHERE id = ?1")
        .and_then(|mut s| {
            s.query_row([session], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()
        })
        .map_err(StoreError::sqlite("reading a session's range"))?;
    let (first, last) = match range {
        Some((Some(first), Some(last))) => (first, last),
        // No statement recorded: the index holds everything.
        _ => (1, 0),
    };
    let mut stmt = conn
        .prepare_cached(
            "SELECT seq, at_ms, type, body FROM ledger
             WHERE seq BETWEEN ?2 AND ?3 AND session = ?1
               AND (type = 'statement' OR type = 'statement_done')
             UNION ALL
             SELECT seq, at_ms, type, body FROM ledger
             WHERE session = ?1 AND type <> 'statement' AND type <> 'statement_done'
             ORDER BY seq",
        )
        .map_err(StoreError::sqlite("reading session events"))?;
    let rows = ledger_records(
        &mut stmt,
        params![session, first, last],
        "reading session events",
    )?;
    if first > last {
        return Ok(rows);
    }
    let mut by_seq: BTreeMap<i64, LedgerRecord> = rows.into_iter().map(|r| (r.seq, r)).collect();
    for r in logged_statements(conn, log_dir, session, first, last)? {
        by_seq.entry(r.seq).or_insert(r);
    }
    Ok(by_seq.into_values().collect())
}

/// The most bytes one `log_chunks` row may span: an index batch reads at
/// most 8 MiB of the log, plus one record of up to the frame limit.
const MAX_CHUNK_BYTES: usize = (8 << 20) + record::MAX_PAYLOAD + record::FRAME_HEADER;

/// The statements and outcomes of `session` between `first` and `last`
/// that the log holds without an index row: read from the chunks of the
/// log that cover that range.
fn logged_statements(
    conn: &Connection,
    log_dir: &Path,
    session: &str,
    first: i64,
    last: i64,
) -> Result<Vec<LedgerRecord>, StoreError> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT segment, start, end FROM log_chunks
             WHERE last_seq >= ?1 AND first_seq <= ?2 ORDER BY first_seq",
        )
        .map_err(StoreError::sqlite("reading log chunks"))?;
    let chunks = stmt
        .query_map([first, last], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, i64>(2)?,
            ))
        })
        .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
        .map_err(StoreError::sqlite("reading log chunks"))?;
    let mut out = Vec::new();
    let mut open: Option<(i64, std::fs::File)> = None;
    let mut buf = Vec::new();
    for (segment, start, end) in chunks {
        let file = match &open {
            Some((s, f)) if *s == segment => f,
            _ => {
                let path = segment_path(log_dir, segment);
                let f = std::fs::File::open(&path)
                    .map_err(StoreError::io(format!("opening {}", path.display())))?;
                &open.insert((segment, f)).1
            }
        };
        let len = usize::try_from(end.saturating_sub(start)).unwrap_or(usize::MAX);
        // A chunk is one index batch; a larger range is a damaged index row,
        // not an allocation to make.
        if len > MAX_CHUNK_BYTES {
            return Err(StoreError::Corrupt(format!(
                "log chunk at seq range of segment {segment:020}.log spans {len} bytes"
            )));
        }
        buf.resize(len, 0);
        file.read_exact_at(&mut buf, u64::try_from(start).unwrap_or(0))
            .map_err(StoreError::io(format!(
                "reading ledger segment {segment:020}.log"
            )))?;
        let mut at = 0;
        while at < buf.len() {
            let (record, size) = record::decode(&buf[at..]).map_err(|e| {
                StoreError::Corrupt(format!(
                    "ledger segment {segment:020}.log at byte {}: {e:?}",
                    start + at as i64
                ))
            })?;
            at += size;
            let Record::Event(e) = record else { continue };
            if e.seq < first
                || e.seq > last
                || e.session.as_deref() != Some(session)
                || !is_statement_type(&e.event_type)
            {
                continue;
            }
            let body = serde_json::from_str(&e.body).map_err(|err| {
                StoreError::Corrupt(format!("body of seq {} is not JSON: {err}", e.seq))
            })?;
            out.push(LedgerRecord {
                seq: e.seq,
                at_ms: e.at_ms,
                event_type: e.event_type,
                body,
            });
        }
    }
    Ok(out)
}

/// Runs `stmt` (selecting `seq, at_ms, type, body`) and parses each row
/// into a [`LedgerRecord`]; `what` names the read in errors.
pub(crate) fn ledger_records(
    stmt: &mut rusqlite::CachedStatement<'_>,
    params: impl rusqlite::Params,
    what: &'static str,
) -> Result<Vec<LedgerRecord>, StoreError> {
    let rows = stmt
        .query_map(params, |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
            ))
        })
        .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
        .map_err(StoreError::sqlite(what))?;
    rows.into_iter()
        .map(|(seq, at_ms, event_type, body)| {
            let body = serde_json::from_str(&body)
                .map_err(|e| StoreError::Corrupt(format!("body of seq {seq} is not JSON: {e}")))?;
            Ok(LedgerRecord {
                seq,
                at_ms,
                event_type,
                body,
            })
        })
        .collect()
}
