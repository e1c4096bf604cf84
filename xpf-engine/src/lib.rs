//! The portable software packet pipeline (parse, screen, filter, session, policy, NAT, forward) in pure Rust.
//!
//! Not implemented yet: this crate reserves its place in the workspace and in
//! the dependency rules enforced by `deny.toml`; its work is tracked by
//! issue 3 (see ARCHITECTURE.md, "Status").
