//! Splits a byte buffer into whole protocol messages without copying.

use bytes::{Bytes, BytesMut};

/// The largest message a client may send. PostgreSQL itself accepts up to
/// 1 GiB; a gateway that buffers must bound what a hostile client can make
/// it hold.
pub const MAX_CLIENT_MESSAGE: usize = 64 << 20;

/// Startup packets are small; PostgreSQL caps them at 10,000 bytes.
pub const MAX_STARTUP_PACKET: usize = 10_000;

#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("invalid message length {0}")]
    BadLength(usize),
    #[error("message of {0} bytes exceeds the limit of {1} bytes")]
    TooLarge(usize, usize),
    #[error("malformed {0} message")]
    Malformed(&'static str),
}

/// The tag and total length (tag byte included) of the message at the start
/// of `buf`, when its header is complete.
pub fn peek_header(buf: &[u8], max: usize) -> Result<Option<(u8, usize)>, FrameError> {
    if buf.len() < 5 {
        return Ok(None);
    }
    let len = u32::from_be_bytes([buf[1], buf[2], buf[3], buf[4]]) as usize;
    if len < 4 {
        return Err(FrameError::BadLength(len));
    }
    if len > max {
        return Err(FrameError::TooLarge(len, max));
    }
    Ok(Some((buf[0], len + 1)))
}

/// Splits the first whole message off `buf`: `(tag, whole message bytes)`.
pub fn next_frame(buf: &mut BytesMut, max: usize) -> Result<Option<(u8, Bytes)>, FrameError> {
    match peek_header(buf, max)? {
        Some((tag, total)) if buf.len() >= total => Ok(Some((tag, buf.split_to(total).freeze()))),
        _ => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_whole_messages_and_keeps_the_tail() {
        let mut buf = BytesMut::from(&b"Q\0\0\0\x09abcd\0S\0\0"[..]);
        let (tag, msg) = next_frame(&mut buf, 1024).unwrap().unwrap();
        assert_eq!(tag, b'Q');
        assert_eq!(&msg[..], b"Q\0\0\0\x09abcd\0");
        assert!(next_frame(&mut buf, 1024).unwrap().is_none());
        assert_eq!(&buf[..], b"S\0\0");
    }

    #[test]
    fn refuses_lengths_below_four_and_above_the_limit() {
        let mut buf = BytesMut::from(&b"Q\0\0\0\x02"[..]);
        assert!(next_frame(&mut buf, 1024).is_err());
        let mut buf = BytesMut::from(&b"Q\x7f\0\0\0"[..]);
        assert!(matches!(
            next_frame(&mut buf, 1024),
            Err(FrameError::TooLarge(..))
        ));
    }
}
