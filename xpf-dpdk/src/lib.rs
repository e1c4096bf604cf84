//! DPDK backend: xpf-engine on DPDK 22.11 ports.
//!
//! Not implemented yet: this crate reserves its place in the workspace and in
//! the dependency rules enforced by `deny.toml`; its work is tracked by
//! issue (DPDK backend, not yet filed) (see ARCHITECTURE.md, "Status").
