//! A session outlives its login: the gate re-checks the credential behind an
//! open session, at most once per cache lifetime per token.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::{Duration, Instant};
use vigil_core::{IdentityKey, PrincipalKind, PrincipalRecord};
use vigil_identity::Principal;
use vigil_identity::{Authenticator, DEFAULT_CACHE_TTL, IdentityError, TokenAuthority};
use vigil_store::{SqliteStore, Store, StoreOptions};

struct Fixture {
    _dir: tempfile::TempDir,
    store: Arc<dyn Store>,
    authority: TokenAuthority,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> =
        Arc::new(SqliteStore::open(dir.path(), StoreOptions::default()).unwrap());
    Fixture {
        _dir: dir,
        authority: TokenAuthority::new(Arc::clone(&store)),
        store,
    }
}

#[test]
fn the_default_cache_lifetime_keeps_the_one_second_promise() {
    assert!(DEFAULT_CACHE_TTL <= Duration::from_secs(1));
}

#[tokio::test]
async fn a_revoked_token_fails_its_next_recheck_after_the_cache_lifetime() {
    let f = fixture();
    let token = f
        .authority
        .issue("ci-bot", &[], PrincipalKind::Agent, None)
        .await
        .unwrap();
    let mut gate = Authenticator::new(Arc::clone(&f.store));
    gate.set_cache_ttl(Duration::from_millis(100));
    assert_eq!(gate.cache_ttl(), Duration::from_millis(100));
    let principal = gate.authenticate(&token).await.unwrap();
    let before = Instant::now();
    let checked = gate.revalidate(&principal).await.unwrap();
    assert!(checked <= Instant::now());
    // A cached re-check reports when the store last vouched, not "now".
    assert!(checked <= before, "the login's lookup answers the re-check");

    f.authority.revoke("ci-bot").await.unwrap();
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert!(matches!(
        gate.revalidate(&principal).await,
        Err(IdentityError::Revoked)
    ));
    // A new login is refused too.
    assert!(matches!(
        gate.authenticate(&token).await,
        Err(IdentityError::Revoked)
    ));
}

#[tokio::test]
async fn without_a_cache_every_recheck_reads_the_store() {
    let f = fixture();
    let token = f
        .authority
        .issue("ci-bot", &[], PrincipalKind::Agent, None)
        .await
        .unwrap();
    let mut gate = Authenticator::new(Arc::clone(&f.store));
    gate.set_cache_ttl(Duration::ZERO);
    let principal = gate.authenticate(&token).await.unwrap();
    gate.revalidate(&principal).await.unwrap();
    f.authority.revoke("ci-bot").await.unwrap();
    assert!(matches!(
        gate.revalidate(&principal).await,
        Err(IdentityError::Revoked)
    ));
}

#[tokio::test]
async fn a_token_principal_carries_its_deadline_and_identity() {
    let f = fixture();
    let token = f
        .authority
        .issue(
            "ci-bot",
            &[],
            PrincipalKind::Agent,
            Some(Duration::from_secs(3600)),
        )
        .await
        .unwrap();
    let gate = Authenticator::new(Arc::clone(&f.store));
    let principal = gate.authenticate(&token).await.unwrap();
    assert!(principal.expires_at_ms.is_some(), "{principal:?}");
    assert_eq!(
        principal.identity(),
        IdentityKey {
            issuer: "vigil".into(),
            subject: "ci-bot".into()
        }
    );
    // The token's hash rides along, never printed.
    assert!(principal.token_hash().is_some());
    assert!(format!("{principal:?}").contains("stored: Some(Token(***))"));
}

#[tokio::test]
async fn principals_without_a_vigil_token_have_nothing_to_recheck() {
    let f = fixture();
    let gate = Authenticator::new(Arc::clone(&f.store));
    let oidc = Principal::unverified_for_tests(
        PrincipalRecord {
            name: "alice".into(),
            issuer: "https://idp.example".into(),
            subject: Some("u-1".into()),
            ..PrincipalRecord::default()
        },
        None,
    );
    gate.revalidate(&oidc).await.unwrap();
}
