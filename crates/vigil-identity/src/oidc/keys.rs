//! One issuer's keys: discovery, JWKS fetch, cache, refresh.
//!
//! - Keys are fetched on first use, then kept until the JWKS response's
//!   `Cache-Control: max-age` (or [`DEFAULT_MAX_AGE`]) runs out.
//! - A token naming an unknown `kid` triggers a refresh (the issuer may have
//!   rotated), at most once per `min_refresh_interval`, so a flood of bogus
//!   kids cannot hammer the IdP.
//! - When a refresh fails, the last good keys stay in use for up to
//!   [`MAX_STALE`], so a short IdP outage does not lock everyone out.
//! - Refreshes are single-flight: concurrent callers wait for the one in
//!   progress instead of each fetching.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::Reject;
use super::jwk::KeySet;

/// How long keys are used when the JWKS response says nothing.
pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(600);
/// Longest `max-age` honoured.
const LONGEST_MAX_AGE: Duration = Duration::from_secs(24 * 3600);
/// How long past their expiry the last good keys serve while the IdP is down.
pub const MAX_STALE: Duration = Duration::from_secs(24 * 3600);
/// Largest discovery or JWKS document read.
const MAX_BODY: usize = 1024 * 1024;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Default)]
struct State {
    keys: Option<Arc<KeySet>>,
    /// Until when `keys` are fresh.
    fresh_until: Option<Instant>,
    /// Bumped by every successful refresh.
    generation: u64,
    /// The last refresh attempt of any kind, and the last one an unknown kid
    /// asked for: both rate-limited by `min_refresh`.
    last_attempt: Option<Instant>,
    last_kid_refresh: Option<Instant>,
}

pub struct KeyCache {
    issuer: String,
    http: reqwest::Client,
    min_refresh: Duration,
    state: Mutex<State>,
    refreshing: tokio::sync::Mutex<()>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Why {
    Expired,
    UnknownKid,
}

impl KeyCache {
    pub fn new(issuer: String, min_refresh: Duration) -> Result<KeyCache, String> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        Ok(KeyCache {
            issuer,
            http,
            min_refresh,
            state: Mutex::new(State::default()),
            refreshing: tokio::sync::Mutex::new(()),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // The state is a few plain values that are always left consistent.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The keys to verify a token naming `kid` with: fresh when possible,
    /// refreshed when `kid` is unknown (rate-limited), stale when the IdP is
    /// down. `Err` only when there are no usable keys at all.
    pub async fn keys_for(&self, kid: Option<&str>) -> Result<Arc<KeySet>, Reject> {
        let (mut keys, fresh, generation) = {
            let s = self.lock();
            let fresh = s.fresh_until.is_some_and(|t| Instant::now() < t);
            (s.keys.clone(), fresh, s.generation)
        };
        let mut just_fetched = false;
        if keys.is_none() || !fresh {
            keys = self.refresh(generation, Why::Expired).await;
            just_fetched = self.lock().generation != generation;
        }
        let mut keys = keys.ok_or(Reject::IssuerUnavailable)?;
        if let Some(kid) = kid
            && !just_fetched
            && !keys.has_kid(kid)
        {
            let generation = self.lock().generation;
            if let Some(newer) = self.refresh(generation, Why::UnknownKid).await {
                keys = newer;
            }
        }
        Ok(keys)
    }

    /// Fetches new keys unless another caller already did since `seen`, or
    /// the rate limit says no. Returns the keys to use (maybe stale).
    async fn refresh(&self, seen: u64, why: Why) -> Option<Arc<KeySet>> {
        let _flight = self.refreshing.lock().await;
        let now = Instant::now();
        {
            let mut s = self.lock();
            if s.generation != seen {
                return s.keys.clone();
            }
            let recent =
                |t: Option<Instant>| t.is_some_and(|t| now.duration_since(t) < self.min_refresh);
            let limited = match why {
                Why::UnknownKid => recent(s.last_kid_refresh),
                // Expired or missing keys are fetched at once, but a failing
                // IdP is retried no more than once per interval.
                Why::Expired => recent(s.last_attempt),
            };
            if limited {
                return self.usable(&s, now);
            }
            s.last_attempt = Some(now);
            if why == Why::UnknownKid {
                s.last_kid_refresh = Some(now);
            }
        }
        match self.fetch().await {
            Ok((set, max_age)) => {
                tracing::info!(issuer = %self.issuer, keys = set.keys.len(), "OIDC keys fetched");
                let set = Arc::new(set);
                let mut s = self.lock();
                s.keys = Some(Arc::clone(&set));
                s.fresh_until = Some(Instant::now() + max_age);
                s.generation += 1;
                Some(set)
            }
            Err(e) => {
                let s = self.lock();
                let stale = self.usable(&s, now);
                tracing::warn!(
                    issuer = %self.issuer,
                    error = %e,
                    serving_last_good_keys = stale.is_some(),
                    "could not fetch the OIDC issuer's keys"
                );
                stale
            }
        }
    }

    /// The cached keys if they are fresh or stale by less than [`MAX_STALE`].
    fn usable(&self, s: &State, now: Instant) -> Option<Arc<KeySet>> {
        match s.fresh_until {
            Some(until) if now < until + MAX_STALE => s.keys.clone(),
            _ => None,
        }
    }

    async fn fetch(&self) -> Result<(KeySet, Duration), String> {
        let discovery_url = format!(
            "{}/.well-known/openid-configuration",
            self.issuer.trim_end_matches('/')
        );
        let (body, _) = self.get(&discovery_url).await?;
        let doc: Value = serde_json::from_slice(&body)
            .map_err(|e| format!("discovery document is not JSON: {e}"))?;
        // OpenID Connect Discovery §4.3: the document must name the issuer
        // it was fetched for, or its keys are not that issuer's.
        if doc.get("issuer").and_then(Value::as_str) != Some(self.issuer.as_str()) {
            return Err("discovery document names another issuer".into());
        }
        let jwks_uri = doc
            .get("jwks_uri")
            .and_then(Value::as_str)
            .ok_or("discovery document has no `jwks_uri`")?;
        check_url(jwks_uri)?;
        let (body, max_age) = self.get(jwks_uri).await?;
        let set = KeySet::parse(&body)?;
        let max_age = max_age
            .unwrap_or(DEFAULT_MAX_AGE)
            .clamp(self.min_refresh, LONGEST_MAX_AGE);
        Ok((set, max_age))
    }

    /// GETs `url`, reading at most [`MAX_BODY`] bytes; also returns the
    /// response's `max-age`.
    async fn get(&self, url: &str) -> Result<(Vec<u8>, Option<Duration>), String> {
        let mut response = self
            .http
            .get(url)
            .header("accept", "application/json")
            .send()
            .await
            .map_err(|e| format!("GET {url}: {e}"))?;
        if !response.status().is_success() {
            return Err(format!("GET {url}: status {}", response.status()));
        }
        let max_age = response
            .headers()
            .get("cache-control")
            .and_then(|v| v.to_str().ok())
            .and_then(max_age);
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| format!("GET {url}: {e}"))?
        {
            if body.len() + chunk.len() > MAX_BODY {
                return Err(format!("GET {url}: response larger than {MAX_BODY} bytes"));
            }
            body.extend_from_slice(&chunk);
        }
        Ok((body, max_age))
    }
}

/// `max-age=N` of a Cache-Control header; `no-cache`/`no-store` count as 0
/// (then clamped up to the refresh interval).
fn max_age(header: &str) -> Option<Duration> {
    header.split(',').map(str::trim).find_map(|d| {
        if d.eq_ignore_ascii_case("no-store") || d.eq_ignore_ascii_case("no-cache") {
            return Some(Duration::ZERO);
        }
        let (k, v) = d.split_once('=')?;
        if k.trim().eq_ignore_ascii_case("max-age") {
            v.trim()
                .trim_matches('"')
                .parse()
                .ok()
                .map(Duration::from_secs)
        } else {
            None
        }
    })
}

/// Keys are fetched over HTTPS; plain HTTP only from a loopback host (tests,
/// an IdP sidecar on the same machine).
pub fn check_url(url: &str) -> Result<(), String> {
    if url.starts_with("https://") {
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
            "`{url}` is plain HTTP to a host that is not loopback: use https://"
        ));
    }
    Err(format!("`{url}` is not an https:// URL"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_https_or_loopback_http() {
        assert!(check_url("https://idp.example.com/realms/x").is_ok());
        assert!(check_url("http://127.0.0.1:8080").is_ok());
        assert!(check_url("http://localhost/x").is_ok());
        assert!(check_url("http://[::1]:9000/x").is_ok());
        assert!(check_url("http://idp.example.com").is_err());
        assert!(check_url("http://127.0.0.1.evil.com/").is_err());
        assert!(check_url("ftp://x").is_err());
    }

    #[test]
    fn max_age_is_read_from_cache_control() {
        assert_eq!(
            max_age("public, max-age=300"),
            Some(Duration::from_secs(300))
        );
        assert_eq!(max_age("no-store"), Some(Duration::ZERO));
        assert_eq!(max_age("public"), None);
    }
}
