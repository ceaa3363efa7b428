//! `credit_card`: 13 to 19 digits, contiguous or in groups of 3 to 6 (the
//! last may be shorter) joined by one kind of separator (single spaces or single dashes), that pass the
//! Luhn check and start with the IIN prefix of a major network (Visa,
//! Mastercard, American Express, Discover, JCB, Diners Club, UnionPay,
//! Maestro, Mir) at a length that network issues.
//!
//! Inside a longer run of digit groups (`12 4111 1111 1111 1111 99`), every
//! window of whole groups is tried, so a card is found among its neighbours.
//! A contiguous run longer than 19 digits is a plain number, not a card, and
//! digits after `+` are a phone number.

use super::{Detector, Spans, left_ok, right_ok};

/// A run is examined this many groups at a time (bounds the windows tried on
/// hostile input such as `1 1 1 1 …`); consecutive chunks overlap.
const MAX_GROUPS: usize = 16;

pub(super) fn find(text: &[u8], spans: &mut Spans) {
    let mut i = 0;
    while i < text.len() {
        if !text.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
            continue;
        }
        i = scan_run(text, i, spans);
    }
}

/// Collects the run of digit groups starting at `start` (same separator
/// throughout) and reports the cards in it. Returns where scanning resumes.
fn scan_run(text: &[u8], start: usize, spans: &mut Spans) -> usize {
    let mut groups: [(usize, usize); MAX_GROUPS] = [(0, 0); MAX_GROUPS];
    let mut n = 0;
    let mut sep: Option<u8> = None;
    let mut pos = start;
    loop {
        let g_start = pos;
        while text.get(pos).is_some_and(u8::is_ascii_digit) {
            pos += 1;
        }
        groups[n] = (g_start, pos);
        n += 1;
        if n == MAX_GROUPS {
            break;
        }
        match (text.get(pos), text.get(pos + 1)) {
            (Some(&s @ (b' ' | b'-')), Some(d))
                if d.is_ascii_digit() && sep.is_none_or(|x| x == s) =>
            {
                sep = Some(s);
                pos += 1;
            }
            _ => break,
        }
    }
    let groups = &groups[..n];
    let mut first = 0;
    'outer: while first < groups.len() {
        // Longest window first: a 16-digit card beats its 13-digit prefix.
        for last in (first..groups.len()).rev() {
            if let Some((s, e)) = window(text, &groups[first..=last])
                && left_ok(text, s)
                && !(s > 0 && text.get(s - 1) == Some(&b'+'))
                && right_ok(text, e)
            {
                spans.push(s, e, Detector::CreditCard);
                first = last + 1;
                continue 'outer;
            }
        }
        first += 1;
    }
    if n == MAX_GROUPS {
        // The run goes on: resume at a group early enough that any card
        // crossing the cut (at most six groups) is seen whole.
        return groups[n - 6].0;
    }
    pos.max(start + 1)
}

/// The byte range of `groups` when they spell a valid card number.
fn window(text: &[u8], groups: &[(usize, usize)]) -> Option<(usize, usize)> {
    let (first, last) = (groups.first()?, groups.last()?);
    let grouped = groups.len() > 1;
    let mut digits = [0u8; 19];
    let mut n = 0;
    for (i, &(s, e)) in groups.iter().enumerate() {
        // Printed groups are 3–6 digits (4-4-4-4, 4-6-5, 4-3-3-3); the last
        // may be shorter (`4000 0000 0000 6`).
        let min = if i + 1 == groups.len() { 1 } else { 3 };
        if grouped && !(min..=6).contains(&(e - s)) {
            return None;
        }
        for &b in text.get(s..e)? {
            *digits.get_mut(n)? = b - b'0';
            n += 1;
        }
    }
    let digits = &digits[..n];
    (n >= 13 && known_prefix(digits) && luhn_digits(digits)).then_some((first.0, last.1))
}

/// Whether the number starts with the IIN of a major network and has a
/// length that network uses.
fn known_prefix(d: &[u8]) -> bool {
    let prefix = |k: usize| d.iter().take(k).fold(0u32, |a, &x| a * 10 + u32::from(x));
    let len = d.len();
    let (p1, p2, p3, p4, p6) = (prefix(1), prefix(2), prefix(3), prefix(4), prefix(6));
    match p1 {
        // Visa
        4 => matches!(len, 13 | 16 | 19),
        // Mastercard (51–55, 2221–2720), Mir (2200–2204)
        2 => len == 16 && ((2221..=2720).contains(&p4) || (2200..=2204).contains(&p4)),
        5 => {
            (len == 16 && (51..=55).contains(&p2))
                // Maestro
                || ((12..=19).contains(&len) && matches!(p2, 50 | 56..=59))
        }
        // Amex 34/37 (15), Diners 300–305/36/38/39 (14–19), JCB 3528–3589 (16–19)
        3 => {
            (len == 15 && matches!(p2, 34 | 37))
                || ((14..=19).contains(&len)
                    && ((300..=305).contains(&p3) || matches!(p2, 36 | 38 | 39)))
                || ((16..=19).contains(&len) && (3528..=3589).contains(&p4))
        }
        // Discover 6011/644–649/65/622126–622925, UnionPay 62, Maestro 6x
        6 => {
            (16..=19).contains(&len)
                && (p4 == 6011
                    || (644..=649).contains(&p3)
                    || p2 == 65
                    || (622_126..=622_925).contains(&p6)
                    || p2 == 62
                    || matches!(p2, 60 | 63 | 67 | 68 | 69))
        }
        _ => false,
    }
}

/// Luhn over digit values (0–9); the last one is the check digit.
fn luhn(digits: impl DoubleEndedIterator<Item = u8>) -> bool {
    let mut sum = 0u32;
    for (i, x) in digits.rev().enumerate() {
        let x = u32::from(x);
        let v = if i % 2 == 1 {
            let y = x * 2;
            if y > 9 { y - 9 } else { y }
        } else {
            x
        };
        sum = (sum + v) % 10;
    }
    sum == 0
}

fn luhn_digits(d: &[u8]) -> bool {
    luhn(d.iter().copied())
}

/// The Luhn (mod 10) check over ASCII digits; `false` for anything else or
/// for an empty input.
pub fn luhn_valid(digits: &[u8]) -> bool {
    !digits.is_empty()
        && digits.iter().all(u8::is_ascii_digit)
        && luhn(digits.iter().map(|b| b - b'0'))
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{assert_hit, assert_none, hits};
    use super::*;
    use crate::Detector::CreditCard;

    #[test]
    fn finds_cards() {
        assert_hit(CreditCard, "4111111111111111", "4111111111111111");
        assert_hit(
            CreditCard,
            "card 4111 1111 1111 1111 exp 12/29",
            "4111 1111 1111 1111",
        );
        assert_hit(CreditCard, "5500-0000-0000-0004", "5500-0000-0000-0004");
        assert_hit(CreditCard, "amex 3782 822463 10005.", "3782 822463 10005");
        assert_hit(CreditCard, "6011111111111117", "6011111111111117");
        assert_hit(CreditCard, "3530111333300000", "3530111333300000");
        assert_hit(CreditCard, "visa13 4222222222222", "4222222222222");
        assert_hit(CreditCard, "4000 0000 0000 6", "4000 0000 0000 6");
        assert_hit(CreditCard, "2221000000000009", "2221000000000009");
        assert_hit(CreditCard, "30569309025904", "30569309025904");
        assert_hit(
            CreditCard,
            "ids 12 4111 1111 1111 1111 99",
            "4111 1111 1111 1111",
        );
        assert_eq!(
            hits(CreditCard, "4111111111111111,5555555555554444").len(),
            2
        );
    }

    #[test]
    fn ignores_other_numbers() {
        assert_none(CreditCard, "4111111111111112");
        assert_none(CreditCard, "411111111111");
        assert_none(CreditCard, "41111111111111111111");
        assert_none(CreditCard, "1234567812345670");
        assert_none(CreditCard, "1700000000000");
        assert_none(CreditCard, "ID4111111111111111X");
        assert_none(CreditCard, "+14155552671");
        assert_none(CreditCard, "+4111111111111111");
        assert_none(CreditCard, "4111 1111-1111 1111");
        assert_none(CreditCard, "4 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1");
        assert_none(CreditCard, "0000000000000000");
        assert_none(CreditCard, "10.4111111111111111");
    }

    #[test]
    fn luhn_known_values() {
        assert!(luhn_valid(b"79927398713"));
        assert!(!luhn_valid(b"79927398710"));
        assert!(!luhn_valid(b""));
        assert!(!luhn_valid(b"7992739871x"));
    }
}
