//! The linear-scan baseline: prefixes sorted longest first, the first one
//! that covers the address wins.
//!
//! O(n) per lookup. It is the yardstick every other structure is measured
//! against in `benches/lookup.rs`, and it is what
//! `CompiledAddressSet::contains` does. Fine for a handful of prefixes;
//! nothing else.

use super::prefix::{Bits, LongestPrefixMatch, Prefix};

/// Longest-prefix match by scanning a vector sorted by descending length.
#[derive(Clone, Debug)]
pub struct LinearLpm<P: Prefix, V> {
    /// Sorted by descending prefix length; ties in insertion order.
    entries: Vec<(P, V)>,
}

impl<P: Prefix, V> Default for LinearLpm<P, V> {
    fn default() -> Self {
        Self {
            entries: Vec::new(),
        }
    }
}

impl<P: Prefix, V> LinearLpm<P, V> {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    fn position(&self, prefix: &P) -> Option<usize> {
        self.entries.iter().position(|(p, _)| p == prefix)
    }

    /// Approximate heap bytes held.
    pub fn heap_bytes(&self) -> usize {
        self.entries.capacity() * std::mem::size_of::<(P, V)>()
    }
}

impl<P: Prefix, V> LongestPrefixMatch<P, V> for LinearLpm<P, V> {
    fn insert(&mut self, prefix: P, value: V) -> Option<V> {
        let prefix = prefix.normalised();
        if let Some(i) = self.position(&prefix) {
            return Some(std::mem::replace(&mut self.entries[i].1, value));
        }
        let at = self
            .entries
            .partition_point(|(p, _)| p.length() >= prefix.length());
        self.entries.insert(at, (prefix, value));
        None
    }

    fn remove(&mut self, prefix: &P) -> Option<V> {
        let i = self.position(&prefix.normalised())?;
        Some(self.entries.remove(i).1)
    }

    fn get(&self, prefix: &P) -> Option<&V> {
        let prefix = prefix.normalised();
        self.entries
            .iter()
            .find(|(p, _)| *p == prefix)
            .map(|(_, v)| v)
    }

    #[inline]
    fn longest_match(&self, addr: P::Addr) -> Option<(&P, &V)> {
        let bits = P::addr_bits(addr);
        self.entries
            .iter()
            .find(|(p, _)| bits.keep(p.length()) == p.network_bits())
            .map(|(p, v)| (p, v))
    }

    fn len(&self) -> usize {
        self.entries.len()
    }
}
