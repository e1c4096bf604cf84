//! The address-family abstraction every LPM structure is written against.
//!
//! [`Prefix`] is implemented for [`Ipv4Net`] and [`Ipv6Net`] only (the trait
//! is sealed). It exposes a prefix as *left-aligned bits plus a length*, over
//! an unsigned integer [`Bits`] type (`u32` or `u128`) whose most significant
//! bit is the first bit of the address. Every structure walks addresses in
//! that order, so a structure is written once and serves both families.
//!
//! [`FxBuildHasher`] is the small multiply-rotate hasher the hash-based
//! structures use for integer keys (the standard SipHash is several times
//! slower on a 4- or 16-byte key and its DoS resistance buys nothing here:
//! keys come from the operator's configuration, not from packets).

use ipnet::{Ipv4Net, Ipv6Net};
use std::fmt::Debug;
use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::net::{Ipv4Addr, Ipv6Addr};

mod sealed {
    pub trait Sealed {}
    impl Sealed for ipnet::Ipv4Net {}
    impl Sealed for ipnet::Ipv6Net {}
    impl Sealed for u32 {}
    impl Sealed for u128 {}
}

/// An address as an unsigned integer, most significant bit first.
pub trait Bits: sealed::Sealed + Copy + Eq + Ord + Hash + Debug + Send + Sync + 'static {
    /// Width in bits (32 or 128).
    const WIDTH: u8;
    /// All bits clear.
    const ZERO: Self;

    /// Keeps the first `len` bits and clears the rest (`len` ≤ `WIDTH`).
    fn keep(self, len: u8) -> Self;

    /// Bit `index` counted from the most significant bit (`index` < `WIDTH`).
    fn bit(self, index: u8) -> bool;

    /// The `width` bits starting `offset` bits from the most significant bit,
    /// as a small integer (`width` ≤ 16, `offset + width` ≤ `WIDTH`).
    fn chunk(self, offset: u8, width: u8) -> usize;

    /// Sets the bits `[offset, offset + width)` to `value` (which must fit).
    fn with_chunk(self, offset: u8, width: u8, value: usize) -> Self;

    /// The last address covered by a prefix whose first address is `self`.
    fn last_of(self, len: u8) -> Self;

    /// The next address, or `None` at the top of the address space.
    fn successor(self) -> Option<Self>;
}

macro_rules! impl_bits {
    ($t:ty, $width:expr) => {
        impl Bits for $t {
            const WIDTH: u8 = $width;
            const ZERO: Self = 0;

            #[inline]
            fn keep(self, len: u8) -> Self {
                if len == 0 {
                    0
                } else {
                    self & (<$t>::MAX << ($width - u32::from(len)))
                }
            }

            #[inline]
            fn bit(self, index: u8) -> bool {
                (self >> ($width - 1 - u32::from(index))) & 1 == 1
            }

            #[inline]
            fn chunk(self, offset: u8, width: u8) -> usize {
                let shift = $width - u32::from(offset) - u32::from(width);
                ((self >> shift) & ((1 << width) - 1)) as usize
            }

            #[inline]
            fn with_chunk(self, offset: u8, width: u8, value: usize) -> Self {
                let shift = $width - u32::from(offset) - u32::from(width);
                let mask: $t = ((1 << width) - 1) << shift;
                (self & !mask) | (((value as $t) << shift) & mask)
            }

            #[inline]
            fn last_of(self, len: u8) -> Self {
                if len == 0 {
                    <$t>::MAX
                } else {
                    self | !(<$t>::MAX << ($width - u32::from(len)))
                }
            }

            #[inline]
            fn successor(self) -> Option<Self> {
                self.checked_add(1)
            }
        }
    };
}

impl_bits!(u32, 32);
impl_bits!(u128, 128);

/// A prefix of one address family: left-aligned network bits and a length.
pub trait Prefix: sealed::Sealed + Copy + Eq + Ord + Hash + Debug + Send + Sync + 'static {
    /// The address type (`Ipv4Addr` or `Ipv6Addr`).
    type Addr: Copy + Eq + Debug;
    /// The integer form of an address.
    type Bits: Bits;

    /// The address as bits.
    fn addr_bits(addr: Self::Addr) -> Self::Bits;

    /// The address with these bits.
    fn bits_addr(bits: Self::Bits) -> Self::Addr;

    /// Builds a prefix from bits (host bits are cleared) and a length ≤ `WIDTH`.
    fn from_bits(bits: Self::Bits, len: u8) -> Self;

    /// The network bits (host bits clear).
    fn network_bits(&self) -> Self::Bits;

    /// The prefix length.
    fn length(&self) -> u8;

    /// The same prefix with its host bits cleared (`10.1.2.3/8` → `10.0.0.0/8`).
    fn normalised(self) -> Self {
        Self::from_bits(self.network_bits(), self.length())
    }

    /// True when `addr` lies inside the prefix.
    #[inline]
    fn covers(&self, addr: Self::Addr) -> bool {
        Self::addr_bits(addr).keep(self.length()) == self.network_bits()
    }
}

impl Prefix for Ipv4Net {
    type Addr = Ipv4Addr;
    type Bits = u32;

    #[inline]
    fn addr_bits(addr: Ipv4Addr) -> u32 {
        u32::from(addr)
    }

    #[inline]
    fn bits_addr(bits: u32) -> Ipv4Addr {
        Ipv4Addr::from(bits)
    }

    fn from_bits(bits: u32, len: u8) -> Self {
        let len = len.min(32);
        Ipv4Net::new(Ipv4Addr::from(bits.keep(len)), len).unwrap_or_default()
    }

    #[inline]
    fn network_bits(&self) -> u32 {
        u32::from(self.network())
    }

    #[inline]
    fn length(&self) -> u8 {
        self.prefix_len()
    }
}

impl Prefix for Ipv6Net {
    type Addr = Ipv6Addr;
    type Bits = u128;

    #[inline]
    fn addr_bits(addr: Ipv6Addr) -> u128 {
        u128::from(addr)
    }

    #[inline]
    fn bits_addr(bits: u128) -> Ipv6Addr {
        Ipv6Addr::from(bits)
    }

    fn from_bits(bits: u128, len: u8) -> Self {
        let len = len.min(128);
        Ipv6Net::new(Ipv6Addr::from(bits.keep(len)), len).unwrap_or_default()
    }

    #[inline]
    fn network_bits(&self) -> u128 {
        u128::from(self.network())
    }

    #[inline]
    fn length(&self) -> u8 {
        self.prefix_len()
    }
}

/// The operations every longest-prefix-match structure in this module offers,
/// so benchmarks and property tests can drive them interchangeably.
///
/// Prefixes are normalised on the way in: inserting `10.1.2.3/8` stores and
/// later reports `10.0.0.0/8`.
pub trait LongestPrefixMatch<P: Prefix, V> {
    /// Inserts or replaces; returns the previous value for this exact prefix.
    fn insert(&mut self, prefix: P, value: V) -> Option<V>;

    /// Removes an exact prefix; returns its value.
    fn remove(&mut self, prefix: &P) -> Option<V>;

    /// The value stored for exactly this prefix.
    fn get(&self, prefix: &P) -> Option<&V>;

    /// The most specific stored prefix covering `addr`, with its value.
    fn longest_match(&self, addr: P::Addr) -> Option<(&P, &V)>;

    /// True when some stored prefix covers `addr` (address-set membership).
    fn contains(&self, addr: P::Addr) -> bool {
        self.longest_match(addr).is_some()
    }

    /// Number of stored prefixes.
    fn len(&self) -> usize;

    /// True when nothing is stored.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A multiply-rotate hasher for integer keys (the rustc "Fx" hash).
#[derive(Clone, Copy, Debug, Default)]
pub struct FxHasher {
    state: u64,
}

const FX_SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl FxHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.state = (self.state.rotate_left(5) ^ word).wrapping_mul(FX_SEED);
    }
}

impl Hasher for FxHasher {
    /// The multiply leaves the low bits of the state depending only on the
    /// low bits of the key, and masked prefixes have *zero* low bits, while
    /// `HashMap` picks buckets from the low bits: rotate the well-mixed high
    /// bits down (as rustc-hash 2 does).
    #[inline]
    fn finish(&self) -> u64 {
        self.state.rotate_left(26)
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.add(u64::from_le_bytes(w));
        }
        for &b in chunks.remainder() {
            self.add(u64::from(b));
        }
    }

    #[inline]
    fn write_u8(&mut self, n: u8) {
        self.add(u64::from(n));
    }

    #[inline]
    fn write_u16(&mut self, n: u16) {
        self.add(u64::from(n));
    }

    #[inline]
    fn write_u32(&mut self, n: u32) {
        self.add(u64::from(n));
    }

    #[inline]
    fn write_u64(&mut self, n: u64) {
        self.add(n);
    }

    #[inline]
    fn write_u128(&mut self, n: u128) {
        self.add(n as u64);
        self.add((n >> 64) as u64);
    }

    #[inline]
    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }
}

/// `BuildHasher` for [`FxHasher`].
pub type FxBuildHasher = BuildHasherDefault<FxHasher>;

/// A `HashMap` using [`FxHasher`].
pub type FxHashMap<K, V> = std::collections::HashMap<K, V, FxBuildHasher>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bits_helpers_agree_with_ipnet() {
        let p: Ipv4Net = "10.1.2.3/12".parse().unwrap();
        assert_eq!(p.normalised(), "10.0.0.0/12".parse::<Ipv4Net>().unwrap());
        assert!(p.covers(Ipv4Addr::new(10, 15, 255, 255)));
        assert!(!p.covers(Ipv4Addr::new(10, 16, 0, 0)));
        assert_eq!(0x0a01_0203u32.chunk(8, 8), 1);
        assert_eq!(0x0a01_0203u32.with_chunk(8, 8, 0xff), 0x0aff_0203);
        assert_eq!(0x0a00_0000u32.last_of(8), 0x0aff_ffff);
        assert!(0x8000_0000u32.bit(0));
        assert_eq!(u128::MAX.keep(0), 0);
        assert_eq!(u128::MAX.keep(128), u128::MAX);
        assert_eq!(0u128.last_of(0), u128::MAX);
    }
}
