//! The decoders of untrusted token and JWKS bytes never panic, and a token
//! with any HMAC or `none` algorithm is refused before any key is consulted.
#![allow(clippy::unwrap_used)]

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use proptest::prelude::*;
use vigil_identity::oidc::Reject;
use vigil_identity::oidc::jwk::KeySet;
use vigil_identity::oidc::jwt::decode;

proptest! {
    #[test]
    fn decode_never_panics(text in ".{0,600}") {
        let _ = decode(&text);
    }

    #[test]
    fn decode_never_panics_on_jwt_shaped_input(
        h in proptest::collection::vec(any::<u8>(), 0..200),
        c in proptest::collection::vec(any::<u8>(), 0..200),
        s in proptest::collection::vec(any::<u8>(), 0..200),
    ) {
        let token = format!("{}.{}.{}", URL_SAFE_NO_PAD.encode(h), URL_SAFE_NO_PAD.encode(c), URL_SAFE_NO_PAD.encode(s));
        let _ = decode(&token);
    }

    #[test]
    fn jwks_parse_never_panics(body in proptest::collection::vec(any::<u8>(), 0..800)) {
        let _ = KeySet::parse(&body);
    }

    #[test]
    fn symmetric_and_none_algorithms_are_always_refused(
        alg in prop_oneof![Just("none"), Just("None"), Just("HS256"), Just("HS384"), Just("HS512"), Just("hs256")],
        kid in "[a-z0-9]{0,8}",
    ) {
        let header = serde_json::json!({"alg": alg, "kid": kid}).to_string();
        let token = format!("{}.{}.{}", URL_SAFE_NO_PAD.encode(header), URL_SAFE_NO_PAD.encode("{}"), URL_SAFE_NO_PAD.encode("sig"));
        let err = decode(&token).unwrap_err();
        prop_assert!(matches!(err, Reject::AlgNone | Reject::AlgHmac), "{err:?}");
    }
}
