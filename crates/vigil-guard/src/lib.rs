//! The guard: one gate that turns a credential into a [`Principal`], and one
//! that turns a principal and an action into a decision that is durable in
//! the ledger before anything is forwarded.
//!
//! Front-ends can only forward with a [`Permit`], and only this crate can
//! make one, so "forwarded without a recorded decision" does not compile.

mod access;
pub mod admission;
mod approvals;
mod binding;
mod decide;
mod error;
mod expiry;
mod ledger;
mod login;
mod metrics;
mod refusal;
mod session;
#[cfg(test)]
mod verdict_cache_tests;

pub use approvals::{
    ApprovalError, ApprovalNotice, Hold, MAX_PENDING_PER_PRINCIPAL, NoticeKind, Previewer,
    ReviewDecision, Withdrawal, effective_status,
};
pub use binding::Binding;
pub use decide::{Decision, Permit};
pub use error::GuardError;
pub use expiry::EXPIRED_RULE;
pub use login::{Login, SessionRequest};
pub use metrics::Metrics;
pub use refusal::{Refusal, RefusalClass, Unpolicied};
pub use session::SessionCtx;

use std::collections::HashMap;
use std::sync::Arc;
use vigil_core::ConnectionRef;
use vigil_identity::{Authenticator, OidcVerifier};
pub use vigil_identity::{Credential, Principal};
use vigil_policy::PolicySet;
use vigil_store::Store;

/// The gateway's single point of decision.
pub struct Guard {
    auth: Authenticator,
    policies: PolicySet,
    store: Arc<dyn Store>,
    connections: HashMap<String, ConnectionRef>,
    metrics: Arc<Metrics>,
    /// Keys the `hash` mask style; stable per gateway so joins on masked
    /// values still work.
    mask_key: vigil_mask::MaskKey,
    /// Wakes statements held for approval.
    approvals: approvals::Hub,
}

impl Guard {
    pub fn new(
        store: Arc<dyn Store>,
        policies: PolicySet,
        connections: impl IntoIterator<Item = ConnectionRef>,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            auth: Authenticator::new(store.clone()),
            policies,
            store,
            connections: connections
                .into_iter()
                .map(|c| (c.name.clone(), c))
                .collect(),
            metrics,
            mask_key: random_mask_key(),
            approvals: approvals::Hub::default(),
        }
    }

    /// Sets the gateway's persistent key for the `hash` mask style.
    pub fn with_mask_key(mut self, key: vigil_mask::MaskKey) -> Self {
        self.mask_key = key;
        self
    }

    /// Also accepts JWTs from `oidc`'s issuers at the authentication gate.
    pub fn with_oidc(mut self, oidc: OidcVerifier) -> Self {
        self.auth.set_oidc(oidc);
        self
    }

    /// How long a Vigil token lookup is reused (`[identity] token_cache`):
    /// a revoked token is refused, at login and on the next statement of a
    /// session already open, at most this long after the revocation.
    pub fn with_token_cache(mut self, ttl: std::time::Duration) -> Self {
        self.auth.set_cache_ttl(ttl);
        self
    }

    /// Whether a rule reads `http.body`: the HTTP front-end parses request
    /// bodies only then.
    pub fn reads_http_body(&self) -> bool {
        self.policies.reads_http_body()
    }

    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }
}

/// A per-process key, until the gateway sets its persistent one.
fn random_mask_key() -> vigil_mask::MaskKey {
    let mut bytes = [0u8; 32];
    // A failing system RNG leaves zeros: hashes stay masked, only less
    // private across gateways.
    let _ = aws_lc_rs::rand::fill(&mut bytes);
    vigil_mask::MaskKey::new(bytes)
}
