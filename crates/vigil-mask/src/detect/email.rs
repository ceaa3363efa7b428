//! `email`: `local@domain.tld` in ASCII. The local part follows RFC 5322's
//! unquoted atoms (no leading, trailing or doubled dot, at most 64 bytes); the
//! domain has at least two labels of letters, digits and inner hyphens, and a
//! top-level label of two or more letters (or an `xn--` label). Quoted local
//! parts, IP-literal domains and non-ASCII addresses are not detected.

use super::{Detector, Pattern, Spans, compile, with_pattern};

static RE: Pattern =
    Pattern::new(|| compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)+"));

pub(super) fn find(text: &[u8], spans: &mut Spans) {
    with_pattern(&RE, text, spans, Detector::Email, |re, spans| {
        for m in re.find_iter(text) {
            let (mut start, end) = (m.start(), m.end());
            // `...john@x.com`: the dots belong to the prose, not the address.
            while text.get(start) == Some(&b'.') {
                start += 1;
            }
            if let Some(candidate) = text.get(start..end)
                && valid(candidate)
            {
                spans.push(start, end, Detector::Email);
            }
        }
    });
}

fn valid(candidate: &[u8]) -> bool {
    let Some(at) = memchr::memchr(b'@', candidate) else {
        return false;
    };
    let (local, domain) = (&candidate[..at], &candidate[at + 1..]);
    if candidate.len() > 254 || local.is_empty() || local.len() > 64 {
        return false;
    }
    if local.ends_with(b".") || memchr::memmem::find(local, b"..").is_some() {
        return false;
    }
    let mut labels = domain.split(|&b| b == b'.').peekable();
    let mut count = 0;
    while let Some(label) = labels.next() {
        count += 1;
        if label.is_empty() || label.len() > 63 || label.starts_with(b"-") || label.ends_with(b"-")
        {
            return false;
        }
        if labels.peek().is_none() {
            let idn = label.starts_with(b"xn--") && label.len() > 4;
            let alpha = label.len() >= 2 && label.iter().all(u8::is_ascii_alphabetic);
            return count >= 2 && (alpha || idn);
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{assert_hit, assert_none, hits};
    use crate::Detector::Email;

    #[test]
    fn finds_addresses() {
        assert_hit(Email, "john@example.com", "john@example.com");
        assert_hit(
            Email,
            "mail: Jane.Doe+tag@mail.example.co.uk.",
            "Jane.Doe+tag@mail.example.co.uk",
        );
        assert_hit(Email, "<a_b-c%d@sub-domain.io>", "a_b-c%d@sub-domain.io");
        assert_hit(Email, "x@y.museum", "x@y.museum");
        assert_hit(
            Email,
            "\"o'brien\",o.brien@example.ie,1",
            "o.brien@example.ie",
        );
        assert_hit(
            Email,
            "user@xn--bcher-kva.example",
            "user@xn--bcher-kva.example",
        );
        assert_hit(Email, "...lead@example.org", "lead@example.org");
        assert_hit(Email, "ADMIN@EXAMPLE.COM", "ADMIN@EXAMPLE.COM");
        assert_hit(Email, "git@github.com:org/repo.git", "git@github.com");
        assert_eq!(hits(Email, "a@b.cd, e@f.gh").len(), 2);
    }

    #[test]
    fn ignores_lookalikes() {
        assert_none(Email, "user@localhost");
        assert_none(Email, "@example.com");
        assert_none(Email, "foo@bar.c");
        assert_none(Email, "foo@-bar.com");
        assert_none(Email, "foo@bar..com");
        assert_none(Email, "lodash@4.17.21");
        assert_none(Email, "python@3.11");
        assert_none(Email, "john.@example.com");
        assert_none(Email, "jo..hn@example.com");
        assert_none(Email, "user@@example.com");
        assert_none(Email, "name at example dot com");
        assert_none(Email, "price: 5 @ 3.50");
    }
}
