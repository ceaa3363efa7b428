//! Fuzzes the binary result row decoder with arbitrary column types and
//! row bytes: it must return, never panic, and every row it accepts must
//! encode back to exactly the same bytes (the relay re-encodes masked rows
//! and must change nothing it did not mean to).
#![no_main]

use libfuzzer_sys::fuzz_target;
use vigil_mysql::binary_row::{decode, encode};

fuzz_target!(|data: &[u8]| {
    let Some((&n, rest)) = data.split_first() else {
        return;
    };
    let (types, row) = rest.split_at(usize::from(n % 32).min(rest.len()));
    if let Ok(values) = decode(row, types) {
        let mut out = Vec::new();
        encode(&values, &mut out);
        assert_eq!(out, row);
    }
});
