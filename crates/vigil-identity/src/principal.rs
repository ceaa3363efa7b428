//! The one type a session can be opened for: an identity proven by the gate.

use vigil_core::{PrincipalRecord, Secret};

/// An authenticated identity. Only this crate's gate
/// ([`Authenticator::authenticate`](crate::Authenticator::authenticate))
/// makes one, from a credential it verified: its fields are private and it
/// has no `Default`, so no front-end can make one up. It reads as its
/// [`PrincipalRecord`] (name, groups, kind, issuer, subject, deadline,
/// claims), which is also what the ledger keeps.
///
/// Another crate cannot build one field by field:
///
/// ```compile_fail,E0451
/// let forged = vigil_identity::Principal { record: Default::default(), stored: None };
/// ```
///
/// nor take a default one:
///
/// ```compile_fail,E0599
/// let forged = vigil_identity::Principal::default();
/// ```
///
/// nor change who a verified one is:
///
/// ```compile_fail,E0596
/// fn promote(p: &mut vigil_identity::Principal) {
///     p.groups.push("admins".into());
/// }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    record: PrincipalRecord,
    /// The stored credential that proved this identity, so the guard can see
    /// its revocation while a session runs (none for OIDC, whose deadline is
    /// the token's own).
    stored: Option<StoredCredential>,
}

/// A credential the store can revoke while sessions opened with it run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoredCredential {
    /// SHA-256 of a Vigil token. Never serialised or printed.
    Token(Secret<[u8; 32]>),
    /// The fingerprint (SHA-256 of the wire encoding) of a registered SSH key.
    SshKey([u8; 32]),
}

impl Principal {
    pub(crate) fn verified(record: PrincipalRecord, stored: Option<StoredCredential>) -> Principal {
        Principal { record, stored }
    }

    /// The hash of the Vigil token behind this identity (none for OIDC or
    /// an SSH key).
    pub fn token_hash(&self) -> Option<&Secret<[u8; 32]>> {
        match &self.stored {
            Some(StoredCredential::Token(hash)) => Some(hash),
            _ => None,
        }
    }

    /// The revocable credential behind this identity, if any.
    pub fn stored_credential(&self) -> Option<&StoredCredential> {
        self.stored.as_ref()
    }

    /// What the ledger and policy see.
    pub fn record(&self) -> &PrincipalRecord {
        &self.record
    }

    /// A principal that no gate verified, for other crates' tests only: the
    /// `testing` feature is enabled by dev-dependencies, never by a build of
    /// the gateway.
    #[cfg(feature = "testing")]
    pub fn unverified_for_tests(record: PrincipalRecord, token_hash: Option<[u8; 32]>) -> Self {
        Self::verified(
            record,
            token_hash.map(|h| StoredCredential::Token(Secret::new(h))),
        )
    }
}

/// Reads as the record; never writable (no `DerefMut`), so nothing can
/// change who a verified principal is.
impl std::ops::Deref for Principal {
    type Target = PrincipalRecord;

    fn deref(&self) -> &PrincipalRecord {
        &self.record
    }
}
