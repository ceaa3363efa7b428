//! Signed checkpoints: the gateway's Ed25519 key signs `(seq, hash)` so that a
//! rewritten ledger (every hash recomputed) is still detected, as long as the
//! attacker does not also hold `ledger.key`.
//!
//! `ledger.key` holds the PKCS#8 key pair (mode 0600); `ledger.pub` holds the
//! public key as a PEM `PUBLIC KEY` (SubjectPublicKeyInfo), so that an auditor
//! can also check signatures with standard tools (`openssl pkey -pubin`).

use crate::StoreError;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self, Ed25519KeyPair, KeyPair};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// File name of the private signing key inside `data_dir`.
pub const LEDGER_KEY_FILE: &str = "ledger.key";
/// File name of the public key inside `data_dir`.
pub const LEDGER_PUB_FILE: &str = "ledger.pub";

/// DER prefix of an Ed25519 SubjectPublicKeyInfo; the raw 32-byte key follows.
const SPKI_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];

/// Domain separation: a checkpoint signature can never be mistaken for (or
/// replayed as) a signature over anything else this key might sign later.
const CONTEXT: &[u8] = b"vigil-ledger-checkpoint-v1\0";

/// The bytes a checkpoint signature covers.
pub(crate) fn checkpoint_message(seq: i64, hash: &[u8; 32]) -> Vec<u8> {
    let mut msg = Vec::with_capacity(CONTEXT.len() + 8 + 32);
    msg.extend_from_slice(CONTEXT);
    msg.extend_from_slice(&seq.to_be_bytes());
    msg.extend_from_slice(hash);
    msg
}

/// The gateway's ledger signing key.
pub(crate) struct LedgerKey {
    pair: Ed25519KeyPair,
}

impl std::fmt::Debug for LedgerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LedgerKey(***)")
    }
}

impl LedgerKey {
    /// Loads `data_dir/ledger.key`, creating it (and `ledger.pub`) on first use.
    pub(crate) fn load_or_create(data_dir: &Path) -> Result<Self, StoreError> {
        let key_path = data_dir.join(LEDGER_KEY_FILE);
        let pkcs8 = match fs::read(&key_path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => create_key_file(data_dir)?,
            Err(e) => return Err(StoreError::io(format!("reading {}", key_path.display()))(e)),
        };
        let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(&pkcs8).map_err(|e| {
            StoreError::Key(format!(
                "{} is not an Ed25519 PKCS#8 key: {e}",
                key_path.display()
            ))
        })?;
        let key = LedgerKey { pair };
        key.write_public_if_missing(data_dir)?;
        Ok(key)
    }

    pub(crate) fn public_key(&self) -> [u8; 32] {
        let mut out = [0u8; 32];
        out.copy_from_slice(self.pair.public_key().as_ref());
        out
    }

    pub(crate) fn sign(&self, seq: i64, hash: &[u8; 32]) -> Vec<u8> {
        self.pair
            .sign(&checkpoint_message(seq, hash))
            .as_ref()
            .to_vec()
    }

    fn write_public_if_missing(&self, data_dir: &Path) -> Result<(), StoreError> {
        let path = data_dir.join(LEDGER_PUB_FILE);
        if path.exists() {
            return Ok(());
        }
        write_atomically(
            data_dir,
            LEDGER_PUB_FILE,
            public_key_pem(&self.public_key()).as_bytes(),
            0o644,
        )
    }
}

/// Generates a key pair and writes it with mode 0600 before anything else can
/// see it (temporary file + rename, so a crash never leaves half a key).
fn create_key_file(data_dir: &Path) -> Result<Vec<u8>, StoreError> {
    let doc = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new())
        .map_err(|e| StoreError::Key(format!("generating a key: {e}")))?;
    let bytes = doc.as_ref().to_vec();
    write_atomically(data_dir, LEDGER_KEY_FILE, &bytes, 0o600)?;
    tracing::info!(dir = %data_dir.display(), "created the ledger signing key");
    Ok(bytes)
}

pub(crate) fn write_atomically(
    dir: &Path,
    name: &str,
    bytes: &[u8],
    mode: u32,
) -> Result<(), StoreError> {
    write_atomically_with(dir, name, bytes, mode, true)
}

/// [`write_atomically`], syncing the file to disk before the rename only
/// when `durable`: an fsync on ext4 flushes every dirty data block of the
/// file system with it, the ledger's unsynced WAL included, which costs the
/// hot path more than the file is worth when the ledger itself is not
/// synced (`[ledger] fsync = false`). The rename stays atomic either way.
pub(crate) fn write_atomically_with(
    dir: &Path,
    name: &str,
    bytes: &[u8],
    mode: u32,
    durable: bool,
) -> Result<(), StoreError> {
    let tmp = dir.join(format!(".{name}.tmp"));
    let target = dir.join(name);
    let _ = fs::remove_file(&tmp);
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&tmp)
        .map_err(StoreError::io(format!("creating {}", tmp.display())))?;
    file.write_all(bytes)
        .and_then(|()| if durable { file.sync_all() } else { Ok(()) })
        .map_err(StoreError::io(format!("writing {}", tmp.display())))?;
    fs::rename(&tmp, &target).map_err(StoreError::io(format!("renaming to {}", target.display())))
}

/// PEM SubjectPublicKeyInfo of a raw Ed25519 public key.
pub(crate) fn public_key_pem(raw: &[u8; 32]) -> String {
    let mut der = SPKI_PREFIX.to_vec();
    der.extend_from_slice(raw);
    format!(
        "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
        STANDARD.encode(der)
    )
}

/// Reads `data_dir/ledger.pub` back into the raw 32-byte key.
pub(crate) fn read_public_key(data_dir: &Path) -> Result<[u8; 32], StoreError> {
    let path = data_dir.join(LEDGER_PUB_FILE);
    let text =
        fs::read_to_string(&path).map_err(StoreError::io(format!("reading {}", path.display())))?;
    let b64: String = text
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .map(str::trim)
        .collect();
    let der = STANDARD
        .decode(b64)
        .map_err(|e| StoreError::Key(format!("{} is not PEM: {e}", path.display())))?;
    match der.strip_prefix(&SPKI_PREFIX[..]) {
        Some(raw) => <[u8; 32]>::try_from(raw).map_err(|_| {
            StoreError::Key(format!("{} has a malformed Ed25519 key", path.display()))
        }),
        None => Err(StoreError::Key(format!(
            "{} is not an Ed25519 public key",
            path.display()
        ))),
    }
}

/// Whether `signature` is the key's signature over checkpoint `(seq, hash)`.
pub(crate) fn signature_valid(
    public_key: &[u8; 32],
    seq: i64,
    hash: &[u8; 32],
    signature: &[u8],
) -> bool {
    signature::UnparsedPublicKey::new(&signature::ED25519, public_key)
        .verify(&checkpoint_message(seq, hash), signature)
        .is_ok()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn key_is_created_once_with_mode_0600_and_signatures_verify() {
        let dir = tempfile::tempdir().unwrap();
        let key = LedgerKey::load_or_create(dir.path()).unwrap();
        let mode = fs::metadata(dir.path().join(LEDGER_KEY_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let again = LedgerKey::load_or_create(dir.path()).unwrap();
        assert_eq!(key.public_key(), again.public_key());

        let public = read_public_key(dir.path()).unwrap();
        assert_eq!(public, key.public_key());
        let hash = [7u8; 32];
        let sig = key.sign(42, &hash);
        assert!(signature_valid(&public, 42, &hash, &sig));
        assert!(!signature_valid(&public, 43, &hash, &sig));
        assert!(!signature_valid(&public, 42, &[8u8; 32], &sig));
    }
}
