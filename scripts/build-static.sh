#!/usr/bin/env bash
# Builds a fully static nmr binary (x86_64, musl libc) that runs on any x86_64 Linux.
# Honours CARGO_TARGET_DIR. Needs rustup, and musl-gcc for the bundled SQLite C code.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

target=x86_64-unknown-linux-musl

if ! rustup target list --installed | grep -qx "$target"; then
    echo "adding Rust target $target"
    rustup target add "$target"
fi

if ! command -v musl-gcc >/dev/null 2>&1; then
    if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
        echo "installing musl-tools (provides musl-gcc)"
        DEBIAN_FRONTEND=noninteractive apt-get update -q
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q musl-tools
    else
        echo "musl-gcc not found: install musl-tools (e.g. sudo apt-get install musl-tools) and run again" >&2
        exit 1
    fi
fi

cargo build --release --locked --target "$target"

target_dir=${CARGO_TARGET_DIR:-${CARGO_BUILD_TARGET_DIR:-target}}
bin="$target_dir/$target/release/nmr"
if [[ ! -x $bin ]]; then
    echo "build finished but $bin is missing" >&2
    exit 1
fi

if command -v file >/dev/null 2>&1; then
    info=$(file -L "$bin")
    echo "$info"
    if ! grep -Eq 'statically linked|static-pie linked' <<<"$info"; then
        echo "$bin is not statically linked" >&2
        exit 1
    fi
else
    info=$(ldd "$bin" 2>&1 || true)
    echo "ldd: $info"
    if ! grep -Eq 'not a dynamic executable|statically linked' <<<"$info"; then
        echo "$bin is not statically linked" >&2
        exit 1
    fi
fi

echo "static binary: $bin"
