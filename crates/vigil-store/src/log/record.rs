//! The ledger log's record format: what one decision (or checkpoint) looks
//! like on disk, and how a torn or altered record is told apart.
//!
//! A frame is `len: u32 LE | crc32: u32 LE | payload[len]`, the CRC over the
//! payload. The CRC only detects torn writes and media errors: tampering is
//! the chain's and the signatures' business (see [`crate::ledger::verify`]).
//!
//! Payload, little-endian, strings as `u32 length | UTF-8 bytes` (an optional
//! string's length `u32::MAX` means absent):
//!
//! ```text
//! 1 (event)      | seq i64 | prev_hash [32] | hash [32] | at_ms i64 | session? | principal?
//!                | run_id? | type | body | effect
//! 2 (checkpoint) | seq i64 | hash [32] | signature (len-prefixed) | public_key [32] | at_ms i64
//! ```
//!
//! `effect` is what the event changes in the session summary (a tag, then
//! its fields), so the index is rebuilt from the log without parsing bodies.
//! It is derived data: `vigil audit verify` checks the index against the
//! hashed body, never this.

use crate::sqlite::prepared::SessionEffect;

/// Bytes before a frame's payload.
pub(crate) const FRAME_HEADER: usize = 8;

/// The largest payload a reader accepts. Events are bounded far below this
/// by the gateway (statement texts are capped); a length above it is a
/// corrupt frame, not an allocation.
pub(crate) const MAX_PAYLOAD: usize = 256 << 20;

/// One decoded record.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Record {
    Event(EventRecord),
    Checkpoint(CheckpointRecord),
}

impl Record {
    pub(crate) fn seq(&self) -> i64 {
        match self {
            Record::Event(e) => e.seq,
            Record::Checkpoint(c) => c.seq,
        }
    }
}

/// A chained ledger event as the log holds it.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct EventRecord {
    pub seq: i64,
    pub prev_hash: [u8; 32],
    pub hash: [u8; 32],
    pub at_ms: i64,
    pub session: Option<String>,
    pub principal: Option<String>,
    pub run_id: Option<String>,
    pub event_type: String,
    /// Canonical JSON of the event: what was hashed.
    pub body: String,
    pub effect: SessionEffect,
}

impl EventRecord {
    /// Its place in the chain.
    pub(crate) fn chained(&self) -> Chained {
        Chained {
            seq: self.seq,
            prev_hash: self.prev_hash,
            hash: self.hash,
        }
    }

    /// Its other fields, borrowed.
    pub(crate) fn fields(&self) -> EventFields<'_> {
        EventFields {
            at_ms: self.at_ms,
            session: self.session.as_deref(),
            principal: self.principal.as_deref(),
            run_id: self.run_id.as_deref(),
            event_type: &self.event_type,
            body: &self.body,
            effect: &self.effect,
        }
    }
}

/// A signed checkpoint: the gateway key's signature over `(seq, hash)`.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct CheckpointRecord {
    pub seq: i64,
    pub hash: [u8; 32],
    pub signature: Vec<u8>,
    pub public_key: [u8; 32],
    pub at_ms: i64,
}

/// Why bytes are not a record.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum DecodeError {
    /// The buffer ends inside the frame: a torn tail (or more bytes to read).
    Incomplete,
    /// The frame is complete but wrong: bad CRC, impossible length or fields.
    Corrupt(&'static str),
}

const KIND_EVENT: u8 = 1;
const KIND_CHECKPOINT: u8 = 2;

const EFFECT_NONE: u8 = 0;
const EFFECT_START: u8 = 1;
const EFFECT_STATEMENT: u8 = 2;
const EFFECT_END: u8 = 3;

/// Appends the frame of an event to `out`.
pub(crate) fn encode_event(out: &mut Vec<u8>, c: &Chained, e: &EventFields<'_>) {
    let start = begin_frame(out);
    out.push(KIND_EVENT);
    out.extend_from_slice(&c.seq.to_le_bytes());
    out.extend_from_slice(&c.prev_hash);
    out.extend_from_slice(&c.hash);
    out.extend_from_slice(&e.at_ms.to_le_bytes());
    put_opt_str(out, e.session);
    put_opt_str(out, e.principal);
    put_opt_str(out, e.run_id);
    put_str(out, e.event_type);
    put_str(out, e.body);
    match e.effect {
        SessionEffect::None => out.push(EFFECT_NONE),
        SessionEffect::Start {
            principal,
            connection,
            protocol,
        } => {
            out.push(EFFECT_START);
            put_str(out, principal);
            put_str(out, connection);
            put_str(out, protocol);
        }
        SessionEffect::Statement { denied } => {
            out.push(EFFECT_STATEMENT);
            out.push(u8::from(*denied));
        }
        SessionEffect::End => out.push(EFFECT_END),
    }
    end_frame(out, start);
}

/// Where an event sits in the chain: its seq and what it follows.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Chained {
    pub seq: i64,
    pub prev_hash: [u8; 32],
    pub hash: [u8; 32],
}

/// The fields of an event besides its place in the chain, borrowed from
/// wherever they live.
#[derive(Clone, Copy)]
pub(crate) struct EventFields<'a> {
    pub at_ms: i64,
    pub session: Option<&'a str>,
    pub principal: Option<&'a str>,
    pub run_id: Option<&'a str>,
    pub event_type: &'a str,
    pub body: &'a str,
    pub effect: &'a SessionEffect,
}

/// Appends the frame of a checkpoint to `out`.
pub(crate) fn encode_checkpoint(out: &mut Vec<u8>, c: &CheckpointRecord) {
    let start = begin_frame(out);
    out.push(KIND_CHECKPOINT);
    out.extend_from_slice(&c.seq.to_le_bytes());
    out.extend_from_slice(&c.hash);
    put_bytes(out, &c.signature);
    out.extend_from_slice(&c.public_key);
    out.extend_from_slice(&c.at_ms.to_le_bytes());
    end_frame(out, start);
}

fn begin_frame(out: &mut Vec<u8>) -> usize {
    let start = out.len();
    out.extend_from_slice(&[0; FRAME_HEADER]);
    start
}

fn end_frame(out: &mut [u8], start: usize) {
    let payload = &out[start + FRAME_HEADER..];
    // A payload this large cannot be built from a bounded event; saturate
    // rather than wrap so the reader refuses it instead of misframing.
    let len = u32::try_from(payload.len()).unwrap_or(u32::MAX);
    let crc = crc32fast::hash(payload);
    out[start..start + 4].copy_from_slice(&len.to_le_bytes());
    out[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    let len = u32::try_from(b.len()).unwrap_or(u32::MAX - 1);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(b);
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    put_bytes(out, s.as_bytes());
}

fn put_opt_str(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        Some(s) => put_str(out, s),
        None => out.extend_from_slice(&u32::MAX.to_le_bytes()),
    }
}

/// Decodes the frame at the start of `buf`: the record and the frame's length.
pub(crate) fn decode(buf: &[u8]) -> Result<(Record, usize), DecodeError> {
    let header = buf.get(..FRAME_HEADER).ok_or(DecodeError::Incomplete)?;
    let len = u32_at(header, 0) as usize;
    let crc = u32_at(header, 4);
    if len > MAX_PAYLOAD {
        return Err(DecodeError::Corrupt("frame length out of range"));
    }
    let payload = buf
        .get(FRAME_HEADER..FRAME_HEADER + len)
        .ok_or(DecodeError::Incomplete)?;
    if crc32fast::hash(payload) != crc {
        return Err(DecodeError::Corrupt("CRC mismatch"));
    }
    let mut r = Reader { buf: payload };
    let record = match r.u8()? {
        KIND_EVENT => Record::Event(read_event(&mut r)?),
        KIND_CHECKPOINT => Record::Checkpoint(CheckpointRecord {
            seq: r.i64()?,
            hash: r.hash()?,
            signature: r.bytes()?.to_vec(),
            public_key: r.hash()?,
            at_ms: r.i64()?,
        }),
        _ => return Err(DecodeError::Corrupt("unknown record kind")),
    };
    if !r.buf.is_empty() {
        return Err(DecodeError::Corrupt("trailing bytes in a record"));
    }
    Ok((record, FRAME_HEADER + len))
}

fn read_event(r: &mut Reader<'_>) -> Result<EventRecord, DecodeError> {
    Ok(EventRecord {
        seq: r.i64()?,
        prev_hash: r.hash()?,
        hash: r.hash()?,
        at_ms: r.i64()?,
        session: r.opt_str()?,
        principal: r.opt_str()?,
        run_id: r.opt_str()?,
        event_type: r.string()?,
        body: r.string()?,
        effect: match r.u8()? {
            EFFECT_NONE => SessionEffect::None,
            EFFECT_START => SessionEffect::Start {
                principal: r.string()?,
                connection: r.string()?,
                protocol: r.string()?,
            },
            EFFECT_STATEMENT => SessionEffect::Statement {
                denied: r.u8()? != 0,
            },
            EFFECT_END => SessionEffect::End,
            _ => return Err(DecodeError::Corrupt("unknown session effect")),
        },
    })
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(a)
}

/// A cursor over one payload; every read is bounds-checked.
struct Reader<'a> {
    buf: &'a [u8],
}

const SHORT: DecodeError = DecodeError::Corrupt("record shorter than its fields");

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.buf.len() < n {
            return Err(SHORT);
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }

    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }

    fn i64(&mut self) -> Result<i64, DecodeError> {
        let mut a = [0u8; 8];
        a.copy_from_slice(self.take(8)?);
        Ok(i64::from_le_bytes(a))
    }

    fn hash(&mut self) -> Result<[u8; 32], DecodeError> {
        let mut a = [0u8; 32];
        a.copy_from_slice(self.take(32)?);
        Ok(a)
    }

    fn len(&mut self) -> Result<u32, DecodeError> {
        let mut a = [0u8; 4];
        a.copy_from_slice(self.take(4)?);
        Ok(u32::from_le_bytes(a))
    }

    fn bytes(&mut self) -> Result<&'a [u8], DecodeError> {
        let n = self.len()?;
        self.take(n as usize)
    }

    fn string(&mut self) -> Result<String, DecodeError> {
        let b = self.bytes()?;
        std::str::from_utf8(b)
            .map(str::to_owned)
            .map_err(|_| DecodeError::Corrupt("a string is not UTF-8"))
    }

    fn opt_str(&mut self) -> Result<Option<String>, DecodeError> {
        let n = self.len()?;
        if n == u32::MAX {
            return Ok(None);
        }
        let b = self.take(n as usize)?;
        std::str::from_utf8(b)
            .map(|s| Some(s.to_owned()))
            .map_err(|_| DecodeError::Corrupt("a string is not UTF-8"))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn event(seq: i64, body: &str, effect: SessionEffect) -> EventRecord {
        EventRecord {
            seq,
            prev_hash: [seq as u8; 32],
            hash: [seq as u8 + 1; 32],
            at_ms: 1_700_000_000_000 + seq,
            session: Some("s-1".into()),
            principal: None,
            run_id: Some("run".into()),
            event_type: "statement".into(),
            body: body.into(),
            effect,
        }
    }

    fn encode(e: &EventRecord) -> Vec<u8> {
        let mut out = Vec::new();
        encode_event(&mut out, &e.chained(), &e.fields());
        out
    }

    #[test]
    fn events_and_checkpoints_round_trip() {
        let e = event(
            7,
            r#"{"x":"é"}"#,
            SessionEffect::Start {
                principal: "p".into(),
                connection: "c".into(),
                protocol: "postgres".into(),
            },
        );
        let mut buf = encode(&e);
        let c = CheckpointRecord {
            seq: 7,
            hash: [9; 32],
            signature: vec![1; 64],
            public_key: [2; 32],
            at_ms: 5,
        };
        encode_checkpoint(&mut buf, &c);
        let (first, n) = decode(&buf).unwrap();
        assert_eq!(first, Record::Event(e));
        let (second, m) = decode(&buf[n..]).unwrap();
        assert_eq!(second, Record::Checkpoint(c));
        assert_eq!(n + m, buf.len());
    }

    #[test]
    fn a_torn_tail_is_incomplete_and_a_flipped_bit_is_corrupt() {
        let buf = encode(&event(1, "{}", SessionEffect::Statement { denied: true }));
        for cut in 0..buf.len() {
            assert_eq!(
                decode(&buf[..cut]),
                Err(DecodeError::Incomplete),
                "cut at {cut}"
            );
        }
        for i in FRAME_HEADER..buf.len() {
            let mut bad = buf.clone();
            bad[i] ^= 0x10;
            assert!(
                matches!(decode(&bad), Err(DecodeError::Corrupt(_))),
                "byte {i}"
            );
        }
    }

    #[test]
    fn an_absurd_length_is_refused_without_allocating() {
        let mut buf = vec![0xff, 0xff, 0xff, 0x7f, 0, 0, 0, 0];
        buf.extend_from_slice(&[0; 16]);
        assert!(matches!(decode(&buf), Err(DecodeError::Corrupt(_))));
    }

    proptest! {
        #[test]
        fn any_event_round_trips(seq in any::<i64>(), body in ".*", session in proptest::option::of(".*"), denied in any::<bool>()) {
            let mut e = event(0, &body, SessionEffect::Statement { denied });
            e.seq = seq;
            e.session = session;
            let buf = encode(&e);
            let (back, n) = decode(&buf).unwrap();
            prop_assert_eq!(n, buf.len());
            prop_assert_eq!(back, Record::Event(e));
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = decode(&bytes);
        }
    }
}
