//! Pure JWT decoding: compact serialization in, header, claims and signature
//! out. No I/O and no key material here, so it can be fuzzed on its own.
//!
//! Only asymmetric algorithms are accepted. `none` and every HMAC algorithm
//! are refused by name before any key is looked at, which is what defeats
//! algorithm confusion (an `HS256` token "signed" with a public key's bytes).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value};

use super::Reject;

/// Longest token accepted, in bytes. Checked before any decoding.
pub const MAX_TOKEN_LEN: usize = 16 * 1024;

/// The signature algorithms Vigil verifies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Alg {
    RS256,
    RS384,
    RS512,
    PS256,
    PS384,
    PS512,
    ES256,
    ES384,
    EdDSA,
}

impl Alg {
    /// The algorithm named `name`, or why it is refused.
    pub fn parse(name: &str) -> Result<Alg, Reject> {
        Ok(match name {
            "RS256" => Alg::RS256,
            "RS384" => Alg::RS384,
            "RS512" => Alg::RS512,
            "PS256" => Alg::PS256,
            "PS384" => Alg::PS384,
            "PS512" => Alg::PS512,
            "ES256" => Alg::ES256,
            "ES384" => Alg::ES384,
            "EdDSA" => Alg::EdDSA,
            _ if name.eq_ignore_ascii_case("none") => return Err(Reject::AlgNone),
            _ if name.len() >= 2 && name[..2].eq_ignore_ascii_case("HS") => {
                return Err(Reject::AlgHmac);
            }
            _ => return Err(Reject::AlgUnsupported),
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Alg::RS256 => "RS256",
            Alg::RS384 => "RS384",
            Alg::RS512 => "RS512",
            Alg::PS256 => "PS256",
            Alg::PS384 => "PS384",
            Alg::PS512 => "PS512",
            Alg::ES256 => "ES256",
            Alg::ES384 => "ES384",
            Alg::EdDSA => "EdDSA",
        }
    }
}

/// A decoded, not yet verified token.
#[derive(Debug)]
pub struct Decoded<'a> {
    pub alg: Alg,
    pub kid: Option<String>,
    pub claims: Map<String, Value>,
    /// `base64url(header) "." base64url(claims)`: what the signature covers.
    pub signing_input: &'a [u8],
    pub signature: Vec<u8>,
}

/// Splits and decodes `token`. Refuses oversized tokens, malformed base64 or
/// JSON, unknown critical header parameters and every algorithm outside
/// [`Alg`]. The signature is NOT checked here.
pub fn decode(token: &str) -> Result<Decoded<'_>, Reject> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(Reject::TooLarge);
    }
    let mut parts = token.split('.');
    let (Some(h), Some(c), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(Reject::Malformed("not three dot-separated segments"));
    };
    let header: Map<String, Value> = json_segment(h, "header")?;
    let claims: Map<String, Value> = json_segment(c, "claims")?;
    let signature = b64(s, "signature")?;

    let alg = match header.get("alg") {
        Some(Value::String(name)) => Alg::parse(name)?,
        _ => return Err(Reject::Malformed("header has no string `alg`")),
    };
    // RFC 7515 §4.1.11: a recipient must refuse critical extensions it does
    // not understand, and Vigil understands none.
    if header.contains_key("crit") {
        return Err(Reject::Malformed("header has critical extensions (`crit`)"));
    }
    let kid = match header.get("kid") {
        None => None,
        Some(Value::String(kid)) => Some(kid.clone()),
        Some(_) => return Err(Reject::Malformed("header `kid` is not a string")),
    };
    if signature.is_empty() {
        return Err(Reject::Malformed("empty signature"));
    }
    Ok(Decoded {
        alg,
        kid,
        claims,
        signing_input: &token.as_bytes()[..h.len() + 1 + c.len()],
        signature,
    })
}

fn b64(segment: &str, what: &'static str) -> Result<Vec<u8>, Reject> {
    URL_SAFE_NO_PAD.decode(segment).map_err(|_| {
        Reject::Malformed(match what {
            "header" => "header is not base64url",
            "claims" => "claims are not base64url",
            _ => "signature is not base64url",
        })
    })
}

fn json_segment(segment: &str, what: &'static str) -> Result<Map<String, Value>, Reject> {
    let bytes = b64(segment, what)?;
    serde_json::from_slice(&bytes).map_err(|_| {
        Reject::Malformed(if what == "header" {
            "header is not a JSON object"
        } else {
            "claims are not a JSON object"
        })
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn enc(v: &str) -> String {
        URL_SAFE_NO_PAD.encode(v)
    }

    #[test]
    fn a_well_formed_token_decodes() {
        let token = format!(
            "{}.{}.{}",
            enc(r#"{"alg":"ES256","kid":"k1","typ":"JWT"}"#),
            enc(r#"{"iss":"https://idp","sub":"a"}"#),
            enc("sig")
        );
        let d = decode(&token).unwrap();
        assert_eq!(d.alg, Alg::ES256);
        assert_eq!(d.kid.as_deref(), Some("k1"));
        assert_eq!(d.claims["sub"], "a");
        assert_eq!(d.signature, b"sig");
        assert_eq!(
            d.signing_input,
            token.rsplit_once('.').unwrap().0.as_bytes()
        );
    }

    #[test]
    fn refusals_name_their_reason() {
        let claims = enc(r#"{"sub":"a"}"#);
        let cases: &[(String, Reject)] = &[
            (
                format!("{}.{claims}.{}", enc(r#"{"alg":"none"}"#), enc("x")),
                Reject::AlgNone,
            ),
            (
                format!("{}.{claims}.{}", enc(r#"{"alg":"NoNe"}"#), enc("x")),
                Reject::AlgNone,
            ),
            (
                format!("{}.{claims}.{}", enc(r#"{"alg":"HS256"}"#), enc("x")),
                Reject::AlgHmac,
            ),
            (
                format!("{}.{claims}.{}", enc(r#"{"alg":"ES512"}"#), enc("x")),
                Reject::AlgUnsupported,
            ),
            (
                format!("{}.{claims}.", enc(r#"{"alg":"RS256"}"#)),
                Reject::Malformed("empty signature"),
            ),
            (
                format!("{}.{claims}.{}", enc("[1]"), enc("x")),
                Reject::Malformed("header is not a JSON object"),
            ),
            (
                format!("{}.{claims}.{}", "!!", enc("x")),
                Reject::Malformed("header is not base64url"),
            ),
            (
                format!("{}.{}.{}", enc(r#"{"alg":"RS256"}"#), enc("{"), enc("x")),
                Reject::Malformed("claims are not a JSON object"),
            ),
            (
                format!(
                    "{}.{claims}.{}",
                    enc(r#"{"alg":"RS256","crit":["exp"]}"#),
                    enc("x")
                ),
                Reject::Malformed("header has critical extensions (`crit`)"),
            ),
            (
                "a.b".to_string(),
                Reject::Malformed("not three dot-separated segments"),
            ),
            (
                "a.b.c.d".to_string(),
                Reject::Malformed("not three dot-separated segments"),
            ),
            ("a".repeat(MAX_TOKEN_LEN + 1), Reject::TooLarge),
        ];
        for (token, want) in cases {
            let got = decode(token).unwrap_err();
            assert_eq!(&got, want, "{}", &token[..token.len().min(80)]);
        }
    }
}
