//! Property tests: the decoders of client bytes never panic, and framing
//! never loses or invents bytes.

use bytes::BytesMut;
use proptest::prelude::*;
use vigil_pg::protocol::{self, MessageWriter};

proptest! {
    #[test]
    fn decoders_never_panic(data in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = protocol::parse_startup(&data);
        let mut buf = BytesMut::from(&data[..]);
        while let Ok(Some((_, frame))) = protocol::next_frame(&mut buf, 1 << 16) {
            let _ = protocol::parse_query(&frame);
            let _ = protocol::parse_parse(&frame);
            let _ = protocol::parse_bind(&frame);
            let _ = protocol::parse_execute(&frame);
            let _ = protocol::parse_error_fields(&frame);
        }
    }

    #[test]
    fn framing_returns_each_written_message_whole(queries in proptest::collection::vec("[a-zA-Z0-9 ,*()]{0,64}", 1..20), split in 0usize..2048) {
        let mut w = MessageWriter::new();
        for q in &queries {
            w.query(q);
        }
        let all = w.take();
        let split = split.min(all.len());
        let mut buf = BytesMut::from(&all[..split]);
        let mut seen = Vec::new();
        while let Some((tag, frame)) = protocol::next_frame(&mut buf, 1 << 16).unwrap() {
            prop_assert_eq!(tag, b'Q');
            seen.push(protocol::parse_query(&frame).unwrap().to_string());
        }
        buf.extend_from_slice(&all[split..]);
        while let Some((_, frame)) = protocol::next_frame(&mut buf, 1 << 16).unwrap() {
            seen.push(protocol::parse_query(&frame).unwrap().to_string());
        }
        prop_assert!(buf.is_empty());
        prop_assert_eq!(seen, queries);
    }
}
