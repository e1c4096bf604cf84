//! [`EbpfDataPlane`]: the eBPF backend behind the backend-neutral traits —
//! [`RuntimeDataPlane`] / [`ConfigSink`] (generations, atomic slot flip),
//! [`SessionStore`] over the session map (through the shared
//! [`SessionTable`] semantics: known-value deletes, companion deletes with
//! the NAT slot, reconcile), [`Telemetry`] (per-CPU counters summed,
//! ring-buffer events as an async stream, table occupancy),
//! [`LinkController`] (XDP attach/detach), the [`HAController`]
//! ([`EbpfHa`]: redundancy-group roles in the program's map, the watchdog,
//! fabric forwarding from the synced view), cluster-synced installs
//! ([`Firewall::install_synced`](crate::firewall::Firewall::install_synced)
//! behind `put_cluster_synced`) and the [`SessionDeltaSource`] HA sync
//! drains. The session GC ([`EbpfDataPlane::sweep`]) expires sessions by
//! their timeouts through the single `delete_known` path; it runs on the
//! service thread `start` spawns, or from [`EbpfDataPlane::poll`] when the
//! embedder drives it.
//!
//! Attaching resolves device names in the network namespace of the calling
//! thread (the kernel binds an XDP link to a device of that namespace).

mod ha;

pub use ha::EbpfHa;
use xpf_dataplane::event_hub::{DeltaLog, EventHub};
use xpf_dataplane::ha_state::HaState;

/// Locks `m`, recovering the data of a poisoned lock (a panicked holder
/// leaves nothing half-written here that the next holder cannot use).
fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
use crate::firewall::{Firewall, entry_of, sess_key};
use crate::lower;
use crate::program::{Error, LoadOptions};
use async_trait::async_trait;
use aya::programs::XdpMode;
use std::collections::HashMap;
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use xpf_dataplane::apply::{ApplyResult, Capabilities, Capability};
use xpf_dataplane::cancel::Cancel;
use xpf_dataplane::compile::CompiledConfig;
use xpf_dataplane::error::{DataplaneError, Result};
use xpf_dataplane::session_store::{self, SessionTable};
use xpf_dataplane::traits::{
    ConfigSink, EventStream, FabricForwarding, HAController, LinkController, LinkState, LinkStatus,
    NatPoolUsage, RuntimeDataPlane, SessionStore, TableKind, Telemetry, ZoneCounters,
};
use xpf_runtime::{
    AnySessionKey, CloseReason, CounterValue, FilterTermId, FloodCounters, GlobalCounter,
    InterfaceCounters, InterfaceId, NatPoolId, NatRuleId, PolicyRuleId, RedundancyGroupId,
    RuntimeStatus, SessionDeltaError, SessionDeltaReason, SessionDeltaSnapshot, SessionDeltaSource,
    SessionEntry, SessionId, SweepProfile, TableStats, ZoneId,
};

/// How the backend is built.
#[derive(Clone, Copy, Debug)]
pub struct DataPlaneOptions {
    /// Session table sizing (load time).
    pub load: LoadOptions,
    /// XDP attach mode ([`XdpMode::Driver`], native, by default).
    pub xdp_mode: XdpMode,
    /// Events each subscription queues before it drops.
    pub event_capacity: usize,
    /// Session deltas queued for HA sync before they are lost.
    pub delta_capacity: usize,
    /// How often the service thread drains the ring buffer.
    pub poll_interval: Duration,
    /// How often the service thread sweeps expired sessions.
    pub gc_interval: Duration,
    /// The HA watchdog timeout, ns: without a kick for this long every
    /// redundancy group is treated as inactive (fail closed). 0 disables
    /// the watchdog.
    pub watchdog_timeout_ns: u64,
}

impl Default for DataPlaneOptions {
    fn default() -> Self {
        Self {
            load: LoadOptions::default(),
            xdp_mode: XdpMode::Driver,
            event_capacity: 65_536,
            delta_capacity: 262_144,
            poll_interval: Duration::from_millis(20),
            gc_interval: Duration::from_secs(1),
            watchdog_timeout_ns: 0,
        }
    }
}

fn dp_err(e: Error) -> DataplaneError {
    DataplaneError::Backend {
        backend: "ebpf",
        message: e.to_string(),
    }
}

fn unix_now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// State shared by the backend and its controllers.
pub(crate) struct Shared {
    fw: Mutex<Firewall>,
    opts: DataPlaneOptions,
    events: EventHub,
    deltas: DeltaLog,
    running: AtomicBool,
    torn_down: AtomicBool,
    /// Serialises applies (each compiles against the config in force).
    apply: Mutex<()>,
    /// NAT slots of forward entries removed by the store, released by
    /// `remove_nat_companions` (keyed by session id).
    removed_nat: Mutex<HashMap<SessionId, (crate::abi::SessKey, crate::abi::SessVal)>>,
    /// Time the close events of the sweep in progress carry (0: wall clock).
    sweep_now: AtomicU64,
    sweep: Mutex<SweepProfile>,
    service: Mutex<Option<(Arc<AtomicBool>, JoinHandle<()>)>>,
    /// Redundancy-group roles, the watchdog and fabric state.
    ha: HaState,
}

impl Shared {
    fn fw(&self) -> std::sync::MutexGuard<'_, Firewall> {
        lock(&self.fw)
    }

    /// Moves ring-buffer records and control-plane closes to the event hub
    /// and the delta log.
    fn pump(&self) {
        let (events, deltas) = self.fw().drain();
        self.events.publish(events);
        for d in deltas {
            self.deltas.record(d.reason, d.entry);
        }
    }

    fn close_time(&self) -> u64 {
        match self.sweep_now.load(Ordering::Relaxed) {
            0 => unix_now_ns(),
            t => t,
        }
    }

    fn installed(&self) -> Result<Arc<CompiledConfig>> {
        self.fw()
            .compiled()
            .cloned()
            .ok_or_else(|| DataplaneError::NotFound("no config applied".into()))
    }
}

/// The eBPF/XDP backend as a [`RuntimeDataPlane`].
#[derive(Clone)]
pub struct EbpfDataPlane {
    shared: Arc<Shared>,
}

/// Counters the eBPF backend keeps besides the runtime's global counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BackendCounters {
    /// Frames of a backup redundancy group sent to the peer over a fabric
    /// link (each also counted as an `ha-inactive` drop).
    pub fabric_forwarded: u64,
}

/// What one [`EbpfDataPlane::sweep`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SweepReport {
    /// Forward sessions examined.
    pub scanned: usize,
    /// Sessions expired (closed with their close event).
    pub expired: usize,
}

impl EbpfDataPlane {
    /// Loads the program (needs root). Nothing is processed until
    /// [`start`](RuntimeDataPlane::start): attached devices drop every
    /// frame as `unknown-interface` before that.
    pub fn new(opts: DataPlaneOptions) -> Result<Self> {
        let mut fw = Firewall::new(opts.load).map_err(dp_err)?;
        fw.suspend(true).map_err(dp_err)?;
        Ok(Self {
            shared: Arc::new(Shared {
                fw: Mutex::new(fw),
                opts,
                events: EventHub::new(opts.event_capacity),
                deltas: DeltaLog::new(opts.delta_capacity, 1),
                running: AtomicBool::new(false),
                torn_down: AtomicBool::new(false),
                apply: Mutex::new(()),
                removed_nat: Mutex::new(HashMap::new()),
                sweep_now: AtomicU64::new(0),
                sweep: Mutex::new(SweepProfile::default()),
                service: Mutex::new(None),
                ha: HaState::new(opts.watchdog_timeout_ns),
            }),
        })
    }

    /// Runs `f` on the underlying [`Firewall`] (tests, benchmarks).
    pub fn with_firewall<T>(&self, f: impl FnOnce(&mut Firewall) -> T) -> T {
        f(&mut self.shared.fw())
    }

    /// Drains the ring buffer into the event stream and delta log, checks
    /// the HA watchdog and sweeps sessions expired at `now_ns` (Unix ns).
    /// What the service thread does; an embedder that does not `start` the
    /// thread calls it.
    pub fn poll(&self, now_ns: u64) -> Result<SweepReport> {
        self.shared.pump();
        ha::check_watchdog(&self.shared, now_ns)?;
        self.sweep(now_ns)
    }

    /// The fabric links as last synced by
    /// [`HAController::sync_fabric_state`]: what the program's fabric link
    /// is chosen from (see [`EbpfHa`]).
    pub fn fabric_view(&self) -> Arc<Vec<FabricForwarding>> {
        self.shared.ha.fabric_view()
    }

    /// The concrete [`HAController`], whose
    /// [`FabricBackend`](xpf_dataplane::traits::FabricBackend) steps
    /// (commit, sync) are reachable one at a time (tests of their order).
    pub fn ebpf_ha(&self) -> EbpfHa {
        EbpfHa {
            shared: self.shared.clone(),
        }
    }

    /// The fabric link the program sends a backup group's frames over
    /// (the first enabled link of the synced view whose device is bound),
    /// `None` when there is none and such frames are dropped.
    pub fn fabric_link(&self) -> Result<Option<crate::abi::Fabric>> {
        self.shared.fw().fabric_link().map_err(dp_err)
    }

    /// Counters the backend keeps besides the runtime's global counters
    /// (per-CPU values summed), as the userspace backend's
    /// `backend_counters`.
    pub fn backend_counters(&self) -> Result<BackendCounters> {
        let c = self.shared.fw().counters().map_err(dp_err)?;
        Ok(BackendCounters {
            fabric_forwarded: c.fabric_forwarded,
        })
    }

    /// Fabric view syncs performed.
    pub fn fabric_syncs(&self) -> u64 {
        self.shared.ha.fabric_syncs()
    }

    /// The session GC: expires every session whose deadline
    /// (`last_seen + timeout`) is at or before `now_ns`, in deadline order,
    /// each through `delete_known` for its forward and reverse entries
    /// (NAT slot released, close event per its policy's logging, close
    /// delta). Close events carry `now_ns`.
    pub fn sweep(&self, now_ns: u64) -> Result<SweepReport> {
        sweep(&self.shared, now_ns)
    }

    fn stop_service(&self) {
        let service = lock(&self.shared.service).take();
        if let Some((stop, handle)) = service {
            stop.store(true, Ordering::Relaxed);
            let _ = handle.join();
        }
    }
}

/// The GC pass of [`EbpfDataPlane::sweep`].
fn sweep(shared: &Arc<Shared>, now_ns: u64) -> Result<SweepReport> {
    {
        let started = Instant::now();
        let (due, scanned) = shared.fw().expired(now_ns).map_err(dp_err)?;
        shared.sweep_now.store(now_ns.max(1), Ordering::Relaxed);
        let table = EbpfSessions {
            shared: shared.clone(),
        };
        let mut expired = 0;
        let mut first_err = None;
        for (k, v, reason) in due {
            let entry = entry_of(&k, &v.s);
            match session_store::delete_session_known(&table, &entry, reason) {
                Ok(r) if r.forward => {
                    shared.fw().count_expired();
                    expired += 1;
                }
                Ok(_) => {}
                Err(e) => {
                    first_err.get_or_insert(e);
                }
            }
        }
        shared.sweep_now.store(0, Ordering::Relaxed);
        shared.pump();
        {
            let mut p = lock(&shared.sweep);
            p.sweeps += 1;
            p.last_scanned = scanned as u64;
            p.last_expired = expired as u64;
            p.last_duration_ns = started.elapsed().as_nanos() as u64;
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok(SweepReport { scanned, expired }),
        }
    }
}

#[async_trait]
impl ConfigSink for EbpfDataPlane {
    async fn apply_compiled(
        &self,
        compiled: Arc<CompiledConfig>,
        cancel: &Cancel,
    ) -> Result<ApplyResult> {
        if self.shared.torn_down.load(Ordering::Relaxed) {
            return Err(DataplaneError::NotRunning(
                "the eBPF backend was torn down".into(),
            ));
        }
        let _serial = lock(&self.shared.apply);
        cancel.check("config apply")?;
        lower::capabilities().check(&compiled)?;
        let result = self.shared.fw().apply_compiled(compiled, unix_now_ns())?;
        // Sessions the new policy no longer permits were closed: publish.
        self.shared.pump();
        Ok(result)
    }

    fn last_compiled(&self) -> Option<Arc<CompiledConfig>> {
        self.shared.fw().compiled().cloned()
    }

    fn last_apply(&self) -> Option<ApplyResult> {
        self.shared.fw().last_apply().cloned()
    }

    fn capabilities(&self) -> Capabilities {
        lower::capabilities()
    }
}

#[async_trait]
impl RuntimeDataPlane for EbpfDataPlane {
    async fn start(&self) -> Result<()> {
        if self.shared.torn_down.load(Ordering::Relaxed) {
            return Err(DataplaneError::NotRunning(
                "the eBPF backend was torn down and cannot start again".into(),
            ));
        }
        self.shared.fw().suspend(false).map_err(dp_err)?;
        self.shared.running.store(true, Ordering::Relaxed);
        let mut service = lock(&self.shared.service);
        if service.is_none() {
            let stop = Arc::new(AtomicBool::new(false));
            let (s, weak) = (stop.clone(), Arc::downgrade(&self.shared));
            let handle = std::thread::Builder::new()
                .name("xpf-ebpf-svc".into())
                .spawn(move || {
                    let mut last_gc = Instant::now();
                    while !s.load(Ordering::Relaxed) {
                        // The thread never keeps the backend alive.
                        let Some(shared) = weak.upgrade() else {
                            return;
                        };
                        shared.pump();
                        let _ = ha::check_watchdog(&shared, unix_now_ns());
                        if last_gc.elapsed() >= shared.opts.gc_interval {
                            let _ = sweep(&shared, unix_now_ns());
                            last_gc = Instant::now();
                        }
                        let interval = shared.opts.poll_interval;
                        drop(shared);
                        std::thread::sleep(interval);
                    }
                })
                .map_err(|e| DataplaneError::Io {
                    context: "spawning the eBPF service thread".into(),
                    source: e,
                })?;
            *service = Some((stop, handle));
        }
        Ok(())
    }

    async fn close(&self) -> Result<()> {
        self.stop_service();
        self.shared.fw().suspend(true).map_err(dp_err)?;
        self.shared.running.store(false, Ordering::Relaxed);
        self.shared.pump();
        Ok(())
    }

    async fn teardown(&self) -> Result<()> {
        self.close().await?;
        self.shared.torn_down.store(true, Ordering::Relaxed);
        self.shared.fw().detach_all().map_err(dp_err)?;
        self.shared.events.close();
        Ok(())
    }

    fn name(&self) -> &'static str {
        "ebpf"
    }

    fn status(&self) -> RuntimeStatus {
        let (live, capacity, generation, compiled) = {
            let fw = self.shared.fw();
            let (live, _) = fw.occupancy();
            let generation = fw.last_apply().map_or(0, |a| a.generation);
            (live, fw.capacity(), generation, fw.compiled().cloned())
        };
        // The HA locks are taken before the firewall's, never while it is
        // held (set_rg_active holds them while writing the map).
        let redundancy_groups = self.shared.ha.groups(compiled.as_deref());
        RuntimeStatus {
            backend: "ebpf".into(),
            running: self.shared.running.load(Ordering::Relaxed),
            generation,
            workers: aya::util::nr_cpus().map_or(1, |n| n as u32),
            sessions: TableStats {
                occupancy: live as u64,
                capacity: u64::from(capacity),
            },
            redundancy_groups,
        }
    }

    fn link(&self) -> Arc<dyn LinkController> {
        Arc::new(EbpfLinks {
            shared: self.shared.clone(),
        })
    }

    fn ha(&self) -> Arc<dyn HAController> {
        Arc::new(EbpfHa {
            shared: self.shared.clone(),
        })
    }

    fn sessions(&self) -> Arc<dyn SessionStore> {
        Arc::new(EbpfSessions {
            shared: self.shared.clone(),
        })
    }

    fn telemetry(&self) -> Arc<dyn Telemetry> {
        Arc::new(EbpfTelemetry {
            shared: self.shared.clone(),
        })
    }

    fn session_deltas(&self) -> Option<Arc<dyn SessionDeltaSource>> {
        Some(Arc::new(EbpfDeltas {
            shared: self.shared.clone(),
        }))
    }

    fn config_sink(&self) -> &dyn ConfigSink {
        self
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        if let Some((stop, _)) = lock(&self.service).take() {
            stop.store(true, Ordering::Relaxed);
        }
    }
}

// ----------------------------------------------------------------------
// Links

/// [`LinkController`]: XDP attach/detach on devices of the caller's
/// network namespace.
pub struct EbpfLinks {
    shared: Arc<Shared>,
}

#[async_trait]
impl LinkController for EbpfLinks {
    async fn attach(&self, interface: &str) -> Result<()> {
        let mode = self.shared.opts.xdp_mode;
        self.shared
            .fw()
            .attach(interface, mode)
            .map_err(|e| match e {
                Error::Interface { name, reason } => {
                    DataplaneError::NotFound(format!("interface {name}: {reason}"))
                }
                e => dp_err(e),
            })
    }

    async fn detach(&self, interface: &str) -> Result<()> {
        self.shared.fw().detach(interface).map_err(dp_err)
    }

    fn attached(&self) -> Vec<String> {
        self.shared
            .fw()
            .links()
            .into_iter()
            .map(|l| l.name)
            .collect()
    }

    async fn set_link_state(&self, interface: &str, up: bool) -> Result<()> {
        if self
            .shared
            .fw()
            .set_link_up(interface, up)
            .map_err(dp_err)?
        {
            Ok(())
        } else {
            Err(DataplaneError::NotFound(format!(
                "interface {interface} is not attached"
            )))
        }
    }

    fn link_state(&self, interface: &str) -> Result<LinkState> {
        let links = self.shared.fw().links();
        let l = links
            .into_iter()
            .find(|l| l.name == interface)
            .ok_or_else(|| {
                DataplaneError::NotFound(format!("interface {interface} is not attached"))
            })?;
        Ok(LinkState {
            status: if l.up {
                LinkStatus::Up
            } else {
                LinkStatus::Down
            },
            mode: l.mode.into(),
        })
    }
}

// ----------------------------------------------------------------------
// Sessions

/// The session map as a [`SessionTable`], hence a [`SessionStore`] with the
/// shared semantics. A forward entry's NAT companion is its source-NAT port
/// slot; a reverse entry is derived from its forward entry. Cluster-synced
/// installs go through
/// [`Firewall::install_synced`](crate::firewall::Firewall::install_synced)
/// in one step (replacement, re-key and refusal as the engine's).
pub struct EbpfSessions {
    shared: Arc<Shared>,
}

impl EbpfSessions {
    /// Installs the session of the forward entry `forward` into the maps
    /// and publishes the closes it caused.
    fn install(&self, forward: &SessionEntry) -> Result<()> {
        let result = {
            let mut fw = self.shared.fw();
            let now = fw.clock_ns();
            fw.install_synced(forward, now).map(|_| ())
        };
        self.shared.pump();
        result
    }
}

impl SessionTable for EbpfSessions {
    fn for_each_entry(&self, f: &mut dyn FnMut(&SessionEntry) -> ControlFlow<()>) -> Result<()> {
        // One pass over the map under the lock, then the callback without it.
        let entries = {
            let fw = self.shared.fw();
            let forward = fw.forward_sessions().map_err(dp_err)?;
            let mut out = Vec::with_capacity(forward.len() * 2);
            for (k, v) in forward {
                let e = entry_of(&k, &v.s);
                out.push(e);
                if let Ok(Some(r)) = fw.entry_at(&v.s.other)
                    && r.is_reverse()
                {
                    out.push(r);
                }
            }
            out
        };
        for e in &entries {
            if f(e).is_break() {
                break;
            }
        }
        Ok(())
    }

    fn lookup(&self, key: &AnySessionKey) -> Result<Option<SessionEntry>> {
        self.shared.fw().entry_at(&sess_key(key)).map_err(dp_err)
    }

    fn install_synced(&self, forward: &SessionEntry) -> Option<Result<()>> {
        // The firewall replaces a local session holding the key (closing it
        // with its events) or refuses with nothing changed, in one step.
        Some(self.install(forward))
    }

    fn insert(&self, entry: SessionEntry) -> Result<()> {
        if !entry.is_reverse() {
            // A forward entry brings its whole session (reverse entry, NAT
            // slot, limit counts), as a synced install.
            return self.install(&entry);
        }
        match self.lookup(&entry.key())? {
            Some(present) if present.is_reverse() && present.session_id() == entry.session_id() => {
                Ok(())
            }
            _ => Err(DataplaneError::InvalidArgument(format!(
                "the reverse entry {} of session {} is installed with its forward entry",
                entry.key(),
                entry.session_id()
            ))),
        }
    }

    fn remove(&self, key: &AnySessionKey) -> Result<Option<SessionEntry>> {
        let k = sess_key(key);
        let mut fw = self.shared.fw();
        let Some(entry) = fw.entry_at(&k).map_err(dp_err)? else {
            return Ok(None);
        };
        let Some(v) = fw.remove_entry(&k).map_err(dp_err)? else {
            return Ok(None);
        };
        if v.s.is_reverse == 0 && v.s.snat_target != 0 {
            lock(&self.shared.removed_nat).insert(SessionId(v.s.session_id), (k, v));
        }
        Ok(Some(entry))
    }

    fn remove_nat_companions(&self, forward: &SessionEntry) -> Result<usize> {
        let held = lock(&self.shared.removed_nat).remove(&forward.session_id());
        let Some((k, v)) = held else {
            return Ok(0);
        };
        Ok(usize::from(self.shared.fw().release_slot(&k, &v)))
    }

    fn on_closed(&self, forward: &SessionEntry, reason: CloseReason) {
        let now = self.shared.close_time();
        self.shared.fw().report_close(forward, reason, now);
        self.shared.pump();
    }

    fn len(&self) -> Result<usize> {
        let fw = self.shared.fw();
        let forward = fw.forward_sessions().map_err(dp_err)?;
        let reverse = forward
            .iter()
            .filter(|(_, v)| matches!(fw.entry_at(&v.s.other), Ok(Some(r)) if r.is_reverse()))
            .count();
        Ok(forward.len() + reverse)
    }

    fn clear_all(&self) -> Result<usize> {
        let mut fw = self.shared.fw();
        let forward = fw.forward_sessions().map_err(dp_err)?;
        let mut removed = 0;
        for (k, v) in forward {
            if fw.remove_entry(&k).map_err(dp_err)?.is_some() {
                removed += 1;
            }
            if matches!(fw.entry_at(&v.s.other), Ok(Some(r)) if r.is_reverse())
                && fw.remove_entry(&v.s.other).map_err(dp_err)?.is_some()
            {
                removed += 1;
            }
            fw.release_slot(&k, &v);
        }
        drop(fw);
        self.shared.deltas.new_epoch();
        Ok(removed)
    }
}

// ----------------------------------------------------------------------
// Telemetry

/// [`Telemetry`]: per-CPU counters summed, the event stream, NAT pool usage
/// and table occupancy.
pub struct EbpfTelemetry {
    shared: Arc<Shared>,
}

fn not_found(what: String) -> DataplaneError {
    DataplaneError::NotFound(format!("{what} in the config in force"))
}

impl EbpfTelemetry {
    fn counters(&self) -> Result<crate::firewall::CounterSet> {
        self.shared.fw().counters().map_err(dp_err)
    }
}

#[async_trait]
impl Telemetry for EbpfTelemetry {
    fn events(&self) -> Result<Box<dyn EventStream>> {
        Ok(Box::new(self.shared.events.subscribe()))
    }

    async fn global_counter(&self, counter: GlobalCounter) -> Result<u64> {
        Ok(self.counters()?.global.get(&counter).copied().unwrap_or(0))
    }

    async fn global_counters(&self) -> Result<Vec<(GlobalCounter, u64)>> {
        let c = self.counters()?;
        Ok(GlobalCounter::all()
            .map(|k| (k, c.global.get(&k).copied().unwrap_or(0)))
            .collect())
    }

    async fn interface_counters(&self, interface: InterfaceId) -> Result<InterfaceCounters> {
        let c = self.shared.installed()?;
        if !c.interfaces.iter().any(|i| i.id == interface) {
            return Err(not_found(format!("interface {interface}")));
        }
        Ok(self
            .counters()?
            .interfaces
            .get(&interface)
            .copied()
            .unwrap_or_default())
    }

    async fn zone_counters(&self, zone: ZoneId) -> Result<ZoneCounters> {
        let c = self.shared.installed()?;
        if !c.zones.iter().any(|z| z.id == zone) {
            return Err(not_found(format!("zone {zone}")));
        }
        let z = self
            .counters()?
            .zones
            .get(&zone)
            .copied()
            .unwrap_or_default();
        Ok(ZoneCounters {
            ingress: z.ingress,
            egress: z.egress,
            drops: z.dropped,
        })
    }

    async fn policy_counters(&self, rule: PolicyRuleId) -> Result<CounterValue> {
        let c = self.shared.installed()?;
        if !c.policies.rules.iter().any(|r| r.id == rule) {
            return Err(not_found(format!("policy rule {rule}")));
        }
        Ok(self
            .counters()?
            .policies
            .get(&rule)
            .copied()
            .unwrap_or_default())
    }

    async fn filter_term_counters(&self, _term: FilterTermId) -> Result<CounterValue> {
        Err(DataplaneError::unsupported(
            Capability::Filters.name(),
            "firewall filters are not implemented in the program, so it keeps no term counters",
        ))
    }

    async fn nat_rule_counters(&self, rule: NatRuleId) -> Result<CounterValue> {
        let c = self.shared.installed()?;
        let nat = &c.nat;
        let known = nat.source_rules.iter().any(|r| r.id == rule)
            || nat.destination_rules.iter().any(|r| r.id == rule)
            || nat.static_rules.iter().any(|r| r.id == rule);
        if !known {
            return Err(not_found(format!("NAT rule {rule}")));
        }
        Ok(self
            .counters()?
            .nat_rules
            .get(&rule)
            .copied()
            .unwrap_or_default())
    }

    async fn nat_pool_ports(&self, pool: NatPoolId) -> Result<NatPoolUsage> {
        let c = self.shared.installed()?;
        let Some(p) = c.nat.source_pools.iter().find(|p| p.id == pool) else {
            return Err(not_found(format!("source NAT pool {pool}")));
        };
        let fw = self.shared.fw();
        let ports = u64::from(p.port_range.high - p.port_range.low) + 1;
        let mut used_addrs = std::collections::BTreeSet::new();
        let mut ports_in_use = 0u64;
        for (_, v) in fw.forward_sessions().map_err(dp_err)? {
            if v.s.snat_target == pool.0 && crate::abi::target_iface(v.s.snat_target).is_none() {
                ports_in_use += 1;
                used_addrs.insert(u64::from(v.s.slot) / ports);
            }
        }
        let addresses_total = u64::try_from(p.address_count).unwrap_or(u64::MAX);
        Ok(NatPoolUsage {
            addresses_in_use: used_addrs.len() as u64,
            addresses_total,
            ports_in_use,
            ports_total: addresses_total.saturating_mul(ports),
        })
    }

    async fn flood_counters(&self, zone: ZoneId) -> Result<FloodCounters> {
        let c = self.shared.installed()?;
        if !c.zones.iter().any(|z| z.id == zone) {
            return Err(not_found(format!("zone {zone}")));
        }
        // Flood screens are refused at apply, so no zone has any.
        Ok(FloodCounters::default())
    }

    async fn table_stats(&self) -> Result<Vec<(TableKind, TableStats)>> {
        let fw = self.shared.fw();
        let forward = fw.forward_sessions().map_err(dp_err)?;
        let nat = forward.iter().filter(|(_, v)| v.s.snat_target != 0).count() as u64;
        let cap = u64::from(self.shared.opts.load.max_sessions.max(16));
        let compiled = fw.compiled().cloned();
        drop(fw);
        let (subs, queued) = self.shared.events.occupancy();
        let (deltas, delta_cap) = self.shared.deltas.occupancy();
        let routes = compiled
            .as_ref()
            .map_or(0, |c| c.forwarding.routes.len() as u64);
        let neighbours = compiled
            .as_ref()
            .map_or(0, |c| c.forwarding.neighbours.len() as u64);
        Ok(vec![
            (
                TableKind::Sessions,
                TableStats {
                    occupancy: 2 * forward.len() as u64,
                    capacity: 2 * cap,
                },
            ),
            (
                TableKind::NatMappings,
                TableStats {
                    occupancy: nat,
                    capacity: cap,
                },
            ),
            (
                TableKind::Events,
                TableStats {
                    occupancy: queued,
                    capacity: (subs * self.shared.events.capacity()) as u64,
                },
            ),
            (
                TableKind::SessionDeltas,
                TableStats {
                    occupancy: deltas as u64,
                    capacity: delta_cap as u64,
                },
            ),
            (
                TableKind::Routes,
                TableStats {
                    occupancy: routes,
                    capacity: u64::from(crate::abi::MAX_ROUTES),
                },
            ),
            (
                TableKind::Neighbours,
                TableStats {
                    occupancy: neighbours,
                    capacity: u64::from(crate::abi::MAX_NEIGHBOURS),
                },
            ),
        ])
    }
}

// ----------------------------------------------------------------------
// Deltas

/// The [`SessionDeltaSource`]: open / update records from the ring buffer
/// and the control plane's closes, in one sequence.
pub struct EbpfDeltas {
    shared: Arc<Shared>,
}

impl SessionDeltaSource for EbpfDeltas {
    fn drain(&self, max: usize) -> std::result::Result<SessionDeltaSnapshot, SessionDeltaError> {
        self.shared.pump();
        Ok(self.shared.deltas.drain(max))
    }

    fn export_owner_rg(
        &self,
        groups: &[RedundancyGroupId],
        after: Option<AnySessionKey>,
        max: usize,
    ) -> std::result::Result<SessionDeltaSnapshot, SessionDeltaError> {
        let forward = self
            .shared
            .fw()
            .forward_sessions()
            .map_err(|e| SessionDeltaError::Backend(e.to_string()))?;
        let mut entries: Vec<SessionEntry> = forward
            .iter()
            .map(|(k, v)| entry_of(k, &v.s))
            .filter(|e| groups.contains(&e.owner_rg()))
            .filter(|e| after.is_none_or(|a| e.key() > a))
            .collect();
        entries.sort_by_key(|e| e.key());
        let truncated = entries.len() > max;
        entries.truncate(max);
        Ok(SessionDeltaSnapshot {
            epoch: self.shared.deltas.epoch(),
            resume_after: if truncated {
                entries.last().map(|e| e.key())
            } else {
                None
            },
            deltas: entries
                .into_iter()
                .map(|entry| xpf_runtime::SessionDelta {
                    seq: 0,
                    reason: SessionDeltaReason::Bulk,
                    entry,
                })
                .collect(),
            truncated,
            lost: 0,
        })
    }

    fn sweep_profile(&self) -> SweepProfile {
        let mut p = *lock(&self.shared.sweep);
        p.pending_deltas = self.shared.deltas.occupancy().0 as u64;
        p
    }
}
