//! The quickstart as a fixture: a private cluster seeded with `examples/quickstart/seed.sql`,
//! a private MariaDB seeded with `examples/quickstart/seed-mariadb.sql`, and a gateway running
//! `examples/quickstart/vigil.toml` in front of them.

use crate::mariadb::MariaDb;
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

/// A private MariaDB with the quickstart's `shop` database and `app` user seeded, as
/// `scripts/demo.sh` seeds it; returns it with the password of `app`.
pub fn seeded_mariadb_shop() -> (MariaDb, String) {
    let db = MariaDb::start();
    let app_password = random_hex(12);
    seed_mariadb(&db, &app_password);
    (db, app_password)
}

/// Runs `seed-mariadb.sql` as root with `@app_password` set first (what the demo pipes in).
pub fn seed_mariadb(db: &MariaDb, app_password: &str) {
    let path = workspace_root().join("examples/quickstart/seed-mariadb.sql");
    let seed = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("could not read {}: {e}", path.display()));
    db.exec(&format!("SET @app_password = '{app_password}';\n{seed}"));
}

/// The quickstart config, as a newcomer gets it.
pub fn quickstart_config() -> String {
    let path = workspace_root().join("examples/quickstart/vigil.toml");
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("could not read {}: {e}", path.display()))
}

/// `vigil serve` with the quickstart config in front of `pg` (from [`seeded_shop`]); its
/// MariaDB connection is left unset, as when a newcomer runs PostgreSQL only.
#[track_caller]
pub fn quickstart_gateway(pg: &PgCluster, app_password: &str) -> Gateway {
    let addr = pg.address();
    Gateway::start(
        &quickstart_config(),
        &[("SHOP_PG_ADDR", &addr), ("SHOP_PG_PASSWORD", app_password)],
    )
}

/// `vigil serve` with the quickstart config in front of `pg` and `db` (from
/// [`seeded_mariadb_shop`]); clients reach MariaDB on [`Gateway::mysql_port`].
#[track_caller]
pub fn quickstart_gateway_with_mariadb(
    pg: &PgCluster,
    pg_password: &str,
    db: &MariaDb,
    db_password: &str,
) -> Gateway {
    let (pg_addr, db_addr) = (pg.address(), db.address());
    Gateway::start(
        &quickstart_config(),
        &[
            ("SHOP_PG_ADDR", &pg_addr),
            ("SHOP_PG_PASSWORD", pg_password),
            ("SHOP_MARIADB_ADDR", &db_addr),
            ("SHOP_MARIADB_PASSWORD", db_password),
        ],
    )
}
