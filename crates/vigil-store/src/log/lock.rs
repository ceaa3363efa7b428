//! One writer per log: the gateway holds an exclusive lock on
//! `data_dir/ledger/LOCK` for as long as its store is open, so a second
//! gateway on the same directory cannot interleave records with it, and a
//! process that only manages tokens or keys never recovers (cuts) a log
//! another process is writing.

use crate::StoreError;
use std::fs::{File, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

const LOCK_FILE: &str = "LOCK";

/// How long a gateway waits for another writer to let go (a `vigil token`
/// command finishing) before it refuses to start.
const WAIT: Duration = Duration::from_secs(10);

/// Takes the log's writer lock, waiting up to [`WAIT`] for another holder.
pub(crate) fn acquire(dir: &Path) -> Result<File, StoreError> {
    let path = dir.join(LOCK_FILE);
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(&path)
        .map_err(StoreError::io(format!("opening {}", path.display())))?;
    let deadline = Instant::now() + WAIT;
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(file),
            Err(std::fs::TryLockError::WouldBlock) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(StoreError::Busy(format!(
                    "another process writes the ledger in {} (a second gateway on the same data_dir?)",
                    dir.display()
                )));
            }
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(StoreError::io(format!("locking {}", path.display()))(e));
            }
        }
    }
}
