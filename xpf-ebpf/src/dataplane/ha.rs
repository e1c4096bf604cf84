//! [`EbpfHa`]: the [`HAController`] over the program's redundancy-group map
//! (`xpf_rg_state`) — roles, the watchdog and fabric forwarding state, with
//! the semantics of the userspace backend.
//!
//! - **Roles.** Every group is active until set otherwise. A group's
//!   effective role is written to `xpf_rg_state` (1 = inactive here), which
//!   the program reads for every packet: traffic arriving on an interface of
//!   an inactive group, leaving through one, or belonging to a session the
//!   group owns is dropped as `ha-inactive`. The map is independent of the
//!   configuration slots, so roles survive applies.
//! - **Watchdog.** Armed by the first kick when
//!   [`DataPlaneOptions::watchdog_timeout_ns`](super::DataPlaneOptions::watchdog_timeout_ns)
//!   is set. When no kick arrives within the timeout (checked by
//!   [`EbpfDataPlane::poll`](super::EbpfDataPlane::poll) and the service
//!   thread, at their time) every group is written inactive (fail closed)
//!   until the next kick restores the roles set with `set_rg_active`. Kicks
//!   and checks must use the same clock: the backend's (Unix ns).
//! - **Fabric.** Updates go through [`set_fabric_forwarding_then_sync`]: the
//!   commit stores the link's state, the sync publishes every committed
//!   link as the view, with no `.await` in between, so cancellation can
//!   never leave a committed update unsynced. Only the sync writes the
//!   program's fabric map (`xpf_fabric`), from the view, so a committed
//!   but not yet synced update never reaches a packet: the reference
//!   review's commit-then-sync order holds for packets too. The map holds
//!   the first enabled link of the view whose device is bound (attached,
//!   up, an interface of the config in force, see
//!   [`Firewall::set_fabric_view`](crate::firewall::Firewall::set_fabric_view));
//!   a frame of a backup group (`ha-inactive`: arriving on a backup
//!   group's interface or of a session a backup group owns, sent as it
//!   arrived; or leaving through a backup group's interface, sent with its
//!   translated tuple, as the engine leaves it) is then sent to the peer
//!   over it, destination MAC = peer, source MAC = local, counted as
//!   `ha-inactive` and as fabric-forwarded
//!   ([`EbpfDataPlane::backend_counters`](super::EbpfDataPlane::backend_counters)),
//!   as the userspace backend does. Without such a link (empty view, every
//!   link disabled or unbound) the frame is dropped.
//!
//! The state itself (roles, watchdog, fabric commit / view) is the shared
//! [`HaState`](xpf_dataplane::ha_state::HaState); this module writes it
//! into the program's map.

use super::Shared;
use crate::abi;
use async_trait::async_trait;
use std::sync::Arc;
use xpf_dataplane::cancel::Cancel;
use xpf_dataplane::error::Result;
use xpf_dataplane::ha_state::Roles;
use xpf_dataplane::traits::{
    FabricBackend, FabricForwarding, FabricId, HAController, set_fabric_forwarding_then_sync,
};
use xpf_runtime::RedundancyGroupId;

/// Writes every group's effective role to the program: all inactive while
/// the watchdog has expired, else the roles set (unset groups active).
fn write_all(shared: &Shared, roles: &Roles, expired: bool) -> Result<()> {
    let mut fw = shared.fw();
    for g in 1..abi::MAX_RGS {
        let Ok(id) = u8::try_from(g) else { break };
        let rg = RedundancyGroupId(id);
        let active = !expired && roles.get(&rg).copied().unwrap_or(true);
        fw.set_redundancy_group(rg, active).map_err(super::dp_err)?;
    }
    Ok(())
}

/// Checks the watchdog at `now_ns`: when it has not been kicked within its
/// timeout, every group is written inactive. True when it expired now.
pub(crate) fn check_watchdog(shared: &Shared, now_ns: u64) -> Result<bool> {
    shared
        .ha
        .check_watchdog(now_ns, || write_all(shared, &Roles::new(), true))
}

/// The backend's [`HAController`].
pub struct EbpfHa {
    pub(crate) shared: Arc<Shared>,
}

impl FabricBackend for EbpfHa {
    fn commit_fabric_forwarding(&self, fabric: FabricId, state: &FabricForwarding) -> Result<()> {
        self.shared.ha.commit_fabric(fabric, state)
    }

    fn sync_fabric_view(&self) -> Result<()> {
        // Under the firewall's lock, so concurrent syncs write the program
        // in the order they publish (the view's locks are leaves: nothing
        // is taken while they are held, so this order cannot deadlock).
        let mut fw = self.shared.fw();
        self.shared.ha.sync_fabric_view();
        fw.set_fabric_view(&self.shared.ha.fabric_view())
            .map(|_| ())
            .map_err(super::dp_err)
    }
}

#[async_trait]
impl HAController for EbpfHa {
    async fn set_rg_active(&self, rg: RedundancyGroupId, active: bool) -> Result<()> {
        // Written under the HA locks (order: roles, watchdog, firewall).
        self.shared.ha.set_role(rg, active, |expired| {
            if expired {
                return Ok(());
            }
            self.shared
                .fw()
                .set_redundancy_group(rg, active)
                .map_err(super::dp_err)
        })
    }

    fn rg_active(&self, rg: RedundancyGroupId) -> bool {
        self.shared.ha.rg_active(rg)
    }

    async fn watchdog(&self, now_ns: u64) -> Result<()> {
        self.shared
            .ha
            .kick(now_ns, |roles| write_all(&self.shared, roles, false))?;
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
        self.shared.ha.fabric_forwarding(fabric)
    }
}
