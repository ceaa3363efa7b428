//! The key of the `hash` mask style: generated once into `data_dir`, so a
//! masked value hashes the same after a restart and joins still work.

use crate::GatewayError;
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use vigil_mask::MaskKey;

const MASK_KEY_FILE: &str = "mask.key";

pub fn load_or_create(data_dir: &Path) -> Result<MaskKey, GatewayError> {
    let path = data_dir.join(MASK_KEY_FILE);
    let err = |what: &str, e: std::io::Error| {
        GatewayError::MaskKey(format!("{what} {}: {e}", path.display()))
    };
    let mut bytes = [0u8; 32];
    match std::fs::File::open(&path) {
        Ok(mut f) => {
            f.read_exact(&mut bytes).map_err(|e| err("reading", e))?;
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            aws_lc_rs::rand::fill(&mut bytes)
                .map_err(|_| GatewayError::MaskKey("the system random generator failed".into()))?;
            std::fs::create_dir_all(data_dir).map_err(|e| err("creating the directory of", e))?;
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&path)
                .map_err(|e| err("creating", e))?;
            f.write_all(&bytes).map_err(|e| err("writing", e))?;
            f.sync_all().map_err(|e| err("syncing", e))?;
        }
        Err(e) => return Err(err("opening", e)),
    }
    Ok(MaskKey::new(bytes))
}
