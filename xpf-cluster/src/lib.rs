//! HA chassis cluster: session-delta sync over a TCP fabric link, bulk sync, stale reconcile.
//!
//! Not implemented yet: this crate reserves its place in the workspace and in
//! the dependency rules enforced by `deny.toml`; its work is tracked by
//! issue (cluster, not yet filed) (see ARCHITECTURE.md, "Status").
