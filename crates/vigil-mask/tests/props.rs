//! Property tests: the scan never panics, a detected value never survives
//! masking, and the checksum validators agree with reference implementations.
// Test helpers outside `#[test]` functions: a failed unwrap is a test failure.
#![allow(clippy::unwrap_used)]

use std::net::{Ipv4Addr, Ipv6Addr};

use proptest::prelude::*;
use vigil_mask::{Detector, MaskKey, Masked, Masker, Style, iban_valid, luhn_valid};

const STYLES: [Style; 4] = [Style::Redact, Style::Partial, Style::Hash, Style::Null];

fn maskers() -> Vec<Masker> {
    STYLES
        .iter()
        .map(|&s| Masker::new(&Detector::ALL, s, MaskKey::new([0x5a; 32])))
        .collect()
}

// ---------- reference validators ----------

/// Luhn as usually written: double every second digit from the right by
/// parity of the length, and sum the digits of the products.
fn luhn_reference(s: &str) -> bool {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    let parity = s.len() % 2;
    let mut sum = 0u64;
    for (i, c) in s.chars().enumerate() {
        let mut d = u64::from(c.to_digit(10).unwrap());
        if i % 2 == parity {
            d *= 2;
            d = d / 10 + d % 10;
        }
        sum += d;
    }
    sum.is_multiple_of(10)
}

/// ISO 7064 mod 97-10, piecewise: rearrange, expand letters to two digits,
/// then reduce nine digits at a time as the standard describes.
fn iban_reference(s: &str) -> bool {
    let b = s.as_bytes();
    if !(5..=34).contains(&b.len())
        || !b[..2].iter().all(u8::is_ascii_uppercase)
        || !b[2..4].iter().all(u8::is_ascii_digit)
    {
        return false;
    }
    let check: u32 = s[2..4].parse().unwrap();
    if !(2..=98).contains(&check) {
        return false;
    }
    let mut digits = String::new();
    for c in s[4..].chars().chain(s[..4].chars()) {
        match c {
            '0'..='9' => digits.push(c),
            'A'..='Z' => digits.push_str(&(c as u32 - 'A' as u32 + 10).to_string()),
            _ => return false,
        }
    }
    let mut rem = String::new();
    let mut rest = digits.as_str();
    while !rest.is_empty() {
        let take = (9 - rem.len()).min(rest.len());
        let chunk = format!("{rem}{}", &rest[..take]);
        rest = &rest[take..];
        rem = (chunk.parse::<u64>().unwrap() % 97).to_string();
    }
    rem == "1"
}

fn with_luhn_digit(body: &str) -> String {
    (0..10)
        .map(|d| format!("{body}{d}"))
        .find(|s| luhn_reference(s))
        .unwrap()
}

fn with_iban_check(cc: &str, bban: &str) -> String {
    (2..=98)
        .map(|c| format!("{cc}{c:02}{bban}"))
        .find(|s| iban_reference(s))
        .unwrap()
}

// ---------- generators of valid values ----------

fn card() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        ("4", 16usize),
        ("4", 13),
        ("51", 16),
        ("55", 16),
        ("2221", 16),
        ("34", 15),
        ("37", 15),
        ("6011", 16),
        ("3530", 16),
    ])
    .prop_flat_map(|(prefix, len)| {
        proptest::collection::vec(0u8..10, len - prefix.len() - 1).prop_map(move |ds| {
            let body: String = ds.iter().map(|d| char::from(b'0' + d)).collect();
            with_luhn_digit(&format!("{prefix}{body}"))
        })
    })
    .prop_flat_map(|n| {
        let spaced = n
            .as_bytes()
            .chunks(4)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect::<Vec<_>>()
            .join(" ");
        prop_oneof![Just(n.clone()), Just(spaced)]
    })
}

fn iban() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(("DE", 22usize)),
        Just(("GB", 22)),
        Just(("FR", 27)),
        Just(("NL", 18)),
        Just(("NO", 15)),
        Just(("BE", 16)),
    ]
    .prop_flat_map(|(cc, len)| {
        proptest::string::string_regex(&format!("[0-9A-Z]{{{}}}", len - 4))
            .unwrap()
            .prop_map(move |bban| with_iban_check(cc, &bban))
    })
}

fn ssn() -> impl Strategy<Value = String> {
    (1u32..900, 1u32..100, 1u32..10000)
        .prop_filter("area 666", |(a, _, _)| *a != 666)
        .prop_map(|(a, g, s)| format!("{a:03}-{g:02}-{s:04}"))
}

fn email() -> impl Strategy<Value = String> {
    "[a-z0-9]{1,12}(\\.[a-z0-9_+]{1,8})?@[a-z0-9]{1,10}(\\.[a-z0-9]{1,10})?\\.[a-z]{2,6}"
}

fn phone() -> impl Strategy<Value = String> {
    prop_oneof![
        "\\+[1-9][0-9]{9,13}".boxed(),
        "\\([2-9][0-9]{2}\\) [2-9][0-9]{2}-[0-9]{4}".boxed(),
        "[2-9][0-9]{2}-[2-9][0-9]{2}-[0-9]{4}".boxed(),
        "\\+44 [0-9]{2} [0-9]{4} [0-9]{4}".boxed(),
    ]
}

fn ip() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<[u8; 4]>()
            .prop_map(|o| Ipv4Addr::from(o).to_string())
            .boxed(),
        any::<[u16; 8]>()
            .prop_filter("not ::", |s| s.iter().any(|&x| x != 0))
            .prop_map(|s| Ipv6Addr::from(s).to_string())
            .boxed(),
    ]
}

fn keys() -> impl Strategy<Value = String> {
    prop_oneof![
        "(AKIA|ASIA)[A-Z0-9]{16}".boxed(),
        "sk_live_[A-Za-z0-9]{24}".boxed(),
        "ghp_[A-Za-z0-9]{36}".boxed(),
        "xoxb-[0-9]{12}-[A-Za-z0-9]{16}".boxed(),
        "eyJhbGciOiJIUzI1NiJ9\\.[A-Za-z0-9_-]{8,40}\\.[A-Za-z0-9_-]{0,40}".boxed(),
        "-----BEGIN (RSA |EC )?PRIVATE KEY-----\n[A-Za-z0-9+/=\n]{0,200}\n-----END PRIVATE KEY-----"
            .boxed(),
    ]
}

fn sensitive() -> impl Strategy<Value = String> {
    prop_oneof![card(), iban(), ssn(), email(), phone(), ip(), keys()]
}

/// Prose that no detector reads: lower-case words.
fn filler() -> impl Strategy<Value = String> {
    "([a-z]{1,8} ){0,6}"
}

/// Bytes biased toward what detectors look for, to reach their validators.
fn tricky_bytes() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        any::<u8>().prop_map(|b| vec![b]),
        "[0-9]{1,20}".prop_map(String::into_bytes),
        prop_oneof![
            Just("@"),
            Just("."),
            Just("-"),
            Just(" "),
            Just(":"),
            Just("::"),
            Just("+"),
            Just("("),
            Just(")"),
            Just("="),
            Just("eyJ"),
            Just("AKIA"),
            Just("sk_live_"),
            Just("ssn "),
            Just("secret="),
            Just("-----BEGIN PRIVATE KEY-----"),
            Just("-----END "),
            Just("DE89"),
            Just("\u{fffd}"),
            Just("\u{e9}"),
        ]
        .prop_map(|s| s.as_bytes().to_vec()),
        "[A-Za-z0-9]{1,12}".prop_map(String::into_bytes),
    ];
    proptest::collection::vec(piece, 0..64).prop_map(|v| v.concat())
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn scan_never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..1024)) {
        for m in maskers() {
            let _ = m.scan(&bytes);
            let _ = m.mask_value(&bytes);
        }
    }

    #[test]
    fn scan_never_panics_on_detector_shaped_bytes(bytes in tricky_bytes()) {
        for m in maskers() {
            if let Some((Masked::Text(out), hits)) = m.scan(&bytes) {
                prop_assert!(hits.total() > 0);
                prop_assert_ne!(&out, &bytes);
            }
        }
    }

    #[test]
    fn redaction_markers_match_hit_counts(bytes in tricky_bytes()) {
        let m = Masker::new(&Detector::ALL, Style::Redact, MaskKey::new([1; 32]));
        if let Some((Masked::Text(out), hits)) = m.scan(&bytes) {
            let markers = out.windows(10).filter(|w| w == b"[REDACTED:").count();
            let before = bytes.windows(10).filter(|w| w == b"[REDACTED:").count();
            prop_assert_eq!(markers - before, hits.total() as usize);
        }
    }

    #[test]
    fn detected_value_never_survives_masking(
        value in sensitive(),
        before in filler(),
        after in filler(),
    ) {
        let text = format!("{before} {value} {after}");
        for m in maskers() {
            let Some((out, hits)) = m.scan(text.as_bytes()) else {
                return Err(TestCaseError::fail(format!("{:?} missed {value:?}", m.style())));
            };
            prop_assert!(hits.total() >= 1);
            match out {
                Masked::Null => prop_assert_eq!(m.style(), Style::Null),
                Masked::Text(t) => prop_assert!(
                    !contains(&t, value.as_bytes()),
                    "{:?} leaked {value:?} in {:?}", m.style(), String::from_utf8_lossy(&t)
                ),
            }
        }
    }

    #[test]
    fn luhn_agrees_with_reference(s in "[0-9]{0,25}") {
        prop_assert_eq!(luhn_valid(s.as_bytes()), luhn_reference(&s));
    }

    #[test]
    fn luhn_accepts_generated_numbers(body in "[0-9]{1,24}") {
        let n = with_luhn_digit(&body);
        prop_assert!(luhn_valid(n.as_bytes()));
    }

    #[test]
    fn mod97_agrees_with_reference(s in "[A-Z]{2}[0-9]{2}[A-Z0-9]{1,30}") {
        prop_assert_eq!(iban_valid(s.as_bytes()), iban_reference(&s));
    }

    #[test]
    fn mod97_agrees_on_valid_and_mutated(iban in iban(), at in any::<prop::sample::Index>(), c in "[A-Z0-9]") {
        prop_assert!(iban_valid(iban.as_bytes()));
        let i = at.index(iban.len());
        let mut mutated = iban.clone().into_bytes();
        mutated[i] = c.as_bytes()[0];
        let mutated = String::from_utf8(mutated).unwrap();
        prop_assert_eq!(iban_valid(mutated.as_bytes()), iban_reference(&mutated));
    }
}
