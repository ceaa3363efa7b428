//! Inputs shaped to make a detector work hard must still scan in time linear
//! in their length (no quadratic re-scans between candidates, no quadratic
//! bookkeeping of thousands of hits). The bound is loose: debug builds on a
//! busy machine; an optimised build scans each input in a few milliseconds.

use std::time::{Duration, Instant};

use vigil_mask::{Detector, MaskKey, Masker, Style};

const SIZE: usize = 64 * 1024;

fn repeat(unit: &str) -> Vec<u8> {
    unit.repeat(SIZE / unit.len() + 1).into_bytes()
}

#[test]
fn pathological_inputs_scan_quickly() {
    let m = Masker::new(&Detector::ALL, Style::Redact, MaskKey::new([0; 32]));
    let inputs = [
        repeat("a"),
        repeat("a@"),
        repeat("a.b@c"),
        repeat("1"),
        repeat("1 "),
        repeat("1-"),
        repeat("123 "),
        repeat("1."),
        repeat(":"),
        repeat("a:"),
        repeat("+1"),
        repeat("+1 "),
        repeat("(415) "),
        repeat("ssn "),
        repeat("secret="),
        repeat("secret=a1"),
        repeat("eyJ"),
        repeat("eyJhbGciOiJub25lIn0."),
        repeat("-----BEGIN PRIVATE KEY-----"),
        repeat("-----BEGIN PRIVATE KEY----- -----END "),
        repeat("DE89 "),
        repeat("AKIA"),
        repeat("xoxb-"),
        // Thousands of hits from detectors that interleave.
        repeat("eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0. a@b.co 4111111111111111 "),
    ];
    for input in &inputs {
        let start = Instant::now();
        let _ = m.scan(input);
        let took = start.elapsed();
        let head = String::from_utf8_lossy(&input[..12]);
        println!("{head:?}: {took:?}");
        assert!(took < Duration::from_secs(3), "{head:?} took {took:?}");
    }
}
