# shellcheck shell=bash
# Shared by the bench scripts: a private PostgreSQL, pgbouncer and Vigil on
# loopback in one temp dir, all stopped on exit. Source it; call bench_setup.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PG_BIN=$(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -name bin -type d 2>/dev/null | sort -V | tail -n 1)
[[ -x $PG_BIN/initdb ]] || { echo "bench: PostgreSQL server binaries not found (apt-get install postgresql)" >&2; exit 1; }
export PATH="$PG_BIN:$PATH"
PG_PASSWORD=bench-pw
# The same transport for every setup: plaintext on loopback unless asked.
# bench_setup's `tls` gives all three setups the same certificate, so that
# BENCH_SSLMODE=require (or pg.sh's `+tls` modes) compares TLS with TLS.
export PGSSLMODE=${BENCH_SSLMODE:-disable}

as_pg() { if ((EUID == 0)); then runuser -u postgres -- "$@"; else "$@"; fi; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
say() { printf '== %s\n' "$*" >&2; }

WORK=""
PIDS=()
# Set by bench_setup's `tls`: the certificate every setup offers its clients.
TLS_CERT=""
TLS_KEY=""
bench_cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    if [[ -n $WORK && -d $WORK/pg ]]; then as_pg pg_ctl -D "$WORK/pg" stop -m immediate >/dev/null 2>&1 || true; fi
    [[ -n $WORK ]] && rm -rf "$WORK"
}
trap bench_cleanup EXIT INT TERM

# make_cert: a self-signed ECDSA P-256 certificate for localhost and
# 127.0.0.1 (the kind Vigil generates for itself) in $WORK/tls, readable by
# the postgres user; sets TLS_CERT and TLS_KEY.
make_cert() {
    command -v openssl >/dev/null || { echo "bench: openssl not installed (apt-get install openssl)" >&2; exit 1; }
    mkdir -p "$WORK/tls"
    openssl req -x509 -nodes -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -days 2 \
        -subj /CN=localhost -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
        -keyout "$WORK/tls/key.pem" -out "$WORK/tls/cert.pem" 2>/dev/null
    chmod 600 "$WORK/tls/key.pem"
    if ((EUID == 0)); then chown -R postgres "$WORK/tls"; fi
    TLS_CERT=$WORK/tls/cert.pem
    TLS_KEY=$WORK/tls/key.pem
}

# bench_setup MAX_CONNECTIONS [tls]: starts PostgreSQL (scram), builds Vigil.
# With `tls`, PostgreSQL also accepts TLS (ssl = on, make_cert's certificate;
# plaintext clients still connect), and start_pgbouncer and start_vigil offer
# clients the same certificate.
bench_setup() {
    local max_conn=${1:-200} ssl_opts=""
    WORK=$(mktemp -d /tmp/vigil-bench-XXXXXX)
    chmod 755 "$WORK"
    if ((EUID == 0)); then chown postgres "$WORK"; fi
    if [[ ${2:-} == tls ]]; then
        make_cert
        ssl_opts=" -c ssl=on -c ssl_cert_file=$TLS_CERT -c ssl_key_file=$TLS_KEY"
    fi
    PG_PORT=$(free_port)
    printf '%s\n' "$PG_PASSWORD" > "$WORK/pwfile"
    if ((EUID == 0)); then chown postgres "$WORK/pwfile"; fi
    as_pg initdb -D "$WORK/pg" -U postgres --pwfile="$WORK/pwfile" --auth=scram-sha-256 >/dev/null
    as_pg pg_ctl -D "$WORK/pg" -l "$WORK/pg.log" -w -o "-p $PG_PORT -k $WORK -c listen_addresses=127.0.0.1 -c max_connections=$max_conn -c shared_buffers=256MB$ssl_opts" start >/dev/null
    export PGPASSWORD=$PG_PASSWORD
    psql -X -q -h 127.0.0.1 -p "$PG_PORT" -U postgres -c "CREATE DATABASE bench" >/dev/null
    if [[ -z ${VIGIL_BIN:-} ]]; then
        say "building vigil (release)"
        (cd "$ROOT" && cargo build --release -q -p vigil)
        VIGIL_BIN="$ROOT/target/release/vigil"
    fi
}

# start_vigil EXTRA_POLICY_TOML: an admin policy that allows everything plus
# (VIGIL_NAME names its directory under $WORK, default `vigil`, so two can run side by side)
# whatever mask rules the caller adds; prints nothing, sets VIGIL_PORT, VIGIL_PID, TOKEN.
# BENCH_VIGIL_WORKERS (default 1) is `[server] workers`; set it empty for
# the default, one per core. One thread, like pgbouncer's, suits a 2-core
# host shared with PostgreSQL and pgbench (bench/README.md). The session caps
# are lifted: every benchmark client logs in with the one token. After
# bench_setup's `tls`, Vigil offers make_cert's certificate (`[tls]`);
# otherwise the one it generates into data_dir.
start_vigil() {
    local workers=${BENCH_VIGIL_WORKERS-1} tls="" dir=$WORK/${VIGIL_NAME:-vigil}
    mkdir -p "$dir"
    if [[ -n $TLS_CERT ]]; then
        tls="[tls]
cert = \"$TLS_CERT\"
key = \"$TLS_KEY\""
    fi
    VIGIL_PORT=$(free_port)
    local http_port; http_port=$(free_port)
    cat > "$dir/vigil.toml" <<TOML
[server]
data_dir = "$dir/data"
admin_groups = ["admins"]
${workers:+workers = $workers}
max_connections = 100000
max_connections_per_principal = 100000
[listen]
postgres = "127.0.0.1:$VIGIL_PORT"
http = "127.0.0.1:$http_port"
[log]
level = "warn"
$tls
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
    # shellcheck disable=SC2034 # read by the scripts that source this file
    TOKEN=$("$VIGIL_BIN" token create --config "$dir/vigil.toml" --name bench --groups admins --kind human)
    # VIGIL_WRAPPER runs the gateway under a tool (bench/instructions.sh: valgrind).
    # shellcheck disable=SC2086
    ${VIGIL_WRAPPER:-} "$VIGIL_BIN" serve --config "$dir/vigil.toml" > "$dir/vigil.log" 2>&1 &
    VIGIL_PID=$!
    PIDS+=("$VIGIL_PID")
    for _ in $(seq 600); do
        (exec 3<>"/dev/tcp/127.0.0.1/$VIGIL_PORT") 2>/dev/null && return 0
        sleep 0.1
    done
    echo "bench: vigil did not start; log:" >&2; cat "$dir/vigil.log" >&2; exit 1
}

# start_pgbouncer [POOL_SIZE]: session pooling, at most POOL_SIZE (default
# 200) server connections; plaintext to PostgreSQL. After bench_setup's
# `tls`, clients may ask for TLS (client_tls_sslmode = allow, make_cert's
# certificate).
start_pgbouncer() {
    local pool=${1:-200} tls=""
    if [[ -n $TLS_CERT ]]; then
        tls="client_tls_sslmode = allow
client_tls_key_file = $TLS_KEY
client_tls_cert_file = $TLS_CERT"
    fi
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
default_pool_size = $pool
listen_backlog = 1024
server_tls_sslmode = disable
$tls
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
