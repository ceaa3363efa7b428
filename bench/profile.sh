#!/usr/bin/env bash
# A flat CPU profile of the proxy under pgbench -S (10 clients): where Vigil
# spends its time per transaction. Needs `perf` (Debian: linux-perf).
#
#   VIGIL_BIN=target/release/vigil bench/profile.sh            # -M simple
#   BENCH_PROTOCOL=prepared BENCH_SECONDS=15 bench/profile.sh
#   BENCH_CALLGRAPH=1 bench/profile.sh    # callee-inclusive shares (DWARF stacks, 499 Hz)
#
# Prints the top symbols of the proxy process (self time, no children).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

SECONDS_PER_RUN=${BENCH_SECONDS:-10}
PROTOCOL=${BENCH_PROTOCOL:-simple}
TOP=${BENCH_TOP:-40}
command -v perf >/dev/null || { echo "perf is not installed (apt-get install linux-perf)" >&2; exit 1; }

bench_setup 300
say "pgbench -i -s 10"
pgbench -i -s 10 -q -h 127.0.0.1 -p "$PG_PORT" -U postgres bench >/dev/null 2>&1
start_vigil '  [[policy.mask]]
  columns = ["pgbench_accounts.filler"]
  style = "partial"'

# Warm the caches, then profile.
PGPASSWORD=$TOKEN pgbench -h 127.0.0.1 -p "$VIGIL_PORT" -U postgres -T 2 -c 10 -j 2 -n -S -M "$PROTOCOL" bench >/dev/null 2>&1
RECORD=(-F 1999)
[[ ${BENCH_CALLGRAPH:-0} == 1 ]] && RECORD=(-F 499 --call-graph dwarf,16384)
perf record -q "${RECORD[@]}" -p "$VIGIL_PID" -o "$WORK/perf.data" -- sleep "$SECONDS_PER_RUN" 2>/dev/null &
PERF=$!
PGPASSWORD=$TOKEN pgbench -h 127.0.0.1 -p "$VIGIL_PORT" -U postgres -T "$SECONDS_PER_RUN" -c 10 -j 2 -n -S -M "$PROTOCOL" bench 2>&1 | grep -E "^(tps|number of transactions actually)"
wait "$PERF"
perf report -i "$WORK/perf.data" --no-children --sort symbol --stdio 2>/dev/null | grep -E "^# (Samples|Event count)"
if [[ ${BENCH_CALLGRAPH:-0} == 1 ]]; then
    perf report -i "$WORK/perf.data" --children --sort symbol --stdio -g none --percent-limit 1.5 2>/dev/null | grep -v "^#" | grep -v "^$" | head -n "$TOP"
else
    perf report -i "$WORK/perf.data" --no-children --sort symbol --stdio 2>/dev/null | grep -v "^#" | grep -v "^$" | head -n "$TOP"
fi
