#!/usr/bin/env bash
# The ledger alone, without network or PostgreSQL in the way: the
# vigil-store example append_bench (SESSIONS tasks that each append a
# decision, wait until it is durable, then append its outcome) for 1, 10 and
# 50 sessions, with the default ledger and with `[ledger] fsync = true`.
# Prints records per second (a statement is two records: the decision and
# its outcome), how long a decision takes to become durable (what a
# statement waits before it is forwarded: mean and 99th percentile) and the
# process's CPU per record. Each figure is the median of BENCH_RUNS runs of
# BENCH_SECONDS seconds (defaults 3 x 10 s).
#
#   bench/ledger.sh
#   BENCH_SECONDS=3 BENCH_RUNS=1 BENCH_LEDGER_SESSIONS="1 10" bench/ledger.sh   # a quick look
#   BENCH_LEDGER_FSYNC=on bench/ledger.sh              # only with fsync = true
#   APPEND_BENCH_BIN=/path/to/append_bench bench/ledger.sh   # skip the build
#
# The store is written under BENCH_LEDGER_DIR (default: the target dir, on
# the disk a data_dir would be on; /tmp may be tmpfs, where fsync is free).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SECONDS_PER_RUN=${BENCH_SECONDS:-10}
RUNS=${BENCH_RUNS:-3}
SESSIONS=${BENCH_LEDGER_SESSIONS:-"1 10 50"}
FSYNC=${BENCH_LEDGER_FSYNC:-"off on"}
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}

say() { printf '== %s\n' "$*" >&2; }
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

if [[ -z ${APPEND_BENCH_BIN:-} ]]; then
    say "building append_bench (release)"
    (cd "$ROOT" && cargo build --release -q -p vigil-store --example append_bench)
    APPEND_BENCH_BIN="$TARGET/release/examples/append_bench"
fi
[[ -x $APPEND_BENCH_BIN ]] || { echo "bench: no append_bench at $APPEND_BENCH_BIN" >&2; exit 1; }

DIR=${BENCH_LEDGER_DIR:-$TARGET}
mkdir -p "$DIR"
WORK=$(mktemp -d "$DIR/vigil-ledger-bench-XXXXXX")
trap 'rm -rf "$WORK"' EXIT INT TERM
say "store under $WORK ($(df -T "$WORK" | awk 'NR == 2 {print $2}'))"

# field NAME LINE -> the value of NAME=... in append_bench's `result` line.
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$2"; }

# run SESSIONS FSYNC(off|on) -> "records/s decision-us p99-us cpu-us-per-record"
run_once() {
    local sessions=$1 fsync=$2 args out line
    args=("$sessions" "$SECONDS_PER_RUN")
    [[ $fsync == on ]] && args+=(fsync)
    out=$(TMPDIR=$WORK "$APPEND_BENCH_BIN" "${args[@]}" 2>&1) || { echo "append_bench failed ($sessions $fsync): $out" >&2; echo "0 0 0 0"; return; }
    line=$(grep '^result ' <<<"$out" || true)
    [[ -n $line ]] || { echo "append_bench printed no result line: $out" >&2; echo "0 0 0 0"; return; }
    echo "$(field records_per_s "$line") $(field decision_us "$line") $(field decision_p99_us "$line") $(field cpu_us_per_record "$line")"
}

measure() {
    local i rows=() col out=()
    for ((i = 0; i < RUNS; i++)); do rows+=("$(run_once "$1" "$2")"); done
    for col in 1 2 3 4; do
        out+=("$(printf '%s\n' "${rows[@]}" | awk -v c="$col" '{print $c}' | median)")
    done
    echo "${out[*]}"
}

printf '\n%-6s %8s | %11s %12s %12s %14s\n' fsync sessions records/s decision-us p99-us cpu-us/record
for fsync in $FSYNC; do
    for s in $SESSIONS; do
        say "fsync $fsync, $s sessions"
        read -r rps dus p99 cpu <<<"$(measure "$s" "$fsync")"
        printf '%-6s %8s | %11.0f %12.1f %12.1f %14.1f\n' "$fsync" "$s" "$rps" "$dus" "$p99" "$cpu"
    done
done
echo
echo "median of $RUNS runs of ${SECONDS_PER_RUN}s; records: a decision and its outcome per statement;"
echo "decision-us: append of a decision until durable (mean; p99); cpu-us/record: process utime+stime; $(nproc) cores"
