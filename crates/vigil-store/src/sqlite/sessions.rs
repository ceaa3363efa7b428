//! Keeps the `sessions` summary table in step with the ledger, inside the
//! writer's transaction (so the summary can never disagree with committed events).

use super::prepared::{PreparedEvent, SessionEffect};
use crate::{SessionSummary, StoreError};
use rusqlite::{Connection, params};

pub(crate) fn apply(conn: &Connection, event: &PreparedEvent) -> Result<(), StoreError> {
    let Some(session) = event.session.as_deref() else {
        return Ok(());
    };
    let result = match &event.effect {
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

/// Statement counts of one batch, written once per session at its end
/// (instead of one upsert per statement). The summary's updates commute, so
/// applying them after the session's start and end events changes nothing.
#[derive(Default)]
pub(crate) struct Counts<'a> {
    /// (session, statements, denied), in first-seen order.
    by_session: Vec<(&'a str, i64, i64)>,
}

impl<'a> Counts<'a> {
    pub(crate) fn add(&mut self, event: &'a PreparedEvent) {
        let (Some(session), SessionEffect::Statement { denied }) =
            (event.session.as_deref(), &event.effect)
        else {
            return;
        };
        let denied = i64::from(*denied);
        // A batch spans few sessions: a scan beats hashing.
        match self.by_session.iter_mut().find(|(s, _, _)| *s == session) {
            Some(entry) => {
                entry.1 += 1;
                entry.2 += denied;
            }
            None => self.by_session.push((session, 1, denied)),
        }
    }

    pub(crate) fn write(self, conn: &Connection) -> Result<(), StoreError> {
        if self.by_session.is_empty() {
            return Ok(());
        }
        let mut stmt = conn
            .prepare_cached(
                "INSERT INTO sessions (id, statements, denied) VALUES (?1, ?2, ?3)
                 ON CONFLICT (id) DO UPDATE SET statements = statements + excluded.statements,
                   denied = denied + excluded.denied",
            )
            .map_err(StoreError::sqlite("updating the session summary"))?;
        for (session, statements, denied) in self.by_session {
            stmt.execute(params![session, statements, denied])
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
        .query_map([limit], |r| {
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
        .map_err(StoreError::sqlite("listing sessions"))?;
    rows.collect::<Result<_, _>>()
        .map_err(StoreError::sqlite("listing sessions"))
}
