//! The pre-lexer: what the target's lexer does that `sqlparser` does not
//! see, done before the parser runs.
//!
//! - splits a message into statements at `;`, as the target does, so the
//!   parser never decides where a statement ends;
//! - replaces every comment with spaces, so the parser's comment rules
//!   (`--` needs a following space in MySQL, `#` comments) never matter;
//! - expands versioned comments (`/*!50700 ... */`, MariaDB's
//!   `/*M!100100 ... */`) exactly when the target would run their body,
//!   and refuses the shapes whose reading is ambiguous;
//! - follows the session's `sql_mode`: under `ANSI_QUOTES` a `"` token, under
//!   `NO_BACKSLASH_ESCAPES` a backslash in a string, under `PIPES_AS_CONCAT`
//!   a `||` is refused, since the parser would read it otherwise.
//!
//! Every special character is ASCII, so the scan works on bytes of text
//! already checked to be UTF-8, and copies the rest unchanged.

use crate::{AnalysisError, LexMode, MAX_CODE_LEN, MAX_STATEMENTS};

/// Which server reads the text: the two differ on versioned comments.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Flavor {
    #[default]
    Mariadb,
    Mysql,
}

/// The target as its handshake describes it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Target {
    pub flavor: Flavor,
    /// `major * 10000 + minor * 100 + patch` (`10.11.6` is `101106`), when known.
    pub version: Option<u32>,
}

impl Target {
    /// From the handshake's server version string (`10.11.6-MariaDB-0+deb12u1`,
    /// `5.5.5-10.11.6-MariaDB`, `8.0.36`).
    pub fn from_server_version(text: &str) -> Target {
        let mariadb = text.to_ascii_lowercase().contains("mariadb");
        // MariaDB may prefix `5.5.5-` for old clients.
        let text = if mariadb {
            text.strip_prefix("5.5.5-").unwrap_or(text)
        } else {
            text
        };
        let mut parts = text
            .split(|c: char| !c.is_ascii_digit())
            .take(3)
            .map(|p| p.parse::<u32>().ok());
        let version = match (parts.next(), parts.next(), parts.next()) {
            (Some(Some(a)), Some(Some(b)), Some(Some(c))) if b < 100 && c < 100 => {
                Some(a * 10_000 + b * 100 + c)
            }
            _ => None,
        };
        Target {
            flavor: if mariadb {
                Flavor::Mariadb
            } else {
                Flavor::Mysql
            },
            version,
        }
    }
}

/// One statement of a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Piece<'a> {
    /// As the client wrote it (trimmed).
    pub original: &'a str,
    /// What the target parses: comments blanked, versioned comments expanded.
    pub normalized: String,
}

/// Splits `sql` into the statements the target will run, normalised for the parser.
pub fn split<'a>(
    sql: &'a str,
    mode: LexMode,
    target: Target,
) -> Result<Vec<Piece<'a>>, AnalysisError> {
    let mut lexer = Lexer {
        b: sql.as_bytes(),
        sql,
        i: 0,
        out: Vec::with_capacity(sql.len()),
        start: 0,
        versioned: false,
        pieces: Vec::new(),
        mode,
        target,
        in_strings: 0,
    };
    lexer.run()?;
    if sql.len() - lexer.in_strings > MAX_CODE_LEN {
        return Err(AnalysisError::TooMuchCode);
    }
    Ok(lexer.pieces)
}

struct Lexer<'a> {
    b: &'a [u8],
    sql: &'a str,
    i: usize,
    out: Vec<u8>,
    start: usize,
    /// Inside the body of a versioned comment the target runs.
    versioned: bool,
    pieces: Vec<Piece<'a>>,
    mode: LexMode,
    target: Target,
    /// Bytes inside string literals, quotes included: each literal is one
    /// token to the parser however long it is; the rest is bounded by
    /// [`MAX_CODE_LEN`].
    in_strings: usize,
}

impl<'a> Lexer<'a> {
    fn at(&self, i: usize) -> Option<u8> {
        self.b.get(i).copied()
    }

    fn run(&mut self) -> Result<(), AnalysisError> {
        while let Some(c) = self.at(self.i) {
            if self.i - self.in_strings > MAX_CODE_LEN {
                return Err(AnalysisError::TooMuchCode);
            }
            let next = self.at(self.i + 1);
            match c {
                b'\'' => self.string(b'\'')?,
                b'"' if self.mode.ansi_quotes => {
                    return Err(AnalysisError::LexingMode(
                        "sql_mode ANSI_QUOTES is set: double-quoted names are refused".into(),
                    ));
                }
                b'"' => self.string(b'"')?,
                b'`' => self.quoted_name()?,
                b'#' => self.line_comment(),
                b'-' if next == Some(b'-') => {
                    match self.at(self.i + 2) {
                        // MySQL: `--` starts a comment only before a space or
                        // a control character.
                        None => self.line_comment(),
                        Some(c) if c <= b' ' => self.line_comment(),
                        // `1--1` is `1 - -1`: keep both minus signs apart.
                        Some(_) => {
                            self.out.extend_from_slice(b"- ");
                            self.i += 1;
                        }
                    }
                }
                b'/' if next == Some(b'*') => self.block_comment()?,
                b'*' if self.versioned && next == Some(b'/') => {
                    self.versioned = false;
                    self.out.extend_from_slice(b"  ");
                    self.i += 2;
                }
                b';' => {
                    if self.versioned {
                        return Err(AnalysisError::VersionedComment(
                            "a `;` inside a versioned comment is refused".into(),
                        ));
                    }
                    self.end_statement(self.i)?;
                    self.i += 1;
                    self.start = self.i;
                }
                b'|' if next == Some(b'|') && self.mode.pipes_as_concat => {
                    return Err(AnalysisError::LexingMode(
                        "sql_mode PIPES_AS_CONCAT is set: `||` is refused".into(),
                    ));
                }
                _ => {
                    self.out.push(c);
                    self.i += 1;
                }
            }
        }
        if self.versioned {
            return Err(AnalysisError::Unterminated("versioned comment"));
        }
        self.end_statement(self.b.len())
    }

    fn end_statement(&mut self, end: usize) -> Result<(), AnalysisError> {
        let normalized =
            String::from_utf8(std::mem::take(&mut self.out)).map_err(|_| AnalysisError::NotUtf8)?;
        if normalized.trim().is_empty() {
            return Ok(());
        }
        if self.pieces.len() >= MAX_STATEMENTS {
            return Err(AnalysisError::TooManyStatements);
        }
        let original = self.sql.get(self.start..end).unwrap_or_default().trim();
        self.pieces.push(Piece {
            original,
            normalized,
        });
        Ok(())
    }

    /// A string in `quote`: doubled quotes and (unless NO_BACKSLASH_ESCAPES)
    /// backslash escapes stay inside it.
    fn string(&mut self, quote: u8) -> Result<(), AnalysisError> {
        let start = self.i;
        self.out.push(quote);
        self.i += 1;
        while let Some(c) = self.at(self.i) {
            if c == quote {
                if self.at(self.i + 1) == Some(quote) {
                    self.out.extend_from_slice(&[quote, quote]);
                    self.i += 2;
                    continue;
                }
                self.out.push(quote);
                self.i += 1;
                self.in_strings += self.i - start;
                return Ok(());
            }
            if c == b'\\' {
                if self.mode.no_backslash_escapes {
                    return Err(AnalysisError::LexingMode(
                        "sql_mode NO_BACKSLASH_ESCAPES is set: a backslash in a string is refused"
                            .into(),
                    ));
                }
                self.out.push(c);
                self.i += 1;
                if let Some(escaped) = self.at(self.i) {
                    self.out.push(escaped);
                    self.i += 1;
                }
                continue;
            }
            self.out.push(c);
            self.i += 1;
        }
        Err(AnalysisError::Unterminated("string"))
    }

    /// A backquoted name; a doubled backquote stays inside it.
    fn quoted_name(&mut self) -> Result<(), AnalysisError> {
        self.out.push(b'`');
        self.i += 1;
        while let Some(c) = self.at(self.i) {
            self.out.push(c);
            self.i += 1;
            if c == b'`' {
                if self.at(self.i) == Some(b'`') {
                    self.out.push(b'`');
                    self.i += 1;
                    continue;
                }
                return Ok(());
            }
        }
        Err(AnalysisError::Unterminated("quoted name"))
    }

    /// `#` or `-- ` to the end of the line, blanked; the newline stays.
    fn line_comment(&mut self) {
        while let Some(c) = self.at(self.i) {
            if c == b'\n' {
                return;
            }
            self.out.push(b' ');
            self.i += 1;
        }
    }

    /// `/* ... */`, a versioned comment, or an optimizer hint.
    fn block_comment(&mut self) -> Result<(), AnalysisError> {
        if self.versioned {
            return Err(AnalysisError::VersionedComment(
                "a comment inside a versioned comment is refused".into(),
            ));
        }
        let body = self.i + 2;
        let (marker, mariadb_only) = match (self.at(body), self.at(body + 1)) {
            (Some(b'!'), _) => (1, false),
            (Some(b'M'), Some(b'!')) => (2, true),
            _ => return self.skip_comment(),
        };
        let digits_at = body + marker;
        let digits = self.b[digits_at.min(self.b.len())..]
            .iter()
            .take_while(|c| c.is_ascii_digit())
            .count();
        if mariadb_only && self.target.flavor == Flavor::Mysql {
            // MySQL reads `/*M!` as an ordinary comment.
            return self.skip_comment();
        }
        let allowed = if mariadb_only {
            matches!(digits, 0 | 5 | 6)
        } else {
            matches!(digits, 0 | 5)
        };
        if !allowed {
            return Err(AnalysisError::VersionedComment(format!(
                "a versioned comment with a {digits}-digit version is refused (ambiguous)"
            )));
        }
        let runs = if digits == 0 {
            true
        } else {
            let wanted: u32 = self.sql[digits_at..digits_at + digits]
                .parse()
                .map_err(|_| AnalysisError::VersionedComment("bad version".into()))?;
            match self.target.version {
                Some(v) => v >= wanted,
                None => {
                    return Err(AnalysisError::VersionedComment(
                        "the target's version is unknown: versioned comments are refused".into(),
                    ));
                }
            }
        };
        if !runs {
            return self.skip_comment();
        }
        let body_start = digits_at + digits;
        self.out
            .extend(std::iter::repeat_n(b' ', body_start - self.i));
        self.i = body_start;
        self.versioned = true;
        Ok(())
    }

    /// A comment the target ignores: blanked to its `*/`.
    fn skip_comment(&mut self) -> Result<(), AnalysisError> {
        let from = self.i + 2;
        let Some(end) = self.b[from.min(self.b.len())..]
            .windows(2)
            .position(|w| w == b"*/")
        else {
            return Err(AnalysisError::Unterminated("comment"));
        };
        let stop = from + end + 2;
        self.out.extend(std::iter::repeat_n(b' ', stop - self.i));
        self.i = stop;
        Ok(())
    }
}
