//! Connection caps: every session holds a slot, counted globally and per
//! principal, given back when the slot is dropped (the session ended, by
//! any path). A connection still logging in holds a lighter slot, so a
//! flood of half-open logins is bounded too.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use vigil_core::IdentityKey;

/// Connections in login past the session cap that are still accepted: room
/// for clients to log in while the gateway is full, and to be told why.
pub const LOGIN_MARGIN: usize = 64;

/// Why a session was refused a slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CapExceeded {
    /// `max_connections` sessions are open.
    Global(u32),
    /// This principal holds `max_connections_per_principal` sessions.
    Principal(u32),
}

impl CapExceeded {
    /// What the client is told (no other principal's name, no count of theirs).
    pub fn message(&self) -> String {
        match self {
            CapExceeded::Global(n) => {
                format!("vigil: too many connections (the gateway's limit of {n} is reached)")
            }
            CapExceeded::Principal(n) => {
                format!("vigil: too many connections for this identity (limit {n})")
            }
        }
    }
}

pub struct Caps {
    max_sessions: u32,
    max_per_principal: u32,
    /// TCP connections being served (logging in or in a session).
    open: AtomicUsize,
    sessions: Mutex<Sessions>,
}

#[derive(Default)]
struct Sessions {
    total: u32,
    per_principal: HashMap<IdentityKey, u32>,
}

impl Caps {
    pub fn new(max_sessions: u32, max_per_principal: u32) -> Arc<Self> {
        Arc::new(Caps {
            max_sessions,
            max_per_principal,
            open: AtomicUsize::new(0),
            sessions: Mutex::new(Sessions::default()),
        })
    }

    /// A slot for a just-accepted connection; `None` when the gateway is
    /// full past [`LOGIN_MARGIN`] (close it without reading a byte).
    pub fn connection(self: &Arc<Self>) -> Option<ConnectionSlot> {
        let limit = usize::try_from(self.max_sessions)
            .unwrap_or(usize::MAX)
            .saturating_add(LOGIN_MARGIN);
        let before = self.open.fetch_add(1, Ordering::AcqRel);
        let slot = ConnectionSlot { caps: self.clone() };
        if before >= limit {
            return None; // the slot's drop gives the count back
        }
        Some(slot)
    }

    /// A session slot for `who`, or why not.
    pub fn session(self: &Arc<Self>, who: &IdentityKey) -> Result<SessionSlot, CapExceeded> {
        let mut s = self.lock();
        if s.total >= self.max_sessions {
            return Err(CapExceeded::Global(self.max_sessions));
        }
        let mine = s.per_principal.get(who).copied().unwrap_or(0);
        if mine >= self.max_per_principal {
            return Err(CapExceeded::Principal(self.max_per_principal));
        }
        s.total += 1;
        s.per_principal.insert(who.clone(), mine + 1);
        Ok(SessionSlot {
            caps: self.clone(),
            who: who.clone(),
        })
    }

    /// Sessions open now, over everyone.
    #[cfg(test)]
    pub fn sessions_open(&self) -> u32 {
        self.lock().total
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Sessions> {
        // The counts stay consistent even if a holder panicked: every
        // change is a single field update.
        self.sessions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Held while a connection is served.
pub struct ConnectionSlot {
    caps: Arc<Caps>,
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        self.caps.open.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Held while a session is open.
pub struct SessionSlot {
    caps: Arc<Caps>,
    who: IdentityKey,
}

impl Drop for SessionSlot {
    fn drop(&mut self) {
        let mut s = self.caps.lock();
        s.total = s.total.saturating_sub(1);
        if let Some(n) = s.per_principal.get_mut(&self.who) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                s.per_principal.remove(&self.who);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn who(subject: &str) -> IdentityKey {
        IdentityKey {
            issuer: "vigil".into(),
            subject: subject.into(),
        }
    }

    #[test]
    fn a_principal_past_its_cap_is_refused_and_others_are_not() {
        let caps = Caps::new(10, 2);
        let a1 = caps.session(&who("a")).ok();
        let a2 = caps.session(&who("a")).ok();
        assert!(a1.is_some() && a2.is_some());
        assert_eq!(
            caps.session(&who("a")).err(),
            Some(CapExceeded::Principal(2))
        );
        let b = caps.session(&who("b"));
        assert!(b.is_ok());
        // Same subject at another issuer is someone else.
        let other = IdentityKey {
            issuer: "https://idp".into(),
            subject: "a".into(),
        };
        assert!(caps.session(&other).is_ok());
        drop(a1);
        assert!(caps.session(&who("a")).is_ok());
    }

    #[test]
    fn the_global_cap_counts_everyone_and_slots_give_back() {
        let caps = Caps::new(2, 5);
        let x = caps.session(&who("x"));
        let y = caps.session(&who("y"));
        assert!(x.is_ok() && y.is_ok());
        assert_eq!(caps.session(&who("z")).err(), Some(CapExceeded::Global(2)));
        drop(x);
        assert_eq!(caps.sessions_open(), 1);
        assert!(caps.session(&who("z")).is_ok());
    }

    #[test]
    fn connections_past_the_margin_are_refused() {
        let caps = Caps::new(1, 1);
        let held: Vec<_> = (0..=LOGIN_MARGIN)
            .filter_map(|_| caps.connection())
            .collect();
        assert_eq!(held.len(), LOGIN_MARGIN + 1);
        assert!(caps.connection().is_none());
        drop(held);
        assert!(caps.connection().is_some());
    }
}
