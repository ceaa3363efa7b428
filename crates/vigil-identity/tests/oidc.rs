//! OIDC through the one gate, against a real issuer served on loopback by the
//! test: every algorithm, key rotation, outages, and an attack suite of
//! forged and broken tokens, each refused.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::Duration;

use aws_lc_rs::hmac;
use serde_json::{Value, json};
use vigil_core::{PrincipalKind, Secret};
use vigil_e2e::oidc_issuer::{SigningKey, TestIssuer, jwt_with, now_secs};
use vigil_identity::{Authenticator, IdentityError, IssuerSettings, OidcVerifier};
use vigil_store::{SqliteStore, Store, StoreOptions};

struct Fixture {
    _dir: tempfile::TempDir,
    gate: Authenticator,
}

fn settings(idp: &TestIssuer) -> IssuerSettings {
    IssuerSettings {
        issuer: idp.url().to_owned(),
        audience: vec!["vigil".into()],
        groups_claim: Some("realm_access.roles".into()),
        agent_when: Some(r#"has(claims.azp) && claims.azp == "crew-runner""#.into()),
        groups: vec!["oidc-users".into()],
        leeway: Duration::from_secs(5),
        ..IssuerSettings::default()
    }
}

fn gate(issuers: Vec<IssuerSettings>) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> =
        Arc::new(SqliteStore::open(dir.path(), StoreOptions::default()).unwrap());
    let gate = Authenticator::new(store).with_oidc(OidcVerifier::new(issuers).unwrap());
    Fixture { _dir: dir, gate }
}

async fn auth(f: &Fixture, token: &str) -> Result<vigil_identity::Principal, IdentityError> {
    f.gate.authenticate(&Secret::new(token.to_owned())).await
}

fn roles(r: &[&str]) -> Value {
    json!({ "realm_access": { "roles": r } })
}

#[tokio::test]
async fn a_valid_token_becomes_a_principal_with_groups_from_the_claim() {
    let idp = TestIssuer::start();
    let f = gate(vec![settings(&idp)]);
    let mut extra = roles(&["analysts", "dba"]);
    extra["sub"] = json!("alice");
    let p = auth(&f, &idp.token(&extra)).await.unwrap();
    assert_eq!(p.name, "alice");
    assert_eq!(p.subject.as_deref(), Some("alice"));
    assert_eq!(p.issuer, idp.url());
    assert_eq!(p.groups, vec!["analysts", "dba", "oidc-users"]);
    assert_eq!(p.kind, PrincipalKind::Human);
    let exp = p.claims.as_ref().unwrap()["exp"].as_i64().unwrap();
    assert_eq!(p.expires_at_ms, Some((exp + 5) * 1000));

    let agent = auth(
        &f,
        &idp.token(&json!({"sub": "crew-1", "azp": "crew-runner"})),
    )
    .await
    .unwrap();
    assert_eq!(agent.kind, PrincipalKind::Agent);
    assert_eq!(agent.groups, vec!["oidc-users"]);
    // Keys are cached: one JWKS fetch for both tokens.
    assert_eq!(idp.jwks_fetches(), 1);
}

#[tokio::test]
async fn every_supported_algorithm_verifies() {
    let keys = vec![
        SigningKey::rsa("rs256", "RS256"),
        SigningKey::rsa("rs384", "RS384"),
        SigningKey::rsa("rs512", "RS512"),
        SigningKey::rsa("ps256", "PS256"),
        SigningKey::rsa("ps384", "PS384"),
        SigningKey::rsa("ps512", "PS512"),
        SigningKey::ec("es256", "ES256"),
        SigningKey::ec("es384", "ES384"),
        SigningKey::ed25519("ed"),
    ];
    let kids: Vec<String> = keys.iter().map(|k| k.kid.clone()).collect();
    let idp = TestIssuer::start_with(keys);
    let f = gate(vec![settings(&idp)]);
    for kid in &kids {
        idp.sign_with(kid);
        let p = auth(&f, &idp.token(&json!({"sub": kid}))).await;
        assert_eq!(p.unwrap().name, *kid);
    }
    assert_eq!(idp.jwks_fetches(), 1);
}

#[tokio::test]
async fn several_issuers_are_told_apart_by_iss() {
    let a = TestIssuer::start();
    let b = TestIssuer::start_with(vec![SigningKey::ec("b1", "ES256")]);
    let mut sb = settings(&b);
    sb.groups_claim = Some("groups".into());
    sb.name_claim = "email".into();
    sb.groups = vec![];
    let f = gate(vec![settings(&a), sb]);
    let pa = auth(&f, &a.token(&json!({"sub": "x"}))).await.unwrap();
    assert_eq!(pa.issuer, a.url());
    let pb = auth(
        &f,
        &b.token(&json!({"sub": "y", "email": "y@b", "groups": "ops"})),
    )
    .await
    .unwrap();
    assert_eq!((pb.issuer.as_str(), pb.name.as_str()), (b.url(), "y@b"));
    assert_eq!(pb.groups, vec!["ops"]);
    // A token from issuer b signed by a's key is refused.
    let forged = a
        .key()
        .token(&b.claims(&json!({"sub": "y", "email": "y@b"})));
    assert!(matches!(
        auth(&f, &forged).await,
        Err(IdentityError::InvalidCredential)
    ));
}

#[tokio::test]
async fn a_rotated_key_is_picked_up_without_restart() {
    let idp = TestIssuer::start();
    let f = gate(vec![settings(&idp)]);
    auth(&f, &idp.token(&json!({"sub": "a"}))).await.unwrap();
    idp.rotate(vec![SigningKey::ec("k2", "ES256")]);
    auth(&f, &idp.token(&json!({"sub": "a"}))).await.unwrap();
    assert_eq!(idp.jwks_fetches(), 2);
}

#[tokio::test]
async fn the_last_good_keys_serve_while_the_issuer_is_down() {
    let idp = TestIssuer::start();
    idp.set_cache_control(Some("max-age=0"));
    let mut s = settings(&idp);
    s.min_refresh_interval = Duration::from_millis(200);
    let f = gate(vec![s]);
    let token = idp.token(&json!({"sub": "a"}));
    auth(&f, &token).await.unwrap();
    idp.set_down(true);
    // Keys expire after the (clamped) 200 ms; the refresh fails; the old
    // keys still verify.
    tokio::time::sleep(Duration::from_millis(300)).await;
    auth(&f, &token).await.unwrap();
    idp.set_down(false);
    tokio::time::sleep(Duration::from_millis(300)).await;
    auth(&f, &token).await.unwrap();
    assert!(idp.jwks_fetches() >= 2);

    // With no keys ever fetched, a down issuer means refusal, and says so.
    let idp = TestIssuer::start();
    idp.set_down(true);
    let f = gate(vec![settings(&idp)]);
    let err = auth(&f, &idp.token(&json!({"sub": "a"})))
        .await
        .unwrap_err();
    assert!(matches!(err, IdentityError::IssuerUnavailable), "{err:?}");
}

#[tokio::test]
async fn a_flood_of_unknown_kids_fetches_the_jwks_at_most_twice() {
    let idp = TestIssuer::start();
    let f = gate(vec![settings(&idp)]);
    let claims = idp.claims(&json!({"sub": "a"}));
    let key = idp.key();
    for i in 0..100 {
        let token = jwt_with(
            &json!({"alg": "RS256", "kid": format!("bogus-{i}")}),
            &claims,
            |m| key.sign(m),
        );
        assert!(matches!(
            auth(&f, &token).await,
            Err(IdentityError::InvalidCredential)
        ));
    }
    assert!(idp.jwks_fetches() <= 2, "{} fetches", idp.jwks_fetches());
    // The real key still works, from the cache.
    auth(&f, &idp.token(&json!({"sub": "a"}))).await.unwrap();
    assert!(idp.jwks_fetches() <= 2);
}

#[tokio::test]
async fn forged_and_broken_tokens_are_refused() {
    let idp = TestIssuer::start_with(vec![
        SigningKey::rsa("k1", "RS256"),
        SigningKey::ec("ec1", "ES256"),
    ]);
    let f = gate(vec![settings(&idp)]);
    let rsa = idp.key();
    let good = idp.claims(&json!({"sub": "mallory", "realm_access": {"roles": ["admins"]}}));
    let now = now_secs();
    let with = |extra: Value| idp.claims(&extra);
    let enc = |v: &[u8]| vigil_e2e::oidc_issuer::b64(v);
    let valid = rsa.token(&good);
    let (h, c, s) = {
        let mut p = valid.split('.');
        (
            p.next().unwrap().to_owned(),
            p.next().unwrap().to_owned(),
            p.next().unwrap().to_owned(),
        )
    };

    let hs256 = jwt_with(&json!({"alg": "HS256", "kid": "k1"}), &good, |m| {
        let key = hmac::Key::new(hmac::HMAC_SHA256, &rsa.public_key_bytes());
        hmac::sign(&key, m).as_ref().to_vec()
    });
    let hs256_jwk = jwt_with(&json!({"alg": "HS256", "kid": "k1"}), &good, |m| {
        let key = hmac::Key::new(hmac::HMAC_SHA256, rsa.jwk().to_string().as_bytes());
        hmac::sign(&key, m).as_ref().to_vec()
    });
    let unconfigured = SigningKey::rsa("k1", "RS256");
    let cases: Vec<(&str, String)> = vec![
        (
            "alg none",
            format!("{}.{c}.{}", enc(br#"{"alg":"none","kid":"k1"}"#), enc(b"x")),
        ),
        (
            "alg none, no signature",
            format!("{}.{c}.", enc(br#"{"alg":"none"}"#)),
        ),
        ("HS256 with the RSA public key's bytes", hs256),
        ("HS256 with the JWK's text", hs256_jwk),
        (
            "RS256 header, kid of an EC key",
            jwt_with(&json!({"alg": "RS256", "kid": "ec1"}), &good, |m| {
                rsa.sign(m)
            }),
        ),
        (
            "ES256 header, kid of an RSA key",
            jwt_with(&json!({"alg": "ES256", "kid": "k1"}), &good, |m| {
                rsa.sign(m)
            }),
        ),
        (
            "unknown kid",
            jwt_with(&json!({"alg": "RS256", "kid": "nope"}), &good, |m| {
                rsa.sign(m)
            }),
        ),
        (
            "valid signature from an unconfigured key",
            unconfigured.token(&good),
        ),
        (
            "wrong issuer",
            rsa.token(&with(json!({"iss": "https://evil.example"}))),
        ),
        (
            "issuer with a trailing slash",
            rsa.token(&with(json!({"iss": format!("{}/", idp.url())}))),
        ),
        (
            "no issuer",
            rsa.token(&json!({"aud": "vigil", "sub": "x", "exp": now + 60})),
        ),
        (
            "wrong audience",
            rsa.token(&with(json!({"aud": "someone-else"}))),
        ),
        (
            "audience list without vigil",
            rsa.token(&with(json!({"aud": ["a", "b"]}))),
        ),
        (
            "no audience",
            rsa.token(&json!({"iss": idp.url(), "sub": "x", "exp": now + 60})),
        ),
        ("expired", rsa.token(&with(json!({"exp": now - 60})))),
        (
            "no exp",
            rsa.token(&json!({"iss": idp.url(), "aud": "vigil", "sub": "x"})),
        ),
        (
            "nbf in the future",
            rsa.token(&with(json!({"nbf": now + 3600}))),
        ),
        (
            "iat in the future",
            rsa.token(&with(json!({"iat": now + 3600}))),
        ),
        ("string exp", rsa.token(&with(json!({"exp": "tomorrow"})))),
        (
            "claims changed after signing",
            format!(
                "{h}.{}.{s}",
                enc(with(json!({"sub": "root"})).to_string().as_bytes())
            ),
        ),
        (
            "signature of another token",
            format!(
                "{h}.{c}.{}",
                rsa.token(&with(json!({}))).rsplit('.').next().unwrap()
            ),
        ),
        (
            "truncated signature",
            format!("{h}.{c}.{}", &s[..s.len() - 8]),
        ),
        ("malformed header base64", format!("{h}*.{c}.{s}")),
        ("header not JSON", format!("{}.{c}.{s}", enc(b"not json"))),
        ("claims not JSON", format!("{h}.{}.{s}", enc(b"{\"sub\":"))),
        ("claims a JSON list", format!("{h}.{}.{s}", enc(b"[1,2]"))),
        ("four segments", format!("{h}.{c}.{s}.{s}")),
        (
            "crit header",
            jwt_with(
                &json!({"alg": "RS256", "kid": "k1", "crit": ["x"]}),
                &good,
                |m| rsa.sign(m),
            ),
        ),
        (
            "17 KiB token",
            rsa.token(&with(json!({"pad": "x".repeat(17 * 1024)}))),
        ),
        (
            "no name claim",
            rsa.token(&json!({"iss": idp.url(), "aud": "vigil", "exp": now + 60})),
        ),
    ];
    for (what, token) in cases {
        let err = auth(&f, &token).await.expect_err(what);
        let expected = what == "expired";
        assert!(
            matches!(err, IdentityError::InvalidCredential) != expected
                && matches!(err, IdentityError::Expired) == expected,
            "{what}: {err:?}"
        );
        // The client-facing text says nothing about why.
        let text = err.to_string();
        assert!(
            text == "invalid credential" || text == "credential expired",
            "{what}: {text}"
        );
    }
    // The good token was fine all along.
    assert_eq!(auth(&f, &valid).await.unwrap().name, "mallory");
}

#[tokio::test]
async fn jwts_are_refused_when_no_issuer_is_configured() {
    let idp = TestIssuer::start();
    let f = gate(vec![]);
    let err = auth(&f, &idp.token(&json!({"sub": "a"})))
        .await
        .unwrap_err();
    assert!(matches!(err, IdentityError::InvalidCredential));
    assert_eq!(idp.jwks_fetches(), 0);
}

#[test]
fn settings_are_checked_when_the_verifier_is_built() {
    let ok = IssuerSettings {
        issuer: "https://idp.example".into(),
        audience: vec!["vigil".into()],
        ..IssuerSettings::default()
    };
    assert!(OidcVerifier::new(vec![ok.clone()]).is_ok());
    for bad in [
        IssuerSettings {
            issuer: "http://idp.example".into(),
            ..ok.clone()
        },
        IssuerSettings {
            audience: vec![],
            ..ok.clone()
        },
        IssuerSettings {
            agent_when: Some("claims.azp ==".into()),
            ..ok.clone()
        },
    ] {
        assert!(OidcVerifier::new(vec![bad.clone()]).is_err(), "{bad:?}");
    }
}
