//! The shell-syntax table: every case asserts either the exact argv (and
//! argv0) policy sees, or that the string is opaque for a given reason.

use vigil_shell::{Reason, analyze};

enum Expect {
    /// Provable: these words, this normalised command name.
    Argv(&'static [&'static str], &'static str),
    /// Opaque, with at least this reason among its reasons.
    Opaque(Reason),
}
use Expect::{Argv, Opaque};

const CASES: &[(&str, Expect)] = &[
    // Plain literal commands.
    ("ls", Argv(&["ls"], "ls")),
    ("ls -la /var/log", Argv(&["ls", "-la", "/var/log"], "ls")),
    ("  uptime  ", Argv(&["uptime"], "uptime")),
    ("ls\t-l", Argv(&["ls", "-l"], "ls")),
    ("cat 'my file.txt'", Argv(&["cat", "my file.txt"], "cat")),
    ("cat \"my file.txt\"", Argv(&["cat", "my file.txt"], "cat")),
    ("cat my\\ file.txt", Argv(&["cat", "my file.txt"], "cat")),
    ("echo 'a'\"b\"c", Argv(&["echo", "abc"], "echo")),
    (
        "grep '' /etc/hosts",
        Argv(&["grep", "", "/etc/hosts"], "grep"),
    ),
    ("echo '$HOME'", Argv(&["echo", "$HOME"], "echo")),
    ("echo 'a|b;c&d'", Argv(&["echo", "a|b;c&d"], "echo")),
    ("echo '*'", Argv(&["echo", "*"], "echo")),
    ("echo \\*", Argv(&["echo", "*"], "echo")),
    ("git log HEAD~1", Argv(&["git", "log", "HEAD~1"], "git")),
    (
        "dd if=/dev/zero of=/dev/null count=1",
        Argv(&["dd", "if=/dev/zero", "of=/dev/null", "count=1"], "dd"),
    ),
    ("echo a#b", Argv(&["echo", "a#b"], "echo")),
    (
        "df -h --output=source,size",
        Argv(&["df", "-h", "--output=source,size"], "df"),
    ),
    (
        "systemctl status nginx.service",
        Argv(&["systemctl", "status", "nginx.service"], "systemctl"),
    ),
    ("echo 'multi\nline'", Argv(&["echo", "multi\nline"], "echo")),
    ("echo 'héllo'", Argv(&["echo", "héllo"], "echo")),
    // argv0 normalisation.
    (
        "/usr/bin/../bin/rm -rf /tmp/x",
        Argv(&["/usr/bin/../bin/rm", "-rf", "/tmp/x"], "rm"),
    ),
    ("/bin/ls", Argv(&["/bin/ls"], "ls")),
    ("/tmp/evil/ls", Argv(&["/tmp/evil/ls"], "/tmp/evil/ls")),
    ("./ls", Argv(&["./ls"], "./ls")),
    ("'/usr/bin/id'", Argv(&["/usr/bin/id"], "id")),
    // Wrappers unwrapped when provable.
    ("sh -c 'ls -l'", Argv(&["ls", "-l"], "ls")),
    ("bash -c \"uptime\"", Argv(&["uptime"], "uptime")),
    ("bash -c 'sh -c \"id -u\"'", Argv(&["id", "-u"], "id")),
    ("env ls", Argv(&["ls"], "ls")),
    (
        "/usr/bin/env python3 -V",
        Argv(&["python3", "-V"], "python3"),
    ),
    ("nice ls", Argv(&["ls"], "ls")),
    (
        "nice -n 10 tar czf a.tgz dir",
        Argv(&["tar", "czf", "a.tgz", "dir"], "tar"),
    ),
    ("timeout 5s df -h", Argv(&["df", "-h"], "df")),
    ("sudo -u postgres psql -l", Argv(&["psql", "-l"], "psql")),
    (
        "sudo /usr/bin/../sbin/reboot",
        Argv(&["/usr/bin/../sbin/reboot"], "reboot"),
    ),
    ("nohup sleep 1", Argv(&["sleep", "1"], "sleep")),
    (
        "timeout 10 sudo -u app env cat /etc/app.conf",
        Argv(&["cat", "/etc/app.conf"], "cat"),
    ),
    ("env", Argv(&["env"], "env")),
    ("sudo", Argv(&["sudo"], "sudo")),
    // Wrappers that hide what they run.
    ("sh -c 'ls | wc -l'", Opaque(Reason::Pipe)),
    ("bash -c 'rm -rf $HOME'", Opaque(Reason::Variable)),
    ("bash -lc 'ls'", Opaque(Reason::Wrapper)),
    ("sh -c ls extra", Opaque(Reason::Wrapper)),
    ("sh", Opaque(Reason::Wrapper)),
    ("zsh -c ls", Opaque(Reason::Wrapper)),
    ("env -i ls", Opaque(Reason::Wrapper)),
    ("env -S 'rm -rf /'", Opaque(Reason::Wrapper)),
    ("env A=1 ls", Opaque(Reason::Assignment)),
    ("env LD_PRELOAD=/tmp/x.so ls", Opaque(Reason::Assignment)),
    ("sudo -i", Opaque(Reason::Wrapper)),
    ("sudo -s rm x", Opaque(Reason::Wrapper)),
    ("timeout -s KILL 5 ls", Opaque(Reason::Wrapper)),
    ("timeout ls", Opaque(Reason::Wrapper)),
    ("nice -n x ls", Opaque(Reason::Wrapper)),
    ("xargs rm", Opaque(Reason::Wrapper)),
    ("eval ls", Opaque(Reason::Wrapper)),
    ("su -c id root", Opaque(Reason::Wrapper)),
    ("exec -a x ls", Opaque(Reason::Wrapper)),
    ("busybox rm x", Opaque(Reason::Wrapper)),
    (
        "bash -c 'bash -c \"bash -c \\\"ls\\\"\"'",
        Opaque(Reason::Escape),
    ),
    // Operators, pipes, background, compound commands.
    ("ls; rm -rf /", Opaque(Reason::Operator)),
    ("ls && rm x", Opaque(Reason::Operator)),
    ("ls || rm x", Opaque(Reason::Operator)),
    ("ls\nrm x", Opaque(Reason::Operator)),
    ("ls | sh", Opaque(Reason::Pipe)),
    ("ls |& cat", Opaque(Reason::Pipe)),
    ("sleep 10 &", Opaque(Reason::Background)),
    ("(rm x)", Opaque(Reason::Compound)),
    ("{ rm x; }", Opaque(Reason::BraceExpansion)),
    ("if true; then rm x; fi", Opaque(Reason::Compound)),
    ("if", Opaque(Reason::Compound)),
    ("'while'", Opaque(Reason::Compound)),
    ("time ls", Opaque(Reason::Compound)),
    ("! ls", Opaque(Reason::History)),
    ("f() { rm x; }", Opaque(Reason::Compound)),
    // Redirections, here-strings, here-documents, process substitution.
    ("cat > /etc/passwd", Opaque(Reason::Redirection)),
    ("cat < /etc/shadow", Opaque(Reason::Redirection)),
    ("ls 2>&1", Opaque(Reason::Redirection)),
    ("ls &>/dev/null", Opaque(Reason::Redirection)),
    ("cat <<< hello", Opaque(Reason::HereString)),
    ("cat <<EOF\nx\nEOF", Opaque(Reason::HereDocument)),
    ("diff <(ls a) <(ls b)", Opaque(Reason::ProcessSubstitution)),
    ("tee >(sh)", Opaque(Reason::ProcessSubstitution)),
    // Substitutions, variables, arithmetic.
    ("echo $(id)", Opaque(Reason::CommandSubstitution)),
    ("echo `id`", Opaque(Reason::CommandSubstitution)),
    ("echo \"$(id)\"", Opaque(Reason::CommandSubstitution)),
    ("echo $HOME", Opaque(Reason::Variable)),
    ("echo ${HOME}", Opaque(Reason::Variable)),
    ("echo \"$HOME\"", Opaque(Reason::Variable)),
    ("$0", Opaque(Reason::Variable)),
    ("echo $", Opaque(Reason::Variable)),
    ("echo $((1+2))", Opaque(Reason::Arithmetic)),
    ("echo $'\\x41'", Opaque(Reason::SpecialQuote)),
    ("echo $\"msg\"", Opaque(Reason::SpecialQuote)),
    // Globs, braces, tildes, comments, history.
    ("rm *", Opaque(Reason::Glob)),
    ("ls /etc/pass?d", Opaque(Reason::Glob)),
    ("ls [ab]", Opaque(Reason::Glob)),
    ("[ -f x ]", Opaque(Reason::Glob)),
    ("echo {a,b}", Opaque(Reason::BraceExpansion)),
    ("touch f{1..3}", Opaque(Reason::BraceExpansion)),
    ("cat ~/.ssh/id_rsa", Opaque(Reason::Tilde)),
    ("ls ~root", Opaque(Reason::Tilde)),
    ("ls a=~/x", Opaque(Reason::Tilde)),
    ("ls # rm x", Opaque(Reason::Comment)),
    ("echo hi!", Opaque(Reason::History)),
    ("echo \"hi!\"", Opaque(Reason::History)),
    ("echo ^foo", Opaque(Reason::Glob)),
    // Assignments.
    ("A=1 ls", Opaque(Reason::Assignment)),
    ("LD_PRELOAD=/tmp/x.so ls", Opaque(Reason::Assignment)),
    ("PATH=/tmp ls", Opaque(Reason::Assignment)),
    ("a=b", Opaque(Reason::Assignment)),
    ("=ls", Opaque(Reason::Assignment)),
    ("echo =ls", Opaque(Reason::Assignment)),
    // Escapes shells read differently.
    ("echo \\n", Opaque(Reason::Escape)),
    ("echo \"a\\\"b\"", Opaque(Reason::Escape)),
    ("ls \\\nrm", Opaque(Reason::Escape)),
    ("ls \\", Opaque(Reason::Escape)),
    // Quotes, bytes, sizes.
    ("echo 'unterminated", Opaque(Reason::UnterminatedQuote)),
    ("echo \"unterminated", Opaque(Reason::UnterminatedQuote)),
    ("", Opaque(Reason::Empty)),
    ("   ", Opaque(Reason::Empty)),
    ("'' ls", Opaque(Reason::Empty)),
    ("ls\u{7}", Opaque(Reason::ControlCharacter)),
    ("ls\r", Opaque(Reason::ControlCharacter)),
    ("ls café", Opaque(Reason::NonAscii)),
    ("ls\u{a0}-l", Opaque(Reason::NonAscii)),
];

#[test]
fn every_case_is_provable_with_its_argv_or_opaque_for_its_reason() {
    let mut failures = Vec::new();
    for (command, expect) in CASES {
        let got = analyze(command.as_bytes());
        let ok = match expect {
            Argv(argv, argv0) => {
                got.argv
                    .as_deref()
                    .map(|a| a.iter().map(String::as_str).collect::<Vec<_>>())
                    == Some(argv.to_vec())
                    && got.argv0 == *argv0
                    && got.reasons.is_empty()
            }
            Opaque(reason) => {
                got.argv.is_none() && got.argv0.is_empty() && got.reasons.contains(reason)
            }
        };
        if !ok {
            failures.push(format!("{command:?}: got {got:?}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn bytes_that_are_not_text_are_opaque() {
    let got = analyze(b"ls \xff");
    assert_eq!(got.reasons, vec![Reason::NonUtf8]);
    let got = analyze(b"ls\0rm");
    assert_eq!(got.reasons, vec![Reason::Nul]);
    let long = vec![b'a'; vigil_shell::MAX_COMMAND_LEN + 1];
    assert_eq!(analyze(&long).reasons, vec![Reason::TooLong]);
}

#[test]
fn wrappers_are_recorded_outermost_first() {
    let got = analyze(b"timeout 10 sudo -u app nice -n 5 bash -c 'env id'");
    assert_eq!(got.argv.as_deref(), Some(&["id".to_string()][..]));
    assert_eq!(
        got.wrappers,
        vec!["timeout 10", "sudo -u app", "nice -n 5", "bash -c", "env"]
    );
}

#[test]
fn wrappers_nested_past_the_limit_are_opaque() {
    let deep = "nice ".repeat(vigil_shell::MAX_UNWRAP_DEPTH + 2) + "ls";
    let got = analyze(deep.as_bytes());
    assert!(got.opaque());
    assert_eq!(got.reasons, vec![Reason::TooDeep]);
}
