//! `aws_key` and `secret_key`.
//!
//! `aws_key`: AWS access key ids, `AKIA` (long-term) or `ASIA` (temporary)
//! and 16 upper-case letters or digits, standing alone.
//!
//! `secret_key`: two kinds.
//! * Tokens recognisable by their prefix: Stripe `sk_live_`, `sk_test_`,
//!   `rk_live_`, `rk_test_` (16+ alphanumerics); GitHub `ghp_`, `gho_`,
//!   `ghu_`, `ghs_`, `ghr_` (36+) and `github_pat_` (22+); Slack
//!   `xoxb-`, `xoxp-`, `xoxa-`, `xoxo-`, `xoxs-`, `xoxr-` (10+). The whole
//!   token is masked.
//! * A value after a key-ish label (`aws_secret_access_key=…`,
//!   `"client_secret": "…"`, `api_key: …`, `token=…`, `password=…`): the
//!   value is masked, the label is kept. The value must be 16+ base64-ish
//!   bytes with a letter and a digit (a 40-byte AWS secret has both in
//!   practice), so `token: refreshing_in_progress` is left alone. Shorter
//!   passwords are not detected by content.

use super::{Detector, Pattern, Spans, compile, contains_ignore_case, with_pattern, word_bounded};

static AWS: Pattern = Pattern::new(|| compile(r"(?:AKIA|ASIA)[A-Z0-9]{16}"));

static TOKENS: Pattern = Pattern::new(|| {
    compile(
        r"(?:[sr]k_(?:live|test)_[A-Za-z0-9]{16,}|gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,}|xox[bpaosr]-[A-Za-z0-9\-]{10,})",
    )
});

static LABELLED: Pattern = Pattern::new(|| {
    compile(
        r#"(?i)(?:secret|api[_\-]?key|access[_\-]?key|private[_\-]?key|token|passw(?:or)?d)[a-z0-9_\-]*["']?\s*[:=]\s*["']?([A-Za-z0-9/+=_.~\-]{16,})"#,
    )
});

pub(super) fn find_aws(text: &[u8], spans: &mut Spans) {
    with_pattern(&AWS, text, spans, Detector::AwsKey, |re, spans| {
        for m in re.find_iter(text) {
            if word_bounded(text, m.start(), m.end()) {
                spans.push(m.start(), m.end(), Detector::AwsKey);
            }
        }
    });
}

pub(super) fn find_secret(text: &[u8], spans: &mut Spans) {
    with_pattern(&TOKENS, text, spans, Detector::SecretKey, |re, spans| {
        for m in re.find_iter(text) {
            let before = m.start().checked_sub(1).and_then(|i| text.get(i));
            if !before.is_some_and(|b| b.is_ascii_alphanumeric()) {
                spans.push(m.start(), m.end(), Detector::SecretKey);
            }
        }
    });
    let labelled = [b"secret".as_slice(), b"key", b"token", b"passw"]
        .iter()
        .any(|l| contains_ignore_case(text, l));
    if !labelled {
        return;
    }
    with_pattern(&LABELLED, text, spans, Detector::SecretKey, |re, spans| {
        // `captures_iter` allocates per step: only reach it on a match.
        if !re.is_match(text) {
            return;
        }
        for caps in re.captures_iter(text) {
            if let Some(v) = caps.get(1)
                && secret_looking(v.as_bytes())
            {
                spans.push(v.start(), v.end(), Detector::SecretKey);
            }
        }
    });
}

fn secret_looking(v: &[u8]) -> bool {
    v.iter().any(u8::is_ascii_alphabetic) && v.iter().any(u8::is_ascii_digit)
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{assert_hit, assert_none};
    use crate::Detector::{AwsKey, SecretKey};

    #[test]
    fn finds_aws_key_ids() {
        assert_hit(AwsKey, "AKIAIOSFODNN7EXAMPLE", "AKIAIOSFODNN7EXAMPLE");
        assert_hit(AwsKey, "key=ASIAY34FZKBOKMUTVV7A;", "ASIAY34FZKBOKMUTVV7A");
        assert_hit(AwsKey, "\"AKIA0123456789ABCDEF\"", "AKIA0123456789ABCDEF");
    }

    #[test]
    fn ignores_aws_lookalikes() {
        assert_none(AwsKey, "AKIAIOSFODNN7EXAMPL");
        assert_none(AwsKey, "AKIAIOSFODNN7EXAMPLEX");
        assert_none(AwsKey, "XAKIAIOSFODNN7EXAMPLE");
        assert_none(AwsKey, "AKIAiosfodnn7example");
        assert_none(AwsKey, "AIDAIOSFODNN7EXAMPLE");
    }

    #[test]
    fn finds_secrets() {
        let aws = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
        assert_hit(SecretKey, &format!("aws_secret_access_key={aws}"), aws);
        assert_hit(
            SecretKey,
            &format!("AWS_SECRET_ACCESS_KEY = \"{aws}\""),
            aws,
        );
        assert_hit(
            SecretKey,
            "sk_live_4eC39HqLyjWDarjtT1zdp7dc",
            "sk_live_4eC39HqLyjWDarjtT1zdp7dc",
        );
        assert_hit(
            SecretKey,
            "token ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789 end",
            "ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789",
        );
        assert_hit(
            SecretKey,
            "xoxb-123456789012-abcdefABCDEF",
            "xoxb-123456789012-abcdefABCDEF",
        );
        assert_hit(
            SecretKey,
            "{\"client_secret\": \"a1b2c3d4e5f6g7h8i9j0\"}",
            "a1b2c3d4e5f6g7h8i9j0",
        );
        assert_hit(
            SecretKey,
            "API_KEY: 9f8e7d6c5b4a39281706",
            "9f8e7d6c5b4a39281706",
        );
        assert_hit(
            SecretKey,
            "password=Hunter2Hunter2Hunter2",
            "Hunter2Hunter2Hunter2",
        );
    }

    #[test]
    fn ignores_secret_lookalikes() {
        assert_none(SecretKey, "sk_live_short");
        assert_none(SecretKey, "ghp_tooShort123");
        assert_none(SecretKey, "token: refreshing_in_progress");
        assert_none(SecretKey, "secret=abc123");
        assert_none(SecretKey, "the secret of the key is patience");
        assert_none(SecretKey, "task_live_4eC39HqLyjWDarjtT1zdp7dc");
        assert_none(SecretKey, "xoxz-123456789012-abcdef");
    }
}
