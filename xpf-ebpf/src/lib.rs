//! eBPF/XDP backend: C programs loaded with aya, config lowered into BPF maps.
//!
//! Not implemented yet: this crate reserves its place in the workspace and in
//! the dependency rules enforced by `deny.toml`; its work is tracked by
//! issue 5 (see ARCHITECTURE.md, "Status").
