//! The settings under which the target lexes statement text, and whether
//! Vigil's analyser (pg_query: UTF-8, `standard_conforming_strings = on`)
//! reads the same bytes the same way. Under any other setting a backslash
//! or a multibyte character can end a string literal for one reader and not
//! the other, so the session refuses to analyse anything (fail closed).

use crate::protocol::MessageReader;

/// Whether a `client_encoding` a client asks for at startup is read by the
/// target exactly as UTF-8 text. SQL_ASCII passes bytes through unchanged;
/// the target is asked for UTF8 either way, and Vigil only forwards valid
/// UTF-8.
pub fn client_encoding_accepted(value: &str) -> bool {
    let v = value.trim().to_ascii_lowercase().replace(['-', '_'], "");
    matches!(v.as_str(), "utf8" | "unicode" | "sqlascii")
}

/// A ParameterStatus the analyser does not reproduce, in words for the
/// client; None when the setting is harmless or reproduced.
pub fn unreproduced(message: &[u8]) -> Option<String> {
    let mut r = MessageReader::new(message, "ParameterStatus");
    let (Ok(name), Ok(value)) = (r.cstr(), r.cstr()) else {
        return Some("an unreadable ParameterStatus".into());
    };
    let ok = match name.to_ascii_lowercase().as_str() {
        "client_encoding" => value.eq_ignore_ascii_case("UTF8"),
        "standard_conforming_strings" => value.eq_ignore_ascii_case("on"),
        _ => true,
    };
    (!ok).then(|| format!("{name} = {value}"))
}

/// The first unreproduced setting among the ParameterStatus messages a
/// target sent at login (`messages`: whole messages, back to back).
pub fn unreproduced_settings(messages: &[u8]) -> Option<String> {
    let mut rest = messages;
    while rest.len() >= 5 {
        let len = u32::from_be_bytes([rest[1], rest[2], rest[3], rest[4]]) as usize;
        let Some(message) = rest.get(..len + 1) else {
            return Some("an unreadable ParameterStatus".into());
        };
        if let Some(problem) = unreproduced(message) {
            return Some(problem);
        }
        rest = &rest[len + 1..];
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::MessageWriter;

    fn status(name: &str, value: &str) -> Vec<u8> {
        let mut w = MessageWriter::new();
        w.parameter_status(name, value);
        w.take().to_vec()
    }

    #[test]
    fn only_utf8_and_standard_strings_are_reproduced() {
        assert_eq!(unreproduced(&status("client_encoding", "UTF8")), None);
        assert_eq!(
            unreproduced(&status("client_encoding", "SJIS")).as_deref(),
            Some("client_encoding = SJIS")
        );
        assert!(unreproduced(&status("standard_conforming_strings", "off")).is_some());
        assert_eq!(
            unreproduced(&status("standard_conforming_strings", "on")),
            None
        );
        assert_eq!(unreproduced(&status("TimeZone", "UTC")), None);
        assert!(unreproduced(b"S\0\0\0\x05").is_some());
    }

    #[test]
    fn startup_encodings() {
        for ok in ["UTF8", "utf-8", "UNICODE", "SQL_ASCII"] {
            assert!(client_encoding_accepted(ok), "{ok}");
        }
        for bad in [
            "SJIS", "BIG5", "GBK", "GB18030", "LATIN9", "WIN1252", "auto",
        ] {
            assert!(!client_encoding_accepted(bad), "{bad}");
        }
    }
}
