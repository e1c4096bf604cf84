//! The one-shot frame parser: [`parse_frame`] turns a frame into a
//! [`ParsedFrame`], the small `Copy` summary every later stage of the
//! pipeline reads (screens, filters, session lookup, policy, NAT, forward),
//! or into a [`ParseError`] that names the drop reason.
//!
//! What is validated:
//!
//! - L2: the Ethernet header and up to two VLAN tags; only IPv4 and IPv6 are
//!   accepted.
//! - IPv4: version, IHL, total length within the frame, the option list's
//!   structure, and the **header checksum** (a bad one is
//!   [`ParseError::BadIpv4Checksum`]).
//! - IPv6: version, payload length within the frame, and the
//!   extension-header chain (see [`ipv6::walk_extension_headers`]).
//! - L4, in an unfragmented packet or a first fragment: the TCP header with
//!   its options, the UDP header (and, unfragmented, its length), the ICMP
//!   header and, for an error, the embedded packet's IP header and first 8
//!   transport bytes. A first fragment too short to hold its transport
//!   header is malformed. A non-first fragment has no transport header:
//!   `l4_offset` is `None` and `l4` is [`L4Info::None`].
//!
//! What is not validated: **L4 checksums**. NICs verify them on receive
//! (checksum offload), virtual interfaces often carry packets whose checksum
//! is only completed on transmit (`CHECKSUM_PARTIAL`), and a firewall in the
//! forwarding path passes segments through rather than consuming them, so
//! dropping on an L4 checksum here would drop good traffic on some backends.
//! Backends that want the check call the functions of [`crate::checksum`].
//! The IPv4 header checksum, by contrast, is cheap, never offloaded on the
//! forwarding path, and must be right before the header is trusted.
//!
//! All lengths are taken from the IP header, so Ethernet padding after the
//! IP packet is ignored.

use std::net::{IpAddr, Ipv4Addr};

use xpf_runtime::{AddressFamily, IpProtocol};

use super::ethernet::{self, EtherType, MacAddr};
pub use super::icmp::EmbeddedPacket;
use super::ipv6::RoutingInfo;
use super::tcp::{OptionsSummary, TcpFlags};
use super::{FragmentInfo, ParseError, icmp, ipv4, ipv6, tcp, udp};
use crate::checksum;

/// Decoded TCP header fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TcpInfo {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgment number.
    pub ack: u32,
    /// Flags.
    pub flags: TcpFlags,
    /// Window (unscaled).
    pub window: u16,
    /// Header length in bytes (options included).
    pub header_len: u8,
    /// Payload bytes in this frame.
    pub payload_len: u16,
    /// The MSS option, if present and well formed.
    pub mss: Option<u16>,
    /// The window scale option, if present.
    pub window_scale: Option<u8>,
    /// The SACK-permitted option is present.
    pub sack_permitted: bool,
}

impl TcpInfo {
    /// Sequence space this segment consumes: payload plus SYN and FIN.
    pub fn segment_len(&self) -> u32 {
        u32::from(self.payload_len)
            + u32::from(self.flags.contains(TcpFlags::SYN))
            + u32::from(self.flags.contains(TcpFlags::FIN))
    }
}

/// Decoded UDP header fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct UdpInfo {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// The length field.
    pub length: u16,
    /// The checksum field (0: none, in IPv4).
    pub checksum: u16,
}

/// What an ICMP message is, as far as sessions are concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IcmpKind {
    /// A query (echo, ...) with identifier and sequence number.
    Query {
        /// Identifier (the "port" of ICMP sessions).
        id: u16,
        /// Sequence number.
        seq: u16,
    },
    /// An error carrying (part of) the offending packet.
    Error(EmbeddedPacket),
    /// Anything else (neighbour discovery, router advertisements, ...).
    Other,
}

/// Decoded ICMP / ICMPv6 header fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IcmpInfo {
    /// Message type.
    pub icmp_type: u8,
    /// Message code.
    pub code: u8,
    /// Query, error or other.
    pub kind: IcmpKind,
}

/// The transport layer of a frame, when it is present and parsed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum L4Info {
    /// No parsed transport header: a non-first fragment, ESP, no next
    /// header, or a protocol the parser does not decode (GRE, SCTP, ...).
    None,
    /// TCP.
    Tcp(TcpInfo),
    /// UDP.
    Udp(UdpInfo),
    /// ICMP (IPv4) or ICMPv6.
    Icmp(IcmpInfo),
}

/// The summary of a parsed frame: offsets into the frame and the decoded
/// fields the pipeline needs. Offsets are absolute (from the first byte of
/// the Ethernet header).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParsedFrame {
    /// Destination MAC address.
    pub dst_mac: MacAddr,
    /// Source MAC address.
    pub src_mac: MacAddr,
    /// VLAN ID of the outermost tag.
    pub vlan: Option<u16>,
    /// VLAN ID of the inner tag of a QinQ frame.
    pub inner_vlan: Option<u16>,
    /// The ethertype after the tags (IPv4 or IPv6).
    pub ethertype: EtherType,
    /// Offset of the IP header.
    pub l3_offset: usize,
    /// IPv4 or IPv6.
    pub family: AddressFamily,
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// Upper-layer protocol, after IPv6 extension headers (ESP for an ESP
    /// packet; for a non-first IPv6 fragment, the Fragment header's next
    /// header).
    pub protocol: IpProtocol,
    /// TTL or hop limit.
    pub ttl: u8,
    /// Length of the IP packet: IPv4 total length, or 40 + IPv6 payload
    /// length.
    pub l3_len: usize,
    /// Differentiated services code point.
    pub dscp: u8,
    /// Explicit congestion notification bits.
    pub ecn: u8,
    /// IPv4 don't-fragment flag (always true for IPv6, which routers never
    /// fragment).
    pub dont_fragment: bool,
    /// Fragmentation state.
    pub fragment: FragmentInfo,
    /// IPv4 options present (all false for IPv6).
    pub ipv4_options: ipv4::OptionFlags,
    /// The first IPv6 routing header, if any.
    pub ipv6_routing: Option<RoutingInfo>,
    /// An IPv6 type 0 routing header is present (source-route screen).
    pub ipv6_routing_type0: bool,
    /// Number of IPv6 extension headers walked.
    pub ipv6_ext_headers: u8,
    /// Offset of what follows the IP header, options and extension headers
    /// (the transport header, or fragment data).
    pub payload_offset: usize,
    /// Offset of the parsed transport header; `None` for non-first
    /// fragments, ESP and unparsed protocols.
    pub l4_offset: Option<usize>,
    /// The parsed transport header.
    pub l4: L4Info,
}

impl ParsedFrame {
    /// Offset one past the IP packet (Ethernet padding starts here).
    pub const fn l3_end(&self) -> usize {
        self.l3_offset + self.l3_len
    }

    /// `(source, destination)` ports for TCP and UDP; the ICMP identifier in
    /// both slots for ICMP queries; `None` otherwise.
    pub const fn ports(&self) -> Option<(u16, u16)> {
        match self.l4 {
            L4Info::Tcp(t) => Some((t.src_port, t.dst_port)),
            L4Info::Udp(u) => Some((u.src_port, u.dst_port)),
            L4Info::Icmp(IcmpInfo {
                kind: IcmpKind::Query { id, .. },
                ..
            }) => Some((id, id)),
            _ => None,
        }
    }

    /// The TCP fields, for a TCP segment.
    pub const fn tcp(&self) -> Option<&TcpInfo> {
        match &self.l4 {
            L4Info::Tcp(t) => Some(t),
            _ => None,
        }
    }

    /// The UDP fields, for a UDP datagram.
    pub const fn udp(&self) -> Option<&UdpInfo> {
        match &self.l4 {
            L4Info::Udp(u) => Some(u),
            _ => None,
        }
    }

    /// The ICMP fields, for an ICMP / ICMPv6 message.
    pub const fn icmp(&self) -> Option<&IcmpInfo> {
        match &self.l4 {
            L4Info::Icmp(i) => Some(i),
            _ => None,
        }
    }

    /// The embedded packet, for an ICMP error.
    pub const fn icmp_error(&self) -> Option<&EmbeddedPacket> {
        match &self.l4 {
            L4Info::Icmp(IcmpInfo {
                kind: IcmpKind::Error(e),
                ..
            }) => Some(e),
            _ => None,
        }
    }

    /// True for a fragment other than the first.
    pub const fn is_non_first_fragment(&self) -> bool {
        self.fragment.is_non_first()
    }

    /// Verifies the transport checksum (TCP, UDP, ICMP, ICMPv6) of `frame`,
    /// for backends that want the check the parser leaves out. `None` when
    /// it cannot be verified: no parsed transport header, a fragment (the
    /// checksum covers the reassembled packet), or a frame that does not
    /// match this parse. An IPv4 UDP checksum of zero verifies. The IPv6
    /// pseudo-header uses the destination in the header, so a packet with a
    /// routing header whose final destination differs does not verify.
    pub fn verify_l4_checksum(&self, frame: &[u8]) -> Option<bool> {
        let l4 = self.l4_offset?;
        if self.fragment.is_fragment {
            return None;
        }
        let segment = frame.get(l4..self.l3_end())?;
        let ok = match (self.l4, self.family) {
            (L4Info::Tcp(_), _) => {
                checksum::verify_transport(self.src, self.dst, IpProtocol::TCP.0, segment)
            }
            (L4Info::Udp(u), _) => {
                let datagram = segment.get(..usize::from(u.length))?;
                checksum::verify_udp(self.src, self.dst, datagram)
            }
            (L4Info::Icmp(_), AddressFamily::Inet) => checksum::verify(segment, 0),
            (L4Info::Icmp(_), AddressFamily::Inet6) => {
                checksum::verify_transport(self.src, self.dst, IpProtocol::ICMPV6.0, segment)
            }
            (L4Info::None, _) => return None,
        };
        Some(ok)
    }
}

/// Parses a frame: Ethernet (with up to two VLAN tags), IPv4 or IPv6 with
/// extension headers, and TCP / UDP / ICMP. Never panics and never reads
/// past `frame`.
pub fn parse_frame(frame: &[u8]) -> Result<ParsedFrame, ParseError> {
    let l2 = ethernet::parse_l2(frame)?;
    let l3 = &frame[l2.payload_offset..];
    let mut parsed = ParsedFrame {
        dst_mac: l2.dst,
        src_mac: l2.src,
        vlan: l2.vlan,
        inner_vlan: l2.inner_vlan,
        ethertype: l2.ethertype,
        l3_offset: l2.payload_offset,
        family: AddressFamily::Inet,
        src: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        dst: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        protocol: IpProtocol(0),
        ttl: 0,
        l3_len: 0,
        dscp: 0,
        ecn: 0,
        dont_fragment: false,
        fragment: FragmentInfo::default(),
        ipv4_options: ipv4::OptionFlags::default(),
        ipv6_routing: None,
        ipv6_routing_type0: false,
        ipv6_ext_headers: 0,
        payload_offset: 0,
        l4_offset: None,
        l4: L4Info::None,
    };
    let has_upper_layer = match l2.ethertype {
        EtherType::IPV4 => parse_ipv4(l3, &mut parsed)?,
        EtherType::IPV6 => parse_ipv6(l3, &mut parsed)?,
        _ => return Err(ParseError::UnsupportedEthertype),
    };
    if has_upper_layer {
        let segment = &frame[parsed.payload_offset..parsed.l3_end()];
        parse_l4(segment, &mut parsed)?;
    }
    Ok(parsed)
}

/// Fills the IPv4 fields; returns whether the transport header is in this
/// packet (not a non-first fragment).
fn parse_ipv4(l3: &[u8], parsed: &mut ParsedFrame) -> Result<bool, ParseError> {
    let ip = ipv4::Packet::new_checked(l3)?;
    if !ip.verify_checksum() {
        return Err(ParseError::BadIpv4Checksum);
    }
    parsed.ipv4_options = ipv4::option_flags(ip.options())?;
    parsed.family = AddressFamily::Inet;
    parsed.src = IpAddr::V4(ip.src_addr());
    parsed.dst = IpAddr::V4(ip.dst_addr());
    parsed.protocol = ip.protocol();
    parsed.ttl = ip.ttl();
    parsed.l3_len = usize::from(ip.total_len());
    parsed.dscp = ip.dscp();
    parsed.ecn = ip.ecn();
    parsed.dont_fragment = ip.dont_frag();
    parsed.fragment = FragmentInfo {
        is_fragment: ip.is_fragment(),
        offset: ip.frag_offset(),
        more_fragments: ip.more_frags(),
        id: u32::from(ip.ident()),
    };
    parsed.payload_offset = parsed.l3_offset + ip.header_len();
    Ok(!parsed.fragment.is_non_first())
}

/// Fills the IPv6 fields and walks the extension headers; returns whether
/// the transport header is in this packet.
fn parse_ipv6(l3: &[u8], parsed: &mut ParsedFrame) -> Result<bool, ParseError> {
    let ip = ipv6::Packet::new_checked(l3)?;
    let chain = ipv6::walk_extension_headers(ip.packet(), ip.next_header())?;
    parsed.family = AddressFamily::Inet6;
    parsed.src = IpAddr::V6(ip.src_addr());
    parsed.dst = IpAddr::V6(ip.dst_addr());
    parsed.protocol = chain.protocol;
    parsed.ttl = ip.hop_limit();
    parsed.l3_len = ipv6::HEADER_LEN + usize::from(ip.payload_len());
    parsed.dscp = ip.dscp();
    parsed.ecn = ip.ecn();
    parsed.dont_fragment = true;
    parsed.fragment = chain.fragment;
    parsed.ipv6_routing = chain.routing;
    parsed.ipv6_routing_type0 = chain.has_routing_type0();
    parsed.ipv6_ext_headers = chain.count;
    parsed.payload_offset = parsed.l3_offset + chain.payload_offset;
    Ok(chain.has_upper_layer())
}

/// Parses the transport header in `segment` (from the transport header to
/// the end of the IP packet) for TCP, UDP and the family's ICMP.
fn parse_l4(segment: &[u8], parsed: &mut ParsedFrame) -> Result<(), ParseError> {
    let base = parsed.payload_offset;
    let own_icmp = match parsed.family {
        AddressFamily::Inet => IpProtocol::ICMP,
        AddressFamily::Inet6 => IpProtocol::ICMPV6,
    };
    let l4 = match parsed.protocol {
        IpProtocol::TCP => {
            let tcp = tcp::Packet::new_checked(segment)?;
            let options = match tcp.options() {
                [] => OptionsSummary::default(),
                options => OptionsSummary::of(options),
            };
            L4Info::Tcp(TcpInfo {
                src_port: tcp.src_port(),
                dst_port: tcp.dst_port(),
                seq: tcp.seq_number(),
                ack: tcp.ack_number(),
                flags: tcp.flags(),
                window: tcp.window_len(),
                header_len: tcp.header_len() as u8,
                payload_len: tcp.payload().len() as u16,
                mss: options.mss,
                window_scale: options.window_scale,
                sack_permitted: options.sack_permitted,
            })
        }
        IpProtocol::UDP => {
            let udp = udp::Packet::new_unchecked(segment);
            // A first fragment's length field describes the whole datagram.
            if parsed.fragment.is_fragment {
                udp.check_header_len()?;
            } else {
                udp.check_len()?;
            }
            L4Info::Udp(UdpInfo {
                src_port: udp.src_port(),
                dst_port: udp.dst_port(),
                length: udp.len(),
                checksum: udp.checksum(),
            })
        }
        p if p == own_icmp => {
            let message = icmp::Packet::new_checked(segment)?;
            let msg_type = message.msg_type();
            let kind = if icmp::is_error(parsed.family, msg_type) {
                let data_at = base + icmp::HEADER_LEN;
                IcmpKind::Error(icmp::parse_embedded(
                    message.data(),
                    parsed.family,
                    data_at,
                )?)
            } else if icmp::is_query(parsed.family, msg_type) {
                IcmpKind::Query {
                    id: message.echo_ident(),
                    seq: message.echo_seq_no(),
                }
            } else {
                IcmpKind::Other
            };
            L4Info::Icmp(IcmpInfo {
                icmp_type: msg_type,
                code: message.msg_code(),
                kind,
            })
        }
        _ => return Ok(()),
    };
    parsed.l4_offset = Some(base);
    parsed.l4 = l4;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::icmp::{icmpv4, icmpv6};
    use crate::wire::testutil::*;
    use std::net::Ipv6Addr;

    fn v4addr(ip: IpAddr) -> Ipv4Addr {
        match ip {
            IpAddr::V4(a) => a,
            IpAddr::V6(_) => unreachable!(),
        }
    }

    fn v6addr(ip: IpAddr) -> Ipv6Addr {
        match ip {
            IpAddr::V6(a) => a,
            IpAddr::V4(_) => unreachable!(),
        }
    }

    /// MSS 1460 then NOP, NOP, SACK permitted (8 bytes).
    const SYN_OPTIONS: [u8; 8] = [2, 4, 0x05, 0xb4, 1, 1, 4, 2];

    fn tcp_syn_v4() -> Vec<u8> {
        let (a, b) = (v4(0, 1), v4(1, 1));
        let seg = tcp(a, b, (40000, 80), 1000, 0, TcpFlags::SYN, &SYN_OPTIONS, &[]);
        ethernet(None, &ip(a, b, IpProtocol::TCP, &seg))
    }

    #[test]
    fn tcp_ipv4_syn_exposes_every_field() {
        let frame = tcp_syn_v4();
        let p = parse_frame(&frame).unwrap();
        assert_eq!((p.dst_mac, p.src_mac, p.vlan), (MAC_FW, MAC_CLIENT, None));
        assert_eq!(
            (p.ethertype, p.l3_offset, p.family),
            (EtherType::IPV4, 14, AddressFamily::Inet)
        );
        assert_eq!(
            (p.src, p.dst, p.protocol),
            (v4(0, 1), v4(1, 1), IpProtocol::TCP)
        );
        assert_eq!((p.ttl, p.l3_len, p.dscp, p.ecn), (64, 48, 10, 1));
        assert_eq!((p.payload_offset, p.l4_offset), (34, Some(34)));
        assert!(!p.fragment.is_fragment && !p.ipv4_options.present);
        let t = p.tcp().unwrap();
        assert_eq!((t.src_port, t.dst_port, t.seq, t.ack), (40000, 80, 1000, 0));
        assert_eq!(
            (t.flags, t.window, t.header_len, t.payload_len),
            (TcpFlags::SYN, 8192, 28, 0)
        );
        assert_eq!(
            (t.mss, t.sack_permitted, t.segment_len()),
            (Some(1460), true, 1)
        );
        assert_eq!(p.ports(), Some((40000, 80)));
        assert_eq!(p.verify_l4_checksum(&frame), Some(true));
    }

    #[test]
    fn ethernet_padding_after_the_ip_packet_is_ignored() {
        let (a, b) = (v4(0, 1), v4(1, 1));
        let mut frame = ethernet(None, &ip(a, b, IpProtocol::UDP, &udp(a, b, (1, 2), &[])));
        frame.resize(60, 0);
        let p = parse_frame(&frame).unwrap();
        assert_eq!((p.l3_len, p.l3_end()), (28, 42));
        assert_eq!(p.verify_l4_checksum(&frame), Some(true));
    }

    #[test]
    fn vlan_tagged_frame_moves_l3() {
        let (a, b) = (v6(1), v6(2));
        let frame = ethernet(
            Some(100),
            &ip(a, b, IpProtocol::UDP, &udp(a, b, (5000, 53), b"q")),
        );
        let p = parse_frame(&frame).unwrap();
        assert_eq!(
            (p.vlan, p.l3_offset, p.l4_offset),
            (Some(100), 18, Some(58))
        );
        assert_eq!(p.udp().unwrap().length, 9);
    }

    #[test]
    fn bad_ipv4_header_checksum_is_its_own_error() {
        let mut frame = tcp_syn_v4();
        frame[14 + 10] ^= 0x01;
        assert_eq!(parse_frame(&frame), Err(ParseError::BadIpv4Checksum));
    }

    #[test]
    fn l4_checksum_is_not_verified_by_the_parser() {
        let mut frame = tcp_syn_v4();
        frame[34 + 16] ^= 0xff;
        let p = parse_frame(&frame).unwrap();
        assert_eq!(p.verify_l4_checksum(&frame), Some(false));
    }

    #[test]
    fn non_ip_ethertype_is_unsupported() {
        let mut frame = tcp_syn_v4();
        frame[12..14].copy_from_slice(&EtherType::ARP.0.to_be_bytes());
        assert_eq!(parse_frame(&frame), Err(ParseError::UnsupportedEthertype));
    }

    #[test]
    fn ipv6_ethertype_with_an_ipv4_packet_is_malformed_ipv6() {
        let mut frame = tcp_syn_v4();
        frame[12..14].copy_from_slice(&EtherType::IPV6.0.to_be_bytes());
        assert_eq!(parse_frame(&frame), Err(ParseError::MalformedIpv6));
    }

    #[test]
    fn ipv4_source_route_option_is_flagged() {
        let (a, b) = (v4(0, 1), v4(1, 1));
        // LSRR (131), length 7, pointer 4, one address, then END.
        let options = [131, 7, 4, 198, 18, 9, 9, 0];
        let opts = V4Opts {
            options: &options,
            ..V4Opts::default()
        };
        let l3 = ipv4_with(
            v4addr(a),
            v4addr(b),
            IpProtocol::UDP,
            opts,
            &udp(a, b, (1, 2), &[]),
        );
        let p = parse_frame(&ethernet(None, &l3)).unwrap();
        assert!(p.ipv4_options.present && p.ipv4_options.has_source_route());
        assert_eq!(p.l4_offset, Some(14 + 28));
    }

    #[test]
    fn ipv4_malformed_option_is_malformed_ipv4() {
        let (a, b) = (v4(0, 1), v4(1, 1));
        let options = [131, 12, 4, 0]; // length 12 runs past the options
        let opts = V4Opts {
            options: &options,
            ..V4Opts::default()
        };
        let l3 = ipv4_with(
            v4addr(a),
            v4addr(b),
            IpProtocol::UDP,
            opts,
            &udp(a, b, (1, 2), &[]),
        );
        assert_eq!(
            parse_frame(&ethernet(None, &l3)),
            Err(ParseError::MalformedIpv4)
        );
    }

    #[test]
    fn ipv4_non_first_fragment_has_no_l4() {
        let (a, b) = (v4(0, 1), v4(1, 1));
        let opts = V4Opts {
            frag_offset: 1480,
            ident: 77,
            ..V4Opts::default()
        };
        let l3 = ipv4_with(v4addr(a), v4addr(b), IpProtocol::TCP, opts, &[0xaa; 100]);
        let p = parse_frame(&ethernet(None, &l3)).unwrap();
        assert!(p.is_non_first_fragment());
        assert_eq!(
            (p.fragment.offset, p.fragment.id, p.fragment.more_fragments),
            (1480, 77, false)
        );
        assert_eq!((p.l4_offset, p.l4, p.ports()), (None, L4Info::None, None));
        assert_eq!(p.payload_offset, 34);
        assert_eq!(p.verify_l4_checksum(&ethernet(None, &l3)), None);
    }

    #[test]
    fn ipv4_first_fragment_with_truncated_tcp_is_malformed() {
        let (a, b) = (v4(0, 1), v4(1, 1));
        let opts = V4Opts {
            more_frags: true,
            ..V4Opts::default()
        };
        let l3 = ipv4_with(v4addr(a), v4addr(b), IpProtocol::TCP, opts, &[0; 16]);
        assert_eq!(
            parse_frame(&ethernet(None, &l3)),
            Err(ParseError::MalformedTcp)
        );
    }

    #[test]
    fn ipv4_first_fragment_udp_length_may_exceed_the_fragment() {
        let (a, b) = (v4(0, 1), v4(1, 1));
        let mut d = udp(a, b, (1, 2), &[0; 32]);
        d[4..6].copy_from_slice(&3000u16.to_be_bytes());
        let opts = V4Opts {
            more_frags: true,
            ident: 9,
            ..V4Opts::default()
        };
        let l3 = ipv4_with(v4addr(a), v4addr(b), IpProtocol::UDP, opts, &d);
        let p = parse_frame(&ethernet(None, &l3)).unwrap();
        assert!(p.fragment.is_first());
        assert_eq!(p.ports(), Some((1, 2)));
        // Unfragmented, the same datagram is malformed.
        let l3 = ipv4_with(v4addr(a), v4addr(b), IpProtocol::UDP, V4Opts::default(), &d);
        assert_eq!(
            parse_frame(&ethernet(None, &l3)),
            Err(ParseError::MalformedUdp)
        );
    }

    #[test]
    fn ipv6_extension_headers_lead_to_the_upper_layer() {
        let (a, b) = (v6(1), v6(2));
        let exts = [(0, dest_opts()), (43, routing_type0()), (60, dest_opts())];
        let l3 = ipv6_with(
            v6addr(a),
            v6addr(b),
            &exts,
            IpProtocol::UDP,
            &udp(a, b, (7, 8), b"x"),
        );
        let frame = ethernet(None, &l3);
        let p = parse_frame(&frame).unwrap();
        assert_eq!(
            (p.protocol, p.ipv6_ext_headers, p.ipv6_routing_type0),
            (IpProtocol::UDP, 3, true)
        );
        assert_eq!(p.l4_offset, Some(14 + 40 + 8 + 24 + 8));
        assert_eq!(p.ports(), Some((7, 8)));
        assert!(p.dont_fragment);
    }

    #[test]
    fn ipv6_non_first_fragment_has_no_l4() {
        let (a, b) = (v6(1), v6(2));
        let exts = [(44, fragment(2048, true, 0xabcdef))];
        let l3 = ipv6_with(v6addr(a), v6addr(b), &exts, IpProtocol::TCP, &[0; 64]);
        let p = parse_frame(&ethernet(None, &l3)).unwrap();
        assert!(p.is_non_first_fragment() && p.fragment.more_fragments);
        assert_eq!((p.fragment.offset, p.fragment.id), (2048, 0xabcdef));
        assert_eq!((p.protocol, p.l4_offset), (IpProtocol::TCP, None));
    }

    #[test]
    fn ipv6_first_fragment_parses_l4() {
        let (a, b) = (v6(1), v6(2));
        let seg = tcp(a, b, (1, 2), 5, 6, TcpFlags::SYN, &[], &[]);
        let exts = [(44, fragment(0, true, 1))];
        let l3 = ipv6_with(v6addr(a), v6addr(b), &exts, IpProtocol::TCP, &seg);
        let p = parse_frame(&ethernet(None, &l3)).unwrap();
        assert!(p.fragment.is_first());
        assert_eq!((p.l4_offset, p.ports()), (Some(14 + 48), Some((1, 2))));
    }

    #[test]
    fn ipv6_esp_is_opaque() {
        let (a, b) = (v6(1), v6(2));
        let l3 = ipv6_with(v6addr(a), v6addr(b), &[], IpProtocol::ESP, &[0x55; 40]);
        let p = parse_frame(&ethernet(None, &l3)).unwrap();
        assert_eq!(
            (p.protocol, p.l4_offset, p.ports()),
            (IpProtocol::ESP, None, None)
        );
    }

    #[test]
    fn icmp_echo_puts_the_identifier_in_both_port_slots() {
        let (a, b) = (v4(0, 1), v4(1, 1));
        let m = icmp(a, b, icmpv4::ECHO_REQUEST, 0, 0x1234_0001, b"ping");
        let p = parse_frame(&ethernet(None, &ip(a, b, IpProtocol::ICMP, &m))).unwrap();
        let info = p.icmp().unwrap();
        assert_eq!((info.icmp_type, info.code), (8, 0));
        assert_eq!(info.kind, IcmpKind::Query { id: 0x1234, seq: 1 });
        assert_eq!(p.ports(), Some((0x1234, 0x1234)));
    }

    #[test]
    fn icmpv4_error_exposes_the_embedded_tuple_and_offsets() {
        let (client, server, router) = (v4(0, 1), v4(1, 1), v4(2, 1));
        let original = ip(
            client,
            server,
            IpProtocol::UDP,
            &udp(client, server, (3333, 53), b"q"),
        );
        let m = icmp(router, client, icmpv4::TIME_EXCEEDED, 0, 0, &original);
        let frame = ethernet(None, &ip(router, client, IpProtocol::ICMP, &m));
        let p = parse_frame(&frame).unwrap();
        let e = p.icmp_error().unwrap();
        assert_eq!(
            (e.src, e.dst, e.protocol),
            (client, server, IpProtocol::UDP)
        );
        assert_eq!(e.ports, Some((3333, 53)));
        assert_eq!(
            (e.ip_offset, e.ip_header_len, e.l4_offset),
            (42, 20, Some(62))
        );
        assert_eq!(p.ports(), None);
        assert_eq!(p.verify_l4_checksum(&frame), Some(true));
    }

    #[test]
    fn icmpv6_error_exposes_the_embedded_tuple() {
        let (client, server, router) = (v6(1), v6(2), v6(3));
        let seg = tcp(client, server, (40000, 443), 1, 0, TcpFlags::SYN, &[], &[]);
        let original = ip(client, server, IpProtocol::TCP, &seg);
        let m = icmp(router, client, icmpv6::DEST_UNREACHABLE, 1, 0, &original);
        let frame = ethernet(None, &ip(router, client, IpProtocol::ICMPV6, &m));
        let p = parse_frame(&frame).unwrap();
        let e = p.icmp_error().unwrap();
        assert_eq!(
            (e.src, e.dst, e.ports),
            (client, server, Some((40000, 443)))
        );
        assert_eq!(e.l4_offset, Some(14 + 40 + 8 + 40));
        assert_eq!(p.verify_l4_checksum(&frame), Some(true));
    }

    #[test]
    fn icmp_error_with_a_truncated_embedded_header_is_malformed() {
        let (client, server, router) = (v4(0, 1), v4(1, 1), v4(2, 1));
        let original = ip(
            client,
            server,
            IpProtocol::UDP,
            &udp(client, server, (1, 2), &[]),
        );
        let m = icmp(
            router,
            client,
            icmpv4::DEST_UNREACHABLE,
            3,
            0,
            &original[..24],
        );
        let frame = ethernet(None, &ip(router, client, IpProtocol::ICMP, &m));
        assert_eq!(parse_frame(&frame), Err(ParseError::MalformedIcmp));
    }

    #[test]
    fn icmpv6_inside_ipv4_is_not_parsed_as_icmp() {
        let (a, b) = (v4(0, 1), v4(1, 1));
        let frame = ethernet(None, &ip(a, b, IpProtocol::ICMPV6, &[128, 0, 0, 0]));
        let p = parse_frame(&frame).unwrap();
        assert_eq!((p.l4_offset, p.l4), (None, L4Info::None));
    }

    #[test]
    fn short_icmp_message_is_malformed() {
        let (a, b) = (v4(0, 1), v4(1, 1));
        let frame = ethernet(None, &ip(a, b, IpProtocol::ICMP, &[8, 0, 0, 0]));
        assert_eq!(parse_frame(&frame), Err(ParseError::MalformedIcmp));
    }

    #[test]
    fn every_truncation_of_valid_frames_fails_cleanly() {
        let (c, s) = (v6(1), v6(2));
        let exts = [(0, dest_opts()), (44, fragment(0, true, 3))];
        let seg = tcp(c, s, (1, 2), 3, 4, TcpFlags::ACK, &SYN_OPTIONS, b"data");
        let v6frame = ethernet(
            Some(3),
            &ipv6_with(v6addr(c), v6addr(s), &exts, IpProtocol::TCP, &seg),
        );
        for frame in [tcp_syn_v4(), v6frame] {
            assert!(parse_frame(&frame).is_ok());
            for len in 0..frame.len() {
                assert!(parse_frame(&frame[..len]).is_err(), "len {len}");
            }
        }
    }
}
