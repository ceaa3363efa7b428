//! Vigil's one authentication gate.
//!
//! Every protocol front-end hands the credential its client presented (a
//! PostgreSQL password, an HTTP bearer token, ...) to [`Authenticator::authenticate`]
//! and gets a [`Principal`] or a refusal; no front-end
//! checks credentials by itself. The gate knows Vigil API tokens (issued by
//! [`TokenAuthority`]) and OIDC JWTs from the company IdP ([`oidc`]); it
//! tells them apart by shape ([`credential`]).

mod authenticator;
mod authority;
mod cache;
pub mod credential;
mod error;
pub mod oidc;
mod principal;
mod token;

pub use authenticator::{
    Authenticator, DEFAULT_CACHE_CAPACITY, DEFAULT_CACHE_TTL, SSH_KEY_SUBJECT_PREFIX,
};
pub use authority::TokenAuthority;
pub use error::IdentityError;
pub use oidc::{IssuerSettings, OidcVerifier};
pub use principal::{Principal, StoredCredential};
pub use token::{TOKEN_PREFIX, VIGIL_ISSUER};
pub use vigil_store::TokenRecord;

/// What a client presented to the gate.
#[derive(Clone, Copy, Debug)]
pub enum Credential<'a> {
    /// A Vigil token or an OIDC JWT, as the client sent it.
    Secret(&'a vigil_core::Secret<String>),
    /// The fingerprint (SHA-256 of the wire encoding) of an SSH public key
    /// whose private half the client has just proven it holds (the SSH
    /// front-end checked the signature over the session).
    SshKey(&'a [u8; 32]),
}

/// Milliseconds since the Unix epoch (0 if the clock is before 1970).
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
