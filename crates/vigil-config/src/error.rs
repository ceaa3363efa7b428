//! Config errors, always located: `path:line:col: message`.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// A position in the config file, 1-based, counted in characters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Location {
    pub line: usize,
    pub col: usize,
}

impl Location {
    /// The line and column of byte `offset` in `text`.
    pub fn of(text: &str, offset: usize) -> Location {
        let offset = floor_char_boundary(text, offset.min(text.len()));
        let before = &text[..offset];
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        Location {
            line: before.matches('\n').count() + 1,
            col: before[line_start..].chars().count() + 1,
        }
    }

    pub fn of_span(text: &str, span: Option<Range<usize>>) -> Location {
        Location::of(text, span.map_or(0, |s| s.start))
    }
}

fn floor_char_boundary(text: &str, mut i: usize) -> usize {
    while i > 0 && !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// Why a config could not be used. Messages never contain a secret value:
/// TOML's own rendering (which quotes the offending line) is not used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{}: cannot read the config file: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Anything wrong inside the file, at the place it is wrong.
    #[error("{}:{}:{}: {message}", file.display(), at.line, at.col)]
    At {
        file: PathBuf,
        at: Location,
        message: String,
    },
}

impl ConfigError {
    pub(crate) fn at(file: &Path, at: Location, message: impl fmt::Display) -> ConfigError {
        ConfigError::At {
            file: file.to_owned(),
            at,
            message: message.to_string(),
        }
    }

    /// The line the error points at, when it points into the file.
    pub fn line(&self) -> Option<usize> {
        match self {
            ConfigError::At { at, .. } => Some(at.line),
            ConfigError::Read { .. } => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Location;

    #[test]
    fn offsets_become_lines_and_columns() {
        let text = "a = 1\nbé = 2\n";
        assert_eq!(Location::of(text, 0), Location { line: 1, col: 1 });
        assert_eq!(Location::of(text, 6), Location { line: 2, col: 1 });
        // `é` is two bytes but one column.
        assert_eq!(Location::of(text, 9), Location { line: 2, col: 3 });
        assert_eq!(Location::of(text, 999), Location { line: 3, col: 1 });
    }
}
