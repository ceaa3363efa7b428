//! The commands that run no statement: COM_PING, COM_SET_OPTION and
//! COM_RESET_CONNECTION. Vigil builds each one itself (never from the
//! client's bytes) and follows what the target confirms: multi-statements
//! change only once the target accepted COM_SET_OPTION, which is what
//! decides whether the target reads `SELECT 1; DROP TABLE t` as two
//! statements or as a syntax error.

use super::{Next, Session, com};
use crate::error::Result;
use crate::packet::frame;
use crate::relay;
use tokio::io::AsyncWriteExt;

/// COM_SET_OPTION's options.
const MULTI_STATEMENTS_ON: u16 = 0;
const MULTI_STATEMENTS_OFF: u16 = 1;

/// A command that runs no statement, built by Vigil (never client bytes).
enum Control {
    Ping,
    SetOption(u16),
    ResetConnection,
}

impl Control {
    fn payload(&self) -> Vec<u8> {
        match self {
            Control::Ping => vec![com::PING],
            Control::SetOption(o) => {
                let mut p = vec![com::SET_OPTION];
                p.extend_from_slice(&o.to_le_bytes());
                p
            }
            Control::ResetConnection => vec![com::RESET_CONNECTION],
        }
    }
}

impl Session<'_> {
    pub(super) async fn ping(&mut self, seq: u8) -> Result<Next> {
        self.control(Control::Ping, seq).await?;
        Ok(Next::Continue)
    }

    /// COM_SET_OPTION: multi-statements on or off (the answer is an EOF,
    /// which `client_out` gives a DEPRECATE_EOF client as an OK).
    pub(super) async fn set_option(&mut self, payload: &[u8], seq: u8) -> Result<Next> {
        let option = payload
            .get(1..3)
            .map(|b| u16::from_le_bytes([b[0], b[1]]))
            .filter(|&o| o == MULTI_STATEMENTS_ON || o == MULTI_STATEMENTS_OFF);
        let Some(option) = option else {
            return self
                .unsupported(seq, "set_option", "COM_SET_OPTION with an unknown option")
                .await;
        };
        // Followed only once the target confirms it: an ERR leaves the
        // target reading text as it did.
        if self.control(Control::SetOption(option), seq).await? {
            self.parts.multi_statements = option == MULTI_STATEMENTS_ON;
        }
        Ok(Next::Continue)
    }

    pub(super) async fn reset_connection(&mut self, seq: u8) -> Result<Next> {
        // The target drops every prepared statement (and Vigil does even if
        // it answers an error: unknown ids are refused).
        self.statements.clear();
        self.control(Control::ResetConnection, seq).await?;
        self.refresh().await?;
        Ok(Next::Continue)
    }

    /// Sends a control command and relays its answer; whether the target
    /// accepted it (no ERR).
    async fn control(&mut self, control: Control, seq: u8) -> Result<bool> {
        let mut out = Vec::with_capacity(8);
        let mut s = 0;
        frame(&mut out, &mut s, &control.payload());
        self.parts.upstream.io.write_all(&out).await?;
        let out = self.client_out(seq);
        let ends = relay::answer(
            &mut self.parts.upstream,
            &mut self.parts.client,
            out,
            &self.parts.session.mask,
            &[],
            None,
            relay::Rows::Text,
        )
        .await?;
        Ok(ends.iter().all(|e| e.error.is_none()))
    }
}
