//! [`UserspaceHa`]: the [`HAController`] — redundancy-group roles, the
//! watchdog and fabric forwarding.
//!
//! - **Roles.** Every group is active until set otherwise. A group's role is
//!   pushed into every shard's engine, which drops traffic arriving on the
//!   interfaces of a backup group (`ha-inactive`). Session *ownership*
//!   follows the role: `export_owner_rg` of [`crate::sessions::UserspaceDeltas`]
//!   exports the sessions of the groups asked for, and
//!   [`UserspaceHa::synced_zones`] gives the zones a reconcile must leave
//!   alone (those of groups this node is primary for).
//! - **Fabric.** When a backup group's frame is dropped and a fabric link is
//!   enabled, the frame is sent unchanged to the peer over the fabric link
//!   (destination MAC = peer, source MAC = local) instead. The packet path
//!   reads the fabric *view*, which only
//!   [`sync_fabric_state`](HAController::sync_fabric_state) publishes;
//!   updates go through
//!   [`set_fabric_forwarding_then_sync`], so a committed update is always
//!   synced.
//! - **Watchdog.** Armed by the first kick when a timeout is configured;
//!   when no kick arrives within the timeout (backend clock) every group is
//!   treated as backup (fail closed) until the next kick.
//!
//! The state itself (roles, watchdog, fabric commit / view) is the shared
//! [`HaState`](xpf_dataplane::ha_state::HaState); this module pushes it
//! into the shards' engines.

use crate::dataplane::Inner;
use async_trait::async_trait;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use xpf_dataplane::Result;
use xpf_dataplane::cancel::Cancel;
use xpf_dataplane::traits::{
    FabricBackend, FabricForwarding, FabricId, HAController, set_fabric_forwarding_then_sync,
};
use xpf_runtime::{RedundancyGroupId, ZoneId};

/// The backend's [`HAController`].
pub struct UserspaceHa {
    pub(crate) inner: Arc<Inner>,
}

impl UserspaceHa {
    /// Zones whose sessions this node is the source of truth for: the zones
    /// of interfaces in a group this node is active for. Pass them as
    /// [`ReconcileInput::synced_zones`](xpf_dataplane::session_store::ReconcileInput::synced_zones).
    pub fn synced_zones(&self) -> BTreeSet<ZoneId> {
        let Some(installed) = self.inner.installed() else {
            return BTreeSet::new();
        };
        let roles: BTreeMap<_, _> = self
            .inner
            .ha
            .groups(Some(&installed.compiled))
            .into_iter()
            .map(|g| (g.group, g.active))
            .collect();
        installed
            .compiled
            .interfaces
            .iter()
            .filter(|i| {
                i.redundancy_group
                    .is_some_and(|g| roles.get(&g).copied().unwrap_or(true))
            })
            .map(|i| i.zone)
            .collect()
    }

    /// Fabric view syncs performed.
    pub fn fabric_syncs(&self) -> u64 {
        self.inner.ha.fabric_syncs()
    }
}

impl FabricBackend for UserspaceHa {
    fn commit_fabric_forwarding(&self, fabric: FabricId, state: &FabricForwarding) -> Result<()> {
        self.inner.ha.commit_fabric(fabric, state)
    }

    fn sync_fabric_view(&self) -> Result<()> {
        self.inner.ha.sync_fabric_view();
        Ok(())
    }
}

#[async_trait]
impl HAController for UserspaceHa {
    async fn set_rg_active(&self, rg: RedundancyGroupId, active: bool) -> Result<()> {
        self.inner.ha.set_role(rg, active, |_| Ok(()))?;
        // Pushed after the HA locks are released (push_roles reads them).
        self.inner.push_roles();
        Ok(())
    }

    fn rg_active(&self, rg: RedundancyGroupId) -> bool {
        self.inner.ha.rg_active(rg)
    }

    async fn watchdog(&self, now_ns: u64) -> Result<()> {
        let inner = &self.inner;
        inner.clock.advance(now_ns);
        let now = inner.clock.now();
        if inner.ha.kick(now, |_| Ok(()))? {
            inner.push_roles();
        }
        Ok(())
    }

    async fn set_fabric_forwarding(
        &self,
        fabric: FabricId,
        state: FabricForwarding,
        cancel: &Cancel,
    ) -> Result<()> {
        set_fabric_forwarding_then_sync(self, fabric, &state, cancel)
    }

    async fn sync_fabric_state(&self) -> Result<()> {
        self.sync_fabric_view()
    }

    fn fabric_forwarding(&self, fabric: FabricId) -> Option<FabricForwarding> {
        self.inner.ha.fabric_forwarding(fabric)
    }
}
