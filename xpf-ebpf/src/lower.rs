//! Lowering of the compiled form into the XDP program's map contents for one
//! configuration slot, and the backend's capabilities.
//!
//! [`lower`] is pure (no kernel access): it turns a [`CompiledConfig`] into a
//! [`Lowered`] set of map entries, refusing anything the program cannot run
//! with [`DataplaneError::Unsupported`] naming the capability and the reason.
//! The loader writes the entries into the inactive slot and then flips the
//! active slot, so a packet sees either the old or the new configuration.

use crate::abi::{self, flags::*};
use ipnet::IpNet;
use std::net::IpAddr;
use xpf_dataplane::apply::Capabilities;
use xpf_dataplane::compile::{
    CompiledConfig, CompiledNatContext, CompiledNatMatch, CompiledSourceAction, RouteTarget,
};
use xpf_dataplane::config::{
    DefaultPolicy, FilterAction, HostProtocol, HostService, PolicyAction, PortOverload,
    TcpWindowCheck,
};
use xpf_dataplane::error::DataplaneError;
use xpf_runtime::ZoneId;

/// What the eBPF backend runs today, with the reason for everything it
/// does not (each of these is refused at apply time, never ignored).
pub fn capabilities() -> Capabilities {
    Capabilities::all_supported()
}

/// The map contents of one configuration slot.
#[derive(Clone, Debug, Default)]
pub struct Lowered {
    /// `xpf_gen[slot]`.
    pub gen_cfg: abi::GenCfg,
    /// `(InterfaceId, value)`.
    pub ifaces: Vec<(u32, abi::Iface)>,
    /// `(ZoneId, value)`.
    pub zones: Vec<(u32, abi::Zone)>,
    /// Zone pair spans.
    pub zone_pairs: Vec<(abi::PairKey, abi::Span)>,
    /// Rules in evaluation order.
    pub rules: Vec<abi::Rule>,
    /// IPv4 address-set prefixes `(prefix length incl. the 32 tag bits, key)`.
    pub sets4: Vec<(u32, abi::Lpm4)>,
    /// IPv6 address-set prefixes.
    pub sets6: Vec<(u32, abi::Lpm6)>,
    /// IPv4 set memberships `(prefix length incl. the 32 tag bits, key,
    /// the sets containing the prefix)`: see [`memberships`].
    pub members4: Vec<(u32, abi::Lpm4, abi::Members)>,
    /// IPv6 set memberships.
    pub members6: Vec<(u32, abi::Lpm6, abi::Members)>,
    /// IPv4 routes.
    pub routes4: Vec<(u32, abi::Lpm4, abi::Route)>,
    /// IPv6 routes.
    pub routes6: Vec<(u32, abi::Lpm6, abi::Route)>,
    /// Neighbours.
    pub neighbours: Vec<(abi::AddrKey, abi::Neighbour)>,
    /// The firewall's own addresses.
    pub local: Vec<abi::AddrKey>,
    /// Source rules.
    pub snat: Vec<abi::SnatRule>,
    /// Destination rules.
    pub dnat: Vec<abi::DnatRule>,
    /// Static rules.
    pub statics: Vec<abi::StaticRule>,
    /// `(NatPoolId, pool)`.
    pub pools: Vec<(u32, abi::Pool)>,
    /// Pool address index -> address.
    pub pool_addrs: Vec<(abi::PoolAddrKey, abi::Prefix)>,
    /// `(ScheduleSlot, scheduler)`.
    pub scheds: Vec<(u32, abi::Sched)>,
    /// Filter terms in compiled order (index = `FilterTermId - 1`).
    pub terms: Vec<abi::Term>,
    /// `(FilterId, span of its terms)`.
    pub filters: Vec<(u32, abi::Span)>,
    /// Policed terms: `(term index, [committed (rate, burst), peak])`, bytes;
    /// the buckets start full at apply time.
    pub policers: Vec<(u32, [(u64, u64); 2])>,
    /// Flood thresholds, packets per second: `(ZoneId, [SYN, ICMP, UDP])`
    /// (0: none); the buckets start full at apply time.
    pub floods: Vec<(u32, [u32; 3])>,
}

fn unsupported(cap: &str, reason: impl Into<String>) -> DataplaneError {
    DataplaneError::unsupported(cap, reason)
}

/// Address bytes (IPv4 in the first four) and family number.
pub fn ip_bytes(a: IpAddr) -> ([u8; 16], u8) {
    let mut out = [0u8; 16];
    match a {
        IpAddr::V4(v) => {
            out[..4].copy_from_slice(&v.octets());
            (out, 4)
        }
        IpAddr::V6(v) => (v.octets(), 6),
    }
}

fn prefix(n: &IpNet) -> abi::Prefix {
    let (addr, family) = ip_bytes(n.network());
    abi::Prefix {
        family,
        len: n.prefix_len(),
        pad0: [0; 2],
        addr,
    }
}

fn zone_mask(zones: &[ZoneId], what: &str) -> Result<u64, DataplaneError> {
    let mut m = 0u64;
    for z in zones {
        if u32::from(z.0) >= abi::MAX_ZONES {
            return Err(unsupported(
                "zone-policies",
                format!(
                    "{what} names zone id {} (the program supports ids < {})",
                    z.0,
                    abi::MAX_ZONES
                ),
            ));
        }
        m |= 1 << z.0;
    }
    Ok(m)
}

fn nat_ctx(c: &CompiledNatContext) -> Result<abi::NatCtx, DataplaneError> {
    let mut out = abi::NatCtx {
        zones: zone_mask(&c.zones, "a NAT rule context")?,
        ..Default::default()
    };
    for i in &c.interfaces {
        let id = u32::from(i.0);
        if id >= abi::MAX_IFACES {
            return Err(unsupported(
                "forwarding",
                format!(
                    "interface id {id} beyond the program's {} interfaces",
                    abi::MAX_IFACES
                ),
            ));
        }
        out.ifaces[(id / 64) as usize] |= 1 << (id % 64);
    }
    Ok(out)
}

fn nat_match(m: &CompiledNatMatch, rule: &str) -> Result<abi::NatMatch, DataplaneError> {
    let too_many = |what: &str, n: usize, max: usize| {
        unsupported(
            "source-nat-pool",
            format!("NAT rule {rule} matches {n} {what} (the program holds at most {max})"),
        )
    };
    if m.source.len() > abi::NAT_PREFIXES {
        return Err(too_many(
            "source prefixes",
            m.source.len(),
            abi::NAT_PREFIXES,
        ));
    }
    if m.destination.len() > abi::NAT_PREFIXES {
        return Err(too_many(
            "destination prefixes",
            m.destination.len(),
            abi::NAT_PREFIXES,
        ));
    }
    if m.source_ports.len() > abi::NAT_PORTS {
        return Err(too_many(
            "source port ranges",
            m.source_ports.len(),
            abi::NAT_PORTS,
        ));
    }
    if m.destination_ports.len() > abi::NAT_PORTS {
        return Err(too_many(
            "destination port ranges",
            m.destination_ports.len(),
            abi::NAT_PORTS,
        ));
    }
    if m.protocols.len() > abi::NAT_PROTOS {
        return Err(too_many("protocols", m.protocols.len(), abi::NAT_PROTOS));
    }
    let mut out = abi::NatMatch {
        n_src: m.source.len() as u8,
        n_dst: m.destination.len() as u8,
        n_sports: m.source_ports.len() as u8,
        n_dports: m.destination_ports.len() as u8,
        n_protos: m.protocols.len() as u8,
        ..Default::default()
    };
    for (i, n) in m.source.iter().enumerate() {
        out.src[i] = prefix(n);
    }
    for (i, n) in m.destination.iter().enumerate() {
        out.dst[i] = prefix(n);
    }
    for (i, r) in m.source_ports.iter().enumerate() {
        out.sports[i] = [r.low, r.high];
    }
    for (i, r) in m.destination_ports.iter().enumerate() {
        out.dports[i] = [r.low, r.high];
    }
    for (i, p) in m.protocols.iter().enumerate() {
        out.protos[i] = p.0;
    }
    Ok(out)
}

fn service_bits(s: &[HostService]) -> u32 {
    s.iter()
        .map(|s| match s {
            HostService::All => 1 << 0,
            HostService::Ping => 1 << 1,
            HostService::Traceroute => 1 << 2,
            HostService::Ssh => 1 << 3,
            HostService::Telnet => 1 << 4,
            HostService::Http => 1 << 5,
            HostService::Https => 1 << 6,
            HostService::Netconf => 1 << 7,
            HostService::Dns => 1 << 8,
            HostService::Ntp => 1 << 9,
            HostService::Snmp => 1 << 10,
            HostService::Syslog => 1 << 11,
            HostService::Dhcp => 1 << 12,
            HostService::Dhcpv6 => 1 << 13,
            HostService::Ike => 1 << 14,
        })
        .fold(0, |a, b| a | b)
}

fn protocol_bits(p: &[HostProtocol]) -> u32 {
    p.iter()
        .map(|p| match p {
            HostProtocol::All => 1 << 0,
            HostProtocol::Bgp => 1 << 1,
            HostProtocol::Ospf => 1 << 2,
            HostProtocol::Ospf3 => 1 << 3,
            HostProtocol::Bfd => 1 << 4,
            HostProtocol::Vrrp => 1 << 5,
            HostProtocol::Pim => 1 << 6,
            HostProtocol::RouterDiscovery => 1 << 7,
        })
        .fold(0, |a, b| a | b)
}

/// The fragment screens (`FSCR_*`) of profile `id`: tear-drop, syn-frag,
/// ping-of-death.
fn frag_screens(c: &CompiledConfig, id: Option<xpf_runtime::ScreenProfileId>) -> u8 {
    let Some(s) = id.and_then(|id| c.screens.iter().find(|s| s.id == id)) else {
        return 0;
    };
    [
        (s.tear_drop, FSCR_TEAR_DROP),
        (s.syn_frag, FSCR_SYN_FRAG),
        (s.ping_death, FSCR_PING_DEATH),
    ]
    .into_iter()
    .filter(|(on, _)| *on)
    .fold(0, |a, (_, b)| a | b)
}

/// The stateless screens (`SCR_*`) of profile `id` (the fragment screens
/// are [`frag_screens`], flagged here by `SCR_FRAGS`).
fn screen_bits(c: &CompiledConfig, id: Option<xpf_runtime::ScreenProfileId>) -> u8 {
    let Some(s) = id.and_then(|id| c.screens.iter().find(|s| s.id == id)) else {
        return 0;
    };
    [
        (s.land, SCR_LAND),
        (s.syn_fin, SCR_SYN_FIN),
        (s.tcp_no_flag, SCR_TCP_NO_FLAG),
        (s.fin_no_ack, SCR_FIN_NO_ACK),
        (s.winnuke, SCR_WINNUKE),
        (s.source_route, SCR_SOURCE_ROUTE),
    ]
    .into_iter()
    .filter(|(on, _)| *on)
    .fold(0, |a, (_, b)| a | b)
}

/// Filters, terms and policers into `out`.
fn lower_filters(c: &CompiledConfig, out: &mut Lowered) -> Result<(), DataplaneError> {
    let fl = &c.filters;
    if fl.terms.len() > abi::MAX_TERMS as usize {
        return Err(unsupported(
            "filters",
            format!(
                "{} filter terms (the program holds {})",
                fl.terms.len(),
                abi::MAX_TERMS
            ),
        ));
    }
    for f in &fl.filters {
        if u32::from(f.id.0) >= abi::MAX_FILTERS {
            return Err(unsupported(
                "filters",
                format!("filter {} has id {}", f.name, f.id.0),
            ));
        }
        out.filters.push((
            u32::from(f.id.0),
            abi::Span {
                start: f.span.start,
                count: f.span.count,
            },
        ));
    }
    for (i, t) in fl.terms.iter().enumerate() {
        let too_many = |what: &str, n: usize, max: usize| {
            if n > max {
                Err(unsupported(
                    "filters",
                    format!("term {} has {n} {what} (the program holds {max})", t.name),
                ))
            } else {
                Ok(())
            }
        };
        too_many("source prefixes", t.source.len(), abi::TERM_PREFIXES)?;
        too_many(
            "destination prefixes",
            t.destination.len(),
            abi::TERM_PREFIXES,
        )?;
        too_many("protocols", t.protocols.len(), abi::TERM_PROTOS)?;
        too_many("source port ranges", t.source_ports.len(), abi::TERM_PORTS)?;
        too_many(
            "destination port ranges",
            t.destination_ports.len(),
            abi::TERM_PORTS,
        )?;
        too_many("TCP-flag alternatives", t.tcp_flags.len(), abi::TERM_FLAGS)?;
        too_many("DSCP values", t.dscp.len(), abi::TERM_DSCP)?;
        too_many("ICMP types", t.icmp_types.len(), abi::TERM_ICMP)?;
        let mut v = abi::Term {
            id: t.id.0,
            filter: u32::from(t.filter.0),
            action: match t.action {
                FilterAction::Accept => FA_ACCEPT,
                FilterAction::Discard => FA_DISCARD,
                FilterAction::Reject => FA_REJECT,
                FilterAction::NextTerm => FA_NEXT,
            },
            log: u8::from(t.log),
            n_src: t.source.len() as u8,
            n_dst: t.destination.len() as u8,
            n_protos: t.protocols.len() as u8,
            n_sports: t.source_ports.len() as u8,
            n_dports: t.destination_ports.len() as u8,
            n_flags: t.tcp_flags.len() as u8,
            n_dscp: t.dscp.len() as u8,
            n_icmp: t.icmp_types.len() as u8,
            ..Default::default()
        };
        for (k, n) in t.source.iter().enumerate() {
            v.src[k] = prefix(n);
        }
        for (k, n) in t.destination.iter().enumerate() {
            v.dst[k] = prefix(n);
        }
        for (k, p) in t.protocols.iter().enumerate() {
            v.protos[k] = p.0;
        }
        for (k, r) in t.source_ports.iter().enumerate() {
            v.sports[k] = [r.low, r.high];
        }
        for (k, r) in t.destination_ports.iter().enumerate() {
            v.dports[k] = [r.low, r.high];
        }
        for (k, (m, val)) in t.tcp_flags.iter().enumerate() {
            v.flags[k] = [*m, *val];
        }
        for (k, d) in t.dscp.iter().enumerate() {
            v.dscp[k] = *d;
        }
        for (k, ty) in t.icmp_types.iter().enumerate() {
            v.icmp[k] = *ty;
        }
        if let Some(pid) = t.policer {
            let Some(p) = fl.policers.iter().find(|p| p.id == pid) else {
                return Err(unsupported(
                    "policers",
                    format!("term {} names an unknown policer", t.name),
                ));
            };
            // Buckets count bytes x 10^9 in 64 bits.
            let fits = |burst: u64| burst.checked_mul(1_000_000_000).is_some();
            let peak = p.pir_bytes.zip(p.pbs_bytes);
            if !fits(p.cbs_bytes) || peak.is_some_and(|(_, b)| !fits(b)) {
                return Err(unsupported(
                    "policers",
                    format!(
                        "policer {} bursts beyond the program's 64-bit buckets",
                        p.name
                    ),
                ));
            }
            v.policer = if peak.is_some() { 2 } else { 1 };
            out.policers.push((
                i as u32,
                [(p.cir_bytes, p.cbs_bytes), peak.unwrap_or((0, 0))],
            ));
        }
        out.terms.push(v);
    }
    Ok(())
}

/// The flood thresholds `[SYN, ICMP, UDP]` of profile `id` (0: none).
fn flood_thresholds(c: &CompiledConfig, id: Option<xpf_runtime::ScreenProfileId>) -> [u32; 3] {
    id.and_then(|id| c.screens.iter().find(|s| s.id == id))
        .map_or([0; 3], |s| {
            [
                s.syn_flood_pps.unwrap_or(0),
                s.icmp_flood_pps.unwrap_or(0),
                s.udp_flood_pps.unwrap_or(0),
            ]
        })
}

/// The per-source / per-destination session limits of profile `id` (0: none).
fn session_limits(
    c: &CompiledConfig,
    id: Option<xpf_runtime::ScreenProfileId>,
) -> Result<(u16, u16), DataplaneError> {
    let Some(s) = id.and_then(|id| c.screens.iter().find(|s| s.id == id)) else {
        return Ok((0, 0));
    };
    let one = |l: Option<u32>| {
        u16::try_from(l.unwrap_or(0)).map_err(|_| {
            unsupported(
                "session-limits",
                format!(
                    "screen {} limits sessions to {} (the program holds limits up to 65535)",
                    s.name,
                    l.unwrap_or(0)
                ),
            )
        })
    };
    Ok((
        one(s.source_session_limit)?,
        one(s.destination_session_limit)?,
    ))
}

fn flood_bit(c: &CompiledConfig, id: Option<xpf_runtime::ScreenProfileId>) -> u8 {
    if flood_thresholds(c, id).iter().any(|t| *t != 0) {
        SCR_FLOODS
    } else {
        0
    }
}

/// The set-membership trie entries of one family (`xpf_members4/6`) from
/// `(address left-aligned in 128 bits, prefix length, set id)`: every
/// distinct prefix once, carrying its own sets and those of every prefix
/// covering it, so the longest match of an address alone says which sets
/// contain it (an address no prefix covers is in none). Same construction
/// as the engine's combined LPM index.
pub fn memberships(prefixes: Vec<(u128, u8, u32)>) -> Vec<(u128, u8, abi::Members)> {
    fn mask(len: u8) -> u128 {
        if len == 0 {
            0
        } else {
            !0u128 << (128 - u32::from(len))
        }
    }
    // Each distinct prefix with its own sets, in (network, length) order:
    // a covering prefix comes before everything it covers.
    let mut own: std::collections::BTreeMap<(u128, u8), abi::Members> =
        std::collections::BTreeMap::new();
    for (addr, len, set) in prefixes {
        let len = len.min(128);
        own.entry((addr & mask(len), len)).or_default().insert(set);
    }
    let mut out: Vec<(u128, u8, abi::Members)> = Vec::with_capacity(own.len());
    // Indices into `out` of the prefixes covering the current one.
    let mut stack: Vec<usize> = Vec::new();
    for ((addr, len), mut m) in own {
        while let Some(&top) = stack.last() {
            let (ta, tl, _) = out[top];
            if tl <= len && addr & mask(tl) == ta {
                break;
            }
            stack.pop();
        }
        if let Some(&top) = stack.last() {
            m.union(&out[top].2);
        }
        stack.push(out.len());
        out.push((addr, len, m));
    }
    out
}

/// The network-order tag of an address-set key.
pub fn set_tag(slot: u32, set: u32) -> u32 {
    ((slot << 31) | (set & 0x7fff_ffff)).to_be()
}

/// Lowers `c` for configuration slot `slot` (0 or 1).
pub fn lower(c: &CompiledConfig, slot: u32) -> Result<Lowered, DataplaneError> {
    capabilities().check(c)?;
    let mut out = Lowered::default();
    let f = &c.flow;
    let pol = &c.policies;
    if pol.rules.len() > abi::MAX_RULES as usize {
        return Err(unsupported(
            "zone-policies",
            format!(
                "{} compiled rules (the program holds {} per generation)",
                pol.rules.len(),
                abi::MAX_RULES
            ),
        ));
    }
    out.gen_cfg = abi::GenCfg {
        global_start: pol.global.start,
        global_count: pol.global.count,
        session_capacity: f.session_capacity,
        tcp_initial: f.tcp_initial_secs,
        tcp_established: f.tcp_established_secs,
        tcp_closing: f.tcp_closing_secs,
        tcp_time_wait: f.tcp_time_wait_secs,
        udp: f.udp_secs,
        icmp: f.icmp_secs,
        other: f.other_secs,
        n_snat: c.nat.source_rules.len() as u32,
        n_dnat: c.nat.destination_rules.len() as u32,
        n_static: c.nat.static_rules.len() as u32,
        mss: f.tcp_mss.unwrap_or(0),
        default_permit: u8::from(pol.default_action == DefaultPolicy::Permit),
        valid: 1,
        utc_offset: c.system.utc_offset_secs,
        limits: 0,
        // Set by the loader when it writes the slot.
        epoch: 0,
        pad0: 0,
    };
    for s in &c.schedules {
        let id = u32::from(s.slot.0);
        if id >= abi::MAX_SCHEDULES {
            return Err(unsupported(
                "schedulers",
                format!(
                    "scheduler {} has slot {id} (the program holds {})",
                    s.name,
                    abi::MAX_SCHEDULES
                ),
            ));
        }
        if s.week_windows.len() > abi::SCHED_WINDOWS || s.date_ranges.len() > abi::SCHED_DATES {
            return Err(unsupported(
                "schedulers",
                format!(
                    "scheduler {} has {} weekly windows and {} date ranges (the program holds \
                     {} and {})",
                    s.name,
                    s.week_windows.len(),
                    s.date_ranges.len(),
                    abi::SCHED_WINDOWS,
                    abi::SCHED_DATES
                ),
            ));
        }
        let mut v = abi::Sched {
            valid: 1,
            n_windows: s.week_windows.len() as u8,
            n_dates: s.date_ranges.len() as u8,
            ..Default::default()
        };
        for (i, &(a, b)) in s.week_windows.iter().enumerate() {
            v.windows[i] = [a, b];
        }
        for (i, &(a, b)) in s.date_ranges.iter().enumerate() {
            v.dates[i] = [a, b];
        }
        out.scheds.push((id, v));
    }
    for z in &c.zones {
        if u32::from(z.id.0) >= abi::MAX_ZONES {
            return Err(unsupported(
                "forwarding",
                format!(
                    "zone {} has id {} (the program supports ids < {})",
                    z.name,
                    z.id.0,
                    abi::MAX_ZONES
                ),
            ));
        }
        let limits = session_limits(c, z.screen)?;
        if limits != (0, 0) {
            out.gen_cfg.limits = 1;
        }
        let floods = flood_thresholds(c, z.screen);
        if floods.iter().any(|t| *t != 0) {
            out.floods.push((u32::from(z.id.0), floods));
        }
        out.zones.push((
            u32::from(z.id.0),
            abi::Zone {
                valid: 1,
                tcp_rst: u8::from(z.tcp_rst),
                loose: u8::from(z.tcp_window_check == TcpWindowCheck::Loose),
                screens: screen_bits(c, z.screen)
                    | flood_bit(c, z.screen)
                    | if frag_screens(c, z.screen) != 0 {
                        SCR_FRAGS
                    } else {
                        0
                    },
                frag_screens: frag_screens(c, z.screen),
                host_services: service_bits(&z.host_services),
                host_protocols: protocol_bits(&z.host_protocols),
                src_limit: limits.0,
                dst_limit: limits.1,
                pad0: [0; 3],
            },
        ));
    }
    for i in &c.interfaces {
        let id = u32::from(i.id.0);
        if id >= abi::MAX_IFACES {
            return Err(unsupported(
                "forwarding",
                format!(
                    "interface {} has id {id} (the program supports ids < {})",
                    i.name,
                    abi::MAX_IFACES
                ),
            ));
        }
        let rg = i.redundancy_group.map_or(0, |g| g.0);
        let fid = |f: Option<xpf_runtime::FilterId>| -> Result<u16, DataplaneError> {
            match f {
                None => Ok(0),
                Some(f) if u32::from(f.0) < abi::MAX_FILTERS => Ok(f.0 + 1),
                Some(f) => Err(unsupported(
                    "filters",
                    format!(
                        "interface {} uses filter id {} (the program holds {} filters)",
                        i.name,
                        f.0,
                        abi::MAX_FILTERS
                    ),
                )),
            }
        };
        let filters = [
            fid(i.filter_input_v4)?,
            fid(i.filter_input_v6)?,
            fid(i.filter_output_v4)?,
            fid(i.filter_output_v6)?,
        ];
        let mut v = abi::Iface {
            valid: 1,
            rg,
            filters,
            zone: i.zone.0,
            vlan: i.vlan.unwrap_or(0),
            mac: i.mac.0,
            ..Default::default()
        };
        if let Some(IpAddr::V4(a)) = i.primary_address(xpf_runtime::AddressFamily::Inet) {
            v.has_v4 = 1;
            v.v4 = a.octets();
        }
        if let Some(IpAddr::V6(a)) = i.primary_address(xpf_runtime::AddressFamily::Inet6) {
            v.has_v6 = 1;
            v.v6 = a.octets();
        }
        out.ifaces.push((id, v));
        for a in &i.addresses {
            let (addr, family) = ip_bytes(a.addr());
            out.local.push(abi::AddrKey {
                slot,
                family: u32::from(family),
                addr,
            });
        }
    }
    lower_filters(c, &mut out)?;
    for zp in &pol.zone_pairs {
        out.zone_pairs.push((
            abi::PairKey {
                slot,
                from: zp.from.0,
                to: zp.to.0,
            },
            abi::Span {
                start: zp.span.start,
                count: zp.span.count,
            },
        ));
    }
    for r in &pol.rules {
        let m = &r.app_match;
        let mut fl = 0u16;
        if r.source_negate {
            fl |= RF_SRC_NEGATE;
        }
        if r.destination_negate {
            fl |= RF_DST_NEGATE;
        }
        if r.log_init {
            fl |= RF_LOG_INIT;
        }
        if r.log_close {
            fl |= RF_LOG_CLOSE;
        }
        if r.count {
            fl |= RF_COUNT;
        }
        if m.protocol.is_none() {
            fl |= RF_ANY_PROTO;
        }
        if m.icmp_type.is_some() {
            fl |= RF_HAS_ICMP_TYPE;
        }
        if m.icmp_code.is_some() {
            fl |= RF_HAS_ICMP_CODE;
        }
        if r.from_zones.is_empty() {
            fl |= RF_ANY_FROM;
        }
        if r.to_zones.is_empty() {
            fl |= RF_ANY_TO;
        }
        out.rules.push(abi::Rule {
            id: r.id.0,
            src_set: r.source.0,
            dst_set: r.destination.0,
            timeout: m.timeout_secs.filter(|t| *t != 0).unwrap_or(0),
            from_zones: zone_mask(&r.from_zones, "a global policy")?,
            to_zones: zone_mask(&r.to_zones, "a global policy")?,
            flags: fl,
            app: r.app.0,
            action: match r.action {
                PolicyAction::Permit => RA_PERMIT,
                PolicyAction::Deny => RA_DENY,
                PolicyAction::Reject => RA_REJECT,
            },
            proto: m.protocol.map_or(0, |p| p.0),
            icmp_type: m.icmp_type.unwrap_or(0),
            icmp_code: m.icmp_code.unwrap_or(0),
            sport_lo: m.source_ports.low,
            sport_hi: m.source_ports.high,
            dport_lo: m.destination_ports.low,
            dport_hi: m.destination_ports.high,
            sched: match r.schedule {
                None => 0,
                Some(s) if u32::from(s.0) < abi::MAX_SCHEDULES => s.0 + 1,
                Some(s) => {
                    return Err(unsupported(
                        "schedulers",
                        format!(
                            "rule {} uses scheduler slot {} (the program holds {})",
                            r.id.0,
                            s.0,
                            abi::MAX_SCHEDULES
                        ),
                    ));
                }
            },
            pad0: [0; 3],
        });
        if r.id.0 >= abi::MAX_RULE_IDS {
            return Err(unsupported(
                "zone-policies",
                format!(
                    "rule id {} beyond the program's {} counter slots",
                    r.id.0,
                    abi::MAX_RULE_IDS
                ),
            ));
        }
    }
    for s in &c.address_sets {
        if s.id.0 >= 0x8000_0000 {
            return Err(unsupported("zone-policies", "address-set id beyond 2^31"));
        }
        let tag = set_tag(slot, s.id.0);
        for n in &s.v4 {
            out.sets4.push((
                32 + u32::from(n.prefix_len()),
                abi::Lpm4 {
                    tag,
                    addr: n.network().octets(),
                },
            ));
        }
        for n in &s.v6 {
            out.sets6.push((
                32 + u32::from(n.prefix_len()),
                abi::Lpm6 {
                    tag,
                    addr: n.network().octets(),
                },
            ));
        }
    }
    // Set memberships for policy matching: sets with small ids, one trie
    // entry per distinct prefix.
    let (mut m4, mut m6) = (Vec::new(), Vec::new());
    for set in c.address_sets.iter().filter(|s| s.id.0 < abi::MEMBER_SETS) {
        for n in &set.v4 {
            m4.push((
                u128::from(u32::from(n.network())) << 96,
                n.prefix_len(),
                set.id.0,
            ));
        }
        for n in &set.v6 {
            m6.push((u128::from(n.network()), n.prefix_len(), set.id.0));
        }
    }
    let mtag = slot.to_be();
    for (addr, len, m) in memberships(m4) {
        let key = abi::Lpm4 {
            tag: mtag,
            addr: ((addr >> 96) as u32).to_be_bytes(),
        };
        out.members4.push((32 + u32::from(len), key, m));
    }
    for (addr, len, m) in memberships(m6) {
        let key = abi::Lpm6 {
            tag: mtag,
            addr: addr.to_be_bytes(),
        };
        out.members6.push((32 + u32::from(len), key, m));
    }
    let rtag = slot.to_be();
    for r in &c.forwarding.routes {
        let route = match r.target {
            RouteTarget::NextHop { gateway, interface } => abi::Route {
                kind: RT_NEXT_HOP,
                pad0: 0,
                iface: interface.0,
                gateway: ip_bytes(gateway).0,
            },
            RouteTarget::Connected { interface } => abi::Route {
                kind: RT_CONNECTED,
                iface: interface.0,
                ..Default::default()
            },
            RouteTarget::Discard => abi::Route {
                kind: RT_DISCARD,
                ..Default::default()
            },
        };
        let plen = 32 + u32::from(r.destination.prefix_len());
        match r.destination {
            IpNet::V4(n) => out.routes4.push((
                plen,
                abi::Lpm4 {
                    tag: rtag,
                    addr: n.network().octets(),
                },
                route,
            )),
            IpNet::V6(n) => out.routes6.push((
                plen,
                abi::Lpm6 {
                    tag: rtag,
                    addr: n.network().octets(),
                },
                route,
            )),
        }
    }
    for n in &c.forwarding.neighbours {
        let (addr, family) = ip_bytes(n.address);
        let key = abi::AddrKey {
            slot,
            family: u32::from(family),
            addr,
        };
        // The first neighbour of an address wins (the model's lookup order).
        if out.neighbours.iter().any(|(k, _)| *k == key) {
            continue;
        }
        if out.neighbours.len() >= abi::MAX_NEIGHBOURS as usize {
            return Err(unsupported(
                "neighbours",
                format!(
                    "{} neighbours, the eBPF backend holds {} per configuration",
                    c.forwarding.neighbours.len(),
                    abi::MAX_NEIGHBOURS
                ),
            ));
        }
        out.neighbours.push((
            key,
            abi::Neighbour {
                mac: n.mac.0,
                iface: n.interface.0,
                id: out.neighbours.len() as u32,
            },
        ));
    }
    let nat = &c.nat;
    for (what, n, max) in [
        ("source", nat.source_rules.len(), abi::MAX_SNAT_RULES),
        (
            "destination",
            nat.destination_rules.len(),
            abi::MAX_DNAT_RULES,
        ),
        ("static", nat.static_rules.len(), abi::MAX_STATIC_RULES),
    ] {
        if n > max as usize {
            return Err(unsupported(
                "source-nat-pool",
                format!("{n} {what} NAT rules (the program holds {max})"),
            ));
        }
    }
    let nat_id = |id: u32| {
        if id >= abi::MAX_NAT_IDS {
            Err(unsupported(
                "source-nat-pool",
                format!(
                    "NAT rule id {id} beyond the program's {} counter slots",
                    abi::MAX_NAT_IDS
                ),
            ))
        } else {
            Ok(id)
        }
    };
    for r in &nat.source_rules {
        let (action, pool) = match r.action {
            CompiledSourceAction::Off => (SNAT_OFF, 0),
            CompiledSourceAction::Interface => (SNAT_INTERFACE, 0),
            CompiledSourceAction::Pool(p) => (SNAT_POOL, p.0),
        };
        out.snat.push(abi::SnatRule {
            id: nat_id(r.id.0)?,
            action,
            pad0: 0,
            pool,
            from: nat_ctx(&r.from)?,
            to: nat_ctx(&r.to)?,
            m: nat_match(&r.matches, &r.name)?,
            pad1: [0; 4],
        });
    }
    for r in &nat.destination_rules {
        let mut d = abi::DnatRule {
            id: nat_id(r.id.0)?,
            from: nat_ctx(&r.from)?,
            m: nat_match(&r.matches, &r.name)?,
            ..Default::default()
        };
        if let Some(pool) = nat.destination_pools.iter().find(|p| Some(p.id) == r.pool) {
            let (addr, family) = ip_bytes(pool.address);
            d.has_pool = 1;
            d.family = family;
            d.addr = addr;
            if let Some(port) = pool.port {
                d.has_port = 1;
                d.port = port;
            }
        }
        out.dnat.push(d);
    }
    for r in &nat.static_rules {
        out.statics.push(abi::StaticRule {
            id: nat_id(r.id.0)?,
            public_net: prefix(&r.public),
            private_net: prefix(&r.private),
            pad0: 0,
            from: nat_ctx(&r.from)?,
        });
    }
    for p in &nat.source_pools {
        let id = u32::from(p.id.0);
        if id >= abi::MAX_POOLS || id >= 0x8000 {
            return Err(unsupported(
                "source-nat-pool",
                format!(
                    "pool {} has id {id} (the program supports ids < {})",
                    p.name,
                    abi::MAX_POOLS
                ),
            ));
        }
        // Without port overloading a pool holds addresses, one slot each.
        let address_only = p.port_overload != PortOverload::On;
        let ports = if address_only {
            1
        } else {
            u64::from(p.port_range.high.saturating_sub(p.port_range.low)) + 1
        };
        if p.port_range.low > p.port_range.high
            || p.address_count == 0
            || p.address_count.saturating_mul(u128::from(ports)) > u128::from(abi::MAX_POOL_SLOTS)
        {
            return Err(unsupported(
                "source-nat-pool",
                format!(
                    "pool {} has {} addresses x {ports} ports (the program allocates at most {} slots per pool)",
                    p.name,
                    p.address_count,
                    abi::MAX_POOL_SLOTS
                ),
            ));
        }
        let mut index = 0u32;
        let mut family = 0u8;
        for (a, b) in &p.ranges {
            let (lo, hi) = (ip_u128(*a), ip_u128(*b));
            family = if a.is_ipv4() { 4 } else { 6 };
            let mut v = lo;
            while v <= hi {
                let addr = if a.is_ipv4() {
                    IpAddr::V4((v as u32).into())
                } else {
                    IpAddr::V6(v.into())
                };
                let (bytes, fam) = ip_bytes(addr);
                out.pool_addrs.push((
                    abi::PoolAddrKey {
                        slot,
                        pool: p.id.0,
                        pad0: 0,
                        index,
                    },
                    abi::Prefix {
                        family: fam,
                        len: if fam == 4 { 32 } else { 128 },
                        pad0: [0; 2],
                        addr: bytes,
                    },
                ));
                index += 1;
                v += 1;
            }
        }
        out.pools.push((
            id,
            abi::Pool {
                valid: 1,
                family,
                port_low: p.port_range.low,
                port_high: p.port_range.high,
                flags: if address_only { POOL_ADDR_ONLY } else { 0 }
                    | if p.persistent { POOL_PERSISTENT } else { 0 }
                    | if p.address_persistent {
                        POOL_ADDR_PERSISTENT
                    } else {
                        0
                    },
                pad0: 0,
                addr_count: index,
                pad1: 0,
            },
        ));
    }
    Ok(out)
}

/// An address as an unsigned integer of its network-order bytes.
pub fn ip_u128(a: IpAddr) -> u128 {
    match a {
        IpAddr::V4(v) => u128::from(u32::from(v)),
        IpAddr::V6(v) => u128::from(v),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use xpf_dataplane::Config;
    use xpf_dataplane::apply::Capability;
    use xpf_dataplane::compile::compile_with_previous;

    fn example(name: &str) -> CompiledConfig {
        let path = format!("{}/../examples/configs/{name}", env!("CARGO_MANIFEST_DIR"));
        let cfg = Config::from_path(&path).expect("example parses");
        compile_with_previous(&cfg, None).expect("example compiles")
    }

    fn covers(addr: u128, len: u8, x: u128) -> bool {
        len == 0 || (addr ^ x) >> (128 - u32::from(len)) == 0
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(300))]
        /// The longest matching membership entry of any address names exactly
        /// the sets with a prefix containing it (what a per-set lookup says).
        #[test]
        fn the_longest_membership_match_names_exactly_the_sets_containing_the_address(
            prefixes in proptest::collection::vec((0u128..16, 0u8..=6, 0u32..70), 0..24),
            probes in proptest::collection::vec(0u128..16, 1..16),
        ) {
            // A 4-bit address space at the top of the word: nesting and
            // siblings are frequent.
            let prefixes: Vec<(u128, u8, u32)> =
                prefixes.into_iter().map(|(a, l, s)| (a << 124, l.min(4), s)).collect();
            let entries = memberships(prefixes.clone());
            for probe in probes {
                let x = probe << 124;
                let want: std::collections::BTreeSet<u32> = prefixes
                    .iter()
                    .filter(|(a, l, _)| covers(*a, *l, x))
                    .map(|(_, _, s)| *s)
                    .collect();
                let got: std::collections::BTreeSet<u32> = entries
                    .iter()
                    .filter(|(a, l, _)| covers(*a, *l, x))
                    .max_by_key(|(_, l, _)| *l)
                    .map(|(_, _, m)| (0..abi::MEMBER_SETS).filter(|s| m.contains(*s)).collect())
                    .unwrap_or_default();
                proptest::prop_assert_eq!(got, want, "address {:x}", probe);
            }
        }
    }

    #[test]
    fn set_tags_put_the_slot_in_the_top_bit_in_network_order() {
        assert_eq!(u32::from_be(set_tag(1, 5)), 0x8000_0005);
        assert_eq!(u32::from_be(set_tag(0, 5)), 5);
    }

    #[test]
    fn examples_lower_or_are_refused_with_a_listed_capability() {
        let listed: Vec<String> = capabilities()
            .unsupported_list()
            .into_iter()
            .map(|(c, _)| c.name())
            .collect();
        let mut lowered = 0;
        for name in [
            "branch-office.toml",
            "dmz-dnat.toml",
            "dual-stack.toml",
            "ha-pair.toml",
            "scheduled-filters.toml",
        ] {
            let c = example(name);
            match lower(&c, 1) {
                Ok(l) => {
                    lowered += 1;
                    assert_eq!(l.rules.len(), c.policies.rules.len(), "{name}");
                    assert_eq!(l.zone_pairs.len(), c.policies.zone_pairs.len(), "{name}");
                    assert!(l.zone_pairs.iter().all(|(k, _)| k.slot == 1), "{name}");
                    assert!(l.neighbours.iter().all(|(k, _)| k.slot == 1), "{name}");
                    assert_eq!(l.gen_cfg.valid, 1);
                    let local: usize = c.interfaces.iter().map(|i| i.addresses.len()).sum();
                    assert_eq!(l.local.len(), local, "{name}");
                }
                Err(DataplaneError::Unsupported { capability, reason }) => {
                    assert!(
                        listed.contains(&capability),
                        "{name}: {capability} is not listed ({reason})"
                    );
                }
                Err(e) => panic!("{name}: {e}"),
            }
        }
        let _ = lowered;
    }

    #[test]
    fn unsupported_capabilities_have_reasons() {
        for (cap, reason) in capabilities().unsupported_list() {
            assert!(!reason.is_empty(), "{cap} has no reason");
        }
        assert!(capabilities().supports(Capability::SourceNatPool));
        assert!(capabilities().supports(Capability::Screens));
        assert!(capabilities().supports(Capability::Filters));
        assert!(capabilities().supports(Capability::Fragments));
        assert!(capabilities().supports(Capability::Ipv6ExtensionHeaders));
    }

    #[test]
    fn fragment_screens_lower_to_their_own_bits_flagged_in_the_screen_byte() {
        let c = example("branch-office.toml");
        let l = lower(&c, 0).expect("branch office lowers");
        let zone = |name: &str| {
            let id = c.zones.iter().find(|z| z.name == name).expect("zone").id;
            l.zones
                .iter()
                .find(|(k, _)| *k == u32::from(id.0))
                .map(|(_, z)| *z)
                .expect("lowered zone")
        };
        // untrust-screen: ping-death and tear-drop, no syn-frag.
        let untrust = zone("untrust");
        assert_eq!(untrust.frag_screens, FSCR_TEAR_DROP | FSCR_PING_DEATH);
        assert_ne!(untrust.screens & SCR_FRAGS, 0);
        assert_ne!(untrust.screens & SCR_SOURCE_ROUTE, 0);
        let trust = zone("trust");
        assert_eq!(trust.frag_screens, 0);
        assert_eq!(trust.screens & SCR_FRAGS, 0);
    }
}
