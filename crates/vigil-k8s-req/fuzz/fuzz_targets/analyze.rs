//! Fuzzes `analyze` with an arbitrary method and request target: it must
//! return, never panic, and whatever it accepts must be canonical: no escape,
//! no dot or empty segment, and its canonical path reads the same.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (&str, &str)| {
    let (method, target) = input;
    let Ok(info) = vigil_k8s_req::analyze(method, target) else {
        return;
    };
    assert!(!info.path.contains('%') && !info.path.contains("//"));
    assert!(!info.path.split('/').any(|s| s == "." || s == ".."));
    if !target.contains('?') {
        assert_eq!(vigil_k8s_req::analyze(method, &info.path), Ok(info));
    }
});
