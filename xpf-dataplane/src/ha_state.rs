//! [`HaState`]: the HA bookkeeping every backend's
//! [`HAController`](crate::traits::HAController) keeps, in one place —
//! redundancy-group roles, the watchdog and the fabric-forwarding state
//! (committed, then published as a view by the sync).
//!
//! - **Roles.** Every group is active until set otherwise; while the
//!   watchdog has expired every group is treated as backup (fail closed).
//! - **Watchdog.** Armed by the first kick when a timeout is configured;
//!   when no kick arrives within the timeout (the backend's clock) it
//!   expires, until the next kick.
//! - **Fabric.** [`commit_fabric`](HaState::commit_fabric) stores a link's
//!   state, [`sync_fabric_view`](HaState::sync_fabric_view) publishes every
//!   committed link as the view the packet path reads; backends route
//!   updates through
//!   [`set_fabric_forwarding_then_sync`](crate::traits::set_fabric_forwarding_then_sync).
//!
//! A backend mirrors the effective roles into its packet path (engines,
//! BPF maps). The `under` callbacks run while the role and watchdog locks
//! are held (lock order: roles, watchdog, then whatever the callback
//! takes), so a backend's copy changes in the same order as this state.

use crate::compile::CompiledConfig;
use crate::error::{DataplaneError, Result};
use crate::traits::{FabricForwarding, FabricId};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use xpf_runtime::{RedundancyGroupId, RedundancyGroupStatus};

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

#[derive(Debug, Default)]
struct Watchdog {
    timeout_ns: u64,
    last_kick: Option<u64>,
    expired: bool,
}

/// Roles set per redundancy group (absent: active).
pub type Roles = BTreeMap<RedundancyGroupId, bool>;

/// HA state of one backend, shared by its controllers.
#[derive(Debug)]
pub struct HaState {
    roles: Mutex<Roles>,
    watchdog: Mutex<Watchdog>,
    committed: Mutex<BTreeMap<FabricId, FabricForwarding>>,
    view: Mutex<Arc<Vec<FabricForwarding>>>,
    syncs: AtomicU64,
}

impl HaState {
    /// Every group active, the watchdog off when `watchdog_timeout_ns` is 0,
    /// no fabric link.
    pub fn new(watchdog_timeout_ns: u64) -> Self {
        Self {
            roles: Mutex::new(Roles::new()),
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

    /// The effective role of `rg`: the role set (active when unset), backup
    /// while the watchdog has expired.
    pub fn rg_active(&self, rg: RedundancyGroupId) -> bool {
        let set = lock(&self.roles).get(&rg).copied().unwrap_or(true);
        set && !self.expired()
    }

    /// Every known group (given a role, or configured in `compiled`) with
    /// its effective role.
    pub fn groups(&self, compiled: Option<&CompiledConfig>) -> Vec<RedundancyGroupStatus> {
        let roles = lock(&self.roles).clone();
        let mut ids: BTreeSet<RedundancyGroupId> = roles.keys().copied().collect();
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
                active: !expired && roles.get(&group).copied().unwrap_or(true),
            })
            .collect()
    }

    /// Sets the role of `rg`; `under(expired)` runs with the locks held (a
    /// backend writes the role into its packet path unless `expired`).
    pub fn set_role(
        &self,
        rg: RedundancyGroupId,
        active: bool,
        under: impl FnOnce(bool) -> Result<()>,
    ) -> Result<()> {
        let mut roles = lock(&self.roles);
        roles.insert(rg, active);
        let w = lock(&self.watchdog);
        under(w.expired)
    }

    /// A watchdog kick at `now_ns`. When the watchdog had expired, the roles
    /// set are in force again: `under(roles)` runs with the locks held and
    /// the result is `true`.
    pub fn kick(&self, now_ns: u64, under: impl FnOnce(&Roles) -> Result<()>) -> Result<bool> {
        let roles = lock(&self.roles);
        let mut w = lock(&self.watchdog);
        w.last_kick = Some(now_ns);
        if std::mem::replace(&mut w.expired, false) {
            under(&roles)?;
            return Ok(true);
        }
        Ok(false)
    }

    /// Checks the watchdog at `now_ns`: when it was kicked and no kick came
    /// within the timeout, it expires, `under()` runs with the lock held
    /// (a backend writes every group backup) and the result is `true`.
    pub fn check_watchdog(&self, now_ns: u64, under: impl FnOnce() -> Result<()>) -> Result<bool> {
        let mut w = lock(&self.watchdog);
        match w.last_kick {
            Some(kick)
                if w.timeout_ns > 0 && !w.expired && now_ns.saturating_sub(kick) > w.timeout_ns =>
            {
                w.expired = true;
                under()?;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// Stores a fabric link's state (not yet in the view).
    pub fn commit_fabric(&self, fabric: FabricId, state: &FabricForwarding) -> Result<()> {
        if state.interface.is_empty() {
            return Err(DataplaneError::InvalidArgument(format!(
                "{fabric}: the fabric interface name is empty"
            )));
        }
        lock(&self.committed).insert(fabric, state.clone());
        Ok(())
    }

    /// Publishes every committed link as the view.
    pub fn sync_fabric_view(&self) {
        let view: Vec<FabricForwarding> = lock(&self.committed).values().cloned().collect();
        *lock(&self.view) = Arc::new(view);
        self.syncs.fetch_add(1, Ordering::Relaxed);
    }

    /// A link's committed state.
    pub fn fabric_forwarding(&self, fabric: FabricId) -> Option<FabricForwarding> {
        lock(&self.committed).get(&fabric).cloned()
    }

    /// The fabric links as last synced (what the packet path uses).
    pub fn fabric_view(&self) -> Arc<Vec<FabricForwarding>> {
        Arc::clone(&lock(&self.view))
    }

    /// Fabric view syncs performed.
    pub fn fabric_syncs(&self) -> u64 {
        self.syncs.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(name: &str) -> FabricForwarding {
        FabricForwarding {
            interface: name.to_string(),
            ..FabricForwarding::default()
        }
    }

    #[test]
    fn an_expired_watchdog_makes_every_group_backup_until_the_next_kick() {
        let ha = HaState::new(1_000);
        let rg = RedundancyGroupId(1);
        ha.set_role(rg, true, |_| Ok(())).unwrap();
        assert!(!ha.check_watchdog(5_000, || Ok(())).unwrap(), "not armed");
        assert!(!ha.kick(10_000, |_| Ok(())).unwrap());
        assert!(!ha.check_watchdog(10_500, || Ok(())).unwrap());
        assert!(ha.check_watchdog(11_001, || Ok(())).unwrap());
        assert!(!ha.rg_active(rg));
        let mut restored = None;
        assert!(
            ha.kick(12_000, |r| {
                restored = Some(r.clone());
                Ok(())
            })
            .unwrap()
        );
        assert_eq!(restored.unwrap().get(&rg), Some(&true));
        assert!(ha.rg_active(rg));
    }

    #[test]
    fn a_committed_fabric_link_reaches_the_view_only_when_synced() {
        let ha = HaState::new(0);
        let f = FabricId(0);
        ha.commit_fabric(f, &link("fab0")).unwrap();
        assert_eq!(ha.fabric_forwarding(f).unwrap().interface, "fab0");
        assert!(ha.fabric_view().is_empty());
        ha.sync_fabric_view();
        assert_eq!(ha.fabric_view().len(), 1);
        assert_eq!(ha.fabric_syncs(), 1);
        assert!(
            ha.commit_fabric(f, &link("")).is_err(),
            "empty name refused"
        );
    }
}
