//! Typed zero-copy views over frames, the one-shot frame parser, in-place
//! rewrites with incremental checksum fixes, and builders for the packets the
//! firewall emits itself.
//!
//! Modelled on smoltcp's `wire` module: each protocol module has a view type
//! (`Frame`/`Packet`) over any `T: AsRef<[u8]>`, with
//!
//! - `new_unchecked(buffer)`: no validation; accessors may panic on a short
//!   buffer (for buffers the caller has just built);
//! - `new_checked(buffer)` / `check_len()`: validates every length the
//!   accessors rely on, so that **no accessor of a checked view panics or
//!   reads past the buffer**, whatever the bytes are;
//! - getters, and setters when `T: AsMut<[u8]>`;
//! - a `Repr` (a small owned description) where the firewall builds headers.
//!
//! Layers:
//!
//! - [`ethernet`]: Ethernet II, 802.1Q and 802.1ad (QinQ) tags.
//! - [`ipv4`]: IPv4 header, options (source route detection), fragments.
//! - [`ipv6`]: IPv6 header and the extension-header chain walk.
//! - [`tcp`], [`udp`], [`icmp`] (ICMPv4 and ICMPv6, with the packet embedded
//!   in an error message).
//! - [`parse`]: [`parse_frame`], the one-shot summary parser used by the
//!   pipeline, producing a [`ParsedFrame`] or a [`ParseError`] that maps 1:1
//!   to a [`DropReason`].
//! - [`rewrite`]: in-place NAT and forwarding rewrites (addresses, ports,
//!   TTL, MACs, MSS clamp, ICMP embedded headers, VLAN push/pop) that keep
//!   every checksum correct incrementally (RFC 1624).
//! - [`build`]: TCP RST and ICMP / ICMPv6 error messages for `reject` and
//!   TTL expiry.
//!
//! The parser never panics and never reads past the buffer on any input;
//! the property tests and the `parse_frame` fuzz target check this.

pub mod build;
pub mod ethernet;
pub mod icmp;
pub mod ipv4;
pub mod ipv6;
pub mod parse;
pub mod rewrite;
pub mod tcp;
#[cfg(test)]
mod testutil;
pub mod udp;

use xpf_runtime::DropReason;

pub use build::{BuildError, IcmpErrorKind, build_icmp_error, build_tcp_rst};
pub use ethernet::{EtherType, MacAddr};
pub use parse::{
    EmbeddedPacket, IcmpInfo, IcmpKind, L4Info, ParsedFrame, TcpInfo, UdpInfo, parse_frame,
};
pub use rewrite::{
    EmbeddedRewrite, RewriteError, clamp_tcp_mss, decrement_ttl, pop_vlan, push_vlan,
    rewrite_icmp_embedded, set_dst_addr, set_dst_port, set_macs, set_src_addr, set_src_port,
};
pub use tcp::TcpFlags;

/// Why a frame could not be parsed. Each variant is the [`DropReason`] the
/// pipeline counts the drop under (see [`ParseError::drop_reason`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
pub enum ParseError {
    /// Shorter than an Ethernet header, or an 802.3 length field.
    #[error("malformed Ethernet header")]
    MalformedEthernet,
    /// A truncated 802.1Q / 802.1ad tag.
    #[error("malformed VLAN tag")]
    MalformedVlan,
    /// Bad IPv4 version, IHL, total length, options, or truncated header.
    #[error("malformed IPv4 header")]
    MalformedIpv4,
    /// The IPv4 header checksum does not verify.
    #[error("bad IPv4 header checksum")]
    BadIpv4Checksum,
    /// Bad IPv6 version or payload length, or truncated header.
    #[error("malformed IPv6 header")]
    MalformedIpv6,
    /// Truncated, misplaced or too long IPv6 extension-header chain.
    #[error("malformed IPv6 extension header chain")]
    MalformedExtensionHeader,
    /// Truncated TCP header or bad data offset.
    #[error("malformed TCP header")]
    MalformedTcp,
    /// Truncated UDP header or bad length.
    #[error("malformed UDP header")]
    MalformedUdp,
    /// Truncated ICMP / ICMPv6 message or embedded packet.
    #[error("malformed ICMP message")]
    MalformedIcmp,
    /// Not IPv4 or IPv6 (ARP, LLDP, more than two VLAN tags, ...).
    #[error("unsupported ethertype")]
    UnsupportedEthertype,
}

impl ParseError {
    /// The drop reason the pipeline counts this error under.
    pub const fn drop_reason(&self) -> DropReason {
        match self {
            Self::MalformedEthernet => DropReason::MalformedEthernet,
            Self::MalformedVlan => DropReason::MalformedVlan,
            Self::MalformedIpv4 => DropReason::MalformedIpv4,
            Self::BadIpv4Checksum => DropReason::BadIpv4Checksum,
            Self::MalformedIpv6 => DropReason::MalformedIpv6,
            Self::MalformedExtensionHeader => DropReason::MalformedExtensionHeader,
            Self::MalformedTcp => DropReason::MalformedTcp,
            Self::MalformedUdp => DropReason::MalformedUdp,
            Self::MalformedIcmp => DropReason::MalformedIcmp,
            Self::UnsupportedEthertype => DropReason::UnsupportedEthertype,
        }
    }
}

impl From<ParseError> for DropReason {
    fn from(e: ParseError) -> Self {
        e.drop_reason()
    }
}

/// Fragmentation state of an IPv4 packet or of an IPv6 packet with a
/// Fragment header. `Default` is "not a fragment".
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct FragmentInfo {
    /// True for any fragment (offset non-zero or more-fragments set; for
    /// IPv6 also an "atomic" fragment with a Fragment header at offset 0
    /// and M clear).
    pub is_fragment: bool,
    /// Fragment offset in bytes (the header field times 8).
    pub offset: u16,
    /// The more-fragments (MF / M) flag.
    pub more_fragments: bool,
    /// Identification: 16 bits for IPv4, 32 bits for IPv6.
    pub id: u32,
}

impl FragmentInfo {
    /// True for a fragment other than the first: it carries no upper-layer
    /// header.
    pub const fn is_non_first(&self) -> bool {
        self.is_fragment && self.offset != 0
    }

    /// True for the first fragment of a fragmented packet (offset zero).
    pub const fn is_first(&self) -> bool {
        self.is_fragment && self.offset == 0
    }
}

/// Reads a big-endian `u16` at `at`. Callers have checked the length.
#[inline]
pub(crate) fn be16(buf: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([buf[at], buf[at + 1]])
}

/// Reads a big-endian `u32` at `at`. Callers have checked the length.
#[inline]
pub(crate) fn be32(buf: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([buf[at], buf[at + 1], buf[at + 2], buf[at + 3]])
}

/// Writes a big-endian `u16` at `at`. Callers have checked the length.
#[inline]
pub(crate) fn put16(buf: &mut [u8], at: usize, value: u16) {
    buf[at..at + 2].copy_from_slice(&value.to_be_bytes());
}

/// Writes a big-endian `u32` at `at`. Callers have checked the length.
#[inline]
pub(crate) fn put32(buf: &mut [u8], at: usize, value: u32) {
    buf[at..at + 4].copy_from_slice(&value.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_parse_error_maps_to_the_drop_reason_of_the_same_name() {
        let all = [
            ParseError::MalformedEthernet,
            ParseError::MalformedVlan,
            ParseError::MalformedIpv4,
            ParseError::BadIpv4Checksum,
            ParseError::MalformedIpv6,
            ParseError::MalformedExtensionHeader,
            ParseError::MalformedTcp,
            ParseError::MalformedUdp,
            ParseError::MalformedIcmp,
            ParseError::UnsupportedEthertype,
        ];
        for e in all {
            assert_eq!(format!("{e:?}"), format!("{:?}", e.drop_reason()));
            assert_eq!(DropReason::from(e), e.drop_reason());
        }
    }

    #[test]
    fn fragment_info_tells_first_from_non_first() {
        let none = FragmentInfo::default();
        assert!(!none.is_first() && !none.is_non_first());
        let first = FragmentInfo {
            is_fragment: true,
            offset: 0,
            more_fragments: true,
            id: 1,
        };
        assert!(first.is_first() && !first.is_non_first());
        let later = FragmentInfo {
            offset: 1480,
            more_fragments: false,
            ..first
        };
        assert!(later.is_non_first() && !later.is_first());
    }
}
