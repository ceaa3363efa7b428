//! The `kubernetes` tool's arguments turned into the request kubectl would
//! send: method, path (`/api/v1/namespaces/NS/pods/NAME` or
//! `/apis/GROUP/VERSION/...`), query (`labelSelector=`, `dryRun=All`) and
//! body. Pure. Path segments are checked, never encoded: a segment with a
//! character outside the ones Kubernetes names use is refused, so the
//! analyser (and so policy) reads exactly the names the agent gave. Query
//! values are percent-encoded.

use rmcp::model::JsonObject;
use serde_json::Value;

/// Why the arguments do not make a request.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error("the argument \"{0}\" (a string) is required")]
    Missing(&'static str),
    #[error("the argument \"{0}\" must be a string")]
    NotString(&'static str),
    #[error(
        "the argument \"{0}\" holds characters Kubernetes names do not use (letters, digits, '-', '.', '_', ':' and '@' only, not '.' or '..' alone, at most 253)"
    )]
    BadSegment(&'static str),
    #[error("unknown verb \"{0}\": use get, list, create, update, patch or delete")]
    BadVerb(String),
    #[error("the verb \"{verb}\" {why}")]
    Shape {
        verb: &'static str,
        why: &'static str,
    },
    #[error("\"patch_type\" must be merge, strategic or json")]
    BadPatchType,
    #[error("\"dry_run\" must be a boolean")]
    BadDryRun,
}

/// One request to the API server.
#[derive(Debug, PartialEq, Eq)]
pub struct K8sCall {
    pub verb: &'static str,
    pub method: &'static str,
    /// Path and query, as sent after the connection's base URL.
    pub target: String,
    pub content_type: Option<&'static str>,
    pub body: Vec<u8>,
}

/// The request the arguments describe.
pub fn build(args: &JsonObject) -> Result<K8sCall, PathError> {
    let verb = match text(args, "verb")?.ok_or(PathError::Missing("verb"))? {
        "get" => "get",
        "list" => "list",
        "create" => "create",
        "update" => "update",
        "patch" => "patch",
        "delete" => "delete",
        other => return Err(PathError::BadVerb(other.to_string())),
    };
    let resource = segment(args, "resource")?.ok_or(PathError::Missing("resource"))?;
    let group = segment(args, "group")?.filter(|g| !g.is_empty());
    let version = segment(args, "version")?.unwrap_or("v1");
    let namespace = segment(args, "namespace")?.filter(|n| !n.is_empty());
    let name = segment(args, "name")?.filter(|n| !n.is_empty());
    let subresource = segment(args, "subresource")?.filter(|s| !s.is_empty());
    let shape = |why| PathError::Shape { verb, why };
    let (method, named, writes) = match verb {
        "get" => ("GET", true, false),
        "list" => ("GET", false, false),
        "create" => ("POST", false, true),
        "update" => ("PUT", true, true),
        "patch" => ("PATCH", true, true),
        _ => ("DELETE", true, false),
    };
    if named && name.is_none() {
        return Err(shape("needs a \"name\""));
    }
    if !named && name.is_some() {
        return Err(shape("takes no \"name\" (use get for one object)"));
    }
    if subresource.is_some() && name.is_none() {
        return Err(shape("needs a \"name\" with a \"subresource\""));
    }
    let mut target = match group {
        Some(g) => format!("/apis/{g}/{version}"),
        None => format!("/api/{version}"),
    };
    if let Some(ns) = namespace {
        target.push_str("/namespaces/");
        target.push_str(ns);
    }
    for part in [Some(resource), name, subresource].into_iter().flatten() {
        target.push('/');
        target.push_str(part);
    }
    let mut query = Vec::new();
    if let Some(selector) = text(args, "label_selector")?.filter(|s| !s.is_empty()) {
        if verb != "list" {
            return Err(shape("takes no \"label_selector\" (only list does)"));
        }
        query.push(format!("labelSelector={}", encode(selector)));
    }
    let dry_run = match args.get("dry_run") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(PathError::BadDryRun),
    };
    if dry_run {
        if !(writes || verb == "delete") {
            return Err(shape("does not change anything, so takes no \"dry_run\""));
        }
        query.push("dryRun=All".to_string());
    }
    if !query.is_empty() {
        target.push('?');
        target.push_str(&query.join("&"));
    }
    let body = match args.get("body") {
        None | Some(Value::Null) => None,
        Some(v @ (Value::Object(_) | Value::Array(_))) => Some(v),
        Some(_) => {
            return Err(shape(
                "needs \"body\" to be a JSON object (or array for a json patch)",
            ));
        }
    };
    let (content_type, body) = match (writes, body) {
        (false, None) => (None, Vec::new()),
        (false, Some(_)) => return Err(shape("takes no \"body\"")),
        (true, None) => return Err(shape("needs a \"body\"")),
        (true, Some(b)) => {
            let content_type = if verb == "patch" {
                match text(args, "patch_type")?.unwrap_or("merge") {
                    "merge" => "application/merge-patch+json",
                    "strategic" => "application/strategic-merge-patch+json",
                    "json" => "application/json-patch+json",
                    _ => return Err(PathError::BadPatchType),
                }
            } else {
                "application/json"
            };
            (
                Some(content_type),
                serde_json::to_vec(b).unwrap_or_default(),
            )
        }
    };
    Ok(K8sCall {
        verb,
        method,
        target,
        content_type,
        body,
    })
}

fn text<'a>(args: &'a JsonObject, key: &'static str) -> Result<Option<&'a str>, PathError> {
    match args.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(PathError::NotString(key)),
    }
}

/// A path segment: what Kubernetes names, groups, versions and resources
/// are made of (`system:node:web-1` included), never `/`, `%`, `?` or a
/// dot segment.
fn segment<'a>(args: &'a JsonObject, key: &'static str) -> Result<Option<&'a str>, PathError> {
    let Some(s) = text(args, key)? else {
        return Ok(None);
    };
    let ok = s.len() <= 253
        && s != "."
        && s != ".."
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b':' | b'@'));
    if ok {
        Ok(Some(s))
    } else {
        Err(PathError::BadSegment(key))
    }
}

/// Percent-encoding of a query value: everything but unreserved bytes.
fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len() * 3);
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn call(v: Value) -> Result<K8sCall, PathError> {
        match v {
            Value::Object(o) => build(&o),
            _ => panic!("not an object"),
        }
    }

    #[test]
    fn core_and_group_paths_are_what_kubectl_sends() {
        let c = call(
            json!({"verb": "get", "resource": "pods", "namespace": "default", "name": "web-1"}),
        )
        .unwrap();
        assert_eq!(
            (c.method, c.target.as_str()),
            ("GET", "/api/v1/namespaces/default/pods/web-1")
        );
        assert!(c.body.is_empty() && c.content_type.is_none());

        let c = call(
            json!({"verb": "list", "resource": "deployments", "group": "apps", "namespace": "shop",
            "label_selector": "app in (web, api),tier!=db"}),
        )
        .unwrap();
        assert_eq!(
            c.target,
            "/apis/apps/v1/namespaces/shop/deployments?labelSelector=app%20in%20%28web%2C%20api%29%2Ctier%21%3Ddb"
        );
        let c = call(json!({"verb": "list", "resource": "nodes"})).unwrap();
        assert_eq!(c.target, "/api/v1/nodes");
        let c = call(json!({"verb": "get", "resource": "pods", "namespace": "a", "name": "p", "subresource": "log"})).unwrap();
        assert_eq!(c.target, "/api/v1/namespaces/a/pods/p/log");
    }

    #[test]
    fn writes_carry_a_json_body_and_dry_run() {
        let c = call(
            json!({"verb": "patch", "resource": "deployments", "group": "apps", "namespace": "shop",
            "name": "web", "body": {"spec": {"replicas": 3}}, "dry_run": true}),
        )
        .unwrap();
        assert_eq!(c.method, "PATCH");
        assert_eq!(
            c.target,
            "/apis/apps/v1/namespaces/shop/deployments/web?dryRun=All"
        );
        assert_eq!(c.content_type, Some("application/merge-patch+json"));
        assert_eq!(c.body, br#"{"spec":{"replicas":3}}"#);
        let c = call(json!({"verb": "create", "resource": "configmaps", "namespace": "a", "body": {"metadata": {"name": "x"}}})).unwrap();
        assert_eq!(
            (c.method, c.content_type),
            ("POST", Some("application/json"))
        );
        let c = call(json!({"verb": "delete", "resource": "pods", "namespace": "a", "name": "p", "dry_run": true})).unwrap();
        assert_eq!(
            (c.method, c.target.as_str()),
            ("DELETE", "/api/v1/namespaces/a/pods/p?dryRun=All")
        );
    }

    #[test]
    fn odd_names_and_shapes_are_refused() {
        for bad in [
            "../secrets",
            "a/b",
            "a%2Fb",
            "a?watch=true",
            "..",
            ".",
            "x y",
            "é",
        ] {
            let r = call(json!({"verb": "get", "resource": "pods", "namespace": "a", "name": bad}));
            assert_eq!(r, Err(PathError::BadSegment("name")), "{bad}");
        }
        assert_eq!(
            call(json!({"verb": "list", "resource": "pods", "namespace": "a/../kube-system"})),
            Err(PathError::BadSegment("namespace"))
        );
        assert!(matches!(
            call(json!({"verb": "watch", "resource": "pods"})),
            Err(PathError::BadVerb(_))
        ));
        assert!(matches!(
            call(json!({"verb": "exec", "resource": "pods"})),
            Err(PathError::BadVerb(_))
        ));
        assert!(call(json!({"verb": "get", "resource": "pods"})).is_err());
        assert!(call(json!({"verb": "create", "resource": "pods", "namespace": "a"})).is_err());
        assert!(call(json!({"verb": "get", "resource": "pods", "name": "p", "body": {}})).is_err());
        assert!(
            call(json!({"verb": "get", "resource": "pods", "name": "p", "dry_run": true})).is_err()
        );
        assert!(
            call(json!({"verb": "get", "resource": "pods", "name": "p", "label_selector": "a=b"}))
                .is_err()
        );
    }

    #[test]
    fn the_analyser_reads_back_the_names_given() {
        let c = call(json!({"verb": "list", "resource": "rolebindings", "group": "rbac.authorization.k8s.io",
            "namespace": "kube-system", "label_selector": "owner=a@b.c,x notin (1,2)", "dry_run": null})).unwrap();
        let info = vigil_k8s_req::analyze(c.method, &c.target).unwrap();
        assert_eq!(info.verb, "list");
        assert_eq!(info.group, "rbac.authorization.k8s.io");
        assert_eq!(info.namespace, "kube-system");
        assert_eq!(
            info.label_selector.as_deref(),
            Some("owner=a@b.c,x notin (1,2)")
        );

        let c = call(json!({"verb": "delete", "resource": "clusterroles", "group": "rbac.authorization.k8s.io",
            "name": "system:controller:job_x@1", "dry_run": true})).unwrap();
        let info = vigil_k8s_req::analyze(c.method, &c.target).unwrap();
        assert_eq!(
            (info.verb.as_str(), info.name.as_str()),
            ("delete", "system:controller:job_x@1")
        );
        assert!(info.dry_run);
        assert!(info.namespace.is_empty());
    }
}
