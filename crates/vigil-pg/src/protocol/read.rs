//! Parsers for the few messages the gateway must look inside.
//! Each takes a whole message (tag and length included).

use super::FrameError;

/// A cursor over a message body.
pub struct MessageReader<'a> {
    rest: &'a [u8],
    what: &'static str,
}

impl<'a> MessageReader<'a> {
    /// Starts after the tag and length of a whole message.
    pub fn new(message: &'a [u8], what: &'static str) -> Self {
        Self {
            rest: message.get(5..).unwrap_or_default(),
            what,
        }
    }

    fn bad(&self) -> FrameError {
        FrameError::Malformed(self.what)
    }

    pub fn cstr(&mut self) -> Result<&'a str, FrameError> {
        let end = self
            .rest
            .iter()
            .position(|&b| b == 0)
            .ok_or_else(|| self.bad())?;
        let s = std::str::from_utf8(&self.rest[..end]).map_err(|_| self.bad())?;
        self.rest = &self.rest[end + 1..];
        Ok(s)
    }

    pub fn u8(&mut self) -> Result<u8, FrameError> {
        let (&b, rest) = self.rest.split_first().ok_or_else(|| self.bad())?;
        self.rest = rest;
        Ok(b)
    }

    pub fn i16(&mut self) -> Result<i16, FrameError> {
        let b = self.take(2)?;
        Ok(i16::from_be_bytes([b[0], b[1]]))
    }

    pub fn u16(&mut self) -> Result<u16, FrameError> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    pub fn i32(&mut self) -> Result<i32, FrameError> {
        let b = self.take(4)?;
        Ok(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub fn take(&mut self, n: usize) -> Result<&'a [u8], FrameError> {
        if self.rest.len() < n {
            return Err(self.bad());
        }
        let (head, rest) = self.rest.split_at(n);
        self.rest = rest;
        Ok(head)
    }

    pub fn rest(&self) -> &'a [u8] {
        self.rest
    }
}

/// Query ('Q'): the SQL text.
pub fn parse_query(message: &[u8]) -> Result<&str, FrameError> {
    MessageReader::new(message, "Query").cstr()
}

/// Parse ('P'): statement name and SQL text.
pub struct ParseRef<'a> {
    pub statement: &'a str,
    pub query: &'a str,
}

pub fn parse_parse(message: &[u8]) -> Result<ParseRef<'_>, FrameError> {
    let mut r = MessageReader::new(message, "Parse");
    let statement = r.cstr()?;
    let query = r.cstr()?;
    Ok(ParseRef { statement, query })
}

/// Bind ('B'): portal and statement names. Parameters stay opaque here.
pub struct BindRef<'a> {
    pub portal: &'a str,
    pub statement: &'a str,
    /// The parameter section onwards, for hashing by later approval logic.
    pub rest: &'a [u8],
}

pub fn parse_bind(message: &[u8]) -> Result<BindRef<'_>, FrameError> {
    let mut r = MessageReader::new(message, "Bind");
    let portal = r.cstr()?;
    let statement = r.cstr()?;
    Ok(BindRef {
        portal,
        statement,
        rest: r.rest(),
    })
}

/// The result format codes of a Bind, from its parameter section onwards.
/// Counts are read as the server reads them (unsigned 16-bit), value
/// lengths as signed (-1 is NULL, any other negative is refused), and the
/// message must end right after the last code, as the server requires.
pub fn bind_result_formats(rest: &[u8]) -> Result<Vec<i16>, FrameError> {
    let mut r = MessageReader { rest, what: "Bind" };
    let param_formats = r.u16()?;
    for _ in 0..param_formats {
        r.i16()?;
    }
    let params = r.u16()?;
    for _ in 0..params {
        let len = r.i32()?;
        if len >= 0 {
            r.take(len as usize)?;
        } else if len != -1 {
            return Err(r.bad());
        }
    }
    let results = r.u16()?;
    let codes = (0..results)
        .map(|_| r.i16())
        .collect::<Result<Vec<_>, _>>()?;
    if !r.rest.is_empty() {
        return Err(r.bad());
    }
    Ok(codes)
}

/// Execute ('E'): the portal name.
pub fn parse_execute(message: &[u8]) -> Result<&str, FrameError> {
    MessageReader::new(message, "Execute").cstr()
}

/// The fields of an ErrorResponse or NoticeResponse the gateway cares about.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ErrorFields {
    pub code: String,
    pub message: String,
}

pub fn parse_error_fields(message: &[u8]) -> Result<ErrorFields, FrameError> {
    let mut r = MessageReader::new(message, "ErrorResponse");
    let mut fields = ErrorFields::default();
    loop {
        let kind = r.u8()?;
        if kind == 0 {
            return Ok(fields);
        }
        let value = r.cstr()?;
        match kind {
            b'C' => fields.code = value.to_string(),
            b'M' => fields.message = value.to_string(),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::MessageWriter;

    #[test]
    fn reads_parse_and_bind() {
        let mut w = MessageWriter::new();
        w.parse("s1", "SELECT $1", &[]);
        let msg = w.take();
        let p = parse_parse(&msg).unwrap();
        assert_eq!((p.statement, p.query), ("s1", "SELECT $1"));
    }

    #[test]
    fn reads_error_fields() {
        let mut w = MessageWriter::new();
        w.error("ERROR", "42501", "nope");
        let msg = w.take();
        let f = parse_error_fields(&msg).unwrap();
        assert_eq!(f.code, "42501");
        assert_eq!(f.message, "nope");
    }

    #[test]
    fn bind_counts_are_unsigned_and_the_message_must_end_exactly() {
        // No parameter formats, no parameters, one result format (binary).
        assert_eq!(
            bind_result_formats(&[0, 0, 0, 0, 0, 1, 0, 1]).unwrap(),
            vec![1]
        );
        // Trailing bytes: the server refuses the Bind, so must the gateway.
        assert!(bind_result_formats(&[0, 0, 0, 0, 0, 0, 9]).is_err());
        // 0xFFFF parameter formats is 65535 to the server, not -1.
        assert!(bind_result_formats(&[0xFF, 0xFF, 0, 0, 0, 0]).is_err());
        // A negative length other than -1 is malformed.
        assert!(bind_result_formats(&[0, 0, 0, 1, 0xFF, 0xFF, 0xFF, 0xFE, 0, 0]).is_err());
        assert!(bind_result_formats(&[0, 0, 0, 1, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0]).is_ok());
    }

    #[test]
    fn truncated_messages_are_errors_not_panics() {
        assert!(parse_query(b"Q\0\0\0\x05").is_err());
        assert!(parse_bind(b"B\0\0\0\x05a").is_err());
        assert!(parse_error_fields(b"E\0\0\0\x06C").is_err());
    }
}
