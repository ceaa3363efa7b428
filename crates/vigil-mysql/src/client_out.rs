//! What a client is sent of the target's answer to one command: the
//! target's packets renumbered and framed by Vigil, with each EOF in the
//! form the client negotiated. This is the one place that knows the two
//! forms.
//!
//! Vigil's leg to the target never negotiates `CLIENT_DEPRECATE_EOF`, so its
//! parsers and its own queries see one form only. A client that negotiated
//! it gets what a MariaDB server sends such a client (`sql/protocol.cc`:
//! `Protocol::send_result_set_metadata`, `net_send_eof`):
//!
//! - the EOF that ends a run of definitions (a result set's columns, and
//!   PREPARE_OK's parameters and columns) is not sent at all;
//! - every other EOF becomes an OK packet whose header is 0xFE (no rows
//!   affected, no insert id, the EOF's status flags and warning count):
//!   the end of a result set's rows, of a COM_STMT_FETCH batch, the one
//!   that says COM_STMT_EXECUTE opened a cursor (MariaDB sends a cursor's
//!   metadata without an EOF and then "sends EOF" once the cursor is open,
//!   `sql/sql_cursor.cc`), and the answer to COM_SET_OPTION.

use crate::error::{MysqlError, Result};
use crate::packet::frame;
use crate::session::Io;
use crate::wire::{Cursor, Head, cap, head};
use tokio::io::AsyncWriteExt;

/// How EOF packets reach one client, fixed at its login.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Eofs {
    /// As the target sends them to Vigil.
    #[default]
    Sent,
    /// The client negotiated `CLIENT_DEPRECATE_EOF`.
    Deprecated,
}

impl Eofs {
    /// The form the capabilities in force with a client call for.
    pub fn negotiated(capabilities: u32) -> Eofs {
        if capabilities & cap::DEPRECATE_EOF != 0 {
            Eofs::Deprecated
        } else {
            Eofs::Sent
        }
    }
}

/// A packet of an answer read whole before it is sent (PREPARE_OK's), by
/// what it is to the client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Part {
    /// Sent as it is.
    Packet(Vec<u8>),
    /// The EOF after a run of column or parameter definitions.
    DefinitionsEnd(Vec<u8>),
}

/// The packets one answer sends a client, buffered until written.
pub struct ClientOut {
    buf: Vec<u8>,
    seq: u8,
    eofs: Eofs,
}

impl ClientOut {
    /// An answer whose first packet is numbered `seq`.
    pub fn new(seq: u8, eofs: Eofs) -> ClientOut {
        ClientOut {
            buf: Vec::with_capacity(16 * 1024),
            seq,
            eofs,
        }
    }

    /// A packet the client gets as it is (OK, ERR, a definition, a row).
    pub fn packet(&mut self, payload: &[u8]) {
        frame(&mut self.buf, &mut self.seq, payload);
    }

    /// The target's EOF after a run of definitions.
    pub fn definitions_end(&mut self, eof: &[u8]) -> Result<()> {
        let eof = checked(eof)?;
        if self.eofs == Eofs::Sent {
            self.packet(eof);
        }
        Ok(())
    }

    /// The target's EOF that ends rows, a fetch, or the command.
    pub fn end(&mut self, eof: &[u8]) -> Result<()> {
        let eof = checked(eof)?;
        match self.eofs {
            Eofs::Sent => self.packet(eof),
            Eofs::Deprecated => self.packet(&ok_for_eof(eof)?),
        }
        Ok(())
    }

    pub fn part(&mut self, part: &Part) -> Result<()> {
        match part {
            Part::Packet(p) => {
                self.packet(p);
                Ok(())
            }
            Part::DefinitionsEnd(eof) => self.definitions_end(eof),
        }
    }

    /// Bytes buffered and not yet written.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Writes what is buffered (more of the answer follows).
    pub async fn write_to(&mut self, client: &mut Box<dyn Io>) -> Result<()> {
        client.write_all(&self.buf).await?;
        self.buf.clear();
        Ok(())
    }

    /// Writes what is buffered and flushes: the answer is complete.
    pub async fn finish(&mut self, client: &mut Box<dyn Io>) -> Result<()> {
        self.write_to(client).await?;
        client.flush().await?;
        Ok(())
    }
}

/// An EOF packet of the 4.1 protocol: 0xFE, warnings, status.
fn checked(eof: &[u8]) -> Result<&[u8]> {
    if head(eof) == Head::Eof && eof.len() == 5 {
        Ok(eof)
    } else {
        Err(MysqlError::Upstream(
            "expected a 4.1 EOF packet (0xFE, warnings, status)".into(),
        ))
    }
}

/// The OK packet (header 0xFE) a `CLIENT_DEPRECATE_EOF` client gets in
/// place of `eof`, as `net_send_ok(.., is_eof)` builds it: no rows
/// affected, no insert id, the EOF's status flags and warning count, no
/// message.
fn ok_for_eof(eof: &[u8]) -> Result<Vec<u8>> {
    let mut c = Cursor::new(checked(eof)?);
    let _ = c.u8();
    let (Some(warnings), Some(status)) = (c.u16(), c.u16()) else {
        return Err(MysqlError::Upstream("a short EOF packet".into()));
    };
    let mut ok = Vec::with_capacity(7);
    ok.extend_from_slice(&[0xFE, 0, 0]);
    ok.extend_from_slice(&status.to_le_bytes());
    ok.extend_from_slice(&warnings.to_le_bytes());
    Ok(ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eof(warnings: u16, status: u16) -> Vec<u8> {
        let mut p = vec![0xFE];
        p.extend_from_slice(&warnings.to_le_bytes());
        p.extend_from_slice(&status.to_le_bytes());
        p
    }

    /// The payloads framed in `out`, with their sequence ids.
    fn framed(out: &ClientOut) -> Vec<(u8, Vec<u8>)> {
        let mut rest = &out.buf[..];
        let mut packets = Vec::new();
        while rest.len() >= 4 {
            let len = usize::from(rest[0]) | usize::from(rest[1]) << 8 | usize::from(rest[2]) << 16;
            packets.push((rest[3], rest[4..4 + len].to_vec()));
            rest = &rest[4 + len..];
        }
        assert!(rest.is_empty());
        packets
    }

    #[test]
    fn an_eof_becomes_an_ok_with_the_eof_header_its_status_and_warnings() {
        // 3 warnings; AUTOCOMMIT | MORE_RESULTS.
        let ok = ok_for_eof(&eof(3, 0x000A)).unwrap_or_default();
        assert_eq!(ok, vec![0xFE, 0, 0, 0x0A, 0, 3, 0]);
        // Shorter than 9 bytes: a client never takes it for a row that
        // starts with 0xFE (a length-encoded 8-byte integer).
        assert_eq!(head(&ok), Head::Eof);
    }

    #[test]
    fn a_client_without_deprecate_eof_gets_every_eof_as_sent() {
        let mut out = ClientOut::new(1, Eofs::Sent);
        out.packet(&[1]);
        assert!(out.definitions_end(&eof(0, 2)).is_ok());
        out.packet(&[3, b'a', b'b', b'c']);
        assert!(out.end(&eof(1, 2)).is_ok());
        assert_eq!(
            framed(&out),
            vec![
                (1, vec![1]),
                (2, eof(0, 2)),
                (3, vec![3, b'a', b'b', b'c']),
                (4, eof(1, 2)),
            ]
        );
    }

    #[test]
    fn a_deprecate_eof_client_loses_the_definitions_eof_and_gets_ok_at_the_end() {
        let mut out = ClientOut::new(1, Eofs::Deprecated);
        let parts = [
            Part::Packet(vec![1]),
            Part::DefinitionsEnd(eof(0, 2)),
            Part::Packet(vec![3, b'a', b'b', b'c']),
        ];
        for p in &parts {
            assert!(out.part(p).is_ok());
        }
        assert!(out.end(&eof(1, 0x0042)).is_ok());
        // Numbered without a gap where the EOF was dropped.
        assert_eq!(
            framed(&out),
            vec![
                (1, vec![1]),
                (2, vec![3, b'a', b'b', b'c']),
                (3, vec![0xFE, 0, 0, 0x42, 0, 1, 0]),
            ]
        );
    }

    #[test]
    fn what_is_not_a_4_1_eof_is_the_targets_error() {
        for bad in [vec![0xFE], vec![0xFE, 0, 0], vec![0x00, 0, 0, 2, 0], vec![]] {
            for eofs in [Eofs::Sent, Eofs::Deprecated] {
                let mut out = ClientOut::new(1, eofs);
                assert!(out.end(&bad).is_err(), "{bad:?}");
                assert!(out.definitions_end(&bad).is_err(), "{bad:?}");
                assert_eq!(out.buffered(), 0);
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn any_bytes_as_an_eof_are_refused_or_carried_exactly(
            bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..12),
        ) {
            let mut sent = ClientOut::new(0, Eofs::Sent);
            let mut deprecated = ClientOut::new(0, Eofs::Deprecated);
            let (a, b) = (sent.end(&bytes), deprecated.end(&bytes));
            proptest::prop_assert_eq!(a.is_ok(), b.is_ok());
            if a.is_err() {
                proptest::prop_assert_eq!((sent.buffered(), deprecated.buffered()), (0, 0));
            } else {
                proptest::prop_assert_eq!(framed(&sent), vec![(0, bytes.clone())]);
                // 0xFE, no rows, no insert id, the EOF's status, its warnings.
                let ok = vec![0xFE, 0, 0, bytes[3], bytes[4], bytes[1], bytes[2]];
                proptest::prop_assert_eq!(framed(&deprecated), vec![(0, ok)]);
                let mut dropped = ClientOut::new(0, Eofs::Deprecated);
                proptest::prop_assert!(dropped.definitions_end(&bytes).is_ok());
                proptest::prop_assert_eq!(dropped.buffered(), 0);
            }
        }
    }

    #[test]
    fn the_form_follows_the_negotiated_capability() {
        assert_eq!(Eofs::negotiated(cap::PROTOCOL_41), Eofs::Sent);
        assert_eq!(
            Eofs::negotiated(cap::PROTOCOL_41 | cap::DEPRECATE_EOF),
            Eofs::Deprecated
        );
    }
}
