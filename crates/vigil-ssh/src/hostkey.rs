//! Vigil's own SSH host key: generated once into `data_dir`, then reused, so
//! clients can pin it (`vigil ssh-keys host` prints it).

use std::io::Write;
use std::path::{Path, PathBuf};

use russh::keys::ssh_key::LineEnding;
use russh::keys::ssh_key::private::{Ed25519Keypair, KeypairData};
use russh::keys::{PrivateKey, decode_secret_key};

use crate::SshError;

/// The file name under `data_dir`.
pub const HOST_KEY_FILE: &str = "ssh_host_ed25519_key";

pub fn path(data_dir: &Path) -> PathBuf {
    data_dir.join(HOST_KEY_FILE)
}

/// Loads the host key, creating it (mode 0600) when absent.
pub fn load_or_create(data_dir: &Path) -> Result<PrivateKey, SshError> {
    let path = path(data_dir);
    let err = |reason: String| SshError::HostKey {
        path: path.display().to_string(),
        reason,
    };
    match std::fs::read_to_string(&path) {
        Ok(text) => return decode_secret_key(&text, None).map_err(|e| err(e.to_string())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(err(e.to_string())),
    }
    let mut seed = [0u8; 32];
    aws_lc_rs::rand::fill(&mut seed).map_err(|_| err("no system randomness".into()))?;
    let pair = Ed25519Keypair::from_seed(&seed);
    let key =
        PrivateKey::new(KeypairData::Ed25519(pair), "vigil").map_err(|e| err(e.to_string()))?;
    let text = key
        .to_openssh(LineEnding::LF)
        .map_err(|e| err(e.to_string()))?;
    std::fs::create_dir_all(data_dir).map_err(|e| err(e.to_string()))?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(&path).map_err(|e| err(e.to_string()))?;
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| err(e.to_string()))?;
    Ok(key)
}

/// The public half as an OpenSSH line (`ssh-ed25519 AAAA... vigil`).
pub fn public_line(key: &PrivateKey) -> String {
    key.public_key()
        .to_openssh()
        .unwrap_or_else(|_| String::from("(unprintable key)"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_key_is_made_once_and_then_reused() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let first = super::load_or_create(dir.path()).unwrap_or_else(|e| panic!("{e}"));
        let again = super::load_or_create(dir.path()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(super::public_line(&first), super::public_line(&again));
        assert!(super::public_line(&first).starts_with("ssh-ed25519 "));
    }
}
