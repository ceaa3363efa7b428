//! A raw PostgreSQL session for tests that need bytes no ordinary client sends: pipelines of
//! Parse/Bind/Execute/Close/Sync in any order, reused names, simple queries mixed in. Messages
//! are queued with the builder methods and sent together by [`PgSession::flush`]; answers are
//! read one batch (up to ReadyForQuery) at a time.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use crate::PgError;
use crate::wire::parse_error as error_fields;

/// One answer of the server, as a test looks at it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Answer {
    ParseComplete,
    BindComplete,
    CloseComplete,
    /// A DataRow's values as text (lossy), None for NULL.
    Row(Vec<Option<String>>),
    Complete(String),
    EmptyQuery,
    Suspended,
    Error(PgError),
    Notice(PgError),
    /// ParameterStatus name and value.
    Status(String, String),
    Ready(u8),
}

/// A logged-in raw session.
pub struct PgSession {
    stream: TcpStream,
    out: Vec<u8>,
}

impl PgSession {
    /// Logs in to `127.0.0.1:port` with a cleartext password; `params` are extra startup
    /// parameters. Err is the server's ErrorResponse during login.
    #[track_caller]
    pub fn connect(
        port: u16,
        database: &str,
        password: &str,
        params: &[(&str, &str)],
    ) -> Result<PgSession, PgError> {
        Self::connect_as(port, "tester", database, password, params)
    }

    /// [`PgSession::connect`] with a user name of the caller's choosing.
    #[track_caller]
    pub fn connect_as(
        port: u16,
        user: &str,
        database: &str,
        password: &str,
        params: &[(&str, &str)],
    ) -> Result<PgSession, PgError> {
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
            .unwrap_or_else(|e| panic!("could not connect to {addr}: {e}"));
        stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .expect("set_read_timeout");
        let mut s = PgSession {
            stream,
            out: Vec::new(),
        };
        let mut body = 196_608u32.to_be_bytes().to_vec();
        for (k, v) in [("user", user), ("database", database)]
            .iter()
            .chain(params)
        {
            body.extend_from_slice(k.as_bytes());
            body.push(0);
            body.extend_from_slice(v.as_bytes());
            body.push(0);
        }
        body.push(0);
        let mut msg = ((body.len() + 4) as u32).to_be_bytes().to_vec();
        msg.extend_from_slice(&body);
        s.stream.write_all(&msg).expect("send startup");
        loop {
            let (tag, body) = s.read_message();
            match tag {
                b'R' if body.get(..4) == Some(&[0, 0, 0, 3]) => {
                    s.message(b'p', |b| cstr(b, password));
                    s.flush();
                }
                b'E' => return Err(error_fields(&body)),
                b'Z' => return Ok(s),
                _ => {}
            }
        }
    }

    fn message(&mut self, tag: u8, fill: impl FnOnce(&mut Vec<u8>)) -> &mut Self {
        let mut body = Vec::new();
        fill(&mut body);
        self.out.push(tag);
        self.out
            .extend_from_slice(&((body.len() + 4) as u32).to_be_bytes());
        self.out.extend_from_slice(&body);
        self
    }

    pub fn query(&mut self, sql: &str) -> &mut Self {
        self.message(b'Q', |b| cstr(b, sql))
    }

    pub fn parse(&mut self, name: &str, sql: &str) -> &mut Self {
        self.message(b'P', |b| {
            cstr(b, name);
            cstr(b, sql);
            b.extend_from_slice(&0u16.to_be_bytes());
        })
    }

    /// Bind with text parameters (all non-NULL) and text results.
    pub fn bind(&mut self, portal: &str, statement: &str, params: &[&str]) -> &mut Self {
        self.message(b'B', |b| {
            cstr(b, portal);
            cstr(b, statement);
            b.extend_from_slice(&0u16.to_be_bytes());
            b.extend_from_slice(&(params.len() as u16).to_be_bytes());
            for p in params {
                b.extend_from_slice(&(p.len() as i32).to_be_bytes());
                b.extend_from_slice(p.as_bytes());
            }
            b.extend_from_slice(&0u16.to_be_bytes());
        })
    }

    pub fn execute(&mut self, portal: &str, max_rows: i32) -> &mut Self {
        self.message(b'E', |b| {
            cstr(b, portal);
            b.extend_from_slice(&max_rows.to_be_bytes());
        })
    }

    pub fn describe_portal(&mut self, portal: &str) -> &mut Self {
        self.message(b'D', |b| {
            b.push(b'P');
            cstr(b, portal);
        })
    }

    pub fn close_statement(&mut self, name: &str) -> &mut Self {
        self.message(b'C', |b| {
            b.push(b'S');
            cstr(b, name);
        })
    }

    pub fn close_portal(&mut self, name: &str) -> &mut Self {
        self.message(b'C', |b| {
            b.push(b'P');
            cstr(b, name);
        })
    }

    pub fn copy_data(&mut self, data: &[u8]) -> &mut Self {
        self.message(b'd', |b| b.extend_from_slice(data))
    }

    pub fn copy_done(&mut self) -> &mut Self {
        self.message(b'c', |_| {})
    }

    pub fn sync(&mut self) -> &mut Self {
        self.message(b'S', |_| {})
    }

    /// Sends everything queued.
    pub fn flush(&mut self) {
        let out = std::mem::take(&mut self.out);
        self.stream.write_all(&out).expect("send");
    }

    /// Sends what is queued and reads answers up to and including `batches` ReadyForQuery.
    pub fn run(&mut self, batches: usize) -> Vec<Answer> {
        self.flush();
        let mut answers = Vec::new();
        let mut ready = 0;
        while ready < batches {
            let a = self.read_answer();
            if matches!(a, Answer::Ready(_)) {
                ready += 1;
            }
            answers.push(a);
        }
        answers
    }

    fn read_answer(&mut self) -> Answer {
        loop {
            let (tag, body) = self.read_message();
            return match tag {
                b'1' => Answer::ParseComplete,
                b'2' => Answer::BindComplete,
                b'3' => Answer::CloseComplete,
                b'D' => Answer::Row(data_row(&body)),
                b'C' => Answer::Complete(String::from_utf8_lossy(until_nul(&body)).into()),
                b'I' => Answer::EmptyQuery,
                b's' => Answer::Suspended,
                b'E' => Answer::Error(error_fields(&body)),
                b'N' => Answer::Notice(error_fields(&body)),
                b'S' => {
                    let name = String::from_utf8_lossy(until_nul(&body)).to_string();
                    let value = String::from_utf8_lossy(until_nul(&body[name.len() + 1..]));
                    Answer::Status(name, value.into())
                }
                b'Z' => Answer::Ready(body.first().copied().unwrap_or(0)),
                _ => continue,
            };
        }
    }

    #[track_caller]
    fn read_message(&mut self) -> (u8, Vec<u8>) {
        let mut head = [0u8; 5];
        self.stream
            .read_exact(&mut head)
            .unwrap_or_else(|e| panic!("the server closed the connection: {e}"));
        let len = u32::from_be_bytes([head[1], head[2], head[3], head[4]]) as usize;
        let mut body = vec![0u8; len.saturating_sub(4)];
        self.stream.read_exact(&mut body).expect("read body");
        (head[0], body)
    }
}

impl Drop for PgSession {
    fn drop(&mut self) {
        let _ = self.stream.write_all(&[b'X', 0, 0, 0, 4]);
    }
}

fn cstr(b: &mut Vec<u8>, s: &str) {
    b.extend_from_slice(s.as_bytes());
    b.push(0);
}

fn until_nul(b: &[u8]) -> &[u8] {
    &b[..b.iter().position(|&c| c == 0).unwrap_or(b.len())]
}

fn data_row(body: &[u8]) -> Vec<Option<String>> {
    let n = u16::from_be_bytes([body[0], body[1]]) as usize;
    let mut at = 2;
    let mut values = Vec::with_capacity(n);
    for _ in 0..n {
        let len = i32::from_be_bytes([body[at], body[at + 1], body[at + 2], body[at + 3]]);
        at += 4;
        if len < 0 {
            values.push(None);
        } else {
            let v = &body[at..at + len as usize];
            values.push(Some(String::from_utf8_lossy(v).into()));
            at += len as usize;
        }
    }
    values
}
