//! ICMP for IPv4 (RFC 792) and ICMPv6 (RFC 4443), which share a layout:
//! type, code, checksum, four bytes of "rest of header", data.
//!
//! - Query messages (echo, and for IPv4 timestamp, information and address
//!   mask) carry an identifier and a sequence number in the rest of the
//!   header; the identifier plays the role of a port in session keys.
//! - Error messages (destination unreachable, packet too big, time
//!   exceeded, parameter problem, and for IPv4 source quench and redirect)
//!   carry as much of the offending packet as fits after the 8-byte header.
//!   [`parse_embedded`] decodes that copy: its IP header (the whole IPv4
//!   header, or the IPv6 header and its extension headers) and the first 8
//!   bytes of its transport header (ports, or an ICMP identifier), which is
//!   what RFC 792 guarantees and what NAT needs to find and translate the
//!   session. The copy is truncated by nature, so its total / payload length
//!   is not checked against what is present; an IPv6 copy may even end
//!   inside its extension headers.
//!
//! Every message is required to have the full 8-byte header; real ICMP and
//! ICMPv6 messages all do.

use std::net::{IpAddr, Ipv6Addr};

use xpf_runtime::{AddressFamily, IpProtocol};

use super::{ParseError, be16, be32, ipv4, ipv6, put16, put32};
use crate::checksum;

/// Length of the ICMP header (type, code, checksum, rest of header).
pub const HEADER_LEN: usize = 8;
/// Offset of the checksum.
pub const CHECKSUM_OFFSET: usize = 2;
/// Offset of the echo identifier.
pub const IDENT_OFFSET: usize = 4;
/// How many bytes of the embedded packet's transport header are required:
/// the "first 64 bits of the original datagram's data" (RFC 792).
pub const EMBEDDED_L4_LEN: usize = 8;

/// ICMPv4 types and codes the firewall uses.
pub mod icmpv4 {
    /// Echo reply.
    pub const ECHO_REPLY: u8 = 0;
    /// Destination unreachable.
    pub const DEST_UNREACHABLE: u8 = 3;
    /// Source quench (deprecated, still an error message).
    pub const SOURCE_QUENCH: u8 = 4;
    /// Redirect.
    pub const REDIRECT: u8 = 5;
    /// Echo request.
    pub const ECHO_REQUEST: u8 = 8;
    /// Time exceeded.
    pub const TIME_EXCEEDED: u8 = 11;
    /// Parameter problem.
    pub const PARAMETER_PROBLEM: u8 = 12;
    /// Timestamp request.
    pub const TIMESTAMP: u8 = 13;
    /// Timestamp reply.
    pub const TIMESTAMP_REPLY: u8 = 14;
    /// Information request.
    pub const INFO_REQUEST: u8 = 15;
    /// Information reply.
    pub const INFO_REPLY: u8 = 16;
    /// Address mask request.
    pub const ADDRESS_MASK_REQUEST: u8 = 17;
    /// Address mask reply.
    pub const ADDRESS_MASK_REPLY: u8 = 18;

    /// Destination unreachable: net unreachable.
    pub const CODE_NET_UNREACHABLE: u8 = 0;
    /// Destination unreachable: host unreachable.
    pub const CODE_HOST_UNREACHABLE: u8 = 1;
    /// Destination unreachable: port unreachable.
    pub const CODE_PORT_UNREACHABLE: u8 = 3;
    /// Destination unreachable: fragmentation needed and DF set.
    pub const CODE_FRAGMENTATION_NEEDED: u8 = 4;
    /// Destination unreachable: communication administratively prohibited
    /// (RFC 1812).
    pub const CODE_ADMIN_PROHIBITED: u8 = 13;
    /// Time exceeded: TTL exceeded in transit.
    pub const CODE_TTL_EXCEEDED: u8 = 0;
}

/// ICMPv6 types and codes the firewall uses.
pub mod icmpv6 {
    /// Destination unreachable.
    pub const DEST_UNREACHABLE: u8 = 1;
    /// Packet too big.
    pub const PACKET_TOO_BIG: u8 = 2;
    /// Time exceeded.
    pub const TIME_EXCEEDED: u8 = 3;
    /// Parameter problem.
    pub const PARAMETER_PROBLEM: u8 = 4;
    /// Echo request.
    pub const ECHO_REQUEST: u8 = 128;
    /// Echo reply.
    pub const ECHO_REPLY: u8 = 129;

    /// Destination unreachable: no route to destination.
    pub const CODE_NO_ROUTE: u8 = 0;
    /// Destination unreachable: communication administratively prohibited.
    pub const CODE_ADMIN_PROHIBITED: u8 = 1;
    /// Destination unreachable: address unreachable.
    pub const CODE_ADDRESS_UNREACHABLE: u8 = 3;
    /// Destination unreachable: port unreachable.
    pub const CODE_PORT_UNREACHABLE: u8 = 4;
    /// Time exceeded: hop limit exceeded in transit.
    pub const CODE_HOP_LIMIT_EXCEEDED: u8 = 0;
}

/// True if `msg_type` is an error message (which embeds the offending
/// packet) in `family`'s ICMP.
pub const fn is_error(family: AddressFamily, msg_type: u8) -> bool {
    match family {
        AddressFamily::Inet => matches!(
            msg_type,
            icmpv4::DEST_UNREACHABLE
                | icmpv4::SOURCE_QUENCH
                | icmpv4::REDIRECT
                | icmpv4::TIME_EXCEEDED
                | icmpv4::PARAMETER_PROBLEM
        ),
        // RFC 4443 §2.1: error messages are types 0-127. Unassigned ones are
        // not treated as errors: their body is not known to be a packet.
        AddressFamily::Inet6 => matches!(
            msg_type,
            icmpv6::DEST_UNREACHABLE
                | icmpv6::PACKET_TOO_BIG
                | icmpv6::TIME_EXCEEDED
                | icmpv6::PARAMETER_PROBLEM
        ),
    }
}

/// True if `msg_type` is a query (request or reply) with an identifier and
/// sequence number in `family`'s ICMP.
pub const fn is_query(family: AddressFamily, msg_type: u8) -> bool {
    match family {
        AddressFamily::Inet => matches!(
            msg_type,
            icmpv4::ECHO_REPLY
                | icmpv4::ECHO_REQUEST
                | icmpv4::TIMESTAMP
                | icmpv4::TIMESTAMP_REPLY
                | icmpv4::INFO_REQUEST
                | icmpv4::INFO_REPLY
                | icmpv4::ADDRESS_MASK_REQUEST
                | icmpv4::ADDRESS_MASK_REPLY
        ),
        AddressFamily::Inet6 => matches!(msg_type, icmpv6::ECHO_REQUEST | icmpv6::ECHO_REPLY),
    }
}

/// A view over an ICMP or ICMPv6 message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps `buffer` without validation; accessors panic on a short
    /// buffer.
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Self {
        Self { buffer }
    }

    /// Wraps `buffer` after [`Packet::check_len`].
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self, ParseError> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// Fails with [`ParseError::MalformedIcmp`] if shorter than 8 bytes.
    #[inline]
    pub fn check_len(&self) -> Result<(), ParseError> {
        if self.buffer.as_ref().len() < HEADER_LEN {
            return Err(ParseError::MalformedIcmp);
        }
        Ok(())
    }

    /// The underlying buffer.
    #[inline]
    pub fn into_inner(self) -> T {
        self.buffer
    }

    #[inline]
    fn buf(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    /// Message type.
    #[inline]
    pub fn msg_type(&self) -> u8 {
        self.buf()[0]
    }

    /// Message code.
    #[inline]
    pub fn msg_code(&self) -> u8 {
        self.buf()[1]
    }

    /// The checksum field.
    #[inline]
    pub fn checksum(&self) -> u16 {
        be16(self.buf(), CHECKSUM_OFFSET)
    }

    /// The four bytes after the checksum, as one word.
    #[inline]
    pub fn rest_of_header(&self) -> u32 {
        be32(self.buf(), 4)
    }

    /// Query messages: the identifier.
    #[inline]
    pub fn echo_ident(&self) -> u16 {
        be16(self.buf(), IDENT_OFFSET)
    }

    /// Query messages: the sequence number.
    #[inline]
    pub fn echo_seq_no(&self) -> u16 {
        be16(self.buf(), 6)
    }

    /// Everything after the 8-byte header (the embedded packet of an
    /// error).
    #[inline]
    pub fn data(&self) -> &[u8] {
        &self.buf()[HEADER_LEN..]
    }

    /// True if the ICMPv4 checksum is correct (the buffer must be exactly
    /// the message).
    #[inline]
    pub fn verify_checksum_v4(&self) -> bool {
        checksum::verify(self.buf(), 0)
    }

    /// True if the ICMPv6 checksum is correct for the pseudo-header of `src`
    /// and `dst` (the buffer must be exactly the message).
    #[inline]
    pub fn verify_checksum_v6(&self, src: Ipv6Addr, dst: Ipv6Addr) -> bool {
        checksum::verify_transport(src.into(), dst.into(), 58, self.buf())
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Sets the message type.
    #[inline]
    pub fn set_msg_type(&mut self, msg_type: u8) {
        self.buffer.as_mut()[0] = msg_type;
    }

    /// Sets the message code.
    #[inline]
    pub fn set_msg_code(&mut self, code: u8) {
        self.buffer.as_mut()[1] = code;
    }

    /// Sets the checksum field.
    #[inline]
    pub fn set_checksum(&mut self, checksum: u16) {
        put16(self.buffer.as_mut(), CHECKSUM_OFFSET, checksum);
    }

    /// Sets the four bytes after the checksum.
    #[inline]
    pub fn set_rest_of_header(&mut self, rest: u32) {
        put32(self.buffer.as_mut(), 4, rest);
    }

    /// Sets the identifier of a query message (the checksum is not
    /// updated).
    #[inline]
    pub fn set_echo_ident(&mut self, ident: u16) {
        put16(self.buffer.as_mut(), IDENT_OFFSET, ident);
    }

    /// Sets the sequence number of a query message.
    #[inline]
    pub fn set_echo_seq_no(&mut self, seq: u16) {
        put16(self.buffer.as_mut(), 6, seq);
    }

    /// The data after the header, mutably.
    #[inline]
    pub fn data_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[HEADER_LEN..]
    }

    /// Computes and stores the ICMPv4 checksum (the buffer must be exactly
    /// the message).
    #[inline]
    pub fn fill_checksum_v4(&mut self) {
        let csum = checksum::icmpv4_checksum(self.buffer.as_ref());
        self.set_checksum(csum);
    }

    /// Computes and stores the ICMPv6 checksum (the buffer must be exactly
    /// the message).
    #[inline]
    pub fn fill_checksum_v6(&mut self, src: Ipv6Addr, dst: Ipv6Addr) {
        let csum = checksum::icmpv6_checksum(src, dst, self.buffer.as_ref());
        self.set_checksum(csum);
    }
}

/// The packet embedded in an ICMP error, decoded far enough to find its
/// session and to translate it. Offsets are absolute (in the frame).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EmbeddedPacket {
    /// Offset of the embedded IP header.
    pub ip_offset: usize,
    /// Length of the embedded IP header (IPv4 options or IPv6 extension
    /// headers included).
    pub ip_header_len: usize,
    /// Offset of the embedded transport header, when its first 8 bytes are
    /// present and it is TCP, UDP or ICMP (not a non-first fragment).
    pub l4_offset: Option<usize>,
    /// How many bytes of the original packet are present (from
    /// `ip_offset` to the end of the ICMP message).
    pub len: usize,
    /// Source address of the original packet.
    pub src: IpAddr,
    /// Destination address of the original packet.
    pub dst: IpAddr,
    /// Upper-layer protocol of the original packet.
    pub protocol: IpProtocol,
    /// `(source, destination)` ports of the original packet, or its ICMP
    /// identifier in both slots for an embedded ICMP query.
    pub ports: Option<(u16, u16)>,
}

/// Decodes the packet embedded in an ICMP error of `family` from `data`
/// (the message after its 8-byte header), which starts at frame offset
/// `base`.
///
/// Errors, all [`ParseError::MalformedIcmp`]: the embedded IP header is
/// truncated or of the other family; for IPv4, the first 8 bytes of an
/// embedded TCP, UDP or ICMP header (of a packet that is not a non-first
/// fragment) are missing (RFC 792 requires them). An IPv6 quote may end
/// anywhere (RFC 4443 bounds it by the minimum MTU, not by headers): if it
/// ends inside the extension chain, `protocol` is the fixed header's next
/// header and there is no transport header; if it ends inside the first 8
/// transport bytes, there are no ports.
pub fn parse_embedded(
    data: &[u8],
    family: AddressFamily,
    base: usize,
) -> Result<EmbeddedPacket, ParseError> {
    let malformed = |_| ParseError::MalformedIcmp;
    let (src, dst, protocol, header_len, has_upper_layer) = match family {
        AddressFamily::Inet => {
            let ip = ipv4::Packet::new_unchecked(data);
            ip.check_header_len().map_err(malformed)?;
            (
                IpAddr::V4(ip.src_addr()),
                IpAddr::V4(ip.dst_addr()),
                ip.protocol(),
                ip.header_len(),
                ip.frag_offset() == 0,
            )
        }
        AddressFamily::Inet6 => {
            let ip = ipv6::Packet::new_unchecked(data);
            ip.check_header_len().map_err(malformed)?;
            let (src, dst) = (IpAddr::V6(ip.src_addr()), IpAddr::V6(ip.dst_addr()));
            match ipv6::walk_extension_headers(data, ip.next_header()) {
                Ok(chain) => (
                    src,
                    dst,
                    chain.protocol,
                    chain.payload_offset,
                    chain.has_upper_layer(),
                ),
                // The quote (at most 1232 bytes) may end inside a long
                // extension chain: the packet is still identified by its
                // addresses, without an upper layer.
                Err(_) => (
                    src,
                    dst,
                    IpProtocol(ip.next_header()),
                    ipv6::HEADER_LEN,
                    false,
                ),
            }
        }
    };
    let mut embedded = EmbeddedPacket {
        ip_offset: base,
        ip_header_len: header_len,
        l4_offset: None,
        len: data.len(),
        src,
        dst,
        protocol,
        ports: None,
    };
    let own_icmp = match family {
        AddressFamily::Inet => IpProtocol::ICMP,
        AddressFamily::Inet6 => IpProtocol::ICMPV6,
    };
    let parsed_l4 =
        protocol == IpProtocol::TCP || protocol == IpProtocol::UDP || protocol == own_icmp;
    if !has_upper_layer || !parsed_l4 {
        return Ok(embedded);
    }
    let Some(l4) = data.get(header_len..header_len + EMBEDDED_L4_LEN) else {
        // RFC 792 guarantees 8 bytes of an IPv4 packet's payload; an IPv6
        // quote may be cut anywhere.
        return match family {
            AddressFamily::Inet => Err(ParseError::MalformedIcmp),
            AddressFamily::Inet6 => Ok(embedded),
        };
    };
    embedded.l4_offset = Some(base + header_len);
    embedded.ports = if protocol == own_icmp {
        // An embedded query (e.g. an echo request that hit a TTL limit) is
        // keyed by its identifier; an embedded error has no key.
        is_query(family, l4[0]).then(|| {
            let id = be16(l4, IDENT_OFFSET);
            (id, id)
        })
    } else {
        Some((be16(l4, 0), be16(l4, 2)))
    };
    Ok(embedded)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::ipv4::Ipv4Repr;
    use crate::wire::ipv6::Ipv6Repr;
    use std::net::Ipv4Addr;

    fn v4_packet(protocol: IpProtocol, l4: &[u8]) -> Vec<u8> {
        let mut buf = vec![0u8; 20];
        Ipv4Repr {
            src: Ipv4Addr::new(198, 18, 0, 1),
            dst: Ipv4Addr::new(198, 19, 0, 1),
            protocol,
            payload_len: l4.len() as u16,
            ttl: 1,
        }
        .emit(&mut buf);
        buf.extend_from_slice(l4);
        buf
    }

    /// UDP header: ports 1024 → 53, length 20, checksum 0x1234.
    const UDP_HEADER: [u8; 8] = [0x04, 0x00, 0x00, 0x35, 0x00, 0x14, 0x12, 0x34];

    #[test]
    fn echo_fields_round_trip_and_checksum_verifies() {
        let mut buf = [0u8; 12];
        let mut p = Packet::new_checked(&mut buf[..]).unwrap();
        p.set_msg_type(icmpv4::ECHO_REQUEST);
        p.set_echo_ident(0x4242);
        p.set_echo_seq_no(7);
        p.fill_checksum_v4();
        let p = Packet::new_checked(&buf[..]).unwrap();
        assert_eq!(
            (p.msg_type(), p.msg_code(), p.echo_ident(), p.echo_seq_no()),
            (8, 0, 0x4242, 7)
        );
        assert!(p.verify_checksum_v4());
    }

    #[test]
    fn message_shorter_than_8_bytes_is_malformed() {
        for len in 0..HEADER_LEN {
            assert_eq!(
                Packet::new_checked(&vec![0u8; len][..]),
                Err(ParseError::MalformedIcmp)
            );
        }
    }

    #[test]
    fn errors_and_queries_are_classified_per_family() {
        assert!(is_error(AddressFamily::Inet, icmpv4::TIME_EXCEEDED));
        assert!(!is_error(AddressFamily::Inet, icmpv4::ECHO_REQUEST));
        assert!(is_query(AddressFamily::Inet, icmpv4::TIMESTAMP));
        assert!(is_error(AddressFamily::Inet6, icmpv6::PACKET_TOO_BIG));
        assert!(!is_error(AddressFamily::Inet6, icmpv6::ECHO_REQUEST));
        assert!(is_query(AddressFamily::Inet6, icmpv6::ECHO_REPLY));
        assert!(!is_query(AddressFamily::Inet6, 135)); // neighbour solicitation
    }

    #[test]
    fn embedded_udp_exposes_the_original_tuple() {
        let inner = v4_packet(IpProtocol::UDP, &UDP_HEADER);
        let e = parse_embedded(&inner, AddressFamily::Inet, 42).unwrap();
        assert_eq!(e.src, IpAddr::V4(Ipv4Addr::new(198, 18, 0, 1)));
        assert_eq!(e.dst, IpAddr::V4(Ipv4Addr::new(198, 19, 0, 1)));
        assert_eq!((e.protocol, e.ports), (IpProtocol::UDP, Some((1024, 53))));
        assert_eq!(
            (e.ip_offset, e.ip_header_len, e.l4_offset, e.len),
            (42, 20, Some(62), 28)
        );
    }

    #[test]
    fn embedded_transport_shorter_than_8_bytes_is_malformed() {
        let inner = v4_packet(IpProtocol::UDP, &UDP_HEADER[..7]);
        assert_eq!(
            parse_embedded(&inner, AddressFamily::Inet, 0),
            Err(ParseError::MalformedIcmp)
        );
    }

    #[test]
    fn embedded_ip_header_truncated_or_wrong_family_is_malformed() {
        let inner = v4_packet(IpProtocol::UDP, &UDP_HEADER);
        assert!(parse_embedded(&inner[..19], AddressFamily::Inet, 0).is_err());
        assert!(parse_embedded(&inner, AddressFamily::Inet6, 0).is_err());
    }

    #[test]
    fn embedded_echo_request_is_keyed_by_its_identifier() {
        // Echo request id 0x0777 seq 1 (checksum left zero: not verified).
        let inner = v4_packet(IpProtocol::ICMP, &[8, 0, 0, 0, 0x07, 0x77, 0, 1]);
        let e = parse_embedded(&inner, AddressFamily::Inet, 0).unwrap();
        assert_eq!(e.ports, Some((0x0777, 0x0777)));
    }

    #[test]
    fn embedded_non_first_fragment_has_no_ports() {
        let mut inner = v4_packet(IpProtocol::UDP, &[0xee; 8]);
        ipv4::Packet::new_unchecked(&mut inner[..]).set_flags_and_frag_offset(false, false, 8);
        let e = parse_embedded(&inner, AddressFamily::Inet, 0).unwrap();
        assert_eq!((e.ports, e.l4_offset), (None, None));
    }

    #[test]
    fn embedded_ipv6_cut_inside_its_extension_chain_has_no_ports() {
        let mut inner = vec![0u8; 40];
        Ipv6Repr {
            src: "2001:db8::1".parse().unwrap(),
            dst: "2001:db8::2".parse().unwrap(),
            next_header: IpProtocol(60),
            payload_len: 2000,
            hop_limit: 1,
        }
        .emit(&mut inner);
        // A destination options header of 2048 bytes (Hdr Ext Len 255), cut.
        inner.extend_from_slice(&[17, 255, 1, 4, 0, 0, 0, 0]);
        let e = parse_embedded(&inner, AddressFamily::Inet6, 0).unwrap();
        assert_eq!(
            (e.protocol.0, e.ports, e.l4_offset, e.ip_header_len),
            (60, None, None, 40)
        );
        // Cut inside the UDP header instead: no ports either.
        let mut udp_cut = inner[..40].to_vec();
        udp_cut[6] = 17;
        udp_cut.extend_from_slice(&UDP_HEADER[..6]);
        let e = parse_embedded(&udp_cut, AddressFamily::Inet6, 0).unwrap();
        assert_eq!((e.protocol, e.ports), (IpProtocol::UDP, None));
    }

    #[test]
    fn embedded_ipv6_walks_extension_headers() {
        let mut inner = vec![0u8; 40];
        Ipv6Repr {
            src: "2001:db8::1".parse().unwrap(),
            dst: "2001:db8::2".parse().unwrap(),
            next_header: IpProtocol(60),
            payload_len: 1000, // the original was longer than what is quoted
            hop_limit: 1,
        }
        .emit(&mut inner);
        // Destination options (8 bytes, PadN) then UDP.
        inner.extend_from_slice(&[17, 0, 1, 4, 0, 0, 0, 0]);
        inner.extend_from_slice(&UDP_HEADER);
        let e = parse_embedded(&inner, AddressFamily::Inet6, 100).unwrap();
        assert_eq!((e.protocol, e.ports), (IpProtocol::UDP, Some((1024, 53))));
        assert_eq!((e.ip_header_len, e.l4_offset), (48, Some(148)));
    }
}
