//! What an SSH exec string provably runs, or why that cannot be proven.
//!
//! Pure: no I/O, no async, fuzzable. [`analyze`] takes the exec request's
//! bytes as the client sent them and returns an [`ExecAnalysis`]: `argv` is
//! set only when the whole string is one simple command whose words are
//! literal after quote removal; anything else is opaque, with a
//! [`Reason`] for each construct found.
//!
//! Two readers must agree before a string is called provable: an
//! allow-list lexer of Vigil's own (`lex.rs`), which accepts only
//! what bash, dash, zsh and ksh all read the same way, and the bash grammar
//! of `brush-parser`, which must see one simple command with exactly the same
//! words. A construct either reader does not know makes the string opaque;
//! neither can make it provable alone.
//!
//! Wrappers (`sh -c`, `bash -c`, `env`, `nice`, `timeout`, `sudo`,
//! `nohup`, `exec`, `command`) are unwrapped when their own arguments are
//! provable, and recorded in [`ExecAnalysis::wrappers`]; other wrappers
//! (`xargs`, `eval`, `su`, `zsh -c`, ...) and wrappers with arguments Vigil
//! cannot read make the string opaque (`wrapper`). The command name is
//! normalised ([`argv0::normalise`]).

mod argv0;
mod lex;
mod parser;
mod reason;
mod wrap;

pub use argv0::normalise as normalise_argv0;
pub use reason::Reason;

use std::collections::BTreeSet;

/// Longest exec string analysed: longer ones are opaque (`too_long`).
pub const MAX_COMMAND_LEN: usize = 64 * 1024;
/// Wrappers unwrapped in a row before the string is opaque (`too_deep`).
pub const MAX_UNWRAP_DEPTH: usize = 8;

/// What an exec string runs, as policy sees it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExecAnalysis {
    /// The command's words after quote removal and unwrapping; `None`
    /// when opaque.
    pub argv: Option<Vec<String>>,
    /// The normalised command name (`argv[0]`); empty when opaque.
    pub argv0: String,
    /// Why the string is opaque; empty when `argv` is set.
    pub reasons: Vec<Reason>,
    /// The wrappers unwrapped, outermost first (`sudo -u deploy`,
    /// `timeout 10`, `bash -c`).
    pub wrappers: Vec<String>,
}

impl ExecAnalysis {
    pub fn opaque(&self) -> bool {
        self.argv.is_none()
    }

    /// The reasons as the names `ssh.opaque_reasons` lists.
    pub fn reason_names(&self) -> Vec<String> {
        self.reasons
            .iter()
            .map(|r| r.as_str().to_string())
            .collect()
    }

    /// The analysis of an unwrapped command: its words, or why it is opaque.
    fn of(words: Result<Vec<String>, BTreeSet<Reason>>, wrappers: Vec<String>) -> Self {
        match words {
            Ok(argv) => ExecAnalysis {
                argv0: argv
                    .first()
                    .map(|w| argv0::normalise(w))
                    .unwrap_or_default(),
                argv: Some(argv),
                reasons: Vec::new(),
                wrappers,
            },
            Err(reasons) => ExecAnalysis::opaque_because(reasons, wrappers),
        }
    }

    fn opaque_because(reasons: BTreeSet<Reason>, wrappers: Vec<String>) -> Self {
        ExecAnalysis {
            argv: None,
            argv0: String::new(),
            reasons: reasons.into_iter().collect(),
            wrappers,
        }
    }
}

/// Analyses the bytes of an SSH exec request.
pub fn analyze(command: &[u8]) -> ExecAnalysis {
    let mut reasons = BTreeSet::new();
    if command.len() > MAX_COMMAND_LEN {
        reasons.insert(Reason::TooLong);
        return ExecAnalysis::opaque_because(reasons, Vec::new());
    }
    if command.contains(&0) {
        reasons.insert(Reason::Nul);
    }
    let Ok(text) = std::str::from_utf8(command) else {
        reasons.insert(Reason::NonUtf8);
        return ExecAnalysis::opaque_because(reasons, Vec::new());
    };
    if !reasons.is_empty() {
        return ExecAnalysis::opaque_because(reasons, Vec::new());
    }
    let mut wrappers = Vec::new();
    let words = analyze_str(text, 0, &mut wrappers);
    ExecAnalysis::of(words, wrappers)
}

/// Analyses a command that arrives as an argv, run without a shell (a
/// Kubernetes exec's `command` parameters): the words are literal as they
/// are, and only the wrappers are read (`sh -c SCRIPT` analyses SCRIPT as
/// the SSH exec string would be; `env`, `timeout`, `sudo`... unwrap).
pub fn analyze_argv(argv: &[String]) -> ExecAnalysis {
    let mut reasons = BTreeSet::new();
    if argv.iter().map(|w| w.len() + 1).sum::<usize>() > MAX_COMMAND_LEN {
        reasons.insert(Reason::TooLong);
    }
    if argv.iter().any(|w| w.contains('\0')) {
        reasons.insert(Reason::Nul);
    }
    if argv.is_empty() {
        reasons.insert(Reason::Empty);
    }
    if !reasons.is_empty() {
        return ExecAnalysis::opaque_because(reasons, Vec::new());
    }
    let mut wrappers = Vec::new();
    let words = unwrap(argv.to_vec(), 0, &mut wrappers);
    ExecAnalysis::of(words, wrappers)
}

/// The literal words of `text`, unwrapped, at wrapper depth `depth`.
fn analyze_str(
    text: &str,
    depth: usize,
    wrappers: &mut Vec<String>,
) -> Result<Vec<String>, BTreeSet<Reason>> {
    if depth > MAX_UNWRAP_DEPTH {
        return Err(BTreeSet::from([Reason::TooDeep]));
    }
    let words = lex::lex(text)?;
    match parser::words(text) {
        Ok(parsed) if parsed == words => {}
        Ok(_) => return Err(BTreeSet::from([Reason::ParserDisagreement])),
        Err(reason) => return Err(BTreeSet::from([reason])),
    }
    unwrap(words, depth, wrappers)
}

fn unwrap(
    mut argv: Vec<String>,
    depth: usize,
    wrappers: &mut Vec<String>,
) -> Result<Vec<String>, BTreeSet<Reason>> {
    for level in depth..=MAX_UNWRAP_DEPTH {
        match wrap::layer(&argv) {
            wrap::Layer::Command => return Ok(argv),
            wrap::Layer::Opaque(reason) => return Err(BTreeSet::from([reason])),
            wrap::Layer::Runs { argv: inner, label } => {
                wrappers.push(label);
                argv = inner;
            }
            wrap::Layer::Shell { script, label } => {
                wrappers.push(label);
                return analyze_str(&script, level + 1, wrappers);
            }
        }
    }
    Err(BTreeSet::from([Reason::TooDeep]))
}
