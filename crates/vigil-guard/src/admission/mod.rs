//! Who may start logging in, and who may hold a session: connection caps
//! (all clients, and each principal) and a per-source budget of failed
//! logins. Kept apart from the login flow so the flow reads as steps and
//! these limits can be tested without a socket.

mod accept;
mod caps;
mod failures;

pub use accept::accept_until_shutdown;
pub use caps::{CapExceeded, Caps, ConnectionSlot, LOGIN_MARGIN, SessionSlot};
pub use failures::{FailedLogins, SourceCheck};

/// The limits of `[server]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AdmissionConfig {
    /// Sessions open at once over every client.
    pub max_connections: u32,
    /// Sessions one principal (issuer and subject) may hold at once.
    pub max_connections_per_principal: u32,
    /// Failed logins per source address per minute (a token bucket).
    pub login_failures_per_minute: u32,
}

impl Default for AdmissionConfig {
    fn default() -> Self {
        AdmissionConfig {
            max_connections: 1000,
            max_connections_per_principal: 50,
            login_failures_per_minute: 10,
        }
    }
}

/// Longest client-chosen string (user, database, application name) a log
/// line, an error or a ledger event repeats.
pub const MAX_RECORDED_STRING: usize = 256;

/// `s`, cut to [`MAX_RECORDED_STRING`] bytes on a character boundary, with
/// an ellipsis when it was cut.
pub fn capped(s: &str) -> String {
    if s.len() <= MAX_RECORDED_STRING {
        return s.to_string();
    }
    let mut cut = MAX_RECORDED_STRING;
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}…", &s[..cut])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recorded_strings_are_cut_on_a_character_boundary() {
        assert_eq!(capped("shop"), "shop");
        let long = format!(
            "{}é{}",
            "a".repeat(MAX_RECORDED_STRING - 1),
            "b".repeat(10_000)
        );
        let cut = capped(&long);
        assert_eq!(cut, format!("{}…", "a".repeat(MAX_RECORDED_STRING - 1)));
    }
}
