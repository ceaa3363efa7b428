//! Loading whole files: the documented example, defaults, expansion, secrets.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)] // tests may fail loudly

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use vigil_config::{
    Config, ConfigError, ConnectionKind, LogFormat, TlsMode, load, load_str_with_env,
};
use vigil_core::ReviewMode;
use vigil_policy::{Effect, MaskStyle};

/// The example from ARCHITECTURE.md, byte for byte.
const EXAMPLE: &str = include_str!("architecture_example.toml");

fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + 'static {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |name| map.get(name).cloned()
}

fn load_ok(text: &str, env: &[(&str, &str)]) -> Config {
    match load_str_with_env(text, Path::new("vigil.toml"), env_of(env)) {
        Ok(config) => config,
        Err(e) => panic!("should load: {e}"),
    }
}

#[test]
fn the_architecture_example_loads_as_is() {
    let config = load_ok(EXAMPLE, &[("SHOP_PG_PASSWORD", "s3cret-pw")]);
    assert_eq!(config.server.data_dir, PathBuf::from("./vigil-data"));
    assert_eq!(config.server.admin_groups, vec!["admins".to_string()]);
    assert!(config.server.store.is_none());
    assert_eq!(
        config.listen.postgres,
        "127.0.0.1:15432".parse::<SocketAddr>().ok()
    );
    assert_eq!(
        config.listen.http,
        "127.0.0.1:8080".parse::<SocketAddr>().ok()
    );

    let shop = config.connection("shop").cloned();
    let shop = shop.unwrap_or_else(|| panic!("shop is defined"));
    assert_eq!(shop.kind(), ConnectionKind::Postgres);
    assert_eq!(shop.via, None);
    let shop = shop.postgres().cloned().unwrap();
    assert_eq!(shop.address, "127.0.0.1:5432");
    assert_eq!(shop.database, "shop");
    assert_eq!(shop.user, "app");
    assert_eq!(
        shop.password.as_ref().map(|p| p.expose().as_str()),
        Some("s3cret-pw")
    );
    assert_eq!(shop.tls, TlsMode::Disable);

    let policy = &config.policies[0];
    assert_eq!(policy.name, "analysts");
    assert_eq!(policy.groups, vec!["analysts".to_string()]);
    assert_eq!(policy.connections, vec!["shop".to_string()]);
    assert_eq!(policy.rules.len(), 2);
    assert_eq!(policy.rules[0].effect, Effect::Allow);
    assert_eq!(policy.rules[0].when.as_deref(), Some("sql.read_only"));
    let review = &policy.rules[1];
    assert_eq!(review.effect, Effect::Review);
    assert_eq!(review.reviewers, vec!["dba".to_string()]);
    assert_eq!(review.mode, ReviewMode::Hold);
    assert_eq!(review.timeout, Duration::from_secs(300));
    assert_eq!(review.valid_for, Duration::from_secs(900));
    assert_eq!(policy.masks.len(), 1);
    assert_eq!(policy.masks[0].columns, vec!["customers.email", "*.ssn"]);
    assert_eq!(policy.masks[0].detectors, vec!["credit_card", "email"]);
    assert_eq!(policy.masks[0].style, MaskStyle::Partial);

    assert!(config.compile_policies().is_ok());
}

#[test]
fn the_example_without_its_password_fails_at_that_line() {
    let err = load_str_with_env(EXAMPLE, Path::new("vigil.toml"), env_of(&[])).err();
    let text = err.map(|e| e.to_string()).unwrap_or_default();
    assert!(
        text.starts_with("vigil.toml:16:12: environment variable `SHOP_PG_PASSWORD` is not set"),
        "{text}"
    );
}

#[test]
fn defaults_apply_when_sections_are_absent() {
    let config = load_ok("", &[]);
    assert_eq!(config.server.data_dir, PathBuf::from("./vigil-data"));
    assert!(config.server.admin_groups.is_empty());
    assert_eq!(config.server.workers, None);
    assert_eq!(config.listen.postgres, None);
    assert_eq!(config.tls.cert, None);
    assert!(!config.tls.allow_plaintext);
    assert!(!config.ledger.fsync);
    assert_eq!(config.ledger.checkpoint_every, 1000);
    assert_eq!(config.log.level, "info");
    assert_eq!(config.log.format, LogFormat::Text);
    assert!(config.connections.is_empty() && config.policies.is_empty());
}

#[test]
fn every_key_is_read() {
    let text = r#"
[server]
data_dir = "/var/lib/vigil"
admin_groups = ["admins", "sec"]
store = "postgres://vigil:pw@db/vigil"
workers = 3

[listen]
postgres = "0.0.0.0:5433"
http = "[::1]:8080"

[tls]
cert = "/etc/vigil/cert.pem"
key = "/etc/vigil/key.pem"
allow_plaintext = true

[ledger]
fsync = true
checkpoint_every = 50

[log]
level = "debug"
format = "json"

[[connection]]
name = "billing"
kind = "postgres"
address = "db.internal:6432"
database = "billing"
user = "vigil"
tls = "verify-full"
tls_ca = "/etc/ssl/ca.pem"

[[policy]]
name = "ops"
description = "on-call engineers"
groups = ["*"]
connections = ["bill*"]

  [[policy.rule]]
  name = "no-ddl"
  effect = "deny"
  when = "sql.ddl"
  reason = "schema changes go through migrations"

  [[policy.rule]]
  name = "writes"
  effect = "review"
  when = "sql.writes"
  reviewers = ["dba"]
  mode = "retry"
  timeout = "90s"
  valid_for = "1h"

  [[policy.mask]]
  detectors = ["iban"]
  style = "null"
"#;
    let config = load_ok(text, &[]);
    assert_eq!(config.server.data_dir, PathBuf::from("/var/lib/vigil"));
    assert_eq!(config.server.workers, Some(3));
    assert_eq!(
        config.server.store.as_ref().map(|s| s.expose().as_str()),
        Some("postgres://vigil:pw@db/vigil")
    );
    assert_eq!(config.listen.http, "[::1]:8080".parse::<SocketAddr>().ok());
    assert_eq!(config.tls.key, Some(PathBuf::from("/etc/vigil/key.pem")));
    assert!(config.tls.allow_plaintext);
    assert!(config.ledger.fsync);
    assert_eq!(config.ledger.checkpoint_every, 50);
    assert_eq!(config.log.format, LogFormat::Json);
    let c = config.connections[0].postgres().unwrap();
    assert_eq!(c.tls, TlsMode::VerifyFull);
    assert_eq!(c.tls_ca, Some(PathBuf::from("/etc/ssl/ca.pem")));
    assert!(c.password.is_none());
    let p = &config.policies[0];
    assert_eq!(p.description.as_deref(), Some("on-call engineers"));
    assert_eq!(
        p.rules[0].reason.as_deref(),
        Some("schema changes go through migrations")
    );
    assert_eq!(p.rules[1].mode, ReviewMode::Retry);
    assert_eq!(p.rules[1].timeout, Duration::from_secs(90));
    assert_eq!(p.rules[1].valid_for, Duration::from_secs(3600));
    assert_eq!(p.masks[0].style, MaskStyle::Null);
    assert!(config.compile_policies().is_ok());
}

#[test]
fn expansion_reaches_every_string_including_lists() {
    let text = r#"
[server]
data_dir = "${DATA:-/tmp/vigil}"
admin_groups = ["${ADMINS}", "literal-$$-dollar"]

[[connection]]
name = "${CONN_NAME}"
kind = "${KIND:-postgres}"
address = "${HOST}:${PORT:-5432}"
database = "db"
user = "u"
password = "${PW}"

[[policy]]
name = "p"
groups = ["${GROUP}"]
connections = ["${CONN_NAME}"]
  [[policy.rule]]
  name = "r"
  effect = "${EFFECT:-allow}"
  when = "principal.name == '${WHO}'"
"#;
    let config = load_ok(
        text,
        &[
            ("ADMINS", "root"),
            ("CONN_NAME", "shop"),
            ("HOST", "db.internal"),
            ("PW", "p\"w'\n]]x"),
            ("GROUP", "analysts"),
            ("WHO", "alice"),
        ],
    );
    assert_eq!(config.server.data_dir, PathBuf::from("/tmp/vigil"));
    assert_eq!(config.server.admin_groups, vec!["root", "literal-$-dollar"]);
    assert_eq!(config.connections[0].name, "shop");
    let c = config.connections[0].postgres().unwrap();
    assert_eq!(c.address, "db.internal:5432");
    // A value with quotes and brackets cannot break the TOML: it is expanded after parsing.
    assert_eq!(
        c.password.as_ref().map(|p| p.expose().as_str()),
        Some("p\"w'\n]]x")
    );
    assert_eq!(config.policies[0].groups, vec!["analysts"]);
    assert_eq!(config.policies[0].rules[0].effect, Effect::Allow);
    assert_eq!(
        config.policies[0].rules[0].when.as_deref(),
        Some("principal.name == 'alice'")
    );
}

#[test]
fn secrets_never_show_in_debug_output() {
    let config = load_ok("[server]\nstore = \"postgres://u:store-pw@db/v\"\n", &[]);
    let debug = format!("{config:?}");
    assert!(!debug.contains("store-pw"), "{debug}");

    let config = load_ok(EXAMPLE, &[("SHOP_PG_PASSWORD", "s3cret-pw")]);
    let debug = format!("{config:?}");
    assert!(!debug.contains("s3cret-pw"), "{debug}");
    assert!(debug.contains("***"));
}

#[test]
fn secrets_never_show_in_errors() {
    // A bad value next to the password: toml's own rendering would quote the line.
    let text = "[[connection]]\nname = \"shop\"\nkind = \"postgres\"\naddress = \"h:1\"\ndatabase = \"d\"\nuser = \"u\"\npassword = \"hunter2\" bogus = 1\n";
    let err = load_str_with_env(text, Path::new("v.toml"), env_of(&[])).err();
    let text_err = err.map(|e| e.to_string()).unwrap_or_default();
    assert!(text_err.starts_with("v.toml:7:"), "{text_err}");
    assert!(!text_err.contains("hunter2"), "{text_err}");

    // A wrong type where the password is expected.
    let text = "[[connection]]\nname = \"shop\"\nkind = \"postgres\"\naddress = \"h:1\"\ndatabase = \"d\"\nuser = \"u\"\npassword = \"${PW}\"\nnope = 1\n";
    let err = load_str_with_env(text, Path::new("v.toml"), env_of(&[("PW", "hunter2")])).err();
    let text_err = err.map(|e| e.to_string()).unwrap_or_default();
    assert!(
        text_err.starts_with("v.toml:8:1: unknown field `nope`"),
        "{text_err}"
    );
    assert!(!text_err.contains("hunter2"), "{text_err}");
}

#[test]
fn load_reads_a_file_and_names_it_in_errors() {
    let dir = std::env::temp_dir().join(format!("vigil-config-test-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let path = dir.join("vigil.toml");
    let _ = std::fs::write(&path, "[server]\nbogus = 1\n");
    let err = load(&path).err().map(|e| e.to_string()).unwrap_or_default();
    assert!(
        err.starts_with(&format!("{}:2:1: unknown field `bogus`", path.display())),
        "{err}"
    );
    let missing = load(&dir.join("missing.toml")).err();
    assert!(matches!(missing, Some(ConfigError::Read { .. })));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn k8s_secrets_reveal_is_read_and_masking_is_the_default() {
    let config = load_ok(
        "[[policy]]\nname = \"ops\"\nk8s_secrets = \"reveal\"\n\n[[policy]]\nname = \"agents\"\n\n[[policy]]\nname = \"explicit\"\nk8s_secrets = \"mask\"\n",
        &[],
    );
    let reveals: Vec<bool> = config
        .policies
        .iter()
        .map(|p| p.reveal_k8s_secrets)
        .collect();
    assert_eq!(reveals, [true, false, false]);
}
