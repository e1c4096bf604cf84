//! In-place rewrites for the NAT and forward stages, keeping every checksum
//! correct with incremental updates (RFC 1624) instead of recomputation.
//!
//! Each function takes the frame and the [`ParsedFrame`] that
//! [`parse_frame`](super::parse_frame) produced for it, rewrites the frame,
//! and updates the `ParsedFrame` to match, so rewrites can be chained. A
//! function checks up front that every byte it will touch lies inside the
//! frame and fails with [`RewriteError::FrameMismatch`] otherwise, so on any
//! error the frame is unchanged.
//!
//! Which checksums a rewrite touches:
//!
//! | rewrite | IPv4 header | TCP / UDP | ICMPv4 | ICMPv6 |
//! |---|---|---|---|---|
//! | address | yes | yes (pseudo-header) | no | yes (pseudo-header) |
//! | port / ICMP identifier | – | yes | yes | yes |
//! | TTL / hop limit | yes | – | – | – |
//! | MSS option | – | TCP | – | – |
//! | ICMP embedded header | embedded IPv4 header | embedded transport, when its checksum is quoted | outer | outer |
//!
//! UDP: an IPv4 UDP checksum of zero ("none") stays zero; an updated
//! checksum that comes out as zero is written as `0xffff`.
//!
//! Fragments: a non-first fragment carries no transport header, so only the
//! IP header changes; the transport checksum lives in the first fragment and
//! the same address rewrite applied to it fixes it (incrementally, which
//! remains correct although the first fragment alone does not hold the
//! whole checksummed data). Protocols whose checksum covers a pseudo-header
//! but are not parsed (DCCP, UDP-Lite) are not fixed.
//!
//! Every checksum's coverage starts at an even frame offset (Ethernet
//! headers are 14 + 4n bytes; IP, extension and transport headers have even
//! lengths), which the byte-parity handling of odd fields (an MSS after a
//! NOP) relies on.
//!
//! VLAN push/pop moves everything after the MAC addresses: do them last, or
//! re-parse, since they shift the offsets of a `ParsedFrame`.

use std::net::IpAddr;

use xpf_runtime::{AddressFamily, IpProtocol};

use super::ethernet::{self, EtherType, MacAddr};
use super::parse::{IcmpInfo, IcmpKind, L4Info, ParsedFrame};
use super::{icmp, ipv4, ipv6, tcp, udp};
use crate::checksum::{self, fold};

/// Why a rewrite was refused. The frame is unchanged.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
pub enum RewriteError {
    /// The new address is of the other family.
    #[error("address family does not match the packet")]
    FamilyMismatch,
    /// The packet has no ports or ICMP identifier (a non-first fragment,
    /// ESP, another protocol, or an ICMP message that is not a query).
    #[error("packet has no transport header with ports or an ICMP identifier")]
    NoTransport,
    /// The packet is not a TCP segment.
    #[error("packet is not TCP")]
    NotTcp,
    /// The packet is not an ICMP error.
    #[error("packet is not an ICMP error")]
    NotIcmpError,
    /// The frame does not hold the bytes the `ParsedFrame` describes.
    #[error("frame does not match its parse")]
    FrameMismatch,
    /// TTL / hop limit is 0 or 1: the packet must not be forwarded.
    #[error("TTL exceeded")]
    TtlExceeded,
    /// A VLAN ID above 4094.
    #[error("invalid VLAN ID")]
    InvalidVlanId,
    /// The frame has no VLAN tag to pop.
    #[error("frame has no VLAN tag")]
    NoVlanTag,
}

/// How a checksum field treats a computed zero.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Rule {
    /// TCP, ICMP, IPv4 header: plain RFC 1624.
    Plain,
    /// UDP: zero is "none" in IPv4 and stays; a computed zero is `0xffff`.
    Udp {
        /// IPv4 (zero allowed) or IPv6.
        ipv4: bool,
    },
}

/// The ones'-complement sum of a rewritten field (an address, a port, an
/// MSS, a TTL) at a frame offset of the given parity: at an odd offset the
/// first byte is the low byte of its 16-bit word. At most a few hundred
/// bytes, so the `u32` cannot overflow.
#[inline]
fn field_sum(bytes: &[u8], odd: bool) -> u32 {
    let (mut sum, rest) = match bytes.split_first() {
        Some((first, rest)) if odd => (u32::from(*first), rest),
        _ => (0, bytes),
    };
    let mut words = rest.chunks_exact(2);
    for word in &mut words {
        sum += u32::from(u16::from_be_bytes([word[0], word[1]]));
    }
    if let [last] = words.remainder() {
        sum += u32::from(*last) << 8;
    }
    sum
}

/// Overwrites `frame[at..at + new.len()]` with `new` and returns the change
/// to any checksum covering those bytes (`~old + new`, parity-aware).
#[inline]
fn splice(frame: &mut [u8], at: usize, new: &[u8]) -> Result<u32, RewriteError> {
    let end = at
        .checked_add(new.len())
        .ok_or(RewriteError::FrameMismatch)?;
    let field = frame.get_mut(at..end).ok_or(RewriteError::FrameMismatch)?;
    let odd = at % 2 == 1;
    let delta = u32::from(!fold(field_sum(field, odd))) + u32::from(fold(field_sum(new, odd)));
    field.copy_from_slice(new);
    Ok(delta)
}

/// Applies a change `delta` to the checksum at `at` (an even offset);
/// returns the change the checksum field itself makes, for a checksum that
/// covers this one (the ICMP checksum over an embedded header).
fn fix_checksum(frame: &mut [u8], at: usize, delta: u32, rule: Rule) -> Result<u32, RewriteError> {
    let end = at.checked_add(2).ok_or(RewriteError::FrameMismatch)?;
    let field = frame.get_mut(at..end).ok_or(RewriteError::FrameMismatch)?;
    let old = u16::from_be_bytes([field[0], field[1]]);
    let new = match rule {
        Rule::Plain => checksum::update_with_delta(old, delta),
        Rule::Udp { ipv4 } => {
            checksum::update_udp(old, ipv4, |c| checksum::update_with_delta(c, delta))
        }
    };
    field.copy_from_slice(&new.to_be_bytes());
    Ok(u32::from(!old) + u32::from(new))
}

/// Fails unless `frame` holds `len` bytes from `at`.
fn ensure(frame: &[u8], at: usize, len: usize) -> Result<(), RewriteError> {
    match at.checked_add(len) {
        Some(end) if end <= frame.len() => Ok(()),
        _ => Err(RewriteError::FrameMismatch),
    }
}

/// Minimum bytes of each parsed transport header.
fn l4_min_len(l4: &L4Info) -> usize {
    match l4 {
        L4Info::Tcp(t) => usize::from(t.header_len).max(tcp::MIN_HEADER_LEN),
        L4Info::Udp(_) => udp::HEADER_LEN,
        L4Info::Icmp(_) => icmp::HEADER_LEN,
        L4Info::None => 0,
    }
}

/// Checks that the IP header fields and the parsed transport header are in
/// the frame.
fn ensure_parsed(frame: &[u8], parsed: &ParsedFrame) -> Result<(), RewriteError> {
    let l3_min = match parsed.family {
        AddressFamily::Inet => ipv4::MIN_HEADER_LEN,
        AddressFamily::Inet6 => ipv6::HEADER_LEN,
    };
    ensure(frame, parsed.l3_offset, l3_min)?;
    if let Some(l4) = parsed.l4_offset {
        ensure(frame, l4, l4_min_len(&parsed.l4))?;
    }
    Ok(())
}

/// The transport checksum of the parsed frame, with its rule, if the
/// transport header is present; `pseudo` selects only those that cover the
/// pseudo-header (not ICMPv4).
fn l4_checksum(parsed: &ParsedFrame, pseudo: bool) -> Option<(usize, Rule)> {
    let l4 = parsed.l4_offset?;
    let ipv4 = parsed.family == AddressFamily::Inet;
    match parsed.l4 {
        L4Info::Tcp(_) => Some((l4 + tcp::CHECKSUM_OFFSET, Rule::Plain)),
        L4Info::Udp(_) => Some((l4 + udp::CHECKSUM_OFFSET, Rule::Udp { ipv4 })),
        L4Info::Icmp(_) if !ipv4 || !pseudo => Some((l4 + icmp::CHECKSUM_OFFSET, Rule::Plain)),
        _ => None,
    }
}

/// Which address of a header.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Side {
    Src,
    Dst,
}

/// Offset of the source or destination address within an IP header.
fn addr_offset(family: AddressFamily, side: Side) -> usize {
    match (family, side) {
        (AddressFamily::Inet, Side::Src) => ipv4::SRC_OFFSET,
        (AddressFamily::Inet, Side::Dst) => ipv4::DST_OFFSET,
        (AddressFamily::Inet6, Side::Src) => ipv6::SRC_OFFSET,
        (AddressFamily::Inet6, Side::Dst) => ipv6::DST_OFFSET,
    }
}

/// The bytes of `addr` if it is of `family`.
fn addr_bytes(addr: IpAddr, family: AddressFamily) -> Result<([u8; 16], usize), RewriteError> {
    let mut bytes = [0u8; 16];
    match (addr, family) {
        (IpAddr::V4(a), AddressFamily::Inet) => {
            bytes[..4].copy_from_slice(&a.octets());
            Ok((bytes, 4))
        }
        (IpAddr::V6(a), AddressFamily::Inet6) => {
            bytes.copy_from_slice(&a.octets());
            Ok((bytes, 16))
        }
        _ => Err(RewriteError::FamilyMismatch),
    }
}

fn set_addr(
    frame: &mut [u8],
    parsed: &mut ParsedFrame,
    addr: IpAddr,
    side: Side,
) -> Result<(), RewriteError> {
    if addr.is_ipv4() != (parsed.family == AddressFamily::Inet) {
        return Err(RewriteError::FamilyMismatch);
    }
    ensure_parsed(frame, parsed)?;
    let at = parsed.l3_offset + addr_offset(parsed.family, side);
    // Fixed-size arrays, so the field sums unroll.
    let delta = match addr {
        IpAddr::V4(a) => splice(frame, at, &a.octets())?,
        IpAddr::V6(a) => splice(frame, at, &a.octets())?,
    };
    if parsed.family == AddressFamily::Inet {
        fix_checksum(
            frame,
            parsed.l3_offset + ipv4::CHECKSUM_OFFSET,
            delta,
            Rule::Plain,
        )?;
    }
    if let Some((csum_at, rule)) = l4_checksum(parsed, true) {
        fix_checksum(frame, csum_at, delta, rule)?;
    }
    match side {
        Side::Src => parsed.src = addr,
        Side::Dst => parsed.dst = addr,
    }
    refresh_udp_checksum(frame, parsed);
    Ok(())
}

/// Keeps the UDP checksum a `ParsedFrame` caches in step with the frame.
fn refresh_udp_checksum(frame: &[u8], parsed: &mut ParsedFrame) {
    if let (Some(l4), L4Info::Udp(u)) = (parsed.l4_offset, &mut parsed.l4) {
        u.checksum = read16(frame, l4 + udp::CHECKSUM_OFFSET);
    }
}

/// Rewrites the source address, fixing the IPv4 header checksum and the
/// transport checksum's pseudo-header (TCP, UDP, ICMPv6).
pub fn set_src_addr(
    frame: &mut [u8],
    parsed: &mut ParsedFrame,
    addr: IpAddr,
) -> Result<(), RewriteError> {
    set_addr(frame, parsed, addr, Side::Src)
}

/// Rewrites the destination address, fixing the IPv4 header checksum and
/// the transport checksum's pseudo-header (TCP, UDP, ICMPv6).
pub fn set_dst_addr(
    frame: &mut [u8],
    parsed: &mut ParsedFrame,
    addr: IpAddr,
) -> Result<(), RewriteError> {
    set_addr(frame, parsed, addr, Side::Dst)
}

fn set_port(
    frame: &mut [u8],
    parsed: &mut ParsedFrame,
    port: u16,
    side: Side,
) -> Result<(), RewriteError> {
    let l4 = parsed.l4_offset.ok_or(RewriteError::NoTransport)?;
    let field = match (&parsed.l4, side) {
        (L4Info::Tcp(_), Side::Src) => tcp::SRC_PORT_OFFSET,
        (L4Info::Tcp(_), Side::Dst) => tcp::DST_PORT_OFFSET,
        (L4Info::Udp(_), Side::Src) => udp::SRC_PORT_OFFSET,
        (L4Info::Udp(_), Side::Dst) => udp::DST_PORT_OFFSET,
        (
            L4Info::Icmp(IcmpInfo {
                kind: IcmpKind::Query { .. },
                ..
            }),
            _,
        ) => icmp::IDENT_OFFSET,
        _ => return Err(RewriteError::NoTransport),
    };
    ensure_parsed(frame, parsed)?;
    let delta = splice(frame, l4 + field, &port.to_be_bytes())?;
    if let Some((csum_at, rule)) = l4_checksum(parsed, false) {
        fix_checksum(frame, csum_at, delta, rule)?;
    }
    match (&mut parsed.l4, side) {
        (L4Info::Tcp(t), Side::Src) => t.src_port = port,
        (L4Info::Tcp(t), Side::Dst) => t.dst_port = port,
        (L4Info::Udp(u), Side::Src) => u.src_port = port,
        (L4Info::Udp(u), Side::Dst) => u.dst_port = port,
        (
            L4Info::Icmp(IcmpInfo {
                kind: IcmpKind::Query { id, .. },
                ..
            }),
            _,
        ) => *id = port,
        _ => {}
    }
    refresh_udp_checksum(frame, parsed);
    Ok(())
}

/// Reads a big-endian `u16` at `at`, or 0 past the end.
fn read16(frame: &[u8], at: usize) -> u16 {
    match frame.get(at..).and_then(|rest| rest.get(..2)) {
        Some(b) => u16::from_be_bytes([b[0], b[1]]),
        None => 0,
    }
}

/// Rewrites the source port (TCP, UDP) or the identifier (ICMP query, where
/// it fills both port slots), fixing the transport checksum.
pub fn set_src_port(
    frame: &mut [u8],
    parsed: &mut ParsedFrame,
    port: u16,
) -> Result<(), RewriteError> {
    set_port(frame, parsed, port, Side::Src)
}

/// Rewrites the destination port (TCP, UDP) or the identifier (ICMP query),
/// fixing the transport checksum.
pub fn set_dst_port(
    frame: &mut [u8],
    parsed: &mut ParsedFrame,
    port: u16,
) -> Result<(), RewriteError> {
    set_port(frame, parsed, port, Side::Dst)
}

/// Decrements the TTL / hop limit, fixing the IPv4 header checksum, and
/// returns the new value. A TTL of 0 or 1 is [`RewriteError::TtlExceeded`]
/// (the caller sends time-exceeded instead) and leaves the frame unchanged.
pub fn decrement_ttl(frame: &mut [u8], parsed: &mut ParsedFrame) -> Result<u8, RewriteError> {
    if parsed.ttl <= 1 {
        return Err(RewriteError::TtlExceeded);
    }
    ensure_parsed(frame, parsed)?;
    let ttl = parsed.ttl - 1;
    match parsed.family {
        AddressFamily::Inet => {
            let delta = splice(frame, parsed.l3_offset + ipv4::TTL_OFFSET, &[ttl])?;
            fix_checksum(
                frame,
                parsed.l3_offset + ipv4::CHECKSUM_OFFSET,
                delta,
                Rule::Plain,
            )?;
        }
        AddressFamily::Inet6 => {
            splice(frame, parsed.l3_offset + ipv6::HOP_LIMIT_OFFSET, &[ttl])?;
        }
    }
    parsed.ttl = ttl;
    Ok(ttl)
}

/// Rewrites the source and destination MAC addresses (no checksum covers
/// them).
pub fn set_macs(
    frame: &mut [u8],
    parsed: &mut ParsedFrame,
    src: MacAddr,
    dst: MacAddr,
) -> Result<(), RewriteError> {
    let mut eth = ethernet::Frame::new_checked(frame).map_err(|_| RewriteError::FrameMismatch)?;
    eth.set_dst_addr(dst);
    eth.set_src_addr(src);
    parsed.src_mac = src;
    parsed.dst_mac = dst;
    Ok(())
}

/// Lowers the TCP MSS option to `max_mss` if it is larger, fixing the TCP
/// checksum; returns whether the segment changed. Every MSS option is
/// clamped (a segment should carry one). A segment without an MSS option is
/// left alone (no option is added). Callers apply it to SYNs.
pub fn clamp_tcp_mss(
    frame: &mut [u8],
    parsed: &mut ParsedFrame,
    max_mss: u16,
) -> Result<bool, RewriteError> {
    let (Some(l4), L4Info::Tcp(info)) = (parsed.l4_offset, parsed.l4) else {
        return Err(RewriteError::NotTcp);
    };
    ensure_parsed(frame, parsed)?;
    let options_at = l4 + tcp::MIN_HEADER_LEN;
    let options_end = l4 + usize::from(info.header_len);
    ensure(frame, options_at, options_end.saturating_sub(options_at))?;
    let mut changed = false;
    // At most 10 MSS options fit in 40 bytes of options: each pass clamps
    // one.
    loop {
        let over = tcp::mss_options(&frame[options_at..options_end]).find(|&(_, m)| m > max_mss);
        let Some((value_at, _)) = over else { break };
        let delta = splice(frame, options_at + value_at, &max_mss.to_be_bytes())?;
        fix_checksum(frame, l4 + tcp::CHECKSUM_OFFSET, delta, Rule::Plain)?;
        changed = true;
    }
    if let (true, L4Info::Tcp(t)) = (changed, &mut parsed.l4) {
        t.mss = tcp::OptionsSummary::of(&frame[options_at..options_end]).mss;
    }
    Ok(changed)
}

/// The new values for the packet embedded in an ICMP error; `None` keeps a
/// field. For an embedded ICMP query either port sets its identifier.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EmbeddedRewrite {
    /// New source address of the embedded packet.
    pub src: Option<IpAddr>,
    /// New destination address of the embedded packet.
    pub dst: Option<IpAddr>,
    /// New source port (or ICMP identifier) of the embedded packet.
    pub src_port: Option<u16>,
    /// New destination port (or ICMP identifier) of the embedded packet.
    pub dst_port: Option<u16>,
}

/// Rewrites the packet embedded in an ICMP error (for NAT of the flow it
/// refers to): its addresses and ports, the embedded IPv4 header checksum,
/// the embedded transport checksum when it is quoted (always for UDP and
/// ICMP, for TCP only if at least 18 bytes are quoted), and the outer ICMP /
/// ICMPv6 checksum. The outer header is rewritten separately with
/// [`set_src_addr`] / [`set_dst_addr`].
pub fn rewrite_icmp_embedded(
    frame: &mut [u8],
    parsed: &mut ParsedFrame,
    rewrite: &EmbeddedRewrite,
) -> Result<(), RewriteError> {
    let (Some(outer_l4), Some(embedded)) = (parsed.l4_offset, parsed.icmp_error().copied()) else {
        return Err(RewriteError::NotIcmpError);
    };
    let family = parsed.family;
    let ipv4 = family == AddressFamily::Inet;
    let new_src = rewrite.src.map(|a| addr_bytes(a, family)).transpose()?;
    let new_dst = rewrite.dst.map(|a| addr_bytes(a, family)).transpose()?;
    if (rewrite.src_port.is_some() || rewrite.dst_port.is_some()) && embedded.ports.is_none() {
        return Err(RewriteError::NoTransport);
    }
    ensure_parsed(frame, parsed)?;
    ensure(frame, embedded.ip_offset, embedded.len)?;
    let l3_min = if ipv4 {
        ipv4::MIN_HEADER_LEN
    } else {
        ipv6::HEADER_LEN
    };
    ensure(
        frame,
        embedded.ip_offset,
        embedded.ip_header_len.max(l3_min),
    )?;
    if let Some(l4) = embedded.l4_offset {
        ensure(frame, l4, icmp::EMBEDDED_L4_LEN)?;
    }

    // The embedded transport checksum, if quoted, and whether it covers
    // the pseudo-header.
    let message_end = embedded.ip_offset + embedded.len;
    let own_icmp = if ipv4 {
        IpProtocol::ICMP
    } else {
        IpProtocol::ICMPV6
    };
    let inner_csum = embedded.l4_offset.and_then(|l4| match embedded.protocol {
        IpProtocol::TCP if l4 + tcp::CHECKSUM_OFFSET + 2 <= message_end => {
            Some((l4 + tcp::CHECKSUM_OFFSET, Rule::Plain, true))
        }
        IpProtocol::UDP => Some((l4 + udp::CHECKSUM_OFFSET, Rule::Udp { ipv4 }, true)),
        p if p == own_icmp => Some((l4 + icmp::CHECKSUM_OFFSET, Rule::Plain, !ipv4)),
        _ => None,
    });

    // Every byte changed inside the ICMP message changes its checksum.
    let mut outer_delta: u32 = 0;
    for (new, side) in [(new_src, Side::Src), (new_dst, Side::Dst)] {
        let Some((bytes, len)) = new else { continue };
        let at = embedded.ip_offset + addr_offset(family, side);
        let delta = splice(frame, at, &bytes[..len])?;
        outer_delta += delta;
        if ipv4 {
            let csum_at = embedded.ip_offset + ipv4::CHECKSUM_OFFSET;
            outer_delta += fix_checksum(frame, csum_at, delta, Rule::Plain)?;
        }
        if let Some((csum_at, rule, true)) = inner_csum {
            outer_delta += fix_checksum(frame, csum_at, delta, rule)?;
        }
    }
    if let Some(l4) = embedded.l4_offset {
        let is_icmp = embedded.protocol == own_icmp;
        for (port, side) in [(rewrite.src_port, Side::Src), (rewrite.dst_port, Side::Dst)] {
            let Some(port) = port else { continue };
            let field = match (is_icmp, side) {
                (true, _) => icmp::IDENT_OFFSET,
                (false, Side::Src) => udp::SRC_PORT_OFFSET,
                (false, Side::Dst) => udp::DST_PORT_OFFSET,
            };
            let delta = splice(frame, l4 + field, &port.to_be_bytes())?;
            outer_delta += delta;
            if let Some((csum_at, rule, _)) = inner_csum {
                outer_delta += fix_checksum(frame, csum_at, delta, rule)?;
            }
        }
    }
    fix_checksum(
        frame,
        outer_l4 + icmp::CHECKSUM_OFFSET,
        outer_delta,
        Rule::Plain,
    )?;

    if let L4Info::Icmp(IcmpInfo {
        kind: IcmpKind::Error(e),
        ..
    }) = &mut parsed.l4
    {
        e.src = rewrite.src.unwrap_or(e.src);
        e.dst = rewrite.dst.unwrap_or(e.dst);
        if let Some((src_port, dst_port)) = &mut e.ports {
            if embedded.protocol == own_icmp {
                let id = rewrite.dst_port.or(rewrite.src_port).unwrap_or(*src_port);
                (*src_port, *dst_port) = (id, id);
            } else {
                *src_port = rewrite.src_port.unwrap_or(*src_port);
                *dst_port = rewrite.dst_port.unwrap_or(*dst_port);
            }
        }
    }
    Ok(())
}

/// Pushes an 802.1Q tag (priority 0) with VLAN ID `vid` as the outermost
/// tag. Offsets of a `ParsedFrame` of this frame grow by 4.
pub fn push_vlan(frame: &mut Vec<u8>, vid: u16) -> Result<(), RewriteError> {
    if vid > ethernet::MAX_VLAN_ID {
        return Err(RewriteError::InvalidVlanId);
    }
    if frame.len() < ethernet::HEADER_LEN {
        return Err(RewriteError::FrameMismatch);
    }
    let mut tag = [0u8; ethernet::VLAN_TAG_LEN];
    tag[..2].copy_from_slice(&EtherType::VLAN.0.to_be_bytes());
    tag[2..].copy_from_slice(&vid.to_be_bytes());
    frame.splice(12..12, tag);
    Ok(())
}

/// Pops the outermost VLAN tag (802.1Q or 802.1ad) and returns its VLAN ID.
/// Offsets of a `ParsedFrame` of this frame shrink by 4.
pub fn pop_vlan(frame: &mut Vec<u8>) -> Result<u16, RewriteError> {
    let eth = ethernet::Frame::new_checked(&frame[..]).map_err(|_| RewriteError::FrameMismatch)?;
    if !eth.ethertype().is_vlan_tag() {
        return Err(RewriteError::NoVlanTag);
    }
    let tag = ethernet::VlanTag::new_checked(eth.payload()).map_err(|_| RewriteError::NoVlanTag)?;
    let vid = tag.vlan_id();
    frame.drain(12..12 + ethernet::VLAN_TAG_LEN);
    Ok(vid)
}

/// The layout of a plain TCP or UDP packet: an IP header without options
/// or extension headers directly followed by the transport header, as the
/// engine's established-flow fast path accepts it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct PlainLayout {
    /// Offset of the IP header.
    pub(crate) l3: usize,
    /// Offset of the transport header.
    pub(crate) l4: usize,
    /// IPv6 (else IPv4).
    pub(crate) v6: bool,
    /// UDP (else TCP).
    pub(crate) udp: bool,
}

/// Rewrites a plain packet's addresses and ports from `old` to `new`
/// (`(src, dst, sport, dport)`, addresses of `N` bytes: 4 or 16) with
/// exactly the checksum updates, in the same order, that [`set_src_addr`],
/// [`set_dst_addr`], [`set_src_port`] and [`set_dst_port`] make, so the
/// bytes written are the same. Fields that do not change are not touched.
/// On a mismatch between `lay` and the frame nothing is written.
///
/// The field-by-field reference that [`rewrite_plain_and_ttl`] is tested
/// against (the fast path uses the latter).
#[cfg(test)]
pub(crate) fn rewrite_plain<const N: usize>(
    frame: &mut [u8],
    lay: PlainLayout,
    old: ([u8; N], [u8; N], u16, u16),
    new: ([u8; N], [u8; N], u16, u16),
) -> Result<(), RewriteError> {
    let l4_end = lay.l4
        + if lay.udp {
            udp::HEADER_LEN
        } else {
            tcp::MIN_HEADER_LEN
        };
    let l3_min = if lay.v6 {
        ipv6::HEADER_LEN
    } else {
        ipv4::MIN_HEADER_LEN
    };
    if frame.len() < l4_end || lay.l4 < lay.l3 + l3_min {
        return Err(RewriteError::FrameMismatch);
    }
    let (l3_csum, src_at, dst_at) = if lay.v6 {
        (None, ipv6::SRC_OFFSET, ipv6::DST_OFFSET)
    } else {
        (
            Some(lay.l3 + ipv4::CHECKSUM_OFFSET),
            ipv4::SRC_OFFSET,
            ipv4::DST_OFFSET,
        )
    };
    let (l4_csum, rule, sport_at, dport_at) = if lay.udp {
        (
            lay.l4 + udp::CHECKSUM_OFFSET,
            Rule::Udp { ipv4: !lay.v6 },
            udp::SRC_PORT_OFFSET,
            udp::DST_PORT_OFFSET,
        )
    } else {
        (
            lay.l4 + tcp::CHECKSUM_OFFSET,
            Rule::Plain,
            tcp::SRC_PORT_OFFSET,
            tcp::DST_PORT_OFFSET,
        )
    };
    for (at, o, n) in [(src_at, old.0, new.0), (dst_at, old.1, new.1)] {
        if o != n {
            let delta = splice(frame, lay.l3 + at, &n)?;
            if let Some(c) = l3_csum {
                fix_checksum(frame, c, delta, Rule::Plain)?;
            }
            fix_checksum(frame, l4_csum, delta, rule)?;
        }
    }
    for (at, o, n) in [(sport_at, old.2, new.2), (dport_at, old.3, new.3)] {
        if o != n {
            let delta = splice(frame, lay.l4 + at, &n.to_be_bytes())?;
            fix_checksum(frame, l4_csum, delta, rule)?;
        }
    }
    Ok(())
}

/// [`decrement_ttl`] for a plain packet: the same bytes written (test
/// reference, see [`rewrite_plain`]).
#[cfg(test)]
pub(crate) fn decrement_ttl_plain(frame: &mut [u8], lay: PlainLayout) -> Result<u8, RewriteError> {
    let (ttl_at, l3_csum) = if lay.v6 {
        (lay.l3 + ipv6::HOP_LIMIT_OFFSET, None)
    } else {
        (
            lay.l3 + ipv4::TTL_OFFSET,
            Some(lay.l3 + ipv4::CHECKSUM_OFFSET),
        )
    };
    let ttl = *frame.get(ttl_at).ok_or(RewriteError::FrameMismatch)?;
    if ttl <= 1 {
        return Err(RewriteError::TtlExceeded);
    }
    let delta = splice(frame, ttl_at, &[ttl - 1])?;
    if let Some(c) = l3_csum {
        fix_checksum(frame, c, delta, Rule::Plain)?;
    }
    Ok(ttl - 1)
}

/// The change `~old + new` to a checksum covering the even-aligned field
/// `old` that becomes `new` ([`splice`]'s delta, without the write).
#[inline(always)]
fn even_delta<const N: usize>(old: &[u8; N], new: &[u8; N]) -> u32 {
    u32::from(!fold(field_sum(old, false))) + u32::from(fold(field_sum(new, false)))
}

/// The field-by-field rewrite of a plain packet's addresses and ports
/// (what [`set_src_addr`], [`set_dst_addr`], [`set_src_port`] and
/// [`set_dst_port`] write) followed, when `ttl` is set, by
/// [`decrement_ttl`], with every checksum updated once: the changes
/// of all rewritten fields are summed and applied in one RFC 1624 update
/// per checksum. The bytes written are the same as those of the two calls
/// in sequence:
///
/// - ones'-complement addition is associative and the end-around-carry
///   fold preserves it exactly: `fold(fold(a) + b) == fold(a + b)` for all
///   `a`, `b` (both sides are zero only when `a + b` is, and otherwise the
///   unique value in `1..=0xffff` congruent to `a + b` modulo `0xffff`), so
///   folding after every field or once at the end gives the same value;
/// - UDP's rules ([`checksum::update_udp`]) agree too: an IPv4 checksum of
///   zero stays zero either way, and once a non-zero checksum is updated
///   it never reads as zero again, so only the final zero-to-`0xffff`
///   mapping matters, which picks the same one of the two ones'-complement
///   zeros in both cases.
///
/// Unit tests compare it with that sequence (kept as the test-only
/// `rewrite_plain` and `decrement_ttl_plain`) on arbitrary headers,
/// checksums included, and exhaustively over the checksum field.
/// `ttl` is only honoured when the TTL / hop limit is above 1 (else
/// [`RewriteError::TtlExceeded`] and nothing is written). On a mismatch
/// between `lay` and the frame nothing is written. The family is that of
/// the addresses (`N` = 16: IPv6), which `lay.v6` must agree with.
#[inline(always)]
pub(crate) fn rewrite_plain_and_ttl<const N: usize>(
    frame: &mut [u8],
    lay: PlainLayout,
    old: ([u8; N], [u8; N], u16, u16),
    new: ([u8; N], [u8; N], u16, u16),
    ttl: bool,
) -> Result<(), RewriteError> {
    debug_assert_eq!(lay.v6, N == 16, "layout and address family disagree");
    // Known at compile time for each family.
    let v6 = N == 16;
    let l4_len = if lay.udp {
        udp::HEADER_LEN
    } else {
        tcp::MIN_HEADER_LEN
    };
    let l3_min = if v6 {
        ipv6::HEADER_LEN
    } else {
        ipv4::MIN_HEADER_LEN
    };
    if frame.len() < lay.l4 + l4_len || lay.l4 < lay.l3 + l3_min {
        return Err(RewriteError::FrameMismatch);
    }
    let (src_at, dst_at, ttl_at) = if v6 {
        (ipv6::SRC_OFFSET, ipv6::DST_OFFSET, ipv6::HOP_LIMIT_OFFSET)
    } else {
        (ipv4::SRC_OFFSET, ipv4::DST_OFFSET, ipv4::TTL_OFFSET)
    };
    let (l4_csum_at, sport_at, dport_at) = if lay.udp {
        (
            udp::CHECKSUM_OFFSET,
            udp::SRC_PORT_OFFSET,
            udp::DST_PORT_OFFSET,
        )
    } else {
        (
            tcp::CHECKSUM_OFFSET,
            tcp::SRC_PORT_OFFSET,
            tcp::DST_PORT_OFFSET,
        )
    };
    let (l3, l4) = frame.split_at_mut(lay.l4);
    let l3 = &mut l3[lay.l3..];
    let old_ttl = l3[ttl_at];
    if ttl && old_ttl <= 1 {
        return Err(RewriteError::TtlExceeded);
    }
    // Sums of the changes: `addr` covers the IPv4 header and the
    // transport pseudo-header, `ports` the transport header only.
    let mut addr = 0u32;
    let mut addr_changed = false;
    for (at, o, n) in [(src_at, &old.0, &new.0), (dst_at, &old.1, &new.1)] {
        if o != n {
            addr += even_delta(o, n);
            addr_changed = true;
            l3[at..at + N].copy_from_slice(n);
        }
    }
    let mut ports = addr;
    let mut l4_changed = addr_changed;
    for (at, o, n) in [(sport_at, old.2, new.2), (dport_at, old.3, new.3)] {
        if o != n {
            ports += u32::from(!o) + u32::from(n);
            l4_changed = true;
            l4[at..at + 2].copy_from_slice(&n.to_be_bytes());
        }
    }
    let mut header = addr;
    let mut header_changed = addr_changed;
    if ttl {
        l3[ttl_at] = old_ttl - 1;
        header += even_delta(&[old_ttl, 0], &[old_ttl - 1, 0]);
        header_changed = true;
    }
    if !v6 && header_changed {
        let at = ipv4::CHECKSUM_OFFSET;
        let c = checksum::update_with_delta(get16_slice(l3, at), header);
        l3[at..at + 2].copy_from_slice(&c.to_be_bytes());
    }
    if l4_changed {
        let at = l4_csum_at;
        let old_csum = get16_slice(l4, at);
        let c = if lay.udp {
            checksum::update_udp(old_csum, !v6, |c| checksum::update_with_delta(c, ports))
        } else {
            checksum::update_with_delta(old_csum, ports)
        };
        l4[at..at + 2].copy_from_slice(&c.to_be_bytes());
    }
    Ok(())
}

/// Reads the big-endian `u16` at `at` of a slice known to hold it.
#[inline(always)]
fn get16_slice(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::icmp::{icmpv4, icmpv6};
    use crate::wire::parse_frame;
    use crate::wire::tcp::TcpFlags;
    use crate::wire::testutil::*;

    fn parsed(frame: &[u8]) -> ParsedFrame {
        parse_frame(frame).unwrap()
    }

    fn tcp_frame(c: IpAddr, s: IpAddr, options: &[u8]) -> Vec<u8> {
        let seg = tcp(c, s, (40000, 80), 1, 0, TcpFlags::SYN, options, b"payload");
        ethernet(None, &ip(c, s, IpProtocol::TCP, &seg))
    }

    fn udp_frame(c: IpAddr, s: IpAddr) -> Vec<u8> {
        ethernet(
            Some(10),
            &ip(c, s, IpProtocol::UDP, &udp(c, s, (5353, 53), b"query")),
        )
    }

    #[test]
    fn snat_of_tcp_ipv4_keeps_every_checksum_valid() {
        let mut frame = tcp_frame(v4(0, 1), v4(1, 1), &[]);
        let mut p = parsed(&frame);
        set_src_addr(&mut frame, &mut p, v4(9, 9)).unwrap();
        set_src_port(&mut frame, &mut p, 1024).unwrap();
        assert_checksums_valid(&frame);
        let again = parsed(&frame);
        assert_eq!(again, p);
        assert_eq!((again.src, again.ports()), (v4(9, 9), Some((1024, 80))));
    }

    #[test]
    fn dnat_of_udp_ipv6_fixes_the_pseudo_header() {
        let mut frame = udp_frame(v6(1), v6(2));
        let mut p = parsed(&frame);
        set_dst_addr(&mut frame, &mut p, v6(0xbeef)).unwrap();
        set_dst_port(&mut frame, &mut p, 5300).unwrap();
        assert_checksums_valid(&frame);
        assert_eq!(parsed(&frame), p);
    }

    #[test]
    fn ipv4_udp_zero_checksum_stays_zero() {
        let (c, s) = (v4(0, 1), v4(1, 1));
        let mut d = udp(c, s, (1, 2), b"x");
        d[6..8].copy_from_slice(&[0, 0]);
        let mut frame = ethernet(None, &ip(c, s, IpProtocol::UDP, &d));
        let mut p = parsed(&frame);
        set_src_addr(&mut frame, &mut p, v4(7, 7)).unwrap();
        set_src_port(&mut frame, &mut p, 999).unwrap();
        assert_eq!(&frame[40..42], &[0, 0]);
        assert_eq!(p.udp().unwrap().checksum, 0);
        assert_checksums_valid(&frame);
    }

    #[test]
    fn icmp_echo_identifier_rewrite_fixes_the_icmp_checksum() {
        for (c, s, ty, proto) in [
            (v4(0, 1), v4(1, 1), icmpv4::ECHO_REQUEST, IpProtocol::ICMP),
            (v6(1), v6(2), icmpv6::ECHO_REQUEST, IpProtocol::ICMPV6),
        ] {
            let m = icmp(c, s, ty, 0, 0x0042_0001, b"ping");
            let mut frame = ethernet(None, &ip(c, s, proto, &m));
            let mut p = parsed(&frame);
            set_src_addr(
                &mut frame,
                &mut p,
                if c.is_ipv4() { v4(5, 5) } else { v6(5) },
            )
            .unwrap();
            set_src_port(&mut frame, &mut p, 0x7777).unwrap();
            assert_eq!(p.ports(), Some((0x7777, 0x7777)));
            assert_checksums_valid(&frame);
            assert_eq!(parsed(&frame), p);
        }
    }

    #[test]
    fn address_of_the_other_family_is_refused_and_frame_unchanged() {
        let mut frame = tcp_frame(v4(0, 1), v4(1, 1), &[]);
        let before = frame.clone();
        let mut p = parsed(&frame);
        assert_eq!(
            set_src_addr(&mut frame, &mut p, v6(1)),
            Err(RewriteError::FamilyMismatch)
        );
        assert_eq!(frame, before);
    }

    #[test]
    fn non_first_fragment_has_no_ports_but_its_address_can_change() {
        let (c, s) = (v4(0, 1), v4(1, 1));
        let opts = V4Opts {
            frag_offset: 8,
            ..V4Opts::default()
        };
        let (IpAddr::V4(c4), IpAddr::V4(s4)) = (c, s) else {
            unreachable!()
        };
        let mut frame = ethernet(None, &ipv4_with(c4, s4, IpProtocol::UDP, opts, &[1; 24]));
        let mut p = parsed(&frame);
        assert_eq!(
            set_src_port(&mut frame, &mut p, 1),
            Err(RewriteError::NoTransport)
        );
        set_src_addr(&mut frame, &mut p, v4(3, 3)).unwrap();
        assert_eq!(&frame[34..], &[1; 24]);
        assert_eq!(parsed(&frame).src, v4(3, 3));
    }

    #[test]
    fn ttl_decrement_fixes_the_ipv4_header_checksum() {
        let mut frame = tcp_frame(v4(0, 1), v4(1, 1), &[]);
        let mut p = parsed(&frame);
        assert_eq!(decrement_ttl(&mut frame, &mut p), Ok(63));
        assert_eq!(parsed(&frame).ttl, 63);
        let mut frame = udp_frame(v6(1), v6(2));
        let mut p = parsed(&frame);
        assert_eq!(decrement_ttl(&mut frame, &mut p), Ok(63));
        assert_eq!(parsed(&frame), p);
    }

    #[test]
    fn ttl_of_one_is_exceeded_and_not_decremented() {
        let mut frame = tcp_frame(v4(0, 1), v4(1, 1), &[]);
        let mut p = parsed(&frame);
        p.ttl = 1;
        let before = frame.clone();
        assert_eq!(
            decrement_ttl(&mut frame, &mut p),
            Err(RewriteError::TtlExceeded)
        );
        assert_eq!(frame, before);
    }

    #[test]
    fn mss_clamp_at_an_odd_offset_keeps_the_checksum_valid() {
        // NOP, MSS 1460, NOP, NOP, NOP: the MSS value starts at an odd offset.
        let options = [1, 2, 4, 0x05, 0xb4, 1, 1, 1];
        let mut frame = tcp_frame(v4(0, 1), v4(1, 1), &options);
        let mut p = parsed(&frame);
        assert_eq!(clamp_tcp_mss(&mut frame, &mut p, 1400), Ok(true));
        assert_eq!(clamp_tcp_mss(&mut frame, &mut p, 1400), Ok(false));
        assert_eq!(parsed(&frame).tcp().unwrap().mss, Some(1400));
        assert_checksums_valid(&frame);
    }

    #[test]
    fn every_mss_option_is_clamped() {
        // MSS 1460, then MSS 9000.
        let options = [2, 4, 0x05, 0xb4, 2, 4, 0x23, 0x28];
        let mut frame = tcp_frame(v4(0, 1), v4(1, 1), &options);
        let mut p = parsed(&frame);
        assert_eq!(clamp_tcp_mss(&mut frame, &mut p, 1400), Ok(true));
        let l4 = p.l4_offset.unwrap();
        assert_eq!(&frame[l4 + 22..l4 + 24], &1400u16.to_be_bytes());
        assert_eq!(&frame[l4 + 26..l4 + 28], &1400u16.to_be_bytes());
        assert_eq!(parsed(&frame), p);
        assert_checksums_valid(&frame);
    }

    #[test]
    fn mss_below_the_clamp_or_absent_is_left_alone() {
        let mut frame = tcp_frame(v6(1), v6(2), &[2, 4, 0x04, 0x00]);
        let mut p = parsed(&frame);
        assert_eq!(clamp_tcp_mss(&mut frame, &mut p, 1400), Ok(false));
        let mut frame = tcp_frame(v6(1), v6(2), &[]);
        let mut p = parsed(&frame);
        assert_eq!(clamp_tcp_mss(&mut frame, &mut p, 1400), Ok(false));
        let mut frame = udp_frame(v6(1), v6(2));
        let mut p = parsed(&frame);
        assert_eq!(
            clamp_tcp_mss(&mut frame, &mut p, 1400),
            Err(RewriteError::NotTcp)
        );
    }

    #[test]
    fn icmpv4_error_embedded_rewrite_fixes_inner_and_outer_checksums() {
        // The server's reply to a NATed client hit a TTL limit: the router
        // reports it to the NAT address; the firewall translates it back.
        let (client, nat, server, router) = (v4(0, 1), v4(9, 9), v4(1, 1), v4(2, 2));
        let original = ip(
            nat,
            server,
            IpProtocol::UDP,
            &udp(nat, server, (20000, 53), b"query"),
        );
        let m = icmp(router, nat, icmpv4::TIME_EXCEEDED, 0, 0, &original);
        let mut frame = ethernet(None, &ip(router, nat, IpProtocol::ICMP, &m));
        let mut p = parsed(&frame);
        set_dst_addr(&mut frame, &mut p, client).unwrap();
        let rw = EmbeddedRewrite {
            src: Some(client),
            src_port: Some(3333),
            ..Default::default()
        };
        rewrite_icmp_embedded(&mut frame, &mut p, &rw).unwrap();
        assert_checksums_valid(&frame);
        let again = parsed(&frame);
        assert_eq!(again, p);
        let e = again.icmp_error().unwrap();
        assert_eq!((e.src, e.dst, e.ports), (client, server, Some((3333, 53))));
    }

    #[test]
    fn icmpv6_error_embedded_rewrite_fixes_the_pseudo_header_sums() {
        let (client, nat, server, router) = (v6(1), v6(0x99), v6(2), v6(3));
        let seg = tcp(nat, server, (20000, 443), 1, 0, TcpFlags::SYN, &[], &[]);
        let original = ip(nat, server, IpProtocol::TCP, &seg);
        let m = icmp(router, nat, icmpv6::DEST_UNREACHABLE, 1, 0, &original);
        let mut frame = ethernet(None, &ip(router, nat, IpProtocol::ICMPV6, &m));
        let mut p = parsed(&frame);
        set_dst_addr(&mut frame, &mut p, client).unwrap();
        let rw = EmbeddedRewrite {
            src: Some(client),
            src_port: Some(40000),
            ..Default::default()
        };
        rewrite_icmp_embedded(&mut frame, &mut p, &rw).unwrap();
        assert_checksums_valid(&frame);
        assert_eq!(parsed(&frame), p);
    }

    #[test]
    fn embedded_echo_identifier_rewrite() {
        let (client, nat, server, router) = (v4(0, 1), v4(9, 9), v4(1, 1), v4(2, 2));
        let echo = icmp(nat, server, icmpv4::ECHO_REQUEST, 0, 0x5000_0001, b"abcd");
        let original = ip(nat, server, IpProtocol::ICMP, &echo);
        let m = icmp(router, nat, icmpv4::DEST_UNREACHABLE, 1, 0, &original);
        let mut frame = ethernet(None, &ip(router, nat, IpProtocol::ICMP, &m));
        let mut p = parsed(&frame);
        let rw = EmbeddedRewrite {
            src: Some(client),
            src_port: Some(0x0102),
            ..Default::default()
        };
        rewrite_icmp_embedded(&mut frame, &mut p, &rw).unwrap();
        assert_checksums_valid(&frame);
        assert_eq!(p.icmp_error().unwrap().ports, Some((0x0102, 0x0102)));
        assert_eq!(parsed(&frame), p);
    }

    #[test]
    fn embedded_rewrite_of_a_non_error_is_refused() {
        let mut frame = tcp_frame(v4(0, 1), v4(1, 1), &[]);
        let mut p = parsed(&frame);
        let rw = EmbeddedRewrite {
            src: Some(v4(1, 2)),
            ..Default::default()
        };
        assert_eq!(
            rewrite_icmp_embedded(&mut frame, &mut p, &rw),
            Err(RewriteError::NotIcmpError)
        );
    }

    #[test]
    fn rewrite_of_a_frame_shorter_than_its_parse_is_refused_unchanged() {
        let frame = tcp_frame(v4(0, 1), v4(1, 1), &[]);
        let mut p = parsed(&frame);
        let mut short = frame[..40].to_vec();
        let before = short.clone();
        assert_eq!(
            set_src_port(&mut short, &mut p, 1),
            Err(RewriteError::FrameMismatch)
        );
        assert_eq!(
            set_src_addr(&mut short, &mut p, v4(5, 5)),
            Err(RewriteError::FrameMismatch)
        );
        assert_eq!(short, before);
    }

    #[test]
    fn mac_rewrite_changes_only_the_addresses() {
        let mut frame = udp_frame(v4(0, 1), v4(1, 1));
        let mut p = parsed(&frame);
        let (src, dst) = (MacAddr([2, 1, 1, 1, 1, 1]), MacAddr([2, 2, 2, 2, 2, 2]));
        set_macs(&mut frame, &mut p, src, dst).unwrap();
        assert_eq!(parsed(&frame), p);
        assert_eq!((p.src_mac, p.dst_mac), (src, dst));
    }

    #[test]
    fn vlan_push_and_pop_round_trip() {
        let original = tcp_frame(v4(0, 1), v4(1, 1), &[]);
        let mut frame = original.clone();
        push_vlan(&mut frame, 300).unwrap();
        let p = parsed(&frame);
        assert_eq!((p.vlan, p.l3_offset), (Some(300), 18));
        assert_checksums_valid(&frame);
        assert_eq!(pop_vlan(&mut frame), Ok(300));
        assert_eq!(frame, original);
        assert_eq!(pop_vlan(&mut frame), Err(RewriteError::NoVlanTag));
        assert_eq!(
            push_vlan(&mut frame, 4095),
            Err(RewriteError::InvalidVlanId)
        );
        assert_eq!(
            push_vlan(&mut vec![0; 13], 1),
            Err(RewriteError::FrameMismatch)
        );
    }
}

#[cfg(test)]
mod combined_tests {
    //! The one-update rewrite writes the same bytes as the field-by-field
    //! one followed by the TTL decrement, on arbitrary headers (checksum
    //! fields included, so the ones'-complement corner cases — `0x0000`,
    //! `0xffff`, UDP's "no checksum" — are covered).
    use super::*;
    use proptest::prelude::*;

    /// A frame of 14 Ethernet bytes, an IP header of `l3_len` bytes and a
    /// transport header of `l4_len` bytes, all arbitrary but the checksum
    /// fields, which are drawn with a bias towards the special values.
    fn frame_of(bytes: &[u8], l3_len: usize, l4_len: usize) -> Vec<u8> {
        let mut f = vec![0u8; 14 + l3_len + l4_len];
        for (i, b) in f.iter_mut().enumerate() {
            *b = bytes[i % bytes.len()];
        }
        f
    }

    fn special() -> impl Strategy<Value = u16> {
        prop_oneof![
            Just(0u16),
            Just(0xffff),
            Just(0xfffe),
            Just(1),
            any::<u16>()
        ]
    }

    fn addr<const N: usize>(f: &[u8], at: usize) -> [u8; N] {
        let mut a = [0u8; N];
        a.copy_from_slice(&f[at..at + N]);
        a
    }

    #[allow(clippy::too_many_arguments)]
    fn check<const N: usize>(
        bytes: &[u8],
        v6: bool,
        udp: bool,
        csums: (u16, u16),
        new: ([u8; N], [u8; N], u16, u16),
        keep: (bool, bool, bool, bool),
        ttl_byte: u8,
        ttl: bool,
    ) -> Result<(), TestCaseError> {
        let l3_len = if v6 { 40 } else { 20 };
        let l4_len = if udp { 8 } else { 20 };
        let lay = PlainLayout {
            l3: 14,
            l4: 14 + l3_len,
            v6,
            udp,
        };
        let mut f = frame_of(bytes, l3_len, l4_len);
        let (src_at, dst_at, ttl_at) = if v6 { (8, 24, 7) } else { (12, 16, 8) };
        f[14 + ttl_at] = ttl_byte;
        if !v6 {
            f[14 + 10..14 + 12].copy_from_slice(&csums.0.to_be_bytes());
        }
        let l4_csum = lay.l4 + if udp { 6 } else { 16 };
        f[l4_csum..l4_csum + 2].copy_from_slice(&csums.1.to_be_bytes());
        let old = (
            addr::<N>(&f, 14 + src_at),
            addr::<N>(&f, 14 + dst_at),
            u16::from_be_bytes([f[lay.l4], f[lay.l4 + 1]]),
            u16::from_be_bytes([f[lay.l4 + 2], f[lay.l4 + 3]]),
        );
        // Some fields keep their value (not rewritten at all).
        let new = (
            if keep.0 { old.0 } else { new.0 },
            if keep.1 { old.1 } else { new.1 },
            if keep.2 { old.2 } else { new.2 },
            if keep.3 { old.3 } else { new.3 },
        );
        let mut a = f.clone();
        let ra = rewrite_plain(&mut a, lay, old, new).and_then(|()| {
            if ttl {
                decrement_ttl_plain(&mut a, lay).map(|_| ())
            } else {
                Ok(())
            }
        });
        let mut b = f.clone();
        let rb = rewrite_plain_and_ttl(&mut b, lay, old, new, ttl);
        match (ra, rb) {
            (Ok(()), Ok(())) => prop_assert_eq!(a, b),
            (Err(RewriteError::TtlExceeded), Err(RewriteError::TtlExceeded)) => {
                prop_assert_eq!(b, f, "nothing written on TTL exceeded");
            }
            (x, y) => prop_assert!(false, "results differ: {:?} vs {:?}", x, y),
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn one_update_per_checksum_writes_the_same_bytes_ipv4(
            bytes in prop::collection::vec(any::<u8>(), 1..80),
            udp in any::<bool>(),
            csums in (special(), special()),
            new in (any::<[u8; 4]>(), any::<[u8; 4]>(), special(), special()),
            keep in any::<(bool, bool, bool, bool)>(),
            ttl_byte in prop_oneof![Just(0u8), Just(1), Just(2), any::<u8>()],
            ttl in any::<bool>(),
        ) {
            check::<4>(&bytes, false, udp, csums, new, keep, ttl_byte, ttl)?;
        }

        #[test]
        fn one_update_per_checksum_writes_the_same_bytes_ipv6(
            bytes in prop::collection::vec(any::<u8>(), 1..80),
            udp in any::<bool>(),
            csums in (special(), special()),
            new in (any::<[u8; 16]>(), any::<[u8; 16]>(), special(), special()),
            keep in any::<(bool, bool, bool, bool)>(),
            ttl_byte in prop_oneof![Just(0u8), Just(1), Just(2), any::<u8>()],
            ttl in any::<bool>(),
        ) {
            check::<16>(&bytes, true, udp, csums, new, keep, ttl_byte, ttl)?;
        }
    }

    #[test]
    fn one_update_matches_on_the_ones_complement_corner_cases() {
        // Exhaustive over the checksum field for one UDP/IPv4 SNAT with
        // TTL: every starting checksum, including 0 ("none") and 0xffff.
        let mut base = vec![0u8; 14 + 20 + 8];
        base[14] = 0x45;
        base[14 + 8] = 64;
        base[14 + 12..14 + 16].copy_from_slice(&[198, 18, 0, 10]);
        base[14 + 16..14 + 20].copy_from_slice(&[198, 19, 0, 99]);
        base[34..36].copy_from_slice(&40000u16.to_be_bytes());
        base[36..38].copy_from_slice(&53u16.to_be_bytes());
        let lay = PlainLayout {
            l3: 14,
            l4: 34,
            v6: false,
            udp: true,
        };
        let old = ([198, 18, 0, 10], [198, 19, 0, 99], 40000, 53);
        let new = ([198, 19, 64, 1], [198, 19, 0, 99], 1024, 53);
        for c in 0..=u16::MAX {
            let mut f = base.clone();
            f[24..26].copy_from_slice(&c.to_be_bytes());
            f[40..42].copy_from_slice(&c.to_be_bytes());
            let mut a = f.clone();
            rewrite_plain(&mut a, lay, old, new).unwrap();
            decrement_ttl_plain(&mut a, lay).unwrap();
            let mut b = f;
            rewrite_plain_and_ttl(&mut b, lay, old, new, true).unwrap();
            assert_eq!(a, b, "checksum {c:#06x}");
        }
    }
}
