//! Terminal recordings (SSH channels, Kubernetes exec and attach streams)
//! as asciicast v2: a JSON header line, then one JSON array per event
//! (`[seconds, "o", text]` output, `[seconds, "i", text]` client input
//! when the connection has `record_input = true`, `[seconds, "r",
//! "COLSxROWS"]` resize, `[seconds, "m", text]` a marker for a
//! decision). Written by hand (the format is three lines of code) under
//! `data_dir/recordings/<session id>/<channel number>.cast`. A recording
//! with input says so in its header (`"vigil": {"input": true}`), so a
//! reader can tell "no input recorded" from "the client typed nothing".
//!
//! asciicast must be UTF-8 while a channel carries bytes: output (and
//! input) is decoded with a carry for a character split across two reads,
//! and invalid bytes become U+FFFD. So the ledger gets the SHA-256 of the
//! file as written, and of the raw output bytes (and of the raw input
//! bytes, when recorded), which a copy of either stream can be checked
//! against.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use aws_lc_rs::digest::{Context, SHA256};

/// What the ledger gets when a recording ends.
#[derive(Debug)]
pub struct Digest {
    pub path: PathBuf,
    /// SHA-256 of the `.cast` file's bytes.
    pub file_sha256: String,
    /// SHA-256 of the channel's output bytes as the target sent them.
    pub raw_sha256: String,
    /// SHA-256 of the client's input bytes, when the connection records input.
    pub input_sha256: Option<String>,
}

/// One channel's recording.
pub struct Recorder {
    path: PathBuf,
    out: BufWriter<HashingFile>,
    started: Instant,
    output: Stream,
    /// Client input, when the connection records it.
    input: Option<Stream>,
}

/// One direction's bytes: their hash, and the tail of a chunk that ends
/// inside a UTF-8 character.
struct Stream {
    raw: Context,
    carry: Vec<u8>,
}

impl Stream {
    fn new() -> Self {
        Stream {
            raw: Context::new(&SHA256),
            carry: Vec::new(),
        }
    }

    /// Hashes `bytes` and returns the text that is complete so far.
    fn push(&mut self, bytes: &[u8]) -> Option<String> {
        self.raw.update(bytes);
        let mut data = std::mem::take(&mut self.carry);
        data.extend_from_slice(bytes);
        let keep = incomplete_tail(&data);
        let cut = data.len() - keep;
        self.carry = data[cut..].to_vec();
        (cut > 0).then(|| String::from_utf8_lossy(&data[..cut]).into_owned())
    }

    /// What the carry still holds, as text.
    fn rest(&mut self) -> Option<String> {
        let rest = std::mem::take(&mut self.carry);
        (!rest.is_empty()).then(|| String::from_utf8_lossy(&rest).into_owned())
    }
}

/// The `.cast` file, hashed as it is written.
struct HashingFile {
    file: File,
    hash: Context,
}

impl Write for HashingFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.file.write(buf)?;
        self.hash.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

/// The terminal of the recording's header.
pub struct Header<'a> {
    pub cols: u32,
    pub rows: u32,
    pub term: Option<&'a str>,
    pub title: &'a str,
    /// Client input is recorded too (`record_input = true`).
    pub input: bool,
}

impl Recorder {
    /// Creates `<dir>/<session>/<channel>.cast` and writes the header.
    pub fn create(
        dir: &Path,
        session: &str,
        channel: u32,
        header: &Header<'_>,
    ) -> std::io::Result<Recorder> {
        let session_dir = dir.join(sanitize(session));
        std::fs::create_dir_all(&session_dir)?;
        let path = session_dir.join(format!("{channel}.cast"));
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)?;
        let timestamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default();
        let mut env = serde_json::Map::new();
        if let Some(term) = header.term {
            env.insert("TERM".into(), term.into());
        }
        let mut head = serde_json::json!({
            "version": 2,
            "width": header.cols.max(1),
            "height": header.rows.max(1),
            "timestamp": timestamp,
            "title": header.title,
            "env": env,
        });
        if header.input {
            // asciicast readers ignore keys they do not know.
            head["vigil"] = serde_json::json!({ "input": true });
        }
        let mut out = BufWriter::with_capacity(
            64 * 1024,
            HashingFile {
                file,
                hash: Context::new(&SHA256),
            },
        );
        writeln!(out, "{head}")?;
        Ok(Recorder {
            path,
            out,
            started: Instant::now(),
            output: Stream::new(),
            input: header.input.then(Stream::new),
        })
    }

    fn event(&mut self, code: &str, text: &str) -> std::io::Result<()> {
        let t = self.started.elapsed().as_secs_f64();
        let line = serde_json::json!([(t * 1e6).round() / 1e6, code, text]);
        writeln!(self.out, "{line}")
    }

    /// Output from the target (stdout and stderr alike).
    pub fn output(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        match self.output.push(bytes) {
            Some(text) => self.event("o", &text),
            None => Ok(()),
        }
    }

    /// Input from the client; nothing when the recording does not take input.
    pub fn input(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        match self.input.as_mut().and_then(|s| s.push(bytes)) {
            Some(text) => self.event("i", &text),
            None => Ok(()),
        }
    }

    pub fn resize(&mut self, cols: u32, rows: u32) -> std::io::Result<()> {
        self.event("r", &format!("{cols}x{rows}"))
    }

    /// A decision or another fact worth a marker on the timeline.
    pub fn marker(&mut self, text: &str) -> std::io::Result<()> {
        self.event("m", text)
    }

    /// Flushes what is left and returns the digests.
    pub fn finish(mut self) -> std::io::Result<Digest> {
        if let Some(text) = self.output.rest() {
            self.event("o", &text)?;
        }
        if let Some(text) = self.input.as_mut().and_then(Stream::rest) {
            self.event("i", &text)?;
        }
        self.out.flush()?;
        let inner = self.out.into_inner().map_err(|e| e.into_error())?;
        inner.file.sync_data()?;
        Ok(Digest {
            path: self.path,
            file_sha256: hex(inner.hash.finish().as_ref()),
            raw_sha256: hex(self.output.raw.finish().as_ref()),
            input_sha256: self.input.map(|s| hex(s.raw.finish().as_ref())),
        })
    }
}

/// How many bytes at the end of `data` start a UTF-8 character that is
/// not complete yet (0 to 3).
fn incomplete_tail(data: &[u8]) -> usize {
    for back in 1..=3.min(data.len()) {
        let b = data[data.len() - back];
        if b & 0b1100_0000 == 0b1000_0000 {
            continue; // a continuation byte: look further back
        }
        let needed = match b {
            0xC0..=0xDF => 2,
            0xE0..=0xEF => 3,
            0xF0..=0xF7 => 4,
            _ => return 0,
        };
        return if needed > back { back } else { 0 };
    }
    0
}

/// A session id as a file name: its own characters only.
fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_character_split_across_reads_is_written_whole() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let header = Header {
            cols: 80,
            rows: 24,
            term: Some("xterm"),
            title: "t",
            input: false,
        };
        let mut r =
            Recorder::create(dir.path(), "s-1", 0, &header).unwrap_or_else(|e| panic!("{e}"));
        let euro = "€".as_bytes();
        r.output(&euro[..1]).unwrap_or_else(|e| panic!("{e}"));
        r.output(&euro[1..]).unwrap_or_else(|e| panic!("{e}"));
        r.output(b"\xff ok").unwrap_or_else(|e| panic!("{e}"));
        let digest = r.finish().unwrap_or_else(|e| panic!("{e}"));
        let text = std::fs::read_to_string(&digest.path).unwrap_or_else(|e| panic!("{e}"));
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert!(lines[0].contains("\"version\":2"));
        assert!(lines[1].ends_with(",\"o\",\"€\"]"), "{}", lines[1]);
        assert!(lines[2].contains("\u{fffd} ok"), "{}", lines[2]);
        let raw = aws_lc_rs::digest::digest(&SHA256, "€\u{0}".as_bytes());
        assert_ne!(digest.raw_sha256, hex(raw.as_ref()));
        let mut all = euro.to_vec();
        all.extend_from_slice(b"\xff ok");
        let raw = aws_lc_rs::digest::digest(&SHA256, &all);
        assert_eq!(digest.raw_sha256, hex(raw.as_ref()));
        let file = aws_lc_rs::digest::digest(&SHA256, text.as_bytes());
        assert_eq!(digest.file_sha256, hex(file.as_ref()));
        assert_eq!(digest.input_sha256, None);
    }

    #[test]
    fn input_is_recorded_only_when_the_header_says_so() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let header = |input| Header {
            cols: 80,
            rows: 24,
            term: None,
            title: "t",
            input,
        };
        let mut without = Recorder::create(dir.path(), "s-1", 0, &header(false))
            .unwrap_or_else(|e| panic!("{e}"));
        without
            .input(b"secret typing")
            .unwrap_or_else(|e| panic!("{e}"));
        let digest = without.finish().unwrap_or_else(|e| panic!("{e}"));
        let text = std::fs::read_to_string(&digest.path).unwrap_or_else(|e| panic!("{e}"));
        assert!(!text.contains("secret typing"), "{text}");
        assert!(!text.contains("\"vigil\""), "{text}");
        assert_eq!(digest.input_sha256, None);

        let mut with =
            Recorder::create(dir.path(), "s-1", 1, &header(true)).unwrap_or_else(|e| panic!("{e}"));
        let euro = "€".as_bytes();
        with.input(b"ls ").unwrap_or_else(|e| panic!("{e}"));
        with.input(&euro[..2]).unwrap_or_else(|e| panic!("{e}"));
        with.output(b"out").unwrap_or_else(|e| panic!("{e}"));
        with.input(&euro[2..]).unwrap_or_else(|e| panic!("{e}"));
        let digest = with.finish().unwrap_or_else(|e| panic!("{e}"));
        let text = std::fs::read_to_string(&digest.path).unwrap_or_else(|e| panic!("{e}"));
        let lines: Vec<&str> = text.lines().collect();
        assert!(
            lines[0].contains("\"vigil\":{\"input\":true}"),
            "{}",
            lines[0]
        );
        assert!(lines[1].ends_with(",\"i\",\"ls \"]"), "{text}");
        assert!(lines[2].ends_with(",\"o\",\"out\"]"), "{text}");
        assert!(lines[3].ends_with(",\"i\",\"€\"]"), "{text}");
        let mut typed = b"ls ".to_vec();
        typed.extend_from_slice(euro);
        let raw = aws_lc_rs::digest::digest(&SHA256, &typed);
        assert_eq!(digest.input_sha256, Some(hex(raw.as_ref())));
        let out = aws_lc_rs::digest::digest(&SHA256, b"out");
        assert_eq!(digest.raw_sha256, hex(out.as_ref()));
    }
}

/// A channel's recording as the relay uses it: shared by both directions,
/// and either required (a failed write ends the channel) or best-effort (a
/// failed write stops the recording, logged, and the channel goes on).
pub struct Recording {
    inner: std::sync::Mutex<Option<Recorder>>,
    required: bool,
}

/// A required recording could not be written.
#[derive(Debug)]
pub struct RecordingFailed;

impl Recording {
    pub fn new(recorder: Recorder, required: bool) -> Self {
        Recording {
            inner: std::sync::Mutex::new(Some(recorder)),
            required,
        }
    }

    fn with(
        &self,
        f: impl FnOnce(&mut Recorder) -> std::io::Result<()>,
    ) -> Result<(), RecordingFailed> {
        let Ok(mut guard) = self.inner.lock() else {
            return if self.required {
                Err(RecordingFailed)
            } else {
                Ok(())
            };
        };
        let Some(recorder) = guard.as_mut() else {
            return if self.required {
                Err(RecordingFailed)
            } else {
                Ok(())
            };
        };
        if let Err(e) = f(recorder) {
            tracing::error!(path = %recorder.path.display(), error = %e, required = self.required, "recording write failed");
            *guard = None;
            if self.required {
                return Err(RecordingFailed);
            }
        }
        Ok(())
    }

    pub fn output(&self, bytes: &[u8]) -> Result<(), RecordingFailed> {
        self.with(|r| r.output(bytes))
    }

    /// Client input (recorded only when the recording was made to take it).
    pub fn input(&self, bytes: &[u8]) -> Result<(), RecordingFailed> {
        self.with(|r| r.input(bytes))
    }

    /// A required recording stopped: what is left of the channel may not go on.
    pub fn failed(&self) -> bool {
        self.required && self.inner.lock().map_or(true, |g| g.is_none())
    }

    pub fn resize(&self, cols: u32, rows: u32) -> Result<(), RecordingFailed> {
        self.with(|r| r.resize(cols, rows))
    }

    pub fn marker(&self, text: &str) -> Result<(), RecordingFailed> {
        self.with(|r| r.marker(text))
    }

    /// Ends the recording; `None` when it was lost (best-effort) or failed.
    pub fn finish(&self) -> Option<Digest> {
        let recorder = self.inner.lock().ok()?.take()?;
        match recorder.finish() {
            Ok(d) => Some(d),
            Err(e) => {
                tracing::error!(error = %e, "recording could not be finished");
                None
            }
        }
    }
}
