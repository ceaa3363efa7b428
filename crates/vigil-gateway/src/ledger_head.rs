//! Sends each signed ledger head to the webhooks that ask for `ledger_head`,
//! so a copy of the chain's latest signed state lives outside this host.
//!
//! A watch, not a queue: when heads come faster than a webhook answers,
//! only the newest is sent (each one covers every event before it).

use std::sync::Arc;

use serde_json::json;
use tokio::sync::watch;
use vigil_config::NotifyConfig;
use vigil_store::SignedHead;

/// Starts forwarding when some webhook takes `ledger_head`.
pub fn start(webhooks: &[NotifyConfig], mut heads: watch::Receiver<Option<SignedHead>>) {
    let hooks: Vec<Arc<NotifyConfig>> = webhooks
        .iter()
        .filter(|w| w.wants("ledger_head"))
        .cloned()
        .map(Arc::new)
        .collect();
    if hooks.is_empty() {
        return;
    }
    let Some(client) = crate::notify::client() else {
        return;
    };
    tokio::spawn(async move {
        while heads.changed().await.is_ok() {
            let Some(head) = heads.borrow_and_update().clone() else {
                continue;
            };
            let body = match serde_json::to_vec(&payload(&head)) {
                Ok(b) => bytes::Bytes::from(b),
                Err(e) => {
                    tracing::error!(error = %e, "could not encode a ledger head");
                    continue;
                }
            };
            // One head at a time: the next one supersedes this one anyway.
            for hook in &hooks {
                crate::notify::deliver(&client, hook, body.clone()).await;
            }
        }
    });
}

fn payload(head: &SignedHead) -> serde_json::Value {
    json!({
        "event": "ledger_head",
        "text": format!("Vigil: ledger head seq {} hash {}", head.seq, head.hash_hex()),
        "seq": head.seq,
        "hash": head.hash_hex(),
        "signature": head.signature_hex(),
        "at_ms": head.at_ms,
    })
}
