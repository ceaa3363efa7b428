//! The console's server-side sessions: the browser holds a random id in an
//! `HttpOnly` cookie; the credential it signed in with stays here and is
//! checked again through the guard on every request, so a revoked or
//! expired credential ends the session at once.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use aws_lc_rs::digest::{SHA256, digest};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use vigil_core::Secret;

/// Sessions held at once; past it the least recently used goes.
const MAX_SESSIONS: usize = 10_000;

/// A signed-in browser.
pub struct ConsoleSession {
    /// What it signed in with (a Vigil token or an ID token).
    pub credential: Secret<String>,
    /// Sent back in `X-CSRF-Token` on every state change.
    pub csrf: String,
    created: Instant,
    last_used: Instant,
}

/// Sessions by SHA-256 of their cookie value (a lookup never compares the
/// secret itself).
pub struct ConsoleSessions {
    sessions: Mutex<HashMap<[u8; 32], ConsoleSession>>,
    idle_timeout: Duration,
    max_age: Duration,
}

/// A 256-bit random value, URL-safe.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    // An all-zero value only if the system RNG fails, which aws-lc aborts on.
    let _ = aws_lc_rs::rand::fill(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

fn key(cookie: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(digest(&SHA256, cookie.as_bytes()).as_ref());
    out
}

impl ConsoleSessions {
    pub fn new(idle_timeout: Duration, max_age: Duration) -> Self {
        ConsoleSessions {
            sessions: Mutex::new(HashMap::new()),
            idle_timeout,
            max_age,
        }
    }

    /// Opens a session for `credential`: its cookie value and CSRF token.
    pub fn open(&self, credential: Secret<String>) -> (String, String) {
        let cookie = random_token();
        let csrf = random_token();
        let now = Instant::now();
        let mut sessions = self.sessions.lock().unwrap_or_else(PoisonError::into_inner);
        sessions.retain(|_, s| self.alive(s, now));
        if sessions.len() >= MAX_SESSIONS
            && let Some(oldest) = sessions
                .iter()
                .min_by_key(|(_, s)| s.last_used)
                .map(|(k, _)| *k)
        {
            sessions.remove(&oldest);
        }
        sessions.insert(
            key(&cookie),
            ConsoleSession {
                credential,
                csrf: csrf.clone(),
                created: now,
                last_used: now,
            },
        );
        (cookie, csrf)
    }

    /// The session of `cookie`, if it is alive: its credential and CSRF
    /// token. Marks it used.
    pub fn get(&self, cookie: &str) -> Option<(Secret<String>, String)> {
        let now = Instant::now();
        let mut sessions = self.sessions.lock().unwrap_or_else(PoisonError::into_inner);
        let k = key(cookie);
        let session = sessions.get_mut(&k)?;
        if !self.alive(session, now) {
            sessions.remove(&k);
            return None;
        }
        session.last_used = now;
        Some((session.credential.clone(), session.csrf.clone()))
    }

    /// Ends the session of `cookie`.
    pub fn close(&self, cookie: &str) {
        self.sessions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&key(cookie));
    }

    fn alive(&self, s: &ConsoleSession, now: Instant) -> bool {
        now.duration_since(s.last_used) < self.idle_timeout
            && now.duration_since(s.created) < self.max_age
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_is_found_by_its_cookie_only() {
        let s = ConsoleSessions::new(Duration::from_secs(60), Duration::from_secs(600));
        let (cookie, csrf) = s.open(Secret::new("tok".into()));
        let (credential, got_csrf) = s.get(&cookie).expect("alive");
        assert_eq!(credential.expose(), "tok");
        assert_eq!(got_csrf, csrf);
        assert_ne!(cookie, csrf);
        assert!(s.get(&csrf).is_none());
        assert!(s.get("").is_none());
        s.close(&cookie);
        assert!(s.get(&cookie).is_none());
    }

    #[test]
    fn idle_and_old_sessions_end() {
        let idle = ConsoleSessions::new(Duration::from_millis(1), Duration::from_secs(600));
        let (cookie, _) = idle.open(Secret::new("tok".into()));
        std::thread::sleep(Duration::from_millis(5));
        assert!(idle.get(&cookie).is_none());
        let old = ConsoleSessions::new(Duration::from_secs(600), Duration::from_millis(1));
        let (cookie, _) = old.open(Secret::new("tok".into()));
        std::thread::sleep(Duration::from_millis(5));
        assert!(old.get(&cookie).is_none());
    }

    #[test]
    fn sessions_are_bounded() {
        let s = ConsoleSessions::new(Duration::from_secs(60), Duration::from_secs(600));
        let first = s.open(Secret::new("tok".into())).0;
        for _ in 0..MAX_SESSIONS {
            s.open(Secret::new("tok".into()));
        }
        assert!(s.get(&first).is_none());
        assert!(s.sessions.lock().map(|m| m.len()).unwrap_or(0) <= MAX_SESSIONS);
    }
}
