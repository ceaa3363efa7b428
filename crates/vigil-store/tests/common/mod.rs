//! Helpers shared by the store's integration tests.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use rusqlite::Connection;
use std::path::Path;
use vigil_core::{Event, EventBody, PrincipalKind, PrincipalRecord, VerdictRecord};
use vigil_store::{DB_FILE, SqliteStore, StoreOptions};

pub fn open(dir: &Path) -> SqliteStore {
    SqliteStore::open(dir, StoreOptions::default()).unwrap()
}

pub fn open_with(dir: &Path, opts: StoreOptions) -> SqliteStore {
    SqliteStore::open(dir, opts).unwrap()
}

/// A direct connection to the database, as an attacker with file access has.
pub fn raw(dir: &Path) -> Connection {
    Connection::open(dir.join(DB_FILE)).unwrap()
}

pub fn error_event(n: u64) -> Event {
    Event {
        at_ms: 1_700_000_000_000 + n as i64,
        session: Some("s-test".into()),
        principal: Some("alice".into()),
        run_id: None,
        body: EventBody::Error {
            message: format!("event {n}"),
        },
    }
}

pub fn session_start(session: &str, at_ms: i64) -> Event {
    Event {
        at_ms,
        session: Some(session.into()),
        principal: Some("alice".into()),
        run_id: Some("run-1".into()),
        body: EventBody::SessionStart {
            protocol: vigil_core::Protocol::Postgres,
            connection: "shop".into(),
            client_addr: "127.0.0.1:5000".into(),
            principal: PrincipalRecord {
                name: "alice".into(),
                groups: vec!["analysts".into()],
                kind: PrincipalKind::Agent,
                issuer: "vigil".into(),
                run_id: Some("run-1".into()),
                ..PrincipalRecord::default()
            },
        },
    }
}

pub fn statement(session: &str, at_ms: i64, verdict: &str) -> Event {
    Event {
        at_ms,
        session: Some(session.into()),
        principal: Some("alice".into()),
        run_id: Some("run-1".into()),
        body: EventBody::Statement {
            connection: "shop".into(),
            text: "SELECT 1".into(),
            kind: "select".into(),
            tables_read: vec![],
            tables_written: vec![],
            decision: VerdictRecord {
                verdict: match verdict {
                    "deny" => vigil_core::VerdictKind::Deny,
                    "review" => vigil_core::VerdictKind::Review,
                    _ => vigil_core::VerdictKind::Allow,
                },
                rule: "reads".into(),
                reason: None,
            },
        },
    }
}

pub fn session_end(session: &str, at_ms: i64) -> Event {
    Event {
        at_ms,
        session: Some(session.into()),
        principal: Some("alice".into()),
        run_id: Some("run-1".into()),
        body: EventBody::SessionEnd {
            statements: 2,
            duration_ms: 10,
        },
    }
}
