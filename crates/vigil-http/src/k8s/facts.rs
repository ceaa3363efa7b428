//! A Kubernetes request as policy sees it (`k8s.*`), and the header fields
//! the API server gets.

use axum::http::header::ACCEPT;
use axum::http::{HeaderMap, HeaderValue};
use vigil_core::{K8sExec, K8sFacts};
use vigil_k8s_req::RequestInfo;

/// `k8s.*` from the API server's reading of the request. `target` is the
/// path and query after `/k8s/<connection>`, as forwarded.
pub fn of(method: &str, target: &str, info: RequestInfo) -> K8sFacts {
    let exec = match info.exec {
        None => K8sExec::default(),
        Some(options) => {
            let analysis = vigil_shell::analyze_argv(&options.command);
            K8sExec {
                opaque: analysis.opaque(),
                opaque_reasons: analysis.reason_names(),
                argv: analysis.argv.unwrap_or_default(),
                argv0: analysis.argv0,
                command: options.command,
                container: options.container.unwrap_or_default(),
                tty: options.tty,
                stdin: options.stdin,
            }
        }
    };
    K8sFacts {
        verb: info.verb,
        group: info.group,
        version: info.version,
        resource: info.resource,
        subresource: info.subresource,
        namespace: info.namespace,
        name: info.name,
        label_selector: info.label_selector.unwrap_or_default(),
        field_selector: info.field_selector.unwrap_or_default(),
        dry_run: info.dry_run,
        path: info.path,
        exec,
        text: format!("{method} {target}"),
    }
}

/// Whether the answer may carry a Secret's values: any request on the core
/// group's `secrets` (a get, a list, a watch, and the object a create,
/// update, patch or delete returns).
pub fn touches_secrets(facts: &K8sFacts) -> bool {
    facts.group.is_empty() && facts.resource == "secrets"
}

/// Request fields the API server would act on for the caller and that only
/// Vigil's own credential may carry: impersonation (`Impersonate-User`,
/// `-Group`, `-Uid`, `-Extra-*`).
pub fn is_impersonation(name: &str) -> bool {
    name.get(..12)
        .is_some_and(|p| p.eq_ignore_ascii_case("impersonate-"))
}

/// The `Accept` the API server gets: JSON only (with its parameters, so
/// `as=Table` still asks for a table), because masking reads JSON. A caller
/// that asked for protobuf alone gets JSON, which every client decodes.
pub fn json_accept(headers: &HeaderMap) -> HeaderValue {
    let kept: Vec<&str> = headers
        .get_all(ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|range| {
            let media = range.split(';').next().unwrap_or_default().trim();
            media.eq_ignore_ascii_case("application/json")
        })
        .collect();
    if kept.is_empty() {
        return HeaderValue::from_static("application/json");
    }
    HeaderValue::from_str(&kept.join(", "))
        .unwrap_or_else(|_| HeaderValue::from_static("application/json"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(values: &[&'static str]) -> String {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(ACCEPT, HeaderValue::from_static(v));
        }
        json_accept(&h).to_str().unwrap_or_default().to_string()
    }

    #[test]
    fn accept_keeps_json_ranges_and_drops_protobuf() {
        assert_eq!(
            accept(&[
                "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json"
            ]),
            "application/json;as=Table;v=v1;g=meta.k8s.io, application/json;as=Table;v=v1beta1;g=meta.k8s.io, application/json"
        );
        assert_eq!(
            accept(&["application/vnd.kubernetes.protobuf, */*"]),
            "application/json"
        );
        assert_eq!(accept(&[]), "application/json");
        assert_eq!(
            accept(&[
                "application/vnd.kubernetes.protobuf;as=Table",
                "APPLICATION/JSON"
            ]),
            "APPLICATION/JSON"
        );
    }

    #[test]
    fn impersonation_fields_are_recognised_in_any_case() {
        for name in [
            "impersonate-user",
            "Impersonate-Group",
            "IMPERSONATE-EXTRA-scopes",
            "impersonate-uid",
        ] {
            assert!(is_impersonation(name), "{name}");
        }
        for name in ["impersonat", "x-impersonate-user", "accept"] {
            assert!(!is_impersonation(name), "{name}");
        }
    }

    #[test]
    fn exec_facts_carry_the_argv_and_its_analysis() {
        let info = vigil_k8s_req::analyze(
            "GET",
            "/api/v1/namespaces/default/pods/web-1/exec?command=sh&command=-c&command=echo+hi%3B+rm+-rf+%2F&stdout=true&tty=true&container=app",
        )
        .unwrap_or_default();
        let f = of("GET", "/x", info);
        assert_eq!(f.verb, "exec");
        assert_eq!(f.exec.command, ["sh", "-c", "echo hi; rm -rf /"]);
        assert!(f.exec.opaque);
        assert!(f.exec.argv.is_empty());
        assert_eq!(f.exec.container, "app");
        assert!(f.exec.tty);

        let info = vigil_k8s_req::analyze(
            "POST",
            "/api/v1/namespaces/default/pods/web-1/exec?command=%2Fbin%2Fecho&command=hi",
        )
        .unwrap_or_default();
        let f = of("POST", "/x", info);
        assert_eq!(f.exec.argv0, "echo");
        assert!(!f.exec.opaque);
    }

    #[test]
    fn only_core_secrets_touch_secrets() {
        let f = |target: &str| {
            of(
                "GET",
                target,
                vigil_k8s_req::analyze("GET", target).unwrap_or_default(),
            )
        };
        assert!(touches_secrets(&f("/api/v1/namespaces/a/secrets")));
        assert!(touches_secrets(&f("/api/v1/secrets")));
        assert!(touches_secrets(&f("/api/v1/watch/namespaces/a/secrets/x")));
        assert!(!touches_secrets(&f("/apis/example.com/v1/secrets")));
        assert!(!touches_secrets(&f("/api/v1/namespaces/a/configmaps")));
    }
}
