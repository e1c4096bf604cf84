//! Session deltas: the stream of session changes HA sync replicates.
//!
//! A backend records a [`SessionDelta`] when a session opens, changes in a
//! way the peer must know (state, NAT, timeout class) or closes. The cluster
//! sync drains them in batches through [`SessionDeltaSource::drain`] and uses
//! [`SessionDeltaSource::export_owner_rg`] for bulk sync of every session a
//! redundancy group owns.
//!
//! The backend **epoch** changes whenever the backend loses delta history
//! (restart, table clear, queue overflow): a consumer that sees a new epoch
//! or a snapshot with `lost > 0` must fall back to a bulk export.

use crate::event::CloseReason;
use crate::ids::RedundancyGroupId;
use crate::session::{AnySessionKey, SessionEntry};
use serde::{Deserialize, Serialize};

/// Why a delta was recorded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SessionDeltaReason {
    /// A session was created.
    Open,
    /// A session changed state (e.g. became established, started closing).
    Update,
    /// A session was closed.
    Close(CloseReason),
    /// Part of a bulk export, not a change.
    Bulk,
}

/// One session change. `entry` is always the **forward** entry; the peer
/// derives the reverse entry from it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionDelta {
    /// Monotonic sequence number within the backend epoch.
    pub seq: u64,
    /// Why it was recorded.
    pub reason: SessionDeltaReason,
    /// The forward entry at the time of the change.
    pub entry: SessionEntry,
}

/// A batch of deltas.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionDeltaSnapshot {
    /// Backend epoch (see the module docs).
    pub epoch: u64,
    /// The deltas, oldest first.
    pub deltas: Vec<SessionDelta>,
    /// True when more deltas (or sessions, for an export) remained than `max`.
    pub truncated: bool,
    /// For a truncated export: pass this key as `after` to continue.
    pub resume_after: Option<AnySessionKey>,
    /// Deltas lost since the previous drain (queue overflow).
    pub lost: u64,
}

/// What the backend's session sweeper (GC) did most recently.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SweepProfile {
    /// Sweeps run since start.
    pub sweeps: u64,
    /// Entries examined by the last sweep.
    pub last_scanned: u64,
    /// Sessions expired by the last sweep.
    pub last_expired: u64,
    /// Duration of the last sweep, ns (backend clock).
    pub last_duration_ns: u64,
    /// Deltas waiting to be drained.
    pub pending_deltas: u64,
}

/// Errors from a delta source.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SessionDeltaError {
    /// The backend is not running.
    #[error("session delta source is not running")]
    NotRunning,
    /// The backend cannot produce deltas.
    #[error("session deltas unsupported: {0}")]
    Unsupported(String),
    /// Any backend failure.
    #[error("session delta source failed: {0}")]
    Backend(String),
}

/// The source of session deltas a backend exposes to HA sync.
pub trait SessionDeltaSource: Send + Sync {
    /// Removes and returns up to `max` pending deltas, oldest first.
    fn drain(&self, max: usize) -> Result<SessionDeltaSnapshot, SessionDeltaError>;

    /// Returns up to `max` forward sessions owned by any of `groups` as
    /// [`SessionDeltaReason::Bulk`] deltas, in key order, starting after
    /// `after`. Pending deltas are not consumed.
    fn export_owner_rg(
        &self,
        groups: &[RedundancyGroupId],
        after: Option<AnySessionKey>,
        max: usize,
    ) -> Result<SessionDeltaSnapshot, SessionDeltaError>;

    /// Statistics of the most recent session sweep.
    fn sweep_profile(&self) -> SweepProfile;
}
