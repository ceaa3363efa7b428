//! The caller's Vigil credential: `Proxy-Authorization` or `Authorization`,
//! as `Bearer <token>` or as `Basic` with the token as the password (for
//! clients that only speak basic authentication to a proxy). These fields
//! are read here and never forwarded.

use axum::http::HeaderMap;
use axum::http::header::{AUTHORIZATION, PROXY_AUTHORIZATION};
use base64::Engine;
use vigil_core::Secret;

/// The credential of a request, if it carries one Vigil can read.
/// `Proxy-Authorization` wins: a client that sends both means the target's
/// `Authorization` for the target, which Vigil replaces anyway.
pub fn of(headers: &HeaderMap) -> Option<Secret<String>> {
    [PROXY_AUTHORIZATION, AUTHORIZATION]
        .iter()
        .filter_map(|name| headers.get(name))
        .find_map(|value| parse(value.to_str().ok()?))
}

fn parse(value: &str) -> Option<Secret<String>> {
    let (scheme, rest) = value.trim().split_once(' ')?;
    let rest = rest.trim();
    if scheme.eq_ignore_ascii_case("bearer") {
        return (!rest.is_empty()).then(|| Secret::new(rest.to_string()));
    }
    if scheme.eq_ignore_ascii_case("basic") {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(rest)
            .ok()?;
        let text = String::from_utf8(decoded).ok()?;
        let (_, password) = text.split_once(':')?;
        return (!password.is_empty()).then(|| Secret::new(password.to_string()));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::of;
    use axum::http::{HeaderMap, HeaderValue};

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (n, v) in pairs {
            h.append(*n, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn bearer_basic_and_proxy_authorization_are_read() {
        let got = |pairs| of(&headers(pairs)).map(|s| s.expose().clone());
        assert_eq!(
            got(&[("authorization", "Bearer vgl_x")]),
            Some("vgl_x".into())
        );
        // "agent:vgl_y"
        assert_eq!(
            got(&[("authorization", "Basic YWdlbnQ6dmdsX3k=")]),
            Some("vgl_y".into())
        );
        assert_eq!(
            got(&[
                ("authorization", "Bearer target"),
                ("proxy-authorization", "Bearer vgl_z")
            ]),
            Some("vgl_z".into())
        );
        assert_eq!(got(&[("authorization", "Digest abc")]), None);
        assert_eq!(got(&[("authorization", "Bearer ")]), None);
        assert_eq!(got(&[]), None);
    }
}
