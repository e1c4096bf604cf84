//! [`HAController`]: redundancy-group roles, the watchdog and fabric
//! forwarding, plus [`set_fabric_forwarding_then_sync`], the one correct
//! ordering of a fabric update.
//!
//! A fabric forwarding update has two steps: **commit** the new state to the
//! packet path (e.g. a BPF map write) and then **sync** every other view of
//! it (e.g. the helper process's copy). The xpf-1399 review found the three
//! ways to get this wrong: syncing only one of the two fabric links, syncing
//! before the update, and honouring cancellation between the update and the
//! sync, which left a committed update unsynced. [`FabricBackend`] and
//! [`set_fabric_forwarding_then_sync`] make the ordering structural: the
//! commit and the sync run in one synchronous call, so neither a cancelled
//! token nor a dropped future can separate them.

use crate::cancel::Cancel;
use crate::config::MacAddr;
use crate::error::Result;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::fmt;
use xpf_runtime::RedundancyGroupId;

/// A fabric link between the two cluster nodes (`fab0`, `fab1`).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct FabricId(pub u8);

impl FabricId {
    /// The first fabric link, `fab0`.
    pub const FAB0: Self = Self(0);
    /// The second fabric link, `fab1`.
    pub const FAB1: Self = Self(1);

    /// Wraps a raw id.
    pub const fn new(raw: u8) -> Self {
        Self(raw)
    }

    /// The raw id.
    pub const fn get(self) -> u8 {
        self.0
    }
}

impl fmt::Display for FabricId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "fab{}", self.0)
    }
}

/// How the packet path forwards to the peer node over one fabric link.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FabricForwarding {
    /// The local interface carrying the fabric link.
    pub interface: String,
    /// The peer node's MAC on the fabric link (destination of forwarded frames).
    pub peer_mac: MacAddr,
    /// This node's MAC on the fabric link (source of forwarded frames).
    pub local_mac: MacAddr,
    /// False to stop forwarding over this link (state kept for re-enabling).
    pub enabled: bool,
}

/// Redundancy-group roles, liveness and fabric forwarding of one node.
#[async_trait]
pub trait HAController: Send + Sync {
    /// Makes this node active (primary) or inactive (secondary) for `rg`. An
    /// inactive node drops traffic of sessions the group owns
    /// ([`DropReason::HaInactive`](xpf_runtime::DropReason::HaInactive)) or
    /// forwards it to the peer over the fabric.
    async fn set_rg_active(&self, rg: RedundancyGroupId, active: bool) -> Result<()>;

    /// True when this node is active for `rg`.
    fn rg_active(&self, rg: RedundancyGroupId) -> bool;

    /// Liveness kick from the control plane, `now_ns` on the caller's
    /// monotonic clock. The backend has a configured watchdog timeout; if it
    /// is not kicked within that time it **fails closed**: it treats every
    /// redundancy group as inactive on this node, so a hung control plane can
    /// never leave both nodes forwarding the same traffic. The next kick
    /// restores the roles set with [`set_rg_active`](Self::set_rg_active).
    async fn watchdog(&self, now_ns: u64) -> Result<()>;

    /// Replaces the forwarding state of one fabric link and then syncs the
    /// backend's views of it.
    ///
    /// Contract (see [`crate::cancel`]): `cancel` is checked before the
    /// update only; a cancelled call changes nothing and returns
    /// [`DataplaneError::Cancelled`](crate::DataplaneError::Cancelled). Once
    /// the update has committed, the sync ([`sync_fabric_state`](Self::sync_fabric_state))
    /// always runs, for every fabric link, even if the token is cancelled
    /// meanwhile; a failed update is not synced. Implement it with
    /// [`set_fabric_forwarding_then_sync`].
    async fn set_fabric_forwarding(
        &self,
        fabric: FabricId,
        state: FabricForwarding,
        cancel: &Cancel,
    ) -> Result<()>;

    /// Publishes the committed fabric state to every view that mirrors it
    /// (helper processes, secondary maps). Idempotent; safe to retry after a
    /// failed sync.
    async fn sync_fabric_state(&self) -> Result<()>;

    /// The committed forwarding state of `fabric`, if any was set.
    fn fabric_forwarding(&self, fabric: FabricId) -> Option<FabricForwarding>;
}

/// The two synchronous steps of a fabric update, as a backend provides them.
///
/// Both are synchronous on purpose: [`set_fabric_forwarding_then_sync`] runs
/// them back to back with no `.await` in between, so dropping the caller's
/// future cannot separate the commit from the sync.
pub trait FabricBackend {
    /// Commits `state` for `fabric` to the packet path. After this returns
    /// `Ok` the update is live. On `Err` nothing may have changed.
    fn commit_fabric_forwarding(&self, fabric: FabricId, state: &FabricForwarding) -> Result<()>;

    /// Publishes the committed state of every fabric link to the views that
    /// mirror it. Idempotent.
    fn sync_fabric_view(&self) -> Result<()>;
}

/// Applies a fabric update in the only correct order: check `cancel`, commit
/// the update, then sync, unconditionally.
///
/// - `cancel` is checked once, before the commit: a cancelled call returns
///   [`DataplaneError::Cancelled`](crate::DataplaneError::Cancelled) and
///   neither commits nor syncs.
/// - A failed commit returns its error without syncing.
/// - After a successful commit the sync runs whatever happens to `cancel`
///   (even if the commit itself observed a cancellation); its error, if any,
///   is returned with the update left committed, and the caller may retry the
///   sync alone.
///
/// ```
/// use std::cell::RefCell;
/// use xpf_dataplane::cancel::Cancel;
/// use xpf_dataplane::traits::{FabricBackend, FabricForwarding, FabricId, set_fabric_forwarding_then_sync};
///
/// struct Log(RefCell<Vec<String>>);
/// impl FabricBackend for Log {
///     fn commit_fabric_forwarding(&self, fabric: FabricId, _: &FabricForwarding) -> xpf_dataplane::Result<()> {
///         self.0.borrow_mut().push(format!("update {fabric}"));
///         Ok(())
///     }
///     fn sync_fabric_view(&self) -> xpf_dataplane::Result<()> {
///         self.0.borrow_mut().push("sync".into());
///         Ok(())
///     }
/// }
///
/// let log = Log(RefCell::new(Vec::new()));
/// let state = FabricForwarding::default();
/// set_fabric_forwarding_then_sync(&log, FabricId::FAB1, &state, &Cancel::new()).unwrap();
/// assert_eq!(*log.0.borrow(), ["update fab1", "sync"]);
/// ```
pub fn set_fabric_forwarding_then_sync<B: FabricBackend + ?Sized>(
    backend: &B,
    fabric: FabricId,
    state: &FabricForwarding,
    cancel: &Cancel,
) -> Result<()> {
    cancel.check("fabric forwarding update")?;
    backend.commit_fabric_forwarding(fabric, state)?;
    // Committed: from here on the token is never consulted again and there
    // is no suspension point, so the sync below always runs.
    backend.sync_fabric_view()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::DataplaneError;
    use std::sync::Mutex;

    /// Records calls; optionally cancels a token during the commit or fails.
    #[derive(Default)]
    struct Recorder {
        calls: Mutex<Vec<String>>,
        cancel_during_commit: Option<Cancel>,
        fail_commit: bool,
    }

    impl FabricBackend for Recorder {
        fn commit_fabric_forwarding(&self, fabric: FabricId, _: &FabricForwarding) -> Result<()> {
            if let Some(c) = &self.cancel_during_commit {
                c.cancel();
            }
            if self.fail_commit {
                return Err(DataplaneError::InvalidArgument("no such fabric".into()));
            }
            self.calls.lock().unwrap().push(format!("commit {fabric}"));
            Ok(())
        }

        fn sync_fabric_view(&self) -> Result<()> {
            self.calls.lock().unwrap().push("sync".into());
            Ok(())
        }
    }

    #[test]
    fn cancelled_before_commit_changes_nothing() {
        let r = Recorder::default();
        let cancel = Cancel::new();
        cancel.cancel();
        let err = set_fabric_forwarding_then_sync(
            &r,
            FabricId::FAB0,
            &FabricForwarding::default(),
            &cancel,
        )
        .unwrap_err();
        assert!(matches!(err, DataplaneError::Cancelled(_)));
        assert!(r.calls.lock().unwrap().is_empty());
    }

    #[test]
    fn cancellation_during_commit_still_syncs() {
        let cancel = Cancel::new();
        let r = Recorder {
            cancel_during_commit: Some(cancel.clone()),
            ..Recorder::default()
        };
        set_fabric_forwarding_then_sync(&r, FabricId::FAB1, &FabricForwarding::default(), &cancel)
            .unwrap();
        assert!(cancel.is_cancelled());
        assert_eq!(*r.calls.lock().unwrap(), ["commit fab1", "sync"]);
    }

    #[test]
    fn failed_commit_is_not_synced() {
        let r = Recorder {
            fail_commit: true,
            ..Recorder::default()
        };
        let cancel = Cancel::new();
        assert!(
            set_fabric_forwarding_then_sync(
                &r,
                FabricId::FAB0,
                &FabricForwarding::default(),
                &cancel
            )
            .is_err()
        );
        assert!(r.calls.lock().unwrap().is_empty());
    }

    #[test]
    fn fabric_ids_display_like_junos() {
        assert_eq!(FabricId::FAB0.to_string(), "fab0");
        assert_eq!(FabricId::new(1), FabricId::FAB1);
    }
}
