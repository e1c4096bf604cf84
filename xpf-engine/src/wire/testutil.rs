//! Frame builders for the unit tests of the `wire` modules, written with
//! the modules' own `Repr`s and checksum functions so that no fixture is
//! hand-typed hex. Every builder fills in correct lengths and checksums.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use xpf_runtime::IpProtocol;

use super::ethernet::{EtherType, EthernetRepr, MacAddr};
use super::ipv4::{self, Ipv4Repr};
use super::ipv6::{self, Ipv6Repr};
use super::tcp::{TcpFlags, TcpRepr};
use super::{icmp, udp};
use crate::checksum;

/// The client's MAC address.
pub const MAC_CLIENT: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x0a]);
/// The firewall's MAC address.
pub const MAC_FW: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x0f]);

/// An IPv4 address in 198.18.0.0/15.
pub fn v4(c: u8, d: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(198, 18, c, d))
}

/// An IPv6 address in 2001:db8::/32.
pub fn v6(last: u16) -> IpAddr {
    IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, last))
}

/// A TCP segment with options (a multiple of 4 bytes) and payload.
#[allow(clippy::too_many_arguments)]
pub fn tcp(
    src: IpAddr,
    dst: IpAddr,
    ports: (u16, u16),
    seq: u32,
    ack: u32,
    flags: TcpFlags,
    options: &[u8],
    payload: &[u8],
) -> Vec<u8> {
    let header_len = 20 + options.len();
    let mut seg = vec![0u8; header_len + payload.len()];
    seg[20..header_len].copy_from_slice(options);
    seg[header_len..].copy_from_slice(payload);
    TcpRepr {
        src_port: ports.0,
        dst_port: ports.1,
        seq,
        ack,
        flags,
        window: 8192,
    }
    .emit(&mut seg, src, dst);
    seg[12] = ((header_len / 4) as u8) << 4;
    let csum = checksum::tcp_checksum(src, dst, &seg);
    seg[16..18].copy_from_slice(&csum.to_be_bytes());
    seg
}

/// A UDP datagram with its checksum.
pub fn udp(src: IpAddr, dst: IpAddr, ports: (u16, u16), payload: &[u8]) -> Vec<u8> {
    let mut d = vec![0u8; udp::HEADER_LEN + payload.len()];
    d[udp::HEADER_LEN..].copy_from_slice(payload);
    let mut p = udp::Packet::new_unchecked(&mut d[..]);
    p.set_src_port(ports.0);
    p.set_dst_port(ports.1);
    p.set_len((udp::HEADER_LEN + payload.len()) as u16);
    p.fill_checksum(src, dst);
    d
}

/// An ICMP (IPv4) or ICMPv6 message (by the family of `src`) with its
/// checksum.
pub fn icmp(src: IpAddr, dst: IpAddr, msg_type: u8, code: u8, rest: u32, data: &[u8]) -> Vec<u8> {
    let mut m = vec![0u8; icmp::HEADER_LEN];
    m.extend_from_slice(data);
    let mut p = icmp::Packet::new_unchecked(&mut m[..]);
    p.set_msg_type(msg_type);
    p.set_msg_code(code);
    p.set_rest_of_header(rest);
    match (src, dst) {
        (IpAddr::V6(s), IpAddr::V6(d)) => p.fill_checksum_v6(s, d),
        _ => p.fill_checksum_v4(),
    }
    m
}

/// IPv4 header knobs beyond the defaults of [`ip`].
#[derive(Clone, Copy, Debug, Default)]
pub struct V4Opts<'a> {
    /// Options bytes (a multiple of 4).
    pub options: &'a [u8],
    /// More-fragments flag.
    pub more_frags: bool,
    /// Fragment offset in bytes.
    pub frag_offset: u16,
    /// Identification.
    pub ident: u16,
}

/// An IPv4 packet with header knobs.
pub fn ipv4_with(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    protocol: IpProtocol,
    opts: V4Opts<'_>,
    payload: &[u8],
) -> Vec<u8> {
    let header_len = ipv4::MIN_HEADER_LEN + opts.options.len();
    let mut p = vec![0u8; header_len + payload.len()];
    Ipv4Repr {
        src,
        dst,
        protocol,
        payload_len: payload.len() as u16,
        ttl: 64,
    }
    .emit(&mut p);
    p[ipv4::MIN_HEADER_LEN..header_len].copy_from_slice(opts.options);
    p[header_len..].copy_from_slice(payload);
    let mut view = ipv4::Packet::new_unchecked(&mut p[..]);
    view.set_version_and_header_len(header_len);
    view.set_total_len((header_len + payload.len()) as u16);
    view.set_ident(opts.ident);
    view.set_flags_and_frag_offset(false, opts.more_frags, opts.frag_offset);
    view.set_dscp_ecn(10, 1);
    view.fill_checksum();
    p
}

/// An IPv6 packet: `exts` are `(next-header value, header bytes after the
/// next-header octet)`, then the upper layer `protocol`.
pub fn ipv6_with(
    src: Ipv6Addr,
    dst: Ipv6Addr,
    exts: &[(u8, Vec<u8>)],
    protocol: IpProtocol,
    payload: &[u8],
) -> Vec<u8> {
    let mut body = Vec::new();
    for (i, (_, bytes)) in exts.iter().enumerate() {
        body.push(exts.get(i + 1).map_or(protocol.0, |(nh, _)| *nh));
        body.extend_from_slice(bytes);
    }
    body.extend_from_slice(payload);
    let mut p = vec![0u8; ipv6::HEADER_LEN];
    Ipv6Repr {
        src,
        dst,
        next_header: IpProtocol(exts.first().map_or(protocol.0, |(nh, _)| *nh)),
        payload_len: body.len() as u16,
        hop_limit: 64,
    }
    .emit(&mut p);
    p.extend_from_slice(&body);
    p
}

/// An IP packet of the family of `src` without options or extension
/// headers.
pub fn ip(src: IpAddr, dst: IpAddr, protocol: IpProtocol, payload: &[u8]) -> Vec<u8> {
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => ipv4_with(s, d, protocol, V4Opts::default(), payload),
        (IpAddr::V6(s), IpAddr::V6(d)) => ipv6_with(s, d, &[], protocol, payload),
        _ => panic!("mixed families"),
    }
}

/// An Ethernet frame client → firewall around `l3`, with an optional
/// 802.1Q tag.
pub fn ethernet(vlan: Option<u16>, l3: &[u8]) -> Vec<u8> {
    let ethertype = match l3.first().map(|b| b >> 4) {
        Some(6) => EtherType::IPV6,
        _ => EtherType::IPV4,
    };
    let mut f = Vec::new();
    EthernetRepr {
        dst: MAC_FW,
        src: MAC_CLIENT,
        vlan,
        ethertype,
    }
    .emit(&mut f);
    f.extend_from_slice(l3);
    f
}

/// The 8-byte destination options header (after its next-header octet):
/// length 0 and a 4-byte PadN option.
pub fn dest_opts() -> Vec<u8> {
    vec![0, 1, 4, 0, 0, 0, 0]
}

/// A fragment header (after its next-header octet).
pub fn fragment(offset: u16, more: bool, id: u32) -> Vec<u8> {
    let mut h = vec![0];
    h.extend_from_slice(&(offset | u16::from(more)).to_be_bytes());
    h.extend_from_slice(&id.to_be_bytes());
    h
}

/// A type 0 routing header with one address, segments left 1 (24 bytes).
pub fn routing_type0() -> Vec<u8> {
    let mut h = vec![2, 0, 1, 0, 0, 0, 0];
    h.extend_from_slice(&Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x99).octets());
    h
}

/// Parses `frame` and checks every checksum it carries against a
/// from-scratch computation: the IPv4 header (the parser verifies it), the
/// transport checksum, and for an ICMP error the embedded IPv4 header and,
/// when the whole original is quoted, the embedded transport checksum.
pub fn assert_checksums_valid(frame: &[u8]) {
    let p = super::parse_frame(frame).expect("frame parses");
    if p.l4_offset.is_some() && !p.fragment.is_fragment {
        assert_eq!(
            p.verify_l4_checksum(frame),
            Some(true),
            "transport checksum"
        );
    }
    if let Some(e) = p.icmp_error() {
        let inner = &frame[e.ip_offset..e.ip_offset + e.len];
        if p.family == xpf_runtime::AddressFamily::Inet {
            assert!(
                checksum::verify_ipv4_header(&inner[..e.ip_header_len]),
                "embedded IPv4 header"
            );
        }
        let whole = match p.family {
            xpf_runtime::AddressFamily::Inet => {
                usize::from(ipv4::Packet::new_unchecked(inner).total_len())
            }
            xpf_runtime::AddressFamily::Inet6 => {
                40 + usize::from(ipv6::Packet::new_unchecked(inner).payload_len())
            }
        };
        if let (Some(l4), true) = (e.l4_offset, whole == e.len) {
            let segment = &frame[l4..e.ip_offset + e.len];
            let ok = match e.protocol {
                IpProtocol::UDP => checksum::verify_udp(e.src, e.dst, segment),
                IpProtocol::ICMP => checksum::verify(segment, 0),
                p => checksum::verify_transport(e.src, e.dst, p.0, segment),
            };
            assert!(ok, "embedded transport checksum");
        }
    }
}
