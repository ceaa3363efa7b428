//! The statement ledger event: built here and only here, for every kind of
//! action and every way a decision is reached.

use crate::metrics::VerdictLabel;
use crate::{Guard, GuardError, SessionCtx};
use vigil_core::{ActionKind, EventBody, VerdictKind, VerdictRecord};

/// What the ledger records of one action, whatever its protocol.
pub(crate) struct Recorded<'a> {
    pub text: &'a str,
    pub kind: &'a str,
    pub tables_read: &'a [String],
    pub tables_written: &'a [String],
}

impl<'a> Recorded<'a> {
    pub fn of(action: &'a ActionKind) -> Self {
        match action {
            ActionKind::Sql(f) => Recorded {
                text: &f.text,
                kind: &f.kind,
                tables_read: &f.tables_read,
                tables_written: &f.tables_written,
            },
            ActionKind::Ssh(f) => Recorded {
                text: &f.text,
                kind: f.request.as_str(),
                tables_read: &[],
                tables_written: &[],
            },
            ActionKind::Http(f) => Recorded {
                text: &f.text,
                kind: &f.method,
                tables_read: &[],
                tables_written: &[],
            },
            ActionKind::K8s(f) => Recorded {
                text: &f.text,
                kind: &f.verb,
                tables_read: &[],
                tables_written: &[],
            },
        }
    }

    /// An operation policy never saw: no tables known.
    pub fn bare(text: &'a str, kind: &'a str) -> Self {
        Recorded {
            text,
            kind,
            tables_read: &[],
            tables_written: &[],
        }
    }
}

impl Guard {
    /// Counts the decision under `label` and makes it durable; returns its
    /// ledger `seq`.
    pub(crate) async fn record_statement(
        &self,
        session: &SessionCtx,
        what: Recorded<'_>,
        decision: VerdictRecord,
        label: VerdictKind,
    ) -> Result<i64, GuardError> {
        self.metrics
            .statements
            .get_or_create(&VerdictLabel {
                verdict: label.as_str(),
            })
            .inc();
        let allowed = decision.verdict == VerdictKind::Allow;
        let event = session.event(EventBody::Statement {
            connection: session.connection.name.clone(),
            text: recorded_text(what.text, allowed),
            kind: what.kind.to_string(),
            tables_read: what.tables_read.to_vec(),
            tables_written: what.tables_written.to_vec(),
            decision,
        });
        let appended = self.store.append(event).await.map_err(GuardError::Ledger)?;
        Ok(appended.seq)
    }
}

/// Bytes of a refused statement's text the ledger keeps: a client may send
/// refused statements as large as a protocol message (64 MiB for
/// PostgreSQL) as often as it likes, and none of them ran.
const REFUSED_TEXT_KEPT: usize = 4 * 1024;
/// Bytes of an allowed statement's text the ledger keeps: what ran on the
/// target, whole, unless it is a bulk load past this.
const ALLOWED_TEXT_KEPT: usize = 1024 * 1024;

/// The statement text a ledger event keeps: whole when short, else its
/// first bytes (cut on a character boundary), its length and its SHA-256,
/// so a copy of the full text can still be matched against the record.
fn recorded_text(text: &str, allowed: bool) -> String {
    let keep = if allowed {
        ALLOWED_TEXT_KEPT
    } else {
        REFUSED_TEXT_KEPT
    };
    if text.len() <= keep {
        return text.to_string();
    }
    let mut cut = keep;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, text.as_bytes());
    format!(
        "{}… [vigil: {} bytes, sha256 {}]",
        &text[..cut],
        text.len(),
        hex::encode(digest.as_ref())
    )
}

#[cfg(test)]
mod recorded_text_tests {
    use super::{REFUSED_TEXT_KEPT, recorded_text};

    #[test]
    fn refused_text_past_4_kib_keeps_a_prefix_its_length_and_hash() {
        let short = "SELECT 1";
        assert_eq!(recorded_text(short, false), short);
        // A multi-byte character straddles the cut: the prefix stops before it.
        let long = format!(
            "{}é{}",
            "x".repeat(REFUSED_TEXT_KEPT - 1),
            "y".repeat(1 << 20)
        );
        let kept = recorded_text(&long, false);
        assert!(kept.len() < REFUSED_TEXT_KEPT + 120, "{}", kept.len());
        assert!(kept.starts_with(&"x".repeat(REFUSED_TEXT_KEPT - 1)));
        assert!(kept.contains(&format!("[vigil: {} bytes, sha256 ", long.len())));
        let hex = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, long.as_bytes());
        assert!(kept.contains(&hex::encode(hex.as_ref())));
        // The same text, allowed, is kept whole (under 1 MiB + a bit it is not).
        let allowed = "z".repeat(REFUSED_TEXT_KEPT * 2);
        assert_eq!(recorded_text(&allowed, true), allowed);
    }
}
