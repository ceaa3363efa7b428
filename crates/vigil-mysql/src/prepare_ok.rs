//! The target's answer to COM_STMT_PREPARE: an ERR, or PREPARE_OK (the
//! statement id, its column and parameter counts) followed by the
//! parameter definitions and the column definitions, each run ended by an
//! EOF. Read whole before anything reaches the client, so the session can
//! check the columns against its masks first.

use crate::backend::Upstream;
use crate::client_out::Part;
use crate::error::{MysqlError, Result};
use crate::mask::ColumnDef;
use crate::relay::next;
use crate::wire::{Cursor, Head, head};

pub struct PrepareAnswer {
    /// What the client is sent, in order.
    pub packets: Vec<Part>,
    /// `None`: the target answered an error.
    pub ok: Option<PrepareOk>,
}

pub struct PrepareOk {
    pub id: u32,
    pub columns: Vec<ColumnDef>,
}

fn bad(what: &str) -> MysqlError {
    MysqlError::Upstream(format!("COM_STMT_PREPARE answer: {what}"))
}

/// Reads the whole answer to the COM_STMT_PREPARE just sent.
pub async fn read(up: &mut Upstream) -> Result<PrepareAnswer> {
    let first = next(up).await?;
    match head(&first) {
        Head::Err => {
            return Ok(PrepareAnswer {
                packets: vec![Part::Packet(first)],
                ok: None,
            });
        }
        Head::Ok if first.len() >= 12 => {}
        _ => return Err(bad("neither OK nor ERR")),
    }
    let mut c = Cursor::new(&first[1..]);
    let (Some(id), Some(columns), Some(params)) = (c.u32(), c.u16(), c.u16()) else {
        return Err(bad("short PREPARE_OK"));
    };
    let mut packets = Vec::with_capacity(usize::from(params) + usize::from(columns) + 3);
    packets.push(Part::Packet(first));
    for _ in 0..params {
        packets.push(Part::Packet(next(up).await?));
    }
    if params > 0 {
        packets.push(definitions_end(up, "no EOF after the parameters").await?);
    }
    let mut column_defs = Vec::with_capacity(usize::from(columns));
    for _ in 0..columns {
        let p = next(up).await?;
        column_defs.push(ColumnDef::decode(&p).ok_or_else(|| bad("bad column definition"))?);
        packets.push(Part::Packet(p));
    }
    if columns > 0 {
        packets.push(definitions_end(up, "no EOF after the columns").await?);
    }
    Ok(PrepareAnswer {
        packets,
        ok: Some(PrepareOk {
            id,
            columns: column_defs,
        }),
    })
}

/// Reads the EOF that ends a run of definitions.
async fn definitions_end(up: &mut Upstream, missing: &str) -> Result<Part> {
    let eof = next(up).await?;
    if head(&eof) != Head::Eof {
        return Err(bad(missing));
    }
    Ok(Part::DefinitionsEnd(eof))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::client_out::{ClientOut, Eofs};
    use crate::scripted::{client, column, eof, numbered, received, upstream};

    fn prepare_ok(id: u32, columns: u16, params: u16) -> Vec<u8> {
        let mut p = vec![0x00];
        p.extend_from_slice(&id.to_le_bytes());
        p.extend_from_slice(&columns.to_le_bytes());
        p.extend_from_slice(&params.to_le_bytes());
        p.extend_from_slice(&[0, 0, 0]);
        p
    }

    /// What a client of the kind `eofs` reads of the target's answer.
    async fn relayed(target: Vec<Vec<u8>>, eofs: Eofs) -> (Option<u32>, Vec<(u8, Vec<u8>)>) {
        let mut up = upstream(target).await;
        let answer = read(&mut up).await.unwrap();
        let (mut ours, theirs) = client().await;
        let mut out = ClientOut::new(1, eofs);
        for p in &answer.packets {
            out.part(p).unwrap();
        }
        out.finish(&mut ours).await.unwrap();
        drop(ours);
        (answer.ok.map(|o| o.id), received(theirs).await)
    }

    #[tokio::test]
    async fn a_deprecate_eof_client_gets_no_eof_after_parameters_or_columns() {
        let target = vec![
            prepare_ok(5, 2, 1),
            column("?", 0xfd),
            eof(0, 2),
            column("id", 0x03),
            column("email", 0xfd),
            eof(0, 2),
        ];
        let (id, got) = relayed(target.clone(), Eofs::Deprecated).await;
        assert_eq!(id, Some(5));
        let expected = vec![
            prepare_ok(5, 2, 1),
            column("?", 0xfd),
            column("id", 0x03),
            column("email", 0xfd),
        ];
        assert_eq!(got, numbered(1, expected));
        let (_, got) = relayed(target.clone(), Eofs::Sent).await;
        assert_eq!(got, numbered(1, target));
    }

    #[tokio::test]
    async fn runs_that_are_empty_have_no_eof_in_either_form() {
        // An INSERT with no parameters: PREPARE_OK alone.
        let target = vec![prepare_ok(6, 0, 0)];
        for eofs in [Eofs::Sent, Eofs::Deprecated] {
            let (id, got) = relayed(target.clone(), eofs).await;
            assert_eq!((id, got), (Some(6), numbered(1, target.clone())));
        }
        // Columns without parameters.
        let target = vec![prepare_ok(7, 1, 0), column("id", 0x03), eof(0, 2)];
        let (_, got) = relayed(target, Eofs::Deprecated).await;
        assert_eq!(
            got,
            numbered(1, vec![prepare_ok(7, 1, 0), column("id", 0x03)])
        );
    }

    #[tokio::test]
    async fn a_missing_eof_is_the_targets_error() {
        let target = vec![prepare_ok(8, 1, 0), column("id", 0x03), column("x", 0x03)];
        let mut up = upstream(target).await;
        assert!(matches!(read(&mut up).await, Err(MysqlError::Upstream(_))));
    }
}
