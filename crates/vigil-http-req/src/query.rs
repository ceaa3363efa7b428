//! The query string, as `http.query` shows it: every value of each name,
//! percent-decoded, `+` read as a space. The query is forwarded as the
//! client sent it; it is only accepted when it decodes without doubt.

use std::collections::BTreeMap;

use crate::HttpReqError;
use crate::decode::{Part, decode};

/// Parameters a query may have.
pub const MAX_QUERY_PARAMETERS: usize = 256;

/// Reads a raw query (after `?`). Refuses `;` (which some servers read as
/// `&`), `#`, characters that must be encoded and undecodable escapes.
pub fn parse(raw: &str) -> Result<BTreeMap<String, Vec<String>>, HttpReqError> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for &b in raw.as_bytes() {
        match b {
            b';' => return Err(HttpReqError::QuerySemicolon),
            b'#' => return Err(HttpReqError::Fragment),
            // Printable ASCII except space, `"`, `<`, `>`, `\`, `^`, `` ` ``, `{`, `|`, `}`.
            b'!' | b'$'..=b';' | b'=' | b'?'..=b'[' | b']' | b'_' | b'a'..=b'z' | b'~' => {}
            _ => return Err(HttpReqError::RawCharacter),
        }
    }
    let mut count = 0;
    for pair in raw.split('&').filter(|p| !p.is_empty()) {
        count += 1;
        if count > MAX_QUERY_PARAMETERS {
            return Err(HttpReqError::TooManyQueryParameters);
        }
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let name = decode(name, Part::Query)?;
        let value = decode(value, Part::Query)?;
        out.entry(name).or_default().push(value);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::parse;
    use crate::HttpReqError;

    #[test]
    fn repeated_names_keep_every_value_in_order() {
        let q = parse("a=1&b=x+y&a=%32&flag&&c=%2F").unwrap();
        assert_eq!(q["a"], vec!["1", "2"]);
        assert_eq!(q["b"], vec!["x y"]);
        assert_eq!(q["flag"], vec![""]);
        assert_eq!(q["c"], vec!["/"]);
        assert_eq!(q.len(), 4);
    }

    #[test]
    fn ambiguous_queries_are_refused() {
        assert_eq!(parse("a=1;b=2"), Err(HttpReqError::QuerySemicolon));
        assert_eq!(parse("a=%zz"), Err(HttpReqError::InvalidEscape));
        assert_eq!(parse("a=%00"), Err(HttpReqError::ControlCharacter));
        assert_eq!(parse("a=%2541"), Err(HttpReqError::EncodedPercent));
        assert_eq!(parse("a=b c"), Err(HttpReqError::RawCharacter));
        let many = vec!["a=1"; 257].join("&");
        assert_eq!(parse(&many), Err(HttpReqError::TooManyQueryParameters));
    }
}
