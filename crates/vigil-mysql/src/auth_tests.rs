use super::*;

#[test]
fn caching_sha2_matches_a_vector_computed_with_hashlib() {
    let nonce: Vec<u8> = (1..=20).collect();
    let got = caching_sha2(b"secret", &nonce);
    let hex: String = got.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(
        hex,
        "746ebe205d56a0707acb3e796e834e0dd7b1d61743b26bd5202c7a623230c7c9"
    );
    assert!(caching_sha2(b"", &nonce).is_empty());
}

#[test]
fn native_password_matches_a_vector_computed_with_hashlib() {
    let nonce: Vec<u8> = (1..=20).collect();
    let got = crate::handshake::native_password(b"secret", &nonce);
    let hex: String = got.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(hex, "b32bb3a583e1340c0a1108d58b1be49781ad8c2f");
}

#[test]
fn ed25519_with_a_32_byte_password_is_standard_ed25519_of_that_seed() {
    // SHA-512 of the password where standard Ed25519 hashes the seed: with
    // a 32-byte password the two coincide, so aws-lc-rs is the reference.
    let seed = [7u8; 32];
    let nonce = [9u8; 32];
    let reference = aws_lc_rs::signature::Ed25519KeyPair::from_seed_unchecked(&seed).unwrap();
    assert_eq!(
        ed25519(&seed, &nonce).as_slice(),
        reference.sign(&nonce).as_ref()
    );
}

#[test]
fn ed25519_signatures_verify_under_the_key_mariadb_stores() {
    use aws_lc_rs::signature::{ED25519, UnparsedPublicKey};
    let nonce = [0x5a; 32];
    let sig = ed25519(b"pw", &nonce);
    let public = ed25519_public(b"pw");
    assert!(
        UnparsedPublicKey::new(&ED25519, public)
            .verify(&nonce, &sig)
            .is_ok()
    );
    assert!(
        UnparsedPublicKey::new(&ED25519, ed25519_public(b"other"))
            .verify(&nonce, &sig)
            .is_err()
    );
}

#[test]
fn caching_sha2_rsa_decrypts_to_the_password_xor_the_nonce() {
    use aws_lc_rs::encoding::AsDer;
    use aws_lc_rs::rsa::{
        KeySize, OAEP_SHA1_MGF1SHA1, OaepPrivateDecryptingKey, PrivateDecryptingKey,
    };
    use base64::Engine;
    let private = PrivateDecryptingKey::generate(KeySize::Rsa2048).unwrap();
    let der = private.public_key().as_der().unwrap();
    let b64 = base64::engine::general_purpose::STANDARD.encode(der.as_ref());
    let pem = format!("-----BEGIN PUBLIC KEY-----\n{b64}\n-----END PUBLIC KEY-----\n");
    let nonce: Vec<u8> = (1..=20).collect();
    let sealed = caching_sha2_rsa(b"secret", &nonce, pem.as_bytes()).unwrap();
    let private = OaepPrivateDecryptingKey::new(private).unwrap();
    let mut out = vec![0u8; private.min_output_size()];
    let plain = private
        .decrypt(&OAEP_SHA1_MGF1SHA1, &sealed, &mut out, None)
        .unwrap();
    let clear: Vec<u8> = plain
        .iter()
        .zip(nonce.iter().cycle())
        .map(|(c, n)| c ^ n)
        .collect();
    assert_eq!(clear, b"secret\0");
    assert!(caching_sha2_rsa(b"secret", &nonce, b"not a key").is_err());
}
