"""psycopg 3 through Vigil's just-in-time approvals, with server-side parameters (the extended
protocol: Parse, Bind with the values, Execute).

Usage: approvals_psycopg.py SCENARIO JSON   (JSON: gw_port, bot = the asking agent's token)
The reviewer's side (vigil approvals approve) is the test's: scenarios that need it in between
print one JSON line and wait for a line on stdin. Each scenario asserts what it sees and prints
a JSON summary as its last line (see psycopg_common.py).
"""

import json
import re
import sys

import psycopg
from psycopg import errors

from psycopg_common import ScenarioFailed, check, main


def connect(cfg):
    return psycopg.connect(
        host="127.0.0.1",
        port=cfg["gw_port"],
        dbname="shop",
        user="bot",
        password=cfg["bot"],
        sslmode="disable",
        connect_timeout=10,
        autocommit=True,
    )


def say(obj):
    """One line for the test, then wait for its answer."""
    print(json.dumps(obj), flush=True)
    line = sys.stdin.readline()
    check(line != "", "the test closed stdin instead of answering")
    return line.strip()


def approval_id(text):
    m = re.search(r"approval (ap_[0-9a-f]+)", text)
    check(m is not None, f"no approval id in {text!r}")
    return m.group(1)


def held_delete(cfg):
    """A held DELETE with a parameter: waits, then (once approved) deletes 3 rows."""
    notices = []
    with connect(cfg) as conn:
        conn.add_notice_handler(lambda d: notices.append(d.message_primary or ""))
        print(json.dumps({"connected": True}), flush=True)
        cur = conn.execute("DELETE FROM orders WHERE id <= %s", (3,))
        check(cur.rowcount == 3, f"rowcount {cur.rowcount}, expected 3")
        check(cur.statusmessage == "DELETE 3", f"status {cur.statusmessage!r}")
        held = [n for n in notices if "held for approval" in n]
        check(held, f"no hold notice among {notices}")
        # The session goes on.
        left = conn.execute("SELECT count(*) FROM orders WHERE id > %s", (0,)).fetchone()[0]
        check(left == 7, f"{left} orders left")
        return {"rowcount": cur.rowcount, "approval": approval_id(held[0])}


def held_forever(cfg):
    """A held DELETE; the test kills this process while it waits."""
    with connect(cfg) as conn:
        print(json.dumps({"connected": True}), flush=True)
        conn.execute("DELETE FROM orders WHERE id = %s", (5,))
    raise ScenarioFailed("the held DELETE returned; it should have waited")


def refused(conn, sql, params, what):
    """Runs a statement that must be refused in retry mode; returns the approval id it names."""
    try:
        conn.execute(sql, params)
    except errors.InsufficientPrivilege as e:
        text = str(e)
        check("approval" in text and "is pending" in text, f"{what}: {text}")
        return approval_id(text)
    raise ScenarioFailed(f"{what}: was not refused")


def retry_with_parameters(cfg):
    """Retry mode binds the parameters: only the same values pass, and only once."""
    sql = "UPDATE orders SET note = %s WHERE id = %s"
    same = ("approved note", 1)
    with connect(cfg) as conn:
        first = refused(conn, sql, same, "before approval")
        again = refused(conn, sql, same, "retry before a decision")
        check(again == first, f"a retry before the decision named {again}, not {first}")
        answer = say({"approval": first})
        check(answer == "approved", f"the test said {answer!r}")

        # The same statement with other values is not covered (and does not use it up).
        other = refused(conn, sql, ("other note", 1), "different parameter values")
        check(other != first, "different parameters were covered by the approval")
        other_row = refused(conn, sql, ("approved note", 2), "a different row")
        check(other_row not in (first, other), "a different row was covered")

        cur = conn.execute(sql, same)
        check(cur.rowcount == 1, f"the approved UPDATE changed {cur.rowcount} rows")
        note = conn.execute("SELECT note FROM orders WHERE id = %s", (1,)).fetchone()[0]
        check(note == "approved note", f"note is {note!r}")

        third = refused(conn, sql, same, "the approved statement a second time")
        check(third != first, "the approval was usable twice")
        return {"approval": first, "other": other, "other_row": other_row, "third": third}


if __name__ == "__main__":
    main(
        {
            "held_delete": held_delete,
            "held_forever": held_forever,
            "retry_with_parameters": retry_with_parameters,
        }
    )
