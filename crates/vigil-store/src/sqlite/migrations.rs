//! Numbered schema migrations, applied on open.
//!
//! Each migration runs in its own `BEGIN IMMEDIATE` transaction together with
//! the `schema_version` row that records it, so a crash mid-migration leaves
//! the previous version intact and two processes opening the same database do
//! not apply a migration twice. A database newer than this binary is refused:
//! writing to a schema we do not understand could break the ledger.

use crate::StoreError;
use rusqlite::{Connection, TransactionBehavior};

/// `(version, SQL)`, in order. Never edit a released migration; add one.
const MIGRATIONS: &[(i64, &str)] = &[
    (1, V1),
    (2, crate::approvals::MIGRATION),
    (3, V3),
    (4, crate::approvals::MIGRATION_IDENTITY),
    (5, crate::ssh_keys::MIGRATION),
    (6, V6),
];

/// The newest schema version this binary knows.
pub(crate) const LATEST: i64 = 6;

const V1: &str = r#"
CREATE TABLE ledger (
    seq       INTEGER PRIMARY KEY,
    at_ms     INTEGER NOT NULL,
    session   TEXT,
    principal TEXT,
    run_id    TEXT,
    type      TEXT NOT NULL,
    body      TEXT NOT NULL,
    prev_hash BLOB NOT NULL,
    hash      BLOB NOT NULL
);
CREATE INDEX ledger_by_session ON ledger (session, seq) WHERE session IS NOT NULL;
CREATE INDEX ledger_by_run ON ledger (run_id, seq) WHERE run_id IS NOT NULL;

CREATE TABLE checkpoints (
    seq        INTEGER PRIMARY KEY,
    hash       BLOB NOT NULL,
    signature  BLOB NOT NULL,
    public_key BLOB NOT NULL,
    at_ms      INTEGER NOT NULL
);

CREATE TABLE tokens (
    id            INTEGER PRIMARY KEY,
    name          TEXT NOT NULL,
    groups_json   TEXT NOT NULL,
    kind          TEXT NOT NULL,
    hash          BLOB NOT NULL UNIQUE,
    created_at_ms INTEGER NOT NULL,
    expires_at_ms INTEGER,
    revoked_at_ms INTEGER
);
-- A name is unique among active tokens only: a revoked name may be reused.
CREATE UNIQUE INDEX tokens_active_name ON tokens (name) WHERE revoked_at_ms IS NULL;

-- Maintained by the ledger writer in the same transaction as the events, so
-- listing sessions never scans the ledger.
CREATE TABLE sessions (
    id            TEXT PRIMARY KEY,
    principal     TEXT,
    connection    TEXT,
    protocol      TEXT,
    started_at_ms INTEGER,
    ended_at_ms   INTEGER,
    statements    INTEGER NOT NULL DEFAULT 0,
    denied        INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX sessions_by_start ON sessions (started_at_ms DESC);
"#;

/// Statements and their outcomes (nearly every event) are no longer in the
/// session index: they are found by their session's seq range, which the
/// writer keeps in `sessions`. Their index entries went to a different leaf
/// page for each live session, so every commit wrote a page per session:
/// about a third of the ledger's cost per statement. Other events of a
/// session (start, end, approvals, which may come after its end) keep an
/// index entry.
const V3: &str = r#"
ALTER TABLE sessions ADD COLUMN first_seq INTEGER;
ALTER TABLE sessions ADD COLUMN last_seq INTEGER;
UPDATE sessions SET
    first_seq = (SELECT MIN(seq) FROM ledger WHERE ledger.session = sessions.id
                 AND type IN ('statement', 'statement_done')),
    last_seq = (SELECT MAX(seq) FROM ledger WHERE ledger.session = sessions.id
                AND type IN ('statement', 'statement_done'));
DROP INDEX ledger_by_session;
CREATE INDEX ledger_by_session ON ledger (session, seq)
    WHERE session IS NOT NULL AND type <> 'statement' AND type <> 'statement_done';
"#;

/// The ledger log (`data_dir/ledger/`) is the ledger; statements and their
/// outcomes outside an agent run are no longer copied into `ledger` rows (a
/// B-tree insert per event was most of the index's cost): the index keeps
/// where each batch of them sits in the log, and a session's statements are
/// read from there by its seq range. Every other event keeps its row.
const V6: &str = r#"
CREATE TABLE log_chunks (
    first_seq INTEGER PRIMARY KEY,
    last_seq  INTEGER NOT NULL,
    last_hash BLOB NOT NULL,
    segment   INTEGER NOT NULL,
    start     INTEGER NOT NULL,
    end       INTEGER NOT NULL
);
"#;

/// The schema version of `conn` (0 for a fresh database).
pub(crate) fn current_version(conn: &Connection) -> Result<i64, StoreError> {
    let exists: bool = conn
        .query_row(
            "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version')",
            [],
            |r| r.get(0),
        )
        .map_err(StoreError::sqlite("reading the schema version"))?;
    if !exists {
        return Ok(0);
    }
    conn.query_row(
        "SELECT COALESCE(MAX(version), 0) FROM schema_version",
        [],
        |r| r.get(0),
    )
    .map_err(StoreError::sqlite("reading the schema version"))
}

/// Refuses a database newer than this binary.
pub(crate) fn check_not_newer(found: i64) -> Result<(), StoreError> {
    if found > LATEST {
        return Err(StoreError::SchemaTooNew {
            found,
            known: LATEST,
        });
    }
    Ok(())
}

/// Brings `conn` up to [`LATEST`].
pub(crate) fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    conn.execute_batch("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, applied_at_ms INTEGER NOT NULL)")
        .map_err(StoreError::sqlite("creating schema_version"))?;
    for &(version, sql) in MIGRATIONS {
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(StoreError::sqlite("starting a migration"))?;
        // Re-read inside the write lock: another process may have migrated.
        let found = current_version(&tx)?;
        check_not_newer(found)?;
        if found >= version {
            continue;
        }
        tx.execute_batch(sql)
            .map_err(StoreError::sqlite("applying a migration"))?;
        tx.execute(
            "INSERT INTO schema_version (version, applied_at_ms) VALUES (?1, ?2)",
            rusqlite::params![version, crate::sqlite::now_ms()],
        )
        .map_err(StoreError::sqlite("recording a migration"))?;
        tx.commit()
            .map_err(StoreError::sqlite("committing a migration"))?;
        tracing::info!(version, "applied store migration");
    }
    check_not_newer(current_version(conn)?)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// A version-2 database with sessions interleaved, migrated to 3: the
    /// seq ranges are filled in and the session query plans as intended.
    #[test]
    fn migration_3_fills_session_ranges_and_reads_use_them() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v2.db");
        let mut conn = Connection::open(&path).unwrap();
        conn.execute_batch(&format!(
            "CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at_ms INTEGER NOT NULL);
             {V1}{}
             INSERT INTO schema_version VALUES (1, 0), (2, 0);",
            crate::approvals::MIGRATION
        ))
        .unwrap();
        let rows = [
            (1, "a", "session_start"),
            (2, "b", "session_start"),
            (3, "a", "statement"),
            (4, "b", "statement"),
            (5, "a", "statement_done"),
            (6, "a", "session_end"),
            (7, "b", "statement_done"),
        ];
        for (seq, session, kind) in rows {
            conn.execute(
                "INSERT INTO ledger VALUES (?1, 0, ?2, 'p', NULL, ?3, '{}', x'00', x'00')",
                rusqlite::params![seq, session, kind],
            )
            .unwrap();
            conn.execute(
                "INSERT INTO sessions (id) VALUES (?1) ON CONFLICT DO NOTHING",
                [session],
            )
            .unwrap();
        }
        migrate(&mut conn).unwrap();
        assert_eq!(current_version(&conn).unwrap(), LATEST);
        let range = |id: &str| -> (i64, i64) {
            conn.query_row(
                "SELECT first_seq, last_seq FROM sessions WHERE id = ?1",
                [id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap()
        };
        assert_eq!(range("a"), (3, 5));
        assert_eq!(range("b"), (4, 7));

        let plan: Vec<String> = conn
            .prepare(
                "EXPLAIN QUERY PLAN SELECT seq FROM ledger
                 WHERE seq BETWEEN ?2 AND ?3 AND session = ?1
                   AND (type = 'statement' OR type = 'statement_done')
                 UNION ALL
                 SELECT seq FROM ledger
                 WHERE session = ?1 AND type <> 'statement' AND type <> 'statement_done'
                 ORDER BY seq",
            )
            .unwrap()
            .query_map(rusqlite::params!["a", 1, 9], |r| r.get::<_, String>(3))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let plan = plan.join("\n");
        assert!(plan.contains("rowid>? AND rowid<?"), "range scan: {plan}");
        assert!(
            plan.contains("USING INDEX ledger_by_session"),
            "index: {plan}"
        );
    }
}
