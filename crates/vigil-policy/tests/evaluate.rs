//! Evaluation semantics: precedence, default deny, fail-closed errors, matching.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)] // tests may fail loudly

mod common;

use common::*;
use std::time::Duration;
use vigil_core::{ReviewMode, Verdict};
use vigil_policy::{MaskSpec, MaskStyle};

fn analysts_policy() -> vigil_policy::PolicySpec {
    policy(
        "analysts",
        &["analysts"],
        &["shop"],
        vec![
            rule("reads", Allow, Some("sql.read_only")),
            rule(
                "writes-need-a-dba",
                Review,
                Some("sql.writes && sql.has_where"),
            ),
            rule(
                "no-unbounded-delete",
                Deny,
                Some("sql.kind == 'delete' && !sql.has_where"),
            ),
        ],
    )
}

#[test]
fn read_is_allowed_by_its_rule() {
    let set = compile(vec![analysts_policy()]);
    let v = eval(
        &set,
        &agent("a", &["analysts"]),
        &sql_on("shop", select("orders")),
    )
    .verdict;
    assert_eq!(
        v,
        Verdict::Allow {
            rule: "reads".into()
        }
    );
}

#[test]
fn nothing_allows_means_default_deny() {
    let set = compile(vec![policy(
        "p",
        &[],
        &[],
        vec![rule("reads", Allow, Some("sql.read_only"))],
    )]);
    let mut facts = select("t");
    facts.read_only = false;
    facts.kind = "do".into();
    let v = eval(&set, &agent("a", &[]), &sql_on("shop", facts)).verdict;
    assert_eq!(
        v,
        Verdict::Deny {
            rule: "default-deny".into(),
            reason: "no policy rule allows this statement".into()
        }
    );
}

#[test]
fn no_policy_at_all_denies() {
    let set = compile(vec![]);
    let v = eval(&set, &agent("a", &[]), &sql_on("shop", select("t"))).verdict;
    assert_eq!(v.rule(), "default-deny");
}

#[test]
fn deny_wins_over_review_and_allow() {
    let set = compile(vec![policy(
        "p",
        &[],
        &[],
        vec![
            rule("all", Allow, None),
            rule("writes", Review, Some("sql.writes")),
            rule("no-unbounded-delete", Deny, Some("!sql.has_where")),
        ],
    )]);
    let v = eval(
        &set,
        &agent("a", &[]),
        &sql_on("shop", delete("orders", false)),
    )
    .verdict;
    assert_eq!(
        v,
        Verdict::Deny {
            rule: "no-unbounded-delete".into(),
            reason: "the statement matched a deny rule".into()
        }
    );
}

#[test]
fn deny_wins_across_policies() {
    let allow_all = policy("open", &[], &[], vec![rule("all", Allow, None)]);
    let mut guard = rule("no-deletes", Deny, Some("sql.kind == 'delete'"));
    guard.reason = Some("deletes are not allowed here".into());
    let closed = policy("closed", &["agents"], &["shop"], vec![guard]);
    let set = compile(vec![allow_all, closed]);
    let action = sql_on("shop", delete("orders", true));
    let v = eval(&set, &agent("a", &["agents"]), &action).verdict;
    assert_eq!(
        v,
        Verdict::Deny {
            rule: "no-deletes".into(),
            reason: "deletes are not allowed here".into()
        }
    );
    // The same statement by someone the deny policy does not name is allowed.
    let v = eval(&set, &agent("b", &["humans"]), &action).verdict;
    assert_eq!(v, Verdict::Allow { rule: "all".into() });
}

#[test]
fn review_wins_over_allow_and_carries_its_fields() {
    let mut review = rule("writes-need-a-dba", Review, Some("sql.writes"));
    review.reviewers = vec!["dba".into(), "sre".into()];
    review.mode = ReviewMode::Retry;
    review.timeout = Duration::from_secs(90);
    review.reason = Some("writes need a DBA".into());
    let set = compile(vec![policy(
        "p",
        &[],
        &[],
        vec![rule("all", Allow, None), review],
    )]);
    let v = eval(
        &set,
        &agent("a", &[]),
        &sql_on("shop", delete("orders", true)),
    )
    .verdict;
    assert_eq!(
        v,
        Verdict::Review {
            rule: "writes-need-a-dba".into(),
            reason: "writes need a DBA".into(),
            reviewers: vec!["dba".into(), "sre".into()],
            mode: ReviewMode::Retry,
            timeout: Duration::from_secs(90),
            valid_for: Duration::from_secs(15 * 60),
        }
    );
}

#[test]
fn review_defaults_are_hold_and_five_minutes() {
    let set = compile(vec![policy(
        "p",
        &[],
        &[],
        vec![rule("w", Review, Some("sql.writes"))],
    )]);
    match eval(&set, &agent("a", &[]), &sql_on("shop", delete("t", true))).verdict {
        Verdict::Review {
            mode,
            timeout,
            reviewers,
            reason,
            ..
        } => {
            assert_eq!(mode, ReviewMode::Hold);
            assert_eq!(timeout, Duration::from_secs(300));
            assert_eq!(reviewers, vec!["dba".to_string()]);
            assert!(!reason.is_empty());
        }
        other => panic!("expected review, got {other:?}"),
    }
}

#[test]
fn a_runtime_error_counts_as_a_matching_deny() {
    // Indexing an empty list errors at run time.
    let set = compile(vec![policy(
        "p",
        &[],
        &[],
        vec![
            rule("all", Allow, None),
            rule(
                "first-table",
                Allow,
                Some("sql.tables_written[0] == 'public.x'"),
            ),
        ],
    )]);
    let v = eval(
        &set,
        &agent("a", &[]),
        &sql_on("shop", select("secret_table")),
    )
    .verdict;
    match v {
        Verdict::Deny { rule, reason } => {
            assert_eq!(rule, "first-table");
            assert!(reason.contains("could not be evaluated"), "{reason}");
            assert!(
                !reason.contains("secret_table"),
                "no values in the reason: {reason}"
            );
        }
        other => panic!("expected deny, got {other:?}"),
    }
}

#[test]
fn a_non_bool_condition_counts_as_a_matching_deny() {
    let set = compile(vec![policy(
        "p",
        &[],
        &[],
        vec![
            rule("all", Allow, None),
            rule("text", Allow, Some("sql.text")),
        ],
    )]);
    let v = eval(&set, &agent("a", &[]), &sql_on("shop", select("t"))).verdict;
    match v {
        Verdict::Deny { rule, reason } => {
            assert_eq!(rule, "text");
            assert!(reason.contains("true or false"), "{reason}");
            assert!(!reason.contains("SELECT"), "{reason}");
        }
        other => panic!("expected deny, got {other:?}"),
    }
}

#[test]
fn a_failing_review_rule_denies_even_when_allowed() {
    let set = compile(vec![policy(
        "p",
        &[],
        &[],
        vec![
            rule("all", Allow, None),
            rule("bad", Review, Some("1 / 0 == 1")),
        ],
    )]);
    let v = eval(&set, &agent("a", &[]), &sql_on("shop", select("t"))).verdict;
    assert_eq!(v.label(), "deny");
    assert_eq!(v.rule(), "bad");
}

#[test]
fn a_rule_without_when_always_matches() {
    let set = compile(vec![policy(
        "p",
        &[],
        &[],
        vec![rule("everything", Allow, None)],
    )]);
    let v = eval(&set, &agent("a", &[]), &sql_on("any", delete("t", false))).verdict;
    assert_eq!(
        v,
        Verdict::Allow {
            rule: "everything".into()
        }
    );
}

#[test]
fn groups_select_the_policy() {
    let set = compile(vec![policy(
        "p",
        &["analysts", "dba"],
        &[],
        vec![rule("all", Allow, None)],
    )]);
    let action = sql_on("shop", select("t"));
    assert_eq!(
        eval(&set, &agent("a", &["dba"]), &action).verdict.label(),
        "allow"
    );
    assert_eq!(
        eval(&set, &agent("a", &["marketing"]), &action)
            .verdict
            .label(),
        "deny"
    );
    assert_eq!(
        eval(&set, &agent("a", &[]), &action).verdict.label(),
        "deny"
    );
}

#[test]
fn empty_or_star_groups_mean_everyone() {
    for groups in [&[][..], &["*"][..]] {
        let set = compile(vec![policy(
            "p",
            groups,
            &[],
            vec![rule("all", Allow, None)],
        )]);
        let v = eval(&set, &agent("a", &[]), &sql_on("shop", select("t"))).verdict;
        assert_eq!(v.label(), "allow", "groups {groups:?}");
    }
}

#[test]
fn connection_names_and_globs_select_the_policy() {
    let set = compile(vec![policy(
        "p",
        &[],
        &["shop-*", "billing"],
        vec![rule("all", Allow, None)],
    )]);
    let a = agent("a", &[]);
    for (conn, expected) in [
        ("shop-eu", "allow"),
        ("billing", "allow"),
        ("shop", "deny"),
        ("billing2", "deny"),
    ] {
        assert_eq!(
            eval(&set, &a, &sql_on(conn, select("t"))).verdict.label(),
            expected,
            "{conn}"
        );
    }
}

#[test]
fn grants_follow_groups_and_connections() {
    let set = compile(vec![
        policy(
            "analysts",
            &["analysts"],
            &["shop", "stats-*"],
            vec![rule("r", Allow, None)],
        ),
        policy("ops", &["ops"], &[], vec![rule("r", Allow, None)]),
    ]);
    let analyst = agent("a", &["analysts"]);
    assert!(set.grants(&analyst, "shop"));
    assert!(set.grants(&analyst, "stats-eu"));
    assert!(!set.grants(&analyst, "billing"));
    assert!(set.grants(&agent("o", &["ops"]), "billing"));
    assert!(!set.grants(&agent("x", &["nobody"]), "shop"));
    assert_eq!(set.connections_for(&analyst), vec!["shop", "stats-*"]);
    assert_eq!(
        set.connections_for(&agent("o", &["ops", "analysts"])),
        vec!["shop", "stats-*", "*"]
    );
    assert!(set.connections_for(&agent("x", &[])).is_empty());
}

#[test]
fn masks_add_up_across_matching_policies() {
    let mut first = policy("p1", &[], &["shop"], vec![rule("all", Allow, None)]);
    first.masks = vec![MaskSpec {
        columns: vec!["customers.email".into()],
        detectors: vec![],
        style: MaskStyle::Partial,
        ..MaskSpec::default()
    }];
    let mut second = policy("p2", &["analysts"], &[], vec![]);
    second.masks = vec![MaskSpec {
        columns: vec!["*.ssn".into()],
        detectors: vec!["credit_card".into()],
        style: MaskStyle::Hash,
        ..MaskSpec::default()
    }];
    let mut unrelated = policy("p3", &["nobody"], &[], vec![]);
    unrelated.masks = vec![MaskSpec::default()];
    let set = compile(vec![first, second, unrelated]);
    let e = eval(
        &set,
        &agent("a", &["analysts"]),
        &sql_on("shop", select("customers")),
    );
    assert_eq!(e.verdict.label(), "allow");
    assert_eq!(e.masks.len(), 2);
    assert_eq!(e.masks[0].columns, vec!["customers.email".to_string()]);
    assert_eq!(e.masks[1].style, MaskStyle::Hash);
    assert_eq!(set.masks_for(&agent("a", &["analysts"]), "shop"), e.masks);
    assert!(set.masks_for(&agent("b", &[]), "other").is_empty());
}

#[test]
fn rules_of_another_protocol_do_not_apply_to_sql() {
    let set = compile(vec![policy(
        "p",
        &[],
        &[],
        vec![
            rule("reads", Allow, Some("sql.read_only")),
            rule("no-rm", Deny, Some("ssh.command == 'rm'")),
        ],
    )]);
    let v = eval(&set, &agent("a", &[]), &sql_on("shop", select("t"))).verdict;
    assert_eq!(
        v,
        Verdict::Allow {
            rule: "reads".into()
        }
    );
}

#[test]
fn oidc_claims_are_visible_to_conditions_and_absent_claims_fail_closed() {
    let set = compile(vec![policy(
        "crew",
        &[],
        &[],
        vec![rule(
            "runner-reads",
            Allow,
            Some(
                r#"principal.claims.azp == "crew-runner" && "ops" in principal.claims.realm_access.roles"#,
            ),
        )],
    )]);
    let mut oidc = agent("bot", &[]);
    oidc.claims =
        Some(serde_json::json!({"azp": "crew-runner", "realm_access": {"roles": ["ops"]}}));
    let action = sql_on("shop", select("t"));
    assert_eq!(eval(&set, &oidc, &action).verdict.label(), "allow");

    let mut other = agent("bot2", &[]);
    other.claims =
        Some(serde_json::json!({"azp": "someone-else", "realm_access": {"roles": ["ops"]}}));
    assert_eq!(eval(&set, &other, &action).verdict.label(), "deny");

    // A Vigil token has no claims: the condition errors, which denies.
    assert_eq!(
        eval(&set, &agent("token", &[]), &action).verdict.label(),
        "deny"
    );
}
