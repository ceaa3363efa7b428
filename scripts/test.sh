#!/usr/bin/env bash
# Vigil's whole check, as CI runs it: installs what is missing (idempotently, with
# scripts/lib/install.sh, which scripts/demo.sh shares), then format, check the web console's
# committed build, lint, document (rustdoc warnings are errors), build the workspace and the
# fuzz crates, and test. End-to-end tests start their own PostgreSQL, MariaDB, sshd, chromium
# and gateway on loopback; nothing here uses a system service.
#
#   scripts/test.sh            # from anywhere; works as root or with sudo
#
# Environment: CI=true is honoured (no colours, no prompts). SKIP_INSTALL=1 skips step 1.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$(pwd)
export DEBIAN_FRONTEND=noninteractive
export CARGO_TERM_PROGRESS_WHEN=never
if [[ "${CI:-}" == "true" ]]; then
    export CARGO_TERM_COLOR=never
fi

START=$SECONDS
step_start=
section() {
    if [[ -n $step_start ]]; then
        echo "    (took $((SECONDS - step_start))s)"
    fi
    step_start=$SECONDS
    echo
    echo "=================================================================="
    echo "== $*"
    echo "=================================================================="
}

# shellcheck source=scripts/lib/install.sh
source "$ROOT/scripts/lib/install.sh"

DEB_PACKAGES=(
    "${VIGIL_BUILD_PACKAGES[@]}"
    postgresql postgresql-contrib pgbouncer openssl
    openssh-server openssh-client sshpass asciinema rsync
    gzip brotli zstd
    mariadb-server mariadb-client
    chromium
)
if ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
    DEB_PACKAGES+=(python3 python3-venv)
fi

# Python clients for the end-to-end tests: psycopg, pytest, paramiko (SSH), PyMySQL and
# mysql-connector-python (MySQL text and prepared-statement protocols), the official MCP SDK, and
# CrewAI with crewai-tools' MCP adapter (examples/crewai). Pinned: these move fast.
PY_PACKAGES=('psycopg[binary]' pytest paramiko PyMySQL mysql-connector-python 'mcp==1.30.0' 'crewai==1.15.30' 'crewai-tools[mcp]==1.15.30')

setup_venv() {
    local py=.venv/bin/python
    if [[ -x $py ]] && "$py" -c 'import psycopg, pytest, paramiko, pymysql, mysql.connector, mcp, crewai, crewai_tools' >/dev/null 2>&1; then
        echo "Python venv: present ($("$py" -c 'import psycopg, mcp, crewai; print("psycopg", psycopg.__version__, "crewai", crewai.__version__)'))"
        return
    fi
    if [[ ! -x $py ]]; then
        python3 -m venv .venv
    fi
    "$py" -m pip install -q --disable-pip-version-check --no-input "${PY_PACKAGES[@]}"
    echo "Python venv: ready ($("$py" -c 'import psycopg, crewai; print("psycopg", psycopg.__version__, "crewai", crewai.__version__)'))"
}

# Node clients for the end-to-end tests (mysql2, pinned by tests/node/package-lock.json) and the
# console's browser tests (playwright-core driving Debian's chromium, pinned by
# tests/browser/package-lock.json).
setup_node() {
    if [[ -d tests/node/node_modules/mysql2 && -d tests/browser/node_modules/playwright-core ]]; then
        echo "Node packages: present"
        return
    fi
    if ! command -v npm >/dev/null 2>&1; then
        install_debian_packages nodejs npm
    fi
    npm ci --prefix tests/node --no-audit --no-fund
    npm ci --prefix tests/browser --no-audit --no-fund
    echo "Node packages: ready"
}

section "1/8 install what is missing"
if [[ "${SKIP_INSTALL:-}" != "1" ]]; then
    install_debian_packages "${DEB_PACKAGES[@]}"
    setup_venv
    setup_node
fi
setup_pg_path
setup_rust rustfmt clippy
echo "PostgreSQL: $(command -v initdb) ($(postgres --version 2>/dev/null || echo missing))"
# The Kubernetes tests drive the real kubectl (1.30 or later: exec over WebSocket). Debian's
# kubernetes-client is 1.20, too old, and kubectl comes from no registry these machines reach,
# so it must already be on the machine (or named by KUBECTL); the tests fail clearly without it.
echo "kubectl: $("${KUBECTL:-kubectl}" version --client 2>/dev/null | head -1 || echo 'missing: the k8s_* tests will fail')"
TARGET_DIR=$(cargo_target_dir "$ROOT")

section "2/8 cargo fmt --all -- --check"
cargo fmt --all -- --check

section "3/8 the web console: a fresh build of console/ matches the committed console-dist"
scripts/check-console.sh

section "4/8 cargo clippy --workspace --all-targets -- -D warnings"
cargo clippy --workspace --all-targets -- -D warnings

section "5/8 cargo doc --workspace --no-deps (RUSTDOCFLAGS=-D warnings)"
RUSTDOCFLAGS="${RUSTDOCFLAGS:-} -D warnings" cargo doc --workspace --no-deps

section "6/8 cargo build --workspace --all-targets, and the fuzz crates"
cargo build --workspace --all-targets
# Each fuzz crate is its own workspace (crates/*/fuzz, for cargo-fuzz). `cargo fuzz run` needs
# nightly for its sanitizer flags; a plain stable build compiles the same targets and links
# libFuzzer's driver (libfuzzer-sys needs only a C++ compiler), so a change that breaks a fuzz
# target fails here. They share one target dir so pg_query is built once for them.
for manifest in crates/*/fuzz/Cargo.toml; do
    echo "-- $manifest"
    cargo build --manifest-path "$manifest" --target-dir "$TARGET_DIR/fuzz"
done

section "7/8 cargo test --workspace"
VIGIL_BIN="$TARGET_DIR/debug/vigil" cargo test --workspace --no-fail-fast

section "8/8 done"
echo "all checks passed in $((SECONDS - START))s"
