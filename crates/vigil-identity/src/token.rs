//! The Vigil token format: `vgl_` + base64url (no padding) of 32 random bytes.
//!
//! 256 bits of randomness make guessing hopeless, so the store keeps only
//! SHA-256 of the token (no salt or slow hash is needed for random secrets),
//! and lookup is by that hash. Because the lookup key is a hash of the
//! presented text, an attacker learns nothing from lookup timing about how
//! close a guess was: constant-time comparison is moot here.

use crate::IdentityError;
use aws_lc_rs::digest;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use vigil_core::Secret;

/// Every Vigil token starts with this, so secret scanners and the gate can recognise it.
pub const TOKEN_PREFIX: &str = "vgl_";
/// `Principal::issuer` of identities proven by a Vigil token.
pub const VIGIL_ISSUER: &str = "vigil";

const RANDOM_BYTES: usize = 32;
/// `vgl_` + 43 base64url characters.
const TOKEN_LEN: usize = 4 + 43;

/// A fresh token.
pub(crate) fn generate() -> Result<Secret<String>, IdentityError> {
    let mut bytes = [0u8; RANDOM_BYTES];
    aws_lc_rs::rand::fill(&mut bytes).map_err(|_| IdentityError::Random)?;
    Ok(Secret::new(format!(
        "{TOKEN_PREFIX}{}",
        URL_SAFE_NO_PAD.encode(bytes)
    )))
}

/// SHA-256 of the token text: what the store keeps and looks up.
pub(crate) fn hash(token: &str) -> [u8; 32] {
    let d = digest::digest(&digest::SHA256, token.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

/// Whether `text` has the exact shape of a Vigil token; anything else is
/// refused without touching the store.
pub(crate) fn well_formed(text: &str) -> bool {
    text.len() == TOKEN_LEN
        && text.starts_with(TOKEN_PREFIX)
        && text[TOKEN_PREFIX.len()..]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn generated_tokens_are_well_formed_and_distinct() {
        let a = generate().unwrap();
        let b = generate().unwrap();
        assert!(well_formed(a.expose()), "{}", a.expose());
        assert_ne!(a.expose(), b.expose());
        assert_ne!(hash(a.expose()), hash(b.expose()));
        assert!(!well_formed("vgl_short"));
        assert!(!well_formed(&a.expose().replace("vgl_", "xyz_")));
    }
}
