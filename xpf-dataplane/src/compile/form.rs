//! The compiled form: the backend-neutral, numeric representation of a
//! validated config, and the single source of truth for semantics.
//!
//! Backends lower this (into BPF maps, into engine tables); they never look
//! at the raw [`Config`](crate::Config). Everything here is resolved: names
//! are ids, address references are normalised prefix lists, applications are
//! expanded into one policy rule per application term, defaults are filled
//! in, and evaluation order is explicit (rule vectors plus spans).

use super::ids::IdRegistry;
use crate::config::{
    DefaultPolicy, FilterAction, HostProtocol, HostService, MacAddr, PolicyAction, PortOverload,
    PortRange, TcpWindowCheck,
};
use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use serde::{Deserialize, Serialize};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;
use xpf_runtime::{
    AddressFamily, AddressSetId, AppId, FilterId, FilterTermId, InterfaceId, IpProtocol, NatPoolId,
    NatRuleId, PolicerId, PolicyRuleId, RedundancyGroupId, ScheduleSlot, ScreenProfileId, ZoneId,
};

/// A contiguous run of entries in an ordered vector: `start..start + count`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Span {
    /// First index.
    pub start: u32,
    /// Number of entries.
    pub count: u32,
}

impl Span {
    /// The index range.
    pub fn range(&self) -> std::ops::Range<usize> {
        self.start as usize..(self.start + self.count) as usize
    }
}

/// A compiled config.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CompiledConfig {
    /// System settings.
    pub system: CompiledSystem,
    /// Zones, sorted by id.
    pub zones: Vec<CompiledZone>,
    /// Interfaces, sorted by id.
    pub interfaces: Vec<CompiledInterface>,
    /// Address sets referenced by policies, sorted by id.
    pub address_sets: Vec<CompiledAddressSet>,
    /// Applications (every predefined one plus custom ones), sorted by id.
    pub applications: Vec<CompiledApplication>,
    /// Schedulers referenced by policies, sorted by slot.
    pub schedules: Vec<CompiledSchedule>,
    /// Security policies.
    pub policies: CompiledPolicies,
    /// NAT.
    pub nat: CompiledNat,
    /// Screen profiles, sorted by id.
    pub screens: Vec<CompiledScreen>,
    /// Filters, terms and policers.
    pub filters: CompiledFilters,
    /// Flow options with defaults filled in.
    pub flow: CompiledFlow,
    /// Routes and neighbours.
    pub forwarding: CompiledForwarding,
    /// HA settings.
    pub ha: Option<CompiledHa>,
    /// Stable-id registry, fed to the next compile.
    pub ids: IdRegistry,
}

/// System settings.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompiledSystem {
    /// Host name for log lines.
    pub host_name: String,
    /// Local time offset, seconds.
    pub utc_offset_secs: i32,
}

/// A zone.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompiledZone {
    /// Id.
    pub id: ZoneId,
    /// Name.
    pub name: String,
    /// Screen profile.
    pub screen: Option<ScreenProfileId>,
    /// Host-inbound services, expanded (`all` → every service).
    pub host_services: Vec<HostService>,
    /// Host-inbound protocols, expanded.
    pub host_protocols: Vec<HostProtocol>,
    /// Reply to unmatched non-SYN TCP with RST.
    pub tcp_rst: bool,
    /// TCP window checking mode.
    pub tcp_window_check: TcpWindowCheck,
}

/// An interface.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompiledInterface {
    /// Id.
    pub id: InterfaceId,
    /// Name.
    pub name: String,
    /// Zone.
    pub zone: ZoneId,
    /// MAC address (zero when not configured: the backend fills in the device's).
    pub mac: MacAddr,
    /// Addresses with prefix length.
    pub addresses: Vec<IpNet>,
    /// VLAN id.
    pub vlan: Option<u16>,
    /// L3 MTU.
    pub mtu: u16,
    /// Input filter for IPv4.
    pub filter_input_v4: Option<FilterId>,
    /// Output filter for IPv4.
    pub filter_output_v4: Option<FilterId>,
    /// Input filter for IPv6.
    pub filter_input_v6: Option<FilterId>,
    /// Output filter for IPv6.
    pub filter_output_v6: Option<FilterId>,
    /// Owning redundancy group.
    pub redundancy_group: Option<RedundancyGroupId>,
}

impl CompiledInterface {
    /// The first address of `family`, used for interface source NAT and for
    /// ICMP errors the firewall originates.
    pub fn primary_address(&self, family: AddressFamily) -> Option<IpAddr> {
        self.addresses
            .iter()
            .map(|n| n.addr())
            .find(|a| match family {
                AddressFamily::Inet => a.is_ipv4(),
                AddressFamily::Inet6 => a.is_ipv6(),
            })
    }
}

/// A normalised address set: sorted, merged, non-overlapping prefixes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompiledAddressSet {
    /// Id.
    pub id: AddressSetId,
    /// Canonical key (`any`, `global/web`, `zone:trust/web`, or several joined by `+`).
    pub key: String,
    /// IPv4 prefixes.
    pub v4: Vec<Ipv4Net>,
    /// IPv6 prefixes.
    pub v6: Vec<Ipv6Net>,
}

impl CompiledAddressSet {
    /// Linear-scan membership test (the reference semantics; backends use LPM structures).
    pub fn contains(&self, addr: IpAddr) -> bool {
        match addr {
            IpAddr::V4(a) => self.v4.iter().any(|n| n.contains(&a)),
            IpAddr::V6(a) => self.v6.iter().any(|n| n.contains(&a)),
        }
    }

    /// Total prefixes.
    pub fn len(&self) -> usize {
        self.v4.len() + self.v6.len()
    }

    /// True when the set matches nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// An application.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompiledApplication {
    /// Id.
    pub id: AppId,
    /// Name.
    pub name: String,
    /// True for `junos-*`.
    pub predefined: bool,
    /// Terms (any matches).
    pub terms: Vec<AppMatch>,
}

/// One application term's match, with its resolved timeout.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct AppMatch {
    /// Term name.
    pub term: Arc<str>,
    /// Protocol; `None` matches every protocol (`any`).
    pub protocol: Option<IpProtocol>,
    /// Source ports (TCP/UDP/SCTP only).
    pub source_ports: PortRange,
    /// Destination ports (TCP/UDP/SCTP only).
    pub destination_ports: PortRange,
    /// ICMP type.
    pub icmp_type: Option<u8>,
    /// ICMP code.
    pub icmp_code: Option<u8>,
    /// Inactivity timeout override, seconds.
    pub timeout_secs: Option<u32>,
}

impl AppMatch {
    /// The match-everything term of the `any` application.
    pub fn any() -> Self {
        Self {
            term: Arc::from("any"),
            protocol: None,
            source_ports: PortRange::ANY,
            destination_ports: PortRange::ANY,
            icmp_type: None,
            icmp_code: None,
            timeout_secs: None,
        }
    }

    /// Reference semantics: does a first packet with this protocol, ports
    /// (ICMP: ignored) and ICMP type/code match?
    pub fn matches(
        &self,
        protocol: IpProtocol,
        src_port: u16,
        dst_port: u16,
        icmp: Option<(u8, u8)>,
    ) -> bool {
        let Some(p) = self.protocol else {
            return true;
        };
        if p != protocol {
            return false;
        }
        if p.has_ports() {
            return self.source_ports.contains(src_port)
                && self.destination_ports.contains(dst_port);
        }
        if p.is_icmp() {
            let (t, c) = icmp.unwrap_or((0, 0));
            return self.icmp_type.is_none_or(|x| x == t) && self.icmp_code.is_none_or(|x| x == c);
        }
        true
    }
}

/// A scheduler compiled to absolute date ranges and minute-of-week windows.
///
/// Active at local time `t` iff (`date_ranges` is empty or some range
/// contains `t`) and (`week_windows` is empty or some window contains the
/// minute of the week of `t`). Local time = UTC + `utc_offset_secs`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompiledSchedule {
    /// Slot.
    pub slot: ScheduleSlot,
    /// Scheduler name.
    pub name: String,
    /// `[start, stop)` in local seconds since the epoch.
    pub date_ranges: Vec<(i64, i64)>,
    /// `[start, stop)` in minutes since Monday 00:00, `stop <= 10080`.
    /// Windows crossing midnight or the week end are split.
    pub week_windows: Vec<(u16, u16)>,
}

impl CompiledSchedule {
    /// Minutes in a week.
    pub const WEEK_MINUTES: u16 = 7 * 24 * 60;

    /// Is the schedule active at `unix_secs` (UTC) given the offset?
    pub fn is_active(&self, unix_secs: i64, utc_offset_secs: i32) -> bool {
        let local = unix_secs + i64::from(utc_offset_secs);
        let in_dates = self.date_ranges.is_empty()
            || self
                .date_ranges
                .iter()
                .any(|&(a, b)| a <= local && local < b);
        if !in_dates {
            return false;
        }
        if self.week_windows.is_empty() {
            return true;
        }
        // 1970-01-01 was a Thursday: day 3 counting from Monday = 0.
        let days = local.div_euclid(86_400);
        let weekday = (days + 3).rem_euclid(7);
        let minute = weekday * 1440 + local.rem_euclid(86_400) / 60;
        let minute = minute as u16;
        self.week_windows
            .iter()
            .any(|&(a, b)| a <= minute && minute < b)
    }
}

/// Compiled security policies.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompiledPolicies {
    /// Every rule in evaluation order: each zone pair's rules contiguously
    /// (in the order zone pairs appear in the config), then global rules.
    pub rules: Vec<CompiledRule>,
    /// Zone-pair spans into `rules`.
    pub zone_pairs: Vec<ZonePairSpan>,
    /// Global rules' span into `rules`.
    pub global: Span,
    /// Action when nothing matches.
    pub default_action: DefaultPolicy,
}

impl CompiledPolicies {
    /// The span of a zone pair's rules (empty if none).
    pub fn zone_pair(&self, from: ZoneId, to: ZoneId) -> Span {
        self.zone_pairs
            .iter()
            .find(|p| p.from == from && p.to == to)
            .map(|p| p.span)
            .unwrap_or_default()
    }
}

/// The rules of one zone pair.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ZonePairSpan {
    /// From zone.
    pub from: ZoneId,
    /// To zone.
    pub to: ZoneId,
    /// Span into [`CompiledPolicies::rules`].
    pub span: Span,
}

/// Where a rule came from.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RuleScope {
    /// A zone-pair policy.
    ZonePair {
        /// From zone name.
        from: String,
        /// To zone name.
        to: String,
    },
    /// A global policy.
    Global,
}

impl std::fmt::Display for RuleScope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::ZonePair { from, to } => write!(f, "{from}->{to}"),
            Self::Global => f.write_str("global"),
        }
    }
}

/// One policy rule: a policy restricted to one application term.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompiledRule {
    /// Stable id.
    pub id: PolicyRuleId,
    /// Policy name (shared by the rules the policy expands to).
    pub policy: Arc<str>,
    /// Scope.
    pub scope: Arc<RuleScope>,
    /// From zones (empty = any; global policies only).
    pub from_zones: Arc<[ZoneId]>,
    /// To zones (empty = any; global policies only).
    pub to_zones: Arc<[ZoneId]>,
    /// Source address set.
    pub source: AddressSetId,
    /// Negate the source match.
    pub source_negate: bool,
    /// Destination address set.
    pub destination: AddressSetId,
    /// Negate the destination match.
    pub destination_negate: bool,
    /// Application ([`AppId::NONE`] for `any`).
    pub app: AppId,
    /// The application term this rule matches.
    pub app_match: AppMatch,
    /// Action.
    pub action: PolicyAction,
    /// Log at session init (and on deny).
    pub log_init: bool,
    /// Log at session close.
    pub log_close: bool,
    /// Count per rule.
    pub count: bool,
    /// Scheduler gating the rule.
    pub schedule: Option<ScheduleSlot>,
}

/// Compiled NAT.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompiledNat {
    /// Source pools.
    pub source_pools: Vec<CompiledSourcePool>,
    /// Source rules in evaluation order (rule sets in config order).
    pub source_rules: Vec<CompiledSourceRule>,
    /// Destination pools.
    pub destination_pools: Vec<CompiledDestinationPool>,
    /// Destination rules in evaluation order.
    pub destination_rules: Vec<CompiledDestinationRule>,
    /// Static rules in evaluation order.
    pub static_rules: Vec<CompiledStaticRule>,
}

/// Where a NAT rule applies: any of the zones or interfaces (empty = any).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompiledNatContext {
    /// Zones.
    pub zones: Vec<ZoneId>,
    /// Interfaces.
    pub interfaces: Vec<InterfaceId>,
}

impl CompiledNatContext {
    /// Does a packet on `interface` in `zone` fall in this context?
    pub fn matches(&self, zone: ZoneId, interface: InterfaceId) -> bool {
        (self.zones.is_empty() && self.interfaces.is_empty())
            || self.zones.contains(&zone)
            || self.interfaces.contains(&interface)
    }
}

/// NAT match conditions (empty = any).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompiledNatMatch {
    /// Source prefixes.
    pub source: Vec<IpNet>,
    /// Destination prefixes.
    pub destination: Vec<IpNet>,
    /// Source ports.
    pub source_ports: Vec<PortRange>,
    /// Destination ports.
    pub destination_ports: Vec<PortRange>,
    /// Protocols.
    pub protocols: Vec<IpProtocol>,
}

impl CompiledNatMatch {
    /// Reference semantics.
    pub fn matches(
        &self,
        src: IpAddr,
        dst: IpAddr,
        protocol: IpProtocol,
        src_port: u16,
        dst_port: u16,
    ) -> bool {
        let in_nets =
            |nets: &[IpNet], a: IpAddr| nets.is_empty() || nets.iter().any(|n| n.contains(&a));
        let in_ports = |rs: &[PortRange], p: u16| {
            rs.is_empty() || (protocol.has_ports() && rs.iter().any(|r| r.contains(p)))
        };
        in_nets(&self.source, src)
            && in_nets(&self.destination, dst)
            && (self.protocols.is_empty() || self.protocols.contains(&protocol))
            && in_ports(&self.source_ports, src_port)
            && in_ports(&self.destination_ports, dst_port)
    }
}

/// A source NAT pool.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompiledSourcePool {
    /// Id.
    pub id: NatPoolId,
    /// Name.
    pub name: String,
    /// Family.
    pub family: AddressFamily,
    /// Inclusive address ranges, sorted, non-overlapping.
    pub ranges: Vec<(IpAddr, IpAddr)>,
    /// Total addresses.
    pub address_count: u128,
    /// Port range (ignored when `port_overload` is off).
    pub port_range: PortRange,
    /// Port overloading.
    pub port_overload: PortOverload,
    /// Persistent NAT.
    pub persistent: bool,
    /// Address persistence.
    pub address_persistent: bool,
}

/// What a source rule does.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CompiledSourceAction {
    /// Egress interface address.
    Interface,
    /// A pool.
    Pool(NatPoolId),
    /// No translation.
    Off,
}

/// A source NAT rule.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompiledSourceRule {
    /// Counter id.
    pub id: NatRuleId,
    /// `rule-set/rule`.
    pub name: String,
    /// Ingress context.
    pub from: CompiledNatContext,
    /// Egress context.
    pub to: CompiledNatContext,
    /// Match.
    pub matches: CompiledNatMatch,
    /// Action.
    pub action: CompiledSourceAction,
}

/// A destination NAT pool.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompiledDestinationPool {
    /// Id.
    pub id: NatPoolId,
    /// Name.
    pub name: String,
    /// Translated address.
    pub address: IpAddr,
    /// Translated port.
    pub port: Option<u16>,
}

/// A destination NAT rule.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompiledDestinationRule {
    /// Counter id.
    pub id: NatRuleId,
    /// `rule-set/rule`.
    pub name: String,
    /// Ingress context.
    pub from: CompiledNatContext,
    /// Match.
    pub matches: CompiledNatMatch,
    /// Pool, or `None` for `off`.
    pub pool: Option<NatPoolId>,
}

/// A static NAT rule.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompiledStaticRule {
    /// Counter id.
    pub id: NatRuleId,
    /// `rule-set/rule`.
    pub name: String,
    /// Ingress context of the inbound direction.
    pub from: CompiledNatContext,
    /// Public prefix.
    pub public: IpNet,
    /// Private prefix (same family and length).
    pub private: IpNet,
}

impl CompiledStaticRule {
    /// Maps a public address to its private address (host bits preserved).
    pub fn to_private(&self, addr: IpAddr) -> Option<IpAddr> {
        map_prefix(addr, &self.public, &self.private)
    }

    /// Maps a private address to its public address.
    pub fn to_public(&self, addr: IpAddr) -> Option<IpAddr> {
        map_prefix(addr, &self.private, &self.public)
    }
}

fn map_prefix(addr: IpAddr, from: &IpNet, to: &IpNet) -> Option<IpAddr> {
    if !from.contains(&addr) {
        return None;
    }
    match (addr, from, to) {
        (IpAddr::V4(a), IpNet::V4(f), IpNet::V4(t)) => {
            let host = u32::from(a) & u32::from(f.hostmask());
            Some(IpAddr::V4(Ipv4Addr::from(u32::from(t.network()) | host)))
        }
        (IpAddr::V6(a), IpNet::V6(f), IpNet::V6(t)) => {
            let host = u128::from(a) & u128::from(f.hostmask());
            Some(IpAddr::V6(Ipv6Addr::from(u128::from(t.network()) | host)))
        }
        _ => None,
    }
}

/// A screen profile with thresholds resolved.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompiledScreen {
    /// Id.
    pub id: ScreenProfileId,
    /// Name.
    pub name: String,
    /// Land.
    pub land: bool,
    /// SYN+FIN.
    pub syn_fin: bool,
    /// No flags.
    pub tcp_no_flag: bool,
    /// FIN without ACK.
    pub fin_no_ack: bool,
    /// WinNuke.
    pub winnuke: bool,
    /// SYN fragment.
    pub syn_frag: bool,
    /// Ping of death.
    pub ping_death: bool,
    /// Teardrop.
    pub tear_drop: bool,
    /// Source route.
    pub source_route: bool,
    /// SYN flood, pps.
    pub syn_flood_pps: Option<u32>,
    /// ICMP flood, pps.
    pub icmp_flood_pps: Option<u32>,
    /// UDP flood, pps.
    pub udp_flood_pps: Option<u32>,
    /// Per-source session limit.
    pub source_session_limit: Option<u32>,
    /// Per-destination session limit.
    pub destination_session_limit: Option<u32>,
}

/// Filters, their terms and policers.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompiledFilters {
    /// Filters, sorted by id.
    pub filters: Vec<CompiledFilter>,
    /// Every term of every filter, each filter's terms contiguous.
    pub terms: Vec<CompiledTerm>,
    /// Policers, sorted by id.
    pub policers: Vec<CompiledPolicer>,
}

/// A filter.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompiledFilter {
    /// Id.
    pub id: FilterId,
    /// Name.
    pub name: String,
    /// Family.
    pub family: AddressFamily,
    /// Span into [`CompiledFilters::terms`].
    pub span: Span,
}

/// A filter term.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompiledTerm {
    /// Id (index into the term array + 1).
    pub id: FilterTermId,
    /// Owning filter.
    pub filter: FilterId,
    /// Term name.
    pub name: String,
    /// Source prefixes.
    pub source: Vec<IpNet>,
    /// Destination prefixes.
    pub destination: Vec<IpNet>,
    /// Protocols.
    pub protocols: Vec<IpProtocol>,
    /// Source ports.
    pub source_ports: Vec<PortRange>,
    /// Destination ports.
    pub destination_ports: Vec<PortRange>,
    /// TCP flags alternatives `(mask, value)`.
    pub tcp_flags: Vec<(u8, u8)>,
    /// DSCP values.
    pub dscp: Vec<u8>,
    /// ICMP types.
    pub icmp_types: Vec<u8>,
    /// Terminating action (`accept` when the config gives none; `next-term` continues).
    pub action: FilterAction,
    /// Counter name.
    pub count: Option<String>,
    /// Log.
    pub log: bool,
    /// Policer.
    pub policer: Option<PolicerId>,
}

/// A policer with rates in bytes per second.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompiledPolicer {
    /// Id.
    pub id: PolicerId,
    /// Name.
    pub name: String,
    /// Committed rate, bytes/s.
    pub cir_bytes: u64,
    /// Committed burst, bytes.
    pub cbs_bytes: u64,
    /// Peak rate, bytes/s (two-rate only).
    pub pir_bytes: Option<u64>,
    /// Peak burst, bytes (two-rate only).
    pub pbs_bytes: Option<u64>,
}

/// Flow options with defaults resolved.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompiledFlow {
    /// TCP before established, s.
    pub tcp_initial_secs: u32,
    /// Established TCP, s.
    pub tcp_established_secs: u32,
    /// TCP closing, s.
    pub tcp_closing_secs: u32,
    /// TCP time-wait / after RST, s.
    pub tcp_time_wait_secs: u32,
    /// UDP, s.
    pub udp_secs: u32,
    /// ICMP, s.
    pub icmp_secs: u32,
    /// Other protocols, s.
    pub other_secs: u32,
    /// MSS clamp.
    pub tcp_mss: Option<u16>,
    /// Session capacity.
    pub session_capacity: u32,
}

impl Default for CompiledFlow {
    fn default() -> Self {
        Self {
            tcp_initial_secs: 20,
            tcp_established_secs: 1800,
            tcp_closing_secs: 240,
            tcp_time_wait_secs: 2,
            udp_secs: 60,
            icmp_secs: 60,
            other_secs: 60,
            tcp_mss: None,
            session_capacity: 1 << 20,
        }
    }
}

/// Routes and neighbours.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompiledForwarding {
    /// Routes sorted by descending prefix length, then address.
    pub routes: Vec<CompiledRoute>,
    /// Neighbours sorted by address.
    pub neighbours: Vec<CompiledNeighbour>,
}

/// A route.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompiledRoute {
    /// Destination.
    pub destination: IpNet,
    /// What to do.
    pub target: RouteTarget,
}

/// A route's target.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RouteTarget {
    /// Forward to a next hop out of an interface.
    NextHop {
        /// Next-hop address.
        gateway: IpAddr,
        /// Egress interface.
        interface: InterfaceId,
    },
    /// Directly connected: the destination address is the next hop.
    Connected {
        /// Egress interface.
        interface: InterfaceId,
    },
    /// Drop.
    Discard,
}

/// A neighbour.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompiledNeighbour {
    /// Address.
    pub address: IpAddr,
    /// MAC.
    pub mac: MacAddr,
    /// Interface.
    pub interface: InterfaceId,
}

/// HA settings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompiledHa {
    /// This node.
    pub node_id: u8,
    /// Redundancy groups.
    pub redundancy_groups: Vec<CompiledRedundancyGroup>,
    /// Fabric links.
    pub fabric_links: Vec<CompiledFabricLink>,
    /// Heartbeat interval, ms.
    pub heartbeat_interval_ms: u32,
    /// Missed heartbeats before failover.
    pub heartbeat_threshold: u32,
}

/// A redundancy group.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompiledRedundancyGroup {
    /// Id.
    pub id: RedundancyGroupId,
    /// This node's priority.
    pub local_priority: u8,
    /// The peer's priority.
    pub peer_priority: u8,
    /// Preempt.
    pub preempt: bool,
}

/// A fabric link.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompiledFabricLink {
    /// Fabric id.
    pub id: u8,
    /// Interface name (fabric interfaces are not managed dataplane interfaces).
    pub interface: String,
    /// Local sync address.
    pub local_address: Option<IpAddr>,
    /// Peer sync address.
    pub peer_address: Option<IpAddr>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-11-23 (a Monday) at `h:m` UTC, in Unix seconds.
    fn monday(h: i64, m: i64) -> i64 {
        1_795_392_000 + h * 3600 + m * 60
    }

    #[test]
    fn weekly_windows_follow_the_local_clock() {
        // Monday 08:00-18:00 in minutes of the week.
        let s = CompiledSchedule {
            slot: ScheduleSlot(1),
            name: "office".into(),
            date_ranges: vec![],
            week_windows: vec![(480, 1080)],
        };
        assert!(!s.is_active(monday(7, 59), 0));
        assert!(s.is_active(monday(8, 0), 0));
        assert!(s.is_active(monday(17, 59), 0));
        assert!(!s.is_active(monday(18, 0), 0), "stop is exclusive");
        // UTC+1: 07:30 UTC is 08:30 local.
        assert!(s.is_active(monday(7, 30), 3600));
        // The same time a week later is active again; a day later is not.
        assert!(s.is_active(monday(9, 0) + 7 * 86_400, 0));
        assert!(!s.is_active(monday(9, 0) + 86_400, 0));
    }

    #[test]
    fn date_ranges_and_windows_must_both_hold() {
        let s = CompiledSchedule {
            slot: ScheduleSlot(1),
            name: "x".into(),
            date_ranges: vec![(monday(0, 0), monday(0, 0) + 86_400)],
            week_windows: vec![(600, 660)],
        };
        assert!(s.is_active(monday(10, 30), 0));
        assert!(!s.is_active(monday(11, 30), 0), "outside the window");
        assert!(
            !s.is_active(monday(10, 30) + 7 * 86_400, 0),
            "outside the dates"
        );
    }

    #[test]
    fn static_nat_maps_host_bits_both_ways() {
        let r = CompiledStaticRule {
            id: NatRuleId(1),
            name: "rs/r".into(),
            from: CompiledNatContext::default(),
            public: "198.19.0.32/28".parse().unwrap(),
            private: "198.18.2.32/28".parse().unwrap(),
        };
        let public: IpAddr = "198.19.0.37".parse().unwrap();
        let private: IpAddr = "198.18.2.37".parse().unwrap();
        assert_eq!(r.to_private(public), Some(private));
        assert_eq!(r.to_public(private), Some(public));
        assert_eq!(r.to_private(private), None);
    }
}
