//! Properties of the exec analysis over generated strings.

use proptest::prelude::*;
use vigil_shell::analyze;

/// Quotes `word` for any POSIX shell: single quotes, with `'` as `'\''`.
fn quote(word: &str) -> String {
    format!("'{}'", word.replace('\'', "'\\''"))
}

/// Command names that are neither wrappers nor reserved words.
fn command_name() -> impl Strategy<Value = String> {
    "[a-z][a-z0-9_-]{0,10}".prop_filter("not a wrapper or keyword", |n| {
        !matches!(
            n.as_str(),
            "sh" | "bash"
                | "dash"
                | "zsh"
                | "ksh"
                | "mksh"
                | "fish"
                | "csh"
                | "tcsh"
                | "env"
                | "nice"
                | "timeout"
                | "sudo"
                | "nohup"
                | "exec"
                | "command"
                | "busybox"
                | "eval"
                | "xargs"
                | "su"
                | "doas"
                | "setsid"
                | "stdbuf"
                | "ionice"
                | "chroot"
                | "watch"
                | "script"
                | "runuser"
                | "flock"
                | "unshare"
                | "nsenter"
                | "chrt"
                | "taskset"
                | "builtin"
                | "time"
                | "parallel"
                | "ssh"
                | "expect"
                | "case"
                | "coproc"
                | "do"
                | "done"
                | "elif"
                | "else"
                | "esac"
                | "fi"
                | "for"
                | "function"
                | "if"
                | "in"
                | "select"
                | "then"
                | "until"
                | "while"
        )
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Any bytes: an answer, never a panic; opaque exactly when there are reasons.
    #[test]
    fn any_bytes_get_an_answer(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let got = analyze(&bytes);
        prop_assert_eq!(got.argv.is_none(), !got.reasons.is_empty());
        prop_assert_eq!(got.argv0.is_empty(), got.argv.is_none());
    }

    /// Any printable ASCII, which reaches both readers.
    #[test]
    fn any_ascii_gets_an_answer(text in "[ -~\t\n]{0,80}") {
        let got = analyze(text.as_bytes());
        prop_assert_eq!(got.argv.is_none(), !got.reasons.is_empty());
    }

    /// Single-quoted words are read back exactly, whatever they hold.
    #[test]
    fn quoted_words_round_trip(
        name in command_name(),
        args in proptest::collection::vec("[^\u{0}]{0,12}", 0..6),
    ) {
        let mut command = quote(&name);
        for a in &args {
            command.push(' ');
            command.push_str(&quote(a));
        }
        let got = analyze(command.as_bytes());
        let mut expected = vec![name.clone()];
        expected.extend(args.iter().cloned());
        prop_assert_eq!(got.argv, Some(expected), "{}", command);
        prop_assert_eq!(got.argv0, name);
    }

    /// Joining two provable commands with an operator never stays provable.
    #[test]
    fn operators_between_commands_are_opaque(
        a in command_name(),
        b in command_name(),
        op in prop::sample::select(vec![";", "&&", "||", "|", "&", "\n", " > ", " < ", "`", "$("]),
    ) {
        let command = format!("{a}{op}{b}");
        prop_assert!(analyze(command.as_bytes()).opaque(), "{}", command);
    }

    /// An unquoted expansion character anywhere makes the string opaque.
    #[test]
    fn unquoted_expansions_are_opaque(
        a in command_name(),
        c in prop::sample::select(vec!['$', '*', '?', '[', '{', '!', '`', '(', '\\']),
        tail in "[a-z]{0,4}",
    ) {
        let command = format!("{a} x{c}{tail}");
        prop_assert!(analyze(command.as_bytes()).opaque(), "{}", command);
    }
}
