//! Every proxied request's line and header fields go through
//! `analyse_head` before policy; no input may make it panic, and what it
//! accepts must be forwarded in a spelling that reads back the same, with
//! no dot segment, separator or control character once decoded.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vigil_http_req::{NormalPath, RequestHead, analyse_head};

fuzz_target!(|data: &[u8]| {
    // method \n target \n host \n body
    let mut parts = data.splitn(4, |b| *b == b'\n');
    let method = String::from_utf8_lossy(parts.next().unwrap_or_default());
    let target = String::from_utf8_lossy(parts.next().unwrap_or_default());
    let host = parts.next().unwrap_or_default();
    let body = parts.next().unwrap_or_default();
    let headers: [(&str, &[u8]); 2] = [("host", host), ("content-type", b"application/json")];
    let head = RequestHead {
        method: &method,
        authority: None,
        path_and_query: &target,
        headers: &headers,
    };
    let Ok(mut analysed) = analyse_head(&head, "/proxy/") else {
        return;
    };
    let again = NormalPath::parse(&analysed.forward_path).expect("a forwarded path reads back");
    assert_eq!(again.forward_path(), analysed.forward_path);
    for segment in again.segments() {
        assert!(segment != "." && segment != "..");
        assert!(!segment.contains(['/', '\\', ';', '%']));
        assert!(!segment.chars().any(char::is_control));
    }
    let wanted = vigil_http_req::BodyFacts {
        json: true,
        graphql: true,
    };
    let _ = vigil_http_req::analyse_body(&mut analysed.facts, &head, body, wanted);
});
