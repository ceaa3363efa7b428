//! `[identity]` and `[[identity.oidc]]`: the OIDC issuers whose tokens are
//! accepted wherever a Vigil token is.

use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use crate::expand::{Str, with};
use crate::policy::HumanDuration;

/// One trusted issuer. Checked at load: the URL (HTTPS, or HTTP to
/// loopback), a non-empty audience, and `agent_when` compiles as CEL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OidcConfig {
    /// The issuer URL exactly as its tokens carry it in `iss`.
    pub issuer: String,
    /// Accepted audiences (the token's `aud` must name one).
    pub audience: Vec<String>,
    /// Dotted path to the groups claim, e.g. `realm_access.roles`.
    pub groups_claim: Option<String>,
    /// The claim that becomes the principal's name (default `sub`).
    pub name_claim: String,
    /// CEL over `claims`; true makes the principal an agent, else a human.
    pub agent_when: Option<String>,
    /// Groups added to every principal of this issuer.
    pub groups: Vec<String>,
    /// Clock-skew allowance for `exp`, `nbf` and `iat` (default 60 s).
    pub leeway: Duration,
    /// How long a session may run statements after its token expired (default 0).
    pub grace: Duration,
    /// Least time between two key refreshes caused by unknown `kid`s (default 30 s).
    pub min_refresh_interval: Duration,
}

/// `[identity]`
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdentityConfig {
    pub oidc: Vec<OidcConfig>,
    /// How long a Vigil token lookup is reused (default 1 s): a revoked
    /// token is refused, at login and on the next statement of an open
    /// session, at most this long after `vigil token revoke`. Zero reads the
    /// store at every login and every statement.
    pub token_cache: Duration,
}

/// `[identity] token_cache` when absent.
pub const DEFAULT_TOKEN_CACHE: Duration = Duration::from_secs(1);
/// The longest `token_cache` accepted: past it a revocation is no longer
/// "at once" in any sense.
pub const MAX_TOKEN_CACHE: Duration = Duration::from_secs(60);

impl Default for IdentityConfig {
    fn default() -> Self {
        IdentityConfig {
            oidc: Vec::new(),
            token_cache: DEFAULT_TOKEN_CACHE,
        }
    }
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawIdentity {
    #[serde(default)]
    pub oidc: Vec<RawOidc>,
    #[serde(default, deserialize_with = "with::opt_parsed")]
    pub token_cache: Option<TokenCache>,
}

/// A `token_cache` value: a duration from 0 to [`MAX_TOKEN_CACHE`].
#[derive(Clone, Copy, Debug)]
pub(crate) struct TokenCache(pub Duration);

impl std::str::FromStr for TokenCache {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let HumanDuration(d) = s.parse()?;
        if d > MAX_TOKEN_CACHE {
            return Err(format!(
                "`token_cache` of `{s}` is too long: at most {}s, so that a revoked token stops working promptly",
                MAX_TOKEN_CACHE.as_secs()
            ));
        }
        Ok(TokenCache(d))
    }
}

/// A string or a list of strings.
#[derive(Deserialize)]
#[serde(untagged)]
pub(crate) enum OneOrMany {
    One(Str),
    Many(Vec<Str>),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawOidc {
    pub issuer: Spanned<Str>,
    pub audience: Spanned<OneOrMany>,
    #[serde(default, deserialize_with = "with::opt_string")]
    pub groups_claim: Option<String>,
    #[serde(default, deserialize_with = "with::opt_string")]
    pub name_claim: Option<String>,
    #[serde(default)]
    pub agent_when: Option<Spanned<Str>>,
    #[serde(default, deserialize_with = "with::strings")]
    pub groups: Vec<String>,
    #[serde(default, deserialize_with = "with::opt_parsed")]
    pub leeway: Option<HumanDuration>,
    #[serde(default, deserialize_with = "with::opt_parsed")]
    pub grace: Option<HumanDuration>,
    #[serde(default, deserialize_with = "with::opt_parsed")]
    pub min_refresh_interval: Option<HumanDuration>,
}

impl RawOidc {
    pub fn audience(&self) -> Vec<String> {
        match self.audience.get_ref() {
            OneOrMany::One(s) => vec![s.0.clone()],
            OneOrMany::Many(list) => list.iter().map(|s| s.0.clone()).collect(),
        }
    }

    pub fn to_config(&self) -> OidcConfig {
        OidcConfig {
            issuer: self.issuer.get_ref().0.clone(),
            audience: self.audience(),
            groups_claim: self.groups_claim.clone(),
            name_claim: self.name_claim.clone().unwrap_or_else(|| "sub".to_owned()),
            agent_when: self.agent_when.as_ref().map(|w| w.get_ref().0.clone()),
            groups: self.groups.clone(),
            leeway: self.leeway.map_or(Duration::from_secs(60), |d| d.0),
            grace: self.grace.map_or(Duration::ZERO, |d| d.0),
            min_refresh_interval: self
                .min_refresh_interval
                .map_or(Duration::from_secs(30), |d| d.0),
        }
    }
}

/// Why `url` cannot be an issuer: keys must come over HTTPS, except from a
/// loopback host (tests, a sidecar IdP).
pub(crate) fn check_issuer_url(url: &str) -> Result<(), String> {
    if let Some(rest) = url.strip_prefix("https://") {
        if rest.is_empty() || rest.starts_with('/') {
            return Err(format!("issuer `{url}` has no host"));
        }
        return Ok(());
    }
    if let Some(rest) = url.strip_prefix("http://") {
        let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
        let host = match authority.strip_prefix('[') {
            Some(v6) => v6.split(']').next().unwrap_or(""),
            None => authority.rsplit_once(':').map_or(authority, |(h, _)| h),
        };
        let loopback = host == "localhost"
            || host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback());
        if loopback {
            return Ok(());
        }
        return Err(format!(
            "issuer `{url}` uses plain HTTP to a host that is not loopback: use https://"
        ));
    }
    Err(format!("issuer `{url}` is not an https:// URL"))
}

/// Whether `source` is valid CEL (the gateway compiles it again at start).
pub(crate) fn check_agent_when(source: &str) -> Result<(), String> {
    if source.trim().is_empty() {
        return Err("`agent_when` is empty".to_owned());
    }
    cel::Program::compile(source)
        .map(|_| ())
        .map_err(|e| format!("`agent_when` is not valid CEL: {}", e.to_string().trim()))
}
