//! Reads by agent run: the sessions whose events carry a run id, and the
//! run's events in ledger order (the `ledger_by_run` index serves both).

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
        .query_map(params![run_id, limit], |r| {
            Ok(SessionSummary {
                id: r.get(0)?,
                principal: r.get(1)?,
                connection: r.get(2)?,
                protocol: r.get(3)?,
                started_at_ms: r.get(4)?,
                ended_at_ms: r.get(5)?,
                statements: r.get(6)?,
                denied: r.get(7)?,
            })
        })
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
    let rows = stmt
        .query_map(params![run_id, limit], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
            ))
        })
        .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
        .map_err(StoreError::sqlite("reading a run's events"))?;
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
