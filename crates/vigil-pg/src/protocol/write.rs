//! Builds the messages the gateway sends itself, into one reusable buffer.

use bytes::{BufMut, BytesMut};

/// Appends whole protocol messages to a buffer; `take` hands them out.
#[derive(Default)]
pub struct MessageWriter {
    buf: BytesMut,
}

impl MessageWriter {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn take(&mut self) -> BytesMut {
        self.buf.split()
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    pub fn buffer(&mut self) -> &mut BytesMut {
        &mut self.buf
    }

    /// Starts a tagged message; `finish` patches its length.
    fn begin(&mut self, tag: u8) -> usize {
        self.buf.put_u8(tag);
        let at = self.buf.len();
        self.buf.put_u32(0);
        at
    }

    fn finish(&mut self, at: usize) {
        let len = (self.buf.len() - at) as u32;
        self.buf[at..at + 4].copy_from_slice(&len.to_be_bytes());
    }

    fn cstr(&mut self, s: &str) {
        // A NUL inside would end the field early; the gateway only writes its own strings.
        self.buf.put_slice(s.replace('\0', "").as_bytes());
        self.buf.put_u8(0);
    }

    /// Appends bytes that are already a whole message.
    pub fn raw(&mut self, message: &[u8]) {
        self.buf.put_slice(message);
    }

    // ---- to the client ----

    pub fn auth_ok(&mut self) {
        let at = self.begin(b'R');
        self.buf.put_u32(0);
        self.finish(at);
    }

    pub fn auth_cleartext(&mut self) {
        let at = self.begin(b'R');
        self.buf.put_u32(3);
        self.finish(at);
    }

    pub fn backend_key(&mut self, pid: u32, secret: u32) {
        let at = self.begin(b'K');
        self.buf.put_u32(pid);
        self.buf.put_u32(secret);
        self.finish(at);
    }

    pub fn ready(&mut self, status: u8) {
        let at = self.begin(b'Z');
        self.buf.put_u8(status);
        self.finish(at);
    }

    pub fn error(&mut self, severity: &str, code: &str, message: &str) {
        self.error_or_notice(b'E', severity, code, message, None);
    }

    pub fn error_with_hint(&mut self, severity: &str, code: &str, message: &str, hint: &str) {
        self.error_or_notice(b'E', severity, code, message, Some(hint));
    }

    pub fn notice(&mut self, code: &str, message: &str) {
        self.error_or_notice(b'N', "NOTICE", code, message, None);
    }

    fn error_or_notice(
        &mut self,
        tag: u8,
        severity: &str,
        code: &str,
        message: &str,
        hint: Option<&str>,
    ) {
        let at = self.begin(tag);
        self.buf.put_u8(b'S');
        self.cstr(severity);
        self.buf.put_u8(b'V');
        self.cstr(severity);
        self.buf.put_u8(b'C');
        self.cstr(code);
        self.buf.put_u8(b'M');
        self.cstr(message);
        if let Some(hint) = hint {
            self.buf.put_u8(b'H');
            self.cstr(hint);
        }
        self.buf.put_u8(0);
        self.finish(at);
    }

    pub fn parameter_status(&mut self, name: &str, value: &str) {
        let at = self.begin(b'S');
        self.cstr(name);
        self.cstr(value);
        self.finish(at);
    }

    // ---- to the server ----

    pub fn startup(&mut self, params: &[(&str, &str)]) {
        let at = self.buf.len();
        self.buf.put_u32(0);
        self.buf.put_u32(super::PROTOCOL_V3);
        for (k, v) in params {
            self.cstr(k);
            self.cstr(v);
        }
        self.buf.put_u8(0);
        self.finish(at);
    }

    pub fn ssl_request(&mut self) {
        self.buf.put_u32(8);
        self.buf.put_u32(super::SSL_REQUEST_CODE);
    }

    pub fn cancel_request(&mut self, pid: u32, secret: u32) {
        self.buf.put_u32(16);
        self.buf.put_u32(super::CANCEL_REQUEST_CODE);
        self.buf.put_u32(pid);
        self.buf.put_u32(secret);
    }

    pub fn password(&mut self, password: &str) {
        let at = self.begin(b'p');
        self.cstr(password);
        self.finish(at);
    }

    pub fn sasl_initial(&mut self, mechanism: &str, data: &[u8]) {
        let at = self.begin(b'p');
        self.cstr(mechanism);
        self.buf.put_u32(data.len() as u32);
        self.buf.put_slice(data);
        self.finish(at);
    }

    pub fn sasl_response(&mut self, data: &[u8]) {
        let at = self.begin(b'p');
        self.buf.put_slice(data);
        self.finish(at);
    }

    pub fn query(&mut self, sql: &str) {
        let at = self.begin(b'Q');
        self.cstr(sql);
        self.finish(at);
    }

    pub fn parse(&mut self, statement: &str, sql: &str, param_types: &[u32]) {
        let at = self.begin(b'P');
        self.cstr(statement);
        self.cstr(sql);
        self.buf.put_u16(param_types.len() as u16);
        for t in param_types {
            self.buf.put_u32(*t);
        }
        self.finish(at);
    }

    pub fn sync(&mut self) {
        let at = self.begin(b'S');
        self.finish(at);
    }

    pub fn terminate(&mut self) {
        let at = self.begin(b'X');
        self.finish(at);
    }
}
