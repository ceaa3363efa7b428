//! The credential keys: `[identity] token_cache` and a connection's
//! `auth_methods` (what the target may ask Vigil to answer).
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)] // tests may fail loudly

use std::path::Path;
use std::time::Duration;

use vigil_config::{Config, UpstreamAuth, load_str_with_env};

const CONN: &str = "[[connection]]\nname = \"shop\"\nkind = \"postgres\"\naddress = \"127.0.0.1:5432\"\ndatabase = \"shop\"\nuser = \"app\"\n";

fn load(text: &str) -> Result<Config, String> {
    load_str_with_env(text, Path::new("v.toml"), |_| None).map_err(|e| e.to_string())
}

#[test]
fn the_token_cache_defaults_to_one_second_and_is_settable() {
    let config = load(CONN).unwrap();
    assert_eq!(config.identity.token_cache, Duration::from_secs(1));
    let config = load(&format!("[identity]\ntoken_cache = \"250ms\"\n{CONN}")).unwrap();
    assert_eq!(config.identity.token_cache, Duration::from_millis(250));
    let config = load(&format!("[identity]\ntoken_cache = \"0s\"\n{CONN}")).unwrap();
    assert_eq!(config.identity.token_cache, Duration::ZERO);
}

#[test]
fn a_token_cache_past_a_minute_is_refused_at_its_value() {
    let err = load(&format!("[identity]\ntoken_cache = \"10m\"\n{CONN}")).unwrap_err();
    assert!(err.starts_with("v.toml:2:15: "), "{err}");
    assert!(err.contains("too long"), "{err}");
}

#[test]
fn upstream_auth_defaults_to_scram_only() {
    let config = load(CONN).unwrap();
    assert_eq!(
        config.connections[0].postgres().unwrap().auth_methods,
        vec![UpstreamAuth::ScramSha256]
    );
}

#[test]
fn weaker_upstream_auth_is_allowed_only_when_listed() {
    let config = load(&format!(
        "{CONN}auth_methods = [\"scram-sha-256\", \"md5\", \"password\", \"trust\"]\n"
    ))
    .unwrap();
    assert_eq!(
        config.connections[0].postgres().unwrap().auth_methods,
        vec![
            UpstreamAuth::ScramSha256,
            UpstreamAuth::Md5,
            UpstreamAuth::Password,
            UpstreamAuth::Trust
        ]
    );
}

#[test]
fn unknown_or_empty_auth_methods_are_located() {
    let err = load(&format!("{CONN}auth_methods = [\"gss\"]\n")).unwrap_err();
    assert!(err.starts_with("v.toml:7:"), "{err}");
    assert!(err.contains("unknown authentication method `gss`"), "{err}");
    let err = load(&format!("{CONN}auth_methods = []\n")).unwrap_err();
    assert!(err.starts_with("v.toml:7:16: "), "{err}");
    assert!(err.contains("at least one method"), "{err}");
}
