# Shared by the bench scripts: a private PostgreSQL, pgbouncer and Vigil on
# loopback in one temp dir, all stopped on exit. Source it; call bench_setup.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PG_BIN=$(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -name bin -type d 2>/dev/null | sort -V | tail -n 1)
[[ -x $PG_BIN/initdb ]] || { echo "bench: PostgreSQL server binaries not found (apt-get install postgresql)" >&2; exit 1; }
export PATH="$PG_BIN:$PATH"
PG_PASSWORD=bench-pw
# The same transport for every setup: plaintext on loopback unless asked
# (BENCH_SSLMODE=require compares TLS to Vigil with TLS to the others' ...
# which only Vigil offers here, so keep it off for ratios).
export PGSSLMODE=${BENCH_SSLMODE:-disable}

as_pg() { if ((EUID == 0)); then runuser -u postgres -- "$@"; else "$@"; fi; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
say() { printf '== %s\n' "$*" >&2; }

WORK=""
PIDS=()
bench_cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    if [[ -n $WORK && -d $WORK/pg ]]; then as_pg pg_ctl -D "$WORK/pg" stop -m immediate >/dev/null 2>&1 || true; fi
    [[ -n $WORK ]] && rm -rf "$WORK"
}
trap bench_cleanup EXIT INT TERM

# bench_setup MAX_CONNECTIONS: starts PostgreSQL (scram), builds Vigil.
bench_setup() {
    local max_conn=${1:-200}
    WORK=$(mktemp -d /tmp/vigil-bench-XXXXXX)
    chmod 755 "$WORK"
    if ((EUID == 0)); then chown postgres "$WORK"; fi
    PG_PORT=$(free_port)
    printf '%s\n' "$PG_PASSWORD" > "$WORK/pwfile"
    if ((EUID == 0)); then chown postgres "$WORK/pwfile"; fi
    as_pg initdb -D "$WORK/pg" -U postgres --pwfile="$WORK/pwfile" --auth=scram-sha-256 >/dev/null
    as_pg pg_ctl -D "$WORK/pg" -l "$WORK/pg.log" -w -o "-p $PG_PORT -k $WORK -c listen_addresses=127.0.0.1 -c max_connections=$max_conn -c shared_buffers=256MB" start >/dev/null
    export PGPASSWORD=$PG_PASSWORD
    psql -X -q -h 127.0.0.1 -p "$PG_PORT" -U postgres -c "CREATE DATABASE bench" >/dev/null
    if [[ -z ${VIGIL_BIN:-} ]]; then
        say "building vigil (release)"
        (cd "$ROOT" && cargo build --release -q -p vigil)
        VIGIL_BIN="$ROOT/target/release/vigil"
    fi
}

# start_vigil EXTRA_POLICY_TOML: an admin policy that allows everything plus
# whatever mask rules the caller adds; prints nothing, sets VIGIL_PORT, VIGIL_PID, TOKEN.
# BENCH_VIGIL_WORKERS (default 1) is `[server] workers`; set it empty for
# the default, one per core. One thread, like pgbouncer's, suits a 2-core
# host shared with PostgreSQL and pgbench (bench/README.md).
start_vigil() {
    local workers=${BENCH_VIGIL_WORKERS-1}
    VIGIL_PORT=$(free_port)
    local http_port; http_port=$(free_port)
    cat > "$WORK/vigil.toml" <<TOML
[server]
data_dir = "$WORK/vigil-data"
admin_groups = ["admins"]
${workers:+workers = $workers}
[listen]
postgres = "127.0.0.1:$VIGIL_PORT"
http = "127.0.0.1:$http_port"
[log]
level = "warn"
[[connection]]
name = "bench"
kind = "postgres"
address = "127.0.0.1:$PG_PORT"
database = "bench"
user = "postgres"
password = "$PG_PASSWORD"
[[policy]]
name = "admins"
groups = ["admins"]
connections = ["bench"]
  [[policy.rule]]
  name = "admin-all"
  effect = "allow"
  [[policy.rule]]
  name = "no-drop"
  effect = "deny"
  when = 'sql.kind == "drop"'
$1
TOML
    TOKEN=$("$VIGIL_BIN" token create --config "$WORK/vigil.toml" --name bench --groups admins --kind human)
    # VIGIL_WRAPPER runs the gateway under a tool (bench/instructions.sh: valgrind).
    # shellcheck disable=SC2086
    ${VIGIL_WRAPPER:-} "$VIGIL_BIN" serve --config "$WORK/vigil.toml" > "$WORK/vigil.log" 2>&1 &
    VIGIL_PID=$!
    PIDS+=("$VIGIL_PID")
    for _ in $(seq 600); do
        (exec 3<>"/dev/tcp/127.0.0.1/$VIGIL_PORT") 2>/dev/null && return 0
        sleep 0.1
    done
    echo "bench: vigil did not start; log:" >&2; cat "$WORK/vigil.log" >&2; exit 1
}

start_pgbouncer() {
    command -v pgbouncer >/dev/null || { echo "bench: pgbouncer not installed (apt-get install pgbouncer)" >&2; exit 1; }
    BOUNCER_PORT=$(free_port)
    mkdir -p "$WORK/bouncer"
    printf '"postgres" "%s"\n' "$PG_PASSWORD" > "$WORK/bouncer/users.txt"
    cat > "$WORK/bouncer/pgbouncer.ini" <<INI
[databases]
bench = host=127.0.0.1 port=$PG_PORT dbname=bench
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $BOUNCER_PORT
unix_socket_dir =
auth_type = scram-sha-256
auth_file = $WORK/bouncer/users.txt
pool_mode = session
max_client_conn = 2000
default_pool_size = 200
logfile = $WORK/bouncer/pgbouncer.log
pidfile = $WORK/bouncer/pgbouncer.pid
INI
    if ((EUID == 0)); then chown -R postgres "$WORK/bouncer"; fi
    as_pg pgbouncer -d "$WORK/bouncer/pgbouncer.ini"
    for _ in $(seq 50); do
        [[ -s $WORK/bouncer/pgbouncer.pid ]] && break
        sleep 0.1
    done
    BOUNCER_PID=$(cat "$WORK/bouncer/pgbouncer.pid")
    PIDS+=("$BOUNCER_PID")
}

# cpu_ticks PID: utime + stime in clock ticks.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
