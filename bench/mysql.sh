#!/usr/bin/env bash
# MySQL/MariaDB through Vigil: sysbench oltp_read_only straight to a private MariaDB and
# through Vigil, throughput, latency and Vigil's CPU per transaction, median of BENCH_RUNS
# runs of BENCH_SECONDS seconds (defaults 3 x 15 s). Everything runs on loopback in one temp
# dir (the system MariaDB, if any, is not touched).
#
#   VIGIL_BIN=target/release/vigil bench/mysql.sh
#   BENCH_SECONDS=5 BENCH_RUNS=1 BENCH_THREADS="1 8" bench/mysql.sh
#
# sysbench runs with --db-ps-mode=disable (every statement a COM_QUERY, as most ORMs and the
# MariaDB CLI send them). Needs sysbench and mariadb-server (Debian packages of those names).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

SECONDS_PER_RUN=${BENCH_SECONDS:-15}
RUNS=${BENCH_RUNS:-3}
THREADS=${BENCH_THREADS:-"1 8 32"}
TABLES=4
TABLE_SIZE=${BENCH_TABLE_SIZE:-20000}
for tool in sysbench mariadbd mariadb-install-db; do
    command -v "$tool" >/dev/null || { echo "bench: $tool is not installed (apt-get install sysbench mariadb-server)" >&2; exit 1; }
done
TICK=$(getconf CLK_TCK)
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

WORK=$(mktemp -d /tmp/vigil-bench-mysql-XXXXXX)
chmod 755 "$WORK"
mkdir -p "$WORK/data" "$WORK/tmp" "$WORK/run"
if ((EUID == 0)); then chown -R mysql "$WORK/data" "$WORK/tmp" "$WORK/run"; fi
MY_PORT=$(free_port)
MY_PASSWORD=$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
say "starting a private MariaDB on 127.0.0.1:$MY_PORT"
mariadb-install-db --no-defaults --user=mysql --auth-root-authentication-method=socket \
    --datadir="$WORK/data" --tmpdir="$WORK/tmp" >"$WORK/install.log" 2>&1 ||
    { cat "$WORK/install.log" >&2; exit 1; }
mariadbd --no-defaults --user=mysql --bind-address=127.0.0.1 --skip-name-resolve \
    --datadir="$WORK/data" --tmpdir="$WORK/tmp" --port="$MY_PORT" \
    --socket="$WORK/run/sock" --pid-file="$WORK/run/pid" --max-connections=500 \
    --innodb-buffer-pool-size=256M >"$WORK/mariadb.log" 2>&1 &
MY_PID=$!
PIDS+=("$MY_PID")
root_sql() { mariadb --no-defaults -u root --socket="$WORK/run/sock" -e "$1"; }
for _ in $(seq 300); do root_sql "SELECT 1" >/dev/null 2>&1 && break; sleep 0.2; done
root_sql "CREATE DATABASE sbtest; CREATE USER 'sb'@'%' IDENTIFIED BY '$MY_PASSWORD'; GRANT ALL ON sbtest.* TO 'sb'@'%';"

COMMON=(--db-driver=mysql --tables="$TABLES" --table-size="$TABLE_SIZE" --mysql-db=sbtest)
say "sysbench oltp_read_only prepare ($TABLES tables x $TABLE_SIZE rows)"
sysbench oltp_read_only "${COMMON[@]}" --mysql-host=127.0.0.1 --mysql-port="$MY_PORT" \
    --mysql-user=sb --mysql-password="$MY_PASSWORD" prepare >/dev/null

if [[ -z ${VIGIL_BIN:-} ]]; then
    say "building vigil (release)"
    (cd "$ROOT" && cargo build --release -q -p vigil)
    VIGIL_BIN="$ROOT/target/release/vigil"
fi
VIGIL_PORT=$(free_port)
HTTP_PORT=$(free_port)
# BENCH_VIGIL_WORKERS (default 1, as in bench/pg.sh) is `[server] workers`; empty: one per core.
WORKERS=${BENCH_VIGIL_WORKERS-1}
cat >"$WORK/vigil.toml" <<TOML
[server]
data_dir = "$WORK/vigil-data"
admin_groups = ["admins"]
${WORKERS:+workers = $WORKERS}
[listen]
mysql = "127.0.0.1:$VIGIL_PORT"
http = "127.0.0.1:$HTTP_PORT"
[log]
level = "warn"
[[connection]]
name = "sbtest"
kind = "mysql"
address = "127.0.0.1:$MY_PORT"
database = "sbtest"
user = "sb"
password = "$MY_PASSWORD"
[[policy]]
name = "admins"
groups = ["admins"]
connections = ["sbtest"]
  [[policy.rule]]
  name = "admin-all"
  effect = "allow"
  [[policy.rule]]
  name = "no-drop"
  effect = "deny"
  when = 'sql.kind == "drop"'
TOML
TOKEN=$("$VIGIL_BIN" token create --config "$WORK/vigil.toml" --name bench --groups admins --kind human)
"$VIGIL_BIN" serve --config "$WORK/vigil.toml" >"$WORK/vigil.log" 2>&1 &
VIGIL_PID=$!
PIDS+=("$VIGIL_PID")
for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$VIGIL_PORT") 2>/dev/null && break; sleep 0.1; done

# run_once SETUP THREADS -> "tps latency_ms vigil_cpu_us_per_txn mariadb_cpu_us_per_txn"
run_once() {
    local setup=$1 threads=$2 args out
    args=("${COMMON[@]}" --mysql-host=127.0.0.1 --threads="$threads" --time="$SECONDS_PER_RUN"
        --db-ps-mode=disable --report-interval=0)
    case $setup in
        direct) args+=(--mysql-port="$MY_PORT" --mysql-user=sb --mysql-password="$MY_PASSWORD") ;;
        vigil) args+=(--mysql-port="$VIGIL_PORT" --mysql-user=bench --mysql-password="$TOKEN") ;;
    esac
    local v0 m0 v1 m1
    v0=$(cpu_ticks "$VIGIL_PID") m0=$(cpu_ticks "$MY_PID")
    out=$(sysbench oltp_read_only "${args[@]}" run 2>&1) || { echo "sysbench failed ($setup $threads): $out" >&2; echo "0 0 0 0"; return; }
    v1=$(cpu_ticks "$VIGIL_PID") m1=$(cpu_ticks "$MY_PID")
    local txns tps lat
    txns=$(sed -n 's/^ *transactions: *\([0-9]*\) .*/\1/p' <<<"$out")
    tps=$(sed -n 's/^ *transactions: *[0-9]* *(\([0-9.]*\) per sec.*/\1/p' <<<"$out")
    lat=$(sed -n 's/^ *avg: *\([0-9.]*\)$/\1/p' <<<"$out" | head -n 1)
    local vcpu=0 mcpu=0
    if [[ ${txns:-0} -gt 0 ]]; then
        [[ $setup == vigil ]] && vcpu=$(awk -v t=$((v1 - v0)) -v hz="$TICK" -v n="$txns" 'BEGIN {printf "%.1f", t / hz * 1e6 / n}')
        mcpu=$(awk -v t=$((m1 - m0)) -v hz="$TICK" -v n="$txns" 'BEGIN {printf "%.1f", t / hz * 1e6 / n}')
    fi
    echo "${tps:-0} ${lat:-0} $vcpu $mcpu"
}

measure() {
    local setup=$1 threads=$2 i rows=()
    for ((i = 0; i < RUNS; i++)); do rows+=("$(run_once "$setup" "$threads")"); done
    local col out=()
    for col in 1 2 3 4; do
        out+=("$(printf '%s\n' "${rows[@]}" | awk -v c="$col" '{print $c}' | median)")
    done
    echo "${out[*]}"
}

printf '\n%-8s | %10s %8s %9s | %10s %8s %9s %9s | %8s\n' \
    threads direct-tps lat-ms db-cpu-us vigil-tps lat-ms db-cpu-us vigil-cpu v/direct
for t in $THREADS; do
    say "oltp_read_only, $t threads"
    read -r dt dl _ dm <<<"$(measure direct "$t")"
    read -r vt vl vc vm <<<"$(measure vigil "$t")"
    printf '%-8s | %10.1f %8.2f %9s | %10.1f %8.2f %9s %9s | %8.2f\n' \
        "$t" "$dt" "$dl" "$dm" "$vt" "$vl" "$vm" "$vc" \
        "$(awk -v a="$vt" -v b="$dt" 'BEGIN {print (b > 0 ? a / b : 0)}')"
done
echo "(cpu columns: µs of CPU per transaction; an oltp_read_only transaction is 16 statements)"
