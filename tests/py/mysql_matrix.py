"""One cell of the MySQL capability matrix, driven by mysql-connector-python.

Usage: mysql_matrix.py GATEWAY_PORT TOKEN DIRECT_PORT CA_FILE C_CLIENT TLS MULTI

C_CLIENT=1 uses the connector's C extension (libmysqlclient), which always
asks for CLIENT_DEPRECATE_EOF; C_CLIENT=0 its pure-Python protocol, which
never does. TLS=1 verifies the gateway's certificate against CA_FILE.
MULTI=1 asks for CLIENT_MULTI_STATEMENTS at login, MULTI=0 takes it away.
The same statements run through the gateway and straight to the server
(no TLS, same flags); one JSON object on stdout says what each returned.
"""

# First: the C extension carries its own (newer) libssl, which must be
# loaded before Python's ssl module loads the system's.
import _mysql_connector  # noqa: F401  isort: skip

import json
import os
import sys
from decimal import Decimal

import mysql.connector
from mysql.connector import errors
from mysql.connector.constants import ClientFlag
from mysql.connector.plugins.mysql_clear_password import MySQLClearPasswordAuthPlugin

# Vigil asks for the token with mysql_clear_password, which it accepts
# without TLS from loopback. Both halves of the connector refuse to send a
# clear password without TLS unless told (as the MySQL CLI needs
# --enable-cleartext-plugin): libmysqlclient by this variable, the pure
# protocol by its plugin's own flag.
os.environ["LIBMYSQL_ENABLE_CLEARTEXT_PLUGIN"] = "1"
MySQLClearPasswordAuthPlugin.requires_ssl = property(lambda self: False)

port, token, direct_port, ca = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4]
c_client, tls, multi = (a == "1" for a in sys.argv[5:8])


def connect(through):
    opts = dict(
        use_pure=not c_client,
        # An answer the client cannot parse can leave it waiting: fail instead.
        read_timeout=20,
        autocommit=True,
        database="shop",
        host="127.0.0.1",
        # The connector's default collation is MySQL 8's, which MariaDB does not know.
        charset="utf8mb4",
        collation="utf8mb4_general_ci",
        client_flags=[ClientFlag.MULTI_STATEMENTS if multi else -ClientFlag.MULTI_STATEMENTS],
    )
    if through:
        opts.update(port=port, user="bot", password=token)
        opts.update(dict(ssl_ca=ca, ssl_verify_cert=True) if tls else dict(ssl_disabled=True))
    else:
        opts.update(port=direct_port, user="app", password="app-secret", ssl_disabled=True)
    return mysql.connector.connect(**opts)


def negotiated(conn):
    """The capabilities both sides announced, as the client itself holds them."""
    if c_client:
        mine, theirs = conn._cmysql.st_client_flag(), conn._cmysql.st_server_capabilities()
    else:
        mine, theirs = conn._client_flags, conn._handshake["capabilities"]
    both = mine & theirs & 0xFFFFFFFF
    return {
        "deprecate_eof": bool(both & ClientFlag.DEPRECATE_EOF),
        "multi_statements": bool(both & ClientFlag.MULTI_STATEMENTS),
    }


def cipher(conn):
    if c_client:
        return conn._cmysql.get_ssl_cipher()
    sock = getattr(conn._socket, "sock", None)
    return sock.cipher()[0] if hasattr(sock, "cipher") and sock.cipher() else None


def value(v):
    if isinstance(v, (bytes, bytearray)):
        return v.decode()
    if isinstance(v, Decimal):
        return str(v)
    if hasattr(v, "isoformat"):
        return v.isoformat()
    return v


def attempt(f):
    try:
        return f()
    except errors.Error as e:
        return f"error {e.errno}"


def rows(conn, sql, params=None, prepared=False):
    cur = conn.cursor(prepared=prepared)
    cur.execute(sql, params)
    return [[value(v) for v in r] for r in cur.fetchall()]


def results(conn, sql):
    """Every result set of a (possibly multi-statement) text query."""
    cur = conn.cursor()
    cur.execute(sql, map_results=True)
    sets = []
    while True:
        sets.append([[value(v) for v in r] for r in cur.fetchall()] if cur.with_rows else "ok")
        if not cur.nextset():
            return sets


through, direct = connect(True), connect(False)
SELECT = (
    "SELECT id, name, 1.5 AS x, NULL AS n, DATE('2024-02-29') AS d "
    "FROM customers ORDER BY id"
)
PREPARED = "SELECT id, name, DATE('2024-02-29') AS d FROM customers WHERE id > %s ORDER BY id"
out = {
    "negotiated": negotiated(through),
    "tls": cipher(through) is not None,
    "select": [rows(through, SELECT), rows(direct, SELECT)],
    "masked": rows(through, "SELECT id, email FROM customers ORDER BY id"),
    "prepared": [rows(through, PREPARED, (0,), True), rows(direct, PREPARED, (0,), True)],
    "prepared_masked": rows(through, "SELECT email FROM customers WHERE id = %s", (1,), True),
    "multi": [
        attempt(lambda: results(through, "SELECT 1; SELECT id FROM customers ORDER BY id")),
        attempt(lambda: results(direct, "SELECT 1; SELECT id FROM customers ORDER BY id")),
    ],
    # A write hidden behind a read: refused whether multi-statements are
    # on (the DELETE is denied) or off (the server would read a syntax
    # error; Vigil refuses it as unanalysable, with the same code).
    "multi_write": attempt(lambda: results(through, "SELECT 1; DELETE FROM canary")),
    "denied": attempt(lambda: rows(through, "DELETE FROM canary")),
    "after": rows(through, "SELECT count(*) FROM canary"),
}
if not multi:
    # Straight to the server: it reads the same text as one bad statement.
    out["multi_write_direct"] = attempt(lambda: results(direct, "SELECT 1; DELETE FROM canary"))
print(json.dumps(out))
