//! Wrappers: commands that run another command. Policy must see the
//! command they run, so each known wrapper is unwrapped when its own
//! arguments are provable, and makes the whole string opaque otherwise
//! (a wrapper Vigil cannot see through hides what it runs).

use crate::{Reason, argv0};

/// What a wrapper layer turned out to be.
pub(crate) enum Layer {
    /// Not a wrapper: this is the command.
    Command,
    /// Runs `argv` (the rest of the words), recorded as `label`.
    Runs { argv: Vec<String>, label: String },
    /// Runs a shell string (`sh -c STRING`), recorded as `label`.
    Shell { script: String, label: String },
    /// A wrapper whose arguments are not provable, and why.
    Opaque(Reason),
}

/// Shells whose `-c STRING` is read like an exec string.
const SHELLS: &[&str] = &["sh", "bash", "dash"];

/// Wrappers Vigil does not see through: they make a command opaque.
const OPAQUE_WRAPPERS: &[&str] = &[
    "zsh", "ksh", "mksh", "fish", "csh", "tcsh", "busybox", "eval", "xargs", "su", "doas",
    "setsid", "stdbuf", "ionice", "chroot", "watch", "script", "runuser", "flock", "unshare",
    "nsenter", "chrt", "taskset", "builtin", "time", "parallel", "ssh", "expect",
];

/// Classifies `argv` (already literal, non-empty).
pub(crate) fn layer(argv: &[String]) -> Layer {
    let Some((first, rest)) = argv.split_first() else {
        return Layer::Command;
    };
    let name = argv0::normalise(first);
    let name = name.as_str();
    if SHELLS.contains(&name) {
        return match rest {
            [flag, script] if flag == "-c" => Layer::Shell {
                script: script.clone(),
                label: format!("{name} -c"),
            },
            _ => Layer::Opaque(Reason::Wrapper),
        };
    }
    if OPAQUE_WRAPPERS.contains(&name) {
        return Layer::Opaque(Reason::Wrapper);
    }
    match name {
        "nice" => nice(rest),
        "timeout" => timeout(rest),
        "sudo" => sudo(rest),
        "env" | "nohup" | "exec" | "command" => plain(name, rest),
        _ => Layer::Command,
    }
}

/// `nohup CMD`, `exec CMD`, `command CMD`, `env CMD`: no options, and for
/// `env` no assignments (an assignment changes what the command does; an
/// option such as `env -S` or `exec -a` may run something else).
fn plain(name: &str, rest: &[String]) -> Layer {
    if rest.is_empty() {
        return Layer::Command;
    }
    runs(rest, name.to_string())
}

/// `nice CMD...` or `nice -n N CMD...`.
fn nice(rest: &[String]) -> Layer {
    match rest {
        [] => Layer::Command,
        [flag, n, cmd @ ..] if flag == "-n" && is_integer(n) && !cmd.is_empty() => {
            runs(cmd, format!("nice -n {n}"))
        }
        cmd => runs(cmd, "nice".to_string()),
    }
}

/// `timeout DURATION CMD...` without options.
fn timeout(rest: &[String]) -> Layer {
    match rest {
        [duration, cmd @ ..] if is_duration(duration) && !cmd.is_empty() => {
            runs(cmd, format!("timeout {duration}"))
        }
        _ => Layer::Opaque(Reason::Wrapper),
    }
}

/// `sudo CMD...` or `sudo -u USER CMD...`; any other option is opaque.
fn sudo(rest: &[String]) -> Layer {
    match rest {
        [] => Layer::Command,
        [flag, user, cmd @ ..] if flag == "-u" && is_plain_name(user) && !cmd.is_empty() => {
            runs(cmd, format!("sudo -u {user}"))
        }
        cmd => runs(cmd, "sudo".to_string()),
    }
}

/// The wrapped command, unless it starts with an option of the wrapper or
/// an assignment.
fn runs(argv: &[String], label: String) -> Layer {
    match argv.first() {
        None => Layer::Opaque(Reason::Wrapper),
        Some(w) if is_assignment(w) => Layer::Opaque(Reason::Assignment),
        Some(w) if w.starts_with('-') => Layer::Opaque(Reason::Wrapper),
        Some(_) => Layer::Runs {
            argv: argv.to_vec(),
            label,
        },
    }
}

/// `NAME=...` with a shell variable name.
fn is_assignment(word: &str) -> bool {
    match word.split_once('=') {
        Some((name, _)) => {
            !name.is_empty()
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                && !name.starts_with(|c: char| c.is_ascii_digit())
        }
        None => false,
    }
}

fn is_integer(s: &str) -> bool {
    let digits = s.strip_prefix('-').unwrap_or(s);
    !digits.is_empty() && digits.len() <= 4 && digits.chars().all(|c| c.is_ascii_digit())
}

/// `10`, `2.5`, `30s`, `5m`, `1h`, `1d`.
fn is_duration(s: &str) -> bool {
    let number = s.strip_suffix(['s', 'm', 'h', 'd']).unwrap_or(s);
    !number.is_empty()
        && number.len() <= 12
        && number.chars().all(|c| c.is_ascii_digit() || c == '.')
        && number.chars().filter(|&c| c == '.').count() <= 1
}

fn is_plain_name(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with('-')
        && s.len() <= 64
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '#'))
}
