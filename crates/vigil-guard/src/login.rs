//! The one login flow of every protocol: a credential (and, where the
//! protocol names one at login, a connection) in, a principal or a session
//! out. Every rejected credential is recorded in the ledger here, the same
//! way for PostgreSQL, REST, MCP, SSH and the rest.

use crate::session::now_ms;
use crate::{Guard, GuardError, Principal, SessionCtx};
use vigil_core::{Event, EventBody, Protocol, RunId};
use vigil_identity::Credential;

/// What a client presented to log in.
pub struct Login<'a> {
    pub protocol: Protocol,
    /// A Vigil token or an OIDC JWT as the client sent it, or an SSH key
    /// it proved it holds.
    pub credential: Credential<'a>,
    /// The connection the client asked for at login ("" when the protocol
    /// names none then, as REST and MCP do).
    pub connection: &'a str,
    /// Where the client connected from (for the ledger).
    pub client_addr: &'a str,
}

/// The session a principal asks for.
pub struct SessionRequest<'a> {
    pub protocol: Protocol,
    pub connection: &'a str,
    pub client_addr: &'a str,
    /// The agent run the session belongs to, when the client names one.
    pub run_id: Option<RunId>,
}

impl Guard {
    /// The one authentication gate: turns a credential into a [`Principal`]
    /// (the only way to get one). A refused credential is counted and
    /// recorded in the ledger as an `auth_failure` of `login.protocol`,
    /// without the credential.
    pub async fn authenticate(&self, login: &Login<'_>) -> Result<Principal, GuardError> {
        match self.auth.authenticate_credential(login.credential).await {
            Ok(p) => Ok(p),
            Err(e) => {
                self.metrics.auth_failures.inc();
                let reason = format!("invalid credential: {e}");
                self.record_rejected_login(
                    login.protocol,
                    login.connection,
                    login.client_addr,
                    &reason,
                )
                .await;
                Err(GuardError::Authentication(e))
            }
        }
    }

    /// The whole login for a protocol that names the connection when it
    /// logs in (SSH, MySQL, ...): authenticate, check the grant, record the
    /// session's start.
    pub async fn login(
        &self,
        login: &Login<'_>,
        run_id: Option<RunId>,
    ) -> Result<SessionCtx, GuardError> {
        let principal = self.authenticate(login).await?;
        let request = SessionRequest {
            protocol: login.protocol,
            connection: login.connection,
            client_addr: login.client_addr,
            run_id,
        };
        self.open_session(principal, &request).await
    }

    /// Whether an SSH key with this fingerprint is registered and active,
    /// so the SSH front-end asks for a signature only for such keys. Not a
    /// login: the login is [`Guard::authenticate`] with the proven key. A
    /// store that cannot answer says no (fail closed).
    pub async fn ssh_key_is_registered(&self, fingerprint: &[u8; 32]) -> bool {
        matches!(
            self.store.ssh_key_by_fingerprint(fingerprint).await,
            Ok(Some(key)) if key.removed_at_ms.is_none()
        )
    }

    /// Records a login refused before a session opened (bad credential, no
    /// grant, unknown connection, a limit). Never fails: the refusal stands
    /// either way.
    pub async fn record_rejected_login(
        &self,
        protocol: Protocol,
        connection: &str,
        client_addr: &str,
        reason: &str,
    ) {
        let event = Event {
            at_ms: now_ms(),
            session: None,
            principal: None,
            run_id: None,
            body: EventBody::AuthFailure {
                protocol,
                connection: connection.to_string(),
                client_addr: client_addr.to_string(),
                reason: reason.to_string(),
            },
        };
        if let Err(e) = self.store.append_nowait(event).await {
            tracing::error!(error = %e, "could not record an authentication failure");
        }
    }
}
