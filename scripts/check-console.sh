#!/usr/bin/env bash
# The web console's built files (crates/vigil-gateway/console-dist, embedded into the gateway at
# compile time) are committed so a checkout without Node builds the binary. This check rebuilds
# them from console/ in a temp dir, with the locked packages (`npm ci`), and fails when the
# result differs from what is committed: a source change without `npm run build`, or a build
# that is not reproducible.
#
#   scripts/check-console.sh          # from anywhere; needs node and npm
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$(pwd)
COMMITTED=crates/vigil-gateway/console-dist

TMP=$(mktemp -d "${TMPDIR:-/tmp}/vigil-console-check.XXXXXX")
trap 'rm -rf "$TMP"' EXIT

# The same layout as the repository, so vite.config.ts's outDir (../crates/...) lands in $TMP.
mkdir -p "$TMP/console" "$TMP/crates/vigil-gateway"
tar -C console --exclude=./node_modules -cf - . | tar -C "$TMP/console" -xf -
(cd "$TMP/console" && npm ci --no-audit --no-fund --loglevel=error && npm run --silent build >/dev/null)

if ! diff -r "$TMP/$COMMITTED" "$ROOT/$COMMITTED" >"$TMP/diff.txt"; then
    echo "console-dist differs from a fresh build of console/:" >&2
    head -n 40 "$TMP/diff.txt" | cut -c1-200 >&2
    echo "run: (cd console && npm ci && npm run build), then commit crates/vigil-gateway/console-dist" >&2
    exit 1
fi
echo "console-dist matches a fresh build of console/ ($(find "$ROOT/$COMMITTED" -type f | wc -l) files)"
