//! The path's segments, only when there is one way to read them.
//!
//! The API server reads `req.URL.Path`, which Go has already percent-decoded (`%2F` becomes a
//! `/` there but not here), then trims slashes at both ends and splits on `/`. Vigil accepts the
//! paths where that reading is unambiguous: no escapes at all (Kubernetes names are plain
//! ASCII), no empty segments inside the path, no `.` or `..` segments (which a proxy or a mux on
//! the way may resolve), no control, space, backslash or non-ASCII bytes.

use crate::Refusal;

/// `/api/v1/pods/` is `["api", "v1", "pods"]`; `/` is `[]`.
pub(crate) fn segments(path: &str) -> Result<Vec<&str>, Refusal> {
    if !path.starts_with('/') {
        return Err(Refusal::Path("it does not start with /"));
    }
    if let Some(bad) = path.bytes().find(|b| !allowed(*b)) {
        return Err(Refusal::Path(match bad {
            b'%' => "a percent-encoded byte",
            b'\\' => "a backslash",
            b';' => "a ; path parameter",
            b if b.is_ascii_control() || b == b' ' => "a control or space byte",
            b if !b.is_ascii() => "a non-ASCII byte",
            _ => "a character Kubernetes paths do not use",
        }));
    }
    // One trailing slash is trimmed by the server; anything else empty is refused.
    let inner = path.trim_start_matches('/');
    if path.len() - inner.len() > 1 {
        return Err(Refusal::Path("an empty segment"));
    }
    let inner = inner.strip_suffix('/').unwrap_or(inner);
    if inner.is_empty() {
        return Ok(Vec::new());
    }
    let parts: Vec<&str> = inner.split('/').collect();
    for part in &parts {
        match *part {
            "" => return Err(Refusal::Path("an empty segment")),
            "." | ".." => return Err(Refusal::Path("a dot segment")),
            _ => {}
        }
    }
    Ok(parts)
}

/// Bytes a canonical Kubernetes API path is made of: names are DNS labels or subdomains
/// (`a-z 0-9 - .`), some resources allow `:` (RBAC roles) or upper case (CRD kinds in
/// paths of aggregated APIs), `~` and `_` appear in OpenAPI paths.
fn allowed(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'/' | b'-' | b'.' | b'_' | b':' | b'~' | b'@' | b'+' | b'='
        )
}
