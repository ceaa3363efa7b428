//! OIDC identities end to end: a real issuer served by the test on loopback
//! (discovery, JWKS, rotation), the real gateway, psql with the JWT as its
//! password and the REST API with it as bearer.

use serde_json::{Value, json};
use vigil_e2e::oidc_issuer::{SigningKey, TestIssuer, jwt_with, now_secs};
use vigil_e2e::psycopg_env::session_id_of;
use vigil_e2e::quickstart::{quickstart_config, seeded_shop};
use vigil_e2e::{
    Gateway, PgCluster, assert_failure, assert_success, psql_through, psql_through_script,
};

/// The quickstart gateway, also trusting `idp`: groups from
/// `realm_access.roles`, agents are tokens of the `crew-runner` client.
fn gateway(pg: &PgCluster, app_password: &str, idp: &TestIssuer) -> Gateway {
    let config = format!(
        r#"{}

[[identity.oidc]]
issuer = "{}"
audience = "vigil"
groups_claim = "realm_access.roles"
agent_when = 'has(claims.azp) && claims.azp == "crew-runner"'
leeway = "0s"
"#,
        quickstart_config(),
        idp.url()
    );
    Gateway::start(
        &config,
        &[
            ("SHOP_PG_ADDR", &pg.address()),
            ("SHOP_PG_PASSWORD", app_password),
        ],
    )
}

fn with_roles(sub: &str, roles: &[&str]) -> Value {
    json!({"sub": sub, "azp": "crew-runner", "realm_access": {"roles": roles}})
}

#[test]
fn psql_with_an_oidc_token_works_and_its_groups_come_from_the_claim() {
    let (pg, app_password) = seeded_shop();
    let idp = TestIssuer::start();
    let gw = gateway(&pg, &app_password, &idp);

    let analyst = idp.token(&with_roles("crew-7", &["analysts"]));
    let out = psql_through(&gw, "shop", &analyst, "SELECT count(*) FROM products");
    assert_eq!(assert_success(&out, "a read with an analyst JWT"), "10");
    // The analysts policy applies: its no-drops rule refuses a DROP.
    let err = assert_failure(
        &psql_through(&gw, "shop", &analyst, "DROP TABLE orders"),
        "a DROP with an analyst JWT",
    );
    assert!(err.contains("no-drops"), "{err}");

    // No group from the claim, no policy, no session.
    let nobody = idp.token(&with_roles("crew-8", &[]));
    assert_failure(
        &psql_through(&gw, "shop", &nobody, "SELECT 1"),
        "a JWT whose claim names no granted group",
    );

    // The REST API takes the JWT as bearer: an admin reads sessions, an
    // analyst may not.
    let admin = idp.token(&json!({"sub": "alice", "realm_access": {"roles": ["admins"]}}));
    let (status, body) = gw.http_get("/api/v1/sessions", Some(&admin));
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("crew-7"), "{body}");
    let (status, _) = gw.http_get("/api/v1/sessions", Some(&analyst));
    assert_eq!(status, 403);
    let (status, _) = gw.http_get("/api/v1/sessions", Some(&format!("{analyst}x")));
    assert_eq!(status, 401);

    // The ledger's session start names the issuer, the subject and the kind.
    let id = session_id_of(&gw, &admin, "crew-7");
    let (status, events) = gw.http_get(&format!("/api/v1/sessions/{id}"), Some(&admin));
    assert_eq!(status, 200, "{events}");
    assert!(events.contains(idp.url()), "{events}");
    assert!(events.contains(r#""subject":"crew-7""#), "{events}");
    assert!(events.contains(r#""kind":"agent""#), "{events}");
    // One JWKS fetch served every token.
    assert_eq!(idp.jwks_fetches(), 1);
}

#[test]
fn a_rotated_issuer_key_is_used_without_restarting_the_gateway() {
    let (pg, app_password) = seeded_shop();
    let idp = TestIssuer::start();
    let gw = gateway(&pg, &app_password, &idp);
    let old = idp.token(&with_roles("crew-7", &["analysts"]));
    assert_success(
        &psql_through(&gw, "shop", &old, "SELECT 1"),
        "before rotation",
    );

    idp.rotate(vec![SigningKey::ec("k2", "ES256")]);
    let new = idp.token(&with_roles("crew-7", &["analysts"]));
    let out = psql_through(&gw, "shop", &new, "SELECT count(*) FROM products");
    assert_eq!(
        assert_success(&out, "after rotation, with the new key"),
        "10"
    );
    assert_eq!(idp.jwks_fetches(), 2);
    // The retired key no longer verifies anything.
    assert_failure(
        &psql_through(&gw, "shop", &old, "SELECT 1"),
        "a token of the retired key",
    );
}

#[test]
fn forged_tokens_are_refused_at_psql_login() {
    let (pg, app_password) = seeded_shop();
    let idp = TestIssuer::start();
    let gw = gateway(&pg, &app_password, &idp);
    let key = idp.key();
    let claims = idp.claims(&with_roles("mallory", &["admins"]));
    let hs256 = jwt_with(&json!({"alg": "HS256", "kid": "k1"}), &claims, |m| {
        let k = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &key.public_key_bytes());
        aws_lc_rs::hmac::sign(&k, m).as_ref().to_vec()
    });
    let none = jwt_with(&json!({"alg": "none"}), &claims, |_| b"x".to_vec());
    let unconfigured = SigningKey::rsa("k1", "RS256").token(&claims);
    let expired = key.token(&idp.claims(&json!({"sub": "mallory", "exp": now_secs() - 10})));
    let wrong_audience = key.token(&idp.claims(&json!({"sub": "mallory", "aud": "other"})));
    for (what, token) in [
        ("HS256 signed with the RSA public key", &hs256),
        ("alg none", &none),
        ("an unconfigured key", &unconfigured),
        ("an expired token", &expired),
        ("a wrong audience", &wrong_audience),
    ] {
        let err = assert_failure(&psql_through(&gw, "shop", token, "SELECT 1"), what);
        // The client learns nothing about why...
        assert!(
            !err.contains("HMAC") && !err.contains("audience"),
            "{what}: {err}"
        );
    }
    // ...the log does.
    let log = gw.log_text();
    for why in [
        "HMAC algorithms are refused",
        "algorithm `none` refused",
        "bad signature",
        "wrong audience",
    ] {
        assert!(log.contains(why), "no `{why}` in the log:\n{log}");
    }
    // And the genuine article still works.
    let real = idp.token(&with_roles("crew-7", &["analysts"]));
    assert_success(
        &psql_through(&gw, "shop", &real, "SELECT 1"),
        "a genuine token",
    );
}

#[test]
fn a_token_that_expires_during_a_session_refuses_the_next_statement() {
    let (pg, app_password) = seeded_shop();
    let idp = TestIssuer::start();
    let gw = gateway(&pg, &app_password, &idp);
    let mut claims = with_roles("crew-7", &["analysts"]);
    claims["exp"] = json!(now_secs() + 3);
    let short = idp.token(&claims);
    let script = "\\set ON_ERROR_STOP 0\nSELECT 'before';\n\\! sleep 5\nSELECT 'after';\nSELECT 'still refused';\n";
    let out = psql_through_script(&gw, "shop", &short, script);
    let (stdout, stderr) = (vigil_e2e::stdout(&out), vigil_e2e::stderr(&out));
    assert!(stdout.contains("before"), "{stdout}\n{stderr}");
    assert!(
        !stdout.contains("after") && !stdout.contains("still refused"),
        "{stdout}"
    );
    assert_eq!(
        stderr
            .matches(
                "vigil: denied by rule 'identity': credential expired; reconnect with a fresh token"
            )
            .count(),
        2,
        "{stderr}"
    );
    // Reconnecting with a fresh token works at once.
    let fresh = idp.token(&with_roles("crew-7", &["analysts"]));
    assert_success(
        &psql_through(&gw, "shop", &fresh, "SELECT 1"),
        "a fresh token",
    );
}

#[test]
fn policy_conditions_read_the_tokens_claims() {
    let (pg, app_password) = seeded_shop();
    let idp = TestIssuer::start();
    let config = format!(
        r#"{}

[[identity.oidc]]
issuer = "{}"
audience = "vigil"
groups = ["crew"]
leeway = "0s"

[[policy]]
name = "crew-by-claim"
groups = ["crew"]
connections = ["shop"]

  [[policy.rule]]
  name = "finance-reads-orders"
  effect = "allow"
  when = 'sql.read_only && has(principal.claims.dept) && principal.claims.dept == "finance"'
"#,
        quickstart_config(),
        idp.url()
    );
    let gw = Gateway::start(
        &config,
        &[
            ("SHOP_PG_ADDR", &pg.address()),
            ("SHOP_PG_PASSWORD", &app_password),
        ],
    );
    let finance = idp.token(&json!({"sub": "f1", "dept": "finance"}));
    let out = psql_through(&gw, "shop", &finance, "SELECT count(*) FROM orders");
    assert_eq!(
        assert_success(&out, "a read by a finance-claim token"),
        "50"
    );
    let sales = idp.token(&json!({"sub": "s1", "dept": "sales"}));
    let err = assert_failure(
        &psql_through(&gw, "shop", &sales, "SELECT count(*) FROM orders"),
        "a read by a sales-claim token",
    );
    assert!(err.contains("default-deny"), "{err}");
}
