//! Detector masking of exec and shell output, as `[[policy.mask]]
//! detectors` configure it for the session. Chunk-boundary safe: output is
//! scanned up to its last line end and the rest is held for the next
//! chunk, so a value split across two reads (a card number written with
//! spaces included) is seen whole. A line without an end is held up to [`MAX_HELD`] bytes, and held output is released
//! when the target pauses ([`IDLE_FLUSH`]) so a prompt or an echoed key is
//! not kept back.

use std::sync::Arc;
use std::time::Duration;

use vigil_mask::{Hits, Masked, Masker};

/// Bytes held back while waiting for whitespace; past this, all but the
/// last [`KEEP_TAIL`] bytes are scanned and sent.
const MAX_HELD: usize = 64 * 1024;
/// Longer than any value a detector matches.
const KEEP_TAIL: usize = 512;
/// How long held output waits for more before it is scanned and sent.
pub const IDLE_FLUSH: Duration = Duration::from_millis(30);

pub struct OutputMask {
    masker: Arc<Masker>,
    held: Vec<u8>,
    pub hits: Hits,
}

impl OutputMask {
    pub fn new(masker: Arc<Masker>) -> Self {
        OutputMask {
            masker,
            held: Vec::new(),
            hits: Hits::default(),
        }
    }

    /// Takes a chunk of output; returns what may go to the client now.
    pub fn push(&mut self, data: &[u8]) -> Vec<u8> {
        self.held.extend_from_slice(data);
        let cut = match self.held.iter().rposition(|&b| b == b'\n') {
            Some(i) => i + 1,
            None if self.held.len() > MAX_HELD => self.held.len() - KEEP_TAIL,
            None => 0,
        };
        if cut == 0 {
            return Vec::new();
        }
        let rest = self.held.split_off(cut);
        let ready = std::mem::replace(&mut self.held, rest);
        self.scan(ready)
    }

    /// Whether output is held back.
    pub fn holding(&self) -> bool {
        !self.held.is_empty()
    }

    /// Everything held, scanned (at a pause or at the end).
    pub fn flush(&mut self) -> Vec<u8> {
        let ready = std::mem::take(&mut self.held);
        self.scan(ready)
    }

    fn scan(&mut self, text: Vec<u8>) -> Vec<u8> {
        match self.masker.scan(&text) {
            None => text,
            Some((masked, hits)) => {
                self.hits.add(&hits);
                match masked {
                    Masked::Text(t) => t,
                    // A stream has no NULL: the matched text is dropped.
                    Masked::Null => Vec::new(),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigil_mask::{Detector, MaskKey, Style};

    #[test]
    fn a_value_split_across_chunks_is_masked() {
        let masker = Arc::new(Masker::new(
            &[Detector::Email],
            Style::Redact,
            MaskKey::new([1; 32]),
        ));
        let mut m = OutputMask::new(masker);
        let mut out = m.push(b"contact: alice.sm");
        out.extend(m.push(b"ith@example.com and more\n"));
        out.extend(m.flush());
        let text = String::from_utf8_lossy(&out);
        assert!(!text.contains("alice.smith@example.com"), "{text}");
        assert!(
            text.starts_with("contact: ") && text.ends_with(" and more\n"),
            "{text}"
        );
        assert_eq!(m.hits.total(), 1);
    }
}
