"""The MySQL C API itself, through ctypes: libmysqlclient (the copy inside
mysql-connector-python's C extension, which asks for CLIENT_DEPRECATE_EOF)
or the system's libmariadb (Connector/C, which never does).

Usage: mysql_capi.py mysql|mariadb PORT USER PASSWORD DATABASE

It switches multi-statements with mysql_set_server_option (COM_SET_OPTION),
and reads a prepared SELECT through a read-only server-side cursor one row
per COM_STMT_FETCH (mysql_stmt_attr_set CURSOR_TYPE / PREFETCH_ROWS). One
JSON object on stdout says what each step returned.
"""

# First: the C extension carries its own (newer) libssl, which must be
# loaded before Python's ssl module loads the system's.
import _mysql_connector  # isort: skip

import ctypes
import json
import os
import sys
from ctypes import POINTER, Structure, byref, c_char, c_char_p, c_int, c_uint, c_ulong, c_void_p

which, port, user, password, database = sys.argv[1], int(sys.argv[2]), *sys.argv[3:6]
if which == "mysql":
    here = os.path.dirname(_mysql_connector.__file__)
    # libmysqlclient keeps mysql_native_password in a plugin file, and
    # answers a mysql_clear_password request only when told to.
    os.environ["LIBMYSQL_PLUGIN_DIR"] = os.path.join(here, "mysql", "vendor", "plugin")
    os.environ["LIBMYSQL_ENABLE_CLEARTEXT_PLUGIN"] = "1"
    lib = ctypes.CDLL(_mysql_connector.__file__)
else:
    lib = ctypes.CDLL("libmariadb.so.3")

MYSQL_OPT_READ_TIMEOUT, MYSQL_SET_CHARSET_NAME = 11, 7
STMT_ATTR_CURSOR_TYPE, STMT_ATTR_PREFETCH_ROWS = 1, 2
CURSOR_TYPE_READ_ONLY = 1
MYSQL_TYPE_STRING = 254
MULTI_STATEMENTS_ON, MULTI_STATEMENTS_OFF = 0, 1


def sig(name, restype, *argtypes):
    f = getattr(lib, name)
    f.restype, f.argtypes = restype, list(argtypes)


for name, res, args in [
    ("mysql_init", c_void_p, [c_void_p]),
    ("mysql_options", c_int, [c_void_p, c_int, c_void_p]),
    ("mysql_real_connect", c_void_p,
     [c_void_p, c_char_p, c_char_p, c_char_p, c_char_p, c_uint, c_char_p, c_ulong]),
    ("mysql_errno", c_uint, [c_void_p]),
    ("mysql_query", c_int, [c_void_p, c_char_p]),
    ("mysql_store_result", c_void_p, [c_void_p]),
    ("mysql_num_fields", c_uint, [c_void_p]),
    ("mysql_fetch_row", POINTER(c_char_p), [c_void_p]),
    ("mysql_free_result", None, [c_void_p]),
    ("mysql_next_result", c_int, [c_void_p]),
    ("mysql_set_server_option", c_int, [c_void_p, c_int]),
    ("mysql_stmt_init", c_void_p, [c_void_p]),
    ("mysql_stmt_attr_set", c_char, [c_void_p, c_int, c_void_p]),
    ("mysql_stmt_prepare", c_int, [c_void_p, c_char_p, c_ulong]),
    ("mysql_stmt_execute", c_int, [c_void_p]),
    ("mysql_stmt_field_count", c_uint, [c_void_p]),
    ("mysql_stmt_bind_result", c_char, [c_void_p, c_void_p]),
    ("mysql_stmt_fetch", c_int, [c_void_p]),
    ("mysql_stmt_errno", c_uint, [c_void_p]),
    ("mysql_stmt_close", c_char, [c_void_p]),
    ("mysql_close", None, [c_void_p]),
]:
    sig(name, res, *args)


class Bind(Structure):
    """MYSQL_BIND, as both libraries lay it out."""

    _fields_ = [
        ("length", POINTER(c_ulong)), ("is_null", POINTER(c_char)), ("buffer", c_void_p),
        ("error", POINTER(c_char)), ("row_ptr", c_void_p), ("store_param_func", c_void_p),
        ("fetch_result", c_void_p), ("skip_result", c_void_p), ("buffer_length", c_ulong),
        ("offset", c_ulong), ("length_value", c_ulong), ("param_number", c_uint),
        ("pack_length", c_uint), ("buffer_type", c_int), ("error_value", c_char),
        ("is_unsigned", c_char), ("long_data_used", c_char), ("is_null_value", c_char),
        ("extension", c_void_p),
    ]


m = lib.mysql_init(None)
lib.mysql_options(m, MYSQL_SET_CHARSET_NAME, c_char_p(b"utf8mb3"))
# An answer the library cannot parse can leave it waiting for a packet
# that never comes: fail instead.
lib.mysql_options(m, MYSQL_OPT_READ_TIMEOUT, byref(c_uint(20)))
if not lib.mysql_real_connect(m, b"127.0.0.1", user.encode(), password.encode(),
                              database.encode(), port, None, 0):
    print(json.dumps({"connect": f"error {lib.mysql_errno(m)}"}))
    sys.exit(0)


def query(sql):
    """Every result set of a text query, or `error N` where it failed."""
    if lib.mysql_query(m, sql.encode()):
        return f"error {lib.mysql_errno(m)}"
    sets = []
    while True:
        res = lib.mysql_store_result(m)
        if res:
            n, rows = lib.mysql_num_fields(res), []
            while row := lib.mysql_fetch_row(res):
                rows.append([None if row[i] is None else row[i].decode() for i in range(n)])
            lib.mysql_free_result(res)
            sets.append(rows)
        more = lib.mysql_next_result(m)
        if more == -1:
            return sets
        if more > 0:
            return sets + [f"error {lib.mysql_errno(m)}"]


def cursor_rows(sql):
    """A prepared SELECT read through a read-only cursor, one row a fetch."""
    s = lib.mysql_stmt_init(m)
    one, read_only = c_ulong(1), c_ulong(CURSOR_TYPE_READ_ONLY)
    lib.mysql_stmt_attr_set(s, STMT_ATTR_CURSOR_TYPE, byref(read_only))
    lib.mysql_stmt_attr_set(s, STMT_ATTR_PREFETCH_ROWS, byref(one))
    if lib.mysql_stmt_prepare(s, sql.encode(), len(sql.encode())) or lib.mysql_stmt_execute(s):
        return f"error {lib.mysql_stmt_errno(s)}"
    n = lib.mysql_stmt_field_count(s)
    binds = (Bind * n)()
    bufs = [ctypes.create_string_buffer(256) for _ in range(n)]
    lens, nulls = [c_ulong(0) for _ in range(n)], [c_char(0) for _ in range(n)]
    for i in range(n):
        binds[i].buffer_type, binds[i].buffer_length = MYSQL_TYPE_STRING, 256
        binds[i].buffer = ctypes.cast(bufs[i], c_void_p)
        binds[i].length, binds[i].is_null = ctypes.pointer(lens[i]), ctypes.pointer(nulls[i])
    lib.mysql_stmt_bind_result(s, binds)
    rows = []
    while (rc := lib.mysql_stmt_fetch(s)) == 0:
        rows.append([None if nulls[i].value != b"\0" else bufs[i].raw[: lens[i].value].decode()
                     for i in range(n)])
    end = "end" if rc == 100 else f"error {lib.mysql_stmt_errno(s)}"  # 100: MYSQL_NO_DATA
    lib.mysql_stmt_close(s)
    return rows + [end]


out = {"select": query("SELECT id, name FROM customers ORDER BY id")}
out["off"] = lib.mysql_set_server_option(m, MULTI_STATEMENTS_OFF)
out["multi_off"] = query("SELECT 1; SELECT 2")
out["multi_write_off"] = query("SELECT 1; DELETE FROM canary")
out["on"] = lib.mysql_set_server_option(m, MULTI_STATEMENTS_ON)
out["multi_on"] = query("SELECT 1; SELECT 2")
out["multi_write_on"] = query("SELECT 1; DELETE FROM canary")
out["cursor"] = cursor_rows("SELECT id, email FROM customers ORDER BY id")
out["cursor_plain"] = cursor_rows("SELECT id, name FROM customers ORDER BY id")
out["after"] = query("SELECT count(*) FROM canary")
lib.mysql_close(m)
print(json.dumps(out))
