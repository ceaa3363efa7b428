#!/usr/bin/env bash
# Vigil in two minutes: a private PostgreSQL and a private MariaDB with a seeded shop, Vigil in
# front of both with examples/quickstart/vigil.toml, an analyst agent's allowed reads (personal
# data masked), a denied DROP through psql and a denied DELETE through the mariadb CLI, then
# Vigil stays up for you to try until Ctrl-C. Everything lives in one temp dir, removed on
# exit; the system PostgreSQL and MariaDB (if any) are not touched.
#
# On a fresh Debian/Ubuntu machine it first installs what it needs (as root or through
# passwordless sudo; scripts/lib/install.sh, shared with scripts/test.sh): PostgreSQL, MariaDB,
# the build's packages (libclang for pg_query's bindings, a C/C++ compiler, pkg-config, curl)
# and, when cargo is missing, Rust through rustup.
#
#   scripts/demo.sh                  # interactive: stays up until Ctrl-C
#   DEMO_NO_WAIT=1 scripts/demo.sh   # exit after the showcase (tests, CI)
#
# Environment: VIGIL_BIN=path uses a prebuilt binary (no build, no build packages);
# CARGO_TARGET_DIR is honoured; DEMO_NO_INSTALL=1 installs nothing.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$(pwd)
CONFIG="$ROOT/examples/quickstart/vigil.toml"
# shellcheck source=scripts/lib/install.sh
source "$ROOT/scripts/lib/install.sh"

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
die() {
    echo "demo: $*" >&2
    exit 1
}

# ---- 0. what the demo needs ------------------------------------------------------------
# The psql client comes with the postgresql package; mariadb-install-db with mariadb-server.
DEMO_PACKAGES=(postgresql mariadb-server mariadb-client)
if [[ -z ${VIGIL_BIN:-} ]]; then
    DEMO_PACKAGES+=("${VIGIL_BUILD_PACKAGES[@]}")
fi
if [[ "${DEMO_NO_INSTALL:-}" != "1" ]] && command -v dpkg-query >/dev/null; then
    say "installing what is missing (${DEMO_PACKAGES[*]})"
    install_debian_packages "${DEMO_PACKAGES[@]}" ||
        die "could not install ${DEMO_PACKAGES[*]} (run as root, or with passwordless sudo)"
fi

# ---- PostgreSQL binaries ---------------------------------------------------------------
setup_pg_path
PG_BIN=$(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -name bin -type d 2>/dev/null | sort -V | tail -n 1)
if [[ -z $PG_BIN ]] && command -v initdb >/dev/null; then
    PG_BIN=$(dirname "$(command -v initdb)")
fi
[[ -n $PG_BIN && -x $PG_BIN/initdb ]] ||
    die "PostgreSQL server binaries not found; install them: apt-get install postgresql"
command -v psql >/dev/null || die "psql not found; install it: apt-get install postgresql-client"
export PATH="$PG_BIN:$PATH"
for tool in mariadbd mariadb-install-db mariadb; do
    command -v "$tool" >/dev/null ||
        die "$tool not found; install it: apt-get install mariadb-server mariadb-client"
done

# ---- helpers ---------------------------------------------------------------------------
random_hex() { head -c "$1" /dev/urandom | od -An -tx1 | tr -d ' \n'; }

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# pick_port VAR PREFERRED: sets VAR to PREFERRED when free, else to a random free port.
TAKEN_PORTS=""
pick_port() {
    local port=$2 _
    for _ in $(seq 100); do
        if ! port_in_use "$port" && [[ " $TAKEN_PORTS " != *" $port "* ]]; then
            TAKEN_PORTS="$TAKEN_PORTS $port"
            printf -v "$1" '%s' "$port"
            return
        fi
        port=$((20000 + RANDOM % 40000))
    done
    die "no free TCP port found"
}

healthz_ok() {
    (
        exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
        printf 'GET /healthz HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' >&3
        IFS= read -r -t 5 status <&3 || exit 1
        [[ $status == *" 200"* ]]
    ) 2>/dev/null
}

# PostgreSQL's server tools refuse to run as root: run them as the postgres user then.
as_pg() {
    if ((EUID == 0)); then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

# ---- cleanup, also on Ctrl-C and errors --------------------------------------------------
WORK=""
VIGIL_PID=""
PG_STARTED=0
MARIADB_PID=""
# shellcheck disable=SC2317  # invoked by the trap
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    if [[ -n $VIGIL_PID ]] && kill -0 "$VIGIL_PID" 2>/dev/null; then
        kill "$VIGIL_PID" 2>/dev/null || true
        for _ in $(seq 50); do
            kill -0 "$VIGIL_PID" 2>/dev/null || break
            sleep 0.1
        done
        kill -9 "$VIGIL_PID" 2>/dev/null || true
        wait "$VIGIL_PID" 2>/dev/null || true
    fi
    if [[ -n $MARIADB_PID ]] && kill -0 "$MARIADB_PID" 2>/dev/null; then
        kill "$MARIADB_PID" 2>/dev/null || true
        for _ in $(seq 100); do
            kill -0 "$MARIADB_PID" 2>/dev/null || break
            sleep 0.1
        done
        kill -9 "$MARIADB_PID" 2>/dev/null || true
        wait "$MARIADB_PID" 2>/dev/null || true
    fi
    if ((PG_STARTED)); then
        (cd "$WORK" && as_pg pg_ctl stop -D "$WORK/pg" -m immediate -w >/dev/null 2>&1) || true
    fi
    if [[ -n $WORK && -d $WORK ]]; then
        rm -rf "$WORK"
    fi
    echo
    echo "demo: stopped and cleaned up"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- 1. build ----------------------------------------------------------------------------
if [[ -n ${VIGIL_BIN:-} ]]; then
    VIGIL=$VIGIL_BIN
else
    if [[ "${DEMO_NO_INSTALL:-}" == "1" ]]; then
        command -v cargo >/dev/null || export PATH="$HOME/.cargo/bin:$PATH"
        command -v cargo >/dev/null || die "cargo not found (install Rust, or drop DEMO_NO_INSTALL)"
    else
        setup_rust
    fi
    say "building vigil (cargo build -p vigil; the first build takes several minutes)"
    cargo build -q -p vigil
    VIGIL="$(cargo_target_dir "$ROOT")/debug/vigil"
fi
[[ -x $VIGIL ]] || die "no vigil binary at $VIGIL"

WORK=$(mktemp -d -t vigil-demo-XXXXXX)
chmod 755 "$WORK"

# ---- 2. a private PostgreSQL ---------------------------------------------------------------
pick_port PG_PORT 25432
PG_SUPER_PW=$(random_hex 16)
APP_PW=$(random_hex 16)
say "starting a private PostgreSQL on 127.0.0.1:$PG_PORT ($WORK/pg)"
mkdir -p "$WORK/sock"
printf '%s\n' "$PG_SUPER_PW" >"$WORK/pwfile"
chmod 600 "$WORK/pwfile"
if ((EUID == 0)); then
    id postgres >/dev/null 2>&1 || die "running as root needs a 'postgres' user (apt-get install postgresql)"
    chown -R postgres: "$WORK"
fi
(cd "$WORK" && as_pg initdb -D "$WORK/pg" -U postgres --auth=scram-sha-256 --pwfile="$WORK/pwfile" \
    -E UTF8 --no-locale --no-sync --no-instructions >"$WORK/initdb.log" 2>&1) ||
    die "initdb failed: $(cat "$WORK/initdb.log")"
(cd "$WORK" && as_pg pg_ctl start -D "$WORK/pg" -l "$WORK/postgres.log" -w -t 60 \
    -o "-p $PG_PORT -k $WORK/sock -c listen_addresses=127.0.0.1 -c fsync=off" >/dev/null) ||
    die "pg_ctl start failed: $(cat "$WORK/postgres.log")"
PG_STARTED=1

say "seeding database 'shop' from examples/quickstart/seed.sql (role 'app', random password)"
super_psql() {
    PGPASSWORD=$PG_SUPER_PW PGOPTIONS='-c client_min_messages=warning' psql -X -q -v ON_ERROR_STOP=1 \
        "host=127.0.0.1 port=$PG_PORT user=postgres dbname=$1 sslmode=disable" "${@:2}"
}
super_psql postgres -c "CREATE DATABASE shop" >/dev/null
super_psql shop -v app_password="$APP_PW" -f "$ROOT/examples/quickstart/seed.sql" >/dev/null
echo "customers: $(super_psql shop -At -c 'SELECT count(*) FROM customers'), orders: $(super_psql shop -At -c 'SELECT count(*) FROM orders')"

# ---- 3. a private MariaDB -----------------------------------------------------------------
# mariadbd refuses to run as root: as root it runs as the mysql user, and the administrator is
# root through the socket (unix_socket authentication); otherwise both are the current user.
pick_port MARIADB_PORT 23306
MARIADB_APP_PW=$(random_hex 16)
MARIADB_DIR="$WORK/mariadb"
MARIADB_SOCKET="$MARIADB_DIR/run/sock"
say "starting a private MariaDB on 127.0.0.1:$MARIADB_PORT ($MARIADB_DIR)"
mkdir -p "$MARIADB_DIR/data" "$MARIADB_DIR/run" "$MARIADB_DIR/tmp"
chmod 755 "$MARIADB_DIR"
MARIADB_AS=()
MARIADB_ADMIN=$(id -un)
if ((EUID == 0)); then
    id mysql >/dev/null 2>&1 || die "running as root needs a 'mysql' user (apt-get install mariadb-server)"
    chown -R mysql: "$MARIADB_DIR"
    MARIADB_AS=(--user=mysql)
fi
mariadb-install-db --no-defaults "${MARIADB_AS[@]}" --auth-root-authentication-method=socket \
    --datadir="$MARIADB_DIR/data" --tmpdir="$MARIADB_DIR/tmp" >"$WORK/mariadb-install.log" 2>&1 ||
    die "mariadb-install-db failed: $(cat "$WORK/mariadb-install.log")"
mariadbd --no-defaults "${MARIADB_AS[@]}" --bind-address=127.0.0.1 --skip-name-resolve \
    --datadir="$MARIADB_DIR/data" --tmpdir="$MARIADB_DIR/tmp" --port="$MARIADB_PORT" \
    --socket="$MARIADB_SOCKET" --pid-file="$MARIADB_DIR/run/pid" >"$WORK/mariadb.log" 2>&1 &
MARIADB_PID=$!
admin_mariadb() {
    mariadb --no-defaults -u "$MARIADB_ADMIN" --socket="$MARIADB_SOCKET" "$@"
}
for _ in $(seq 600); do
    kill -0 "$MARIADB_PID" 2>/dev/null || die "mariadbd exited during startup: $(tail -n 30 "$WORK/mariadb.log")"
    admin_mariadb -e "SELECT 1" >/dev/null 2>&1 && break
    sleep 0.1
done
admin_mariadb -e "SELECT 1" >/dev/null 2>&1 ||
    die "MariaDB was not ready after 60s: $(tail -n 30 "$WORK/mariadb.log")"

say "seeding database 'shop' from examples/quickstart/seed-mariadb.sql (user 'app', random password)"
{
    printf "SET @app_password = '%s';\n" "$MARIADB_APP_PW"
    cat "$ROOT/examples/quickstart/seed-mariadb.sql"
} | admin_mariadb || die "seeding MariaDB failed"
echo "customers: $(admin_mariadb -N -e 'SELECT count(*) FROM shop.customers')"

# ---- 4. tokens and the gateway -----------------------------------------------------------
pick_port VIGIL_PG_PORT 15432
pick_port VIGIL_MYSQL_PORT 13306
pick_port VIGIL_HTTP_PORT 8080
export VIGIL_DATA="$WORK/vigil-data"
export VIGIL_PG_LISTEN="127.0.0.1:$VIGIL_PG_PORT"
export VIGIL_MYSQL_LISTEN="127.0.0.1:$VIGIL_MYSQL_PORT"
export VIGIL_HTTP_LISTEN="127.0.0.1:$VIGIL_HTTP_PORT"
export SHOP_PG_ADDR="127.0.0.1:$PG_PORT"
export SHOP_PG_PASSWORD="$APP_PW"
export SHOP_MARIADB_ADDR="127.0.0.1:$MARIADB_PORT"
export SHOP_MARIADB_PASSWORD="$MARIADB_APP_PW"
mkdir -p "$VIGIL_DATA"

say "creating tokens: an analyst agent (group analysts) and an admin (group admins, human)"
ANALYST_TOKEN=$("$VIGIL" token create --config "$CONFIG" --name analyst-agent --groups analysts --kind agent) ||
    die "vigil token create failed"
ADMIN_TOKEN=$("$VIGIL" token create --config "$CONFIG" --name admin --groups admins --kind human) ||
    die "vigil token create failed"
[[ -n $ANALYST_TOKEN && -n $ADMIN_TOKEN ]] || die "vigil token create printed no token"
echo "analyst token: ${ANALYST_TOKEN:0:12}…  admin token: ${ADMIN_TOKEN:0:12}…"

say "starting vigil serve (postgres on $VIGIL_PG_LISTEN, mysql on $VIGIL_MYSQL_LISTEN, http on $VIGIL_HTTP_LISTEN)"
"$VIGIL" serve --config "$CONFIG" >"$WORK/vigil.log" 2>&1 &
VIGIL_PID=$!
ready=0
for _ in $(seq 600); do
    if ! kill -0 "$VIGIL_PID" 2>/dev/null; then
        tail -n 30 "$WORK/vigil.log" >&2 || true
        die "vigil serve exited during startup (log above)"
    fi
    if port_in_use "$VIGIL_PG_PORT" && port_in_use "$VIGIL_MYSQL_PORT" && healthz_ok "$VIGIL_HTTP_PORT"; then
        ready=1
        break
    fi
    sleep 0.1
done
((ready)) || {
    tail -n 30 "$WORK/vigil.log" >&2 || true
    die "vigil serve was not ready after 60s (log above)"
}
echo "ready"

# ---- 5. the showcase ---------------------------------------------------------------------
analyst_psql() {
    PGPASSWORD=$ANALYST_TOKEN psql -X \
        "host=127.0.0.1 port=$VIGIL_PG_PORT dbname=shop user=analyst-agent sslmode=disable" "$@"
}

say "an allowed read (the analyst policy allows provably read-only statements)"
echo "analyst> SELECT name, email FROM customers LIMIT 3;"
analyst_psql -c "SELECT name, email FROM customers LIMIT 3" || true

say "a denied statement"
echo "analyst> DROP TABLE customers;"
if analyst_psql -c "DROP TABLE customers"; then
    echo "(unexpected: the DROP was allowed)"
else
    echo "(the DROP was refused; customers still has $(super_psql shop -At -c 'SELECT count(*) FROM customers') rows)"
fi

# The same analyst through the mariadb CLI (tests/tests/quickstart.rs runs these statements).
analyst_mariadb() {
    mariadb --no-defaults --protocol=tcp -h 127.0.0.1 -P "$VIGIL_MYSQL_PORT" --skip-ssl \
        -u analyst-agent -p"$ANALYST_TOKEN" shop-mariadb "$@"
}

say "MariaDB: an allowed read, personal data masked (email, card number)"
echo "analyst> SELECT name, email, card_number FROM customers ORDER BY id LIMIT 3;"
analyst_mariadb --table -e "SELECT name, email, card_number FROM customers ORDER BY id LIMIT 3" || true

say "MariaDB: a denied write (no rule allows a DELETE without WHERE; one with WHERE waits for a DBA)"
echo "analyst> DELETE FROM customers;"
if analyst_mariadb -e "DELETE FROM customers"; then
    echo "(unexpected: the DELETE was allowed)"
else
    echo "(the DELETE was refused; MariaDB's customers still has $(admin_mariadb -N -e 'SELECT count(*) FROM shop.customers') rows)"
fi

say "the ledger so far (vigil sessions list, as the admin)"
VIGIL_SERVER="http://$VIGIL_HTTP_LISTEN" VIGIL_TOKEN="$ADMIN_TOKEN" "$VIGIL" sessions list || true

cat <<EOT

== try it yourself

  Connect as the analyst agent:
    PGPASSWORD='$ANALYST_TOKEN' psql "host=127.0.0.1 port=$VIGIL_PG_PORT dbname=shop user=analyst-agent sslmode=disable"

  Connect as the admin:
    PGPASSWORD='$ADMIN_TOKEN' psql "host=127.0.0.1 port=$VIGIL_PG_PORT dbname=shop user=admin sslmode=disable"

  The MariaDB shop through Vigil (the database names the connection; the token is the password):
    mariadb --protocol=tcp -h 127.0.0.1 -P $VIGIL_MYSQL_PORT --skip-ssl -u analyst-agent -p'$ANALYST_TOKEN' shop-mariadb

  See the ledger (sessions, then one session's statements and decisions):
    VIGIL_SERVER=http://$VIGIL_HTTP_LISTEN VIGIL_TOKEN='$ADMIN_TOKEN' $VIGIL sessions list
    VIGIL_SERVER=http://$VIGIL_HTTP_LISTEN VIGIL_TOKEN='$ADMIN_TOKEN' $VIGIL sessions show ID

  Vigil's log: $WORK/vigil.log (removed with everything else on exit)
EOT

if [[ "${DEMO_NO_WAIT:-}" == "1" ]]; then
    exit 0
fi
echo
echo "Vigil is running. Press Ctrl-C to stop and clean up."
wait "$VIGIL_PID" || true
die "vigil serve stopped unexpectedly (see above)"
