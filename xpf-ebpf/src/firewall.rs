//! The eBPF firewall's control plane: atomic apply (fill the inactive slot,
//! carry NAT mappings over, flip, rematch), the session table over the
//! session map (listing, known-value and companion deletes, expiry), counter
//! snapshots (per-CPU values summed) and the ring-buffer records turned into
//! events and session deltas.

use crate::abi::{self, SessKey, SessVal};
use crate::lower::{self, Lowered, capabilities, ip_bytes, ip_u128};
use crate::program::{Error, LoadOptions, Loaded, PROGRAM};
use aya::maps::lpm_trie::Key as LpmKey;
use aya::maps::{MapData, MapError, PerCpuArray, PerCpuValues};
use aya::programs::XdpMode;
use aya::programs::xdp::XdpLinkId;
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;
use xpf_dataplane::apply::ApplyResult;
use xpf_dataplane::compile::{CompiledConfig, CompiledSourceAction};
use xpf_dataplane::config::{DefaultPolicy, PolicyAction, PortOverload};
use xpf_dataplane::error::DataplaneError;
use xpf_dataplane::session_store::reverse_entry;
use xpf_dataplane::session_store::{close_event, open_event};
use xpf_dataplane::traits::FabricForwarding;
use xpf_runtime::counters::BaseCounter;
use xpf_runtime::{
    AnySessionKey, AppId, CloseReason, CounterValue, DropReason, Event, FilterDirection, FilterId,
    FilterLogAction, FilterLogEvent, FilterTermId, FlowTuple, GlobalCounter, InterfaceCounters,
    InterfaceId, IpProtocol, NatPoolId, NatRuleId, NatTranslation, PacketCounters, PolicyDenyEvent,
    PolicyRuleId, RedundancyGroupId, ScreenDropEvent, ScreenKind, SessionDelta, SessionDeltaReason,
    SessionEntry, SessionFlags, SessionId, SessionKey, SessionState, SessionValue, TcpState,
    ZoneId,
};

mod sync;
pub use sync::SyncedInstall;

const SEC: u64 = 1_000_000_000;
/// The `XDP_REDIRECT` action.
const XDP_REDIRECT: u32 = 4;

/// Every screen kind (a screen-drop record names its drop reason).
const SCREEN_KINDS: [ScreenKind; 14] = [
    ScreenKind::Land,
    ScreenKind::SynFin,
    ScreenKind::TcpNoFlag,
    ScreenKind::FinNoAck,
    ScreenKind::WinNuke,
    ScreenKind::PingOfDeath,
    ScreenKind::TearDrop,
    ScreenKind::SourceRoute,
    ScreenKind::SynFrag,
    ScreenKind::SynFlood,
    ScreenKind::IcmpFlood,
    ScreenKind::UdpFlood,
    ScreenKind::SourceSessionLimit,
    ScreenKind::DestinationSessionLimit,
];

/// What happened to one frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameVerdict {
    /// Forwarded out of an interface.
    Forward(InterfaceId),
    /// Delivered to the host.
    Local,
    /// Dropped and counted.
    Drop(DropReason),
}

/// One frame run through the program ([`Firewall::run_frame_full`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FrameRun {
    /// What happened to the packet.
    pub verdict: FrameVerdict,
    /// The frame as the program left it.
    pub frame: Vec<u8>,
    /// `frame` is a RST / ICMP error the program built, sent out of this
    /// interface (the packet was dropped).
    pub emitted: Option<InterfaceId>,
    /// A backup redundancy group's frame (verdict `ha-inactive`) that the
    /// program redirected (`XDP_REDIRECT`) to the peer over the fabric
    /// link: that link's kernel ifindex; `frame` is what was sent.
    pub fabric: Option<u32>,
}

/// Per-zone counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ZoneTraffic {
    /// Ingress.
    pub ingress: CounterValue,
    /// Egress.
    pub egress: CounterValue,
    /// Dropped.
    pub dropped: u64,
}

/// Every counter, per-CPU values summed; only ids some generation used.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CounterSet {
    /// Global counters, non-zero.
    pub global: BTreeMap<GlobalCounter, u64>,
    /// Per interface.
    pub interfaces: BTreeMap<InterfaceId, InterfaceCounters>,
    /// Per zone.
    pub zones: BTreeMap<ZoneId, ZoneTraffic>,
    /// Per policy rule.
    pub policies: BTreeMap<PolicyRuleId, CounterValue>,
    /// Per NAT rule.
    pub nat_rules: BTreeMap<NatRuleId, CounterValue>,
    /// Frames of a backup redundancy group sent to the peer over the fabric
    /// link (each also counted as an `ha-inactive` drop).
    pub fabric_forwarded: u64,
}

/// Map keys written into one configuration slot (cleared before reuse).
#[derive(Default)]
struct SlotKeys {
    lowered: Option<Lowered>,
    /// `xpf_ifindex` entries of attached devices.
    ifindex: Vec<abi::IfindexKey>,
}

/// A device the program is attached to.
#[derive(Debug)]
struct Link {
    ifindex: u32,
    link: XdpLinkId,
    mode: XdpMode,
    up: bool,
}

/// Install-order sort key: the order, then 0 for a synced install (with
/// its sequence) before 1 for the program's session of that order.
type OrderKey = (u64, u8, u64);

/// A session due for expiry: its forward key and value, and the reason its
/// close reports.
pub type Expired = (SessKey, SessVal, CloseReason);

/// The attachment of one device, as [`Firewall::links`] reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkInfo {
    /// Device name (the config's interface name).
    pub name: String,
    /// Kernel ifindex in the namespace it was attached from.
    pub ifindex: u32,
    /// `xdp-native`, `xdp-generic`, `xdp-offload` or `xdp`.
    pub mode: &'static str,
    /// Administrative state.
    pub up: bool,
}

fn mode_name(mode: XdpMode) -> &'static str {
    match mode {
        XdpMode::Driver => "xdp-native",
        XdpMode::Skb => "xdp-generic",
        XdpMode::Hardware => "xdp-offload",
        XdpMode::Default => "xdp",
    }
}

/// The eBPF backend's state around the loaded program.
pub struct Firewall {
    prog: Loaded,
    /// Sessions the maps were sized for ([`LoadOptions::max_sessions`]): the
    /// effective capacity is the configured one capped at it, less one
    /// session per CPU ([`capacity`](Self::capacity)).
    max_sessions: u32,
    /// Possible CPUs.
    cpus: u32,
    compiled: Option<Arc<CompiledConfig>>,
    last: Option<ApplyResult>,
    generation: u64,
    active: u32,
    slots: [SlotKeys; 2],
    /// Attached devices by name.
    links: BTreeMap<String, Link>,
    /// Stopped: attached devices are not bound, so every frame is dropped
    /// as `unknown-interface` (fail closed) until processing resumes.
    suspended: bool,
    /// Control-plane tallies (closes done here, not in the program).
    user_global: BTreeMap<GlobalCounter, u64>,
    /// Sessions the control plane removed and installed (cluster sync);
    /// `xpf_state` key 1 holds their difference (see
    /// [`write_user_state`](Self::write_user_state)).
    user_removed: u64,
    user_inserted: u64,
    /// Synced sessions `(forward key, id)` -> install sequence: a synced
    /// install takes the order the program's next session will also get, and
    /// sorts before it (and after earlier synced installs of that order).
    synced_seq: std::collections::HashMap<(SessKey, u64), u64>,
    next_synced_seq: u64,
    events: Vec<Event>,
    deltas: Vec<SessionDelta>,
    delta_seq: u64,
    /// Id-space sizes seen over every generation: interfaces, zones, rules, NAT rules.
    sizes: [usize; 4],
    /// Largest rule / NAT-rule counter ids ever used (reset clears them).
    /// [2]: largest ingress interface id a frame was run with, + 1.
    touched: [usize; 3],
    globals: abi::Globals,
    /// Schedule edges: the second last checked and the active set then
    /// (the program evaluates schedulers per packet; a change of the set
    /// rematches live sessions, [`check_schedules`](Self::check_schedules)).
    sched: (u64, Vec<bool>),
    /// Last forwarding epoch written into a slot's `xpf_gen` (see
    /// [`abi::GenCfg::epoch`]): every write of a slot's interfaces, routes
    /// or neighbours takes a new one, so sessions' cached forwarding results
    /// from before are not used.
    epoch: u32,
    /// The fabric links as last synced (`HAController::sync_fabric_state`):
    /// what `xpf_fabric` is written from, again whenever the bound links
    /// or the configuration change.
    fabric_view: Vec<FabricForwarding>,
}

fn map_err(name: &'static str) -> impl Fn(MapError) -> Error {
    move |source| Error::Map { name, source }
}

fn dp_err(e: Error) -> DataplaneError {
    DataplaneError::Backend {
        backend: "ebpf",
        message: e.to_string(),
    }
}

/// A session key of the program as a runtime key.
pub fn any_key(k: &SessKey) -> AnySessionKey {
    let protocol = IpProtocol(k.proto);
    if k.family == 4 {
        let a = |b: &[u8; 16]| Ipv4Addr::new(b[0], b[1], b[2], b[3]);
        AnySessionKey::V4(SessionKey {
            src: a(&k.src),
            dst: a(&k.dst),
            src_port: k.sport,
            dst_port: k.dport,
            protocol,
        })
    } else {
        AnySessionKey::V6(SessionKey {
            src: Ipv6Addr::from(k.src),
            dst: Ipv6Addr::from(k.dst),
            src_port: k.sport,
            dst_port: k.dport,
            protocol,
        })
    }
}

/// A runtime key as the program's key.
pub fn sess_key(k: &AnySessionKey) -> SessKey {
    let (src, dst, sport, dport, proto) = match k {
        AnySessionKey::V4(k) => (
            IpAddr::V4(k.src),
            IpAddr::V4(k.dst),
            k.src_port,
            k.dst_port,
            k.protocol,
        ),
        AnySessionKey::V6(k) => (
            IpAddr::V6(k.src),
            IpAddr::V6(k.dst),
            k.src_port,
            k.dst_port,
            k.protocol,
        ),
    };
    let (s, family) = ip_bytes(src);
    SessKey {
        family,
        proto: proto.0,
        sport,
        dport,
        pad0: 0,
        src: s,
        dst: ip_bytes(dst).0,
    }
}

fn tcp_state(t: &abi::Tcp) -> TcpState {
    if t.valid == 0 {
        return TcpState::None;
    }
    match t.state {
        1 => TcpState::SynSent,
        2 => TcpState::SynReceived,
        3 => TcpState::Established,
        4 => TcpState::FinWait,
        5 => TcpState::CloseWait,
        6 => TcpState::LastAck,
        7 => TcpState::TimeWait,
        8 => TcpState::Close,
        _ => TcpState::None,
    }
}

fn sess_state(n: u8) -> SessionState {
    match n {
        0 => SessionState::New,
        1 => SessionState::Established,
        2 => SessionState::Closing,
        _ => SessionState::Closed,
    }
}

/// The forward entry of a session from its key and data.
pub fn entry_of(key: &SessKey, s: &abi::Sess) -> SessionEntry {
    fn value<A: xpf_runtime::SessionAddr>(s: &abi::Sess, rev: SessionKey<A>) -> SessionValue<A> {
        SessionValue {
            session_id: SessionId(s.session_id),
            state: sess_state(s.state),
            tcp_state: tcp_state(&s.tcp),
            flags: SessionFlags(s.flags),
            is_reverse: false,
            created_ns: s.created_ns,
            last_seen_ns: s.last_seen_ns,
            timeout_secs: s.timeout,
            policy_rule: PolicyRuleId(s.rule),
            ingress_zone: ZoneId(s.in_zone),
            egress_zone: ZoneId(s.out_zone),
            ingress_interface: InterfaceId(s.in_if),
            egress_interface: InterfaceId(s.out_if),
            nat: NatTranslation {
                src: rev.dst,
                src_port: rev.dst_port,
                dst: rev.src,
                dst_port: rev.src_port,
            },
            nat_rule_src: NatRuleId(s.nat_rule_src),
            nat_rule_dst: NatRuleId(s.nat_rule_dst),
            nat_pool: NatPoolId(s.nat_pool),
            fwd: PacketCounters {
                packets: s.fwd_packets,
                bytes: s.fwd_bytes,
            },
            rev: PacketCounters {
                packets: s.rev_packets,
                bytes: s.rev_bytes,
            },
            reverse_key: rev,
            app: AppId(s.app),
            owner_rg: RedundancyGroupId(s.rg),
        }
    }
    match (any_key(key), any_key(&s.other)) {
        (AnySessionKey::V4(f), AnySessionKey::V4(r)) => SessionEntry::V4 {
            key: f,
            value: value(s, r),
        },
        (AnySessionKey::V6(f), AnySessionKey::V6(r)) => SessionEntry::V6 {
            key: f,
            value: value(s, r),
        },
        (AnySessionKey::V4(f), _) => SessionEntry::V4 {
            key: f,
            value: value(s, f.reversed()),
        },
        (AnySessionKey::V6(f), _) => SessionEntry::V6 {
            key: f,
            value: value(s, f.reversed()),
        },
    }
}

fn close_reason(n: u32) -> CloseReason {
    match n {
        0 => CloseReason::TcpFin,
        1 => CloseReason::TcpRst,
        2 => CloseReason::IdleTimeout,
        6 => CloseReason::Evicted,
        _ => CloseReason::Other,
    }
}

fn ip_of(family: u8, b: &[u8; 16]) -> IpAddr {
    if family == 4 {
        IpAddr::V4(Ipv4Addr::new(b[0], b[1], b[2], b[3]))
    } else {
        IpAddr::V6(Ipv6Addr::from(*b))
    }
}

impl Firewall {
    /// Loads the program (needs root) with an empty configuration.
    pub fn new(opts: LoadOptions) -> Result<Self, Error> {
        let max_sessions = opts.max_sessions.max(16);
        let mut prog = Loaded::load(opts)?;
        let boot = boot_offset_ns();
        let globals = abi::Globals {
            clock_offset_ns: boot,
            ..Default::default()
        };
        prog.maps
            .globals
            .set(0, globals, 0)
            .map_err(map_err("xpf_globals"))?;
        prog.maps
            .state
            .set(
                0,
                abi::State {
                    next_seq: 1,
                    ..Default::default()
                },
                0,
            )
            .map_err(map_err("xpf_state"))?;
        Ok(Self {
            prog,
            max_sessions,
            cpus: aya::util::nr_cpus().map_or(256, |n| n as u32),
            compiled: None,
            last: None,
            generation: 0,
            active: 0,
            slots: Default::default(),
            links: BTreeMap::new(),
            suspended: false,
            user_global: BTreeMap::new(),
            user_removed: 0,
            user_inserted: 0,
            synced_seq: std::collections::HashMap::new(),
            next_synced_seq: 0,
            events: Vec::new(),
            deltas: Vec::new(),
            delta_seq: 0,
            sizes: [0; 4],
            touched: [0; 3],
            globals,
            sched: (u64::MAX, Vec::new()),
            epoch: 0,
            fabric_view: Vec::new(),
        })
    }

    /// Returns the firewall to its freshly loaded state without reloading
    /// the program (sessions, NAT slots, configuration slots, counters,
    /// queued records and sequence numbers all cleared). Used by tests that
    /// run many cases on one loaded program.
    pub fn reset(&mut self) -> Result<(), Error> {
        while self.prog.maps.events.next().is_some() {}
        let keys: Vec<SessKey> = self
            .prog
            .maps
            .sessions
            .keys()
            .filter_map(Result::ok)
            .collect();
        for k in keys {
            let _ = self.prog.maps.sessions.remove(&k);
        }
        let slots: Vec<abi::SlotKey> = self.prog.maps.slots.keys().filter_map(Result::ok).collect();
        for k in slots {
            let _ = self.prog.maps.slots.remove(&k);
        }
        self.prog.maps.forget_exhaustion();
        while self.prog.maps.embryonic.pop(0).is_ok() {}
        self.prog.maps.clear_fragments();
        for g in 0..abi::MAX_RGS {
            self.prog
                .maps
                .rg_state
                .set(g, 0, 0)
                .map_err(map_err("xpf_rg_state"))?;
        }
        let pks: Vec<abi::PersistKey> = self
            .prog
            .maps
            .persist
            .keys()
            .filter_map(Result::ok)
            .collect();
        for k in pks {
            let _ = self.prog.maps.persist.remove(&k);
        }
        let bks: Vec<abi::BindKey> = self.prog.maps.binds.keys().filter_map(Result::ok).collect();
        for k in bks {
            let _ = self.prog.maps.binds.remove(&k);
        }
        let counted: Vec<abi::LimitKey> = self
            .prog
            .maps
            .limit_cnt
            .keys()
            .filter_map(Result::ok)
            .collect();
        for k in counted {
            let _ = self.prog.maps.limit_cnt.remove(&k);
        }
        self.clear_slot(0)?;
        self.clear_slot(1)?;
        let cpus = aya::util::nr_cpus().map_or(1, |n| n);
        fn zeros<T: aya::Pod + Default>(n: usize) -> PerCpuValues<T> {
            PerCpuValues::try_from(vec![T::default(); n]).unwrap_or_else(|_| {
                PerCpuValues::try_from(vec![T::default(); 1]).expect("one value")
            })
        }
        let m = &mut self.prog.maps;
        for i in 0..abi::COUNTERS {
            m.cnt_global
                .set(i, zeros::<u64>(cpus), 0)
                .map_err(map_err("xpf_cnt_global"))?;
        }
        let ifaces = self.touched[2]
            .max(self.sizes[0])
            .min(abi::MAX_IFACES as usize) as u32;
        for i in 0..ifaces {
            m.cnt_iface
                .set(i, zeros::<abi::IfCnt>(cpus), 0)
                .map_err(map_err("xpf_cnt_iface"))?;
        }
        for i in 0..self.sizes[1].min(abi::MAX_ZONES as usize) as u32 {
            m.cnt_zone
                .set(i, zeros::<abi::ZoneCnt>(cpus), 0)
                .map_err(map_err("xpf_cnt_zone"))?;
        }
        for i in 0..self.touched[0].min(abi::MAX_RULE_IDS as usize) as u32 {
            m.cnt_policy
                .set(i, zeros::<abi::PktCnt>(cpus), 0)
                .map_err(map_err("xpf_cnt_policy"))?;
        }
        for i in 0..self.touched[1].min(abi::MAX_NAT_IDS as usize) as u32 {
            m.cnt_nat
                .set(i, zeros::<abi::PktCnt>(cpus), 0)
                .map_err(map_err("xpf_cnt_nat"))?;
        }
        m.state
            .set(
                0,
                abi::State {
                    next_seq: 1,
                    ..Default::default()
                },
                0,
            )
            .map_err(map_err("xpf_state"))?;
        m.state
            .set(1, abi::State::default(), 0)
            .map_err(map_err("xpf_state"))?;
        self.globals.active = 0;
        self.write_globals()?;
        self.compiled = None;
        self.last = None;
        self.generation = 0;
        self.active = 0;
        self.user_global.clear();
        self.user_removed = 0;
        self.user_inserted = 0;
        self.synced_seq.clear();
        self.next_synced_seq = 0;
        self.events.clear();
        self.deltas.clear();
        self.delta_seq = 0;
        self.sizes = [0; 4];
        self.touched = [0; 3];
        self.sched = (u64::MAX, Vec::new());
        self.set_fabric_view(&[])?;
        Ok(())
    }

    /// The loaded program and its maps.
    pub fn program(&mut self) -> &mut Loaded {
        &mut self.prog
    }

    /// The compiled configuration in force.
    pub fn compiled(&self) -> Option<&Arc<CompiledConfig>> {
        self.compiled.as_ref()
    }

    /// The result of the last successful apply.
    pub fn last_apply(&self) -> Option<&ApplyResult> {
        self.last.as_ref()
    }

    /// Writes the control plane's tally (`xpf_state` key 1): the program
    /// counts live sessions as `inserted - removed - removed[1]` in
    /// wrapping 64-bit arithmetic, so key 1 holds the sessions the control
    /// plane removed minus those it installed (wrapping when it installed
    /// more).
    fn write_user_state(&mut self) -> Result<(), Error> {
        let st = abi::State {
            removed: self.user_removed.wrapping_sub(self.user_inserted),
            ..abi::State::default()
        };
        self.prog
            .maps
            .state
            .set(1, st, 0)
            .map_err(map_err("xpf_state"))
    }

    /// The install-order sort key of session `k`: its order, then synced
    /// installs before the program's session of the same order.
    fn order_key(&self, k: &SessKey, s: &abi::Sess) -> OrderKey {
        match self.synced_seq.get(&(*k, s.session_id)) {
            Some(seq) => (s.order, 0, *seq),
            None => (s.order, 1, 0),
        }
    }

    fn write_globals(&mut self) -> Result<(), Error> {
        self.prog
            .maps
            .globals
            .set(0, self.globals, 0)
            .map_err(map_err("xpf_globals"))
    }

    /// The program's clock: the test clock of the last
    /// [`run_frame`](Self::run_frame) when one was set, else Unix time.
    pub fn clock_ns(&self) -> u64 {
        if self.globals.clock_ns != 0 {
            return self.globals.clock_ns;
        }
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64)
    }

    /// Test mode: the program reports each verdict in `xpf_trace` and reads
    /// time, ingress and frame length from the globals ([`run_frame`](Self::run_frame)).
    pub fn set_trace(&mut self, on: bool) -> Result<(), Error> {
        self.globals.trace = u32::from(on);
        self.write_globals()
    }

    fn count_user(&mut self, c: impl Into<GlobalCounter>) {
        *self.user_global.entry(c.into()).or_default() += 1;
    }

    fn delta(&mut self, reason: SessionDeltaReason, entry: SessionEntry) {
        self.delta_seq += 1;
        self.deltas.push(SessionDelta {
            seq: self.delta_seq,
            reason,
            entry,
        });
    }

    // ------------------------------------------------------------------
    // Apply

    fn clear_slot(&mut self, slot: u32) -> Result<(), Error> {
        for k in std::mem::take(&mut self.slots[slot as usize].ifindex) {
            let _ = self.prog.maps.ifindex.remove(&k);
        }
        let Some(old) = self.slots[slot as usize].lowered.take() else {
            return Ok(());
        };
        let m = &mut self.prog.maps;
        let base = |n: u32| slot * n;
        for (id, _) in &old.ifaces {
            m.ifaces
                .set(base(abi::MAX_IFACES) + id, abi::Iface::default(), 0)
                .map_err(map_err("xpf_ifaces"))?;
        }
        for (id, _) in &old.zones {
            m.zones
                .set(base(abi::MAX_ZONES) + id, abi::Zone::default(), 0)
                .map_err(map_err("xpf_zones"))?;
        }
        for (k, _) in &old.zone_pairs {
            let _ = m.zone_pairs.remove(k);
        }
        for (plen, k) in &old.sets4 {
            let _ = m.sets4.remove(&LpmKey::new(*plen, *k));
        }
        for (plen, k) in &old.sets6 {
            let _ = m.sets6.remove(&LpmKey::new(*plen, *k));
        }
        for (plen, k, _) in &old.members4 {
            let _ = m.members4.remove(&LpmKey::new(*plen, *k));
        }
        for (plen, k, _) in &old.members6 {
            let _ = m.members6.remove(&LpmKey::new(*plen, *k));
        }
        for (plen, k, _) in &old.routes4 {
            let _ = m.routes4.remove(&LpmKey::new(*plen, *k));
        }
        for (plen, k, _) in &old.routes6 {
            let _ = m.routes6.remove(&LpmKey::new(*plen, *k));
        }
        for (k, _) in &old.neighbours {
            let _ = m.neighbours.remove(k);
        }
        for k in &old.local {
            let _ = m.local.remove(k);
        }
        for (id, _) in &old.pools {
            m.pools
                .set(base(abi::MAX_POOLS) + id, abi::Pool::default(), 0)
                .map_err(map_err("xpf_pools"))?;
        }
        for (k, _) in &old.pool_addrs {
            let _ = m.pool_addrs.remove(k);
        }
        for i in 0..old.terms.len() as u32 {
            m.terms
                .set(base(abi::MAX_TERMS) + i, abi::Term::default(), 0)
                .map_err(map_err("xpf_terms"))?;
        }
        for (id, _) in &old.filters {
            m.filters
                .set(base(abi::MAX_FILTERS) + id, abi::Span::default(), 0)
                .map_err(map_err("xpf_filters"))?;
        }
        for (ti, _) in &old.policers {
            for k in 0..2 {
                m.policers
                    .set(
                        (base(abi::MAX_TERMS) + ti) * 2 + k,
                        abi::Bucket::default(),
                        0,
                    )
                    .map_err(map_err("xpf_policers"))?;
            }
        }
        for (zone, _) in &old.floods {
            for kind in 0..3 {
                m.floods
                    .set(
                        (base(abi::MAX_ZONES) + zone) * 3 + kind,
                        abi::Flood::default(),
                        0,
                    )
                    .map_err(map_err("xpf_floods"))?;
            }
        }
        for (id, _) in &old.scheds {
            m.scheds
                .set(base(abi::MAX_SCHEDULES) + id, abi::Sched::default(), 0)
                .map_err(map_err("xpf_scheds"))?;
        }
        let mut g = old.gen_cfg;
        g.valid = 0;
        m.gen_cfg.set(slot, g, 0).map_err(map_err("xpf_gen"))?;
        Ok(())
    }

    /// A forwarding epoch not used before (never 0).
    fn next_epoch(&mut self) -> u32 {
        self.epoch = self.epoch.wrapping_add(1).max(1);
        self.epoch
    }

    fn write_slot(&mut self, slot: u32, l: &Lowered) -> Result<(), Error> {
        let epoch = self.next_epoch();
        let room = self.room();
        let m = &mut self.prog.maps;
        for (id, v) in &l.ifaces {
            m.ifaces
                .set(slot * abi::MAX_IFACES + id, *v, 0)
                .map_err(map_err("xpf_ifaces"))?;
        }
        for (id, v) in &l.zones {
            m.zones
                .set(slot * abi::MAX_ZONES + id, *v, 0)
                .map_err(map_err("xpf_zones"))?;
        }
        for (k, v) in &l.zone_pairs {
            m.zone_pairs
                .insert(k, v, 0)
                .map_err(map_err("xpf_zone_pairs"))?;
        }
        for (i, r) in l.rules.iter().enumerate() {
            m.rules
                .set(slot * abi::MAX_RULES + i as u32, *r, 0)
                .map_err(map_err("xpf_rules"))?;
        }
        for (plen, k) in &l.sets4 {
            m.sets4
                .insert(&LpmKey::new(*plen, *k), 1, 0)
                .map_err(map_err("xpf_sets4"))?;
        }
        for (plen, k) in &l.sets6 {
            m.sets6
                .insert(&LpmKey::new(*plen, *k), 1, 0)
                .map_err(map_err("xpf_sets6"))?;
        }
        for (plen, k, v) in &l.members4 {
            m.members4
                .insert(&LpmKey::new(*plen, *k), v, 0)
                .map_err(map_err("xpf_members4"))?;
        }
        for (plen, k, v) in &l.members6 {
            m.members6
                .insert(&LpmKey::new(*plen, *k), v, 0)
                .map_err(map_err("xpf_members6"))?;
        }
        for (plen, k, v) in &l.routes4 {
            m.routes4
                .insert(&LpmKey::new(*plen, *k), v, 0)
                .map_err(map_err("xpf_routes4"))?;
        }
        for (plen, k, v) in &l.routes6 {
            m.routes6
                .insert(&LpmKey::new(*plen, *k), v, 0)
                .map_err(map_err("xpf_routes6"))?;
        }
        for (k, v) in &l.neighbours {
            // The copy a session's cached next hop refers to, first: the
            // new epoch is written last, so nothing refers to it yet.
            m.nexthops
                .set(slot * abi::MAX_NEIGHBOURS + v.id, *v, 0)
                .map_err(map_err("xpf_nexthops"))?;
            m.neighbours
                .insert(k, v, 0)
                .map_err(map_err("xpf_neighbours"))?;
        }
        for k in &l.local {
            m.local.insert(k, 1, 0).map_err(map_err("xpf_local"))?;
        }
        for (i, r) in l.snat.iter().enumerate() {
            m.snat
                .set(slot * abi::MAX_SNAT_RULES + i as u32, *r, 0)
                .map_err(map_err("xpf_snat"))?;
        }
        for (i, r) in l.dnat.iter().enumerate() {
            m.dnat
                .set(slot * abi::MAX_DNAT_RULES + i as u32, *r, 0)
                .map_err(map_err("xpf_dnat"))?;
        }
        for (i, r) in l.statics.iter().enumerate() {
            m.statics
                .set(slot * abi::MAX_STATIC_RULES + i as u32, *r, 0)
                .map_err(map_err("xpf_static"))?;
        }
        for (id, p) in &l.pools {
            m.pools
                .set(slot * abi::MAX_POOLS + id, *p, 0)
                .map_err(map_err("xpf_pools"))?;
        }
        for (k, v) in &l.pool_addrs {
            m.pool_addrs
                .insert(k, v, 0)
                .map_err(map_err("xpf_pool_addrs"))?;
        }
        for (i, t) in l.terms.iter().enumerate() {
            m.terms
                .set(slot * abi::MAX_TERMS + i as u32, *t, 0)
                .map_err(map_err("xpf_terms"))?;
        }
        for (id, span) in &l.filters {
            m.filters
                .set(slot * abi::MAX_FILTERS + id, *span, 0)
                .map_err(map_err("xpf_filters"))?;
        }
        for (id, v) in &l.scheds {
            m.scheds
                .set(slot * abi::MAX_SCHEDULES + id, *v, 0)
                .map_err(map_err("xpf_scheds"))?;
        }
        // Last: the slot becomes valid only when everything else is in place.
        let mut g = l.gen_cfg;
        g.epoch = epoch;
        g.session_capacity = g.session_capacity.min(room);
        m.gen_cfg.set(slot, g, 0).map_err(map_err("xpf_gen"))?;
        Ok(())
    }

    /// Installs `compiled` atomically: lowers it (refusing unsupported
    /// needs), fills the inactive slot, re-lays live NAT mappings, flips the
    /// active slot, then closes sessions whose mapping no longer fits or
    /// that the new policy no longer permits (reason `policy`).
    pub fn apply_compiled(
        &mut self,
        compiled: Arc<CompiledConfig>,
        now_ns: u64,
    ) -> Result<ApplyResult, DataplaneError> {
        let slot = 1 - self.active;
        let mut lowered = lower::lower(&compiled, slot)?;
        self.bind_links(&compiled, &mut lowered);
        // Plan the NAT carry-over before touching anything.
        // Mappings are installed in session creation order (as the model
        // does), persistent mappings and address bindings reference-counted.
        let mut sessions = self.forward_sessions().map_err(dp_err)?;
        sessions.sort_by_key(|(k, v)| self.order_key(k, &v.s));
        let mut keep_slots: Vec<abi::SlotKey> = Vec::new();
        let mut orphans: Vec<SessKey> = Vec::new();
        let mut persist: BTreeMap<abi::PersistKey, abi::Binding> = BTreeMap::new();
        let mut binds: BTreeMap<abi::BindKey, abi::Binding> = BTreeMap::new();
        let mut kinds: Vec<(SessKey, u8)> = Vec::new();
        for (k, v) in &sessions {
            let s = &v.s;
            if s.snat_target == 0 {
                continue;
            }
            let Some(sk) = relay_slot(&compiled, &lowered, k, s) else {
                orphans.push(*k);
                continue;
            };
            let (kind, ports) = pool_kind(&compiled, sk.target);
            let kind = session_kind(kind, k.proto);
            if kind & abi::flags::POOL_ADDR_ONLY != 0 {
                // An address hold: the host keeps one address.
                let bk = bind_key(sk.target, k, hold_scope(kind, k.proto).0);
                if let Some(b) = binds.get_mut(&bk) {
                    if b.value == sk.slot {
                        b.refs += 1;
                        kinds.push((*k, kind));
                    } else {
                        orphans.push(*k);
                    }
                    continue;
                }
                if keep_slots.contains(&sk) {
                    orphans.push(*k);
                    continue;
                }
                binds.insert(
                    bk,
                    abi::Binding {
                        value: sk.slot,
                        refs: 1,
                    },
                );
                keep_slots.push(sk);
                kinds.push((*k, kind));
                continue;
            }
            let pk = persist_key(sk.target, k);
            if kind & abi::flags::POOL_PERSISTENT != 0
                && let Some(b) = persist.get_mut(&pk)
            {
                if b.value == sk.slot {
                    b.refs += 1;
                    kinds.push((*k, kind));
                } else {
                    orphans.push(*k);
                }
                continue;
            }
            if keep_slots.contains(&sk) {
                orphans.push(*k);
                continue;
            }
            if kind & abi::flags::POOL_ADDR_PERSISTENT != 0 {
                let idx = sk.slot / ports.max(1);
                let bk = bind_key(sk.target, k, 0);
                if binds.get(&bk).is_some_and(|b| b.value != idx) {
                    orphans.push(*k);
                    continue;
                }
                binds
                    .entry(bk)
                    .or_insert(abi::Binding {
                        value: idx,
                        refs: 0,
                    })
                    .refs += 1;
            }
            if kind & abi::flags::POOL_PERSISTENT != 0 {
                persist.insert(
                    pk,
                    abi::Binding {
                        value: sk.slot,
                        refs: 1,
                    },
                );
            }
            keep_slots.push(sk);
            kinds.push((*k, kind));
        }
        self.clear_slot(slot).map_err(dp_err)?;
        if let Err(e) = self.write_slot(slot, &lowered) {
            let _ = self.clear_slot(slot);
            self.slots[slot as usize].lowered = Some(lowered);
            let _ = self.clear_slot(slot);
            return Err(dp_err(e));
        }
        self.slots[slot as usize].lowered = Some(lowered);
        if let Err(e) = self.write_ifindex(slot, &compiled) {
            let _ = self.clear_slot(slot);
            return Err(dp_err(e));
        }
        // Re-lay the slot map: the new layout's slot of every kept mapping.
        let old_slots: Vec<abi::SlotKey> =
            self.prog.maps.slots.keys().filter_map(Result::ok).collect();
        for k in &old_slots {
            let _ = self.prog.maps.slots.remove(k);
        }
        for k in &keep_slots {
            let _ = self.prog.maps.slots.insert(k, 1, 0);
        }
        self.prog.maps.forget_exhaustion();
        let old_persist: Vec<abi::PersistKey> = self
            .prog
            .maps
            .persist
            .keys()
            .filter_map(Result::ok)
            .collect();
        for k in &old_persist {
            let _ = self.prog.maps.persist.remove(k);
        }
        for (k, b) in &persist {
            let _ = self.prog.maps.persist.insert(k, b, 0);
        }
        let old_binds: Vec<abi::BindKey> =
            self.prog.maps.binds.keys().filter_map(Result::ok).collect();
        for k in &old_binds {
            let _ = self.prog.maps.binds.remove(k);
        }
        for (k, b) in &binds {
            let _ = self.prog.maps.binds.insert(k, b, 0);
        }
        for (k, v) in &sessions {
            if v.s.snat_target == 0 || orphans.contains(k) {
                continue;
            }
            if let Some(sk) = relay_slot(
                &compiled,
                self.slots[slot as usize]
                    .lowered
                    .as_ref()
                    .unwrap_or(&Lowered::default()),
                k,
                &v.s,
            ) {
                let mut nv = *v;
                nv.s.snat_target = sk.target;
                nv.s.slot = sk.slot;
                nv.s.nat_kind = kinds
                    .iter()
                    .find(|(kk, _)| kk == k)
                    .map_or(0, |(_, kind)| *kind);
                let _ = self.prog.maps.sessions.insert(k, nv, 0);
            }
        }
        // Session-limit counts: recounted from the live sessions when the
        // new configuration limits sessions, dropped when it does not.
        let limits = self.slots[slot as usize]
            .lowered
            .as_ref()
            .is_some_and(|l| l.gen_cfg.limits != 0);
        let stale: Vec<abi::LimitKey> = self
            .prog
            .maps
            .limit_cnt
            .keys()
            .filter_map(Result::ok)
            .collect();
        for k in &stale {
            let _ = self.prog.maps.limit_cnt.remove(k);
        }
        if limits {
            let mut counts: BTreeMap<abi::LimitKey, u64> = BTreeMap::new();
            for (k, _) in self.forward_sessions().map_err(dp_err)? {
                for lk in limit_keys(&k) {
                    *counts.entry(lk).or_default() += 1;
                }
            }
            for (lk, n) in counts {
                self.prog
                    .maps
                    .limit_cnt
                    .insert(lk, n, 0)
                    .map_err(|e| dp_err(map_err("xpf_limit_cnt")(e)))?;
            }
        }
        // Policer buckets of the new slot start full now; term counters
        // restart from zero with every apply.
        let old_terms = self.slots[self.active as usize]
            .lowered
            .as_ref()
            .map_or(0, |l| l.terms.len());
        if let Some(l) = self.slots[slot as usize].lowered.as_ref() {
            for (ti, buckets) in &l.policers {
                for (k, (rate, burst)) in buckets.iter().enumerate() {
                    let cap = burst.saturating_mul(SEC);
                    let b = abi::Bucket {
                        rate: *rate,
                        cap,
                        nano: cap,
                        at: now_ns,
                        ..Default::default()
                    };
                    self.prog
                        .maps
                        .policers
                        .set((slot * abi::MAX_TERMS + ti) * 2 + k as u32, b, 0)
                        .map_err(|e| dp_err(map_err("xpf_policers")(e)))?;
                }
            }
            let cpus = aya::util::nr_cpus().map_or(1, |n| n);
            for i in 0..old_terms.max(l.terms.len()) as u32 {
                let Ok(zeros) = PerCpuValues::try_from(vec![abi::PktCnt::default(); cpus]) else {
                    continue;
                };
                self.prog
                    .maps
                    .cnt_term
                    .set(i, zeros, 0)
                    .map_err(|e| dp_err(map_err("xpf_cnt_term")(e)))?;
            }
        }
        // Flood buckets of the new slot start full now.
        if let Some(l) = self.slots[slot as usize].lowered.as_ref() {
            for (zone, thresholds) in &l.floods {
                for (kind, t) in thresholds.iter().enumerate() {
                    let cap = u64::from(*t) * SEC;
                    let b = abi::Flood {
                        lock: 0,
                        rate: *t,
                        cap,
                        nano: cap,
                        at: now_ns,
                    };
                    self.prog
                        .maps
                        .floods
                        .set((slot * abi::MAX_ZONES + zone) * 3 + kind as u32, b, 0)
                        .map_err(|e| dp_err(map_err("xpf_floods")(e)))?;
                }
            }
        }
        // Flip.
        self.active = slot;
        self.globals.active = slot;
        self.write_globals().map_err(dp_err)?;
        self.generation += 1;
        self.compiled = Some(compiled.clone());
        self.resize(&compiled);
        // The fabric link must be an interface of the config in force.
        self.write_fabric().map_err(dp_err)?;
        for k in orphans {
            if let Ok(mut v) = self.prog.maps.sessions.get(&k, 0) {
                // Its mapping was never re-laid: nothing to release.
                v.s.snat_target = 0;
                let _ = self.prog.maps.sessions.insert(k, v, 0);
                self.close(&k, CloseReason::Policy, now_ns)
                    .map_err(dp_err)?;
            }
        }
        self.rematch(&compiled, now_ns).map_err(dp_err)?;
        self.sched = (now_ns / SEC, schedules_active(&compiled, now_ns));
        let result = ApplyResult::from_compiled(&compiled, self.generation, capabilities());
        self.last = Some(result.clone());
        Ok(result)
    }

    fn resize(&mut self, c: &CompiledConfig) {
        let m = |it: &mut dyn Iterator<Item = usize>| it.max().unwrap_or(0) + 1;
        let sizes = [
            m(&mut c.interfaces.iter().map(|i| i.id.index())),
            m(&mut c.zones.iter().map(|z| z.id.index())),
            m(&mut c.policies.rules.iter().map(|r| r.id.index())),
            m(&mut c
                .nat
                .source_rules
                .iter()
                .map(|r| r.id.index())
                .chain(c.nat.destination_rules.iter().map(|r| r.id.index()))
                .chain(c.nat.static_rules.iter().map(|r| r.id.index()))),
        ];
        for (s, n) in self.sizes.iter_mut().zip(sizes) {
            *s = (*s).max(n);
        }
        self.touched[0] = self.touched[0].max(self.sizes[2]);
        self.touched[1] = self.touched[1].max(self.sizes[3]);
    }

    fn rematch(&mut self, c: &CompiledConfig, now_ns: u64) -> Result<(), Error> {
        let mut doomed = Vec::new();
        for (k, v) in self.forward_sessions()? {
            let s = &v.s;
            let e = entry_of(&k, s);
            if e.flags().contains(SessionFlags::CLUSTER_SYNCED)
                || e.flags().contains(SessionFlags::LOCAL)
            {
                continue;
            }
            let fwd = any_key(&k);
            let rev = any_key(&s.other);
            let (src, sp) = key_src(&fwd);
            let (dst, dp) = key_src(&rev);
            let proto = k.proto;
            let icmp =
                (proto == 1 || proto == 58).then_some((if src.is_ipv4() { 8 } else { 128 }, 0));
            let permit = policy_permits(
                c,
                ZoneId(s.in_zone),
                ZoneId(s.out_zone),
                src,
                dst,
                proto,
                sp,
                dp,
                icmp,
                now_ns,
            );
            if !permit {
                doomed.push(k);
            }
        }
        for k in doomed {
            self.close(&k, CloseReason::Policy, now_ns)?;
        }
        Ok(())
    }

    // ------------------------------------------------------------------
    // Links

    /// Fills the kernel ifindex of every attached, administratively up
    /// device into the lowered interfaces; a down device's interface is
    /// written invalid, so it neither receives nor transmits.
    fn bind_links(&self, c: &CompiledConfig, l: &mut Lowered) {
        for (id, v) in l.ifaces.iter_mut() {
            let Some(ifc) = c.interfaces.iter().find(|i| u32::from(i.id.0) == *id) else {
                continue;
            };
            if let Some(link) = self.links.get(&ifc.name) {
                v.ifindex = link.ifindex;
                if !link.up {
                    v.valid = 0;
                }
            }
        }
    }

    /// Writes the `xpf_ifindex` entries of `slot` for every attached, up
    /// device the configuration names.
    fn write_ifindex(&mut self, slot: u32, c: &CompiledConfig) -> Result<(), Error> {
        if self.suspended {
            return Ok(());
        }
        for (name, link) in &self.links {
            if !link.up {
                continue;
            }
            let Some(ifc) = c.interfaces.iter().find(|i| &i.name == name) else {
                continue;
            };
            let key = abi::IfindexKey {
                slot,
                ifindex: link.ifindex,
            };
            self.prog
                .maps
                .ifindex
                .insert(key, u32::from(ifc.id.0), 0)
                .map_err(map_err("xpf_ifindex"))?;
            self.slots[slot as usize].ifindex.push(key);
        }
        Ok(())
    }

    /// Re-binds the active slot in place after a link change: one map
    /// element per interface, so a packet sees either the old or the new
    /// binding of a device, never a half-written one.
    fn rebind_active(&mut self) -> Result<(), Error> {
        let slot = self.active;
        let Some(c) = self.compiled.clone() else {
            return Ok(());
        };
        let Some(mut lowered) = self.slots[slot as usize].lowered.take() else {
            return Ok(());
        };
        // Fresh valid flags and ifindexes from the lowered form.
        let fresh = lower::lower(&c, slot).map(|l| l.ifaces).unwrap_or_default();
        for (id, v) in lowered.ifaces.iter_mut() {
            if let Some((_, f)) = fresh.iter().find(|(fid, _)| fid == id) {
                *v = *f;
            }
        }
        self.bind_links(&c, &mut lowered);
        let mut res = Ok(());
        for (id, v) in &lowered.ifaces {
            if let Err(e) = self
                .prog
                .maps
                .ifaces
                .set(slot * abi::MAX_IFACES + id, *v, 0)
                .map_err(map_err("xpf_ifaces"))
            {
                res = Err(e);
            }
        }
        // The interfaces changed under live sessions: a new forwarding
        // epoch, so no packet uses a result cached with the old binding.
        let mut g = lowered.gen_cfg;
        g.epoch = self.next_epoch();
        g.session_capacity = g.session_capacity.min(self.room());
        if let Err(e) = self
            .prog
            .maps
            .gen_cfg
            .set(slot, g, 0)
            .map_err(map_err("xpf_gen"))
        {
            res = Err(e);
        }
        self.slots[slot as usize].lowered = Some(lowered);
        let wanted: Vec<(abi::IfindexKey, u32)> = self
            .links
            .iter()
            .filter(|(_, l)| l.up && !self.suspended)
            .filter_map(|(name, l)| {
                let ifc = c.interfaces.iter().find(|i| &i.name == name)?;
                Some((
                    abi::IfindexKey {
                        slot,
                        ifindex: l.ifindex,
                    },
                    u32::from(ifc.id.0),
                ))
            })
            .collect();
        for k in std::mem::take(&mut self.slots[slot as usize].ifindex) {
            if !wanted.iter().any(|(w, _)| *w == k) {
                let _ = self.prog.maps.ifindex.remove(&k);
            }
        }
        for (k, id) in wanted {
            self.prog
                .maps
                .ifindex
                .insert(k, id, 0)
                .map_err(map_err("xpf_ifindex"))?;
            self.slots[slot as usize].ifindex.push(k);
        }
        // A bound link appeared or went: the fabric link follows.
        self.write_fabric()?;
        res
    }

    /// Attaches the program to the device `name` (resolved in the calling
    /// thread's network namespace) in `mode`. The configuration's interface
    /// of the same name is bound to it (now if a configuration is in force,
    /// else at the next apply). Idempotent.
    pub fn attach(&mut self, name: &str, mode: XdpMode) -> Result<(), Error> {
        if self.links.contains_key(name) {
            return Ok(());
        }
        let ifindex = nix::net::if_::if_nametoindex(name).map_err(|errno| Error::Interface {
            name: name.to_owned(),
            reason: format!("no such device in this network namespace ({errno})"),
        })?;
        let link = self.prog.attach(ifindex, mode)?;
        self.links.insert(
            name.to_owned(),
            Link {
                ifindex,
                link,
                mode,
                up: true,
            },
        );
        if let Err(e) = self.rebind_active() {
            let _ = self.detach(name);
            return Err(e);
        }
        Ok(())
    }

    /// Detaches the program from `name` and unbinds it: frames no longer
    /// arrive from it and routes through it are dropped (`no-route`).
    /// Idempotent.
    pub fn detach(&mut self, name: &str) -> Result<(), Error> {
        let Some(link) = self.links.remove(name) else {
            return Ok(());
        };
        let rebind = self.rebind_active();
        for slot in 0..2 {
            let keys = &mut self.slots[slot].ifindex;
            keys.retain(|k| {
                k.ifindex != link.ifindex || {
                    let _ = self.prog.maps.ifindex.remove(k);
                    false
                }
            });
        }
        self.prog.detach(link.link)?;
        rebind
    }

    /// Stops (`true`) or resumes (`false`) processing on every attached
    /// device: a stopped firewall drops every frame as `unknown-interface`.
    pub fn suspend(&mut self, on: bool) -> Result<(), Error> {
        if self.suspended == on {
            return Ok(());
        }
        self.suspended = on;
        self.rebind_active()
    }

    /// Sets the administrative state of an attached device.
    pub fn set_link_up(&mut self, name: &str, up: bool) -> Result<bool, Error> {
        let Some(link) = self.links.get_mut(name) else {
            return Ok(false);
        };
        if link.up == up {
            return Ok(true);
        }
        link.up = up;
        self.rebind_active()?;
        Ok(true)
    }

    /// Every attachment, sorted by name.
    pub fn links(&self) -> Vec<LinkInfo> {
        self.links
            .iter()
            .map(|(name, l)| LinkInfo {
                name: name.clone(),
                ifindex: l.ifindex,
                mode: mode_name(l.mode),
                up: l.up,
            })
            .collect()
    }

    /// Detaches every device (teardown).
    pub fn detach_all(&mut self) -> Result<(), Error> {
        let names: Vec<String> = self.links.keys().cloned().collect();
        let mut res = Ok(());
        for n in names {
            if let Err(e) = self.detach(&n) {
                res = Err(e);
            }
        }
        res
    }

    // ------------------------------------------------------------------
    // Packets

    /// Runs one frame that arrived on `ingress` at `now_ns` through the
    /// program with `BPF_PROG_TEST_RUN` (test mode must be on, see
    /// [`set_trace`](Self::set_trace)). Returns the verdict and the frame as
    /// the program left it.
    pub fn run_frame(
        &mut self,
        ingress: InterfaceId,
        frame: &[u8],
        now_ns: u64,
    ) -> Result<(FrameVerdict, Vec<u8>), Error> {
        let r = self.run_frame_full(ingress, frame, now_ns)?;
        Ok((r.verdict, r.frame))
    }

    /// [`run_frame`](Self::run_frame), also saying whether the output frame
    /// is one the program built (a TCP RST or an ICMP error, sent back out of
    /// `ingress`; the packet itself was dropped) rather than the packet.
    pub fn run_frame_full(
        &mut self,
        ingress: InterfaceId,
        frame: &[u8],
        now_ns: u64,
    ) -> Result<FrameRun, Error> {
        self.globals.test_ingress = if ingress.0 == 0 {
            0xffff
        } else {
            u32::from(ingress.0)
        };
        self.globals.clock_ns = now_ns.max(1);
        self.globals.test_len = frame.len() as u32;
        self.write_globals()?;
        self.prog
            .maps
            .trace
            .set(0, abi::Trace::default(), 0)
            .map_err(map_err("xpf_trace"))?;
        // The kernel needs at least an Ethernet header; the program reads
        // the real length from the globals, so the padding is never parsed.
        let mut input = frame.to_vec();
        if input.len() < 64 {
            input.resize(64, 0);
        }
        let r = self.prog.test_run(PROGRAM, &input, 1)?;
        let t = self
            .prog
            .maps
            .trace
            .get(&0, 0)
            .map_err(map_err("xpf_trace"))?;
        self.drain_records();
        let verdict = match t.verdict {
            abi::flags::XV_FORWARD => FrameVerdict::Forward(InterfaceId(t.egress as u16)),
            abi::flags::XV_LOCAL => FrameVerdict::Local,
            _ => FrameVerdict::Drop(
                DropReason::from_index(t.reason as usize).unwrap_or(DropReason::MalformedEthernet),
            ),
        };
        let mut out = r.frame;
        let emitted = (t.emitted == 1).then_some(InterfaceId(t.egress as u16));
        // A built frame has its exact length already (the program trims it).
        if frame.len() < 64 && emitted.is_none() {
            let grown = out.len() as i64 - input.len() as i64;
            let want = (frame.len() as i64 + grown).max(0) as usize;
            out.truncate(want);
        }
        let fabric = (r.action == XDP_REDIRECT && t.fabric != 0).then_some(t.fabric);
        Ok(FrameRun {
            verdict,
            frame: out,
            emitted,
            fabric,
        })
    }

    // ------------------------------------------------------------------
    // Sessions

    /// Every forward session `(key, value)`.
    pub fn forward_sessions(&self) -> Result<Vec<(SessKey, SessVal)>, Error> {
        let mut v = self.prog.maps.all_sessions()?;
        v.retain(|(_, val)| val.s.is_reverse == 0);
        Ok(v)
    }

    /// Every session entry, forward and reverse, sorted by key.
    pub fn sessions(&self) -> Vec<SessionEntry> {
        let mut out = Vec::new();
        for (k, v) in self.forward_sessions().unwrap_or_default() {
            let f = entry_of(&k, &v.s);
            if self.prog.maps.sessions.get(&v.s.other, 0).is_ok() {
                out.push(reverse_entry(&f));
            }
            out.push(f);
        }
        out.sort_by_key(|e| e.key());
        out
    }

    /// The forward `(key, value)` of the session `key` belongs to.
    pub fn find(&self, key: &AnySessionKey) -> Option<(SessKey, SessVal)> {
        let k = sess_key(key);
        let v = self.prog.maps.sessions.get(&k, 0).ok()?;
        if v.s.is_reverse == 0 {
            return Some((k, v));
        }
        let f = v.s.other;
        let fv = self.prog.maps.sessions.get(&f, 0).ok()?;
        Some((f, fv))
    }

    /// The entry stored under `key` as the runtime sees it: a forward entry
    /// from its data, a reverse entry derived from its forward entry (the
    /// program keeps a session's live data in the forward entry only).
    pub fn entry_at(&self, key: &SessKey) -> Result<Option<SessionEntry>, Error> {
        let v = match self.prog.maps.sessions.get(key, 0) {
            Ok(v) => v,
            Err(MapError::KeyNotFound) => return Ok(None),
            Err(e) => return Err(map_err("xpf_sessions")(e)),
        };
        if v.s.is_reverse == 0 {
            return Ok(Some(entry_of(key, &v.s)));
        }
        if let Ok(f) = self.prog.maps.sessions.get(&v.s.other, 0)
            && f.s.is_reverse == 0
            && f.s.session_id == v.s.session_id
        {
            return Ok(Some(reverse_entry(&entry_of(&v.s.other, &f.s))));
        }
        // The forward entry is gone: the reverse entry's own copy of the
        // session data still describes it.
        let mut fwd = v.s;
        fwd.other = *key;
        fwd.is_reverse = 0;
        Ok(Some(reverse_entry(&entry_of(&v.s.other, &fwd))))
    }

    /// Removes the one entry under `key` and returns its value. Removing a
    /// forward entry counts the session as removed for the program's
    /// occupancy accounting; nothing else (no companions, no event).
    pub fn remove_entry(&mut self, key: &SessKey) -> Result<Option<SessVal>, Error> {
        let v = match self.prog.maps.sessions.get(key, 0) {
            Ok(v) => v,
            Err(MapError::KeyNotFound) => return Ok(None),
            Err(e) => return Err(map_err("xpf_sessions")(e)),
        };
        match self.prog.maps.sessions.remove(key) {
            Ok(()) => {}
            // Removed concurrently by the program (its own close).
            Err(MapError::KeyNotFound) => return Ok(None),
            Err(e) => return Err(map_err("xpf_sessions")(e)),
        }
        if v.s.is_reverse == 0 {
            self.user_removed += 1;
            self.synced_seq.remove(&(*key, v.s.session_id));
            self.write_user_state()?;
        }
        Ok(Some(v))
    }

    /// Releases what a forward session held besides its entries, as the
    /// program does when it closes one: its per-source / per-destination
    /// session-limit counts and its source-NAT mapping (the port slot, and
    /// a persistent or address-persistent binding's reference). Returns
    /// whether the session had a source-NAT mapping to release.
    pub fn release_slot(&mut self, fwd: &SessKey, v: &SessVal) -> bool {
        self.release_limits(fwd);
        if v.s.snat_target == 0 {
            return false;
        }
        self.release_mapping(fwd, &v.s);
        true
    }

    /// Takes a closed session off the per-source / per-destination live
    /// counts (kept only while the configuration limits sessions).
    fn release_limits(&mut self, fwd: &SessKey) {
        let limits = self.slots[self.active as usize]
            .lowered
            .as_ref()
            .is_some_and(|l| l.gen_cfg.limits != 0);
        if !limits {
            return;
        }
        for lk in limit_keys(fwd) {
            match self.prog.maps.limit_cnt.get(&lk, 0) {
                Ok(n) if n > 1 => {
                    let _ = self.prog.maps.limit_cnt.insert(lk, n - 1, 0);
                }
                Ok(_) => {
                    let _ = self.prog.maps.limit_cnt.remove(&lk);
                }
                Err(_) => {}
            }
        }
    }

    /// Counts and reports the close of the session whose forward entry is
    /// `entry`: the closed (and evicted) counters, a session-close event if
    /// its policy logs closes, and a close delta.
    pub fn report_close(&mut self, entry: &SessionEntry, reason: CloseReason, now_ns: u64) {
        self.count_user(BaseCounter::SessionsClosed);
        if reason == CloseReason::Evicted {
            self.count_user(BaseCounter::SessionsEvicted);
        }
        if entry.flags().contains(SessionFlags::LOG_CLOSE) {
            self.events
                .push(Event::SessionClose(close_event(entry, reason, now_ns)));
        }
        self.delta(SessionDeltaReason::Close(reason), *entry);
    }

    /// Closes the session whose forward key is `fwd`: removes both entries,
    /// releases its NAT slot, counts and reports the close. False when it
    /// was already gone.
    pub fn close(
        &mut self,
        fwd: &SessKey,
        reason: CloseReason,
        now_ns: u64,
    ) -> Result<bool, Error> {
        self.close_with(fwd, reason, now_ns, true)
    }

    /// [`close`](Self::close); the source-NAT mapping is released only when
    /// `release_mapping` (a caller that released it already passes false).
    fn close_with(
        &mut self,
        fwd: &SessKey,
        reason: CloseReason,
        now_ns: u64,
        release_mapping: bool,
    ) -> Result<bool, Error> {
        match self.prog.maps.sessions.get(fwd, 0) {
            Ok(v) if v.s.is_reverse == 0 => {}
            _ => return Ok(false),
        }
        let Some(v) = self.remove_entry(fwd)? else {
            return Ok(false);
        };
        if let Ok(r) = self.prog.maps.sessions.get(&v.s.other, 0)
            && r.s.session_id == v.s.session_id
        {
            self.remove_entry(&v.s.other)?;
        }
        if release_mapping {
            self.release_slot(fwd, &v);
        } else {
            self.release_limits(fwd);
        }
        self.report_close(&entry_of(fwd, &v.s), reason, now_ns);
        Ok(true)
    }

    /// Per filter term of the configuration in force, the packets and L3
    /// bytes it matched since the last apply (non-zero only).
    pub fn filter_term_counters(&self) -> Result<BTreeMap<FilterTermId, CounterValue>, Error> {
        let mut out = BTreeMap::new();
        let Some(c) = self.compiled.as_ref() else {
            return Ok(out);
        };
        for (i, t) in c.filters.terms.iter().enumerate() {
            let v = packet_counter(&self.prog.maps.cnt_term, i, "xpf_cnt_term")?;
            if v != CounterValue::default() {
                out.insert(t.id, v);
            }
        }
        Ok(out)
    }

    /// Installs the synced fabric view (`HAController::sync_fabric_state`,
    /// never a mere commit) and writes the program's fabric link from it:
    /// the first enabled link, in view order, whose device is bound. Returns
    /// what the program now uses (`None`: no usable link, a backup group's
    /// frames are dropped as `ha-inactive`).
    ///
    /// A link is usable only while its device is **bound**: attached
    /// through the link controller, administratively up, and an interface
    /// of the configuration in force (the userspace backend's "installed";
    /// the fabric interface is usually a zoneless one). A link that is not
    /// bound is skipped; when none is, no frame is sent over the fabric.
    /// The choice is made again whenever a device is attached, detached or
    /// set up or down and at every apply, always from this synced view.
    pub fn set_fabric_view(
        &mut self,
        view: &[FabricForwarding],
    ) -> Result<Option<abi::Fabric>, Error> {
        self.fabric_view = view.to_vec();
        self.write_fabric()?;
        self.fabric_link()
    }

    /// The fabric link the program forwards a backup group's frames over
    /// (`xpf_fabric`), `None` when there is none.
    pub fn fabric_link(&self) -> Result<Option<abi::Fabric>, Error> {
        match self.prog.maps.fabric.get(&0, 0) {
            Ok(f) => Ok(Some(f)),
            Err(MapError::KeyNotFound) => Ok(None),
            Err(e) => Err(map_err("xpf_fabric")(e)),
        }
    }

    /// The bound fabric link of the synced view (see
    /// [`set_fabric_view`](Self::set_fabric_view)).
    fn usable_fabric(&self) -> Option<abi::Fabric> {
        let c = self.compiled.as_ref()?;
        self.fabric_view.iter().filter(|f| f.enabled).find_map(|f| {
            let l = self.links.get(&f.interface)?;
            let configured = c.interfaces.iter().any(|i| i.name == f.interface);
            (l.up && configured).then_some(abi::Fabric {
                ifindex: l.ifindex,
                peer_mac: f.peer_mac.0,
                local_mac: f.local_mac.0,
            })
        })
    }

    /// Writes `xpf_fabric` from the synced view: one element replaced whole
    /// (a packet sees the old link or the new one), or removed.
    fn write_fabric(&mut self) -> Result<(), Error> {
        match self.usable_fabric() {
            Some(f) => self
                .prog
                .maps
                .fabric
                .insert(0, f, 0)
                .map_err(map_err("xpf_fabric")),
            // Only the loader writes the map: absent stays absent.
            None if self.fabric_link()?.is_none() => Ok(()),
            None => self
                .prog
                .maps
                .fabric
                .remove(&0)
                .map_err(map_err("xpf_fabric")),
        }
    }

    /// Marks redundancy group `rg` active or inactive on this node: while
    /// inactive, traffic of its interfaces and the sessions it owns drop
    /// `ha-inactive` in the program.
    pub fn set_redundancy_group(
        &mut self,
        rg: RedundancyGroupId,
        active: bool,
    ) -> Result<(), Error> {
        let id = u32::from(rg.0);
        if id >= abi::MAX_RGS {
            return Ok(());
        }
        self.prog
            .maps
            .rg_state
            .set(id, u32::from(!active), 0)
            .map_err(map_err("xpf_rg_state"))
    }

    /// Releases the source mapping of session `s` (forward key `fwd`) as the
    /// program does (`xpf_nat_release`): a persistent mapping loses a
    /// reference and frees its slot with the last; an address-persistent
    /// host loses a reference on its address.
    fn release_mapping(&mut self, fwd: &SessKey, s: &abi::Sess) {
        let m = &mut self.prog.maps;
        if s.nat_kind & abi::flags::POOL_ADDR_ONLY != 0 {
            let (scope, hold_proto) = hold_scope(s.nat_kind, fwd.proto);
            let bk = bind_key(s.snat_target, fwd, scope);
            let Ok(b) = m.binds.get(&bk, 0) else {
                return;
            };
            if b.value != s.slot {
                return;
            }
            if b.refs > 1 {
                let _ = m.binds.insert(
                    bk,
                    abi::Binding {
                        refs: b.refs - 1,
                        ..b
                    },
                    0,
                );
                return;
            }
            let _ = m.binds.remove(&bk);
            let _ = m.slots.remove(&abi::SlotKey {
                target: s.snat_target,
                proto: hold_proto,
                pad0: 0,
                slot: s.slot,
            });
            m.forget_exhaustion();
            return;
        }
        if s.nat_kind & abi::flags::POOL_PERSISTENT != 0 {
            let pk = persist_key(s.snat_target, fwd);
            match m.persist.get(&pk, 0) {
                Ok(b) if b.value == s.slot => {
                    if b.refs > 1 {
                        let _ = m.persist.insert(
                            pk,
                            abi::Binding {
                                refs: b.refs - 1,
                                ..b
                            },
                            0,
                        );
                        return;
                    }
                    let _ = m.persist.remove(&pk);
                }
                _ => return,
            }
        }
        let sk = abi::SlotKey {
            target: s.snat_target,
            proto: fwd.proto,
            pad0: 0,
            slot: s.slot,
        };
        if m.slots.remove(&sk).is_err() {
            return;
        }
        m.forget_exhaustion();
        if s.nat_kind & abi::flags::POOL_ADDR_PERSISTENT != 0 {
            let bk = bind_key(s.snat_target, fwd, 0);
            if let Ok(b) = m.binds.get(&bk, 0) {
                if b.refs > 1 {
                    let _ = m.binds.insert(
                        bk,
                        abi::Binding {
                            refs: b.refs - 1,
                            ..b
                        },
                        0,
                    );
                } else {
                    let _ = m.binds.remove(&bk);
                }
            }
        }
    }

    /// The forward sessions whose deadline (`last_seen + timeout`) is at or
    /// before `now_ns`, in deadline order, with the reason their expiry
    /// reports, and the number of forward sessions examined.
    pub fn expired(&self, now_ns: u64) -> Result<(Vec<Expired>, usize), Error> {
        let all = self.forward_sessions()?;
        let scanned = all.len();
        let mut due: Vec<(u64, OrderKey, SessKey, SessVal)> = all
            .into_iter()
            .filter_map(|(k, v)| {
                let d =
                    v.s.last_seen_ns
                        .saturating_add(u64::from(v.s.timeout) * SEC);
                (d <= now_ns).then_some((d, self.order_key(&k, &v.s), k, v))
            })
            .collect();
        due.sort_by_key(|(d, o, k, _)| (*d, *o, *k));
        let out = due
            .into_iter()
            .map(|(_, _, k, v)| {
                let st = if v.s.tcp.valid != 0 { v.s.tcp.state } else { 0 };
                let reason = match st {
                    7 => CloseReason::TcpFin,
                    8 => CloseReason::TcpRst,
                    _ => CloseReason::IdleTimeout,
                };
                (k, v, reason)
            })
            .collect();
        Ok((out, scanned))
    }

    /// Counts one expired session (the GC calls it per session it expires).
    pub fn count_expired(&mut self) {
        self.count_user(BaseCounter::SessionsExpired);
    }

    /// Expires every session whose deadline (`last_seen + timeout`) is at or
    /// before `now_ns`, in deadline order.
    pub fn expire(&mut self, now_ns: u64) -> Result<usize, Error> {
        let (due, _) = self.expired(now_ns)?;
        let mut n = 0;
        for (k, _, reason) in due {
            self.count_expired();
            if self.close(&k, reason, now_ns)? {
                n += 1;
            }
        }
        self.check_schedules(now_ns)?;
        Ok(n)
    }

    /// Schedule edges (xpf-conformance README, "Decisions"): at most once
    /// per second of `now_ns`, when the set of active schedulers changed
    /// since the last check, live sessions are rematched (a session no rule
    /// admits any more closes with reason `policy`). Runs at the end of
    /// every [`expire`](Self::expire); the program itself evaluates each
    /// rule's scheduler per packet at the packet's time.
    pub fn check_schedules(&mut self, now_ns: u64) -> Result<(), Error> {
        let sec = now_ns / SEC;
        if sec == self.sched.0 || self.sched.1.is_empty() {
            return Ok(());
        }
        self.sched.0 = sec;
        let Some(c) = self.compiled.clone() else {
            return Ok(());
        };
        let active = schedules_active(&c, now_ns);
        if active != self.sched.1 {
            self.sched.1 = active;
            self.rematch(&c, now_ns)?;
        }
        Ok(())
    }

    // ------------------------------------------------------------------
    // Telemetry

    /// Reads the ring buffer into the event and delta queues.
    pub fn drain_records(&mut self) {
        let mut records = Vec::new();
        while let Some(item) = self.prog.maps.events.next() {
            if let Some(r) = abi::record_from_bytes(&item) {
                records.push(r);
            }
        }
        for r in records {
            match r.kind {
                abi::flags::XR_DELTA_OPEN => {
                    let e = entry_of(&r.key, &r.s);
                    if e.flags().contains(SessionFlags::LOG_INIT) {
                        self.events.push(Event::SessionOpen(open_event(&e)));
                    }
                    self.delta(SessionDeltaReason::Open, e);
                }
                abi::flags::XR_DELTA_UPDATE => {
                    let e = entry_of(&r.key, &r.s);
                    self.delta(SessionDeltaReason::Update, e);
                }
                abi::flags::XR_DELTA_CLOSE => {
                    let e = entry_of(&r.key, &r.s);
                    let reason = close_reason(r.reason);
                    if e.flags().contains(SessionFlags::LOG_CLOSE) {
                        self.events
                            .push(Event::SessionClose(close_event(&e, reason, r.time_ns)));
                    }
                    self.delta(SessionDeltaReason::Close(reason), e);
                }
                abi::flags::XR_POLICY_DENY => {
                    let k = &r.key;
                    self.events.push(Event::PolicyDeny(PolicyDenyEvent {
                        time_ns: r.time_ns,
                        flow: FlowTuple {
                            src: ip_of(k.family, &k.src),
                            src_port: k.sport,
                            dst: ip_of(k.family, &k.dst),
                            dst_port: k.dport,
                            protocol: IpProtocol(k.proto),
                            icmp_type: (r.s.flags > 0).then(|| (r.s.flags - 1) as u8),
                        },
                        policy_rule: PolicyRuleId(r.s.rule),
                        app: AppId(r.s.app),
                        ingress_zone: ZoneId(r.s.in_zone),
                        egress_zone: ZoneId(r.s.out_zone),
                        ingress_interface: InterfaceId(r.s.in_if),
                        rejected: r.reason != 0,
                    }));
                }
                abi::flags::XR_FILTER_LOG => {
                    let k = &r.key;
                    self.events.push(Event::FilterLog(FilterLogEvent {
                        time_ns: r.time_ns,
                        filter: FilterId(r.s.rule as u16),
                        term: FilterTermId(r.s.nat_rule_src),
                        action: match r.reason {
                            1 => FilterLogAction::Discard,
                            2 => FilterLogAction::Reject,
                            _ => FilterLogAction::Accept,
                        },
                        direction: if r.s.state == 1 {
                            FilterDirection::Output
                        } else {
                            FilterDirection::Input
                        },
                        flow: FlowTuple {
                            src: ip_of(k.family, &k.src),
                            src_port: k.sport,
                            dst: ip_of(k.family, &k.dst),
                            dst_port: k.dport,
                            protocol: IpProtocol(k.proto),
                            icmp_type: (r.s.flags > 0).then(|| (r.s.flags - 1) as u8),
                        },
                        interface: InterfaceId(r.s.in_if),
                    }));
                }
                abi::flags::XR_SCREEN_DROP => {
                    let k = &r.key;
                    let reason = DropReason::from_index(r.reason as usize);
                    let Some(kind) = SCREEN_KINDS
                        .into_iter()
                        .find(|s| Some(s.drop_reason()) == reason)
                    else {
                        continue;
                    };
                    self.events.push(Event::ScreenDrop(ScreenDropEvent {
                        time_ns: r.time_ns,
                        kind,
                        flow: FlowTuple {
                            src: ip_of(k.family, &k.src),
                            src_port: k.sport,
                            dst: ip_of(k.family, &k.dst),
                            dst_port: k.dport,
                            protocol: IpProtocol(k.proto),
                            icmp_type: (r.s.flags > 0).then(|| (r.s.flags - 1) as u8),
                        },
                        zone: ZoneId(r.s.in_zone),
                        interface: InterfaceId(r.s.in_if),
                    }));
                }
                _ => {}
            }
        }
    }

    /// Events since the last drain.
    pub fn drain_events(&mut self) -> Vec<Event> {
        self.drain_records();
        std::mem::take(&mut self.events)
    }

    /// Events and session deltas since the last drain, in one pass over
    /// the ring buffer.
    pub fn drain(&mut self) -> (Vec<Event>, Vec<SessionDelta>) {
        self.drain_records();
        (
            std::mem::take(&mut self.events),
            std::mem::take(&mut self.deltas),
        )
    }

    /// Session deltas since the last drain.
    pub fn drain_deltas(&mut self) -> Vec<SessionDelta> {
        self.drain_records();
        std::mem::take(&mut self.deltas)
    }

    /// Every counter: per-CPU values summed, plus the control plane's own
    /// tallies (closes done here).
    pub fn counters(&self) -> Result<CounterSet, Error> {
        let m = &self.prog.maps;
        let mut out = CounterSet {
            global: self.user_global.clone(),
            ..Default::default()
        };
        for i in 0..(abi::BASE_COUNT as usize + DropReason::COUNT) {
            let v: u64 = m
                .cnt_global
                .get(&(i as u32), 0)
                .map_err(map_err("xpf_cnt_global"))?
                .iter()
                .sum();
            if v != 0
                && let Some(c) = GlobalCounter::from_index(i)
            {
                *out.global.entry(c).or_default() += v;
            }
        }
        out.fabric_forwarded = m
            .cnt_global
            .get(&abi::FABRIC_FORWARDED, 0)
            .map_err(map_err("xpf_cnt_global"))?
            .iter()
            .sum();
        for i in 0..self.sizes[0].min(abi::MAX_IFACES as usize) {
            let vals: PerCpuValues<abi::IfCnt> = m
                .cnt_iface
                .get(&(i as u32), 0)
                .map_err(map_err("xpf_cnt_iface"))?;
            let mut c = InterfaceCounters::default();
            for v in vals.iter() {
                c.rx.packets += v.rx_packets;
                c.rx.bytes += v.rx_bytes;
                c.tx.packets += v.tx_packets;
                c.tx.bytes += v.tx_bytes;
                c.rx_dropped += v.rx_dropped;
                c.tx_dropped += v.tx_dropped;
            }
            if c != InterfaceCounters::default() {
                out.interfaces.insert(InterfaceId(i as u16), c);
            }
        }
        for i in 0..self.sizes[1].min(abi::MAX_ZONES as usize) {
            let vals = m
                .cnt_zone
                .get(&(i as u32), 0)
                .map_err(map_err("xpf_cnt_zone"))?;
            let mut z = ZoneTraffic::default();
            for v in vals.iter() {
                z.ingress.packets += v.in_packets;
                z.ingress.bytes += v.in_bytes;
                z.egress.packets += v.eg_packets;
                z.egress.bytes += v.eg_bytes;
                z.dropped += v.dropped;
            }
            if z != ZoneTraffic::default() {
                out.zones.insert(ZoneId(i as u16), z);
            }
        }
        for i in 1..self.sizes[2].min(abi::MAX_RULE_IDS as usize) {
            let c = packet_counter(&m.cnt_policy, i, "xpf_cnt_policy")?;
            if c != CounterValue::default() {
                out.policies.insert(PolicyRuleId(i as u32), c);
            }
        }
        for i in 0..self.sizes[3].min(abi::MAX_NAT_IDS as usize) {
            let c = packet_counter(&m.cnt_nat, i, "xpf_cnt_nat")?;
            if c != CounterValue::default() {
                out.nat_rules.insert(NatRuleId(i as u32), c);
            }
        }
        Ok(out)
    }

    /// Live sessions from the program's own accounting (installed minus
    /// removed by the program and by the control plane): two map reads,
    /// however large the table.
    pub fn live_sessions(&self) -> Result<u64, Error> {
        let st = |i: u32| {
            self.prog
                .maps
                .state
                .get(&i, 0)
                .map_err(map_err("xpf_state"))
        };
        let (p, u) = (st(0)?, st(1)?);
        Ok(p.inserted.wrapping_sub(p.removed).wrapping_sub(u.removed))
    }

    /// Live forward sessions and the effective capacity.
    pub fn occupancy(&self) -> (usize, u32) {
        let live = self.forward_sessions().map(|v| v.len()).unwrap_or(0);
        let cap = self.compiled.as_ref().map_or(0, |_| self.capacity());
        (live, cap)
    }

    /// The most sessions the maps take with room for an eviction per CPU.
    fn room(&self) -> u32 {
        self.max_sessions.saturating_sub(self.cpus).max(1)
    }

    /// The effective session capacity: the configuration's
    /// (`security.flow.session-capacity`) capped at what the maps were
    /// sized for at load ([`LoadOptions::max_sessions`]) less one session
    /// per CPU, so that a full table evicts its oldest embryonic session
    /// rather than refusing inserts: a CPU admitting a session at capacity
    /// inserts the new one (two entries) before it deletes its victim, so
    /// that a refused insert leaves the victim alive, and the map must have
    /// that room. The program enforces the same value
    /// (`xpf_gen_cfg.session_capacity`).
    pub fn capacity(&self) -> u32 {
        let room = self.room();
        self.compiled
            .as_ref()
            .map_or(room, |c| c.flow.session_capacity.min(room))
    }
}

/// The `POOL_*` flags and ports per address of slot target `target` (an
/// interface allocator: none, 64,512 ports).
fn pool_kind(c: &CompiledConfig, target: u16) -> (u8, u32) {
    if abi::target_iface(target).is_some() {
        return (0, 64_512);
    }
    c.nat
        .source_pools
        .iter()
        .find(|p| p.id.0 == target)
        .map_or((0, 1), |p| {
            let mut kind = 0;
            if p.port_overload != PortOverload::On {
                return (abi::flags::POOL_ADDR_ONLY, 1);
            }
            if p.persistent {
                kind |= abi::flags::POOL_PERSISTENT;
            }
            if p.address_persistent {
                kind |= abi::flags::POOL_ADDR_PERSISTENT;
            }
            (kind, u32::from(p.port_range.high - p.port_range.low) + 1)
        })
}

/// The persistent-mapping key of forward key `k` in pool `target`.
fn persist_key(target: u16, k: &SessKey) -> abi::PersistKey {
    abi::PersistKey {
        target,
        proto: k.proto,
        family: k.family,
        sport: k.sport,
        pad0: 0,
        src: k.src,
    }
}

/// The address-persistence key of forward key `k` in pool `target`.
fn bind_key(target: u16, k: &SessKey, scope: u8) -> abi::BindKey {
    abi::BindKey {
        target,
        family: k.family,
        scope,
        src: k.src,
    }
}

/// True for protocols whose flows carry ports or ICMP identifiers (a port
/// slot can translate them).
fn has_ports_or_id(proto: u8) -> bool {
    matches!(proto, 1 | 6 | 17 | 58 | 132)
}

/// The `POOL_*` kind a session of `proto` gets from an allocator of kind
/// `kind` (as the program decides it): a protocol without ports holds an
/// address for that protocol alone.
fn session_kind(kind: u8, proto: u8) -> u8 {
    if kind & abi::flags::POOL_ADDR_ONLY == 0 && !has_ports_or_id(proto) {
        abi::flags::POOL_ADDR_ONLY | abi::flags::POOL_HOLD_SCOPED
    } else {
        kind
    }
}

/// The binding scope and slot-key protocol of an address hold of kind
/// `kind` for a flow of `proto`.
fn hold_scope(kind: u8, proto: u8) -> (u8, u8) {
    if kind & abi::flags::POOL_HOLD_SCOPED != 0 {
        (proto, proto)
    } else {
        (0, abi::flags::HOLD_PROTO)
    }
}

/// Entry `i` of a per-CPU packet counter array, summed over the CPUs.
fn packet_counter(
    map: &PerCpuArray<MapData, abi::PktCnt>,
    i: usize,
    name: &'static str,
) -> Result<CounterValue, Error> {
    let vals = map.get(&(i as u32), 0).map_err(map_err(name))?;
    Ok(vals.iter().fold(CounterValue::default(), |mut a, v| {
        a.packets += v.packets;
        a.bytes += v.bytes;
        a
    }))
}

/// The session-limit count keys of forward key `k`: its source, its destination.
fn limit_keys(k: &SessKey) -> [abi::LimitKey; 2] {
    let key = |side: u8, addr: [u8; 16]| abi::LimitKey {
        family: k.family,
        side,
        pad0: [0; 2],
        addr,
    };
    [key(0, k.src), key(1, k.dst)]
}

/// Which schedulers are active at `now_ns`, in compiled order.
fn schedules_active(c: &CompiledConfig, now_ns: u64) -> Vec<bool> {
    let unix = (now_ns / SEC) as i64;
    c.schedules
        .iter()
        .map(|s| s.is_active(unix, c.system.utc_offset_secs))
        .collect()
}

fn key_src(k: &AnySessionKey) -> (IpAddr, u16) {
    match k {
        AnySessionKey::V4(k) => (IpAddr::V4(k.src), k.src_port),
        AnySessionKey::V6(k) => (IpAddr::V6(k.src), k.src_port),
    }
}

/// Reference policy decision (control plane: rematch after an apply).
#[allow(clippy::too_many_arguments)]
fn policy_permits(
    c: &CompiledConfig,
    from: ZoneId,
    to: ZoneId,
    src: IpAddr,
    dst: IpAddr,
    proto: u8,
    sp: u16,
    dp: u16,
    icmp: Option<(u8, u8)>,
    now_ns: u64,
) -> bool {
    let pol = &c.policies;
    let unix = (now_ns / SEC) as i64;
    for i in pol.zone_pair(from, to).range().chain(pol.global.range()) {
        let r = &pol.rules[i];
        let zones_ok = |zs: &[ZoneId], z: ZoneId| zs.is_empty() || zs.contains(&z);
        let in_set = |id, a| {
            c.address_sets
                .iter()
                .find(|s| s.id == id)
                .is_some_and(|s| s.contains(a))
        };
        if zones_ok(&r.from_zones, from)
            && zones_ok(&r.to_zones, to)
            && r.app_match.matches(IpProtocol(proto), sp, dp, icmp)
            && in_set(r.source, src) != r.source_negate
            && in_set(r.destination, dst) != r.destination_negate
            && r.schedule.is_none_or(|slot| {
                c.schedules
                    .iter()
                    .find(|s| s.slot == slot)
                    .is_some_and(|s| s.is_active(unix, c.system.utc_offset_secs))
            })
        {
            return r.action == PolicyAction::Permit;
        }
    }
    pol.default_action == DefaultPolicy::Permit
}

/// The slot key a live mapping takes under the new configuration, or `None`
/// when the new pools cannot hold it (the session is then closed).
fn relay_slot(c: &CompiledConfig, l: &Lowered, k: &SessKey, s: &abi::Sess) -> Option<abi::SlotKey> {
    // The public side of the mapping is the reverse key's destination.
    let public = ip_of(s.other.family, &s.other.dst);
    let port = s.other.dport;
    if let Some(iface) = abi::target_iface(s.snat_target) {
        // Interface mapping: same interface allocator layout (ports 1024-65535).
        let ifc = c.interfaces.iter().find(|i| i.id.0 == iface)?;
        let fam = if public.is_ipv4() {
            xpf_runtime::AddressFamily::Inet
        } else {
            xpf_runtime::AddressFamily::Inet6
        };
        if ifc.primary_address(fam)? != public {
            return None;
        }
        if !has_ports_or_id(k.proto) {
            // A protocol-scoped hold of the interface's one address.
            return (port == k.sport).then_some(abi::SlotKey {
                target: s.snat_target,
                proto: k.proto,
                pad0: 0,
                slot: 0,
            });
        }
        if port < 1024 {
            return None;
        }
        return Some(abi::SlotKey {
            target: s.snat_target,
            proto: k.proto,
            pad0: 0,
            slot: u32::from(port - 1024),
        });
    }
    let pool = c.nat.source_pools.iter().find(|p| p.id.0 == s.nat_pool)?;
    if !c
        .nat
        .source_rules
        .iter()
        .any(|r| r.action == CompiledSourceAction::Pool(pool.id))
        && l.pools.iter().all(|(id, _)| *id != u32::from(pool.id.0))
    {
        return None;
    }
    let address_only = pool.port_overload != PortOverload::On;
    let hold = address_only || !has_ports_or_id(k.proto);
    if hold {
        // An address hold keeps the internal port.
        if port != k.sport {
            return None;
        }
    } else if port < pool.port_range.low || port > pool.port_range.high {
        return None;
    }
    let mut index = 0u64;
    let mut found = None;
    for (a, b) in &pool.ranges {
        let (lo, hi) = (ip_u128(*a), ip_u128(*b));
        let p = ip_u128(public);
        if a.is_ipv4() == public.is_ipv4() && lo <= p && p <= hi {
            found = Some(index + (p - lo) as u64);
            break;
        }
        index += (hi - lo + 1) as u64;
    }
    if hold {
        // All-protocol holds of an address-only pool, or a portless
        // protocol's own (docs/nat-allocation.md, section 6).
        return Some(abi::SlotKey {
            target: pool.id.0,
            proto: if address_only {
                abi::flags::HOLD_PROTO
            } else {
                k.proto
            },
            pad0: 0,
            slot: u32::try_from(found?).ok()?,
        });
    }
    let ports = u64::from(pool.port_range.high - pool.port_range.low) + 1;
    let slot = found? * ports + u64::from(port - pool.port_range.low);
    Some(abi::SlotKey {
        target: pool.id.0,
        proto: k.proto,
        pad0: 0,
        slot: u32::try_from(slot).ok()?,
    })
}

/// Unix time minus the boot clock, for the program's real-time timestamps.
fn boot_offset_ns() -> u64 {
    let unix = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let boot = std::fs::read_to_string("/proc/uptime")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .next()
                .and_then(|x| x.parse::<f64>().ok())
        })
        .map_or(0, |s| (s * 1e9) as u64);
    unix.saturating_sub(boot)
}
