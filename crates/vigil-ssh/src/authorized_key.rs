//! Public keys registered for SSH login (`vigil ssh-keys add`): parsing an
//! `authorized_keys` line, and the fingerprint keys are stored and found by.

use russh::keys::{Algorithm, HashAlg, PublicKey};

/// An `authorized_keys` line, checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthorizedKey {
    /// The key re-encoded by Vigil (`<algorithm> <base64> [comment]`), so what
    /// is stored is what was parsed.
    pub line: String,
    /// SHA-256 of the key's wire encoding.
    pub fingerprint: [u8; 32],
}

impl AuthorizedKey {
    /// Parses one public key as OpenSSH writes it (`ssh-ed25519 AAAA... comment`).
    /// Certificates and options before the key are refused: a registration
    /// is one plain key.
    pub fn parse(line: &str) -> Result<AuthorizedKey, String> {
        let line = line.trim();
        let key = PublicKey::from_openssh(line).map_err(|e| {
            format!("not an OpenSSH public key ({e}); expected `ssh-ed25519 AAAA... [comment]`")
        })?;
        if !acceptable(key.algorithm()) {
            return Err(format!(
                "{} keys are not accepted; use ssh-ed25519, ecdsa-sha2-nistp256/384/521 or ssh-rsa (3072 bits or more)",
                key.algorithm().as_str()
            ));
        }
        if let Some(rsa) = key.key_data().rsa()
            && rsa.key_size() < 3072
        {
            return Err(format!(
                "an RSA key of {} bits is too short; use 3072 bits or more, or ssh-ed25519",
                rsa.key_size()
            ));
        }
        let line = key
            .to_openssh()
            .map_err(|e| format!("the key cannot be re-encoded: {e}"))?;
        Ok(AuthorizedKey {
            line,
            fingerprint: fingerprint(&key),
        })
    }
}

/// SHA-256 of the key's wire encoding: OpenSSH's `SHA256:` fingerprint.
pub fn fingerprint(key: &PublicKey) -> [u8; 32] {
    key.fingerprint(HashAlg::Sha256).sha256().unwrap_or([0; 32])
}

/// How OpenSSH prints a fingerprint: `SHA256:` and unpadded base64.
pub fn fingerprint_text(fingerprint: &[u8; 32]) -> String {
    russh::keys::ssh_key::Fingerprint::Sha256(*fingerprint).to_string()
}

/// The key types Vigil lets log in: no DSA, no security-key types it
/// cannot check the flags of.
pub fn acceptable(algorithm: Algorithm) -> bool {
    matches!(
        algorithm,
        Algorithm::Ed25519 | Algorithm::Ecdsa { .. } | Algorithm::Rsa { .. }
    )
}

/// Signature algorithms accepted for a login: not `ssh-rsa`, whose
/// signatures use SHA-1 (OpenSSH refuses it by default too).
pub fn acceptable_signature(algorithm: &Algorithm) -> bool {
    match algorithm {
        Algorithm::Rsa { hash } => hash.is_some(),
        other => acceptable(other.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ED25519: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl alice@laptop";

    #[test]
    fn a_key_line_is_parsed_and_fingerprinted_as_openssh_does() {
        let key = AuthorizedKey::parse(&format!("  {ED25519}\n")).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(key.line, ED25519);
        let text = fingerprint_text(&key.fingerprint);
        assert!(text.starts_with("SHA256:"), "{text}");
        assert_eq!(text.len(), "SHA256:".len() + 43, "{text}");
    }

    #[test]
    fn other_lines_are_refused_with_what_was_expected() {
        for bad in [
            "",
            "hunter2",
            "ssh-ed25519",
            "ssh-ed25519 not-base64",
            "from=\"10.0.0.1\" ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl",
        ] {
            let err = AuthorizedKey::parse(bad).unwrap_err();
            assert!(
                err.contains("expected") || err.contains("not accepted"),
                "{bad:?}: {err}"
            );
        }
    }

    #[test]
    fn sha1_rsa_signatures_are_refused() {
        assert!(!acceptable_signature(&Algorithm::Rsa { hash: None }));
        assert!(acceptable_signature(&Algorithm::Rsa {
            hash: Some(HashAlg::Sha256)
        }));
        assert!(acceptable_signature(&Algorithm::Ed25519));
        assert!(!acceptable_signature(&Algorithm::Dsa));
    }
}
