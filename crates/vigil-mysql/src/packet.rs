//! MySQL packet framing: a 3-byte length, a sequence id, the payload. A
//! payload of 2^24-1 bytes or more continues in the next packet (ended by a
//! shorter one, possibly empty); the reader reassembles it up to a limit and
//! checks every sequence id, and the writer splits and numbers packets
//! itself, so what the gateway sends is always well framed.

use crate::error::{MysqlError, Result};
use bytes::{Buf, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt};

/// The largest physical packet payload.
pub const MAX_CHUNK: usize = 0xFF_FFFF;

/// Reads logical packets from one side.
#[derive(Debug, Default)]
pub struct Reader {
    buf: BytesMut,
}

/// One reassembled packet.
#[derive(Debug)]
pub struct Packet {
    /// The sequence id of its first physical packet.
    pub seq: u8,
    /// The sequence id of its last physical packet.
    pub last_seq: u8,
    pub payload: Vec<u8>,
}

impl Reader {
    /// The next packet, `None` at a clean end of stream. `max` bounds the
    /// reassembled payload; larger is an error (the side lied or is hostile).
    pub async fn read<R: AsyncRead + Unpin>(
        &mut self,
        io: &mut R,
        max: usize,
        from_client: bool,
    ) -> Result<Option<Packet>> {
        let err = |m: String| {
            if from_client {
                MysqlError::Client(m)
            } else {
                MysqlError::Upstream(m)
            }
        };
        let mut payload = Vec::new();
        let mut first_seq = None;
        let mut last = 0u8;
        loop {
            while self.buf.len() < 4 {
                if io.read_buf(&mut self.buf).await? == 0 {
                    if self.buf.is_empty() && first_seq.is_none() {
                        return Ok(None);
                    }
                    return Err(err("connection closed inside a packet".into()));
                }
            }
            let len = usize::from(self.buf[0])
                | usize::from(self.buf[1]) << 8
                | usize::from(self.buf[2]) << 16;
            let seq = self.buf[3];
            if let Some(prev) = first_seq.map(|_| last)
                && seq != prev.wrapping_add(1)
            {
                return Err(err("packet out of sequence".into()));
            }
            if payload.len() + len > max {
                return Err(err(format!("packet larger than {max} bytes")));
            }
            while self.buf.len() < 4 + len {
                self.buf.reserve(4 + len - self.buf.len());
                if io.read_buf(&mut self.buf).await? == 0 {
                    return Err(err("connection closed inside a packet".into()));
                }
            }
            self.buf.advance(4);
            payload.extend_from_slice(&self.buf[..len]);
            self.buf.advance(len);
            first_seq.get_or_insert(seq);
            last = seq;
            if len < MAX_CHUNK {
                return Ok(Some(Packet {
                    seq: first_seq.unwrap_or(seq),
                    last_seq: last,
                    payload,
                }));
            }
        }
    }

    /// Whether bytes of a next packet are already buffered.
    pub fn has_buffered(&self) -> bool {
        !self.buf.is_empty()
    }

    /// The bytes read past the last packet (a TLS ClientHello sent right
    /// behind an SSLRequest), handed to whatever reads the stream next.
    pub fn take_buffered(&mut self) -> BytesMut {
        self.buf.split()
    }
}

/// Appends `payload` to `out` as packets numbered from `*seq`, advancing it.
pub fn frame(out: &mut Vec<u8>, seq: &mut u8, payload: &[u8]) {
    let mut rest = payload;
    loop {
        let n = rest.len().min(MAX_CHUNK);
        out.extend_from_slice(&[n as u8, (n >> 8) as u8, (n >> 16) as u8, *seq]);
        out.extend_from_slice(&rest[..n]);
        *seq = seq.wrapping_add(1);
        rest = &rest[n..];
        if n < MAX_CHUNK {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn large_payloads_round_trip_through_continuation_packets() {
        for size in [0, 1, MAX_CHUNK - 1, MAX_CHUNK, MAX_CHUNK + 5, 2 * MAX_CHUNK] {
            let payload: Vec<u8> = (0..size).map(|i| i as u8).collect();
            let mut wire = Vec::new();
            let mut seq = 3;
            frame(&mut wire, &mut seq, &payload);
            frame(&mut wire, &mut seq, b"next");
            let mut r = Reader::default();
            let mut io = &wire[..];
            let p = r.read(&mut io, 64 << 20, true).await.ok().flatten();
            let p = p.map(|p| (p.seq, p.payload));
            assert_eq!(p, Some((3, payload)), "size {size}");
            let q = r.read(&mut io, 64 << 20, true).await.ok().flatten();
            assert_eq!(q.map(|p| p.payload), Some(b"next".to_vec()));
        }
    }

    #[tokio::test]
    async fn oversized_and_out_of_sequence_packets_are_refused() {
        let mut wire = Vec::new();
        let mut seq = 0;
        frame(&mut wire, &mut seq, &[0u8; 100]);
        let mut io = &wire[..];
        assert!(Reader::default().read(&mut io, 10, true).await.is_err());
        let mut wire = Vec::new();
        let mut seq = 0;
        frame(&mut wire, &mut seq, &vec![0u8; MAX_CHUNK]);
        wire[MAX_CHUNK + 4 + 3] = 9; // the continuation's sequence id
        let mut io = &wire[..];
        assert!(
            Reader::default()
                .read(&mut io, 64 << 20, true)
                .await
                .is_err()
        );
    }
}
