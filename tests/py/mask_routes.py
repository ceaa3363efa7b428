"""Masking on routes other than result rows, through psycopg 3.

Usage: mask_routes.py SCENARIO JSON
JSON holds gw_port, analyst and admin (Vigil tokens), secrets (a list of strings that must
never reach the listener). Each scenario asserts what it checks and prints a JSON summary.
"""

import json
import sys
import time

import psycopg


def connect(cfg, who):
    return psycopg.connect(
        host="127.0.0.1",
        port=cfg["gw_port"],
        dbname="shop",
        user=who,
        password=cfg[who],
        sslmode="disable",
        connect_timeout=10,
        autocommit=True,
    )


def fail(message):
    print(f"FAILED: {message}", file=sys.stderr)
    sys.exit(1)


def notify(cfg):
    """The analyst listens; the admin sends payloads carrying an email and a card number."""
    received = []
    with connect(cfg, "analyst") as listener, connect(cfg, "admin") as sender:
        listener.execute("LISTEN masked_channel")
        sender.execute("NOTIFY masked_channel, 'contact ada.lovelace@example.com now'")
        sender.execute(
            "SELECT pg_notify('masked_channel', 'card ' || card_number) FROM customers WHERE id = 1"
        )
        sender.execute("SELECT pg_notify('masked_channel', email) FROM customers WHERE id = 2")
        sender.execute("NOTIFY masked_channel, 'nothing secret here'")
        deadline = time.time() + 15
        while len(received) < 4 and time.time() < deadline:
            for n in listener.notifies(timeout=1.0, stop_after=4 - len(received)):
                received.append({"channel": n.channel, "payload": n.payload, "pid": n.pid})
    if len(received) != 4:
        fail(f"expected 4 notifications, got {received}")
    text = json.dumps(received)
    for secret in cfg["secrets"]:
        if secret.lower() in text.lower():
            fail(f"a notification payload shows {secret!r}: {received}")
    payloads = [r["payload"] for r in received]
    # The analyst's policy masks columns: any payload may carry a masked value in a form
    # no detector knows, so every payload is hidden whole (channel and pid stay).
    if not all("payload hidden by vigil" in p for p in payloads):
        fail(f"payloads are not hidden: {payloads}")
    if any(r["channel"] != "masked_channel" for r in received):
        fail(f"the channel changed: {received}")
    return {"payloads": payloads}


SCENARIOS = {"notify": notify}

if __name__ == "__main__":
    name, cfg = sys.argv[1], json.loads(sys.argv[2])
    print(json.dumps(SCENARIOS[name](cfg)), flush=True)
