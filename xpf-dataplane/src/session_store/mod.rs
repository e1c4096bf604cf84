//! Backend-independent session-store semantics.
//!
//! A backend provides the primitives of its session table as a
//! [`SessionTable`]; the functions here build the operations of
//! [`SessionStore`](crate::traits::SessionStore) on top of them, and every
//! `SessionTable` is a `SessionStore` through them. The semantics (what a
//! companion delete removes, which sessions a cluster reconcile deletes, when
//! a close event is emitted) are therefore written once, not per backend:
//!
//! - [`delete_known`]: the single known-value delete path (GC expiry,
//!   companion deletes and reconcile all go through it);
//! - [`delete_session_known`] / [`delete_with_companions`]: forward + reverse
//!   + NAT companions, from a known forward entry or from either key;
//! - [`reconcile_cluster_bulk`]: stale-session cleanup after a peer's bulk
//!   sync (see [`ReconcileInput`] for the exact rule);
//! - [`install_session`] / [`put_cluster_synced`]: forward + derived reverse
//!   + NAT companions.
//!
//! [`MemorySessionStore`] is a complete in-memory table built on them.

mod derive;
mod memory;
mod nat;
mod ops;
mod table;
mod types;

pub use derive::{close_event, forward_entry_of_reverse, open_event, reverse_entry, with_flags};
pub use memory::{Clock, MemorySessionStore};
pub use nat::NatCompanion;
pub use ops::{
    batch_delete_known, count, delete_known, delete_session_known, delete_with_companions,
    install_session, put_cluster_synced, reconcile_cluster_bulk,
};
pub use table::SessionTable;
pub use types::{
    BatchDeleteResult, CompanionDeleteResult, ReconcileInput, ReconcileResult, SessionCount,
};
