//! What the verdict cache keeps, what it must not keep, and that a kept
//! verdict is the one a fresh evaluation gives.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)] // tests may fail loudly

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use vigil_core::{
    ActionKind, ConnectionKind, ConnectionRef, PrincipalKind, PrincipalRecord, ReviewMode,
    SqlFacts, SshFacts, Verdict,
};

use crate::{Effect, EvalInput, Evaluation, MaskSpec, PolicySet, PolicySpec, RuleSpec};

fn rule(name: &str, effect: Effect, when: Option<&str>) -> RuleSpec {
    let mut rule = RuleSpec::new(name, effect, when);
    if effect == Effect::Review {
        rule.reviewers = vec!["dba".into()];
    }
    rule
}

fn policy(name: &str, groups: &[&str], connections: &[&str], rules: Vec<RuleSpec>) -> PolicySpec {
    PolicySpec {
        name: name.into(),
        groups: groups.iter().map(|g| g.to_string()).collect(),
        connections: connections.iter().map(|c| c.to_string()).collect(),
        rules,
        ..PolicySpec::default()
    }
}

fn compile(specs: Vec<PolicySpec>) -> PolicySet {
    PolicySet::compile(specs).expect("policy compiles")
}

fn agent(name: &str, groups: &[&str]) -> PrincipalRecord {
    PrincipalRecord {
        name: name.into(),
        groups: groups.iter().map(|g| g.to_string()).collect(),
        kind: PrincipalKind::Agent,
        issuer: "vigil".into(),
        ..PrincipalRecord::default()
    }
}

fn conn(name: &str) -> ConnectionRef {
    ConnectionRef {
        name: name.into(),
        kind: ConnectionKind::Postgres,
    }
}

fn select(text: &str) -> ActionKind {
    ActionKind::Sql(SqlFacts {
        kind: "select".into(),
        read_only: true,
        tables_read: vec!["public.orders".into()],
        text: text.into(),
        ..SqlFacts::default()
    })
}

fn delete(text: &str) -> ActionKind {
    ActionKind::Sql(SqlFacts {
        kind: "delete".into(),
        writes: true,
        has_where: true,
        tables_written: vec!["public.orders".into()],
        text: text.into(),
        ..SqlFacts::default()
    })
}

/// 2024-01-01T12:00:00Z.
fn noon() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_704_110_400)
}

fn eval_at(
    set: &PolicySet,
    who: &PrincipalRecord,
    on: &ConnectionRef,
    action: &ActionKind,
    now: SystemTime,
) -> Evaluation {
    set.evaluate(&EvalInput {
        principal: who,
        connection: on,
        action,
        now,
    })
}

fn eval(
    set: &PolicySet,
    who: &PrincipalRecord,
    on: &ConnectionRef,
    action: &ActionKind,
) -> Evaluation {
    eval_at(set, who, on, action, noon())
}

fn allowed(e: &Evaluation) -> bool {
    matches!(e.verdict, Verdict::Allow { .. })
}

#[test]
fn a_shape_only_policy_is_answered_from_the_cache_for_another_text() {
    let set = compile(vec![policy(
        "p",
        &["analysts"],
        &["shop"],
        vec![rule("reads", Effect::Allow, Some("sql.read_only"))],
    )]);
    let alice = agent("alice", &["analysts"]);
    let first = eval(
        &set,
        &alice,
        &conn("shop"),
        &select("SELECT * FROM orders WHERE id = 1"),
    );
    assert!(allowed(&first));
    assert_eq!(set.cached_verdicts(), 1);
    let second = eval(
        &set,
        &alice,
        &conn("shop"),
        &select("SELECT * FROM orders WHERE id = 2"),
    );
    assert_eq!(first, second);
    assert_eq!(set.cached_verdicts(), 1, "same shape, same entry");
}

#[test]
fn a_rule_on_the_statement_text_is_evaluated_every_time() {
    let set = compile(vec![policy(
        "p",
        &[],
        &[],
        vec![
            rule(
                "no-secrets",
                Effect::Deny,
                Some("sql.text.contains('secret')"),
            ),
            rule("reads", Effect::Allow, Some("sql.read_only")),
        ],
    )]);
    let alice = agent("alice", &["analysts"]);
    let shop = conn("shop");
    assert!(allowed(&eval(
        &set,
        &alice,
        &shop,
        &select("SELECT a FROM orders")
    )));
    let denied = eval(&set, &alice, &shop, &select("SELECT secret FROM orders"));
    assert_eq!(denied.verdict.rule(), "no-secrets");
    assert!(allowed(&eval(
        &set,
        &alice,
        &shop,
        &select("SELECT a FROM orders")
    )));
    assert_eq!(set.cached_verdicts(), 0);
}

#[test]
fn a_condition_reading_sql_whole_counts_as_reading_the_text() {
    for when in [
        "sql['text'].startsWith('SELECT a')",
        "'text' in sql && sql['text'].startsWith('SELECT a')",
        "[sql][0].text.startsWith('SELECT a')",
        "has(sql.text) && sql.text.startsWith('SELECT a')",
    ] {
        let set = compile(vec![policy(
            "p",
            &[],
            &[],
            vec![rule("r", Effect::Allow, Some(when))],
        )]);
        let alice = agent("alice", &[]);
        let shop = conn("shop");
        assert!(
            allowed(&eval(&set, &alice, &shop, &select("SELECT a FROM orders"))),
            "{when}"
        );
        assert!(
            !allowed(&eval(&set, &alice, &shop, &select("SELECT b FROM orders"))),
            "{when}"
        );
        assert_eq!(set.cached_verdicts(), 0, "{when}");
    }
}

#[test]
fn a_rule_on_the_clock_is_evaluated_every_time() {
    let set = compile(vec![policy(
        "office-hours",
        &[],
        &[],
        vec![rule("daytime", Effect::Allow, Some("now.getHours() < 18"))],
    )]);
    let alice = agent("alice", &[]);
    let shop = conn("shop");
    let action = select("SELECT 1");
    assert!(allowed(&eval_at(&set, &alice, &shop, &action, noon())));
    let evening = noon() + Duration::from_secs(8 * 3600);
    assert!(!allowed(&eval_at(&set, &alice, &shop, &action, evening)));
    assert_eq!(set.cached_verdicts(), 0);
}

#[test]
fn a_rule_on_claims_is_evaluated_every_time() {
    for when in [
        "principal.claims.team == 'a'",
        "principal['claims']['team'] == 'a'",
    ] {
        let set = compile(vec![policy(
            "p",
            &[],
            &[],
            vec![rule("team", Effect::Allow, Some(when))],
        )]);
        let mut alice = agent("alice", &["analysts"]);
        alice.claims = Some(serde_json::json!({"team": "a"}));
        let shop = conn("shop");
        let action = select("SELECT 1");
        assert!(allowed(&eval(&set, &alice, &shop, &action)), "{when}");
        // The same name and groups, a new token with other claims.
        alice.claims = Some(serde_json::json!({"team": "b"}));
        assert!(!allowed(&eval(&set, &alice, &shop, &action)), "{when}");
        assert_eq!(set.cached_verdicts(), 0, "{when}");
    }
}

#[test]
fn a_volatile_rule_of_another_protocol_or_policy_does_not_stop_caching() {
    let set = compile(vec![
        policy(
            "p",
            &["analysts"],
            &[],
            vec![
                rule("reads", Effect::Allow, Some("sql.read_only")),
                rule(
                    "night-ssh",
                    Effect::Deny,
                    Some("ssh.command != '' && now.getHours() > 20"),
                ),
            ],
        ),
        // Applies to other groups only.
        policy(
            "ops",
            &["ops"],
            &[],
            vec![rule("text", Effect::Deny, Some("sql.text == 'x'"))],
        ),
    ]);
    let alice = agent("alice", &["analysts"]);
    assert!(allowed(&eval(
        &set,
        &alice,
        &conn("shop"),
        &select("SELECT 1")
    )));
    assert_eq!(set.cached_verdicts(), 1);
    // SSH actions are never cached.
    let ssh = ActionKind::Ssh(SshFacts::default());
    eval(&set, &alice, &conn("box"), &ssh);
    assert_eq!(set.cached_verdicts(), 1);
    // An ops member's rules read the text: not cached.
    let bob = agent("bob", &["analysts", "ops"]);
    assert!(!allowed(&eval(&set, &bob, &conn("shop"), &select("x"))));
    assert!(allowed(&eval(
        &set,
        &bob,
        &conn("shop"),
        &select("SELECT 1")
    )));
    assert_eq!(set.cached_verdicts(), 1);
}

#[test]
fn groups_connection_and_principal_each_get_their_own_entry() {
    let set = compile(vec![
        policy(
            "analysts",
            &["analysts"],
            &["shop"],
            vec![
                rule("reads", Effect::Allow, Some("sql.read_only")),
                rule("not-bob", Effect::Deny, Some("principal.name == 'bob'")),
            ],
        ),
        policy(
            "admins",
            &["admins"],
            &[],
            vec![rule("all", Effect::Allow, None)],
        ),
    ]);
    let action = select("SELECT 1");
    let alice = agent("alice", &["analysts"]);
    let bob = agent("bob", &["analysts"]);
    let alice_admin = agent("alice", &["admins"]);
    let alice_nobody = agent("alice", &[]);
    let cases = [
        (&alice, "shop", true),
        (&bob, "shop", false),
        (&alice, "crm", false),
        (&alice_admin, "crm", true),
        (&alice_nobody, "shop", false),
    ];
    // Twice: the second round comes from the cache and must agree.
    for round in 0..2 {
        for (who, on, expected) in cases {
            let e = eval(&set, who, &conn(on), &action);
            assert_eq!(allowed(&e), expected, "{} on {on}, round {round}", who.name);
        }
        assert_eq!(set.cached_verdicts(), cases.len());
    }
    // Same name and connection, another kind of connection: its own entry.
    let mysql = ConnectionRef {
        name: "shop".into(),
        kind: ConnectionKind::Mysql,
    };
    assert!(allowed(&eval(&set, &alice, &mysql, &action)));
    assert_eq!(set.cached_verdicts(), cases.len() + 1);
}

#[test]
fn a_changed_group_list_is_a_new_key() {
    let set = compile(vec![policy(
        "p",
        &["analysts"],
        &[],
        vec![rule("reads", Effect::Allow, Some("sql.read_only"))],
    )]);
    let mut alice = agent("alice", &["analysts"]);
    let action = select("SELECT 1");
    assert!(allowed(&eval(&set, &alice, &conn("shop"), &action)));
    // A new token for the same name without the group.
    alice.groups = vec!["interns".into()];
    assert!(!allowed(&eval(&set, &alice, &conn("shop"), &action)));
}

#[test]
fn a_new_policy_set_does_not_see_the_old_ones_verdicts() {
    let alice = agent("alice", &["analysts"]);
    let action = select("SELECT 1");
    let old = compile(vec![policy(
        "p",
        &[],
        &[],
        vec![rule("all", Effect::Allow, None)],
    )]);
    assert!(allowed(&eval(&old, &alice, &conn("shop"), &action)));
    assert_eq!(old.cached_verdicts(), 1);
    // The reload: the same policy name, now denying.
    let new = compile(vec![policy(
        "p",
        &[],
        &[],
        vec![rule("none", Effect::Deny, None)],
    )]);
    assert_eq!(new.cached_verdicts(), 0);
    assert_eq!(
        eval(&new, &alice, &conn("shop"), &action).verdict.rule(),
        "none"
    );
}

#[test]
fn deny_review_and_failure_verdicts_come_back_whole() {
    let mut review = rule("deletes", Effect::Review, Some("sql.kind == 'delete'"));
    review.reason = Some("deletes need a DBA".into());
    review.mode = ReviewMode::Retry;
    review.timeout = Duration::from_secs(42);
    review.valid_for = Duration::from_secs(7);
    let mut deny = rule("no-ddl", Effect::Deny, Some("sql.ddl"));
    deny.reason = Some("no DDL here".into());
    let specs = || {
        vec![policy(
            "p",
            &[],
            &[],
            vec![
                deny.clone(),
                // Fails (index out of range) for a statement writing nothing.
                rule(
                    "first-write",
                    Effect::Deny,
                    Some("sql.kind == 'update' && sql.tables_written[3] == 'x'"),
                ),
                review.clone(),
                rule("rest", Effect::Allow, None),
            ],
        )]
    };
    let cached = compile(specs());
    let fresh = compile(specs()).with_verdict_cache(0);
    let alice = agent("alice", &[]);
    let shop = conn("shop");
    let ddl = ActionKind::Sql(SqlFacts {
        kind: "create_table".into(),
        ddl: true,
        text: "CREATE TABLE t ()".into(),
        ..SqlFacts::default()
    });
    let update = ActionKind::Sql(SqlFacts {
        kind: "update".into(),
        writes: true,
        text: "UPDATE t SET a = 1".into(),
        ..SqlFacts::default()
    });
    for action in [
        delete("DELETE FROM orders WHERE id = 1"),
        ddl,
        update,
        select("SELECT 1"),
    ] {
        let expected = eval(&fresh, &alice, &shop, &action);
        for _ in 0..3 {
            assert_eq!(eval(&cached, &alice, &shop, &action), expected);
            let v = cached.verdict(&EvalInput {
                principal: &alice,
                connection: &shop,
                action: &action,
                now: noon(),
            });
            assert_eq!(v, expected.verdict);
        }
    }
    assert_eq!(cached.cached_verdicts(), 4);
    assert_eq!(fresh.cached_verdicts(), 0);
    let Verdict::Review {
        reason,
        timeout,
        valid_for,
        mode,
        reviewers,
        ..
    } = eval(
        &cached,
        &alice,
        &shop,
        &delete("DELETE FROM orders WHERE id = 9"),
    )
    .verdict
    else {
        panic!("a delete needs review");
    };
    assert_eq!(
        (reason.as_str(), timeout, valid_for, mode, reviewers),
        (
            "deletes need a DBA",
            Duration::from_secs(42),
            Duration::from_secs(7),
            ReviewMode::Retry,
            vec!["dba".to_owned()]
        )
    );
}

#[test]
fn masks_come_back_with_a_cached_verdict() {
    let masks = vec![MaskSpec {
        columns: vec!["public.users.email".into()],
        detectors: vec!["email".into()],
        ..MaskSpec::default()
    }];
    let set = compile(vec![PolicySpec {
        masks: masks.clone(),
        ..policy(
            "p",
            &["analysts"],
            &[],
            vec![rule("reads", Effect::Allow, Some("sql.read_only"))],
        )
    }]);
    let alice = agent("alice", &["analysts"]);
    let first = eval(&set, &alice, &conn("shop"), &select("SELECT 1"));
    let second = eval(&set, &alice, &conn("shop"), &select("SELECT 2"));
    assert_eq!(first.masks, masks);
    assert_eq!(second, first);
    assert_eq!(set.cached_verdicts(), 1);
}

#[test]
fn the_cache_stays_within_its_capacity() {
    let set = compile(vec![policy(
        "p",
        &[],
        &[],
        vec![rule("reads", Effect::Allow, Some("sql.read_only"))],
    )])
    .with_verdict_cache(64);
    let alice = agent("alice", &[]);
    for i in 0..2000 {
        let action = ActionKind::Sql(SqlFacts {
            kind: "select".into(),
            read_only: true,
            tables_read: vec![format!("public.t{i}")],
            text: format!("SELECT * FROM t{i}"),
            ..SqlFacts::default()
        });
        assert!(allowed(&eval(&set, &alice, &conn("shop"), &action)));
    }
    assert!(set.cached_verdicts() <= 64, "{}", set.cached_verdicts());
}
