//! Typed connections: each kind reads its own keys, refuses the others by
//! name, and `vigil serve` refuses (at the `kind`'s line) what it cannot
//! serve yet while `vigil policy check` accepts it.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)] // tests may fail loudly

use std::path::{Path, PathBuf};

use vigil_config::{
    ClientCert, Config, ConnectionKind, ConnectionOptions, DEFAULT_MAX_RESPONSE_BYTES, HttpAuth,
    KubernetesAuth, SftpMode, SshAuth, SshRecording, load_str_with_env,
};

fn load(text: &str) -> Result<Config, String> {
    load_str_with_env(text, Path::new("v.toml"), |name| match name {
        "SECRET" => Some("hunter2-secret".to_owned()),
        _ => None,
    })
    .map_err(|e| e.to_string())
}

fn error_of(text: &str) -> String {
    match load(text) {
        Ok(_) => panic!("should be rejected:\n{text}"),
        Err(e) => e,
    }
}

const EVERY_KIND: &str = r#"
[[connection]]
name = "crm"
kind = "mysql"
address = "10.0.0.7:3306"
database = "crm"
user = "app"
password = "${SECRET}"

[[connection]]
name = "web1"
kind = "ssh"
address = "10.0.0.5:22"
user = "deploy"
private_key_file = "/etc/vigil/web1.key"
known_host = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExample"
recording = "best-effort"
record_input = true
sftp = "read-only"

[[connection]]
name = "billing"
kind = "http"
url = "https://billing.internal/api"
bearer = "${SECRET}"
ca_file = "/etc/ssl/billing.pem"
max_response_bytes = 1048576
graphql = true

[[connection]]
name = "prod"
kind = "kubernetes"
url = "https://10.0.0.9:6443"
ca_file = "/etc/vigil/k8s-ca.pem"
client_cert_file = "/etc/vigil/k8s.crt"
client_key_file = "/etc/vigil/k8s.key"
via = "edge"
"#;

#[test]
fn every_kind_reads_its_own_keys() {
    let config = load(EVERY_KIND).unwrap();
    let kinds: Vec<ConnectionKind> = config.connections.iter().map(|c| c.kind()).collect();
    use ConnectionKind::*;
    assert_eq!(kinds, vec![Mysql, Ssh, Http, Kubernetes]);

    let ConnectionOptions::Mysql(crm) = &config.connection("crm").unwrap().options else {
        panic!("crm is mysql");
    };
    assert_eq!(
        (
            crm.address.as_str(),
            crm.database.as_str(),
            crm.user.as_str()
        ),
        ("10.0.0.7:3306", "crm", "app")
    );
    assert_eq!(
        crm.password.as_ref().map(|p| p.expose().as_str()),
        Some("hunter2-secret")
    );

    let web1 = config.connection("web1").unwrap();
    assert_eq!(web1.via, None);
    let ConnectionOptions::Ssh(ssh) = &web1.options else {
        panic!("web1 is ssh");
    };
    assert_eq!(
        ssh.auth,
        SshAuth::PrivateKeyFile(PathBuf::from("/etc/vigil/web1.key"))
    );
    assert_eq!(ssh.user, "deploy");
    assert!(ssh.known_host.starts_with("ssh-ed25519 "));
    assert_eq!(ssh.recording, SshRecording::BestEffort);
    assert!(ssh.record_input);
    assert_eq!(ssh.sftp, SftpMode::ReadOnly);

    let ConnectionOptions::Http(http) = &config.connection("billing").unwrap().options else {
        panic!("billing is http");
    };
    assert_eq!(http.url, "https://billing.internal/api");
    assert!(matches!(&http.auth, Some(HttpAuth::Bearer(b)) if b.expose() == "hunter2-secret"));
    assert_eq!(http.ca_file, Some(PathBuf::from("/etc/ssl/billing.pem")));
    assert_eq!(http.max_response_bytes, 1_048_576);
    assert!(http.graphql);

    assert_eq!(
        config.connection("prod").unwrap().via.as_deref(),
        Some("edge")
    );
    let ConnectionOptions::Kubernetes(k8s) = &config.connection("prod").unwrap().options else {
        panic!("prod is kubernetes");
    };
    assert_eq!(
        k8s.auth,
        KubernetesAuth::ClientCert(ClientCert {
            cert_file: PathBuf::from("/etc/vigil/k8s.crt"),
            key_file: PathBuf::from("/etc/vigil/k8s.key"),
        })
    );
    assert_eq!(k8s.ca_file, Some(PathBuf::from("/etc/vigil/k8s-ca.pem")));

    // Secrets of every kind stay out of debug output.
    assert!(!format!("{config:?}").contains("hunter2"));
}

#[test]
fn defaults_of_each_kind() {
    let config = load(
        "[[connection]]\nname = \"s\"\nkind = \"ssh\"\naddress = \"h:22\"\nuser = \"u\"\npassword = \"${SECRET}\"\nknown_host = \"ssh-ed25519 AAAA\"\n\
         [[connection]]\nname = \"h\"\nkind = \"http\"\nurl = \"http://127.0.0.1:9000\"\n\
         [[connection]]\nname = \"h2\"\nkind = \"http\"\nurl = \"https://api\"\nheader_name = \"X-Api-Key\"\nheader_value = \"${SECRET}\"\n\
         [[connection]]\nname = \"h3\"\nkind = \"http\"\nurl = \"https://api\"\nbasic_user = \"bob\"\nbasic_password = \"${SECRET}\"\n\
         [[connection]]\nname = \"k\"\nkind = \"kubernetes\"\nurl = \"https://k:6443\"\nbearer = \"${SECRET}\"\n",
    )
    .unwrap();
    let ConnectionOptions::Ssh(ssh) = &config.connections[0].options else {
        panic!("ssh");
    };
    assert!(matches!(&ssh.auth, SshAuth::Password(p) if p.expose() == "hunter2-secret"));
    assert_eq!(ssh.recording, SshRecording::Required);
    assert!(!ssh.record_input, "input is recorded only when asked");
    assert_eq!(ssh.sftp, SftpMode::Policy);
    let ConnectionOptions::Http(http) = &config.connections[1].options else {
        panic!("http");
    };
    assert_eq!(http.auth, None);
    assert_eq!(http.max_response_bytes, DEFAULT_MAX_RESPONSE_BYTES);
    assert!(!http.graphql && http.ca_file.is_none());
    let ConnectionOptions::Http(http) = &config.connections[2].options else {
        panic!("http");
    };
    assert!(matches!(&http.auth, Some(HttpAuth::Header { name, .. }) if name == "X-Api-Key"));
    let ConnectionOptions::Http(http) = &config.connections[3].options else {
        panic!("http");
    };
    assert!(matches!(&http.auth, Some(HttpAuth::Basic { user, .. }) if user == "bob"));
    let ConnectionOptions::Kubernetes(k8s) = &config.connections[4].options else {
        panic!("kubernetes");
    };
    assert!(matches!(&k8s.auth, KubernetesAuth::Bearer(_)));
    assert_eq!(k8s.ca_file, None);
}

#[test]
fn a_key_of_another_kind_is_an_error_naming_the_kind() {
    let err = error_of(
        "[[connection]]\nname = \"web1\"\nkind = \"ssh\"\naddress = \"h:22\"\nuser = \"u\"\n  database = \"shop\"\n",
    );
    assert!(
        err.starts_with("v.toml:6:3: unknown field `database` for a `ssh` connection, expected one of `name`, `kind`, `via`, `address`"),
        "{err}"
    );
    let err = error_of(
        "[[connection]]\nname = \"shop\"\nkind = \"postgres\"\naddress = \"h:5432\"\ndatabase = \"d\"\nuser = \"u\"\nknown_host = \"ssh-ed25519 AAAA\"\n",
    );
    assert!(
        err.starts_with("v.toml:7:1: unknown field `known_host` for a `postgres` connection"),
        "{err}"
    );
    // The kind may come last and still decides; the first unknown key in the file is named.
    let err = error_of(
        "[[connection]]\nname = \"p\"\nzeta = 1\nalpha = 2\nurl = \"https://k\"\nkind = \"kubernetes\"\n",
    );
    assert!(
        err.starts_with("v.toml:3:1: unknown field `zeta` for a `kubernetes` connection"),
        "{err}"
    );
}

#[test]
fn each_kinds_rules_are_checked_at_the_line_that_breaks_them() {
    let ssh = "[[connection]]\nname = \"s\"\nkind = \"ssh\"\naddress = \"h:22\"\nuser = \"u\"\n";
    assert!(
        error_of(&format!("{ssh}password = \"p\"\n"))
            .starts_with("v.toml:1:1: missing field `known_host`"),
    );
    let err = error_of(&format!("{ssh}known_host = \"ssh-ed25519 AAAA\"\n"));
    assert!(
        err.starts_with("v.toml:1:1: an `ssh` connection needs `private_key_file` or `password`"),
        "{err}"
    );
    let err = error_of(&format!(
        "{ssh}known_host = \"ssh-ed25519 AAAA\"\nprivate_key_file = \"k\"\npassword = \"${{SECRET}}\"\n"
    ));
    assert!(
        err.starts_with("v.toml:8:12: give `private_key_file` or `password`, not both"),
        "{err}"
    );
    assert!(!err.contains("hunter2"), "{err}");
    let err = error_of(&format!("{ssh}password = \"p\"\nknown_host = \"AAAA\"\n"));
    assert!(
        err.starts_with("v.toml:7:14: `known_host` must be"),
        "{err}"
    );
    let err = error_of(&format!(
        "{ssh}password = \"p\"\nknown_host = \"k AAAA\"\nrecording = \"sometimes\"\n"
    ));
    assert!(
        err.starts_with("v.toml:8:13: unknown recording mode `sometimes`"),
        "{err}"
    );
    let err = error_of(&format!(
        "{ssh}password = \"p\"\nknown_host = \"k AAAA\"\nsftp = \"write-only\"\n"
    ));
    assert!(
        err.starts_with("v.toml:8:8: unknown sftp mode `write-only`"),
        "{err}"
    );
    let err = error_of(&format!(
        "{ssh}password = \"p\"\nknown_host = \"k AAAA\"\nrecord_input = \"yes\"\n"
    ));
    assert!(err.starts_with("v.toml:8:"), "{err}");
    assert!(err.contains("bool"), "{err}");

    let http = "[[connection]]\nname = \"h\"\nkind = \"http\"\n";
    let err = error_of(&format!("{http}url = \"ftp://x\"\n"));
    assert!(
        err.starts_with("v.toml:4:7: url `ftp://x` is not http(s)"),
        "{err}"
    );
    let err = error_of(&format!("{http}url = \"https://me:${{SECRET}}@x\"\n"));
    assert!(
        err.starts_with("v.toml:4:7: a url must not carry credentials"),
        "{err}"
    );
    assert!(!err.contains("hunter2"), "{err}");
    let err = error_of(&format!(
        "{http}url = \"https://x\"\nbearer = \"t\"\nheader_name = \"X-Key\"\nheader_value = \"v\"\n"
    ));
    assert!(
        err.starts_with("v.toml:6:15: an `http` connection takes one credential"),
        "{err}"
    );
    let err = error_of(&format!(
        "{http}url = \"https://x\"\nbasic_password = \"p\"\n"
    ));
    assert!(
        err.starts_with("v.toml:5:18: `basic_password` needs `basic_user` too"),
        "{err}"
    );
    let err = error_of(&format!(
        "{http}url = \"https://x\"\nmax_response_bytes = 0\n"
    ));
    assert!(
        err.starts_with("v.toml:5:22: `max_response_bytes` must be at least 1"),
        "{err}"
    );
    let err = error_of(&format!(
        "{http}url = \"https://x\"\nheader_name = \"X Key\"\nheader_value = \"v\"\n"
    ));
    assert!(
        err.starts_with("v.toml:5:15: `header_name` `X Key` is not"),
        "{err}"
    );

    let k8s = "[[connection]]\nname = \"k\"\nkind = \"kubernetes\"\nurl = \"https://k:6443\"\n";
    let err = error_of(k8s);
    assert!(
        err.starts_with("v.toml:1:1: a `kubernetes` connection needs `bearer`"),
        "{err}"
    );
    let err = error_of(&format!("{k8s}client_key_file = \"k.key\"\n"));
    assert!(
        err.starts_with("v.toml:5:19: `client_key_file` needs `client_cert_file` too"),
        "{err}"
    );

    let mysql = "[[connection]]\nname = \"m\"\nkind = \"mysql\"\ndatabase = \"d\"\nuser = \"u\"\n";
    let err = error_of(&format!("{mysql}address = \"db\"\n"));
    assert!(
        err.starts_with("v.toml:6:11: address `db` has no port"),
        "{err}"
    );

    let err = error_of(&format!("{mysql}address = \"db:3306\"\nvia = \"\"\n"));
    assert!(
        err.starts_with("v.toml:7:7: `via` must name a connector"),
        "{err}"
    );
}

/// What `vigil serve` runs before anything else; `vigil policy check` does
/// not, so it accepts these files.
#[test]
fn serve_refuses_kinds_without_a_front_end_at_their_kind() {
    let served = [ConnectionKind::Postgres];
    let config = load(EVERY_KIND).unwrap();
    let err = config.check_served(&served).unwrap_err().to_string();
    assert_eq!(
        err,
        "v.toml:4:8: connection `crm`: kind `mysql` is not supported yet by `vigil serve` (it serves: postgres); `vigil policy check` accepts it"
    );
    // Every kind is refused when nothing serves it; a served kind passes.
    for (i, name) in ["crm", "web1", "billing", "prod"].iter().enumerate() {
        let kind = config.connections[i].kind();
        let err = config.check_served(&[]).unwrap_err().to_string();
        assert!(err.contains("is not supported yet"), "{err}");
        let only: Vec<ConnectionKind> = ConnectionKind::ALL
            .iter()
            .copied()
            .filter(|k| *k != kind)
            .collect();
        let err = config.check_served(&only).unwrap_err().to_string();
        assert!(
            err.contains(&format!("connection `{name}`: kind `{kind}`")),
            "{err}"
        );
    }

    // A served kind dialing through a connector is refused at its `via`.
    let via = load(
        "[[connection]]\nname = \"shop\"\nkind = \"postgres\"\naddress = \"h:5432\"\ndatabase = \"d\"\nuser = \"u\"\nvia = \"edge\"\n",
    )
    .unwrap();
    let err = via.check_served(&served).unwrap_err().to_string();
    assert!(
        err.starts_with("v.toml:7:7: connection `shop`: `via = \"edge\"` (dialing through a connector) is not supported yet"),
        "{err}"
    );

    let plain = load(
        "[[connection]]\nname = \"shop\"\nkind = \"postgres\"\naddress = \"h:5432\"\ndatabase = \"d\"\nuser = \"u\"\n",
    )
    .unwrap();
    assert!(plain.check_served(&served).is_ok());
}
