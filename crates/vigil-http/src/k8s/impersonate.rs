//! Impersonation asked for by the caller (`kubectl --as`, `--as-group`):
//! each `Impersonate-*` field is an action of its own, verb `impersonate`,
//! as the API server's authorizer sees it:
//!
//! - `Impersonate-User: alice` on `users` named `alice`, or, for
//!   `system:serviceaccount:NS:NAME`, on `serviceaccounts` in `NS` named
//!   `NAME`;
//! - `Impersonate-Group` on `groups`, `Impersonate-Uid` on
//!   `authentication.k8s.io` `uids`;
//! - `Impersonate-Extra-KEY` on `authentication.k8s.io` `userextras`,
//!   subresource `KEY`.
//!
//! The fields reach the API server only when policy allows every one of
//! them; otherwise they are stripped (and the refusal is in the ledger),
//! so the request runs as Vigil's own credential, never as someone the
//! caller named.

use axum::http::HeaderMap;
use vigil_core::K8sFacts;

/// The impersonation the request asks for, one action per field value.
/// A value that is not printable ASCII, or an extra key that is
/// percent-encoded, cannot be read one way only: refused.
pub fn actions(headers: &HeaderMap) -> Result<Vec<K8sFacts>, String> {
    let mut out = Vec::new();
    for (name, value) in headers {
        let Some(kind) = name.as_str().strip_prefix("impersonate-") else {
            continue;
        };
        let value = value
            .to_str()
            .ok()
            .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_graphic() || b == b' '))
            .ok_or_else(|| format!("an {name} value that is not printable ASCII"))?;
        let facts = match kind {
            "user" => match value.strip_prefix("system:serviceaccount:") {
                Some(rest) => {
                    let (namespace, account) = rest
                        .split_once(':')
                        .ok_or("a service account name without its namespace")?;
                    on("", "serviceaccounts", "", namespace, account)
                }
                None => on("", "users", "", "", value),
            },
            "group" => on("", "groups", "", "", value),
            "uid" => on("authentication.k8s.io", "uids", "", "", value),
            other => {
                let key = other
                    .strip_prefix("extra-")
                    .ok_or_else(|| format!("an unknown impersonation field {name}"))?;
                if key.is_empty() || key.contains('%') {
                    return Err(format!(
                        "an impersonation extra key Vigil cannot read: {name}"
                    ));
                }
                on("authentication.k8s.io", "userextras", key, "", value)
            }
        };
        out.push(facts);
    }
    Ok(out)
}

fn on(group: &str, resource: &str, subresource: &str, namespace: &str, name: &str) -> K8sFacts {
    let what = if subresource.is_empty() {
        resource.to_string()
    } else {
        format!("{resource}/{subresource}")
    };
    K8sFacts {
        verb: "impersonate".into(),
        group: group.into(),
        version: "v1".into(),
        resource: resource.into(),
        subresource: subresource.into(),
        namespace: namespace.into(),
        name: name.into(),
        text: format!("IMPERSONATE {what} {name}"),
        ..K8sFacts::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (n, v) in pairs {
            h.append(*n, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn each_field_is_the_action_the_api_server_authorizes() {
        let got = actions(&headers(&[
            (
                "impersonate-user",
                "system:serviceaccount:kube-system:admin",
            ),
            ("impersonate-group", "system:masters"),
            ("impersonate-extra-scopes", "view"),
            ("accept", "application/json"),
        ]))
        .unwrap_or_default();
        assert_eq!(got.len(), 3);
        assert_eq!(
            (
                got[0].resource.as_str(),
                got[0].namespace.as_str(),
                got[0].name.as_str()
            ),
            ("serviceaccounts", "kube-system", "admin")
        );
        assert_eq!(
            (got[1].resource.as_str(), got[1].name.as_str()),
            ("groups", "system:masters")
        );
        assert_eq!(
            (
                got[2].group.as_str(),
                got[2].resource.as_str(),
                got[2].subresource.as_str()
            ),
            ("authentication.k8s.io", "userextras", "scopes")
        );
        assert!(got.iter().all(|f| f.verb == "impersonate"));
        let user = actions(&headers(&[("impersonate-user", "alice")])).unwrap_or_default();
        assert_eq!(
            (user[0].resource.as_str(), user[0].name.as_str()),
            ("users", "alice")
        );
    }

    #[test]
    fn unreadable_impersonation_is_refused() {
        assert!(actions(&headers(&[("impersonate-extra-a%2fb", "x")])).is_err());
        assert!(
            actions(&headers(&[(
                "impersonate-user",
                "system:serviceaccount:nons"
            )]))
            .is_err()
        );
        assert!(actions(&headers(&[("impersonate-whoever", "x")])).is_err());
        assert!(actions(&headers(&[("impersonate-user", "")])).is_err());
        assert!(actions(&headers(&[])).unwrap_or_default().is_empty());
    }
}
