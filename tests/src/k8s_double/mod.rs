//! A Kubernetes API server double that the real `kubectl` 1.32 accepts, for the
//! Kubernetes front-end's end-to-end tests. Plain HTTP/1.1 on a loopback port (Vigil
//! reaches it over `http://`), one thread per connection, keep-alive.
//!
//! It logs every request it receives (method, target, header fields lower case, body),
//! before it checks anything, so a test can prove what reached the API server: nothing for
//! a denied request, never the client's own credential, always Vigil's bearer. A request
//! without `Authorization: Bearer <the token it was started with>` gets 401 and a `Status`
//! (kubectl sends no bearer over plain `http://`: [`KubeApi::start_open`] asks for none).
//!
//! What it serves:
//! - discovery: `/version`, `/api`, `/apis`, `/api/v1`, `/apis/apps/v1` in the legacy JSON
//!   form (kubectl asks for aggregated discovery first and falls back); `/openapi/*` is 404;
//! - namespace `default` with pods `web-1`, `web-2` (Running), secret `db-creds` (Opaque,
//!   `password` = `hunter2`, `user` = `admin`, and a last-applied annotation repeating
//!   them), configmap `settings` (`mode: fast`); namespaces `default`, `kube-system`;
//! - get, list (`PodList` with items without kind), a `meta.k8s.io/v1` `Table` when the
//!   Accept field asks `as=Table`, watch (`watch=1|true`: one ADDED event per object whatever
//!   `resourceVersion` names, so `kubectl get -w` prints each object twice; then the stream
//!   stays open up to 2 s), create (POST), delete, pod logs;
//! - exec over WebSocket (v5, or v4; see `exec.rs`); a SPDY upgrade gets 400.

mod exec;
mod objects;
mod routes;
mod wire;

use std::io::BufReader;
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use crate::http_upstream::Received;
pub use objects::{SECRET_PASSWORD, SECRET_USER};

use objects::Cluster;
use routes::Reply;
use wire::Request;

/// A running API server double on a loopback port.
pub struct KubeApi {
    port: u16,
    token: String,
    log: Arc<Mutex<Vec<Received>>>,
    cluster: Arc<Mutex<Cluster>>,
}

struct Shared {
    token: String,
    log: Arc<Mutex<Vec<Received>>>,
    cluster: Arc<Mutex<Cluster>>,
}

impl KubeApi {
    /// Starts the double; it accepts only `Authorization: Bearer <token>`.
    pub fn start(token: &str) -> KubeApi {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the Kubernetes double");
        let port = listener.local_addr().expect("double address").port();
        let log = Arc::new(Mutex::new(Vec::new()));
        let cluster = Arc::new(Mutex::new(Cluster::seeded()));
        let shared = Arc::new(Shared {
            token: token.to_string(),
            log: log.clone(),
            cluster: cluster.clone(),
        });
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let shared = shared.clone();
                std::thread::spawn(move || serve(stream, &shared));
            }
        });
        KubeApi {
            port,
            token: token.to_string(),
            log,
            cluster,
        }
    }

    /// Starts a double that asks for no credential: kubectl 1.32 sends no bearer over plain
    /// `http://`, so this is how kubectl itself can talk to the double directly.
    pub fn start_open() -> KubeApi {
        KubeApi::start("")
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The bearer token it accepts.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// Every request received so far, in order.
    pub fn received(&self) -> Vec<Received> {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// The requests received so far with this method whose target contains `part`.
    pub fn received_matching(&self, method: &str, part: &str) -> Vec<Received> {
        self.received()
            .into_iter()
            .filter(|r| r.method == method && r.target.contains(part))
            .collect()
    }

    /// The exec requests (WebSocket upgrades or not) received so far.
    pub fn exec_requests(&self) -> Vec<Received> {
        self.received()
            .into_iter()
            .filter(|r| {
                r.target
                    .split('?')
                    .next()
                    .is_some_and(|p| p.ends_with("/exec"))
            })
            .collect()
    }

    pub fn clear(&self) {
        if let Ok(mut l) = self.log.lock() {
            l.clear();
        }
    }

    /// The names of the pods in namespace `default` now.
    pub fn pods(&self) -> Vec<String> {
        let cluster = self.cluster.lock().expect("the double's cluster lock");
        cluster
            .list("pods", Some("default"))
            .iter()
            .filter_map(|p| p["metadata"]["name"].as_str().map(String::from))
            .collect()
    }
}

fn serve(stream: TcpStream, shared: &Shared) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    let Ok(clone) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(clone);
    let mut out = stream;
    while let Some(req) = wire::read_request(&mut reader) {
        if let Ok(mut l) = shared.log.lock() {
            l.push(Received {
                method: req.method.clone(),
                target: req.target.clone(),
                headers: req.headers.clone(),
                body: req.body.clone(),
            });
        }
        let expected = format!("Bearer {}", shared.token);
        let upgrade = req.header("upgrade").to_ascii_lowercase();
        let reply = if !shared.token.is_empty() && req.header("authorization") != expected {
            routes::fail(401, "Unauthorized", "Unauthorized")
        } else if !upgrade.is_empty() {
            let buffered = reader.buffer().to_vec();
            upgrade_request(out, buffered, &req, &upgrade, shared);
            return;
        } else {
            match shared.cluster.lock() {
                Ok(mut cluster) => routes::handle(&req, &mut cluster),
                Err(_) => return,
            }
        };
        match reply {
            Reply::Full {
                status,
                content_type,
                body,
            } => {
                if wire::write_full(&mut out, status, content_type, &body).is_err() {
                    return;
                }
            }
            Reply::Watch { events, hold } => {
                stream_watch(&mut out, &events, hold);
                return;
            }
        }
        if req.header("connection").eq_ignore_ascii_case("close") {
            return;
        }
    }
}

/// Newline-delimited watch events in a chunked answer, then the stream stays open `hold`.
fn stream_watch(out: &mut TcpStream, events: &[serde_json::Value], hold: Duration) {
    if wire::start_chunked(out, "application/json").is_err() {
        return;
    }
    for event in events {
        let line = format!("{event}\n");
        if wire::write_chunk(out, line.as_bytes()).is_err() {
            return;
        }
    }
    std::thread::sleep(hold);
    let _ = wire::end_chunks(out);
}

/// A WebSocket upgrade of `pods/<name>/exec` runs the command; anything else (SPDY, or an
/// upgrade of another path) gets 400 or 404 as a `Status`.
fn upgrade_request(
    mut out: TcpStream,
    buffered: Vec<u8>,
    req: &Request,
    upgrade: &str,
    shared: &Shared,
) {
    let mut refuse = |code: u16, reason: &str, message: &str| {
        let body = objects::status(code, reason, message).to_string();
        let _ = wire::write_full(&mut out, code, "application/json", body.as_bytes());
    };
    let Some(rp) = routes::resource_path(&req.path) else {
        return refuse(
            404,
            "NotFound",
            "the server could not find the requested resource",
        );
    };
    let (Some(pod), Some("exec"), "pods") = (rp.name, rp.subresource, rp.kind.resource) else {
        return refuse(
            400,
            "BadRequest",
            "the double upgrades only pods/<name>/exec",
        );
    };
    if upgrade != "websocket" {
        return refuse(400, "BadRequest", "the double does not speak SPDY");
    }
    let Some(protocol) = exec::choose(req) else {
        return refuse(
            400,
            "BadRequest",
            "no supported channel.k8s.io subprotocol offered",
        );
    };
    let namespace = rp.namespace.unwrap_or("default");
    let exists = shared
        .cluster
        .lock()
        .map(|c| c.get("pods", namespace, pod).is_some())
        .unwrap_or(false);
    if !exists {
        let message = format!("pods \"{pod}\" not found");
        return refuse(404, "NotFound", &message);
    }
    exec::serve(out, buffered, req, protocol, pod);
}
