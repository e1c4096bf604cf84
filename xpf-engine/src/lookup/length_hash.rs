//! One hash map per prefix length, probed longest length first.
//!
//! The "sorted per-length hash maps" candidate: a lookup masks the address
//! to each length that is present, longest first, and probes that length's
//! map; the first hit is the answer. Cost is one hash probe per distinct
//! length present (at most 33 for IPv4, 129 for IPv6), independent of the
//! number of prefixes, and updates are O(1). Address sets typically use few
//! lengths (/32 hosts, a /24 or two), which is where this shines.
//!
//! Waldvogel's binary search over lengths cuts the probes to
//! `log2(lengths)` but needs *markers* with precomputed best-matching
//! prefixes, which an insert of a short prefix must rewrite across every
//! longer level; that makes incremental updates O(n), so it is not offered.

use super::prefix::{Bits, FxHashMap, LongestPrefixMatch, Prefix};

/// Longest-prefix match over per-length hash maps.
#[derive(Clone, Debug)]
pub struct LengthHashLpm<P: Prefix, V> {
    /// `levels[len]`: prefixes of length `len`, keyed by network bits.
    levels: Vec<FxHashMap<P::Bits, (P, V)>>,
    /// Lengths with at least one prefix, longest first.
    present: Vec<u8>,
    len: usize,
}

impl<P: Prefix, V> Default for LengthHashLpm<P, V> {
    fn default() -> Self {
        Self {
            levels: (0..=<P::Bits as Bits>::WIDTH)
                .map(|_| FxHashMap::default())
                .collect(),
            present: Vec::new(),
            len: 0,
        }
    }
}

impl<P: Prefix, V> LengthHashLpm<P, V> {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// The distinct lengths present, longest first.
    pub fn lengths(&self) -> &[u8] {
        &self.present
    }

    /// Approximate heap bytes held.
    pub fn heap_bytes(&self) -> usize {
        self.levels
            .iter()
            .map(|m| m.capacity() * (std::mem::size_of::<(P::Bits, (P, V))>() + 1))
            .sum::<usize>()
            + self.levels.capacity() * std::mem::size_of::<FxHashMap<P::Bits, (P, V)>>()
    }
}

impl<P: Prefix, V> LongestPrefixMatch<P, V> for LengthHashLpm<P, V> {
    fn insert(&mut self, prefix: P, value: V) -> Option<V> {
        let prefix = prefix.normalised();
        let len = prefix.length();
        let level = &mut self.levels[usize::from(len)];
        if let Some(slot) = level.get_mut(&prefix.network_bits()) {
            return Some(std::mem::replace(&mut slot.1, value));
        }
        if level.is_empty() {
            let at = self.present.partition_point(|&l| l > len);
            self.present.insert(at, len);
        }
        level.insert(prefix.network_bits(), (prefix, value));
        self.len += 1;
        None
    }

    fn remove(&mut self, prefix: &P) -> Option<V> {
        let prefix = prefix.normalised();
        let len = prefix.length();
        let level = &mut self.levels[usize::from(len)];
        let (_, value) = level.remove(&prefix.network_bits())?;
        if level.is_empty() {
            self.present.retain(|&l| l != len);
        }
        self.len -= 1;
        Some(value)
    }

    fn get(&self, prefix: &P) -> Option<&V> {
        let prefix = prefix.normalised();
        self.levels[usize::from(prefix.length())]
            .get(&prefix.network_bits())
            .map(|(_, v)| v)
    }

    #[inline]
    fn longest_match(&self, addr: P::Addr) -> Option<(&P, &V)> {
        let bits = P::addr_bits(addr);
        self.present.iter().find_map(|&len| {
            self.levels[usize::from(len)]
                .get(&bits.keep(len))
                .map(|(p, v)| (p, v))
        })
    }

    fn len(&self) -> usize {
        self.len
    }
}
