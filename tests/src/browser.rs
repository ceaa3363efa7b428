//! The console's browser tests: `node tests/browser/<script>.mjs` (playwright-core driving
//! Debian's chromium), with the URLs and tokens in its environment. A script prints one line
//! `RESULT {json}` with what it saw; it exits non-zero when a step failed or the page broke its
//! Content-Security-Policy. Screenshots go to `target/console-screenshots/`.

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

use crate::util::workspace_root;

/// Where the scripts save their screenshots.
pub fn screenshot_dir() -> PathBuf {
    workspace_root().join("target/console-screenshots")
}

/// Runs `tests/browser/<script>.mjs` with `env`; returns its `RESULT` JSON. Panics with the
/// script's output when it fails, or with how to install what is missing.
#[track_caller]
pub fn browse(script: &str, env: &[(&str, &str)]) -> Value {
    let dir = workspace_root().join("tests/browser");
    assert!(
        dir.join("node_modules/playwright-core").is_dir(),
        "playwright-core is missing: run `npm ci --prefix tests/browser` (scripts/test.sh does)"
    );
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        std::path::Path::new(&chromium).exists(),
        "{chromium} is missing: `apt-get install chromium` (scripts/test.sh does)"
    );
    let mut cmd = Command::new("node");
    cmd.arg(dir.join(format!("{script}.mjs")))
        .current_dir(&dir)
        .env("CHROMIUM", &chromium)
        .env("SCREENSHOTS", screenshot_dir());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("could not run node (install nodejs): {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let result = stdout
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("RESULT "))
        .and_then(|j| serde_json::from_str::<Value>(j).ok());
    match result {
        Some(r) if out.status.success() => r,
        _ => panic!(
            "browser script {script} failed ({}):\n{stdout}\n{stderr}",
            out.status
        ),
    }
}
