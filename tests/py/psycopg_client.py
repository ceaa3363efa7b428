"""psycopg 3 through Vigil: extended query protocol, parameters, prepared statements.

Usage: psycopg_client.py PORT TOKEN
Prints one JSON object with what it saw; exits 0 unless the connection itself fails.
"""

import json
import sys

import psycopg

port, token = sys.argv[1], sys.argv[2]
result = {}
with psycopg.connect(
    host="127.0.0.1",
    port=port,
    dbname="shop",
    user="psycopg-agent",
    password=token,
    sslmode="disable",
    autocommit=True,
    connect_timeout=10,
) as conn:
    # Parameters force the extended protocol (Parse/Bind/Execute).
    row = conn.execute(
        "SELECT name FROM customers WHERE id = %s", (2,)
    ).fetchone()
    result["param_read"] = row[0]

    # prepare=True makes psycopg use a named prepared statement.
    counts = [
        conn.execute(
            "SELECT count(*) FROM orders WHERE customer_id = %s", (cid,), prepare=True
        ).fetchone()[0]
        for cid in (1, 2, 3)
    ]
    result["prepared_counts"] = counts

    try:
        conn.execute("DROP TABLE customers")
        result["drop"] = "allowed"
    except psycopg.Error as e:
        result["drop"] = {"sqlstate": e.sqlstate, "message": str(e).strip()}

    # The session stays usable after a denial.
    result["after_denial"] = conn.execute("SELECT 1 + %s", (41,)).fetchone()[0]

print(json.dumps(result))
