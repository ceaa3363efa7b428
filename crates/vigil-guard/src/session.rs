use crate::Principal;
use crate::login::SessionRequest;
use crate::metrics::ProtocolLabel;
use crate::{Guard, GuardError};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;
use vigil_core::{ConnectionRef, Event, EventBody, Protocol, RunId};
use vigil_mask::{MaskPolicy, MaskRule, Style};

/// One client session, opened by the guard after authentication and grant.
pub struct SessionCtx {
    pub id: String,
    pub principal: Principal,
    pub connection: ConnectionRef,
    pub protocol: Protocol,
    /// The agent run the client said this session belongs to.
    pub run_id: Option<RunId>,
    /// What this principal must not see on this connection; compiled once.
    pub mask: Arc<MaskPolicy>,
    /// A policy lets this principal read Kubernetes Secrets' values here
    /// (`k8s_secrets = "reveal"`); otherwise they are masked.
    pub reveal_k8s_secrets: bool,
    pub(crate) started: Instant,
    pub(crate) statements: AtomicU64,
    /// Whether the credential still holds (expiry, revocation).
    pub(crate) credential: crate::expiry::CredentialWatch,
    /// False for front-ends that cannot keep a client waiting (MCP): a
    /// review is then recorded in retry mode and answered at once.
    pub(crate) can_hold: bool,
}

impl SessionCtx {
    /// For a front-end whose client must not wait on a reviewer (an MCP tool
    /// call): every review, `hold` rules included, is recorded in retry mode
    /// and comes back at once as [`crate::Decision::Held`], whose approval
    /// the same statement passes once approved. Never await such a hold.
    pub fn without_holds(mut self) -> Self {
        self.can_hold = false;
        self
    }

    pub(crate) fn event(&self, body: EventBody) -> Event {
        Event {
            at_ms: now_ms(),
            session: Some(self.id.clone()),
            principal: Some(self.principal.name.clone()),
            run_id: self.run_id.as_ref().map(|r| r.as_str().to_string()),
            body,
        }
    }
}

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

fn new_session_id() -> String {
    let mut bytes = [0u8; 12];
    // A failing system RNG leaves zeros; the id only has to be unique, and
    // the timestamp prefix keeps it so.
    let _ = aws_lc_rs::rand::fill(&mut bytes);
    format!("{:x}-{}", now_ms(), hex::encode(bytes))
}

impl Guard {
    /// Checks that a policy grants the principal this connection, then
    /// records the session's start durably.
    pub async fn open_session(
        &self,
        principal: Principal,
        request: &SessionRequest<'_>,
    ) -> Result<SessionCtx, GuardError> {
        let SessionRequest {
            protocol,
            connection,
            client_addr,
            ..
        } = *request;
        let Some(conn) = self.connections.get(connection) else {
            self.record_rejected_login(protocol, connection, client_addr, "unknown connection")
                .await;
            return Err(GuardError::UnknownConnection(connection.to_string()));
        };
        if !self.policies.grants(&principal, connection) {
            self.record_rejected_login(
                protocol,
                connection,
                client_addr,
                &format!("no grant for {}", principal.name),
            )
            .await;
            return Err(GuardError::NotGranted {
                principal: principal.name.clone(),
                connection: connection.to_string(),
            });
        }
        let mask = match self.session_masks(&principal, connection) {
            Ok(m) => Arc::new(m),
            Err(e) => {
                // Config validation makes this unreachable; fail closed anyway.
                tracing::error!(connection, error = %e, "mask rules do not compile");
                return Err(GuardError::MaskConfig(e));
            }
        };
        let reveal_k8s_secrets = self.policies.reveals_k8s_secrets(&principal, connection);
        let credential =
            crate::expiry::CredentialWatch::new(principal.stored_credential().is_some());
        let session = SessionCtx {
            credential,
            id: new_session_id(),
            principal,
            connection: conn.clone(),
            protocol,
            run_id: request.run_id.clone(),
            reveal_k8s_secrets,
            mask,
            started: Instant::now(),
            statements: AtomicU64::new(0),
            can_hold: true,
        };
        let mut record = session.principal.record().clone();
        record.run_id = session.run_id.as_ref().map(|r| r.as_str().to_string());
        let start = session.event(EventBody::SessionStart {
            protocol,
            connection: connection.to_string(),
            client_addr: client_addr.to_string(),
            principal: record,
        });
        self.store.append(start).await.map_err(GuardError::Ledger)?;
        self.metrics
            .sessions_total
            .get_or_create(&ProtocolLabel {
                protocol: protocol.as_str(),
            })
            .inc();
        self.metrics
            .sessions_active
            .get_or_create(&ProtocolLabel {
                protocol: protocol.as_str(),
            })
            .inc();
        Ok(session)
    }

    fn session_masks(&self, principal: &Principal, connection: &str) -> Result<MaskPolicy, String> {
        let specs = self.policies.masks_for(principal, connection);
        let style = |s: vigil_policy::MaskStyle| match s {
            vigil_policy::MaskStyle::Redact => Style::Redact,
            vigil_policy::MaskStyle::Partial => Style::Partial,
            vigil_policy::MaskStyle::Hash => Style::Hash,
            vigil_policy::MaskStyle::Null => Style::Null,
        };
        let rules = specs.iter().map(|m| MaskRule {
            columns: &m.columns,
            detectors: &m.detectors,
            style: style(m.style),
        });
        let json = specs
            .iter()
            .map(|m| (m.json_paths.as_slice(), style(m.style)));
        MaskPolicy::compile(rules, &self.mask_key)
            .map_err(|e| e.to_string())?
            .with_json_paths(json, &self.mask_key)
            .map_err(|e| e.to_string())
    }

    /// Records the session's end. Never fails: the session is over either way.
    pub async fn close_session(&self, session: &SessionCtx) {
        let end = session.event(EventBody::SessionEnd {
            statements: session.statements.load(Ordering::Relaxed),
            duration_ms: session.started.elapsed().as_millis() as u64,
        });
        if let Err(e) = self.store.append_nowait(end).await {
            tracing::error!(session = %session.id, error = %e, "could not record the end of a session");
        }
        self.metrics
            .sessions_active
            .get_or_create(&ProtocolLabel {
                protocol: session.protocol.as_str(),
            })
            .dec();
    }
}
