//! Reads by agent run: the sessions whose events carry a run id, and the
//! run's events in ledger order (the `ledger_by_run` index serves both).

use super::reads::ledger_records;
use super::sessions::summary_row;
use crate::{LedgerRecord, SessionSummary, StoreError};
use rusqlite::{Connection, params};

/// The sessions with at least one event of `run_id`, oldest first.
pub(crate) fn sessions(
    conn: &Connection,
    run_id: &str,
    limit: usize,
) -> Result<Vec<SessionSummary>, StoreError> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let mut stmt = conn
        .prepare_cached(
            "SELECT id, principal, connection, protocol, started_at_ms, ended_at_ms, statements, denied
             FROM sessions WHERE id IN (SELECT session FROM ledger WHERE run_id = ?1 AND session IS NOT NULL)
             ORDER BY started_at_ms, id LIMIT ?2",
        )
        .map_err(StoreError::sqlite("listing a run's sessions"))?;
    let rows = stmt
        .query_map(params![run_id, limit], summary_row)
        .map_err(StoreError::sqlite("listing a run's sessions"))?;
    rows.collect::<Result<_, _>>()
        .map_err(StoreError::sqlite("listing a run's sessions"))
}

/// The events of `run_id` in ledger order, at most `limit`, with the
/// reviewers' decisions on the approvals the run asked for (a reviewer's
/// event carries no run id of its own).
pub(crate) fn events(
    conn: &Connection,
    run_id: &str,
    limit: usize,
) -> Result<Vec<LedgerRecord>, StoreError> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let mut stmt = conn
        .prepare_cached(
            "SELECT seq, at_ms, type, body FROM ledger WHERE run_id = ?1
             OR (type = 'approval_decided'
                 AND seq > (SELECT min(seq) FROM ledger WHERE run_id = ?1)
                 AND json_extract(body, '$.body.id') IN (
                     SELECT json_extract(body, '$.body.id') FROM ledger
                     WHERE run_id = ?1 AND type = 'approval_requested'))
             ORDER BY seq LIMIT ?2",
        )
        .map_err(StoreError::sqlite("reading a run's events"))?;
    ledger_records(&mut stmt, params![run_id, limit], "reading a run's events")
}
