//! A whole request: the request line and header fields first (before the
//! body is read), then the body when a rule or the connection needs it.

use vigil_core::HttpFacts;

use crate::path::NormalPath;
use crate::{HttpReqError, graphql, headers, query};

/// What the listener received, before anything is decoded.
#[derive(Clone, Copy, Debug)]
pub struct RequestHead<'a> {
    pub method: &'a str,
    /// The authority of an absolute-form target (`GET http://h/x`), if any.
    pub authority: Option<&'a str>,
    /// The raw path and query, as received (`/proxy/billing/a?b=1`).
    pub path_and_query: &'a str,
    /// Header fields as received, repeated names repeated.
    pub headers: &'a [(&'a str, &'a [u8])],
}

/// A request head Vigil can read one way only.
#[derive(Clone, Debug, PartialEq)]
pub struct Analysed {
    /// The connection named after `/proxy/`.
    pub connection: String,
    /// The facts policy sees (no body yet).
    pub facts: HttpFacts,
    /// The path to append to the target's base URL, canonically encoded.
    pub forward_path: String,
    /// The query to forward, as received (without `?`), if any.
    pub forward_query: Option<String>,
}

/// Reads the request line and header fields. `prefix` is where the proxy
/// is mounted (`/proxy/`).
pub fn analyse_head(head: &RequestHead<'_>, prefix: &str) -> Result<Analysed, HttpReqError> {
    if !method_ok(head.method) {
        return Err(HttpReqError::BadMethod);
    }
    let seen = headers::check(head.headers)?;
    let host = host_of(head)?;
    let raw = head.path_and_query;
    if raw.contains('#') {
        return Err(HttpReqError::Fragment);
    }
    if !raw.is_ascii() {
        return Err(HttpReqError::RawCharacter);
    }
    let connection = connection_of(raw, prefix)?;
    let rest = &raw[prefix.len() + connection.len()..];
    let (raw_path, raw_query) = match rest.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (rest, None),
    };
    let path = NormalPath::parse(raw_path)?;
    let query = match raw_query {
        Some(q) => query::parse(q)?,
        None => Default::default(),
    };
    let forward_path = path.forward_path();
    let forward_query = raw_query.filter(|q| !q.is_empty()).map(str::to_owned);
    let text = match &forward_query {
        Some(q) => format!("{} {forward_path}?{q}", head.method),
        None => format!("{} {forward_path}", head.method),
    };
    let facts = HttpFacts {
        method: head.method.to_string(),
        path: path.policy_path(),
        path_template: path.template(),
        query,
        headers: seen,
        host,
        body: None,
        graphql_operation: String::new(),
        text,
    };
    Ok(Analysed {
        connection: connection.to_string(),
        facts,
        forward_path,
        forward_query,
    })
}

/// What the body adds, and whether it is read at all.
#[derive(Clone, Copy, Debug, Default)]
pub struct BodyFacts {
    /// A rule reads `http.body`: parse it as JSON.
    pub json: bool,
    /// The connection is GraphQL: read its operation.
    pub graphql: bool,
}

/// Adds what the (whole, bounded) body says to `facts`.
pub fn analyse_body(
    facts: &mut HttpFacts,
    head: &RequestHead<'_>,
    body: &[u8],
    wanted: BodyFacts,
) -> Result<(), HttpReqError> {
    if !wanted.json && !wanted.graphql {
        return Ok(());
    }
    let encoded = head.headers.iter().any(|(n, v)| {
        n.eq_ignore_ascii_case("content-encoding") && !v.eq_ignore_ascii_case(b"identity")
    });
    if encoded && !body.is_empty() {
        return Err(HttpReqError::EncodedBody);
    }
    let content_type = content_type(head)?;
    if wanted.json && crate::body::is_json_media(&crate::body::media_type(&content_type)) {
        facts.body = crate::body::parse_json(body)?;
    }
    if wanted.graphql {
        // Several `query` parameters would be read differently by
        // different servers.
        let docs = facts
            .query
            .get("query")
            .map(Vec::as_slice)
            .unwrap_or_default();
        if docs.len() > 1 {
            return Err(HttpReqError::GraphqlUnreadable);
        }
        let op = graphql::operation(
            &facts.method,
            docs.first().map(String::as_str),
            &content_type,
            body,
        )?;
        facts.graphql_operation = op.map(|o| o.as_str().to_string()).unwrap_or_default();
    }
    Ok(())
}

/// The request's one `Content-Type` ("" when absent); two are refused, as
/// servers disagree on which one counts.
pub fn content_type(head: &RequestHead<'_>) -> Result<String, HttpReqError> {
    let mut types = head
        .headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("content-type"));
    let first = types.next();
    if types.next().is_some() {
        return Err(HttpReqError::DuplicateContentType);
    }
    Ok(first
        .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
        .unwrap_or_default())
}

/// An upper-case token of at most 32 bytes, not CONNECT (whose target is
/// an authority, not a path), not TRACE or TRACK (the target would echo the
/// request back, the injected credential with it). Lower-case methods are refused: `delete` is
/// another method than `DELETE` to HTTP, but not to every server.
pub fn method_ok(method: &str) -> bool {
    !method.is_empty()
        && method.len() <= 32
        && method
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b == b'-' || b == b'_')
        && !matches!(method, "CONNECT" | "TRACE" | "TRACK")
}

/// The connection a raw target names after `prefix`, when it is a plain
/// name (checked before anything else, so that a request refused for its
/// path can still be logged in to and recorded on its connection).
pub fn connection_of<'a>(path_and_query: &'a str, prefix: &str) -> Result<&'a str, HttpReqError> {
    let rest = path_and_query
        .strip_prefix(prefix)
        .ok_or(HttpReqError::NotProxied)?;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let connection = &rest[..end];
    if !connection_name_ok(connection) {
        return Err(HttpReqError::BadConnectionName);
    }
    Ok(connection)
}

/// A connection name as it may appear in the path.
fn connection_name_ok(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && !name.bytes().all(|b| b == b'.')
}

/// `http.host`: the `Host` field, lower case; an absolute-form target's
/// authority must name the same host.
fn host_of(head: &RequestHead<'_>) -> Result<String, HttpReqError> {
    let field = head
        .headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("host"))
        .map(|(_, v)| String::from_utf8_lossy(v).to_ascii_lowercase());
    match (head.authority, field) {
        (Some(a), Some(h)) if !a.eq_ignore_ascii_case(&h) => Err(HttpReqError::AuthorityMismatch),
        (Some(a), _) => Ok(a.to_ascii_lowercase()),
        (None, Some(h)) => Ok(h),
        (None, None) => Ok(String::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::{BodyFacts, RequestHead, analyse_body, analyse_head};
    use crate::HttpReqError;

    fn head<'a>(
        method: &'a str,
        target: &'a str,
        headers: &'a [(&'a str, &'a [u8])],
    ) -> RequestHead<'a> {
        RequestHead {
            method,
            authority: None,
            path_and_query: target,
            headers,
        }
    }

    #[test]
    fn trace_and_track_are_refused_and_http_body_reads_only_json_types() {
        let h: &[(&str, &[u8])] = &[("host", b"gw")];
        for method in ["TRACE", "TRACK", "CONNECT"] {
            assert!(analyse_head(&head(method, "/proxy/api/x", h), "/proxy/").is_err());
        }
        let wanted = BodyFacts {
            json: true,
            graphql: false,
        };
        let form: &[(&str, &[u8])] = &[("content-type", b"application/x-www-form-urlencoded")];
        let mut a = analyse_head(&head("POST", "/proxy/api/x", form), "/proxy/").unwrap();
        analyse_body(
            &mut a.facts,
            &head("POST", "/proxy/api/x", form),
            br#"{"role":"user"}"#,
            wanted,
        )
        .unwrap();
        assert_eq!(a.facts.body, None, "a form body is not read as JSON");
        let json: &[(&str, &[u8])] = &[("content-type", b"application/json; charset=utf-8")];
        let mut a = analyse_head(&head("POST", "/proxy/api/x", json), "/proxy/").unwrap();
        analyse_body(
            &mut a.facts,
            &head("POST", "/proxy/api/x", json),
            br#"{"role":"user"}"#,
            wanted,
        )
        .unwrap();
        assert!(a.facts.body.is_some());
        let two: &[(&str, &[u8])] = &[
            ("content-type", b"application/json"),
            ("content-type", b"text/plain"),
        ];
        let mut a = analyse_head(&head("POST", "/proxy/api/x", two), "/proxy/").unwrap();
        assert_eq!(
            analyse_body(
                &mut a.facts,
                &head("POST", "/proxy/api/x", two),
                b"{}",
                wanted
            ),
            Err(HttpReqError::DuplicateContentType)
        );
    }

    #[test]
    fn a_plain_request_is_read() {
        let h: &[(&str, &[u8])] = &[("host", b"GW:8080"), ("accept", b"application/json")];
        let a = analyse_head(
            &head("GET", "/proxy/billing/v1/invoices/42?status=open&x=%20", h),
            "/proxy/",
        )
        .unwrap();
        assert_eq!(a.connection, "billing");
        assert_eq!(a.facts.method, "GET");
        assert_eq!(a.facts.path, "/v1/invoices/42");
        assert_eq!(a.facts.path_template, "/v1/invoices/{id}");
        assert_eq!(a.facts.query["status"], vec!["open"]);
        assert_eq!(a.facts.query["x"], vec![" "]);
        assert_eq!(a.facts.host, "gw:8080");
        assert_eq!(a.facts.headers["accept"], "application/json");
        assert_eq!(a.forward_path, "/v1/invoices/42");
        assert_eq!(a.forward_query.as_deref(), Some("status=open&x=%20"));
        assert_eq!(a.facts.text, "GET /v1/invoices/42?status=open&x=%20");
    }

    #[test]
    fn the_connection_root_is_slash() {
        for target in ["/proxy/billing", "/proxy/billing/", "/proxy/billing?"] {
            let a = analyse_head(&head("GET", target, &[]), "/proxy/").unwrap();
            assert_eq!(a.facts.path, "/", "{target}");
            assert_eq!(a.forward_path, "/", "{target}");
            assert_eq!(a.forward_query, None, "{target}");
        }
    }

    #[test]
    fn bad_lines_are_refused() {
        let cases = [
            ("get", "/proxy/b/x", HttpReqError::BadMethod),
            ("CONNECT", "/proxy/b/x", HttpReqError::BadMethod),
            ("GET", "/other/b/x", HttpReqError::NotProxied),
            ("GET", "/proxy/../x", HttpReqError::BadConnectionName),
            ("GET", "/proxy/%62/x", HttpReqError::BadConnectionName),
            ("GET", "/proxy//x", HttpReqError::BadConnectionName),
            ("GET", "/proxy/b/x#y", HttpReqError::Fragment),
            ("GET", "/proxy/b/%2e%2e/admin", HttpReqError::DotSegment),
        ];
        for (method, target, want) in cases {
            assert_eq!(
                analyse_head(&head(method, target, &[]), "/proxy/"),
                Err(want),
                "{target}"
            );
        }
    }

    #[test]
    fn an_absolute_target_must_agree_with_host() {
        let h: &[(&str, &[u8])] = &[("host", b"gw")];
        let mut r = head("GET", "/proxy/b/x", h);
        r.authority = Some("evil");
        assert_eq!(
            analyse_head(&r, "/proxy/"),
            Err(HttpReqError::AuthorityMismatch)
        );
        r.authority = Some("GW");
        assert_eq!(
            analyse_head(&r, "/proxy/").map(|a| a.facts.host),
            Ok("gw".into())
        );
    }

    #[test]
    fn the_body_is_read_only_when_wanted() {
        let h: &[(&str, &[u8])] = &[("content-type", b"application/json")];
        let r = head("POST", "/proxy/b/graphql", h);
        let mut facts = analyse_head(&r, "/proxy/").unwrap().facts;
        let body = br#"{"query": "mutation { x }"}"#;
        analyse_body(&mut facts, &r, body, BodyFacts::default()).unwrap();
        assert_eq!(facts.body, None);
        assert_eq!(facts.graphql_operation, "");
        analyse_body(
            &mut facts,
            &r,
            body,
            BodyFacts {
                json: true,
                graphql: true,
            },
        )
        .unwrap();
        assert!(facts.body.is_some());
        assert_eq!(facts.graphql_operation, "mutation");
    }

    #[test]
    fn an_encoded_body_is_refused_when_read() {
        let h: &[(&str, &[u8])] = &[("content-encoding", b"gzip")];
        let r = head("POST", "/proxy/b/x", h);
        let mut facts = analyse_head(&r, "/proxy/").unwrap().facts;
        let wanted = BodyFacts {
            json: true,
            graphql: false,
        };
        assert_eq!(
            analyse_body(&mut facts, &r, b"\x1f\x8b", wanted),
            Err(HttpReqError::EncodedBody)
        );
    }
}
