//! The Kubernetes API proxy: `/k8s/<connection>/...` on the gateway's HTTP
//! listener, for `kind = "kubernetes"` connections.
//!
//! Each request is read as the API server reads it ([`vigil_k8s_req`]:
//! `k8s.verb`, resource, namespace, name, exec options; a request it could
//! read two ways is refused with 400 before policy), its caller logs in
//! through the guard's one flow, and the guard decides it once. The API
//! server then gets the request with Vigil's credential instead of the
//! caller's, without impersonation fields, asking for JSON. Secret values
//! in answers (get, list, every watch event, the object a write returns)
//! are masked unless a policy says `k8s_secrets = "reveal"`; `exec` and
//! `attach` are relayed over WebSocket and recorded.
//!
//! Layout: `handler.rs` (one request, login to answer), `facts.rs`
//! (`k8s.*` and the forwarded fields), `impersonate.rs` (`--as` as actions), `answer.rs` (the request sent, the
//! answer relayed or masked), `watch.rs` (masked document streams),
//! `secrets.rs` (Secret masking), `exec.rs` (the exec stream relayed and
//! recorded), `dial.rs` (the API server's WebSocket), `status.rs` (Vigil's
//! own answers as `Status` objects).

pub(crate) mod answer;
mod dial;
mod exec;
pub(crate) mod facts;
pub(crate) mod handler;
mod impersonate;
mod secrets;
mod status;
pub(crate) mod watch;

/// Where the Kubernetes proxy is mounted on the HTTP listener.
pub const PREFIX: &str = "/k8s/";

pub use secrets::{MASKED_DATA, MASKED_TEXT};
