//! Harness for Vigil's end-to-end tests.
//!
//! Every test starts what it needs itself: a private PostgreSQL ([`PgCluster`]) on a free
//! loopback port in a temp dir, the real `vigil` binary in front of it ([`Gateway`]), and the
//! clients people use (`psql`, psycopg through [`python`]). Everything is stopped in `Drop`,
//! so a failing (panicking) test cleans up too.
//!
//! ```no_run
//! use vigil_e2e::{Gateway, PgCluster, psql_through, stdout};
//!
//! let pg = PgCluster::start();
//! pg.create_role("app", "app-secret");
//! pg.create_database("shop", "app");
//! let config = vigil_e2e::config_with(&format!(
//!     r#"
//! [[connection]]
//! name = "shop"
//! kind = "postgres"
//! address = "127.0.0.1:{}"
//! database = "shop"
//! user = "app"
//! password = "${{SHOP_PG_PASSWORD}}"
//! "#,
//!     pg.port()
//! ));
//! let gw = Gateway::start(&config, &[("SHOP_PG_PASSWORD", "app-secret")]);
//! let token = gw.token("agent-1", &["analysts"], "agent");
//! let out = psql_through(&gw, "shop", &token, "SELECT 1");
//! assert_eq!(stdout(&out), "1");
//! ```

pub mod browser;
mod gateway;
pub mod http_upstream;
pub mod k8s_double;
pub mod mariadb;
pub mod oidc_issuer;
mod pg;
pub mod psycopg_env;
mod python;
pub mod quickstart;
mod rng;
mod sshd;
mod tls;
mod util;
mod wire;
mod wire_session;

pub use gateway::{
    Gateway, config_with, psql_conninfo, psql_through, psql_through_script, vigil_bin,
};
pub use pg::{PgCluster, PgClusterBuilder, pg_bin, pg_bin_dir};
pub use python::{python, python_code, venv_python};
pub use rng::Rng;
pub use sshd::{Sshd, ssh_command, ssh_exec};
pub use tls::{ServerCert, TestCa};
pub use util::{
    assert_failure, assert_success, free_port, is_root, random_hex, stderr, stdout, workspace_root,
};
pub use wire::{PgError, pg_login};
pub use wire_session::{Answer, PgSession};
