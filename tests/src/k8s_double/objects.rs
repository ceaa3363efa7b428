//! The double's cluster: a few objects in namespace `default`, the kinds it serves, and
//! how they look as a single object, a list, a server-side `Table` and a watch event.

use std::collections::BTreeMap;

use base64::Engine;
use serde_json::{Value, json};

/// The password in secret `db-creds`; tests check it never reaches kubectl.
pub const SECRET_PASSWORD: &str = "hunter2";
/// The user in secret `db-creds`.
pub const SECRET_USER: &str = "admin";

/// One resource the double serves.
pub(super) struct Kind {
    pub resource: &'static str,
    pub kind: &'static str,
    /// `v1` (the core group) or `apps/v1`.
    pub group_version: &'static str,
    pub namespaced: bool,
}

#[rustfmt::skip]
pub(super) const KINDS: &[Kind] = &[
    Kind { resource: "pods", kind: "Pod", group_version: "v1", namespaced: true },
    Kind { resource: "secrets", kind: "Secret", group_version: "v1", namespaced: true },
    Kind { resource: "configmaps", kind: "ConfigMap", group_version: "v1", namespaced: true },
    Kind { resource: "namespaces", kind: "Namespace", group_version: "v1", namespaced: false },
    Kind { resource: "deployments", kind: "Deployment", group_version: "apps/v1", namespaced: true },
];

pub(super) fn kind_of(group_version: &str, resource: &str) -> Option<&'static Kind> {
    KINDS
        .iter()
        .find(|k| k.group_version == group_version && k.resource == resource)
}

/// Where an object lives: resource, namespace ("" for cluster-scoped), name.
pub(super) type Key = (String, String, String);

/// The objects, with a resource version that grows on every change.
pub(super) struct Cluster {
    pub objects: BTreeMap<Key, Value>,
    pub resource_version: u64,
}

impl Cluster {
    pub fn seeded() -> Cluster {
        let mut c = Cluster {
            objects: BTreeMap::new(),
            resource_version: 100,
        };
        for ns in ["default", "kube-system"] {
            c.insert("namespaces", "", namespace(ns));
        }
        for (pod, ip) in [("web-1", "10.0.0.11"), ("web-2", "10.0.0.12")] {
            c.insert("pods", "default", self::pod(pod, ip));
        }
        c.insert("secrets", "default", secret());
        c.insert(
            "configmaps",
            "default",
            json!({"metadata": {"name": "settings"}, "data": {"mode": "fast"}}),
        );
        c
    }

    /// Stores `object` (with kind, apiVersion and the metadata the server sets) and returns it.
    pub fn insert(&mut self, resource: &str, namespace: &str, mut object: Value) -> Value {
        self.resource_version += 1;
        let kind = KINDS.iter().find(|k| k.resource == resource);
        if let (Some(kind), Some(map)) = (kind, object.as_object_mut()) {
            map.insert("kind".into(), json!(kind.kind));
            map.insert("apiVersion".into(), json!(kind.group_version));
        }
        let name = object["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let meta = &mut object["metadata"];
        if !namespace.is_empty() {
            meta["namespace"] = json!(namespace);
        }
        meta["uid"] = json!(format!("0000-{resource}-{name}"));
        meta["resourceVersion"] = json!(self.resource_version.to_string());
        meta["creationTimestamp"] = json!("2026-01-01T00:00:00Z");
        self.objects.insert(
            (resource.to_string(), namespace.to_string(), name),
            object.clone(),
        );
        object
    }

    /// The objects of `resource` in `namespace` (all namespaces when `None`), by name.
    pub fn list(&self, resource: &str, namespace: Option<&str>) -> Vec<Value> {
        self.objects
            .iter()
            .filter(|((r, ns, _), _)| r == resource && namespace.is_none_or(|n| n == ns))
            .map(|(_, o)| o.clone())
            .collect()
    }

    pub fn get(&self, resource: &str, namespace: &str, name: &str) -> Option<Value> {
        let key = (
            resource.to_string(),
            namespace.to_string(),
            name.to_string(),
        );
        self.objects.get(&key).cloned()
    }

    pub fn remove(&mut self, resource: &str, namespace: &str, name: &str) -> Option<Value> {
        let key = (
            resource.to_string(),
            namespace.to_string(),
            name.to_string(),
        );
        let removed = self.objects.remove(&key);
        if removed.is_some() {
            self.resource_version += 1;
        }
        removed
    }
}

fn namespace(name: &str) -> Value {
    json!({"metadata": {"name": name}, "spec": {"finalizers": ["kubernetes"]},
           "status": {"phase": "Active"}})
}

fn pod(name: &str, ip: &str) -> Value {
    json!({
        "metadata": {"name": name, "labels": {"app": "web"}},
        "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}], "nodeName": "node-1",
                 "restartPolicy": "Always"},
        "status": {"phase": "Running", "podIP": ip, "hostIP": "192.168.0.2",
                   "startTime": "2026-01-01T00:00:00Z",
                   "conditions": [{"type": "Ready", "status": "True"}],
                   "containerStatuses": [{"name": "web", "ready": true, "restartCount": 0,
                       "started": true, "image": "nginx:1.27", "imageID": "",
                       "state": {"running": {"startedAt": "2026-01-01T00:00:00Z"}}}]}
    })
}

fn secret() -> Value {
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let data = json!({"password": b64(SECRET_PASSWORD), "user": b64(SECRET_USER)});
    let applied = json!({"apiVersion": "v1", "data": data, "kind": "Secret",
        "metadata": {"annotations": {}, "name": "db-creds", "namespace": "default"},
        "type": "Opaque"});
    json!({
        "metadata": {"name": "db-creds", "annotations": {
            "kubectl.kubernetes.io/last-applied-configuration": format!("{applied}\n")}},
        "type": "Opaque",
        "data": data,
    })
}

/// `object` without kind and apiVersion, as items of a list are.
fn item(mut object: Value) -> Value {
    if let Some(map) = object.as_object_mut() {
        map.remove("kind");
        map.remove("apiVersion");
    }
    object
}

/// A `PodList` (or the list of `kind`) of `objects`.
pub(super) fn list_json(kind: &Kind, objects: Vec<Value>, resource_version: u64) -> Value {
    json!({
        "kind": format!("{}List", kind.kind),
        "apiVersion": kind.group_version,
        "metadata": {"resourceVersion": resource_version.to_string()},
        "items": objects.into_iter().map(item).collect::<Vec<_>>(),
    })
}

/// A `meta.k8s.io/v1` `Table` of `objects`, as `kubectl get` asks for.
pub(super) fn table_json(kind: &Kind, objects: &[Value], resource_version: u64) -> Value {
    let columns: Vec<Value> = columns(kind.resource)
        .iter()
        .enumerate()
        .map(|(i, (name, ty))| {
            json!({"name": name, "type": ty, "format": if i == 0 { "name" } else { "" },
                   "description": format!("{name} of the object"), "priority": 0})
        })
        .collect();
    let rows: Vec<Value> = objects
        .iter()
        .map(|o| {
            json!({"cells": cells(kind.resource, o), "object": {
                "kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                "metadata": o["metadata"].clone()}})
        })
        .collect();
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": resource_version.to_string()},
        "columnDefinitions": columns,
        "rows": rows,
    })
}

fn columns(resource: &str) -> &'static [(&'static str, &'static str)] {
    match resource {
        "pods" => &[
            ("Name", "string"),
            ("Ready", "string"),
            ("Status", "string"),
            ("Restarts", "string"),
            ("Age", "string"),
        ],
        "secrets" => &[
            ("Name", "string"),
            ("Type", "string"),
            ("Data", "integer"),
            ("Age", "string"),
        ],
        "configmaps" => &[("Name", "string"), ("Data", "integer"), ("Age", "string")],
        "namespaces" => &[("Name", "string"), ("Status", "string"), ("Age", "string")],
        _ => &[("Name", "string"), ("Age", "string")],
    }
}

fn cells(resource: &str, o: &Value) -> Value {
    let name = o["metadata"]["name"].clone();
    let data_len = o["data"].as_object().map_or(0, |m| m.len());
    match resource {
        "pods" => json!([name, "1/1", o["status"]["phase"], "0", "10m"]),
        "secrets" => json!([name, o["type"], data_len, "10m"]),
        "configmaps" => json!([name, data_len, "10m"]),
        "namespaces" => json!([name, o["status"]["phase"], "10m"]),
        _ => json!([name, "10m"]),
    }
}

/// The discovery documents: `/api`, `/apis`, `/api/v1`, `/apis/apps/v1`, `/version`.
pub(super) fn discovery(path: &str) -> Option<Value> {
    let doc = match path {
        "/version" => json!({"major": "1", "minor": "32", "gitVersion": "v1.32.4",
            "gitCommit": "0000000000000000000000000000000000000000", "gitTreeState": "clean",
            "buildDate": "2026-01-01T00:00:00Z", "goVersion": "go1.23.8", "compiler": "gc",
            "platform": "linux/amd64"}),
        "/api" => json!({"kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0",
                                           "serverAddress": "127.0.0.1:443"}]}),
        "/apis" => json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": [{
            "name": "apps", "versions": [{"groupVersion": "apps/v1", "version": "v1"}],
            "preferredVersion": {"groupVersion": "apps/v1", "version": "v1"}}]}),
        "/api/v1" => resource_list("v1"),
        "/apis/apps/v1" => resource_list("apps/v1"),
        _ => return None,
    };
    Some(doc)
}

fn resource_list(group_version: &str) -> Value {
    let all = [
        "create",
        "delete",
        "deletecollection",
        "get",
        "list",
        "patch",
        "update",
        "watch",
    ];
    let mut resources = Vec::new();
    for k in KINDS.iter().filter(|k| k.group_version == group_version) {
        let short: &[&str] = match k.resource {
            "pods" => &["po"],
            "configmaps" => &["cm"],
            "namespaces" => &["ns"],
            "deployments" => &["deploy"],
            _ => &[],
        };
        let singular = k.kind.to_ascii_lowercase();
        resources.push(json!({"name": k.resource, "singularName": singular,
            "namespaced": k.namespaced, "kind": k.kind, "verbs": all, "shortNames": short,
            "storageVersionHash": "0000"}));
        if k.resource == "pods" {
            for (sub, kind, verbs) in [
                ("exec", "PodExecOptions", &["create", "get"][..]),
                ("log", "Pod", &["get"][..]),
                ("attach", "PodAttachOptions", &["create", "get"][..]),
                (
                    "portforward",
                    "PodPortForwardOptions",
                    &["create", "get"][..],
                ),
            ] {
                resources.push(json!({"name": format!("pods/{sub}"), "singularName": "",
                    "namespaced": true, "kind": kind, "verbs": verbs}));
            }
        }
    }
    json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version,
           "resources": resources})
}

/// A `Status` failure object, as the API server answers errors.
pub(super) fn status(code: u16, reason: &str, message: &str) -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
           "message": message, "reason": reason, "code": code})
}
