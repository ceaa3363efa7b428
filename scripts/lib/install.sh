# shellcheck shell=bash
# What scripts/test.sh and scripts/demo.sh share to get a machine ready: Debian packages,
# PostgreSQL's binaries on PATH, and Rust through rustup. Sourced, not run; every function is
# idempotent (it installs only what is missing) and works as root or through passwordless sudo.
#
#   source scripts/lib/install.sh
#   install_debian_packages postgresql libclang-dev ...   # only the missing ones
#   setup_pg_path                                          # newest /usr/lib/postgresql/*/bin first
#   setup_rust [component ...]                             # rustup stable when cargo is missing

# Runs "$@" as root: directly when we are root, else through `sudo -n` (never prompts).
as_root() {
    if ((EUID == 0)); then
        "$@"
    elif command -v sudo >/dev/null; then
        sudo -n "$@"
    else
        echo "need root (or passwordless sudo) to run: $*" >&2
        return 1
    fi
}

# The packages a Vigil build needs on Debian/Ubuntu: libclang for pg_query's bindgen, a C/C++
# compiler for libpg_query and aws-lc, pkg-config, and curl + CA certificates for rustup.
VIGIL_BUILD_PACKAGES=(libclang-dev clang build-essential pkg-config ca-certificates curl)

# install_debian_packages PKG...: installs those of PKG that are not installed yet. Without
# apt-get (not Debian) it names what is missing and fails, so the caller stops with a reason
# rather than later in the build.
install_debian_packages() {
    local missing=() pkg
    for pkg in "$@"; do
        if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
            missing+=("$pkg")
        fi
    done
    if ((${#missing[@]} == 0)); then
        echo "Debian packages: all present"
        return 0
    fi
    if ! command -v apt-get >/dev/null; then
        echo "missing packages (install them with your package manager): ${missing[*]}" >&2
        return 1
    fi
    echo "Debian packages to install: ${missing[*]}"
    # Vigil's scripts start private servers; keep the packages' own services from starting
    # (the usual container policy-rc.d), and put things back afterwards.
    local policy=/usr/sbin/policy-rc.d added_policy=0 rc=0
    if [[ ! -e $policy ]] && ((EUID == 0)); then
        printf '#!/bin/sh\nexit 101\n' >"$policy"
        chmod 755 "$policy"
        added_policy=1
    fi
    DEBIAN_FRONTEND=noninteractive as_root apt-get update -qq || rc=$?
    if ((rc == 0)); then
        DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends \
            "${missing[@]}" >/dev/null || rc=$?
    fi
    if ((added_policy)); then
        rm -f "$policy"
    fi
    return "$rc"
}

# Puts the newest PostgreSQL server binaries (initdb, pg_ctl, postgres) first on PATH;
# Debian keeps them out of /usr/bin. Also adds sbin, which a non-login root shell may lack
# (pgbouncer, sshd).
setup_pg_path() {
    local pgbin
    pgbin=$(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -name bin -type d 2>/dev/null | sort -V | tail -n 1)
    if [[ -n $pgbin ]]; then
        export PATH="$pgbin:$PATH"
    fi
    export PATH="$PATH:/usr/sbin:/sbin"
}

# setup_rust [COMPONENT...]: makes `cargo` callable. When it is missing (and not in
# ~/.cargo/bin either), installs rustup's stable toolchain, minimal profile, with the named
# components (Debian's own cargo is too old for edition 2024). Components asked for but missing
# from an existing toolchain are added.
setup_rust() {
    local c args=()
    if ! command -v cargo >/dev/null; then
        if [[ ! -x $HOME/.cargo/bin/cargo ]]; then
            for c in "$@"; do
                args+=(-c "$c")
            done
            echo "installing Rust (rustup, stable, minimal profile${*:+, with $*})"
            curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs |
                sh -s -- -y -q --profile minimal "${args[@]}"
        fi
        export PATH="$HOME/.cargo/bin:$PATH"
    fi
    for c in "$@"; do
        if ! cargo "${c/rustfmt/fmt}" --version >/dev/null 2>&1; then
            rustup component add "$c"
        fi
    done
    cargo --version
}

# Where cargo puts build output for the workspace at $1: what `cargo metadata` says (it reads
# CARGO_TARGET_DIR, relative to the current directory, and any .cargo/config.toml), else
# CARGO_TARGET_DIR or $1/target by hand.
cargo_target_dir() {
    local dir
    dir=$(cargo metadata --format-version 1 --no-deps --manifest-path "$1/Cargo.toml" 2>/dev/null |
        sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
    if [[ -z $dir ]]; then
        dir=${CARGO_TARGET_DIR:-$1/target}
        if [[ $dir != /* ]]; then
            dir="$(pwd)/$dir"
        fi
    fi
    printf '%s\n' "$dir"
}
