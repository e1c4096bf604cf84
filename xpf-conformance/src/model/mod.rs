//! The reference model: an independent, deliberately simple and slow
//! interpreter of the compiled form's semantics. Sessions live in a plain
//! `Vec` scanned linearly; policies, NAT rules, routes and neighbours are
//! scanned in compiled order; packets are parsed and rebuilt byte by byte
//! with full checksum recomputation ([`wire`]). It shares no code with
//! `xpf-engine`; where the semantics are not obvious it follows
//! ARCHITECTURE.md ("The engine") and `docs/nat-allocation.md`.
//!
//! Per packet, in order: interface → parse (IPv6 extension headers walked)
//! → zone → HA group → fragment bookkeeping ([`frag`]: tear-drop, a
//! non-first fragment follows its first fragment's ports) → ingress
//! filter → screens → session lookup from either direction → *hit*: TCP
//! tracking, rewrite to the other direction's key → *miss*: TCP must
//! start with SYN (unless loose), static/destination NAT, host-inbound,
//! route, policy, static/source NAT allocation, session insert (evicting
//! the oldest embryonic session when full) → TTL (time exceeded emitted),
//! egress filter, MSS clamp, neighbour MAC, VLAN.
//!
//! Also modelled: ICMP errors from the network (translated with the
//! session of the packet they quote), cluster-synced installs, schedule
//! edges (rematch when the set of active schedulers changes), redundancy
//! groups, stateless and flood screens, session limits, firewall filters
//! with term-specific policers, IP fragments (no reassembly: a first
//! fragment's transport checksum is updated incrementally, RFC 1624,
//! because it covers bytes of other fragments), IPv6 extension headers
//! (hop-by-hop, routing, destination options, fragment, AH, ESP opaque,
//! in traffic and in the quotes of ICMPv6 errors).
//!
//! Every capability of `xpf_dataplane::apply::Capability` is modelled.

pub mod frag;
pub mod nat;
pub mod tcp;
pub mod wire;

use crate::harness::{
    CounterSnapshot, EmittedFrame, Harness, HarnessError, Outcome, ReconcileSummary, Verdict,
    ZoneCounters,
};
use nat::{Allocator, Mapping, Request};
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;
use tcp::{Seg, Tracker, Violation};
use wire::{ErrorKind, L4, Packet};
use xpf_dataplane::Config;
use xpf_dataplane::apply::{ApplyResult, Capabilities};
use xpf_dataplane::compile::{
    CompiledConfig, CompiledInterface, CompiledSourceAction, RouteTarget, compile_with_previous,
};
use xpf_dataplane::config::FilterAction;
use xpf_dataplane::config::{
    DefaultPolicy, HostProtocol, HostService, PolicyAction, TcpWindowCheck,
};
use xpf_dataplane::session_store::{CompanionDeleteResult, ReconcileInput};
use xpf_dataplane::session_store::{close_event, open_event};
use xpf_runtime::counters::BaseCounter;
use xpf_runtime::{
    AddressFamily, AnySessionKey, AppId, CloseReason, CounterValue, DropReason, Event, FlowTuple,
    GlobalCounter, InterfaceCounters, InterfaceId, IpProtocol, NatPoolId, NatRuleId,
    NatTranslation, PacketCounters, PolicyDenyEvent, PolicyRuleId, RedundancyGroupId, SessionDelta,
    SessionDeltaReason, SessionEntry, SessionFlags, SessionId, SessionKey, SessionState,
    SessionValue, TcpState, ZoneId,
};
use xpf_runtime::{
    FilterDirection, FilterId, FilterLogAction, FilterLogEvent, FilterTermId, ScreenDropEvent,
    ScreenKind,
};

const SEC: u64 = 1_000_000_000;

/// Which allocator a source mapping came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Target {
    Pool(NatPoolId),
    Interface(IpAddr),
}

/// One session: both keys and everything the entries carry.
#[derive(Clone, Debug)]
struct Sess {
    fwd: AnySessionKey,
    rev: AnySessionKey,
    id: SessionId,
    state: SessionState,
    tcp: Option<Tracker>,
    flags: SessionFlags,
    created: u64,
    last_seen: u64,
    timeout: u32,
    rule: PolicyRuleId,
    app: AppId,
    app_timeout: Option<u32>,
    in_zone: ZoneId,
    out_zone: ZoneId,
    in_if: InterfaceId,
    out_if: InterfaceId,
    nat_src: NatRuleId,
    nat_dst: NatRuleId,
    pool: NatPoolId,
    counters: [PacketCounters; 2],
    rg: RedundancyGroupId,
    mapping: Option<(Target, Mapping)>,
    /// Install order, for the embryonic FIFO.
    order: u64,
    embryonic: bool,
}

impl Sess {
    fn tcp_state(&self) -> TcpState {
        self.tcp.map_or(TcpState::None, |t| t.state)
    }

    fn deadline(&self) -> u64 {
        self.last_seen.saturating_add(u64::from(self.timeout) * SEC)
    }

    fn entry(&self) -> SessionEntry {
        fn value<A: xpf_runtime::SessionAddr>(s: &Sess, rev: SessionKey<A>) -> SessionValue<A> {
            SessionValue {
                session_id: s.id,
                state: s.state,
                tcp_state: s.tcp_state(),
                flags: s.flags,
                is_reverse: false,
                created_ns: s.created,
                last_seen_ns: s.last_seen,
                timeout_secs: s.timeout,
                policy_rule: s.rule,
                ingress_zone: s.in_zone,
                egress_zone: s.out_zone,
                ingress_interface: s.in_if,
                egress_interface: s.out_if,
                nat: NatTranslation {
                    src: rev.dst,
                    src_port: rev.dst_port,
                    dst: rev.src,
                    dst_port: rev.src_port,
                },
                nat_rule_src: s.nat_src,
                nat_rule_dst: s.nat_dst,
                nat_pool: s.pool,
                fwd: s.counters[0],
                rev: s.counters[1],
                reverse_key: rev,
                app: s.app,
                owner_rg: s.rg,
            }
        }
        match (self.fwd, self.rev) {
            (AnySessionKey::V4(f), AnySessionKey::V4(r)) => SessionEntry::V4 {
                key: f,
                value: value(self, r),
            },
            (AnySessionKey::V6(f), AnySessionKey::V6(r)) => SessionEntry::V6 {
                key: f,
                value: value(self, r),
            },
            // Keys of one session always share the family.
            (AnySessionKey::V4(f), _) => SessionEntry::V4 {
                key: f,
                value: value(self, f.reversed()),
            },
            (AnySessionKey::V6(f), _) => SessionEntry::V6 {
                key: f,
                value: value(self, f.reversed()),
            },
        }
    }
}

/// Counters with grow-only id spaces, as a backend with flat arrays has.
#[derive(Clone, Debug, Default)]
struct Counters {
    global: BTreeMap<GlobalCounter, u64>,
    interfaces: BTreeMap<InterfaceId, InterfaceCounters>,
    zones: BTreeMap<ZoneId, ZoneCounters>,
    policies: BTreeMap<PolicyRuleId, CounterValue>,
    nat: BTreeMap<NatRuleId, CounterValue>,
    /// Id-space sizes (max id + 1 over every generation).
    sizes: [usize; 4],
}

impl Counters {
    fn add(&mut self, c: impl Into<GlobalCounter>, n: u64) {
        *self.global.entry(c.into()).or_default() += n;
    }
    fn drop(&mut self, r: DropReason) {
        self.add(r, 1);
        self.add(BaseCounter::Dropped, 1);
    }
    fn iface(&mut self, id: InterfaceId) -> Option<&mut InterfaceCounters> {
        (id.index() < self.sizes[0]).then(|| self.interfaces.entry(id).or_default())
    }
    fn zone(&mut self, id: ZoneId) -> Option<&mut ZoneCounters> {
        (id.index() < self.sizes[1]).then(|| self.zones.entry(id).or_default())
    }
    fn policy(&mut self, id: PolicyRuleId, bytes: usize) {
        if !id.is_none() && id.index() < self.sizes[2] {
            let c = self.policies.entry(id).or_default();
            c.packets += 1;
            c.bytes += bytes as u64;
        }
    }
    fn nat(&mut self, id: NatRuleId) {
        if id.index() < self.sizes[3] {
            self.nat.entry(id).or_default().packets += 1;
        }
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
    }
}

/// The reference model.
#[derive(Debug)]
pub struct Model {
    node: u8,
    generation: u64,
    cfg: Option<Arc<CompiledConfig>>,
    /// Timeouts new sessions and state changes use.
    flow: xpf_dataplane::compile::CompiledFlow,
    sessions: Vec<Sess>,
    next_seq: u64,
    next_order: u64,
    counters: Counters,
    events: Vec<Event>,
    deltas: Vec<SessionDelta>,
    delta_seq: u64,
    allocators: BTreeMap<Target, Allocator>,
    rg_inactive: Vec<RedundancyGroupId>,
    /// Schedule edges: the second last checked, and which schedules were
    /// active then.
    sched: (i64, Vec<bool>),
    /// Per filter term (in compiled order): packets and L3 bytes matched;
    /// reset by every apply, as the engine rebuilds its filter table.
    filter_terms: Vec<CounterValue>,
    /// Per filter term (in compiled order): its policer, one instance per
    /// term (term-specific) shared by every interface; refilled from full
    /// by every apply.
    policers: Vec<Option<TermPolicer>>,
    /// Flood screens per zone: (SYN, ICMP, UDP) packet buckets at the
    /// profile's thresholds (rate = burst), full at every apply.
    floods: BTreeMap<ZoneId, [Option<Bucket>; 3]>,
    /// Fragmented datagrams being followed (kept across applies).
    fragments: frag::Fragments,
}

impl Default for Model {
    fn default() -> Self {
        Self::new()
    }
}

/// A token bucket as ARCHITECTURE.md §9 / `meter.rs` define it: integer
/// arithmetic in units × 10⁹, `rate` units per second refilled for the
/// nanoseconds elapsed, capped at `burst`, full when created.
#[derive(Clone, Copy, Debug)]
struct Bucket {
    rate: u128,
    cap: u128,
    nano_units: u128,
    at: u64,
}

impl Bucket {
    fn full(rate: u64, burst: u64, now: u64) -> Self {
        let cap = u128::from(burst) * u128::from(SEC);
        Self {
            rate: u128::from(rate),
            cap,
            nano_units: cap,
            at: now,
        }
    }

    fn refill(&mut self, now: u64) {
        if now > self.at {
            self.nano_units =
                (self.nano_units + u128::from(now - self.at) * self.rate).min(self.cap);
            self.at = now;
        }
    }

    fn holds(&mut self, units: u64, now: u64) -> bool {
        self.refill(now);
        self.nano_units >= u128::from(units) * u128::from(SEC)
    }
}

/// A term's policer: single rate (one bucket at CIR/CBS; red when it
/// cannot pay) or two rate colour-blind (RFC 2698: red when the peak
/// bucket cannot pay; else the peak pays and the committed bucket pays
/// if it can: green, else yellow, which passes).
#[derive(Clone, Copy, Debug)]
struct TermPolicer {
    committed: Bucket,
    peak: Option<Bucket>,
}

impl TermPolicer {
    /// True when the packet of `bytes` is red (discarded).
    fn red(&mut self, bytes: u64, now: u64) -> bool {
        let need = u128::from(bytes) * u128::from(SEC);
        if let Some(peak) = self.peak.as_mut() {
            if !peak.holds(bytes, now) {
                return true;
            }
            peak.nano_units = peak.nano_units.saturating_sub(need);
        } else if !self.committed.holds(bytes, now) {
            return true;
        }
        if self.committed.holds(bytes, now) {
            self.committed.nano_units -= need;
        }
        false
    }
}

/// The capabilities the model interprets; configs needing others are
/// refused, so the suite never compares what the model does not define.
pub fn model_capabilities() -> Capabilities {
    Capabilities::all_supported()
}

fn key_of(src: IpAddr, dst: IpAddr, sp: u16, dp: u16, proto: u8) -> Option<AnySessionKey> {
    let protocol = IpProtocol(proto);
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => Some(AnySessionKey::V4(SessionKey {
            src: s,
            dst: d,
            src_port: sp,
            dst_port: dp,
            protocol,
        })),
        (IpAddr::V6(s), IpAddr::V6(d)) => Some(AnySessionKey::V6(SessionKey {
            src: s,
            dst: d,
            src_port: sp,
            dst_port: dp,
            protocol,
        })),
        _ => None,
    }
}

fn parts(k: &AnySessionKey) -> (IpAddr, IpAddr, u16, u16) {
    match k {
        AnySessionKey::V4(k) => (k.src.into(), k.dst.into(), k.src_port, k.dst_port),
        AnySessionKey::V6(k) => (k.src.into(), k.dst.into(), k.src_port, k.dst_port),
    }
}

fn proto_of(k: &AnySessionKey) -> IpProtocol {
    match k {
        AnySessionKey::V4(k) => k.protocol,
        AnySessionKey::V6(k) => k.protocol,
    }
}

fn lifecycle(tcp: TcpState, answered: bool) -> SessionState {
    match tcp {
        TcpState::None if answered => SessionState::Established,
        TcpState::None | TcpState::SynSent | TcpState::SynReceived => SessionState::New,
        TcpState::Established => SessionState::Established,
        TcpState::FinWait | TcpState::CloseWait | TcpState::LastAck => SessionState::Closing,
        TcpState::TimeWait | TcpState::Close => SessionState::Closed,
    }
}

fn unanswered(state: SessionState, tcp: TcpState) -> bool {
    state == SessionState::New && matches!(tcp, TcpState::None | TcpState::SynSent)
}

fn timeout_for(
    flow: &xpf_dataplane::compile::CompiledFlow,
    proto: u8,
    tcp: TcpState,
    app: Option<u32>,
) -> u32 {
    match proto {
        wire::TCP => match tcp {
            TcpState::SynSent | TcpState::SynReceived => flow.tcp_initial_secs,
            TcpState::Established | TcpState::None => app.unwrap_or(flow.tcp_established_secs),
            TcpState::FinWait | TcpState::CloseWait | TcpState::LastAck => flow.tcp_closing_secs,
            TcpState::TimeWait | TcpState::Close => flow.tcp_time_wait_secs,
        },
        wire::UDP => app.unwrap_or(flow.udp_secs),
        wire::ICMP | wire::ICMPV6 => flow.icmp_secs,
        _ => flow.other_secs,
    }
}

fn has_ports(proto: u8) -> bool {
    matches!(proto, 6 | 17 | 132)
}

fn is_icmp(proto: u8) -> bool {
    proto == wire::ICMP || proto == wire::ICMPV6
}

fn host_allows(services: &[HostService], protocols: &[HostProtocol], p: &Packet) -> bool {
    let dport = p.ports().map(|(_, d)| d);
    let sport = p.ports().map(|(s, _)| s);
    let icmp = p.icmp().map(|(t, _)| t);
    let tcp = |port| p.proto == wire::TCP && dport == Some(port);
    let udp = |lo, hi| p.proto == wire::UDP && dport.is_some_and(|d| (lo..=hi).contains(&d));
    let v6 = p.family == AddressFamily::Inet6;
    if p.proto == wire::ICMPV6 && matches!(icmp, Some(135 | 136)) {
        return true;
    }
    let service = |s: &HostService| match s {
        HostService::All => true,
        HostService::Ping => {
            (p.proto == wire::ICMP && icmp == Some(8))
                || (p.proto == wire::ICMPV6 && icmp == Some(128))
        }
        HostService::Traceroute => udp(33434, 33534),
        HostService::Ssh => tcp(22),
        HostService::Telnet => tcp(23),
        HostService::Http => tcp(80),
        HostService::Https => tcp(443),
        HostService::Netconf => tcp(830),
        HostService::Dns => udp(53, 53) || tcp(53),
        HostService::Ntp => udp(123, 123),
        HostService::Snmp => udp(161, 161),
        HostService::Syslog => udp(514, 514),
        HostService::Dhcp => udp(67, 68),
        HostService::Dhcpv6 => udp(546, 547),
        HostService::Ike => udp(500, 500) || udp(4500, 4500),
    };
    let protocol = |x: &HostProtocol| match x {
        HostProtocol::All => true,
        HostProtocol::Bgp => p.proto == wire::TCP && (sport == Some(179) || dport == Some(179)),
        HostProtocol::Ospf => p.proto == 89 && !v6,
        HostProtocol::Ospf3 => p.proto == 89 && v6,
        HostProtocol::Bfd => udp(3784, 3785) || udp(4784, 4784),
        HostProtocol::Vrrp => p.proto == 112,
        HostProtocol::Pim => p.proto == 103,
        HostProtocol::RouterDiscovery => {
            p.proto == wire::ICMPV6 && icmp.is_some_and(|t| (133..=137).contains(&t))
        }
    };
    services.iter().any(service) || protocols.iter().any(protocol)
}

/// What a policy lookup decided.
struct Decision {
    index: Option<usize>,
    action: PolicyAction,
}

impl Model {
    /// An empty model (no config), node 0.
    pub fn new() -> Self {
        Self {
            node: 0,
            generation: 0,
            cfg: None,
            flow: Default::default(),
            sessions: Vec::new(),
            next_seq: 1,
            next_order: 0,
            counters: Counters::default(),
            events: Vec::new(),
            deltas: Vec::new(),
            delta_seq: 0,
            allocators: BTreeMap::new(),
            rg_inactive: Vec::new(),
            sched: (0, Vec::new()),
            filter_terms: Vec::new(),
            policers: Vec::new(),
            floods: BTreeMap::new(),
            fragments: frag::Fragments::default(),
        }
    }

    fn schedules_active(cfg: &CompiledConfig, now: u64) -> Vec<bool> {
        let sec = (now / SEC) as i64;
        cfg.schedules
            .iter()
            .map(|s| s.is_active(sec, cfg.system.utc_offset_secs))
            .collect()
    }

    /// Schedule edges (README, "Decisions"): when the set of active
    /// schedules changed since the last check (once per second of `now`),
    /// live sessions are rematched.
    fn check_schedules(&mut self, now: u64) {
        let sec = (now / SEC) as i64;
        if sec == self.sched.0 || self.sched.1.is_empty() {
            return;
        }
        self.sched.0 = sec;
        let Some(cfg) = self.cfg.clone() else { return };
        let active = Self::schedules_active(&cfg, now);
        if active != self.sched.1 {
            self.sched.1 = active;
            self.rematch(&cfg, now);
        }
    }

    /// The compiled config in force.
    pub fn compiled(&self) -> Option<&Arc<CompiledConfig>> {
        self.cfg.as_ref()
    }

    /// The forward entry of the session `key` belongs to (either direction).
    pub fn session_of(&self, key: &AnySessionKey) -> Option<SessionEntry> {
        self.find(key).map(|(i, _)| self.sessions[i].entry())
    }

    fn find(&self, key: &AnySessionKey) -> Option<(usize, usize)> {
        self.sessions
            .iter()
            .position(|s| s.fwd == *key)
            .map(|i| (i, 0))
            .or_else(|| {
                self.sessions
                    .iter()
                    .position(|s| s.rev == *key)
                    .map(|i| (i, 1))
            })
    }

    fn delta(&mut self, reason: SessionDeltaReason, entry: SessionEntry) {
        self.delta_seq += 1;
        self.deltas.push(SessionDelta {
            seq: self.delta_seq,
            reason,
            entry,
        });
    }

    /// Removes session `i` and does the close bookkeeping.
    fn close(&mut self, i: usize, reason: CloseReason, now: u64) {
        let s = self.sessions.remove(i);
        if let Some((target, m)) = s.mapping
            && let Some(a) = self.allocators.get_mut(&target)
        {
            a.release(&m);
        }
        self.counters.add(BaseCounter::SessionsClosed, 1);
        if reason == CloseReason::Evicted {
            self.counters.add(BaseCounter::SessionsEvicted, 1);
        }
        let entry = s.entry();
        if s.flags.contains(SessionFlags::LOG_CLOSE) {
            self.events
                .push(Event::SessionClose(close_event(&entry, reason, now)));
        }
        self.delta(SessionDeltaReason::Close(reason), entry);
    }

    /// Expires every session whose deadline is at or before `now`.
    fn expire(&mut self, now: u64) {
        loop {
            let due = self
                .sessions
                .iter()
                .enumerate()
                .filter(|(_, s)| s.deadline() <= now)
                .min_by_key(|(_, s)| (s.deadline(), s.order))
                .map(|(i, _)| i);
            let Some(i) = due else { break };
            let reason = match self.sessions[i].tcp_state() {
                TcpState::TimeWait => CloseReason::TcpFin,
                TcpState::Close => CloseReason::TcpRst,
                _ => CloseReason::IdleTimeout,
            };
            self.counters.add(BaseCounter::SessionsExpired, 1);
            self.close(i, reason, now);
        }
        self.check_schedules(now);
    }

    fn interface(cfg: &CompiledConfig, id: InterfaceId) -> Option<&CompiledInterface> {
        cfg.interfaces.iter().find(|i| i.id == id)
    }

    fn route(cfg: &CompiledConfig, dst: IpAddr) -> Option<Option<(InterfaceId, IpAddr)>> {
        let best = cfg
            .forwarding
            .routes
            .iter()
            .filter(|r| r.destination.contains(&dst))
            .max_by_key(|r| r.destination.prefix_len())?;
        Some(match best.target {
            RouteTarget::NextHop { gateway, interface } => Some((interface, gateway)),
            RouteTarget::Connected { interface } => Some((interface, dst)),
            RouteTarget::Discard => None,
        })
    }

    fn iface_addr(cfg: &CompiledConfig, id: InterfaceId, family: AddressFamily) -> Option<IpAddr> {
        Self::interface(cfg, id)?.primary_address(family)
    }

    #[allow(clippy::too_many_arguments)]
    fn policy(
        &self,
        cfg: &CompiledConfig,
        from: ZoneId,
        to: ZoneId,
        src: IpAddr,
        dst: IpAddr,
        proto: u8,
        sp: u16,
        dp: u16,
        icmp: Option<(u8, u8)>,
        now: u64,
    ) -> Decision {
        let unix = (now / SEC) as i64;
        let pol = &cfg.policies;
        let pair = pol.zone_pair(from, to);
        for i in pair.range().chain(pol.global.range()) {
            let r = &pol.rules[i];
            let zones_ok = |zs: &[ZoneId], z: ZoneId| zs.is_empty() || zs.contains(&z);
            let set = |id| cfg.address_sets.iter().find(|s| s.id == id);
            let in_set = |id, a| set(id).is_some_and(|s| s.contains(a));
            let sched = r.schedule.is_none_or(|slot| {
                cfg.schedules
                    .iter()
                    .find(|s| s.slot == slot)
                    .is_some_and(|s| s.is_active(unix, cfg.system.utc_offset_secs))
            });
            if zones_ok(&r.from_zones, from)
                && zones_ok(&r.to_zones, to)
                && r.app_match.matches(IpProtocol(proto), sp, dp, icmp)
                && in_set(r.source, src) != r.source_negate
                && in_set(r.destination, dst) != r.destination_negate
                && sched
            {
                return Decision {
                    index: Some(i),
                    action: r.action,
                };
            }
        }
        Decision {
            index: None,
            action: match pol.default_action {
                DefaultPolicy::Deny => PolicyAction::Deny,
                DefaultPolicy::Permit => PolicyAction::Permit,
            },
        }
    }

    fn emit_reject(
        &mut self,
        cfg: &CompiledConfig,
        p: &Packet,
        frame: &[u8],
        ingress: InterfaceId,
        out: &mut Vec<EmittedFrame>,
    ) {
        let built = if p.proto == wire::TCP && matches!(p.t, L4::Tcp { .. }) {
            let f = wire::build_rst(p, frame);
            if f.is_some() {
                self.counters.add(BaseCounter::RstSent, 1);
            }
            f
        } else {
            let f = Self::iface_addr(cfg, ingress, p.family)
                .and_then(|src| wire::build_icmp_error(ErrorKind::AdminProhibited, p, frame, src));
            if f.is_some() {
                self.counters.add(BaseCounter::IcmpErrorsSent, 1);
            }
            f
        };
        if let Some(frame) = built {
            out.push(EmittedFrame {
                interface: ingress,
                frame,
            });
        }
    }

    /// Rewrites addresses and ports; full checksum recomputation when
    /// anything changed, except in a fragment: a first fragment's
    /// transport checksum covers bytes in other fragments, so it is
    /// updated per RFC 1624 for each changed field (a non-first fragment
    /// has no transport header: only its IP header changes).
    fn rewrite(frame: &mut [u8], p: &mut Packet, src: IpAddr, dst: IpAddr, sp: u16, dp: u16) {
        if p.fragment {
            Self::rewrite_fragment(frame, p, src, dst, sp, dp);
            return;
        }
        let mut changed = false;
        let (so, do_) = match p.family {
            AddressFamily::Inet => (12, 16),
            AddressFamily::Inet6 => (8, 24),
        };
        for (new, at, cur) in [(src, so, &mut p.src), (dst, do_, &mut p.dst)] {
            if *cur != new {
                let b: Vec<u8> = match new {
                    IpAddr::V4(a) => a.octets().to_vec(),
                    IpAddr::V6(a) => a.octets().to_vec(),
                };
                frame[p.l3 + at..p.l3 + at + b.len()].copy_from_slice(&b);
                *cur = new;
                changed = true;
            }
        }
        let l4 = p.l4;
        match &mut p.t {
            L4::Tcp { sport, dport, .. } | L4::Udp { sport, dport } => {
                if *sport != sp {
                    frame[l4..l4 + 2].copy_from_slice(&sp.to_be_bytes());
                    *sport = sp;
                    changed = true;
                }
                if *dport != dp {
                    frame[l4 + 2..l4 + 4].copy_from_slice(&dp.to_be_bytes());
                    *dport = dp;
                    changed = true;
                }
            }
            L4::IcmpQuery { id, .. } if *id != sp => {
                frame[l4 + 4..l4 + 6].copy_from_slice(&sp.to_be_bytes());
                *id = sp;
                changed = true;
            }
            _ => {}
        }
        if changed {
            if p.family == AddressFamily::Inet {
                wire::fix_ipv4_header(frame, p.l3);
            }
            if !matches!(p.t, L4::Other) {
                wire::fix_l4(frame, p.family, p.src, p.dst, p.proto, p.l4, p.l3_end());
            }
        }
    }

    /// [`Self::rewrite`] of a fragment: RFC 1624 updates of the first
    /// fragment's transport checksum (addresses count for TCP, UDP and
    /// ICMPv6, whose checksums cover a pseudo-header; a zero IPv4 UDP
    /// checksum stays zero), the IPv4 header checksum recomputed.
    fn rewrite_fragment(
        frame: &mut [u8],
        p: &mut Packet,
        src: IpAddr,
        dst: IpAddr,
        sp: u16,
        dp: u16,
    ) {
        let v4 = p.family == AddressFamily::Inet;
        let l4 = p.l4;
        let csum = match p.t {
            L4::Tcp { .. } => Some((l4 + 16, None, true)),
            L4::Udp { .. } => Some((l4 + 6, Some(v4), true)),
            L4::IcmpQuery { .. } => Some((l4 + 2, None, !v4)),
            _ => None,
        };
        let (so, do_) = if v4 { (12, 16) } else { (8, 24) };
        let mut changed = false;
        for (new, at) in [(src, p.l3 + so), (dst, p.l3 + do_)] {
            let nb = wire::addr_bytes(new);
            let ob = frame[at..at + nb.len()].to_vec();
            if ob == nb {
                continue;
            }
            frame[at..at + nb.len()].copy_from_slice(&nb);
            changed = true;
            if let Some((c, udp, true)) = csum {
                wire::update_checksum(frame, c, &ob, &nb, udp);
            }
        }
        p.src = src;
        p.dst = dst;
        let fields: Vec<(usize, u16)> = match &mut p.t {
            L4::Tcp { sport, dport, .. } | L4::Udp { sport, dport } => {
                let f = vec![(l4, sp), (l4 + 2, dp)];
                (*sport, *dport) = (sp, dp);
                f
            }
            L4::IcmpQuery { id, .. } => {
                *id = sp;
                vec![(l4 + 4, sp)]
            }
            _ => Vec::new(),
        };
        for (at, port) in fields {
            let ob = frame[at..at + 2].to_vec();
            let nb = port.to_be_bytes();
            if ob == nb {
                continue;
            }
            frame[at..at + 2].copy_from_slice(&nb);
            if let Some((c, udp, _)) = csum {
                wire::update_checksum(frame, c, &ob, &nb, udp);
            }
        }
        if changed && v4 {
            wire::fix_ipv4_header(frame, p.l3);
        }
    }

    fn seg(p: &Packet) -> Option<Seg> {
        match p.t {
            L4::Tcp {
                flags,
                seq,
                ack,
                window,
                payload,
                wscale,
                ..
            } => Some(Seg {
                flags,
                seq,
                ack,
                window,
                len: payload,
                wscale,
            }),
            _ => None,
        }
    }

    /// TTL expiry on the packet as received (see README, "Decisions"):
    /// drop, and a time-exceeded error quoting the packet unchanged, back
    /// out of the ingress interface from its address.
    fn ttl_expired(
        &mut self,
        cfg: &CompiledConfig,
        p: &Packet,
        frame: &[u8],
        ingress: InterfaceId,
        out: &mut Vec<EmittedFrame>,
    ) -> Option<Verdict> {
        if p.ttl > 1 {
            return None;
        }
        if let Some(src) = Self::iface_addr(cfg, ingress, p.family)
            && let Some(f) = wire::build_icmp_error(ErrorKind::TimeExceeded, p, frame, src)
        {
            self.counters.add(BaseCounter::IcmpErrorsSent, 1);
            out.push(EmittedFrame {
                interface: ingress,
                frame: f,
            });
        }
        Some(Verdict::Drop {
            reason: DropReason::TtlExceeded,
        })
    }

    fn process(
        &mut self,
        now: u64,
        ingress: InterfaceId,
        frame: &mut Vec<u8>,
        out: &mut Vec<EmittedFrame>,
    ) -> Verdict {
        self.counters.add(BaseCounter::RxPackets, 1);
        self.counters.add(BaseCounter::RxBytes, frame.len() as u64);
        let Some(cfg) = self.cfg.clone() else {
            return Verdict::Drop {
                reason: DropReason::UnknownInterface,
            };
        };
        let Some(ifc) = Self::interface(&cfg, ingress).cloned() else {
            return Verdict::Drop {
                reason: DropReason::UnknownInterface,
            };
        };
        if let Some(c) = self.counters.iface(ingress) {
            c.rx.packets += 1;
            c.rx.bytes += frame.len() as u64;
        }
        let mut p = match wire::parse(frame) {
            Ok(p) => p,
            Err(reason) => {
                if reason == DropReason::UnsupportedEthertype
                    && wire::inner_ethertype(frame) == Some(0x0806)
                {
                    return Verdict::Local;
                }
                return Verdict::Drop { reason };
            }
        };
        let zone = ifc.zone;
        if zone.is_none() {
            return Verdict::Drop {
                reason: DropReason::UnknownInterface,
            };
        }
        if let Some(z) = self.counters.zone(zone) {
            z.ingress.packets += 1;
            z.ingress.bytes += frame.len() as u64;
        }
        if let Some(rg) = ifc.redundancy_group
            && self.rg_inactive.contains(&rg)
        {
            return Verdict::Drop {
                reason: DropReason::HaInactive,
            };
        }
        // Fragments (ARCHITECTURE.md §9): the first fragment's ports are
        // remembered, later fragments follow them; an overlap is dropped
        // by `tear-drop`; a non-first fragment of a port-carrying or ICMP
        // protocol whose first fragment was not seen has no flow.
        let screen = cfg
            .zones
            .iter()
            .find(|z| z.id == zone)
            .and_then(|z| z.screen)
            .and_then(|id| cfg.screens.iter().find(|s| s.id == id));
        let mut ports = p.ports();
        if p.fragment {
            self.counters.add(BaseCounter::Fragments, 1);
            let seen = self.fragments.observe(
                frag::DatagramId {
                    src: p.src,
                    dst: p.dst,
                    id: p.frag.id,
                    proto: p.proto,
                },
                p.frag.offset,
                (p.l3_end() - p.l4) as u32,
                p.frag.more,
                ports,
                now,
            );
            if seen.overlap && screen.is_some_and(|s| s.tear_drop) {
                return self.screen_drop(ScreenKind::TearDrop, &p, ports, zone, ingress, now);
            }
            if p.non_first() && (has_ports(p.proto) || is_icmp(p.proto)) {
                ports = seen.ports;
                if ports.is_none() {
                    return Verdict::Drop {
                        reason: DropReason::FragmentNoSession,
                    };
                }
            }
        }
        let in_filter = match p.family {
            AddressFamily::Inet => ifc.filter_input_v4,
            AddressFamily::Inet6 => ifc.filter_input_v6,
        };
        if let Some(v) = self.filter(
            &cfg,
            in_filter,
            FilterDirection::Input,
            ingress,
            &p,
            frame,
            now,
            out,
        ) {
            return v;
        }
        if let Some(kind) = Self::screened(&cfg, zone, &p).or_else(|| self.flooded(zone, &p, now)) {
            return self.screen_drop(kind, &p, ports, zone, ingress, now);
        }
        if matches!(p.t, L4::IcmpError { .. }) {
            return self.icmp_error(&cfg, &mut p, frame, now, out);
        }
        let Some((sp, dp)) = ports.or_else(|| (!has_ports(p.proto)).then_some((0, 0))) else {
            return Verdict::Drop {
                reason: DropReason::FragmentNoSession,
            };
        };
        let Some(key) = key_of(p.src, p.dst, sp, dp, p.proto) else {
            return Verdict::Drop {
                reason: DropReason::MalformedIpv4,
            };
        };
        match self.find(&key) {
            Some((i, dir)) => self.established(&cfg, &mut p, frame, ingress, i, dir, now, out),
            None => {
                self.counters.add(BaseCounter::SessionMisses, 1);
                self.first_packet(&cfg, &mut p, frame, ingress, zone, key, now, out)
            }
        }
    }

    /// A screen drop: the `screen-drop` event (the flow's ports as known
    /// at that point: a non-first fragment's from its first fragment) and
    /// the screen's drop reason.
    fn screen_drop(
        &mut self,
        kind: ScreenKind,
        p: &Packet,
        ports: Option<(u16, u16)>,
        zone: ZoneId,
        ingress: InterfaceId,
        now: u64,
    ) -> Verdict {
        let (sp, dp) = ports.unwrap_or((0, 0));
        self.events.push(Event::ScreenDrop(ScreenDropEvent {
            time_ns: now,
            kind,
            flow: FlowTuple {
                src: p.src,
                src_port: sp,
                dst: p.dst,
                dst_port: dp,
                protocol: IpProtocol(p.proto),
                icmp_type: p.icmp().map(|(t, _)| t),
            },
            zone,
            interface: ingress,
        }));
        Verdict::Drop {
            reason: kind.drop_reason(),
        }
    }

    /// Firewall filter `id` (ARCHITECTURE.md §9, `filter.rs` docs): terms
    /// in order; a term matches when every condition it has holds (ports
    /// only for packets carrying them, TCP flags only TCP, ICMP types only
    /// ICMP); a match counts the packet in the term's counter, logs when
    /// asked (the action reached: `next-term` logs as accept), then
    /// `accept` continues processing, `discard` drops `filter-discard`,
    /// `reject` answers as a policy reject does (out of the filter's
    /// interface) and drops `filter-reject`, `next-term` goes on; no
    /// terminating term: implicit discard. `None` lets the packet on.
    /// A term's policer runs after its counter and before its action: a
    /// red packet drops `policer-exceeded` (logged as discard) whatever
    /// the action, `next-term` included.
    #[allow(clippy::too_many_arguments)]
    fn filter(
        &mut self,
        cfg: &CompiledConfig,
        id: Option<FilterId>,
        direction: FilterDirection,
        iface: InterfaceId,
        p: &Packet,
        frame: &[u8],
        now: u64,
        out: &mut Vec<EmittedFrame>,
    ) -> Option<Verdict> {
        let id = id?;
        let ports = p.ports();
        let flags = match p.t {
            L4::Tcp { flags, .. } => Some(flags),
            _ => None,
        };
        let dscp = match p.family {
            AddressFamily::Inet => frame[p.l3 + 1] >> 2,
            AddressFamily::Inet6 => ((frame[p.l3] & 0x0f) << 2) | (frame[p.l3 + 1] >> 6),
        };
        let icmp_type = p.icmp().map(|(t, _)| t);
        let (sp, dp) = ports.unwrap_or((0, 0));
        let flow = FlowTuple {
            src: p.src,
            src_port: sp,
            dst: p.dst,
            dst_port: dp,
            protocol: IpProtocol(p.proto),
            icmp_type,
        };
        let mut verdict = Some(Verdict::Drop {
            reason: DropReason::FilterDiscard,
        });
        let mut reject = false;
        for (i, t) in cfg.filters.terms.iter().enumerate() {
            if t.filter != id {
                continue;
            }
            let nets =
                |n: &[ipnet::IpNet], a: IpAddr| n.is_empty() || n.iter().any(|n| n.contains(&a));
            let port_ok = |r: &[xpf_dataplane::config::PortRange], v: u16| {
                r.is_empty() || (ports.is_some() && r.iter().any(|r| r.contains(v)))
            };
            let hit = nets(&t.source, p.src)
                && nets(&t.destination, p.dst)
                && (t.protocols.is_empty() || t.protocols.contains(&IpProtocol(p.proto)))
                && port_ok(&t.source_ports, sp)
                && port_ok(&t.destination_ports, dp)
                && (t.tcp_flags.is_empty()
                    || flags.is_some_and(|f| t.tcp_flags.iter().any(|&(m, v)| f & m == v)))
                && (t.dscp.is_empty() || t.dscp.contains(&dscp))
                && (t.icmp_types.is_empty()
                    || icmp_type.is_some_and(|ty| t.icmp_types.contains(&ty)));
            if !hit {
                continue;
            }
            if let Some(c) = self.filter_terms.get_mut(i) {
                c.packets += 1;
                c.bytes += p.l3_len as u64;
            }
            let red = self
                .policers
                .get_mut(i)
                .and_then(Option::as_mut)
                .is_some_and(|pol| pol.red(p.l3_len as u64, now));
            let (done, action) = if red {
                (
                    Some(Some(Verdict::Drop {
                        reason: DropReason::PolicerExceeded,
                    })),
                    FilterLogAction::Discard,
                )
            } else {
                match t.action {
                    FilterAction::Accept => (Some(None), FilterLogAction::Accept),
                    FilterAction::Discard => (
                        Some(Some(Verdict::Drop {
                            reason: DropReason::FilterDiscard,
                        })),
                        FilterLogAction::Discard,
                    ),
                    FilterAction::Reject => (
                        Some(Some(Verdict::Drop {
                            reason: DropReason::FilterReject,
                        })),
                        FilterLogAction::Reject,
                    ),
                    FilterAction::NextTerm => (None, FilterLogAction::Accept),
                }
            };
            if t.log {
                self.events.push(Event::FilterLog(FilterLogEvent {
                    time_ns: now,
                    filter: id,
                    term: t.id,
                    action,
                    direction,
                    flow,
                    interface: iface,
                }));
            }
            if let Some(v) = done {
                verdict = v;
                reject = !red && t.action == FilterAction::Reject;
                break;
            }
        }
        if reject {
            self.emit_reject(cfg, p, frame, iface, out);
        }
        verdict
    }

    /// The stateless screens of the ingress zone's profile (ARCHITECTURE.md
    /// §9, `screen.rs` docs), on every packet entering the zone, session
    /// or not, before ICMP errors are matched to sessions; the first check
    /// that hits, in this order, drops: land (SYN with source = destination),
    /// syn-fin, tcp-no-flag (flags byte 0), fin-no-ack, winnuke (URG to
    /// port 139), syn-frag (a fragment carrying a TCP SYN: the first),
    /// ping-of-death (an ICMP / ICMPv6 fragment ending beyond byte 65535),
    /// then the IPv4 source-route options / IPv6 routing type 0. Tear-drop
    /// is decided earlier, by the fragment bookkeeping.
    fn screened(cfg: &CompiledConfig, zone: ZoneId, p: &Packet) -> Option<ScreenKind> {
        let id = cfg.zones.iter().find(|z| z.id == zone)?.screen?;
        let sc = cfg.screens.iter().find(|s| s.id == id)?;
        if let L4::Tcp { flags, dport, .. } = p.t {
            let has = |f: u8| flags & f != 0;
            let (fin, syn, ack, urg) = (has(0x01), has(0x02), has(0x10), has(0x20));
            let checks = [
                (sc.land && syn && p.src == p.dst, ScreenKind::Land),
                (sc.syn_fin && syn && fin, ScreenKind::SynFin),
                (sc.tcp_no_flag && flags == 0, ScreenKind::TcpNoFlag),
                (sc.fin_no_ack && fin && !ack, ScreenKind::FinNoAck),
                (sc.winnuke && urg && dport == 139, ScreenKind::WinNuke),
                (sc.syn_frag && syn && p.fragment, ScreenKind::SynFrag),
            ];
            if let Some((_, k)) = checks.into_iter().find(|(hit, _)| *hit) {
                return Some(k);
            }
        }
        let end = u64::from(p.frag.offset) + (p.l3_end() - p.l4) as u64;
        if sc.ping_death && is_icmp(p.proto) && p.fragment && end > 65_535 {
            return Some(ScreenKind::PingOfDeath);
        }
        (sc.source_route && p.source_route).then_some(ScreenKind::SourceRoute)
    }

    /// The flood screens of the ingress zone, for packets that passed the
    /// stateless checks: TCP SYN without ACK, ICMP / ICMPv6 (errors too),
    /// UDP each take one packet from their zone's bucket (threshold packets
    /// per second, burst = threshold); an empty bucket drops.
    fn flooded(&mut self, zone: ZoneId, p: &Packet, now: u64) -> Option<ScreenKind> {
        let (slot, kind) = match p.t {
            L4::Tcp { flags, .. } if flags & 0x02 != 0 && flags & 0x10 == 0 => {
                (0, ScreenKind::SynFlood)
            }
            _ if is_icmp(p.proto) => (1, ScreenKind::IcmpFlood),
            _ if p.proto == wire::UDP => (2, ScreenKind::UdpFlood),
            _ => return None,
        };
        let b = self.floods.get_mut(&zone)?[slot].as_mut()?;
        if b.holds(1, now) {
            b.nano_units -= u128::from(SEC);
            None
        } else {
            Some(kind)
        }
    }

    /// An ICMP error from the network travels with the session of the
    /// packet it quotes (that packet went the other way, so its reversed
    /// tuple is the key): the quote becomes the other direction's packet
    /// as it was before / after translation (addresses, ports, the quoted
    /// IPv4 header checksum, the quoted transport checksum when quoted),
    /// the outer destination follows it, the outer source too when the
    /// error comes from the translated endpoint itself. No session: drop
    /// `icmp-error-no-session`. The session is not touched (no counters,
    /// no last-seen); `session-hits` counts the lookup.
    fn icmp_error(
        &mut self,
        cfg: &CompiledConfig,
        p: &mut Packet,
        frame: &mut Vec<u8>,
        now: u64,
        out: &mut Vec<EmittedFrame>,
    ) -> Verdict {
        let drop = |reason| Verdict::Drop { reason };
        let Some(e) = wire::embedded(frame, p) else {
            return drop(DropReason::MalformedIcmp);
        };
        let (isp, idp) = e.ports.unwrap_or((0, 0));
        let Some(key) = key_of(e.dst, e.src, idp, isp, e.proto) else {
            return drop(DropReason::IcmpErrorNoSession);
        };
        let Some((i, dir)) = self.find(&key) else {
            return drop(DropReason::IcmpErrorNoSession);
        };
        self.counters.add(BaseCounter::SessionHits, 1);
        if p.ttl <= 1 {
            return drop(DropReason::TtlExceeded);
        }
        let sess = &self.sessions[i];
        let egress = if dir == 0 { sess.out_if } else { sess.in_if };
        let other = if dir == 0 { sess.rev } else { sess.fwd };
        let (osrc, odst, osp, odp) = parts(&other);
        let v4 = p.family == AddressFamily::Inet;
        let own = if v4 { wire::ICMP } else { wire::ICMPV6 };
        // The quoted transport checksum (offset, UDP rule, covers addresses).
        let inner = e.l4.and_then(|l4| match e.proto {
            wire::TCP if l4 + 18 <= e.end => Some((l4 + 16, None, true)),
            wire::UDP => Some((l4 + 6, Some(v4), true)),
            x if x == own => Some((l4 + 2, None, !v4)),
            _ => None,
        });
        let (so, do_) = if v4 { (12, 16) } else { (8, 24) };
        for (new, at) in [(osrc, e.ip + so), (odst, e.ip + do_)] {
            let nb = wire::addr_bytes(new);
            let ob = frame[at..at + nb.len()].to_vec();
            frame[at..at + nb.len()].copy_from_slice(&nb);
            if let Some((c, udp, true)) = inner {
                wire::update_checksum(frame, c, &ob, &nb, udp);
            }
        }
        if v4 {
            wire::fix_ipv4_header(frame, e.ip);
        }
        if let (Some(l4), Some(_)) = (e.l4, e.ports) {
            let fields: Vec<(usize, u16)> = if e.proto == own {
                vec![(l4 + 4, odp)]
            } else {
                vec![(l4, osp), (l4 + 2, odp)]
            };
            for (at, port) in fields {
                let ob = frame[at..at + 2].to_vec();
                let nb = port.to_be_bytes();
                frame[at..at + 2].copy_from_slice(&nb);
                if let Some((c, udp, _)) = inner {
                    wire::update_checksum(frame, c, &ob, &nb, udp);
                }
            }
        }
        // The outer header follows the quote.
        let mut src = p.src;
        if p.src == e.dst && e.dst != odst {
            src = odst;
        }
        let dst = osrc;
        for (new, at) in [(src, p.l3 + so), (dst, p.l3 + do_)] {
            let nb = wire::addr_bytes(new);
            frame[at..at + nb.len()].copy_from_slice(&nb);
        }
        p.src = src;
        p.dst = dst;
        if v4 {
            wire::fix_ipv4_header(frame, p.l3);
        }
        wire::fix_l4(frame, p.family, p.src, p.dst, p.proto, p.l4, p.l3_end());
        self.forward(cfg, p, frame, egress, None, now, out)
    }

    #[allow(clippy::too_many_arguments)]
    fn established(
        &mut self,
        cfg: &CompiledConfig,
        p: &mut Packet,
        frame: &mut Vec<u8>,
        ingress: InterfaceId,
        i: usize,
        dir: usize,
        now: u64,
        out: &mut Vec<EmittedFrame>,
    ) -> Verdict {
        self.counters.add(BaseCounter::SessionHits, 1);
        if let Some(v) = self.ttl_expired(cfg, p, frame, ingress, out) {
            return v;
        }
        let seg = Self::seg(p);
        if let Some(seg) = seg {
            let s = &mut self.sessions[i];
            let Some(mut tr) = s.tcp else {
                return Verdict::Drop {
                    reason: DropReason::TcpInvalidState,
                };
            };
            let loose = s.flags.contains(SessionFlags::LOOSE_TCP);
            let prev = tr.state;
            match tr.update(dir, &seg, loose) {
                Ok(state) => {
                    s.tcp = Some(tr);
                    if state != prev {
                        s.state = lifecycle(state, true);
                        s.timeout = timeout_for(&self.flow, wire::TCP, state, s.app_timeout);
                        if s.embryonic && !unanswered(s.state, state) {
                            s.embryonic = false;
                        }
                        let e = s.entry();
                        self.delta(SessionDeltaReason::Update, e);
                    }
                }
                Err(Violation::OutOfWindow) => {
                    return Verdict::Drop {
                        reason: DropReason::TcpOutOfWindow,
                    };
                }
                Err(Violation::Reopen) => {
                    self.close(i, CloseReason::TcpFin, now);
                    return Verdict::Drop {
                        reason: DropReason::TcpInvalidState,
                    };
                }
                Err(Violation::Invalid) => {
                    return Verdict::Drop {
                        reason: DropReason::TcpInvalidState,
                    };
                }
            }
        }
        let s = &mut self.sessions[i];
        s.counters[dir].packets += 1;
        s.counters[dir].bytes += p.l3_len as u64;
        s.last_seen = s.last_seen.max(now);
        if dir == 1 && s.state == SessionState::New && s.tcp.is_none() {
            s.state = SessionState::Established;
            s.embryonic = false;
        }
        let egress = if dir == 0 { s.out_if } else { s.in_if };
        if !s.rg.is_none() && self.rg_inactive.contains(&s.rg) {
            return Verdict::Drop {
                reason: DropReason::HaInactive,
            };
        }
        let rule = s.rule;
        let other = if dir == 0 { s.rev } else { s.fwd };
        let (osrc, odst, osp, odp) = parts(&other);
        let before = (p.src, p.dst, p.ports());
        Self::rewrite(frame, p, odst, osrc, odp, osp);
        if before != (p.src, p.dst, p.ports()) {
            self.counters.add(BaseCounter::NatTranslated, 1);
        }
        self.counters.policy(rule, p.l3_len);
        self.forward(cfg, p, frame, egress, seg, now, out)
    }

    #[allow(clippy::too_many_arguments)]
    fn first_packet(
        &mut self,
        cfg: &CompiledConfig,
        p: &mut Packet,
        frame: &mut Vec<u8>,
        ingress: InterfaceId,
        zone: ZoneId,
        key: AnySessionKey,
        now: u64,
        out: &mut Vec<EmittedFrame>,
    ) -> Verdict {
        let drop = |reason| Verdict::Drop { reason };
        let (src, dst, sp, dp) = parts(&key);
        let zcfg = cfg.zones.iter().find(|z| z.id == zone).cloned();
        let loose = zcfg
            .as_ref()
            .is_some_and(|z| z.tcp_window_check == TcpWindowCheck::Loose);
        let seg = Self::seg(p);
        let tracker = match seg {
            Some(seg) => {
                let made = if loose {
                    Tracker::mid_stream(&seg)
                } else {
                    Tracker::from_syn(&seg)
                };
                match made {
                    Ok(t) => Some(t),
                    Err(_) => {
                        if zcfg.as_ref().is_some_and(|z| z.tcp_rst) && seg.flags & tcp::RST == 0 {
                            self.emit_reject(cfg, p, frame, ingress, out);
                        }
                        return drop(DropReason::TcpNonSynFirst);
                    }
                }
            }
            None if p.proto == wire::TCP => {
                return drop(if p.non_first() {
                    DropReason::FragmentNoSession
                } else {
                    DropReason::MalformedTcp
                });
            }
            None => None,
        };
        // Static inbound, then destination NAT.
        let nat = &cfg.nat;
        let dnat: Option<(IpAddr, Option<u16>, NatRuleId, bool)> = nat
            .static_rules
            .iter()
            .filter(|r| r.from.matches(zone, ingress))
            .find_map(|r| r.to_private(dst).map(|a| (a, None, r.id, true)))
            .or_else(|| {
                let r = nat.destination_rules.iter().find(|r| {
                    r.from.matches(zone, ingress)
                        && r.matches.matches(src, dst, IpProtocol(p.proto), sp, dp)
                })?;
                let pool = nat
                    .destination_pools
                    .iter()
                    .find(|pool| Some(pool.id) == r.pool)?;
                Some((pool.address, pool.port, r.id, false))
            });
        let (dst2, dp2) = match dnat {
            Some((a, port, _, _)) => (a, port.unwrap_or(dp)),
            None => (dst, dp),
        };
        // Host-inbound.
        if dnat.is_none()
            && cfg
                .interfaces
                .iter()
                .any(|i| i.addresses.iter().any(|a| a.addr() == dst2))
        {
            let ok = zcfg
                .as_ref()
                .is_some_and(|z| host_allows(&z.host_services, &z.host_protocols, p));
            return if ok {
                Verdict::Local
            } else {
                drop(DropReason::HostInboundDenied)
            };
        }
        // A non-first fragment follows its datagram's session; it never
        // opens one. Without a session here, its first fragment was dropped
        // (filter, screen, policy, capacity...) or the session is gone.
        if p.non_first() {
            return drop(DropReason::FragmentNoSession);
        }
        let egress = match Self::route(cfg, dst2) {
            None => return drop(DropReason::NoRoute),
            Some(None) => return drop(DropReason::RouteDiscard),
            Some(Some((i, _))) => i,
        };
        let Some(eif) = Self::interface(cfg, egress).cloned() else {
            return drop(DropReason::NoRoute);
        };
        let to_zone = eif.zone;
        let d = self.policy(
            cfg,
            zone,
            to_zone,
            src,
            dst2,
            p.proto,
            sp,
            dp2,
            p.icmp(),
            now,
        );
        let rule = d.index.map(|i| cfg.policies.rules[i].clone());
        if d.action != PolicyAction::Permit {
            let rejected = d.action == PolicyAction::Reject;
            if let Some(r) = &rule
                && r.log_init
            {
                self.events.push(Event::PolicyDeny(PolicyDenyEvent {
                    time_ns: now,
                    flow: FlowTuple {
                        src: p.src,
                        src_port: sp,
                        dst: p.dst,
                        dst_port: dp,
                        protocol: IpProtocol(p.proto),
                        icmp_type: p.icmp().map(|(t, _)| t),
                    },
                    policy_rule: r.id,
                    app: r.app,
                    ingress_zone: zone,
                    egress_zone: to_zone,
                    ingress_interface: ingress,
                    rejected,
                }));
            }
            if let Some(r) = &rule {
                self.counters.policy(r.id, p.l3_len);
            }
            if rejected {
                self.emit_reject(cfg, p, frame, ingress, out);
                return drop(DropReason::PolicyReject);
            }
            return drop(if rule.is_some() {
                DropReason::PolicyDeny
            } else {
                DropReason::DefaultDeny
            });
        }
        if let Some(v) = self.ttl_expired(cfg, p, frame, ingress, out) {
            return v;
        }
        // Session limits of the ingress zone's screen: live sessions (local
        // or synced) whose forward key has this source / this destination
        // (before destination NAT).
        if let Some(sc) = zcfg
            .as_ref()
            .and_then(|z| z.screen)
            .and_then(|id| cfg.screens.iter().find(|s| s.id == id))
        {
            let count = |f: &dyn Fn(&AnySessionKey) -> bool| {
                self.sessions.iter().filter(|s| f(&s.fwd)).count() as u64
            };
            let hit = if sc
                .source_session_limit
                .is_some_and(|l| count(&|k| parts(k).0 == src) >= u64::from(l))
            {
                Some(ScreenKind::SourceSessionLimit)
            } else if sc
                .destination_session_limit
                .is_some_and(|l| count(&|k| parts(k).1 == dst) >= u64::from(l))
            {
                Some(ScreenKind::DestinationSessionLimit)
            } else {
                None
            };
            if let Some(kind) = hit {
                self.events.push(Event::ScreenDrop(ScreenDropEvent {
                    time_ns: now,
                    kind,
                    flow: FlowTuple {
                        src: p.src,
                        src_port: sp,
                        dst: p.dst,
                        dst_port: dp,
                        protocol: IpProtocol(p.proto),
                        icmp_type: p.icmp().map(|(t, _)| t),
                    },
                    zone,
                    interface: ingress,
                }));
                return drop(kind.drop_reason());
            }
        }
        // Static outbound, then source NAT.
        let mut flags = SessionFlags::empty();
        let mut nat_src = NatRuleId::NONE;
        let mut pool_id = NatPoolId::NONE;
        let mut mapping = None;
        let (src2, sp2) = if let Some((r, public)) = nat
            .static_rules
            .iter()
            .find_map(|r| r.to_public(src).map(|a| (r, a)))
        {
            flags.insert(SessionFlags::STATIC_NAT);
            nat_src = r.id;
            (public, sp)
        } else if let Some(r) = nat.source_rules.iter().find(|r| {
            r.from.matches(zone, ingress)
                && r.to.matches(to_zone, egress)
                && r.matches.matches(src, dst, IpProtocol(p.proto), sp, dp)
        }) {
            let target = match r.action {
                CompiledSourceAction::Off => None,
                CompiledSourceAction::Pool(id) => Some(Target::Pool(id)),
                CompiledSourceAction::Interface => match Self::iface_addr(cfg, egress, p.family) {
                    Some(a) => Some(Target::Interface(a)),
                    None => return drop(DropReason::NatPoolExhausted),
                },
            };
            match target {
                None => (src, sp),
                Some(target) => {
                    let req = Request {
                        src,
                        sport: sp,
                        proto: p.proto,
                        dst: dst2,
                        dport: dp2,
                    };
                    if let Target::Interface(a) = target {
                        self.allocators
                            .entry(target)
                            .or_insert_with(|| Allocator::for_interface(a));
                    }
                    let Some(m) = self
                        .allocators
                        .get_mut(&target)
                        .and_then(|a| a.allocate(&req))
                    else {
                        return drop(DropReason::NatPoolExhausted);
                    };
                    nat_src = r.id;
                    pool_id = match target {
                        Target::Pool(id) => id,
                        Target::Interface(_) => NatPoolId::NONE,
                    };
                    flags.insert(SessionFlags::SNAT);
                    mapping = Some((target, m));
                    self.counters.nat(r.id);
                    (m.public, m.public_port)
                }
            }
        } else {
            (src, sp)
        };
        let dp2 = if is_icmp(p.proto) { sp2 } else { dp2 };
        let mut nat_dst = NatRuleId::NONE;
        if let Some((_, _, id, is_static)) = dnat {
            nat_dst = id;
            flags.insert(if is_static {
                SessionFlags::STATIC_NAT
            } else {
                SessionFlags::DNAT
            });
            self.counters.nat(id);
        }
        let (rule_id, app, app_timeout) = match &rule {
            Some(r) => {
                if r.log_init {
                    flags.insert(SessionFlags::LOG_INIT);
                }
                if r.log_close {
                    flags.insert(SessionFlags::LOG_CLOSE);
                }
                if r.count {
                    flags.insert(SessionFlags::COUNT);
                }
                (r.id, r.app, r.app_match.timeout_secs.filter(|t| *t != 0))
            }
            None => (PolicyRuleId::NONE, AppId::NONE, None),
        };
        if loose {
            flags.insert(SessionFlags::LOOSE_TCP);
        }
        let Some(reverse) = key_of(dst2, src2, dp2, sp2, p.proto) else {
            return drop(DropReason::MalformedIpv4);
        };
        let rg = ifc_rg(cfg, ingress)
            .or(eif.redundancy_group)
            .unwrap_or_default();
        let id = SessionId::compose(self.node, self.next_seq);
        self.next_seq += 1;
        let release = |m: &mut Self| {
            if let Some((t, mp)) = mapping
                && let Some(a) = m.allocators.get_mut(&t)
            {
                a.release(&mp);
            }
        };
        if key == reverse || self.find(&key).is_some() || self.find(&reverse).is_some() {
            release(self);
            return drop(DropReason::SessionConflict);
        }
        let mut evicted = None;
        if self.sessions.len() >= self.flow.session_capacity as usize {
            match self
                .sessions
                .iter()
                .enumerate()
                .filter(|(_, s)| s.embryonic)
                .min_by_key(|(_, s)| s.order)
            {
                Some((i, _)) => evicted = Some(i),
                None => {
                    release(self);
                    return drop(DropReason::SessionTableFull);
                }
            }
        }
        let tcp_state = tracker.map_or(TcpState::None, |t| t.state);
        let state = lifecycle(tcp_state, false);
        let sess = Sess {
            fwd: key,
            rev: reverse,
            id,
            state,
            tcp: tracker,
            flags,
            created: now,
            last_seen: now,
            timeout: timeout_for(&self.flow, p.proto, tcp_state, app_timeout),
            rule: rule_id,
            app,
            app_timeout,
            in_zone: zone,
            out_zone: to_zone,
            in_if: ingress,
            out_if: egress,
            nat_src,
            nat_dst,
            pool: pool_id,
            counters: [PacketCounters::default(); 2],
            rg,
            mapping,
            order: self.next_order,
            embryonic: unanswered(state, tcp_state),
        };
        self.next_order += 1;
        // The victim leaves before the new session is stored; its close is
        // reported after the insert.
        let victim = evicted.map(|i| self.sessions.remove(i));
        self.sessions.push(sess);
        if let Some(v) = victim {
            self.sessions.push(v);
            let last = self.sessions.len() - 1;
            self.close(last, CloseReason::Evicted, now);
        }
        let i = self.sessions.len() - 1;
        self.counters.add(BaseCounter::SessionsCreated, 1);
        let s = &mut self.sessions[i];
        s.counters[0].packets += 1;
        s.counters[0].bytes += p.l3_len as u64;
        let entry = s.entry();
        if flags.contains(SessionFlags::LOG_INIT) {
            let open = open_event(&entry);
            self.events.push(Event::SessionOpen(open));
        }
        self.delta(SessionDeltaReason::Open, entry);
        self.counters.policy(rule_id, p.l3_len);
        Self::rewrite(frame, p, src2, dst2, sp2, dp2);
        if src2 != src || dst2 != dst || sp2 != sp || dp2 != dp {
            self.counters.add(BaseCounter::NatTranslated, 1);
        }
        self.forward(cfg, p, frame, egress, seg, now, out)
    }

    #[allow(clippy::too_many_arguments)]
    fn forward(
        &mut self,
        cfg: &CompiledConfig,
        p: &mut Packet,
        frame: &mut Vec<u8>,
        egress: InterfaceId,
        seg: Option<Seg>,
        now: u64,
        out: &mut Vec<EmittedFrame>,
    ) -> Verdict {
        let drop = |reason| Verdict::Drop { reason };
        let Some(eif) = Self::interface(cfg, egress).cloned() else {
            return drop(DropReason::NoRoute);
        };
        if let Some(rg) = eif.redundancy_group
            && self.rg_inactive.contains(&rg)
        {
            return drop(DropReason::HaInactive);
        }
        let gateway = match Self::route(cfg, p.dst) {
            Some(Some((_, g))) => g,
            Some(None) => return drop(DropReason::RouteDiscard),
            None => return drop(DropReason::NoRoute),
        };
        let out_filter = match p.family {
            AddressFamily::Inet => eif.filter_output_v4,
            AddressFamily::Inet6 => eif.filter_output_v6,
        };
        if let Some(v) = self.filter(
            cfg,
            out_filter,
            FilterDirection::Output,
            egress,
            p,
            frame,
            now,
            out,
        ) {
            return v;
        }
        p.ttl -= 1;
        match p.family {
            AddressFamily::Inet => {
                frame[p.l3 + 8] = p.ttl;
                wire::fix_ipv4_header(frame, p.l3);
            }
            AddressFamily::Inet6 => frame[p.l3 + 7] = p.ttl,
        }
        if let (Some(mss), Some(seg), L4::Tcp { hlen, .. }) = (cfg.flow.tcp_mss, seg, &p.t)
            && seg.flags & tcp::SYN != 0
        {
            let mut changed = false;
            for at in wire::mss_offsets(frame, p.l4, *hlen) {
                let cur = u16::from_be_bytes([frame[at], frame[at + 1]]);
                if cur > mss {
                    frame[at..at + 2].copy_from_slice(&mss.to_be_bytes());
                    if p.fragment {
                        // The checksum covers other fragments' bytes.
                        let (old, new) = (cur.to_be_bytes(), mss.to_be_bytes());
                        wire::update_checksum(frame, p.l4 + 16, &old, &new, None);
                    }
                    changed = true;
                }
            }
            if changed {
                if !p.fragment {
                    wire::fix_l4(frame, p.family, p.src, p.dst, p.proto, p.l4, p.l3_end());
                }
                self.counters.add(BaseCounter::MssClamped, 1);
            }
        }
        let Some(mac) = cfg
            .forwarding
            .neighbours
            .iter()
            .find(|n| n.address == gateway)
            .map(|n| n.mac)
        else {
            return drop(DropReason::NoNeighbour);
        };
        frame[0..6].copy_from_slice(&mac.0);
        frame[6..12].copy_from_slice(&eif.mac.0);
        if p.vlan.is_some() {
            frame.drain(12..16);
        }
        if let Some(vid) = eif.vlan {
            let mut tag = vec![0x81, 0x00];
            tag.extend_from_slice(&vid.to_be_bytes());
            frame.splice(12..12, tag);
        }
        Verdict::Forward { egress }
    }

    fn do_apply(&mut self, config: &Config, now: u64) -> Result<ApplyResult, HarnessError> {
        let compiled = compile_with_previous(config, self.cfg.as_deref())?;
        let caps = model_capabilities();
        caps.check(&compiled)?;
        let mut allocators = BTreeMap::new();
        for pool in &compiled.nat.source_pools {
            let a = Allocator::for_pool(pool).ok_or_else(|| HarnessError::Unsupported {
                capability: "source-nat-pool".into(),
                reason: format!("pool {} cannot be laid out", pool.name),
            })?;
            allocators.insert(Target::Pool(pool.id), a);
        }
        // Carry live mappings over; a mapping the new pools cannot hold
        // closes its session.
        let mut orphaned = Vec::new();
        for s in &self.sessions {
            if let Some((target, m)) = s.mapping {
                if let Target::Interface(a) = target {
                    allocators
                        .entry(target)
                        .or_insert_with(|| Allocator::for_interface(a));
                }
                let ok = allocators.get_mut(&target).is_some_and(|a| a.install(&m));
                if !ok {
                    orphaned.push(s.id);
                }
            }
        }
        self.generation += 1;
        self.allocators = allocators;
        self.flow = compiled.flow.clone();
        self.counters.resize(&compiled);
        let compiled = Arc::new(compiled);
        self.cfg = Some(compiled.clone());
        self.filter_terms = vec![CounterValue::default(); compiled.filters.terms.len()];
        self.floods = compiled
            .zones
            .iter()
            .filter_map(|z| {
                let sc = compiled.screens.iter().find(|s| Some(s.id) == z.screen)?;
                let b = |t: Option<u32>| t.map(|t| Bucket::full(u64::from(t), u64::from(t), now));
                Some((
                    z.id,
                    [
                        b(sc.syn_flood_pps),
                        b(sc.icmp_flood_pps),
                        b(sc.udp_flood_pps),
                    ],
                ))
            })
            .collect();
        self.policers = compiled
            .filters
            .terms
            .iter()
            .map(|t| {
                let p = compiled
                    .filters
                    .policers
                    .iter()
                    .find(|p| Some(p.id) == t.policer)?;
                Some(TermPolicer {
                    committed: Bucket::full(p.cir_bytes, p.cbs_bytes, now),
                    peak: p
                        .pir_bytes
                        .zip(p.pbs_bytes)
                        .map(|(r, b)| Bucket::full(r, b, now)),
                })
            })
            .collect();
        for id in orphaned {
            if let Some(i) = self.sessions.iter().position(|s| s.id == id) {
                // Its mapping was never installed: forget it before closing.
                self.sessions[i].mapping = None;
                self.close(i, CloseReason::Policy, now);
            }
        }
        self.sched = ((now / SEC) as i64, Self::schedules_active(&compiled, now));
        self.rematch(&compiled, now);
        Ok(ApplyResult::from_compiled(&compiled, self.generation, caps))
    }

    /// A cluster-synced install (README, "Decisions"): the peer's entry
    /// wins. The same session (id and keys) is refreshed in place; a
    /// session holding the forward key is replaced (closed with
    /// `cluster-reconcile`); a reverse key held by another session, a NAT
    /// mapping that collides, or a full table without an embryonic
    /// session refuse the install with nothing changed.
    fn install_synced(&mut self, entry: &SessionEntry, now: u64) -> Result<(), &'static str> {
        if entry.is_reverse() {
            return Err("reverse entry");
        }
        let fwd = entry.key();
        let rev = entry.companion_key();
        let (src, _, sp, _) = parts(&fwd);
        let (_, rdst, _, rdp) = parts(&rev);
        let consistent = match entry {
            SessionEntry::V4 { key, value } => {
                xpf_runtime::SessionValue::reply_key(key, &value.nat) == value.reverse_key
            }
            SessionEntry::V6 { key, value } => {
                xpf_runtime::SessionValue::reply_key(key, &value.nat) == value.reverse_key
            }
        };
        if !consistent {
            return Err("reverse key does not follow the NAT translation");
        }
        if fwd == rev {
            return Err("equal keys");
        }
        let proto = proto_of(&fwd).0;
        // The record as the peer describes it.
        macro_rules! fields {
            ($val:expr) => {{
                let x = $val;
                (
                    (
                        x.timeout_secs,
                        x.last_seen_ns,
                        x.created_ns,
                        x.state,
                        x.tcp_state,
                    ),
                    (x.policy_rule, x.app, x.ingress_zone, x.egress_zone),
                    (x.ingress_interface, x.egress_interface),
                    (x.nat_rule_src, x.nat_rule_dst, x.nat_pool),
                    ([x.fwd, x.rev], x.owner_rg, x.flags),
                )
            }};
        }
        let (
            (timeout, last_seen, created, value_state, value_tcp),
            (rule, app, in_zone, out_zone),
            (in_if, out_if),
            (nat_src, nat_dst, pool),
            (counters, rg, flags),
        ) = match entry {
            SessionEntry::V4 { value, .. } => fields!(value),
            SessionEntry::V6 { value, .. } => fields!(value),
        };
        let (state, tcp_state, tcp) = if proto == wire::TCP {
            let t = Tracker::synced(value_tcp);
            (lifecycle(t.state, true), t.state, Some(t))
        } else {
            (value_state, TcpState::None, None)
        };
        let last_seen = last_seen.min(now);
        let created = created.min(last_seen);
        let fresh = Sess {
            fwd,
            rev,
            id: entry.session_id(),
            state,
            tcp,
            flags: flags | SessionFlags::CLUSTER_SYNCED,
            created,
            last_seen,
            timeout,
            rule,
            app,
            app_timeout: None,
            in_zone,
            out_zone,
            in_if,
            out_if,
            nat_src,
            nat_dst,
            pool,
            counters,
            rg,
            mapping: None,
            order: 0,
            embryonic: unanswered(state, tcp_state),
        };
        let holder = self.find(&fwd).map(|(i, _)| i);
        if let Some((j, _)) = self.find(&rev)
            && Some(j) != holder
        {
            return Err("reverse key held by another session");
        }
        if let Some(i) = holder {
            let old = &self.sessions[i];
            if old.id == fresh.id && old.fwd == fwd && old.rev == rev {
                let order = if !old.embryonic && fresh.embryonic {
                    self.next_order += 1;
                    self.next_order - 1
                } else {
                    old.order
                };
                let embryonic = fresh.embryonic;
                let s = &mut self.sessions[i];
                *s = Sess {
                    last_seen: fresh.last_seen.max(s.last_seen),
                    mapping: s.mapping,
                    order,
                    embryonic,
                    ..fresh
                };
                return Ok(());
            }
        }
        // The source NAT mapping the entry records.
        let mapping = flags.contains(SessionFlags::SNAT).then(|| {
            let target = if pool.is_none() {
                Target::Interface(rdst)
            } else {
                Target::Pool(pool)
            };
            (
                target,
                Mapping {
                    proto,
                    src,
                    sport: sp,
                    public: rdst,
                    public_port: rdp,
                },
            )
        });
        let held = holder.and_then(|i| self.sessions[i].mapping);
        if let Some((t, m)) = held
            && let Some(a) = self.allocators.get_mut(&t)
        {
            a.release(&m);
        }
        let restore = |model: &mut Self| {
            if let Some((t, m)) = held
                && let Some(a) = model.allocators.get_mut(&t)
            {
                a.install(&m);
            }
        };
        if let Some((t, m)) = mapping {
            if let Target::Interface(a) = t {
                self.allocators
                    .entry(t)
                    .or_insert_with(|| Allocator::for_interface(a));
            }
            if !self.allocators.get_mut(&t).is_some_and(|a| a.install(&m)) {
                restore(self);
                return Err("source NAT mapping collides or is not the pool's");
            }
        }
        // The same session (id and forward key) under another reply key:
        // the peer's newer version replaces it silently (README,
        // "Decisions": no close, no delta, not counted as created).
        let rekeyed = holder.is_some_and(|i| {
            let old = &self.sessions[i];
            old.id == fresh.id && old.fwd == fwd
        });
        if let Some(i) = holder {
            // Its mapping was released above.
            self.sessions[i].mapping = None;
            if rekeyed {
                self.sessions.remove(i);
            } else {
                self.close(i, CloseReason::ClusterReconcile, now);
            }
        }
        let mut victim = None;
        if self.sessions.len() >= self.flow.session_capacity as usize {
            match self
                .sessions
                .iter()
                .enumerate()
                .filter(|(_, s)| s.embryonic)
                .min_by_key(|(_, s)| s.order)
            {
                Some((i, _)) => victim = Some(i),
                None => {
                    if let Some((t, m)) = mapping
                        && let Some(a) = self.allocators.get_mut(&t)
                    {
                        a.release(&m);
                    }
                    return Err("session table full");
                }
            }
        }
        if let Some(i) = victim {
            self.close(i, CloseReason::Evicted, now);
        }
        self.sessions.push(Sess {
            mapping,
            order: self.next_order,
            ..fresh
        });
        self.next_order += 1;
        if !rekeyed {
            self.counters.add(BaseCounter::SessionsCreated, 1);
        }
        Ok(())
    }

    fn rematch(&mut self, cfg: &CompiledConfig, now: u64) {
        let mut doomed = Vec::new();
        for s in &self.sessions {
            if s.flags.contains(SessionFlags::CLUSTER_SYNCED)
                || s.flags.contains(SessionFlags::LOCAL)
            {
                continue;
            }
            let (src, _, sp, _) = parts(&s.fwd);
            let (dst, _, dp, _) = parts(&s.rev);
            let proto = proto_of(&s.fwd).0;
            let icmp = is_icmp(proto).then_some((if src.is_ipv4() { 8 } else { 128 }, 0));
            let d = self.policy(
                cfg, s.in_zone, s.out_zone, src, dst, proto, sp, dp, icmp, now,
            );
            if d.action != PolicyAction::Permit {
                doomed.push(s.id);
            }
        }
        for id in doomed {
            if let Some(i) = self.sessions.iter().position(|s| s.id == id) {
                self.close(i, CloseReason::Policy, now);
            }
        }
    }
}

fn ifc_rg(cfg: &CompiledConfig, id: InterfaceId) -> Option<RedundancyGroupId> {
    cfg.interfaces
        .iter()
        .find(|i| i.id == id)
        .and_then(|i| i.redundancy_group)
}

impl Harness for Model {
    fn name(&self) -> &str {
        "model"
    }

    fn capabilities(&self) -> Capabilities {
        model_capabilities()
    }

    fn apply(&mut self, config: &Config, now_ns: u64) -> Result<ApplyResult, HarnessError> {
        self.expire(now_ns);
        self.do_apply(config, now_ns)
    }

    fn inject(&mut self, ingress: InterfaceId, frame: &[u8], now_ns: u64) -> Outcome {
        self.expire(now_ns);
        let mut f = frame.to_vec();
        let mut generated = Vec::new();
        let verdict = self.process(now_ns, ingress, &mut f, &mut generated);
        let c = &mut self.counters;
        match verdict {
            Verdict::Forward { egress } => {
                c.add(BaseCounter::Forwarded, 1);
                if let Some(i) = c.iface(egress) {
                    i.tx.packets += 1;
                    i.tx.bytes += f.len() as u64;
                }
                let zone = self
                    .cfg
                    .as_ref()
                    .and_then(|cfg| Self::interface(cfg, egress))
                    .map(|i| i.zone);
                if let Some(z) = zone.and_then(|z| c.zone(z)) {
                    z.egress.packets += 1;
                    z.egress.bytes += f.len() as u64;
                }
            }
            Verdict::Local => c.add(BaseCounter::LocalDelivered, 1),
            Verdict::Drop { reason } => {
                c.drop(reason);
                if let Some(i) = c.iface(ingress) {
                    i.rx_dropped += 1;
                }
                let zone = self
                    .cfg
                    .as_ref()
                    .and_then(|cfg| Self::interface(cfg, ingress))
                    .map(|i| i.zone);
                if let Some(z) = zone.and_then(|z| c.zone(z)) {
                    z.dropped += 1;
                }
            }
        }
        Outcome {
            verdict,
            forwarded: matches!(verdict, Verdict::Forward { .. }).then_some(f),
            generated,
        }
    }

    fn advance(&mut self, now_ns: u64) {
        self.expire(now_ns);
    }

    fn sessions(&self) -> Vec<SessionEntry> {
        let mut v: Vec<SessionEntry> = self
            .sessions
            .iter()
            .flat_map(|s| {
                let f = s.entry();
                [f, xpf_dataplane::session_store::reverse_entry(&f)]
            })
            .collect();
        v.sort_by_key(|e| e.key());
        v
    }

    fn counters(&self) -> CounterSnapshot {
        let c = &self.counters;
        let mut snap = CounterSnapshot {
            global: c.global.clone(),
            interfaces: c.interfaces.clone(),
            zones: c.zones.clone(),
            policies: c.policies.clone(),
            nat_rules: c.nat.clone(),
        };
        snap.canonicalize();
        snap
    }

    fn filter_term_counters(&self) -> Option<BTreeMap<FilterTermId, CounterValue>> {
        let cfg = self.cfg.as_ref()?;
        Some(
            cfg.filters
                .terms
                .iter()
                .zip(&self.filter_terms)
                .filter(|(_, c)| **c != CounterValue::default())
                .map(|(t, c)| (t.id, *c))
                .collect(),
        )
    }

    fn drain_events(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.events)
    }

    fn drain_deltas(&mut self) -> Vec<SessionDelta> {
        std::mem::take(&mut self.deltas)
    }

    fn set_redundancy_group(
        &mut self,
        rg: RedundancyGroupId,
        active: bool,
        now_ns: u64,
    ) -> Result<(), HarnessError> {
        self.expire(now_ns);
        self.rg_inactive.retain(|g| *g != rg);
        if !active {
            self.rg_inactive.push(rg);
        }
        Ok(())
    }

    fn delete_known(
        &mut self,
        entry: &SessionEntry,
        reason: CloseReason,
        now_ns: u64,
    ) -> Result<bool, HarnessError> {
        self.expire(now_ns);
        if entry.is_reverse() {
            return Err(HarnessError::Unsupported {
                capability: "delete-known-reverse".into(),
                reason: "sessions are stored as pairs; a reverse entry is removed with its forward entry".into(),
            });
        }
        let key = entry.key();
        let Some(i) = self
            .sessions
            .iter()
            .position(|s| s.fwd == key && s.id == entry.session_id())
        else {
            return Ok(false);
        };
        self.close(i, reason, now_ns);
        Ok(true)
    }

    fn delete_with_companions(
        &mut self,
        key: &AnySessionKey,
        reason: CloseReason,
        now_ns: u64,
    ) -> Result<CompanionDeleteResult, HarnessError> {
        self.expire(now_ns);
        match self.find(key) {
            Some((i, _)) => {
                self.close(i, reason, now_ns);
                Ok(CompanionDeleteResult {
                    forward: true,
                    reverse: true,
                    nat_companions: 0,
                })
            }
            None => Ok(CompanionDeleteResult::default()),
        }
    }

    fn reconcile_cluster_bulk(
        &mut self,
        input: &ReconcileInput,
        reason: CloseReason,
        now_ns: u64,
    ) -> Result<ReconcileSummary, HarnessError> {
        self.expire(now_ns);
        let stale: Vec<SessionId> = self
            .sessions
            .iter()
            .filter(|s| {
                !input.synced_zones.contains(&s.in_zone) && !input.received.contains(&s.fwd)
            })
            .map(|s| s.id)
            .collect();
        let mut summary = ReconcileSummary {
            stale: stale.len(),
            ..Default::default()
        };
        for id in stale {
            if let Some(i) = self.sessions.iter().position(|s| s.id == id) {
                self.close(i, reason, now_ns);
                summary.deleted += 1;
            }
        }
        Ok(summary)
    }

    fn put_cluster_synced(&mut self, entry: SessionEntry, now_ns: u64) -> Result<(), HarnessError> {
        self.expire(now_ns);
        self.install_synced(&entry, now_ns)
            .map_err(|message| HarnessError::Backend {
                backend: "model".into(),
                message: message.into(),
            })
    }
}
