#!/usr/bin/env bash
# Instructions the proxy executes per transaction, counted by valgrind's callgrind: a
# measure of proxy CPU that, unlike CPU time, does not move with whatever else the machine
# is doing, so two binaries can be compared on a busy host. It counts user-space
# instructions of every thread of the process (the ledger writer included), not kernel
# time: read it next to bench/pg.sh's CPU per transaction, not instead of it.
#
#   VIGIL_BIN=target/release/vigil bench/instructions.sh
#   BENCH_TRANSACTIONS=2000 BENCH_MODES="select-simple select-prepared" bench/instructions.sh
#   VIGIL_BIN=old/vigil VIGIL_BIN_B=new/vigil bench/instructions.sh     # A/B in one run
#
# Each mode runs pgbench -S with one client: a warm-up, then BENCH_TRANSACTIONS
# transactions with instrumentation on (callgrind_control), so start-up is not counted.
# Needs valgrind (Debian: valgrind); with strace installed it also counts system calls per
# transaction (strace attached for the measured run only).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

TRANSACTIONS=${BENCH_TRANSACTIONS:-2000}
MODES=${BENCH_MODES:-"select-simple select-prepared"}
command -v valgrind >/dev/null && command -v callgrind_control >/dev/null ||
    { echo "valgrind is not installed (apt-get install valgrind)" >&2; exit 1; }

bench_setup 50
say "pgbench -i -s 1"
pgbench -i -s 1 -q -h 127.0.0.1 -p "$PG_PORT" -U postgres bench >/dev/null 2>&1

# count BINARY MODE: prints instructions per transaction.
count() {
    local bin=$1 mode=$2 protocol
    case $mode in
        select-simple) protocol=simple ;;
        select-prepared) protocol=prepared ;;
        *) echo "unknown mode $mode" >&2; exit 1 ;;
    esac
    # A fresh gateway each time: its own store (the token name is reused).
    rm -rf "$WORK/vigil-data"
    VIGIL_BIN=$bin VIGIL_WRAPPER="valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file=$WORK/cg.%p" start_vigil '  [[policy.mask]]
  columns = ["pgbench_accounts.filler"]
  style = "partial"'
    local run=(pgbench -h 127.0.0.1 -p "$VIGIL_PORT" -U postgres -c 1 -n -S -M "$protocol" bench)
    PGPASSWORD=$TOKEN "${run[@]}" -t 200 >/dev/null 2>&1
    callgrind_control -i on "$VIGIL_PID" >/dev/null 2>&1
    PGPASSWORD=$TOKEN "${run[@]}" -t "$TRANSACTIONS" > "$WORK/pgbench.out" 2>&1 || { cat "$WORK/pgbench.out" "$WORK/vigil.log" >&2; exit 1; }
    callgrind_control -i off "$VIGIL_PID" >/dev/null 2>&1
    callgrind_control -d "$VIGIL_PID" >/dev/null 2>&1
    kill "$VIGIL_PID"
    wait "$VIGIL_PID" 2>/dev/null || true
    local total
    # Each dump file ends with its total (`totals:`; its `summary:` header is 0 for dumps
    # taken while the process runs).
    total=$(awk '/^totals:/ {s += $2} END {print s}' "$WORK"/cg.*)
    [[ -n ${BENCH_KEEP:-} ]] && cp "$WORK"/cg.* /tmp/ 2>/dev/null; rm -f "$WORK"/cg.*
    echo $((total / TRANSACTIONS))
}

# syscalls BINARY MODE: system calls per transaction (the kernel side callgrind does not
# see: reads, writes, wake-ups), counted by strace attached for the measured run only.
syscalls() {
    local bin=$1 mode=$2 protocol
    case $mode in
        select-simple) protocol=simple ;;
        select-prepared) protocol=prepared ;;
    esac
    rm -rf "$WORK/vigil-data"
    VIGIL_BIN=$bin start_vigil '  [[policy.mask]]
  columns = ["pgbench_accounts.filler"]
  style = "partial"'
    local run=(pgbench -h 127.0.0.1 -p "$VIGIL_PORT" -U postgres -c 1 -n -S -M "$protocol" bench)
    PGPASSWORD=$TOKEN "${run[@]}" -t 200 >/dev/null 2>&1
    strace -f -c -o "$WORK/strace.out" -p "$VIGIL_PID" 2>/dev/null &
    local tracer=$!
    sleep 1
    PGPASSWORD=$TOKEN "${run[@]}" -t "$TRANSACTIONS" >/dev/null 2>&1
    kill -INT "$tracer"
    wait "$tracer" 2>/dev/null || true
    kill "$VIGIL_PID"
    wait "$VIGIL_PID" 2>/dev/null || true
    awk '$NF == "total" {print $4}' "$WORK/strace.out" | awk -v n="$TRANSACTIONS" '{printf "%.1f", $1 / n}'
}

with_syscalls=""
command -v strace >/dev/null && with_syscalls=1
printf '%-16s %-28s %14s %10s\n' mode binary "instr/txn" "syscalls/txn"
for mode in $MODES; do
    for bin in "$VIGIL_BIN" ${VIGIL_BIN_B:+"$VIGIL_BIN_B"}; do
        printf '%-16s %-28s %14s %10s\n' "$mode" "$(basename "$(dirname "$bin")")/$(basename "$bin")" \
            "$(count "$bin" "$mode")" "$([[ -n $with_syscalls ]] && syscalls "$bin" "$mode" || echo -)"
    done
done
