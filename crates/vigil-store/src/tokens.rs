//! API token rows. Only SHA-256 hashes are stored, never token text.

use crate::{NewToken, StoreError, TokenRecord};
use rusqlite::{Connection, OptionalExtension, Row, params};
use vigil_core::PrincipalKind;

const COLUMNS: &str = "name, groups_json, kind, created_at_ms, expires_at_ms, revoked_at_ms";

pub(crate) fn insert(conn: &Connection, token: &NewToken) -> Result<(), StoreError> {
    let groups = serde_json::to_string(&token.groups).map_err(|source| StoreError::Json {
        context: "encoding token groups",
        source,
    })?;
    let result = conn.execute(
        "INSERT INTO tokens (name, groups_json, kind, hash, created_at_ms, expires_at_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            token.name,
            groups,
            token.kind.as_str(),
            &token.hash[..],
            token.created_at_ms,
            token.expires_at_ms
        ],
    );
    match result {
        Ok(_) => Ok(()),
        Err(rusqlite::Error::SqliteFailure(e, Some(msg)))
            if e.code == rusqlite::ErrorCode::ConstraintViolation
                && msg.contains("tokens.name") =>
        {
            Err(StoreError::DuplicateToken(token.name.clone()))
        }
        Err(e) => Err(StoreError::Sqlite {
            context: "creating a token",
            source: e,
        }),
    }
}

/// Marks the active token `name` revoked; `false` when there is none.
pub(crate) fn revoke(conn: &Connection, name: &str, at_ms: i64) -> Result<bool, StoreError> {
    conn.execute(
        "UPDATE tokens SET revoked_at_ms = ?2 WHERE name = ?1 AND revoked_at_ms IS NULL",
        params![name, at_ms],
    )
    .map(|n| n > 0)
    .map_err(StoreError::sqlite("revoking a token"))
}

pub(crate) fn by_hash(
    conn: &Connection,
    hash: &[u8; 32],
) -> Result<Option<TokenRecord>, StoreError> {
    let raw = conn
        .prepare_cached(&format!("SELECT {COLUMNS} FROM tokens WHERE hash = ?1"))
        .and_then(|mut s| s.query_row([&hash[..]], RawToken::from_row).optional())
        .map_err(StoreError::sqlite("looking up a token"))?;
    raw.map(RawToken::into_record).transpose()
}

pub(crate) fn list(conn: &Connection) -> Result<Vec<TokenRecord>, StoreError> {
    let mut stmt = conn
        .prepare_cached(&format!("SELECT {COLUMNS} FROM tokens ORDER BY id"))
        .map_err(StoreError::sqlite("listing tokens"))?;
    let raws = stmt
        .query_map([], RawToken::from_row)
        .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
        .map_err(StoreError::sqlite("listing tokens"))?;
    raws.into_iter().map(RawToken::into_record).collect()
}

/// A row before its JSON and enum columns are checked.
struct RawToken {
    name: String,
    groups_json: String,
    kind: String,
    created_at_ms: i64,
    expires_at_ms: Option<i64>,
    revoked_at_ms: Option<i64>,
}

impl RawToken {
    fn from_row(r: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(RawToken {
            name: r.get(0)?,
            groups_json: r.get(1)?,
            kind: r.get(2)?,
            created_at_ms: r.get(3)?,
            expires_at_ms: r.get(4)?,
            revoked_at_ms: r.get(5)?,
        })
    }

    fn into_record(self) -> Result<TokenRecord, StoreError> {
        let groups = serde_json::from_str(&self.groups_json)
            .map_err(|e| StoreError::Corrupt(format!("groups of token `{}`: {e}", self.name)))?;
        let kind: PrincipalKind = self
            .kind
            .parse()
            .map_err(|e| StoreError::Corrupt(format!("kind of token `{}`: {e}", self.name)))?;
        Ok(TokenRecord {
            name: self.name,
            groups,
            kind,
            created_at_ms: self.created_at_ms,
            expires_at_ms: self.expires_at_ms,
            revoked_at_ms: self.revoked_at_ms,
        })
    }
}
