//! Userspace backend: xpf-engine on in-memory, AF_PACKET and AF_XDP ports.
//!
//! Not implemented yet: this crate reserves its place in the workspace and in
//! the dependency rules enforced by `deny.toml`; its work is tracked by
//! issue 4 (see ARCHITECTURE.md, "Status").
