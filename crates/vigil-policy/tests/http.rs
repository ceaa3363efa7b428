//! The `http.*` variables: what a rule sees of a proxied HTTP request.

mod common;

use common::*;
use vigil_core::{Action, ActionKind, ConnectionKind, ConnectionRef, HttpFacts};
use vigil_policy::PolicySet;

fn on_billing(facts: HttpFacts) -> Action {
    Action {
        connection: ConnectionRef {
            name: "billing".into(),
            kind: ConnectionKind::Http,
        },
        kind: ActionKind::Http(facts),
    }
}

fn request() -> HttpFacts {
    HttpFacts {
        method: "POST".into(),
        path: "/v1/invoices/42".into(),
        path_template: "/v1/invoices/{id}".into(),
        query: [("tag".to_string(), vec!["a".to_string(), "b".to_string()])].into(),
        headers: [("content-type".to_string(), "application/json".to_string())].into(),
        host: "gw:8080".into(),
        body: Some(serde_json::json!({"amount": 120, "items": [{"sku": "x"}]})),
        graphql_operation: "mutation".into(),
        text: "POST /v1/invoices/42?tag=a&tag=b".into(),
    }
}

#[test]
fn every_http_variable_reads_its_field() {
    let r = on_billing(request());
    assert!(condition_holds("http.method == 'POST'", &r));
    assert!(condition_holds("http.path.startsWith('/v1/invoices/')", &r));
    assert!(condition_holds(
        "http.path_template == '/v1/invoices/{id}'",
        &r
    ));
    assert!(condition_holds("http.query.tag == ['a', 'b']", &r));
    assert!(condition_holds("'b' in http.query['tag']", &r));
    assert!(condition_holds("!('x' in http.query)", &r));
    assert!(condition_holds(
        "http.headers['content-type'] == 'application/json'",
        &r
    ));
    assert!(condition_holds("http.host == 'gw:8080'", &r));
    assert!(condition_holds(
        "http.body.amount > 100 && http.body.items[0].sku == 'x'",
        &r
    ));
    assert!(condition_holds("http.graphql.operation == 'mutation'", &r));
    assert!(condition_holds("connection.kind == 'http'", &r));
}

#[test]
fn a_missing_body_fails_a_condition_on_it_and_so_denies() {
    let r = on_billing(HttpFacts {
        body: None,
        ..request()
    });
    let spec = policy(
        "p",
        &[],
        &[],
        vec![rule("small", Allow, Some("http.body.amount < 100"))],
    );
    let set = PolicySet::compile(vec![spec]).unwrap();
    assert!(set.reads_http_body());
    let verdict = eval(&set, &agent("a", &[]), &r).verdict;
    assert_eq!(verdict.rule(), "small", "{verdict:?}");
    assert!(matches!(verdict, vigil_core::Verdict::Deny { .. }));
}

#[test]
fn only_a_rule_on_http_body_asks_for_the_body() {
    let spec = policy(
        "p",
        &[],
        &[],
        vec![rule(
            "r",
            Allow,
            Some("http.method == 'GET' && http.path == '/'"),
        )],
    );
    let set = PolicySet::compile(vec![spec]).unwrap();
    assert!(!set.reads_http_body());
}
