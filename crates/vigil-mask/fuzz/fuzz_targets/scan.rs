//! Every text value of every result row goes through `scan`; no byte string
//! may make it panic, loop, or leave a hit unmasked.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vigil_mask::{Detector, MaskKey, Masked, Masker, Style};

fuzz_target!(|data: &[u8]| {
    for style in [Style::Redact, Style::Partial, Style::Hash, Style::Null] {
        let m = Masker::new(&Detector::ALL, style, MaskKey::new([7; 32]));
        if let Some((out, hits)) = m.scan(data) {
            assert!(hits.total() > 0);
            assert_eq!(out == Masked::Null, style == Style::Null);
        }
        let _ = m.mask_value(data);
    }
});
