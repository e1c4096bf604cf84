//! Seeded folded-multiply hashing for session keys and per-address maps.
//!
//! Session keys arrive at packet rate and are chosen by whoever sends the
//! packets, so the hash must be fast *and* must not let a sender predict
//! which keys collide. SipHash (std's default) is robust but costs ~20 ns
//! per key; FxHash is ~1 ns but unseeded and nearly linear, so colliding
//! tuples are trivial to construct, and the session index (linear probing,
//! see [`super::index`]) degrades badly under clustering.
//!
//! The compromise used here is the *folded multiply* of wyhash / foldhash:
//! `fold(a, b) = lo(a·b) ^ hi(a·b)` over the full 128-bit product, with
//! every input word XORed with a per-table random seed first. Each output
//! bit depends on every input bit, the high and low halves are equally well
//! mixed (hashbrown and our index take bucket bits from different ends),
//! and without the seeds the collision structure is unknown to a sender.
//! It is not a keyed PRF; it is the same strength as `foldhash`/`ahash`'s
//! fallback, which is what std-adjacent hash maps accept for this purpose.
//!
//! Keys are hashed by packing their fields into whole machine words
//! ([`KeyHash`]) rather than through `#[derive(Hash)]`, which would feed the
//! addresses byte-slice by byte-slice with length prefixes.

use std::hash::{BuildHasher, Hasher, RandomState};
use std::net::{Ipv4Addr, Ipv6Addr};
use xpf_runtime::SessionKey;

/// `lo(a·b) ^ hi(a·b)` of the 128-bit product.
#[inline(always)]
fn fold(a: u64, b: u64) -> u64 {
    let p = u128::from(a) * u128::from(b);
    (p as u64) ^ ((p >> 64) as u64)
}

/// An odd constant (from the digits of π) used where a fixed multiplier is
/// needed after the seeded steps.
const MIX: u64 = 0x243f_6a88_85a3_08d3;

/// Per-table random seeds.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Seeds {
    k: [u64; 6],
}

impl Seeds {
    /// Fresh seeds from the process's random hash state (std seeds it from
    /// the OS once per thread and perturbs it for every `RandomState`).
    pub(crate) fn random() -> Self {
        let state = RandomState::new();
        let mut k = [0u64; 6];
        for (i, slot) in k.iter_mut().enumerate() {
            // `hash_one` of distinct inputs under one random SipHash key
            // gives independent-looking words.
            *slot = state.hash_one(i as u64 ^ 0x9e37_79b9_7f4a_7c15) | 1;
        }
        Self { k }
    }
}

/// Hashing of a session key into 64 well-mixed bits.
pub(crate) trait KeyHash {
    /// The seeded hash of `self`.
    fn key_hash(&self, seeds: &Seeds) -> u64;
}

/// Protocol and ports packed into one word (the family is implied by the
/// caller: the two families hash through different code and their keys can
/// never be equal anyway).
#[inline(always)]
fn ports_word<A>(key: &SessionKey<A>) -> u64 {
    (u64::from(key.src_port) << 24) | (u64::from(key.dst_port) << 8) | u64::from(key.protocol.0)
}

impl KeyHash for SessionKey<Ipv4Addr> {
    #[inline]
    fn key_hash(&self, seeds: &Seeds) -> u64 {
        let addrs = (u64::from(self.src.to_bits()) << 32) | u64::from(self.dst.to_bits());
        let h = fold(addrs ^ seeds.k[0], ports_word(self) ^ seeds.k[1]);
        fold(h ^ seeds.k[2], MIX)
    }
}

impl KeyHash for SessionKey<Ipv6Addr> {
    #[inline]
    fn key_hash(&self, seeds: &Seeds) -> u64 {
        let src = self.src.to_bits();
        let dst = self.dst.to_bits();
        let a = fold((src >> 64) as u64 ^ seeds.k[0], src as u64 ^ seeds.k[1]);
        let b = fold((dst >> 64) as u64 ^ seeds.k[2], dst as u64 ^ seeds.k[3]);
        let h = fold(a ^ ports_word(self) ^ seeds.k[4], b ^ seeds.k[5]);
        fold(h, MIX)
    }
}

/// A [`BuildHasher`] for the per-address session-count maps: the same
/// folded multiply behind the std `HashMap` interface.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SeededState {
    seed: u64,
}

impl SeededState {
    /// A state seeded from `seeds`.
    pub(crate) fn new(seeds: &Seeds) -> Self {
        Self {
            seed: seeds.k[5] ^ seeds.k[0].rotate_left(17),
        }
    }
}

impl BuildHasher for SeededState {
    type Hasher = FoldHasher;

    #[inline]
    fn build_hasher(&self) -> FoldHasher {
        FoldHasher { state: self.seed }
    }
}

/// The hasher of [`SeededState`]. Each written word is folded into the
/// state; `finish` folds once more so the low bits hashbrown uses for
/// bucket selection depend on every input bit.
#[derive(Clone, Copy, Debug)]
pub(crate) struct FoldHasher {
    state: u64,
}

impl FoldHasher {
    #[inline(always)]
    fn add(&mut self, word: u64) {
        self.state = fold(self.state ^ word, MIX);
    }
}

impl Hasher for FoldHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            // Tag the tail with its length so "ab" and "ab\0" differ.
            self.add(u64::from_le_bytes(word) ^ ((rest.len() as u64) << 59));
        }
    }

    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.add(u64::from(i));
    }

    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }

    #[inline]
    fn write_u128(&mut self, i: u128) {
        self.add(i as u64);
        self.add((i >> 64) as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        fold(self.state, MIX ^ 0x1357_9bdf_0246_8ace)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;
    use xpf_runtime::IpProtocol;

    fn v4(src: u32, sport: u16) -> SessionKey<Ipv4Addr> {
        SessionKey {
            src: Ipv4Addr::from_bits(src),
            dst: Ipv4Addr::new(198, 19, 0, 1),
            src_port: sport,
            dst_port: 443,
            protocol: IpProtocol::TCP,
        }
    }

    #[test]
    fn sequential_keys_spread_over_low_and_high_bits() {
        let seeds = Seeds::random();
        // 4096 keys differing only in the source port: both the top 12 and
        // the bottom 12 bits must take (nearly) every value.
        let mut low = HashSet::new();
        let mut high = HashSet::new();
        for port in 0..4096u16 {
            let h = v4(0xc612_0001, port).key_hash(&seeds);
            low.insert(h & 0xfff);
            high.insert(h >> 52);
        }
        // A uniform hash fills ~63% of 4096 buckets with 4096 keys.
        assert!(low.len() > 2400, "low bits: {}", low.len());
        assert!(high.len() > 2400, "high bits: {}", high.len());
    }

    #[test]
    fn seeds_change_the_hash() {
        let k = v4(0xc612_0001, 1000);
        assert_ne!(k.key_hash(&Seeds::random()), k.key_hash(&Seeds::random()));
    }

    #[test]
    fn fold_hasher_distinguishes_tail_lengths() {
        let state = SeededState::new(&Seeds::random());
        let mut a = state.build_hasher();
        a.write(&[1, 2]);
        let mut b = state.build_hasher();
        b.write(&[1, 2, 0]);
        assert_ne!(a.finish(), b.finish());
    }
}
