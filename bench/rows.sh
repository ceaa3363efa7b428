#!/usr/bin/env bash
# A 1,000,000-row SELECT of text columns with one masked column, streamed to
# the client (psql to /dev/null): rows per second direct and through Vigil,
# and the ratio. Median of BENCH_RUNS runs (default 3).
#
#   bench/rows.sh
#   BENCH_ROWS=200000 BENCH_RUNS=1 bench/rows.sh   # a quick look
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ROWS=${BENCH_ROWS:-1000000}
RUNS=${BENCH_RUNS:-3}

bench_setup 100
say "creating $ROWS rows"
psql -X -q -h 127.0.0.1 -p "$PG_PORT" -U postgres bench <<SQL >/dev/null
CREATE TABLE people AS
SELECT i AS id,
       'person ' || i AS name,
       'user' || i || '@example.com' AS email,
       md5(i::text) AS note
FROM generate_series(1, $ROWS) AS i;
SQL
start_vigil '  [[policy.mask]]
  columns = ["people.email"]
  style = "partial"'

QUERY="SELECT id::text, name, email, note FROM people"

# time_query PORT PASSWORD -> seconds
time_query() {
    local start end
    start=$(date +%s.%N)
    PGPASSWORD=$2 psql -X -q -At -h 127.0.0.1 -p "$1" -U postgres -d bench -o /dev/null -c "$QUERY"
    end=$(date +%s.%N)
    awk -v a="$start" -v b="$end" 'BEGIN {printf "%.3f", b - a}'
}

# Check once that masking is really on, so the figure is honest.
sample=$(PGPASSWORD=$TOKEN psql -X -At -h 127.0.0.1 -p "$VIGIL_PORT" -U postgres -d bench -c "$QUERY LIMIT 1")
case $sample in
    *@example.com*) echo "bench: the email column is not masked through Vigil: $sample" >&2; exit 1 ;;
esac

direct=() vigil=()
for ((i = 0; i < RUNS; i++)); do
    direct+=("$(time_query "$PG_PORT" "$PG_PASSWORD")")
    vigil+=("$(time_query "$VIGIL_PORT" "$TOKEN")")
done
d=$(printf '%s\n' "${direct[@]}" | median)
v=$(printf '%s\n' "${vigil[@]}" | median)
printf '\n%-8s %10s %14s\n' setup seconds rows-per-sec
printf '%-8s %10s %14.0f\n' direct "$d" "$(awk -v n="$ROWS" -v s="$d" 'BEGIN {print n / s}')"
printf '%-8s %10s %14.0f\n' vigil "$v" "$(awk -v n="$ROWS" -v s="$v" 'BEGIN {print n / s}')"
printf 'vigil/direct: %.2f (one masked column of four, style partial; median of %d runs)\n' \
    "$(awk -v d="$d" -v v="$v" 'BEGIN {print d / v}')" "$RUNS"
