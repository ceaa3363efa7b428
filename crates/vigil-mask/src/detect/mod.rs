//! Content detectors. Each one finds candidates (a regex or a hand-written
//! scan over bytes), then confirms them with a validator (a checksum, a
//! parser, a range check) before a span is reported.
//!
//! All patterns are ASCII and run over bytes, so non-UTF-8 input is scanned
//! as is: invalid sequences simply never match, and the bytes around a hit are
//! copied through untouched.

use std::fmt;
use std::str::FromStr;
use std::sync::LazyLock;

use memchr::memmem;
use regex::bytes::{Regex, RegexBuilder};

mod card;
mod email;
mod iban;
mod ip;
mod jwt;
mod keys;
mod pem;
mod phone;
mod ssn;

pub use card::luhn_valid;
pub use iban::iban_valid;

/// A kind of sensitive value the content scan can find. The names
/// ([`Detector::as_str`]) are the ones `[[policy.mask]] detectors` accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Detector {
    Email,
    Phone,
    CreditCard,
    Iban,
    Ssn,
    Ip,
    AwsKey,
    SecretKey,
    Jwt,
    PemPrivateKey,
}

impl Detector {
    /// Every detector, in declaration order.
    pub const ALL: [Detector; 10] = [
        Detector::Email,
        Detector::Phone,
        Detector::CreditCard,
        Detector::Iban,
        Detector::Ssn,
        Detector::Ip,
        Detector::AwsKey,
        Detector::SecretKey,
        Detector::Jwt,
        Detector::PemPrivateKey,
    ];

    /// The order detectors run in: the most specific first, so that a PEM
    /// block is not also read as a list of secrets, a JWT as a key, an IBAN's
    /// digits as a phone number. A later hit overlapping an earlier one is
    /// dropped.
    pub(crate) const PRIORITY: [Detector; 10] = [
        Detector::PemPrivateKey,
        Detector::Jwt,
        Detector::AwsKey,
        Detector::SecretKey,
        Detector::Email,
        Detector::Iban,
        Detector::CreditCard,
        Detector::Ssn,
        Detector::Phone,
        Detector::Ip,
    ];

    /// The configuration name.
    pub fn as_str(self) -> &'static str {
        match self {
            Detector::Email => "email",
            Detector::Phone => "phone",
            Detector::CreditCard => "credit_card",
            Detector::Iban => "iban",
            Detector::Ssn => "ssn",
            Detector::Ip => "ip",
            Detector::AwsKey => "aws_key",
            Detector::SecretKey => "secret_key",
            Detector::Jwt => "jwt",
            Detector::PemPrivateKey => "pem_private_key",
        }
    }

    /// Position in [`Detector::ALL`], used to index per-detector counters.
    pub(crate) fn index(self) -> usize {
        self as usize
    }

    /// A cheap test on the byte profile: `false` means this detector cannot
    /// match anywhere in the text, and its regex is not run.
    pub(crate) fn may_match(self, p: &Profile, text: &[u8]) -> bool {
        match self {
            Detector::Email => p.has(AT) && p.has(DOT),
            Detector::Phone => p.digits >= 8,
            Detector::CreditCard => p.digits >= 13,
            Detector::Iban => p.upper >= 2 && p.digits >= 2 && text.len() >= 15,
            Detector::Ssn => p.digits >= 9,
            Detector::Ip => (p.has(DOT) && p.digits >= 4) || p.has(COLON),
            Detector::AwsKey => p.upper >= 4 && p.upper + p.digits >= 20,
            Detector::SecretKey => p.has(UNDERSCORE | DASH | COLON | EQUALS) && text.len() >= 14,
            Detector::Jwt => p.has(DOT) && JWT_START.find(text).is_some(),
            Detector::PemPrivateKey => p.has(DASH) && PEM_START.find(text).is_some(),
        }
    }

    /// Reports every validated hit of this detector in `text` into `spans`.
    pub(crate) fn find(self, text: &[u8], spans: &mut Spans) {
        match self {
            Detector::Email => email::find(text, spans),
            Detector::Phone => phone::find(text, spans),
            Detector::CreditCard => card::find(text, spans),
            Detector::Iban => iban::find(text, spans),
            Detector::Ssn => ssn::find(text, spans),
            Detector::Ip => ip::find(text, spans),
            Detector::AwsKey => keys::find_aws(text, spans),
            Detector::SecretKey => keys::find_secret(text, spans),
            Detector::Jwt => jwt::find(text, spans),
            Detector::PemPrivateKey => pem::find(text, spans),
        }
    }
}

impl fmt::Display for Detector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Detector {
    type Err = crate::ParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Detector::ALL
            .into_iter()
            .find(|d| d.as_str() == s)
            .ok_or_else(|| crate::ParseError::UnknownDetector(s.to_owned()))
    }
}

/// One confirmed hit: `text[start..end]` is a value of `detector`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Span {
    pub start: usize,
    pub end: usize,
    pub detector: Detector,
}

/// The hits of one scan, kept sorted and non-overlapping. Starts empty
/// without allocating: a clean value never touches the heap.
///
/// Hits usually arrive in ascending order (each pass of a detector walks the
/// text forwards), so they are appended to `pending` and checked against its
/// last entry and, by binary search, against the hits of earlier passes in
/// `done`. When a new pass starts over from the left, `pending` is merged
/// into `done`. Thousands of hits in one value cost `O(n log n)`, not `O(n²)`.
#[derive(Debug, Default)]
pub(crate) struct Spans {
    done: Vec<Span>,
    pending: Vec<Span>,
}

impl Spans {
    pub fn new() -> Self {
        Spans::default()
    }

    /// Records a hit unless it is empty or overlaps one already recorded (an
    /// earlier, more specific detector won). Returns whether it was kept.
    pub fn push(&mut self, start: usize, end: usize, detector: Detector) -> bool {
        if start >= end {
            return false;
        }
        if self.pending.last().is_some_and(|last| start < last.start) {
            self.merge();
        }
        if overlaps(&self.done, start, end) || overlaps(&self.pending, start, end) {
            return false;
        }
        self.pending.push(Span {
            start,
            end,
            detector,
        });
        true
    }

    pub fn is_empty(&self) -> bool {
        self.done.is_empty() && self.pending.is_empty()
    }

    /// The hits in text order.
    pub fn into_sorted(mut self) -> Vec<Span> {
        self.merge();
        self.done
    }

    fn merge(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        if self.done.is_empty() {
            std::mem::swap(&mut self.done, &mut self.pending);
            return;
        }
        let mut merged = Vec::with_capacity(self.done.len() + self.pending.len());
        let (mut a, mut b) = (self.done.iter().peekable(), self.pending.iter().peekable());
        loop {
            let next = match (a.peek(), b.peek()) {
                (Some(x), Some(y)) if x.start <= y.start => a.next(),
                (Some(_), Some(_)) => b.next(),
                (Some(_), None) => a.next(),
                (None, Some(_)) => b.next(),
                (None, None) => break,
            };
            merged.extend(next.copied());
        }
        self.done = merged;
        self.pending.clear();
    }
}

/// Whether `[start, end)` overlaps a span of `sorted` (sorted by start and
/// non-overlapping, hence sorted by end too).
fn overlaps(sorted: &[Span], start: usize, end: usize) -> bool {
    let i = sorted.partition_point(|s| s.end <= start);
    sorted.get(i).is_some_and(|s| s.start < end)
}

// Punctuation the profile records.
pub(crate) const AT: u8 = 1 << 0;
pub(crate) const DOT: u8 = 1 << 1;
pub(crate) const COLON: u8 = 1 << 2;
pub(crate) const DASH: u8 = 1 << 3;
pub(crate) const UNDERSCORE: u8 = 1 << 4;
pub(crate) const EQUALS: u8 = 1 << 5;

/// What one pass over the bytes learns: which punctuation occurs and how
/// many digits and capitals. It decides which detectors run at all.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Profile {
    flags: u8,
    pub digits: usize,
    pub upper: usize,
}

impl Profile {
    pub fn of(text: &[u8]) -> Profile {
        let mut p = Profile::default();
        // Byte-wide counters over chunks that cannot overflow them: the loop
        // is branch-free and the compiler vectorises it.
        for chunk in text.chunks(255) {
            let (mut flags, mut digits, mut upper) = (0u8, 0u8, 0u8);
            for &b in chunk {
                flags |= u8::from(b == b'@')
                    | u8::from(b == b'.') << 1
                    | u8::from(b == b':') << 2
                    | u8::from(b == b'-') << 3
                    | u8::from(b == b'_') << 4
                    | u8::from(b == b'=') << 5;
                digits += u8::from(b.wrapping_sub(b'0') < 10);
                upper += u8::from(b.wrapping_sub(b'A') < 26);
            }
            p.flags |= flags;
            p.digits += usize::from(digits);
            p.upper += usize::from(upper);
        }
        p
    }

    /// Whether any of the punctuation in `mask` occurs.
    pub fn has(&self, mask: u8) -> bool {
        self.flags & mask != 0
    }
}

/// Whether `needle` (lower-case ASCII) occurs in `text`, ignoring ASCII case.
pub(crate) fn contains_ignore_case(text: &[u8], needle: &[u8]) -> bool {
    let Some((&first, rest)) = needle.split_first() else {
        return true;
    };
    memchr::memchr2_iter(first, first.to_ascii_uppercase(), text).any(|i| {
        text.get(i + 1..i + 1 + rest.len())
            .is_some_and(|t| t.eq_ignore_ascii_case(rest))
    })
}

static JWT_START: LazyLock<memmem::Finder<'static>> = LazyLock::new(|| memmem::Finder::new("eyJ"));
static PEM_START: LazyLock<memmem::Finder<'static>> =
    LazyLock::new(|| memmem::Finder::new("-----BEGIN "));

/// Compiles an ASCII, byte-oriented pattern. Patterns are constants and a
/// test compiles each one; should one ever fail, its detector reports the
/// whole value as a hit (fail closed: mask rather than leak).
pub(crate) fn compile(pattern: &str) -> Result<Regex, regex::Error> {
    RegexBuilder::new(pattern)
        .unicode(false)
        .size_limit(1 << 22)
        .build()
}

/// A lazily compiled pattern, shared by every masker in the process.
pub(crate) type Pattern = LazyLock<Result<Regex, regex::Error>>;

/// Runs `f` with the compiled pattern, or reports the whole text when the
/// pattern is unavailable.
pub(crate) fn with_pattern(
    pattern: &Pattern,
    text: &[u8],
    spans: &mut Spans,
    detector: Detector,
    f: impl FnOnce(&Regex, &mut Spans),
) {
    match &**pattern {
        Ok(re) => f(re, spans),
        Err(_) => {
            spans.push(0, text.len(), detector);
        }
    }
}

fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// Whether a numeric value may start at `start`: not glued to a word, and not
/// the tail of a longer dotted or dashed number (`1.2.3.4.5`, `12-34-…`).
pub(crate) fn left_ok(text: &[u8], start: usize) -> bool {
    let Some(prev) = start.checked_sub(1).and_then(|i| text.get(i)) else {
        return true;
    };
    if is_word(*prev) {
        return false;
    }
    if matches!(prev, b'.' | b'-' | b'+') {
        let before = start.checked_sub(2).and_then(|i| text.get(i));
        return !before.is_some_and(u8::is_ascii_digit);
    }
    true
}

/// Whether a numeric value may end at `end` (exclusive): the mirror of
/// [`left_ok`].
pub(crate) fn right_ok(text: &[u8], end: usize) -> bool {
    let Some(next) = text.get(end) else {
        return true;
    };
    if is_word(*next) {
        return false;
    }
    if matches!(next, b'.' | b'-') {
        return !text.get(end + 1).is_some_and(u8::is_ascii_digit);
    }
    true
}

/// Whether `text[start..end]` stands alone as a token: no word byte on
/// either side.
pub(crate) fn word_bounded(text: &[u8], start: usize, end: usize) -> bool {
    let before = start.checked_sub(1).and_then(|i| text.get(i));
    !before.copied().is_some_and(is_word) && !text.get(end).copied().is_some_and(is_word)
}

#[cfg(test)]
pub(crate) mod testutil {
    use super::{Detector, Spans};

    /// The substrings `detector` reports in `text`.
    pub fn hits(detector: Detector, text: &str) -> Vec<String> {
        let mut spans = Spans::new();
        detector.find(text.as_bytes(), &mut spans);
        spans
            .into_sorted()
            .into_iter()
            .map(|s| text[s.start..s.end].to_owned())
            .collect()
    }

    /// Asserts that `text` holds exactly `expected` as its one hit.
    pub fn assert_hit(detector: Detector, text: &str, expected: &str) {
        assert_eq!(
            hits(detector, text),
            vec![expected.to_owned()],
            "{detector} in {text:?}"
        );
    }

    pub fn assert_none(detector: Detector, text: &str) {
        assert_eq!(
            hits(detector, text),
            Vec::<String>::new(),
            "{detector} in {text:?}"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for d in Detector::ALL {
            assert_eq!(d.as_str().parse::<Detector>().unwrap(), d);
            assert_eq!(Detector::ALL[d.index()], d);
        }
        assert!("Email".parse::<Detector>().is_err());
        assert!("creditcard".parse::<Detector>().is_err());
    }

    #[test]
    fn every_pattern_compiles() {
        // A pattern that failed to compile would make its detector report
        // every value whole (fail closed); make sure none does.
        for d in Detector::ALL {
            let mut spans = Spans::new();
            d.find(b"plain words only", &mut spans);
            assert!(spans.is_empty(), "{d} failed closed");
        }
    }

    #[test]
    fn priority_lists_every_detector_once() {
        let mut p = Detector::PRIORITY.to_vec();
        p.sort();
        assert_eq!(p, Detector::ALL.to_vec());
    }

    #[test]
    fn profile_counts() {
        let p = Profile::of(b"AB12 x@y.z");
        assert_eq!((p.digits, p.upper), (2, 2));
        assert!(p.has(AT) && p.has(DOT) && !p.has(COLON));
        let long = "9Z".repeat(1000);
        let p = Profile::of(long.as_bytes());
        assert_eq!((p.digits, p.upper), (1000, 1000));
    }

    #[test]
    fn case_insensitive_contains() {
        assert!(contains_ignore_case(b"my SSN is", b"ssn"));
        assert!(contains_ignore_case(b"Social", b"social"));
        assert!(!contains_ignore_case(b"ss", b"ssn"));
        assert!(!contains_ignore_case(b"", b"ssn"));
    }

    #[test]
    fn numeric_boundaries() {
        let t = b"1.2.3.4.5";
        assert!(!right_ok(t, 7));
        assert!(!left_ok(t, 2));
        assert!(left_ok(b"x 12", 2));
        assert!(!left_ok(b"x12", 1));
        assert!(right_ok(b"12. ", 2));
    }

    #[test]
    fn spans_drop_overlaps() {
        let mut s = Spans::new();
        assert!(s.push(5, 10, Detector::Email));
        assert!(!s.push(8, 12, Detector::Phone));
        assert!(s.push(10, 12, Detector::Phone));
        assert!(!s.push(3, 3, Detector::Phone));
        // A second pass starting over from the left.
        assert!(s.push(0, 2, Detector::Ip));
        assert!(!s.push(4, 6, Detector::Ip));
        assert!(s.push(20, 30, Detector::Ip));
        assert!(!s.push(11, 21, Detector::Ssn));
        assert!(s.push(2, 5, Detector::Ssn));
        let got: Vec<_> = s.into_sorted().iter().map(|s| (s.start, s.end)).collect();
        assert_eq!(got, vec![(0, 2), (2, 5), (5, 10), (10, 12), (20, 30)]);
    }
}
