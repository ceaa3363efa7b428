//! Approval requests and grants: durable, so a gateway restart loses none.
//!
//! Every change of state goes through the single writer together with the
//! ledger event that records it, in one transaction: a decision is in the
//! ledger exactly when it is in the table. Each row keeps its whole record
//! as JSON (`body`) next to the columns that queries filter on.
//!
//! Transitions are conditional (`pending` → decided only while pending and
//! not lapsed; `approved` → `used` only once and only while usable), so two
//! reviewers racing, or two retries racing, cannot both win.
//!
//! Requests and grants are found by who asked as the issuer knows them
//! (`issuer`, `subject` columns, see [`IdentityKey`]), never by display
//! name: an OIDC "alice" and a Vigil token named "alice" share nothing.

use crate::StoreError;
use crate::sqlite::prepared::PreparedEvent;
use rusqlite::{Connection, OptionalExtension, Transaction, params};
use vigil_core::{ApprovalRecord, ApprovalStatus, Event, GrantRecord, IdentityKey, ReviewMode};

/// What [`ApprovalStore::insert_approval`] did.
#[derive(Debug)]
pub enum InsertOutcome {
    Created(ApprovalRecord),
    /// Retry mode: the same operation already waits for a decision.
    Existing(ApprovalRecord),
    /// The principal already has this many pending requests.
    TooMany(usize),
}

/// A change of an approval's state, applied only if it is still in `from`.
#[derive(Debug)]
pub struct Transition {
    pub id: String,
    pub from: ApprovalStatus,
    pub to: ApprovalStatus,
    pub at_ms: i64,
    pub by: Option<String>,
    /// The reviewer's issuer and subject, when a reviewer decided.
    pub by_id: Option<IdentityKey>,
    pub reason: Option<String>,
    /// For `approved`: usable until then.
    pub usable_until_ms: Option<i64>,
    /// A window opened with the approval.
    pub grant: Option<GrantRecord>,
    /// Ledger events that record the change; written in the same transaction.
    pub events: Vec<Event>,
}

/// Persistence of approvals and grants.
#[async_trait::async_trait]
pub trait ApprovalStore: Send + Sync {
    /// Records a new request and its ledger event, unless the principal has
    /// `pending_limit` pending requests already, or (retry mode) the same
    /// operation is already pending.
    async fn insert_approval(
        &self,
        record: ApprovalRecord,
        event: Event,
        pending_limit: usize,
    ) -> Result<InsertOutcome, StoreError>;

    /// Applies `t` if the approval is still in `t.from` (and, for a pending
    /// one, not lapsed; for an approved one, still usable). `None`: it was not.
    async fn transition(&self, t: Transition) -> Result<Option<ApprovalRecord>, StoreError>;

    async fn approval(&self, id: &str) -> Result<Option<ApprovalRecord>, StoreError>;

    /// Newest first, at most `limit`.
    async fn list_approvals(&self, limit: usize) -> Result<Vec<ApprovalRecord>, StoreError>;

    /// The approved, unused, still usable retry-mode request for exactly
    /// this operation by this identity.
    async fn usable_approval(
        &self,
        principal: &IdentityKey,
        connection: &str,
        statement: &str,
        params_sha256: &str,
        now_ms: i64,
    ) -> Result<Option<ApprovalRecord>, StoreError>;

    /// Pending hold-mode requests: nobody waits on them after a restart.
    async fn pending_holds(&self) -> Result<Vec<ApprovalRecord>, StoreError>;

    async fn set_preview(&self, id: &str, preview: serde_json::Value) -> Result<(), StoreError>;

    /// An unexpired, unrevoked grant for this identity, connection and rule.
    async fn active_grant(
        &self,
        principal: &IdentityKey,
        connection: &str,
        rule: &str,
        now_ms: i64,
    ) -> Result<Option<GrantRecord>, StoreError>;

    async fn grant(&self, id: &str) -> Result<Option<GrantRecord>, StoreError>;

    /// Newest first, at most `limit`.
    async fn list_grants(&self, limit: usize) -> Result<Vec<GrantRecord>, StoreError>;

    /// Revokes an unrevoked grant, recording `event`; `None` when it was not active.
    async fn revoke_grant(
        &self,
        id: &str,
        by: &str,
        at_ms: i64,
        event: Event,
    ) -> Result<Option<GrantRecord>, StoreError>;
}

fn json_err(context: &'static str) -> impl FnOnce(serde_json::Error) -> StoreError {
    move |source| StoreError::Json { context, source }
}

fn decode<T: serde::de::DeserializeOwned>(body: &str, what: &str) -> Result<T, StoreError> {
    serde_json::from_str(body).map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
}

fn mode_str(mode: ReviewMode) -> &'static str {
    match mode {
        ReviewMode::Hold => "hold",
        ReviewMode::Retry => "retry",
    }
}

/// The `(issuer, subject)` columns of a record; empty (matching no one)
/// for a record without an identity.
fn id_columns(id: Option<&IdentityKey>) -> (&str, &str) {
    id.map_or(("", ""), |k| (k.issuer.as_str(), k.subject.as_str()))
}

fn write_approval(tx: &Connection, r: &ApprovalRecord, insert: bool) -> Result<(), StoreError> {
    let body = serde_json::to_string(r).map_err(json_err("encoding an approval"))?;
    let (issuer, subject) = id_columns(r.principal_id.as_ref());
    let sql = if insert {
        "INSERT INTO approvals (id, created_at_ms, principal, connection, mode, statement,
           params_sha256, status, expires_at_ms, usable_until_ms, body, issuer, subject)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)"
    } else {
        "UPDATE approvals SET created_at_ms = ?2, principal = ?3, connection = ?4, mode = ?5,
           statement = ?6, params_sha256 = ?7, status = ?8, expires_at_ms = ?9,
           usable_until_ms = ?10, body = ?11, issuer = ?12, subject = ?13 WHERE id = ?1"
    };
    tx.prepare_cached(sql)
        .and_then(|mut s| {
            s.execute(params![
                r.id,
                r.created_at_ms,
                r.principal,
                r.connection,
                mode_str(r.mode),
                r.statement,
                r.params_sha256,
                r.status.as_str(),
                r.expires_at_ms,
                r.usable_until_ms,
                body,
                issuer,
                subject
            ])
        })
        .map(|_| ())
        .map_err(StoreError::sqlite("writing an approval"))
}

fn write_grant(tx: &Connection, g: &GrantRecord, insert: bool) -> Result<(), StoreError> {
    let body = serde_json::to_string(g).map_err(json_err("encoding a grant"))?;
    let (issuer, subject) = id_columns(g.principal_id.as_ref());
    let sql = if insert {
        "INSERT INTO grants (id, created_at_ms, principal, connection, rule, expires_at_ms,
           revoked_at_ms, body, issuer, subject) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"
    } else {
        "UPDATE grants SET created_at_ms = ?2, principal = ?3, connection = ?4, rule = ?5,
           expires_at_ms = ?6, revoked_at_ms = ?7, body = ?8, issuer = ?9, subject = ?10
           WHERE id = ?1"
    };
    tx.prepare_cached(sql)
        .and_then(|mut s| {
            s.execute(params![
                g.id,
                g.created_at_ms,
                g.principal,
                g.connection,
                g.rule,
                g.expires_at_ms,
                g.revoked_at_ms,
                body,
                issuer,
                subject
            ])
        })
        .map(|_| ())
        .map_err(StoreError::sqlite("writing a grant"))
}

pub(crate) fn get_approval(
    conn: &Connection,
    id: &str,
) -> Result<Option<ApprovalRecord>, StoreError> {
    let body: Option<String> = conn
        .prepare_cached("SELECT body FROM approvals WHERE id = ?1")
        .and_then(|mut s| s.query_row([id], |r| r.get(0)).optional())
        .map_err(StoreError::sqlite("reading an approval"))?;
    body.map(|b| decode(&b, "approval body")).transpose()
}

pub(crate) fn get_grant(conn: &Connection, id: &str) -> Result<Option<GrantRecord>, StoreError> {
    let body: Option<String> = conn
        .prepare_cached("SELECT body FROM grants WHERE id = ?1")
        .and_then(|mut s| s.query_row([id], |r| r.get(0)).optional())
        .map_err(StoreError::sqlite("reading a grant"))?;
    body.map(|b| decode(&b, "grant body")).transpose()
}

fn bodies<T: serde::de::DeserializeOwned>(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
    what: &'static str,
) -> Result<Vec<T>, StoreError> {
    let mut stmt = conn.prepare_cached(sql).map_err(StoreError::sqlite(what))?;
    let rows = stmt
        .query_map(params, |r| r.get::<_, String>(0))
        .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
        .map_err(StoreError::sqlite(what))?;
    rows.iter().map(|b| decode(b, what)).collect()
}

pub(crate) fn list_approvals(
    conn: &Connection,
    limit: usize,
) -> Result<Vec<ApprovalRecord>, StoreError> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    bodies(
        conn,
        "SELECT body FROM approvals ORDER BY created_at_ms DESC, id LIMIT ?1",
        [limit],
        "listing approvals",
    )
}

pub(crate) fn usable_approval(
    conn: &Connection,
    principal: &IdentityKey,
    connection: &str,
    statement: &str,
    params_sha256: &str,
    now_ms: i64,
) -> Result<Option<ApprovalRecord>, StoreError> {
    let found: Vec<ApprovalRecord> = bodies(
        conn,
        "SELECT body FROM approvals WHERE issuer = ?1 AND subject = ?2 AND connection = ?3
           AND statement = ?4 AND params_sha256 = ?5 AND status = 'approved' AND mode = 'retry'
           AND usable_until_ms > ?6 ORDER BY created_at_ms LIMIT 1",
        params![
            principal.issuer,
            principal.subject,
            connection,
            statement,
            params_sha256,
            now_ms
        ],
        "finding a usable approval",
    )?;
    Ok(found.into_iter().next())
}

pub(crate) fn pending_holds(conn: &Connection) -> Result<Vec<ApprovalRecord>, StoreError> {
    bodies(
        conn,
        "SELECT body FROM approvals WHERE status = 'pending' AND mode = 'hold'",
        [],
        "listing held requests",
    )
}

pub(crate) fn active_grant(
    conn: &Connection,
    principal: &IdentityKey,
    connection: &str,
    rule: &str,
    now_ms: i64,
) -> Result<Option<GrantRecord>, StoreError> {
    let found: Vec<GrantRecord> = bodies(
        conn,
        "SELECT body FROM grants WHERE issuer = ?1 AND subject = ?2 AND connection = ?3
           AND rule = ?4 AND revoked_at_ms IS NULL AND expires_at_ms > ?5
           ORDER BY expires_at_ms DESC LIMIT 1",
        params![
            principal.issuer,
            principal.subject,
            connection,
            rule,
            now_ms
        ],
        "finding a grant",
    )?;
    Ok(found.into_iter().next())
}

pub(crate) fn list_grants(conn: &Connection, limit: usize) -> Result<Vec<GrantRecord>, StoreError> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    bodies(
        conn,
        "SELECT body FROM grants ORDER BY created_at_ms DESC, id LIMIT ?1",
        [limit],
        "listing grants",
    )
}

fn prepare(events: Vec<Event>) -> Result<Vec<PreparedEvent>, StoreError> {
    events.into_iter().map(PreparedEvent::new).collect()
}

/// In the writer's transaction: the insert of a request.
pub(crate) fn insert_in(
    tx: &Transaction<'_>,
    record: ApprovalRecord,
    event: PreparedEvent,
    pending_limit: usize,
) -> Result<(InsertOutcome, Vec<PreparedEvent>), StoreError> {
    let now = record.created_at_ms;
    let (issuer, subject) = id_columns(record.principal_id.as_ref());
    if record.mode == ReviewMode::Retry {
        let same: Vec<ApprovalRecord> = bodies(
            tx,
            "SELECT body FROM approvals WHERE issuer = ?1 AND subject = ?2 AND connection = ?3
               AND statement = ?4 AND params_sha256 = ?5 AND status = 'pending'
               AND mode = 'retry' AND expires_at_ms > ?6 ORDER BY created_at_ms LIMIT 1",
            params![
                issuer,
                subject,
                record.connection,
                record.statement,
                record.params_sha256,
                now
            ],
            "finding a pending request",
        )?;
        if let Some(existing) = same.into_iter().next() {
            return Ok((InsertOutcome::Existing(existing), vec![]));
        }
    }
    let pending: i64 = tx
        .prepare_cached(
            "SELECT COUNT(*) FROM approvals WHERE issuer = ?1 AND subject = ?2
               AND status = 'pending' AND expires_at_ms > ?3",
        )
        .and_then(|mut s| s.query_row(params![issuer, subject, now], |r| r.get(0)))
        .map_err(StoreError::sqlite("counting pending requests"))?;
    if usize::try_from(pending).unwrap_or(usize::MAX) >= pending_limit {
        return Ok((InsertOutcome::TooMany(pending_limit), vec![]));
    }
    write_approval(tx, &record, true)?;
    Ok((InsertOutcome::Created(record), vec![event]))
}

/// In the writer's transaction: a conditional change of state.
pub(crate) fn transition_in(
    tx: &Transaction<'_>,
    t: Transition,
) -> Result<(Option<ApprovalRecord>, Vec<PreparedEvent>), StoreError> {
    let Some(mut r) = get_approval(tx, &t.id)? else {
        return Ok((None, vec![]));
    };
    let live = match r.status {
        ApprovalStatus::Pending => r.expires_at_ms > t.at_ms,
        ApprovalStatus::Approved => r.usable_until_ms.is_some_and(|u| u > t.at_ms),
        _ => false,
    };
    // A lapsed request may still be closed as expired.
    let closing_lapsed = r.status == ApprovalStatus::Pending
        && t.from == ApprovalStatus::Pending
        && t.to == ApprovalStatus::Expired;
    if r.status != t.from || !(live || closing_lapsed) {
        return Ok((None, vec![]));
    }
    r.status = t.to;
    match t.to {
        ApprovalStatus::Used => r.used_at_ms = Some(t.at_ms),
        _ => {
            r.decided_at_ms = Some(t.at_ms);
            r.decided_by = t.by;
            r.decided_by_id = t.by_id;
            r.decision_reason = t.reason;
            r.usable_until_ms = t.usable_until_ms;
        }
    }
    if let Some(grant) = &t.grant {
        r.grant_id = Some(grant.id.clone());
        write_grant(tx, grant, true)?;
    }
    write_approval(tx, &r, false)?;
    Ok((Some(r), prepare(t.events)?))
}

pub(crate) fn set_preview_in(
    tx: &Transaction<'_>,
    id: &str,
    preview: serde_json::Value,
) -> Result<((), Vec<PreparedEvent>), StoreError> {
    if let Some(mut r) = get_approval(tx, id)? {
        r.preview = Some(preview);
        write_approval(tx, &r, false)?;
    }
    Ok(((), vec![]))
}

pub(crate) fn revoke_grant_in(
    tx: &Transaction<'_>,
    id: &str,
    by: &str,
    at_ms: i64,
    event: PreparedEvent,
) -> Result<(Option<GrantRecord>, Vec<PreparedEvent>), StoreError> {
    let Some(mut g) = get_grant(tx, id)? else {
        return Ok((None, vec![]));
    };
    if g.revoked_at_ms.is_some() || g.expires_at_ms <= at_ms {
        return Ok((None, vec![]));
    }
    g.revoked_at_ms = Some(at_ms);
    g.revoked_by = Some(by.to_string());
    write_grant(tx, &g, false)?;
    Ok((Some(g), vec![event]))
}

/// Schema of migration 2.
pub(crate) const MIGRATION: &str = r#"
CREATE TABLE approvals (
    id              TEXT PRIMARY KEY,
    created_at_ms   INTEGER NOT NULL,
    principal       TEXT NOT NULL,
    connection      TEXT NOT NULL,
    mode            TEXT NOT NULL,
    statement       TEXT NOT NULL,
    params_sha256   TEXT NOT NULL,
    status          TEXT NOT NULL,
    expires_at_ms   INTEGER NOT NULL,
    usable_until_ms INTEGER,
    body            TEXT NOT NULL
);
CREATE INDEX approvals_by_principal ON approvals (principal, status);
CREATE INDEX approvals_by_operation ON approvals (principal, connection, params_sha256, status);
CREATE INDEX approvals_by_created ON approvals (created_at_ms DESC);

CREATE TABLE grants (
    id            TEXT PRIMARY KEY,
    created_at_ms INTEGER NOT NULL,
    principal     TEXT NOT NULL,
    connection    TEXT NOT NULL,
    rule          TEXT NOT NULL,
    expires_at_ms INTEGER NOT NULL,
    revoked_at_ms INTEGER,
    body          TEXT NOT NULL
);
CREATE INDEX grants_by_subject ON grants (principal, connection, rule);
"#;

/// Schema of the migration that keys requests and grants on identity
/// (issuer and subject) instead of the bare name. Rows written before it
/// keep empty columns, so they match no one: an old approval or grant
/// lapses rather than cover a namesake (fail closed).
pub(crate) const MIGRATION_IDENTITY: &str = r#"
ALTER TABLE approvals ADD COLUMN issuer TEXT NOT NULL DEFAULT '';
ALTER TABLE approvals ADD COLUMN subject TEXT NOT NULL DEFAULT '';
ALTER TABLE grants ADD COLUMN issuer TEXT NOT NULL DEFAULT '';
ALTER TABLE grants ADD COLUMN subject TEXT NOT NULL DEFAULT '';
CREATE INDEX approvals_by_identity ON approvals (issuer, subject, status);
CREATE INDEX approvals_by_identity_operation
    ON approvals (issuer, subject, connection, params_sha256, status);
CREATE INDEX grants_by_identity ON grants (issuer, subject, connection, rule);
"#;
