#!/usr/bin/env bash
# Builds a fully static nmr binary (x86_64) that runs on any x86_64 Linux, whatever its libc
# (or none: an empty container root). Prints the binary's path as the last line of stdout;
# cargo's and this script's progress go to stderr. Honours CARGO_TARGET_DIR.
#
# The musl target is preferred: musl is made to be linked statically, and its resolver needs
# nothing but /etc/hosts and /etc/resolv.conf. A static glibc resolves from those too, but
# cannot load the NSS modules (LDAP, mDNS, ...) a site's /etc/nsswitch.conf may name. Where the
# musl target or musl-gcc (for the bundled SQLite C code) cannot be had, the gnu target with
# crt-static links statically all the same.
# NMR_STATIC_TARGET=x86_64-unknown-linux-gnu forces that fallback.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

musl=x86_64-unknown-linux-musl
gnu=x86_64-unknown-linux-gnu

# Whether the musl target and musl-gcc are there, adding them where this machine allows.
musl_ready() {
    if ! rustup target list --installed 2>/dev/null | grep -qx "$musl"; then
        echo "adding Rust target $musl" >&2
        rustup target add "$musl" >&2 || return 1
    fi
    if ! command -v musl-gcc >/dev/null 2>&1; then
        if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
            echo "installing musl-tools (provides musl-gcc)" >&2
            export DEBIAN_FRONTEND=noninteractive
            { apt-get update -qq && apt-get install -y -qq musl-tools; } >&2 || return 1
        else
            echo "musl-gcc not found (install musl-tools: sudo apt-get install musl-tools)" >&2
            return 1
        fi
    fi
}

target=${NMR_STATIC_TARGET:-}
if [[ -z $target ]]; then
    if musl_ready; then
        target=$musl
    else
        echo "falling back to $gnu with crt-static" >&2
        target=$gnu
    fi
fi

if [[ $target == "$gnu" ]]; then
    # Only for this build: RUSTFLAGS would otherwise change (and rebuild) the ordinary one too,
    # which is why it goes to its own --target directory.
    RUSTFLAGS="${RUSTFLAGS:-} -C target-feature=+crt-static" \
        cargo build --release --locked --target "$target" >&2
else
    cargo build --release --locked --target "$target" >&2
fi

target_dir=${CARGO_TARGET_DIR:-${CARGO_BUILD_TARGET_DIR:-target}}
bin="$target_dir/$target/release/nmr"
if [[ ! -x $bin ]]; then
    echo "build finished but $bin is missing" >&2
    exit 1
fi

# Both tools, when present: `file` names the linking, `ldd` would list any shared library.
if command -v file >/dev/null 2>&1; then
    info=$(file -L "$bin")
    echo "$info" >&2
    if ! grep -Eq 'statically linked|static-pie linked' <<<"$info"; then
        echo "$bin is not statically linked" >&2
        exit 1
    fi
fi
info=$(ldd "$bin" 2>&1 || true)
echo "ldd: $info" >&2
if ! grep -Eq 'not a dynamic executable|statically linked' <<<"$info"; then
    echo "$bin is not statically linked" >&2
    exit 1
fi

echo "$bin"
