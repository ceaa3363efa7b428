//! Request and response header fields: the framing checks that stop
//! request smuggling, the limits, the allow-list policy sees, and which
//! fields cross the proxy.

use std::collections::BTreeMap;

use crate::HttpReqError;

/// Header fields a request may have.
pub const MAX_HEADERS: usize = 100;
/// Bytes of names and values a request's header fields may take.
pub const MAX_HEADER_BYTES: usize = 64 * 1024;

/// The request headers `http.headers` shows. Credentials and cookies are
/// never among them.
pub const POLICY_HEADERS: &[&str] = &[
    "accept",
    "accept-encoding",
    "accept-language",
    "content-encoding",
    "content-length",
    "content-type",
    "if-match",
    "if-none-match",
    "user-agent",
    "x-request-id",
    "x-vigil-run",
];

/// Fields that describe one hop, not the request (RFC 9110 §7.6.1), plus
/// the ones the proxy replaces: never forwarded either way.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "content-length",
    "host",
];

/// Request fields that carry the caller's own credentials or claims about
/// where the request came from: the target gets Vigil's, not these.
const CALLER_ONLY: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "cookie",
    "expect",
    "forwarded",
    "x-forwarded-for",
    "x-forwarded-host",
    "x-forwarded-proto",
    "x-real-ip",
    "x-vigil-run",
];

/// Request fields that some frameworks read as the method or the path in
/// place of the request line's (ASP.NET, Express method-override, Symfony,
/// IIS): a rule would decide one request and the target run another, so a
/// request that carries one is refused.
const OVERRIDES: &[&str] = &[
    "x-http-method-override",
    "x-http-method",
    "x-method-override",
    "x-original-method",
    "x-original-url",
    "x-rewrite-url",
    "x-original-uri",
];

/// The only response fields relayed when the answer is masked: fields that
/// describe the body's form, not its content. Any other (`Location`,
/// `Link`, `Content-Disposition`, `ETag`, custom `X-*`) could carry the
/// data the mask hides, or a hash of it.
const MASKED_RESPONSE: &[&str] = &[
    "content-type",
    "content-language",
    "cache-control",
    "expires",
    "date",
    "vary",
];

/// Response fields the caller does not get: a session the target opens
/// for Vigil's credential stays with Vigil.
const TARGET_ONLY: &[&str] = &["set-cookie", "set-cookie2"];

/// Checks the framing and the limits of a request's header fields (names
/// lower case, as received, repeated names repeated) and returns the
/// allow-listed ones policy sees.
pub fn check(fields: &[(&str, &[u8])]) -> Result<BTreeMap<String, String>, HttpReqError> {
    if fields.len() > MAX_HEADERS {
        return Err(HttpReqError::TooManyHeaders);
    }
    let bytes: usize = fields.iter().map(|(n, v)| n.len() + v.len()).sum();
    if bytes > MAX_HEADER_BYTES {
        return Err(HttpReqError::HeadersTooLarge);
    }
    let lengths = values(fields, "content-length");
    let encodings = values(fields, "transfer-encoding");
    if lengths.len() > 1 {
        return Err(HttpReqError::DuplicateContentLength);
    }
    if !lengths.is_empty() && !encodings.is_empty() {
        return Err(HttpReqError::LengthAndChunked);
    }
    if let Some(len) = lengths.first()
        && (len.is_empty() || len.len() > 19 || !len.iter().all(u8::is_ascii_digit))
    {
        return Err(HttpReqError::BadContentLength);
    }
    if encodings.len() > 1
        || encodings
            .first()
            .is_some_and(|e| !e.eq_ignore_ascii_case(b"chunked"))
    {
        return Err(HttpReqError::BadTransferEncoding);
    }
    if values(fields, "host").len() > 1 {
        return Err(HttpReqError::DuplicateHost);
    }
    if fields
        .iter()
        .any(|(n, _)| OVERRIDES.iter().any(|o| n.eq_ignore_ascii_case(o)))
    {
        return Err(HttpReqError::OverrideHeader);
    }
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    for (name, value) in fields {
        let name = name.to_ascii_lowercase();
        if !POLICY_HEADERS.contains(&name.as_str()) {
            continue;
        }
        let value = String::from_utf8_lossy(value).into_owned();
        seen.entry(name)
            .and_modify(|v| {
                v.push_str(", ");
                v.push_str(&value);
            })
            .or_insert(value);
    }
    Ok(seen)
}

/// The values of the fields called `name`.
fn values<'a>(fields: &[(&str, &'a [u8])], name: &str) -> Vec<&'a [u8]> {
    fields
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| *v)
        .collect()
}

/// Whether a request field is forwarded to the target. `connection` is
/// the request's `Connection` field: the names it lists are hop-by-hop too.
pub fn forward_request_field(name: &str, connection: &[&str]) -> bool {
    let name = name.to_ascii_lowercase();
    !HOP_BY_HOP.contains(&name.as_str())
        && !CALLER_ONLY.contains(&name.as_str())
        // Every X-Forwarded-* (Prefix, Port, Uri, ...): claims about the
        // request's origin and path that only Vigil may make.
        && !name.starts_with("x-forwarded-")
        && !connection
            .iter()
            .any(|c| c.trim().eq_ignore_ascii_case(&name))
}

/// Whether a response field is relayed to the caller of a masked answer.
pub fn forward_masked_response_field(name: &str) -> bool {
    MASKED_RESPONSE.iter().any(|f| name.eq_ignore_ascii_case(f))
}

/// Whether a response field is relayed to the caller.
pub fn forward_response_field(name: &str, connection: &[&str]) -> bool {
    let name = name.to_ascii_lowercase();
    !HOP_BY_HOP.contains(&name.as_str())
        && !TARGET_ONLY.contains(&name.as_str())
        && !connection
            .iter()
            .any(|c| c.trim().eq_ignore_ascii_case(&name))
}

#[cfg(test)]
mod tests {
    use super::{check, forward_request_field, forward_response_field};
    use crate::HttpReqError;

    #[test]
    fn a_masked_answer_keeps_only_fields_of_its_form() {
        use super::forward_masked_response_field as kept;
        assert!(kept("Content-Type") && kept("cache-control") && kept("vary"));
        for name in [
            "location",
            "link",
            "content-disposition",
            "etag",
            "x-user-email",
            "set-cookie",
        ] {
            assert!(!kept(name), "{name}");
        }
    }

    #[test]
    fn method_and_path_overrides_are_refused_and_forwarded_claims_stripped() {
        for name in ["X-HTTP-Method-Override", "x-original-url", "X-Rewrite-URL"] {
            let delete: &[u8] = b"DELETE";
            assert_eq!(check(&[(name, delete)]), Err(HttpReqError::OverrideHeader));
        }
        assert!(!forward_request_field("X-Forwarded-Prefix", &[]));
        assert!(!forward_request_field("x-forwarded-port", &[]));
        assert!(forward_request_field("x-request-id", &[]));
    }

    #[test]
    fn smuggling_shapes_are_refused() {
        let cl: &[u8] = b"5";
        let te: &[u8] = b"chunked";
        assert_eq!(
            check(&[("content-length", cl), ("transfer-encoding", te)]),
            Err(HttpReqError::LengthAndChunked)
        );
        assert_eq!(
            check(&[("content-length", cl), ("content-length", cl)]),
            Err(HttpReqError::DuplicateContentLength)
        );
        assert_eq!(
            check(&[("content-length", b"+5")]),
            Err(HttpReqError::BadContentLength)
        );
        for te in [
            &b"chunked, chunked"[..],
            b"gzip, chunked",
            b"xchunked",
            b"identity",
        ] {
            assert_eq!(
                check(&[("transfer-encoding", te)]),
                Err(HttpReqError::BadTransferEncoding)
            );
        }
        assert_eq!(
            check(&[("host", b"a"), ("host", b"b")]),
            Err(HttpReqError::DuplicateHost)
        );
    }

    #[test]
    fn limits_are_431() {
        let many = vec![("x-a", &b"1"[..]); 101];
        assert_eq!(check(&many), Err(HttpReqError::TooManyHeaders));
        let big = vec![0u8; 70_000];
        let err = check(&[("x-big", &big[..])]);
        assert_eq!(err, Err(HttpReqError::HeadersTooLarge));
        assert_eq!(HttpReqError::HeadersTooLarge.status(), 431);
    }

    #[test]
    fn policy_sees_only_allow_listed_fields() {
        let seen = check(&[
            ("authorization", b"Bearer secret"),
            ("cookie", b"s=1"),
            ("accept", b"text/html"),
            ("accept", b"application/json"),
            ("content-type", b"application/json"),
        ])
        .unwrap();
        assert_eq!(seen.len(), 2);
        assert_eq!(seen["accept"], "text/html, application/json");
    }

    #[test]
    fn credentials_and_hop_fields_do_not_cross() {
        for name in [
            "Authorization",
            "proxy-authorization",
            "cookie",
            "connection",
            "transfer-encoding",
            "host",
            "x-forwarded-for",
        ] {
            assert!(!forward_request_field(name, &[]), "{name}");
        }
        assert!(forward_request_field("accept", &[]));
        assert!(!forward_request_field("x-secret", &["x-secret"]));
        assert!(!forward_response_field("set-cookie", &[]));
        assert!(forward_response_field("content-type", &[]));
    }
}
