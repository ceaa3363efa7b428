//! GraphQL documents and JSON bodies from clients: answered (an operation
//! or a refusal), never a panic or a hang.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = vigil_http_req::graphql::document(text);
    }
    let _ = vigil_http_req::graphql::operation("POST", None, "application/json", data);
    let _ = vigil_http_req::parse_json(data);
});
