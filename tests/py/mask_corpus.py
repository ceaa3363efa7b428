"""Runs the masking leak corpus through psycopg 3 and dumps everything the client received.

Usage: mask_corpus.py JSON
JSON holds gw_port, user, token (the Vigil token used as the password), queries_file (a JSON
list of SQL strings; a string holding several statements separates them with ";\\n") and
modes (a list of "text" and/or "binary": the result format psycopg asks for).

Nothing is asserted here: the Rust test (tests/tests/mask_leaks.rs) looks for secrets in the
output. For every query and mode, the script prints (as one JSON document on stdout) what the
client saw: the repr of every value of every row (bytes also decoded as latin-1), COPY data
(repr and latin-1), command statuses, every field of an error, and every notice. Rows are
also dumped raw (the bytes of each value as received), and a value psycopg cannot decode as
its column's type (a masking marker in a numeric column) is reported as load_error.
"""

import json
import sys

import psycopg
from psycopg import pq

DIAG_FIELDS = [
    "severity",
    "severity_nonlocalized",
    "sqlstate",
    "message_primary",
    "message_detail",
    "message_hint",
    "statement_position",
    "internal_position",
    "internal_query",
    "context",
    "schema_name",
    "table_name",
    "column_name",
    "datatype_name",
    "constraint_name",
    "source_file",
    "source_line",
    "source_function",
]


def diag_dict(diag):
    out = {}
    for field in DIAG_FIELDS:
        value = getattr(diag, field, None)
        if value is not None:
            out[field] = value
    return out


def connect(cfg, notices):
    conn = psycopg.connect(
        host="127.0.0.1",
        port=cfg["gw_port"],
        dbname="shop",
        user=cfg["user"],
        password=cfg["token"],
        sslmode="disable",
        connect_timeout=10,
        autocommit=True,
    )
    conn.add_notice_handler(lambda d: notices.append(diag_dict(d)))
    return conn


def show(value):
    """The repr of a value; bytes also as latin-1 text, so embedded ASCII stays searchable."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        raw = bytes(value)
        return [repr(raw), raw.decode("latin-1")]
    return repr(value)


def statements(sql):
    return [s for s in sql.split(";\n") if s.strip()]


def run_one(conn, sql, binary):
    out = {"status": [], "rows": []}
    cur = conn.cursor(binary=binary)
    for stmt in statements(sql):
        if stmt.lstrip().upper().startswith("COPY"):
            data = bytearray()
            with cur.copy(stmt) as copy:
                for chunk in copy:
                    data += chunk
            raw = bytes(data)
            out["copy"] = [repr(raw), raw.decode("latin-1")]
            out["status"].append(cur.statusmessage)
            continue
        cur.execute(stmt)
        out["status"].append(cur.statusmessage)
        if cur.description is not None:
            out["columns"] = [c.name for c in cur.description]
            if cur.pgresult is not None:
                out["formats"] = [cur.pgresult.fformat(i) for i in range(cur.pgresult.nfields)]
            res = cur.pgresult
            # What arrived on the wire, value by value (None for NULL).
            out.setdefault("raw", []).extend(
                [show(res.get_value(r, c)) for c in range(res.nfields)] for r in range(res.ntuples)
            )
            # The rows are already here: an error now is psycopg failing to decode a value as
            # its column's type (a masking marker in a numeric column), not a server error.
            try:
                out["rows"].extend([show(v) for v in row] for row in cur.fetchall())
            except Exception as e:
                out["load_error"] = f"{type(e).__name__}: {e}"
    return out


def main():
    cfg = json.loads(sys.argv[1])
    with open(cfg["queries_file"], encoding="utf-8") as f:
        queries = json.load(f)
    notices = []
    conn = connect(cfg, notices)
    results = []
    for mode in cfg["modes"]:
        for i, sql in enumerate(queries):
            before = len(notices)
            entry = {"i": i, "mode": mode}
            try:
                entry["ok"] = run_one(conn, sql, mode == "binary")
            except psycopg.Error as e:
                diag = getattr(e, "diag", None)
                entry["error"] = {
                    "class": type(e).__name__,
                    "sqlstate": getattr(e, "sqlstate", None),
                    "str": str(e),
                    "diag": diag_dict(diag) if diag is not None else {},
                }
            entry["notices"] = notices[before:]
            results.append(entry)
            if conn.closed:
                entry["reconnected"] = True
                conn = connect(cfg, notices)
            elif conn.pgconn.transaction_status != pq.TransactionStatus.IDLE:
                conn.execute("ROLLBACK")
    conn.close()
    print(json.dumps({"results": results}, default=str), flush=True)


if __name__ == "__main__":
    main()
