//! Keeps the `sessions` summary table in step with the ledger, inside the
//! writer's transaction (so the summary can never disagree with committed events).

use super::prepared::SessionEffect;
use crate::log::writer::EventFields;
use crate::{SessionSummary, StoreError};
use rusqlite::{Connection, params};

pub(crate) fn apply(conn: &Connection, event: &EventFields<'_>) -> Result<(), StoreError> {
    let Some(session) = event.session else {
        return Ok(());
    };
    let result = match event.effect {
        SessionEffect::None => return Ok(()),
        SessionEffect::Start {
            principal,
            connection,
            protocol,
        } => conn
            .prepare_cached(
                "INSERT INTO sessions (id, principal, connection, protocol, started_at_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (id) DO UPDATE SET principal = excluded.principal,
                   connection = excluded.connection, protocol = excluded.protocol,
                   started_at_ms = excluded.started_at_ms",
            )
            .and_then(|mut s| {
                s.execute(params![
                    session,
                    principal,
                    connection,
                    protocol,
                    event.at_ms
                ])
            }),
        // Counted per batch: see `Counts`.
        SessionEffect::Statement { .. } => return Ok(()),
        SessionEffect::End => conn
            .prepare_cached(
                "INSERT INTO sessions (id, ended_at_ms) VALUES (?1, ?2)
                 ON CONFLICT (id) DO UPDATE SET ended_at_ms = excluded.ended_at_ms",
            )
            .and_then(|mut s| s.execute(params![session, event.at_ms])),
    };
    result
        .map(|_| ())
        .map_err(StoreError::sqlite("updating the session summary"))
}

/// Statement counts and seq range of one batch, written once per session
/// at its end (instead of one upsert per statement). The summary's updates
/// commute, so applying them after the session's start and end events
/// changes nothing.
#[derive(Default)]
pub(crate) struct Counts<'a> {
    by_session: Vec<SessionCounts<'a>>,
}

struct SessionCounts<'a> {
    session: &'a str,
    statements: i64,
    denied: i64,
    /// Seqs of the batch's statements and outcomes of this session: how
    /// `session_events` finds them (they are not in the session index).
    first_seq: i64,
    last_seq: i64,
}

impl<'a> Counts<'a> {
    /// Counts `event`, appended as `seq`.
    pub(crate) fn add(&mut self, event: EventFields<'a>, seq: i64) {
        let Some(session) = event.session else {
            return;
        };
        let denied = match event.effect {
            SessionEffect::Statement { denied } => Some(i64::from(*denied)),
            _ if event.event_type == "statement_done" => None,
            _ => return,
        };
        // A batch spans few sessions: a scan beats hashing.
        let entry = match self
            .by_session
            .iter_mut()
            .position(|c| c.session == session)
        {
            Some(i) => &mut self.by_session[i],
            None => {
                self.by_session.push(SessionCounts {
                    session,
                    statements: 0,
                    denied: 0,
                    first_seq: seq,
                    last_seq: seq,
                });
                let last = self.by_session.len() - 1;
                &mut self.by_session[last]
            }
        };
        if let Some(denied) = denied {
            entry.statements += 1;
            entry.denied += denied;
        }
        entry.first_seq = entry.first_seq.min(seq);
        entry.last_seq = entry.last_seq.max(seq);
    }

    pub(crate) fn write(self, conn: &Connection) -> Result<(), StoreError> {
        if self.by_session.is_empty() {
            return Ok(());
        }
        let mut stmt = conn
            .prepare_cached(
                "INSERT INTO sessions (id, statements, denied, first_seq, last_seq)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (id) DO UPDATE SET statements = statements + excluded.statements,
                   denied = denied + excluded.denied,
                   first_seq = MIN(COALESCE(first_seq, excluded.first_seq), excluded.first_seq),
                   last_seq = MAX(COALESCE(last_seq, excluded.last_seq), excluded.last_seq)",
            )
            .map_err(StoreError::sqlite("updating the session summary"))?;
        for c in self.by_session {
            stmt.execute(params![
                c.session,
                c.statements,
                c.denied,
                c.first_seq,
                c.last_seq
            ])
            .map_err(StoreError::sqlite("updating the session summary"))?;
        }
        Ok(())
    }
}

pub(crate) fn list(conn: &Connection, limit: usize) -> Result<Vec<SessionSummary>, StoreError> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let mut stmt = conn
        .prepare_cached(
            "SELECT id, principal, connection, protocol, started_at_ms, ended_at_ms, statements, denied
             FROM sessions ORDER BY started_at_ms DESC, id LIMIT ?1",
        )
        .map_err(StoreError::sqlite("listing sessions"))?;
    let rows = stmt
        .query_map([limit], summary_row)
        .map_err(StoreError::sqlite("listing sessions"))?;
    rows.collect::<Result<_, _>>()
        .map_err(StoreError::sqlite("listing sessions"))
}

/// A `sessions` row selected as `id, principal, connection, protocol,
/// started_at_ms, ended_at_ms, statements, denied`.
pub(crate) fn summary_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<SessionSummary> {
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
}
