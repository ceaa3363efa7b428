//! The query string as Go's `url.ParseQuery` reads it, or a refusal where Go would drop a
//! pair (a `;`, a bad escape) and so see other parameters than Vigil.

use crate::Refusal;

/// Parameters in order, each decoded (`+` is a space, `%XX` a byte, UTF-8 required).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Query {
    pairs: Vec<(String, String)>,
}

/// Most parameters analysed; more is refused rather than truncated.
pub const MAX_PARAMS: usize = 256;

impl Query {
    pub fn parse(raw: &str) -> Result<Query, Refusal> {
        let mut pairs = Vec::new();
        for piece in raw.split('&') {
            if piece.is_empty() {
                continue; // Go skips these too.
            }
            if piece.contains(';') {
                return Err(Refusal::Query("a ; separator (Go drops the pair)"));
            }
            if pairs.len() == MAX_PARAMS {
                return Err(Refusal::Query("more than 256 parameters"));
            }
            let (key, value) = piece.split_once('=').unwrap_or((piece, ""));
            pairs.push((unescape(key)?, unescape(value)?));
        }
        Ok(Query { pairs })
    }

    /// Every value of `key`, in order.
    pub fn all<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.pairs
            .iter()
            .filter(move |(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The first value of `key`: what the server's parameter conversion reads for a scalar.
    pub fn first<'a>(&'a self, key: &'a str) -> Option<&'a str> {
        self.all(key).next()
    }

    /// A boolean parameter as the API server converts it: the first value; absent, empty,
    /// `0` and `false` (any case) are false, anything else is true.
    pub fn flag(&self, key: &str) -> bool {
        match self.first(key) {
            None | Some("") | Some("0") => false,
            Some(v) => !v.eq_ignore_ascii_case("false"),
        }
    }
}

/// `QueryUnescape`: `+` is a space, `%XX` a byte; a bad escape or non-UTF-8 is refused.
fn unescape(s: &str) -> Result<String, Refusal> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                // Two hex digits exactly (`from_str_radix` alone would take `+5`).
                let hex = bytes
                    .get(i + 1..i + 3)
                    .filter(|h| h.iter().all(u8::is_ascii_hexdigit))
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or(Refusal::Query("a malformed percent escape"))?;
                out.push(hex);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| Refusal::Query("a value that is not UTF-8"))
}
