//! A real OIDC issuer on loopback, served by the test itself: a discovery
//! document, a JWKS that can be rotated mid-test, a counter of JWKS fetches,
//! signing keys (RSA, EC, Ed25519) generated per test, and an auto-approving
//! authorization code flow with PKCE (`/authorize`, `/token`: `code_flow`)
//! for the web console's "Sign in with SSO".
//!
//! ```no_run
//! use vigil_e2e::oidc_issuer::{TestIssuer, now_secs};
//! let idp = TestIssuer::start();
//! let jwt = idp.token(&serde_json::json!({"sub": "alice", "aud": "vigil", "exp": now_secs() + 300}));
//! ```

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaEncoding, RsaKeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

mod code_flow;

/// Seconds since the Unix epoch, for `exp`, `nbf` and `iat`.
pub fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// `base64url(header).base64url(claims).base64url(signature)`, the signature
/// made by `sign` over the first two segments: build broken tokens with it.
pub fn jwt_with(header: &Value, claims: &Value, sign: impl FnOnce(&[u8]) -> Vec<u8>) -> String {
    let input = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let sig = sign(input.as_bytes());
    format!("{input}.{}", b64(&sig))
}

enum Pair {
    Rsa(RsaKeyPair, &'static dyn RsaEncoding),
    Ec(EcdsaKeyPair, &'static str),
    Ed(Ed25519KeyPair),
}

/// A private key with its `kid` and `alg`.
pub struct SigningKey {
    pub kid: String,
    pub alg: &'static str,
    pair: Pair,
}

impl SigningKey {
    /// RSA-2048 for `alg` in RS256/384/512 or PS256/384/512.
    pub fn rsa(kid: &str, alg: &'static str) -> SigningKey {
        let encoding: &'static dyn RsaEncoding = match alg {
            "RS256" => &signature::RSA_PKCS1_SHA256,
            "RS384" => &signature::RSA_PKCS1_SHA384,
            "RS512" => &signature::RSA_PKCS1_SHA512,
            "PS256" => &signature::RSA_PSS_SHA256,
            "PS384" => &signature::RSA_PSS_SHA384,
            "PS512" => &signature::RSA_PSS_SHA512,
            other => panic!("not an RSA algorithm: {other}"),
        };
        let pair = RsaKeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).expect("RSA key");
        SigningKey {
            kid: kid.into(),
            alg,
            pair: Pair::Rsa(pair, encoding),
        }
    }

    /// P-256 (`ES256`) or P-384 (`ES384`).
    pub fn ec(kid: &str, alg: &'static str) -> SigningKey {
        let (algorithm, crv) = match alg {
            "ES256" => (&signature::ECDSA_P256_SHA256_FIXED_SIGNING, "P-256"),
            "ES384" => (&signature::ECDSA_P384_SHA384_FIXED_SIGNING, "P-384"),
            other => panic!("not an EC algorithm: {other}"),
        };
        let pair = EcdsaKeyPair::generate(algorithm).expect("EC key");
        SigningKey {
            kid: kid.into(),
            alg,
            pair: Pair::Ec(pair, crv),
        }
    }

    pub fn ed25519(kid: &str) -> SigningKey {
        SigningKey {
            kid: kid.into(),
            alg: "EdDSA",
            pair: Pair::Ed(Ed25519KeyPair::generate().expect("Ed25519 key")),
        }
    }

    /// The public half as a JWK.
    pub fn jwk(&self) -> Value {
        match &self.pair {
            Pair::Rsa(pair, _) => {
                let public = pair.public_key();
                json!({"kty": "RSA", "kid": self.kid, "use": "sig", "alg": self.alg,
                       "n": b64(public.modulus().big_endian_without_leading_zero()),
                       "e": b64(public.exponent().big_endian_without_leading_zero())})
            }
            Pair::Ec(pair, crv) => {
                let point = pair.public_key().as_ref();
                let len = (point.len() - 1) / 2;
                json!({"kty": "EC", "kid": self.kid, "use": "sig", "crv": crv,
                       "x": b64(&point[1..1 + len]), "y": b64(&point[1 + len..])})
            }
            Pair::Ed(pair) => json!({"kty": "OKP", "kid": self.kid, "use": "sig", "crv": "Ed25519",
                                     "x": b64(pair.public_key().as_ref())}),
        }
    }

    /// The RSA public key's DER bytes (`RSAPublicKey`), for the algorithm
    /// confusion attack: an HMAC "signed" with what the verifier knows.
    pub fn public_key_bytes(&self) -> Vec<u8> {
        match &self.pair {
            Pair::Rsa(pair, _) => pair.public_key().as_ref().to_vec(),
            Pair::Ec(pair, _) => pair.public_key().as_ref().to_vec(),
            Pair::Ed(pair) => pair.public_key().as_ref().to_vec(),
        }
    }

    pub fn sign(&self, input: &[u8]) -> Vec<u8> {
        match &self.pair {
            Pair::Rsa(pair, encoding) => {
                let mut sig = vec![0; pair.public_modulus_len()];
                pair.sign(*encoding, &SystemRandom::new(), input, &mut sig)
                    .expect("RSA sign");
                sig
            }
            Pair::Ec(pair, _) => pair
                .sign(&SystemRandom::new(), input)
                .expect("EC sign")
                .as_ref()
                .to_vec(),
            Pair::Ed(pair) => pair.sign(input).as_ref().to_vec(),
        }
    }

    /// A signed token with this key's `alg` and `kid`.
    pub fn token(&self, claims: &Value) -> String {
        let header = json!({"alg": self.alg, "typ": "JWT", "kid": self.kid});
        jwt_with(&header, claims, |input| self.sign(input))
    }
}

struct Served {
    keys: Vec<Arc<SigningKey>>,
    /// Whether the server answers 503 to everything (an IdP outage).
    down: bool,
    cache_control: Option<String>,
    flow: code_flow::Flow,
}

/// The issuer. Its URL is `http://127.0.0.1:PORT/realms/test`; it serves
/// `<url>/.well-known/openid-configuration` and `<url>/jwks`.
pub struct TestIssuer {
    url: String,
    served: Arc<Mutex<Served>>,
    jwks_fetches: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    addr: std::net::SocketAddr,
    thread: Option<JoinHandle<()>>,
}

impl TestIssuer {
    /// Starts with one RS256 key, `kid = "k1"`.
    pub fn start() -> TestIssuer {
        Self::start_with(vec![SigningKey::rsa("k1", "RS256")])
    }

    pub fn start_with(keys: Vec<SigningKey>) -> TestIssuer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the test issuer");
        let addr = listener.local_addr().expect("issuer address");
        let url = format!("http://{addr}/realms/test");
        let served = Arc::new(Mutex::new(Served {
            keys: keys.into_iter().map(Arc::new).collect(),
            down: false,
            cache_control: None,
            flow: code_flow::Flow::default(),
        }));
        let jwks_fetches = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (url, served, fetches, stop) = (
                url.clone(),
                served.clone(),
                jwks_fetches.clone(),
                stop.clone(),
            );
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    if let Ok(stream) = stream {
                        let (url, served, fetches) = (url.clone(), served.clone(), fetches.clone());
                        std::thread::spawn(move || serve(stream, &url, &served, &fetches));
                    }
                }
            })
        };
        TestIssuer {
            url,
            served,
            jwks_fetches,
            stop,
            addr,
            thread: Some(thread),
        }
    }

    /// The `iss` of its tokens.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// How many times the JWKS was fetched.
    pub fn jwks_fetches(&self) -> usize {
        self.jwks_fetches.load(Ordering::SeqCst)
    }

    /// The current signing key (the first served).
    pub fn key(&self) -> Arc<SigningKey> {
        self.served.lock().unwrap().keys[0].clone()
    }

    /// Serves `keys` from now on, in place of the old ones (a rotation).
    pub fn rotate(&self, keys: Vec<SigningKey>) {
        self.served.lock().unwrap().keys = keys.into_iter().map(Arc::new).collect();
    }

    /// Makes the served key `kid` the one [`TestIssuer::token`] signs with.
    pub fn sign_with(&self, kid: &str) {
        let mut s = self.served.lock().unwrap();
        let at = s
            .keys
            .iter()
            .position(|k| k.kid == kid)
            .expect("no such kid");
        s.keys.swap(0, at);
    }

    /// Simulates an outage: every request gets 503 until `set_down(false)`.
    pub fn set_down(&self, down: bool) {
        self.served.lock().unwrap().down = down;
    }

    /// Who signs in at `/authorize` from now on: these claims (`sub`, groups...) go into
    /// the ID token `/token` answers, with `iss`, `aud` (the client id), `iat`, `exp` and
    /// the `nonce`. Until this is called `/authorize` answers 403.
    pub fn sign_in_as(&self, claims: &Value) {
        self.served.lock().unwrap().flow.user = Some(claims.clone());
    }

    /// How many ID tokens `/token` handed out.
    pub fn code_exchanges(&self) -> usize {
        self.served.lock().unwrap().flow.exchanges
    }

    /// Why `/token` refused requests so far (`"pkce"`, `"unknown code"`, ...).
    pub fn token_refusals(&self) -> Vec<String> {
        self.served.lock().unwrap().flow.refusals.clone()
    }

    pub fn set_cache_control(&self, value: Option<&str>) {
        self.served.lock().unwrap().cache_control = value.map(str::to_owned);
    }

    /// Claims every test token starts from: this issuer, audience `vigil`,
    /// valid for five minutes; `extra` adds or overrides.
    pub fn claims(&self, extra: &Value) -> Value {
        let now = now_secs();
        let mut claims = json!({"iss": self.url, "aud": "vigil", "iat": now, "exp": now + 300});
        if let (Some(c), Some(e)) = (claims.as_object_mut(), extra.as_object()) {
            for (k, v) in e {
                c.insert(k.clone(), v.clone());
            }
        }
        claims
    }

    /// A valid token with the current key and [`TestIssuer::claims`]`(extra)`.
    pub fn token(&self, extra: &Value) -> String {
        self.key().token(&self.claims(extra))
    }
}

impl Drop for TestIssuer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// One request: method, target (path and query), body (read by `Content-Length`).
fn read_request(stream: &mut TcpStream) -> Option<(String, String, String)> {
    let mut request = Vec::new();
    let mut buf = [0u8; 4096];
    let head_end = loop {
        if let Some(at) = request.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        if request.len() > 16 * 1024 {
            return None;
        }
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return None,
            Ok(n) => request.extend_from_slice(&buf[..n]),
        }
    };
    let head = String::from_utf8_lossy(&request[..head_end]).into_owned();
    let length: usize = head
        .lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse().ok())
        .unwrap_or(0)
        .min(64 * 1024);
    while request.len() < head_end + length {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => request.extend_from_slice(&buf[..n]),
        }
    }
    let mut words = head.split_whitespace();
    let method = words.next().unwrap_or("GET").to_owned();
    let target = words.next().unwrap_or("/").to_owned();
    let body = String::from_utf8_lossy(&request[head_end..]).into_owned();
    Some((method, target, body))
}

fn serve(mut stream: TcpStream, url: &str, served: &Mutex<Served>, fetches: &AtomicUsize) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let Some((method, target, body)) = read_request(&mut stream) else {
        return;
    };
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    let (down, keys, cache_control) = {
        let s = served.lock().unwrap();
        (s.down, s.keys.clone(), s.cache_control.clone())
    };
    let prefix = url
        .splitn(4, '/')
        .nth(3)
        .map(|p| format!("/{p}"))
        .unwrap_or_default();
    let mut headers: Vec<(String, String)> = Vec::new();
    let (status, body) = if down {
        ("503 Service Unavailable", "{}".to_string())
    } else if path == format!("{prefix}/.well-known/openid-configuration") {
        (
            "200 OK",
            json!({"issuer": url, "jwks_uri": format!("{url}/jwks"),
                   "authorization_endpoint": format!("{url}/authorize"),
                   "token_endpoint": format!("{url}/token"),
                   "response_types_supported": ["code"],
                   "code_challenge_methods_supported": ["S256"],
                   "id_token_signing_alg_values_supported": ["RS256", "ES256", "EdDSA"]})
            .to_string(),
        )
    } else if path == format!("{prefix}/jwks") {
        fetches.fetch_add(1, Ordering::SeqCst);
        let keys: Vec<Value> = keys.iter().map(|k| k.jwk()).collect();
        ("200 OK", json!({ "keys": keys }).to_string())
    } else if method == "GET" && path == format!("{prefix}/authorize") {
        let (status, extra, body) = code_flow::authorize(&mut served.lock().unwrap().flow, query);
        headers = extra;
        (status, body)
    } else if method == "POST" && path == format!("{prefix}/token") {
        let key = keys[0].clone();
        let (status, extra, body) =
            code_flow::token(&mut served.lock().unwrap().flow, &body, url, |claims| {
                key.token(claims)
            });
        headers = extra;
        (status, body)
    } else {
        ("404 Not Found", "{}".to_string())
    };
    if let Some(c) = cache_control {
        headers.push(("Cache-Control".into(), c));
    }
    let extra: String = headers
        .iter()
        .map(|(k, v)| format!("{k}: {v}\r\n"))
        .collect();
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{extra}Connection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(response.as_bytes());
}
