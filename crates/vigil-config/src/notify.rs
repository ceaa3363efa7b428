//! `[[notify]]`: webhooks that receive each new approval request and each
//! decision as JSON (with a Slack-compatible `text` field), signed with
//! HMAC-SHA256 when a `secret` is set.

use serde::Deserialize;
use toml::Spanned;
use vigil_core::Secret;

use crate::expand::{Str, with};

/// Event names a webhook may subscribe to.
pub const NOTIFY_EVENTS: &[&str] = &[
    "approval_requested",
    "approval_decided",
    "grant_created",
    "grant_revoked",
    "ledger_head",
];

/// Events a webhook gets only when its `events` names them (a chat channel
/// has no use for a signed ledger head every thousand statements).
pub const OPT_IN_EVENTS: &[&str] = &["ledger_head"];

/// One webhook.
#[derive(Clone, Debug)]
pub struct NotifyConfig {
    /// Where to POST: `https://`, or `http://` to a loopback address.
    pub url: String,
    /// Signs each body: `X-Vigil-Signature: sha256=<hex HMAC-SHA256 of the body>`.
    pub secret: Option<Secret<String>>,
    /// Which events to send; empty means all of [`NOTIFY_EVENTS`] but the
    /// opt-in ones (`OPT_IN_EVENTS`: `ledger_head`).
    pub events: Vec<String>,
}

impl NotifyConfig {
    pub fn wants(&self, event: &str) -> bool {
        if self.events.is_empty() {
            return !OPT_IN_EVENTS.contains(&event);
        }
        self.events.iter().any(|e| e == event)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawNotify {
    pub url: Spanned<Str>,
    #[serde(default, deserialize_with = "with::opt_secret")]
    pub secret: Option<Secret<String>>,
    #[serde(default)]
    pub events: Option<Spanned<Vec<Str>>>,
}

impl RawNotify {
    /// Checks the entry; `Err((span, message))` points at the bad value.
    pub(crate) fn check(&self) -> Result<NotifyConfig, (std::ops::Range<usize>, String)> {
        let url = self.url.get_ref().0.clone();
        check_url(&url).map_err(|m| (self.url.span(), m))?;
        let mut events = Vec::new();
        if let Some(list) = &self.events {
            for e in list.get_ref() {
                if !NOTIFY_EVENTS.contains(&e.0.as_str()) {
                    return Err((
                        list.span(),
                        format!(
                            "unknown notify event `{}` (known: {})",
                            e.0,
                            NOTIFY_EVENTS.join(", ")
                        ),
                    ));
                }
                events.push(e.0.clone());
            }
        }
        if self.secret.as_ref().is_some_and(|s| s.expose().is_empty()) {
            return Err((self.url.span(), "`secret` must not be empty".to_owned()));
        }
        Ok(NotifyConfig {
            url,
            secret: self.secret.clone(),
            events,
        })
    }
}

/// HTTPS anywhere; plain HTTP only to loopback (a test receiver, a local relay).
fn check_url(url: &str) -> Result<(), String> {
    crate::identity::check_issuer_url(url).map_err(|m| m.replacen("issuer", "notify url", 1))
}
