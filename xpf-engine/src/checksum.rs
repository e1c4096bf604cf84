//! The Internet checksum (RFC 1071): full computation, verification and
//! incremental update (RFC 1624).
//!
//! # Model
//!
//! The Internet checksum is the ones'-complement of the ones'-complement sum
//! of the covered data taken as big-endian 16-bit words (an odd trailing byte
//! is padded with a zero byte). Everything here works on an *accumulator*: a
//! `u32` that is congruent to the ones'-complement sum modulo `0xffff`
//! (`2^16 ≡ 1`, so carries may be folded back in at any time). Accumulators
//! from separately summed pieces (a pseudo-header, a header, a payload) can be
//! added as plain integers, provided every piece but the last has an even
//! length, and are turned into a checksum with [`finish`] (= `!fold(sum)`).
//!
//! - Full computation: [`ones_complement_sum`], [`fold`], [`finish`],
//!   [`checksum`], and the per-protocol helpers [`ipv4_header_checksum`],
//!   [`tcp_checksum`], [`udp_checksum`], [`icmpv4_checksum`],
//!   [`icmpv6_checksum`] over the [`pseudo_header_sum`] of RFC 793 / RFC 768 /
//!   RFC 8200 §8.1. Each helper ignores the checksum field already in the
//!   buffer (it sums the field as zero), so it can be used both to fill in a
//!   checksum and to recompute one for comparison.
//! - Verification: [`verify`] (the sum over the data *including* its checksum
//!   folds to `0xffff`), [`verify_ipv4_header`], [`verify_transport`],
//!   [`verify_udp`].
//! - Incremental update (RFC 1624 eqn. 3, `HC' = ~(~HC + ~m + m')`):
//!   [`update16`], [`update32`], [`update_bytes`], [`update_addr`], and
//!   [`update_udp`] for the UDP zero-checksum rules.
//!
//! # UDP
//!
//! A transmitted UDP checksum of `0x0000` means "no checksum" in IPv4
//! (RFC 768) and is invalid in IPv6 (RFC 8200 §8.1). A *computed* checksum of
//! zero is therefore sent as `0xffff` (its ones'-complement equivalent);
//! [`udp_checksum`] does this. When a header is rewritten, an IPv4 UDP
//! checksum of zero must stay zero (the sender chose not to checksum);
//! [`update_udp`] does this.

use std::net::{IpAddr, Ipv6Addr};

/// The IP protocol number of TCP, as used in the pseudo-header.
const PROTO_TCP: u8 = 6;
/// The IP protocol number of UDP, as used in the pseudo-header.
const PROTO_UDP: u8 = 17;
/// The IPv6 next-header value of ICMPv6, as used in the pseudo-header.
const PROTO_ICMPV6: u8 = 58;

/// Offset of the checksum field in an IPv4 header.
const IPV4_CHECKSUM_AT: usize = 10;
/// Offset of the checksum field in a TCP header.
const TCP_CHECKSUM_AT: usize = 16;
/// Offset of the checksum field in a UDP header.
const UDP_CHECKSUM_AT: usize = 6;
/// Offset of the checksum field in an ICMP or ICMPv6 header.
const ICMP_CHECKSUM_AT: usize = 2;

/// Adds `data`, taken as big-endian 16-bit words starting at an even offset,
/// to the accumulator `initial` and returns the new accumulator.
///
/// An odd trailing byte is treated as the high byte of a final word (padded
/// with zero), so when summing a message in pieces every piece but the last
/// must have an even length. The result is the ones'-complement sum, folded
/// to 16 bits but returned as a `u32` so that sums of pieces can be added
/// (thousands of them) without overflow; turn such an addition back into 16
/// bits with [`fold`] and into a checksum with [`finish`].
#[inline]
pub fn ones_complement_sum(data: &[u8], initial: u32) -> u32 {
    // 32-bit big-endian words into a 64-bit accumulator: a 32-bit word
    // `hi * 2^16 + lo` is congruent to `hi + lo` modulo 0xffff, so summing
    // wider words is the same sum, in half the additions.
    let mut acc = u64::from(initial);
    let mut words = data.chunks_exact(4);
    for word in &mut words {
        acc += u64::from(u32::from_be_bytes([word[0], word[1], word[2], word[3]]));
    }
    let rest = words.remainder();
    let mut pairs = rest.chunks_exact(2);
    for pair in &mut pairs {
        acc += u64::from(u16::from_be_bytes([pair[0], pair[1]]));
    }
    if let [last] = pairs.remainder() {
        acc += u64::from(u16::from_be_bytes([*last, 0]));
    }
    // Fold to 16 bits, so that callers can add a few sums (pseudo-header,
    // header, deltas) as plain `u32`s without overflow. Every step keeps
    // the value congruent modulo 0xffff (2^16 and 2^32 are 1 modulo
    // 0xffff) and non-zero unless it was zero; these four reach
    // `0..=0xffff` from any `u64` (at most 2^33 - 2, then 0x1fffe + 0xffff,
    // then 0xffff + 2, then 0xffff), where the result is unique: the same
    // value as folding 16 bits at a time until it fits, without the loop.
    acc = (acc & 0xffff_ffff) + (acc >> 32);
    acc = (acc & 0xffff) + (acc >> 16);
    acc = (acc & 0xffff) + (acc >> 16);
    acc = (acc & 0xffff) + (acc >> 16);
    acc as u32
}

/// Folds an accumulator into a 16-bit ones'-complement sum (end-around
/// carry). The result is zero only if `sum` is zero.
#[inline]
pub fn fold(sum: u32) -> u16 {
    // Two end-around-carry steps reach `0..=0xffff` from any `u32` (the
    // first leaves at most `0x1fffe`, the second at most `0xffff`), and a
    // step is the identity on a value already in range: the same result
    // as folding until it fits, without the loop.
    let sum = (sum & 0xffff) + (sum >> 16);
    ((sum & 0xffff) + (sum >> 16)) as u16
}

/// Turns an accumulator into the checksum to transmit: `!fold(sum)`.
pub fn finish(sum: u32) -> u16 {
    !fold(sum)
}

/// The Internet checksum of `data` (RFC 1071), with nothing treated
/// specially: use it on data whose checksum field is zero.
pub fn checksum(data: &[u8]) -> u16 {
    finish(ones_complement_sum(data, 0))
}

/// True if `data`, which includes its checksum field, sums (with the
/// accumulator `initial`, e.g. a pseudo-header) to `0xffff`: the checksum is
/// correct.
pub fn verify(data: &[u8], initial: u32) -> bool {
    fold(ones_complement_sum(data, initial)) == 0xffff
}

/// Sums `data` as if the 16-bit field at `field_at` (an even offset) were
/// zero. Bytes past the end of `data` do not exist and are not summed.
fn sum_without_field(data: &[u8], field_at: usize, initial: u32) -> u32 {
    match (data.get(..field_at), data.get(field_at + 2..)) {
        (Some(before), Some(after)) => {
            ones_complement_sum(after, ones_complement_sum(before, initial))
        }
        // The field is (partly) missing: everything before it is summed.
        (Some(before), None) => ones_complement_sum(before, initial),
        (None, _) => ones_complement_sum(data, initial),
    }
}

/// The accumulator of one address's bytes.
fn addr_sum(addr: IpAddr, initial: u32) -> u32 {
    match addr {
        IpAddr::V4(a) => ones_complement_sum(&a.octets(), initial),
        IpAddr::V6(a) => ones_complement_sum(&a.octets(), initial),
    }
}

/// The accumulator of the pseudo-header for an upper-layer checksum.
///
/// IPv4 (RFC 793 §3.1, RFC 768): source, destination, zero, protocol,
/// 16-bit upper-layer length. IPv6 (RFC 8200 §8.1): source, destination,
/// 32-bit upper-layer length, three zero bytes, next header. Both lay out to
/// the same ones'-complement sum — the address words, the two halves of the
/// length, and the protocol — so one function serves both families.
pub fn pseudo_header_sum(src: IpAddr, dst: IpAddr, protocol: u8, length: u32) -> u32 {
    let sum = addr_sum(dst, addr_sum(src, 0));
    sum + (length >> 16) + (length & 0xffff) + u32::from(protocol)
}

/// The IPv4 header checksum of `header` (the whole header, options
/// included), ignoring the checksum field currently in it.
pub fn ipv4_header_checksum(header: &[u8]) -> u16 {
    finish(sum_without_field(header, IPV4_CHECKSUM_AT, 0))
}

/// True if the IPv4 header checksum of `header` (options included) is
/// correct.
pub fn verify_ipv4_header(header: &[u8]) -> bool {
    verify(header, 0)
}

/// [`verify_ipv4_header`] for a header without options (20 bytes), in
/// straight-line code: the ten big-endian words summed as a `u32` (at most
/// 10 · 0xffff, no overflow) and folded, the same sum and the same test.
#[inline(always)]
pub(crate) fn verify_ipv4_header20(h: &[u8; 20]) -> bool {
    let mut sum = 0u32;
    let mut at = 0;
    while at < 20 {
        sum += u32::from(u16::from_be_bytes([h[at], h[at + 1]]));
        at += 2;
    }
    fold(sum) == 0xffff
}

/// The TCP checksum of `segment` (header and payload) between `src` and
/// `dst`, ignoring the checksum field currently in it.
pub fn tcp_checksum(src: IpAddr, dst: IpAddr, segment: &[u8]) -> u16 {
    let pseudo = pseudo_header_sum(src, dst, PROTO_TCP, segment.len() as u32);
    finish(sum_without_field(segment, TCP_CHECKSUM_AT, pseudo))
}

/// The UDP checksum of `datagram` (header and payload) between `src` and
/// `dst`, ignoring the checksum field currently in it. A computed zero is
/// returned as `0xffff`, the value to transmit (RFC 768).
pub fn udp_checksum(src: IpAddr, dst: IpAddr, datagram: &[u8]) -> u16 {
    let pseudo = pseudo_header_sum(src, dst, PROTO_UDP, datagram.len() as u32);
    match finish(sum_without_field(datagram, UDP_CHECKSUM_AT, pseudo)) {
        0 => 0xffff,
        sum => sum,
    }
}

/// The ICMP (IPv4) checksum of `message` (header and data), ignoring the
/// checksum field currently in it. ICMPv4 has no pseudo-header.
pub fn icmpv4_checksum(message: &[u8]) -> u16 {
    finish(sum_without_field(message, ICMP_CHECKSUM_AT, 0))
}

/// The ICMPv6 checksum of `message` between `src` and `dst` (RFC 4443 §2.3,
/// with the IPv6 pseudo-header), ignoring the checksum field currently in
/// it.
pub fn icmpv6_checksum(src: Ipv6Addr, dst: Ipv6Addr, message: &[u8]) -> u16 {
    let pseudo = pseudo_header_sum(
        IpAddr::V6(src),
        IpAddr::V6(dst),
        PROTO_ICMPV6,
        message.len() as u32,
    );
    finish(sum_without_field(message, ICMP_CHECKSUM_AT, pseudo))
}

/// True if the upper-layer checksum in `segment` (TCP, UDP with a non-zero
/// checksum, or ICMPv6) is correct for the pseudo-header of `src`, `dst` and
/// `protocol`. Use [`verify_udp`] for UDP, which knows the zero rule.
pub fn verify_transport(src: IpAddr, dst: IpAddr, protocol: u8, segment: &[u8]) -> bool {
    let pseudo = pseudo_header_sum(src, dst, protocol, segment.len() as u32);
    verify(segment, pseudo)
}

/// True if the UDP checksum of `datagram` is acceptable: zero ("none") is
/// accepted for IPv4 and rejected for IPv6; otherwise it must verify.
pub fn verify_udp(src: IpAddr, dst: IpAddr, datagram: &[u8]) -> bool {
    let field = datagram
        .get(UDP_CHECKSUM_AT..UDP_CHECKSUM_AT + 2)
        .map(|f| u16::from_be_bytes([f[0], f[1]]));
    match field {
        Some(0) => src.is_ipv4() && dst.is_ipv4(),
        Some(_) => verify_transport(src, dst, PROTO_UDP, datagram),
        None => false,
    }
}

/// RFC 1624 eqn. 3 with a precomputed change: `~(~HC + delta)`, where
/// `delta` is the accumulator of `~m + m'`.
#[inline]
fn apply_delta(old_csum: u16, delta: u32) -> u16 {
    !fold(u32::from(!old_csum) + delta)
}

/// The accumulator `~old + new` of replacing the bytes `old` with `new`
/// (both starting at an even offset of the checksummed data).
pub(crate) fn replacement_delta(old: &[u8], new: &[u8]) -> u32 {
    u32::from(!fold(ones_complement_sum(old, 0))) + ones_complement_sum(new, 0)
}

/// Applies an accumulated change (see [`replacement_delta`]) to a checksum.
#[inline]
pub(crate) fn update_with_delta(old_csum: u16, delta: u32) -> u16 {
    apply_delta(old_csum, delta)
}

/// The checksum after one 16-bit word covered by `old_csum` changed from
/// `old` to `new` (RFC 1624 eqn. 3).
pub fn update16(old_csum: u16, old: u16, new: u16) -> u16 {
    apply_delta(old_csum, u32::from(!old) + u32::from(new))
}

/// The checksum after a 32-bit field (at an even offset) covered by
/// `old_csum` changed from `old` to `new`.
pub fn update32(old_csum: u16, old: u32, new: u32) -> u16 {
    update_bytes(old_csum, &old.to_be_bytes(), &new.to_be_bytes())
}

/// The checksum after the bytes `old`, starting at an even offset of the
/// covered data, were replaced by `new`. Both are summed as they are, so
/// they are normally of equal length.
pub fn update_bytes(old_csum: u16, old: &[u8], new: &[u8]) -> u16 {
    apply_delta(old_csum, replacement_delta(old, new))
}

/// The checksum after an address covered by `old_csum` (in a header, or in
/// a pseudo-header) changed from `old` to `new`: 4-byte IPv4 or 16-byte
/// IPv6 addresses.
pub fn update_addr(old_csum: u16, old: IpAddr, new: IpAddr) -> u16 {
    apply_delta(
        old_csum,
        u32::from(!fold(addr_sum(old, 0))) + addr_sum(new, 0),
    )
}

/// Incremental update of a UDP checksum field with the UDP rules: an IPv4
/// checksum of zero ("none") stays zero, and an updated checksum that comes
/// out as zero is sent as `0xffff`. `update` computes the plain RFC 1624
/// update (e.g. `|c| update_addr(c, old, new)`).
pub fn update_udp(old_csum: u16, ipv4: bool, update: impl FnOnce(u16) -> u16) -> u16 {
    if ipv4 && old_csum == 0 {
        return 0;
    }
    match update(old_csum) {
        0 => 0xffff,
        csum => csum,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    /// RFC 1071 §3 worked example: the bytes `00 01 f2 03 f4 f5 f6 f7` sum
    /// to `0x2ddf0`, which folds to `0xddf2`; the checksum is `!0xddf2`.
    const RFC1071_BYTES: [u8; 8] = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];

    /// A textbook IPv4 header (20 bytes: 192.168.0.1 → 192.168.0.199, UDP,
    /// TTL 64, DF, total length 0x73) whose checksum is `0xb861` (bytes
    /// 10..12). Widely used as the worked example of the header checksum.
    const IPV4_HEADER: [u8; 20] = [
        0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0xb8, 0x61, 0xc0, 0xa8, 0x00,
        0x01, 0xc0, 0xa8, 0x00, 0xc7,
    ];

    #[test]
    fn rfc1071_example_sums_folds_and_complements() {
        assert_eq!(ones_complement_sum(&RFC1071_BYTES, 0), 0xddf2);
        assert_eq!(fold(0x0002_ddf0), 0xddf2);
        assert_eq!(fold(ones_complement_sum(&RFC1071_BYTES, 0)), 0xddf2);
        assert_eq!(checksum(&RFC1071_BYTES), !0xddf2);
    }

    #[test]
    fn odd_length_pads_the_last_byte_as_a_high_byte() {
        // [0x12, 0x34, 0x56] sums as 0x1234 + 0x5600.
        assert_eq!(fold(ones_complement_sum(&[0x12, 0x34, 0x56], 0)), 0x6834);
    }

    #[test]
    fn sum_is_independent_of_the_word_width_used_internally() {
        // Compare with a naive 16-bit word loop on lengths 0..40.
        let data: Vec<u8> = (0..40u8)
            .map(|i| i.wrapping_mul(37).wrapping_add(200))
            .collect();
        for len in 0..data.len() {
            let slice = &data[..len];
            let mut naive: u32 = 0;
            for pair in slice.chunks(2) {
                let hi = u32::from(pair[0]) << 8;
                let lo = pair.get(1).map_or(0, |b| u32::from(*b));
                naive += hi | lo;
            }
            assert_eq!(
                fold(ones_complement_sum(slice, 0)),
                fold(naive),
                "len {len}"
            );
        }
    }

    #[test]
    fn large_inputs_do_not_overflow_the_accumulator() {
        let data = vec![0xffu8; 200_000];
        // Sum of 0xffff words is 0xffff in ones'-complement arithmetic.
        assert_eq!(fold(ones_complement_sum(&data, u32::MAX)), 0xffff);
    }

    #[test]
    fn all_ones_addresses_and_lengths_do_not_overflow() {
        let ones = IpAddr::V6(Ipv6Addr::from([0xff; 16]));
        let sum = pseudo_header_sum(ones, ones, 0xff, u32::MAX);
        assert_eq!(fold(sum), fold(ones_complement_sum(&[0xff; 40], 0xff)));
        // Replacing bytes by themselves leaves a checksum unchanged.
        assert_eq!(update_addr(0x1234, ones, ones), 0x1234);
        assert_eq!(update_bytes(0x1234, &[0xff; 64], &[0xff; 64]), 0x1234);
    }

    #[test]
    fn fold_is_zero_only_for_zero() {
        assert_eq!(fold(0), 0);
        assert_eq!(fold(0xffff), 0xffff);
        assert_eq!(fold(0x1_0000), 1);
        assert_eq!(fold(u32::MAX), 0xffff);
    }

    /// The folding loop `fold` and `ones_complement_sum` used to run.
    fn fold_by_loop(mut acc: u64) -> u64 {
        while acc > 0xffff {
            acc = (acc & 0xffff) + (acc >> 16);
        }
        acc
    }

    #[test]
    fn straight_line_folds_equal_the_folding_loop() {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let edges = [
            0,
            1,
            0xfffe,
            0xffff,
            0x1_0000,
            0x1_fffe,
            0xffff_ffff,
            u64::MAX,
        ];
        for i in 0..200_000u64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // Wide and narrow values, multiples of 0xffff and the edges.
            let v = match i % 4 {
                0 => x,
                1 => x >> (x % 64),
                2 => (x % 0x1_0000_0000) / 0xffff * 0xffff,
                _ => edges[(x % edges.len() as u64) as usize],
            };
            assert_eq!(u64::from(fold(v as u32)), fold_by_loop(u64::from(v as u32)));
            let bytes = v.to_be_bytes();
            let folded = fold_by_loop(
                u64::from(u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
                    + u64::from(u32::from_be_bytes([bytes[4], bytes[5], bytes[6], bytes[7]])),
            );
            assert_eq!(u64::from(ones_complement_sum(&bytes, 0)), folded);
        }
    }

    #[test]
    fn twenty_byte_header_verification_agrees_with_the_general_one() {
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let mut accepted = 0;
        for i in 0..100_000u32 {
            let mut h = IPV4_HEADER;
            for b in h.iter_mut() {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                *b = x as u8;
            }
            // Every other header gets a correct checksum, some of them with
            // the other representation of zero in the field.
            if i % 2 == 0 {
                let c = ipv4_header_checksum(&h);
                h[10..12].copy_from_slice(&c.to_be_bytes());
                if i % 6 == 0 && h[10..12] == [0xff, 0xff] {
                    h[10..12].copy_from_slice(&[0, 0]);
                }
            }
            assert_eq!(verify_ipv4_header20(&h), verify_ipv4_header(&h), "{h:02x?}");
            accepted += usize::from(verify_ipv4_header(&h));
        }
        assert!(accepted > 40_000, "{accepted}");
        assert!(verify_ipv4_header20(&IPV4_HEADER));
    }

    #[test]
    fn ipv4_header_checksum_matches_the_textbook_header() {
        assert_eq!(ipv4_header_checksum(&IPV4_HEADER), 0xb861);
        assert!(verify_ipv4_header(&IPV4_HEADER));
        let mut bad = IPV4_HEADER;
        bad[8] = 0x3f; // TTL 63 without fixing the checksum
        assert!(!verify_ipv4_header(&bad));
    }

    #[test]
    fn ipv4_header_checksum_of_a_short_buffer_does_not_panic() {
        for len in 0..IPV4_HEADER.len() {
            let _ = ipv4_header_checksum(&IPV4_HEADER[..len]);
        }
    }

    #[test]
    fn rfc1624_example_gives_zero_not_ffff() {
        // RFC 1624 §4: HC = 0xdd2f, m = 0x5555 → m' = 0x3285; eqn. 3 gives
        // 0x0000 where the flawed eqn. 2 of RFC 1141 gave 0xffff.
        assert_eq!(update16(0xdd2f, 0x5555, 0x3285), 0x0000);
    }

    #[test]
    fn update16_agrees_with_recomputation_on_a_ttl_decrement() {
        let mut header = IPV4_HEADER;
        let old_word = u16::from_be_bytes([header[8], header[9]]);
        header[8] -= 1;
        let new_word = u16::from_be_bytes([header[8], header[9]]);
        let updated = update16(0xb861, old_word, new_word);
        assert_eq!(updated, ipv4_header_checksum(&header));
    }

    #[test]
    fn update_addr_agrees_with_recomputation_for_ipv4_source_rewrite() {
        let mut header = IPV4_HEADER;
        let old = Ipv4Addr::new(192, 168, 0, 1);
        let new = Ipv4Addr::new(198, 18, 7, 9);
        header[12..16].copy_from_slice(&new.octets());
        let updated = update_addr(0xb861, old.into(), new.into());
        assert_eq!(updated, ipv4_header_checksum(&header));
        assert_eq!(
            update32(0xb861, u32::from(old), u32::from(new)),
            ipv4_header_checksum(&header)
        );
    }

    /// A UDP datagram 198.18.0.1:1000 → 198.18.0.2:53 with payload "abc",
    /// its checksum filled by [`udp_checksum`].
    fn udp_v4() -> (IpAddr, IpAddr, Vec<u8>) {
        let src = IpAddr::V4(Ipv4Addr::new(198, 18, 0, 1));
        let dst = IpAddr::V4(Ipv4Addr::new(198, 18, 0, 2));
        // ports 1000 → 53, length 11, checksum 0 (filled below), "abc"
        let mut d = vec![
            0x03, 0xe8, 0x00, 0x35, 0x00, 0x0b, 0x00, 0x00, b'a', b'b', b'c',
        ];
        let c = udp_checksum(src, dst, &d);
        d[6..8].copy_from_slice(&c.to_be_bytes());
        (src, dst, d)
    }

    #[test]
    fn udp_checksum_verifies_and_is_order_independent_of_the_field() {
        let (src, dst, d) = udp_v4();
        assert!(verify_udp(src, dst, &d));
        // Recomputing ignores the field that is already filled in.
        assert_eq!(udp_checksum(src, dst, &d), u16::from_be_bytes([d[6], d[7]]));
    }

    #[test]
    fn udp_zero_checksum_is_none_in_ipv4_and_invalid_in_ipv6() {
        let (src, dst, mut d) = udp_v4();
        d[6..8].copy_from_slice(&[0, 0]);
        assert!(verify_udp(src, dst, &d));
        let v6a = IpAddr::V6("2001:db8::1".parse().unwrap());
        let v6b = IpAddr::V6("2001:db8::2".parse().unwrap());
        assert!(!verify_udp(v6a, v6b, &d));
    }

    #[test]
    fn udp_update_keeps_ipv4_zero_checksum_zero() {
        let old = IpAddr::V4(Ipv4Addr::new(198, 18, 0, 1));
        let new = IpAddr::V4(Ipv4Addr::new(198, 19, 0, 1));
        assert_eq!(update_udp(0, true, |c| update_addr(c, old, new)), 0);
    }

    #[test]
    fn udp_update_sends_a_computed_zero_as_ffff() {
        // The RFC 1624 example update yields 0x0000; UDP must send 0xffff.
        assert_eq!(
            update_udp(0xdd2f, true, |c| update16(c, 0x5555, 0x3285)),
            0xffff
        );
        assert_eq!(
            update_udp(0xdd2f, false, |c| update16(c, 0x5555, 0x3285)),
            0xffff
        );
    }

    #[test]
    fn udp_checksum_computing_zero_is_sent_as_ffff() {
        // Find a payload word that makes the sum come out to exactly 0xffff
        // (checksum 0): choose the last word as the complement of the rest.
        let src = IpAddr::V4(Ipv4Addr::new(198, 18, 0, 1));
        let dst = IpAddr::V4(Ipv4Addr::new(198, 18, 0, 2));
        let mut d = vec![0x03, 0xe8, 0x00, 0x35, 0x00, 0x0a, 0x00, 0x00, 0x00, 0x00];
        let partial = fold(ones_complement_sum(&d, pseudo_header_sum(src, dst, 17, 10)));
        d[8..10].copy_from_slice(&(!partial).to_be_bytes());
        assert_eq!(udp_checksum(src, dst, &d), 0xffff);
    }

    #[test]
    fn pseudo_header_sum_matches_the_explicit_ipv6_layout() {
        let src: Ipv6Addr = "2001:db8::1".parse().unwrap();
        let dst: Ipv6Addr = "2001:db8:1::ff".parse().unwrap();
        // RFC 8200 §8.1 layout: src, dst, 32-bit length, 3 zero bytes, next header.
        let mut explicit = Vec::new();
        explicit.extend_from_slice(&src.octets());
        explicit.extend_from_slice(&dst.octets());
        explicit.extend_from_slice(&70_000u32.to_be_bytes());
        explicit.extend_from_slice(&[0, 0, 0, 58]);
        assert_eq!(
            fold(pseudo_header_sum(src.into(), dst.into(), 58, 70_000)),
            fold(ones_complement_sum(&explicit, 0))
        );
    }

    #[test]
    fn pseudo_header_sum_matches_the_explicit_ipv4_layout() {
        let src = Ipv4Addr::new(198, 18, 0, 1);
        let dst = Ipv4Addr::new(198, 19, 255, 254);
        // RFC 793 layout: src, dst, zero, protocol, 16-bit length.
        let mut explicit = Vec::new();
        explicit.extend_from_slice(&src.octets());
        explicit.extend_from_slice(&dst.octets());
        explicit.extend_from_slice(&[0, 6, 0x05, 0xdc]);
        assert_eq!(
            fold(pseudo_header_sum(src.into(), dst.into(), 6, 1500)),
            fold(ones_complement_sum(&explicit, 0))
        );
    }

    #[test]
    fn icmpv4_checksum_of_an_echo_request_verifies() {
        // Echo request (type 8, code 0), id 0x1234, seq 1, payload "ping".
        let mut m = vec![8, 0, 0, 0, 0x12, 0x34, 0x00, 0x01, b'p', b'i', b'n', b'g'];
        let c = icmpv4_checksum(&m);
        m[2..4].copy_from_slice(&c.to_be_bytes());
        assert!(verify(&m, 0));
        // Changing the identifier incrementally equals recomputing.
        let updated = update16(c, 0x1234, 0xbeef);
        m[4..6].copy_from_slice(&0xbeefu16.to_be_bytes());
        assert_eq!(updated, icmpv4_checksum(&m));
    }

    #[test]
    fn icmpv6_checksum_covers_the_pseudo_header() {
        let src: Ipv6Addr = "2001:db8::1".parse().unwrap();
        let dst: Ipv6Addr = "2001:db8::2".parse().unwrap();
        // Echo request (type 128, code 0), id 7, seq 9.
        let mut m = vec![128, 0, 0, 0, 0, 7, 0, 9];
        let c = icmpv6_checksum(src, dst, &m);
        m[2..4].copy_from_slice(&c.to_be_bytes());
        assert!(verify_transport(src.into(), dst.into(), 58, &m));
        let other: Ipv6Addr = "2001:db8::3".parse().unwrap();
        assert!(!verify_transport(src.into(), other.into(), 58, &m));
        // Address change in the pseudo-header, done incrementally.
        let updated = update_addr(c, dst.into(), other.into());
        assert_eq!(updated, icmpv6_checksum(src, other, &m));
    }

    #[test]
    fn tcp_checksum_ignores_the_field_and_verifies() {
        let src = IpAddr::V4(Ipv4Addr::new(198, 18, 0, 1));
        let dst = IpAddr::V4(Ipv4Addr::new(198, 18, 0, 2));
        // A bare SYN, ports 40000 → 80, seq 1, data offset 5, window 1024;
        // the checksum field holds garbage (0xdead) that must be ignored.
        let mut seg = vec![
            0x9c, 0x40, 0x00, 0x50, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02, 0x04, 0x00, 0xde, 0xad, 0,
            0,
        ];
        let c = tcp_checksum(src, dst, &seg);
        seg[16..18].copy_from_slice(&c.to_be_bytes());
        assert!(verify_transport(src, dst, 6, &seg));
        assert_eq!(tcp_checksum(src, dst, &seg), c);
    }
}
