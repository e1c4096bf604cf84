//! The established-flow fast path: a packet of a live session, in the
//! common shape, processed without the general pipeline's generality.
//!
//! It takes an untagged IPv4 (no options) or IPv6 (no extension headers)
//! frame carrying TCP (not SYN) or UDP, unfragmented, with TTL above 1,
//! arriving on an interface whose zone has no screen profile and that has
//! no input filter for the family, for a session whose egress interface
//! has no output filter. Everything else goes the general way
//! ([`super::process`]). The decision is made before anything changes, so
//! declining costs nothing but the checks.
//!
//! A packet of that shape whose lookup misses — a UDP packet or a TCP SYN
//! opening a flow — takes the single-pass first-packet path (`new_flow`)
//! on the same parse: DNAT, route (once), policy, NAT, session insert,
//! rewrite, forward, with the general path's results; what it does not
//! handle (screened zones, host-inbound traffic, rejects, egress filters,
//! MSS-clamped SYNs, ...) it declines before changing anything.
//!
//! When it takes a packet it does exactly what the general path does for
//! it (same checks in the same order, same counters, same drops, the same
//! bytes written), without building a `ParsedFrame`, without `IpAddr`
//! round trips, and with one read of each header field and of the
//! session's slot:
//!
//! ```text
//! parse (one pass over L2/L3/L4) ─► session lookup ─► TCP tracking ─► touch
//!   ─► route ─► neighbour ─► tuple rewrite + TTL (one incremental update
//!   per checksum) ─► MACs (+ VLAN push) ─► Forward
//! ```
//!
//! The outcome of the forward stage (drop before the TTL stage, drop after
//! it, or forward) is settled before the frame is written, so the tuple
//! and TTL changes are folded into one update per checksum
//! ([`rewrite::rewrite_plain_and_ttl`], byte-identical to the general
//! path's field-by-field updates). Counters of forwarded packets are
//! accumulated in a [`Tally`] and flushed once per `process` /
//! `process_batch` call (once per burst when its packets share
//! interfaces, zones and rule).
//!
//! A frame the general parser would reject is never taken: every length
//! and version check of [`parse_frame`](crate::wire::parse_frame) for this
//! shape is repeated here, including the IPv4 header checksum.

use super::{BATCH_LOOKAHEAD, State, on_closed};
use crate::checksum;
use crate::nat::{FlowRequest, SnatTarget};
use crate::nat_rules::{NatInput, NatRules};
use crate::policy::PolicyInput;
use crate::screen::{ScreenInput, ZoneFloods, stateless_check};
use crate::session::{Direction, Session, SessionHandle, TcpSegment, TcpViolation};
use crate::session::{InsertError, Inserted, SessionInit};
use crate::tables::{NextHop, Tables};
use crate::telemetry::Counters;
use crate::wire::rewrite::{self, PlainLayout};
use crate::wire::tcp::OptionsSummary;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use xpf_dataplane::compile::CompiledScreen;
use xpf_dataplane::compile::CompiledSourceAction;
use xpf_dataplane::config::{PolicyAction, TcpWindowCheck};
use xpf_dataplane::session_store::open_event;
use xpf_runtime::counters::BaseCounter;
use xpf_runtime::{AddressFamily, NatPoolId, NatRuleId, SessionFlags, SessionId};
use xpf_runtime::{
    CloseReason, DropReason, Event, FlowTuple, InterfaceId, IpProtocol, PolicyDenyEvent,
    PolicyRuleId, ScreenDropEvent, SessionDeltaReason, SessionKey, ZoneId,
};

use super::Verdict;

const ETH_LEN: usize = 14;
const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86dd;

/// The key of a fast-path packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum FastKey {
    /// IPv4.
    V4(SessionKey<Ipv4Addr>),
    /// IPv6.
    V6(SessionKey<Ipv6Addr>),
}

/// A frame the fast path accepts, parsed.
#[derive(Clone, Copy, Debug)]
pub(super) struct FastPacket {
    pub(super) key: FastKey,
    layout: PlainLayout,
    /// IP packet length (IPv4 total length, 40 + IPv6 payload length).
    l3_len: u16,
    /// The TCP segment, for TCP.
    seg: Option<TcpSegment>,
}

#[inline(always)]
fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

#[inline(always)]
fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Parses the transport header of `seg` (the bytes from the transport
/// header to the end of the IP packet): ports and, for TCP, the segment
/// (for a SYN with the window scale of its options, read as the general
/// parser reads them). `None` for what the general parser would reject.
#[inline(always)]
fn transport(protocol: u8, seg: &[u8]) -> Option<(u16, u16, Option<TcpSegment>)> {
    match IpProtocol(protocol) {
        IpProtocol::TCP => {
            if seg.len() < 20 {
                return None;
            }
            let header_len = usize::from(seg[12] >> 4) * 4;
            if header_len < 20 || header_len > seg.len() {
                return None;
            }
            let flags = seg[13];
            // The tracker reads the window scale of SYNs only (the general
            // parser's option summary; malformed options are not an error).
            let window_scale = if flags & TcpSegment::SYN != 0 && header_len > 20 {
                OptionsSummary::of(&seg[20..header_len]).window_scale
            } else {
                None
            };
            let segment = TcpSegment {
                flags,
                seq: be32(seg, 4),
                ack: be32(seg, 8),
                window: be16(seg, 14),
                payload_len: (seg.len() - header_len) as u32,
                window_scale,
            };
            Some((be16(seg, 0), be16(seg, 2), Some(segment)))
        }
        IpProtocol::UDP => {
            if seg.len() < 8 {
                return None;
            }
            let len = usize::from(be16(seg, 4));
            if len < 8 || len > seg.len() {
                return None;
            }
            Some((be16(seg, 0), be16(seg, 2), None))
        }
        _ => None,
    }
}

/// Parses a frame of the shape the fast path takes; `None` otherwise.
#[inline]
pub(super) fn parse(frame: &[u8]) -> Option<FastPacket> {
    let ethertype = u16::from_be_bytes([*frame.get(12)?, *frame.get(13)?]);
    match ethertype {
        ETHERTYPE_IPV4 => {
            let ip: &[u8; 20] = frame.get(ETH_LEN..ETH_LEN + 20)?.try_into().ok()?;
            // Version 4, no options.
            if ip[0] != 0x45 {
                return None;
            }
            let total = usize::from(be16(ip, 2));
            // Not a fragment (more-fragments or an offset); TTL above 1.
            if total < 20 || ETH_LEN + total > frame.len() || be16(ip, 6) & 0x3fff != 0 {
                return None;
            }
            if ip[8] <= 1 || !checksum::verify_ipv4_header20(ip) {
                return None;
            }
            let l4 = ETH_LEN + 20;
            let (sport, dport, seg) = transport(ip[9], &frame[l4..ETH_LEN + total])?;
            let key = SessionKey {
                src: Ipv4Addr::from(be32(ip, 12)),
                dst: Ipv4Addr::from(be32(ip, 16)),
                src_port: sport,
                dst_port: dport,
                protocol: IpProtocol(ip[9]),
            };
            Some(FastPacket {
                key: FastKey::V4(key),
                layout: PlainLayout {
                    l3: ETH_LEN,
                    l4,
                    v6: false,
                    udp: seg.is_none(),
                },
                l3_len: total as u16,
                seg,
            })
        }
        ETHERTYPE_IPV6 => {
            let ip = frame.get(ETH_LEN..ETH_LEN + 40)?;
            if ip[0] >> 4 != 6 {
                return None;
            }
            let payload = usize::from(be16(ip, 4));
            let l4 = ETH_LEN + 40;
            if l4 + payload > frame.len() || ip[7] <= 1 {
                return None;
            }
            // No extension headers: the next header is the transport.
            let (sport, dport, seg) = transport(ip[6], &frame[l4..l4 + payload])?;
            let addr = |at: usize| {
                let mut a = [0u8; 16];
                a.copy_from_slice(&ip[at..at + 16]);
                Ipv6Addr::from(a)
            };
            let key = SessionKey {
                src: addr(8),
                dst: addr(24),
                src_port: sport,
                dst_port: dport,
                protocol: IpProtocol(ip[6]),
            };
            Some(FastPacket {
                key: FastKey::V6(key),
                layout: PlainLayout {
                    l3: ETH_LEN,
                    l4,
                    v6: true,
                    udp: seg.is_none(),
                },
                l3_len: (40 + payload) as u16,
                seg,
            })
        }
        _ => None,
    }
}

/// A frame's fast-path parse and session lookup, made ahead by a batch.
pub(super) type Ahead = (FastPacket, Option<(SessionHandle, Direction)>);

/// Parses `group` and looks up its sessions stage by stage (see
/// [`Engine::process_batch`](super::Engine::process_batch)): every stage
/// issues independent loads for all frames before the next stage needs
/// them, so their cache misses overlap. Safe Rust has no prefetch
/// instruction; these are plain reads whose results are used.
pub(super) fn look_ahead(
    t: &Tables,
    s: &State,
    group: &[(InterfaceId, Vec<u8>)],
    ahead: &mut [Option<Ahead>; BATCH_LOOKAHEAD],
) {
    let mut hashes = [(0u64, 0u64); BATCH_LOOKAHEAD];
    // 1: parse and hash.
    for (((ingress, frame), slot), h) in group.iter().zip(ahead.iter_mut()).zip(&mut hashes) {
        let Some(pkt) = parse(frame) else { continue };
        if !t
            .fast_interface(*ingress)
            .is_some_and(|f| f.fast_in[usize::from(pkt.layout.v6)])
        {
            continue;
        }
        h.0 = match &pkt.key {
            FastKey::V4(k) => s.sessions.hash_v4(k),
            FastKey::V6(k) => s.sessions.hash_v6(k),
        };
        *slot = Some((pkt, None));
    }
    // 2: read every home bucket of the index.
    for (slot, h) in ahead.iter().zip(&mut hashes) {
        if slot.is_some() {
            h.1 = s.sessions.home_bucket(h.0);
        }
    }
    // 3: finish the lookups (reads the keys in the slab).
    for (slot, h) in ahead.iter_mut().zip(&hashes) {
        if let Some((pkt, hit)) = slot {
            *hit = match &pkt.key {
                FastKey::V4(k) => s.sessions.lookup_v4_hashed(k, h.0, h.1),
                FastKey::V6(k) => s.sessions.lookup_v6_hashed(k, h.0, h.1),
            };
        }
    }
    // 4: read the session records: the hot part (with the keys, one cache
    // line of an IPv4 slot) and, for TCP, the tracker.
    let mut sum = 0u64;
    for (pkt, hit) in ahead.iter().flatten() {
        if let Some((h, _)) = hit
            && let Some(sess) = s.sessions.try_get(*h)
        {
            sum ^= sess.last_seen_ns() ^ u64::from(sess.egress_interface().0);
            if pkt.seg.is_some() {
                sum ^= sess.tcp_state() as u64;
            }
        }
    }
    std::hint::black_box(sum);
}

/// The zone's screens for a fast-path packet, as the general path runs
/// them (a plain, unfragmented packet without IP options or routing
/// headers): a drop verdict, with its event, or `None` to go on.
#[allow(clippy::too_many_arguments)]
fn screen<A: FastAddr>(
    s: &mut State,
    profile: &CompiledScreen,
    key: &SessionKey<A>,
    v6: bool,
    l3_len: u16,
    seg: Option<TcpSegment>,
    zone: ZoneId,
    ingress: InterfaceId,
    now_ns: u64,
) -> Option<Verdict> {
    let (src, dst, protocol, sport, dport): (IpAddr, IpAddr, _, _, _) = (
        key.src.into(),
        key.dst.into(),
        key.protocol,
        key.src_port,
        key.dst_port,
    );
    let header = if v6 { 40 } else { 20 };
    let input = ScreenInput {
        src,
        dst,
        protocol,
        tcp_flags: seg.map(|t| t.flags),
        dst_port: Some(dport),
        is_fragment: false,
        fragment_offset: 0,
        more_fragments: false,
        payload_len: u32::from(l3_len) - header,
        source_route: false,
    };
    let kind = stateless_check(profile, &input).or_else(|| {
        let flood = ZoneFloods::classify(&input)?;
        s.floods.get_mut(zone.index())?.admit(flood, now_ns).err()
    })?;
    s.telemetry.event(Event::ScreenDrop(ScreenDropEvent {
        time_ns: now_ns,
        kind,
        flow: FlowTuple {
            src,
            src_port: sport,
            dst,
            dst_port: dport,
            protocol,
            icmp_type: None,
        },
        zone,
        interface: ingress,
    }));
    Some(Verdict::Drop(kind.drop_reason()))
}

/// Where the forward stage sends a packet to `dst`: the route, then the
/// gateway's MAC (the general path's `route` + `neighbour` steps).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) enum Resolved {
    /// No route.
    #[default]
    NoRoute,
    /// A discard route.
    Discard,
    /// A route whose gateway has no neighbour entry.
    NoNeighbour,
    /// The gateway's MAC.
    Mac([u8; 6]),
}

/// Resolves `dst` through the tables.
fn resolve(t: &Tables, dst: IpAddr) -> Resolved {
    match t.route(dst) {
        None => Resolved::NoRoute,
        Some(NextHop::Discard) => Resolved::Discard,
        Some(NextHop::Via { gateway, .. }) => match t.neighbour(gateway) {
            Some(mac) => Resolved::Mac(mac.0),
            None => Resolved::NoNeighbour,
        },
    }
}

/// Entries of the [`NextHopCache`].
const NEXT_HOP_SLOTS: usize = 256;

/// Resolved forwarding of recent IPv4 destinations, direct-mapped: the
/// fast path's shortcut past the route trie and the neighbour search. The
/// tables of one generation are immutable, so an entry is exact until the
/// tables change; [`clear`](Self::clear) is called whenever they do.
#[derive(Clone, Debug)]
pub(super) struct NextHopCache {
    /// `(destination, resolution)`; `None` when empty.
    slots: Box<[Option<(u32, Resolved)>; NEXT_HOP_SLOTS]>,
}

impl Default for NextHopCache {
    fn default() -> Self {
        Self {
            slots: Box::new([None; NEXT_HOP_SLOTS]),
        }
    }
}

impl NextHopCache {
    /// Forgets everything (the tables changed).
    pub(super) fn clear(&mut self) {
        self.slots.fill(None);
    }

    /// The resolution of `dst` under `t`.
    #[inline(always)]
    fn resolve_v4(&mut self, t: &Tables, dst: Ipv4Addr) -> Resolved {
        let bits = dst.to_bits();
        let at = (bits.wrapping_mul(0x9e37_79b1) >> 24) as usize % NEXT_HOP_SLOTS;
        match self.slots[at] {
            Some((d, r)) if d == bits => r,
            _ => {
                let r = resolve(t, IpAddr::V4(dst));
                self.slots[at] = Some((bits, r));
                r
            }
        }
    }
}

/// What the fast path does differently per address family.
trait FastAddr: Copy + Eq + Into<IpAddr> {
    /// The address's bytes.
    type Octets: Copy + Eq;
    /// The address's bytes.
    fn octets(self) -> Self::Octets;
    /// The session of `key`.
    fn lookup(s: &State, key: &SessionKey<Self>) -> Option<(SessionHandle, Direction)>;
    /// A live session's `[forward, reverse]` keys and record.
    fn slot(s: &State, h: SessionHandle) -> Option<(&[SessionKey<Self>; 2], &Session)>;
    /// Rewrites the tuple `old` → `new` and, with `ttl`, decrements the
    /// TTL, with one update per checksum (see
    /// [`rewrite::rewrite_plain_and_ttl`]).
    fn rewrite(
        frame: &mut [u8],
        lay: PlainLayout,
        old: &SessionKey<Self>,
        new: &SessionKey<Self>,
        ttl: bool,
    ) -> Result<(), rewrite::RewriteError>;
    /// Where the forward stage sends a packet to `dst`.
    fn resolve(s: &mut State, t: &Tables, dst: Self) -> Resolved;
    /// The address, if it is of this family.
    fn from_ip(a: IpAddr) -> Option<Self>;
    /// Inserts a session whose forward key was just looked up and missed
    /// ([`SessionTable::insert_missed_v4`](crate::session::SessionTable)).
    fn insert_missed(
        s: &mut State,
        forward: SessionKey<Self>,
        reverse: SessionKey<Self>,
        init: &SessionInit,
        now_ns: u64,
    ) -> Result<Inserted, InsertError>;
}

/// `(src, dst, src_port, dst_port)` of a key, addresses as bytes.
#[inline(always)]
fn tuple<A: FastAddr>(k: &SessionKey<A>) -> (A::Octets, A::Octets, u16, u16) {
    (k.src.octets(), k.dst.octets(), k.src_port, k.dst_port)
}

impl FastAddr for Ipv4Addr {
    type Octets = [u8; 4];
    #[inline(always)]
    fn octets(self) -> [u8; 4] {
        Ipv4Addr::octets(&self)
    }
    #[inline(always)]
    fn lookup(s: &State, key: &SessionKey<Self>) -> Option<(SessionHandle, Direction)> {
        s.sessions.lookup_v4(key)
    }
    #[inline(always)]
    fn slot(s: &State, h: SessionHandle) -> Option<(&[SessionKey<Self>; 2], &Session)> {
        s.sessions.slot_v4(h)
    }
    #[inline(always)]
    fn rewrite(
        frame: &mut [u8],
        lay: PlainLayout,
        old: &SessionKey<Self>,
        new: &SessionKey<Self>,
        ttl: bool,
    ) -> Result<(), rewrite::RewriteError> {
        rewrite::rewrite_plain_and_ttl(frame, lay, tuple(old), tuple(new), ttl)
    }
    #[inline(always)]
    fn resolve(s: &mut State, t: &Tables, dst: Self) -> Resolved {
        s.next_hops.resolve_v4(t, dst)
    }
    #[inline(always)]
    fn from_ip(a: IpAddr) -> Option<Self> {
        match a {
            IpAddr::V4(a) => Some(a),
            IpAddr::V6(_) => None,
        }
    }
    #[inline(always)]
    fn insert_missed(
        s: &mut State,
        forward: SessionKey<Self>,
        reverse: SessionKey<Self>,
        init: &SessionInit,
        now_ns: u64,
    ) -> Result<Inserted, InsertError> {
        s.sessions.insert_missed_v4(forward, reverse, init, now_ns)
    }
}

impl FastAddr for Ipv6Addr {
    type Octets = [u8; 16];
    #[inline(always)]
    fn octets(self) -> [u8; 16] {
        Ipv6Addr::octets(&self)
    }
    #[inline(always)]
    fn lookup(s: &State, key: &SessionKey<Self>) -> Option<(SessionHandle, Direction)> {
        s.sessions.lookup_v6(key)
    }
    #[inline(always)]
    fn slot(s: &State, h: SessionHandle) -> Option<(&[SessionKey<Self>; 2], &Session)> {
        s.sessions.slot_v6(h)
    }
    #[inline(always)]
    fn rewrite(
        frame: &mut [u8],
        lay: PlainLayout,
        old: &SessionKey<Self>,
        new: &SessionKey<Self>,
        ttl: bool,
    ) -> Result<(), rewrite::RewriteError> {
        rewrite::rewrite_plain_and_ttl(frame, lay, tuple(old), tuple(new), ttl)
    }
    #[inline(always)]
    fn resolve(_: &mut State, t: &Tables, dst: Self) -> Resolved {
        resolve(t, dst.into())
    }
    #[inline(always)]
    fn from_ip(a: IpAddr) -> Option<Self> {
        match a {
            IpAddr::V6(a) => Some(a),
            IpAddr::V4(_) => None,
        }
    }
    #[inline(always)]
    fn insert_missed(
        s: &mut State,
        forward: SessionKey<Self>,
        reverse: SessionKey<Self>,
        init: &SessionInit,
        now_ns: u64,
    ) -> Result<Inserted, InsertError> {
        s.sessions.insert_missed_v6(forward, reverse, init, now_ns)
    }
}

/// Which counters a forwarded fast-path packet adds to: the ingress and
/// egress interfaces and zones and the session's policy rule.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct TallyKey {
    ingress: InterfaceId,
    in_zone: ZoneId,
    egress: InterfaceId,
    out_zone: ZoneId,
    rule: PolicyRuleId,
}

/// Counters of forwarded fast-path packets, accumulated while consecutive
/// packets share a [`TallyKey`] (in a burst, typically all of them) and
/// added to the engine's counters when the key changes and at the end of
/// every [`Engine::process`](super::Engine::process) and
/// [`Engine::process_batch`](super::Engine::process_batch) call, so
/// counters are exact whenever the caller can read them. A forwarded
/// packet then costs a handful of register additions instead of about a
/// dozen scattered counter writes.
#[derive(Clone, Debug, Default)]
pub(super) struct Tally {
    key: TallyKey,
    packets: u64,
    /// Frame bytes as received.
    rx_bytes: u64,
    /// Frame bytes as sent (a pushed VLAN tag included).
    tx_bytes: u64,
    /// IP bytes (the policy rule's counter).
    l3_bytes: u64,
    /// Packets whose tuple the session translated.
    translated: u64,
}

impl Tally {
    /// Accounts one forwarded packet.
    #[inline(always)]
    fn add(&mut self, c: &mut Counters, key: TallyKey, rx: u64, tx: u64, l3: u64, nat: bool) {
        if key != self.key {
            self.flush(c);
            self.key = key;
        }
        self.packets += 1;
        self.rx_bytes += rx;
        self.tx_bytes += tx;
        self.l3_bytes += l3;
        self.translated += u64::from(nat);
    }

    /// Adds what was accumulated to `c`, exactly as the general path counts
    /// each of those packets (global, interface, zone and rule counters).
    pub(super) fn flush(&mut self, c: &mut Counters) {
        let n = self.packets;
        if n == 0 {
            return;
        }
        let k = self.key;
        c.add(BaseCounter::RxPackets, n);
        c.add(BaseCounter::RxBytes, self.rx_bytes);
        c.add(BaseCounter::SessionHits, n);
        c.add(BaseCounter::Forwarded, n);
        if self.translated != 0 {
            c.add(BaseCounter::NatTranslated, self.translated);
        }
        if let Some(i) = c.interfaces.get_mut(k.ingress.index()) {
            i.rx.packets += n;
            i.rx.bytes += self.rx_bytes;
        }
        if let Some(z) = c.zones.get_mut(k.in_zone.index()) {
            z.ingress.packets += n;
            z.ingress.bytes += self.rx_bytes;
        }
        // Sessions admitted by a default-permit without a rule count under
        // no rule (as on the general path).
        if !k.rule.is_none()
            && let Some(p) = c.policies.get_mut(k.rule.index())
        {
            p.packets += n;
            p.bytes += self.l3_bytes;
        }
        if let Some(i) = c.interfaces.get_mut(k.egress.index()) {
            i.tx.packets += n;
            i.tx.bytes += self.tx_bytes;
        }
        if let Some(z) = c.zones.get_mut(k.out_zone.index()) {
            z.egress.packets += n;
            z.egress.bytes += self.tx_bytes;
        }
        *self = Self {
            key: k,
            ..Self::default()
        };
    }
}

/// What the fast path did with a frame it took.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Taken {
    /// Forwarded out of the interface, every counter of the packet already
    /// accounted (in the engine's [`Tally`]).
    Forwarded(InterfaceId),
    /// Another verdict: the packet's counters up to the verdict are
    /// accounted; the caller accounts the verdict itself, as for the
    /// general path.
    Other(Verdict),
}

/// Runs the fast path for `frame` arriving on `ingress`; `None` when the
/// frame must take the general path (nothing was changed). `found` is the
/// packet's parse and lookup when the caller already has them (batch
/// lookahead), still current.
#[inline]
pub(super) fn established(
    t: &Tables,
    nat: &NatRules,
    s: &mut State,
    now_ns: u64,
    ingress: InterfaceId,
    frame: &mut Vec<u8>,
    found: Option<Ahead>,
) -> Option<Taken> {
    let fin = t.fast_interface(ingress)?;
    let (pkt, hit) = match found {
        Some((pkt, hit)) => (pkt, hit),
        None => (parse(frame)?, None),
    };
    let FastPacket {
        key,
        layout,
        l3_len,
        seg,
    } = pkt;
    match key {
        FastKey::V4(k) => established_in(
            t, nat, s, now_ns, ingress, frame, fin, k, layout, l3_len, seg, hit,
        ),
        FastKey::V6(k) => established_in(
            t, nat, s, now_ns, ingress, frame, fin, k, layout, l3_len, seg, hit,
        ),
    }
}

/// Counts a received packet the fast path took and then dropped (the
/// general path counts these before its first drop point).
#[inline(never)]
fn count_rx(c: &mut Counters, ingress: InterfaceId, zone: ZoneId, bytes: u64) {
    c.add(BaseCounter::RxPackets, 1);
    c.add(BaseCounter::RxBytes, bytes);
    if let Some(i) = c.interfaces.get_mut(ingress.index()) {
        i.rx.packets += 1;
        i.rx.bytes += bytes;
    }
    if let Some(z) = c.zones.get_mut(zone.index()) {
        z.ingress.packets += 1;
        z.ingress.bytes += bytes;
    }
}

/// Counts a packet dropped after its tuple was rewritten: received,
/// session hit, translated, and its rule.
#[cold]
#[inline(never)]
fn count_rewritten(c: &mut Counters, k: TallyKey, bytes: u64, l3: u64, nat: bool) {
    count_rx(c, k.ingress, k.in_zone, bytes);
    c.add(BaseCounter::SessionHits, 1);
    if nat {
        c.add(BaseCounter::NatTranslated, 1);
    }
    if !k.rule.is_none()
        && let Some(p) = c.policies.get_mut(k.rule.index())
    {
        p.packets += 1;
        p.bytes += l3;
    }
}

/// [`established`] for one address family.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn established_in<A: FastAddr>(
    t: &Tables,
    nat: &NatRules,
    s: &mut State,
    now_ns: u64,
    ingress: InterfaceId,
    frame: &mut Vec<u8>,
    fin: &crate::tables::FastInterface,
    key: SessionKey<A>,
    layout: PlainLayout,
    l3_len: u16,
    seg: Option<TcpSegment>,
    hit: Option<(SessionHandle, Direction)>,
) -> Option<Taken> {
    let family = usize::from(layout.v6);
    if !fin.fast_in[family] {
        return None;
    }
    if let Some(rg) = fin.redundancy_group
        && s.rg_inactive.contains(&rg)
    {
        return None;
    }
    let syn = seg.is_some_and(|g| g.flags & TcpSegment::SYN != 0);
    let (h, dir) = match hit {
        Some(hit) => hit,
        None => match A::lookup(s, &key) {
            Some(hit) => hit,
            // A first packet: the single-pass new-flow path for UDP and
            // TCP SYNs (unless SYNs are MSS-clamped), the general path
            // otherwise.
            None if seg.is_none() || (syn && t.compiled.flow.tcp_mss.is_none()) => {
                return new_flow(
                    t, nat, s, now_ns, ingress, frame, fin, key, layout, l3_len, seg,
                );
            }
            None => return None,
        },
    };
    // SYNs of live sessions (retransmissions, reopen attempts) take the
    // general path.
    if syn {
        return None;
    }
    // One read of the slot: the other direction's key (the packet leaves
    // with it reversed) and the per-packet fields of the record.
    let (keys, sess) = A::slot(s, h)?;
    let other = keys[dir.opposite().index()];
    let egress = match dir {
        Direction::Forward => sess.egress_interface(),
        Direction::Reverse => sess.ingress_interface(),
    };
    let owner_rg = sess.owner_rg();
    let rule = sess.policy_rule();
    let eif = t.fast_interface(egress)?;
    if eif.out_filter[family] {
        return None;
    }

    // From here on the packet is ours: the general path's bookkeeping up to
    // the session lookup, then its `established` and `forward` stages.
    let bytes = frame.len() as u64;
    let l3 = u64::from(l3_len);
    let tally = TallyKey {
        ingress,
        in_zone: fin.zone,
        egress,
        out_zone: eif.zone,
        rule,
    };
    if fin.screened
        && let Some(profile) = t.zone_screen(fin.zone)
        && let Some(v) = screen(
            s, profile, &key, layout.v6, l3_len, seg, fin.zone, ingress, now_ns,
        )
    {
        count_rx(&mut s.telemetry.counters, ingress, fin.zone, bytes);
        return Some(Taken::Other(v));
    }
    if let Some(seg) = &seg {
        let drop = match s.sessions.track_tcp(h, dir, seg) {
            Ok(update) => {
                if update.state != update.previous {
                    let sessions = &s.sessions;
                    s.telemetry
                        .delta_with(SessionDeltaReason::Update, || sessions.forward_entry(h));
                }
                None
            }
            Err(TcpViolation::OutOfWindow) => Some(DropReason::TcpOutOfWindow),
            Err(TcpViolation::Reopen) => {
                let closed = s.sessions.remove(h, CloseReason::TcpFin);
                on_closed(s, closed, now_ns);
                Some(DropReason::TcpInvalidState)
            }
            Err(_) => Some(DropReason::TcpInvalidState),
        };
        if let Some(reason) = drop {
            let c = &mut s.telemetry.counters;
            count_rx(c, ingress, fin.zone, bytes);
            c.add(BaseCounter::SessionHits, 1);
            return Some(Taken::Other(Verdict::Drop(reason)));
        }
    }
    s.sessions.touch(h, dir, l3, now_ns);
    if !owner_rg.is_none() && s.rg_inactive.contains(&owner_rg) {
        let c = &mut s.telemetry.counters;
        count_rx(c, ingress, fin.zone, bytes);
        c.add(BaseCounter::SessionHits, 1);
        return Some(Taken::Other(Verdict::Drop(DropReason::HaInactive)));
    }
    let new = SessionKey {
        src: other.dst,
        dst: other.src,
        src_port: other.dst_port,
        dst_port: other.src_port,
        protocol: other.protocol,
    };
    let translated = new != key;

    // Forward (the general path's `forward` for this shape: no filter, no
    // SYN to clamp, no tag to pop). Where the packet goes is settled
    // before the frame is written, so the tuple and the TTL are rewritten
    // with one update per checksum; the bytes written are those the
    // general path leaves for each outcome (the tuple always; the TTL
    // unless the packet is dropped before the TTL stage; the MACs only
    // when it leaves).
    let outcome = if let Some(rg) = eif.redundancy_group
        && s.rg_inactive.contains(&rg)
    {
        Err(DropReason::HaInactive)
    } else {
        match A::resolve(s, t, new.dst) {
            Resolved::NoRoute => Err(DropReason::NoRoute),
            Resolved::Discard => Err(DropReason::RouteDiscard),
            Resolved::NoNeighbour => Ok(None),
            Resolved::Mac(mac) => Ok(Some(mac)),
        }
    };
    let rewritten = A::rewrite(frame, layout, &key, &new, outcome.is_ok());
    let c = &mut s.telemetry.counters;
    let verdict = match (rewritten, outcome) {
        // Not reached: `parse` takes no packet with a TTL below 2.
        (Err(rewrite::RewriteError::TtlExceeded), _) => Verdict::Drop(DropReason::TtlExceeded),
        (Err(_), _) => {
            // The frame could not be rewritten (the general path drops it
            // before counting the session's packet).
            count_rx(c, ingress, fin.zone, bytes);
            c.add(BaseCounter::SessionHits, 1);
            return Some(Taken::Other(Verdict::Drop(DropReason::MalformedIpv4)));
        }
        (Ok(()), Err(reason)) => Verdict::Drop(reason),
        (Ok(()), Ok(None)) => Verdict::Drop(DropReason::NoNeighbour),
        (Ok(()), Ok(Some(mac))) => {
            frame[0..6].copy_from_slice(&mac);
            frame[6..12].copy_from_slice(&eif.mac);
            if let Some(vid) = eif.vlan
                && rewrite::push_vlan(frame, vid).is_err()
            {
                Verdict::Drop(DropReason::MalformedVlan)
            } else {
                s.tally
                    .add(c, tally, bytes, frame.len() as u64, l3, translated);
                return Some(Taken::Forwarded(egress));
            }
        }
    };
    count_rewritten(c, tally, bytes, l3, translated);
    Some(Taken::Other(verdict))
}

/// Counts a first packet the new-flow path took and then dropped or
/// forwarded: received and a session-table miss (the general path's
/// bookkeeping up to `first_packet`).
#[inline(always)]
fn count_first(c: &mut Counters, ingress: InterfaceId, zone: ZoneId, bytes: u64) {
    count_rx(c, ingress, zone, bytes);
    c.add(BaseCounter::SessionMisses, 1);
}

/// The first packet of a UDP flow or TCP SYN in the fast path's shape
/// (for SYNs: no MSS clamp configured), in one pass:
/// the general path's `first_packet` and `forward` stages on the fast
/// path's parse — no second parse, one route lookup (the forward stage's
/// lookup of the translated destination is the policy stage's lookup of
/// the same address), no second session lookup (the insert skips the
/// forward key's collision check: the caller has just missed it), and the
/// tuple and TTL rewritten with one update per checksum.
///
/// Drops for no route, a discard route, a policy deny and the default
/// deny are decided here too. It declines (`None`, nothing changed) for
/// what it does not handle: screened zones (screens and session limits),
/// host-inbound traffic, a policy reject (its RST / ICMP error is built
/// from the general parse), an egress interface with an output filter,
/// TCP segments that cannot open a session, interface source NAT without
/// an address. Those go the general way. Every outcome it does produce is the general
/// path's, with the same counters, events and deltas
/// (`tests/fast_path_equivalence.rs`).
#[allow(clippy::too_many_arguments)]
#[inline(never)]
fn new_flow<A: FastAddr>(
    t: &Tables,
    nat: &NatRules,
    s: &mut State,
    now_ns: u64,
    ingress: InterfaceId,
    frame: &mut Vec<u8>,
    fin: &crate::tables::FastInterface,
    key: SessionKey<A>,
    layout: PlainLayout,
    l3_len: u16,
    seg: Option<TcpSegment>,
) -> Option<Taken> {
    if fin.screened {
        return None;
    }
    // TCP: the tracker of the session to be (a SYN; mid-stream in loose
    // zones). A segment that cannot open a session goes the general way
    // (drop, RST).
    let loose = t
        .zone(fin.zone)
        .is_some_and(|z| z.tcp_window_check == TcpWindowCheck::Loose);
    let tracker = match &seg {
        Some(g) => Some(
            if loose {
                crate::session::TcpTracker::new_mid_stream(g)
            } else {
                crate::session::TcpTracker::new_from_syn(g)
            }
            .ok()?,
        ),
        None => None,
    };
    let zone = fin.zone;
    let family = usize::from(layout.v6);
    let protocol = key.protocol;
    let (src, dst): (IpAddr, IpAddr) = (key.src.into(), key.dst.into());
    let (sport, dport) = (key.src_port, key.dst_port);
    let ninput = NatInput {
        src,
        dst,
        protocol,
        src_port: sport,
        dst_port: dport,
    };
    // Static / destination NAT.
    let dnat = nat.destination(zone, ingress, &ninput);
    let (dst2, dport2) = match &dnat {
        Some(d) => (d.address, d.port.unwrap_or(dport)),
        None => (dst, dport),
    };
    if dnat.is_none() && t.local_interface(dst2).is_some() {
        return None;
    }
    let dst2_a = A::from_ip(dst2)?;
    let bytes = frame.len() as u64;
    // Route and egress zone (the forward stage's route lookup too).
    let (egress, gateway) = match t.route(dst2) {
        Some(NextHop::Via { interface, gateway }) => (interface, gateway),
        Some(NextHop::Discard) => {
            count_first(&mut s.telemetry.counters, ingress, zone, bytes);
            return Some(Taken::Other(Verdict::Drop(DropReason::RouteDiscard)));
        }
        None => {
            count_first(&mut s.telemetry.counters, ingress, zone, bytes);
            return Some(Taken::Other(Verdict::Drop(DropReason::NoRoute)));
        }
    };
    let Some(eif) = t.fast_interface(egress) else {
        count_first(&mut s.telemetry.counters, ingress, zone, bytes);
        return Some(Taken::Other(Verdict::Drop(DropReason::NoRoute)));
    };
    let to_zone = eif.zone;
    // Policy.
    let decision = t.policy.evaluate(
        &PolicyInput {
            from_zone: zone,
            to_zone,
            src,
            dst: dst2,
            protocol,
            src_port: sport,
            dst_port: dport2,
            icmp: None,
        },
        (now_ns / 1_000_000_000) as i64,
    );
    let rule = decision.index.map(|i| &t.policy.rules()[i]);
    if decision.action != PolicyAction::Permit {
        // Reject answers with a RST / ICMP error built from the general
        // parse: the general path does it.
        if decision.action == PolicyAction::Reject {
            return None;
        }
        if rule.is_some_and(|r| r.log_init) {
            s.telemetry.event(Event::PolicyDeny(PolicyDenyEvent {
                time_ns: now_ns,
                flow: FlowTuple {
                    src,
                    src_port: sport,
                    dst,
                    dst_port: dport,
                    protocol,
                    icmp_type: None,
                },
                policy_rule: decision.rule.unwrap_or_default(),
                app: rule.map(|r| r.app).unwrap_or_default(),
                ingress_zone: zone,
                egress_zone: to_zone,
                ingress_interface: ingress,
                rejected: false,
            }));
        }
        if let Some(r) = rule
            && let Some(c) = s.telemetry.counters.policies.get_mut(r.id.index())
        {
            c.packets += 1;
            c.bytes += u64::from(l3_len);
        }
        count_first(&mut s.telemetry.counters, ingress, zone, bytes);
        return Some(Taken::Other(Verdict::Drop(match decision.rule {
            Some(_) => DropReason::PolicyDeny,
            None => DropReason::DefaultDeny,
        })));
    }
    // The egress filter runs on the general path.
    if eif.out_filter[family] {
        return None;
    }
    let rule = decision.index.map(|i| &t.policy.rules()[i]);
    // (The TTL is above 1: `parse` takes nothing else.)
    // Static / source NAT.
    let mut flags = SessionFlags::empty();
    let mut nat_rule_src = NatRuleId::NONE;
    let mut nat_pool = NatPoolId::NONE;
    let mut mapping = None;
    let (src2, sport2) = if let Some((r, public)) = nat.static_outbound(src) {
        flags.insert(SessionFlags::STATIC_NAT);
        nat_rule_src = r.id;
        (public, sport)
    } else if let Some(r) = nat.source(zone, ingress, to_zone, egress, &ninput) {
        let target = match r.action {
            CompiledSourceAction::Off => None,
            CompiledSourceAction::Pool(id) => Some(SnatTarget::Pool(id)),
            CompiledSourceAction::Interface => match t.interface_address(
                egress,
                if layout.v6 {
                    AddressFamily::Inet6
                } else {
                    AddressFamily::Inet
                },
            ) {
                Some(a) => Some(SnatTarget::Interface(a)),
                None => return None,
            },
        };
        match target {
            None => (src, sport),
            Some(target) => {
                let req = FlowRequest {
                    src,
                    src_port: sport,
                    protocol,
                    dst: dst2,
                    dst_port: dport2,
                };
                match s.snat.allocate(target, &req) {
                    Ok(m) => {
                        nat_rule_src = r.id;
                        nat_pool = target.pool_id();
                        flags.insert(SessionFlags::SNAT);
                        mapping = Some((target, m));
                        if let Some(c) = s.telemetry.counters.nat_rules.get_mut(r.id.index()) {
                            c.packets += 1;
                        }
                        (m.public_addr, m.public_port)
                    }
                    Err(_) => {
                        count_first(&mut s.telemetry.counters, ingress, zone, bytes);
                        return Some(Taken::Other(Verdict::Drop(DropReason::NatPoolExhausted)));
                    }
                }
            }
        }
    } else {
        (src, sport)
    };
    let Some(src2_a) = A::from_ip(src2) else {
        // Not reached: a translation keeps the family.
        if let Some((target, m)) = mapping {
            let _ = s.snat.release(target, &m);
        }
        return None;
    };
    let marks = super::session_marks(s, dnat.as_ref(), rule, loose, &mut flags);
    let (rule_id, rule_app, app_timeout, nat_rule_dst) =
        (marks.rule, marks.app, marks.app_timeout, marks.nat_rule_dst);
    let reverse = SessionKey {
        src: dst2_a,
        dst: src2_a,
        src_port: dport2,
        dst_port: sport2,
        protocol,
    };
    let owner_rg = fin
        .redundancy_group
        .or(eif.redundancy_group)
        .unwrap_or_default();
    let id = SessionId::compose(s.opts.node_id, s.next_seq);
    s.next_seq += s.seq_stride;
    let init = SessionInit {
        id,
        generation: t.generation,
        policy_rule: rule_id,
        app: rule_app,
        app_timeout,
        ingress_zone: zone,
        egress_zone: to_zone,
        ingress_interface: ingress,
        egress_interface: egress,
        nat_rule_src,
        nat_rule_dst,
        nat_pool,
        flags,
        owner_rg,
        tcp: tracker,
    };
    count_first(&mut s.telemetry.counters, ingress, zone, bytes);
    let inserted = match A::insert_missed(s, key, reverse, &init, now_ns) {
        Ok(i) => i,
        Err(e) => {
            if let Some((target, m)) = mapping {
                let _ = s.snat.release(target, &m);
            }
            return Some(Taken::Other(Verdict::Drop(match e {
                InsertError::TableFull => DropReason::SessionTableFull,
                _ => DropReason::SessionConflict,
            })));
        }
    };
    if let Some(evicted) = inserted.evicted {
        on_closed(s, evicted, now_ns);
    }
    let h = inserted.handle;
    s.telemetry.counters.add(BaseCounter::SessionsCreated, 1);
    let l3 = u64::from(l3_len);
    s.sessions.touch(h, Direction::Forward, l3, now_ns);
    if flags.contains(SessionFlags::LOG_INIT) {
        let open = open_event(&s.sessions.forward_entry(h));
        s.telemetry.event(Event::SessionOpen(open));
    }
    let sessions = &s.sessions;
    s.telemetry
        .delta_with(SessionDeltaReason::Open, || sessions.forward_entry(h));
    if !rule_id.is_none()
        && let Some(c) = s.telemetry.counters.policies.get_mut(rule_id.index())
    {
        c.packets += 1;
        c.bytes += l3;
    }
    // Forward: settled before the frame is written (see `established_in`).
    let new = SessionKey {
        src: src2_a,
        dst: dst2_a,
        src_port: sport2,
        dst_port: dport2,
        protocol,
    };
    let outcome = if let Some(rg) = eif.redundancy_group
        && s.rg_inactive.contains(&rg)
    {
        Err(DropReason::HaInactive)
    } else {
        Ok(t.neighbour(gateway).map(|m| m.0))
    };
    let c = &mut s.telemetry.counters;
    if A::rewrite(frame, layout, &key, &new, outcome.is_ok()).is_err() {
        // Not reached for this shape (the general path drops it so).
        return Some(Taken::Other(Verdict::Drop(DropReason::MalformedIpv4)));
    }
    if new != key {
        c.add(BaseCounter::NatTranslated, 1);
    }
    let verdict = match outcome {
        Err(reason) => Verdict::Drop(reason),
        Ok(None) => Verdict::Drop(DropReason::NoNeighbour),
        Ok(Some(mac)) => {
            frame[0..6].copy_from_slice(&mac);
            frame[6..12].copy_from_slice(&eif.mac);
            if let Some(vid) = eif.vlan
                && rewrite::push_vlan(frame, vid).is_err()
            {
                Verdict::Drop(DropReason::MalformedVlan)
            } else {
                Verdict::Forward { egress }
            }
        }
    };
    Some(Taken::Other(verdict))
}
