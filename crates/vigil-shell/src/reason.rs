//! Why an exec string is opaque: one reason per construct that makes its
//! effect unprovable, named as policies and the ledger see them.

/// A construct that makes an exec string opaque. `as_str` is the name in
/// `ssh.opaque_reasons`; the order of the variants is the order reasons are
/// listed in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Reason {
    /// The string is not UTF-8.
    NonUtf8,
    /// A NUL byte: the target's shell would see a different string.
    Nul,
    /// Longer than [`crate::MAX_COMMAND_LEN`].
    TooLong,
    /// Wrappers nested deeper than [`crate::MAX_UNWRAP_DEPTH`].
    TooDeep,
    /// Nothing to run (empty, blank, or an empty command name).
    Empty,
    /// `;`, `&&`, `||` or a newline between commands.
    Operator,
    /// `|`.
    Pipe,
    /// `&`: runs in the background.
    Background,
    /// `(...)`, `{...}`, `if`, `for`, `while`, `case`, ... or a reserved word.
    Compound,
    /// `<`, `>`, `>>`, `>&`, ... .
    Redirection,
    /// `<<<`.
    HereString,
    /// `<<`.
    HereDocument,
    /// `<(...)` or `>(...)`.
    ProcessSubstitution,
    /// `$(...)` or backticks.
    CommandSubstitution,
    /// `$name`, `${...}`, `$1`, `$@`, ... .
    Variable,
    /// `$((...))`.
    Arithmetic,
    /// `*`, `?` or `[` outside quotes.
    Glob,
    /// `{` or `}` outside quotes (`{a,b}`, `{1..3}`).
    BraceExpansion,
    /// `~` outside quotes.
    Tilde,
    /// `!` (history expansion, pipeline negation).
    History,
    /// `#` outside quotes.
    Comment,
    /// `NAME=value` before the command (or `=` in the command name).
    Assignment,
    /// `$'...'` or `$"..."`.
    SpecialQuote,
    /// A backslash before a letter, a digit or a newline: shells disagree.
    Escape,
    /// A control character outside quotes.
    ControlCharacter,
    /// A non-ASCII character outside quotes.
    NonAscii,
    /// A quote that is never closed.
    UnterminatedQuote,
    /// A known wrapper (`sh -c`, `env`, `sudo`, `xargs`, ...) whose own
    /// arguments could not be proven, so what it runs is unknown.
    Wrapper,
    /// The bash parser could not parse the string.
    ParseError,
    /// The bash parser and Vigil's literal reader read the string
    /// differently: fail closed.
    ParserDisagreement,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::NonUtf8 => "non_utf8",
            Reason::Nul => "nul",
            Reason::TooLong => "too_long",
            Reason::TooDeep => "too_deep",
            Reason::Empty => "empty",
            Reason::Operator => "operator",
            Reason::Pipe => "pipe",
            Reason::Background => "background",
            Reason::Compound => "compound",
            Reason::Redirection => "redirection",
            Reason::HereString => "here_string",
            Reason::HereDocument => "here_document",
            Reason::ProcessSubstitution => "process_substitution",
            Reason::CommandSubstitution => "command_substitution",
            Reason::Variable => "variable",
            Reason::Arithmetic => "arithmetic",
            Reason::Glob => "glob",
            Reason::BraceExpansion => "brace_expansion",
            Reason::Tilde => "tilde",
            Reason::History => "history",
            Reason::Comment => "comment",
            Reason::Assignment => "assignment",
            Reason::SpecialQuote => "special_quote",
            Reason::Escape => "escape",
            Reason::ControlCharacter => "control_character",
            Reason::NonAscii => "non_ascii",
            Reason::UnterminatedQuote => "unterminated_quote",
            Reason::Wrapper => "wrapper",
            Reason::ParseError => "parse_error",
            Reason::ParserDisagreement => "parser_disagreement",
        }
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
