//! Load-time rejection of bad policy: every error names its policy and rule.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)] // tests may fail loudly

mod common;

use common::*;
use vigil_policy::{MaskSpec, PolicyError, PolicySet};

fn compile_err(when: &str) -> PolicyError {
    let spec = policy("analysts", &[], &[], vec![rule("reads", Allow, Some(when))]);
    match PolicySet::compile(vec![spec]) {
        Ok(_) => panic!("`{when}` should be rejected"),
        Err(e) => e,
    }
}

#[test]
fn syntax_error_names_policy_and_rule() {
    let err = compile_err("sql.read_only &&");
    let text = err.to_string();
    assert!(matches!(err, PolicyError::Cel { .. }));
    assert!(text.contains("policy 'analysts'"), "{text}");
    assert!(text.contains("rule 'reads'"), "{text}");
}

#[test]
fn unknown_variable_is_rejected() {
    let text = compile_err("request.path == '/'").to_string();
    assert!(text.contains("unknown variable `request`"), "{text}");
    assert!(text.contains("rule 'reads'"), "{text}");
}

#[test]
fn unknown_variable_inside_a_macro_is_rejected() {
    let text = compile_err("sql.tables_read.all(t, t != secret)").to_string();
    assert!(text.contains("unknown variable `secret`"), "{text}");
}

#[test]
fn macro_variables_are_not_unknown() {
    let spec = policy(
        "p",
        &[],
        &[],
        vec![rule(
            "r",
            Allow,
            Some("sql.tables_read.all(t, t.startsWith('public.')) && type(sql.kind) == string"),
        )],
    );
    assert!(PolicySet::compile(vec![spec]).is_ok());
}

#[test]
fn unknown_fields_are_rejected() {
    for (when, field) in [
        ("sql.read_onyl", "sql.read_onyl"),
        ("principal.email == 'x'", "principal.email"),
        ("connection.host == 'x'", "connection.host"),
        ("has(sql.nope)", "sql.nope"),
    ] {
        let text = compile_err(when).to_string();
        assert!(
            text.contains(&format!("unknown field `{field}`")),
            "{when}: {text}"
        );
    }
    let text = compile_err("now.year == 1").to_string();
    assert!(text.contains("`now` has no fields"), "{text}");
}

#[test]
fn every_documented_variable_compiles() {
    let when = "principal.name != '' && size(principal.groups) >= 0 && principal.kind != '' \
        && connection.name != '' && connection.kind != '' && now > timestamp('2000-01-01T00:00:00Z') \
        && (sql.read_only || sql.writes || sql.ddl || sql.has_where || sql.kind == '' \
        || size(sql.tables_read) > 0 || size(sql.tables_written) > 0 || size(sql.functions) > 0 \
        || size(sql.settings) > 0 || sql.text == '') && (ssh.command == '' || size(ssh.argv) > 0 || ssh.argv0 == 'ls' || ssh.opaque \
        || ssh.request == 'exec' || size(ssh.opaque_reasons) > 0 || size(ssh.wrappers) > 0 \
        || ssh.forward.host == '' || ssh.forward.port == 22 || ssh.sftp.op == '' || ssh.sftp.path == '' \
        || ssh.env.name == '' || ssh.env.value == '' \
        || ssh.subsystem == 'sftp' || http.method == 'GET' || http.path == '/' || size(http.query) == 0 || http.path_template == '' \
        || size(http.headers) == 0 || http.host == '' || http.body == null || http.graphql.operation == '' \
        || k8s.verb == 'get' || k8s.resource == '' || k8s.namespace == '' || k8s.name == '' \
        || k8s.subresource == '' || mcp.tool == '' || mcp.arguments == {})";
    let spec = policy("p", &[], &[], vec![rule("r", Allow, Some(when))]);
    if let Err(e) = PolicySet::compile(vec![spec]) {
        panic!("{e}");
    }
}

#[test]
fn empty_condition_is_rejected() {
    assert!(matches!(compile_err("  "), PolicyError::Cel { .. }));
}

#[test]
fn review_without_reviewers_is_rejected() {
    let mut r = rule("w", Review, Some("sql.writes"));
    r.reviewers.clear();
    let err = PolicySet::compile(vec![policy("p", &[], &[], vec![r])]).err();
    assert_eq!(
        err,
        Some(PolicyError::NoReviewers {
            policy: "p".into(),
            rule: "w".into()
        })
    );
}

#[test]
fn duplicate_rule_and_policy_names_are_rejected() {
    let dup_rules = policy(
        "p",
        &[],
        &[],
        vec![rule("r", Allow, None), rule("r", Deny, None)],
    );
    assert!(matches!(
        PolicySet::compile(vec![dup_rules]),
        Err(PolicyError::DuplicateRule { .. })
    ));
    let a = policy("p", &[], &[], vec![]);
    assert!(matches!(
        PolicySet::compile(vec![a.clone(), a]),
        Err(PolicyError::DuplicatePolicy { .. })
    ));
}

#[test]
fn unknown_detector_is_rejected() {
    let mut p = policy("p", &[], &[], vec![]);
    p.masks = vec![MaskSpec {
        columns: vec![],
        detectors: vec!["emails".into()],
        ..MaskSpec::default()
    }];
    let text = PolicySet::compile(vec![p])
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(text.contains("unknown mask detector 'emails'"), "{text}");
    assert!(text.contains("credit_card"), "{text}");
}
