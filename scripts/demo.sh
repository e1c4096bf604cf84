#!/usr/bin/env bash
# The README's first command: build xpf and run its main job on an embedded
# default. No root, no NIC, no network access beyond fetching crates.
#
# Today the main job validates and compiles the embedded branch-office
# config and prints the ApplyResult a backend reports after applying it.
# Pass a config file to use your own:  scripts/demo.sh path/to/config.toml
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"

if ! command -v cargo >/dev/null 2>&1; then
    echo "demo: cargo not found. xpf needs Rust 1.95 or newer (https://rustup.rs)." >&2
    exit 1
fi
have=$(rustc --version | awk '{print $2}')
if [[ "$(printf '%s\n1.95.0\n' "$have" | sort -V | head -1)" != "1.95.0" ]]; then
    echo "demo: rustc $have is too old; xpf needs Rust 1.95 or newer." >&2
    exit 1
fi

echo "== building (first run downloads crates and takes a minute)"
cargo build --release --quiet -p xpf-compile
echo "== xpf-compile ${*:-(embedded branch-office config)}"
exec target/release/xpf-compile "$@"
