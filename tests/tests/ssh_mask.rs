//! Detector masking on SSH exec output: a principal under a `[[policy.mask]]` never sees the
//! emails and card numbers a command prints, also when a value is split across reads; the
//! ledger counts what was masked, never the values.

mod ssh_common;

use ssh_common::env;
use vigil_e2e::{ssh_exec, stderr, stdout};

#[test]
fn emails_and_cards_in_exec_output_are_masked() {
    let e = env();
    let contractor = e.gw.token("contractor", &["ops", "masked"], "agent");
    let file = e.sshd.scratch().join("customers.txt");
    // Long enough that the values cross the relay's reads at arbitrary places.
    let mut text = String::new();
    for i in 0..2000 {
        text.push_str(&format!(
            "row {i}: alice.{i}@example.com paid with 4111 1111 1111 1111\n"
        ));
    }
    std::fs::write(&file, &text).expect("customers file");
    let out = ssh_exec(
        e.port,
        "web1",
        &contractor,
        &format!("cat {}", file.display()),
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let seen = stdout(&out);
    assert_eq!(seen.lines().count(), 2000, "lines lost");
    assert!(!seen.contains("@example.com"), "an email leaked");
    assert!(
        !seen.contains("4111 1111 1111 1111"),
        "a card number leaked"
    );
    assert!(
        seen.starts_with("row 0: "),
        "{}",
        &seen[..80.min(seen.len())]
    );

    // Someone without the mask sees the file as it is.
    let out = ssh_exec(e.port, "web1", &e.bot, &format!("cat {}", file.display()));
    assert_eq!(stdout(&out), text.trim_end());

    let admin = e.gw.token("root", &["admins"], "human");
    let ledger = ssh_common::ledger_with(&e, &admin, "masked 4000 values");
    assert!(!ledger.contains("alice.1@example.com"));
}
