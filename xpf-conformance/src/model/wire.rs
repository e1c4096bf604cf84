//! The model's own byte-level packet handling: a deliberately plain parser
//! of Ethernet / 802.1Q / IPv4 / IPv6 / TCP / UDP / ICMP, full (never
//! incremental) checksum computation, and builders for the frames the
//! firewall emits (TCP RST, ICMP errors). Shares no code with the engine.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use xpf_runtime::{AddressFamily, DropReason};

/// IP protocol numbers the model knows.
pub const TCP: u8 = 6;
/// UDP.
pub const UDP: u8 = 17;
/// ICMP.
pub const ICMP: u8 = 1;
/// ICMPv6.
pub const ICMPV6: u8 = 58;

/// Transport summary of a parsed packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum L4 {
    /// TCP.
    Tcp {
        /// Source port.
        sport: u16,
        /// Destination port.
        dport: u16,
        /// Sequence number.
        seq: u32,
        /// Acknowledgment number.
        ack: u32,
        /// Flags byte.
        flags: u8,
        /// Window.
        window: u16,
        /// Header length in bytes.
        hlen: usize,
        /// Payload bytes.
        payload: u32,
        /// Window-scale option.
        wscale: Option<u8>,
    },
    /// UDP.
    Udp {
        /// Source port.
        sport: u16,
        /// Destination port.
        dport: u16,
    },
    /// ICMP query (echo and the like) with its identifier.
    IcmpQuery {
        /// Type.
        ty: u8,
        /// Code.
        code: u8,
        /// Identifier.
        id: u16,
    },
    /// ICMP error (not modelled beyond recognition).
    IcmpError {
        /// Type.
        ty: u8,
        /// Code.
        code: u8,
    },
    /// Other ICMP message.
    IcmpOther {
        /// Type.
        ty: u8,
        /// Code.
        code: u8,
    },
    /// A protocol without a parsed transport header.
    Other,
}

/// A parsed frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Packet {
    /// Destination MAC.
    pub dst_mac: [u8; 6],
    /// Source MAC.
    pub src_mac: [u8; 6],
    /// Outer VLAN id.
    pub vlan: Option<u16>,
    /// Offset of the IP header.
    pub l3: usize,
    /// Family.
    pub family: AddressFamily,
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// Protocol.
    pub proto: u8,
    /// TTL / hop limit.
    pub ttl: u8,
    /// IP length (header + payload).
    pub l3_len: usize,
    /// Offset of the transport header (for a non-first fragment, ESP or an
    /// unparsed protocol: of the payload after every header walked).
    pub l4: usize,
    /// Any fragment (IPv4 MF or offset; IPv6 Fragment header, atomic
    /// fragments included).
    pub fragment: bool,
    /// Fragment fields when `fragment`: offset in bytes, more-fragments,
    /// identification (IPv4 16 bits, IPv6 32 bits).
    pub frag: Frag,
    /// An IPv4 loose (131) or strict (137) source-route option, or an IPv6
    /// routing header of type 0 (the first routing header decides).
    pub source_route: bool,
    /// IPv6 extension headers walked.
    pub ext_headers: u8,
    /// Transport.
    pub t: L4,
}

/// A fragment's fields.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Frag {
    /// Offset of its data in the datagram, bytes.
    pub offset: u32,
    /// More fragments follow.
    pub more: bool,
    /// Datagram identification.
    pub id: u32,
}

impl Packet {
    /// A fragment other than the first (no transport header).
    pub fn non_first(&self) -> bool {
        self.fragment && self.frag.offset != 0
    }

    /// `(src_port, dst_port)` as session keys use them: ICMP queries carry
    /// the identifier twice; portless traffic `(0, 0)`.
    pub fn ports(&self) -> Option<(u16, u16)> {
        match self.t {
            L4::Tcp { sport, dport, .. } | L4::Udp { sport, dport } => Some((sport, dport)),
            L4::IcmpQuery { id, .. } => Some((id, id)),
            _ => None,
        }
    }

    /// ICMP type and code.
    pub fn icmp(&self) -> Option<(u8, u8)> {
        match self.t {
            L4::IcmpQuery { ty, code, .. }
            | L4::IcmpError { ty, code }
            | L4::IcmpOther { ty, code } => Some((ty, code)),
            _ => None,
        }
    }

    /// End of the IP packet in the frame.
    pub fn l3_end(&self) -> usize {
        self.l3 + self.l3_len
    }
}

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// The ethertype after any VLAN tags, if the frame is long enough.
pub fn inner_ethertype(frame: &[u8]) -> Option<u16> {
    let mut at = 12;
    loop {
        let et = u16::from_be_bytes([*frame.get(at)?, *frame.get(at + 1)?]);
        if et == 0x8100 || et == 0x88a8 {
            at += 4;
        } else {
            return Some(et);
        }
    }
}

/// Parses a frame; the error is the drop reason.
pub fn parse(frame: &[u8]) -> Result<Packet, DropReason> {
    if frame.len() < 14 {
        return Err(DropReason::MalformedEthernet);
    }
    let mut dst_mac = [0; 6];
    let mut src_mac = [0; 6];
    dst_mac.copy_from_slice(&frame[0..6]);
    src_mac.copy_from_slice(&frame[6..12]);
    let mut et = be16(frame, 12);
    let mut at = 14;
    let mut vlan = None;
    let mut tags = 0;
    while et == 0x8100 || et == 0x88a8 {
        if tags == 2 {
            return Err(DropReason::UnsupportedEthertype);
        }
        if frame.len() < at + 4 {
            return Err(DropReason::MalformedVlan);
        }
        if tags == 0 {
            vlan = Some(be16(frame, at) & 0x0fff);
        }
        et = be16(frame, at + 2);
        at += 4;
        tags += 1;
    }
    let ip = &frame[at..];
    let source_route;
    let mut frag_fields = Frag::default();
    let mut ext_headers = 0;
    let mut upper = true;
    let (family, src, dst, proto, ttl, l3_len, hlen, fragment) = match et {
        0x0800 => {
            if ip.len() < 20 || ip[0] >> 4 != 4 {
                return Err(DropReason::MalformedIpv4);
            }
            let hlen = usize::from(ip[0] & 0x0f) * 4;
            let total = usize::from(be16(ip, 2));
            if hlen < 20 || hlen > ip.len() || total < hlen || total > ip.len() {
                return Err(DropReason::MalformedIpv4);
            }
            if sum16(&ip[..hlen], 0) != 0xffff {
                return Err(DropReason::BadIpv4Checksum);
            }
            let frag = be16(ip, 6);
            let fragment = frag & 0x3fff != 0;
            frag_fields = Frag {
                offset: u32::from(frag & 0x1fff) * 8,
                more: frag & 0x2000 != 0,
                id: u32::from(be16(ip, 4)),
            };
            source_route = ipv4_source_route(&ip[20..hlen])?;
            let s = Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15]);
            let d = Ipv4Addr::new(ip[16], ip[17], ip[18], ip[19]);
            (
                AddressFamily::Inet,
                IpAddr::V4(s),
                IpAddr::V4(d),
                ip[9],
                ip[8],
                total,
                hlen,
                fragment,
            )
        }
        0x86dd => {
            if ip.len() < 40 || ip[0] >> 4 != 6 {
                return Err(DropReason::MalformedIpv6);
            }
            let payload = usize::from(be16(ip, 4));
            if 40 + payload > ip.len() {
                return Err(DropReason::MalformedIpv6);
            }
            let mut s = [0u8; 16];
            let mut d = [0u8; 16];
            s.copy_from_slice(&ip[8..24]);
            d.copy_from_slice(&ip[24..40]);
            let chain = walk_ipv6(&ip[..40 + payload], ip[6])?;
            source_route = chain.routing_type == Some(0);
            ext_headers = chain.count;
            upper = chain.upper;
            if let Some(f) = chain.frag {
                frag_fields = f;
            }
            (
                AddressFamily::Inet6,
                IpAddr::V6(Ipv6Addr::from(s)),
                IpAddr::V6(Ipv6Addr::from(d)),
                chain.proto,
                ip[7],
                40 + payload,
                chain.len,
                chain.frag.is_some(),
            )
        }
        _ => return Err(DropReason::UnsupportedEthertype),
    };
    let l4 = at + hlen;
    let seg = &frame[l4..at + l3_len];
    let own_icmp = if family == AddressFamily::Inet {
        ICMP
    } else {
        ICMPV6
    };
    // A non-first fragment carries no transport header; a first fragment
    // does (its UDP length field describes the whole datagram).
    let t = if (fragment && frag_fields.offset != 0) || !upper {
        L4::Other
    } else {
        match proto {
            TCP => {
                if seg.len() < 20 {
                    return Err(DropReason::MalformedTcp);
                }
                let th = usize::from(seg[12] >> 4) * 4;
                if th < 20 || th > seg.len() {
                    return Err(DropReason::MalformedTcp);
                }
                L4::Tcp {
                    sport: be16(seg, 0),
                    dport: be16(seg, 2),
                    seq: be32(seg, 4),
                    ack: be32(seg, 8),
                    flags: seg[13],
                    window: be16(seg, 14),
                    hlen: th,
                    payload: (seg.len() - th) as u32,
                    wscale: window_scale(&seg[20..th]),
                }
            }
            UDP => {
                if seg.len() < 8 {
                    return Err(DropReason::MalformedUdp);
                }
                let len = usize::from(be16(seg, 4));
                if !fragment && (len < 8 || len > seg.len()) {
                    return Err(DropReason::MalformedUdp);
                }
                L4::Udp {
                    sport: be16(seg, 0),
                    dport: be16(seg, 2),
                }
            }
            p if p == own_icmp => {
                if seg.len() < 8 {
                    return Err(DropReason::MalformedIcmp);
                }
                let (ty, code) = (seg[0], seg[1]);
                let v4 = family == AddressFamily::Inet;
                let error = if v4 {
                    matches!(ty, 3 | 4 | 5 | 11 | 12)
                } else {
                    matches!(ty, 1..=4)
                };
                let query = if v4 {
                    matches!(ty, 0 | 8 | 13 | 14 | 15 | 16 | 17 | 18)
                } else {
                    matches!(ty, 128 | 129)
                };
                if error {
                    L4::IcmpError { ty, code }
                } else if query {
                    L4::IcmpQuery {
                        ty,
                        code,
                        id: be16(seg, 4),
                    }
                } else {
                    L4::IcmpOther { ty, code }
                }
            }
            _ => L4::Other,
        }
    };
    Ok(Packet {
        dst_mac,
        src_mac,
        vlan,
        l3: at,
        family,
        src,
        dst,
        proto,
        ttl,
        l3_len,
        l4,
        fragment,
        frag: frag_fields,
        source_route,
        ext_headers,
        t,
    })
}

/// What walking an IPv6 extension-header chain found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Chain {
    /// The upper-layer protocol (ESP: 50; a non-first fragment: the
    /// Fragment header's next header; 59: none).
    pub proto: u8,
    /// Bytes from the start of the fixed header to the upper layer.
    pub len: usize,
    /// Headers walked.
    pub count: u8,
    /// The Fragment header's fields.
    pub frag: Option<Frag>,
    /// Type of the first routing header.
    pub routing_type: Option<u8>,
    /// The upper-layer header is in this packet and readable (not a
    /// non-first fragment, not ESP, not No Next Header).
    pub upper: bool,
}

/// Walks the extension headers of the IPv6 packet `ip` (fixed header
/// included, cut at its payload length) starting with next header
/// `first` (RFC 8200 / RFC 7045): hop-by-hop (0, only right after the
/// fixed header), routing (43), destination options (60), mobility (135),
/// HIP (139), shim6 (140), experimental (253, 254) use `(len + 1) * 8`
/// bytes (at least 8 must be present); authentication (51) `(len + 2) * 4`
/// (at least 12); fragment (44) 8 bytes, once, and a non-first fragment
/// ends the walk; ESP (50) ends it opaque. More than 8 headers, a header
/// cut short, a second fragment header or a misplaced hop-by-hop is
/// `malformed-extension-header`.
pub fn walk_ipv6(ip: &[u8], first: u8) -> Result<Chain, DropReason> {
    let bad = DropReason::MalformedExtensionHeader;
    let mut c = Chain {
        proto: first,
        len: 40,
        count: 0,
        frag: None,
        routing_type: None,
        upper: true,
    };
    let mut next = first;
    loop {
        if !matches!(
            next,
            0 | 43 | 44 | 50 | 51 | 60 | 135 | 139 | 140 | 253 | 254
        ) {
            break;
        }
        if c.count == 8 {
            return Err(bad);
        }
        c.count += 1;
        let rest = ip.get(c.len..).ok_or(bad)?;
        match next {
            50 => {
                c.proto = 50;
                c.upper = false;
                return Ok(c);
            }
            44 => {
                if c.frag.is_some() || rest.len() < 8 {
                    return Err(bad);
                }
                let word = be16(rest, 2);
                let f = Frag {
                    offset: u32::from(word >> 3) * 8,
                    more: word & 1 != 0,
                    id: be32(rest, 4),
                };
                c.frag = Some(f);
                c.len += 8;
                next = rest[0];
                if f.offset != 0 {
                    c.proto = next;
                    c.upper = false;
                    return Ok(c);
                }
            }
            51 => {
                if rest.len() < 12 {
                    return Err(bad);
                }
                let n = (usize::from(rest[1]) + 2) * 4;
                if n > rest.len() {
                    return Err(bad);
                }
                c.len += n;
                next = rest[0];
            }
            _ => {
                if next == 0 && c.count != 1 {
                    return Err(bad);
                }
                if rest.len() < 8 {
                    return Err(bad);
                }
                let n = (usize::from(rest[1]) + 1) * 8;
                if n > rest.len() {
                    return Err(bad);
                }
                if next == 43 && c.routing_type.is_none() {
                    c.routing_type = Some(rest[2]);
                }
                c.len += n;
                next = rest[0];
            }
        }
    }
    c.proto = next;
    c.upper = next != 59;
    Ok(c)
}

/// Walks an IPv4 options area (RFC 791): END stops, NOP is one byte,
/// every other option carries a length of at least 2 that must fit.
/// True when a loose or strict source route is present; a malformed
/// list is `malformed-ipv4`.
fn ipv4_source_route(mut opts: &[u8]) -> Result<bool, DropReason> {
    let mut found = false;
    while let Some(&kind) = opts.first() {
        match kind {
            0 => break,
            1 => opts = &opts[1..],
            _ => {
                let len = opts.get(1).map_or(0, |l| usize::from(*l));
                if len < 2 || len > opts.len() {
                    return Err(DropReason::MalformedIpv4);
                }
                found |= kind == 131 || kind == 137;
                opts = &opts[len..];
            }
        }
    }
    Ok(found)
}

/// Walks TCP options; returns the window-scale shift if present.
fn window_scale(opts: &[u8]) -> Option<u8> {
    let mut i = 0;
    let mut ws = None;
    while i < opts.len() {
        match opts[i] {
            0 => break,
            1 => i += 1,
            _ => {
                let Some(&len) = opts.get(i + 1) else { break };
                let len = usize::from(len);
                if len < 2 || i + len > opts.len() {
                    break;
                }
                if opts[i] == 3 && len == 3 {
                    ws = Some(opts[i + 2]);
                }
                i += len;
            }
        }
    }
    ws
}

/// Offsets (within the frame) of MSS option values of a TCP header at `l4`.
pub fn mss_offsets(frame: &[u8], l4: usize, hlen: usize) -> Vec<usize> {
    let mut out = Vec::new();
    let mut i = l4 + 20;
    let end = l4 + hlen;
    while i < end {
        match frame[i] {
            0 => break,
            1 => i += 1,
            _ => {
                if i + 1 >= end {
                    break;
                }
                let len = usize::from(frame[i + 1]);
                if len < 2 || i + len > end {
                    break;
                }
                if frame[i] == 2 && len == 4 {
                    out.push(i + 2);
                }
                i += len;
            }
        }
    }
    out
}

/// One's-complement sum of `data` (odd length padded), folded, plus `init`.
pub fn sum16(data: &[u8], init: u32) -> u16 {
    let mut s: u64 = u64::from(init);
    for c in data.chunks(2) {
        let w = if c.len() == 2 {
            u16::from_be_bytes([c[0], c[1]])
        } else {
            u16::from_be_bytes([c[0], 0])
        };
        s += u64::from(w);
    }
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    s as u16
}

fn pseudo(src: IpAddr, dst: IpAddr, proto: u8, len: usize) -> u32 {
    let mut b = Vec::new();
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            b.extend_from_slice(&s.octets());
            b.extend_from_slice(&d.octets());
            b.extend_from_slice(&[0, proto]);
            b.extend_from_slice(&(len as u16).to_be_bytes());
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            b.extend_from_slice(&s.octets());
            b.extend_from_slice(&d.octets());
            b.extend_from_slice(&(len as u32).to_be_bytes());
            b.extend_from_slice(&[0, 0, 0, proto]);
        }
        _ => {}
    }
    u32::from(sum16(&b, 0))
}

/// Recomputes the IPv4 header checksum of the header at `l3`.
pub fn fix_ipv4_header(frame: &mut [u8], l3: usize) {
    let hlen = usize::from(frame[l3] & 0x0f) * 4;
    frame[l3 + 10] = 0;
    frame[l3 + 11] = 0;
    let c = !sum16(&frame[l3..l3 + hlen], 0);
    frame[l3 + 10..l3 + 12].copy_from_slice(&c.to_be_bytes());
}

/// Recomputes the transport checksum of the segment `l4..end` from scratch.
pub fn fix_l4(
    frame: &mut [u8],
    family: AddressFamily,
    src: IpAddr,
    dst: IpAddr,
    proto: u8,
    l4: usize,
    end: usize,
) {
    let at = match proto {
        TCP => 16,
        UDP => 6,
        ICMP | ICMPV6 => 2,
        _ => return,
    };
    if end < l4 + at + 2 {
        return;
    }
    frame[l4 + at] = 0;
    frame[l4 + at + 1] = 0;
    let init = if proto == ICMP && family == AddressFamily::Inet {
        0
    } else {
        pseudo(src, dst, proto, end - l4)
    };
    let mut c = !sum16(&frame[l4..end], init);
    if proto == UDP && c == 0 {
        c = 0xffff;
    }
    frame[l4 + at..l4 + at + 2].copy_from_slice(&c.to_be_bytes());
}

fn ip_header(src: IpAddr, dst: IpAddr, proto: u8, payload: usize, dscp: u8) -> Vec<u8> {
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let mut h = vec![0u8; 20];
            h[0] = 0x45;
            h[1] = dscp << 2;
            h[2..4].copy_from_slice(&((20 + payload) as u16).to_be_bytes());
            h[8] = 64;
            h[9] = proto;
            h[12..16].copy_from_slice(&s.octets());
            h[16..20].copy_from_slice(&d.octets());
            let c = !sum16(&h, 0);
            h[10..12].copy_from_slice(&c.to_be_bytes());
            h
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            let mut h = vec![0u8; 40];
            h[0] = 0x60;
            h[4..6].copy_from_slice(&(payload as u16).to_be_bytes());
            h[6] = proto;
            h[7] = 64;
            h[8..24].copy_from_slice(&s.octets());
            h[24..40].copy_from_slice(&d.octets());
            h
        }
        _ => Vec::new(),
    }
}

fn reply_l2(p: &Packet, frame: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&p.src_mac);
    out.extend_from_slice(&p.dst_mac);
    out.extend_from_slice(&frame[12..p.l3]);
    out
}

/// A RST answering the TCP segment `p` (none for a RST).
pub fn build_rst(p: &Packet, frame: &[u8]) -> Option<Vec<u8>> {
    let L4::Tcp {
        sport,
        dport,
        seq,
        ack,
        flags,
        payload,
        ..
    } = p.t
    else {
        return None;
    };
    if flags & 0x04 != 0 {
        return None;
    }
    let (rseq, rack, rflags) = if flags & 0x10 != 0 {
        (ack, 0, 0x04)
    } else {
        let len = payload + u32::from(flags & 0x02 != 0) + u32::from(flags & 0x01 != 0);
        (0, seq.wrapping_add(len), 0x14)
    };
    let mut out = reply_l2(p, frame);
    let l3 = out.len();
    out.extend_from_slice(&ip_header(p.dst, p.src, TCP, 20, 0));
    let l4 = out.len();
    let mut t = vec![0u8; 20];
    t[0..2].copy_from_slice(&dport.to_be_bytes());
    t[2..4].copy_from_slice(&sport.to_be_bytes());
    t[4..8].copy_from_slice(&rseq.to_be_bytes());
    t[8..12].copy_from_slice(&rack.to_be_bytes());
    t[12] = 5 << 4;
    t[13] = rflags;
    out.extend_from_slice(&t);
    let end = out.len();
    let _ = l3;
    fix_l4(&mut out, p.family, p.dst, p.src, TCP, l4, end);
    Some(out)
}

/// ICMP error kinds the firewall sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// Administratively prohibited (reject).
    AdminProhibited,
    /// TTL / hop limit exceeded.
    TimeExceeded,
}

fn non_unicast(a: IpAddr) -> bool {
    match a {
        IpAddr::V4(a) => {
            a.is_unspecified() || a.is_broadcast() || a.is_multicast() || a.is_loopback()
        }
        IpAddr::V6(a) => a.is_unspecified() || a.is_multicast() || a.is_loopback(),
    }
}

/// An ICMP error about `p` from `source`, quoting as much of the packet as
/// fits in 576 (IPv4) / 1280 (IPv6) bytes.
pub fn build_icmp_error(
    kind: ErrorKind,
    p: &Packet,
    frame: &[u8],
    source: IpAddr,
) -> Option<Vec<u8>> {
    if source.is_ipv4() != p.src.is_ipv4() {
        return None;
    }
    if matches!(p.t, L4::IcmpError { .. }) || p.non_first() {
        return None;
    }
    let v4 = p.family == AddressFamily::Inet;
    let group = non_unicast(p.dst) || (v4 && p.dst_mac[0] & 1 == 1);
    if group || non_unicast(p.src) {
        return None;
    }
    let original = &frame[p.l3..p.l3_end()];
    let (hl, max) = if v4 { (20, 576) } else { (40, 1280) };
    let quote = original.len().min(max - hl - 8);
    let (ty, code, proto) = match (v4, kind) {
        (true, ErrorKind::AdminProhibited) => (3, 13, ICMP),
        (true, ErrorKind::TimeExceeded) => (11, 0, ICMP),
        (false, ErrorKind::AdminProhibited) => (1, 1, ICMPV6),
        (false, ErrorKind::TimeExceeded) => (3, 0, ICMPV6),
    };
    let mut out = reply_l2(p, frame);
    out.extend_from_slice(&ip_header(
        source,
        p.src,
        proto,
        8 + quote,
        if v4 { 48 } else { 0 },
    ));
    let l4 = out.len();
    out.extend_from_slice(&[ty, code, 0, 0, 0, 0, 0, 0]);
    out.extend_from_slice(&original[..quote]);
    let end = out.len();
    fix_l4(&mut out, p.family, source, p.src, proto, l4, end);
    Some(out)
}

/// The packet an ICMP error quotes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Embedded {
    /// Frame offset of the quoted IP header.
    pub ip: usize,
    /// Its header length.
    pub hlen: usize,
    /// End of the quote (end of the outer IP packet).
    pub end: usize,
    /// Quoted source.
    pub src: IpAddr,
    /// Quoted destination.
    pub dst: IpAddr,
    /// Quoted protocol.
    pub proto: u8,
    /// Frame offset of the quoted transport header, when 8 bytes of it are quoted.
    pub l4: Option<usize>,
    /// Quoted ports (ICMP query: identifier twice).
    pub ports: Option<(u16, u16)>,
}

/// Parses the packet quoted by the ICMP error `p` (IPv6: its extension
/// headers walked as in [`walk_ipv6`]). `None` when it is not an error or the quote is
/// malformed.
pub fn embedded(frame: &[u8], p: &Packet) -> Option<Embedded> {
    if !matches!(p.t, L4::IcmpError { .. }) {
        return None;
    }
    let ip = p.l4 + 8;
    let end = p.l3_end();
    let q = frame.get(ip..end)?;
    let v4 = p.family == AddressFamily::Inet;
    let (src, dst, proto, hlen, upper) = if v4 {
        if q.len() < 20 || q[0] >> 4 != 4 {
            return None;
        }
        let hlen = usize::from(q[0] & 0x0f) * 4;
        if hlen < 20 || hlen > q.len() {
            return None;
        }
        (
            IpAddr::V4(Ipv4Addr::new(q[12], q[13], q[14], q[15])),
            IpAddr::V4(Ipv4Addr::new(q[16], q[17], q[18], q[19])),
            q[9],
            hlen,
            be16(q, 6) & 0x1fff == 0,
        )
    } else {
        if q.len() < 40 || q[0] >> 4 != 6 {
            return None;
        }
        let mut s = [0u8; 16];
        let mut d = [0u8; 16];
        s.copy_from_slice(&q[8..24]);
        d.copy_from_slice(&q[24..40]);
        // The quote may end inside the extension chain (it is cut at the
        // minimum MTU, not at a header): then the packet is known by its
        // addresses and fixed next header only.
        let (proto, hlen, upper) = match walk_ipv6(q, q[6]) {
            Ok(c) => (c.proto, c.len, c.upper),
            Err(_) => (q[6], 40, false),
        };
        (
            IpAddr::V6(Ipv6Addr::from(s)),
            IpAddr::V6(Ipv6Addr::from(d)),
            proto,
            hlen,
            upper,
        )
    };
    let own = if v4 { ICMP } else { ICMPV6 };
    let mut e = Embedded {
        ip,
        hlen,
        end,
        src,
        dst,
        proto,
        l4: None,
        ports: None,
    };
    if !upper || !(proto == TCP || proto == UDP || proto == own) {
        return Some(e);
    }
    let Some(l4) = q.get(hlen..hlen + 8) else {
        return if v4 { None } else { Some(e) };
    };
    e.l4 = Some(ip + hlen);
    e.ports = if proto == own {
        let query = if v4 {
            matches!(l4[0], 0 | 8 | 13 | 14 | 15 | 16 | 17 | 18)
        } else {
            matches!(l4[0], 128 | 129)
        };
        query.then(|| (be16(l4, 4), be16(l4, 4)))
    } else {
        Some((be16(l4, 0), be16(l4, 2)))
    };
    Some(e)
}

/// RFC 1624 (eqn. 3) update of the checksum at `at` for a field that
/// changed from `old` to `new` (both of even length, at an even offset).
/// `udp`: a zero IPv4 UDP checksum means "none" and stays; a computed zero
/// is sent as 0xffff.
pub fn update_checksum(frame: &mut [u8], at: usize, old: &[u8], new: &[u8], udp: Option<bool>) {
    let cur = be16(frame, at);
    if udp == Some(true) && cur == 0 {
        return;
    }
    let mut s = u64::from(!cur);
    for c in old.chunks(2) {
        s += u64::from(!u16::from_be_bytes([c[0], c[1]]));
    }
    for c in new.chunks(2) {
        s += u64::from(u16::from_be_bytes([c[0], c[1]]));
    }
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    let mut v = !(s as u16);
    if udp.is_some() && v == 0 {
        v = 0xffff;
    }
    frame[at..at + 2].copy_from_slice(&v.to_be_bytes());
}

/// The bytes of an address.
pub fn addr_bytes(a: IpAddr) -> Vec<u8> {
    match a {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    }
}
