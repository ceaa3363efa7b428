//! `ip`: IPv4 in dotted quads and IPv6 in any textual form std accepts
//! (`2001:db8::1`, `::1`, `::ffff:192.0.2.1`), both confirmed by std's
//! parsers (which refuse out-of-range octets and leading zeros).
//!
//! Candidates must stand alone: `1.2.3.4.5` and `v1.2.3.4` are not IPs.
//! Known limits: a four-part version number (`1.2.3.4`) is reported, as is a
//! hex-only token with `::` (`a::b`); zone ids (`fe80::1%eth0`) are masked
//! without the zone; MAC addresses and times (`10:30:00`) are not reported.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::{Detector, Pattern, Spans, compile, left_ok, right_ok, with_pattern};

static V4: Pattern = Pattern::new(|| compile(r"[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}"));

static V6: Pattern = Pattern::new(|| compile(r"[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*"));

pub(super) fn find(text: &[u8], spans: &mut Spans) {
    if memchr::memchr(b':', text).is_some() {
        find_v6(text, spans);
    }
    if memchr::memchr(b'.', text).is_some() {
        find_v4(text, spans);
    }
}

fn find_v6(text: &[u8], spans: &mut Spans) {
    with_pattern(&V6, text, spans, Detector::Ip, |re, spans| {
        for m in re.find_iter(text) {
            if let Some((s, e)) = v6(text, m.start(), m.end()) {
                spans.push(s, e, Detector::Ip);
            }
        }
    });
}

fn find_v4(text: &[u8], spans: &mut Spans) {
    with_pattern(&V4, text, spans, Detector::Ip, |re, spans| {
        for m in re.find_iter(text) {
            let ok = left_ok(text, m.start())
                && right_ok(text, m.end())
                && std::str::from_utf8(&text[m.range()])
                    .ok()
                    .and_then(|s| s.parse::<Ipv4Addr>().ok())
                    .is_some();
            if ok {
                spans.push(m.start(), m.end(), Detector::Ip);
            }
        }
    });
}

/// Trims prose punctuation off an IPv6 candidate and parses it.
fn v6(text: &[u8], start: usize, mut end: usize) -> Option<(usize, usize)> {
    let before = start.checked_sub(1).and_then(|i| text.get(i));
    if before.is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'_') {
        return None;
    }
    // A sentence's full stop, or a `host:port` style colon after the address.
    while end > start && text.get(end - 1) == Some(&b'.') {
        end -= 1;
    }
    if end >= start + 2 && text.get(end - 1) == Some(&b':') && text.get(end - 2) != Some(&b':') {
        end -= 1;
    }
    if text
        .get(end)
        .is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'_')
    {
        return None;
    }
    let candidate = std::str::from_utf8(text.get(start..end)?).ok()?;
    let hex_digits = candidate.bytes().filter(u8::is_ascii_hexdigit).count();
    if hex_digits == 0 {
        return None;
    }
    candidate.parse::<Ipv6Addr>().ok().map(|_| (start, end))
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{assert_hit, assert_none};
    use crate::Detector::Ip;

    #[test]
    fn finds_addresses() {
        assert_hit(Ip, "from 192.168.1.10:5432", "192.168.1.10");
        assert_hit(Ip, "10.0.0.0/8", "10.0.0.0");
        assert_hit(Ip, "host 8.8.8.8.", "8.8.8.8");
        assert_hit(Ip, "2001:db8::1", "2001:db8::1");
        assert_hit(Ip, "[::1]:5432", "::1");
        assert_hit(
            Ip,
            "addr fe80::1ff:fe23:4567:890a, up",
            "fe80::1ff:fe23:4567:890a",
        );
        assert_hit(Ip, "::ffff:192.0.2.1", "::ffff:192.0.2.1");
        assert_hit(
            Ip,
            "2001:0db8:85a3:0000:0000:8a2e:0370:7334",
            "2001:0db8:85a3:0000:0000:8a2e:0370:7334",
        );
    }

    #[test]
    fn ignores_lookalikes() {
        assert_none(Ip, "256.1.1.1");
        assert_none(Ip, "1.2.3.4.5");
        assert_none(Ip, "v1.2.3.4");
        assert_none(Ip, "01.02.03.04");
        assert_none(Ip, "10:30:00");
        assert_none(Ip, "std::io::Result");
        assert_none(Ip, "00:1a:2b:3c:4d:5e");
        assert_none(Ip, "a :: b");
        assert_none(Ip, "1.2.3");
        assert_none(Ip, "Chrome/120.0.6099.109");
    }
}
