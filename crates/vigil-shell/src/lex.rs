//! Vigil's own reader of literal commands: an allow-list lexer that accepts
//! only what every POSIX-family shell (bash, dash, zsh, ksh) reads the same
//! way: plain words of safe characters, single quotes, double quotes with
//! nothing to expand, and backslashes before punctuation or a space.
//! Anything else is a [`Reason`], so a construct this reader does not know
//! can only make a string opaque, never provable.

use std::collections::BTreeSet;

use crate::Reason;

/// Words of the command that do not need quoting in any of the shells
/// above, besides ASCII letters and digits. `~` and `#` are literal only
/// inside a word (see [`lex`]).
const SAFE_PUNCTUATION: &[char] = &['_', '-', '.', '/', ',', ':', '@', '+', '=', '%', ']'];

/// Words no shell runs as a command name when unquoted, and which this
/// reader refuses quoted too (an approver reads them as keywords).
const RESERVED: &[&str] = &[
    "!", "case", "coproc", "do", "done", "elif", "else", "esac", "fi", "for", "function", "if",
    "in", "select", "then", "until", "while", "{", "}", "time", "[[", "]]",
];

/// The words of `command` after quote removal, or every reason it is not a
/// single literal simple command.
pub fn lex(command: &str) -> Result<Vec<String>, BTreeSet<Reason>> {
    let mut lexer = Lexer {
        chars: command.chars().collect(),
        words: Vec::new(),
        word: None,
        first_word_has_equals: false,
        reasons: BTreeSet::new(),
    };
    lexer.run();
    let Lexer {
        words, mut reasons, ..
    } = lexer;
    if lexer.first_word_has_equals {
        reasons.insert(Reason::Assignment);
    }
    match words.first() {
        None => {
            reasons.insert(Reason::Empty);
        }
        Some(first) if first.is_empty() => {
            reasons.insert(Reason::Empty);
        }
        Some(first) if RESERVED.contains(&first.as_str()) => {
            reasons.insert(Reason::Compound);
        }
        Some(_) => {}
    }
    if reasons.is_empty() {
        Ok(words)
    } else {
        Err(reasons)
    }
}

struct Lexer {
    chars: Vec<char>,
    words: Vec<String>,
    /// The word being read; `Some("")` after an empty quote.
    word: Option<String>,
    first_word_has_equals: bool,
    reasons: BTreeSet<Reason>,
}

impl Lexer {
    fn run(&mut self) {
        let mut i = 0;
        while i < self.chars.len() {
            i = self.step(i);
        }
        self.end_word();
    }

    fn at(&self, i: usize) -> Option<char> {
        self.chars.get(i).copied()
    }

    fn push(&mut self, c: char) {
        self.word.get_or_insert_with(String::new).push(c);
    }

    fn end_word(&mut self) {
        if let Some(w) = self.word.take() {
            self.words.push(w);
        }
    }

    fn reason(&mut self, r: Reason) {
        self.reasons.insert(r);
    }

    /// Reads the construct at `i`; returns where the next one starts.
    fn step(&mut self, i: usize) -> usize {
        let c = self.chars[i];
        let next = self.at(i + 1);
        let at_word_start = self.word.is_none();
        match c {
            ' ' | '\t' => {
                self.end_word();
                i + 1
            }
            '\n' => {
                self.reason(Reason::Operator);
                self.end_word();
                i + 1
            }
            '\'' => self.single_quoted(i + 1),
            '"' => self.double_quoted(i + 1),
            '\\' => match next {
                Some(n) if n == ' ' || (n.is_ascii_punctuation()) => {
                    self.push(n);
                    i + 2
                }
                _ => {
                    self.reason(Reason::Escape);
                    i + 2
                }
            },
            '$' => self.dollar(i),
            '`' => {
                self.reason(Reason::CommandSubstitution);
                i + 1
            }
            '|' => {
                self.reason(if next == Some('|') {
                    Reason::Operator
                } else {
                    Reason::Pipe
                });
                i + 1
            }
            '&' => {
                self.reason(match next {
                    Some('&') => Reason::Operator,
                    Some('>') => Reason::Redirection,
                    _ => Reason::Background,
                });
                i + 1
            }
            ';' => {
                self.reason(Reason::Operator);
                i + 1
            }
            '<' => {
                self.reason(match (next, self.at(i + 2)) {
                    (Some('<'), Some('<')) => Reason::HereString,
                    (Some('<'), _) => Reason::HereDocument,
                    (Some('('), _) => Reason::ProcessSubstitution,
                    _ => Reason::Redirection,
                });
                i + 1
            }
            '>' => {
                self.reason(if next == Some('(') {
                    Reason::ProcessSubstitution
                } else {
                    Reason::Redirection
                });
                i + 1
            }
            '(' | ')' => {
                self.reason(Reason::Compound);
                i + 1
            }
            '{' | '}' => {
                self.reason(Reason::BraceExpansion);
                i + 1
            }
            '*' | '?' | '[' | '^' => {
                self.reason(Reason::Glob);
                i + 1
            }
            '!' => {
                self.reason(Reason::History);
                i + 1
            }
            '~' if at_word_start || self.after_assignment_separator() => {
                self.reason(Reason::Tilde);
                i + 1
            }
            '#' if at_word_start => {
                self.reason(Reason::Comment);
                i + 1
            }
            '=' if at_word_start => {
                // zsh expands `=cmd` to the command's path.
                self.reason(Reason::Assignment);
                i + 1
            }
            '=' => {
                if self.words.is_empty() {
                    self.first_word_has_equals = true;
                }
                self.push(c);
                i + 1
            }
            c if c.is_ascii_alphanumeric()
                || SAFE_PUNCTUATION.contains(&c)
                || c == '~'
                || c == '#' =>
            {
                self.push(c);
                i + 1
            }
            c if c.is_control() => {
                self.reason(Reason::ControlCharacter);
                i + 1
            }
            _ => {
                self.reason(Reason::NonAscii);
                i + 1
            }
        }
    }

    /// Whether the word so far ends in `=` or `:` (where bash expands `~`
    /// in assignments and some shells in every word).
    fn after_assignment_separator(&self) -> bool {
        self.word
            .as_deref()
            .is_some_and(|w| w.ends_with('=') || w.ends_with(':'))
    }

    fn single_quoted(&mut self, start: usize) -> usize {
        let Some(len) = self.chars[start..].iter().position(|&c| c == '\'') else {
            self.reason(Reason::UnterminatedQuote);
            return self.chars.len();
        };
        let text: String = self.chars[start..start + len].iter().collect();
        self.word.get_or_insert_with(String::new).push_str(&text);
        start + len + 1
    }

    fn double_quoted(&mut self, start: usize) -> usize {
        self.word.get_or_insert_with(String::new);
        let mut i = start;
        while let Some(c) = self.at(i) {
            match c {
                '"' => return i + 1,
                '$' => {
                    i = self.dollar(i);
                    continue;
                }
                '`' => self.reason(Reason::CommandSubstitution),
                '\\' => self.reason(Reason::Escape),
                '!' => self.reason(Reason::History),
                c => self.push(c),
            }
            i += 1;
        }
        self.reason(Reason::UnterminatedQuote);
        i
    }

    /// `$` at `i`: a substitution, a variable or a special quote.
    fn dollar(&mut self, i: usize) -> usize {
        let reason = match (self.at(i + 1), self.at(i + 2)) {
            (Some('('), Some('(')) => Reason::Arithmetic,
            (Some('('), _) => Reason::CommandSubstitution,
            (Some('\'' | '"'), _) => Reason::SpecialQuote,
            _ => Reason::Variable,
        };
        self.reason(reason);
        i + 1
    }
}
