//! The quickstart as a fixture: a private cluster seeded with `examples/quickstart/seed.sql`
//! and a gateway running `examples/quickstart/vigil.toml` in front of it.

use crate::{Gateway, PgCluster, random_hex, workspace_root};

/// A private cluster with the quickstart's `shop` database seeded; returns it with the
/// password of the `app` role (the upstream credential Vigil injects).
pub fn seeded_shop() -> (PgCluster, String) {
    let pg = PgCluster::start();
    let app_password = random_hex(12);
    pg.psql("postgres", "CREATE DATABASE shop");
    pg.psql_file(
        "shop",
        &workspace_root().join("examples/quickstart/seed.sql"),
        &[("app_password", &app_password)],
    );
    (pg, app_password)
}

/// The quickstart config, as a newcomer gets it.
pub fn quickstart_config() -> String {
    let path = workspace_root().join("examples/quickstart/vigil.toml");
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("could not read {}: {e}", path.display()))
}

/// `vigil serve` with the quickstart config in front of `pg` (from [`seeded_shop`]).
#[track_caller]
pub fn quickstart_gateway(pg: &PgCluster, app_password: &str) -> Gateway {
    let addr = pg.address();
    Gateway::start(
        &quickstart_config(),
        &[("SHOP_PG_ADDR", &addr), ("SHOP_PG_PASSWORD", app_password)],
    )
}
