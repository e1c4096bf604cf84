//! IPv4 (RFC 791): the header, its options and fragmentation fields.
//!
//! Layout: version/IHL, DSCP/ECN, total length, identification,
//! flags/fragment offset, TTL, protocol, header checksum, source,
//! destination, options (IHL × 4 − 20 bytes), payload up to the total
//! length. Bytes after the total length (Ethernet padding) are not part of
//! the packet and [`Packet::payload`] excludes them.
//!
//! Options are walked by [`OptionsIter`]; [`option_flags`] summarises them
//! for the screens (loose / strict source route, record route, timestamp,
//! security, stream ID). A malformed option list (a length below 2 or past
//! the header) makes the header malformed, as in the Linux receive path.

use std::net::Ipv4Addr;

use xpf_runtime::IpProtocol;

use super::{ParseError, be16, put16};
use crate::checksum;

/// Length of an IPv4 header without options.
pub const MIN_HEADER_LEN: usize = 20;
/// Length of an IPv4 header with the most options (IHL 15).
pub const MAX_HEADER_LEN: usize = 60;

mod field {
    pub const VER_IHL: usize = 0;
    pub const DSCP_ECN: usize = 1;
    pub const LENGTH: usize = 2;
    pub const IDENT: usize = 4;
    pub const FLAGS_FRAG: usize = 6;
    pub const TTL: usize = 8;
    pub const PROTOCOL: usize = 9;
    pub const CHECKSUM: usize = 10;
    pub const SRC: usize = 12;
    pub const DST: usize = 16;
}

/// Offset of the TTL byte (the high byte of the TTL/protocol word).
pub const TTL_OFFSET: usize = field::TTL;
/// Offset of the header checksum.
pub const CHECKSUM_OFFSET: usize = field::CHECKSUM;
/// Offset of the source address.
pub const SRC_OFFSET: usize = field::SRC;
/// Offset of the destination address.
pub const DST_OFFSET: usize = field::DST;

/// The "don't fragment" flag in the flags/offset word.
const FLAG_DF: u16 = 0x4000;
/// The "more fragments" flag in the flags/offset word.
const FLAG_MF: u16 = 0x2000;
/// The fragment offset (in 8-byte units) in the flags/offset word.
const FRAG_OFFSET_MASK: u16 = 0x1fff;

/// Option type numbers (RFC 791 and the IANA registry) the firewall knows.
pub mod option_kind {
    /// End of option list.
    pub const END: u8 = 0;
    /// No operation (padding).
    pub const NOP: u8 = 1;
    /// Record route.
    pub const RECORD_ROUTE: u8 = 7;
    /// Internet timestamp.
    pub const TIMESTAMP: u8 = 68;
    /// Security (RFC 1108).
    pub const SECURITY: u8 = 130;
    /// Loose source and record route.
    pub const LOOSE_SOURCE_ROUTE: u8 = 131;
    /// Stream identifier.
    pub const STREAM_ID: u8 = 136;
    /// Strict source and record route.
    pub const STRICT_SOURCE_ROUTE: u8 = 137;
    /// Router alert (RFC 2113).
    pub const ROUTER_ALERT: u8 = 148;
}

/// A view over an IPv4 packet.
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

    /// Validates what the accessors rely on: at least 20 bytes, version 4,
    /// IHL ≥ 5 with the whole header present, and
    /// `header length ≤ total length ≤ buffer length`. Any failure is
    /// [`ParseError::MalformedIpv4`].
    #[inline]
    pub fn check_len(&self) -> Result<(), ParseError> {
        let len = self.buffer.as_ref().len();
        if len < MIN_HEADER_LEN || self.version() != 4 {
            return Err(ParseError::MalformedIpv4);
        }
        let header_len = self.header_len();
        let total_len = usize::from(self.total_len());
        if header_len < MIN_HEADER_LEN
            || header_len > len
            || total_len < header_len
            || total_len > len
        {
            return Err(ParseError::MalformedIpv4);
        }
        Ok(())
    }

    /// Validates only that the whole header (IHL × 4) is present and the
    /// version is 4, not the total length: for the truncated copy of a
    /// packet inside an ICMP error.
    #[inline]
    pub fn check_header_len(&self) -> Result<(), ParseError> {
        let len = self.buffer.as_ref().len();
        if len < MIN_HEADER_LEN || self.version() != 4 {
            return Err(ParseError::MalformedIpv4);
        }
        let header_len = self.header_len();
        if header_len < MIN_HEADER_LEN || header_len > len {
            return Err(ParseError::MalformedIpv4);
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

    /// The version field (4).
    #[inline]
    pub fn version(&self) -> u8 {
        self.buf()[field::VER_IHL] >> 4
    }

    /// The header length in bytes (IHL × 4).
    #[inline]
    pub fn header_len(&self) -> usize {
        usize::from(self.buf()[field::VER_IHL] & 0x0f) * 4
    }

    /// Differentiated services code point (6 bits).
    #[inline]
    pub fn dscp(&self) -> u8 {
        self.buf()[field::DSCP_ECN] >> 2
    }

    /// Explicit congestion notification (2 bits).
    #[inline]
    pub fn ecn(&self) -> u8 {
        self.buf()[field::DSCP_ECN] & 0x03
    }

    /// Total length (header and payload).
    #[inline]
    pub fn total_len(&self) -> u16 {
        be16(self.buf(), field::LENGTH)
    }

    /// Identification.
    #[inline]
    pub fn ident(&self) -> u16 {
        be16(self.buf(), field::IDENT)
    }

    /// The don't-fragment flag.
    #[inline]
    pub fn dont_frag(&self) -> bool {
        be16(self.buf(), field::FLAGS_FRAG) & FLAG_DF != 0
    }

    /// The more-fragments flag.
    #[inline]
    pub fn more_frags(&self) -> bool {
        be16(self.buf(), field::FLAGS_FRAG) & FLAG_MF != 0
    }

    /// Fragment offset in bytes.
    #[inline]
    pub fn frag_offset(&self) -> u16 {
        (be16(self.buf(), field::FLAGS_FRAG) & FRAG_OFFSET_MASK) << 3
    }

    /// True if this packet is a fragment (MF set or a non-zero offset).
    #[inline]
    pub fn is_fragment(&self) -> bool {
        self.more_frags() || self.frag_offset() != 0
    }

    /// Time to live.
    #[inline]
    pub fn ttl(&self) -> u8 {
        self.buf()[field::TTL]
    }

    /// The protocol of the payload.
    #[inline]
    pub fn protocol(&self) -> IpProtocol {
        IpProtocol(self.buf()[field::PROTOCOL])
    }

    /// The header checksum field.
    #[inline]
    pub fn checksum(&self) -> u16 {
        be16(self.buf(), field::CHECKSUM)
    }

    /// Source address.
    #[inline]
    pub fn src_addr(&self) -> Ipv4Addr {
        let b = self.buf();
        Ipv4Addr::new(b[12], b[13], b[14], b[15])
    }

    /// Destination address.
    #[inline]
    pub fn dst_addr(&self) -> Ipv4Addr {
        let b = self.buf();
        Ipv4Addr::new(b[16], b[17], b[18], b[19])
    }

    /// The header, options included.
    #[inline]
    pub fn header(&self) -> &[u8] {
        &self.buf()[..self.header_len()]
    }

    /// The options area (may be empty).
    #[inline]
    pub fn options(&self) -> &[u8] {
        &self.buf()[MIN_HEADER_LEN..self.header_len()]
    }

    /// Iterates over the options.
    #[inline]
    pub fn options_iter(&self) -> OptionsIter<'_> {
        OptionsIter::new(self.options())
    }

    /// The payload, up to the total length.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buf()[self.header_len()..usize::from(self.total_len())]
    }

    /// True if the header checksum is correct.
    #[inline]
    pub fn verify_checksum(&self) -> bool {
        checksum::verify_ipv4_header(self.header())
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    #[inline]
    fn buf_mut(&mut self) -> &mut [u8] {
        self.buffer.as_mut()
    }

    /// Sets version 4 and the header length in bytes (a multiple of 4).
    #[inline]
    pub fn set_version_and_header_len(&mut self, header_len: usize) {
        self.buf_mut()[field::VER_IHL] = 0x40 | ((header_len / 4) as u8 & 0x0f);
    }

    /// Sets DSCP and ECN.
    #[inline]
    pub fn set_dscp_ecn(&mut self, dscp: u8, ecn: u8) {
        self.buf_mut()[field::DSCP_ECN] = (dscp << 2) | (ecn & 0x03);
    }

    /// Sets the total length.
    #[inline]
    pub fn set_total_len(&mut self, len: u16) {
        put16(self.buf_mut(), field::LENGTH, len);
    }

    /// Sets the identification.
    #[inline]
    pub fn set_ident(&mut self, ident: u16) {
        put16(self.buf_mut(), field::IDENT, ident);
    }

    /// Sets the flags and the fragment offset (in bytes, a multiple of 8).
    #[inline]
    pub fn set_flags_and_frag_offset(&mut self, dont_frag: bool, more_frags: bool, offset: u16) {
        let mut word = (offset >> 3) & FRAG_OFFSET_MASK;
        if dont_frag {
            word |= FLAG_DF;
        }
        if more_frags {
            word |= FLAG_MF;
        }
        put16(self.buf_mut(), field::FLAGS_FRAG, word);
    }

    /// Sets the TTL (the checksum is not updated).
    #[inline]
    pub fn set_ttl(&mut self, ttl: u8) {
        self.buf_mut()[field::TTL] = ttl;
    }

    /// Sets the protocol.
    #[inline]
    pub fn set_protocol(&mut self, protocol: IpProtocol) {
        self.buf_mut()[field::PROTOCOL] = protocol.0;
    }

    /// Sets the checksum field.
    #[inline]
    pub fn set_checksum(&mut self, checksum: u16) {
        put16(self.buf_mut(), field::CHECKSUM, checksum);
    }

    /// Sets the source address (the checksum is not updated).
    #[inline]
    pub fn set_src_addr(&mut self, addr: Ipv4Addr) {
        self.buf_mut()[field::SRC..field::SRC + 4].copy_from_slice(&addr.octets());
    }

    /// Sets the destination address (the checksum is not updated).
    #[inline]
    pub fn set_dst_addr(&mut self, addr: Ipv4Addr) {
        self.buf_mut()[field::DST..field::DST + 4].copy_from_slice(&addr.octets());
    }

    /// Computes and stores the header checksum.
    #[inline]
    pub fn fill_checksum(&mut self) {
        let csum = checksum::ipv4_header_checksum(self.header());
        self.set_checksum(csum);
    }

    /// The payload, mutably.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let range = self.header_len()..usize::from(self.total_len());
        &mut self.buf_mut()[range]
    }
}

/// One IPv4 option: its type and the bytes after the type and length
/// octets (empty for the single-octet NOP).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ipv4Option<'a> {
    /// The option type octet (copied flag, class and number).
    pub kind: u8,
    /// The option data after the type and length octets.
    pub data: &'a [u8],
}

impl Ipv4Option<'_> {
    /// True for loose or strict source and record route.
    #[inline]
    pub const fn is_source_route(&self) -> bool {
        matches!(
            self.kind,
            option_kind::LOOSE_SOURCE_ROUTE | option_kind::STRICT_SOURCE_ROUTE
        )
    }
}

/// Iterator over the options of an IPv4 header. Stops at End of Option
/// List; yields one `Err(MalformedIpv4)` and stops on a bad length.
#[derive(Clone, Debug)]
pub struct OptionsIter<'a> {
    rest: &'a [u8],
}

impl<'a> OptionsIter<'a> {
    /// Iterates over the options area `options` (after the fixed header).
    #[inline]
    pub const fn new(options: &'a [u8]) -> Self {
        Self { rest: options }
    }
}

impl<'a> Iterator for OptionsIter<'a> {
    type Item = Result<Ipv4Option<'a>, ParseError>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        let rest = self.rest;
        let (&kind, after_kind) = rest.split_first()?;
        match kind {
            option_kind::END => {
                self.rest = &[];
                None
            }
            option_kind::NOP => {
                self.rest = after_kind;
                Some(Ok(Ipv4Option { kind, data: &[] }))
            }
            _ => {
                let len = after_kind.first().map(|l| usize::from(*l));
                match len {
                    Some(len) if len >= 2 && len <= rest.len() => {
                        self.rest = &rest[len..];
                        Some(Ok(Ipv4Option {
                            kind,
                            data: &rest[2..len],
                        }))
                    }
                    _ => {
                        self.rest = &[];
                        Some(Err(ParseError::MalformedIpv4))
                    }
                }
            }
        }
    }
}

/// Which options an IPv4 header carries, for the IP option screens.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct OptionFlags {
    /// The header has an options area (IHL > 5), even if only padding.
    pub present: bool,
    /// Loose source and record route (type 131).
    pub loose_source_route: bool,
    /// Strict source and record route (type 137).
    pub strict_source_route: bool,
    /// Record route (type 7).
    pub record_route: bool,
    /// Timestamp (type 68).
    pub timestamp: bool,
    /// Security (type 130).
    pub security: bool,
    /// Stream identifier (type 136).
    pub stream_id: bool,
    /// Any other option type (besides END and NOP).
    pub unknown: bool,
}

impl OptionFlags {
    /// True if a loose or strict source route option is present.
    #[inline]
    pub const fn has_source_route(&self) -> bool {
        self.loose_source_route || self.strict_source_route
    }
}

/// Summarises the options area of a header; a malformed option list is
/// [`ParseError::MalformedIpv4`].
pub fn option_flags(options: &[u8]) -> Result<OptionFlags, ParseError> {
    let mut flags = OptionFlags {
        present: !options.is_empty(),
        ..OptionFlags::default()
    };
    for option in OptionsIter::new(options) {
        match option?.kind {
            option_kind::NOP => {}
            option_kind::LOOSE_SOURCE_ROUTE => flags.loose_source_route = true,
            option_kind::STRICT_SOURCE_ROUTE => flags.strict_source_route = true,
            option_kind::RECORD_ROUTE => flags.record_route = true,
            option_kind::TIMESTAMP => flags.timestamp = true,
            option_kind::SECURITY => flags.security = true,
            option_kind::STREAM_ID => flags.stream_id = true,
            _ => flags.unknown = true,
        }
    }
    Ok(flags)
}

/// An option-less IPv4 header, for building packets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ipv4Repr {
    /// Source address.
    pub src: Ipv4Addr,
    /// Destination address.
    pub dst: Ipv4Addr,
    /// Payload protocol.
    pub protocol: IpProtocol,
    /// Payload length in bytes (total length − 20).
    pub payload_len: u16,
    /// Time to live.
    pub ttl: u8,
}

impl Ipv4Repr {
    /// Writes the 20-byte header (identification 0, DF clear, DSCP 0) into
    /// the start of `buf`, with its checksum. `buf` must hold at least 20
    /// bytes.
    #[inline]
    pub fn emit(&self, buf: &mut [u8]) {
        let mut packet = Packet::new_unchecked(buf);
        packet.set_version_and_header_len(MIN_HEADER_LEN);
        packet.set_dscp_ecn(0, 0);
        packet.set_total_len(self.payload_len.saturating_add(MIN_HEADER_LEN as u16));
        packet.set_ident(0);
        packet.set_flags_and_frag_offset(false, false, 0);
        packet.set_ttl(self.ttl);
        packet.set_protocol(self.protocol);
        packet.set_checksum(0);
        packet.set_src_addr(self.src);
        packet.set_dst_addr(self.dst);
        packet.fill_checksum();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet(options: &[u8], payload: &[u8]) -> Vec<u8> {
        let header_len = MIN_HEADER_LEN + options.len();
        let mut buf = vec![0u8; header_len + payload.len()];
        Ipv4Repr {
            src: Ipv4Addr::new(198, 18, 0, 1),
            dst: Ipv4Addr::new(198, 19, 0, 1),
            protocol: IpProtocol::UDP,
            payload_len: payload.len() as u16,
            ttl: 64,
        }
        .emit(&mut buf);
        let mut p = Packet::new_unchecked(&mut buf[..]);
        p.set_version_and_header_len(header_len);
        p.set_total_len((header_len + payload.len()) as u16);
        buf[MIN_HEADER_LEN..header_len].copy_from_slice(options);
        buf[header_len..].copy_from_slice(payload);
        Packet::new_unchecked(&mut buf[..]).fill_checksum();
        buf
    }

    #[test]
    fn repr_emits_a_valid_header() {
        let buf = packet(&[], b"hello");
        let p = Packet::new_checked(&buf[..]).unwrap();
        assert!(p.verify_checksum());
        assert_eq!(p.header_len(), 20);
        assert_eq!(p.payload(), b"hello");
        assert_eq!(p.protocol(), IpProtocol::UDP);
        assert_eq!(p.ttl(), 64);
        assert!(!p.is_fragment());
    }

    #[test]
    fn payload_excludes_link_padding_after_total_length() {
        let mut buf = packet(&[], b"hi");
        buf.extend_from_slice(&[0; 20]);
        let p = Packet::new_checked(&buf[..]).unwrap();
        assert_eq!(p.payload(), b"hi");
    }

    #[test]
    fn bad_version_ihl_or_total_length_is_malformed() {
        let good = packet(&[], b"data");
        let mut v6 = good.clone();
        v6[0] = 0x65;
        let mut ihl4 = good.clone();
        ihl4[0] = 0x44;
        let mut ihl_past_end = good.clone();
        ihl_past_end[0] = 0x4f;
        let mut total_too_big = good.clone();
        total_too_big[2..4].copy_from_slice(&100u16.to_be_bytes());
        let mut total_below_header = good.clone();
        total_below_header[2..4].copy_from_slice(&19u16.to_be_bytes());
        for bad in [v6, ihl4, ihl_past_end, total_too_big, total_below_header] {
            assert_eq!(
                Packet::new_checked(&bad[..]),
                Err(ParseError::MalformedIpv4)
            );
        }
        for len in 0..MIN_HEADER_LEN {
            assert_eq!(
                Packet::new_checked(&good[..len]),
                Err(ParseError::MalformedIpv4)
            );
        }
    }

    #[test]
    fn fragment_fields_decode_in_bytes() {
        let mut buf = packet(&[], &[0; 16]);
        let mut p = Packet::new_unchecked(&mut buf[..]);
        p.set_ident(0xbeef);
        p.set_flags_and_frag_offset(false, true, 1480);
        let p = Packet::new_checked(&buf[..]).unwrap();
        assert!(p.is_fragment() && p.more_frags() && !p.dont_frag());
        assert_eq!((p.frag_offset(), p.ident()), (1480, 0xbeef));
    }

    #[test]
    fn source_route_options_are_detected() {
        // LSRR (131), length 7, pointer 4, one address 198.18.0.9; then END.
        let lsrr = [131, 7, 4, 198, 18, 0, 9, 0];
        let flags = option_flags(&lsrr).unwrap();
        assert!(flags.present && flags.loose_source_route && flags.has_source_route());
        // NOP, SSRR (137) length 3 pointer 4 (no addresses), END padding.
        let ssrr = [1, 137, 3, 4];
        let flags = option_flags(&ssrr).unwrap();
        assert!(flags.strict_source_route && !flags.loose_source_route);
        let buf = packet(&lsrr, b"x");
        let p = Packet::new_checked(&buf[..]).unwrap();
        assert!(p.verify_checksum());
        let opts: Vec<_> = p.options_iter().collect::<Result<_, _>>().unwrap();
        assert_eq!(opts.len(), 1);
        assert!(opts[0].is_source_route());
        assert_eq!(opts[0].data, &[4, 198, 18, 0, 9]);
    }

    #[test]
    fn record_route_timestamp_and_unknown_options_are_flagged() {
        // RR (7) len 3, TS (68) len 4, type 25 (unknown) len 2, NOP, NOP, NOP.
        let opts = [7, 3, 4, 68, 4, 5, 0, 25, 2, 1, 1, 1];
        let f = option_flags(&opts).unwrap();
        assert!(f.record_route && f.timestamp && f.unknown && !f.has_source_route());
    }

    #[test]
    fn option_with_bad_length_is_malformed() {
        // Length 1 (below the minimum of 2), length past the end, missing length.
        for opts in [
            &[131u8, 1, 0, 0][..],
            &[131, 9, 4, 0],
            &[0x01, 0x01, 0x01, 131],
        ] {
            assert_eq!(
                option_flags(opts),
                Err(ParseError::MalformedIpv4),
                "{opts:?}"
            );
        }
    }

    #[test]
    fn end_of_option_list_stops_the_walk() {
        // END followed by bytes that would be a malformed option.
        assert!(!option_flags(&[0, 131, 1, 0]).unwrap().loose_source_route);
    }

    #[test]
    fn check_header_len_accepts_a_truncated_embedded_packet() {
        let buf = packet(&[], &[0; 40]);
        let truncated = &buf[..28];
        assert!(Packet::new_checked(truncated).is_err());
        assert!(Packet::new_unchecked(truncated).check_header_len().is_ok());
    }
}
