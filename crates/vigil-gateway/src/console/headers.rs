//! Headers on every console answer (pages, `/console/api`, and the REST
//! API the pages call): no inline script, no framing, no sniffing, no
//! referrer, API answers not cached.

use axum::extract::Request;
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;

/// `'wasm-unsafe-eval'` lets the session replay's terminal (the asciinema
/// player) compile its WebAssembly; it allows no JavaScript `eval` and no
/// inline script.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; \
style-src 'self'; img-src 'self' data:; connect-src 'self'; object-src 'none'; \
base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// For the console's own routes.
pub async fn secure(request: Request, next: Next) -> Response {
    let api = request.uri().path().starts_with("/console/api");
    with_headers(request, next, api).await
}

/// For the REST API (nested: it sees its paths without `/api/v1`).
pub async fn api(request: Request, next: Next) -> Response {
    with_headers(request, next, true).await
}

async fn with_headers(request: Request, next: Next, api: bool) -> Response {
    let mut response = next.run(request).await;
    let h = response.headers_mut();
    h.insert(
        "content-security-policy",
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    h.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    if api {
        h.insert("cache-control", HeaderValue::from_static("no-store"));
    }
    response
}

/// For the HTTP and Kubernetes proxies' answers, which share the console's
/// origin: whatever a target sends (an HTML page, a script) runs, if a
/// browser ever renders it, in a sandbox with no access to the console's
/// cookie or API. Added beside the target's own headers, never in place of
/// them (several CSPs all apply).
pub async fn isolate(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let h = response.headers_mut();
    h.append(
        "content-security-policy",
        HeaderValue::from_static("sandbox"),
    );
    if !h.contains_key("x-content-type-options") {
        h.insert(
            "x-content-type-options",
            HeaderValue::from_static("nosniff"),
        );
    }
    response
}
