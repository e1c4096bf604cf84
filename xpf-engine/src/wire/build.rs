//! Packets the firewall sends itself: a TCP RST for a rejected TCP segment
//! and ICMP / ICMPv6 errors (unreachable for `reject`, time exceeded for
//! TTL expiry, packet too big for MTU drops).
//!
//! Both reply on the link the offending frame came from: the Ethernet
//! header (VLAN tags included) is the offending frame's with the MAC
//! addresses swapped; the forward stage may rewrite it. The IP source of a
//! RST is the offending packet's destination (the firewall answers for the
//! host it protects); the IP source of an ICMP error is given by the caller
//! (an interface address for time exceeded, or the original destination).
//!
//! The rules of RFC 1122 §3.2.2, RFC 1812 §4.3.2.7 and RFC 4443 §2.4(e) for
//! when *not* to send an ICMP error are enforced (error about an ICMP error,
//! non-first fragment, broadcast / multicast / unspecified addresses), and
//! RST is never sent in reply to a RST (RFC 9293 §3.10.7.1).

use std::net::IpAddr;

use xpf_runtime::{AddressFamily, IpProtocol};

use super::icmp::{self, icmpv4, icmpv6};
use super::ipv4::{self, Ipv4Repr};
use super::ipv6::{self, Ipv6Repr};
use super::parse::{L4Info, ParsedFrame};
use super::tcp::{self, TcpFlags, TcpRepr};

/// TTL / hop limit of the packets the firewall originates.
pub const DEFAULT_TTL: u8 = 64;
/// Largest ICMPv4 error datagram (RFC 1812 §4.3.2.3: as much of the
/// original as fits in 576 bytes; at least the header and 8 bytes).
pub const ICMPV4_ERROR_MAX_LEN: usize = 576;
/// Largest ICMPv6 error packet (RFC 4443 §2.4(c): the IPv6 minimum MTU).
pub const ICMPV6_ERROR_MAX_LEN: usize = 1280;
/// DSCP of the ICMP errors the firewall originates (CS6, "internetwork
/// control", RFC 1812 §4.3.2.5).
const ERROR_DSCP: u8 = 48;

/// Which ICMP error to send.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IcmpErrorKind {
    /// Communication administratively prohibited (policy / filter reject).
    AdminProhibited,
    /// Port unreachable (reject of UDP, as a closed port would).
    PortUnreachable,
    /// TTL / hop limit exceeded in transit.
    TimeExceeded,
    /// Network unreachable / no route to destination.
    NetUnreachable,
    /// Host / address unreachable (no neighbour).
    HostUnreachable,
    /// Fragmentation needed with DF set (IPv4) / packet too big (IPv6),
    /// with the next-hop MTU.
    PacketTooBig {
        /// The next-hop MTU.
        mtu: u16,
    },
}

impl IcmpErrorKind {
    /// The type and code for `family`.
    pub const fn type_code(self, family: AddressFamily) -> (u8, u8) {
        match (family, self) {
            (AddressFamily::Inet, Self::AdminProhibited) => {
                (icmpv4::DEST_UNREACHABLE, icmpv4::CODE_ADMIN_PROHIBITED)
            }
            (AddressFamily::Inet, Self::PortUnreachable) => {
                (icmpv4::DEST_UNREACHABLE, icmpv4::CODE_PORT_UNREACHABLE)
            }
            (AddressFamily::Inet, Self::TimeExceeded) => {
                (icmpv4::TIME_EXCEEDED, icmpv4::CODE_TTL_EXCEEDED)
            }
            (AddressFamily::Inet, Self::NetUnreachable) => {
                (icmpv4::DEST_UNREACHABLE, icmpv4::CODE_NET_UNREACHABLE)
            }
            (AddressFamily::Inet, Self::HostUnreachable) => {
                (icmpv4::DEST_UNREACHABLE, icmpv4::CODE_HOST_UNREACHABLE)
            }
            (AddressFamily::Inet, Self::PacketTooBig { .. }) => {
                (icmpv4::DEST_UNREACHABLE, icmpv4::CODE_FRAGMENTATION_NEEDED)
            }
            (AddressFamily::Inet6, Self::AdminProhibited) => {
                (icmpv6::DEST_UNREACHABLE, icmpv6::CODE_ADMIN_PROHIBITED)
            }
            (AddressFamily::Inet6, Self::PortUnreachable) => {
                (icmpv6::DEST_UNREACHABLE, icmpv6::CODE_PORT_UNREACHABLE)
            }
            (AddressFamily::Inet6, Self::TimeExceeded) => {
                (icmpv6::TIME_EXCEEDED, icmpv6::CODE_HOP_LIMIT_EXCEEDED)
            }
            (AddressFamily::Inet6, Self::NetUnreachable) => {
                (icmpv6::DEST_UNREACHABLE, icmpv6::CODE_NO_ROUTE)
            }
            (AddressFamily::Inet6, Self::HostUnreachable) => {
                (icmpv6::DEST_UNREACHABLE, icmpv6::CODE_ADDRESS_UNREACHABLE)
            }
            (AddressFamily::Inet6, Self::PacketTooBig { .. }) => (icmpv6::PACKET_TOO_BIG, 0),
        }
    }

    /// The "rest of header" word: the MTU for packet too big, else zero.
    const fn rest_of_header(self, family: AddressFamily) -> u32 {
        match (self, family) {
            // RFC 1191: next-hop MTU in the low 16 bits.
            (Self::PacketTooBig { mtu }, AddressFamily::Inet) => mtu as u32,
            (Self::PacketTooBig { mtu }, AddressFamily::Inet6) => mtu as u32,
            _ => 0,
        }
    }
}

/// Why no packet was built.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
pub enum BuildError {
    /// A RST was asked for a packet that is not a TCP segment with a
    /// parsed header.
    #[error("not a TCP segment")]
    NotTcp,
    /// Never reset a reset.
    #[error("no RST in reply to a RST")]
    ResetForReset,
    /// No ICMP error about an ICMP error.
    #[error("no ICMP error about an ICMP error")]
    ErrorForIcmpError,
    /// No ICMP error about a non-first fragment.
    #[error("no ICMP error about a non-first fragment")]
    NonFirstFragment,
    /// No ICMP error to or about broadcast, multicast, unspecified or
    /// loopback addresses.
    #[error("no ICMP error for a non-unicast address")]
    NonUnicast,
    /// The given source address is of the other family.
    #[error("source address family does not match the packet")]
    FamilyMismatch,
    /// The frame does not hold the bytes the `ParsedFrame` describes.
    #[error("frame does not match its parse")]
    FrameMismatch,
}

/// The offending frame's link header (tags included) with the MAC
/// addresses swapped.
fn reply_l2(for_packet: &ParsedFrame, frame: &[u8]) -> Result<Vec<u8>, BuildError> {
    let l2 = frame
        .get(..for_packet.l3_offset)
        .ok_or(BuildError::FrameMismatch)?;
    if l2.len() < 12 {
        return Err(BuildError::FrameMismatch);
    }
    let mut out = Vec::with_capacity(l2.len() + 128);
    out.extend_from_slice(&for_packet.src_mac.0);
    out.extend_from_slice(&for_packet.dst_mac.0);
    out.extend_from_slice(&l2[12..]);
    Ok(out)
}

/// Appends an IP header for `payload_len` bytes of `protocol` from `src` to
/// `dst` (same family).
fn emit_ip(out: &mut Vec<u8>, src: IpAddr, dst: IpAddr, protocol: IpProtocol, payload_len: usize) {
    let start = out.len();
    match (src, dst) {
        (IpAddr::V4(src), IpAddr::V4(dst)) => {
            out.resize(start + ipv4::MIN_HEADER_LEN, 0);
            Ipv4Repr {
                src,
                dst,
                protocol,
                payload_len: payload_len as u16,
                ttl: DEFAULT_TTL,
            }
            .emit(&mut out[start..]);
        }
        (IpAddr::V6(src), IpAddr::V6(dst)) => {
            out.resize(start + ipv6::HEADER_LEN, 0);
            Ipv6Repr {
                src,
                dst,
                next_header: protocol,
                payload_len: payload_len as u16,
                hop_limit: DEFAULT_TTL,
            }
            .emit(&mut out[start..]);
        }
        // Callers pass addresses of one family.
        _ => {}
    }
}

/// Builds the TCP RST that rejects the segment `for_packet` (parsed from
/// `frame`), per RFC 9293 §3.10.7.1: if the segment has ACK, the RST's
/// sequence number is the segment's acknowledgment number and it carries no
/// ACK; otherwise its sequence number is zero and it acknowledges
/// `SEG.SEQ + SEG.LEN` (payload, SYN and FIN counted). Addresses and ports
/// are swapped; the window is zero. Returns the whole Ethernet frame.
pub fn build_tcp_rst(for_packet: &ParsedFrame, frame: &[u8]) -> Result<Vec<u8>, BuildError> {
    let (Some(_), L4Info::Tcp(seg)) = (for_packet.l4_offset, for_packet.l4) else {
        return Err(BuildError::NotTcp);
    };
    if seg.flags.contains(TcpFlags::RST) {
        return Err(BuildError::ResetForReset);
    }
    let repr = if seg.flags.contains(TcpFlags::ACK) {
        TcpRepr {
            src_port: seg.dst_port,
            dst_port: seg.src_port,
            seq: seg.ack,
            ack: 0,
            flags: TcpFlags::RST,
            window: 0,
        }
    } else {
        TcpRepr {
            src_port: seg.dst_port,
            dst_port: seg.src_port,
            seq: 0,
            ack: seg.seq.wrapping_add(seg.segment_len()),
            flags: TcpFlags::RST | TcpFlags::ACK,
            window: 0,
        }
    };
    let mut out = reply_l2(for_packet, frame)?;
    let (src, dst) = (for_packet.dst, for_packet.src);
    emit_ip(&mut out, src, dst, IpProtocol::TCP, tcp::MIN_HEADER_LEN);
    let l4 = out.len();
    out.resize(l4 + tcp::MIN_HEADER_LEN, 0);
    repr.emit(&mut out[l4..], src, dst);
    Ok(out)
}

/// True for an address an ICMP error must not be sent to or about.
fn is_non_unicast(addr: IpAddr) -> bool {
    match addr {
        IpAddr::V4(a) => {
            a.is_unspecified() || a.is_broadcast() || a.is_multicast() || a.is_loopback()
        }
        IpAddr::V6(a) => a.is_unspecified() || a.is_multicast() || a.is_loopback(),
    }
}

/// Builds an ICMP (IPv4) or ICMPv6 error of `kind` about `for_packet`
/// (parsed from `frame`), from `source` to the offending packet's source.
/// It quotes as much of the offending IP packet as fits in 576 bytes
/// (IPv4; at least the header and 8 bytes) or 1280 bytes (IPv6). Returns
/// the whole Ethernet frame.
///
/// Refused (RFC 1122 §3.2.2, RFC 4443 §2.4(e)): about an ICMP error; about
/// a non-first fragment; about a packet sent to a broadcast or multicast
/// address (IPv6 packet too big excepted) or from a non-unicast address; and
/// from a `source` of the other family.
pub fn build_icmp_error(
    kind: IcmpErrorKind,
    for_packet: &ParsedFrame,
    frame: &[u8],
    source: IpAddr,
) -> Result<Vec<u8>, BuildError> {
    let family = for_packet.family;
    let source_ok = matches!(
        (family, source),
        (AddressFamily::Inet, IpAddr::V4(_)) | (AddressFamily::Inet6, IpAddr::V6(_))
    );
    if !source_ok {
        return Err(BuildError::FamilyMismatch);
    }
    if for_packet.icmp_error().is_some() {
        return Err(BuildError::ErrorForIcmpError);
    }
    if for_packet.fragment.is_non_first() {
        return Err(BuildError::NonFirstFragment);
    }
    let to_group = is_non_unicast(for_packet.dst)
        || (family == AddressFamily::Inet && for_packet.dst_mac.is_multicast());
    let allowed_to_group =
        family == AddressFamily::Inet6 && matches!(kind, IcmpErrorKind::PacketTooBig { .. });
    if (to_group && !allowed_to_group) || is_non_unicast(for_packet.src) {
        return Err(BuildError::NonUnicast);
    }
    let original = frame
        .get(for_packet.l3_offset..for_packet.l3_end())
        .ok_or(BuildError::FrameMismatch)?;

    let (ip_header_len, max_len) = match family {
        AddressFamily::Inet => (ipv4::MIN_HEADER_LEN, ICMPV4_ERROR_MAX_LEN),
        AddressFamily::Inet6 => (ipv6::HEADER_LEN, ICMPV6_ERROR_MAX_LEN),
    };
    let quote_len = original
        .len()
        .min(max_len - ip_header_len - icmp::HEADER_LEN);
    let message_len = icmp::HEADER_LEN + quote_len;
    let protocol = match family {
        AddressFamily::Inet => IpProtocol::ICMP,
        AddressFamily::Inet6 => IpProtocol::ICMPV6,
    };

    let mut out = reply_l2(for_packet, frame)?;
    let ip_at = out.len();
    emit_ip(&mut out, source, for_packet.src, protocol, message_len);
    if family == AddressFamily::Inet {
        let mut ip = ipv4::Packet::new_unchecked(&mut out[ip_at..]);
        ip.set_dscp_ecn(ERROR_DSCP, 0);
        ip.fill_checksum();
    }
    let l4 = out.len();
    out.resize(l4 + icmp::HEADER_LEN, 0);
    out.extend_from_slice(&original[..quote_len]);
    let (msg_type, code) = kind.type_code(family);
    let mut message = icmp::Packet::new_unchecked(&mut out[l4..]);
    message.set_msg_type(msg_type);
    message.set_msg_code(code);
    message.set_rest_of_header(kind.rest_of_header(family));
    match (source, for_packet.src) {
        (IpAddr::V6(src), IpAddr::V6(dst)) => message.fill_checksum_v6(src, dst),
        _ => message.fill_checksum_v4(),
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::ethernet::MacAddr;
    use crate::wire::parse::ParsedFrame;
    use crate::wire::parse_frame;
    use crate::wire::testutil::*;

    fn parsed(frame: &[u8]) -> ParsedFrame {
        parse_frame(frame).unwrap()
    }

    fn tcp_frame(c: IpAddr, s: IpAddr, flags: TcpFlags, payload: &[u8]) -> Vec<u8> {
        let seg = tcp(c, s, (40000, 22), 1000, 5000, flags, &[], payload);
        ethernet(Some(7), &ip(c, s, IpProtocol::TCP, &seg))
    }

    #[test]
    fn rst_for_a_syn_acknowledges_it_from_the_destination() {
        let frame = tcp_frame(v4(0, 1), v4(1, 1), TcpFlags::SYN, &[]);
        let rst = build_tcp_rst(&parsed(&frame), &frame).unwrap();
        assert_checksums_valid(&rst);
        let r = parsed(&rst);
        assert_eq!(
            (r.src_mac, r.dst_mac, r.vlan),
            (MAC_FW, MAC_CLIENT, Some(7))
        );
        assert_eq!(
            (r.src, r.dst, r.ports()),
            (v4(1, 1), v4(0, 1), Some((22, 40000)))
        );
        let t = r.tcp().unwrap();
        assert_eq!(
            (t.flags, t.seq, t.ack, t.window),
            (TcpFlags::RST | TcpFlags::ACK, 0, 1001, 0)
        );
    }

    #[test]
    fn rst_for_data_without_ack_acknowledges_payload_and_fin() {
        let frame = tcp_frame(v6(1), v6(2), TcpFlags::FIN | TcpFlags::PSH, b"12345");
        let rst = build_tcp_rst(&parsed(&frame), &frame).unwrap();
        assert_checksums_valid(&rst);
        assert_eq!(parsed(&rst).tcp().unwrap().ack, 1000 + 5 + 1);
    }

    #[test]
    fn rst_for_an_ack_takes_its_sequence_from_the_ack_number() {
        let frame = tcp_frame(v4(0, 1), v4(1, 1), TcpFlags::ACK | TcpFlags::PSH, b"data");
        let rst = build_tcp_rst(&parsed(&frame), &frame).unwrap();
        let t = *parsed(&rst).tcp().unwrap();
        assert_eq!((t.flags, t.seq, t.ack), (TcpFlags::RST, 5000, 0));
    }

    #[test]
    fn no_rst_for_a_rst_or_a_non_tcp_packet() {
        let frame = tcp_frame(v4(0, 1), v4(1, 1), TcpFlags::RST, &[]);
        assert_eq!(
            build_tcp_rst(&parsed(&frame), &frame),
            Err(BuildError::ResetForReset)
        );
        let (c, s) = (v4(0, 1), v4(1, 1));
        let frame = ethernet(None, &ip(c, s, IpProtocol::UDP, &udp(c, s, (1, 2), &[])));
        assert_eq!(
            build_tcp_rst(&parsed(&frame), &frame),
            Err(BuildError::NotTcp)
        );
    }

    #[test]
    fn icmpv4_admin_prohibited_quotes_the_whole_small_packet() {
        let frame = tcp_frame(v4(0, 1), v4(1, 1), TcpFlags::SYN, &[]);
        let p = parsed(&frame);
        let err = build_icmp_error(IcmpErrorKind::AdminProhibited, &p, &frame, v4(1, 1)).unwrap();
        assert_checksums_valid(&err);
        let e = parsed(&err);
        let info = e.icmp().unwrap();
        assert_eq!((info.icmp_type, info.code), (3, 13));
        assert_eq!((e.src, e.dst, e.dscp), (v4(1, 1), v4(0, 1), ERROR_DSCP));
        let inner = e.icmp_error().unwrap();
        assert_eq!(
            (inner.src, inner.dst, inner.ports),
            (v4(0, 1), v4(1, 1), Some((40000, 22)))
        );
        assert_eq!(&err[inner.ip_offset..], &frame[p.l3_offset..p.l3_end()]);
    }

    #[test]
    fn icmpv4_error_is_capped_at_576_bytes() {
        let (c, s) = (v4(0, 1), v4(1, 1));
        let frame = ethernet(
            None,
            &ip(c, s, IpProtocol::UDP, &udp(c, s, (1, 2), &[7; 1400])),
        );
        let err =
            build_icmp_error(IcmpErrorKind::PortUnreachable, &parsed(&frame), &frame, s).unwrap();
        let e = parsed(&err);
        assert_eq!(e.l3_len, ICMPV4_ERROR_MAX_LEN);
        assert_eq!(e.icmp().unwrap().code, 3);
        assert_checksums_valid(&err);
    }

    #[test]
    fn icmpv6_error_is_capped_at_1280_bytes() {
        let (c, s, r) = (v6(1), v6(2), v6(0xfe));
        let frame = ethernet(
            None,
            &ip(c, s, IpProtocol::UDP, &udp(c, s, (1, 2), &[7; 1400])),
        );
        let err =
            build_icmp_error(IcmpErrorKind::TimeExceeded, &parsed(&frame), &frame, r).unwrap();
        let e = parsed(&err);
        assert_eq!(e.l3_len, ICMPV6_ERROR_MAX_LEN);
        assert_eq!((e.src, e.dst), (r, c));
        let info = e.icmp().unwrap();
        assert_eq!((info.icmp_type, info.code), (3, 0));
        assert_checksums_valid(&err);
    }

    #[test]
    fn packet_too_big_carries_the_mtu() {
        let (c, s) = (v6(1), v6(2));
        let frame = ethernet(
            None,
            &ip(c, s, IpProtocol::UDP, &udp(c, s, (1, 2), &[0; 1400])),
        );
        let kind = IcmpErrorKind::PacketTooBig { mtu: 1280 };
        let err = build_icmp_error(kind, &parsed(&frame), &frame, v6(0xfe)).unwrap();
        let l4 = parsed(&err).l4_offset.unwrap();
        assert_eq!(&err[l4..l4 + 2], &[2, 0]);
        assert_eq!(&err[l4 + 4..l4 + 8], &1280u32.to_be_bytes());
        let (c, s) = (v4(0, 1), v4(1, 1));
        let frame = ethernet(
            None,
            &ip(c, s, IpProtocol::UDP, &udp(c, s, (1, 2), &[0; 1400])),
        );
        let kind = IcmpErrorKind::PacketTooBig { mtu: 1400 };
        let err = build_icmp_error(kind, &parsed(&frame), &frame, v4(2, 2)).unwrap();
        let l4 = parsed(&err).l4_offset.unwrap();
        assert_eq!(&err[l4..l4 + 2], &[3, 4]);
        assert_eq!(&err[l4 + 6..l4 + 8], &1400u16.to_be_bytes());
    }

    #[test]
    fn no_icmp_error_about_an_icmp_error() {
        let (c, s) = (v4(0, 1), v4(1, 1));
        let original = ip(c, s, IpProtocol::UDP, &udp(c, s, (1, 2), &[]));
        let m = icmp(s, c, 3, 3, 0, &original);
        let frame = ethernet(None, &ip(s, c, IpProtocol::ICMP, &m));
        let r = build_icmp_error(
            IcmpErrorKind::TimeExceeded,
            &parsed(&frame),
            &frame,
            v4(2, 2),
        );
        assert_eq!(r, Err(BuildError::ErrorForIcmpError));
    }

    #[test]
    fn no_icmp_error_about_a_non_first_fragment_or_to_a_group() {
        let (c, s) = (v4(0, 1), v4(1, 1));
        let (IpAddr::V4(c4), IpAddr::V4(s4)) = (c, s) else {
            unreachable!()
        };
        let opts = V4Opts {
            frag_offset: 64,
            ..V4Opts::default()
        };
        let frame = ethernet(None, &ipv4_with(c4, s4, IpProtocol::UDP, opts, &[0; 8]));
        let kind = IcmpErrorKind::TimeExceeded;
        let r = build_icmp_error(kind, &parsed(&frame), &frame, s);
        assert_eq!(r, Err(BuildError::NonFirstFragment));
        let group = IpAddr::V4(std::net::Ipv4Addr::new(224, 0, 0, 5));
        let frame = ethernet(
            None,
            &ip(c, group, IpProtocol::UDP, &udp(c, group, (1, 2), &[])),
        );
        let r = build_icmp_error(kind, &parsed(&frame), &frame, s);
        assert_eq!(r, Err(BuildError::NonUnicast));
        let mut frame = ethernet(None, &ip(c, s, IpProtocol::UDP, &udp(c, s, (1, 2), &[])));
        frame[..6].copy_from_slice(&MacAddr::BROADCAST.0);
        let r = build_icmp_error(kind, &parsed(&frame), &frame, s);
        assert_eq!(r, Err(BuildError::NonUnicast));
        let r = build_icmp_error(kind, &parsed(&frame), &frame, v6(1));
        assert_eq!(r, Err(BuildError::FamilyMismatch));
    }
}
