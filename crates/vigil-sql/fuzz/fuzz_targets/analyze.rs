//! Fuzzes `analyze` with arbitrary UTF-8: it must return, never panic or overflow.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vigil_sql::{Catalog, analyze};

fuzz_target!(|sql: &str| {
    let _ = analyze(sql, &Catalog::empty());
});
