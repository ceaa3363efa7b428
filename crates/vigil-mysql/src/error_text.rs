//! What a client reads of the target's error messages. A message can echo
//! a value the statement touched (`Duplicate entry 'ann@example.com' for
//! key 'email'`, a failed conversion, an XPath error built from a
//! subquery), so it is a way out for masked data like a row:
//!
//! - with column mask rules, the text is withheld (the code and SQLSTATE
//!   stay): the echo can be in a form no detector knows;
//! - with only content detectors, the text is scanned by them, as a text
//!   value in a row is;
//! - with no masks, it is relayed as the target sent it.

use std::borrow::Cow;

use vigil_mask::{MaskPolicy, Masked, Masker};

use crate::wire::{err_code, err_packet, withheld_err};

/// How the target's error text reaches the client of one session.
#[derive(Clone, Copy)]
pub enum ErrorText<'a> {
    Relay,
    Withhold,
    Detect(&'a Masker),
}

impl<'a> ErrorText<'a> {
    pub fn of(policy: &'a MaskPolicy) -> Self {
        if policy.has_column_rules() {
            ErrorText::Withhold
        } else if let Some(masker) = policy.content() {
            ErrorText::Detect(masker)
        } else {
            ErrorText::Relay
        }
    }

    /// The ERR packet the client gets for the target's `payload`.
    pub fn packet<'p>(self, payload: &'p [u8]) -> Cow<'p, [u8]> {
        match self {
            ErrorText::Relay => Cow::Borrowed(payload),
            ErrorText::Withhold => Cow::Owned(withheld_err(payload)),
            // Not an ERR packet: nothing of the target's words to scan.
            ErrorText::Detect(_) if payload.first() != Some(&0xFF) => Cow::Borrowed(payload),
            ErrorText::Detect(masker) => match masker.scan(message(payload)) {
                None => Cow::Borrowed(payload),
                Some((Masked::Text(text), _)) => {
                    let (code, state) = err_code(payload);
                    Cow::Owned(err_packet(code, &state, &String::from_utf8_lossy(&text)))
                }
                Some((Masked::Null, _)) => Cow::Owned(withheld_err(payload)),
            },
        }
    }
}

/// The message of an ERR packet: after the code, and the `#` and SQLSTATE
/// when present.
fn message(payload: &[u8]) -> &[u8] {
    match payload.get(3) {
        Some(b'#') => payload.get(9..).unwrap_or_default(),
        _ => payload.get(3..).unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigil_mask::{MaskKey, MaskRule, Style};

    fn policy(columns: &[&str], detectors: &[&str]) -> MaskPolicy {
        let columns: Vec<String> = columns.iter().map(|c| c.to_string()).collect();
        let detectors: Vec<String> = detectors.iter().map(|d| d.to_string()).collect();
        let rules = [MaskRule {
            columns: &columns,
            detectors: &detectors,
            style: Style::Redact,
        }];
        MaskPolicy::compile(rules, &MaskKey::new([7; 32])).unwrap()
    }

    fn duplicate() -> Vec<u8> {
        err_packet(
            1062,
            "23000",
            "Duplicate entry 'ann@example.com' for key 'email'",
        )
    }

    #[test]
    fn a_detector_masks_the_value_an_error_echoes() {
        let p = policy(&[], &["email"]);
        let out = ErrorText::of(&p).packet(&duplicate()).into_owned();
        let text = String::from_utf8_lossy(&out);
        assert!(!text.contains("ann@example.com"), "{text}");
        assert!(text.contains("Duplicate entry"), "{text}");
        assert_eq!(err_code(&out), (1062, "23000".to_string()));
    }

    #[test]
    fn column_rules_withhold_and_no_masks_relay() {
        let p = policy(&["t.c"], &[]);
        let out = ErrorText::of(&p).packet(&duplicate()).into_owned();
        assert!(!String::from_utf8_lossy(&out).contains("ann@"));
        assert_eq!(err_code(&out).0, 1062);
        let none = MaskPolicy::default();
        assert_eq!(ErrorText::of(&none).packet(&duplicate()), duplicate());
    }
}
