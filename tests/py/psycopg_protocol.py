"""psycopg 3 through Vigil: the PostgreSQL protocol features a Python agent uses.

Usage: psycopg_protocol.py SCENARIO JSON   (see psycopg_common.py)
Each scenario asserts its own expectations and prints a JSON summary.
"""

import psycopg
from psycopg import errors
from psycopg.pq import Format

from psycopg_common import (
    ScenarioFailed,
    check,
    describe_error,
    direct,
    gateway,
    main,
)


def simple_and_extended(cfg):
    """Reads with parameters in the simple protocol (ClientCursor) and the extended one."""
    out = {}
    with gateway(cfg, "agent") as gw, direct(cfg) as db:
        query = "SELECT id, name, price FROM items WHERE id = %s OR name = %s ORDER BY id"
        params = (3, "item 7")
        expected = db.execute(query, params).fetchall()
        check(len(expected) == 2, f"direct read returned {expected}")

        simple = psycopg.ClientCursor(gw)
        simple.execute(query, params)
        got_simple = simple.fetchall()
        check(got_simple == expected, f"simple protocol: {got_simple} != direct {expected}")
        # A ClientCursor merges the parameters into the text: the server saw a literal.
        check("'item 7'" in simple._query.query.decode(), "ClientCursor did not inline params")

        got_extended = gw.cursor().execute(query, params).fetchall()
        check(got_extended == expected, f"extended protocol: {got_extended} != {expected}")

        # Text with quotes and non-ASCII through both protocols, round-tripped as a parameter.
        tricky = "O'Brien — ünïcode; DROP TABLE items; --"
        check(
            psycopg.ClientCursor(gw).execute("SELECT %s::text", (tricky,)).fetchone()[0] == tricky,
            "simple protocol mangled a quoted parameter",
        )
        check(
            gw.execute("SELECT %s::text", (tricky,)).fetchone()[0] == tricky,
            "extended protocol mangled a parameter",
        )
        out["simple"] = got_simple
        out["extended"] = got_extended
    return out


BINARY_QUERY = """
SELECT 42::int4 AS i4,
       -9000000000::int8 AS i8,
       'héllo wörld'::text AS txt,
       12345.6789::numeric AS num,
       '2024-02-29 12:34:56.789+02'::timestamptz AS ts,
       '\\x00ff10deadbeef'::bytea AS bin,
       ARRAY[1, 2, NULL, 4]::int4[] AS ints,
       ARRAY['a', 'b c', NULL]::text[] AS texts,
       ARRAY[1.5, 2.25]::numeric[] AS nums,
       NULL::int4 AS nothing
"""


def binary_results(cfg):
    """Binary-format results equal a direct connection's, type by type."""
    with gateway(cfg, "agent") as gw, direct(cfg) as db:
        cur = db.cursor(binary=True)
        expected = cur.execute(BINARY_QUERY).fetchone()
        names = [c.name for c in cur.description]

        gcur = gw.cursor()
        got = gcur.execute(BINARY_QUERY, binary=True).fetchone()
        formats = [gcur.pgresult.fformat(i) for i in range(gcur.pgresult.nfields)]
        check(
            all(f == Format.BINARY for f in formats),
            f"the gateway's result was not in binary format: {formats}",
        )
        for name, want, have in zip(names, expected, got):
            check(want == have, f"binary column {name}: gateway {have!r} != direct {want!r}")

        # The same through the gateway in text format.
        text = gw.execute(BINARY_QUERY).fetchone()
        check(tuple(text) == tuple(expected), f"text format {text} != binary {expected}")

        # Binary results of a parameterised read from a table.
        q = "SELECT id, name, price FROM items WHERE id BETWEEN %s AND %s ORDER BY id"
        rows_gw = gw.cursor().execute(q, (5, 15), binary=True).fetchall()
        rows_db = db.cursor().execute(q, (5, 15), binary=True).fetchall()
        check(rows_gw == rows_db and len(rows_gw) == 11, f"{rows_gw} != {rows_db}")
    return {"columns": names, "values": list(got)}


def named_cursor(cfg):
    """A server-side cursor fetches 10,000 rows in batches inside a transaction."""
    who = cfg.get("who", "agent")
    batches = []
    total = 0
    checksum = 0
    with gateway(cfg, who, autocommit=False) as gw:
        with gw.transaction():
            with gw.cursor("big_cursor") as cur:
                cur.execute(
                    "SELECT g, 'row ' || g FROM generate_series(1, %s) AS g ORDER BY g",
                    (10000,),
                )
                while True:
                    rows = cur.fetchmany(1000)
                    if not rows:
                        break
                    batches.append(len(rows))
                    for n, s in rows:
                        check(s == f"row {n}", f"row {n} came back as {s!r}")
                        checksum += n
                    total += len(rows)
                check(
                    gw.info.transaction_status == psycopg.pq.TransactionStatus.INTRANS,
                    f"not inside a transaction: {gw.info.transaction_status!r}",
                )
        check(total == 10000, f"fetched {total} rows, not 10000")
        check(checksum == 10000 * 10001 // 2, f"checksum {checksum}")
        check(len(batches) == 10 and set(batches) == {1000}, f"batches {batches}")
        # itersize: iterating fetches in batches as well.
        with gw.transaction():
            with gw.cursor("iter_cursor") as cur:
                cur.itersize = 777
                cur.execute("SELECT g FROM generate_series(1, 10000) AS g")
                n = sum(1 for _ in cur)
        check(n == 10000, f"iterating a named cursor gave {n} rows")
        check(gw.execute("SELECT 1").fetchone()[0] == 1, "session unusable afterwards")
    return {"rows": total, "batches": batches}


def pipeline20(cfg):
    """A pipeline of 20 statements: results arrive in order."""
    with gateway(cfg, "agent") as gw:
        with gw.pipeline():
            cursors = [
                gw.cursor().execute("SELECT %s::int * 2, %s::text", (i, f"s{i}"))
                for i in range(20)
            ]
        got = [c.fetchone() for c in cursors]
        want = [(i * 2, f"s{i}") for i in range(20)]
        check(got == want, f"pipeline results out of order or wrong: {got}")
        # A mixed pipeline: simple table reads interleaved with parameterised ones.
        with gw.pipeline():
            a = gw.execute("SELECT count(*) FROM items")
            b = gw.execute("SELECT name FROM items WHERE id = %s", (9,))
            c = gw.execute("SELECT max(id) FROM items")
        mixed = [a.fetchone()[0], b.fetchone()[0], c.fetchone()[0]]
        check(mixed == [50, "item 9", 50], f"mixed pipeline: {mixed}")
    return {"results": got}


def run_pipeline_with_failure(conn, bad_sql, good=lambda i: ("SELECT %s::int", (i,))):
    """Ten statements in one pipeline, the 5th is `bad_sql`, the others `good(i)`. Returns
    what each cursor gave ("row:N", or "none" when it has no result) and the first error
    the pipeline raised (psycopg raises it at whichever later call first sees it, so where
    it is raised depends on timing; PipelineAborted follows it)."""
    cursors = []
    raised = []

    def attempt(fn):
        try:
            fn()
        except psycopg.Error as e:
            raised.append(e)

    try:
        with conn.pipeline():
            for i in range(10):
                cur = conn.cursor()
                cursors.append(cur)
                if i == 4:
                    attempt(lambda: cur.execute(bad_sql))
                else:
                    attempt(lambda: cur.execute(*good(i)))
    except psycopg.Error as e:
        raised.append(e)
    outcomes = []
    for cur in cursors:
        try:
            outcomes.append(f"row:{cur.fetchone()[0]}")
        except psycopg.Error:
            outcomes.append("none")
    first = next((e for e in raised if not isinstance(e, errors.PipelineAborted)), None)
    return outcomes, first


def pipeline_denied(cfg):
    """The 5th of 10 pipelined statements is denied: exactly like a server error there."""
    with direct(cfg) as db:
        ref_outcomes, ref_raised = run_pipeline_with_failure(db, "SELECT 1 / 0")
    with gateway(cfg, "agent") as gw:
        outcomes, raised = run_pipeline_with_failure(gw, "SELECT secret FROM forbidden")
        check(raised is not None, f"the denied pipeline raised nothing; outcomes {outcomes}")
        check(
            isinstance(raised, errors.InsufficientPrivilege),
            f"the pipeline raised {describe_error(raised)}, not InsufficientPrivilege",
        )
        msg = raised.diag.message_primary or ""
        check(msg.startswith("vigil: denied by rule 'no-forbidden'"), f"message {msg!r}")
        check(
            outcomes[:4] == ["row:0", "row:1", "row:2", "row:3"],
            f"the first 4 results did not arrive: {outcomes}",
        )
        # Same results as with a server error at the same place.
        check(
            isinstance(ref_raised, errors.DivisionByZero),
            f"the reference pipeline raised {ref_raised!r}",
        )
        check(
            outcomes == ref_outcomes,
            f"after a denial the pipeline gave {outcomes}; after a server error {ref_outcomes}",
        )
        check(
            outcomes[4:] == ["none"] * 6,
            f"statements after the denied one ran: {outcomes}",
        )
        check(
            gw.info.transaction_status == psycopg.pq.TransactionStatus.IDLE,
            f"transaction status after the pipeline: {gw.info.transaction_status!r}",
        )
        after = gw.execute("SELECT %s::int + 1", (41,)).fetchone()[0]
        check(after == 42, f"the session is not usable afterwards: {after}")
        with gw.pipeline():
            again = gw.execute("SELECT 'still here'")
        check(again.fetchone()[0] == "still here", "a new pipeline failed")
    # With writes around it (admin): as after a server error, the statements after the
    # denied one are skipped and the implicit transaction of the pipeline rolls back.
    def insert(prefix):
        return lambda i: ("INSERT INTO log (note) VALUES (%s) RETURNING id", (f"{prefix}-{i}",))

    with direct(cfg) as db:
        ref_w, _ = run_pipeline_with_failure(db, "SELECT 1 / 0", insert("direct-pipe"))
        with gateway(cfg, "admin") as gw:
            gw_w, raised_w = run_pipeline_with_failure(
                gw, "SELECT secret FROM forbidden", insert("gw-pipe")
            )
            check(
                isinstance(raised_w, errors.InsufficientPrivilege),
                f"the admin pipeline raised {raised_w!r}",
            )
            shape = lambda outcomes: [o if o == "none" else "row" for o in outcomes]  # noqa: E731
            check(
                shape(gw_w) == shape(ref_w),
                f"writes: denial gave {gw_w}, server error gave {ref_w}",
            )
            check(gw.execute("SELECT 1").fetchone()[0] == 1, "admin session unusable")
        count = "SELECT count(*) FROM log WHERE note LIKE %s"
        n_ref = db.execute(count, ("direct-pipe-%",)).fetchone()[0]
        n_gw = db.execute(count, ("gw-pipe-%",)).fetchone()[0]
        late = db.execute(
            "SELECT count(*) FROM log WHERE note IN ('gw-pipe-5', 'gw-pipe-9')"
        ).fetchone()[0]
        check(late == 0, "statements after the denied one reached PostgreSQL")
        check(
            n_gw == n_ref,
            f"{n_gw} rows of the denied pipeline were kept, {n_ref} after a server error",
        )
    return {
        "outcomes": outcomes,
        "direct_outcomes": ref_outcomes,
        "write_outcomes": gw_w,
        "direct_write_outcomes": ref_w,
        "rows_kept": n_gw,
        "raised": describe_error(raised),
        "after": after,
    }


def run_synced_pipeline(conn, bad):
    """Three batches in one pipeline, separated by sync(): the 1st and 2nd hold a failing
    statement (`bad(n)`), the 3rd none. Returns a trace of what was raised where and what
    each cursor gave."""
    trace = []
    batches = [[], [], []]

    def step(label, fn):
        try:
            fn()
        except psycopg.Error as e:
            trace.append(f"{label} raised {type(e).__name__}:{e.sqlstate}")

    try:
        with conn.pipeline() as p:
            for b in range(3):
                for i in range(3):
                    step(
                        f"b{b} execute {i}",
                        lambda: batches[b].append(
                            conn.cursor().execute("SELECT %s::int", (b * 10 + i,))
                        ),
                    )
                if b < 2:
                    step(f"b{b} execute bad", lambda: conn.execute(*bad(b)))
                    step(f"b{b} after bad", lambda: batches[b].append(conn.execute("SELECT 99")))
                step(f"b{b} sync", p.sync)
    except psycopg.Error as e:
        trace.append(f"exit raised {type(e).__name__}:{e.sqlstate}")
    for b, curs in enumerate(batches):
        for cur in curs:
            try:
                trace.append(f"b{b} row:{cur.fetchone()[0]}")
            except psycopg.Error as e:
                trace.append(f"b{b} {type(e).__name__}")
    return trace


def pipeline_semantics(trace):
    """What does not depend on timing: which errors each batch raised (psycopg raises a
    batch's error at whichever later call first sees it, and PipelineAborted after it) and
    which rows came back."""
    out = {}
    for b in range(3):
        errs = sorted(
            {
                t.split(" raised ")[1]
                for t in trace
                if t.startswith(f"b{b} ") and " raised " in t and "PipelineAborted" not in t
            }
        )
        rows = [t.split(" ")[1] for t in trace if t.startswith(f"b{b} row:")]
        out[f"b{b}"] = {"errors": errs, "rows": rows}
    return out


def pipeline_denials_across_syncs(cfg):
    """Denials in two sync batches of one pipeline each abort only their own batch, with
    their own message; the third batch runs. Compared with server errors at the same places."""
    with direct(cfg) as db:
        ref = run_synced_pipeline(db, lambda b: ("SELECT %s::int / 0", (b,)))
    with gateway(cfg, "agent") as gw:
        got = run_synced_pipeline(
            gw, lambda b: ("SELECT secret FROM forbidden WHERE id = %s", (b,))
        )
        norm_ref = str(pipeline_semantics(ref)).replace("DivisionByZero:22012", "ERR")
        norm_got = str(pipeline_semantics(got)).replace("InsufficientPrivilege:42501", "ERR")
        check(
            norm_got == norm_ref,
            f"with denials the pipeline gave\n  {got}\nwith server errors\n  {ref}",
        )
        check(
            any("InsufficientPrivilege:42501" in t for t in got),
            f"no denial was raised: {got}",
        )
        sem = pipeline_semantics(got)
        check(sem["b0"]["rows"] == ["row:0", "row:1", "row:2"], f"batch 0: {sem}")
        check(sem["b1"]["rows"] == ["row:10", "row:11", "row:12"], f"batch 1: {sem}")
        check(sem["b2"] == {"errors": [], "rows": ["row:20", "row:21", "row:22"]}, f"{sem}")
        check(gw.execute("SELECT 1").fetchone()[0] == 1, "session unusable afterwards")
    return {"trace": got, "direct_trace": ref}


def prepared(cfg):
    """A statement prepared once (prepare=True) and executed 10 times."""
    with gateway(cfg, "admin") as gw:
        names = [
            gw.execute("SELECT name FROM items WHERE id = %s", (i,), prepare=True).fetchone()[0]
            for i in range(1, 11)
        ]
        check(names == [f"item {i}" for i in range(1, 11)], f"prepared results {names}")
        stmts = gw.execute(
            "SELECT name, statement FROM pg_prepared_statements ORDER BY name"
        ).fetchall()
        ours = [s for s in stmts if "FROM items WHERE id" in s[1]]
        check(len(ours) == 1, f"expected one server-side prepared statement, got {stmts}")
        check(ours[0][0].startswith("_pg3_"), f"not a psycopg named statement: {ours}")
    return {"names": names, "prepared": ours}


def executemany(cfg):
    """executemany of an INSERT (admin), with and without RETURNING."""
    rows = [(f"many-{i}",) for i in range(200)]
    with gateway(cfg, "admin") as gw:
        cur = gw.cursor()
        cur.executemany("INSERT INTO log (note) VALUES (%s)", rows)
        check(cur.rowcount == 200, f"rowcount {cur.rowcount}")
        cur.executemany(
            "INSERT INTO log (note) VALUES (%s) RETURNING note",
            [(f"ret-{i}",) for i in range(10)],
            returning=True,
        )
        returned = []
        while True:
            returned.append(cur.fetchone()[0])
            if not cur.nextset():
                break
        check(returned == [f"ret-{i}" for i in range(10)], f"RETURNING gave {returned}")
        n = gw.execute("SELECT count(*) FROM log WHERE note LIKE 'many-%'").fetchone()[0]
        check(n == 200, f"{n} rows inserted, not 200")
    return {"inserted": 200, "returned": returned}


def copy_both_ways(cfg):
    """COPY t FROM STDIN with 10,000 rows, then COPY t TO STDOUT reads them back."""
    with gateway(cfg, "admin") as gw:
        cur = gw.cursor()
        with cur.copy("COPY t (n, s) FROM STDIN") as copy:
            for i in range(10000):
                copy.write_row((i, f"copied {i}\twith tab" if i % 1000 == 0 else f"copied {i}"))
        check(cur.rowcount == 10000, f"COPY FROM reported {cur.rowcount} rows")
        back = []
        with cur.copy("COPY t (n, s) TO STDOUT") as copy:
            copy.set_types(["int4", "text"])
            for row in copy.rows():
                back.append(row)
        check(len(back) == 10000, f"COPY TO returned {len(back)} rows")
        back.sort()
        for i, (n, s) in enumerate(back):
            want = f"copied {i}\twith tab" if i % 1000 == 0 else f"copied {i}"
            check((n, s) == (i, want), f"row {i} came back as {(n, s)!r}")
        # The raw text stream too (no row parsing).
        raw = bytearray()
        with cur.copy("COPY (SELECT n FROM t WHERE n < 5 ORDER BY n) TO STDOUT") as copy:
            for chunk in copy:
                raw += chunk
        check(bytes(raw) == b"0\n1\n2\n3\n4\n", f"raw COPY TO gave {bytes(raw)!r}")
        check(gw.execute("SELECT count(*) FROM t").fetchone()[0] == 10000, "count after COPY")
        # Binary COPY both ways: out of t, into t again, then compared.
        binary_rows = []
        with cur.copy("COPY t (n, s) TO STDOUT (FORMAT BINARY)") as copy:
            copy.set_types(["int4", "text"])
            binary_rows = list(copy.rows())
        check(sorted(binary_rows) == back, "binary COPY TO differs from text COPY TO")
        with cur.copy("COPY t (n, s) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(["int4", "text"])
            for n, s in sorted(binary_rows)[:500]:
                copy.write_row((n + 100000, s))
        check(cur.rowcount == 500, f"binary COPY FROM reported {cur.rowcount} rows")
        n = gw.execute("SELECT count(*) FROM t WHERE n >= 100000").fetchone()[0]
        check(n == 500, f"binary COPY FROM stored {n} rows")
    return {"rows": len(back), "binary_rows": len(binary_rows)}


def listen_notify(cfg):
    """LISTEN in one gateway session, NOTIFY from another: the payload arrives."""
    with gateway(cfg, "admin") as listener, gateway(cfg, "admin") as sender:
        listener.execute("LISTEN vigil_e2e_channel")
        sender.execute("NOTIFY vigil_e2e_channel, 'payload-from-notify'")
        sender.execute("SELECT pg_notify('vigil_e2e_channel', %s)", ("payload-from-function",))
        got = []
        for n in listener.notifies(timeout=10, stop_after=2):
            got.append({"channel": n.channel, "payload": n.payload, "pid": n.pid})
        check(len(got) == 2, f"expected 2 notifications within 10 s, got {got}")
        payloads = [g["payload"] for g in got]
        check(
            payloads == ["payload-from-notify", "payload-from-function"],
            f"payloads {payloads}",
        )
        check(all(g["channel"] == "vigil_e2e_channel" for g in got), f"channels {got}")
        check(listener.execute("SELECT 1").fetchone()[0] == 1, "listener unusable afterwards")
    return {"notifications": got}


def notice(cfg):
    """A server NOTICE reaches the client's notice handler."""
    notices = []
    with gateway(cfg, "admin") as gw:
        gw.add_notice_handler(
            lambda d: notices.append(
                {"severity": d.severity_nonlocalized, "message": d.message_primary}
            )
        )
        gw.execute("DO $$BEGIN RAISE NOTICE 'hi'; END$$")
        check(
            {"severity": "NOTICE", "message": "hi"} in notices,
            f"the notice did not reach the handler: {notices}",
        )
        gw.execute("DO $$BEGIN RAISE WARNING 'careful %', 42; END$$")
        check(
            {"severity": "WARNING", "message": "careful 42"} in notices,
            f"the warning did not reach the handler: {notices}",
        )
        check(gw.execute("SELECT 1").fetchone()[0] == 1, "session unusable after notices")
    return {"notices": notices}


def server_error(cfg):
    """A server error keeps its own SQLSTATE and the session goes on (both protocols)."""
    seen = []
    with gateway(cfg, "agent") as gw:
        for label, run in [
            ("simple", lambda: psycopg.ClientCursor(gw).execute("SELECT 1 / 0")),
            ("extended", lambda: gw.execute("SELECT %s::int / 0", (1,))),
        ]:
            try:
                run()
                raise ScenarioFailed(f"{label}: division by zero did not fail")
            except errors.DivisionByZero as e:
                d = describe_error(e)
                check(d["sqlstate"] == "22012", f"{label}: {d}")
                check(d["message"] == "division by zero", f"{label}: {d}")
                seen.append(d)
            except psycopg.Error as e:
                raise ScenarioFailed(f"{label}: expected DivisionByZero, got {describe_error(e)}")
            after = gw.execute("SELECT %s::int", (7,)).fetchone()[0]
            check(after == 7, f"{label}: session unusable after the error")
    return {"errors": seen}


if __name__ == "__main__":
    main(
        {
            "simple_and_extended": simple_and_extended,
            "binary_results": binary_results,
            "named_cursor": named_cursor,
            "named_cursor_admin": lambda cfg: named_cursor({**cfg, "who": "admin"}),
            "pipeline20": pipeline20,
            "pipeline_denied": pipeline_denied,
            "pipeline_denials_across_syncs": pipeline_denials_across_syncs,
            "prepared": prepared,
            "executemany": executemany,
            "copy_both_ways": copy_both_ways,
            "listen_notify": listen_notify,
            "notice": notice,
            "server_error": server_error,
        }
    )
