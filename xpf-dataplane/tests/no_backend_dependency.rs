//! `xpf-dataplane` (and `xpf-runtime`) build without any backend: their
//! resolved dependency graphs, including dev- and build-dependencies,
//! contain no backend crate, no engine and no backend-only third-party
//! crate. This complements `deny.toml` (which `cargo deny check bans`
//! enforces for the whole workspace) with a check that runs in plain
//! `cargo test`.

use std::collections::{BTreeSet, HashMap};
use std::process::Command;

const FORBIDDEN: &[&str] = &[
    "xpf-engine",
    "xpf-userspace",
    "xpf-ebpf",
    "xpf-dpdk",
    "xpf-cluster",
    "xpf-conformance",
    "aya",
    "aya-obj",
    "libbpf-sys",
    "libbpf-rs",
    "xsk-rs",
    "xpf-xsk",
    "afxdp",
];

fn metadata() -> serde_json::Value {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--offline"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run cargo metadata");
    assert!(
        out.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("metadata is JSON")
}

/// Every package reachable from `root` through the resolve graph.
fn closure(meta: &serde_json::Value, root: &str) -> BTreeSet<String> {
    let names: HashMap<&str, &str> = meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["id"].as_str().unwrap(), p["name"].as_str().unwrap()))
        .collect();
    let nodes: HashMap<&str, Vec<&str>> = meta["resolve"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            let deps = n["deps"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d["pkg"].as_str().unwrap())
                .collect();
            (n["id"].as_str().unwrap(), deps)
        })
        .collect();
    let root_id = names
        .iter()
        .find(|(_, n)| **n == root)
        .map(|(id, _)| *id)
        .expect("root package in metadata");
    let mut seen = BTreeSet::new();
    let mut stack = vec![root_id];
    while let Some(id) = stack.pop() {
        for dep in nodes.get(id).into_iter().flatten() {
            if seen.insert(names[dep].to_string()) {
                stack.push(dep);
            }
        }
    }
    seen
}

#[test]
fn dataplane_and_runtime_depend_on_no_backend() {
    let meta = metadata();
    for root in ["xpf-dataplane", "xpf-runtime"] {
        let deps = closure(&meta, root);
        let bad: Vec<&&str> = FORBIDDEN.iter().filter(|f| deps.contains(**f)).collect();
        assert!(bad.is_empty(), "{root} depends on {bad:?}");
        assert!(!deps.is_empty() || root == "xpf-runtime");
    }
    assert!(
        !closure(&meta, "xpf-runtime").contains("xpf-dataplane"),
        "xpf-runtime is the leaf: it must not depend on xpf-dataplane"
    );
}
