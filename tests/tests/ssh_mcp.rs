//! The MCP `ssh_exec` tool through the official MCP Python SDK: listed only for principals
//! with an SSH connection, ok with stdout/stderr/exit status, denied, pending_approval then
//! run once approved from the CLI, bounded output, all through the same analysis and policy
//! as the SSH front-end.

mod ssh_common;

use serde_json::{Value, json};
use ssh_common::env;
use vigil_e2e::{Gateway, python, stdout};

fn mcp(gw: &Gateway, token: &str, args: &[&str]) -> Value {
    let url = format!("{}/mcp", gw.http_url());
    let mut all = vec![url.as_str(), token];
    all.extend_from_slice(args);
    let out = python("py/mcp_client.py", &all);
    serde_json::from_str(&stdout(&out)).unwrap_or_else(|e| {
        panic!(
            "mcp_client.py printed no JSON ({e}): {}\n{}",
            stdout(&out),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn ssh_exec(gw: &Gateway, token: &str, command: &str) -> Value {
    let args = json!({ "connection": "web1", "command": command }).to_string();
    mcp(gw, token, &["call", "ssh_exec", &args])["structured"].clone()
}

#[test]
fn ssh_exec_answers_ok_denied_and_pending_approval() {
    let e = env();
    let tools = mcp(&e.gw, &e.bot, &["tools"]);
    let names: Vec<&str> = tools["tools"]
        .as_array()
        .expect("tools")
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert!(names.contains(&"ssh_exec"), "{names:?}");
    // A principal without an SSH connection does not see it.
    let stranger = e.gw.token("stranger", &["nobody"], "agent");
    let tools = mcp(&e.gw, &stranger, &["tools"]);
    assert!(!tools.to_string().contains("ssh_exec"), "{tools}");

    let ok = ssh_exec(&e.gw, &e.bot, "echo from-mcp");
    assert_eq!(ok["status"], "ok", "{ok}");
    assert_eq!(ok["stdout"], "from-mcp\n");
    assert_eq!(ok["exit_status"], 0);
    assert_eq!(ok["truncated"], false);

    let failing = ssh_exec(&e.gw, &e.bot, "ls /nonexistent-vigil-path");
    assert_eq!(failing["exit_status"], 2, "{failing}");

    let canary = e.sshd.scratch().join("mcp-canary");
    let denied = ssh_exec(&e.gw, &e.bot, &format!("touch {}", canary.display()));
    assert_eq!(denied["status"], "denied", "{denied}");
    assert_eq!(denied["rule"], "default-deny");
    assert!(!canary.exists());

    // A review rule: pending at once, then runs once after approval.
    let victim = e.sshd.scratch().join("old.log");
    std::fs::write(&victim, "x").expect("victim");
    let command = format!("rm {}", victim.display());
    let pending = ssh_exec(&e.gw, &e.bot, &command);
    assert_eq!(pending["status"], "pending_approval", "{pending}");
    assert!(victim.exists(), "ran before approval");
    let id = pending["approval_id"]
        .as_str()
        .expect("approval id")
        .to_string();
    let lead = e.gw.token("lead", &["ops-lead"], "human");
    let out =
        e.gw.vigil_env(&["approvals", "approve", &id], &[("VIGIL_TOKEN", &lead)]);
    assert!(out.status.success());
    let ran = ssh_exec(&e.gw, &e.bot, &command);
    assert_eq!(ran["status"], "ok", "{ran}");
    assert!(!victim.exists(), "the approved command did not run");
}
