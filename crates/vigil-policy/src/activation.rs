//! The CEL activation: the variables a condition sees, built from one input.
//!
//! This is on the proxy's hot path, so values borrow the input's strings
//! instead of copying them, and only the variables that the rules about to run
//! actually read are built (the set is known from compile time).

use std::collections::HashMap;
use std::sync::Arc;

use cel::common::types::{
    CelBool, CelInt, CelList, CelMap, CelMapKey, CelNull, CelString, CelTimestamp,
};
use cel::common::value::Val;
use cel::{Context, Env};
use vigil_core::{ActionKind, HttpFacts, K8sFacts, SqlFacts, SshFacts};

use crate::EvalInput;
use crate::check::{Var, VarSet};

type Boxed<'a> = Box<dyn Val + 'a>;

/// A context holding the variables in `needed`, borrowing from `input`.
pub fn build<'a>(env: &Arc<Env>, input: &EvalInput<'a>, needed: VarSet) -> Context<'a, 'a> {
    let mut ctx = Context::with_env(Arc::clone(env));
    if needed.contains(Var::Principal) {
        let p = input.principal;
        let map = object(vec![
            ("name", string(&p.name)),
            ("groups", strings(&p.groups)),
            ("kind", string(p.kind.as_str())),
            ("claims", claims(p.claims.as_ref())),
        ]);
        ctx.add_variable_as_val("principal", map);
    }
    if needed.contains(Var::Connection) {
        let c = input.connection;
        let map = object(vec![
            ("name", string(&c.name)),
            ("kind", string(c.kind.as_str())),
        ]);
        ctx.add_variable_as_val("connection", map);
    }
    if needed.contains(Var::Now) {
        let now = chrono::DateTime::<chrono::Utc>::from(input.now).fixed_offset();
        ctx.add_variable_as_val("now", Box::new(CelTimestamp::from(now)));
    }
    match input.action {
        ActionKind::Sql(facts) => {
            if needed.contains(Var::Sql) {
                ctx.add_variable_as_val("sql", sql(facts));
            }
        }
        ActionKind::Ssh(facts) => {
            if needed.contains(Var::Ssh) {
                ctx.add_variable_as_val("ssh", ssh(facts));
            }
        }
        ActionKind::Http(facts) => {
            if needed.contains(Var::Http) {
                ctx.add_variable_as_val("http", http(facts, needed.contains(Var::HttpBody)));
            }
        }
        ActionKind::K8s(facts) => {
            if needed.contains(Var::K8s) {
                ctx.add_variable_as_val("k8s", k8s(facts));
            }
        }
    }
    ctx
}

/// An OIDC principal's verified claims as a CEL map; an empty map for
/// Vigil tokens. Built only when a rule reads `principal`. A claim set that
/// does not convert becomes an empty map, so conditions on it fail closed.
fn claims<'a>(claims: Option<&serde_json::Value>) -> Boxed<'a> {
    let converted = claims
        .and_then(|c| cel::to_value(c).ok())
        .and_then(|v| Boxed::try_from(v).ok());
    converted.unwrap_or_else(|| object(Vec::new()))
}

/// The protocol namespace (`sql`, `ssh`, ...) this action's variables live in.
pub fn protocol_of(kind: &ActionKind) -> Var {
    match kind {
        ActionKind::Sql(_) => Var::Sql,
        ActionKind::Ssh(_) => Var::Ssh,
        ActionKind::Http(_) => Var::Http,
        ActionKind::K8s(_) => Var::K8s,
    }
}

fn sql(f: &SqlFacts) -> Boxed<'_> {
    object(vec![
        ("kind", string(&f.kind)),
        ("read_only", boolean(f.read_only)),
        ("writes", boolean(f.writes)),
        ("ddl", boolean(f.ddl)),
        ("has_where", boolean(f.has_where)),
        ("tables_read", strings(&f.tables_read)),
        ("tables_written", strings(&f.tables_written)),
        ("functions", strings(&f.functions)),
        ("settings", strings(&f.settings)),
        ("text", string(&f.text)),
    ])
}

fn ssh(f: &SshFacts) -> Boxed<'_> {
    object(vec![
        ("request", string(f.request.as_str())),
        ("command", string(&f.command)),
        ("argv", strings(&f.argv)),
        ("argv0", string(&f.argv0)),
        ("opaque", boolean(f.opaque)),
        ("opaque_reasons", strings(&f.opaque_reasons)),
        ("wrappers", strings(&f.wrappers)),
        ("subsystem", string(&f.subsystem)),
        (
            "forward",
            object(vec![
                ("host", string(&f.forward_host)),
                ("port", Box::new(CelInt::from(i64::from(f.forward_port)))),
            ]),
        ),
        (
            "sftp",
            object(vec![
                ("op", string(&f.sftp_op)),
                ("path", string(&f.sftp_path)),
            ]),
        ),
        (
            "env",
            object(vec![
                ("name", string(&f.env_name)),
                ("value", string(&f.env_value)),
            ]),
        ),
    ])
}

/// `http.*`. The body is converted only when a rule reads it (`with_body`);
/// a body that is absent (or does not convert) is `null`, so a condition
/// on its fields fails, and a failing condition denies.
fn http(f: &HttpFacts, with_body: bool) -> Boxed<'_> {
    let query: HashMap<CelMapKey<'_>, Boxed<'_>> = f
        .query
        .iter()
        .map(|(k, v)| (CelMapKey::from(k.as_str()), strings(v)))
        .collect();
    let headers: HashMap<CelMapKey<'_>, Boxed<'_>> = f
        .headers
        .iter()
        .map(|(k, v)| (CelMapKey::from(k.as_str()), string(v)))
        .collect();
    let body = match (&f.body, with_body) {
        (Some(json), true) => cel::to_value(json)
            .ok()
            .and_then(|v| Boxed::try_from(v).ok())
            .unwrap_or_else(|| Box::new(CelNull)),
        _ => Box::new(CelNull),
    };
    object(vec![
        ("method", string(&f.method)),
        ("path", string(&f.path)),
        ("path_template", string(&f.path_template)),
        ("query", Box::new(CelMap::from(query))),
        ("headers", Box::new(CelMap::from(headers))),
        ("host", string(&f.host)),
        ("body", body),
        (
            "graphql",
            object(vec![("operation", string(&f.graphql_operation))]),
        ),
    ])
}

/// `k8s.*`, with `k8s.exec` always present (empty outside exec and attach)
/// so that a condition on it is false rather than an error.
fn k8s(f: &K8sFacts) -> Boxed<'_> {
    let e = &f.exec;
    object(vec![
        ("verb", string(&f.verb)),
        ("group", string(&f.group)),
        ("version", string(&f.version)),
        ("resource", string(&f.resource)),
        ("subresource", string(&f.subresource)),
        ("namespace", string(&f.namespace)),
        ("name", string(&f.name)),
        ("label_selector", string(&f.label_selector)),
        ("field_selector", string(&f.field_selector)),
        ("dry_run", boolean(f.dry_run)),
        ("path", string(&f.path)),
        (
            "exec",
            object(vec![
                ("command", strings(&e.command)),
                ("argv", strings(&e.argv)),
                ("argv0", string(&e.argv0)),
                ("opaque", boolean(e.opaque)),
                ("opaque_reasons", strings(&e.opaque_reasons)),
                ("container", string(&e.container)),
                ("tty", boolean(e.tty)),
                ("stdin", boolean(e.stdin)),
            ]),
        ),
    ])
}

fn object<'a>(fields: Vec<(&'static str, Boxed<'a>)>) -> Boxed<'a> {
    let map: HashMap<CelMapKey<'a>, Boxed<'a>> = fields
        .into_iter()
        .map(|(k, v)| (CelMapKey::from(k), v))
        .collect();
    Box::new(CelMap::from(map))
}

fn string(s: &str) -> Boxed<'_> {
    Box::new(CelString::from(s))
}

fn strings(items: &[String]) -> Boxed<'_> {
    let list: Vec<Boxed<'_>> = items.iter().map(|s| string(s)).collect();
    Box::new(CelList::from(list))
}

fn boolean<'a>(b: bool) -> Boxed<'a> {
    Box::new(CelBool::from(b))
}
