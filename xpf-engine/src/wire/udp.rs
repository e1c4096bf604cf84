//! UDP (RFC 768): source port, destination port, length, checksum,
//! payload.
//!
//! [`Packet::check_len`] validates a whole datagram (the length field covers
//! the header and does not run past the buffer; trailing bytes are ignored,
//! as Linux trims them). [`Packet::check_header_len`] validates only the
//! 8-byte header, for the first fragment of a fragmented datagram, whose
//! length field describes the reassembled datagram, and for the copy inside
//! an ICMP error. On the checksum rules (zero means "none" in IPv4) see
//! [`crate::checksum`].

use std::net::IpAddr;

use super::{ParseError, be16, put16};
use crate::checksum;

/// Length of the UDP header.
pub const HEADER_LEN: usize = 8;

mod field {
    pub const SRC_PORT: usize = 0;
    pub const DST_PORT: usize = 2;
    pub const LENGTH: usize = 4;
    pub const CHECKSUM: usize = 6;
}

/// Offset of the source port.
pub const SRC_PORT_OFFSET: usize = field::SRC_PORT;
/// Offset of the destination port.
pub const DST_PORT_OFFSET: usize = field::DST_PORT;
/// Offset of the checksum.
pub const CHECKSUM_OFFSET: usize = field::CHECKSUM;

/// A view over a UDP datagram.
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

    /// Validates the header and `8 ≤ length ≤ buffer length`; any failure
    /// is [`ParseError::MalformedUdp`].
    #[inline]
    pub fn check_len(&self) -> Result<(), ParseError> {
        self.check_header_len()?;
        let len = usize::from(self.len());
        if len < HEADER_LEN || len > self.buffer.as_ref().len() {
            return Err(ParseError::MalformedUdp);
        }
        Ok(())
    }

    /// Validates only that the 8-byte header is present.
    #[inline]
    pub fn check_header_len(&self) -> Result<(), ParseError> {
        if self.buffer.as_ref().len() < HEADER_LEN {
            return Err(ParseError::MalformedUdp);
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

    /// Source port.
    #[inline]
    pub fn src_port(&self) -> u16 {
        be16(self.buf(), field::SRC_PORT)
    }

    /// Destination port.
    #[inline]
    pub fn dst_port(&self) -> u16 {
        be16(self.buf(), field::DST_PORT)
    }

    /// The length field (header and payload).
    #[allow(clippy::len_without_is_empty)]
    #[inline]
    pub fn len(&self) -> u16 {
        be16(self.buf(), field::LENGTH)
    }

    /// The checksum field (0: none, in IPv4).
    #[inline]
    pub fn checksum(&self) -> u16 {
        be16(self.buf(), field::CHECKSUM)
    }

    /// The payload: up to the length field, clamped to the buffer (so it is
    /// safe on a header-only check too).
    #[inline]
    pub fn payload(&self) -> &[u8] {
        let end = usize::from(self.len()).clamp(HEADER_LEN, self.buf().len());
        &self.buf()[HEADER_LEN..end]
    }

    /// True if the checksum is acceptable for the pseudo-header of `src` and
    /// `dst` (zero is accepted for IPv4 only). The buffer must be exactly
    /// the datagram.
    #[inline]
    pub fn verify_checksum(&self, src: IpAddr, dst: IpAddr) -> bool {
        checksum::verify_udp(src, dst, self.buf())
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Sets the source port (the checksum is not updated).
    #[inline]
    pub fn set_src_port(&mut self, port: u16) {
        put16(self.buffer.as_mut(), field::SRC_PORT, port);
    }

    /// Sets the destination port (the checksum is not updated).
    #[inline]
    pub fn set_dst_port(&mut self, port: u16) {
        put16(self.buffer.as_mut(), field::DST_PORT, port);
    }

    /// Sets the length field.
    #[inline]
    pub fn set_len(&mut self, len: u16) {
        put16(self.buffer.as_mut(), field::LENGTH, len);
    }

    /// Sets the checksum field.
    #[inline]
    pub fn set_checksum(&mut self, checksum: u16) {
        put16(self.buffer.as_mut(), field::CHECKSUM, checksum);
    }

    /// Computes and stores the checksum (a computed zero is stored as
    /// `0xffff`). The buffer must be exactly the datagram.
    #[inline]
    pub fn fill_checksum(&mut self, src: IpAddr, dst: IpAddr) {
        let csum = checksum::udp_checksum(src, dst, self.buffer.as_ref());
        self.set_checksum(csum);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv6Addr;

    fn datagram(payload: &[u8]) -> Vec<u8> {
        let mut buf = vec![0u8; HEADER_LEN + payload.len()];
        buf[HEADER_LEN..].copy_from_slice(payload);
        let mut p = Packet::new_unchecked(&mut buf[..]);
        p.set_src_port(5353);
        p.set_dst_port(53);
        p.set_len((HEADER_LEN + payload.len()) as u16);
        buf
    }

    #[test]
    fn fields_and_checksum_round_trip() {
        let src: IpAddr = "2001:db8::1".parse::<Ipv6Addr>().unwrap().into();
        let dst: IpAddr = "2001:db8::2".parse::<Ipv6Addr>().unwrap().into();
        let mut buf = datagram(b"query");
        Packet::new_unchecked(&mut buf[..]).fill_checksum(src, dst);
        let p = Packet::new_checked(&buf[..]).unwrap();
        assert_eq!((p.src_port(), p.dst_port(), p.len()), (5353, 53, 13));
        assert_eq!(p.payload(), b"query");
        assert_ne!(p.checksum(), 0);
        assert!(p.verify_checksum(src, dst));
    }

    #[test]
    fn length_below_header_or_past_buffer_is_malformed() {
        let good = datagram(b"abc");
        for len in 0..HEADER_LEN {
            assert_eq!(
                Packet::new_checked(&good[..len]),
                Err(ParseError::MalformedUdp)
            );
        }
        let mut short = good.clone();
        short[4..6].copy_from_slice(&7u16.to_be_bytes());
        assert_eq!(
            Packet::new_checked(&short[..]),
            Err(ParseError::MalformedUdp)
        );
        let mut long = good.clone();
        long[4..6].copy_from_slice(&12u16.to_be_bytes());
        assert_eq!(
            Packet::new_checked(&long[..]),
            Err(ParseError::MalformedUdp)
        );
    }

    #[test]
    fn header_only_check_accepts_a_first_fragment() {
        let mut buf = datagram(b"abc");
        // The length field describes the reassembled datagram.
        buf[4..6].copy_from_slice(&3000u16.to_be_bytes());
        let p = Packet::new_unchecked(&buf[..]);
        assert!(p.check_len().is_err());
        assert!(p.check_header_len().is_ok());
        assert_eq!(p.payload(), b"abc");
    }

    #[test]
    fn trailing_bytes_after_the_length_are_not_payload() {
        let mut buf = datagram(b"abc");
        buf.extend_from_slice(&[0; 4]);
        assert_eq!(Packet::new_checked(&buf[..]).unwrap().payload(), b"abc");
    }
}
