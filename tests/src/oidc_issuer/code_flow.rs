//! The issuer's side of the OIDC authorization code flow with PKCE, auto-approving: `/authorize`
//! signs in whoever [`super::TestIssuer::sign_in_as`] names and redirects back to
//! `redirect_uri` with a one-time code and the `state`; `/token` takes the code once, checks the
//! `redirect_uri`, the `client_id` and the PKCE `code_verifier` against the `code_challenge`
//! (S256 only), and answers an ID token that carries the `nonce`, for the `client_id` as audience.

use std::collections::HashMap;

use aws_lc_rs::digest::{SHA256, digest};
use serde_json::{Value, json};

use super::b64;

/// A code handed out by `/authorize`, until `/token` takes it.
struct Issued {
    client_id: String,
    redirect_uri: String,
    challenge: String,
    nonce: Option<String>,
    claims: Value,
}

/// What the flow remembers between the two requests, and what it saw.
#[derive(Default)]
pub(super) struct Flow {
    /// The claims of who signs in at `/authorize` (`sub`, groups...); `None`: nobody, 403.
    pub(super) user: Option<Value>,
    codes: HashMap<String, Issued>,
    /// ID tokens handed out by `/token`.
    pub(super) exchanges: usize,
    /// Why `/token` refused, in order (`"pkce"`, `"unknown code"`...).
    pub(super) refusals: Vec<String>,
}

/// An HTTP answer: status line, extra headers, body.
pub(super) type Answer = (&'static str, Vec<(String, String)>, String);

/// `GET /authorize?response_type=code&client_id=..&redirect_uri=..&state=..&nonce=..&code_challenge=..&code_challenge_method=S256`.
pub(super) fn authorize(flow: &mut Flow, query: &str) -> Answer {
    let q = form(query);
    let get = |k: &str| q.get(k).cloned().unwrap_or_default();
    if get("response_type") != "code"
        || get("code_challenge_method") != "S256"
        || get("code_challenge").is_empty()
    {
        return bad("unsupported_response_type or no S256 code_challenge");
    }
    let redirect = get("redirect_uri");
    if !redirect.starts_with("http://127.0.0.1:") && !redirect.starts_with("https://") {
        return bad("redirect_uri");
    }
    let Some(user) = flow.user.clone() else {
        return (
            "403 Forbidden",
            vec![],
            "nobody signs in at this issuer".into(),
        );
    };
    let code = crate::random_hex(16);
    flow.codes.insert(
        code.clone(),
        Issued {
            client_id: get("client_id"),
            redirect_uri: redirect.clone(),
            challenge: get("code_challenge"),
            nonce: q.get("nonce").cloned(),
            claims: user,
        },
    );
    let sep = if redirect.contains('?') { '&' } else { '?' };
    let location = format!("{redirect}{sep}code={code}&state={}", encode(&get("state")));
    (
        "302 Found",
        vec![("Location".into(), location)],
        String::new(),
    )
}

/// `POST /token` (form-encoded): the code for an ID token signed by `sign`.
pub(super) fn token(
    flow: &mut Flow,
    body: &str,
    iss: &str,
    sign: impl FnOnce(&Value) -> String,
) -> Answer {
    let q = form(body);
    let get = |k: &str| q.get(k).cloned().unwrap_or_default();
    let mut refuse = |why: &str| {
        flow.refusals.push(why.to_string());
        (
            "400 Bad Request",
            vec![],
            json!({"error": "invalid_grant", "error_description": why}).to_string(),
        )
    };
    if get("grant_type") != "authorization_code" {
        return refuse("grant_type");
    }
    // A code is good once, whatever happens next.
    let Some(issued) = flow.codes.remove(&get("code")) else {
        return refuse("unknown code");
    };
    if issued.redirect_uri != get("redirect_uri") {
        return refuse("redirect_uri");
    }
    if issued.client_id != get("client_id") {
        return refuse("client_id");
    }
    if b64(digest(&SHA256, get("code_verifier").as_bytes()).as_ref()) != issued.challenge {
        return refuse("pkce");
    }
    let now = super::now_secs();
    let mut claims = json!({"iss": iss, "aud": issued.client_id, "iat": now, "exp": now + 300});
    if let (Some(c), Some(user)) = (claims.as_object_mut(), issued.claims.as_object()) {
        for (k, v) in user {
            c.insert(k.clone(), v.clone());
        }
        if let Some(nonce) = issued.nonce {
            c.insert("nonce".into(), Value::String(nonce));
        }
    }
    flow.exchanges += 1;
    let id_token = sign(&claims);
    let body = json!({"access_token": crate::random_hex(16), "token_type": "Bearer", "expires_in": 300, "id_token": id_token});
    ("200 OK", vec![], body.to_string())
}

fn bad(why: &str) -> Answer {
    (
        "400 Bad Request",
        vec![],
        json!({"error": "invalid_request", "error_description": why}).to_string(),
    )
}

/// `a=1&b=x%20y` decoded (`+` is a space).
fn form(text: &str) -> HashMap<String, String> {
    text.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

fn decode(s: &str) -> String {
    let hex = |b: u8| (b as char).to_digit(16);
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match (
            bytes[i],
            bytes.get(i + 1).copied().and_then(hex),
            bytes.get(i + 2).copied().and_then(hex),
        ) {
            (b'%', Some(hi), Some(lo)) => {
                out.push((hi * 16 + lo) as u8);
                i += 3;
            }
            (b'+', _, _) => {
                out.push(b' ');
                i += 1;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
