#!/usr/bin/env bash
# Vigil's whole check, as CI runs it: installs what is missing (idempotently), then
# format, lint, build and test the workspace. End-to-end tests start their own PostgreSQL,
# MariaDB, sshd and gateway on loopback; nothing here uses a system service.
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

as_root() {
    if ((EUID == 0)); then
        "$@"
    elif command -v sudo >/dev/null; then
        sudo -n "$@"
    else
        echo "need root (or sudo) to run: $*" >&2
        return 1
    fi
}

DEB_PACKAGES=(
    postgresql postgresql-contrib pgbouncer
    libclang-dev clang build-essential pkg-config ca-certificates curl openssl
    openssh-server
    mariadb-server mariadb-client
)

install_debian_packages() {
    local missing=() pkg
    if ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
        DEB_PACKAGES+=(python3 python3-venv)
    fi
    for pkg in "${DEB_PACKAGES[@]}"; do
        if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
            missing+=("$pkg")
        fi
    done
    if ((${#missing[@]} == 0)); then
        echo "Debian packages: all present"
        return
    fi
    echo "Debian packages to install: ${missing[*]}"
    # Our tests start private servers; keep the packages' own services from starting
    # (the usual container policy-rc.d), and put things back afterwards.
    local policy=/usr/sbin/policy-rc.d added_policy=0
    if [[ ! -e $policy ]] && ((EUID == 0)); then
        printf '#!/bin/sh\nexit 101\n' >"$policy"
        chmod 755 "$policy"
        added_policy=1
        trap 'rm -f /usr/sbin/policy-rc.d' EXIT
    fi
    as_root apt-get update -qq
    as_root apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    if ((added_policy)); then
        rm -f "$policy"
        trap - EXIT
    fi
}

setup_path() {
    local pgbin
    pgbin=$(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -name bin -type d 2>/dev/null | sort -V | tail -n 1)
    if [[ -n $pgbin ]]; then
        export PATH="$pgbin:$PATH"
    fi
    # pgbouncer and sshd live in sbin, which a non-login root shell may lack.
    export PATH="$PATH:/usr/sbin:/sbin"
}

# Python clients for the end-to-end tests: psycopg, pytest, the official MCP SDK, and
# CrewAI with crewai-tools' MCP adapter (examples/crewai). Pinned: these move fast.
PY_PACKAGES=('psycopg[binary]' pytest 'mcp==1.30.0' 'crewai==1.15.30' 'crewai-tools[mcp]==1.15.30')

setup_venv() {
    local py=.venv/bin/python
    if [[ -x $py ]] && "$py" -c 'import psycopg, pytest, mcp, crewai, crewai_tools' >/dev/null 2>&1; then
        echo "Python venv: present ($("$py" -c 'import psycopg, mcp, crewai; print("psycopg", psycopg.__version__, "crewai", crewai.__version__)'))"
        return
    fi
    if [[ ! -x $py ]]; then
        python3 -m venv .venv
    fi
    "$py" -m pip install -q --disable-pip-version-check --no-input "${PY_PACKAGES[@]}"
    echo "Python venv: ready ($("$py" -c 'import psycopg, crewai; print("psycopg", psycopg.__version__, "crewai", crewai.__version__)'))"
}

setup_rust() {
    if ! command -v cargo >/dev/null; then
        if [[ ! -x $HOME/.cargo/bin/cargo ]]; then
            # Debian's own cargo is too old for edition 2024; use rustup's stable toolchain.
            echo "installing Rust (rustup, stable, minimal profile)"
            curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs |
                sh -s -- -y -q --profile minimal -c rustfmt -c clippy
        fi
        export PATH="$HOME/.cargo/bin:$PATH"
    fi
    if ! cargo fmt --version >/dev/null 2>&1 || ! cargo clippy --version >/dev/null 2>&1; then
        rustup component add rustfmt clippy
    fi
    cargo --version
}

section "1/5 install what is missing"
if [[ "${SKIP_INSTALL:-}" != "1" ]]; then
    install_debian_packages
    setup_venv
fi
setup_path
setup_rust
echo "PostgreSQL: $(command -v initdb) ($(postgres --version 2>/dev/null || echo missing))"

section "2/5 cargo fmt --all -- --check"
cargo fmt --all -- --check

section "3/5 cargo clippy --workspace --all-targets -- -D warnings"
cargo clippy --workspace --all-targets -- -D warnings

section "4/5 cargo build --workspace --all-targets"
cargo build --workspace --all-targets

section "5/5 cargo test --workspace"
VIGIL_BIN="${CARGO_TARGET_DIR:-$ROOT/target}/debug/vigil" cargo test --workspace --no-fail-fast

section "done"
echo "all checks passed in $((SECONDS - START))s"
