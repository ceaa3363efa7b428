//! Fuzzes `analyze` with arbitrary bytes: it must return, never panic, and
//! be opaque exactly when it gives reasons.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let got = vigil_shell::analyze(bytes);
    assert_eq!(got.argv.is_none(), !got.reasons.is_empty());
});
