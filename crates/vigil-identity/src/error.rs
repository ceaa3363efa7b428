//! Why a credential was refused or a token could not be issued.

use vigil_store::StoreError;

/// Refusals carry no detail that could help guess a credential, and never
/// the credential itself: front-ends may show them to the client as is.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// Unknown, malformed or unsupported credential.
    #[error("invalid credential")]
    InvalidCredential,
    #[error("credential expired")]
    Expired,
    #[error("credential revoked")]
    Revoked,
    /// An OIDC token whose issuer's keys could not be fetched (and none were
    /// cached): the token may be fine, but it cannot be checked.
    #[error("the identity provider could not be reached")]
    IssuerUnavailable,
    /// A bad argument to `issue` (empty name, TTL out of range, ...).
    #[error("invalid token request: {0}")]
    InvalidRequest(String),
    /// An active token already has this name (revoke it first).
    #[error("an active token named `{0}` already exists; revoke it first")]
    NameTaken(String),
    /// The system random generator failed; no token was issued.
    #[error("could not generate a token: random generator failed")]
    Random,
    /// The store could not answer: the caller must refuse (fail closed).
    #[error(transparent)]
    Store(#[from] StoreError),
}
