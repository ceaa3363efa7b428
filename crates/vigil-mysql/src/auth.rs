//! Vigil's answers to the target's authentication methods, pure functions
//! over the password and the target's nonce: `caching_sha2_password`'s
//! scramble and RSA-encrypted password, MariaDB's `client_ed25519`
//! signature. No I/O; the caller never logs what these return.

use aws_lc_rs::digest::{SHA256, SHA512, digest};
use curve25519_dalek::edwards::EdwardsPoint;
use curve25519_dalek::scalar::{Scalar, clamp_integer};

/// `caching_sha2_password`'s fast-path answer:
/// SHA256(pw) XOR SHA256(SHA256(SHA256(pw)) + nonce). Empty for no password.
pub fn caching_sha2(password: &[u8], nonce: &[u8]) -> Vec<u8> {
    if password.is_empty() {
        return Vec::new();
    }
    let stage1 = digest(&SHA256, password);
    let stage2 = digest(&SHA256, stage1.as_ref());
    let mut ctx = aws_lc_rs::digest::Context::new(&SHA256);
    ctx.update(stage2.as_ref());
    ctx.update(nonce.get(..20).unwrap_or(nonce));
    let mix = ctx.finish();
    stage1
        .as_ref()
        .iter()
        .zip(mix.as_ref())
        .map(|(a, b)| a ^ b)
        .collect()
}

/// `caching_sha2_password`'s full authentication without TLS: the password
/// (NUL-terminated) XOR the nonce, encrypted with RSA-OAEP (SHA-1, as
/// MySQL 8 decrypts it) under the PEM public key the target sent.
pub fn caching_sha2_rsa(password: &[u8], nonce: &[u8], pem: &[u8]) -> Result<Vec<u8>, String> {
    use aws_lc_rs::rsa::{OAEP_SHA1_MGF1SHA1, OaepPublicEncryptingKey, PublicEncryptingKey};
    use rustls::pki_types::SubjectPublicKeyInfoDer;
    use rustls::pki_types::pem::PemObject;
    let der = SubjectPublicKeyInfoDer::from_pem_slice(pem)
        .map_err(|e| format!("the target's RSA public key is not PEM: {e}"))?;
    let key = PublicEncryptingKey::from_der(der.as_ref())
        .map_err(|_| "the target's RSA public key is not an RSA key".to_string())?;
    let key = OaepPublicEncryptingKey::new(key)
        .map_err(|_| "the target's RSA public key is unusable".to_string())?;
    let nonce = nonce.get(..20).unwrap_or(nonce);
    if nonce.is_empty() {
        return Err("the target sent no nonce".into());
    }
    let plain: Vec<u8> = password
        .iter()
        .chain(std::iter::once(&0u8))
        .zip(nonce.iter().cycle())
        .map(|(p, n)| p ^ n)
        .collect();
    let mut out = vec![0u8; key.ciphertext_size()];
    let n = key
        .encrypt(&OAEP_SHA1_MGF1SHA1, &plain, &mut out, None)
        .map_err(|_| "the password is too long for the target's RSA key".to_string())?
        .len();
    out.truncate(n);
    Ok(out)
}

/// MariaDB's `client_ed25519`: an Ed25519 signature of the nonce whose
/// secret is SHA-512 of the password itself (MariaDB's `crypto_sign` in
/// `plugin/auth_ed25519/ref10/sign.c` hashes the password where standard
/// Ed25519 hashes a 32-byte seed). aws-lc-rs signs only from a 32-byte
/// seed, so the two scalar operations use `curve25519-dalek`; the hashes
/// stay aws-lc-rs.
pub fn ed25519(password: &[u8], nonce: &[u8]) -> [u8; 64] {
    let az = digest(&SHA512, password);
    let az = az.as_ref();
    let mut low = [0u8; 32];
    low.copy_from_slice(&az[..32]);
    let a = Scalar::from_bytes_mod_order(clamp_integer(low));
    let public = EdwardsPoint::mul_base(&a).compress().to_bytes();
    let mut ctx = aws_lc_rs::digest::Context::new(&SHA512);
    ctx.update(&az[32..64]);
    ctx.update(nonce);
    let r = Scalar::from_bytes_mod_order_wide(&wide(ctx.finish().as_ref()));
    let big_r = EdwardsPoint::mul_base(&r).compress().to_bytes();
    let mut ctx = aws_lc_rs::digest::Context::new(&SHA512);
    ctx.update(&big_r);
    ctx.update(&public);
    ctx.update(nonce);
    let k = Scalar::from_bytes_mod_order_wide(&wide(ctx.finish().as_ref()));
    let s = r + k * a;
    let mut sig = [0u8; 64];
    sig[..32].copy_from_slice(&big_r);
    sig[32..].copy_from_slice(s.as_bytes());
    sig
}

/// The public key MariaDB stores for `password` (base64 without padding in
/// `mysql.global_priv`): the clamped SHA-512 half times the base point.
#[cfg(test)]
pub fn ed25519_public(password: &[u8]) -> [u8; 32] {
    let az = digest(&SHA512, password);
    let mut low = [0u8; 32];
    low.copy_from_slice(&az.as_ref()[..32]);
    EdwardsPoint::mul_base_clamped(low).compress().to_bytes()
}

fn wide(h: &[u8]) -> [u8; 64] {
    let mut out = [0u8; 64];
    let n = h.len().min(64);
    out[..n].copy_from_slice(&h[..n]);
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#[path = "auth_tests.rs"]
mod tests;
