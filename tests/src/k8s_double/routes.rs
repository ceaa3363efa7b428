//! The REST side of the double: discovery, get, list, watch, create, delete and pod logs,
//! each answered the way the real API server answers `kubectl`.

use serde_json::{Value, json};

use super::objects::{self, Cluster, Kind};
use super::wire::Request;

/// What to send back.
pub(super) enum Reply {
    /// A whole answer.
    Full {
        status: u16,
        content_type: &'static str,
        body: Vec<u8>,
    },
    /// A watch: these events (one JSON line each), then the stream stays open `hold`.
    Watch {
        events: Vec<Value>,
        hold: std::time::Duration,
    },
}

fn json_reply(status: u16, body: &Value) -> Reply {
    Reply::Full {
        status,
        content_type: "application/json",
        body: body.to_string().into_bytes(),
    }
}

pub(super) fn fail(code: u16, reason: &str, message: &str) -> Reply {
    json_reply(code, &objects::status(code, reason, message))
}

/// The parts of a resource path.
pub(super) struct ResourcePath<'a> {
    pub kind: &'static Kind,
    /// `None`: all namespaces (or a cluster-scoped resource).
    pub namespace: Option<&'a str>,
    pub name: Option<&'a str>,
    pub subresource: Option<&'a str>,
}

/// Splits `/api/v1/namespaces/default/pods/web-1/exec` into its parts.
pub(super) fn resource_path(path: &str) -> Option<ResourcePath<'_>> {
    let rest = path.trim_end_matches('/');
    let (group_version, rest) = if let Some(r) = rest.strip_prefix("/api/v1/") {
        ("v1", r)
    } else {
        let r = rest.strip_prefix("/apis/")?;
        let mut parts = r.splitn(3, '/');
        let group = parts.next()?;
        let version = parts.next()?;
        let tail = parts.next()?;
        (&r[..group.len() + 1 + version.len()], tail)
    };
    let rest = rest.strip_prefix("watch/").unwrap_or(rest);
    let segments: Vec<&str> = rest.split('/').collect();
    let (namespace, segments) = match segments.as_slice() {
        ["namespaces", ns, tail @ ..] if !tail.is_empty() => (Some(*ns), tail.to_vec()),
        _ => (None, segments),
    };
    let kind = objects::kind_of(group_version, segments.first()?)?;
    if segments.len() > 3 {
        return None;
    }
    Some(ResourcePath {
        kind,
        namespace,
        name: segments.get(1).copied(),
        subresource: segments.get(2).copied(),
    })
}

/// Answers a request that is not an upgrade.
pub(super) fn handle(req: &Request, cluster: &mut Cluster) -> Reply {
    if let Some(doc) = objects::discovery(&req.path) {
        return json_reply(200, &doc);
    }
    let Some(rp) = resource_path(&req.path) else {
        return fail(
            404,
            "NotFound",
            "the server could not find the requested resource",
        );
    };
    // The legacy `/api/v1/watch/...` form, which API servers still serve.
    let legacy_watch = req.path.starts_with("/api/v1/watch/");
    match (req.method.as_str(), rp.name, rp.subresource) {
        ("GET", None, None) if req.is_watch() || legacy_watch => watch(req, &rp, cluster),
        ("GET", None, None) => list(req, &rp, cluster),
        ("GET", Some(name), None) => match cluster.get(rp.kind.resource, ns(&rp), name) {
            Some(o) if req.wants_table() => json_reply(
                200,
                &objects::table_json(rp.kind, &[o], cluster.resource_version),
            ),
            Some(o) => json_reply(200, &o),
            None => not_found(&rp, name),
        },
        ("GET", Some(name), Some("log")) if rp.kind.resource == "pods" => {
            match cluster.get("pods", ns(&rp), name) {
                Some(_) => Reply::Full {
                    status: 200,
                    content_type: "text/plain",
                    body: format!("log line 1 from {name}\nlog line 2 from {name}\n").into_bytes(),
                },
                None => not_found(&rp, name),
            }
        }
        ("POST", None, None) => create(req, &rp, cluster),
        ("DELETE", Some(name), None) => match cluster.remove(rp.kind.resource, ns(&rp), name) {
            Some(o) => json_reply(200, &o),
            None => not_found(&rp, name),
        },
        (_, _, Some("exec" | "attach" | "portforward")) => fail(
            400,
            "BadRequest",
            "Upgrade request required (the double speaks WebSocket only)",
        ),
        _ => fail(
            405,
            "MethodNotAllowed",
            "the double does not implement this",
        ),
    }
}

fn ns<'a>(rp: &ResourcePath<'a>) -> &'a str {
    if rp.kind.namespaced {
        rp.namespace.unwrap_or("default")
    } else {
        ""
    }
}

fn not_found(rp: &ResourcePath<'_>, name: &str) -> Reply {
    let message = format!("{} \"{name}\" not found", rp.kind.resource);
    let mut status = objects::status(404, "NotFound", &message);
    status["details"] = json!({"name": name, "kind": rp.kind.resource});
    json_reply(404, &status)
}

/// The objects the request selects: its namespace, `fieldSelector=metadata.name=X` and
/// `labelSelector=k=v,...` (equality only).
fn selected(req: &Request, rp: &ResourcePath<'_>, cluster: &Cluster) -> Vec<Value> {
    let namespace = if rp.kind.namespaced {
        rp.namespace
    } else {
        None
    };
    let fields = parse_selector(req.param("fieldSelector").unwrap_or(""));
    let labels = parse_selector(req.param("labelSelector").unwrap_or(""));
    cluster
        .list(rp.kind.resource, namespace)
        .into_iter()
        .filter(|o| {
            fields.iter().all(|(k, v)| match k.as_str() {
                "metadata.name" => o["metadata"]["name"] == v.as_str(),
                "metadata.namespace" => o["metadata"]["namespace"] == v.as_str(),
                _ => true,
            }) && labels
                .iter()
                .all(|(k, v)| o["metadata"]["labels"][k] == v.as_str())
        })
        .collect()
}

fn parse_selector(text: &str) -> Vec<(String, String)> {
    text.split(',')
        .filter_map(|term| {
            let (k, v) = term.split_once("==").or_else(|| term.split_once('='))?;
            Some((k.trim().to_string(), v.trim().to_string()))
        })
        .collect()
}

fn list(req: &Request, rp: &ResourcePath<'_>, cluster: &Cluster) -> Reply {
    let objects = selected(req, rp, cluster);
    let rv = cluster.resource_version;
    if req.wants_table() {
        json_reply(200, &objects::table_json(rp.kind, &objects, rv))
    } else {
        json_reply(200, &objects::list_json(rp.kind, objects, rv))
    }
}

/// One ADDED event per selected object (a one-row `Table` when the client asked for
/// tables), then the stream stays open until `timeoutSeconds` or 2 s, whichever is first.
fn watch(req: &Request, rp: &ResourcePath<'_>, cluster: &Cluster) -> Reply {
    let rv = cluster.resource_version;
    let events = selected(req, rp, cluster)
        .into_iter()
        .map(|o| {
            let object = if req.wants_table() {
                objects::table_json(rp.kind, &[o], rv)
            } else {
                o
            };
            json!({"type": "ADDED", "object": object})
        })
        .collect();
    let seconds = req
        .param("timeoutSeconds")
        .and_then(|s| s.parse::<u64>().ok())
        .unwrap_or(2)
        .min(2);
    Reply::Watch {
        events,
        hold: std::time::Duration::from_secs(seconds),
    }
}

fn create(req: &Request, rp: &ResourcePath<'_>, cluster: &mut Cluster) -> Reply {
    // kubectl 1.32 sends built-in kinds as protobuf (`kubectl create configmap`); the
    // double reads JSON only.
    if !req.header("content-type").starts_with("application/json") {
        return fail(
            415,
            "UnsupportedMediaType",
            "the double accepts JSON bodies only",
        );
    }
    let Ok(object) = serde_json::from_slice::<Value>(&req.body) else {
        return fail(400, "BadRequest", "the body is not a JSON object");
    };
    let Some(name) = object["metadata"]["name"].as_str() else {
        return fail(422, "Invalid", "metadata.name: Required value");
    };
    if cluster.get(rp.kind.resource, ns(rp), name).is_some() {
        let message = format!("{} \"{name}\" already exists", rp.kind.resource);
        return fail(409, "AlreadyExists", &message);
    }
    if req.param("dryRun") == Some("All") {
        return json_reply(201, &object);
    }
    let stored = cluster.insert(rp.kind.resource, ns(rp), object);
    json_reply(201, &stored)
}

#[cfg(test)]
mod tests {
    use super::resource_path;

    #[test]
    fn paths_split_into_their_parts() {
        let rp = resource_path("/api/v1/namespaces/default/pods/web-1/exec").unwrap();
        assert_eq!(
            (rp.kind.resource, rp.namespace, rp.name, rp.subresource),
            ("pods", Some("default"), Some("web-1"), Some("exec"))
        );
        let rp = resource_path("/api/v1/namespaces/kube-system").unwrap();
        assert_eq!(
            (rp.kind.resource, rp.name),
            ("namespaces", Some("kube-system"))
        );
        let rp = resource_path("/apis/apps/v1/namespaces/default/deployments").unwrap();
        assert_eq!((rp.kind.resource, rp.name), ("deployments", None));
        let rp = resource_path("/api/v1/pods").unwrap();
        assert_eq!((rp.kind.resource, rp.namespace), ("pods", None));
        assert!(resource_path("/api/v1/nodes").is_none());
    }
}
