//! `[[identity.oidc]]`: what loads, with its defaults, and each error at its line.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)] // tests may fail loudly

use std::path::Path;
use std::time::Duration;

use vigil_config::{Config, ConfigError, load_str_with_env};

fn load(text: &str) -> Result<Config, ConfigError> {
    load_str_with_env(text, Path::new("v.toml"), |name| {
        (name == "IDP").then(|| "https://idp.example.com/realms/acme".to_owned())
    })
}

fn error_of(text: &str) -> String {
    match load(text) {
        Ok(_) => panic!("should be rejected:\n{text}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn several_issuers_load_with_their_defaults() {
    let config = load(
        r#"
[[identity.oidc]]
issuer = "${IDP}"
audience = "vigil"
groups_claim = "realm_access.roles"
agent_when = 'has(claims.azp) && claims.azp == "crew-runner"'
groups = ["acme"]
grace = "2m"

[[identity.oidc]]
issuer = "http://127.0.0.1:8081"
audience = ["vigil", "api"]
name_claim = "email"
leeway = "5s"
min_refresh_interval = "1s"
"#,
    )
    .unwrap();
    let [a, b] = &config.identity.oidc[..] else {
        panic!("{:?}", config.identity)
    };
    assert_eq!(a.issuer, "https://idp.example.com/realms/acme");
    assert_eq!(a.audience, vec!["vigil"]);
    assert_eq!(a.groups_claim.as_deref(), Some("realm_access.roles"));
    assert_eq!(a.name_claim, "sub");
    assert_eq!(a.groups, vec!["acme"]);
    assert_eq!(a.leeway, Duration::from_secs(60));
    assert_eq!(a.grace, Duration::from_secs(120));
    assert_eq!(a.min_refresh_interval, Duration::from_secs(30));
    assert!(a.agent_when.is_some());
    assert_eq!(b.audience, vec!["vigil", "api"]);
    assert_eq!(b.name_claim, "email");
    assert_eq!(b.leeway, Duration::from_secs(5));
    assert_eq!(b.grace, Duration::ZERO);
    assert_eq!(b.agent_when, None);

    assert!(load("").unwrap().identity.oidc.is_empty());
}

#[test]
fn issuer_errors_point_at_their_line() {
    let cases = [
        (
            "[[identity.oidc]]\nissuer = \"http://idp.example.com\"\naudience = \"v\"\n",
            "v.toml:2:10: issuer `http://idp.example.com` uses plain HTTP",
        ),
        (
            "[[identity.oidc]]\nissuer = \"idp.example.com\"\naudience = \"v\"\n",
            "v.toml:2:10: issuer `idp.example.com` is not an https:// URL",
        ),
        (
            "[[identity.oidc]]\nissuer = \"https://a\"\naudience = \"v\"\nagent_when = \"claims.azp ==\"\n",
            "v.toml:4:14: `agent_when` is not valid CEL",
        ),
        (
            "[[identity.oidc]]\nissuer = \"https://a\"\naudience = []\n",
            "v.toml:3:12: `audience` must name at least one audience",
        ),
        (
            "[[identity.oidc]]\nissuer = \"https://a\"\naudience = \"v\"\n[[identity.oidc]]\nissuer = \"https://a\"\naudience = \"v\"\n",
            "v.toml:5:10: duplicate issuer `https://a` (first defined at line 2)",
        ),
        (
            "[[identity.oidc]]\nissuer = \"https://a\"\naudience = \"v\"\nleeway = \"soon\"\n",
            "v.toml:4:10: invalid duration `soon`",
        ),
        (
            "[[identity.oidc]]\nissuer = \"https://a\"\naudience = \"v\"\ngroup_claim = \"g\"\n",
            "v.toml:4:1: unknown field `group_claim`",
        ),
        (
            "[[identity.oidc]]\naudience = \"v\"\n",
            "v.toml:1:1: missing field `issuer`",
        ),
    ];
    for (text, prefix) in cases {
        let err = error_of(text);
        assert!(err.starts_with(prefix), "expected `{prefix}`, got `{err}`");
    }
}
