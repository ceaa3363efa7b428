#!/usr/bin/env bash
# pgbench through three setups in one run: direct, pgbouncer (session
# pooling) and Vigil (policy, ledger and a mask rule active), for 1, 10 and
# 50 clients, -S simple, -S prepared, the TPC-B script and connection set-up
# (-S with -C: a new connection per transaction). Each figure is the median
# of BENCH_RUNS runs of BENCH_SECONDS seconds (defaults 3 x 15 s). Proxy CPU
# per transaction is utime+stime of the proxy over the run.
#
# A mode with `+tls` (`select-simple+tls`, `connect+tls`) runs with client
# TLS (pgbench sslmode=require) to all three: PostgreSQL with ssl = on,
# pgbouncer with client_tls_*, Vigil with `[tls]`, all three offering the
# same self-signed ECDSA P-256 certificate; proxies talk plaintext to
# PostgreSQL either way. BENCH_TLS=1 adds the `+tls` twin after each mode.
#
#   bench/pg.sh                          # the full table (about 35 minutes)
#   BENCH_SECONDS=5 BENCH_RUNS=1 bench/pg.sh   # a quick look
#   BENCH_CLIENTS="1 10" bench/pg.sh
#   BENCH_MODES=connect BENCH_TLS=1 BENCH_CLIENTS="1 10 50 200" bench/pg.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

SECONDS_PER_RUN=${BENCH_SECONDS:-15}
RUNS=${BENCH_RUNS:-3}
CLIENTS=${BENCH_CLIENTS:-"1 10 50"}
MODES=${BENCH_MODES:-"select-simple select-prepared tpcb connect"}
TICK=$(getconf CLK_TCK)

if [[ ${BENCH_TLS:-0} == 1 ]]; then
    twins=""
    for mode in $MODES; do twins+=" $mode ${mode%+tls}+tls"; done
    MODES=$(tr ' ' '\n' <<<"$twins" | awk 'NF && !seen[$0]++' | tr '\n' ' ')
fi
tls=""
[[ $PGSSLMODE != disable ]] && tls=tls
for mode in $MODES; do
    case ${mode%+tls} in
        select-simple | select-prepared | tpcb | connect) ;;
        *) echo "bench: unknown mode $mode (select-simple, select-prepared, tpcb, connect; +tls for client TLS)" >&2; exit 1 ;;
    esac
    [[ $mode == *+tls ]] && tls=tls
done
# Room for the most clients twice over: pgbouncer keeps its pool's server
# connections open while the direct and Vigil runs open their own.
max_clients=$(tr ' ' '\n' <<<"$CLIENTS" | sort -n | tail -n 1)
max_conn=$((2 * max_clients + 50 > 300 ? 2 * max_clients + 50 : 300))
pool=$((max_clients > 200 ? max_clients : 200))
ulimit -n $((4 * max_clients + 1024)) 2>/dev/null || true

bench_setup "$max_conn" "$tls"
say "pgbench -i -s 10"
pgbench -i -s 10 -q -h 127.0.0.1 -p "$PG_PORT" -U postgres bench >/dev/null 2>&1
start_pgbouncer "$pool"
MASK='  [[policy.mask]]
  columns = ["pgbench_accounts.filler"]
  style = "partial"'
# VIGIL_BIN_B: a second build beside the first, same stack, same runs (A/B).
if [[ -n ${VIGIL_BIN_B:-} ]]; then
    A_BIN=$VIGIL_BIN
    VIGIL_BIN=$VIGIL_BIN_B VIGIL_NAME=vigil-b start_vigil "$MASK"
    B_PORT=$VIGIL_PORT B_PID=$VIGIL_PID B_TOKEN=$TOKEN
    VIGIL_BIN=$A_BIN
fi
start_vigil "$MASK"

# run SETUP MODE CLIENTS -> "tps latency_ms cpu_us_per_txn"
run_once() {
    local setup=$1 mode=$2 clients=$3 port password pid=""
    case $setup in
        direct) port=$PG_PORT password=$PG_PASSWORD ;;
        pgbouncer) port=$BOUNCER_PORT password=$PG_PASSWORD pid=$BOUNCER_PID ;;
        vigil) port=$VIGIL_PORT password=$TOKEN pid=$VIGIL_PID ;;
        vigil-b) port=$B_PORT password=$B_TOKEN pid=$B_PID ;;
    esac
    local args=(-h 127.0.0.1 -p "$port" -U postgres -T "$SECONDS_PER_RUN" -c "$clients" -j "$((clients < 2 ? 1 : 2))" -n)
    case ${mode%+tls} in
        select-simple) args+=(-S -M simple) ;;
        select-prepared) args+=(-S -M prepared) ;;
        tpcb) args+=(-M simple) ;;
        connect) args+=(-S -M simple -C) ;;
    esac
    local sslmode=$PGSSLMODE
    [[ $mode == *+tls ]] && sslmode=require
    local before=0 out
    [[ -n $pid ]] && before=$(cpu_ticks "$pid")
    out=$(PGSSLMODE=$sslmode PGPASSWORD=$password pgbench "${args[@]}" bench 2>&1) || { echo "pgbench failed ($setup $mode $clients): $out" >&2; echo "0 0 0"; return; }
    local after=0
    [[ -n $pid ]] && after=$(cpu_ticks "$pid")
    local tps lat txns
    tps=$(sed -n 's/^tps = \([0-9.]*\).*/\1/p' <<<"$out")
    lat=$(sed -n 's/^latency average = \([0-9.]*\) ms/\1/p' <<<"$out")
    txns=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' <<<"$out")
    grep -q "number of failed transactions: 0 " <<<"$out" || echo "warning: failed transactions ($setup $mode $clients)" >&2
    local cpu=0
    if [[ -n $pid && ${txns:-0} -gt 0 ]]; then
        cpu=$(awk -v t=$((after - before)) -v hz="$TICK" -v n="$txns" 'BEGIN {printf "%.1f", t / hz * 1e6 / n}')
    fi
    echo "${tps:-0} ${lat:-0} $cpu"
}

measure() {
    local setup=$1 mode=$2 clients=$3 i rows=()
    for ((i = 0; i < RUNS; i++)); do rows+=("$(run_once "$setup" "$mode" "$clients")"); done
    local tps lat cpu
    tps=$(printf '%s\n' "${rows[@]}" | awk '{print $1}' | median)
    lat=$(printf '%s\n' "${rows[@]}" | awk '{print $2}' | median)
    cpu=$(printf '%s\n' "${rows[@]}" | awk '{print $3}' | median)
    echo "$tps $lat $cpu"
}

printf '\n%-20s %7s | %10s %8s | %10s %8s %7s | %10s %8s %7s | %8s %8s\n' \
    mode clients direct-tps lat-ms bouncer-tps lat-ms cpu-us vigil-tps lat-ms cpu-us v/direct v/bouncer
for mode in $MODES; do
    for c in $CLIENTS; do
        say "$mode, $c clients"
        read -r dt dl _ <<<"$(measure direct "$mode" "$c")"
        read -r bt bl bc <<<"$(measure pgbouncer "$mode" "$c")"
        if [[ -n ${VIGIL_BIN_B:-} ]]; then
            read -r wt wl wc <<<"$(measure vigil-b "$mode" "$c")"
            printf '%-20s %7s | vigil B (%s): %10.0f tps %8.3f ms %7s cpu-us\n' "$mode" "$c" "$VIGIL_BIN_B" "$wt" "$wl" "$wc"
        fi
        read -r vt vl vc <<<"$(measure vigil "$mode" "$c")"
        printf '%-20s %7s | %10.0f %8.3f | %10.0f %8.3f %7s | %10.0f %8.3f %7s | %8.2f %8.2f\n' \
            "$mode" "$c" "$dt" "$dl" "$bt" "$bl" "$bc" "$vt" "$vl" "$vc" \
            "$(awk -v a="$vt" -v b="$dt" 'BEGIN {print (b > 0 ? a / b : 0)}')" \
            "$(awk -v a="$vt" -v b="$bt" 'BEGIN {print (b > 0 ? a / b : 0)}')"
    done
done
echo
echo "median of $RUNS runs of ${SECONDS_PER_RUN}s; cpu-us: proxy utime+stime per transaction; $(nproc) cores"
echo "connect: one connection per transaction (-C), so tps is connections per second and lat-ms includes the log-in"
echo "+tls: client TLS (sslmode=require) to all three, the same certificate; the other modes: sslmode=$PGSSLMODE"
