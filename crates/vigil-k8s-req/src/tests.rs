//! The API server's request-info table (`requestinfo_test.go`), Vigil's own verbs for
//! exec-like subresources, and the refusals.

use super::*;
use proptest::prelude::*;

/// (method, target, verb, prefix, group, version, namespace, resource, subresource, name)
type Row = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
);

#[rustfmt::skip]
const RESOURCE_REQUESTS: &[Row] = &[
    ("GET", "/api/v1/namespaces", "list", "api", "", "v1", "", "namespaces", "", ""),
    ("GET", "/api/v1/namespaces/other", "get", "api", "", "v1", "other", "namespaces", "", "other"),
    ("GET", "/api/v1/namespaces/other/pods", "list", "api", "", "v1", "other", "pods", "", ""),
    ("GET", "/api/v1/namespaces/other/pods/foo", "get", "api", "", "v1", "other", "pods", "", "foo"),
    ("HEAD", "/api/v1/namespaces/other/pods/foo", "get", "api", "", "v1", "other", "pods", "", "foo"),
    ("GET", "/api/v1/pods", "list", "api", "", "v1", "", "pods", "", ""),
    ("HEAD", "/api/v1/pods", "list", "api", "", "v1", "", "pods", "", ""),
    ("GET", "/api/v1/pods/", "list", "api", "", "v1", "", "pods", "", ""),
    // The legacy verbs in the path.
    ("GET", "/api/v1/proxy/namespaces/other/pods/foo", "proxy", "api", "", "v1", "other", "pods", "", "foo"),
    ("GET", "/api/v1/proxy/namespaces/other/pods/foo/subpath/not/a/subresource", "proxy", "api", "", "v1", "other", "pods", "", "foo"),
    ("GET", "/api/v1/watch/pods", "watch", "api", "", "v1", "", "pods", "", ""),
    ("GET", "/api/v1/watch/namespaces/other/pods", "watch", "api", "", "v1", "other", "pods", "", ""),
    // `watch` as the server converts it: the first value; 0, false, empty are false.
    ("GET", "/api/v1/pods?watch=true", "watch", "api", "", "v1", "", "pods", "", ""),
    ("GET", "/api/v1/pods?watch=false", "list", "api", "", "v1", "", "pods", "", ""),
    ("GET", "/api/v1/pods?watch=FALSE", "list", "api", "", "v1", "", "pods", "", ""),
    ("GET", "/api/v1/namespaces/other/pods?watch=1", "watch", "api", "", "v1", "other", "pods", "", ""),
    ("GET", "/api/v1/namespaces/other/pods?watch=0", "list", "api", "", "v1", "other", "pods", "", ""),
    ("GET", "/api/v1/pods?watch=", "list", "api", "", "v1", "", "pods", "", ""),
    ("GET", "/api/v1/pods?watch=yes", "watch", "api", "", "v1", "", "pods", "", ""),
    ("GET", "/api/v1/pods?watch=0&watch=1", "list", "api", "", "v1", "", "pods", "", ""),
    ("GET", "/api/v1/pods?watch", "list", "api", "", "v1", "", "pods", "", ""),
    // Subresources.
    ("GET", "/api/v1/namespaces/other/pods/foo/status", "get", "api", "", "v1", "other", "pods", "status", "foo"),
    ("GET", "/api/v1/namespaces/other/pods/foo/log", "get", "api", "", "v1", "other", "pods", "log", "foo"),
    ("PUT", "/api/v1/namespaces/other/finalize", "update", "api", "", "v1", "other", "namespaces", "finalize", "other"),
    ("PUT", "/api/v1/namespaces/other/status", "update", "api", "", "v1", "other", "namespaces", "status", "other"),
    // Verbs from the method.
    ("PATCH", "/api/v1/namespaces/other/pods/foo", "patch", "api", "", "v1", "other", "pods", "", "foo"),
    ("DELETE", "/api/v1/namespaces/other/pods/foo", "delete", "api", "", "v1", "other", "pods", "", "foo"),
    ("POST", "/api/v1/namespaces/other/pods", "create", "api", "", "v1", "other", "pods", "", ""),
    ("PUT", "/api/v1/namespaces/other/pods/foo", "update", "api", "", "v1", "other", "pods", "", "foo"),
    // deletecollection.
    ("DELETE", "/api/v1/nodes", "deletecollection", "api", "", "v1", "", "nodes", "", ""),
    ("DELETE", "/api/v1/namespaces", "deletecollection", "api", "", "v1", "", "namespaces", "", ""),
    ("DELETE", "/api/v1/namespaces/other/pods", "deletecollection", "api", "", "v1", "other", "pods", "", ""),
    ("DELETE", "/apis/extensions/v1/namespaces/other/pods", "deletecollection", "apis", "extensions", "v1", "other", "pods", "", ""),
    // Groups and versions.
    ("POST", "/apis/extensions/v1/namespaces/other/pods", "create", "apis", "extensions", "v1", "other", "pods", "", ""),
    ("POST", "/apis/extensions/v1beta3/namespaces/other/pods", "create", "apis", "extensions", "v1beta3", "other", "pods", "", ""),
    ("GET", "/apis/apps/v1/namespaces/prod/deployments/web", "get", "apis", "apps", "v1", "prod", "deployments", "", "web"),
    ("PATCH", "/apis/apps/v1/namespaces/prod/deployments/web/scale", "patch", "apis", "apps", "v1", "prod", "deployments", "scale", "web"),
    ("GET", "/apis/rbac.authorization.k8s.io/v1/clusterroles/system:controller:job-controller", "get", "apis", "rbac.authorization.k8s.io", "v1", "", "clusterroles", "", "system:controller:job-controller"),
    // Vigil's own: exec-like subresources are verbs, whatever the method.
    ("POST", "/api/v1/namespaces/other/pods/foo/exec?command=ls", "exec", "api", "", "v1", "other", "pods", "exec", "foo"),
    ("GET", "/api/v1/namespaces/other/pods/foo/exec?command=ls", "exec", "api", "", "v1", "other", "pods", "exec", "foo"),
    ("GET", "/api/v1/namespaces/other/pods/foo/attach", "attach", "api", "", "v1", "other", "pods", "attach", "foo"),
    ("POST", "/api/v1/namespaces/other/pods/foo/portforward", "portforward", "api", "", "v1", "other", "pods", "portforward", "foo"),
    ("GET", "/api/v1/namespaces/other/pods/foo/proxy/subpath", "proxy", "api", "", "v1", "other", "pods", "proxy", "foo"),
    ("GET", "/api/v1/namespaces/other/services/web:8080/proxy/", "proxy", "api", "", "v1", "other", "services", "proxy", "web:8080"),
];

#[test]
fn resource_requests_are_read_as_the_api_server_reads_them() {
    for &(method, target, verb, prefix, group, version, namespace, resource, sub, name) in
        RESOURCE_REQUESTS
    {
        let info = analyze(method, target).unwrap_or_else(|e| panic!("{method} {target}: {e}"));
        let got = (
            info.verb.as_str(),
            info.api_prefix.as_str(),
            info.group.as_str(),
            info.version.as_str(),
            info.namespace.as_str(),
            info.resource.as_str(),
            info.subresource.as_str(),
            info.name.as_str(),
        );
        assert_eq!(
            got,
            (verb, prefix, group, version, namespace, resource, sub, name),
            "{method} {target}"
        );
        assert!(info.resource_request, "{method} {target}");
    }
}

#[test]
fn discovery_and_other_paths_are_non_resource_requests_with_the_method_as_verb() {
    for target in [
        "/",
        "/api",
        "/api/",
        "/apis",
        "/api/v1",
        "/apis/apps",
        "/apis/apps/v1",
        "/version",
        "/healthz",
        "/openapi/v2",
        "/openapi/v3/apis/apps/v1",
        "/foo/bar/baz",
    ] {
        let info = analyze("GET", target).unwrap_or_else(|e| panic!("{target}: {e}"));
        assert!(!info.resource_request, "{target}");
        assert_eq!(info.verb, "get", "{target}");
        assert_eq!(info.resource, "", "{target}");
    }
    assert_eq!(
        analyze("POST", "/version").map(|i| i.verb),
        Ok("post".into())
    );
}

#[test]
fn exec_options_come_from_the_query_in_order() {
    let info = analyze(
        "GET",
        "/api/v1/namespaces/prod/pods/web-1/exec?command=sh&command=-c&command=rm+-rf+%2Fdata&container=app&stdin=true&stdout=true&tty=1",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(info.verb, "exec");
    let exec = info.exec.unwrap_or_default();
    assert_eq!(exec.command, vec!["sh", "-c", "rm -rf /data"]);
    assert_eq!(exec.container.as_deref(), Some("app"));
    assert!(exec.tty && exec.stdin);
    let attach = analyze(
        "POST",
        "/api/v1/namespaces/prod/pods/web-1/attach?tty=false",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(attach.verb, "attach");
    assert!(!attach.exec.unwrap_or_default().tty);
    assert_eq!(analyze("GET", "/api/v1/pods").map(|i| i.exec), Ok(None));
}

#[test]
fn selectors_and_dry_run_are_read() {
    let info = analyze(
        "GET",
        "/api/v1/namespaces/prod/pods?labelSelector=app%3Dweb&fieldSelector=metadata.name%3Dweb-1",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(info.verb, "list");
    assert_eq!(info.label_selector.as_deref(), Some("app=web"));
    assert_eq!(
        info.name, "web-1",
        "a list narrowed to one name is about that object"
    );
    let dry = analyze("DELETE", "/api/v1/namespaces/prod/pods/web-1?dryRun=All")
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(dry.dry_run);
    let not_dry = analyze(
        "DELETE",
        "/api/v1/namespaces/prod/pods/web-1?dryRun=All&dryRun=x",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(!not_dry.dry_run);
}

#[test]
fn ambiguous_requests_are_refused_before_policy() {
    for target in [
        "/api/v1/namespaces/prod%2Fpods",
        "/api/v1/namespaces/prod/pods/a%2e%2e",
        "/api/v1//pods",
        "//api/v1/pods",
        "/api/v1/pods//",
        "/api/v1/./pods",
        "/api/v1/namespaces/prod/../kube-system/secrets",
        "/api/v1/pods;x=y",
        "/api/v1/pods\\x",
        "/api/v1/pods/caf\u{e9}",
        "/api/v1/pods/a b",
        "/api/v1/pods/a\tb",
        "api/v1/pods",
        "/api/v1/pods#frag",
        "/api/v1/pods?watch=1;x=2",
        "/api/v1/pods?watch=%zz",
        "/api/v1/pods?watch=%+1",
        "/api/v1/pods?watch=%c3",
        "/api/v1/watch",
        "/apis/apps/v1/proxy",
    ] {
        assert!(analyze("GET", target).is_err(), "{target} was accepted");
    }
    for method in ["OPTIONS", "TRACE", "CONNECT", "get", "", "PO ST"] {
        assert!(
            matches!(analyze(method, "/api/v1/pods"), Err(Refusal::Method(_))),
            "{method:?}"
        );
    }
}

fn segment() -> impl Strategy<Value = String> {
    "[a-z0-9][a-z0-9.:-]{0,12}".prop_filter("no dot segments", |s| s != "." && s != "..")
}

proptest! {
    /// Whatever is accepted reads the same from its canonical path.
    #[test]
    fn the_canonical_path_reads_the_same(
        method in prop::sample::select(vec!["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"]),
        segments in prop::collection::vec(segment(), 0..8),
        trailing in any::<bool>(),
        query in "(watch=(1|0|true)|dryRun=All|labelSelector=a%3Db|command=ls)?",
    ) {
        let mut target = format!("/{}", segments.join("/"));
        if trailing && !segments.is_empty() {
            target.push('/');
        }
        if !query.is_empty() {
            target = format!("{target}?{query}");
        }
        if let Ok(info) = analyze(method, &target) {
            let again = if query.is_empty() { info.path.clone() } else { format!("{}?{query}", info.path) };
            prop_assert_eq!(analyze(method, &again), Ok(info.clone()));
            prop_assert!(!info.path.split('/').any(|s| s == ".." || s == "."));
        }
    }

    /// An encoded slash, a dot segment or an empty segment anywhere is refused.
    #[test]
    fn a_smuggled_segment_is_refused_anywhere(
        segments in prop::collection::vec(segment(), 1..8),
        at in any::<prop::sample::Index>(),
        smuggled in prop::sample::select(vec!["%2F", "%2f", "/../", "/./", "//", "%2e%2e", ";"]),
    ) {
        let joined = segments.join("/");
        let cut = at.index(joined.len() + 1);
        let (head, tail) = joined.split_at(cut.min(joined.len()));
        // Split only at a char boundary: the alphabet is ASCII.
        let target = format!("/{head}{smuggled}{tail}");
        prop_assert!(analyze("GET", &target).is_err(), "{} was accepted", target);
    }
}
