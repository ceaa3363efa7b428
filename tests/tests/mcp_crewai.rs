//! The CrewAI example (`examples/crewai`) end to end: the real crew, crewai-tools'
//! MCPServerAdapter and the MCP client against the real gateway and the quickstart
//! database; only the model is a scripted stand-in. A reviewer approves the crew's
//! cleanup DELETE from the CLI while the crew waits.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use vigil_e2e::quickstart::{quickstart_gateway, seeded_shop};
use vigil_e2e::{assert_success, random_hex, venv_python, workspace_root};

/// The seeded secrets: every email, SSN and card number of `seed.sql`.
fn seeded_secrets() -> Vec<String> {
    let seed = std::fs::read_to_string(workspace_root().join("examples/quickstart/seed.sql"))
        .expect("seed.sql");
    let mut secrets = Vec::new();
    for line in seed.lines().filter(|l| l.contains("@example.com")) {
        let fields: Vec<&str> = line.split('\'').collect();
        // ('name', 'email', 'ssn', 'card', 'created')
        for i in [3, 5, 7] {
            if let Some(f) = fields.get(i) {
                secrets.push(f.to_string());
            }
        }
    }
    assert_eq!(secrets.len(), 60, "20 customers with three secrets each");
    secrets
}

#[test]
fn crewai_crew_answers_waits_for_approval_and_is_denied_the_drop() {
    let python = venv_python();
    let probe = Command::new(&python)
        .args(["-c", "import crewai, crewai_tools, mcp"])
        .output()
        .expect("run python");
    assert!(
        probe.status.success(),
        "crewai is not installed in .venv (scripts/test.sh installs it): {}",
        String::from_utf8_lossy(&probe.stderr)
    );

    let (pg, app_password) = seeded_shop();
    let gw = quickstart_gateway(&pg, &app_password);
    let crew_token = gw.token("analyst-crew", &["analysts"], "agent");
    let dba = gw.token("dba-on-call", &["dba"], "human");
    let admin = gw.token("admin", &["admins"], "human");
    let run = format!("crew-{}", random_hex(6));
    let dir = tempfile::tempdir().unwrap();
    let transcript_path = dir.path().join("transcript.json");
    let log_path = dir.path().join("crew.log");
    let err_path = dir.path().join("crew.err");

    let mut crew = Command::new(&python)
        .arg("crew.py")
        .current_dir(workspace_root().join("examples/crewai"))
        .env("VIGIL_MCP_URL", format!("{}/mcp", gw.http_url()))
        .env("VIGIL_TOKEN", &crew_token)
        .env("VIGIL_RUN", &run)
        .env("CREW_TRANSCRIPT", &transcript_path)
        .env("HOME", dir.path())
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&log_path).unwrap())
        .stderr(std::fs::File::create(&err_path).unwrap())
        .spawn()
        .expect("start the crew");

    // The reviewer: wait for the crew's request, look at it, approve it from the CLI.
    let deadline = Instant::now() + Duration::from_secs(180);
    let approval = loop {
        assert!(
            Instant::now() < deadline,
            "the crew never asked for approval:\n{}",
            std::fs::read_to_string(&log_path).unwrap_or_default()
        );
        if let Ok(Some(status)) = crew.try_wait() {
            panic!(
                "the crew ended ({status}) before asking for approval:\n{}\n{}",
                std::fs::read_to_string(&log_path).unwrap_or_default(),
                gw.log_text()
            );
        }
        let out = gw.vigil_env(&["approvals", "list", "--json"], &[("VIGIL_TOKEN", &dba)]);
        let body: Value = serde_json::from_str(&assert_success(&out, "approvals list")).unwrap();
        let pending = body["approvals"].as_array().and_then(|a| {
            a.iter()
                .find(|x| x["status"] == "pending" && x["principal"] == "analyst-crew")
                .cloned()
        });
        if let Some(a) = pending {
            break a;
        }
        std::thread::sleep(Duration::from_millis(300));
    };
    assert_eq!(
        approval["statement"],
        "DELETE FROM orders WHERE created_at < $1"
    );
    // Nothing ran before the reviewer decided.
    assert_eq!(pg.psql("shop", "SELECT count(*) FROM orders").trim(), "50");
    let id = approval["id"].as_str().unwrap();
    assert_success(
        &gw.vigil_env(&["approvals", "approve", id], &[("VIGIL_TOKEN", &dba)]),
        "vigil approvals approve",
    );

    let deadline = Instant::now() + Duration::from_secs(180);
    let status = loop {
        if let Some(status) = crew.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "the crew did not finish");
        std::thread::sleep(Duration::from_millis(200));
    };
    let log = std::fs::read_to_string(&log_path).unwrap_or_default();
    let err = std::fs::read_to_string(&err_path).unwrap_or_default();
    assert!(
        status.success(),
        "the crew failed:\n{log}\n{err}\n{}",
        gw.log_text()
    );

    // The transcript: the question answered, the cleanup done, the drop refused, and no
    // seeded secret anywhere in what the model saw or said.
    let transcript = std::fs::read_to_string(&transcript_path).expect("transcript written");
    let t: Value = serde_json::from_str(&transcript).unwrap();
    let outputs: Vec<&str> = t["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["output"].as_str().unwrap())
        .collect();
    assert!(
        outputs[0].contains("Radia Perlman") && outputs[0].contains("2531.50"),
        "{outputs:?}"
    );
    assert!(outputs[1].contains("DELETE 4"), "{outputs:?}");
    assert!(
        outputs[2].contains("no-drops") && outputs[2].contains("Not dropped"),
        "{outputs:?}"
    );
    assert!(
        t["llm"].as_array().is_some_and(|l| l.len() >= 8),
        "the model's prompts and answers are in the transcript"
    );
    for secret in seeded_secrets() {
        assert!(
            !transcript.contains(&secret) && !log.contains(&secret) && !err.contains(&secret),
            "{secret} reached the crew"
        );
    }

    // The cluster itself: the DELETE ran (once), the DROP never arrived.
    assert_eq!(pg.psql("shop", "SELECT count(*) FROM orders").trim(), "46");
    assert_eq!(
        pg.psql(
            "shop",
            "SELECT count(*) FROM orders WHERE created_at < '2025-01-10'"
        )
        .trim(),
        "0"
    );
    assert_eq!(
        pg.psql("shop", "SELECT to_regclass('public.orders')::text")
            .trim(),
        "orders"
    );

    // The run's timeline, from the ledger: the DELETE was allowed only after the
    // reviewer's decision, the DROP was denied, every event carries the run id.
    let out = gw.vigil_env(
        &["sessions", "list", "--run", &run, "--json"],
        &[("VIGIL_TOKEN", &admin)],
    );
    let body: Value = serde_json::from_str(&assert_success(&out, "sessions --json")).unwrap();
    let events = body["events"].as_array().unwrap();
    let seq_of = |pred: &dyn Fn(&Value) -> bool| -> Vec<i64> {
        events
            .iter()
            .filter(|e| pred(e))
            .map(|e| e["seq"].as_i64().unwrap())
            .collect()
    };
    let inner = |e: &Value| e["body"]["body"].clone();
    let decided = seq_of(&|e| e["type"] == "approval_decided" && inner(e)["id"] == id);
    let delete_allowed = seq_of(&|e| {
        e["type"] == "statement"
            && inner(e)["kind"] == "delete"
            && inner(e)["decision"]["verdict"] == "allow"
    });
    let delete_reviewed = seq_of(&|e| {
        e["type"] == "statement"
            && inner(e)["kind"] == "delete"
            && inner(e)["decision"]["verdict"] == "review"
    });
    let drop_denied = seq_of(&|e| {
        e["type"] == "statement"
            && inner(e)["kind"] == "drop"
            && inner(e)["decision"]["verdict"] == "deny"
    });
    assert_eq!(decided.len(), 1, "{body}");
    assert_eq!(delete_allowed.len(), 1, "the DELETE ran once: {body}");
    assert!(!delete_reviewed.is_empty());
    assert!(delete_reviewed[0] < decided[0] && decided[0] < delete_allowed[0]);
    assert_eq!(drop_denied.len(), 1);
    assert!(
        events
            .iter()
            .filter(|e| e["type"] != "approval_decided")
            .all(|e| e["body"]["run_id"] == run.as_str())
    );

    let out = gw.vigil_env(
        &["sessions", "list", "--run", &run],
        &[("VIGIL_TOKEN", &admin)],
    );
    let text = assert_success(&out, "vigil sessions list --run");
    let mut at = 0;
    for step in [
        "allow  rule=reads",
        "approval_requested",
        "review rule=writes-need-a-dba",
        &format!("{id} approved by dba-on-call"),
        "allow  rule=writes-need-a-dba",
        "DELETE 4",
        "deny   rule=no-drops",
    ] {
        let found = text[at..]
            .find(step)
            .unwrap_or_else(|| panic!("timeline lacks {step:?} in order:\n{text}"));
        at += found;
    }
}
