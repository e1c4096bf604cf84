//! TCP (RFC 9293): the header, its flags and options.
//!
//! Layout: source port, destination port, sequence number, acknowledgment
//! number, data offset (header length in 32-bit words), flags, window,
//! checksum, urgent pointer, options (data offset × 4 − 20 bytes), payload.
//!
//! Options are walked by [`OptionsIter`], which yields each option with its
//! offset in the options area (so the MSS can be rewritten in place). The
//! walk is tolerant, like end hosts: an option with a bad length ends it
//! (with one `Err`), and a known option with the wrong length is reported
//! as [`TcpOption::Unknown`]. [`OptionsSummary`] collects what the session
//! tracker needs (MSS, window scale, SACK permitted, timestamps).

use core::fmt;
use core::ops::{BitOr, BitOrAssign};
use std::net::IpAddr;

use super::{ParseError, be16, be32, put16, put32};
use crate::checksum;

/// Length of a TCP header without options.
pub const MIN_HEADER_LEN: usize = 20;

mod field {
    pub const SRC_PORT: usize = 0;
    pub const DST_PORT: usize = 2;
    pub const SEQ: usize = 4;
    pub const ACK: usize = 8;
    pub const DATA_OFFSET: usize = 12;
    pub const FLAGS: usize = 13;
    pub const WINDOW: usize = 14;
    pub const CHECKSUM: usize = 16;
    pub const URGENT: usize = 18;
}

/// Offset of the source port.
pub const SRC_PORT_OFFSET: usize = field::SRC_PORT;
/// Offset of the destination port.
pub const DST_PORT_OFFSET: usize = field::DST_PORT;
/// Offset of the checksum.
pub const CHECKSUM_OFFSET: usize = field::CHECKSUM;

/// Option kinds (IANA "TCP Option Kind Numbers").
pub mod option_kind {
    /// End of option list.
    pub const END: u8 = 0;
    /// No operation (padding).
    pub const NOP: u8 = 1;
    /// Maximum segment size.
    pub const MSS: u8 = 2;
    /// Window scale.
    pub const WINDOW_SCALE: u8 = 3;
    /// SACK permitted.
    pub const SACK_PERMITTED: u8 = 4;
    /// SACK blocks.
    pub const SACK: u8 = 5;
    /// Timestamps.
    pub const TIMESTAMPS: u8 = 8;
}

/// The eight TCP flag bits (byte 13 of the header).
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct TcpFlags(pub u8);

impl TcpFlags {
    /// No more data from sender.
    pub const FIN: Self = Self(0x01);
    /// Synchronise sequence numbers.
    pub const SYN: Self = Self(0x02);
    /// Reset the connection.
    pub const RST: Self = Self(0x04);
    /// Push.
    pub const PSH: Self = Self(0x08);
    /// Acknowledgment field significant.
    pub const ACK: Self = Self(0x10);
    /// Urgent pointer significant.
    pub const URG: Self = Self(0x20);
    /// ECN echo.
    pub const ECE: Self = Self(0x40);
    /// Congestion window reduced.
    pub const CWR: Self = Self(0x80);

    const NAMES: [(TcpFlags, &'static str); 8] = [
        (Self::FIN, "FIN"),
        (Self::SYN, "SYN"),
        (Self::RST, "RST"),
        (Self::PSH, "PSH"),
        (Self::ACK, "ACK"),
        (Self::URG, "URG"),
        (Self::ECE, "ECE"),
        (Self::CWR, "CWR"),
    ];

    /// The raw bits.
    #[inline]
    pub const fn bits(self) -> u8 {
        self.0
    }

    /// True if every flag of `other` is set.
    #[inline]
    pub const fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }

    /// True if any flag of `other` is set.
    #[inline]
    pub const fn intersects(self, other: Self) -> bool {
        self.0 & other.0 != 0
    }

    /// True if no flag is set.
    #[inline]
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }
}

impl BitOr for TcpFlags {
    type Output = Self;
    #[inline]
    fn bitor(self, rhs: Self) -> Self {
        Self(self.0 | rhs.0)
    }
}

impl BitOrAssign for TcpFlags {
    #[inline]
    fn bitor_assign(&mut self, rhs: Self) {
        self.0 |= rhs.0;
    }
}

impl fmt::Display for TcpFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return f.write_str("none");
        }
        let mut first = true;
        for (flag, name) in Self::NAMES {
            if self.contains(flag) {
                if !first {
                    f.write_str("|")?;
                }
                f.write_str(name)?;
                first = false;
            }
        }
        Ok(())
    }
}

impl fmt::Debug for TcpFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TcpFlags({self})")
    }
}

/// A view over a TCP segment.
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

    /// Validates at least 20 bytes, a data offset of at least 5 and the
    /// whole header (options included) present; any failure is
    /// [`ParseError::MalformedTcp`].
    #[inline]
    pub fn check_len(&self) -> Result<(), ParseError> {
        let len = self.buffer.as_ref().len();
        if len < MIN_HEADER_LEN {
            return Err(ParseError::MalformedTcp);
        }
        let header_len = self.header_len();
        if header_len < MIN_HEADER_LEN || header_len > len {
            return Err(ParseError::MalformedTcp);
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

    /// Sequence number.
    #[inline]
    pub fn seq_number(&self) -> u32 {
        be32(self.buf(), field::SEQ)
    }

    /// Acknowledgment number.
    #[inline]
    pub fn ack_number(&self) -> u32 {
        be32(self.buf(), field::ACK)
    }

    /// Header length in bytes (data offset × 4).
    #[inline]
    pub fn header_len(&self) -> usize {
        usize::from(self.buf()[field::DATA_OFFSET] >> 4) * 4
    }

    /// The flags.
    #[inline]
    pub fn flags(&self) -> TcpFlags {
        TcpFlags(self.buf()[field::FLAGS])
    }

    /// Window size (unscaled).
    #[inline]
    pub fn window_len(&self) -> u16 {
        be16(self.buf(), field::WINDOW)
    }

    /// The checksum field.
    #[inline]
    pub fn checksum(&self) -> u16 {
        be16(self.buf(), field::CHECKSUM)
    }

    /// Urgent pointer.
    #[inline]
    pub fn urgent_at(&self) -> u16 {
        be16(self.buf(), field::URGENT)
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

    /// The payload.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buf()[self.header_len()..]
    }

    /// Sequence space consumed: payload length plus one each for SYN and
    /// FIN.
    #[inline]
    pub fn segment_len(&self) -> u32 {
        let flags = self.flags();
        self.payload().len() as u32
            + u32::from(flags.contains(TcpFlags::SYN))
            + u32::from(flags.contains(TcpFlags::FIN))
    }

    /// True if the checksum is correct for the pseudo-header of `src` and
    /// `dst` (the buffer must be exactly the segment).
    #[inline]
    pub fn verify_checksum(&self, src: IpAddr, dst: IpAddr) -> bool {
        checksum::verify_transport(src, dst, 6, self.buf())
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    #[inline]
    fn buf_mut(&mut self) -> &mut [u8] {
        self.buffer.as_mut()
    }

    /// Sets the source port (the checksum is not updated).
    #[inline]
    pub fn set_src_port(&mut self, port: u16) {
        put16(self.buf_mut(), field::SRC_PORT, port);
    }

    /// Sets the destination port (the checksum is not updated).
    #[inline]
    pub fn set_dst_port(&mut self, port: u16) {
        put16(self.buf_mut(), field::DST_PORT, port);
    }

    /// Sets the sequence number.
    #[inline]
    pub fn set_seq_number(&mut self, seq: u32) {
        put32(self.buf_mut(), field::SEQ, seq);
    }

    /// Sets the acknowledgment number.
    #[inline]
    pub fn set_ack_number(&mut self, ack: u32) {
        put32(self.buf_mut(), field::ACK, ack);
    }

    /// Sets the header length in bytes (a multiple of 4), clearing the
    /// reserved bits.
    #[inline]
    pub fn set_header_len(&mut self, len: usize) {
        self.buf_mut()[field::DATA_OFFSET] = ((len / 4) as u8) << 4;
    }

    /// Sets the flags.
    #[inline]
    pub fn set_flags(&mut self, flags: TcpFlags) {
        self.buf_mut()[field::FLAGS] = flags.0;
    }

    /// Sets the window.
    #[inline]
    pub fn set_window_len(&mut self, window: u16) {
        put16(self.buf_mut(), field::WINDOW, window);
    }

    /// Sets the checksum field.
    #[inline]
    pub fn set_checksum(&mut self, checksum: u16) {
        put16(self.buf_mut(), field::CHECKSUM, checksum);
    }

    /// Sets the urgent pointer.
    #[inline]
    pub fn set_urgent_at(&mut self, urgent: u16) {
        put16(self.buf_mut(), field::URGENT, urgent);
    }

    /// Computes and stores the checksum (the buffer must be exactly the
    /// segment).
    #[inline]
    pub fn fill_checksum(&mut self, src: IpAddr, dst: IpAddr) {
        let csum = checksum::tcp_checksum(src, dst, self.buf());
        self.set_checksum(csum);
    }

    /// The options area, mutably.
    #[inline]
    pub fn options_mut(&mut self) -> &mut [u8] {
        let end = self.header_len();
        &mut self.buf_mut()[MIN_HEADER_LEN..end]
    }
}

/// One decoded TCP option.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TcpOption<'a> {
    /// Maximum segment size (kind 2, length 4).
    MaxSegmentSize(u16),
    /// Window scale shift (kind 3, length 3).
    WindowScale(u8),
    /// SACK permitted (kind 4, length 2).
    SackPermitted,
    /// SACK blocks (kind 5): pairs of 32-bit edges.
    SackRange(&'a [u8]),
    /// Timestamps (kind 8, length 10).
    Timestamps {
        /// TSval.
        value: u32,
        /// TSecr.
        echo: u32,
    },
    /// Any other option, or a known kind with the wrong length.
    Unknown {
        /// The option kind.
        kind: u8,
        /// The bytes after the kind and length octets.
        data: &'a [u8],
    },
}

impl<'a> TcpOption<'a> {
    #[inline]
    fn decode(kind: u8, data: &'a [u8]) -> Self {
        match (kind, data) {
            (option_kind::MSS, &[a, b]) => Self::MaxSegmentSize(u16::from_be_bytes([a, b])),
            (option_kind::WINDOW_SCALE, &[shift]) => Self::WindowScale(shift),
            (option_kind::SACK_PERMITTED, &[]) => Self::SackPermitted,
            (option_kind::SACK, blocks) if blocks.len() % 8 == 0 => Self::SackRange(blocks),
            (option_kind::TIMESTAMPS, ts) if ts.len() == 8 => Self::Timestamps {
                value: be32(ts, 0),
                echo: be32(ts, 4),
            },
            _ => Self::Unknown { kind, data },
        }
    }
}

/// Iterator over TCP options, yielding `(offset in the options area,
/// option)`. NOPs are skipped; End of Option List stops it; a bad length
/// yields one `Err(MalformedTcp)` and stops it.
#[derive(Clone, Debug)]
pub struct OptionsIter<'a> {
    options: &'a [u8],
    at: usize,
}

impl<'a> OptionsIter<'a> {
    /// Iterates over the options area `options`.
    #[inline]
    pub const fn new(options: &'a [u8]) -> Self {
        Self { options, at: 0 }
    }
}

impl<'a> Iterator for OptionsIter<'a> {
    type Item = Result<(usize, TcpOption<'a>), ParseError>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let start = self.at;
            let kind = *self.options.get(start)?;
            match kind {
                option_kind::END => {
                    self.at = self.options.len();
                    return None;
                }
                option_kind::NOP => self.at += 1,
                _ => {
                    let len = self.options.get(start + 1).map(|l| usize::from(*l));
                    return match len {
                        Some(len) if len >= 2 && start + len <= self.options.len() => {
                            self.at = start + len;
                            let data = &self.options[start + 2..start + len];
                            Some(Ok((start, TcpOption::decode(kind, data))))
                        }
                        _ => {
                            self.at = self.options.len();
                            Some(Err(ParseError::MalformedTcp))
                        }
                    };
                }
            }
        }
    }
}

/// The options the session tracker and the MSS clamp care about.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct OptionsSummary {
    /// Maximum segment size.
    pub mss: Option<u16>,
    /// Window scale shift.
    pub window_scale: Option<u8>,
    /// SACK permitted.
    pub sack_permitted: bool,
    /// Timestamps present.
    pub timestamps: bool,
    /// The option list is malformed (the walk stopped early).
    pub malformed: bool,
}

impl OptionsSummary {
    /// Summarises an options area. Never fails: what precedes a malformed
    /// option is kept and `malformed` is set.
    #[inline]
    pub fn of(options: &[u8]) -> Self {
        let mut summary = Self::default();
        for option in OptionsIter::new(options) {
            match option {
                Ok((_, TcpOption::MaxSegmentSize(mss))) => summary.mss = Some(mss),
                Ok((_, TcpOption::WindowScale(shift))) => summary.window_scale = Some(shift),
                Ok((_, TcpOption::SackPermitted)) => summary.sack_permitted = true,
                Ok((_, TcpOption::Timestamps { .. })) => summary.timestamps = true,
                Ok(_) => {}
                Err(_) => summary.malformed = true,
            }
        }
        summary
    }
}

/// The well-formed MSS options of an options area: the offset of each
/// value within the area, and the value. A segment normally has one.
pub fn mss_options(options: &[u8]) -> impl Iterator<Item = (usize, u16)> + '_ {
    OptionsIter::new(options).filter_map(|option| match option {
        Ok((at, TcpOption::MaxSegmentSize(mss))) => Some((at + 2, mss)),
        _ => None,
    })
}

/// An option-less TCP header, for building segments (e.g. a RST).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcpRepr {
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
    /// Window.
    pub window: u16,
}

impl TcpRepr {
    /// Writes the 20-byte header at the start of `segment` (which must be
    /// exactly the segment: header and payload) and fills the checksum for
    /// the pseudo-header of `src` and `dst`.
    #[inline]
    pub fn emit(&self, segment: &mut [u8], src: IpAddr, dst: IpAddr) {
        let mut packet = Packet::new_unchecked(segment);
        packet.set_src_port(self.src_port);
        packet.set_dst_port(self.dst_port);
        packet.set_seq_number(self.seq);
        packet.set_ack_number(self.ack);
        packet.set_header_len(MIN_HEADER_LEN);
        packet.set_flags(self.flags);
        packet.set_window_len(self.window);
        packet.set_urgent_at(0);
        packet.set_checksum(0);
        packet.fill_checksum(src, dst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    const SRC: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 18, 0, 1));
    const DST: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 18, 0, 2));

    /// A SYN with `options` (padded to a multiple of 4 by the caller) and
    /// `payload`.
    fn segment(options: &[u8], payload: &[u8]) -> Vec<u8> {
        let header_len = MIN_HEADER_LEN + options.len();
        let mut buf = vec![0u8; header_len + payload.len()];
        buf[MIN_HEADER_LEN..header_len].copy_from_slice(options);
        buf[header_len..].copy_from_slice(payload);
        TcpRepr {
            src_port: 40000,
            dst_port: 443,
            seq: 1000,
            ack: 0,
            flags: TcpFlags::SYN,
            window: 65535,
        }
        .emit(&mut buf, SRC, DST);
        let mut p = Packet::new_unchecked(&mut buf[..]);
        p.set_header_len(header_len);
        p.fill_checksum(SRC, DST);
        buf
    }

    /// Linux's SYN options: MSS 1460, SACK permitted, timestamps, NOP,
    /// window scale 7 (20 bytes).
    const LINUX_SYN_OPTIONS: [u8; 20] = [
        2, 4, 0x05, 0xb4, // MSS 1460
        4, 2, // SACK permitted
        8, 10, 0, 0, 0, 1, 0, 0, 0, 0, // timestamps TSval 1, TSecr 0
        1, // NOP
        3, 3, 7, // window scale 7
    ];

    #[test]
    fn header_fields_round_trip() {
        let buf = segment(&[], b"data");
        let p = Packet::new_checked(&buf[..]).unwrap();
        assert_eq!((p.src_port(), p.dst_port()), (40000, 443));
        assert_eq!(
            (p.seq_number(), p.ack_number(), p.window_len()),
            (1000, 0, 65535)
        );
        assert_eq!(p.flags(), TcpFlags::SYN);
        assert_eq!(p.payload(), b"data");
        assert_eq!(p.segment_len(), 5);
        assert!(p.verify_checksum(SRC, DST));
    }

    #[test]
    fn bad_data_offset_or_truncated_header_is_malformed() {
        let buf = segment(&LINUX_SYN_OPTIONS, &[]);
        for len in 0..buf.len() {
            assert_eq!(
                Packet::new_checked(&buf[..len]),
                Err(ParseError::MalformedTcp)
            );
        }
        let mut small = buf.clone();
        small[12] = 0x40; // data offset 4 (16 bytes) is below the minimum
        assert_eq!(
            Packet::new_checked(&small[..]),
            Err(ParseError::MalformedTcp)
        );
    }

    #[test]
    fn linux_syn_options_are_decoded() {
        let buf = segment(&LINUX_SYN_OPTIONS, &[]);
        let p = Packet::new_checked(&buf[..]).unwrap();
        let summary = OptionsSummary::of(p.options());
        assert_eq!(summary.mss, Some(1460));
        assert_eq!(summary.window_scale, Some(7));
        assert!(summary.sack_permitted && summary.timestamps && !summary.malformed);
        assert_eq!(
            mss_options(p.options()).collect::<Vec<_>>(),
            vec![(2, 1460)]
        );
        let offsets: Vec<usize> = p.options_iter().map(|o| o.unwrap().0).collect();
        assert_eq!(offsets, vec![0, 4, 6, 17]);
    }

    #[test]
    fn mss_after_a_nop_is_found_at_an_odd_offset() {
        // NOP, MSS 1400, NOP, NOP, NOP (8 bytes).
        let opts = [1, 2, 4, 0x05, 0x78, 1, 1, 1];
        assert_eq!(mss_options(&opts).next(), Some((3, 1400)));
    }

    #[test]
    fn option_with_bad_length_stops_the_walk_and_is_reported() {
        // MSS 1460, then kind 8 with length 1 (below the minimum).
        let opts = [2, 4, 0x05, 0xb4, 8, 1, 0, 0];
        let summary = OptionsSummary::of(&opts);
        assert_eq!(summary.mss, Some(1460));
        assert!(summary.malformed);
        // A length running past the options area.
        let opts = [3, 9, 7, 0];
        assert!(OptionsSummary::of(&opts).malformed);
    }

    #[test]
    fn known_option_with_wrong_length_is_unknown_not_an_mss() {
        // Kind 2 with length 3.
        let opts = [2, 3, 0x05, 0];
        assert_eq!(mss_options(&opts).next(), None);
        let first = OptionsIter::new(&opts).next().unwrap().unwrap();
        assert_eq!(
            first,
            (
                0,
                TcpOption::Unknown {
                    kind: 2,
                    data: &[0x05]
                }
            )
        );
    }

    #[test]
    fn end_of_options_stops_the_walk() {
        let opts = [0, 2, 4, 0x05, 0xb4, 0, 0, 0];
        assert_eq!(OptionsIter::new(&opts).count(), 0);
    }

    #[test]
    fn flags_format_and_combine() {
        let synack = TcpFlags::SYN | TcpFlags::ACK;
        assert_eq!(synack.to_string(), "SYN|ACK");
        assert!(synack.contains(TcpFlags::SYN) && !synack.contains(TcpFlags::FIN));
        assert!(synack.intersects(TcpFlags::ACK | TcpFlags::RST));
        assert_eq!(TcpFlags::default().to_string(), "none");
        assert_eq!(format!("{:?}", TcpFlags(0x11)), "TcpFlags(FIN|ACK)");
    }
}
