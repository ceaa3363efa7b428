//! psycopg 3 (the driver CrewAI tools and most Python agents use) through Vigil: the
//! extended query protocol, parameters and prepared statements pass the same guard as psql.

use vigil_e2e::quickstart::{quickstart_gateway, seeded_shop};
use vigil_e2e::{assert_success, python};

#[test]
fn psycopg_extended_protocol_reads_and_is_denied_like_psql() {
    let (pg, app_password) = seeded_shop();
    let gw = quickstart_gateway(&pg, &app_password);
    let token = gw.token("psycopg-agent", &["analysts"], "agent");
    let port = gw.pg_port().to_string();

    let out = python("py/psycopg_client.py", &[&port, &token]);
    let json = assert_success(&out, "py/psycopg_client.py");

    assert!(json.contains(r#""param_read": "Grace Hopper""#), "{json}");
    let expected_counts = pg.psql(
        "shop",
        "SELECT string_agg(n::text, ', ' ORDER BY c) FROM \
         (SELECT c, (SELECT count(*) FROM orders WHERE customer_id = c) AS n \
          FROM generate_series(1, 3) AS c) AS t",
    );
    assert!(
        json.contains(&format!(r#""prepared_counts": [{expected_counts}]"#)),
        "expected counts [{expected_counts}] in {json}"
    );
    assert!(json.contains(r#""sqlstate": "42501""#), "{json}");
    assert!(json.contains("vigil: denied by rule 'no-drops'"), "{json}");
    assert!(json.contains(r#""after_denial": 42"#), "{json}");
    assert_eq!(pg.psql("shop", "SELECT count(*) FROM customers"), "20");
}
