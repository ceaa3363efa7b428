//! The `ssh.*` variables: what a rule sees of an SSH channel request.

mod common;

use common::*;
use vigil_core::{
    Action, ActionKind, ConnectionKind, ConnectionRef, SshFacts, SshRequest, Verdict,
};

fn on_web1(facts: SshFacts) -> Action {
    Action {
        connection: ConnectionRef {
            name: "web1".into(),
            kind: ConnectionKind::Ssh,
        },
        kind: ActionKind::Ssh(facts),
    }
}

fn exec(argv: &[&str]) -> SshFacts {
    SshFacts {
        request: SshRequest::Exec,
        command: argv.join(" "),
        argv: argv.iter().map(|s| s.to_string()).collect(),
        argv0: argv.first().map(|s| s.to_string()).unwrap_or_default(),
        text: argv.join(" "),
        ..SshFacts::default()
    }
}

fn opaque(command: &str, reasons: &[&str]) -> SshFacts {
    SshFacts {
        request: SshRequest::Exec,
        command: command.into(),
        opaque: true,
        opaque_reasons: reasons.iter().map(|s| s.to_string()).collect(),
        text: command.into(),
        ..SshFacts::default()
    }
}

#[test]
fn every_ssh_variable_reads_its_field() {
    let ls = on_web1(exec(&["ls", "-l"]));
    assert!(condition_holds("ssh.request == 'exec'", &ls));
    assert!(condition_holds(
        "ssh.argv0 == 'ls' && ssh.argv == ['ls', '-l']",
        &ls
    ));
    assert!(condition_holds(
        "!ssh.opaque && size(ssh.opaque_reasons) == 0",
        &ls
    ));
    assert!(condition_holds("connection.kind == 'ssh'", &ls));
    let piped = on_web1(opaque("ls | sh", &["pipe"]));
    assert!(condition_holds(
        "ssh.opaque && 'pipe' in ssh.opaque_reasons",
        &piped
    ));
    assert!(condition_holds(
        "ssh.command == 'ls | sh' && ssh.argv0 == ''",
        &piped
    ));
    let forward = on_web1(SshFacts {
        request: SshRequest::DirectTcpip,
        forward_host: "db".into(),
        forward_port: 5432,
        ..SshFacts::default()
    });
    assert!(condition_holds(
        "ssh.request == 'direct_tcpip' && ssh.forward.host == 'db' && ssh.forward.port == 5432",
        &forward
    ));
    let sftp = on_web1(SshFacts {
        request: SshRequest::Subsystem,
        subsystem: "sftp".into(),
        sftp_op: "remove".into(),
        sftp_path: "/srv/x".into(),
        ..SshFacts::default()
    });
    assert!(condition_holds(
        "ssh.subsystem == 'sftp' && ssh.sftp.op == 'remove' && ssh.sftp.path.startsWith('/srv/')",
        &sftp
    ));
    let env = on_web1(SshFacts {
        request: SshRequest::Env,
        env_name: "LANG".into(),
        env_value: "C.UTF-8".into(),
        ..SshFacts::default()
    });
    assert!(condition_holds(
        "ssh.env.name == 'LANG' && ssh.env.value == 'C.UTF-8'",
        &env
    ));
    let wrapped = on_web1(SshFacts {
        wrappers: vec!["sudo -u app".into()],
        ..exec(&["id"])
    });
    assert!(condition_holds("'sudo -u app' in ssh.wrappers", &wrapped));
}

#[test]
fn the_documented_example_allows_read_only_commands_and_reviews_opaque_ones() {
    let set = compile(vec![policy(
        "ops",
        &["ops"],
        &["web1"],
        vec![
            rule(
                "read-only-commands",
                Allow,
                Some("ssh.request == 'exec' && ssh.argv0 in ['ls', 'cat', 'uptime', 'df']"),
            ),
            rule(
                "opaque-needs-review",
                Review,
                Some("ssh.request == 'exec' && ssh.opaque"),
            ),
        ],
    )]);
    let bot = agent("bot", &["ops"]);
    let verdict = |facts| eval(&set, &bot, &on_web1(facts)).verdict;
    assert!(matches!(verdict(exec(&["uptime"])), Verdict::Allow { .. }));
    assert!(matches!(
        verdict(exec(&["rm", "-rf", "/"])),
        Verdict::Deny { .. }
    ));
    assert!(matches!(
        verdict(opaque("ls; rm x", &["operator"])),
        Verdict::Review { .. }
    ));
    // Forwarding: no rule allows it, so the default denies it.
    let forward = SshFacts {
        request: SshRequest::DirectTcpip,
        ..SshFacts::default()
    };
    assert!(matches!(verdict(forward), Verdict::Deny { .. }));
}
