//! The latest signed head of the chain, kept outside the database.
//!
//! A checkpoint row in the database proves the events up to it, but someone
//! who can write the database can also delete the last events together with
//! the checkpoints that cover them. So each signed checkpoint (and the final
//! one of a clean stop) is also published where the database cannot take it
//! back: `data_dir/ledger-head` (rewritten atomically), a log line
//! (`target: vigil::ledger`), and a watch the gateway forwards to webhooks.
//! `vigil audit verify` then fails when the database lacks the event the
//! head names, or holds a different one there.

use crate::StoreError;
use crate::checkpoint::{signature_valid, write_atomically_with};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use tokio::sync::watch;

/// File name of the published head inside `data_dir`.
pub const LEDGER_HEAD_FILE: &str = "ledger-head";

/// A checkpoint `(seq, hash)` and the gateway key's signature over it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedHead {
    pub seq: i64,
    pub hash: [u8; 32],
    pub signature: Vec<u8>,
    /// When it was signed (Unix ms).
    pub at_ms: i64,
}

/// The file's form: hex, so an operator can compare it with a log line.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct HeadFile {
    seq: i64,
    hash: String,
    signature: String,
    at_ms: i64,
}

impl SignedHead {
    pub fn hash_hex(&self) -> String {
        hex::encode(self.hash)
    }

    pub fn signature_hex(&self) -> String {
        hex::encode(&self.signature)
    }

    /// Whether the signature is `public_key`'s over `(seq, hash)`.
    pub fn is_signed_by(&self, public_key: &[u8; 32]) -> bool {
        signature_valid(public_key, self.seq, &self.hash, &self.signature)
    }

    fn to_file(&self) -> Result<Vec<u8>, StoreError> {
        let mut text = serde_json::to_vec(&HeadFile {
            seq: self.seq,
            hash: self.hash_hex(),
            signature: self.signature_hex(),
            at_ms: self.at_ms,
        })
        .map_err(|source| StoreError::Json {
            context: "writing the ledger head",
            source,
        })?;
        text.push(b'\n');
        Ok(text)
    }

    fn from_file(bytes: &[u8], path: &Path) -> Result<Self, StoreError> {
        let corrupt = |what: &str| {
            StoreError::Corrupt(format!("{} is not a ledger head: {what}", path.display()))
        };
        let file: HeadFile = serde_json::from_slice(bytes).map_err(|e| corrupt(&e.to_string()))?;
        let hash = hex::decode(&file.hash)
            .ok()
            .and_then(|h| <[u8; 32]>::try_from(h).ok())
            .ok_or_else(|| corrupt("`hash` is not 32 bytes of hex"))?;
        let signature =
            hex::decode(&file.signature).map_err(|_| corrupt("`signature` is not hex"))?;
        Ok(SignedHead {
            seq: file.seq,
            hash,
            signature,
            at_ms: file.at_ms,
        })
    }
}

/// Reads `data_dir/ledger-head`; `None` when there is none.
pub fn read_head(data_dir: &Path) -> Result<Option<SignedHead>, StoreError> {
    let path = data_dir.join(LEDGER_HEAD_FILE);
    match std::fs::read(&path) {
        Ok(bytes) => SignedHead::from_file(&bytes, &path).map(Some),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(StoreError::io(format!("reading {}", path.display()))(e)),
    }
}

/// Where the writer publishes each head it signs.
pub(crate) struct HeadPublisher {
    dir: PathBuf,
    tx: watch::Sender<Option<SignedHead>>,
    /// Sync the file before it replaces the last one: as durable as the
    /// ledger (`[ledger] fsync`).
    durable: bool,
}

impl HeadPublisher {
    pub(crate) fn new(dir: &Path, durable: bool) -> (Self, watch::Receiver<Option<SignedHead>>) {
        let (tx, rx) = watch::channel(None);
        (
            HeadPublisher {
                dir: dir.to_path_buf(),
                tx,
                durable,
            },
            rx,
        )
    }

    /// Publishes a head whose signature was made already (a checkpoint
    /// record's). A failed file write is logged, never fatal.
    pub(crate) fn publish_signed(&self, seq: i64, hash: [u8; 32], signature: Vec<u8>, at_ms: i64) {
        let head = SignedHead {
            seq,
            hash,
            signature,
            at_ms,
        };
        tracing::info!(
            target: "vigil::ledger",
            seq,
            hash = %head.hash_hex(),
            signature = %head.signature_hex(),
            "ledger head"
        );
        match head.to_file() {
            Ok(bytes) => {
                if let Err(e) =
                    write_atomically_with(&self.dir, LEDGER_HEAD_FILE, &bytes, 0o644, self.durable)
                {
                    tracing::error!(error = %e, "could not write the ledger head file");
                }
            }
            Err(e) => tracing::error!(error = %e, "could not encode the ledger head"),
        }
        self.tx.send_replace(Some(head));
    }

    /// Whether `data_dir/ledger-head` exists.
    pub(crate) fn file_exists(&self) -> bool {
        self.dir.join(LEDGER_HEAD_FILE).exists()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::checkpoint::LedgerKey;

    #[test]
    fn a_published_head_reads_back_and_verifies() {
        let dir = tempfile::tempdir().unwrap();
        let key = LedgerKey::load_or_create(dir.path()).unwrap();
        let (publisher, rx) = HeadPublisher::new(dir.path(), true);
        assert_eq!(read_head(dir.path()).unwrap(), None);
        publisher.publish_signed(7, [3u8; 32], key.sign(7, &[3u8; 32]), 1234);
        let head = read_head(dir.path()).unwrap().unwrap();
        assert_eq!((head.seq, head.hash, head.at_ms), (7, [3u8; 32], 1234));
        assert!(head.is_signed_by(&key.public_key()));
        assert_eq!(rx.borrow().as_ref(), Some(&head));
        let forged = SignedHead { seq: 8, ..head };
        assert!(!forged.is_signed_by(&key.public_key()));
    }
}
