//! The `k8s.*` variables: what a rule sees of a Kubernetes API request.

mod common;

use common::*;
use vigil_core::{Action, ActionKind, ConnectionKind, ConnectionRef, K8sExec, K8sFacts};

fn on_prod(facts: K8sFacts) -> Action {
    Action {
        connection: ConnectionRef {
            name: "prod".into(),
            kind: ConnectionKind::Kubernetes,
        },
        kind: ActionKind::K8s(facts),
    }
}

fn exec() -> K8sFacts {
    K8sFacts {
        verb: "exec".into(),
        version: "v1".into(),
        resource: "pods".into(),
        subresource: "exec".into(),
        namespace: "default".into(),
        name: "web-1".into(),
        path: "/api/v1/namespaces/default/pods/web-1/exec".into(),
        exec: K8sExec {
            command: vec!["sh".into(), "-c".into(), "cat /etc/hostname".into()],
            argv: vec!["cat".into(), "/etc/hostname".into()],
            argv0: "cat".into(),
            container: "app".into(),
            tty: true,
            ..K8sExec::default()
        },
        text: "GET /api/v1/namespaces/default/pods/web-1/exec?command=...".into(),
        ..K8sFacts::default()
    }
}

#[test]
fn every_k8s_variable_reads_its_field() {
    let r = on_prod(exec());
    for holds in [
        "k8s.verb == 'exec'",
        "k8s.group == '' && k8s.version == 'v1'",
        "k8s.resource == 'pods' && k8s.subresource == 'exec'",
        "k8s.namespace == 'default' && k8s.name == 'web-1'",
        "k8s.exec.command[0] == 'sh' && size(k8s.exec.command) == 3",
        "k8s.exec.argv0 == 'cat' && k8s.exec.argv == ['cat', '/etc/hostname']",
        "!k8s.exec.opaque && k8s.exec.opaque_reasons == []",
        "k8s.exec.container == 'app' && k8s.exec.tty && !k8s.exec.stdin",
        "!k8s.dry_run && k8s.label_selector == '' && k8s.field_selector == ''",
        "k8s.path.endsWith('/exec')",
        "connection.kind == 'kubernetes'",
    ] {
        assert!(condition_holds(holds, &r), "{holds}");
    }
}

#[test]
fn exec_fields_are_empty_outside_exec_so_conditions_on_them_are_false() {
    let r = on_prod(K8sFacts {
        verb: "list".into(),
        version: "v1".into(),
        resource: "pods".into(),
        ..K8sFacts::default()
    });
    assert!(!condition_holds(
        "size(k8s.exec.command) > 0 && k8s.exec.command[0] == 'echo'",
        &r
    ));
    assert!(condition_holds("k8s.exec.argv0 == ''", &r));
}

#[test]
fn sql_variables_do_not_match_a_k8s_action() {
    let r = on_prod(exec());
    assert!(!condition_holds("sql.read_only", &r));
}
