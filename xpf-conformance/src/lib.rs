//! The backend conformance suite: reference model, generators and properties.
//!
//! Not implemented yet: this crate reserves its place in the workspace and in
//! the dependency rules enforced by `deny.toml`; its work is tracked by
//! issue 4 (see ARCHITECTURE.md, "Status").
