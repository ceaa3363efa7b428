//! The masker: detectors, a style and a key, compiled once and shared by
//! every session (it is `Send + Sync` and holds no mutable state).

use std::fmt;

use aws_lc_rs::hmac;

use crate::Detector;
use crate::detect::{Profile, Spans};
use crate::style::{self, MaskKey, Style};

/// A masked value, as it goes back to the client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Masked {
    Text(Vec<u8>),
    /// SQL NULL.
    Null,
}

/// How many values of each kind a scan replaced: what the ledger records.
/// Never the values themselves.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Hits {
    counts: [u32; Detector::ALL.len()],
}

impl Hits {
    pub fn get(&self, detector: Detector) -> u32 {
        self.counts.get(detector.index()).copied().unwrap_or(0)
    }

    pub fn total(&self) -> u32 {
        self.counts.iter().fold(0u32, |a, &c| a.saturating_add(c))
    }

    /// The detectors that hit, with their counts, in [`Detector::ALL`] order.
    pub fn iter(&self) -> impl Iterator<Item = (Detector, u32)> + '_ {
        Detector::ALL
            .into_iter()
            .zip(self.counts)
            .filter(|&(_, n)| n > 0)
    }

    /// Adds another scan's counts (e.g. to sum a result set).
    pub fn add(&mut self, other: &Hits) {
        for (a, b) in self.counts.iter_mut().zip(other.counts) {
            *a = a.saturating_add(b);
        }
    }

    fn bump(&mut self, detector: Detector) {
        if let Some(c) = self.counts.get_mut(detector.index()) {
            *c = c.saturating_add(1);
        }
    }
}

/// Masks values per one `[[policy.mask]]`: content detectors, a style, and
/// the gateway key for the `hash` style.
#[derive(Clone)]
pub struct Masker {
    /// In [`Detector::PRIORITY`] order, without duplicates.
    detectors: Vec<Detector>,
    style: Style,
    key: hmac::Key,
}

impl fmt::Debug for Masker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Masker")
            .field("detectors", &self.detectors)
            .field("style", &self.style)
            .field("key", &"***")
            .finish()
    }
}

impl Masker {
    pub fn new(detectors: &[Detector], style: Style, key: MaskKey) -> Masker {
        let detectors = Detector::PRIORITY
            .into_iter()
            .filter(|d| detectors.contains(d))
            .collect();
        Masker {
            detectors,
            style,
            key: key.hmac_key(),
        }
    }

    pub fn style(&self) -> Style {
        self.style
    }

    /// The detectors this masker scans for, in the order they run.
    pub fn detectors(&self) -> &[Detector] {
        &self.detectors
    }

    /// Whole-value masking (a column rule): the value becomes the style's
    /// output regardless of content.
    pub fn mask_value(&self, value: &[u8]) -> Masked {
        if self.style == Style::Null {
            return Masked::Null;
        }
        let mut out = Vec::with_capacity(value.len().min(64) + 16);
        style::render(self.style, None, value, &self.key, &mut out);
        Masked::Text(out)
    }

    /// Content scan: every detector hit inside `text` is replaced per the
    /// style. Returns `None` when nothing matched, the common case, without
    /// allocating. With [`Style::Null`] any hit makes the whole value NULL.
    ///
    /// Bytes that are not UTF-8 are scanned as they are (every pattern is
    /// ASCII) and copied through unchanged around the hits.
    pub fn scan(&self, text: &[u8]) -> Option<(Masked, Hits)> {
        if self.detectors.is_empty() {
            return None;
        }
        let profile = Profile::of(text);
        let mut spans = Spans::new();
        for &d in &self.detectors {
            if d.may_match(&profile, text) {
                d.find(text, &mut spans);
            }
        }
        if spans.is_empty() {
            return None;
        }
        let spans = spans.into_sorted();
        let mut hits = Hits::default();
        for s in &spans {
            hits.bump(s.detector);
        }
        if self.style == Style::Null {
            return Some((Masked::Null, hits));
        }
        let mut out = Vec::with_capacity(text.len() + 32 * spans.len());
        let mut at = 0;
        for s in &spans {
            out.extend_from_slice(text.get(at..s.start).unwrap_or_default());
            let value = text.get(s.start..s.end).unwrap_or_default();
            style::render(self.style, Some(s.detector), value, &self.key, &mut out);
            at = s.end;
        }
        out.extend_from_slice(text.get(at..).unwrap_or_default());
        Some((Masked::Text(out), hits))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn masker(detectors: &[Detector], style: Style) -> Masker {
        Masker::new(detectors, style, MaskKey::new([9; 32]))
    }

    fn text(m: Option<(Masked, Hits)>) -> String {
        match m {
            Some((Masked::Text(t), _)) => String::from_utf8(t).unwrap(),
            other => panic!("expected text, got {other:?}"),
        }
    }

    #[test]
    fn is_send_and_sync() {
        fn check<T: Send + Sync + 'static>() {}
        check::<Masker>();
    }

    #[test]
    fn clean_text_is_none() {
        let m = masker(&Detector::ALL, Style::Redact);
        for t in [
            "",
            "The quick brown fox jumps over the lazy dog",
            "order 42 shipped on 2024-01-15 for 19.99 USD",
            "SELECT * FROM customers WHERE id = 7",
            "v1.2.3 build 4521",
        ] {
            assert_eq!(m.scan(t.as_bytes()), None, "{t}");
        }
    }

    #[test]
    fn no_detectors_never_hit() {
        assert_eq!(masker(&[], Style::Redact).scan(b"john@example.com"), None);
    }

    #[test]
    fn only_chosen_detectors_run() {
        let m = masker(&[Detector::CreditCard], Style::Redact);
        assert_eq!(m.scan(b"john@example.com"), None);
        assert_eq!(text(m.scan(b"4111111111111111")), "[REDACTED:credit_card]");
    }

    #[test]
    fn redact_replaces_each_hit_in_place() {
        let m = masker(&Detector::ALL, Style::Redact);
        let (out, hits) = m
            .scan(b"mail john@example.com or jane@example.org, card 4111 1111 1111 1111.")
            .unwrap();
        assert_eq!(
            out,
            Masked::Text(
                b"mail [REDACTED:email] or [REDACTED:email], card [REDACTED:credit_card].".to_vec()
            )
        );
        assert_eq!(hits.get(Detector::Email), 2);
        assert_eq!(hits.get(Detector::CreditCard), 1);
        assert_eq!(hits.total(), 3);
        assert_eq!(
            hits.iter().collect::<Vec<_>>(),
            vec![(Detector::Email, 2), (Detector::CreditCard, 1)]
        );
    }

    #[test]
    fn partial_keeps_last_four() {
        let m = masker(&Detector::ALL, Style::Partial);
        assert_eq!(text(m.scan(b"ssn 123-45-6789")), "ssn *******6789");
        assert_eq!(
            text(m.scan(b"to: john@example.com")),
            "to: ************.com"
        );
    }

    #[test]
    fn hash_is_stable_and_joins_with_column_masking() {
        let m = masker(&Detector::ALL, Style::Hash);
        let a = text(m.scan(b"john@example.com"));
        assert_eq!(a, text(m.scan(b"john@example.com")));
        assert_eq!(
            Masked::Text(a.clone().into_bytes()),
            m.mask_value(b"john@example.com")
        );
        assert!(a.starts_with("hmac:"));
        let other = Masker::new(&Detector::ALL, Style::Hash, MaskKey::new([10; 32]));
        assert_ne!(a, text(other.scan(b"john@example.com")));
    }

    #[test]
    fn null_turns_the_whole_value_null() {
        let m = masker(&Detector::ALL, Style::Null);
        let (out, hits) = m.scan(b"reach me at john@example.com").unwrap();
        assert_eq!(out, Masked::Null);
        assert_eq!(hits.get(Detector::Email), 1);
        assert_eq!(m.scan(b"nothing here"), None);
        assert_eq!(m.mask_value(b"anything"), Masked::Null);
    }

    #[test]
    fn mask_value_ignores_content() {
        let key = MaskKey::new([1; 32]);
        let redact = Masker::new(&[], Style::Redact, key.clone());
        assert_eq!(
            redact.mask_value(b"plain"),
            Masked::Text(b"[REDACTED]".to_vec())
        );
        let partial = Masker::new(&[], Style::Partial, key);
        assert_eq!(
            partial.mask_value(b"plain words"),
            Masked::Text(b"*******ords".to_vec())
        );
    }

    #[test]
    fn non_utf8_is_scanned_as_bytes() {
        let m = masker(&Detector::ALL, Style::Redact);
        let (out, _) = m.scan(b"\xff\xfe john@example.com \xc3").unwrap();
        assert_eq!(
            out,
            Masked::Text(b"\xff\xfe [REDACTED:email] \xc3".to_vec())
        );
        assert_eq!(m.scan(b"\xff\xfe\xfd plain \x80"), None);
    }

    #[test]
    fn specific_detectors_win_overlaps() {
        let m = masker(&Detector::ALL, Style::Redact);
        let pem = "-----BEGIN PRIVATE KEY-----\nsecret=abcdefgh12345678 john@example.com\n-----END PRIVATE KEY-----";
        let (out, hits) = m.scan(pem.as_bytes()).unwrap();
        assert_eq!(out, Masked::Text(b"[REDACTED:pem_private_key]".to_vec()));
        assert_eq!(hits.total(), 1);
    }

    #[test]
    fn debug_hides_the_key() {
        let d = format!("{:?}", masker(&[Detector::Email], Style::Hash));
        assert!(d.contains("***") && d.contains("Email"), "{d}");
    }
}
