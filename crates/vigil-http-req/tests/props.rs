//! Properties of the request analysis over generated request targets,
//! biased toward the bytes that make paths ambiguous (`.`, `/`, `%`, hex
//! digits of `2e`, `2f`, `5c`, `;`, `\`).
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)] // tests may fail loudly

use proptest::prelude::*;
use vigil_http_req::{NormalPath, RequestHead, analyse_head, graphql};

fn tricky_path() -> impl Strategy<Value = String> {
    proptest::string::string_regex(
        r"(/([a.%2eEfF5cC;\\~+:@ ]|%2[eEfF]|%5[cC]|%25|%C3%A9|%00){0,6}){0,6}/?",
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// An accepted path is forwarded in a spelling that reads back as the
    /// same path, and that spelling is a fixed point.
    #[test]
    fn accepted_paths_renormalise_to_themselves(raw in tricky_path()) {
        if let Ok(path) = NormalPath::parse(&raw) {
            let forwarded = path.forward_path();
            let again = NormalPath::parse(&forwarded);
            prop_assert_eq!(again.as_ref(), Ok(&path));
            prop_assert_eq!(again.map(|p| p.forward_path()), Ok(forwarded));
        }
    }

    /// Nothing accepted has a dot segment, a separator or a control
    /// character once decoded.
    #[test]
    fn accepted_paths_have_no_dots_separators_or_controls(raw in tricky_path()) {
        if let Ok(path) = NormalPath::parse(&raw) {
            for segment in path.segments() {
                prop_assert!(!segment.is_empty());
                prop_assert!(segment != "." && segment != "..");
                prop_assert!(!segment.contains(['/', '\\', ';', '%']));
                prop_assert!(!segment.chars().any(char::is_control));
            }
            prop_assert!(!path.policy_path().contains("/../"));
            prop_assert!(!path.policy_path().ends_with("/.."));
        }
    }

    /// The policy path is what the forwarded path decodes to.
    #[test]
    fn policy_sees_what_is_forwarded(raw in tricky_path()) {
        if let Ok(path) = NormalPath::parse(&raw) {
            let forwarded = path.forward_path();
            let trimmed = forwarded.strip_suffix('/').filter(|t| !t.is_empty()).unwrap_or(&forwarded);
            let decoded = percent_decode(trimmed);
            prop_assert_eq!(decoded, path.policy_path());
        }
    }

    /// Any request line is answered (accepted or refused), never a panic.
    #[test]
    fn any_request_line_is_answered(method in "[A-Za-z]{0,8}", target in ".{0,80}", host in ".{0,20}") {
        let headers: [(&str, &[u8]); 1] = [("host", host.as_bytes())];
        let head = RequestHead { method: &method, authority: None, path_and_query: &target, headers: &headers };
        let _ = analyse_head(&head, "/proxy/");
    }

    #[test]
    fn any_graphql_document_is_answered(doc in r##"[{}()"#\n a-z:$=\\]{0,60}"##) {
        let _ = graphql::document(&doc);
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap();
            out.push(u8::from_str_radix(hex, 16).unwrap());
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}
