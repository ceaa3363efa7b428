//! Masking styles: what a detected (or column-masked) value becomes.

use std::fmt;
use std::str::FromStr;

use aws_lc_rs::hmac;

use crate::Detector;

/// How a masked value is rendered. Names are the `style` values of
/// `[[policy.mask]]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Style {
    /// A fixed marker naming the type: `[REDACTED:email]`, or `[REDACTED]`
    /// for a whole-column rule.
    Redact,
    /// `*` for every character but the last four (`************2671`);
    /// values shorter than [`PARTIAL_MIN_CHARS`] are masked completely, and
    /// at most [`PARTIAL_MAX_STARS`] stars are written, so a long value's
    /// length is not kept.
    Partial,
    /// `hmac:` and the first 16 bytes of HMAC-SHA256(gateway key, value) in
    /// lower-case hex. Stable per key, so joins and group-bys on masked
    /// values still work; unlinkable across keys.
    Hash,
    /// The value becomes SQL NULL.
    Null,
}

/// Values with fewer characters than this are masked completely by
/// [`Style::Partial`]: revealing four of six characters would not hide them.
pub const PARTIAL_MIN_CHARS: usize = 8;
/// The most stars [`Style::Partial`] writes.
pub const PARTIAL_MAX_STARS: usize = 28;
/// Prefix of [`Style::Hash`] output.
pub const HASH_PREFIX: &str = "hmac:";
/// Bytes of the HMAC kept by [`Style::Hash`].
pub const HASH_BYTES: usize = 16;

impl Style {
    pub fn as_str(self) -> &'static str {
        match self {
            Style::Redact => "redact",
            Style::Partial => "partial",
            Style::Hash => "hash",
            Style::Null => "null",
        }
    }
}

impl fmt::Display for Style {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Style {
    type Err = crate::ParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "redact" => Ok(Style::Redact),
            "partial" => Ok(Style::Partial),
            "hash" => Ok(Style::Hash),
            "null" => Ok(Style::Null),
            _ => Err(crate::ParseError::UnknownStyle(s.to_owned())),
        }
    }
}

/// The gateway's 32-byte HMAC key for [`Style::Hash`]. Its `Debug` never
/// shows the bytes.
#[derive(Clone)]
pub struct MaskKey([u8; 32]);

impl MaskKey {
    pub fn new(bytes: [u8; 32]) -> Self {
        MaskKey(bytes)
    }

    pub(crate) fn hmac_key(&self) -> hmac::Key {
        hmac::Key::new(hmac::HMAC_SHA256, &self.0)
    }
}

impl fmt::Debug for MaskKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MaskKey(***)")
    }
}

/// Appends the masked form of `value` to `out`. `detector` names the type
/// for [`Style::Redact`]; `None` for a whole-column rule. [`Style::Null`] has
/// no text form and writes nothing (the caller returns `Masked::Null`).
pub(crate) fn render(
    style: Style,
    detector: Option<Detector>,
    value: &[u8],
    key: &hmac::Key,
    out: &mut Vec<u8>,
) {
    match style {
        Style::Redact => {
            out.extend_from_slice(b"[REDACTED");
            if let Some(d) = detector {
                out.push(b':');
                out.extend_from_slice(d.as_str().as_bytes());
            }
            out.push(b']');
        }
        Style::Partial => partial(value, out),
        Style::Hash => {
            let tag = hmac::sign(key, value);
            out.extend_from_slice(HASH_PREFIX.as_bytes());
            for &b in tag.as_ref().iter().take(HASH_BYTES) {
                out.push(HEX[usize::from(b >> 4)]);
                out.push(HEX[usize::from(b & 0x0f)]);
            }
        }
        Style::Null => {}
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Stars for all but the last four characters (UTF-8 aware; invalid UTF-8
/// counts bytes).
fn partial(value: &[u8], out: &mut Vec<u8>) {
    let (chars, tail_start) = match std::str::from_utf8(value) {
        Ok(s) => {
            let chars = s.chars().count();
            let tail = s.char_indices().rev().nth(3).map_or(0, |(i, _)| i);
            (chars, tail)
        }
        Err(_) => (value.len(), value.len().saturating_sub(4)),
    };
    if chars < PARTIAL_MIN_CHARS {
        out.extend(std::iter::repeat_n(b'*', chars));
        return;
    }
    out.extend(std::iter::repeat_n(
        b'*',
        (chars - 4).min(PARTIAL_MAX_STARS),
    ));
    out.extend_from_slice(value.get(tail_start..).unwrap_or_default());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(b: u8) -> hmac::Key {
        MaskKey::new([b; 32]).hmac_key()
    }

    fn show(style: Style, d: Option<Detector>, v: &str) -> String {
        let mut out = Vec::new();
        render(style, d, v.as_bytes(), &key(1), &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn names_round_trip() {
        for s in [Style::Redact, Style::Partial, Style::Hash, Style::Null] {
            assert_eq!(s.as_str().parse::<Style>().unwrap(), s);
        }
        assert!("mask".parse::<Style>().is_err());
        assert!("Redact".parse::<Style>().is_err());
    }

    #[test]
    fn redact_names_the_type() {
        assert_eq!(
            show(Style::Redact, Some(Detector::Email), "a@b.co"),
            "[REDACTED:email]"
        );
        assert_eq!(
            show(Style::Redact, Some(Detector::PemPrivateKey), "x"),
            "[REDACTED:pem_private_key]"
        );
        assert_eq!(show(Style::Redact, None, "anything"), "[REDACTED]");
    }

    #[test]
    fn partial_keeps_last_four_only() {
        assert_eq!(show(Style::Partial, None, "415-555-2671"), "********2671");
        assert_eq!(
            show(Style::Partial, None, "john@example.com"),
            "************.com"
        );
        assert_eq!(show(Style::Partial, None, "1234567"), "*******");
        assert_eq!(show(Style::Partial, None, "ab"), "**");
        assert_eq!(show(Style::Partial, None, ""), "");
        assert_eq!(show(Style::Partial, None, "ünïcödé-wert"), "********wert");
        assert_eq!(
            show(Style::Partial, None, "Grüße aus Köln"),
            "**********Köln"
        );
        let long = "x".repeat(100) + "tail";
        assert_eq!(
            show(Style::Partial, None, &long),
            "*".repeat(PARTIAL_MAX_STARS) + "tail"
        );
    }

    #[test]
    fn partial_of_invalid_utf8_counts_bytes() {
        let mut out = Vec::new();
        render(
            Style::Partial,
            None,
            b"\xff\xfe\xfd\xfc\xfb\xfaabcd",
            &key(1),
            &mut out,
        );
        assert_eq!(out, b"******abcd");
    }

    #[test]
    fn hash_is_keyed_and_stable() {
        let a = show(Style::Hash, None, "john@example.com");
        assert_eq!(
            a,
            show(Style::Hash, Some(Detector::Email), "john@example.com")
        );
        assert!(a.starts_with(HASH_PREFIX));
        assert_eq!(a.len(), HASH_PREFIX.len() + 2 * HASH_BYTES);
        assert_ne!(a, show(Style::Hash, None, "jane@example.com"));
        let mut other = Vec::new();
        render(Style::Hash, None, b"john@example.com", &key(2), &mut other);
        assert_ne!(a.as_bytes(), other.as_slice());
    }

    #[test]
    fn hash_matches_reference_hmac() {
        // RFC 4231 test case 2, truncated to 16 bytes.
        let k = hmac::Key::new(hmac::HMAC_SHA256, b"Jefe");
        let mut out = Vec::new();
        render(
            Style::Hash,
            None,
            b"what do ya want for nothing?",
            &k,
            &mut out,
        );
        assert_eq!(out, b"hmac:5bdcc146bf60754e6a042426089575c7");
    }

    #[test]
    fn key_debug_hides_bytes() {
        assert_eq!(format!("{:?}", MaskKey::new([7; 32])), "MaskKey(***)");
    }
}
