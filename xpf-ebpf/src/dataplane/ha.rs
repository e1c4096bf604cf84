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
//!   never leave a committed update unsynced. **The XDP program does not
//!   forward a backup group's frames over the fabric yet** (it has no fabric
//!   map; they are dropped as `ha-inactive`): the state is stored and
//!   reported ([`HAController::fabric_forwarding`],
//!   [`EbpfDataPlane::fabric_view`](super::EbpfDataPlane::fabric_view)) as
//!   the userspace backend keeps it, ready for the program to read.

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
        self.shared.ha.sync_fabric_view();
        Ok(())
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
