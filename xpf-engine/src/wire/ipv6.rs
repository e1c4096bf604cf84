//! IPv6 (RFC 8200): the fixed header and the extension-header chain.
//!
//! Fixed header (40 bytes): version/traffic class/flow label, payload
//! length, next header, hop limit, source, destination. The payload
//! (extension headers, then the upper-layer header) runs for the payload
//! length; bytes after it (Ethernet padding) are excluded. Jumbograms
//! (payload length 0 with a Jumbo Payload option) are not supported: a zero
//! payload length means an empty payload.
//!
//! [`walk_extension_headers`] follows the next-header chain through
//! hop-by-hop options (0, only directly after the fixed header), routing
//! (43: routing type and segments left, type 0 flagged for the source-route
//! screen), fragment (44: offset, M flag, identification; a non-first
//! fragment ends the walk because its upper-layer header is in another
//! fragment), destination options (60), authentication (51, length in
//! 4-octet units + 2) and the other RFC 7045 extension headers with the
//! generic format (mobility 135, HIP 139, shim6 140, experimental 253/254).
//! ESP (50) ends the walk: everything after it is encrypted, so the
//! upper-layer protocol is unknown. No Next Header (59) ends it with no
//! upper layer. The walk is bounded by [`MAX_EXTENSION_HEADERS`].

use std::net::Ipv6Addr;

use xpf_runtime::IpProtocol;

use super::{FragmentInfo, ParseError, be16, be32, put16, put32};

/// Length of the fixed IPv6 header.
pub const HEADER_LEN: usize = 40;
/// The most extension headers the walk follows before declaring the chain
/// malformed (a bound on per-packet work; real traffic uses two or three).
pub const MAX_EXTENSION_HEADERS: usize = 8;

mod field {
    pub const VER_TC_FLOW: usize = 0;
    pub const PAYLOAD_LEN: usize = 4;
    pub const NEXT_HEADER: usize = 6;
    pub const HOP_LIMIT: usize = 7;
    pub const SRC: usize = 8;
    pub const DST: usize = 24;
}

/// Offset of the hop limit.
pub const HOP_LIMIT_OFFSET: usize = field::HOP_LIMIT;
/// Offset of the source address.
pub const SRC_OFFSET: usize = field::SRC;
/// Offset of the destination address.
pub const DST_OFFSET: usize = field::DST;

/// Next-header values of the extension headers and the chain terminators.
pub mod next_header {
    /// Hop-by-hop options.
    pub const HOP_BY_HOP: u8 = 0;
    /// Routing header.
    pub const ROUTING: u8 = 43;
    /// Fragment header.
    pub const FRAGMENT: u8 = 44;
    /// Encapsulating security payload (opaque).
    pub const ESP: u8 = 50;
    /// Authentication header.
    pub const AH: u8 = 51;
    /// No next header.
    pub const NO_NEXT_HEADER: u8 = 59;
    /// Destination options.
    pub const DESTINATION_OPTIONS: u8 = 60;
    /// Mobility header (RFC 6275).
    pub const MOBILITY: u8 = 135;
    /// Host identity protocol (RFC 7401).
    pub const HIP: u8 = 139;
    /// Shim6 (RFC 5533).
    pub const SHIM6: u8 = 140;
    /// Experimental extension header (RFC 3692).
    pub const EXPERIMENTAL_1: u8 = 253;
    /// Experimental extension header (RFC 3692).
    pub const EXPERIMENTAL_2: u8 = 254;
}

/// A view over an IPv6 packet.
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

    /// Validates at least 40 bytes, version 6 and
    /// `40 + payload length ≤ buffer length`; any failure is
    /// [`ParseError::MalformedIpv6`].
    #[inline]
    pub fn check_len(&self) -> Result<(), ParseError> {
        self.check_header_len()?;
        if HEADER_LEN + usize::from(self.payload_len()) > self.buffer.as_ref().len() {
            return Err(ParseError::MalformedIpv6);
        }
        Ok(())
    }

    /// Validates only the fixed header (40 bytes, version 6), not the
    /// payload length: for the truncated copy inside an ICMPv6 error.
    #[inline]
    pub fn check_header_len(&self) -> Result<(), ParseError> {
        if self.buffer.as_ref().len() < HEADER_LEN || self.version() != 6 {
            return Err(ParseError::MalformedIpv6);
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

    /// The version field (6).
    #[inline]
    pub fn version(&self) -> u8 {
        self.buf()[field::VER_TC_FLOW] >> 4
    }

    /// Traffic class (DSCP and ECN).
    #[inline]
    pub fn traffic_class(&self) -> u8 {
        let b = self.buf();
        (b[0] << 4) | (b[1] >> 4)
    }

    /// Differentiated services code point (6 bits).
    #[inline]
    pub fn dscp(&self) -> u8 {
        self.traffic_class() >> 2
    }

    /// Explicit congestion notification (2 bits).
    #[inline]
    pub fn ecn(&self) -> u8 {
        self.traffic_class() & 0x03
    }

    /// Flow label (20 bits).
    #[inline]
    pub fn flow_label(&self) -> u32 {
        be32(self.buf(), field::VER_TC_FLOW) & 0x000f_ffff
    }

    /// Payload length (everything after the fixed header).
    #[inline]
    pub fn payload_len(&self) -> u16 {
        be16(self.buf(), field::PAYLOAD_LEN)
    }

    /// The next header after the fixed header.
    #[inline]
    pub fn next_header(&self) -> u8 {
        self.buf()[field::NEXT_HEADER]
    }

    /// Hop limit.
    #[inline]
    pub fn hop_limit(&self) -> u8 {
        self.buf()[field::HOP_LIMIT]
    }

    /// Source address.
    #[inline]
    pub fn src_addr(&self) -> Ipv6Addr {
        let mut octets = [0u8; 16];
        octets.copy_from_slice(&self.buf()[field::SRC..field::SRC + 16]);
        Ipv6Addr::from(octets)
    }

    /// Destination address.
    #[inline]
    pub fn dst_addr(&self) -> Ipv6Addr {
        let mut octets = [0u8; 16];
        octets.copy_from_slice(&self.buf()[field::DST..field::DST + 16]);
        Ipv6Addr::from(octets)
    }

    /// The payload (extension headers and upper layer), up to the payload
    /// length.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buf()[HEADER_LEN..HEADER_LEN + usize::from(self.payload_len())]
    }

    /// The packet up to the end of its payload (no link padding).
    #[inline]
    pub fn packet(&self) -> &[u8] {
        &self.buf()[..HEADER_LEN + usize::from(self.payload_len())]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    #[inline]
    fn buf_mut(&mut self) -> &mut [u8] {
        self.buffer.as_mut()
    }

    /// Sets version 6, the traffic class and the flow label.
    #[inline]
    pub fn set_version_tc_flow(&mut self, traffic_class: u8, flow_label: u32) {
        let word = (6u32 << 28) | (u32::from(traffic_class) << 20) | (flow_label & 0x000f_ffff);
        put32(self.buf_mut(), field::VER_TC_FLOW, word);
    }

    /// Sets the payload length.
    #[inline]
    pub fn set_payload_len(&mut self, len: u16) {
        put16(self.buf_mut(), field::PAYLOAD_LEN, len);
    }

    /// Sets the next header.
    #[inline]
    pub fn set_next_header(&mut self, next_header: u8) {
        self.buf_mut()[field::NEXT_HEADER] = next_header;
    }

    /// Sets the hop limit.
    #[inline]
    pub fn set_hop_limit(&mut self, hop_limit: u8) {
        self.buf_mut()[field::HOP_LIMIT] = hop_limit;
    }

    /// Sets the source address.
    #[inline]
    pub fn set_src_addr(&mut self, addr: Ipv6Addr) {
        self.buf_mut()[field::SRC..field::SRC + 16].copy_from_slice(&addr.octets());
    }

    /// Sets the destination address.
    #[inline]
    pub fn set_dst_addr(&mut self, addr: Ipv6Addr) {
        self.buf_mut()[field::DST..field::DST + 16].copy_from_slice(&addr.octets());
    }
}

/// A view over an extension header with the generic layout (next header,
/// length in 8-octet units not counting the first 8 octets, data): hop-by-hop
/// options, routing, destination options and the other RFC 7045 headers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExtHeader<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> ExtHeader<T> {
    /// Wraps `buffer` after checking that the whole header is present
    /// ([`ParseError::MalformedExtensionHeader`] otherwise).
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self, ParseError> {
        let header = Self { buffer };
        let len = header.buffer.as_ref().len();
        if len < 8 || header.header_len() > len {
            return Err(ParseError::MalformedExtensionHeader);
        }
        Ok(header)
    }

    /// The next header.
    #[inline]
    pub fn next_header(&self) -> u8 {
        self.buffer.as_ref()[0]
    }

    /// The header length in bytes: `(Hdr Ext Len + 1) × 8`.
    #[inline]
    pub fn header_len(&self) -> usize {
        (usize::from(self.buffer.as_ref()[1]) + 1) * 8
    }

    /// The header's data after the next-header and length octets.
    #[inline]
    pub fn data(&self) -> &[u8] {
        &self.buffer.as_ref()[2..self.header_len()]
    }

    /// For a routing header: the routing type.
    #[inline]
    pub fn routing_type(&self) -> u8 {
        self.buffer.as_ref()[2]
    }

    /// For a routing header: segments left.
    #[inline]
    pub fn segments_left(&self) -> u8 {
        self.buffer.as_ref()[3]
    }
}

/// A view over a Fragment header (8 bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FragmentHeader<T: AsRef<[u8]>> {
    buffer: T,
}

/// Length of the Fragment header.
pub const FRAGMENT_HEADER_LEN: usize = 8;

impl<T: AsRef<[u8]>> FragmentHeader<T> {
    /// Wraps `buffer` after checking it holds 8 bytes.
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self, ParseError> {
        if buffer.as_ref().len() < FRAGMENT_HEADER_LEN {
            return Err(ParseError::MalformedExtensionHeader);
        }
        Ok(Self { buffer })
    }

    /// The next header (of the fragmentable part).
    #[inline]
    pub fn next_header(&self) -> u8 {
        self.buffer.as_ref()[0]
    }

    /// Fragment offset in bytes.
    #[inline]
    pub fn frag_offset(&self) -> u16 {
        be16(self.buffer.as_ref(), 2) & 0xfff8
    }

    /// The M (more fragments) flag.
    #[inline]
    pub fn more_frags(&self) -> bool {
        be16(self.buffer.as_ref(), 2) & 0x0001 != 0
    }

    /// Identification.
    #[inline]
    pub fn ident(&self) -> u32 {
        be32(self.buffer.as_ref(), 4)
    }
}

/// A view over an Authentication Header (RFC 4302).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AuthHeader<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> AuthHeader<T> {
    /// Wraps `buffer` after checking that the whole header is present.
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self, ParseError> {
        let header = Self { buffer };
        let len = header.buffer.as_ref().len();
        if len < 12 || header.header_len() > len {
            return Err(ParseError::MalformedExtensionHeader);
        }
        Ok(header)
    }

    /// The next header.
    #[inline]
    pub fn next_header(&self) -> u8 {
        self.buffer.as_ref()[0]
    }

    /// The header length in bytes: `(Payload Len + 2) × 4`.
    #[inline]
    pub fn header_len(&self) -> usize {
        (usize::from(self.buffer.as_ref()[1]) + 2) * 4
    }

    /// Security parameters index.
    #[inline]
    pub fn spi(&self) -> u32 {
        be32(self.buffer.as_ref(), 4)
    }
}

/// The routing header's type and segments left.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RoutingInfo {
    /// Routing type (0: the deprecated source route, RFC 5095).
    pub routing_type: u8,
    /// Segments left.
    pub segments_left: u8,
}

/// The result of walking an extension-header chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExtHeaderChain {
    /// The last next-header value: the upper-layer protocol, or ESP (50)
    /// when the chain ends at an ESP header, or No Next Header (59), or the
    /// fragmentable part's first header of a non-first fragment.
    pub protocol: IpProtocol,
    /// Offset, from the start of the IPv6 header, of what follows the last
    /// header walked (the upper-layer header, or the fragment data).
    pub payload_offset: usize,
    /// Fragment header fields, if there is one.
    pub fragment: FragmentInfo,
    /// The first routing header, if any.
    pub routing: Option<RoutingInfo>,
    /// A hop-by-hop options header is present.
    pub hop_by_hop: bool,
    /// An authentication header is present.
    pub authentication: bool,
    /// The chain ends at ESP: the upper layer is encrypted.
    pub esp: bool,
    /// How many extension headers were walked (ESP included).
    pub count: u8,
}

impl ExtHeaderChain {
    /// True if a type 0 routing header is present (source-route screen).
    #[inline]
    pub fn has_routing_type0(&self) -> bool {
        self.routing.is_some_and(|r| r.routing_type == 0)
    }

    /// True if the upper-layer header is in this packet and not encrypted:
    /// not a non-first fragment, not ESP, not No Next Header.
    #[inline]
    pub fn has_upper_layer(&self) -> bool {
        !self.esp && !self.fragment.is_non_first() && self.protocol.0 != next_header::NO_NEXT_HEADER
    }
}

/// True for next-header values that are extension headers with the generic
/// (next header, length in 8-octet units) layout.
const fn is_generic_ext_header(next_header: u8) -> bool {
    matches!(
        next_header,
        next_header::HOP_BY_HOP
            | next_header::ROUTING
            | next_header::DESTINATION_OPTIONS
            | next_header::MOBILITY
            | next_header::HIP
            | next_header::SHIM6
            | next_header::EXPERIMENTAL_1
            | next_header::EXPERIMENTAL_2
    )
}

/// Walks the extension-header chain of `packet` (the IPv6 packet from its
/// fixed header up to the end of its payload, or of what is present, for a
/// packet embedded in an ICMPv6 error), starting with the fixed header's
/// next-header value `first`.
///
/// Errors ([`ParseError::MalformedExtensionHeader`]): a header that runs past
/// `packet`; hop-by-hop options anywhere but first; a second fragment
/// header; more than [`MAX_EXTENSION_HEADERS`] headers.
pub fn walk_extension_headers(packet: &[u8], first: u8) -> Result<ExtHeaderChain, ParseError> {
    let mut chain = ExtHeaderChain {
        protocol: IpProtocol(first),
        payload_offset: HEADER_LEN,
        fragment: FragmentInfo::default(),
        routing: None,
        hop_by_hop: false,
        authentication: false,
        esp: false,
        count: 0,
    };
    let mut next = first;
    loop {
        let is_ext = is_generic_ext_header(next)
            || matches!(
                next,
                next_header::FRAGMENT | next_header::AH | next_header::ESP
            );
        if !is_ext {
            break;
        }
        if usize::from(chain.count) == MAX_EXTENSION_HEADERS {
            return Err(ParseError::MalformedExtensionHeader);
        }
        chain.count += 1;
        let rest = packet
            .get(chain.payload_offset..)
            .ok_or(ParseError::MalformedExtensionHeader)?;
        match next {
            next_header::ESP => {
                chain.esp = true;
                break;
            }
            next_header::FRAGMENT => {
                if chain.fragment.is_fragment {
                    return Err(ParseError::MalformedExtensionHeader);
                }
                let frag = FragmentHeader::new_checked(rest)?;
                chain.fragment = FragmentInfo {
                    is_fragment: true,
                    offset: frag.frag_offset(),
                    more_fragments: frag.more_frags(),
                    id: frag.ident(),
                };
                chain.payload_offset += FRAGMENT_HEADER_LEN;
                next = frag.next_header();
                if chain.fragment.offset != 0 {
                    // The rest of the chain and the upper layer are in the
                    // first fragment.
                    chain.protocol = IpProtocol(next);
                    return Ok(chain);
                }
            }
            next_header::AH => {
                let ah = AuthHeader::new_checked(rest)?;
                chain.authentication = true;
                chain.payload_offset += ah.header_len();
                next = ah.next_header();
            }
            _ => {
                if next == next_header::HOP_BY_HOP && chain.count != 1 {
                    return Err(ParseError::MalformedExtensionHeader);
                }
                let header = ExtHeader::new_checked(rest)?;
                match next {
                    next_header::HOP_BY_HOP => chain.hop_by_hop = true,
                    next_header::ROUTING if chain.routing.is_none() => {
                        chain.routing = Some(RoutingInfo {
                            routing_type: header.routing_type(),
                            segments_left: header.segments_left(),
                        });
                    }
                    _ => {}
                }
                chain.payload_offset += header.header_len();
                next = header.next_header();
            }
        }
    }
    chain.protocol = IpProtocol(next);
    Ok(chain)
}

/// A fixed IPv6 header without extension headers, for building packets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ipv6Repr {
    /// Source address.
    pub src: Ipv6Addr,
    /// Destination address.
    pub dst: Ipv6Addr,
    /// Next header (the upper-layer protocol).
    pub next_header: IpProtocol,
    /// Payload length.
    pub payload_len: u16,
    /// Hop limit.
    pub hop_limit: u8,
}

impl Ipv6Repr {
    /// Writes the 40-byte header into the start of `buf` (traffic class and
    /// flow label 0). `buf` must hold at least 40 bytes.
    #[inline]
    pub fn emit(&self, buf: &mut [u8]) {
        let mut packet = Packet::new_unchecked(buf);
        packet.set_version_tc_flow(0, 0);
        packet.set_payload_len(self.payload_len);
        packet.set_next_header(self.next_header.0);
        packet.set_hop_limit(self.hop_limit);
        packet.set_src_addr(self.src);
        packet.set_dst_addr(self.dst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds an IPv6 packet: fixed header, then `exts` (each a next-header
    /// value and the header bytes after its own next-header octet), then the
    /// upper-layer `payload` with protocol `upper`.
    fn packet(exts: &[(u8, Vec<u8>)], upper: u8, payload: &[u8]) -> Vec<u8> {
        let mut body = Vec::new();
        for (i, (_, bytes)) in exts.iter().enumerate() {
            let next = exts.get(i + 1).map_or(upper, |(nh, _)| *nh);
            body.push(next);
            body.extend_from_slice(bytes);
        }
        body.extend_from_slice(payload);
        let mut buf = vec![0u8; HEADER_LEN];
        Ipv6Repr {
            src: "2001:db8::1".parse().unwrap(),
            dst: "2001:db8::2".parse().unwrap(),
            next_header: IpProtocol(exts.first().map_or(upper, |(nh, _)| *nh)),
            payload_len: body.len() as u16,
            hop_limit: 64,
        }
        .emit(&mut buf);
        buf.extend_from_slice(&body);
        buf
    }

    /// An 8-byte options header (hop-by-hop or destination options): length
    /// 0, a PadN option of 4 bytes filling it out.
    fn opts8() -> Vec<u8> {
        vec![0, 1, 4, 0, 0, 0, 0]
    }

    /// A type 0 routing header with one address: Hdr Ext Len 2 (24 bytes),
    /// routing type 0, segments left 1, reserved, one address.
    fn routing_type0() -> Vec<u8> {
        let mut h = vec![2, 0, 1, 0, 0, 0, 0];
        h.extend_from_slice(&"2001:db8::99".parse::<Ipv6Addr>().unwrap().octets());
        h
    }

    /// A fragment header (after the next-header octet): reserved, offset/M,
    /// identification.
    fn fragment(offset: u16, more: bool, id: u32) -> Vec<u8> {
        let word = offset | u16::from(more);
        let mut h = vec![0];
        h.extend_from_slice(&word.to_be_bytes());
        h.extend_from_slice(&id.to_be_bytes());
        h
    }

    fn walk(buf: &[u8]) -> Result<ExtHeaderChain, ParseError> {
        let p = Packet::new_checked(buf)?;
        walk_extension_headers(p.packet(), p.next_header())
    }

    #[test]
    fn fixed_header_fields_round_trip() {
        let mut buf = packet(&[], 17, &[1, 2, 3, 4]);
        let mut p = Packet::new_checked(&mut buf[..]).unwrap();
        p.set_version_tc_flow(0xb8, 0x12345);
        let p = Packet::new_checked(&buf[..]).unwrap();
        assert_eq!(
            (p.version(), p.dscp(), p.ecn(), p.flow_label()),
            (6, 46, 0, 0x12345)
        );
        assert_eq!(
            (p.payload_len(), p.next_header(), p.hop_limit()),
            (4, 17, 64)
        );
        assert_eq!(p.payload(), &[1, 2, 3, 4]);
    }

    #[test]
    fn short_or_wrong_version_or_long_payload_length_is_malformed() {
        let good = packet(&[], 17, &[0; 8]);
        for len in 0..HEADER_LEN {
            assert_eq!(
                Packet::new_checked(&good[..len]),
                Err(ParseError::MalformedIpv6)
            );
        }
        let mut v4 = good.clone();
        v4[0] = 0x45;
        assert_eq!(Packet::new_checked(&v4[..]), Err(ParseError::MalformedIpv6));
        assert_eq!(
            Packet::new_checked(&good[..good.len() - 1]),
            Err(ParseError::MalformedIpv6)
        );
    }

    #[test]
    fn no_extension_headers_gives_the_upper_layer_at_40() {
        let chain = walk(&packet(&[], 6, &[0; 20])).unwrap();
        assert_eq!(
            (chain.protocol, chain.payload_offset, chain.count),
            (IpProtocol::TCP, 40, 0)
        );
        assert!(chain.has_upper_layer());
    }

    #[test]
    fn hop_by_hop_routing_and_destination_options_are_walked() {
        let exts = [(0, opts8()), (43, routing_type0()), (60, opts8())];
        let chain = walk(&packet(&exts, 17, &[0; 8])).unwrap();
        assert_eq!(chain.protocol, IpProtocol::UDP);
        assert_eq!(chain.payload_offset, 40 + 8 + 24 + 8);
        assert!(chain.hop_by_hop && chain.has_routing_type0());
        assert_eq!(
            chain.routing,
            Some(RoutingInfo {
                routing_type: 0,
                segments_left: 1
            })
        );
        assert_eq!(chain.count, 3);
    }

    #[test]
    fn hop_by_hop_not_first_is_malformed() {
        let exts = [(60, opts8()), (0, opts8())];
        assert_eq!(
            walk(&packet(&exts, 17, &[])),
            Err(ParseError::MalformedExtensionHeader)
        );
    }

    #[test]
    fn first_fragment_continues_to_the_upper_layer() {
        let exts = [(44, fragment(0, true, 0xdead_beef))];
        let chain = walk(&packet(&exts, 6, &[0; 20])).unwrap();
        assert_eq!(
            (chain.protocol, chain.payload_offset),
            (IpProtocol::TCP, 48)
        );
        assert!(chain.fragment.is_first() && chain.fragment.more_fragments);
        assert_eq!(chain.fragment.id, 0xdead_beef);
        assert!(chain.has_upper_layer());
    }

    #[test]
    fn non_first_fragment_stops_the_walk() {
        // The fragmentable part starts with destination options (60): the
        // walk must not try to parse fragment data as a header.
        let exts = [(44, fragment(1232, false, 7))];
        let chain = walk(&packet(&exts, 60, &[0xff; 16])).unwrap();
        assert_eq!((chain.protocol.0, chain.payload_offset), (60, 48));
        assert!(chain.fragment.is_non_first() && !chain.has_upper_layer());
    }

    #[test]
    fn two_fragment_headers_are_malformed() {
        let exts = [(44, fragment(0, true, 1)), (44, fragment(0, true, 1))];
        assert_eq!(
            walk(&packet(&exts, 6, &[])),
            Err(ParseError::MalformedExtensionHeader)
        );
    }

    #[test]
    fn authentication_header_length_is_in_4_octet_units_plus_2() {
        // AH: Payload Len 4 → (4 + 2) × 4 = 24 bytes: reserved (2), SPI,
        // sequence, 12 bytes of ICV.
        let mut ah = vec![4, 0, 0];
        ah.extend_from_slice(&0x100u32.to_be_bytes());
        ah.extend_from_slice(&1u32.to_be_bytes());
        ah.extend_from_slice(&[0; 12]);
        let chain = walk(&packet(&[(51, ah)], 17, &[0; 8])).unwrap();
        assert!(chain.authentication);
        assert_eq!(
            (chain.protocol, chain.payload_offset),
            (IpProtocol::UDP, 64)
        );
    }

    #[test]
    fn esp_is_opaque_and_ends_the_walk() {
        let chain = walk(&packet(&[], 50, &[0xaa; 32])).unwrap();
        assert!(chain.esp && !chain.has_upper_layer());
        assert_eq!(
            (chain.protocol, chain.payload_offset),
            (IpProtocol::ESP, 40)
        );
    }

    #[test]
    fn no_next_header_has_no_upper_layer() {
        let chain = walk(&packet(&[(60, opts8())], 59, &[])).unwrap();
        assert_eq!(chain.protocol.0, 59);
        assert!(!chain.has_upper_layer());
    }

    #[test]
    fn truncated_extension_header_is_malformed() {
        let buf = packet(&[(43, routing_type0())], 17, &[]);
        // Claim the routing header is longer than the payload.
        let mut longer = buf.clone();
        longer[41] = 3;
        assert_eq!(walk(&longer), Err(ParseError::MalformedExtensionHeader));
        // Or cut the payload (with a matching payload length) mid-header.
        let mut cut = buf[..50].to_vec();
        cut[4..6].copy_from_slice(&10u16.to_be_bytes());
        assert_eq!(walk(&cut), Err(ParseError::MalformedExtensionHeader));
    }

    #[test]
    fn chain_longer_than_the_bound_is_malformed() {
        let exts: Vec<_> = (0..=MAX_EXTENSION_HEADERS).map(|_| (60, opts8())).collect();
        assert_eq!(
            walk(&packet(&exts, 17, &[])),
            Err(ParseError::MalformedExtensionHeader)
        );
        let ok: Vec<_> = (0..MAX_EXTENSION_HEADERS).map(|_| (60, opts8())).collect();
        assert_eq!(
            walk(&packet(&ok, 17, &[])).unwrap().count as usize,
            MAX_EXTENSION_HEADERS
        );
    }
}
