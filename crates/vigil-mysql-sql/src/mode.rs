//! The session settings under which the target lexes statement text:
//! `sql_mode` flags that change the grammar, and the client character set.
//! Vigil reads them from the target (server-confirmed), never from what a
//! client says it set.

use crate::AnalysisError;

/// How the target lexes text in this session.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct LexMode {
    /// `"` quotes identifiers, not strings.
    pub ansi_quotes: bool,
    /// `\` is an ordinary character inside strings.
    pub no_backslash_escapes: bool,
    /// `||` concatenates instead of meaning OR.
    pub pipes_as_concat: bool,
}

/// `sql_mode` flags known not to change how text is split into tokens or
/// statements (or whose effect does not reach `read_only` or lineage).
const HARMLESS_FLAGS: &[&str] = &[
    "",
    "ALLOW_INVALID_DATES",
    "ERROR_FOR_DIVISION_BY_ZERO",
    "HIGH_NOT_PRECEDENCE",
    "IGNORE_BAD_TABLE_OPTIONS",
    "IGNORE_SPACE",
    "NO_AUTO_CREATE_USER",
    "NO_AUTO_VALUE_ON_ZERO",
    "NO_DIR_IN_CREATE",
    "NO_ENGINE_SUBSTITUTION",
    "NO_FIELD_OPTIONS",
    "NO_KEY_OPTIONS",
    "NO_TABLE_OPTIONS",
    "NO_UNSIGNED_SUBTRACTION",
    "NO_ZERO_DATE",
    "NO_ZERO_IN_DATE",
    "ONLY_FULL_GROUP_BY",
    "PAD_CHAR_TO_FULL_LENGTH",
    "REAL_AS_FLOAT",
    "SIMULTANEOUS_ASSIGNMENT",
    "STRICT_ALL_TABLES",
    "STRICT_TRANS_TABLES",
    "TIME_ROUND_FRACTIONAL",
    "TIME_TRUNCATE_FRACTIONAL",
    "TRADITIONAL",
    "ANSI",
    "EMPTY_STRING_IS_NULL",
];

impl LexMode {
    /// The mode of `@@SESSION.sql_mode` as the target reports it (a comma
    /// separated list of flags). A flag Vigil does not know (MariaDB's
    /// `ORACLE`, `MSSQL`, ... switch whole grammars) is an error: the
    /// session cannot be analysed.
    pub fn from_sql_mode(sql_mode: &str) -> Result<LexMode, AnalysisError> {
        let mut mode = LexMode::default();
        for flag in sql_mode.split(',') {
            let flag = flag.trim().to_ascii_uppercase();
            match flag.as_str() {
                "ANSI_QUOTES" => mode.ansi_quotes = true,
                "NO_BACKSLASH_ESCAPES" => mode.no_backslash_escapes = true,
                "PIPES_AS_CONCAT" => mode.pipes_as_concat = true,
                f if HARMLESS_FLAGS.contains(&f) => {}
                other => {
                    return Err(AnalysisError::LexingMode(format!(
                        "sql_mode {} changes the grammar in a way Vigil does not reproduce",
                        other.chars().take(64).collect::<String>()
                    )));
                }
            }
        }
        Ok(mode)
    }
}

/// Whether the target reading text in `charset` (`@@character_set_client`)
/// splits it where Vigil, reading UTF-8, does: UTF-8 itself and the
/// single-byte sets where every byte is one character. Multi-byte sets such
/// as `gbk`, `big5` or `sjis` can swallow a quote or a backslash into a
/// character and are refused.
pub fn charset_reproduced(charset: &str) -> bool {
    matches!(
        charset.trim().to_ascii_lowercase().as_str(),
        "utf8mb4" | "utf8mb3" | "utf8" | "latin1" | "ascii" | "binary"
    )
}

/// Whether a collation id of the handshake (the client's initial character
/// set) is one of [`charset_reproduced`]'s: the ids of `latin1`, `utf8mb3`,
/// `utf8mb4`, `ascii` and `binary` collations MySQL and MariaDB share.
pub fn collation_reproduced(id: u8) -> bool {
    matches!(
        id,
        5 | 8 | 11 | 15 | 31 | 33 | 45 | 46 | 47 | 48 | 49 | 63 | 65 | 83 | 94 | 192..=215 | 223..=247 | 255
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grammar_flags_are_tracked_and_unknown_ones_refused() {
        let m = LexMode::from_sql_mode("STRICT_TRANS_TABLES,ANSI_QUOTES,NO_ENGINE_SUBSTITUTION");
        assert_eq!(
            m,
            Ok(LexMode {
                ansi_quotes: true,
                ..LexMode::default()
            })
        );
        assert!(LexMode::from_sql_mode("").is_ok());
        assert!(LexMode::from_sql_mode("ORACLE").is_err());
        assert!(LexMode::from_sql_mode("PIPES_AS_CONCAT,NO_BACKSLASH_ESCAPES").is_ok());
    }

    #[test]
    fn multibyte_charsets_that_hide_quotes_are_refused() {
        assert!(charset_reproduced("utf8mb4"));
        assert!(charset_reproduced("latin1"));
        assert!(!charset_reproduced("gbk"));
        assert!(!charset_reproduced("sjis"));
        assert!(collation_reproduced(45));
        assert!(collation_reproduced(255));
        assert!(!collation_reproduced(28)); // gbk_chinese_ci
    }
}
