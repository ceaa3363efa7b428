//! Fuzzes the SFTP framer and request parser with arbitrary client bytes:
//! they must return (a packet, a request, or an error), never panic, and
//! never hold more than one packet's worth of bytes past the limit.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../src/sftp.rs"]
#[allow(dead_code)]
mod sftp;

fuzz_target!(|bytes: &[u8]| {
    let mut framer = sftp::Framer::default();
    for chunk in bytes.chunks(7) {
        framer.push(chunk);
        loop {
            match framer.next_packet() {
                Ok(Some(packet)) => {
                    assert!(packet.len() <= sftp::MAX_PACKET + 4);
                    let _ = sftp::parse_request(&packet);
                }
                Ok(None) => break,
                Err(_) => return,
            }
        }
    }
});
