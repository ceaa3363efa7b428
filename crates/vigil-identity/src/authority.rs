//! Issuing, listing and revoking Vigil API tokens (`vigil token create`).

use crate::{IdentityError, now_ms, token};
use std::sync::Arc;
use std::time::Duration;
use vigil_core::{PrincipalKind, Secret};
use vigil_store::{NewToken, Store, StoreError, TokenRecord};

/// Longest token or group name accepted.
const MAX_NAME_LEN: usize = 128;
/// Most groups on one token.
const MAX_GROUPS: usize = 64;

/// Manages Vigil API tokens. Only a token's SHA-256 is stored; the text is
/// returned once by [`TokenAuthority::issue`] and cannot be recovered.
pub struct TokenAuthority {
    store: Arc<dyn Store>,
}

impl std::fmt::Debug for TokenAuthority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenAuthority").finish_non_exhaustive()
    }
}

impl TokenAuthority {
    pub fn new(store: Arc<dyn Store>) -> Self {
        TokenAuthority { store }
    }

    /// Creates a token for `name` and returns its text (shown once).
    /// `ttl: None` never expires. Fails with
    /// [`IdentityError::NameTaken`] when an active token already has this name.
    pub async fn issue(
        &self,
        name: &str,
        groups: &[String],
        kind: PrincipalKind,
        ttl: Option<Duration>,
    ) -> Result<Secret<String>, IdentityError> {
        check_name("token name", name)?;
        if groups.len() > MAX_GROUPS {
            return Err(IdentityError::InvalidRequest(format!(
                "at most {MAX_GROUPS} groups"
            )));
        }
        for group in groups {
            check_name("group name", group)?;
        }
        let created_at_ms = now_ms();
        let expires_at_ms = match ttl {
            None => None,
            Some(ttl) => Some(
                i64::try_from(ttl.as_millis())
                    .ok()
                    .and_then(|ms| created_at_ms.checked_add(ms))
                    .ok_or_else(|| IdentityError::InvalidRequest("ttl is too long".into()))?,
            ),
        };
        let secret = token::generate()?;
        let new = NewToken {
            name: name.to_string(),
            groups: groups.to_vec(),
            kind,
            hash: token::hash(secret.expose()),
            expires_at_ms,
            created_at_ms,
        };
        match self.store.create_token(new).await {
            Ok(()) => Ok(secret),
            Err(StoreError::DuplicateToken(name)) => Err(IdentityError::NameTaken(name)),
            Err(e) => Err(e.into()),
        }
    }

    /// Every token (revoked and expired ones included), oldest first; no secrets.
    pub async fn list(&self) -> Result<Vec<TokenRecord>, IdentityError> {
        Ok(self.store.list_tokens().await?)
    }

    /// Revokes the active token `name`; `false` when there is none. Running
    /// gateways refuse it, for new logins and for the next statement of
    /// sessions already open, within their cache TTL (`[identity]
    /// token_cache`, [`crate::DEFAULT_CACHE_TTL`] by default).
    pub async fn revoke(&self, name: &str) -> Result<bool, IdentityError> {
        Ok(self.store.revoke_token(name).await?)
    }
}

/// Names end up in policy, logs and the ledger: printable, no spaces, bounded.
fn check_name(what: &str, name: &str) -> Result<(), IdentityError> {
    if name.is_empty() || name.chars().count() > MAX_NAME_LEN {
        return Err(IdentityError::InvalidRequest(format!(
            "{what} must be 1 to {MAX_NAME_LEN} characters"
        )));
    }
    if name
        .chars()
        .any(|c| c.is_control() || c.is_whitespace() || c == ',')
    {
        return Err(IdentityError::InvalidRequest(format!(
            "{what} `{}` contains spaces, commas or control characters",
            name.escape_debug()
        )));
    }
    Ok(())
}
