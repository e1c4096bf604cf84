#!/usr/bin/env bash
# The README's first command: build xpf and run its main job. No root, no
# NIC, no network access beyond fetching crates.
#
# The main job replays a small branch-office trace (examples/replay/) through
# the userspace backend (xpf-engine on in-memory ports, deterministic inline
# mode): every frame is injected on its interface at its capture time, the
# frames the firewall forwards are written per egress interface as pcap files,
# and a summary shows forwarded / dropped-by-reason traffic, the session table
# with NAT translations, the log lines and the counters.
#
#   scripts/demo.sh                      replay the shipped trace
#   scripts/demo.sh --out-dir DIR        ... writing the output pcaps to DIR
#   scripts/demo.sh --compile [ARGS]     validate + compile a config instead
#                                        (xpf-compile: ApplyResult, every error)
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

if [[ "${1:-}" == "--compile" ]]; then
    shift
    echo "== building xpf-compile (first run downloads crates and takes a minute)"
    cargo build --release --quiet -p xpf-compile
    echo "== xpf-compile ${*:-(embedded branch-office config)}"
    exec target/release/xpf-compile "$@"
fi

out_dir=target/replay-out
if [[ "${1:-}" == "--out-dir" ]]; then
    out_dir=${2:?--out-dir needs a directory}
    shift 2
fi
if [[ $# -gt 0 ]]; then
    echo "demo: unknown arguments: $*  (see the header of scripts/demo.sh)" >&2
    exit 2
fi

replay=examples/replay
inputs=""
for ifc in ge-0/0/0.0 ge-0/0/1.0 ge-0/0/2.0; do
    inputs+="${inputs:+,}$ifc=$replay/branch-office.${ifc//\//_}.pcap"
done

# A debug build: the trace is tiny, and skipping optimisation keeps the first
# run (which compiles everything) to a minute or two on two cores.
echo "== building xpf-replay (first run downloads crates and takes a minute or two)"
cargo build --quiet -p xpf-replay
echo "== xpf-replay --config $replay/branch-office.toml --in $inputs --out-dir $out_dir"
echo
exec target/debug/xpf-replay --config "$replay/branch-office.toml" --in "$inputs" --out-dir "$out_dir"
