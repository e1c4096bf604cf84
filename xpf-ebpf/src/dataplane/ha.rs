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

use super::{Shared, lock};
use crate::abi;
use async_trait::async_trait;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use xpf_dataplane::cancel::Cancel;
use xpf_dataplane::compile::CompiledConfig;
use xpf_dataplane::error::{DataplaneError, Result};
use xpf_dataplane::traits::{
    FabricBackend, FabricForwarding, FabricId, HAController, set_fabric_forwarding_then_sync,
};
use xpf_runtime::{RedundancyGroupId, RedundancyGroupStatus};

#[derive(Debug, Default)]
struct Watchdog {
    timeout_ns: u64,
    last_kick: Option<u64>,
    expired: bool,
}

/// HA state of one backend, shared by its controllers.
#[derive(Debug)]
pub(crate) struct HaState {
    roles: Mutex<BTreeMap<RedundancyGroupId, bool>>,
    watchdog: Mutex<Watchdog>,
    committed: Mutex<BTreeMap<FabricId, FabricForwarding>>,
    view: Mutex<Arc<Vec<FabricForwarding>>>,
    syncs: AtomicU64,
}

impl HaState {
    pub(crate) fn new(watchdog_timeout_ns: u64) -> Self {
        Self {
            roles: Mutex::new(BTreeMap::new()),
            watchdog: Mutex::new(Watchdog {
                timeout_ns: watchdog_timeout_ns,
                ..Watchdog::default()
            }),
            committed: Mutex::new(BTreeMap::new()),
            view: Mutex::new(Arc::new(Vec::new())),
            syncs: AtomicU64::new(0),
        }
    }

    fn expired(&self) -> bool {
        lock(&self.watchdog).expired
    }

    /// The role set for `rg` (before the watchdog).
    fn role(&self, rg: RedundancyGroupId) -> bool {
        lock(&self.roles).get(&rg).copied().unwrap_or(true)
    }

    /// Every known group (configured or given a role) with its effective
    /// role.
    pub(crate) fn groups(&self, compiled: Option<&CompiledConfig>) -> Vec<RedundancyGroupStatus> {
        let mut ids: BTreeSet<RedundancyGroupId> = lock(&self.roles).keys().copied().collect();
        if let Some(c) = compiled {
            if let Some(ha) = &c.ha {
                ids.extend(ha.redundancy_groups.iter().map(|g| g.id));
            }
            ids.extend(c.interfaces.iter().filter_map(|i| i.redundancy_group));
        }
        let expired = self.expired();
        ids.into_iter()
            .map(|group| RedundancyGroupStatus {
                group,
                active: !expired && self.role(group),
            })
            .collect()
    }

    /// The fabric links as last synced.
    pub(crate) fn fabric_view(&self) -> Arc<Vec<FabricForwarding>> {
        Arc::clone(&lock(&self.view))
    }

    /// Fabric view syncs performed.
    pub(crate) fn fabric_syncs(&self) -> u64 {
        self.syncs.load(Ordering::Relaxed)
    }
}

/// Writes every group's effective role to the program: all inactive while
/// the watchdog has expired, else the roles set (unset groups active).
fn write_all(
    shared: &Shared,
    roles: &BTreeMap<RedundancyGroupId, bool>,
    expired: bool,
) -> Result<()> {
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
    let ha = &shared.ha;
    let mut w = lock(&ha.watchdog);
    match w.last_kick {
        Some(kick)
            if w.timeout_ns > 0 && !w.expired && now_ns.saturating_sub(kick) > w.timeout_ns =>
        {
            w.expired = true;
            write_all(shared, &BTreeMap::new(), true)?;
            Ok(true)
        }
        _ => Ok(false),
    }
}

/// The backend's [`HAController`].
pub struct EbpfHa {
    pub(crate) shared: Arc<Shared>,
}

impl FabricBackend for EbpfHa {
    fn commit_fabric_forwarding(&self, fabric: FabricId, state: &FabricForwarding) -> Result<()> {
        if state.interface.is_empty() {
            return Err(DataplaneError::InvalidArgument(format!(
                "{fabric}: the fabric interface name is empty"
            )));
        }
        lock(&self.shared.ha.committed).insert(fabric, state.clone());
        Ok(())
    }

    fn sync_fabric_view(&self) -> Result<()> {
        let ha = &self.shared.ha;
        let view: Vec<FabricForwarding> = lock(&ha.committed).values().cloned().collect();
        *lock(&ha.view) = Arc::new(view);
        ha.syncs.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

#[async_trait]
impl HAController for EbpfHa {
    async fn set_rg_active(&self, rg: RedundancyGroupId, active: bool) -> Result<()> {
        let ha = &self.shared.ha;
        let mut roles = lock(&ha.roles);
        roles.insert(rg, active);
        // Lock order: roles, watchdog, firewall.
        let w = lock(&ha.watchdog);
        if !w.expired {
            self.shared
                .fw()
                .set_redundancy_group(rg, active)
                .map_err(super::dp_err)?;
        }
        Ok(())
    }

    fn rg_active(&self, rg: RedundancyGroupId) -> bool {
        let ha = &self.shared.ha;
        !ha.expired() && ha.role(rg)
    }

    async fn watchdog(&self, now_ns: u64) -> Result<()> {
        let ha = &self.shared.ha;
        let roles = lock(&ha.roles);
        let mut w = lock(&ha.watchdog);
        w.last_kick = Some(now_ns);
        if std::mem::replace(&mut w.expired, false) {
            write_all(&self.shared, &roles, false)?;
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
        lock(&self.shared.ha.committed).get(&fabric).cloned()
    }
}
