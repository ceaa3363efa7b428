"""psycopg 3 through Vigil: the gateway's invariants as a Python agent meets them.

Usage: psycopg_invariants.py SCENARIO JSON   (see psycopg_common.py)
Each scenario asserts its own expectations and prints a JSON summary. `drain_idle` talks
with the test: it prints "ready", waits for a line on stdin, then checks its next query.
"""

import os
import sys
import threading
import time

import psycopg
from psycopg import errors
from psycopg.pq import TransactionStatus

from psycopg_common import (
    ScenarioFailed,
    check,
    describe_error,
    direct,
    expect_denied,
    gateway,
    main,
)


def usable_after_refusal(cfg):
    """After a refused statement the session goes on, in both protocols, many times over."""
    out = {}
    with gateway(cfg, "agent") as gw:
        simple = psycopg.ClientCursor(gw)
        for round_ in range(3):
            out["simple"] = expect_denied(
                lambda: simple.execute("SELECT secret FROM forbidden"), "simple protocol"
            )
            got = simple.execute("SELECT name FROM items WHERE id = %s", (round_ + 1,)).fetchone()
            check(got == (f"item {round_ + 1}",), f"simple protocol after a refusal: {got}")

            out["extended"] = expect_denied(
                lambda: gw.execute("SELECT secret FROM forbidden WHERE id = %s", (1,)),
                "extended protocol",
            )
            got = gw.execute("SELECT name FROM items WHERE id = %s", (round_ + 2,)).fetchone()
            check(got == (f"item {round_ + 2}",), f"extended protocol after a refusal: {got}")

            # A write is refused for an agent by default deny (no rule allows it).
            try:
                gw.execute("UPDATE items SET price = 0 WHERE id = %s", (1,))
                raise ScenarioFailed("an agent's UPDATE was not refused")
            except errors.InsufficientPrivilege as e:
                check("vigil: denied" in str(e), f"unexpected refusal text {e}")
            check(
                gw.info.transaction_status == TransactionStatus.IDLE,
                f"transaction status after refusals: {gw.info.transaction_status!r}",
            )
        # Mixed: simple then extended right after each other, then a plain read.
        expect_denied(lambda: simple.execute("SELECT * FROM forbidden"), "simple again")
        expect_denied(lambda: gw.execute("SELECT * FROM forbidden", prepare=True), "prepared")
        check(gw.execute("SELECT count(*) FROM items").fetchone()[0] == 50, "final read")
    return out


def refusal_in_transaction(cfg):
    """A refusal inside a transaction block aborts it like a server error: INERROR, and
    COMMIT rolls back the earlier INSERT. Done for both protocols and, for reference, with
    a real server error on a direct connection."""
    out = {}
    markers = {}
    for label in ("simple", "extended", "direct-server-error"):
        marker = f"txn-{label}-{time.time_ns()}"
        markers[label] = marker
        conn = direct(cfg, autocommit=False) if label.startswith("direct") else gateway(
            cfg, "admin", autocommit=False
        )
        with conn:
            cur = psycopg.ClientCursor(conn) if label == "simple" else conn.cursor()
            cur.execute("INSERT INTO log (note) VALUES (%s)", (marker,))
            check(
                conn.info.transaction_status == TransactionStatus.INTRANS,
                f"{label}: not in a transaction after INSERT: {conn.info.transaction_status!r}",
            )
            if label.startswith("direct"):
                try:
                    cur.execute("SELECT 1 / 0")
                    raise ScenarioFailed("1/0 did not fail")
                except errors.DivisionByZero:
                    pass
            else:
                out[label] = expect_denied(
                    lambda: cur.execute("SELECT secret FROM forbidden WHERE id = %s", (1,)),
                    f"{label} refusal in a transaction",
                )
            status = conn.info.transaction_status
            check(
                status == TransactionStatus.INERROR,
                f"{label}: transaction status after the error is {status!r}, not INERROR",
            )
            # Further statements are refused by the server as in any aborted transaction.
            try:
                cur.execute("SELECT 1")
                raise ScenarioFailed(f"{label}: a statement ran in an aborted transaction")
            except errors.InFailedSqlTransaction:
                pass
            conn.commit()  # the server answers ROLLBACK
            check(
                conn.info.transaction_status == TransactionStatus.IDLE,
                f"{label}: after COMMIT: {conn.info.transaction_status!r}",
            )
            check(cur.execute("SELECT 1").fetchone()[0] == 1, f"{label}: unusable after COMMIT")
            conn.commit()
    with direct(cfg) as db:
        for label, marker in markers.items():
            n = db.execute("SELECT count(*) FROM log WHERE note = %s", (marker,)).fetchone()[0]
            check(n == 0, f"{label}: the INSERT before the error was committed ({marker})")
    out["markers"] = markers
    return out


def refused_named_parse(cfg):
    """A refused Parse of a named prepared statement, then other statements work."""
    out = {}
    with gateway(cfg, "admin") as gw:
        # At the libpq level: PQprepare of a named statement the policy refuses.
        pgconn = gw.pgconn
        res = pgconn.prepare(b"denied_stmt", b"SELECT secret FROM forbidden WHERE id = $1")
        check(
            res.status == psycopg.pq.ExecStatus.FATAL_ERROR,
            f"the refused Parse came back as {res.status!r}",
        )
        sqlstate = res.error_field(psycopg.pq.DiagnosticField.SQLSTATE)
        message = res.error_field(psycopg.pq.DiagnosticField.MESSAGE_PRIMARY) or b""
        check(sqlstate == b"42501", f"refused Parse SQLSTATE {sqlstate!r}")
        check(message.startswith(b"vigil: denied by rule 'no-forbidden'"), f"{message!r}")
        out["refused_parse"] = message.decode()

        res = pgconn.prepare(b"ok_stmt", b"SELECT name FROM items WHERE id = $1")
        check(
            res.status == psycopg.pq.ExecStatus.COMMAND_OK,
            f"preparing another statement failed: {res.error_message!r}",
        )
        for i in (4, 5, 6):
            res = pgconn.exec_prepared(b"ok_stmt", [str(i).encode()])
            check(
                res.status == psycopg.pq.ExecStatus.TUPLES_OK,
                f"executing the other statement failed: {res.error_message!r}",
            )
            check(res.get_value(0, 0) == f"item {i}".encode(), f"{res.get_value(0, 0)!r}")

        # The refused name was never prepared: executing it fails, and nothing is read.
        res = pgconn.exec_prepared(b"denied_stmt", [b"1"])
        check(
            res.status == psycopg.pq.ExecStatus.FATAL_ERROR,
            f"executing the refused statement gave {res.status!r}",
        )
        check(res.ntuples == 0, "the refused statement returned rows")
        out["execute_refused_name"] = (res.error_message or b"").decode().strip()

        # Through psycopg's own prepared statements (prepare=True names them _pg3_N).
        expect_denied(
            lambda: gw.execute("SELECT secret FROM forbidden WHERE id = %s", (1,), prepare=True),
            "prepare=True of a refused statement",
        )
        names = [
            gw.execute("SELECT name FROM items WHERE id = %s", (i,), prepare=True).fetchone()[0]
            for i in range(1, 6)
        ]
        check(names == [f"item {i}" for i in range(1, 6)], f"prepared after refusal: {names}")
        out["after"] = names
        prepared = gw.execute("SELECT name FROM pg_prepared_statements ORDER BY name").fetchall()
        check(("denied_stmt",) not in prepared, f"the refused statement exists: {prepared}")
        out["prepared"] = prepared
    return out


def cancel(cfg):
    """conn.cancel_safe() from a thread stops SELECT pg_sleep(30) quickly; the session goes on.
    Then the same with the blocking conn.cancel() and the extended protocol."""
    timings = {}
    with gateway(cfg, "admin") as gw:
        for label, how, sql, params in [
            ("cancel_safe/simple", "cancel_safe", "SELECT pg_sleep(30)", None),
            ("cancel/extended", "cancel", "SELECT pg_sleep(%s)", (30,)),
        ]:
            def canceller():
                time.sleep(1)
                getattr(gw, how)()

            thread = threading.Thread(target=canceller)
            start = time.monotonic()
            thread.start()
            try:
                gw.execute(sql, params)
                raise ScenarioFailed(f"{label}: pg_sleep(30) was not cancelled")
            except errors.QueryCanceled as e:
                elapsed = time.monotonic() - start
                check(e.sqlstate == "57014", f"{label}: {describe_error(e)}")
            except psycopg.Error as e:
                raise ScenarioFailed(f"{label}: expected QueryCanceled, got {describe_error(e)}")
            finally:
                thread.join()
            check(elapsed < 5, f"{label}: the cancel took {elapsed:.1f} s")
            timings[label] = round(elapsed, 2)
            check(gw.execute("SELECT %s::int", (5,)).fetchone()[0] == 5, f"{label}: unusable")
    return {"elapsed": timings}


def cancel_key(cfg):
    """The backend key the client got holds the target's pid (as a direct connection's
    does) and a secret of the gateway's own: the same key sent straight to the target
    cancels nothing there."""
    from pg_transparency import RawSession, timed_sleep

    with gateway(cfg, "admin") as gw:
        client_pid = gw.info.backend_pid
        upstream_pid = gw.execute("SELECT pg_backend_pid()").fetchone()[0]
        check(client_pid != 0, "the client got no backend key")
        check(
            client_pid == upstream_pid,
            f"the client's backend pid {client_pid} is not the target's {upstream_pid}",
        )
        with direct(cfg) as db:
            pids = [r[0] for r in db.execute("SELECT pid FROM pg_stat_activity").fetchall()]
        check(upstream_pid in pids, f"the upstream pid {upstream_pid} is not in {pids}")
    # psycopg keeps the secret to itself; a raw session shows it.
    raw = RawSession(cfg["gw_port"], "e2e-admin", cfg["admin"])
    try:
        pid, secret = raw.key
        elapsed, code = timed_sleep(raw, 1.5, [(cfg["pg_port"], pid, secret)])
        check(code is None, f"the gateway's key cancelled on the target itself ({code})")
        check(elapsed >= 1.4, f"pg_sleep(1.5) ended after {elapsed:.1f} s")
    finally:
        raw.close()
    return {"client_pid": client_pid, "upstream_pid": upstream_pid}


def ledger_fail_closed(cfg):
    """While the ledger refuses writes, an admin INSERT is refused and never reaches the
    target; the error says the ledger is unavailable and holds no secret."""
    marker = f"ledger-down-{time.time_ns()}"
    out = {"marker": marker}
    with gateway(cfg, "admin") as gw:
        check(gw.execute("SELECT 1").fetchone()[0] == 1, "the session does not work")
        set_ledger_failing(cfg, True)
        secrets = [cfg["app_password"], cfg["admin"], cfg["agent"], cfg["superuser_password"]]
        for label, run in [
            ("extended", lambda: gw.execute("INSERT INTO log (note) VALUES (%s)", (marker,))),
            (
                "simple",
                lambda: psycopg.ClientCursor(gw).execute(
                    "INSERT INTO log (note) VALUES (%s)", (marker + "-simple",)
                ),
            ),
        ]:
            try:
                run()
                raise ScenarioFailed(f"{label}: the INSERT succeeded with the ledger down")
            except psycopg.Error as e:
                d = describe_error(e)
                # A dropped connection would be fail-closed too, but is not the contract.
                check(not (gw.closed or gw.broken), f"{label}: the connection failed: {d}")
                full = str(e)
                out[label] = d
                check(
                    "ledger" in full.lower() and "unavailable" in full.lower(),
                    f"{label}: the error does not say the ledger is unavailable: {d}",
                )
                for s in secrets:
                    check(s not in full, f"{label}: a secret appears in the error: {full!r}")
            if gw.info.transaction_status == TransactionStatus.INERROR:
                gw.rollback()
        with direct(cfg) as d:
            n = d.execute(
                "SELECT count(*) FROM log WHERE note LIKE %s", (marker + "%",)
            ).fetchone()[0]
        check(n == 0, f"{n} rows of the refused INSERT reached the target")
    return out


def set_ledger_failing(cfg, on):
    """Makes the gateway's ledger writes fail (or work again): the gateway watches this file
    (VIGIL_TEST_LEDGER_FAILPOINT) and fails every write while it exists, as on a full disk."""
    path = cfg["ledger_failpoint"]
    if on:
        open(path, "w").close()
    elif os.path.exists(path):
        os.remove(path)
    time.sleep(0.1)  # the gateway looks every 20 ms


def ledger_down_then_back(cfg):
    """While the ledger refuses writes, a new session is not let through to run statements
    unrecorded; once the ledger accepts writes again, statements pass and are recorded."""
    marker = f"ledger-back-{time.time_ns()}"
    out = {}
    with gateway(cfg, "admin") as gw:
        set_ledger_failing(cfg, True)
        # A new session: its start cannot be recorded. Refused at login, or every statement
        # refused: either way nothing reaches the target.
        try:
            with gateway(cfg, "admin") as late:
                try:
                    late.execute("INSERT INTO log (note) VALUES (%s)", (marker + "-late",))
                    raise ScenarioFailed("a new session ran an INSERT with the ledger down")
                except psycopg.Error as e:
                    out["new_session"] = {"statement_refused": describe_error(e)}
        except psycopg.OperationalError as e:
            out["new_session"] = {"login_refused": str(e).strip()}
        with direct(cfg) as d:
            n = d.execute("SELECT count(*) FROM log WHERE note = %s", (marker + "-late",))
            check(n.fetchone()[0] == 0, "a new session's INSERT reached the target")

        set_ledger_failing(cfg, False)
        try:
            gw.execute("INSERT INTO log (note) VALUES (%s)", (marker,))
        except psycopg.Error as e:
            raise ScenarioFailed(
                f"with the ledger writable again the INSERT still fails: {describe_error(e)}"
            )
        with direct(cfg) as d:
            n = d.execute("SELECT count(*) FROM log WHERE note = %s", (marker,)).fetchone()[0]
        check(n == 1, f"the INSERT after recovery stored {n} rows")
        with gateway(cfg, "admin") as again:
            check(again.execute("SELECT 1").fetchone()[0] == 1, "a new session fails")
    out["marker"] = marker
    return out


def drain_idle(cfg):
    """Holds an idle connection; after the test stops the gateway, the next query fails with
    an admin-shutdown / connection-closed error."""
    gw = gateway(cfg, "admin")
    check(gw.execute("SELECT 1").fetchone()[0] == 1, "the session does not work")
    print("ready", flush=True)
    sys.stdin.readline()  # the test stops the gateway, then writes a line
    try:
        got = gw.execute("SELECT 2").fetchone()
        raise ScenarioFailed(f"a query succeeded after the gateway stopped: {got}")
    except psycopg.OperationalError as e:
        d = describe_error(e)
        text = str(e).lower()
        check(
            isinstance(e, errors.AdminShutdown)
            or d["sqlstate"] == "57P01"
            or "shutting down" in text
            or "terminat" in text
            or "closed" in text,
            f"the error is not an admin-shutdown / connection-closed error: {d}",
        )
        check(gw.closed or gw.broken, "the connection is not marked closed")
        return {"error": d, "admin_shutdown": isinstance(e, errors.AdminShutdown)}
    finally:
        gw.close()


LEDGER_STATEMENTS = [
    ("simple", "SELECT name FROM items WHERE id = 11"),
    ("simple", "SELECT secret FROM forbidden"),
    ("extended", "SELECT count(*) FROM items WHERE price > $1"),
    ("extended", "SELECT secret FROM forbidden WHERE id = $1"),
]


def ledger_events(cfg):
    """A few statements, allowed and denied, in both protocols (the test then reads them
    back from `vigil sessions show`)."""
    with gateway(cfg, "agent") as gw:
        for proto, sql in LEDGER_STATEMENTS:
            denied = "forbidden" in sql
            if proto == "simple":
                run = lambda: psycopg.ClientCursor(gw).execute(sql)  # noqa: E731
            else:
                # psycopg turns %s into $1; send the text as is through the raw libpq call.
                run = lambda: gw.pgconn.exec_params(sql.encode(), [b"1"])  # noqa: E731
            if denied and proto == "simple":
                expect_denied(run, sql)
            elif denied:
                res = run()
                check(
                    res.status == psycopg.pq.ExecStatus.FATAL_ERROR
                    and res.error_field(psycopg.pq.DiagnosticField.SQLSTATE) == b"42501",
                    f"{sql}: not refused ({res.status!r})",
                )
            else:
                res = run()
                status = getattr(res, "status", None) or res.pgresult.status
                check(status == psycopg.pq.ExecStatus.TUPLES_OK, f"{sql}: {status!r}")
    return {"statements": [s for _, s in LEDGER_STATEMENTS]}


if __name__ == "__main__":
    main(
        {
            "usable_after_refusal": usable_after_refusal,
            "refusal_in_transaction": refusal_in_transaction,
            "refused_named_parse": refused_named_parse,
            "cancel": cancel,
            "cancel_key": cancel_key,
            "ledger_fail_closed": ledger_fail_closed,
            "ledger_down_then_back": ledger_down_then_back,
            "drain_idle": drain_idle,
            "ledger_events": ledger_events,
        }
    )
