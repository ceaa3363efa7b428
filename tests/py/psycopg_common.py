"""Shared helpers of the psycopg scenario scripts (psycopg_protocol.py, psycopg_invariants.py).

Every scenario script is called as `SCRIPT SCENARIO JSON`, where JSON holds gw_port, pg_port,
app_password, admin, agent (tokens), superuser_password and ledger_failpoint (a file: while
it exists the gateway's ledger writes fail). A scenario asserts what it checks itself with `check(...)`, which exits 1 with a clear
message; on success it prints one JSON object on stdout and exits 0.
"""

import json
import sys
import traceback

import psycopg

DENIED_PREFIX = "vigil: denied by rule 'no-forbidden'"


class ScenarioFailed(Exception):
    pass


def check(cond, message):
    """Fails the scenario with `message` unless `cond` holds."""
    if not cond:
        raise ScenarioFailed(message)


def gateway(cfg, who="admin", **kwargs):
    """A psycopg connection through the gateway (dbname = connection name, token as password)."""
    kwargs.setdefault("autocommit", True)
    return psycopg.connect(
        host="127.0.0.1",
        port=cfg["gw_port"],
        dbname="shop",
        user="e2e-" + who,
        password=cfg[who],
        sslmode="disable",
        connect_timeout=10,
        **kwargs,
    )


def direct(cfg, **kwargs):
    """A psycopg connection straight to the cluster as the upstream role `app`."""
    kwargs.setdefault("autocommit", True)
    return psycopg.connect(
        host="127.0.0.1",
        port=cfg["pg_port"],
        dbname="shop",
        user="app",
        password=cfg["app_password"],
        sslmode="disable",
        connect_timeout=10,
        **kwargs,
    )


def describe_error(e):
    """What a test needs to know of a psycopg error."""
    diag = getattr(e, "diag", None)
    return {
        "class": type(e).__name__,
        "sqlstate": getattr(e, "sqlstate", None),
        "message": (diag.message_primary if diag is not None else None) or str(e).strip(),
    }


def expect_denied(fn, what):
    """Runs fn, which must raise InsufficientPrivilege naming the no-forbidden rule."""
    try:
        fn()
    except psycopg.errors.InsufficientPrivilege as e:
        d = describe_error(e)
        check(d["sqlstate"] == "42501", f"{what}: expected SQLSTATE 42501, got {d}")
        check(
            d["message"].startswith(DENIED_PREFIX),
            f"{what}: expected a message starting {DENIED_PREFIX!r}, got {d['message']!r}",
        )
        return d
    except psycopg.Error as e:
        raise ScenarioFailed(
            f"{what}: expected InsufficientPrivilege (42501), got {describe_error(e)}"
        ) from e
    raise ScenarioFailed(f"{what}: was not refused")


def main(scenarios):
    """Dispatches argv[1] to one of `scenarios` (name -> fn(cfg) -> dict)."""
    if len(sys.argv) != 3 or sys.argv[1] not in scenarios:
        print(
            f"usage: {sys.argv[0]} SCENARIO JSON; scenarios: {', '.join(sorted(scenarios))}",
            file=sys.stderr,
        )
        sys.exit(2)
    name, cfg = sys.argv[1], json.loads(sys.argv[2])
    try:
        result = scenarios[name](cfg)
    except ScenarioFailed as e:
        print(f"scenario {name} FAILED: {e}", file=sys.stderr)
        traceback.print_exc(file=sys.stderr)
        sys.exit(1)
    except Exception as e:  # an unexpected error is a failure too, with its traceback
        print(f"scenario {name} FAILED with an unexpected {type(e).__name__}: {e}", file=sys.stderr)
        traceback.print_exc(file=sys.stderr)
        sys.exit(1)
    print(json.dumps(result, default=str), flush=True)
