//! Inputs and results of the session-store operations.

use crate::error::DataplaneError;
use std::collections::{BTreeSet, HashSet};
use xpf_runtime::{AddressFamily, AnySessionKey, SessionEntry, ZoneId};

/// Session counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct SessionCount {
    /// IPv4 sessions (forward entries).
    pub v4: usize,
    /// IPv6 sessions (forward entries).
    pub v6: usize,
    /// Every stored entry, forward and reverse, of both families.
    pub entries: usize,
}

impl SessionCount {
    /// Sessions of both families.
    pub fn sessions(&self) -> usize {
        self.v4 + self.v6
    }

    /// Counts one entry.
    pub fn add(&mut self, entry: &SessionEntry) {
        self.entries += 1;
        if !entry.is_reverse() {
            match entry.family() {
                AddressFamily::Inet => self.v4 += 1,
                AddressFamily::Inet6 => self.v6 += 1,
            }
        }
    }
}

/// What a batch of known-value deletes did.
#[derive(Debug, Default)]
pub struct BatchDeleteResult {
    /// Entries removed.
    pub deleted: usize,
    /// Entries that were already gone (or whose key now belongs to another
    /// session) and were left alone.
    pub missing: usize,
    /// Entries whose delete failed, with the error. The batch continued.
    pub errors: Vec<(AnySessionKey, DataplaneError)>,
}

impl BatchDeleteResult {
    /// True when no delete failed.
    pub fn is_complete(&self) -> bool {
        self.errors.is_empty()
    }
}

/// What deleting one session with its companions removed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct CompanionDeleteResult {
    /// The forward entry was present and removed (and a close event emitted).
    pub forward: bool,
    /// The reverse entry was present and removed.
    pub reverse: bool,
    /// NAT companion entries removed.
    pub nat_companions: usize,
}

impl CompanionDeleteResult {
    /// Session entries removed (0, 1 or 2).
    pub fn entries_removed(&self) -> usize {
        usize::from(self.forward) + usize::from(self.reverse)
    }

    /// True when nothing at all was removed (the session was already gone).
    pub fn is_noop(&self) -> bool {
        self.entries_removed() == 0 && self.nat_companions == 0
    }
}

/// What a cluster peer's bulk sync says, for
/// [`SessionStore::reconcile_cluster_bulk`](crate::traits::SessionStore::reconcile_cluster_bulk).
///
/// After a bulk sync from the peer, a local **forward** session is **stale**,
/// and is deleted with its companions, exactly when:
///
/// 1. it is a forward entry (reverse entries are never considered on their
///    own; they go with their forward entry), **and**
/// 2. its ingress zone is **not** in [`synced_zones`](Self::synced_zones),
///    **and**
/// 3. its key is **not** in [`received`](Self::received).
///
/// See [`is_stale`](Self::is_stale). An orphaned reverse entry (whose
/// forward entry is gone) is left for the GC.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReconcileInput {
    /// Forward keys of every session the peer sent in the bulk.
    pub received: HashSet<AnySessionKey>,
    /// Zones whose sessions this node syncs to the peer rather than receives
    /// from it: the zones of redundancy groups this node is primary for.
    /// This node's own sessions in those zones are the source of truth, so
    /// their absence from the peer's bulk says nothing about them; sessions
    /// whose ingress zone is listed here are never reconciled.
    pub synced_zones: BTreeSet<ZoneId>,
}

impl ReconcileInput {
    /// Builds an input.
    pub fn new(
        received: impl IntoIterator<Item = AnySessionKey>,
        synced_zones: impl IntoIterator<Item = ZoneId>,
    ) -> Self {
        Self {
            received: received.into_iter().collect(),
            synced_zones: synced_zones.into_iter().collect(),
        }
    }

    /// True when reconcile deletes `entry` (see the type docs).
    pub fn is_stale(&self, entry: &SessionEntry) -> bool {
        !entry.is_reverse()
            && !self.synced_zones.contains(&entry.ingress_zone())
            && !self.received.contains(&entry.key())
    }
}

/// What a cluster reconcile did.
#[derive(Debug, Default)]
pub struct ReconcileResult {
    /// Stale IPv4 sessions found.
    pub stale_v4: usize,
    /// Stale IPv6 sessions found.
    pub stale_v6: usize,
    /// Stale IPv4 sessions deleted (their forward entry removed by this call).
    pub deleted_v4: usize,
    /// Stale IPv6 sessions deleted.
    pub deleted_v6: usize,
    /// Stale sessions whose delete failed (forward key and error). The
    /// reconcile continued past them.
    pub errors: Vec<(AnySessionKey, DataplaneError)>,
}

impl ReconcileResult {
    /// Stale sessions of both families.
    pub fn stale(&self) -> usize {
        self.stale_v4 + self.stale_v6
    }

    /// Sessions deleted, both families.
    pub fn deleted(&self) -> usize {
        self.deleted_v4 + self.deleted_v6
    }

    /// True when no delete failed.
    pub fn is_complete(&self) -> bool {
        self.errors.is_empty()
    }
}
