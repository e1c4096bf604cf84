//! [`UserspaceDataplane`]: the backend — config apply, shards, the packet
//! path shared by the worker threads and the inline (deterministic) mode,
//! and the lifecycle.

use crate::events::{DeltaLog, EventHub};
use crate::link::LinkTable;
use crate::plan::ShardPlan;
use crate::port::{MemoryPortFactory, PortFactory};
use crate::sessions::Orphans;
use crate::steer::Steering;
use async_trait::async_trait;
use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use xpf_dataplane::apply::{ApplyResult, Capabilities};
use xpf_dataplane::cancel::Cancel;
use xpf_dataplane::compile::CompiledConfig;
use xpf_dataplane::ha_state::HaState;
use xpf_dataplane::traits::{
    ConfigSink, HAController, LinkController, RuntimeDataPlane, SessionStore, Telemetry,
};
use xpf_dataplane::{DataplaneError, Result};
use xpf_engine::engine::{Emitted, Engine, EngineOptions, Verdict};
use xpf_engine::nat::SourceNat;
use xpf_runtime::counters::BaseCounter;
use xpf_runtime::{
    DropReason, Event, InterfaceId, RuntimeStatus, SessionDeltaReason, SessionDeltaSource,
    SessionId, TableStats,
};

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

pub(crate) fn read<T>(m: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    m.read().unwrap_or_else(PoisonError::into_inner)
}

pub(crate) fn write<T>(m: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    m.write().unwrap_or_else(PoisonError::into_inner)
}

/// How packets are driven.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RunMode {
    /// Worker threads poll the attached ports (one thread per worker).
    #[default]
    Threaded,
    /// No threads: the caller injects frames with
    /// [`UserspaceDataplane::inject`] and drives time with
    /// [`UserspaceDataplane::advance`]. Deterministic; used by the
    /// conformance harness and the replay tool.
    Inline,
}

/// Construction options.
#[derive(Clone)]
pub struct UserspaceOptions {
    /// Worker threads, and the most shards a config is spread over (see
    /// [`crate::plan`]). At least 1.
    pub workers: usize,
    /// Threads or inline.
    pub mode: RunMode,
    /// Frames a worker takes from one receive queue at a time.
    pub burst: usize,
    /// Events each subscription can hold.
    pub event_capacity: usize,
    /// Session deltas the HA log can hold.
    pub delta_capacity: usize,
    /// Opens the ports of attached interfaces.
    pub port_factory: Arc<dyn PortFactory>,
    /// The HA watchdog timeout, ns; 0 disables the watchdog.
    pub watchdog_timeout_ns: u64,
    /// This node's id (0 or 1); `None` takes it from the config's HA
    /// section (0 without one).
    pub node_id: Option<u8>,
}

impl std::fmt::Debug for UserspaceOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserspaceOptions")
            .field("workers", &self.workers)
            .field("mode", &self.mode)
            .field("burst", &self.burst)
            .field("event_capacity", &self.event_capacity)
            .field("delta_capacity", &self.delta_capacity)
            .field("watchdog_timeout_ns", &self.watchdog_timeout_ns)
            .field("node_id", &self.node_id)
            .finish_non_exhaustive()
    }
}

impl Default for UserspaceOptions {
    fn default() -> Self {
        Self {
            workers: 1,
            mode: RunMode::Threaded,
            burst: 32,
            event_capacity: 65_536,
            delta_capacity: 65_536,
            port_factory: Arc::new(MemoryPortFactory::default()),
            watchdog_timeout_ns: 0,
            node_id: None,
        }
    }
}

impl UserspaceOptions {
    /// Inline (deterministic) mode with one shard.
    pub fn inline() -> Self {
        Self {
            mode: RunMode::Inline,
            ..Self::default()
        }
    }
}

/// Where a transmitted frame came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// The injected frame, forwarded (and possibly rewritten).
    Forwarded,
    /// A frame the firewall built (TCP RST, ICMP error).
    Generated,
    /// Sent to the cluster peer over a fabric link (this node is backup for
    /// the frame's redundancy group).
    Fabric,
}

/// A frame leaving the dataplane.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutFrame {
    /// Egress interface id (of the config in force).
    pub interface: InterfaceId,
    /// Egress interface name.
    pub name: String,
    /// Why it is sent.
    pub origin: Origin,
    /// The Ethernet frame.
    pub frame: Vec<u8>,
}

/// What happened to one injected frame (inline mode).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Injected {
    /// The engine's verdict; `None` when the frame never reached an engine
    /// because its ingress interface is administratively down (counted in
    /// [`BackendCounters::rx_link_down`]).
    pub verdict: Option<Verdict>,
    /// The shard that processed it.
    pub shard: usize,
    /// Frames sent because of it, in order.
    pub frames: Vec<OutFrame>,
}

/// Counters the backend keeps besides the engines' own.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BackendCounters {
    /// Frames received on an interface that is administratively down
    /// (discarded before the engine).
    pub rx_link_down: u64,
    /// Frames the engine forwarded to an interface that is down or has no
    /// port (discarded).
    pub tx_discarded: u64,
    /// Frames of a backup redundancy group sent to the peer over a fabric link.
    pub fabric_forwarded: u64,
    /// Frames handed from the worker that received them to the worker
    /// owning their shard.
    pub handoffs: u64,
    /// Frames received on a port whose interface is not in the config.
    pub rx_unknown_interface: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Stats {
    pub rx_link_down: AtomicU64,
    pub tx_discarded: AtomicU64,
    pub fabric_forwarded: AtomicU64,
    pub handoffs: AtomicU64,
    pub rx_unknown_interface: AtomicU64,
}

/// The backend's clock: system time for threads, a settable time inline.
#[derive(Debug)]
pub(crate) enum Clock {
    System,
    Manual(AtomicU64),
}

impl Clock {
    pub fn now(&self) -> u64 {
        match self {
            Clock::System => SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64),
            Clock::Manual(t) => t.load(Ordering::Acquire),
        }
    }

    /// Moves a manual clock forward to `now_ns` (never back).
    pub fn advance(&self, now_ns: u64) {
        if let Clock::Manual(t) = self {
            t.fetch_max(now_ns, Ordering::AcqRel);
        }
    }
}

/// Engine close events and close deltas a drain must hold back (the session
/// store publishes them itself, with the caller's reason); held events are
/// returned by [`Inner::drain_shard`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Suppress {
    /// Publish everything.
    Nothing,
    /// Not the session-close event of this session.
    Close(SessionId),
    /// No session-close event (table reset).
    AllCloses,
}

/// One engine shard.
pub(crate) struct Shard {
    pub index: usize,
    pub engine: Engine,
    last_now: u64,
    emitted: Vec<Emitted>,
    deltas_dropped_seen: u64,
}

impl Shard {
    /// `now_ns`, never before a time this shard already used.
    pub fn now(&mut self, now_ns: u64) -> u64 {
        self.last_now = self.last_now.max(now_ns);
        self.last_now
    }
}

/// A shard with its hand-off queue.
pub(crate) struct ShardSlot {
    pub shard: Mutex<Shard>,
    pub handoff: Mutex<Vec<(InterfaceId, Vec<u8>)>>,
}

/// The shards of a running backend (fixed at the first apply).
pub(crate) struct ShardSet {
    pub slots: Vec<ShardSlot>,
    pub steering: Steering,
}

/// The config in force.
#[derive(Debug)]
pub(crate) struct Installed {
    pub compiled: Arc<CompiledConfig>,
    pub result: ApplyResult,
    pub plan: ShardPlan,
    pub ids: HashMap<String, InterfaceId>,
    pub names: Vec<Option<String>>,
}

impl Installed {
    pub fn name_of(&self, id: InterfaceId) -> Option<&str> {
        self.names.get(id.index()).and_then(|n| n.as_deref())
    }
}

/// Everything the backend's handles share.
pub(crate) struct Inner {
    pub opts: UserspaceOptions,
    pub clock: Clock,
    apply_lock: Mutex<()>,
    pub installed: RwLock<Option<Arc<Installed>>>,
    pub shards: RwLock<Option<Arc<ShardSet>>>,
    pub events: EventHub,
    pub deltas: DeltaLog,
    pub orphans: Orphans,
    pub links: LinkTable,
    pub ha: HaState,
    pub stats: Stats,
    pub running: AtomicBool,
    pub torn_down: AtomicBool,
    stop: Arc<AtomicBool>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    pub sweeps: Mutex<xpf_runtime::SweepProfile>,
}

impl Inner {
    pub fn installed(&self) -> Option<Arc<Installed>> {
        read(&self.installed).clone()
    }

    pub fn shard_set(&self) -> Option<Arc<ShardSet>> {
        read(&self.shards).clone()
    }

    /// Publishes what a shard's engine queued: events (minus a suppressed
    /// session-close), deltas to the HA log, and steering registrations.
    pub fn drain_shard(
        &self,
        steering: &Steering,
        shard: &mut Shard,
        suppress: Suppress,
    ) -> Vec<Event> {
        let idx = shard.index;
        let tel = shard.engine.telemetry_mut();
        let events = tel.events.drain(usize::MAX);
        let deltas = tel.deltas.drain(usize::MAX);
        let dropped = tel.counters.get(BaseCounter::DeltasDropped);
        self.deltas
            .lose(dropped.saturating_sub(shard.deltas_dropped_seen));
        shard.deltas_dropped_seen = dropped;
        let (held, publish): (Vec<Event>, Vec<Event>) =
            events.into_iter().partition(|e| match (e, suppress) {
                (Event::SessionClose(c), Suppress::Close(id)) => c.open.session_id == id,
                (Event::SessionClose(_), Suppress::AllCloses) => true,
                _ => false,
            });
        self.events.publish(publish);
        for d in deltas {
            match d.reason {
                SessionDeltaReason::Open => steering.register(&d.entry, idx),
                SessionDeltaReason::Close(_) => {
                    steering.unregister(&d.entry, idx);
                    // A store delete records its own close delta, with the
                    // caller's reason (see `crate::sessions`).
                    let own = match suppress {
                        Suppress::Close(id) => d.entry.session_id() == id,
                        Suppress::AllCloses => true,
                        Suppress::Nothing => false,
                    };
                    if own {
                        continue;
                    }
                }
                _ => {}
            }
            self.deltas.record(d.reason, d.entry);
        }
        held
    }

    /// Runs frames of one shard through its engine; the shard's lock is
    /// held for the whole batch. Appends what is to be sent to `out` and
    /// returns one verdict per frame.
    pub fn process_batch(
        &self,
        set: &ShardSet,
        index: usize,
        installed: &Installed,
        now_ns: u64,
        frames: Vec<(InterfaceId, Vec<u8>)>,
        out: &mut Vec<OutFrame>,
    ) -> Vec<Verdict> {
        let links = self.links.snapshot();
        let fabric = self.ha.fabric_view();
        let mut verdicts = Vec::with_capacity(frames.len());
        let mut guard = lock(&set.slots[index].shard);
        let shard = &mut *guard;
        let now = shard.now(now_ns);
        for (ingress, mut frame) in frames {
            let verdict = shard
                .engine
                .process(now, ingress, &mut frame, &mut shard.emitted);
            for e in shard.emitted.drain(..) {
                self.send(
                    installed,
                    &links,
                    e.interface,
                    Origin::Generated,
                    e.frame,
                    out,
                );
            }
            match verdict {
                Verdict::Forward { egress } => {
                    self.send(installed, &links, egress, Origin::Forwarded, frame, out);
                }
                Verdict::Drop(DropReason::HaInactive) => {
                    if let Some((ifc, f)) = fabric
                        .iter()
                        .filter(|f| f.enabled)
                        .find_map(|f| installed.ids.get(&f.interface).map(|i| (*i, f)))
                        && frame.len() >= 12
                    {
                        frame[0..6].copy_from_slice(&f.peer_mac.0);
                        frame[6..12].copy_from_slice(&f.local_mac.0);
                        self.stats.fabric_forwarded.fetch_add(1, Ordering::Relaxed);
                        self.send(installed, &links, ifc, Origin::Fabric, frame, out);
                    }
                }
                _ => {}
            }
            verdicts.push(verdict);
        }
        let _ = self.drain_shard(&set.steering, shard, Suppress::Nothing);
        verdicts
    }

    fn send(
        &self,
        installed: &Installed,
        links: &crate::link::LinkSnapshot,
        interface: InterfaceId,
        origin: Origin,
        frame: Vec<u8>,
        out: &mut Vec<OutFrame>,
    ) {
        let Some(name) = installed.name_of(interface) else {
            self.stats.tx_discarded.fetch_add(1, Ordering::Relaxed);
            return;
        };
        if links.is_down(name) {
            self.stats.tx_discarded.fetch_add(1, Ordering::Relaxed);
            return;
        }
        out.push(OutFrame {
            interface,
            name: name.to_string(),
            origin,
            frame,
        });
    }

    /// Expires idle sessions in every shard (and orphaned entries).
    pub fn expire(self: &Arc<Self>, now_ns: u64) -> usize {
        let Some(set) = self.shard_set() else {
            return 0;
        };
        let started = std::time::Instant::now();
        let mut closed = 0;
        let mut scanned = 0;
        for slot in &set.slots {
            let mut shard = lock(&slot.shard);
            let now = shard.now(now_ns);
            scanned += shard.engine.sessions().len();
            closed += shard.engine.expire(now, usize::MAX);
            let _ = self.drain_shard(&set.steering, &mut shard, Suppress::Nothing);
        }
        closed += crate::sessions::expire_orphans(self, now_ns);
        let mut p = lock(&self.sweeps);
        p.sweeps += 1;
        p.last_scanned = scanned as u64;
        p.last_expired = closed as u64;
        p.last_duration_ns = started.elapsed().as_nanos() as u64;
        closed
    }

    /// Re-sends the redundancy-group roles to every engine.
    pub fn push_roles(&self) {
        let Some(set) = self.shard_set() else {
            return;
        };
        let groups = self
            .ha
            .groups(self.installed().as_deref().map(|i| &*i.compiled));
        for slot in &set.slots {
            let mut shard = lock(&slot.shard);
            for g in &groups {
                shard.engine.set_rg_active(g.group, g.active);
            }
        }
    }

    /// Interfaces that are attached and administratively down, as ids of
    /// `compiled`.
    fn down_ids(&self, compiled: &CompiledConfig) -> BTreeSet<InterfaceId> {
        let down = self.links.down_names();
        compiled
            .interfaces
            .iter()
            .filter(|i| down.contains(&i.name))
            .map(|i| i.id)
            .collect()
    }

    /// Installs `compiled` as the next generation, atomically.
    fn apply(&self, compiled: Arc<CompiledConfig>, cancel: &Cancel) -> Result<ApplyResult> {
        let _serial = lock(&self.apply_lock);
        cancel.check("config apply")?;
        if self.torn_down.load(Ordering::Acquire) {
            return Err(DataplaneError::NotRunning("torn down".into()));
        }
        let caps = capabilities();
        caps.check(&compiled)?;
        let previous = self.installed();
        let generation = previous.as_ref().map_or(1, |p| p.result.generation + 1);
        let set = self.shard_set();
        let wanted = ShardPlan::for_config(&compiled, self.opts.workers);
        let plan = match &set {
            None => wanted,
            Some(set) if set.slots.len() > wanted.shards() => {
                return Err(DataplaneError::unsupported(
                    "sharding",
                    format!(
                        "the backend runs {} shards and live sessions cannot move between them, \
                         but this config needs one shard ({}); restart the backend with workers = 1",
                        set.slots.len(),
                        wanted.single_shard_reason().unwrap_or("")
                    ),
                ));
            }
            Some(set) => ShardPlan::fixed(set.slots.len()),
        };
        let down = self.down_ids(&compiled);
        let lowered: Vec<Arc<CompiledConfig>> = (0..plan.shards())
            .map(|i| Arc::new(plan.lower(&compiled, i, &down)))
            .collect();
        // The only way an engine apply can fail is a source pool it cannot
        // lay out: check every shard's pools before touching any engine.
        for l in &lowered {
            SourceNat::from_compiled(&l.nat).map_err(|(pool, e)| DataplaneError::Backend {
                backend: "userspace",
                message: format!("source NAT pool {pool}: {e}"),
            })?;
        }
        let now = self.clock.now();
        let new_set =
            match &set {
                None => {
                    let node = self
                        .opts
                        .node_id
                        .or_else(|| compiled.ha.as_ref().map(|h| h.node_id))
                        .unwrap_or(0);
                    let opts = EngineOptions {
                        node_id: node,
                        ..EngineOptions::default()
                    };
                    let n = lowered.len();
                    let mut slots = Vec::with_capacity(n);
                    for (i, l) in lowered.iter().enumerate() {
                        let mut engine = Engine::new(Arc::clone(l), generation, opts, now)
                            .map_err(|e| DataplaneError::Backend {
                                backend: "userspace",
                                message: e.to_string(),
                            })?;
                        engine.set_session_ids(i as u64 + 1, n as u64);
                        slots.push(ShardSlot {
                            shard: Mutex::new(Shard {
                                index: i,
                                engine,
                                last_now: now,
                                emitted: Vec::new(),
                                deltas_dropped_seen: 0,
                            }),
                            handoff: Mutex::new(Vec::new()),
                        });
                    }
                    cancel.check("config apply")?;
                    Some(Arc::new(ShardSet {
                        slots,
                        steering: Steering::new(n),
                    }))
                }
                Some(set) => {
                    cancel.check("config apply")?;
                    // Commit point: from here on every shard is switched.
                    for (slot, l) in set.slots.iter().zip(&lowered) {
                        let mut shard = lock(&slot.shard);
                        let t = shard.now(now);
                        shard
                            .engine
                            .apply(Arc::clone(l), generation, t)
                            .map_err(|e| DataplaneError::Backend {
                                backend: "userspace",
                                message: e.to_string(),
                            })?;
                        let _ = self.drain_shard(&set.steering, &mut shard, Suppress::Nothing);
                    }
                    None
                }
            };
        if let Some(s) = new_set {
            *write(&self.shards) = Some(s);
        }
        let result = ApplyResult::from_compiled(&compiled, generation, caps);
        let mut names = Vec::new();
        let mut ids = HashMap::new();
        for i in &compiled.interfaces {
            if names.len() <= i.id.index() {
                names.resize(i.id.index() + 1, None);
            }
            names[i.id.index()] = Some(i.name.clone());
            ids.insert(i.name.clone(), i.id);
        }
        *write(&self.installed) = Some(Arc::new(Installed {
            compiled,
            result: result.clone(),
            plan,
            ids,
            names,
        }));
        self.push_roles();
        Ok(result)
    }

    /// Re-lowers the config in force (after a link state change) into every
    /// shard, keeping the generation.
    pub fn relower(&self) -> Result<()> {
        let _serial = lock(&self.apply_lock);
        let (Some(installed), Some(set)) = (self.installed(), self.shard_set()) else {
            return Ok(());
        };
        let down = self.down_ids(&installed.compiled);
        let plan = ShardPlan::fixed(set.slots.len());
        let now = self.clock.now();
        for slot in &set.slots {
            let mut shard = lock(&slot.shard);
            let l = Arc::new(plan.lower(&installed.compiled, shard.index, &down));
            let t = shard.now(now);
            shard
                .engine
                .apply(l, installed.result.generation, t)
                .map_err(|e| DataplaneError::Backend {
                    backend: "userspace",
                    message: e.to_string(),
                })?;
            let _ = self.drain_shard(&set.steering, &mut shard, Suppress::Nothing);
        }
        Ok(())
    }

    /// Time-driven work: expiry (at most every 100 ms of backend time in
    /// threaded mode) and the HA watchdog.
    pub fn housekeeping(&self, now_ns: u64) {
        // The roles are pushed after the HA lock is released.
        if self.ha.check_watchdog(now_ns, || Ok(())).unwrap_or(false) {
            self.push_roles();
        }
    }
}

/// What the userspace backend supports: everything the engine implements.
pub fn capabilities() -> Capabilities {
    Capabilities::all_supported()
}

/// The userspace backend. Cheap to clone (a handle); every clone and every
/// controller it hands out share one backend.
#[derive(Clone)]
pub struct UserspaceDataplane {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for UserspaceDataplane {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserspaceDataplane")
            .field("opts", &self.inner.opts)
            .field("running", &self.inner.running.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl UserspaceDataplane {
    /// A backend with `opts`; apply a config, attach interfaces and start it.
    pub fn new(opts: UserspaceOptions) -> Self {
        let clock = match opts.mode {
            RunMode::Threaded => Clock::System,
            RunMode::Inline => Clock::Manual(AtomicU64::new(0)),
        };
        let epoch = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(1, |d| d.as_secs());
        let inner = Inner {
            events: EventHub::new(opts.event_capacity),
            deltas: DeltaLog::new(opts.delta_capacity, epoch),
            orphans: Orphans::default(),
            links: LinkTable::default(),
            ha: HaState::new(opts.watchdog_timeout_ns),
            stats: Stats::default(),
            running: AtomicBool::new(false),
            torn_down: AtomicBool::new(false),
            stop: Arc::new(AtomicBool::new(false)),
            threads: Mutex::new(Vec::new()),
            sweeps: Mutex::new(xpf_runtime::SweepProfile::default()),
            apply_lock: Mutex::new(()),
            installed: RwLock::new(None),
            shards: RwLock::new(None),
            clock,
            opts,
        };
        Self {
            inner: Arc::new(inner),
        }
    }

    /// An inline (deterministic) backend with one shard.
    pub fn inline() -> Self {
        Self::new(UserspaceOptions::inline())
    }

    /// The backend's current time (ns since the Unix epoch).
    pub fn now_ns(&self) -> u64 {
        self.inner.clock.now()
    }

    /// Shards the config in force runs on (0 before the first apply).
    pub fn shard_count(&self) -> usize {
        self.inner.shard_set().map_or(0, |s| s.slots.len())
    }

    /// Why the config runs on one shard although more workers were asked
    /// for, if that is the case.
    pub fn single_shard_reason(&self) -> Option<String> {
        self.inner
            .installed()
            .and_then(|i| i.plan.single_shard_reason().map(str::to_string))
    }

    /// The shard holding the session of `key` (either of its keys).
    pub fn shard_of_session(&self, key: &xpf_runtime::AnySessionKey) -> Option<usize> {
        let set = self.inner.shard_set()?;
        set.slots
            .iter()
            .position(|s| lock(&s.shard).engine.sessions().lookup(key).is_some())
    }

    /// Counters the backend keeps besides the engines'.
    pub fn backend_counters(&self) -> BackendCounters {
        let s = &self.inner.stats;
        BackendCounters {
            rx_link_down: s.rx_link_down.load(Ordering::Relaxed),
            tx_discarded: s.tx_discarded.load(Ordering::Relaxed),
            fabric_forwarded: s.fabric_forwarded.load(Ordering::Relaxed),
            handoffs: s.handoffs.load(Ordering::Relaxed),
            rx_unknown_interface: s.rx_unknown_interface.load(Ordering::Relaxed),
        }
    }

    /// Every counter of every shard, summed and indexed by id, including ids
    /// the config in force no longer has.
    pub fn counter_tables(&self) -> crate::telemetry::CounterTables {
        crate::telemetry::UserspaceTelemetry {
            inner: Arc::clone(&self.inner),
        }
        .tables()
    }

    /// The config in force's interface id for `name`.
    pub fn interface_id(&self, name: &str) -> Option<InterfaceId> {
        self.inner.installed()?.ids.get(name).copied()
    }

    /// Inline mode: processes `frame` arriving on `interface` at `now_ns`
    /// (which moves the backend clock forward, never back) and returns the
    /// verdict and the frames sent because of it. Idle sessions are expired
    /// up to `now_ns` first, so time passing between frames behaves as on a
    /// running system.
    pub fn inject(&self, now_ns: u64, interface: &str, frame: Vec<u8>) -> Result<Injected> {
        let id = self
            .interface_id(interface)
            .ok_or_else(|| DataplaneError::NotFound(format!("interface {interface}")))?;
        self.inject_id(now_ns, id, frame)
    }

    /// [`inject`](Self::inject) by interface id.
    pub fn inject_id(
        &self,
        now_ns: u64,
        interface: InterfaceId,
        frame: Vec<u8>,
    ) -> Result<Injected> {
        let inner = &self.inner;
        if inner.opts.mode != RunMode::Inline {
            return Err(DataplaneError::InvalidArgument(
                "inject is for inline mode; threaded backends receive from their ports".into(),
            ));
        }
        if !inner.running.load(Ordering::Acquire) {
            return Err(DataplaneError::NotRunning("inject before start".into()));
        }
        let (Some(installed), Some(set)) = (inner.installed(), inner.shard_set()) else {
            return Err(DataplaneError::NotRunning("no config applied".into()));
        };
        self.advance(now_ns)?;
        let name = installed.name_of(interface).unwrap_or("");
        if inner.links.is_down(name) {
            inner.stats.rx_link_down.fetch_add(1, Ordering::Relaxed);
            return Ok(Injected {
                verdict: None,
                shard: 0,
                frames: Vec::new(),
            });
        }
        let shard = set.steering.shard_of_frame(&frame, now_ns);
        let mut frames = Vec::new();
        let verdict = inner.process_batch(
            &set,
            shard,
            &installed,
            now_ns,
            vec![(interface, frame)],
            &mut frames,
        )[0];
        Ok(Injected {
            verdict: Some(verdict),
            shard,
            frames,
        })
    }

    /// Moves the backend clock to `now_ns` (inline mode) and runs what time
    /// drives: session expiry and the HA watchdog. Returns the sessions
    /// closed. In threaded mode it runs the same work at the system time.
    pub fn advance(&self, now_ns: u64) -> Result<usize> {
        let inner = &self.inner;
        inner.clock.advance(now_ns);
        let now = inner.clock.now();
        inner.housekeeping(now);
        Ok(inner.expire(now))
    }
}

#[async_trait]
impl ConfigSink for UserspaceDataplane {
    async fn apply_compiled(
        &self,
        compiled: Arc<CompiledConfig>,
        cancel: &Cancel,
    ) -> Result<ApplyResult> {
        self.inner.apply(compiled, cancel)
    }

    fn last_compiled(&self) -> Option<Arc<CompiledConfig>> {
        self.inner.installed().map(|i| Arc::clone(&i.compiled))
    }

    fn last_apply(&self) -> Option<ApplyResult> {
        self.inner.installed().map(|i| i.result.clone())
    }

    fn capabilities(&self) -> Capabilities {
        capabilities()
    }
}

#[async_trait]
impl RuntimeDataPlane for UserspaceDataplane {
    async fn start(&self) -> Result<()> {
        let inner = &self.inner;
        if inner.torn_down.load(Ordering::Acquire) {
            return Err(DataplaneError::NotRunning(
                "torn down; create a new backend".into(),
            ));
        }
        if inner.running.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        if inner.opts.mode == RunMode::Threaded {
            inner.stop.store(false, Ordering::Release);
            let mut threads = lock(&inner.threads);
            for w in 0..inner.opts.workers.max(1) {
                let inner = Arc::clone(&self.inner);
                let handle = std::thread::Builder::new()
                    .name(format!("xpf-worker-{w}"))
                    .spawn(move || crate::worker::run(&inner, w))
                    .map_err(|e| DataplaneError::Io {
                        context: format!("spawning worker {w}"),
                        source: e,
                    })?;
                threads.push(handle);
            }
        }
        Ok(())
    }

    async fn close(&self) -> Result<()> {
        let inner = &self.inner;
        inner.running.store(false, Ordering::Release);
        inner.stop.store(true, Ordering::Release);
        let threads: Vec<_> = lock(&inner.threads).drain(..).collect();
        for t in threads {
            let _ = t.join();
        }
        Ok(())
    }

    async fn teardown(&self) -> Result<()> {
        self.close().await?;
        let inner = &self.inner;
        if inner.torn_down.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        for name in inner.links.names() {
            inner.opts.port_factory.close(&name);
        }
        inner.links.clear();
        inner.events.close();
        Ok(())
    }

    fn name(&self) -> &'static str {
        "userspace"
    }

    fn status(&self) -> RuntimeStatus {
        let inner = &self.inner;
        let (mut occupancy, mut capacity) = (0u64, 0u64);
        if let Some(set) = inner.shard_set() {
            for slot in &set.slots {
                let shard = lock(&slot.shard);
                occupancy += shard.engine.sessions().len() as u64;
                capacity += shard.engine.sessions().capacity() as u64;
            }
        }
        let installed = inner.installed();
        RuntimeStatus {
            backend: "userspace".into(),
            running: inner.running.load(Ordering::Acquire),
            generation: installed.as_ref().map_or(0, |i| i.result.generation),
            workers: match inner.opts.mode {
                RunMode::Threaded => inner.opts.workers.max(1) as u32,
                RunMode::Inline => 0,
            },
            sessions: TableStats {
                occupancy,
                capacity,
            },
            redundancy_groups: inner.ha.groups(installed.as_deref().map(|i| &*i.compiled)),
        }
    }

    fn link(&self) -> Arc<dyn LinkController> {
        Arc::new(crate::link::UserspaceLinks {
            inner: Arc::clone(&self.inner),
        })
    }

    fn ha(&self) -> Arc<dyn HAController> {
        Arc::new(crate::ha::UserspaceHa {
            inner: Arc::clone(&self.inner),
        })
    }

    fn sessions(&self) -> Arc<dyn SessionStore> {
        Arc::new(crate::sessions::UserspaceSessions {
            inner: Arc::clone(&self.inner),
        })
    }

    fn telemetry(&self) -> Arc<dyn Telemetry> {
        Arc::new(crate::telemetry::UserspaceTelemetry {
            inner: Arc::clone(&self.inner),
        })
    }

    fn session_deltas(&self) -> Option<Arc<dyn SessionDeltaSource>> {
        Some(Arc::new(crate::sessions::UserspaceDeltas {
            inner: Arc::clone(&self.inner),
        }))
    }

    fn config_sink(&self) -> &dyn ConfigSink {
        self
    }
}

/// How long an idle worker sleeps between polls.
pub(crate) const IDLE_SLEEP: Duration = Duration::from_micros(200);

impl Inner {
    /// Orphaned session entries (see [`crate::sessions`]).
    pub fn orphans_len(&self) -> usize {
        self.orphans.len()
    }

    /// True once `close` asked the workers to stop.
    pub fn stopping(&self) -> bool {
        self.stop.load(Ordering::Acquire)
    }
}
