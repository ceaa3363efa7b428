//! `ssn`: US Social Security numbers.
//!
//! * `AAA-GG-SSSS` anywhere, standing alone (not glued to a word or to a
//!   longer dashed number).
//! * Nine bare digits (`123456789`) or `AAA GG SSSS` only right after a
//!   label: `SSN`, `SSN#`, `social security`, `social security number` or
//!   `social security no` (any case, up to eight bytes of punctuation or
//!   space between label and number). Without a label, nine digits are as
//!   likely a ZIP+4, an order or a routing number; a column that holds SSNs
//!   should be masked by a column rule instead.
//!
//! Area 000, 666 and 900–999, group 00 and serial 0000 are never issued and
//! are not reported.

use super::{
    Detector, Pattern, Spans, compile, contains_ignore_case, left_ok, right_ok, with_pattern,
};

static LABELLED: Pattern = Pattern::new(|| {
    compile(
        r"(?i)\b(?:ssn|social[ _\-]?security(?:[ _\-]?(?:number|no))?)#?[^0-9A-Za-z]{0,8}([0-9]{9}|[0-9]{3} [0-9]{2} [0-9]{4})",
    )
});

pub(super) fn find(text: &[u8], spans: &mut Spans) {
    if memchr::memchr(b'-', text).is_some() {
        dashed(text, spans);
    }
    if contains_ignore_case(text, b"ssn") || contains_ignore_case(text, b"social") {
        labelled(text, spans);
    }
}

/// `AAA-GG-SSSS`, found from its first dash (faster than a regex without a
/// literal to search for).
fn dashed(text: &[u8], spans: &mut Spans) {
    let digits = |from: usize, n: usize| {
        text.get(from..from + n)
            .is_some_and(|s| s.iter().all(u8::is_ascii_digit))
    };
    for dash in memchr::memchr_iter(b'-', text) {
        let Some(start) = dash.checked_sub(3) else {
            continue;
        };
        let end = start + 11;
        let shaped = digits(start, 3)
            && digits(dash + 1, 2)
            && text.get(dash + 3) == Some(&b'-')
            && digits(dash + 4, 4);
        if shaped && left_ok(text, start) && right_ok(text, end) && issued(text.get(start..end)) {
            spans.push(start, end, Detector::Ssn);
        }
    }
}

fn labelled(text: &[u8], spans: &mut Spans) {
    with_pattern(&LABELLED, text, spans, Detector::Ssn, |re, spans| {
        for caps in re.captures_iter(text) {
            if let Some(m) = caps.get(1)
                && right_ok(text, m.end())
                && issued(Some(m.as_bytes()))
            {
                spans.push(m.start(), m.end(), Detector::Ssn);
            }
        }
    });
}

/// Whether the digits (separators ignored) form a number that can be issued.
fn issued(value: Option<&[u8]>) -> bool {
    let mut d = [0u16; 9];
    let mut n = 0;
    for &b in value.unwrap_or_default() {
        if b.is_ascii_digit() {
            let Some(slot) = d.get_mut(n) else {
                return false;
            };
            *slot = u16::from(b - b'0');
            n += 1;
        }
    }
    if n != 9 {
        return false;
    }
    let area = d[0] * 100 + d[1] * 10 + d[2];
    let group = d[3] * 10 + d[4];
    let serial = d[5] * 1000 + d[6] * 100 + d[7] * 10 + d[8];
    area != 0 && area != 666 && area < 900 && group != 0 && serial != 0
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{assert_hit, assert_none};
    use crate::Detector::Ssn;

    #[test]
    fn finds_numbers() {
        assert_hit(Ssn, "123-45-6789", "123-45-6789");
        assert_hit(Ssn, "ssn 078-05-1120.", "078-05-1120");
        assert_hit(Ssn, "(899-99-9999)", "899-99-9999");
        assert_hit(Ssn, "SSN: 123456789", "123456789");
        assert_hit(Ssn, "ssn#123456789", "123456789");
        assert_hit(Ssn, "Social Security Number - 123 45 6789", "123 45 6789");
        assert_hit(Ssn, "social_security_no=\"665-12-3456\"", "665-12-3456");
        assert_hit(Ssn, "{\"ssn\":\"001010001\"}", "001010001");
        assert_hit(Ssn, "id,ssn\n7,667-01-0001\n", "667-01-0001");
    }

    #[test]
    fn ignores_other_numbers() {
        assert_none(Ssn, "000-12-3456");
        assert_none(Ssn, "666-12-3456");
        assert_none(Ssn, "900-12-3456");
        assert_none(Ssn, "123-00-4567");
        assert_none(Ssn, "123-45-0000");
        assert_none(Ssn, "123456789");
        assert_none(Ssn, "zip 94105-1234");
        assert_none(Ssn, "1123-45-6789");
        assert_none(Ssn, "123-45-67890");
        assert_none(Ssn, "2024-01-15");
        assert_none(Ssn, "415-555-2671");
        assert_none(Ssn, "ssn: 1234567890");
        assert_none(Ssn, "ssn: 666123456");
        assert_none(Ssn, "assn 123456789");
    }
}
