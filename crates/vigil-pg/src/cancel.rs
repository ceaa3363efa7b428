//! CancelRequest routing. A client gets the target's real pid (so
//! `pg_backend_pid()`, NOTIFY senders and `BackendKeyData` agree, as on a
//! direct connection) with a secret of the gateway's own; the target's
//! secret never leaves the gateway. A cancel is forwarded only when both
//! halves match a live session.
//!
//! Sessions are keyed on (pid, secret): two targets can hand out the same
//! pid, so a pid alone names no session.

use crate::backend::{UpstreamConfig, send_cancel};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

struct Entry {
    /// The gateway's secret, the one the client knows.
    secret: u32,
    upstream: Arc<UpstreamConfig>,
    upstream_secret: u32,
    /// Bumped by each cancel: wakes a statement held for approval, which
    /// has nothing upstream to cancel yet.
    held: Arc<tokio::sync::watch::Sender<u64>>,
}

/// Live sessions by their target's pid; a pid's sessions (one per target
/// that uses it) differ by secret.
#[derive(Default, Clone)]
pub struct CancelRegistry {
    entries: Arc<Mutex<HashMap<u32, Vec<Entry>>>>,
}

/// Removes its key from the registry when the session ends.
pub struct CancelKey {
    /// The target's pid.
    pub pid: u32,
    /// The gateway's secret for this session.
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
        if let Ok(mut map) = self.registry.entries.lock()
            && let Some(list) = map.get_mut(&self.pid)
        {
            list.retain(|e| e.secret != self.secret);
            if list.is_empty() {
                map.remove(&self.pid);
            }
        }
    }
}

fn random_u32() -> u32 {
    let mut b = [0u8; 4];
    let _ = aws_lc_rs::rand::fill(&mut b);
    u32::from_be_bytes(b)
}

fn same_secret(a: u32, b: u32) -> bool {
    aws_lc_rs::constant_time::verify_slices_are_equal(&a.to_be_bytes(), &b.to_be_bytes()).is_ok()
}

impl CancelRegistry {
    /// Registers a session whose target said (`upstream_pid`,
    /// `upstream_secret`) and returns the key to give its client: the same
    /// pid, a fresh random secret (never the target's).
    pub fn register(
        &self,
        upstream: Arc<UpstreamConfig>,
        upstream_pid: u32,
        upstream_secret: u32,
    ) -> CancelKey {
        let held = Arc::new(tokio::sync::watch::channel(0u64).0);
        let mut secret;
        loop {
            secret = random_u32();
            if secret == upstream_secret {
                continue;
            }
            let Ok(mut map) = self.entries.lock() else {
                // A poisoned lock only loses cancel routing, never safety.
                break;
            };
            let list = map.entry(upstream_pid).or_default();
            if list.iter().all(|e| e.secret != secret) {
                list.push(Entry {
                    secret,
                    upstream,
                    upstream_secret,
                    held: held.clone(),
                });
                break;
            }
        }
        CancelKey {
            pid: upstream_pid,
            secret,
            registry: self.clone(),
            held,
        }
    }

    /// Forwards a cancel, with the target's own key, when (`pid`, `secret`)
    /// is a live session's; silently ignores it otherwise, as PostgreSQL
    /// does.
    pub async fn cancel(&self, pid: u32, secret: u32) {
        let target = {
            let Ok(map) = self.entries.lock() else { return };
            let found = map.get(&pid).and_then(|list| {
                // Every candidate is compared, in constant time each.
                list.iter()
                    .fold(None, |hit, e| match same_secret(e.secret, secret) {
                        true => Some(e),
                        false => hit,
                    })
            });
            found.map(|e| {
                e.held.send_modify(|n| *n = n.wrapping_add(1));
                (e.upstream.clone(), e.upstream_secret)
            })
        };
        match target {
            Some((cfg, usecret)) => {
                if let Err(e) = send_cancel(&cfg, pid, usecret).await {
                    tracing::warn!(error = %e, "forwarding a cancel request failed");
                }
            }
            None => tracing::debug!(pid, "cancel request for no live session ignored"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::{AuthMethods, UpstreamTls};
    use tokio::io::AsyncReadExt;
    use tokio::net::TcpListener;

    /// A target that records the CancelRequests it receives as (pid, secret).
    async fn target() -> (Arc<UpstreamConfig>, tokio::sync::mpsc::Receiver<(u32, u32)>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let (tx, rx) = tokio::sync::mpsc::channel(16);
        tokio::spawn(async move {
            while let Ok((mut tcp, _)) = listener.accept().await {
                let mut b = [0u8; 16];
                if tcp.read_exact(&mut b).await.is_ok() {
                    let word = |i: usize| u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
                    assert_eq!((word(0), word(4)), (16, 80_877_102));
                    let _ = tx.send((word(8), word(12))).await;
                }
            }
        });
        let cfg = UpstreamConfig {
            address,
            database: "db".into(),
            user: "u".into(),
            password: None,
            tls: UpstreamTls::Disable,
            auth: AuthMethods::default(),
        };
        (Arc::new(cfg), rx)
    }

    fn bumped(rx: &mut tokio::sync::watch::Receiver<u64>) -> bool {
        rx.has_changed().unwrap()
    }

    #[tokio::test]
    async fn client_gets_the_target_pid_and_a_secret_of_its_own() {
        let (cfg, mut seen) = target().await;
        let reg = CancelRegistry::default();
        let key = reg.register(cfg, 4242, 777);
        assert_eq!(key.pid, 4242);
        assert_ne!(key.secret, 777);
        let mut held = key.cancels();

        reg.cancel(4242, key.secret).await;
        assert_eq!(seen.recv().await, Some((4242, 777)), "the target's own key");
        assert!(bumped(&mut held));
    }

    #[tokio::test]
    async fn right_pid_with_a_wrong_secret_cancels_nothing() {
        let (cfg, mut seen) = target().await;
        let reg = CancelRegistry::default();
        let key = reg.register(cfg, 4242, 777);
        let mut held = key.cancels();
        // The target's secret is no better than any other wrong one.
        for wrong in [777, key.secret ^ 1, key.secret.wrapping_add(1 << 31)] {
            reg.cancel(4242, wrong).await;
        }
        reg.cancel(4243, key.secret).await;
        assert!(!bumped(&mut held));
        assert!(seen.try_recv().is_err());
    }

    #[tokio::test]
    async fn two_targets_with_the_same_pid_are_told_apart_by_secret() {
        let (cfg_a, mut seen_a) = target().await;
        let (cfg_b, mut seen_b) = target().await;
        let reg = CancelRegistry::default();
        let a = reg.register(cfg_a, 100, 1);
        let b = reg.register(cfg_b, 100, 2);
        assert_eq!((a.pid, b.pid), (100, 100));
        assert_ne!(a.secret, b.secret);
        let (mut held_a, mut held_b) = (a.cancels(), b.cancels());

        reg.cancel(100, b.secret).await;
        assert_eq!(seen_b.recv().await, Some((100, 2)));
        assert!(bumped(&mut held_b) && !bumped(&mut held_a));
        assert!(seen_a.try_recv().is_err());

        // Ending one session leaves the other's key working.
        drop(b);
        reg.cancel(100, a.secret).await;
        assert_eq!(seen_a.recv().await, Some((100, 1)));
        assert!(bumped(&mut held_a));
        drop(a);
        assert!(reg.entries.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn an_ended_session_cannot_be_cancelled() {
        let (cfg, mut seen) = target().await;
        let reg = CancelRegistry::default();
        let key = reg.register(cfg, 9, 3);
        let secret = key.secret;
        drop(key);
        reg.cancel(9, secret).await;
        assert!(seen.try_recv().is_err());
    }
}
