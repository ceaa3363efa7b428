//! `phone`: two shapes.
//!
//! * International, starting with `+` and a non-zero country digit: E.164
//!   (`+14155552671`) or grouped with single spaces, dots or dashes and an
//!   optional parenthesised group (`+44 20 7946 0958`, `+1 (415) 555-2671`);
//!   8 to 15 digits in all.
//! * North American national numbers written with separators:
//!   `(415) 555-2671`, `415-555-2671`, `415.555.2671`, `415 555 2671`,
//!   `1-415-555-2671`; area code and exchange start with 2–9.
//!
//! Bare digit strings without `+` (`4155552671`), national forms of other
//! countries without `+` (`020 7946 0958`) and seven-digit local numbers are
//! not detected: they cannot be told apart from order numbers, dates and
//! amounts. A candidate glued to a word or to a longer dotted or dashed
//! number is refused, which keeps IPs, dates and version strings out.

use super::{Detector, Pattern, Spans, compile, left_ok, right_ok, with_pattern};

static INTERNATIONAL: Pattern =
    Pattern::new(|| compile(r"\+[1-9](?:[0-9]|[ .\-]?\([0-9]{1,4}\)[ .\-]?|[ .\-][0-9]){7,19}"));

static NANP: Pattern = Pattern::new(|| {
    compile(r"(?:1[ .\-])?(?:\([2-9][0-9]{2}\) ?|[2-9][0-9]{2}[ .\-])[2-9][0-9]{2}[ .\-][0-9]{4}")
});

pub(super) fn find(text: &[u8], spans: &mut Spans) {
    if memchr::memchr(b'+', text).is_some() {
        international(text, spans);
    }
    if may_be_national(text) {
        national(text, spans);
    }
}

/// A national number ends in a separator and exactly four digits after a
/// digit (`…555-2671`); most text with digits has no such place.
fn may_be_national(text: &[u8]) -> bool {
    memchr::memchr3_iter(b' ', b'.', b'-', text).any(|i| {
        let before = i.checked_sub(1).and_then(|j| text.get(j));
        before.is_some_and(u8::is_ascii_digit)
            && text
                .get(i + 1..i + 5)
                .is_some_and(|s| s.iter().all(u8::is_ascii_digit))
            && !text.get(i + 5).is_some_and(u8::is_ascii_digit)
    })
}

fn international(text: &[u8], spans: &mut Spans) {
    with_pattern(&INTERNATIONAL, text, spans, Detector::Phone, |re, spans| {
        for m in re.find_iter(text) {
            let digits = text
                .get(m.range())
                .map_or(0, |s| s.iter().filter(|b| b.is_ascii_digit()).count());
            if (8..=15).contains(&digits) && left_ok(text, m.start()) && right_ok(text, m.end()) {
                spans.push(m.start(), m.end(), Detector::Phone);
            }
        }
    });
}

fn national(text: &[u8], spans: &mut Spans) {
    with_pattern(&NANP, text, spans, Detector::Phone, |re, spans| {
        for m in re.find_iter(text) {
            // `(415) …`: the opening parenthesis is not a word, so the usual
            // boundary test applies to the byte before it as well.
            if left_ok(text, m.start()) && right_ok(text, m.end()) {
                spans.push(m.start(), m.end(), Detector::Phone);
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{assert_hit, assert_none};
    use crate::Detector::Phone;

    #[test]
    fn finds_numbers() {
        assert_hit(Phone, "call +14155552671 now", "+14155552671");
        assert_hit(Phone, "(415) 555-2671", "(415) 555-2671");
        assert_hit(Phone, "tel 415-555-2671.", "415-555-2671");
        assert_hit(Phone, "+44 20 7946 0958", "+44 20 7946 0958");
        assert_hit(Phone, "415.555.2671", "415.555.2671");
        assert_hit(Phone, "415 555 2671", "415 555 2671");
        assert_hit(Phone, "1-800-555-0199", "1-800-555-0199");
        assert_hit(Phone, "+1 (415) 555-2671 (mobile)", "+1 (415) 555-2671");
        assert_hit(Phone, "+33 1 23 45 67 89", "+33 1 23 45 67 89");
        assert_hit(Phone, "+49-30-901820", "+49-30-901820");
        assert_hit(Phone, "phone:(212)555-0100,", "(212)555-0100");
    }

    #[test]
    fn ignores_other_numbers() {
        assert_none(Phone, "order 4155552671");
        assert_none(Phone, "12345678901234567890");
        assert_none(Phone, "2024-01-15");
        assert_none(Phone, "2024-01-15T10:30:00Z");
        assert_none(Phone, "192.168.100.200");
        assert_none(Phone, "10.415.555.2671");
        assert_none(Phone, "123-456-7890");
        assert_none(Phone, "415-055-2671");
        assert_none(Phone, "555-0100");
        assert_none(Phone, "+123");
        assert_none(Phone, "+1234567890123456789");
        assert_none(Phone, "ISBN 978-3-16-148410-0");
        assert_none(Phone, "v415-555-2671");
        assert_none(Phone, "4111 1111 1111 1111");
    }
}
