//! `[[notify]]` webhooks: each approval request and decision POSTed as JSON
//! with a Slack-compatible `text`, signed with HMAC-SHA256.
//!
//! The guard hands notices over with `try_send` on a bounded queue, so a
//! slow or failing webhook never blocks a statement, and the request is in
//! the store regardless. Deliveries run in background tasks (a bounded
//! number at once), each with bounded retries and exponential backoff.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::{Semaphore, mpsc};
use vigil_config::NotifyConfig;
use vigil_guard::ApprovalNotice;

/// Notices waiting for delivery; past it new ones are dropped (logged).
pub const QUEUE: usize = 1024;
/// Deliveries in flight at once, over all webhooks.
const CONCURRENT: usize = 8;
const ATTEMPTS: u32 = 5;
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
const TIMEOUT: Duration = Duration::from_secs(10);

/// Starts the notifier when webhooks are configured; the sender goes to the guard.
pub fn start(webhooks: &[NotifyConfig]) -> Option<mpsc::Sender<ApprovalNotice>> {
    if webhooks.is_empty() {
        return None;
    }
    let client = client()?;
    let (tx, rx) = mpsc::channel(QUEUE);
    tokio::spawn(run(client, webhooks.to_vec(), rx));
    Some(tx)
}

/// The webhooks' HTTP client: bounded time, no redirects.
pub(crate) fn client() -> Option<reqwest::Client> {
    match reqwest::Client::builder()
        .timeout(TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .build()
    {
        Ok(c) => Some(c),
        Err(e) => {
            tracing::error!(error = %e, "webhooks disabled: no HTTP client");
            None
        }
    }
}

async fn run(
    client: reqwest::Client,
    webhooks: Vec<NotifyConfig>,
    mut rx: mpsc::Receiver<ApprovalNotice>,
) {
    let webhooks: Vec<Arc<NotifyConfig>> = webhooks.into_iter().map(Arc::new).collect();
    let slots = Arc::new(Semaphore::new(CONCURRENT));
    while let Some(notice) = rx.recv().await {
        let body = match serde_json::to_vec(&payload(&notice)) {
            Ok(b) => bytes::Bytes::from(b),
            Err(e) => {
                tracing::error!(error = %e, "could not encode a notification");
                continue;
            }
        };
        for hook in webhooks.iter().filter(|w| w.wants(notice.event.as_str())) {
            let Ok(slot) = slots.clone().acquire_owned().await else {
                return;
            };
            let (client, hook, body) = (client.clone(), hook.clone(), body.clone());
            tokio::spawn(async move {
                deliver(&client, &hook, body).await;
                drop(slot);
            });
        }
    }
}

/// POSTs `body` until a 2xx answer or [`ATTEMPTS`] tries.
pub(crate) async fn deliver(client: &reqwest::Client, hook: &NotifyConfig, body: bytes::Bytes) {
    let signature = hook
        .secret
        .as_ref()
        .map(|s| sign(s.expose().as_bytes(), &body));
    let mut backoff = FIRST_BACKOFF;
    for attempt in 1..=ATTEMPTS {
        let mut request = client
            .post(&hook.url)
            .header("content-type", "application/json")
            .header("user-agent", "vigil-webhook")
            .body(body.clone());
        if let Some(sig) = &signature {
            request = request.header("X-Vigil-Signature", sig);
        }
        match request.send().await {
            Ok(r) if r.status().is_success() => return,
            Ok(r) => {
                tracing::warn!(url = %hook.url, status = %r.status(), attempt, "webhook refused a notification")
            }
            Err(e) => {
                tracing::warn!(url = %hook.url, error = %e.without_url(), attempt, "webhook unreachable")
            }
        }
        if attempt < ATTEMPTS {
            tokio::time::sleep(backoff).await;
            backoff *= 2;
        }
    }
    tracing::error!(url = %hook.url, "webhook notification given up after {ATTEMPTS} attempts");
}

/// `sha256=<hex HMAC-SHA256(secret, body)>`.
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret);
    format!(
        "sha256={}",
        hex::encode(aws_lc_rs::hmac::sign(&key, body).as_ref())
    )
}

fn payload(n: &ApprovalNotice) -> Value {
    json!({
        "event": n.event.as_str(),
        "text": text(n),
        "approval": n.approval,
        "grant": n.grant,
    })
}

/// One line a chat channel shows.
fn text(n: &ApprovalNotice) -> String {
    match (n.event.as_str(), &n.approval, &n.grant) {
        ("approval_requested", Some(a), _) => format!(
            "Vigil: {} ({}) asks to run on {} (rule '{}': {}): `{}` — approve with `vigil approvals approve {}` (reviewers: {})",
            a.principal,
            a.principal_kind.as_str(),
            a.connection,
            a.rule,
            a.reason,
            shorten(&a.statement, 300),
            a.id,
            a.reviewers.join(", "),
        ),
        ("grant_created", _, Some(g)) => format!(
            "Vigil: {} opened grant {} for {} on {} (rule '{}') for {}s",
            g.granted_by,
            g.id,
            g.principal,
            g.connection,
            g.rule,
            (g.expires_at_ms - g.created_at_ms) / 1000
        ),
        ("grant_revoked", _, Some(g)) => format!(
            "Vigil: grant {} for {} on {} revoked by {}",
            g.id,
            g.principal,
            g.connection,
            g.revoked_by.as_deref().unwrap_or("?")
        ),
        (_, Some(a), _) => {
            let by = a
                .decided_by
                .as_deref()
                .map(|b| format!(" by {b}"))
                .unwrap_or_default();
            let why = a
                .decision_reason
                .as_deref()
                .map(|r| format!(": {r}"))
                .unwrap_or_default();
            format!(
                "Vigil: approval {} ({} on {}) {}{by}{why}",
                a.id,
                a.principal,
                a.connection,
                a.status.as_str()
            )
        }
        (event, _, _) => format!("Vigil: {event}"),
    }
}

fn shorten(s: &str, max: usize) -> String {
    let flat = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() > max {
        format!("{}…", flat.chars().take(max).collect::<String>())
    } else {
        flat
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn signature_matches_rfc_4231_case_2() {
        assert_eq!(
            super::sign(b"Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
