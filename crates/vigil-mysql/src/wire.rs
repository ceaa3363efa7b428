//! Payload helpers: length-encoded integers and strings, and the generic
//! packets (OK, ERR, EOF) both sides use.

/// Capability flags used by Vigil.
pub mod cap {
    pub const LONG_PASSWORD: u32 = 1;
    pub const FOUND_ROWS: u32 = 1 << 1;
    pub const LONG_FLAG: u32 = 1 << 2;
    pub const CONNECT_WITH_DB: u32 = 1 << 3;
    pub const COMPRESS: u32 = 1 << 5;
    pub const LOCAL_FILES: u32 = 1 << 7;
    pub const PROTOCOL_41: u32 = 1 << 9;
    pub const INTERACTIVE: u32 = 1 << 10;
    pub const SSL: u32 = 1 << 11;
    pub const TRANSACTIONS: u32 = 1 << 13;
    pub const SECURE_CONNECTION: u32 = 1 << 15;
    pub const MULTI_STATEMENTS: u32 = 1 << 16;
    pub const MULTI_RESULTS: u32 = 1 << 17;
    pub const PS_MULTI_RESULTS: u32 = 1 << 18;
    pub const PLUGIN_AUTH: u32 = 1 << 19;
    pub const CONNECT_ATTRS: u32 = 1 << 20;
    pub const PLUGIN_AUTH_LENENC: u32 = 1 << 21;
    pub const DEPRECATE_EOF: u32 = 1 << 24;
}

/// Server status flags.
pub mod status {
    pub const AUTOCOMMIT: u16 = 0x0002;
    pub const MORE_RESULTS: u16 = 0x0008;
    /// COM_STMT_EXECUTE opened a cursor: rows come with COM_STMT_FETCH.
    pub const CURSOR_EXISTS: u16 = 0x0040;
}

/// A cursor over a payload; every read is bounds-checked.
pub struct Cursor<'a> {
    pub b: &'a [u8],
    pub pos: usize,
}

impl<'a> Cursor<'a> {
    pub fn new(b: &'a [u8]) -> Self {
        Cursor { b, pos: 0 }
    }

    pub fn u8(&mut self) -> Option<u8> {
        let v = *self.b.get(self.pos)?;
        self.pos += 1;
        Some(v)
    }

    pub fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let v = self.b.get(self.pos..end)?;
        self.pos = end;
        Some(v)
    }

    pub fn u16(&mut self) -> Option<u16> {
        self.take(2).map(|b| u16::from_le_bytes([b[0], b[1]]))
    }

    pub fn u32(&mut self) -> Option<u32> {
        self.take(4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// A length-encoded integer; `Ok(None)` is the NULL marker (0xFB).
    pub fn lenenc(&mut self) -> Option<Option<u64>> {
        match self.u8()? {
            0xFB => Some(None),
            0xFC => self
                .take(2)
                .map(|b| Some(u64::from(u16::from_le_bytes([b[0], b[1]])))),
            0xFD => self
                .take(3)
                .map(|b| Some(u64::from(b[0]) | u64::from(b[1]) << 8 | u64::from(b[2]) << 16)),
            0xFE => self.take(8).map(|b| {
                Some(u64::from_le_bytes([
                    b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7],
                ]))
            }),
            0xFF => None,
            n => Some(Some(u64::from(n))),
        }
    }

    /// A length-encoded string; `Some(None)` is NULL.
    pub fn lenenc_str(&mut self) -> Option<Option<&'a [u8]>> {
        match self.lenenc()? {
            None => Some(None),
            Some(n) => self.take(usize::try_from(n).ok()?).map(Some),
        }
    }

    /// A NUL-terminated string (the NUL consumed).
    pub fn cstr(&mut self) -> Option<&'a [u8]> {
        let rest = self.b.get(self.pos..)?;
        let n = rest.iter().position(|&c| c == 0)?;
        self.pos += n + 1;
        rest.get(..n)
    }

    /// The rest of the payload.
    pub fn rest(&mut self) -> &'a [u8] {
        let v = self.b.get(self.pos..).unwrap_or_default();
        self.pos = self.b.len();
        v
    }

    pub fn at_end(&self) -> bool {
        self.pos >= self.b.len()
    }
}

pub fn put_lenenc(out: &mut Vec<u8>, n: u64) {
    match n {
        0..=250 => out.push(n as u8),
        251..=0xFFFF => {
            out.push(0xFC);
            out.extend_from_slice(&(n as u16).to_le_bytes());
        }
        0x1_0000..=0xFF_FFFF => {
            out.push(0xFD);
            out.extend_from_slice(&(n as u32).to_le_bytes()[..3]);
        }
        _ => {
            out.push(0xFE);
            out.extend_from_slice(&n.to_le_bytes());
        }
    }
}

pub fn put_lenenc_str(out: &mut Vec<u8>, s: &[u8]) {
    put_lenenc(out, s.len() as u64);
    out.extend_from_slice(s);
}

/// An ERR packet's payload.
pub fn err_packet(code: u16, sqlstate: &str, message: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(9 + message.len());
    out.push(0xFF);
    out.extend_from_slice(&code.to_le_bytes());
    out.push(b'#');
    let state = sqlstate.as_bytes();
    out.extend_from_slice(state.get(..5).unwrap_or(b"HY000"));
    out.extend_from_slice(message.as_bytes());
    out
}

/// The target's ERR packet with its message replaced, for a session with
/// column mask rules: error text can echo any value the statement touched
/// (`EXTRACTVALUE(1, CONCAT('~', (SELECT email ...)))` puts it in an XPath
/// error, a failed cast quotes it), in a form no detector knows. The code
/// and SQLSTATE stay, so clients still tell errors apart.
pub fn withheld_err(payload: &[u8]) -> Vec<u8> {
    let (code, state) = err_code(payload);
    err_packet(
        code,
        &state,
        &format!(
            "vigil: the target's message for error {code} is withheld in a session with masked columns"
        ),
    )
}

/// An OK packet's payload (nothing affected).
pub fn ok_packet(status: u16) -> Vec<u8> {
    let mut out = vec![0x00, 0, 0];
    out.extend_from_slice(&status.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out
}

/// What a response packet is, by its first byte and length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Head {
    Ok,
    Err,
    /// An EOF packet (0xFE, shorter than 9 bytes).
    Eof,
    /// 0xFB: the target asks for a LOCAL INFILE.
    LocalInfile,
    Other,
}

pub fn head(payload: &[u8]) -> Head {
    match payload.first() {
        Some(0x00) => Head::Ok,
        Some(0xFF) => Head::Err,
        Some(0xFE) if payload.len() < 9 => Head::Eof,
        Some(0xFB) => Head::LocalInfile,
        _ => Head::Other,
    }
}

/// The status flags of an OK or EOF packet.
pub fn status_of(payload: &[u8]) -> u16 {
    let mut c = Cursor::new(payload);
    match head(payload) {
        Head::Eof => {
            let _ = c.u8();
            let _ = c.u16();
            c.u16().unwrap_or(0)
        }
        Head::Ok => {
            let _ = c.u8();
            let _ = c.lenenc();
            let _ = c.lenenc();
            c.u16().unwrap_or(0)
        }
        _ => 0,
    }
}

/// The code and SQLSTATE of an ERR packet.
pub fn err_code(payload: &[u8]) -> (u16, String) {
    let mut c = Cursor::new(payload);
    let _ = c.u8();
    let code = c.u16().unwrap_or(0);
    let state = match c.u8() {
        Some(b'#') => c
            .take(5)
            .map(|s| String::from_utf8_lossy(s).into_owned())
            .unwrap_or_default(),
        _ => "HY000".to_string(),
    };
    (code, state)
}
