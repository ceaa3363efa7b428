//! Fuzzes the pre-lexer and `analyze` with arbitrary bytes under every
//! lexing mode: it must return, never panic or overflow.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vigil_mysql_sql::{Context, Flavor, LexMode, Target, analyze};

fuzz_target!(|data: &[u8]| {
    let Some((&flags, sql)) = data.split_first() else {
        return;
    };
    let ctx = Context {
        mode: LexMode {
            ansi_quotes: flags & 1 != 0,
            no_backslash_escapes: flags & 2 != 0,
            pipes_as_concat: flags & 4 != 0,
        },
        target: Target {
            flavor: if flags & 8 != 0 { Flavor::Mysql } else { Flavor::Mariadb },
            version: if flags & 16 != 0 { None } else { Some(101106) },
        },
        database: Some("db"),
    };
    let _ = analyze(sql, &ctx);
});
