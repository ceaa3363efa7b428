//! Percent-decoding that refuses instead of guessing: an invalid escape,
//! an encoded `%` (which a server that decodes twice would read again) or
//! a result that is not UTF-8 is an error, never passed through.

use crate::HttpReqError;

/// Where the text comes from: `+` is a space only in a query.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Part {
    Path,
    Query,
}

/// Decodes `raw` (already checked to be ASCII). Refuses control
/// characters (C0, DEL and C1) in the result.
pub(crate) fn decode(raw: &str, part: Part) -> Result<String, HttpReqError> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        match b {
            b'%' => {
                let hi = bytes.get(i + 1).copied().and_then(hex);
                let lo = bytes.get(i + 2).copied().and_then(hex);
                let (Some(hi), Some(lo)) = (hi, lo) else {
                    return Err(HttpReqError::InvalidEscape);
                };
                let decoded = hi << 4 | lo;
                match (decoded, part) {
                    (b'%', _) => return Err(HttpReqError::EncodedPercent),
                    (b'/' | b'\\', Part::Path) => return Err(HttpReqError::EncodedSeparator),
                    (b';', Part::Path) => return Err(HttpReqError::PathParameter),
                    _ => {}
                }
                out.push(decoded);
                i += 3;
            }
            b'+' if part == Part::Query => {
                out.push(b' ');
                i += 1;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    let text = String::from_utf8(out).map_err(|_| HttpReqError::NotUtf8)?;
    if text.chars().any(char::is_control) {
        return Err(HttpReqError::ControlCharacter);
    }
    Ok(text)
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::{Part, decode};
    use crate::HttpReqError;

    #[test]
    fn escapes_decode_in_either_case() {
        assert_eq!(decode("a%20b%C3%a9", Part::Path).as_deref(), Ok("a bé"));
        assert_eq!(decode("a+b", Part::Path).as_deref(), Ok("a+b"));
        assert_eq!(decode("a+b", Part::Query).as_deref(), Ok("a b"));
    }

    #[test]
    fn ambiguous_escapes_are_refused() {
        let cases = [
            ("%2F", HttpReqError::EncodedSeparator),
            ("%2f", HttpReqError::EncodedSeparator),
            ("%5C", HttpReqError::EncodedSeparator),
            ("%3B", HttpReqError::PathParameter),
            ("%252F", HttpReqError::EncodedPercent),
            ("%", HttpReqError::InvalidEscape),
            ("%2", HttpReqError::InvalidEscape),
            ("%zz", HttpReqError::InvalidEscape),
            ("%C3", HttpReqError::NotUtf8),
            ("%C0%AF", HttpReqError::NotUtf8),
            ("%00", HttpReqError::ControlCharacter),
            ("%0A", HttpReqError::ControlCharacter),
            ("%7F", HttpReqError::ControlCharacter),
            ("%C2%85", HttpReqError::ControlCharacter),
        ];
        for (raw, want) in cases {
            assert_eq!(decode(raw, Part::Path), Err(want), "{raw}");
        }
        // A query may carry an encoded `/` or `;`: it is data there.
        assert_eq!(decode("%2F%3B", Part::Query).as_deref(), Ok("/;"));
        assert_eq!(
            decode("%25", Part::Query),
            Err(HttpReqError::EncodedPercent)
        );
    }
}
