//! The path after `/proxy/<connection>`, read one way only.
//!
//! A path is accepted only when every reasonable server would split and
//! decode it the same way Vigil does: no encoded separators, no dot
//! segments, no empty segments, no `;` parameters, no double encoding, no
//! control characters and no look-alikes of `/`, `\` or `.`. What is
//! accepted is forwarded in one canonical spelling (decoded, then
//! re-encoded), so the target sees exactly the path policy saw.

use crate::HttpReqError;
use crate::decode::{Part, decode};

/// An accepted path: its decoded segments.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NormalPath {
    /// Each non-empty, decoded, without `/`.
    segments: Vec<String>,
    /// The client ended the path with `/` (kept when forwarding).
    trailing_slash: bool,
}

/// Characters forwarded as they are; anything else is percent-encoded.
/// RFC 3986 `pchar` without `;` and `%`.
fn is_plain(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'-' | b'.'
                | b'_'
                | b'~'
                | b'!'
                | b'$'
                | b'&'
                | b'\''
                | b'('
                | b')'
                | b'*'
                | b'+'
                | b','
                | b'='
                | b':'
                | b'@'
        )
}

/// Characters that Unicode compatibility normalisation (NFKC, which some
/// servers apply) turns into `/`, `\` or `.`.
const LOOK_ALIKES: &[char] = &[
    '\u{FF0F}', // fullwidth solidus
    '\u{FF3C}', // fullwidth reverse solidus
    '\u{FF0E}', // fullwidth full stop
    '\u{FE52}', // small full stop
    '\u{FE68}', // small reverse solidus
    '\u{2024}', // one dot leader
    '\u{2025}', // two dot leader
    '\u{2026}', // horizontal ellipsis
];

impl NormalPath {
    /// Reads a raw path (the part of the request target after the
    /// connection name, before `?`). `""` and `"/"` are the root.
    pub fn parse(raw: &str) -> Result<NormalPath, HttpReqError> {
        if raw.is_empty() || raw == "/" {
            return Ok(NormalPath {
                segments: Vec::new(),
                trailing_slash: false,
            });
        }
        let Some(rest) = raw.strip_prefix('/') else {
            return Err(HttpReqError::NotProxied);
        };
        let (rest, trailing_slash) = match rest.strip_suffix('/') {
            Some(r) => (r, true),
            None => (rest, false),
        };
        let mut segments = Vec::new();
        for raw_segment in rest.split('/') {
            segments.push(segment(raw_segment)?);
        }
        Ok(NormalPath {
            segments,
            trailing_slash,
        })
    }

    /// `http.path`: decoded, starting with `/`, without a trailing `/`
    /// (so a rule on `/admin` also sees `/admin/`).
    pub fn policy_path(&self) -> String {
        if self.segments.is_empty() {
            return "/".to_string();
        }
        let mut out = String::new();
        for s in &self.segments {
            out.push('/');
            out.push_str(s);
        }
        out
    }

    /// The path as forwarded: each segment re-encoded canonically, the
    /// trailing `/` kept. Reading it again gives the same path.
    pub fn forward_path(&self) -> String {
        let mut out = String::new();
        for s in &self.segments {
            out.push('/');
            for &b in s.as_bytes() {
                if is_plain(b) {
                    out.push(char::from(b));
                } else {
                    out.push_str(&format!("%{b:02X}"));
                }
            }
        }
        if self.trailing_slash || self.segments.is_empty() {
            out.push('/');
        }
        out
    }

    /// `http.path_template`: segments that are identifiers (all digits,
    /// or a UUID) replaced by `{id}`.
    pub fn template(&self) -> String {
        if self.segments.is_empty() {
            return "/".to_string();
        }
        let mut out = String::new();
        for s in &self.segments {
            out.push('/');
            if is_identifier(s) {
                out.push_str("{id}");
            } else {
                out.push_str(s);
            }
        }
        out
    }

    /// The decoded segments.
    pub fn segments(&self) -> &[String] {
        &self.segments
    }
}

/// One raw segment, checked and decoded.
fn segment(raw: &str) -> Result<String, HttpReqError> {
    if raw.is_empty() {
        return Err(HttpReqError::EmptySegment);
    }
    for &b in raw.as_bytes() {
        match b {
            b';' => return Err(HttpReqError::PathParameter),
            b'\\' => return Err(HttpReqError::Backslash),
            b'#' => return Err(HttpReqError::Fragment),
            b'%' => {}
            _ if is_plain(b) => {}
            _ => return Err(HttpReqError::RawCharacter),
        }
    }
    let decoded = decode(raw, Part::Path)?;
    // `.`, `..`, and any run of dots (Windows servers drop trailing dots,
    // so `...` can be read as `..`).
    if decoded.chars().all(|c| c == '.') {
        return Err(HttpReqError::DotSegment);
    }
    if decoded.chars().any(|c| LOOK_ALIKES.contains(&c)) {
        return Err(HttpReqError::LookAlike);
    }
    Ok(decoded)
}

fn is_identifier(s: &str) -> bool {
    (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())) || is_uuid(s)
}

fn is_uuid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, &c)| match i {
            8 | 13 | 18 | 23 => c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

#[cfg(test)]
mod tests {
    use super::NormalPath;
    use crate::HttpReqError;

    fn policy(raw: &str) -> String {
        match NormalPath::parse(raw) {
            Ok(p) => p.policy_path(),
            Err(e) => format!("error: {e:?}"),
        }
    }

    #[test]
    fn plain_paths_read_as_written() {
        assert_eq!(policy(""), "/");
        assert_eq!(policy("/"), "/");
        assert_eq!(policy("/users/42"), "/users/42");
        assert_eq!(policy("/users/42/"), "/users/42");
        assert_eq!(policy("/a%20b/%41"), "/a b/A");
        assert_eq!(policy("/caf%C3%A9"), "/café");
    }

    #[test]
    fn the_forwarded_path_is_canonical_and_keeps_a_trailing_slash() {
        let p = NormalPath::parse("/a%20b/%41/x:y@z/").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(p.forward_path(), "/a%20b/A/x:y@z/");
        assert_eq!(
            NormalPath::parse("").map(|p| p.forward_path()),
            Ok("/".into())
        );
        let again = NormalPath::parse(&p.forward_path());
        assert_eq!(again, Ok(p));
    }

    #[test]
    fn ambiguous_paths_are_refused() {
        let cases = [
            ("/a%2Fb", HttpReqError::EncodedSeparator),
            ("/a%2fb", HttpReqError::EncodedSeparator),
            ("/a%5Cb", HttpReqError::EncodedSeparator),
            ("/a\\b", HttpReqError::Backslash),
            ("/a/../b", HttpReqError::DotSegment),
            ("/a/./b", HttpReqError::DotSegment),
            ("/..", HttpReqError::DotSegment),
            ("/a/%2e%2e/b", HttpReqError::DotSegment),
            ("/a/%2E./b", HttpReqError::DotSegment),
            ("/a/.%2e", HttpReqError::DotSegment),
            ("/a/...", HttpReqError::DotSegment),
            ("//a", HttpReqError::EmptySegment),
            ("/a//b", HttpReqError::EmptySegment),
            ("/a//", HttpReqError::EmptySegment),
            ("/a;x=1/b", HttpReqError::PathParameter),
            ("/a%3Bx", HttpReqError::PathParameter),
            ("/a%252e%252e", HttpReqError::EncodedPercent),
            ("/a%00", HttpReqError::ControlCharacter),
            ("/a%ff", HttpReqError::NotUtf8),
            ("/a%g0", HttpReqError::InvalidEscape),
            ("/a#frag", HttpReqError::Fragment),
            ("/a b", HttpReqError::RawCharacter),
            ("/a\u{e9}", HttpReqError::RawCharacter),
            ("/a%EF%BC%8F..", HttpReqError::LookAlike),
            ("a", HttpReqError::NotProxied),
        ];
        for (raw, want) in cases {
            assert_eq!(NormalPath::parse(raw), Err(want), "{raw}");
        }
    }

    #[test]
    fn identifiers_become_id_in_the_template() {
        let p = NormalPath::parse("/users/42/keys/0b7c2e5a-1f3d-4c2b-9a8e-3d2f1e0c9b7a/v1")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(p.template(), "/users/{id}/keys/{id}/v1");
    }
}
