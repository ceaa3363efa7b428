//! Everything a client can send before and after login goes through these
//! decoders; none may panic or loop on any input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vigil_pg::protocol;

fuzz_target!(|data: &[u8]| {
    let _ = protocol::parse_startup(data);
    let mut buf = bytes::BytesMut::from(data);
    while let Ok(Some((_, frame))) = protocol::next_frame(&mut buf, protocol::MAX_CLIENT_MESSAGE) {
        let _ = protocol::parse_query(&frame);
        let _ = protocol::parse_parse(&frame);
        let _ = protocol::parse_bind(&frame);
        let _ = protocol::parse_execute(&frame);
        let _ = protocol::parse_error_fields(&frame);
    }
});
