//! Ethernet II frames and VLAN tags (IEEE 802.1Q, and the 802.1ad service
//! tag of QinQ, which is treated as one more VLAN tag).
//!
//! Layout: destination MAC (6), source MAC (6), ethertype (2), payload. A
//! tagged frame has a tag protocol identifier (TPID, `0x8100` or `0x88a8`) in
//! the ethertype position, followed by the tag control information (TCI:
//! priority, drop-eligible bit, 12-bit VLAN ID) and the real ethertype.
//!
//! [`Frame`] is a view over the untagged 14-byte header; [`VlanTag`] is a
//! view over the 4 bytes that follow a TPID (TCI and inner ethertype).
//! [`parse_l2`] walks the header and up to [`MAX_VLAN_TAGS`] tags.

use core::fmt;

use super::{ParseError, be16, put16};

/// Length of the untagged Ethernet header.
pub const HEADER_LEN: usize = 14;
/// Length of one VLAN tag (TPID + TCI).
pub const VLAN_TAG_LEN: usize = 4;
/// How many stacked VLAN tags the parser accepts (an 802.1ad service tag
/// and an 802.1Q customer tag).
pub const MAX_VLAN_TAGS: usize = 2;
/// The largest usable VLAN ID (4095 is reserved).
pub const MAX_VLAN_ID: u16 = 4094;

mod field {
    use core::ops::Range;
    pub const DESTINATION: Range<usize> = 0..6;
    pub const SOURCE: Range<usize> = 6..12;
    pub const ETHERTYPE: usize = 12;
    pub const PAYLOAD: usize = 14;
}

/// A 48-bit Ethernet (MAC) address.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MacAddr(pub [u8; 6]);

impl MacAddr {
    /// The broadcast address `ff:ff:ff:ff:ff:ff`.
    pub const BROADCAST: Self = Self([0xff; 6]);
    /// The all-zeros address.
    pub const ZERO: Self = Self([0; 6]);

    /// The address in the first six bytes of `bytes`, if there are six.
    #[inline]
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        bytes.get(..6)?.try_into().ok().map(Self)
    }

    /// The six octets.
    #[inline]
    pub const fn octets(&self) -> [u8; 6] {
        self.0
    }

    /// True for `ff:ff:ff:ff:ff:ff`.
    #[inline]
    pub fn is_broadcast(&self) -> bool {
        *self == Self::BROADCAST
    }

    /// True for group addresses (the I/G bit set; includes broadcast).
    #[inline]
    pub const fn is_multicast(&self) -> bool {
        self.0[0] & 0x01 != 0
    }

    /// True for individual (unicast) addresses.
    #[inline]
    pub const fn is_unicast(&self) -> bool {
        !self.is_multicast()
    }
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d, e, g] = self.0;
        write!(f, "{a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{g:02x}")
    }
}

/// An ethertype (or, in a tagged frame's TPID position, a tag protocol
/// identifier).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EtherType(pub u16);

impl EtherType {
    /// IPv4.
    pub const IPV4: Self = Self(0x0800);
    /// ARP.
    pub const ARP: Self = Self(0x0806);
    /// IEEE 802.1Q customer VLAN tag.
    pub const VLAN: Self = Self(0x8100);
    /// IEEE 802.1ad service VLAN tag (QinQ outer tag).
    pub const QINQ: Self = Self(0x88a8);
    /// IPv6.
    pub const IPV6: Self = Self(0x86dd);

    /// True for the TPIDs the parser treats as a VLAN tag.
    #[inline]
    pub const fn is_vlan_tag(self) -> bool {
        self.0 == Self::VLAN.0 || self.0 == Self::QINQ.0
    }

    /// True if the value is an 802.3 length (below `0x0600`), not an
    /// ethertype.
    #[inline]
    pub const fn is_length(self) -> bool {
        self.0 < 0x0600
    }
}

impl fmt::Display for EtherType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{:04x}", self.0)
    }
}

/// A view over an Ethernet II frame (the untagged 14-byte header and
/// everything after it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Frame<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Frame<T> {
    /// Wraps `buffer` without validation; accessors panic if it is shorter
    /// than [`HEADER_LEN`].
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Self {
        Self { buffer }
    }

    /// Wraps `buffer` after [`Frame::check_len`].
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self, ParseError> {
        let frame = Self::new_unchecked(buffer);
        frame.check_len()?;
        Ok(frame)
    }

    /// Fails with [`ParseError::MalformedEthernet`] if the buffer is shorter
    /// than an Ethernet header.
    #[inline]
    pub fn check_len(&self) -> Result<(), ParseError> {
        if self.buffer.as_ref().len() < HEADER_LEN {
            return Err(ParseError::MalformedEthernet);
        }
        Ok(())
    }

    /// The underlying buffer.
    #[inline]
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Destination MAC address.
    #[inline]
    pub fn dst_addr(&self) -> MacAddr {
        let b = self.buffer.as_ref();
        MacAddr([b[0], b[1], b[2], b[3], b[4], b[5]])
    }

    /// Source MAC address.
    #[inline]
    pub fn src_addr(&self) -> MacAddr {
        let b = self.buffer.as_ref();
        MacAddr([b[6], b[7], b[8], b[9], b[10], b[11]])
    }

    /// The ethertype field (a TPID in a tagged frame).
    #[inline]
    pub fn ethertype(&self) -> EtherType {
        EtherType(be16(self.buffer.as_ref(), field::ETHERTYPE))
    }

    /// Everything after the 14-byte header (a VLAN tag's TCI first, in a
    /// tagged frame).
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[field::PAYLOAD..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Frame<T> {
    /// Sets the destination MAC address.
    #[inline]
    pub fn set_dst_addr(&mut self, addr: MacAddr) {
        self.buffer.as_mut()[field::DESTINATION].copy_from_slice(&addr.0);
    }

    /// Sets the source MAC address.
    #[inline]
    pub fn set_src_addr(&mut self, addr: MacAddr) {
        self.buffer.as_mut()[field::SOURCE].copy_from_slice(&addr.0);
    }

    /// Sets the ethertype field.
    #[inline]
    pub fn set_ethertype(&mut self, ethertype: EtherType) {
        put16(self.buffer.as_mut(), field::ETHERTYPE, ethertype.0);
    }

    /// The payload, mutably.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[field::PAYLOAD..]
    }
}

/// A view over the 4 bytes that follow a VLAN TPID: the tag control
/// information and the encapsulated ethertype.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VlanTag<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> VlanTag<T> {
    /// Wraps `buffer` without validation; accessors panic if it is shorter
    /// than 4 bytes.
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Self {
        Self { buffer }
    }

    /// Wraps `buffer` after [`VlanTag::check_len`].
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self, ParseError> {
        let tag = Self::new_unchecked(buffer);
        tag.check_len()?;
        Ok(tag)
    }

    /// Fails with [`ParseError::MalformedVlan`] if fewer than 4 bytes.
    #[inline]
    pub fn check_len(&self) -> Result<(), ParseError> {
        if self.buffer.as_ref().len() < VLAN_TAG_LEN {
            return Err(ParseError::MalformedVlan);
        }
        Ok(())
    }

    /// The tag control information (priority, DEI, VLAN ID).
    #[inline]
    pub fn tci(&self) -> u16 {
        be16(self.buffer.as_ref(), 0)
    }

    /// The priority code point (3 bits).
    #[inline]
    pub fn priority(&self) -> u8 {
        (self.tci() >> 13) as u8
    }

    /// The drop-eligible indicator.
    #[inline]
    pub fn drop_eligible(&self) -> bool {
        self.tci() & 0x1000 != 0
    }

    /// The 12-bit VLAN ID.
    #[inline]
    pub fn vlan_id(&self) -> u16 {
        self.tci() & 0x0fff
    }

    /// The ethertype of what the tag encapsulates.
    #[inline]
    pub fn ethertype(&self) -> EtherType {
        EtherType(be16(self.buffer.as_ref(), 2))
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> VlanTag<T> {
    /// Sets the tag control information.
    #[inline]
    pub fn set_tci(&mut self, tci: u16) {
        put16(self.buffer.as_mut(), 0, tci);
    }

    /// Sets the 12-bit VLAN ID, keeping priority and DEI.
    #[inline]
    pub fn set_vlan_id(&mut self, vid: u16) {
        let tci = (self.tci() & 0xf000) | (vid & 0x0fff);
        self.set_tci(tci);
    }

    /// Sets the encapsulated ethertype.
    #[inline]
    pub fn set_ethertype(&mut self, ethertype: EtherType) {
        put16(self.buffer.as_mut(), 2, ethertype.0);
    }
}

/// The decoded link layer of a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct L2Header {
    /// Destination MAC address.
    pub dst: MacAddr,
    /// Source MAC address.
    pub src: MacAddr,
    /// VLAN ID of the outermost tag (802.1Q, or the 802.1ad service tag).
    pub vlan: Option<u16>,
    /// VLAN ID of the second (customer) tag of a QinQ frame.
    pub inner_vlan: Option<u16>,
    /// The ethertype after all tags.
    pub ethertype: EtherType,
    /// Offset of the L3 header (14, 18 or 22).
    pub payload_offset: usize,
}

/// Decodes the Ethernet header and up to [`MAX_VLAN_TAGS`] VLAN tags.
///
/// Errors: shorter than 14 bytes or an 802.3 length in the ethertype
/// position → [`ParseError::MalformedEthernet`] / [`ParseError::UnsupportedEthertype`];
/// a truncated tag → [`ParseError::MalformedVlan`]; a third tag →
/// [`ParseError::UnsupportedEthertype`].
pub fn parse_l2(frame: &[u8]) -> Result<L2Header, ParseError> {
    let eth = Frame::new_checked(frame)?;
    let mut header = L2Header {
        dst: eth.dst_addr(),
        src: eth.src_addr(),
        vlan: None,
        inner_vlan: None,
        ethertype: eth.ethertype(),
        payload_offset: HEADER_LEN,
    };
    let mut tags = 0;
    while header.ethertype.is_vlan_tag() {
        if tags == MAX_VLAN_TAGS {
            return Err(ParseError::UnsupportedEthertype);
        }
        let tag = VlanTag::new_checked(&frame[header.payload_offset..])?;
        match tags {
            0 => header.vlan = Some(tag.vlan_id()),
            _ => header.inner_vlan = Some(tag.vlan_id()),
        }
        header.ethertype = tag.ethertype();
        header.payload_offset += VLAN_TAG_LEN;
        tags += 1;
    }
    if header.ethertype.is_length() {
        return Err(ParseError::UnsupportedEthertype);
    }
    Ok(header)
}

/// What an Ethernet header (with an optional 802.1Q tag) looks like, for
/// building frames.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EthernetRepr {
    /// Destination MAC address.
    pub dst: MacAddr,
    /// Source MAC address.
    pub src: MacAddr,
    /// An 802.1Q tag to add, by VLAN ID (priority 0).
    pub vlan: Option<u16>,
    /// The payload's ethertype.
    pub ethertype: EtherType,
}

impl EthernetRepr {
    /// The header length this representation emits (14 or 18).
    #[inline]
    pub const fn header_len(&self) -> usize {
        match self.vlan {
            Some(_) => HEADER_LEN + VLAN_TAG_LEN,
            None => HEADER_LEN,
        }
    }

    /// Appends the header to `out`.
    #[inline]
    pub fn emit(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.dst.0);
        out.extend_from_slice(&self.src.0);
        if let Some(vid) = self.vlan {
            out.extend_from_slice(&EtherType::VLAN.0.to_be_bytes());
            out.extend_from_slice(&(vid & 0x0fff).to_be_bytes());
        }
        out.extend_from_slice(&self.ethertype.0.to_be_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DST: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x01]);
    const SRC: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x02]);

    fn frame(vlans: &[(EtherType, u16)], ethertype: EtherType, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&DST.0);
        out.extend_from_slice(&SRC.0);
        for (tpid, vid) in vlans {
            out.extend_from_slice(&tpid.0.to_be_bytes());
            out.extend_from_slice(&vid.to_be_bytes());
        }
        out.extend_from_slice(&ethertype.0.to_be_bytes());
        out.extend_from_slice(payload);
        out
    }

    #[test]
    fn untagged_frame_exposes_macs_and_ethertype() {
        let bytes = frame(&[], EtherType::IPV4, &[1, 2, 3]);
        let f = Frame::new_checked(&bytes[..]).unwrap();
        assert_eq!(f.dst_addr(), DST);
        assert_eq!(f.src_addr(), SRC);
        assert_eq!(f.ethertype(), EtherType::IPV4);
        assert_eq!(f.payload(), &[1, 2, 3]);
        let l2 = parse_l2(&bytes).unwrap();
        assert_eq!((l2.vlan, l2.payload_offset), (None, 14));
    }

    #[test]
    fn short_frame_is_malformed_ethernet() {
        for len in 0..HEADER_LEN {
            assert_eq!(parse_l2(&vec![0; len]), Err(ParseError::MalformedEthernet));
        }
    }

    #[test]
    fn dot1q_tag_gives_vlan_and_inner_ethertype() {
        // TCI 0x6064: priority 3, DEI 0, VLAN 100.
        let bytes = frame(&[(EtherType::VLAN, 0x6064)], EtherType::IPV6, &[]);
        let l2 = parse_l2(&bytes).unwrap();
        assert_eq!(l2.vlan, Some(100));
        assert_eq!(l2.ethertype, EtherType::IPV6);
        assert_eq!(l2.payload_offset, 18);
        let tag = VlanTag::new_checked(&bytes[14..]).unwrap();
        assert_eq!(tag.priority(), 3);
        assert!(!tag.drop_eligible());
    }

    #[test]
    fn qinq_outer_service_tag_is_a_vlan_tag() {
        let bytes = frame(
            &[(EtherType::QINQ, 200), (EtherType::VLAN, 10)],
            EtherType::IPV4,
            &[],
        );
        let l2 = parse_l2(&bytes).unwrap();
        assert_eq!((l2.vlan, l2.inner_vlan), (Some(200), Some(10)));
        assert_eq!(l2.payload_offset, 22);
    }

    #[test]
    fn third_vlan_tag_is_unsupported() {
        let tags = [
            (EtherType::QINQ, 1),
            (EtherType::VLAN, 2),
            (EtherType::VLAN, 3),
        ];
        let bytes = frame(&tags, EtherType::IPV4, &[]);
        assert_eq!(parse_l2(&bytes), Err(ParseError::UnsupportedEthertype));
    }

    #[test]
    fn truncated_vlan_tag_is_malformed_vlan() {
        let bytes = frame(&[(EtherType::VLAN, 5)], EtherType::IPV4, &[]);
        for cut in 14..18 {
            assert_eq!(parse_l2(&bytes[..cut]), Err(ParseError::MalformedVlan));
        }
    }

    #[test]
    fn ieee_802_3_length_field_is_unsupported() {
        let bytes = frame(&[], EtherType(0x05dc), &[]);
        assert_eq!(parse_l2(&bytes), Err(ParseError::UnsupportedEthertype));
    }

    #[test]
    fn setters_round_trip() {
        let mut bytes = frame(&[(EtherType::VLAN, 7)], EtherType::IPV4, &[]);
        let mut f = Frame::new_checked(&mut bytes[..]).unwrap();
        f.set_dst_addr(SRC);
        f.set_src_addr(DST);
        assert_eq!((f.dst_addr(), f.src_addr()), (SRC, DST));
        let mut tag = VlanTag::new_checked(&mut bytes[14..]).unwrap();
        tag.set_vlan_id(4094);
        tag.set_ethertype(EtherType::IPV6);
        let l2 = parse_l2(&bytes).unwrap();
        assert_eq!((l2.vlan, l2.ethertype), (Some(4094), EtherType::IPV6));
    }

    #[test]
    fn repr_emits_a_header_parse_l2_reads_back() {
        let repr = EthernetRepr {
            dst: DST,
            src: SRC,
            vlan: Some(42),
            ethertype: EtherType::IPV4,
        };
        let mut out = Vec::new();
        repr.emit(&mut out);
        assert_eq!(out.len(), repr.header_len());
        let l2 = parse_l2(&out).unwrap();
        assert_eq!(
            (l2.dst, l2.src, l2.vlan, l2.ethertype),
            (DST, SRC, Some(42), EtherType::IPV4)
        );
    }

    #[test]
    fn mac_addr_classifies_and_formats() {
        assert!(MacAddr::BROADCAST.is_broadcast() && MacAddr::BROADCAST.is_multicast());
        assert!(MacAddr([0x01, 0, 0x5e, 0, 0, 1]).is_multicast());
        assert!(DST.is_unicast());
        assert_eq!(DST.to_string(), "02:00:00:00:00:01");
        assert_eq!(MacAddr::from_bytes(&[1, 2, 3, 4, 5]), None);
    }
}
