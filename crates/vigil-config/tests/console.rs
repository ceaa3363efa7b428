//! `[console]`: the SSO client and session lifetimes, and each error at its line.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)] // tests may fail loudly

use std::path::Path;
use std::time::Duration;

use vigil_config::{Config, ConfigError, load_str_with_env};

const ISSUER: &str = r#"
[[identity.oidc]]
issuer = "https://idp.example.com"
audience = "vigil-console"
"#;

fn load(text: &str) -> Result<Config, ConfigError> {
    load_str_with_env(text, Path::new("v.toml"), |_| None)
}

fn error_of(text: &str) -> String {
    match load(text) {
        Ok(_) => panic!("should be rejected:\n{text}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn without_the_section_the_console_signs_in_with_tokens_only() {
    let c = load("").unwrap().console;
    assert!(c.oidc.is_none());
    assert_eq!(c.idle_timeout, Duration::from_secs(1800));
    assert_eq!(c.max_age, Duration::from_secs(12 * 3600));
}

#[test]
fn sso_takes_the_only_issuer() {
    let c = load(&format!(
        "{ISSUER}\n[console]\noidc_client_id = \"vigil-console\"\nredirect_url = \"https://gw.example.com:8080/console/oidc/callback\"\nidle_timeout = \"5m\"\n"
    ))
    .unwrap()
    .console;
    let oidc = c.oidc.unwrap();
    assert_eq!(oidc.issuer, "https://idp.example.com");
    assert_eq!(oidc.client_id, "vigil-console");
    assert_eq!(c.idle_timeout, Duration::from_secs(300));
}

#[test]
fn sso_without_an_issuer_or_a_redirect_is_refused_at_its_line() {
    let e = error_of(
        "[console]\noidc_client_id = \"c\"\nredirect_url = \"https://gw/console/oidc/callback\"\n",
    );
    assert!(
        e.contains("v.toml:2:") && e.contains("[[identity.oidc]]"),
        "{e}"
    );
    let e = error_of(&format!("{ISSUER}\n[console]\noidc_client_id = \"c\"\n"));
    assert!(e.contains("redirect_url"), "{e}");
    let e = error_of(&format!(
        "{ISSUER}\n[console]\noidc_client_id = \"c\"\nredirect_url = \"http://gw.example.com/console/oidc/callback\"\n"
    ));
    assert!(e.contains("https://"), "{e}");
    let e = error_of(&format!(
        "{ISSUER}\n[console]\noidc_client_id = \"c\"\noidc_issuer = \"https://other\"\nredirect_url = \"https://gw/console/oidc/callback\"\n"
    ));
    assert!(
        e.contains("not one of the [[identity.oidc]] issuers"),
        "{e}"
    );
    let e = error_of("[console]\nredirect_url = \"https://gw/console/oidc/callback\"\n");
    assert!(e.contains("go with `oidc_client_id`"), "{e}");
    let e = error_of("[console]\nunknown = 1\n");
    assert!(e.contains("unknown"), "{e}");
}
