//! Registered SSH public keys: a principal's name, groups and kind, found by
//! the key's fingerprint when a client proves it holds the private half.

use crate::{NewSshKey, SshKeyRecord, StoreError};
use rusqlite::{Connection, OptionalExtension, Row, params};
use vigil_core::PrincipalKind;

/// Keys live in their own table: a key is not a bearer secret (its
/// fingerprint is public), so it must never be found by the token lookup.
pub(crate) const MIGRATION: &str = r#"
CREATE TABLE ssh_keys (
    id            INTEGER PRIMARY KEY,
    name          TEXT NOT NULL,
    groups_json   TEXT NOT NULL,
    kind          TEXT NOT NULL,
    fingerprint   BLOB NOT NULL,
    public_key    TEXT NOT NULL,
    created_at_ms INTEGER NOT NULL,
    removed_at_ms INTEGER
);
-- One active registration per name and per key; removed ones stay for the record.
CREATE UNIQUE INDEX ssh_keys_active_name ON ssh_keys (name) WHERE removed_at_ms IS NULL;
CREATE UNIQUE INDEX ssh_keys_active_key ON ssh_keys (fingerprint) WHERE removed_at_ms IS NULL;
"#;

const COLUMNS: &str =
    "name, groups_json, kind, fingerprint, public_key, created_at_ms, removed_at_ms";

pub(crate) fn insert(conn: &Connection, key: &NewSshKey) -> Result<(), StoreError> {
    let groups = serde_json::to_string(&key.groups).map_err(|source| StoreError::Json {
        context: "encoding ssh key groups",
        source,
    })?;
    let result = conn.execute(
        "INSERT INTO ssh_keys (name, groups_json, kind, fingerprint, public_key, created_at_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            key.name,
            groups,
            key.kind.as_str(),
            &key.fingerprint[..],
            key.public_key,
            key.created_at_ms
        ],
    );
    match result {
        Ok(_) => Ok(()),
        Err(rusqlite::Error::SqliteFailure(e, Some(msg)))
            if e.code == rusqlite::ErrorCode::ConstraintViolation =>
        {
            if msg.contains("ssh_keys.name") {
                Err(StoreError::DuplicateSshKey(format!(
                    "an active ssh key named `{}` already exists",
                    key.name
                )))
            } else {
                Err(StoreError::DuplicateSshKey(
                    "this key is already registered (to an active name)".into(),
                ))
            }
        }
        Err(e) => Err(StoreError::Sqlite {
            context: "registering an ssh key",
            source: e,
        }),
    }
}

/// Marks the active key called `name` removed; `false` when there is none.
pub(crate) fn remove(conn: &Connection, name: &str, at_ms: i64) -> Result<bool, StoreError> {
    conn.execute(
        "UPDATE ssh_keys SET removed_at_ms = ?2 WHERE name = ?1 AND removed_at_ms IS NULL",
        params![name, at_ms],
    )
    .map(|n| n > 0)
    .map_err(StoreError::sqlite("removing an ssh key"))
}

/// The active key with this fingerprint, or else the latest removed one (so
/// the caller can say it was removed).
pub(crate) fn by_fingerprint(
    conn: &Connection,
    fingerprint: &[u8; 32],
) -> Result<Option<SshKeyRecord>, StoreError> {
    let raw = conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM ssh_keys WHERE fingerprint = ?1
             ORDER BY removed_at_ms IS NULL DESC, id DESC LIMIT 1"
        ))
        .and_then(|mut s| s.query_row([&fingerprint[..]], RawKey::from_row).optional())
        .map_err(StoreError::sqlite("looking up an ssh key"))?;
    raw.map(RawKey::into_record).transpose()
}

pub(crate) fn list(conn: &Connection) -> Result<Vec<SshKeyRecord>, StoreError> {
    let mut stmt = conn
        .prepare_cached(&format!("SELECT {COLUMNS} FROM ssh_keys ORDER BY id"))
        .map_err(StoreError::sqlite("listing ssh keys"))?;
    let raws = stmt
        .query_map([], RawKey::from_row)
        .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
        .map_err(StoreError::sqlite("listing ssh keys"))?;
    raws.into_iter().map(RawKey::into_record).collect()
}

/// A row before its JSON, enum and blob columns are checked.
struct RawKey {
    name: String,
    groups_json: String,
    kind: String,
    fingerprint: Vec<u8>,
    public_key: String,
    created_at_ms: i64,
    removed_at_ms: Option<i64>,
}

impl RawKey {
    fn from_row(r: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(RawKey {
            name: r.get(0)?,
            groups_json: r.get(1)?,
            kind: r.get(2)?,
            fingerprint: r.get(3)?,
            public_key: r.get(4)?,
            created_at_ms: r.get(5)?,
            removed_at_ms: r.get(6)?,
        })
    }

    fn into_record(self) -> Result<SshKeyRecord, StoreError> {
        let corrupt = |what: &str, e: &dyn std::fmt::Display| {
            StoreError::Corrupt(format!("{what} of ssh key `{}`: {e}", self.name))
        };
        let groups = serde_json::from_str(&self.groups_json).map_err(|e| corrupt("groups", &e))?;
        let kind: PrincipalKind = self.kind.parse().map_err(|e| corrupt("kind", &e))?;
        let fingerprint: [u8; 32] = self
            .fingerprint
            .as_slice()
            .try_into()
            .map_err(|e| corrupt("fingerprint", &e))?;
        Ok(SshKeyRecord {
            name: self.name,
            groups,
            kind,
            fingerprint,
            public_key: self.public_key,
            created_at_ms: self.created_at_ms,
            removed_at_ms: self.removed_at_ms,
        })
    }
}
