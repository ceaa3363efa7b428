//! A small HTTP/1.1 origin for the proxy tests: it logs every request it
//! receives (method, target, header fields, body) so a test can prove what
//! reached the target, and nothing else. One thread per connection, one
//! request per connection (`Connection: close`).
//!
//! Answers by path: `/json/...` returns a JSON document with personal
//! data (for masking), `/encoded/<coding>` the same document compressed
//! with `gzip`, `br` or `zstd` (by those programs) and labelled so, whatever
//! the request's `Accept-Encoding` (as a careless API does), `/big/<n>`
//! returns `n` bytes, `/events` is a server-sent event stream (and `/ndjson` a stream of
//! JSON lines with personal data) held open until the test releases it, anything else echoes `ok <METHOD> <target>` as text.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One request as the origin received it.
#[derive(Clone, Debug)]
pub struct Received {
    pub method: String,
    pub target: String,
    /// Names lower case, in order.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Received {
    /// The values of the field `name` (lower case).
    pub fn header(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

/// The JSON the origin serves under `/json/`.
pub const PERSON_JSON: &str = r#"{"name":"Ada Lovelace","email":"ada@example.com","items":[{"sku":"A1","owner":"bob@example.org"}],"note":"call 4111 1111 1111 1111"}"#;

/// A running origin on a loopback port.
pub struct Upstream {
    port: u16,
    log: Arc<Mutex<Vec<Received>>>,
    /// Lets `/events` finish its stream.
    released: Arc<std::sync::atomic::AtomicBool>,
}

impl Upstream {
    pub fn start() -> Upstream {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the test origin");
        let port = listener.local_addr().expect("origin address").port();
        let log = Arc::new(Mutex::new(Vec::new()));
        let shared = log.clone();
        let released = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let gate = released.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let log = shared.clone();
                let gate = gate.clone();
                std::thread::spawn(move || {
                    if let Some((stream, ndjson)) = serve(stream, &log) {
                        events(stream, &gate, ndjson);
                    }
                });
            }
        });
        Upstream {
            port,
            log,
            released,
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Everything received so far.
    pub fn received(&self) -> Vec<Received> {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// Lets every `/events` stream send its last event and end.
    pub fn release_events(&self) {
        self.released
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }

    pub fn clear(&self) {
        if let Ok(mut l) = self.log.lock() {
            l.clear();
        }
    }
}

/// Serves one request; returns the stream when the answer is `/events` or `/ndjson` (sent
/// by [`events`]; true for NDJSON).
fn serve(stream: TcpStream, log: &Mutex<Vec<Received>>) -> Option<(TcpStream, bool)> {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let Ok(clone) = stream.try_clone() else {
        return None;
    };
    let mut reader = BufReader::new(clone);
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return None;
    }
    let mut words = line.split_whitespace();
    let method = words.next().unwrap_or_default().to_string();
    let target = words.next().unwrap_or_default().to_string();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).unwrap_or(0) == 0 {
            break;
        }
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((n, v)) = h.split_once(':') {
            headers.push((n.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    let length: usize = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let chunked = headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"));
    let body = if chunked {
        read_chunked(&mut reader).unwrap_or_default()
    } else {
        let mut body = vec![0u8; length];
        if reader.read_exact(&mut body).is_err() {
            body.clear();
        }
        body
    };
    // A JSON answer also names its owner in a header field, as some APIs do.
    let extra = if target.starts_with("/json") {
        "x-owner-email: ada@example.com\r\n"
    } else {
        ""
    };
    let mut extra = extra.to_string();
    let (content_type, answer) = if target.starts_with("/json") {
        ("application/json", PERSON_JSON.as_bytes().to_vec())
    } else if let Some(coding) = target.strip_prefix("/encoded/") {
        extra.push_str(&format!("content-encoding: {coding}\r\n"));
        ("application/json", compress(coding, PERSON_JSON.as_bytes()))
    } else if let Some(n) = target.strip_prefix("/big/") {
        let n: usize = n.parse().unwrap_or(0);
        ("application/octet-stream", vec![b'x'; n])
    } else {
        ("text/plain", format!("ok {method} {target}").into_bytes())
    };
    let is_events = target == "/events" || target == "/ndjson";
    let is_ndjson = target == "/ndjson";
    if let Ok(mut l) = log.lock() {
        l.push(Received {
            method,
            target,
            headers,
            body,
        });
    }
    if is_events {
        return Some((stream, is_ndjson));
    }
    let mut out = stream;
    let head = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\n{extra}set-cookie: upstream-session=s3cr3t\r\nconnection: close\r\n\r\n",
        answer.len()
    );
    let _ = out.write_all(head.as_bytes());
    let _ = out.write_all(&answer);
    let _ = out.flush();
    None
}

/// `/events`: a server-sent event stream (no length, ended by closing): one event at once,
/// the second only after [`Upstream::release_events`], so a test can see the first arrive
/// while the stream is still open.
fn events(mut out: TcpStream, released: &std::sync::atomic::AtomicBool, ndjson: bool) {
    let (media, first, second): (&str, &[u8], &[u8]) = if ndjson {
        (
            "application/x-ndjson",
            b"{\"n\":1,\"name\":\"Ada Lovelace\",\"email\":\"ada@example.com\"}\n",
            b"{\"n\":2,\"name\":\"Bob\",\"email\":\"bob@example.org\"}\n",
        )
    } else {
        ("text/event-stream", b"data: first\n\n", b"data: second\n\n")
    };
    let head = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: {media}\r\ncache-control: no-cache\r\nconnection: close\r\n\r\n"
    );
    let _ = out.write_all(head.as_bytes());
    let _ = out.write_all(first);
    let _ = out.flush();
    for _ in 0..600 {
        if released.load(std::sync::atomic::Ordering::SeqCst) {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = out.write_all(second);
    let _ = out.flush();
}

/// `data` compressed by the `gzip`, `brotli` or `zstd` program.
fn compress(coding: &str, data: &[u8]) -> Vec<u8> {
    let program = match coding {
        "gzip" => "gzip",
        "br" => "brotli",
        "zstd" => "zstd",
        other => panic!("no compressor for {other}"),
    };
    let mut child = std::process::Command::new(program)
        .arg("-c")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{program} (install it: scripts/test.sh does): {e}"));
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(data);
    }
    child
        .wait_with_output()
        .map(|o| o.stdout)
        .unwrap_or_default()
}

/// A chunked body, whole; `None` when it breaks off (the origin then logs an empty body).
fn read_chunked(reader: &mut impl BufRead) -> Option<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let mut size = String::new();
        reader.read_line(&mut size).ok()?;
        let size = usize::from_str_radix(size.trim().split(';').next()?, 16).ok()?;
        if size == 0 {
            let mut end = String::new();
            reader.read_line(&mut end).ok()?;
            return Some(body);
        }
        let start = body.len();
        body.resize(start + size, 0);
        reader.read_exact(&mut body[start..]).ok()?;
        let mut crlf = [0u8; 2];
        reader.read_exact(&mut crlf).ok()?;
    }
}
