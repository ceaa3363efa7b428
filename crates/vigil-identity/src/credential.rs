//! Recognising what kind of credential a client presented.
//!
//! The gate dispatches on the credential's shape so one entry point serves
//! every kind: a Vigil token starts with `vgl_`; an OIDC JWT is three
//! base64url segments separated by dots, verified by [`crate::oidc`] when
//! the gateway trusts OIDC issuers, refused otherwise.

use crate::token::TOKEN_PREFIX;

/// The kind of a presented credential, decided from its shape alone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CredentialKind {
    VigilToken,
    Jwt,
    Unknown,
}

impl CredentialKind {
    pub fn of(text: &str) -> CredentialKind {
        if text.starts_with(TOKEN_PREFIX) {
            CredentialKind::VigilToken
        } else if text.split('.').count() == 3 && text.split('.').all(is_base64url_segment) {
            CredentialKind::Jwt
        } else {
            CredentialKind::Unknown
        }
    }
}

fn is_base64url_segment(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_told_apart_by_shape() {
        assert_eq!(CredentialKind::of("vgl_abc"), CredentialKind::VigilToken);
        assert_eq!(CredentialKind::of("eyJh.eyJz.c2ln"), CredentialKind::Jwt);
        assert_eq!(CredentialKind::of("hunter2"), CredentialKind::Unknown);
        assert_eq!(CredentialKind::of("a..b"), CredentialKind::Unknown);
        assert_eq!(CredentialKind::of(""), CredentialKind::Unknown);
    }
}
