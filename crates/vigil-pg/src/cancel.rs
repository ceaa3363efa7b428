//! CancelRequest routing: each client gets a key of the gateway's own, mapped
//! here to the target's key, so a client never learns the target's.

use crate::backend::{UpstreamConfig, send_cancel};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

struct Entry {
    secret: u32,
    upstream: Arc<UpstreamConfig>,
    upstream_pid: u32,
    upstream_secret: u32,
    /// Bumped by each cancel: wakes a statement held for approval, which
    /// has nothing upstream to cancel yet.
    held: Arc<tokio::sync::watch::Sender<u64>>,
}

#[derive(Default, Clone)]
pub struct CancelRegistry {
    entries: Arc<Mutex<HashMap<u32, Entry>>>,
}

/// Removes its key from the registry when the session ends.
pub struct CancelKey {
    pub pid: u32,
    pub secret: u32,
    registry: CancelRegistry,
    held: Arc<tokio::sync::watch::Sender<u64>>,
}

impl CancelKey {
    /// Changes with every CancelRequest for this session.
    pub fn cancels(&self) -> tokio::sync::watch::Receiver<u64> {
        self.held.subscribe()
    }
}

impl Drop for CancelKey {
    fn drop(&mut self) {
        if let Ok(mut map) = self.registry.entries.lock() {
            map.remove(&self.pid);
        }
    }
}

fn random_u32() -> u32 {
    let mut b = [0u8; 4];
    let _ = aws_lc_rs::rand::fill(&mut b);
    u32::from_be_bytes(b)
}

impl CancelRegistry {
    pub fn register(
        &self,
        upstream: Arc<UpstreamConfig>,
        upstream_pid: u32,
        upstream_secret: u32,
    ) -> CancelKey {
        let secret = random_u32();
        let held = Arc::new(tokio::sync::watch::channel(0u64).0);
        let mut pid;
        loop {
            pid = random_u32() & 0x7fff_ffff;
            let Ok(mut map) = self.entries.lock() else {
                // A poisoned lock only loses cancel routing, never safety.
                break;
            };
            if pid != 0 && !map.contains_key(&pid) {
                map.insert(
                    pid,
                    Entry {
                        secret,
                        upstream,
                        upstream_pid,
                        upstream_secret,
                        held: held.clone(),
                    },
                );
                break;
            }
        }
        CancelKey {
            pid,
            secret,
            registry: self.clone(),
            held,
        }
    }

    /// Forwards a cancel when the key matches a live session; silently
    /// ignores it otherwise, as PostgreSQL does.
    pub async fn cancel(&self, pid: u32, secret: u32) {
        let target = {
            let Ok(map) = self.entries.lock() else { return };
            match map.get(&pid) {
                Some(e)
                    if aws_lc_rs::constant_time::verify_slices_are_equal(
                        &e.secret.to_be_bytes(),
                        &secret.to_be_bytes(),
                    )
                    .is_ok() =>
                {
                    e.held.send_modify(|n| *n = n.wrapping_add(1));
                    Some((e.upstream.clone(), e.upstream_pid, e.upstream_secret))
                }
                _ => None,
            }
        };
        match target {
            Some((cfg, upid, usecret)) => {
                if let Err(e) = send_cancel(&cfg, upid, usecret).await {
                    tracing::warn!(error = %e, "forwarding a cancel request failed");
                }
            }
            None => tracing::debug!(pid, "cancel request for no live session ignored"),
        }
    }
}
