//! `vigil kubeconfig CONNECTION`: prints a kubeconfig that points kubectl at Vigil's
//! `/k8s/<connection>/` over TLS, trusting the certificate the gateway serves, with the
//! caller's own Vigil token as kubectl's bearer. The Kubernetes credential stays in Vigil.

use super::approvals::call;
use crate::cli::ServerArgs;
use anyhow::{Context, bail};
use base64::Engine;
use clap::Args;
use serde_json::Value;
use std::process::ExitCode;

/// Print a kubeconfig that points kubectl at a Kubernetes connection through Vigil.
///
/// The kubeconfig names one cluster `vigil-CONNECTION` at
/// `https://HOST:PORT/k8s/CONNECTION` (host and port from --server; the gateway's HTTP
/// listener speaks TLS and plain HTTP on the same port, and kubectl needs TLS to send a
/// token), the gateway's certificate as its certificate authority, and your token as the
/// user's credential. Policy decides every kubectl request; the cluster's own credential
/// never leaves the gateway.
///
///   vigil kubeconfig kube > kubeconfig
///   KUBECONFIG=kubeconfig kubectl get pods
///
/// The file holds your token: keep it private (e.g. `umask 077` first).
#[derive(Args)]
#[command(verbatim_doc_comment)]
pub struct KubeconfigArgs {
    /// The name of a `kind = "kubernetes"` connection in the gateway's config.
    pub connection: String,
    /// The gateway's HTTP address (http:// is written as https://).
    #[arg(long, env = "VIGIL_SERVER", default_value = "http://127.0.0.1:8080")]
    pub server: String,
    /// Your Vigil token or OIDC JWT; kubectl will send it to the gateway.
    #[arg(long, env = "VIGIL_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
}

pub async fn run(args: KubeconfigArgs) -> anyhow::Result<ExitCode> {
    tokio::task::spawn_blocking(move || {
        let yaml = kubeconfig(&args)?;
        print!("{yaml}");
        Ok(ExitCode::SUCCESS)
    })
    .await
    .context("the request task failed")?
}

fn kubeconfig(args: &KubeconfigArgs) -> anyhow::Result<String> {
    let Some(token) = args.token.clone().filter(|t| !t.trim().is_empty()) else {
        bail!(
            "no token: pass --token or set VIGIL_TOKEN (a Vigil token or OIDC JWT that \
             policy grants connection '{}')",
            args.connection
        );
    };
    let server = ServerArgs {
        server: args.server.clone(),
        token: token.clone(),
        json: false,
    };
    let path = format!("/kubeconfig/{}", encode_segment(&args.connection));
    let answer = call(&server, &path, None).with_context(|| {
        format!(
            "cannot make a kubeconfig for connection '{}'",
            args.connection
        )
    })?;
    let pem = answer
        .get("certificate_pem")
        .and_then(Value::as_str)
        .context("the gateway's answer has no certificate")?;
    let url = k8s_url(&args.server, &args.connection)?;
    Ok(render(&args.connection, &url, pem, &token))
}

/// `https://HOST:PORT[/prefix]/k8s/CONNECTION` from the gateway address.
fn k8s_url(server: &str, connection: &str) -> anyhow::Result<String> {
    let rest = server
        .strip_prefix("https://")
        .or_else(|| server.strip_prefix("http://"))
        .with_context(|| format!("--server must start with http:// or https://: {server}"))?;
    let rest = rest.trim_end_matches('/');
    if rest.is_empty() {
        bail!("--server has no host: {server}");
    }
    Ok(format!("https://{rest}/k8s/{}", encode_segment(connection)))
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
fn encode_segment(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The kubeconfig YAML. Every scalar is a JSON string, which YAML reads as a
/// double-quoted scalar, so no name or token can break the document.
fn render(connection: &str, url: &str, pem: &str, token: &str) -> String {
    let q = |s: &str| Value::from(s).to_string();
    let name = q(&format!("vigil-{connection}"));
    let ca = base64::engine::general_purpose::STANDARD.encode(pem);
    format!(
        "apiVersion: v1
kind: Config
clusters:
- name: {name}
  cluster:
    server: {url}
    certificate-authority-data: {ca}
users:
- name: {name}
  user:
    token: {token}
contexts:
- name: {name}
  context:
    cluster: {name}
    user: {name}
current-context: {name}
preferences: {{}}
",
        url = q(url),
        ca = q(&ca),
        token = q(token),
    )
}

#[cfg(test)]
mod tests {
    use super::{k8s_url, render};

    #[test]
    fn server_address_becomes_the_https_k8s_url() {
        let url = k8s_url("http://127.0.0.1:8080/", "kube").unwrap();
        assert_eq!(url, "https://127.0.0.1:8080/k8s/kube");
        let url = k8s_url("https://gw.example:443/vigil", "a b").unwrap();
        assert_eq!(url, "https://gw.example:443/vigil/k8s/a%20b");
        assert!(k8s_url("gw:8080", "kube").is_err());
        assert!(k8s_url("http://", "kube").is_err());
    }

    #[test]
    fn scalars_are_quoted() {
        let yaml = render("kube", "https://h/k8s/kube", "PEM", "tok\"en");
        assert!(yaml.contains("current-context: \"vigil-kube\"\n"), "{yaml}");
        assert!(yaml.contains("token: \"tok\\\"en\"\n"), "{yaml}");
        assert!(
            yaml.contains("certificate-authority-data: \"UEVN\"\n"),
            "{yaml}"
        );
    }
}
