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

use crate::dataplane::{Inner, lock, read, write};
use async_trait::async_trait;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use xpf_dataplane::cancel::Cancel;
use xpf_dataplane::traits::{
    FabricBackend, FabricForwarding, FabricId, HAController, set_fabric_forwarding_then_sync,
};
use xpf_dataplane::{DataplaneError, Result};
use xpf_runtime::{RedundancyGroupId, ZoneId};

#[derive(Debug, Default)]
struct Watchdog {
    timeout_ns: u64,
    last_kick: Option<u64>,
    expired: bool,
}

/// HA state shared by the backend.
#[derive(Debug)]
pub(crate) struct HaState {
    roles: Mutex<BTreeMap<RedundancyGroupId, bool>>,
    watchdog: Mutex<Watchdog>,
    committed: Mutex<BTreeMap<FabricId, FabricForwarding>>,
    view: RwLock<Arc<Vec<FabricForwarding>>>,
    syncs: AtomicU64,
}

impl HaState {
    pub fn new(watchdog_timeout_ns: u64) -> Self {
        Self {
            roles: Mutex::new(BTreeMap::new()),
            watchdog: Mutex::new(Watchdog {
                timeout_ns: watchdog_timeout_ns,
                ..Watchdog::default()
            }),
            committed: Mutex::new(BTreeMap::new()),
            view: RwLock::new(Arc::new(Vec::new())),
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

    /// Every known group (configured or given a role) with its effective role.
    pub fn groups(
        &self,
        installed: Option<&crate::dataplane::Installed>,
    ) -> Vec<(RedundancyGroupId, bool)> {
        let mut ids: BTreeSet<RedundancyGroupId> = lock(&self.roles).keys().copied().collect();
        if let Some(i) = installed {
            if let Some(ha) = &i.compiled.ha {
                ids.extend(ha.redundancy_groups.iter().map(|g| g.id));
            }
            ids.extend(
                i.compiled
                    .interfaces
                    .iter()
                    .filter_map(|i| i.redundancy_group),
            );
        }
        let expired = self.expired();
        ids.into_iter()
            .map(|g| (g, !expired && self.role(g)))
            .collect()
    }

    /// Checks the watchdog at `now_ns`; true when it just expired.
    pub fn check_watchdog(&self, now_ns: u64) -> bool {
        let mut w = lock(&self.watchdog);
        match w.last_kick {
            Some(kick) if w.timeout_ns > 0 && !w.expired => {
                if now_ns.saturating_sub(kick) > w.timeout_ns {
                    w.expired = true;
                    return true;
                }
                false
            }
            _ => false,
        }
    }

    /// The fabric links the packet path uses (the synced view).
    pub fn fabric_view(&self) -> Arc<Vec<FabricForwarding>> {
        Arc::clone(&read(&self.view))
    }
}

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
        let roles: BTreeMap<_, _> = self.inner.ha.groups(Some(&installed)).into_iter().collect();
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
        self.inner.ha.syncs.load(Ordering::Relaxed)
    }
}

impl FabricBackend for UserspaceHa {
    fn commit_fabric_forwarding(&self, fabric: FabricId, state: &FabricForwarding) -> Result<()> {
        if state.interface.is_empty() {
            return Err(DataplaneError::InvalidArgument(format!(
                "{fabric}: the fabric interface name is empty"
            )));
        }
        lock(&self.inner.ha.committed).insert(fabric, state.clone());
        Ok(())
    }

    fn sync_fabric_view(&self) -> Result<()> {
        let ha = &self.inner.ha;
        let view: Vec<FabricForwarding> = lock(&ha.committed).values().cloned().collect();
        *write(&ha.view) = Arc::new(view);
        ha.syncs.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

#[async_trait]
impl HAController for UserspaceHa {
    async fn set_rg_active(&self, rg: RedundancyGroupId, active: bool) -> Result<()> {
        lock(&self.inner.ha.roles).insert(rg, active);
        self.inner.push_roles();
        Ok(())
    }

    fn rg_active(&self, rg: RedundancyGroupId) -> bool {
        !self.inner.ha.expired() && self.inner.ha.role(rg)
    }

    async fn watchdog(&self, now_ns: u64) -> Result<()> {
        let inner = &self.inner;
        inner.clock.advance(now_ns);
        let now = inner.clock.now();
        let restored = {
            let mut w = lock(&inner.ha.watchdog);
            w.last_kick = Some(now);
            std::mem::replace(&mut w.expired, false)
        };
        if restored {
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
        lock(&self.inner.ha.committed).get(&fabric).cloned()
    }
}
