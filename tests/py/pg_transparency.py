"""What an admin allowed everything sees through Vigil is what a direct connection shows.

Usage: pg_transparency.py SCENARIO JSON   (see psycopg_common.py)

- backend_pid: the pid in BackendKeyData is the target's: pg_backend_pid(), NOTIFY senders
  and pg_terminate_backend() all agree with it.
- cancel_key: the secret is Vigil's own. A cancel with the right pid and a wrong secret does
  nothing, nor does the client's key sent straight to the target; the right key cancels.
- errors_and_notices: every field of a server error and notice reaches the client unchanged.
"""

import os
import socket
import struct
import threading
import time

import psycopg
from psycopg import errors

from psycopg_common import ScenarioFailed, check, describe_error, direct, gateway, main

CANCEL_REQUEST_CODE = 80877102


# --- backend_pid -------------------------------------------------------------------------


def backend_pid(cfg):
    out = {}
    with gateway(cfg, "admin") as gw, gateway(cfg, "admin") as other:
        pid = gw.info.backend_pid
        server_pid = gw.execute("SELECT pg_backend_pid()").fetchone()[0]
        check(pid == server_pid, f"BackendKeyData says pid {pid}, pg_backend_pid() {server_pid}")
        check(other.info.backend_pid != pid, "two sessions share a pid")
        with direct(cfg) as db:
            row = db.execute(
                "SELECT application_name FROM pg_stat_activity WHERE pid = %s", (pid,)
            ).fetchone()
        check(row is not None, f"pid {pid} is no backend of the target")
        out["pid"] = pid

        # A notification says which session sent it: ours, then the other one's.
        gw.execute("LISTEN vigil_transparency")
        gw.execute("NOTIFY vigil_transparency, 'from-self'")
        other.execute("NOTIFY vigil_transparency, 'from-other'")
        got = {}
        for n in gw.notifies(timeout=10, stop_after=2):
            got[n.payload] = n.pid
        check(set(got) == {"from-self", "from-other"}, f"notifications received: {got}")
        check(got["from-self"] == pid, f"own NOTIFY carries pid {got['from-self']}, not {pid}")
        check(
            got["from-other"] == other.info.backend_pid,
            f"the other session's NOTIFY carries pid {got['from-other']}, "
            f"not {other.info.backend_pid}",
        )
        out["notifications"] = got

        # A pool ends a session by its pid.
        ended = other.execute("SELECT pg_terminate_backend(%s)", (pid,)).fetchone()[0]
        check(ended is True, f"pg_terminate_backend({pid}) returned {ended}")
        try:
            gw.execute("SELECT 1")
            raise ScenarioFailed("the terminated session still answers")
        except psycopg.OperationalError as e:
            out["terminated"] = describe_error(e)
        check(other.execute("SELECT 1").fetchone()[0] == 1, "the terminating session broke")
    return out


# --- cancel_key: a raw session, whose BackendKeyData the test can read -------------------


class RawSession:
    """Logs in to the gateway with the token as a cleartext password (what Vigil asks for)
    and keeps the BackendKeyData it sent."""

    def __init__(self, port, user, password):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=60)
        body = struct.pack("!I", 196608)
        for k, v in (("user", user), ("database", "shop")):
            body += k.encode() + b"\0" + v.encode() + b"\0"
        body += b"\0"
        self.sock.sendall(struct.pack("!I", len(body) + 4) + body)
        self.key = None
        while True:
            tag, msg = self.read()
            if tag == b"R" and msg[:4] == struct.pack("!I", 3):
                pw = password.encode() + b"\0"
                self.sock.sendall(b"p" + struct.pack("!I", len(pw) + 4) + pw)
            elif tag == b"R":
                check(msg[:4] == struct.pack("!I", 0), f"unexpected auth request {msg[:4]!r}")
            elif tag == b"K":
                self.key = struct.unpack("!II", msg[:8])
            elif tag == b"E":
                raise ScenarioFailed(f"login refused: {fields(msg)}")
            elif tag == b"Z":
                break
        check(self.key is not None, "the gateway sent no BackendKeyData")

    def read_exact(self, n):
        data = b""
        while len(data) < n:
            chunk = self.sock.recv(n - len(data))
            if not chunk:
                raise ScenarioFailed("the gateway closed the connection")
            data += chunk
        return data

    def read(self):
        head = self.read_exact(5)
        (length,) = struct.unpack("!I", head[1:])
        return head[:1], self.read_exact(length - 4)

    def query(self, sql):
        """Runs a simple Query; returns (rows as text, SQLSTATE of an error or None)."""
        q = sql.encode() + b"\0"
        self.sock.sendall(b"Q" + struct.pack("!I", len(q) + 4) + q)
        rows, code = [], None
        while True:
            tag, msg = self.read()
            if tag == b"D":
                (count,) = struct.unpack("!h", msg[:2])
                at, row = 2, []
                for _ in range(count):
                    (n,) = struct.unpack("!i", msg[at : at + 4])
                    at += 4
                    row.append(None if n < 0 else msg[at : at + n].decode())
                    at += max(n, 0)
                rows.append(row)
            elif tag == b"E":
                code = fields(msg).get("C")
            elif tag == b"Z":
                return rows, code

    def close(self):
        try:
            self.sock.sendall(b"X\0\0\0\4")
        finally:
            self.sock.close()


def fields(msg):
    out = {}
    for part in msg.split(b"\0"):
        if part:
            out[chr(part[0])] = part[1:].decode(errors="replace")
    return out


def send_cancel(port, pid, secret):
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(struct.pack("!IIII", 16, CANCEL_REQUEST_CODE, pid, secret))
        try:
            s.recv(1)  # the server closes once it has read the request
        except OSError:
            pass


def timed_sleep(session, seconds, cancels):
    """Runs pg_sleep(seconds) while a thread sends `cancels` (port, pid, secret) after 0.5 s;
    returns (elapsed, SQLSTATE or None)."""

    def canceller():
        time.sleep(0.5)
        for port, pid, secret in cancels:
            send_cancel(port, pid, secret)

    thread = threading.Thread(target=canceller)
    start = time.monotonic()
    thread.start()
    try:
        _, code = session.query(f"SELECT pg_sleep({seconds})")
    finally:
        thread.join()
    return time.monotonic() - start, code


def cancel_key(cfg):
    out = {}
    raw = RawSession(cfg["gw_port"], "e2e-admin", cfg["admin"])
    try:
        pid, secret = raw.key
        rows, code = raw.query("SELECT pg_backend_pid()")
        check(code is None and rows == [[str(pid)]], f"pg_backend_pid() gave {rows} {code}")
        out["pid"] = pid

        # The right pid with wrong secrets, at the gateway; the client's key at the target.
        wrong = [secret ^ 1, secret ^ 0x80000000, int.from_bytes(os.urandom(4), "big")]
        cancels = [(cfg["gw_port"], pid, w) for w in wrong if w != secret]
        cancels.append((cfg["pg_port"], pid, secret))
        elapsed, code = timed_sleep(raw, 2, cancels)
        check(code is None, f"a cancel with a wrong key stopped the statement ({code})")
        check(elapsed >= 1.9, f"pg_sleep(2) ended after {elapsed:.1f} s")
        out["wrong_keys_ignored"] = len(cancels)

        # The key the gateway gave cancels.
        elapsed, code = timed_sleep(raw, 30, [(cfg["gw_port"], pid, secret)])
        check(code == "57014", f"the right key did not cancel: SQLSTATE {code}")
        check(elapsed < 5, f"the cancel took {elapsed:.1f} s")
        rows, code = raw.query("SELECT 7")
        check(rows == [["7"]] and code is None, f"the session after a cancel: {rows} {code}")
        out["cancelled_after"] = round(elapsed, 2)
    finally:
        raw.close()

    # libpq's own cancel, with the key psycopg read.
    with gateway(cfg, "admin") as gw:
        thread = threading.Thread(target=lambda: (time.sleep(0.5), gw.cancel_safe()))
        start = time.monotonic()
        thread.start()
        try:
            gw.execute("SELECT pg_sleep(30)")
            raise ScenarioFailed("conn.cancel_safe() did not cancel pg_sleep(30)")
        except errors.QueryCanceled:
            pass
        finally:
            thread.join()
        check(time.monotonic() - start < 5, "conn.cancel_safe() was slow")
    return out


# --- errors_and_notices ------------------------------------------------------------------

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

FAILING = [
    # A unique violation: detail, schema, table and constraint.
    "INSERT INTO items VALUES (1, 'again', 1)",
    # A NOT NULL violation: column and a detail quoting the row.
    "INSERT INTO t (n, s) VALUES (NULL, 'row-value')",
    # A division by zero.
    "SELECT 1 / (n - n) FROM (VALUES (3)) v(n)",
    # Every field PL/pgSQL lets a RAISE set, and a context.
    "DO $$ BEGIN RAISE EXCEPTION USING MESSAGE = 'm-text', DETAIL = 'd-text', "
    "HINT = 'h-text', ERRCODE = 'P0099', COLUMN = 'c-name', CONSTRAINT = 'k-name', "
    "DATATYPE = 't-name', TABLE = 'tab-name', SCHEMA = 's-name'; END $$",
]

NOTICES = (
    "DO $$ BEGIN RAISE NOTICE 'n-text %', 42 USING DETAIL = 'nd-text', HINT = 'nh-text'; "
    "RAISE WARNING 'w-text' USING ERRCODE = '01999', COLUMN = 'wc'; END $$"
)


def diag(d):
    return {f: getattr(d, f) for f in DIAG_FIELDS}


def errors_and_notices(cfg):
    out = {"errors": []}
    with gateway(cfg, "admin") as gw, direct(cfg) as db:
        for sql in FAILING:
            seen = []
            for conn in (db, gw):
                try:
                    conn.execute(sql)
                    raise ScenarioFailed(f"{sql!r} did not fail")
                except psycopg.Error as e:
                    seen.append(diag(e.diag))
            check(seen[0]["sqlstate"] is not None, f"{sql!r}: no SQLSTATE directly")
            check(seen[1] == seen[0], f"{sql!r}: through the gateway {seen[1]}, directly {seen[0]}")
            out["errors"].append(seen[1]["sqlstate"])

        notices = ([], [])
        db.add_notice_handler(lambda d: notices[0].append(diag(d)))
        gw.add_notice_handler(lambda d: notices[1].append(diag(d)))
        db.execute(NOTICES)
        gw.execute(NOTICES)
        check(len(notices[0]) == 2, f"direct notices: {notices[0]}")
        check(notices[1] == notices[0], f"notices through the gateway {notices[1]}, directly {notices[0]}")
        out["notices"] = [n["sqlstate"] for n in notices[1]]
    return out


if __name__ == "__main__":
    main(
        {
            "backend_pid": backend_pid,
            "cancel_key": cancel_key,
            "errors_and_notices": errors_and_notices,
        }
    )
