//! `[console]`: the web console's sign-in (OIDC authorization code flow
//! with PKCE, next to the pasted token) and its session lifetimes.

use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;
use vigil_core::Secret;

use crate::expand::{Str, with};
use crate::policy::HumanDuration;

/// `[console]`, checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsoleConfig {
    /// "Sign in with SSO", when set.
    pub oidc: Option<ConsoleOidc>,
    /// A session ends after this long without a request (default 30 min).
    pub idle_timeout: Duration,
    /// A session ends this long after sign-in, whatever its use (default 12 h).
    pub max_age: Duration,
}

/// The console's OIDC client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsoleOidc {
    pub client_id: String,
    /// For issuers that want a confidential client; PKCE is used either way.
    pub client_secret: Option<Secret<String>>,
    /// Which `[[identity.oidc]]` issuer signs people in (its ID tokens are
    /// then checked like any token of that issuer).
    pub issuer: String,
    /// Where the issuer sends the browser back: Vigil's
    /// `https://GW:8080/console/oidc/callback`, registered with the issuer.
    pub redirect_url: String,
}

impl Default for ConsoleConfig {
    fn default() -> Self {
        ConsoleConfig {
            oidc: None,
            idle_timeout: Duration::from_secs(30 * 60),
            max_age: Duration::from_secs(12 * 3600),
        }
    }
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawConsole {
    #[serde(default)]
    pub oidc_client_id: Option<Spanned<Str>>,
    #[serde(default, deserialize_with = "with::opt_secret")]
    pub oidc_client_secret: Option<Secret<String>>,
    #[serde(default)]
    pub oidc_issuer: Option<Spanned<Str>>,
    #[serde(default)]
    pub redirect_url: Option<Spanned<Str>>,
    #[serde(default, deserialize_with = "with::opt_parsed")]
    pub idle_timeout: Option<HumanDuration>,
    #[serde(default, deserialize_with = "with::opt_parsed")]
    pub max_age: Option<HumanDuration>,
}

type Invalid = (std::ops::Range<usize>, String);

impl RawConsole {
    /// Checks the section against the configured issuers (`issuers`);
    /// `table` is the section's span for errors about missing keys.
    pub(crate) fn check(
        self,
        issuers: &[&str],
        table: std::ops::Range<usize>,
    ) -> Result<ConsoleConfig, Invalid> {
        let defaults = ConsoleConfig::default();
        let idle_timeout = self.idle_timeout.map_or(defaults.idle_timeout, |d| d.0);
        let max_age = self.max_age.map_or(defaults.max_age, |d| d.0);
        if idle_timeout.is_zero() || max_age.is_zero() {
            return Err((
                table,
                "[console] `idle_timeout` and `max_age` must be more than 0".into(),
            ));
        }
        let Some(client_id) = self.oidc_client_id else {
            if let Some(extra) = self.oidc_issuer.as_ref().or(self.redirect_url.as_ref()) {
                return Err((
                    extra.span(),
                    "[console] `oidc_issuer` and `redirect_url` go with `oidc_client_id`".into(),
                ));
            }
            return Ok(ConsoleConfig {
                oidc: None,
                idle_timeout,
                max_age,
            });
        };
        let span = client_id.span();
        let client_id = client_id.into_inner().0;
        if client_id.is_empty() {
            return Err((span, "[console] `oidc_client_id` must not be empty".into()));
        }
        let issuer = match self.oidc_issuer {
            Some(i) => {
                let (span, issuer) = (i.span(), i.into_inner().0);
                if !issuers.contains(&issuer.as_str()) {
                    return Err((
                        span,
                        format!(
                            "[console] `oidc_issuer = \"{issuer}\"` is not one of the [[identity.oidc]] issuers"
                        ),
                    ));
                }
                issuer
            }
            None => match issuers {
                [one] => (*one).to_string(),
                [] => {
                    return Err((
                        span,
                        "[console] `oidc_client_id` needs an [[identity.oidc]] issuer to sign in with".into(),
                    ));
                }
                _ => {
                    return Err((
                        span,
                        "[console] several [[identity.oidc]] issuers are configured: name one with `oidc_issuer`".into(),
                    ));
                }
            },
        };
        let Some(redirect) = self.redirect_url else {
            return Err((
                span,
                "[console] `oidc_client_id` needs `redirect_url` (e.g. \"https://vigil.example.com:8080/console/oidc/callback\")".into(),
            ));
        };
        let (redirect_span, redirect_url) = (redirect.span(), redirect.into_inner().0);
        if !redirect_url.ends_with("/console/oidc/callback")
            || crate::identity::check_issuer_url(&redirect_url).is_err()
        {
            return Err((
                redirect_span,
                "[console] `redirect_url` must be https:// (or http:// to loopback) and end in /console/oidc/callback".into(),
            ));
        }
        Ok(ConsoleConfig {
            oidc: Some(ConsoleOidc {
                client_id,
                client_secret: self.oidc_client_secret,
                issuer,
                redirect_url,
            }),
            idle_timeout,
            max_age,
        })
    }
}
