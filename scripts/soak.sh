#!/usr/bin/env bash
# Explore new property-test cases on purpose: CI (scripts/test-all.sh) runs
# every property test with one fixed seed, so its cases are a function of
# the code; this script runs the conformance suite of every backend (and,
# with --all, every property test of the workspace) under fresh random seeds
# and more cases, printing each seed so a failure can be replayed exactly.
#
#   scripts/soak.sh [--rounds N] [--cases N] [--all]
#
#   --rounds N  seeds to try (default 3)
#   --cases N   conformance cases per property (default 10000)
#   --all       every test of the workspace, not only the conformance suites
#
# Replay a failure: PROPTEST_RNG_SEED=<seed> XPF_CONFORMANCE_CASES=<cases>
# cargo test -p <crate> --test <test>; then pin it (XPF_CONFORMANCE_SAVE=1
# writes the shrunk case into xpf-conformance/corpus). The eBPF suite needs
# root; without it, XPF_ALLOW_SKIP_PRIVILEGED=1 skips it.

set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"

rounds=3
cases=10000
all=0
while [[ $# -gt 0 ]]; do
    case "$1" in
        --rounds) rounds="$2"; shift 2 ;;
        --cases) cases="$2"; shift 2 ;;
        --all) all=1; shift ;;
        *) echo "usage: $0 [--rounds N] [--cases N] [--all]" >&2; exit 2 ;;
    esac
done

suites=(
    "-p xpf-engine --test conformance_engine"
    "-p xpf-userspace --test conformance"
    "-p xpf-ebpf --test conformance"
)
failed=0
for ((r = 1; r <= rounds; r++)); do
    seed=$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')
    echo "=== round $r/$rounds: PROPTEST_RNG_SEED=$seed XPF_CONFORMANCE_CASES=$cases"
    if [[ "$all" == 1 ]]; then
        if ! PROPTEST_RNG_SEED="$seed" XPF_CONFORMANCE_CASES="$cases" cargo test --workspace; then
            echo "FAILED: PROPTEST_RNG_SEED=$seed XPF_CONFORMANCE_CASES=$cases cargo test --workspace"
            failed=1
        fi
        continue
    fi
    for s in "${suites[@]}"; do
        # shellcheck disable=SC2086  # $s is a list of cargo arguments
        if ! PROPTEST_RNG_SEED="$seed" XPF_CONFORMANCE_CASES="$cases" cargo test $s; then
            echo "FAILED: PROPTEST_RNG_SEED=$seed XPF_CONFORMANCE_CASES=$cases cargo test $s"
            failed=1
        fi
    done
done
exit "$failed"
