//! Renders the symbolic traffic of a [`Scenario`](crate::generate::Scenario)
//! to frames. Replies are addressed the way a real responder would see the
//! flow: after NAT, read from the reference model's session table; TCP
//! sequence numbers follow what each side has sent so far.

use crate::generate::{Endpoint, Ext, FlowSpec, FragPlan, Junk, Proto, TcpKind, host_mac, if_mac};
use crate::model::wire;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use xpf_runtime::{AnySessionKey, IpProtocol, SessionKey};

/// Per-flow TCP sequence state: next sequence number of each side.
#[derive(Clone, Copy, Debug)]
pub struct SeqState {
    isn: [u32; 2],
    next: [u32; 2],
}

impl SeqState {
    /// Fresh state with fixed initial sequence numbers per flow.
    pub fn new(flow: usize) -> Self {
        let isn = [
            1_000 + flow as u32 * 100_000,
            5_000_000 + flow as u32 * 100_000,
        ];
        Self { isn, next: isn }
    }
}

/// The address of an endpoint.
pub fn addr(e: Endpoint, v6: bool) -> IpAddr {
    let k = e.iface() as u8;
    if v6 {
        let k16 = u16::from(k);
        IpAddr::V6(match e {
            Endpoint::Host(_, h) => Ipv6Addr::new(0x2001, 0xdb8, k16, 0, 0, 0, 0, u16::from(h)),
            Endpoint::Remote(_) => Ipv6Addr::new(0x2001, 0xdb8, 0x10 + k16, 0, 0, 0, 0, 5),
            Endpoint::Firewall(_) => Ipv6Addr::new(0x2001, 0xdb8, k16, 0, 0, 0, 0, 1),
            Endpoint::DnatPublic(_) | Endpoint::StaticPublic(_) => {
                Ipv6Addr::new(0x2001, 0xdb8, 0x10 + k16, 0, 0, 0, 0, 6)
            }
        })
    } else {
        IpAddr::V4(match e {
            Endpoint::Host(_, h) => Ipv4Addr::new(198, 18, k, h),
            Endpoint::Remote(_) => Ipv4Addr::new(198, 19, k, 5),
            Endpoint::Firewall(_) => Ipv4Addr::new(198, 18, k, 1),
            Endpoint::DnatPublic(_) => Ipv4Addr::new(198, 19, 100, 1),
            Endpoint::StaticPublic(_) => Ipv4Addr::new(198, 19, 150, 11),
        })
    }
}

/// The MAC a frame from an endpoint carries as its source.
fn mac_of(e: Endpoint) -> [u8; 6] {
    match e {
        Endpoint::Host(k, h) => host_mac(k, h),
        e => host_mac(e.iface(), 254),
    }
}

/// The forward session key of a flow (as the client sends it).
pub fn forward_key(f: &FlowSpec) -> AnySessionKey {
    let (s, d) = (addr(f.client, f.v6), addr(f.server, f.v6));
    let (sp, dp) = match f.proto {
        Proto::Icmp => (f.sport, f.sport),
        _ => (f.sport, f.dport),
    };
    let protocol = match (f.proto, f.v6) {
        (Proto::Tcp, _) => IpProtocol::TCP,
        (Proto::Udp, _) => IpProtocol::UDP,
        (Proto::Icmp, false) => IpProtocol::ICMP,
        (Proto::Icmp, true) => IpProtocol::ICMPV6,
    };
    match (s, d) {
        (IpAddr::V4(s), IpAddr::V4(d)) => AnySessionKey::V4(SessionKey {
            src: s,
            dst: d,
            src_port: sp,
            dst_port: dp,
            protocol,
        }),
        (IpAddr::V6(s), IpAddr::V6(d)) => AnySessionKey::V6(SessionKey {
            src: s,
            dst: d,
            src_port: sp,
            dst_port: dp,
            protocol,
        }),
        _ => unreachable!("one family per flow"),
    }
}

/// What to send: addresses, ports, VLAN, MACs.
pub struct Wire {
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// Source port / ICMP id.
    pub sport: u16,
    /// Destination port.
    pub dport: u16,
    /// Source MAC.
    pub src_mac: [u8; 6],
    /// Destination MAC.
    pub dst_mac: [u8; 6],
    /// VLAN tag.
    pub vlan: Option<u16>,
}

fn ip_packet(src: IpAddr, dst: IpAddr, proto: u8, ttl: u8, l4: &[u8]) -> Vec<u8> {
    let mut p = match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let mut h = vec![0u8; 20];
            h[0] = 0x45;
            h[2..4].copy_from_slice(&((20 + l4.len()) as u16).to_be_bytes());
            h[4..6].copy_from_slice(&0x1234u16.to_be_bytes());
            h[6] = 0x40;
            h[8] = ttl;
            h[9] = proto;
            h[12..16].copy_from_slice(&s.octets());
            h[16..20].copy_from_slice(&d.octets());
            let c = !wire::sum16(&h, 0);
            h[10..12].copy_from_slice(&c.to_be_bytes());
            h
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            let mut h = vec![0u8; 40];
            h[0] = 0x60;
            h[4..6].copy_from_slice(&(l4.len() as u16).to_be_bytes());
            h[6] = proto;
            h[7] = ttl;
            h[8..24].copy_from_slice(&s.octets());
            h[24..40].copy_from_slice(&d.octets());
            h
        }
        _ => Vec::new(),
    };
    p.extend_from_slice(l4);
    p
}

fn frame(w: &Wire, ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&w.dst_mac);
    f.extend_from_slice(&w.src_mac);
    if let Some(v) = w.vlan {
        f.extend_from_slice(&[0x81, 0x00]);
        f.extend_from_slice(&v.to_be_bytes());
    }
    f.extend_from_slice(&ethertype.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// Builds the frame of one flow packet and advances the sequence state.
pub fn flow_frame(
    f: &FlowSpec,
    w: &Wire,
    reply: bool,
    kind: TcpKind,
    ttl1: bool,
    seq: &mut SeqState,
) -> Vec<u8> {
    let ttl = if ttl1 { 1 } else { 64 };
    let (proto, l4) = match f.proto {
        Proto::Tcp => {
            let s = usize::from(reply);
            let r = 1 - s;
            let mut opts: Vec<u8> = Vec::new();
            let (flags, seqn, payload) = match kind {
                TcpKind::Syn => {
                    opts = vec![2, 4, 0x05, 0xb4, 1, 3, 3, 7];
                    let isn = seq.isn[s];
                    if seq.next[s] == isn {
                        seq.next[s] = isn.wrapping_add(1);
                    }
                    (if reply { 0x12 } else { 0x02 }, isn, 0u16)
                }
                TcpKind::Ack => (0x10, seq.next[s], 0),
                TcpKind::Data(n) => {
                    let v = seq.next[s];
                    seq.next[s] = v.wrapping_add(u32::from(n));
                    (0x18, v, n)
                }
                TcpKind::Fin => {
                    let v = seq.next[s];
                    seq.next[s] = v.wrapping_add(1);
                    (0x11, v, 0)
                }
                TcpKind::Rst => (0x14, seq.next[s], 0),
                TcpKind::OutOfWindow => (0x18, seq.next[s].wrapping_add(1 << 30), 10),
                TcpKind::SynFin => (0x03, seq.next[s], 0),
                TcpKind::NoFlag => (0x00, seq.next[s], 0),
                TcpKind::FinNoAck => (0x01, seq.next[s], 0),
                TcpKind::Urgent => {
                    let v = seq.next[s];
                    seq.next[s] = v.wrapping_add(8);
                    (0x38, v, 8)
                }
            };
            let ack = if flags & 0x10 != 0 || reply && kind == TcpKind::Syn {
                seq.next[r]
            } else {
                0
            };
            let hl = 20 + opts.len();
            let mut t = vec![0u8; hl + usize::from(payload)];
            t[0..2].copy_from_slice(&w.sport.to_be_bytes());
            t[2..4].copy_from_slice(&w.dport.to_be_bytes());
            t[4..8].copy_from_slice(&seqn.to_be_bytes());
            t[8..12].copy_from_slice(&ack.to_be_bytes());
            t[12] = ((hl / 4) as u8) << 4;
            t[13] = flags;
            t[14..16].copy_from_slice(&29200u16.to_be_bytes());
            t[20..hl].copy_from_slice(&opts);
            for (i, b) in t[hl..].iter_mut().enumerate() {
                *b = i as u8;
            }
            (wire::TCP, t)
        }
        Proto::Udp => {
            let n = match kind {
                TcpKind::Data(n) => usize::from(n % 64),
                _ => 12,
            };
            let mut u = vec![0u8; 8 + n];
            u[0..2].copy_from_slice(&w.sport.to_be_bytes());
            u[2..4].copy_from_slice(&w.dport.to_be_bytes());
            u[4..6].copy_from_slice(&((8 + n) as u16).to_be_bytes());
            for (i, b) in u[8..].iter_mut().enumerate() {
                *b = 0x40 + i as u8;
            }
            (wire::UDP, u)
        }
        Proto::Icmp => {
            let ty = match (f.v6, reply) {
                (false, false) => 8,
                (false, true) => 0,
                (true, false) => 128,
                (true, true) => 129,
            };
            let mut m = vec![ty, 0, 0, 0];
            m.extend_from_slice(&w.sport.to_be_bytes());
            m.extend_from_slice(&7u16.to_be_bytes());
            m.extend_from_slice(b"xpf-ping");
            (if f.v6 { wire::ICMPV6 } else { wire::ICMP }, m)
        }
    };
    let mut ip = ip_packet(w.src, w.dst, proto, ttl, &l4);
    let l3_len = ip.len();
    let hl = if f.v6 { 40 } else { 20 };
    let fam = if f.v6 {
        xpf_runtime::AddressFamily::Inet6
    } else {
        xpf_runtime::AddressFamily::Inet
    };
    wire::fix_l4(&mut ip, fam, w.src, w.dst, proto, hl, l3_len);
    frame(w, if f.v6 { 0x86dd } else { 0x0800 }, &ip)
}

/// The addressing of a client packet (no session needed).
pub fn client_wire(f: &FlowSpec, vlan_of: impl Fn(usize) -> Option<u16>) -> (usize, Wire) {
    let k = f.client.iface();
    (
        k,
        Wire {
            src: addr(f.client, f.v6),
            dst: addr(f.server, f.v6),
            sport: f.sport,
            dport: if f.proto == Proto::Icmp {
                f.sport
            } else {
                f.dport
            },
            src_mac: mac_of(f.client),
            dst_mac: if_mac(k),
            vlan: vlan_of(k),
        },
    )
}

/// A malformed frame.
pub fn junk_frame(k: usize, junk: Junk) -> Vec<u8> {
    let w = Wire {
        src: IpAddr::V4(Ipv4Addr::new(198, 18, k as u8, 10)),
        dst: IpAddr::V4(Ipv4Addr::new(198, 19, k as u8, 5)),
        sport: 1,
        dport: 2,
        src_mac: host_mac(k, 10),
        dst_mac: if_mac(k),
        vlan: None,
    };
    match junk {
        Junk::Runt => vec![1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
        Junk::Arp => frame(&w, 0x0806, &[0u8; 28]),
        Junk::UnknownEthertype => frame(&w, 0x88b5, &[0u8; 30]),
        Junk::BadIpv4Checksum => {
            let mut ip = ip_packet(w.src, w.dst, wire::UDP, 64, &[0, 1, 0, 2, 0, 8, 0, 0]);
            ip[10] ^= 0xff;
            frame(&w, 0x0800, &ip)
        }
        Junk::TruncatedTcp => {
            let ip = ip_packet(w.src, w.dst, wire::TCP, 64, &[0u8; 10]);
            frame(&w, 0x0800, &ip)
        }
        Junk::ShortIpv4 => {
            let mut ip = ip_packet(w.src, w.dst, wire::UDP, 64, &[0, 1, 0, 2, 0, 8, 0, 0]);
            ip[2..4].copy_from_slice(&200u16.to_be_bytes());
            ip[10] = 0;
            ip[11] = 0;
            let c = !wire::sum16(&ip[..20], 0);
            ip[10..12].copy_from_slice(&c.to_be_bytes());
            frame(&w, 0x0800, &ip)
        }
    }
}

/// An ICMP / ICMPv6 message `icmp` (checksum field zero) from `src` to
/// `dst`, framed like the packets `w` describes (its MACs and VLAN, as a
/// frame towards the firewall on interface `k`); returns `(k, frame)`.
pub fn error_frame(
    w: &Wire,
    src: IpAddr,
    dst: IpAddr,
    v6: bool,
    icmp: Vec<u8>,
    k: usize,
) -> (usize, Vec<u8>) {
    let proto = if v6 { wire::ICMPV6 } else { wire::ICMP };
    let mut ip = ip_packet(src, dst, proto, 64, &icmp);
    let hl = if v6 { 40 } else { 20 };
    let fam = if v6 {
        xpf_runtime::AddressFamily::Inet6
    } else {
        xpf_runtime::AddressFamily::Inet
    };
    let end = ip.len();
    wire::fix_l4(&mut ip, fam, src, dst, proto, hl, end);
    let ethertype = if v6 { 0x86dd } else { 0x0800 };
    (k, frame(w, ethertype, &ip))
}

/// `frame` (an IPv4 packet after the Ethernet / VLAN header at `l3`) with
/// one 8-byte options area inserted: loose (`option` 0) or strict (1)
/// source route through one address, or record route (2) with one free
/// slot, each padded with END; total length, IHL and header checksum
/// updated. Other frames are returned unchanged.
pub fn with_ipv4_option(frame: &[u8], option: u8) -> Vec<u8> {
    let l3 = if frame.len() > 14 && frame[12..14] == [0x81, 0x00] {
        18
    } else {
        14
    };
    if frame.len() < l3 + 20 || frame[l3 - 2..l3] != [0x08, 0x00] || frame[l3] != 0x45 {
        return frame.to_vec();
    }
    let kind = match option {
        0 => 131,
        1 => 137,
        _ => 7,
    };
    // kind, length 7, pointer 4 (first slot), one address, END.
    let opt = [kind, 7, 4, 198, 18, 9, 9, 0];
    let mut f = frame[..l3 + 20].to_vec();
    f.extend_from_slice(&opt);
    f.extend_from_slice(&frame[l3 + 20..]);
    let ip = &mut f[l3..];
    ip[0] = 0x47;
    let total = u16::from_be_bytes([ip[2], ip[3]]) + 8;
    ip[2..4].copy_from_slice(&total.to_be_bytes());
    ip[10..12].copy_from_slice(&[0, 0]);
    let c = !wire::sum16(&ip[..28], 0);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    f
}

/// Offset of the IP header of a generated frame (after one optional VLAN
/// tag) and its ethertype.
fn l3_of(frame: &[u8]) -> (usize, u16) {
    let l3 = if frame.len() > 14 && frame[12..14] == [0x81, 0x00] {
        18
    } else {
        14
    };
    (l3, u16::from_be_bytes([frame[l3 - 2], frame[l3 - 1]]))
}

/// The `(offset, length, more)` pieces of a payload of `len` bytes whose
/// transport header takes `header` bytes, for `plan`, in sending order.
/// The first fragment holds the whole transport header (except `Tiny`).
fn pieces(len: u32, header: u32, plan: FragPlan) -> Vec<(u32, u32, bool)> {
    let c1 = header
        .next_multiple_of(8)
        .max(8 * (len / 16))
        .min(len / 8 * 8)
        .max(8);
    let c2 = (c1 + 8 * ((len - c1) / 16).max(1)).min(len);
    let mut ordered = vec![(0, c1, true)];
    if c2 > c1 && c2 < len {
        ordered.push((c1, c2 - c1, true));
        ordered.push((c2, len - c2, false));
    } else {
        ordered.push((c1, len - c1, false));
    }
    match plan {
        FragPlan::InOrder => ordered,
        FragPlan::Reversed => ordered.into_iter().rev().collect(),
        FragPlan::Overlap => {
            let from = c1.saturating_sub(8);
            vec![(0, c1, true), (from, len - from, false)]
        }
        FragPlan::Tiny => {
            let t = 8.min(len);
            vec![(0, t, true), (t, len - t, false)]
        }
        FragPlan::OnlyLater => ordered[1..].to_vec(),
        FragPlan::OnlyFirst => ordered[..1].to_vec(),
        FragPlan::Duplicate => {
            let mut v = vec![ordered[0]];
            v.extend(ordered);
            v
        }
        FragPlan::Huge => vec![(0, c1, true), (65_528, (len - c1).max(8), false)],
    }
}

/// The transport bytes of the generated packet `frame` (IP header at `l3`,
/// `hl` bytes) grown with zero bytes to at least `min` (lengths and the
/// transport checksum recomputed), so it splits into fragments that each
/// hold something.
fn padded(frame: &[u8], l3: usize, hl: usize, v6: bool, min: usize) -> Vec<u8> {
    let mut f = frame.to_vec();
    let have = f.len() - l3 - hl;
    if have >= min {
        return f;
    }
    f.resize(l3 + hl + min, 0);
    let proto = if v6 { f[l3 + 6] } else { f[l3 + 9] };
    if v6 {
        f[l3 + 4..l3 + 6].copy_from_slice(&(min as u16).to_be_bytes());
    } else {
        f[l3 + 2..l3 + 4].copy_from_slice(&((hl + min) as u16).to_be_bytes());
        f[l3 + 10..l3 + 12].copy_from_slice(&[0, 0]);
        let c = !wire::sum16(&f[l3..l3 + hl], 0);
        f[l3 + 10..l3 + 12].copy_from_slice(&c.to_be_bytes());
    }
    let l4 = l3 + hl;
    if proto == wire::UDP {
        f[l4 + 4..l4 + 6].copy_from_slice(&(min as u16).to_be_bytes());
    }
    let (src, dst, fam): (IpAddr, IpAddr, _) = if v6 {
        let a: [u8; 16] = f[l3 + 8..l3 + 24].try_into().unwrap_or_default();
        let b: [u8; 16] = f[l3 + 24..l3 + 40].try_into().unwrap_or_default();
        (a.into(), b.into(), xpf_runtime::AddressFamily::Inet6)
    } else {
        let a: [u8; 4] = f[l3 + 12..l3 + 16].try_into().unwrap_or_default();
        let b: [u8; 4] = f[l3 + 16..l3 + 20].try_into().unwrap_or_default();
        (a.into(), b.into(), xpf_runtime::AddressFamily::Inet)
    };
    let end = f.len();
    wire::fix_l4(&mut f, fam, src, dst, proto, l4, end);
    f
}

/// `frame` (a generated IPv4 or IPv6 packet) cut into fragments per
/// `plan` with identification `id`: IPv4 fragments (DF cleared, MF and
/// offset set, header checksum recomputed) or IPv6 packets with a
/// Fragment header after the fixed header. Transport bytes shorter than
/// 48 are first padded with zeros (a TCP SYN then carries data). A piece beyond the payload
/// (`Huge`) repeats its bytes from the start. The transport checksum is
/// the whole packet's, as a sender computes it before fragmenting.
pub fn fragments(frame: &[u8], plan: FragPlan, id: u32) -> Vec<Vec<u8>> {
    let (l3, et) = l3_of(frame);
    let (hl, next) = match et {
        0x0800 => (usize::from(frame[l3] & 0x0f) * 4, 0),
        0x86dd => (40, frame[l3 + 6]),
        _ => return vec![frame.to_vec()],
    };
    let frame = &padded(frame, l3, hl, et == 0x86dd, 48)[..];
    let proto = if et == 0x86dd { next } else { frame[l3 + 9] };
    let payload = &frame[l3 + hl..];
    let header = match proto {
        wire::TCP => u32::from(payload[12] >> 4) * 4,
        _ => 8,
    };
    let data = |off: u32, n: u32| -> Vec<u8> {
        (0..n as usize)
            .map(|i| payload[(off as usize + i) % payload.len().max(1)])
            .collect()
    };
    pieces(payload.len() as u32, header, plan)
        .into_iter()
        .map(|(off, n, more)| {
            let mut f = frame[..l3 + hl].to_vec();
            let body = data(off, n);
            if et == 0x0800 {
                let ip = &mut f[l3..];
                ip[2..4].copy_from_slice(&((hl + body.len()) as u16).to_be_bytes());
                ip[4..6].copy_from_slice(&(id as u16).to_be_bytes());
                let word = ((off / 8) as u16 & 0x1fff) | if more { 0x2000 } else { 0 };
                ip[6..8].copy_from_slice(&word.to_be_bytes());
                ip[10..12].copy_from_slice(&[0, 0]);
                let c = !wire::sum16(&ip[..hl], 0);
                ip[10..12].copy_from_slice(&c.to_be_bytes());
            } else {
                let ip = &mut f[l3..];
                ip[4..6].copy_from_slice(&((8 + body.len()) as u16).to_be_bytes());
                ip[6] = 44;
                let word = (off as u16 & 0xfff8) | u16::from(more);
                f.push(next);
                f.push(0);
                f.extend_from_slice(&word.to_be_bytes());
                f.extend_from_slice(&id.to_be_bytes());
            }
            f.extend_from_slice(&body);
            f
        })
        .collect()
}

fn ext_code(e: Ext) -> u8 {
    match e {
        Ext::HopByHop => 0,
        Ext::Routing { .. } => 43,
        Ext::DestOpts => 60,
        Ext::Fragment => 44,
        Ext::Ah => 51,
        Ext::Esp => 50,
    }
}

/// The bytes of one extension header whose next header is `next` (ESP:
/// its SPI and sequence number; the opaque rest follows).
fn ext_bytes(e: Ext, next: u8, id: u32) -> Vec<u8> {
    match e {
        Ext::HopByHop | Ext::DestOpts => vec![next, 0, 1, 4, 0, 0, 0, 0],
        Ext::Routing { type0 } => vec![next, 0, if type0 { 0 } else { 2 }, 0, 0, 0, 0, 0],
        Ext::Fragment => {
            let mut v = vec![next, 0, 0, 0];
            v.extend_from_slice(&id.to_be_bytes());
            v
        }
        Ext::Ah => {
            let mut v = vec![next, 4, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1];
            v.extend_from_slice(&[0xa5; 12]);
            v
        }
        Ext::Esp => vec![0, 0, 1, 0, 0, 0, 0, 1],
    }
}

/// `frame` (a generated IPv6 packet) with the extension headers `chain`
/// inserted after the fixed header (an ESP header ends the chain and
/// makes what follows opaque); `cut` ends the packet inside the last
/// header. An IPv4 packet gets an AH (protocol 51) or ESP (50) header
/// after its IP header when the chain has one (the first wins), which
/// IPv4 does not walk; otherwise it is returned unchanged.
pub fn with_ext_headers(frame: &[u8], chain: &[Ext], cut: bool, id: u32) -> Vec<u8> {
    let (l3, et) = l3_of(frame);
    if et == 0x0800 {
        let hl = usize::from(frame[l3] & 0x0f) * 4;
        let Some(&e) = chain.iter().find(|e| matches!(e, Ext::Ah | Ext::Esp)) else {
            return frame.to_vec();
        };
        let proto = frame[l3 + 9];
        let mut f = frame[..l3 + hl].to_vec();
        f.extend_from_slice(&ext_bytes(e, proto, id));
        f.extend_from_slice(&frame[l3 + hl..]);
        let total = (f.len() - l3) as u16;
        let ip = &mut f[l3..];
        ip[2..4].copy_from_slice(&total.to_be_bytes());
        ip[9] = ext_code(e);
        ip[10..12].copy_from_slice(&[0, 0]);
        let c = !wire::sum16(&ip[..hl], 0);
        ip[10..12].copy_from_slice(&c.to_be_bytes());
        return f;
    }
    if et != 0x86dd {
        return frame.to_vec();
    }
    let upper = frame[l3 + 6];
    let mut chain: Vec<Ext> = chain.to_vec();
    if let Some(esp) = chain.iter().position(|e| *e == Ext::Esp) {
        chain.truncate(esp + 1);
    }
    if cut && chain.is_empty() {
        chain.push(Ext::DestOpts);
    }
    let mut headers = Vec::new();
    for (i, e) in chain.iter().enumerate() {
        let next = chain.get(i + 1).map_or(upper, |n| ext_code(*n));
        headers.extend_from_slice(&ext_bytes(*e, next, id));
    }
    let mut f = frame[..l3 + 40].to_vec();
    f.extend_from_slice(&headers);
    if cut {
        f.truncate(f.len() - 4);
    } else {
        f.extend_from_slice(&frame[l3 + 40..]);
    }
    let payload = (f.len() - l3 - 40) as u16;
    f[l3 + 4..l3 + 6].copy_from_slice(&payload.to_be_bytes());
    if let Some(first) = chain.first() {
        f[l3 + 6] = ext_code(*first);
    }
    f
}
