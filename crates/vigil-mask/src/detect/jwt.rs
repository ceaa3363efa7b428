//! `jwt`: a compact JWS (`header.payload.signature`, base64url without
//! padding; the signature may be empty for `alg: none`). The header must
//! decode to a JSON object with a string `alg`, which is what separates a
//! token from any three dotted words. JWE (five segments) is reported by its
//! first three segments; the remaining two are left, which is harmless since
//! they are ciphertext.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::{Detector, Pattern, Spans, compile, with_pattern};

/// Longest header considered; real headers are under a few hundred bytes.
const MAX_HEADER: usize = 4096;

static RE: Pattern =
    Pattern::new(|| compile(r"eyJ[A-Za-z0-9_\-]{4,}\.[A-Za-z0-9_\-]{2,}\.[A-Za-z0-9_\-]*"));

pub(super) fn find(text: &[u8], spans: &mut Spans) {
    with_pattern(&RE, text, spans, Detector::Jwt, |re, spans| {
        for m in re.find_iter(text) {
            let before = m.start().checked_sub(1).and_then(|i| text.get(i));
            let glued =
                before.is_some_and(|&b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
            let header = text
                .get(m.range())
                .and_then(|t| t.split(|&b| b == b'.').next())
                .unwrap_or_default();
            if !glued && header_has_alg(header) {
                spans.push(m.start(), m.end(), Detector::Jwt);
            }
        }
    });
}

fn header_has_alg(segment: &[u8]) -> bool {
    if segment.len() > MAX_HEADER {
        return false;
    }
    let Ok(json) = URL_SAFE_NO_PAD.decode(segment) else {
        return false;
    };
    serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(&json)
        .is_ok_and(|h| h.get("alg").is_some_and(serde_json::Value::is_string))
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{assert_hit, assert_none};
    use crate::Detector::Jwt;

    const TOKEN: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c";

    #[test]
    fn finds_tokens() {
        assert_hit(Jwt, TOKEN, TOKEN);
        assert_hit(Jwt, &format!("Authorization: Bearer {TOKEN}"), TOKEN);
        assert_hit(Jwt, &format!("{{\"id_token\":\"{TOKEN}\"}}"), TOKEN);
        // alg none, empty signature
        let unsigned = "eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0.";
        assert_hit(Jwt, unsigned, unsigned);
    }

    #[test]
    fn ignores_lookalikes() {
        // base64url of {"typ":"JWT"}: no alg
        assert_none(Jwt, "eyJ0eXAiOiJKV1QifQ.eyJzdWIiOiIxIn0.abc");
        assert_none(Jwt, "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9");
        assert_none(Jwt, "eyJnotbase64!.abc.def");
        assert_none(Jwt, "xeyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0.");
        assert_none(Jwt, "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVC.ab.cd");
    }
}
