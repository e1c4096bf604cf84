//! The `#[repr(C)]` mirrors of every structure shared with the XDP program
//! (`bpf/xpf_shared.h`), with explicit padding and compile-time size and
//! offset assertions on both sides, plus the numeric constants (table sizes,
//! counter slots, flags) the two sides agree on.
//!
//! This module is one of the two places of the crate allowed to use
//! `unsafe`: `aya::Pod` (plain bytes, any bit pattern valid) is an unsafe
//! trait and every type stored in a BPF map must implement it.

#![allow(unsafe_code)]

use std::mem::{offset_of, size_of};

/// Interfaces per configuration slot (`InterfaceId` < this).
pub const MAX_IFACES: u32 = 256;
/// Zones per slot (`ZoneId` < this: zone sets are 64-bit masks).
pub const MAX_ZONES: u32 = 64;
/// Compiled policy rules per generation.
pub const MAX_RULES: u32 = 16384;
/// Policy-rule counter slots (`PolicyRuleId` < this).
pub const MAX_RULE_IDS: u32 = 65536;
/// NAT-rule counter slots (`NatRuleId` < this).
pub const MAX_NAT_IDS: u32 = 4096;
/// Zone pairs with rules per generation.
pub const MAX_ZONE_PAIRS: u32 = 4096;
/// Address-set prefixes (both slots, per family).
pub const MAX_SET_PREFIXES: u32 = 262_144;
/// Routes (both slots, per family).
pub const MAX_ROUTES: u32 = 65536;
/// Neighbours per slot.
pub const MAX_NEIGHBOURS: u32 = 16384;
/// Firewall addresses per slot.
pub const MAX_LOCAL_ADDRS: u32 = 4096;
/// Source NAT rules per slot.
pub const MAX_SNAT_RULES: u32 = 64;
/// Destination NAT rules per slot.
pub const MAX_DNAT_RULES: u32 = 64;
/// Static NAT rules per slot.
pub const MAX_STATIC_RULES: u32 = 64;
/// Source pools per slot (`NatPoolId` < this).
pub const MAX_POOLS: u32 = 256;
/// A slot target naming an interface allocator (`SNAT_TARGET_IFACE`); the
/// other targets are pool ids (< [`MAX_POOLS`]).
pub const SNAT_TARGET_IFACE: u16 = 0x8000;
/// With [`SNAT_TARGET_IFACE`]: the interface's IPv6 address allocator (one
/// allocator per interface address, as in the engine).
pub const SNAT_TARGET_V6: u16 = 0x4000;
/// The interface id bits of an interface target.
pub const SNAT_TARGET_IFACE_MASK: u16 = 0x3fff;
const _: () = assert!(MAX_IFACES <= SNAT_TARGET_IFACE_MASK as u32 + 1);
const _: () = assert!(MAX_POOLS <= SNAT_TARGET_V6 as u32);

/// The slot target of interface `iface`'s allocator for the address of
/// family `v6` (true: IPv6).
pub const fn iface_target(iface: u16, v6: bool) -> u16 {
    SNAT_TARGET_IFACE | if v6 { SNAT_TARGET_V6 } else { 0 } | (iface & SNAT_TARGET_IFACE_MASK)
}

/// The interface of an interface slot target, `None` for a pool target.
pub const fn target_iface(target: u16) -> Option<u16> {
    if target & SNAT_TARGET_IFACE != 0 {
        Some(target & SNAT_TARGET_IFACE_MASK)
    } else {
        None
    }
}

/// Port slots (addresses x ports) of one pool and protocol.
pub const MAX_POOL_SLOTS: u64 = 1 << 20;
/// Forward sessions (each has two map entries) the maps are sized for by default.
pub const MAX_SESSIONS: u32 = 1_048_576;
/// Prefixes per side of a NAT match.
pub const NAT_PREFIXES: usize = 4;
/// Port ranges per side of a NAT match.
pub const NAT_PORTS: usize = 4;
/// Protocols per NAT match.
pub const NAT_PROTOS: usize = 4;
/// Filters per slot (`FilterId` < this).
pub const MAX_FILTERS: u32 = 256;
/// Filter terms per slot.
pub const MAX_TERMS: u32 = 1024;
/// Prefixes per side of a term.
pub const TERM_PREFIXES: usize = 4;
/// Port ranges per side of a term.
pub const TERM_PORTS: usize = 4;
/// Protocols per term.
pub const TERM_PROTOS: usize = 4;
/// TCP-flag alternatives per term.
pub const TERM_FLAGS: usize = 4;
/// DSCP values per term.
pub const TERM_DSCP: usize = 8;
/// ICMP types per term.
pub const TERM_ICMP: usize = 8;
/// Redundancy groups (`RedundancyGroupId` < this): `xpf_rg_state`.
pub const MAX_RGS: u32 = 256;
/// Schedulers per slot (`ScheduleSlot` < this).
pub const MAX_SCHEDULES: u32 = 64;
/// Minute-of-week windows per scheduler.
pub const SCHED_WINDOWS: usize = 16;
/// Date ranges per scheduler.
pub const SCHED_DATES: usize = 4;
/// Global counter slots (`BaseCounter`, then `DropReason`, then the
/// backend's own counters such as [`FABRIC_FORWARDED`]).
pub const COUNTERS: u32 = 72;
/// Index of the first drop reason among the global counters.
pub const BASE_COUNT: u32 = 18;
/// The counter slot of frames of a backup redundancy group sent to the
/// peer over the fabric link (`XC_FABRIC_FORWARDED`, after the drop
/// reasons; such a frame is also counted as an `ha-inactive` drop).
pub const FABRIC_FORWARDED: u32 = 64;
const _: () = assert!(FABRIC_FORWARDED < COUNTERS);

/// Zone-rule and session flags (see the C header for their meaning).
pub mod flags {
    /// Negate the source match.
    pub const RF_SRC_NEGATE: u16 = 1 << 0;
    /// Negate the destination match.
    pub const RF_DST_NEGATE: u16 = 1 << 1;
    /// Log at session init (and deny).
    pub const RF_LOG_INIT: u16 = 1 << 2;
    /// Log at session close.
    pub const RF_LOG_CLOSE: u16 = 1 << 3;
    /// Count.
    pub const RF_COUNT: u16 = 1 << 4;
    /// Any protocol.
    pub const RF_ANY_PROTO: u16 = 1 << 5;
    /// ICMP type set.
    pub const RF_HAS_ICMP_TYPE: u16 = 1 << 6;
    /// ICMP code set.
    pub const RF_HAS_ICMP_CODE: u16 = 1 << 7;
    /// Any from-zone.
    pub const RF_ANY_FROM: u16 = 1 << 8;
    /// Any to-zone.
    pub const RF_ANY_TO: u16 = 1 << 9;
    /// Rule action: permit.
    pub const RA_PERMIT: u8 = 0;
    /// Rule action: deny.
    pub const RA_DENY: u8 = 1;
    /// Rule action: reject.
    pub const RA_REJECT: u8 = 2;
    /// Route: next hop.
    pub const RT_NEXT_HOP: u8 = 1;
    /// Route: connected.
    pub const RT_CONNECTED: u8 = 2;
    /// Route: discard.
    pub const RT_DISCARD: u8 = 3;
    /// Source NAT: off.
    pub const SNAT_OFF: u8 = 0;
    /// Source NAT: egress interface.
    pub const SNAT_INTERFACE: u8 = 1;
    /// Source NAT: pool.
    pub const SNAT_POOL: u8 = 2;
    /// Verdict: forwarded.
    pub const XV_FORWARD: u32 = 1;
    /// Verdict: delivered locally.
    pub const XV_LOCAL: u32 = 2;
    /// Verdict: dropped.
    pub const XV_DROP: u32 = 3;
    /// Record: session opened.
    pub const XR_DELTA_OPEN: u32 = 1;
    /// Record: session changed state.
    pub const XR_DELTA_UPDATE: u32 = 2;
    /// Record: session closed by the program.
    pub const XR_DELTA_CLOSE: u32 = 3;
    /// Record: a logged policy deny.
    pub const XR_POLICY_DENY: u32 = 4;
    /// Record: a screen dropped a packet (`reason` = its drop reason).
    pub const XR_SCREEN_DROP: u32 = 5;
    /// Record: a filter term with `log` matched (`reason` = `FA_LOG_*`).
    pub const XR_FILTER_LOG: u32 = 6;
    /// Term action: accept.
    pub const FA_ACCEPT: u8 = 0;
    /// Term action: discard.
    pub const FA_DISCARD: u8 = 1;
    /// Term action: reject.
    pub const FA_REJECT: u8 = 2;
    /// Term action: next term.
    pub const FA_NEXT: u8 = 3;
    /// Screen: land.
    pub const SCR_LAND: u8 = 1 << 0;
    /// Screen: SYN+FIN.
    pub const SCR_SYN_FIN: u8 = 1 << 1;
    /// Screen: TCP without flags.
    pub const SCR_TCP_NO_FLAG: u8 = 1 << 2;
    /// Screen: FIN without ACK.
    pub const SCR_FIN_NO_ACK: u8 = 1 << 3;
    /// Screen: WinNuke.
    pub const SCR_WINNUKE: u8 = 1 << 4;
    /// Screen: IPv4 source route.
    pub const SCR_SOURCE_ROUTE: u8 = 1 << 5;
    /// The zone has flood buckets.
    pub const SCR_FLOODS: u8 = 1 << 6;
    /// The zone has fragment screens (`Zone::frag_screens`).
    pub const SCR_FRAGS: u8 = 1 << 7;
    /// Fragment screen: tear-drop (overlapping fragments).
    pub const FSCR_TEAR_DROP: u8 = 1 << 0;
    /// Fragment screen: a TCP SYN in a fragment.
    pub const FSCR_SYN_FRAG: u8 = 1 << 1;
    /// Fragment screen: ping-of-death (an ICMP fragment ending beyond 65,535).
    pub const FSCR_PING_DEATH: u8 = 1 << 2;
    /// Pool: persistent mappings.
    pub const POOL_PERSISTENT: u8 = 1;
    /// Pool: address persistence.
    pub const POOL_ADDR_PERSISTENT: u8 = 2;
    /// Pool: no port overloading (address holds).
    pub const POOL_ADDR_ONLY: u8 = 4;
    /// Slot-key protocol of an address hold.
    pub const HOLD_PROTO: u8 = 0xff;
    /// With `POOL_ADDR_ONLY`, per session: the hold of a protocol without
    /// ports in a port-overloading pool or on an interface, scoped to that
    /// protocol (slot-key protocol and binding scope are the protocol).
    pub const POOL_HOLD_SCOPED: u8 = 8;
}

macro_rules! pod {
    ($($t:ty),* $(,)?) => {$(
        // SAFETY: the type is #[repr(C)], made only of integers and arrays of
        // integers (or other such types) with every padding byte an explicit
        // field, so every bit pattern is a valid value and it has no
        // uninitialised bytes: exactly what `aya::Pod` requires.
        unsafe impl aya::Pod for $t {}
    )*};
}

macro_rules! layout {
    ($t:ty, $size:expr, $($field:ident == $off:expr),* $(,)?) => {
        const _: () = assert!(size_of::<$t>() == $size);
        $(const _: () = assert!(offset_of!($t, $field) == $off);)*
    };
}

/// `struct xpf_globals`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Globals {
    /// Active configuration slot.
    pub active: u32,
    /// Test runs: ingress `InterfaceId` (0: from the ifindex).
    pub test_ingress: u32,
    /// Test runs: Unix time (0: real clock).
    pub clock_ns: u64,
    /// Unix time minus boot time.
    pub clock_offset_ns: u64,
    /// Test runs: the real frame length.
    pub test_len: u32,
    /// Cluster node id.
    pub node: u32,
    /// Write `xpf_trace` per packet.
    pub trace: u32,
    /// Padding.
    pub pad0: u32,
}
layout!(
    Globals,
    40,
    active == 0,
    test_ingress == 4,
    clock_ns == 8,
    clock_offset_ns == 16,
    test_len == 24,
    node == 28,
    trace == 32
);

/// `struct xpf_state`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct State {
    /// Next session sequence number.
    pub next_seq: u64,
    /// Next install order.
    pub next_order: u64,
    /// Sessions installed.
    pub inserted: u64,
    /// Sessions removed.
    pub removed: u64,
}
layout!(
    State,
    32,
    next_seq == 0,
    next_order == 8,
    inserted == 16,
    removed == 24
);

/// `struct xpf_trace`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Trace {
    /// `XV_*`.
    pub verdict: u32,
    /// Drop reason index.
    pub reason: u32,
    /// Egress `InterfaceId`.
    pub egress: u32,
    /// 1: the output frame is a RST / ICMP error the program built, sent
    /// back out of the ingress (the packet itself was dropped).
    pub emitted: u32,
    /// A backup group's frame (dropped `ha-inactive`) redirected to the
    /// peer: the fabric link's ifindex (0: not sent).
    pub fabric: u32,
}
layout!(
    Trace,
    20,
    verdict == 0,
    reason == 4,
    egress == 8,
    emitted == 12,
    fabric == 16
);

/// `struct xpf_fabric`: the fabric link a backup redundancy group's frames
/// are sent to the peer over (map `xpf_fabric`, key 0; no element: none).
/// Written only from the synced fabric view. No padding: 4 + 6 + 6 bytes.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Fabric {
    /// Kernel ifindex of the fabric link's device.
    pub ifindex: u32,
    /// Destination MAC of a forwarded frame (the peer's).
    pub peer_mac: [u8; 6],
    /// Source MAC of a forwarded frame (this node's on the fabric link).
    pub local_mac: [u8; 6],
}
layout!(Fabric, 16, ifindex == 0, peer_mac == 4, local_mac == 10);

/// `struct xpf_gen_cfg`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GenCfg {
    /// Global rules: first index.
    pub global_start: u32,
    /// Global rules: count.
    pub global_count: u32,
    /// Session capacity.
    pub session_capacity: u32,
    /// TCP initial timeout, s.
    pub tcp_initial: u32,
    /// TCP established timeout, s.
    pub tcp_established: u32,
    /// TCP closing timeout, s.
    pub tcp_closing: u32,
    /// TCP time-wait timeout, s.
    pub tcp_time_wait: u32,
    /// UDP timeout, s.
    pub udp: u32,
    /// ICMP timeout, s.
    pub icmp: u32,
    /// Other protocols, s.
    pub other: u32,
    /// Source rules.
    pub n_snat: u32,
    /// Destination rules.
    pub n_dnat: u32,
    /// Static rules.
    pub n_static: u32,
    /// MSS clamp (0: none).
    pub mss: u16,
    /// Default permit.
    pub default_permit: u8,
    /// Slot holds a configuration.
    pub valid: u8,
    /// Local time = UTC + this, seconds (schedulers).
    pub utc_offset: i32,
    /// 1: some zone has session limits (`xpf_limit_cnt` is kept).
    pub limits: u32,
    /// Forwarding epoch: a new value whenever the loader writes this slot's
    /// interfaces, routes or neighbours; sessions' cached forwarding results
    /// filled under another epoch are not used (0: never cache).
    pub epoch: u32,
    /// Padding.
    pub pad0: u32,
}
layout!(
    GenCfg,
    72,
    global_start == 0,
    global_count == 4,
    session_capacity == 8,
    tcp_initial == 12,
    tcp_established == 16,
    tcp_closing == 20,
    tcp_time_wait == 24,
    udp == 28,
    icmp == 32,
    other == 36,
    n_snat == 40,
    n_dnat == 44,
    n_static == 48,
    mss == 52,
    default_permit == 54,
    valid == 55,
    utc_offset == 56,
    limits == 60,
    epoch == 64
);

/// `struct xpf_persist_key`: a persistent mapping's endpoint.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct PersistKey {
    /// Slot target (pool id).
    pub target: u16,
    /// Protocol.
    pub proto: u8,
    /// 4 or 6.
    pub family: u8,
    /// Internal port.
    pub sport: u16,
    /// Padding.
    pub pad0: u16,
    /// Internal address.
    pub src: [u8; 16],
}
layout!(
    PersistKey,
    24,
    proto == 2,
    family == 3,
    sport == 4,
    src == 8
);

/// `struct xpf_binding`: a reference-counted slot or address index.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Binding {
    /// Slot (persistent mapping) or address index (address persistence).
    pub value: u32,
    /// References.
    pub refs: u32,
}
layout!(Binding, 8, value == 0, refs == 4);

/// `struct xpf_bind_key`: an address-persistent host of a pool.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct BindKey {
    /// Slot target (pool id).
    pub target: u16,
    /// 4 or 6.
    pub family: u8,
    /// 0: all protocols (address-only holds, address persistence); else
    /// the protocol of a `POOL_HOLD_SCOPED` hold.
    pub scope: u8,
    /// Internal address.
    pub src: [u8; 16],
}
layout!(BindKey, 20, family == 2, scope == 3, src == 4);

/// `struct xpf_limit_key`: a forward-key source (side 0) or destination
/// (side 1) whose live sessions `xpf_limit_cnt` counts.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct LimitKey {
    /// 4 or 6.
    pub family: u8,
    /// 0: source, 1: destination.
    pub side: u8,
    /// Padding.
    pub pad0: [u8; 2],
    /// Address.
    pub addr: [u8; 16],
}
layout!(LimitKey, 20, side == 1, addr == 4);

/// `struct xpf_flood`: a flood-screen token bucket (packets x 10^9).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Flood {
    /// The program's spin lock (zero from userspace).
    pub lock: u32,
    /// Packets per second (0: no bucket).
    pub rate: u32,
    /// Burst x 10^9.
    pub cap: u64,
    /// Tokens x 10^9.
    pub nano: u64,
    /// Last refill, Unix ns.
    pub at: u64,
}
layout!(Flood, 32, rate == 4, cap == 8, nano == 16, at == 24);

/// `struct xpf_term`: a firewall-filter term.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Term {
    /// `FilterTermId`.
    pub id: u32,
    /// `FilterId`.
    pub filter: u32,
    /// `FA_*`.
    pub action: u8,
    /// Log matches.
    pub log: u8,
    /// Source prefixes used.
    pub n_src: u8,
    /// Destination prefixes used.
    pub n_dst: u8,
    /// Protocols used.
    pub n_protos: u8,
    /// Source port ranges used.
    pub n_sports: u8,
    /// Destination port ranges used.
    pub n_dports: u8,
    /// TCP-flag alternatives used.
    pub n_flags: u8,
    /// DSCP values used.
    pub n_dscp: u8,
    /// ICMP types used.
    pub n_icmp: u8,
    /// 0: none, 1: single-rate, 2: two-rate policer.
    pub policer: u8,
    /// Padding.
    pub pad0: u8,
    /// Protocols.
    pub protos: [u8; TERM_PROTOS],
    /// TCP flags `(mask, value)`.
    pub flags: [[u8; 2]; TERM_FLAGS],
    /// DSCP values.
    pub dscp: [u8; TERM_DSCP],
    /// ICMP types.
    pub icmp: [u8; TERM_ICMP],
    /// Source port ranges.
    pub sports: [[u16; 2]; TERM_PORTS],
    /// Destination port ranges.
    pub dports: [[u16; 2]; TERM_PORTS],
    /// Source prefixes.
    pub src: [Prefix; TERM_PREFIXES],
    /// Destination prefixes.
    pub dst: [Prefix; TERM_PREFIXES],
}
layout!(
    Term,
    240,
    filter == 4,
    action == 8,
    log == 9,
    n_src == 10,
    n_icmp == 17,
    policer == 18,
    protos == 20,
    flags == 24,
    dscp == 32,
    icmp == 40,
    sports == 48,
    dports == 64,
    src == 80,
    dst == 160
);

/// `struct xpf_bucket`: a policer token bucket (bytes x 10^9).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Bucket {
    /// The program's spin lock (zero from userspace).
    pub lock: u32,
    /// Padding.
    pub pad0: u32,
    /// Bytes per second.
    pub rate: u64,
    /// Burst x 10^9.
    pub cap: u64,
    /// Tokens x 10^9.
    pub nano: u64,
    /// Last refill, Unix ns.
    pub at: u64,
}
layout!(Bucket, 40, rate == 8, cap == 16, nano == 24, at == 32);

/// `struct xpf_sched`: a scheduler.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sched {
    /// Present.
    pub valid: u8,
    /// Windows used.
    pub n_windows: u8,
    /// Date ranges used.
    pub n_dates: u8,
    /// Padding.
    pub pad0: [u8; 5],
    /// `[start, stop)` in local seconds.
    pub dates: [[i64; 2]; SCHED_DATES],
    /// `[start, stop)` in minutes since Monday 00:00.
    pub windows: [[u16; 2]; SCHED_WINDOWS],
}
layout!(
    Sched,
    136,
    n_windows == 1,
    n_dates == 2,
    dates == 8,
    windows == 72
);

/// `struct xpf_iface`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Iface {
    /// Present.
    pub valid: u8,
    /// Has an IPv4 address.
    pub has_v4: u8,
    /// Has an IPv6 address.
    pub has_v6: u8,
    /// Redundancy group (0: none).
    pub rg: u8,
    /// Zone.
    pub zone: u16,
    /// VLAN id (0: untagged).
    pub vlan: u16,
    /// MAC.
    pub mac: [u8; 6],
    /// Padding.
    pub pad1: u16,
    /// Kernel ifindex.
    pub ifindex: u32,
    /// Primary IPv4 address.
    pub v4: [u8; 4],
    /// Primary IPv6 address.
    pub v6: [u8; 16],
    /// `FilterId + 1` (0: none): input v4, input v6, output v4, output v6.
    pub filters: [u16; 4],
}
layout!(
    Iface,
    48,
    valid == 0,
    has_v4 == 1,
    has_v6 == 2,
    zone == 4,
    vlan == 6,
    mac == 8,
    ifindex == 16,
    v4 == 20,
    v6 == 24
);

/// `struct xpf_zone`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Zone {
    /// Present.
    pub valid: u8,
    /// Answer unmatched non-SYN TCP with RST.
    pub tcp_rst: u8,
    /// Loose window checking.
    pub loose: u8,
    /// Stateless screens (`SCR_*`).
    pub screens: u8,
    /// Host-inbound service bits.
    pub host_services: u32,
    /// Host-inbound protocol bits.
    pub host_protocols: u32,
    /// Live sessions per source (0: no limit).
    pub src_limit: u16,
    /// Live sessions per destination (0: no limit).
    pub dst_limit: u16,
    /// Fragment screens (`FSCR_*`).
    pub frag_screens: u8,
    /// Padding.
    pub pad0: [u8; 3],
}
layout!(
    Zone,
    20,
    valid == 0,
    tcp_rst == 1,
    loose == 2,
    screens == 3,
    host_services == 4,
    host_protocols == 8,
    src_limit == 12,
    dst_limit == 14,
    frag_screens == 16
);

/// `struct xpf_ifindex_key`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IfindexKey {
    /// Slot.
    pub slot: u32,
    /// Kernel ifindex.
    pub ifindex: u32,
}
layout!(IfindexKey, 8, slot == 0, ifindex == 4);

/// `struct xpf_pair_key`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PairKey {
    /// Slot.
    pub slot: u32,
    /// From zone.
    pub from: u16,
    /// To zone.
    pub to: u16,
}
layout!(PairKey, 8, slot == 0, from == 4, to == 6);

/// `struct xpf_span`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Span {
    /// First index.
    pub start: u32,
    /// Count.
    pub count: u32,
}
layout!(Span, 8, start == 0, count == 4);

/// `struct xpf_rule`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Rule {
    /// Rule id.
    pub id: u32,
    /// Source address set.
    pub src_set: u32,
    /// Destination address set.
    pub dst_set: u32,
    /// Application timeout (0: default).
    pub timeout: u32,
    /// From-zone mask.
    pub from_zones: u64,
    /// To-zone mask.
    pub to_zones: u64,
    /// `RF_*`.
    pub flags: u16,
    /// Application id.
    pub app: u16,
    /// `RA_*`.
    pub action: u8,
    /// Protocol.
    pub proto: u8,
    /// ICMP type.
    pub icmp_type: u8,
    /// ICMP code.
    pub icmp_code: u8,
    /// Source ports, low.
    pub sport_lo: u16,
    /// Source ports, high.
    pub sport_hi: u16,
    /// Destination ports, low.
    pub dport_lo: u16,
    /// Destination ports, high.
    pub dport_hi: u16,
    /// `ScheduleSlot + 1` (0: no scheduler).
    pub sched: u16,
    /// Padding.
    pub pad0: [u16; 3],
}
layout!(
    Rule,
    56,
    id == 0,
    src_set == 4,
    dst_set == 8,
    timeout == 12,
    from_zones == 16,
    to_zones == 24,
    flags == 32,
    app == 34,
    action == 36,
    proto == 37,
    icmp_type == 38,
    icmp_code == 39,
    sport_lo == 40,
    sport_hi == 42,
    dport_lo == 44,
    dport_hi == 46,
    sched == 48
);

/// Data part of `struct xpf_lpm4_key` (aya adds the prefix length).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Lpm4 {
    /// Network-order tag (slot, set).
    pub tag: u32,
    /// Address.
    pub addr: [u8; 4],
}
layout!(Lpm4, 8, tag == 0, addr == 4);

/// Data part of `struct xpf_lpm6_key`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Lpm6 {
    /// Network-order tag.
    pub tag: u32,
    /// Address.
    pub addr: [u8; 16],
}
layout!(Lpm6, 20, tag == 0, addr == 4);

/// `struct xpf_exhaust`: the source-NAT exhaustion memo of one
/// (target, proto) (map `xpf_exhausted`, see the C header).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Exhaust {
    /// Slots the program released.
    pub releases: u64,
    /// `releases + 1` at the start of the last failed full scan (0: none).
    pub failed_at: u64,
}
layout!(Exhaust, 16, releases == 0, failed_at == 8);

/// Address sets a membership bitset covers (`AddressSetId` < this).
pub const MEMBER_SETS: u32 = 1024;

/// `struct xpf_members`: bit `id` set when address set `id` contains the
/// looked-up address (maps `xpf_members4` / `xpf_members6`).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Members {
    /// The set bits, `id / 64` then `id % 64`.
    pub bits: [u64; MEMBER_SETS as usize / 64],
}
layout!(Members, 128, bits == 0);

impl Default for Members {
    fn default() -> Self {
        Self {
            bits: [0; MEMBER_SETS as usize / 64],
        }
    }
}

impl Members {
    /// Adds set `id` (< [`MEMBER_SETS`]).
    pub fn insert(&mut self, id: u32) {
        self.bits[(id / 64) as usize] |= 1 << (id % 64);
    }

    /// Whether set `id` is in.
    pub fn contains(&self, id: u32) -> bool {
        id < MEMBER_SETS && self.bits[(id / 64) as usize] >> (id % 64) & 1 == 1
    }

    /// Adds every set of `other`.
    pub fn union(&mut self, other: &Self) {
        for (a, b) in self.bits.iter_mut().zip(other.bits) {
            *a |= b;
        }
    }
}

/// `struct xpf_route`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Route {
    /// `RT_*`.
    pub kind: u8,
    /// Padding.
    pub pad0: u8,
    /// Egress interface.
    pub iface: u16,
    /// Gateway.
    pub gateway: [u8; 16],
}
layout!(Route, 20, kind == 0, iface == 2, gateway == 4);

/// `struct xpf_addr_key`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AddrKey {
    /// Slot.
    pub slot: u32,
    /// 4 or 6.
    pub family: u32,
    /// Address.
    pub addr: [u8; 16],
}
layout!(AddrKey, 24, slot == 0, family == 4, addr == 8);

/// `struct xpf_neighbour`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Neighbour {
    /// MAC.
    pub mac: [u8; 6],
    /// Interface.
    pub iface: u16,
    /// Index of the entry's copy in the slot's part of `xpf_nexthops`.
    pub id: u32,
}
layout!(Neighbour, 12, mac == 0, iface == 6, id == 8);

/// `struct xpf_prefix`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Prefix {
    /// 4 or 6.
    pub family: u8,
    /// Prefix length.
    pub len: u8,
    /// Padding.
    pub pad0: [u8; 2],
    /// Address.
    pub addr: [u8; 16],
}
layout!(Prefix, 20, family == 0, len == 1, addr == 4);

/// `struct xpf_nat_match`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NatMatch {
    /// Source prefixes used.
    pub n_src: u8,
    /// Destination prefixes used.
    pub n_dst: u8,
    /// Source port ranges used.
    pub n_sports: u8,
    /// Destination port ranges used.
    pub n_dports: u8,
    /// Protocols used.
    pub n_protos: u8,
    /// Protocols.
    pub protos: [u8; NAT_PROTOS],
    /// Padding.
    pub pad0: [u8; 3],
    /// Source port ranges.
    pub sports: [[u16; 2]; NAT_PORTS],
    /// Destination port ranges.
    pub dports: [[u16; 2]; NAT_PORTS],
    /// Source prefixes.
    pub src: [Prefix; NAT_PREFIXES],
    /// Destination prefixes.
    pub dst: [Prefix; NAT_PREFIXES],
}
layout!(
    NatMatch,
    204,
    n_protos == 4,
    protos == 5,
    sports == 12,
    dports == 28,
    src == 44,
    dst == 124
);

/// `struct xpf_nat_ctx`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NatCtx {
    /// Zone mask.
    pub zones: u64,
    /// Interface mask.
    pub ifaces: [u64; (MAX_IFACES / 64) as usize],
}
layout!(NatCtx, 40, zones == 0, ifaces == 8);

/// `struct xpf_snat_rule`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SnatRule {
    /// Rule id.
    pub id: u32,
    /// `SNAT_*`.
    pub action: u8,
    /// Padding.
    pub pad0: u8,
    /// Pool.
    pub pool: u16,
    /// Ingress context.
    pub from: NatCtx,
    /// Egress context.
    pub to: NatCtx,
    /// Match.
    pub m: NatMatch,
    /// Padding.
    pub pad1: [u8; 4],
}
layout!(
    SnatRule,
    296,
    id == 0,
    action == 4,
    pool == 6,
    from == 8,
    to == 48,
    m == 88
);

/// `struct xpf_dnat_rule`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DnatRule {
    /// Rule id.
    pub id: u32,
    /// Translates (a pool is set).
    pub has_pool: u8,
    /// Translates the port.
    pub has_port: u8,
    /// Translated port.
    pub port: u16,
    /// Family of `addr`.
    pub family: u8,
    /// Padding.
    pub pad0: [u8; 3],
    /// Translated address.
    pub addr: [u8; 16],
    /// Padding.
    pub pad1: u32,
    /// Ingress context.
    pub from: NatCtx,
    /// Match.
    pub m: NatMatch,
    /// Padding.
    pub pad2: [u8; 4],
}
layout!(
    DnatRule,
    280,
    id == 0,
    has_pool == 4,
    has_port == 5,
    port == 6,
    family == 8,
    addr == 12,
    from == 32,
    m == 72
);

/// `struct xpf_static_rule`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StaticRule {
    /// Rule id.
    pub id: u32,
    /// Public prefix.
    pub public_net: Prefix,
    /// Private prefix.
    pub private_net: Prefix,
    /// Padding.
    pub pad0: u32,
    /// Inbound context.
    pub from: NatCtx,
}
layout!(
    StaticRule,
    88,
    id == 0,
    public_net == 4,
    private_net == 24,
    from == 48
);

/// `struct xpf_pool`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pool {
    /// Present.
    pub valid: u8,
    /// 4 or 6.
    pub family: u8,
    /// First port.
    pub port_low: u16,
    /// Last port.
    pub port_high: u16,
    /// `POOL_*` flags.
    pub flags: u8,
    /// Padding.
    pub pad0: u8,
    /// Addresses.
    pub addr_count: u32,
    /// Padding.
    pub pad1: u32,
}
layout!(
    Pool,
    16,
    valid == 0,
    family == 1,
    port_low == 2,
    port_high == 4,
    addr_count == 8
);

/// `struct xpf_pool_addr_key`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PoolAddrKey {
    /// Slot.
    pub slot: u32,
    /// Pool id.
    pub pool: u16,
    /// Padding.
    pub pad0: u16,
    /// Address index.
    pub index: u32,
}
layout!(PoolAddrKey, 12, slot == 0, pool == 4, index == 8);

/// `struct xpf_slot_key`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SlotKey {
    /// Pool id or `0x8000 | InterfaceId`.
    pub target: u16,
    /// Protocol.
    pub proto: u8,
    /// Padding.
    pub pad0: u8,
    /// Slot number.
    pub slot: u32,
}
layout!(SlotKey, 8, target == 0, proto == 2, slot == 4);

/// `struct xpf_sess_key`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessKey {
    /// 4 or 6.
    pub family: u8,
    /// Protocol.
    pub proto: u8,
    /// Source port.
    pub sport: u16,
    /// Destination port.
    pub dport: u16,
    /// Padding.
    pub pad0: u16,
    /// Source address.
    pub src: [u8; 16],
    /// Destination address.
    pub dst: [u8; 16],
}
layout!(
    SessKey,
    40,
    family == 0,
    proto == 1,
    sport == 2,
    dport == 4,
    src == 8,
    dst == 24
);

/// `struct xpf_tcp_side`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TcpSide {
    /// Highest sequence end seen.
    pub end: u32,
    /// Highest acceptable end.
    pub max_end: u32,
    /// Largest window.
    pub max_win: u32,
    /// Window scale.
    pub scale: u8,
    /// Window scale offered.
    pub scale_offered: u8,
    /// FIN seen.
    pub fin_seen: u8,
    /// FIN acknowledged.
    pub fin_acked: u8,
}
layout!(
    TcpSide,
    16,
    end == 0,
    max_end == 4,
    max_win == 8,
    scale == 12,
    scale_offered == 13,
    fin_seen == 14,
    fin_acked == 15
);

/// `struct xpf_tcp`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tcp {
    /// Initiator and responder.
    pub sides: [TcpSide; 2],
    /// `TcpState` number.
    pub state: u8,
    /// Liberal (mid-stream pickup).
    pub liberal: u8,
    /// A tracker exists.
    pub valid: u8,
    /// Padding.
    pub pad0: u8,
    /// Update counter.
    pub version: u32,
}
layout!(
    Tcp,
    40,
    sides == 0,
    state == 32,
    liberal == 33,
    valid == 34,
    version == 36
);

/// `struct xpf_sess`. Field order is the established path's (hot fields
/// first; see the C header).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sess {
    /// Reverse entry.
    pub is_reverse: u8,
    /// `SessionState` number.
    pub state: u8,
    /// Never answered.
    pub embryonic: u8,
    /// Redundancy group.
    pub rg: u8,
    /// `POOL_*` flags of the source mapping's pool.
    pub nat_kind: u8,
    /// Padding.
    pub pad0: u8,
    /// `SessionFlags` bits.
    pub flags: u16,
    /// Ingress interface.
    pub in_if: u16,
    /// Egress interface.
    pub out_if: u16,
    /// Policy rule.
    pub rule: u32,
    /// Last packet, Unix ns.
    pub last_seen_ns: u64,
    /// Forward packets.
    pub fwd_packets: u64,
    /// Forward L3 bytes.
    pub fwd_bytes: u64,
    /// Reverse packets.
    pub rev_packets: u64,
    /// Reverse L3 bytes.
    pub rev_bytes: u64,
    /// The other entry's key.
    pub other: SessKey,
    /// Session id.
    pub session_id: u64,
    /// TCP tracker.
    pub tcp: Tcp,
    /// Timeout, s.
    pub timeout: u32,
    /// Application timeout (0: none).
    pub app_timeout: u32,
    /// Source NAT rule.
    pub nat_rule_src: u32,
    /// Destination NAT rule.
    pub nat_rule_dst: u32,
    /// Port slot of the mapping.
    pub slot: u32,
    /// Application.
    pub app: u16,
    /// Ingress zone.
    pub in_zone: u16,
    /// Egress zone.
    pub out_zone: u16,
    /// Pool.
    pub nat_pool: u16,
    /// Slot target of the mapping (0: none).
    pub snat_target: u16,
    /// Padding.
    pub pad1: u16,
    /// Created, Unix ns.
    pub created_ns: u64,
    /// Install order.
    pub order: u64,
}
layout!(
    Sess,
    192,
    is_reverse == 0,
    state == 1,
    embryonic == 2,
    rg == 3,
    nat_kind == 4,
    flags == 6,
    in_if == 8,
    out_if == 10,
    rule == 12,
    last_seen_ns == 16,
    fwd_packets == 24,
    fwd_bytes == 32,
    rev_packets == 40,
    rev_bytes == 48,
    other == 56,
    session_id == 96,
    tcp == 104,
    timeout == 144,
    app_timeout == 148,
    nat_rule_src == 152,
    nat_rule_dst == 156,
    slot == 160,
    app == 164,
    in_zone == 166,
    out_zone == 168,
    nat_pool == 170,
    snat_target == 172,
    created_ns == 176,
    order == 184
);

/// `struct xpf_sess_val`: the session map value.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SessVal {
    /// The program's cached next hop per direction, `epoch << 32 |
    /// neighbour id` (written by the program; the control plane writes it
    /// zeroed or as read: a stale epoch is never used). First, so it shares
    /// the established path's cache lines with the session's hot fields.
    pub nh: [u64; 2],
    /// The data.
    pub s: Sess,
    /// The program's spin lock (never touched here).
    pub lock: u32,
    /// Padding.
    pub pad0: u32,
}
layout!(SessVal, 216, nh == 0, s == 16, lock == 208);

/// Datagrams the fragment table follows at once (`xpf_frags`).
pub const FRAG_CAPACITY: u32 = 4096;
/// Fragments recorded per datagram.
pub const FRAG_RANGES: usize = 64;

/// `struct xpf_frag_key`: a datagram's identity.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FragKey {
    /// 4 or 6.
    pub family: u8,
    /// Protocol (IPv6: after the walked chain).
    pub proto: u8,
    /// Padding.
    pub pad0: u16,
    /// Identification.
    pub id: u32,
    /// Source address (IPv4 in the first 4 bytes).
    pub src: [u8; 16],
    /// Destination address.
    pub dst: [u8; 16],
}
layout!(
    FragKey,
    40,
    family == 0,
    proto == 1,
    id == 4,
    src == 8,
    dst == 24
);

/// `struct xpf_frag_range`: `[start, stop)` bytes of a datagram.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FragRange {
    /// First byte.
    pub start: u32,
    /// One past the last byte.
    pub stop: u32,
}
layout!(FragRange, 8, start == 0, stop == 4);

/// `struct xpf_frag`: what is known of a datagram.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Frag {
    /// Unix ns of its first fragment.
    pub first_seen: u64,
    /// Ranges recorded.
    pub n: u32,
    /// Sum of the recorded ranges' lengths.
    pub covered: u32,
    /// Largest recorded stop.
    pub max_stop: u32,
    /// The datagram's end (when `has_end`).
    pub end: u32,
    /// First fragment's source port.
    pub sport: u16,
    /// First fragment's destination port.
    pub dport: u16,
    /// The ports are known.
    pub has_ports: u8,
    /// The last fragment was seen.
    pub has_end: u8,
    /// Padding.
    pub pad0: [u8; 2],
    /// Recorded ranges (`n` of them).
    pub ranges: [FragRange; FRAG_RANGES],
}
layout!(
    Frag,
    544,
    first_seen == 0,
    n == 8,
    covered == 12,
    max_stop == 16,
    end == 20,
    sport == 24,
    dport == 26,
    has_ports == 28,
    has_end == 29,
    ranges == 32
);

impl Default for Frag {
    fn default() -> Self {
        Self {
            first_seen: 0,
            n: 0,
            covered: 0,
            max_stop: 0,
            end: 0,
            sport: 0,
            dport: 0,
            has_ports: 0,
            has_end: 0,
            pad0: [0; 2],
            ranges: [FragRange::default(); FRAG_RANGES],
        }
    }
}

/// `struct xpf_frag_val`: the map value of `xpf_frags`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FragVal {
    /// The program's spin lock (never touched here).
    pub lock: u32,
    /// Padding.
    pub pad0: u32,
    /// The data.
    pub f: Frag,
}
layout!(FragVal, 552, lock == 0, f == 8);

/// `struct xpf_frag_age`: insertion record of a datagram (`xpf_frag_ages`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FragAge {
    /// The datagram.
    pub key: FragKey,
    /// Its first fragment's time.
    pub first_seen: u64,
}
layout!(FragAge, 48, key == 0, first_seen == 40);

/// `struct xpf_embryo`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Embryo {
    /// Forward key.
    pub key: SessKey,
    /// Session id.
    pub session_id: u64,
}
layout!(Embryo, 48, key == 0, session_id == 40);

/// `struct xpf_record`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Record {
    /// `XR_*`.
    pub kind: u32,
    /// Close reason / rejected.
    pub reason: u32,
    /// Unix ns.
    pub time_ns: u64,
    /// Forward key (deny: the packet's tuple).
    pub key: SessKey,
    /// Session snapshot.
    pub s: Sess,
}
layout!(
    Record,
    248,
    kind == 0,
    reason == 4,
    time_ns == 8,
    key == 16,
    s == 56
);

/// `struct xpf_pkt_cnt`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PktCnt {
    /// Packets.
    pub packets: u64,
    /// Bytes.
    pub bytes: u64,
}
layout!(PktCnt, 16, packets == 0, bytes == 8);

/// `struct xpf_if_cnt`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IfCnt {
    /// Received packets.
    pub rx_packets: u64,
    /// Received bytes.
    pub rx_bytes: u64,
    /// Sent packets.
    pub tx_packets: u64,
    /// Sent bytes.
    pub tx_bytes: u64,
    /// Received and dropped.
    pub rx_dropped: u64,
    /// Dropped on send.
    pub tx_dropped: u64,
}
layout!(
    IfCnt,
    48,
    rx_packets == 0,
    rx_bytes == 8,
    tx_packets == 16,
    tx_bytes == 24,
    rx_dropped == 32,
    tx_dropped == 40
);

/// `struct xpf_zone_cnt`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ZoneCnt {
    /// Ingress packets.
    pub in_packets: u64,
    /// Ingress bytes.
    pub in_bytes: u64,
    /// Egress packets.
    pub eg_packets: u64,
    /// Egress bytes.
    pub eg_bytes: u64,
    /// Dropped.
    pub dropped: u64,
}
layout!(
    ZoneCnt,
    40,
    in_packets == 0,
    in_bytes == 8,
    eg_packets == 16,
    eg_bytes == 24,
    dropped == 32
);

pod!(
    Globals,
    State,
    Trace,
    Fabric,
    GenCfg,
    Sched,
    Flood,
    LimitKey,
    PersistKey,
    Binding,
    BindKey,
    Term,
    Bucket,
    Iface,
    Zone,
    IfindexKey,
    PairKey,
    Span,
    Rule,
    Lpm4,
    Lpm6,
    Members,
    Exhaust,
    Route,
    AddrKey,
    Neighbour,
    Prefix,
    NatMatch,
    NatCtx,
    SnatRule,
    DnatRule,
    StaticRule,
    Pool,
    PoolAddrKey,
    SlotKey,
    SessKey,
    TcpSide,
    Tcp,
    Sess,
    SessVal,
    FragKey,
    FragRange,
    Frag,
    FragVal,
    FragAge,
    Embryo,
    Record,
    PktCnt,
    IfCnt,
    ZoneCnt,
);

/// Reads a [`Record`] from ring-buffer bytes (`None` when too short).
pub fn record_from_bytes(bytes: &[u8]) -> Option<Record> {
    if bytes.len() < size_of::<Record>() {
        return None;
    }
    // SAFETY: `Record` is Pod (any bit pattern is valid), the source holds
    // at least size_of::<Record>() bytes, and read_unaligned has no
    // alignment requirement.
    Some(unsafe { std::ptr::read_unaligned(bytes.as_ptr().cast::<Record>()) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use xpf_runtime::counters::{BaseCounter, DropReason};

    #[test]
    fn counter_slots_match_the_runtime_enums() {
        assert_eq!(BaseCounter::COUNT as u32, BASE_COUNT);
        assert!(BASE_COUNT as usize + DropReason::COUNT <= COUNTERS as usize);
        assert_eq!(
            BASE_COUNT as usize + DropReason::COUNT,
            FABRIC_FORWARDED as usize,
            "the backend's counters follow the drop reasons"
        );
        assert_eq!(DropReason::IcmpErrorNoSession.index(), 45);
        assert_eq!(DropReason::TcpNonSynFirst.index(), 29);
        assert_eq!(DropReason::NoNeighbour.index(), 41);
        assert_eq!(DropReason::MalformedExtensionHeader.index(), 5);
        assert_eq!(DropReason::ScreenPingOfDeath.index(), 17);
        assert_eq!(DropReason::ScreenTearDrop.index(), 18);
        assert_eq!(DropReason::ScreenSynFrag.index(), 20);
        assert_eq!(DropReason::FragmentNoSession.index(), 43);
        assert_eq!(BaseCounter::DeltasDropped.index(), 17);
        assert_eq!(BaseCounter::MssClamped.index(), 14);
    }

    #[test]
    fn a_short_ring_buffer_record_is_refused() {
        assert!(record_from_bytes(&[0u8; 10]).is_none());
        let bytes = [0u8; size_of::<Record>()];
        assert_eq!(record_from_bytes(&bytes), Some(Record::default()));
    }
}
