//! The allocation hash: FNV-1a 64 over a fixed big-endian encoding, then
//! the MurmurHash3 64-bit finaliser.
//!
//! Every backend must pick the same starting point for the same request, so
//! the hash is part of the NAT specification (`docs/nat-allocation.md`):
//!
//! - FNV-1a, 64 bits: `h = 0xcbf29ce484222325`; for each byte `b`:
//!   `h = (h ^ b) * 0x100000001b3` (wrapping, mod 2^64).
//! - Then [`fmix64`]: `h ^= h >> 33; h *= 0xff51afd7ed558ccd; h ^= h >> 33;
//!   h *= 0xc4ceb9fe1a85ec53; h ^= h >> 33`. FNV alone is a poor source for
//!   `h mod n`: multiplication carries only upwards, so the low `k` bits of
//!   an FNV hash depend only on the low `k` bits of every input byte, and a
//!   power-of-two modulus would ignore most of the request. The finaliser
//!   folds the high bits back down.
//! - Addresses are their network-order bytes: 4 for IPv4, 16 for IPv6
//!   (never IPv4-mapped). Ports are 2 bytes big-endian. The protocol is its
//!   1-byte number.
//!
//! Three encodings are hashed, one per decision:
//!
//! | hash (after `fmix64`) | bytes | decides |
//! |---|---|---|
//! | [`flow_hash`] | src ‖ src port ‖ proto ‖ dst ‖ dst port | start slot of a port-overload allocation |
//! | [`endpoint_hash`] | src ‖ src port ‖ proto | start slot of a persistent (endpoint-independent) allocation |
//! | [`host_hash`] | src | the address of a host (address persistence, address-only, portless protocols) |

use std::net::IpAddr;
use xpf_runtime::IpProtocol;

/// FNV-1a 64 offset basis.
pub const FNV_OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;

/// FNV-1a 64 prime.
pub const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// Incremental FNV-1a 64.
#[derive(Clone, Copy, Debug)]
pub struct Fnv1a64(u64);

impl Default for Fnv1a64 {
    fn default() -> Self {
        Self(FNV_OFFSET_BASIS)
    }
}

impl Fnv1a64 {
    /// Feeds bytes in order.
    #[inline]
    pub fn write(mut self, bytes: &[u8]) -> Self {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(FNV_PRIME);
        }
        self
    }

    /// Feeds an address as 4 (IPv4) or 16 (IPv6) network-order bytes.
    #[inline]
    pub fn addr(self, addr: IpAddr) -> Self {
        match addr {
            IpAddr::V4(a) => self.write(&a.octets()),
            IpAddr::V6(a) => self.write(&a.octets()),
        }
    }

    /// Feeds a port as 2 big-endian bytes.
    #[inline]
    pub fn port(self, port: u16) -> Self {
        self.write(&port.to_be_bytes())
    }

    /// Feeds a protocol number as 1 byte.
    #[inline]
    pub fn protocol(self, protocol: IpProtocol) -> Self {
        self.write(&[protocol.0])
    }

    /// The hash value.
    #[inline]
    pub fn finish(self) -> u64 {
        self.0
    }
}

/// The MurmurHash3 64-bit finaliser (`fmix64`).
#[inline]
pub fn fmix64(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

/// FNV-1a 64 of a byte string (without the finaliser).
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    Fnv1a64::default().write(bytes).finish()
}

/// `fmix64(fnv1a64(src ‖ src_port ‖ protocol ‖ dst ‖ dst_port))`.
pub fn flow_hash(
    src: IpAddr,
    src_port: u16,
    protocol: IpProtocol,
    dst: IpAddr,
    dst_port: u16,
) -> u64 {
    fmix64(
        Fnv1a64::default()
            .addr(src)
            .port(src_port)
            .protocol(protocol)
            .addr(dst)
            .port(dst_port)
            .finish(),
    )
}

/// `fmix64(fnv1a64(src ‖ src_port ‖ protocol))`.
pub fn endpoint_hash(src: IpAddr, src_port: u16, protocol: IpProtocol) -> u64 {
    fmix64(
        Fnv1a64::default()
            .addr(src)
            .port(src_port)
            .protocol(protocol)
            .finish(),
    )
}

/// `fmix64(fnv1a64(src))`.
pub fn host_hash(src: IpAddr) -> u64 {
    fmix64(Fnv1a64::default().addr(src).finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a64_matches_published_test_vectors() {
        // From the FNV reference test suite (fnv_test_str / FNV1A_64).
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn encodings_are_the_documented_byte_strings() {
        let src: IpAddr = "198.18.0.10".parse().unwrap();
        let dst: IpAddr = "198.19.0.1".parse().unwrap();
        let bytes = [198, 18, 0, 10, 0x9c, 0x40, 6, 198, 19, 0, 1, 0x01, 0xbb];
        assert_eq!(
            flow_hash(src, 40000, IpProtocol::TCP, dst, 443),
            fmix64(fnv1a64(&bytes))
        );
        assert_eq!(
            endpoint_hash(src, 40000, IpProtocol::TCP),
            fmix64(fnv1a64(&bytes[..7]))
        );
        assert_eq!(host_hash(src), fmix64(fnv1a64(&bytes[..4])));
        let v6: IpAddr = "2001:db8::1".parse().unwrap();
        let mut b6 = [0u8; 16];
        b6[..4].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8]);
        b6[15] = 1;
        assert_eq!(host_hash(v6), fmix64(fnv1a64(&b6)));
    }
}
