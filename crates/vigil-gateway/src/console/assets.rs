//! The console's pages, embedded at build time (see `build.rs`), served
//! with a Content-Security-Policy that allows no inline script.

use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

include!(concat!(env!("OUT_DIR"), "/console_assets.rs"));

/// Shown when the binary was built without the console's pages.
const NOTICE: &str = "<!doctype html><html><head><meta charset=\"utf-8\"><title>Vigil</title></head>\
<body><h1>Vigil</h1><p>This build of Vigil has no web console: its pages \
(<code>crates/vigil-gateway/console-dist</code>) were missing when it was built. \
Build them with <code>npm ci &amp;&amp; npm run build</code> in <code>console/</code> and rebuild \
Vigil. The REST API under <code>/api/v1</code> works without them.</p></body></html>";

pub async fn index() -> Response {
    match find("index.html") {
        Some(bytes) => page("index.html", bytes),
        None => page("index.html", NOTICE.as_bytes()),
    }
}

pub async fn asset(Path(path): Path<String>) -> Response {
    let name = format!("assets/{path}");
    match find(&name) {
        Some(bytes) => page(&name, bytes),
        None => (StatusCode::NOT_FOUND, "not found\n").into_response(),
    }
}

fn find(name: &str) -> Option<&'static [u8]> {
    ASSETS.iter().find(|(n, _)| *n == name).map(|(_, b)| *b)
}

fn page(name: &str, bytes: &'static [u8]) -> Response {
    let kind = match name.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html; charset=utf-8",
        Some("js") | Some("mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("woff2") => "font/woff2",
        Some("json") => "application/json",
        _ => "application/octet-stream",
    };
    ([(header::CONTENT_TYPE, kind)], bytes).into_response()
}
