//! `iban`: ISO 13616 account numbers in upper case, compact
//! (`DE89370400440532013000`) or in the printed groups of four
//! (`DE89 3704 0044 0532 0130 00`). The country must be in the IBAN registry,
//! the length must be that country's, and the ISO 7064 mod-97 check must
//! give 1. Lower-case or irregularly spaced IBANs are not detected.

use super::{Detector, Pattern, Spans, compile, with_pattern, word_bounded};

static RE: Pattern = Pattern::new(|| {
    compile(r"[A-Z]{2}[0-9]{2}(?:[A-Z0-9]{11,30}|(?: [A-Z0-9]{4}){2,8}(?: [A-Z0-9]{1,3})?)")
});

/// IBAN length per country (SWIFT IBAN registry).
const LENGTHS: &[(&[u8; 2], usize)] = &[
    (b"AD", 24),
    (b"AE", 23),
    (b"AL", 28),
    (b"AT", 20),
    (b"AZ", 28),
    (b"BA", 20),
    (b"BE", 16),
    (b"BG", 22),
    (b"BH", 22),
    (b"BI", 27),
    (b"BR", 29),
    (b"BY", 28),
    (b"CH", 21),
    (b"CR", 22),
    (b"CY", 28),
    (b"CZ", 24),
    (b"DE", 22),
    (b"DJ", 27),
    (b"DK", 18),
    (b"DO", 28),
    (b"EE", 20),
    (b"EG", 29),
    (b"ES", 24),
    (b"FI", 18),
    (b"FK", 18),
    (b"FO", 18),
    (b"FR", 27),
    (b"GB", 22),
    (b"GE", 22),
    (b"GI", 23),
    (b"GL", 18),
    (b"GR", 27),
    (b"GT", 28),
    (b"HN", 28),
    (b"HR", 21),
    (b"HU", 28),
    (b"IE", 22),
    (b"IL", 23),
    (b"IQ", 23),
    (b"IS", 26),
    (b"IT", 27),
    (b"JO", 30),
    (b"KW", 30),
    (b"KZ", 20),
    (b"LB", 28),
    (b"LC", 32),
    (b"LI", 21),
    (b"LT", 20),
    (b"LU", 20),
    (b"LV", 21),
    (b"LY", 25),
    (b"MC", 27),
    (b"MD", 24),
    (b"ME", 22),
    (b"MK", 19),
    (b"MN", 20),
    (b"MR", 27),
    (b"MT", 31),
    (b"MU", 30),
    (b"NI", 28),
    (b"NL", 18),
    (b"NO", 15),
    (b"OM", 23),
    (b"PK", 24),
    (b"PL", 28),
    (b"PS", 29),
    (b"PT", 25),
    (b"QA", 29),
    (b"RO", 24),
    (b"RS", 22),
    (b"RU", 33),
    (b"SA", 24),
    (b"SC", 31),
    (b"SD", 18),
    (b"SE", 24),
    (b"SI", 19),
    (b"SK", 24),
    (b"SM", 27),
    (b"SO", 23),
    (b"ST", 25),
    (b"SV", 28),
    (b"TL", 23),
    (b"TN", 24),
    (b"TR", 26),
    (b"UA", 29),
    (b"VA", 22),
    (b"VG", 24),
    (b"XK", 20),
    (b"YE", 30),
];

fn country_length(cc: &[u8]) -> Option<usize> {
    LENGTHS
        .iter()
        .find(|(c, _)| c.as_slice() == cc)
        .map(|&(_, n)| n)
}

pub(super) fn find(text: &[u8], spans: &mut Spans) {
    // Every IBAN starts with two capitals and two digits.
    let start = text.windows(4).any(|w| {
        w[0].is_ascii_uppercase()
            && w[1].is_ascii_uppercase()
            && w[2].is_ascii_digit()
            && w[3].is_ascii_digit()
    });
    if !start {
        return;
    }
    with_pattern(&RE, text, spans, Detector::Iban, |re, spans| {
        for m in re.find_iter(text) {
            if let Some(end) = valid_prefix(text, m.start(), m.end())
                && word_bounded(text, m.start(), end)
            {
                spans.push(m.start(), end, Detector::Iban);
            }
        }
    });
}

/// A printed IBAN may be followed by another group of four (`… 7034 2024`):
/// take exactly the country's length from the candidate and check that.
/// Returns the end of the IBAN in `text`.
fn valid_prefix(text: &[u8], start: usize, end: usize) -> Option<usize> {
    let candidate = text.get(start..end)?;
    let want = country_length(candidate.get(..2)?)?;
    let mut compact = [0u8; 34];
    let mut n = 0;
    let mut stop = None;
    for (i, &b) in candidate.iter().enumerate() {
        if b == b' ' {
            continue;
        }
        *compact.get_mut(n)? = b;
        n += 1;
        if n == want {
            stop = Some(start + i + 1);
            break;
        }
    }
    let stop = stop?;
    // The cut must fall at the end of a group, not inside one.
    if text.get(stop).is_some_and(u8::is_ascii_alphanumeric) {
        return None;
    }
    iban_valid(compact.get(..n)?).then_some(stop)
}

/// The ISO 7064 mod-97-10 check of a compact IBAN (letters upper case):
/// move the first four characters to the end, read letters as 10–35, and the
/// number must be 1 modulo 97. Also checks the shape (country letters, check
/// digits) and that the check digits are 02–98. The registry length is not
/// checked here.
pub fn iban_valid(iban: &[u8]) -> bool {
    if !(5..=34).contains(&iban.len()) {
        return false;
    }
    let (head, tail) = iban.split_at(4);
    let &[c1, c2, d1, d2] = head else {
        return false;
    };
    if !(c1.is_ascii_uppercase()
        && c2.is_ascii_uppercase()
        && d1.is_ascii_digit()
        && d2.is_ascii_digit())
    {
        return false;
    }
    let check = (d1 - b'0') * 10 + (d2 - b'0');
    if !(2..=98).contains(&check) {
        return false;
    }
    let mut rem = 0u32;
    for &b in tail.iter().chain(head) {
        rem = match b {
            b'0'..=b'9' => (rem * 10 + u32::from(b - b'0')) % 97,
            b'A'..=b'Z' => (rem * 100 + u32::from(b - b'A') + 10) % 97,
            _ => return false,
        };
    }
    rem == 1
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{assert_hit, assert_none};
    use super::*;
    use crate::Detector::Iban;

    #[test]
    fn finds_ibans() {
        assert_hit(Iban, "DE89370400440532013000", "DE89370400440532013000");
        assert_hit(
            Iban,
            "iban: DE89 3704 0044 0532 0130 00.",
            "DE89 3704 0044 0532 0130 00",
        );
        assert_hit(
            Iban,
            "GB82 WEST 1234 5698 7654 32",
            "GB82 WEST 1234 5698 7654 32",
        );
        assert_hit(Iban, "GB82WEST12345698765432", "GB82WEST12345698765432");
        assert_hit(Iban, "NO9386011117947", "NO9386011117947");
        assert_hit(
            Iban,
            "FR14 2004 1010 0505 0001 3M02 606",
            "FR14 2004 1010 0505 0001 3M02 606",
        );
        assert_hit(Iban, "BE68 5390 0754 7034 2024", "BE68 5390 0754 7034");
        assert_hit(Iban, "(NL91ABNA0417164300)", "NL91ABNA0417164300");
        assert_hit(
            Iban,
            "MT84MALT011000012345MTLCAST001S",
            "MT84MALT011000012345MTLCAST001S",
        );
    }

    #[test]
    fn ignores_lookalikes() {
        assert_none(Iban, "DE89370400440532013001");
        assert_none(Iban, "DE8937040044053201300");
        assert_none(Iban, "XX89370400440532013000");
        assert_none(Iban, "de89370400440532013000");
        assert_none(Iban, "ID DE89370400440532013000X");
        assert_none(Iban, "GB82 WEST 1234 5698 7654");
        assert_none(Iban, "AB12CDEF34567890123");
        assert_none(Iban, "SKU US12 3456 7890 ABCD");
        assert_none(Iban, "GB00WEST12345698765432");
    }

    #[test]
    fn mod97_known_values() {
        assert!(iban_valid(b"GB82WEST12345698765432"));
        assert!(!iban_valid(b"GB82WEST12345698765433"));
        assert!(!iban_valid(b"gb82WEST12345698765432"));
        assert!(!iban_valid(b"GB8"));
    }
}
