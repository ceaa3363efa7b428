//! The gate: credential in, [`Principal`] out.

use crate::cache::PositiveCache;
use crate::credential::CredentialKind;
use crate::oidc::{OidcVerifier, Reject};
use crate::principal::StoredCredential;
use crate::token::{self, VIGIL_ISSUER};
use crate::{Credential, Principal};
use crate::{IdentityError, now_ms};
use std::sync::Arc;
use std::time::{Duration, Instant};
use vigil_core::{PrincipalRecord, Secret};
use vigil_store::{SshKeyRecord, Store, TokenRecord};

/// How long a successful token lookup is reused, for new logins and for the
/// re-checks of open sessions ([`Authenticator::revalidate`]). A revoked
/// token keeps working for at most this long in a running gateway
/// (`[identity] token_cache`).
pub const DEFAULT_CACHE_TTL: Duration = Duration::from_secs(1);
/// The subject of a principal proven by a registered SSH key:
/// `ssh-key:<name>` (a token's subject is its bare name).
pub const SSH_KEY_SUBJECT_PREFIX: &str = "ssh-key:";

/// Most cached lookups (one per distinct valid token).
pub const DEFAULT_CACHE_CAPACITY: usize = 10_000;

/// The one authentication gate shared by every protocol front-end.
pub struct Authenticator {
    store: Arc<dyn Store>,
    cache: PositiveCache,
    oidc: OidcVerifier,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator").finish_non_exhaustive()
    }
}

impl Authenticator {
    /// A gate over `store`'s tokens with the default cache
    /// ([`DEFAULT_CACHE_TTL`], [`DEFAULT_CACHE_CAPACITY`]).
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self::with_cache(store, DEFAULT_CACHE_TTL, DEFAULT_CACHE_CAPACITY)
    }

    /// A gate with its own cache settings; `ttl` zero disables caching, so a
    /// revocation takes effect on the next connection.
    pub fn with_cache(store: Arc<dyn Store>, ttl: Duration, capacity: usize) -> Self {
        Authenticator {
            store,
            cache: PositiveCache::new(ttl, capacity),
            oidc: OidcVerifier::default(),
        }
    }

    /// The same gate, also accepting JWTs from `oidc`'s issuers.
    pub fn with_oidc(mut self, oidc: OidcVerifier) -> Self {
        self.oidc = oidc;
        self
    }

    /// Accepts JWTs from `oidc`'s issuers (replacing any set before).
    pub fn set_oidc(&mut self, oidc: OidcVerifier) {
        self.oidc = oidc;
    }

    /// Replaces the token cache with one whose entries live `ttl` (zero: no
    /// cache, every login and every re-check reads the store).
    pub fn set_cache_ttl(&mut self, ttl: Duration) {
        self.cache = PositiveCache::new(ttl, DEFAULT_CACHE_CAPACITY);
    }

    /// How long a token lookup is reused: open sessions re-check their
    /// credential at most this often.
    pub fn cache_ttl(&self) -> Duration {
        self.cache.ttl()
    }

    /// Checks again that the credential behind `principal` is still good,
    /// for a session that outlives its login: a revoked or expired Vigil
    /// token is refused. Reads the store at most once per cache lifetime per
    /// token (whatever the number of sessions); returns when that read was,
    /// so the caller can skip re-checks until `checked_at + cache_ttl()`.
    /// Principals of other credentials (OIDC) have nothing to re-check here:
    /// their deadline is `expires_at_ms`.
    pub async fn revalidate(&self, principal: &Principal) -> Result<Instant, IdentityError> {
        let hash = match principal.stored_credential() {
            None => return Ok(Instant::now()),
            Some(StoredCredential::SshKey(fingerprint)) => {
                let checked_at = Instant::now();
                let record = self.ssh_key(fingerprint).await?;
                // A key removed and registered again (to another name, or with
                // other groups) is a new registration: it does not carry on the
                // sessions the old one opened.
                let same = record.name == principal.name
                    && record.groups == principal.groups
                    && record.kind == principal.kind;
                if !same {
                    return Err(IdentityError::Revoked);
                }
                return Ok(checked_at);
            }
            Some(StoredCredential::Token(hash)) => hash.expose(),
        };
        let now = now_ms();
        if let Some(hit) = self.cache.get(hash) {
            if is_expired(hit.expires_at_ms, now) {
                self.cache.remove(hash);
                return Err(IdentityError::Expired);
            }
            return Ok(hit.cached_at);
        }
        let checked_at = Instant::now();
        let record = self.store.token_by_hash(hash).await?;
        let record = record.ok_or(IdentityError::Revoked)?;
        if record.revoked_at_ms.is_some() {
            return Err(IdentityError::Revoked);
        }
        if is_expired(record.expires_at_ms, now) {
            return Err(IdentityError::Expired);
        }
        let expires_at_ms = record.expires_at_ms;
        self.cache.insert_at(
            *hash,
            principal_of(record, *hash),
            expires_at_ms,
            checked_at,
        );
        Ok(checked_at)
    }

    /// The one gate: turns a credential (a Vigil token or an OIDC JWT) into
    /// a [`Principal`]. Vigil tokens yield `issuer = "vigil"`, JWTs the
    /// issuer's URL.
    ///
    /// Errors never contain the credential. A store failure is an error too:
    /// the caller refuses the connection (fail closed).
    pub async fn authenticate(
        &self,
        credential: &Secret<String>,
    ) -> Result<Principal, IdentityError> {
        let text = credential.expose();
        match CredentialKind::of(text) {
            CredentialKind::VigilToken => self.vigil_token(text).await,
            CredentialKind::Jwt if !self.oidc.is_empty() => self
                .oidc
                .verify(text, now_ms())
                .await
                .map_err(|why| match why {
                    Reject::Expired => IdentityError::Expired,
                    Reject::IssuerUnavailable => IdentityError::IssuerUnavailable,
                    _ => IdentityError::InvalidCredential,
                }),
            // Oversized or odd-shaped JWTs land here too: refuse, never guess.
            CredentialKind::Jwt | CredentialKind::Unknown => {
                if text.len() > crate::oidc::jwt::MAX_TOKEN_LEN {
                    tracing::info!(len = text.len(), "oversized credential refused");
                }
                Err(IdentityError::InvalidCredential)
            }
        }
    }

    /// The gate for any [`Credential`]: a token or JWT as
    /// [`Authenticator::authenticate`], an SSH key as
    /// [`Authenticator::authenticate_ssh_key`].
    pub async fn authenticate_credential(
        &self,
        credential: Credential<'_>,
    ) -> Result<Principal, IdentityError> {
        match credential {
            Credential::Secret(secret) => self.authenticate(secret).await,
            Credential::SshKey(fingerprint) => self.authenticate_ssh_key(fingerprint).await,
        }
    }

    /// The principal an SSH public key was registered for (`vigil ssh-keys
    /// add`), given the fingerprint of a key the client has proven it holds.
    /// A removed or unknown key is refused. Not cached: key logins are rare
    /// and a removal takes effect at once.
    pub async fn authenticate_ssh_key(
        &self,
        fingerprint: &[u8; 32],
    ) -> Result<Principal, IdentityError> {
        let record = self.ssh_key(fingerprint).await?;
        // Its own subject namespace: a key and a token of the same name are
        // different credentials with their own groups, so they must not share
        // approvals, grants or caps (keyed on issuer and subject).
        let verified = PrincipalRecord {
            subject: Some(format!("{SSH_KEY_SUBJECT_PREFIX}{}", record.name)),
            name: record.name,
            groups: record.groups,
            kind: record.kind,
            issuer: VIGIL_ISSUER.to_string(),
            run_id: None,
            expires_at_ms: None,
            claims: None,
        };
        Ok(Principal::verified(
            verified,
            Some(StoredCredential::SshKey(*fingerprint)),
        ))
    }

    /// The active registration of a key.
    async fn ssh_key(&self, fingerprint: &[u8; 32]) -> Result<SshKeyRecord, IdentityError> {
        let record = self
            .store
            .ssh_key_by_fingerprint(fingerprint)
            .await?
            .ok_or(IdentityError::InvalidCredential)?;
        if record.removed_at_ms.is_some() {
            tracing::debug!(key = %record.name, "removed ssh key presented");
            return Err(IdentityError::Revoked);
        }
        Ok(record)
    }

    /// Forgets every cached lookup, e.g. right after this process revoked a
    /// token, so the revocation applies at once here.
    pub fn clear_cache(&self) {
        self.cache.clear();
    }

    async fn vigil_token(&self, text: &str) -> Result<Principal, IdentityError> {
        if !token::well_formed(text) {
            return Err(IdentityError::InvalidCredential);
        }
        let hash = token::hash(text);
        let now = now_ms();
        if let Some(hit) = self.cache.get(&hash) {
            if is_expired(hit.expires_at_ms, now) {
                self.cache.remove(&hash);
                return Err(IdentityError::Expired);
            }
            return Ok(hit.principal);
        }
        let record = self
            .store
            .token_by_hash(&hash)
            .await?
            .ok_or(IdentityError::InvalidCredential)?;
        // The token's name is not secret and tells an operator which
        // integration still holds a dead token.
        if record.revoked_at_ms.is_some() {
            tracing::debug!(token = %record.name, "revoked token presented");
            return Err(IdentityError::Revoked);
        }
        if is_expired(record.expires_at_ms, now) {
            tracing::debug!(token = %record.name, "expired token presented");
            return Err(IdentityError::Expired);
        }
        let expires_at_ms = record.expires_at_ms;
        let principal = principal_of(record, hash);
        self.cache.insert(hash, principal.clone(), expires_at_ms);
        Ok(principal)
    }
}

/// A token expires AT its expiry instant (so a TTL of zero is never valid).
fn is_expired(expires_at_ms: Option<i64>, now_ms: i64) -> bool {
    expires_at_ms.is_some_and(|at| now_ms >= at)
}

/// A Vigil token's principal: its subject is the token's name (unique among
/// active tokens), its deadline the token's expiry, and it keeps the token's
/// hash so open sessions can see a revocation.
fn principal_of(record: TokenRecord, hash: [u8; 32]) -> Principal {
    let verified = PrincipalRecord {
        subject: Some(record.name.clone()),
        name: record.name,
        groups: record.groups,
        kind: record.kind,
        issuer: VIGIL_ISSUER.to_string(),
        run_id: None,
        expires_at_ms: record.expires_at_ms,
        claims: None,
    };
    Principal::verified(
        verified,
        Some(StoredCredential::Token(vigil_core::Secret::new(hash))),
    )
}
