//! Each kind of error, at its exact `file:line:col`.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)] // tests may fail loudly

use std::path::Path;

use vigil_config::load_str_with_env;

const CONN: &str = "[[connection]]\nname = \"shop\"\nkind = \"postgres\"\naddress = \"127.0.0.1:5432\"\ndatabase = \"shop\"\nuser = \"app\"\n";

/// The error `text` produces, as displayed.
fn error_of(text: &str) -> String {
    match load_str_with_env(text, Path::new("v.toml"), |name| {
        (name == "SET").then(|| "value".to_owned())
    }) {
        Ok(_) => panic!("should be rejected:\n{text}"),
        Err(e) => e.to_string(),
    }
}

fn assert_error(text: &str, prefix: &str, contains: &str) {
    let err = error_of(text);
    assert!(err.starts_with(prefix), "expected `{prefix}`, got `{err}`");
    assert!(err.contains(contains), "expected `{contains}` in `{err}`");
}

#[test]
fn unknown_key_at_top_level_and_in_sections() {
    assert_error(
        "[server]\ndata_dir = \"x\"\nadmin_group = []\n",
        "v.toml:3:1: unknown field `admin_group`",
        "expected one of",
    );
    assert_error(
        "[sever]\n",
        "v.toml:1:2: unknown field `sever`",
        "expected one of",
    );
    assert_error(
        &format!("{CONN}port = 5432\n"),
        "v.toml:7:1: unknown field `port`",
        "`address`",
    );
    assert_error(
        &format!(
            "{CONN}[[policy]]\nname = \"p\"\n  [[policy.rule]]\n  name = \"r\"\n  effect = \"allow\"\n  wehn = \"true\"\n"
        ),
        "v.toml:12:3: unknown field `wehn`",
        "`when`",
    );
}

#[test]
fn workers_out_of_range_is_located() {
    assert_error(
        "[server]\nworkers = 0\n",
        "v.toml:2:11: `workers` must be between 1 and 1024, got 0",
        "",
    );
    assert_error(
        "[server]\nworkers = 5000\n",
        "v.toml:2:11: `workers` must be between 1 and 1024, got 5000",
        "",
    );
    assert_error("[server]\nworkers = -1\n", "v.toml:2:11: ", "");
    assert_error("[server]\nworkers = \"2\"\n", "v.toml:2:11: ", "");
}

#[test]
fn toml_syntax_error_is_located() {
    assert_error("[server]\ndata_dir = \"unterminated\n", "v.toml:2:", "");
}

#[test]
fn wrong_type_is_located() {
    assert_error(
        "[ledger]\nfsync = \"yes\"\n",
        "v.toml:2:9: invalid type: string \"yes\", expected a boolean",
        "",
    );
}

#[test]
fn unset_variable_is_an_error_at_its_value() {
    assert_error(
        "[log]\nlevel = \"${UNSET}\"\n",
        "v.toml:2:9: environment variable `UNSET` is not set",
        "",
    );
    // Inside a list, at the element.
    assert_error(
        "[server]\nadmin_groups = [\"a\", \"${SET}\", \"${UNSET}\"]\n",
        "v.toml:2:32: environment variable `UNSET` is not set",
        "",
    );
    // A list over several lines: the element's own line.
    assert_error(
        "[[policy]]\nname = \"p\"\ngroups = [\n  \"a\",\n  \"${UNSET}\",\n]\n",
        "v.toml:5:3: environment variable `UNSET` is not set",
        "",
    );
}

#[test]
fn invalid_listen_address() {
    assert_error(
        "[listen]\npostgres = \"localhost\"\n",
        "v.toml:2:12: invalid socket address syntax",
        "",
    );
}

#[test]
fn invalid_connection_address() {
    let text = CONN.replace("127.0.0.1:5432", "db.internal");
    assert_error(
        &text,
        "v.toml:4:11: address `db.internal` has no port",
        "host:port",
    );
}

#[test]
fn unknown_connection_kind_lists_accepted_kinds() {
    let text = CONN.replace("\"postgres\"", "\"oracle\"");
    assert_error(
        &text,
        "v.toml:3:8: unknown connection kind `oracle` (accepted kinds: postgres, mysql, ssh, http, kubernetes)",
        "",
    );
}

#[test]
fn bad_tls_mode() {
    assert_error(
        &format!("{CONN}tls = \"allow\"\n"),
        "v.toml:7:7: unknown tls mode `allow`",
        "`disable`, `prefer`, `require` or `verify-full`",
    );
}

#[test]
fn bad_mysql_tls_mode_and_flavor() {
    let mysql = "[[connection]]\nname = \"shop\"\nkind = \"mysql\"\naddress = \"127.0.0.1:3306\"\ndatabase = \"shop\"\nuser = \"app\"\n";
    assert_error(
        &format!("{mysql}tls = \"allow\"\n"),
        "v.toml:7:7: unknown tls mode `allow`",
        "`disable`, `prefer`, `require` or `verify-full`",
    );
    assert_error(
        &format!("{mysql}flavor = \"percona\"\n"),
        "v.toml:7:10: unknown mysql flavor `percona`",
        "`mariadb` or `mysql`",
    );
}

#[test]
fn duplicate_connection_name() {
    assert_error(
        &format!("{CONN}{CONN}"),
        "v.toml:8:8: duplicate connection name `shop` (first defined at line 2)",
        "",
    );
}

#[test]
fn policy_naming_a_missing_connection() {
    let text = format!("{CONN}\n[[policy]]\nname = \"p\"\nconnections = [\"shop\", \"billing\"]\n");
    assert_error(
        &text,
        "v.toml:10:24: policy `p` names connection `billing`, which no [[connection]] defines",
        "defined: shop",
    );
    // A glob must match at least one connection.
    let text = format!("{CONN}\n[[policy]]\nname = \"p\"\nconnections = [\"bill*\"]\n");
    assert_error(&text, "v.toml:10:16:", "`bill*`");
}

#[test]
fn review_without_reviewers() {
    let text = "[[policy]]\nname = \"p\"\n  [[policy.rule]]\n  name = \"w\"\n  effect = \"review\"\n  when = \"sql.writes\"\n";
    assert_error(
        text,
        "v.toml:5:12: rule `w` has effect \"review\" but no `reviewers`",
        "",
    );
}

#[test]
fn unknown_effect_mode_style_duration() {
    let rule = "[[policy]]\nname = \"p\"\n  [[policy.rule]]\n  name = \"r\"\n";
    assert_error(
        &format!("{rule}  effect = \"permit\"\n"),
        "v.toml:5:12: expected `allow`, `deny` or `review`, found `permit`",
        "",
    );
    assert_error(
        &format!("{rule}  effect = \"review\"\n  reviewers = [\"dba\"]\n  mode = \"wait\"\n"),
        "v.toml:7:10: unknown review mode `wait`",
        "`hold` or `retry`",
    );
    assert_error(
        &format!(
            "{rule}  effect = \"review\"\n  reviewers = [\"dba\"]\n  timeout = \"5 parsecs\"\n"
        ),
        "v.toml:7:13: invalid duration `5 parsecs`",
        "`5m`",
    );
    assert_error(
        "[[policy]]\nname = \"p\"\n  [[policy.mask]]\n  columns = [\"t.c\"]\n  style = \"blur\"\n",
        "v.toml:5:11: expected `redact`, `partial`, `hash` or `null`, found `blur`",
        "",
    );
}

#[test]
fn unknown_mask_detector() {
    let text =
        "[[policy]]\nname = \"p\"\n  [[policy.mask]]\n  detectors = [\"email\", \"passport\"]\n";
    assert_error(
        text,
        "v.toml:4:25: unknown mask detector `passport`",
        "accepted: email, phone",
    );
}

#[test]
fn a_json_path_that_is_not_rfc_9535_points_at_itself() {
    let text = "[[policy]]\nname = \"p\"\n  [[policy.mask]]\n  json_paths = [\"$..email\", \"$.items[\"]\n";
    assert_error(
        text,
        "v.toml:4:29: `$.items[` is not a JSONPath (RFC 9535)",
        "",
    );
}

#[test]
fn cel_errors_point_at_the_condition() {
    let text = "[[policy]]\nname = \"analysts\"\n\n  [[policy.rule]]\n  name = \"reads\"\n  effect = \"allow\"\n  when = \"sql.read_only &&\"\n";
    assert_error(
        text,
        "v.toml:7:10: policy 'analysts', rule 'reads': invalid condition",
        "",
    );
    let text = "[[policy]]\nname = \"analysts\"\n\n  [[policy.rule]]\n  name = \"reads\"\n  effect = \"allow\"\n  when = \"request.read_only\"\n";
    assert_error(text, "v.toml:7:10:", "unknown variable `request`");
    let text = "[[policy]]\nname = \"a\"\n  [[policy.rule]]\n  name = \"reads\"\n  effect = \"allow\"\n  when = \"sql.readonly\"\n";
    assert_error(text, "v.toml:6:10:", "unknown field `sql.readonly`");
}

#[test]
fn duplicate_rule_and_policy_names() {
    let rule = "  [[policy.rule]]\n  name = \"r\"\n  effect = \"allow\"\n";
    assert_error(
        &format!("[[policy]]\nname = \"p\"\n{rule}{rule}"),
        "v.toml:7:10: duplicate rule name `r` in policy `p` (first defined at line 4)",
        "",
    );
    assert_error(
        "[[policy]]\nname = \"p\"\n[[policy]]\nname = \"p\"\n",
        "v.toml:4:8: duplicate policy name `p` (first defined at line 2)",
        "",
    );
}

#[test]
fn tls_needs_cert_and_key_together() {
    assert_error(
        "[server]\n\n[tls]\ncert = \"c.pem\"\n",
        "v.toml:3:",
        "both `cert` and `key`",
    );
}

#[test]
fn missing_required_key() {
    assert_error(
        "[[connection]]\nname = \"x\"\nkind = \"postgres\"\naddress = \"h:1\"\nuser = \"u\"\n",
        "v.toml:1:",
        "missing field `database`",
    );
}

#[test]
fn an_unknown_k8s_secrets_value_is_located() {
    assert_error(
        "[[policy]]\nname = \"p\"\nk8s_secrets = \"show\"\n",
        "v.toml:3:15: unknown k8s_secrets `show`",
        "`mask` or `reveal`",
    );
}
