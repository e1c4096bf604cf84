#!/usr/bin/env bash
# Prove that the dependency rules in deny.toml ([bans], deny + wrappers) bite.
#
# The script copies the workspace (without target/ and .git) into a scratch
# directory, and then, for each case, takes a fresh copy of it, adds one
# dependency edge with `cargo add`, runs `cargo deny check bans`, and checks
# the outcome:
#   - a forbidden edge must make the check FAIL, with an `error[banned]` naming
#     the banned crate and an `unmatched-wrapper` naming the offending parent;
#   - an allowed edge (and the unmodified copy) must make the check PASS.
#
# Edges from a lower crate to a crate that already depends on it (e.g.
# xpf-dataplane -> xpf-engine) would be a dependency cycle that cargo itself
# rejects when it is a normal dependency, so those are added as
# dev-dependencies: that is the edge cargo does NOT catch and the one the bans
# must catch.
#
# Cases marked "registry" add a crates.io dependency (aya) and need the
# registry; set XPF_DEPRULES_OFFLINE=1 to run everything with --offline and
# skip those cases (they are reported as SKIP).
#
# Exit status: 0 if every case had the expected outcome, 1 otherwise.
# Usage: scripts/check-dependency-rules.sh   (from anywhere)

set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OFFLINE="${XPF_DEPRULES_OFFLINE:-0}"

if ! cargo deny --version >/dev/null 2>&1; then
    echo "check-dependency-rules: cargo-deny is not installed (cargo install --locked cargo-deny)" >&2
    exit 1
fi
if [[ ! -f "$ROOT/deny.toml" ]]; then
    echo "check-dependency-rules: $ROOT/deny.toml not found" >&2
    exit 1
fi

SCRATCH="$(mktemp -d "${TMPDIR:-/tmp}/xpf-deprules.XXXXXX")"
cleanup() { rm -rf -- "$SCRATCH"; }
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# Copy the workspace once; every case starts from a fresh copy of this.
BASE="$SCRATCH/base"
mkdir -p "$BASE"
tar -C "$ROOT" --anchored \
    --exclude=./.git \
    --exclude=./target \
    --exclude=./fuzz/target \
    --exclude=./fuzz/corpus \
    --exclude=./fuzz/artifacts \
    -cf - . | tar -C "$BASE" -xf -

net_flags=()
if [[ "$OFFLINE" == 1 ]]; then
    net_flags=(--offline)
fi

passed=0
failed=0
skipped=0
case_no=0

# Directory (relative to the workspace root) of the package named $1 in $2.
crate_dir() {
    local name="$1" ws="$2" manifest
    while IFS= read -r manifest; do
        if awk -v n="$name" '
            /^\[/ { in_pkg = ($0 == "[package]") }
            in_pkg && $0 ~ "^name[[:space:]]*=[[:space:]]*\"" n "\"[[:space:]]*$" { found = 1 }
            END { exit !found }' "$manifest"; then
            dirname "${manifest#"$ws"/}"
            return 0
        fi
    done < <(find "$ws" -maxdepth 3 -name Cargo.toml -not -path '*/target/*' | sort)
    return 1
}

# run_case EXPECT PARENT DEP KIND [BANNED]
#   EXPECT: fail | pass
#   PARENT: package that gets the new dependency ("-" for no change)
#   DEP:    an xpf package name (added as a path dependency) or NAME@VERSIONREQ
#           for a crates.io dependency
#   KIND:   normal | dev
#   BANNED: for EXPECT=fail, the crate the error must name (default: DEP's name)
run_case() {
    local expect="$1" parent="$2" dep="$3" kind="$4" banned="${5:-}"
    local dep_name="${dep%%@*}" label dir log rc dep_dir registry=0
    [[ -z "$banned" ]] && banned="$dep_name"
    [[ "$dep" == *@* ]] && registry=1

    case_no=$((case_no + 1))
    if [[ "$parent" == - ]]; then
        label="unmodified workspace"
    else
        label="$parent -> $dep"
        [[ "$kind" == dev ]] && label="$label (dev-dependency)"
    fi
    label="[expect $expect] $label"

    if [[ "$registry" == 1 && "$OFFLINE" == 1 ]]; then
        echo "SKIP  $label: needs the crates.io registry (XPF_DEPRULES_OFFLINE=1)"
        skipped=$((skipped + 1))
        return 0
    fi

    dir="$SCRATCH/case-$case_no"
    log="$SCRATCH/case-$case_no.log"
    cp -a "$BASE" "$dir"

    if [[ "$parent" != - ]]; then
        if ! crate_dir "$parent" "$dir" >/dev/null; then
            echo "FAIL  $label: package '$parent' not found in the workspace"
            failed=$((failed + 1))
            return 0
        fi
        local add_args=(add "${net_flags[@]}" --quiet -p "$parent")
        [[ "$kind" == dev ]] && add_args+=(--dev)
        if [[ "$registry" == 1 ]]; then
            add_args+=("$dep")
        else
            if ! dep_dir="$(crate_dir "$dep" "$dir")"; then
                echo "FAIL  $label: package '$dep' not found in the workspace"
                failed=$((failed + 1))
                return 0
            fi
            # --path: never look an xpf-* name up in the registry.
            add_args+=(--path "$dir/$dep_dir")
        fi
        if ! (cd "$dir" && cargo "${add_args[@]}") >"$log" 2>&1; then
            echo "FAIL  $label: could not add the dependency (cargo add failed):"
            sed 's/^/      | /' "$log"
            failed=$((failed + 1))
            return 0
        fi
    fi

    rc=0
    (cd "$dir" && cargo deny "${net_flags[@]}" --color never check -A unused-wrapper bans) \
        >"$log" 2>&1 || rc=$?

    if [[ "$expect" == pass ]]; then
        if [[ "$rc" == 0 ]]; then
            echo "PASS  $label: accepted"
            passed=$((passed + 1))
        else
            echo "FAIL  $label: cargo deny check bans rejected it (exit $rc):"
            grep -E '^(error|warning)\[' "$log" | sed 's/^/      | /' || sed 's/^/      | /' "$log"
            failed=$((failed + 1))
        fi
    else
        local banned_re="error\\[banned\\]: crate '${banned} = "
        local parent_re="direct parent '${parent} = [^']*' of banned crate '${banned} = "
        if [[ "$rc" == 0 ]]; then
            echo "FAIL  $label: cargo deny check bans ACCEPTED a forbidden dependency"
            failed=$((failed + 1))
        elif grep -qE "$banned_re" "$log" && grep -qE "$parent_re" "$log"; then
            echo "PASS  $label: rejected (banned crate '$banned', parent '$parent')"
            passed=$((passed + 1))
        else
            echo "FAIL  $label: cargo deny failed (exit $rc) but not with a ban of '$banned' by '$parent':"
            sed 's/^/      | /' "$log" | tail -n 40
            failed=$((failed + 1))
        fi
    fi
    rm -rf -- "$dir"
}

echo "check-dependency-rules: workspace $ROOT, scratch $SCRATCH"

# The unmodified workspace passes.
run_case pass - - normal

# No backend depends on another backend.
run_case fail xpf-userspace xpf-ebpf        normal
run_case fail xpf-userspace xpf-dpdk        normal
run_case fail xpf-dpdk      xpf-userspace   normal
run_case fail xpf-ebpf      xpf-dpdk        normal
run_case fail xpf-ebpf      xpf-userspace   dev

# xpf-runtime depends on no other xpf crate.
run_case fail xpf-runtime   xpf-dataplane   dev
run_case fail xpf-runtime   xpf-engine      dev
run_case fail xpf-runtime   xpf-userspace   dev
run_case fail xpf-runtime   xpf-conformance dev

# xpf-dataplane depends on no backend, nor on engine / cluster / conformance.
run_case fail xpf-dataplane xpf-engine      dev
run_case fail xpf-dataplane xpf-userspace   dev
run_case fail xpf-dataplane xpf-ebpf        dev
run_case fail xpf-dataplane xpf-dpdk        dev
run_case fail xpf-dataplane xpf-cluster     dev
run_case fail xpf-dataplane xpf-conformance dev

# The engine is used only by the userspace and DPDK backends (and examples).
run_case fail xpf-engine      xpf-ebpf      normal
run_case fail xpf-conformance xpf-engine    normal
run_case fail xpf-cluster     xpf-engine    normal
run_case fail xpf-ebpf        xpf-engine    normal

# Backends are used only by examples, xpf-bench and xpf-fuzz.
run_case fail xpf-cluster     xpf-userspace normal
run_case fail xpf-conformance xpf-ebpf      normal

# Backend-only third-party crates (registry).
run_case fail xpf-dataplane   aya@=0.14.0   normal
run_case fail xpf-runtime     aya@=0.14.0   normal
run_case fail xpf-userspace   aya@=0.14.0   normal

# The AF_XDP FFI crate is used only by the userspace backend (and bench).
run_case fail xpf-dataplane   xpf-xsk       dev
run_case fail xpf-ebpf        xpf-xsk       normal
run_case fail xpf-dpdk        xpf-xsk       normal

# Allowed edges stay allowed.
run_case pass xpf-userspace   xpf-conformance dev
run_case pass xpf-ebpf        xpf-conformance dev
run_case pass xpf-dpdk        xpf-conformance dev
run_case pass xpf-compile     xpf-userspace   normal
run_case pass xpf-compile     xpf-engine      normal
run_case pass xpf-ebpf        aya@=0.14.0     normal

echo "check-dependency-rules: $passed passed, $failed failed, $skipped skipped"
if [[ "$failed" -ne 0 ]]; then
    exit 1
fi
