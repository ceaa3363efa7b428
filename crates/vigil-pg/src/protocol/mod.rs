//! PostgreSQL v3 wire protocol: framing, startup packets, and the few
//! messages the gateway reads or writes itself. Everything else is relayed
//! as opaque bytes.

mod frame;
mod read;
mod startup;
mod write;

pub use frame::{FrameError, MAX_CLIENT_MESSAGE, MAX_STARTUP_PACKET, next_frame, peek_header};
pub use read::{
    BindRef, ErrorFields, MessageReader, ParseRef, bind_result_formats, parse_bind,
    parse_error_fields, parse_execute, parse_parse, parse_query,
};
pub use startup::{
    CANCEL_REQUEST_CODE, GSSENC_REQUEST_CODE, PROTOCOL_V3, SSL_REQUEST_CODE, Startup, parse_startup,
};
pub use write::MessageWriter;

/// Transaction status as reported in ReadyForQuery.
pub mod txn {
    pub const IDLE: u8 = b'I';
    pub const IN_BLOCK: u8 = b'T';
    pub const FAILED: u8 = b'E';
}
