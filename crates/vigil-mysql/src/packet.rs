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

/// How much one read from a socket asks for; a packet body larger than this
/// is read straight into its payload.
const READ_AHEAD: usize = 16 * 1024;

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
    ///
    /// Small packets come out of a read-ahead buffer (one read serves many
    /// rows); the body of a large one is read straight into its payload, so
    /// a 20 MiB statement or row is held once, and the buffer stays within a
    /// few times `READ_AHEAD`.
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
        let closed = || err("connection closed inside a packet".into());
        let mut payload = Vec::new();
        let mut first_seq = None;
        let mut last = 0u8;
        loop {
            while self.buf.len() < 4 {
                if self.fill(io).await? == 0 {
                    if self.buf.is_empty() && first_seq.is_none() {
                        return Ok(None);
                    }
                    return Err(closed());
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
            if len <= READ_AHEAD {
                while self.buf.len() < 4 + len {
                    if self.fill(io).await? == 0 {
                        return Err(closed());
                    }
                }
                self.buf.advance(4);
                payload.extend_from_slice(&self.buf[..len]);
                self.buf.advance(len);
            } else {
                self.buf.advance(4);
                payload.reserve_exact(len);
                let buffered = self.buf.len().min(len);
                payload.extend_from_slice(&self.buf[..buffered]);
                self.buf.advance(buffered);
                let mut want = len - buffered;
                while want > 0 {
                    // Only this packet's bytes: what follows stays unread
                    // (it may be a TLS handshake for another reader).
                    let n = (&mut *io).take(want as u64).read_buf(&mut payload).await?;
                    if n == 0 {
                        return Err(closed());
                    }
                    want -= n;
                }
            }
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

    /// One read into the buffer, of at least [`READ_AHEAD`] bytes of room.
    async fn fill<R: AsyncRead + Unpin>(&mut self, io: &mut R) -> std::io::Result<usize> {
        self.buf.reserve(READ_AHEAD);
        io.read_buf(&mut self.buf).await
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

    /// Hands out at most `step` bytes per read, as a slow socket does.
    struct Trickle<'a> {
        data: &'a [u8],
        step: usize,
    }

    impl AsyncRead for Trickle<'_> {
        fn poll_read(
            mut self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
            buf: &mut tokio::io::ReadBuf<'_>,
        ) -> std::task::Poll<std::io::Result<()>> {
            let n = self.step.min(buf.remaining()).min(self.data.len());
            buf.put_slice(&self.data[..n]);
            self.data = &self.data[n..];
            std::task::Poll::Ready(Ok(()))
        }
    }

    #[tokio::test]
    async fn packets_arriving_in_pieces_are_reassembled_with_a_bounded_buffer() {
        let sizes = [
            3,
            READ_AHEAD,
            READ_AHEAD + 1,
            MAX_CHUNK,
            2 * MAX_CHUNK + 7,
            0,
            100,
        ];
        let mut wire = Vec::new();
        let mut seq = 0;
        let payloads: Vec<Vec<u8>> = sizes
            .iter()
            .map(|&n| (0..n).map(|i| (i * 7) as u8).collect())
            .collect();
        for p in &payloads {
            frame(&mut wire, &mut seq, p);
        }
        for step in [1 << 20, 4093, 5] {
            let mut io = Trickle { data: &wire, step };
            let mut r = Reader::default();
            for p in &payloads {
                let got = r.read(&mut io, 64 << 20, false).await.ok().flatten();
                assert_eq!(got.map(|g| g.payload).as_ref(), Some(p), "step {step}");
                // A large packet is never staged in the read-ahead buffer.
                // (Room for a packet and a read; doubling when it grows.)
                assert!(
                    r.buf.capacity() <= 4 * READ_AHEAD + 8,
                    "{}",
                    r.buf.capacity()
                );
            }
            assert!(matches!(r.read(&mut io, 64 << 20, false).await, Ok(None)));
        }
    }

    #[tokio::test]
    async fn a_large_packet_leaves_the_bytes_behind_it_unread() {
        let mut wire = Vec::new();
        let mut seq = 0;
        frame(&mut wire, &mut seq, &vec![1u8; READ_AHEAD * 3]);
        wire.extend_from_slice(b"a TLS ClientHello");
        let mut io = &wire[..];
        let mut r = Reader::default();
        let p = r.read(&mut io, 1 << 20, true).await.ok().flatten();
        assert_eq!(p.map(|p| p.payload.len()), Some(READ_AHEAD * 3));
        let mut rest = r.take_buffered().to_vec();
        rest.extend_from_slice(io);
        assert_eq!(rest, b"a TLS ClientHello");
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
