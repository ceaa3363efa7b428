#!/usr/bin/env bash
# Memory of the gateway with BENCH_SESSIONS (default 2000) idle authenticated
# sessions: resident set before and after, per session. Uses psycopg from the
# repo's .venv (scripts/test.sh creates it).
#
#   bench/idle.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

SESSIONS=${BENCH_SESSIONS:-2000}
PY="$ROOT/.venv/bin/python"
[[ -x $PY ]] || { echo "bench: $PY missing; run scripts/test.sh once to create the venv" >&2; exit 1; }
# The file-descriptor limit must cover client and upstream sockets.
ulimit -n $((SESSIONS * 3 + 1024)) 2>/dev/null || true

bench_setup $((SESSIONS + 50))
start_vigil ""
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
sleep 1
before=$(rss_kb "$VIGIL_PID")
say "opening $SESSIONS sessions"
after=$("$PY" - "$VIGIL_PORT" "$TOKEN" "$SESSIONS" "$VIGIL_PID" <<'PY'
import sys, time, psycopg
port, token, n, pid = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
conns = []
for i in range(n):
    c = psycopg.connect(f"host=127.0.0.1 port={port} dbname=bench user=bench password={token} sslmode=disable", autocommit=True)
    c.execute("SELECT 1")
    conns.append(c)
time.sleep(2)
with open(f"/proc/{pid}/status") as f:
    print([l.split()[1] for l in f if l.startswith("VmRSS")][0], flush=True)
for c in conns:
    c.close()
PY
)
printf '\nidle sessions: %d\nRSS before: %d KiB\nRSS with sessions: %d KiB\nper session: %.1f KiB\n' \
    "$SESSIONS" "$before" "$after" "$(awk -v a="$after" -v b="$before" -v n="$SESSIONS" 'BEGIN {print (a - b) / n}')"
