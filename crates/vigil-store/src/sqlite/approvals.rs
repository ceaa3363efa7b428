//! [`ApprovalStore`] on SQLite: reads on the read pool, every change on the
//! writer thread with its ledger events in the same transaction.

use super::SqliteStore;
use super::prepared::PreparedEvent;
use super::writer::{Command, Control, Writer};
use crate::StoreError;
use crate::approvals::{self, ApprovalStore, InsertOutcome, Transition};
use crate::log::writer::LogWriter;
use rusqlite::Transaction;
use tokio::sync::oneshot;
use vigil_core::{ApprovalRecord, Event, GrantRecord, IdentityKey};

impl SqliteStore {
    /// Runs `f` and appends the events it returns in one writer transaction.
    async fn transact<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Transaction<'_>) -> Result<(T, Vec<PreparedEvent>), StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let (reply, rx) = oneshot::channel();
        let work = move |w: &mut Writer, log: &mut LogWriter| {
            let _ = reply.send(w.transact(log, f));
        };
        self.tx
            .send(Command::Control(Control::Run(Box::new(work))))
            .await
            .map_err(|_| StoreError::Closed)?;
        rx.await.map_err(|_| StoreError::Closed)?
    }
}

#[async_trait::async_trait]
impl ApprovalStore for SqliteStore {
    async fn insert_approval(
        &self,
        record: ApprovalRecord,
        event: Event,
        pending_limit: usize,
    ) -> Result<InsertOutcome, StoreError> {
        let event = PreparedEvent::new(event)?;
        self.transact(move |tx| approvals::insert_in(tx, record, event, pending_limit))
            .await
    }

    async fn transition(&self, t: Transition) -> Result<Option<ApprovalRecord>, StoreError> {
        self.transact(move |tx| approvals::transition_in(tx, t))
            .await
    }

    async fn approval(&self, id: &str) -> Result<Option<ApprovalRecord>, StoreError> {
        let id = id.to_string();
        self.reads
            .run(move |c| approvals::get_approval(c, &id))
            .await
    }

    async fn list_approvals(&self, limit: usize) -> Result<Vec<ApprovalRecord>, StoreError> {
        self.reads
            .run(move |c| approvals::list_approvals(c, limit))
            .await
    }

    async fn usable_approval(
        &self,
        principal: &IdentityKey,
        connection: &str,
        statement: &str,
        params_sha256: &str,
        now_ms: i64,
    ) -> Result<Option<ApprovalRecord>, StoreError> {
        let (p, c, s, h) = (
            principal.clone(),
            connection.to_string(),
            statement.to_string(),
            params_sha256.to_string(),
        );
        self.reads
            .run(move |conn| approvals::usable_approval(conn, &p, &c, &s, &h, now_ms))
            .await
    }

    async fn pending_holds(&self) -> Result<Vec<ApprovalRecord>, StoreError> {
        self.reads.run(approvals::pending_holds).await
    }

    async fn set_preview(&self, id: &str, preview: serde_json::Value) -> Result<(), StoreError> {
        let id = id.to_string();
        self.transact(move |tx| approvals::set_preview_in(tx, &id, preview))
            .await
    }

    async fn active_grant(
        &self,
        principal: &IdentityKey,
        connection: &str,
        rule: &str,
        now_ms: i64,
    ) -> Result<Option<GrantRecord>, StoreError> {
        let (p, c, r) = (principal.clone(), connection.to_string(), rule.to_string());
        self.reads
            .run(move |conn| approvals::active_grant(conn, &p, &c, &r, now_ms))
            .await
    }

    async fn grant(&self, id: &str) -> Result<Option<GrantRecord>, StoreError> {
        let id = id.to_string();
        self.reads.run(move |c| approvals::get_grant(c, &id)).await
    }

    async fn list_grants(&self, limit: usize) -> Result<Vec<GrantRecord>, StoreError> {
        self.reads
            .run(move |c| approvals::list_grants(c, limit))
            .await
    }

    async fn revoke_grant(
        &self,
        id: &str,
        by: &str,
        at_ms: i64,
        event: Event,
    ) -> Result<Option<GrantRecord>, StoreError> {
        let event = PreparedEvent::new(event)?;
        let (id, by) = (id.to_string(), by.to_string());
        self.transact(move |tx| approvals::revoke_grant_in(tx, &id, &by, at_ms, event))
            .await
    }
}
