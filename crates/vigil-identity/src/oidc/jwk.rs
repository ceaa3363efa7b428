//! JSON Web Keys: an issuer's published public keys, and signature checks
//! with aws-lc-rs directly (so the algorithm-to-key-type pairing is ours).

use aws_lc_rs::signature::{self, RsaParameters, UnparsedPublicKey, VerificationAlgorithm};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;

use super::Reject;
use super::jwt::Alg;

/// Most keys kept from one JWKS document; a larger set is cut, not trusted.
pub const MAX_KEYS: usize = 64;

/// A public key of a type Vigil verifies.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PublicKey {
    /// `kty: RSA`: modulus and exponent, big-endian without leading zeros.
    Rsa { n: Vec<u8>, e: Vec<u8> },
    /// `kty: EC`: the uncompressed point `04 || x || y`.
    Ec { curve: Curve, point: Vec<u8> },
    /// `kty: OKP, crv: Ed25519`.
    Ed25519(Vec<u8>),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Curve {
    P256,
    P384,
}

/// One key of the set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Jwk {
    pub kid: Option<String>,
    /// The key's own `alg`, when the issuer pins one.
    pub alg: Option<String>,
    pub key: PublicKey,
}

/// An issuer's keys, as last fetched.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeySet {
    pub keys: Vec<Jwk>,
}

impl KeySet {
    /// Parses a JWKS document. Keys Vigil cannot use (symmetric `oct`,
    /// encryption keys, unknown curves, broken encodings) are skipped: one odd
    /// key must not make the issuer's other keys unusable.
    pub fn parse(body: &[u8]) -> Result<KeySet, String> {
        let doc: Value =
            serde_json::from_slice(body).map_err(|e| format!("JWKS is not JSON: {e}"))?;
        let Some(list) = doc.get("keys").and_then(Value::as_array) else {
            return Err("JWKS has no `keys` list".into());
        };
        let keys = list
            .iter()
            .filter_map(|k| match Jwk::parse(k) {
                Ok(jwk) => Some(jwk),
                Err(why) => {
                    tracing::debug!(kid = ?k.get("kid"), %why, "JWKS key skipped");
                    None
                }
            })
            .take(MAX_KEYS)
            .collect();
        Ok(KeySet { keys })
    }

    pub fn has_kid(&self, kid: &str) -> bool {
        self.keys.iter().any(|k| k.kid.as_deref() == Some(kid))
    }

    /// Verifies `signature` over `input` with the key the token names.
    /// A token without `kid` is tried against every key that fits its
    /// algorithm (issuers with one key often omit it).
    pub fn verify(
        &self,
        alg: Alg,
        kid: Option<&str>,
        input: &[u8],
        signature: &[u8],
    ) -> Result<(), Reject> {
        match kid {
            Some(kid) => {
                let key = self
                    .keys
                    .iter()
                    .find(|k| k.kid.as_deref() == Some(kid))
                    .ok_or(Reject::UnknownKid)?;
                key.verify(alg, input, signature)
            }
            None => {
                let mut fitting = self.keys.iter().filter(|k| k.fits(alg)).peekable();
                if fitting.peek().is_none() {
                    return Err(Reject::UnknownKid);
                }
                if fitting.any(|k| k.verify(alg, input, signature).is_ok()) {
                    Ok(())
                } else {
                    Err(Reject::BadSignature)
                }
            }
        }
    }
}

impl Jwk {
    pub fn parse(v: &Value) -> Result<Jwk, String> {
        let field = |name: &str| v.get(name).and_then(Value::as_str);
        let bytes = |name: &str| -> Result<Vec<u8>, String> {
            let text = field(name).ok_or_else(|| format!("no `{name}`"))?;
            URL_SAFE_NO_PAD
                .decode(text.trim_end_matches('='))
                .map_err(|_| format!("`{name}` is not base64url"))
        };
        if let Some(use_) = field("use")
            && use_ != "sig"
        {
            return Err(format!("use `{use_}` is not `sig`"));
        }
        let key = match field("kty") {
            Some("RSA") => PublicKey::Rsa {
                n: strip_zeros(bytes("n")?),
                e: strip_zeros(bytes("e")?),
            },
            Some("EC") => {
                let (curve, len) = match field("crv") {
                    Some("P-256") => (Curve::P256, 32),
                    Some("P-384") => (Curve::P384, 48),
                    other => return Err(format!("unsupported EC curve {other:?}")),
                };
                let (x, y) = (bytes("x")?, bytes("y")?);
                if x.len() != len || y.len() != len {
                    return Err("EC coordinates of the wrong length".into());
                }
                let mut point = Vec::with_capacity(1 + 2 * len);
                point.push(4);
                point.extend_from_slice(&x);
                point.extend_from_slice(&y);
                PublicKey::Ec { curve, point }
            }
            Some("OKP") if field("crv") == Some("Ed25519") => {
                let x = bytes("x")?;
                if x.len() != 32 {
                    return Err("Ed25519 key of the wrong length".into());
                }
                PublicKey::Ed25519(x)
            }
            other => return Err(format!("unsupported key type {other:?}")),
        };
        Ok(Jwk {
            kid: field("kid").map(str::to_owned),
            alg: field("alg").map(str::to_owned),
            key,
        })
    }

    /// Whether this key may verify `alg`: the key type must match the
    /// algorithm, and a key that pins its own `alg` accepts only that one.
    pub fn fits(&self, alg: Alg) -> bool {
        if self.alg.as_deref().is_some_and(|a| a != alg.as_str()) {
            return false;
        }
        matches!(
            (&self.key, alg),
            (
                PublicKey::Rsa { .. },
                Alg::RS256 | Alg::RS384 | Alg::RS512 | Alg::PS256 | Alg::PS384 | Alg::PS512
            ) | (
                PublicKey::Ec {
                    curve: Curve::P256,
                    ..
                },
                Alg::ES256
            ) | (
                PublicKey::Ec {
                    curve: Curve::P384,
                    ..
                },
                Alg::ES384
            ) | (PublicKey::Ed25519(_), Alg::EdDSA)
        )
    }

    pub fn verify(&self, alg: Alg, input: &[u8], sig: &[u8]) -> Result<(), Reject> {
        if !self.fits(alg) {
            return Err(Reject::KeyMismatch);
        }
        let ok = match &self.key {
            PublicKey::Rsa { n, e } => {
                let params: &RsaParameters = match alg {
                    Alg::RS256 => &signature::RSA_PKCS1_2048_8192_SHA256,
                    Alg::RS384 => &signature::RSA_PKCS1_2048_8192_SHA384,
                    Alg::RS512 => &signature::RSA_PKCS1_2048_8192_SHA512,
                    Alg::PS256 => &signature::RSA_PSS_2048_8192_SHA256,
                    Alg::PS384 => &signature::RSA_PSS_2048_8192_SHA384,
                    Alg::PS512 => &signature::RSA_PSS_2048_8192_SHA512,
                    _ => return Err(Reject::KeyMismatch),
                };
                signature::RsaPublicKeyComponents { n, e }
                    .verify(params, input, sig)
                    .is_ok()
            }
            PublicKey::Ec { point, .. } => {
                let algorithm: &'static dyn VerificationAlgorithm = match alg {
                    Alg::ES256 => &signature::ECDSA_P256_SHA256_FIXED,
                    _ => &signature::ECDSA_P384_SHA384_FIXED,
                };
                UnparsedPublicKey::new(algorithm, point)
                    .verify(input, sig)
                    .is_ok()
            }
            PublicKey::Ed25519(x) => UnparsedPublicKey::new(&signature::ED25519, x)
                .verify(input, sig)
                .is_ok(),
        };
        if ok {
            Ok(())
        } else {
            Err(Reject::BadSignature)
        }
    }
}

fn strip_zeros(mut v: Vec<u8>) -> Vec<u8> {
    let zeros = v.iter().take_while(|b| **b == 0).count();
    v.drain(..zeros);
    v
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn unusable_keys_are_skipped_not_fatal() {
        let doc = serde_json::json!({"keys": [
            {"kty": "oct", "k": "c2VjcmV0", "kid": "hmac"},
            {"kty": "EC", "crv": "P-521", "x": "AA", "y": "AA", "kid": "p521"},
            {"kty": "RSA", "n": "AQAB", "e": "AQAB", "kid": "enc", "use": "enc"},
            {"kty": "OKP", "crv": "Ed25519", "x": URL_SAFE_NO_PAD.encode([7u8; 32]), "kid": "ed"},
        ]});
        let set = KeySet::parse(doc.to_string().as_bytes()).unwrap();
        assert_eq!(set.keys.len(), 1);
        assert!(set.has_kid("ed"));
        assert!(!set.has_kid("hmac"));
        assert!(KeySet::parse(b"[]").is_err());
        assert!(KeySet::parse(b"{").is_err());
    }

    #[test]
    fn key_types_pair_with_their_algorithms_only() {
        let ed = Jwk {
            kid: None,
            alg: None,
            key: PublicKey::Ed25519(vec![1; 32]),
        };
        assert!(ed.fits(Alg::EdDSA));
        assert!(!ed.fits(Alg::RS256));
        assert_eq!(ed.verify(Alg::ES256, b"x", b"y"), Err(Reject::KeyMismatch));
        let pinned = Jwk {
            alg: Some("RS256".into()),
            kid: None,
            key: PublicKey::Rsa {
                n: vec![1],
                e: vec![3],
            },
        };
        assert!(pinned.fits(Alg::RS256));
        assert!(!pinned.fits(Alg::PS256));
    }
}
