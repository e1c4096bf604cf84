//! Address-set membership for policy matching.
//!
//! A packet is tested against the source and destination address sets of
//! every candidate rule of its zone pair, so the question is "which of these
//! sets contain this address" asked many times per packet over the same
//! address. Three structures answer it behind [`SetMembership`]:
//!
//! - [`PerSetIndex`]: one [`PrefixSet`] per address set; every test is one
//!   LPM lookup.
//! - [`CombinedLpmIndex`]: one LPM over the prefixes of *all* sets, each
//!   mapped to the bitset of sets that contain the whole prefix (its own
//!   sets plus those of every covering shorter prefix, so the longest match
//!   alone carries the answer). [`classify`](SetMembership::classify) does
//!   one lookup per address; every rule test after it is a bit test.
//! - [`IntervalIndex`]: the address line cut into elementary intervals at
//!   every prefix boundary of every set, each interval labelled with its
//!   bitset; a classification is one binary search.
//!
//! Bitsets are interned: intervals and prefixes with the same membership
//! share one bitset, so memory is bounded by distinct memberships rather
//! than by prefixes × sets. The choice is made in the module documentation
//! of [`lookup`](super) from `benches/lookup.rs`; [`AddressSetIndex`] names it.

use super::prefix::{Bits, FxHashMap, LongestPrefixMatch, Prefix};
use super::{Lpm4, Lpm6, PrefixSet};
use ipnet::{Ipv4Net, Ipv6Net};
use std::net::IpAddr;
use xpf_dataplane::compile::CompiledAddressSet;
use xpf_runtime::AddressSetId;

/// The answer to "does this classified address belong to set `id`?".
pub trait SetMatch {
    /// True when the address belongs to the set. Unknown ids are never matched.
    fn contains(&self, set: AddressSetId) -> bool;
}

/// An index over many address sets answering membership per address.
pub trait SetMembership {
    /// The classification of one address.
    type Classified<'a>: SetMatch + Copy
    where
        Self: 'a;

    /// Builds the index over compiled sets (keyed by their ids).
    fn build(sets: &[CompiledAddressSet]) -> Self
    where
        Self: Sized;

    /// Classifies one address; test sets on the result.
    fn classify(&self, addr: IpAddr) -> Self::Classified<'_>;

    /// One-shot membership test.
    fn member(&self, addr: IpAddr, set: AddressSetId) -> bool {
        self.classify(addr).contains(set)
    }
}

// ---------------------------------------------------------------------------
// Interned bitsets shared by the two combined indexes.

/// The sets one address belongs to, as a bitset over set ids.
#[derive(Clone, Copy, Debug)]
pub struct SetMatches<'a> {
    words: &'a [u64],
}

impl SetMatches<'_> {
    /// Matches no set.
    pub const EMPTY: SetMatches<'static> = SetMatches { words: &[] };

    /// The ids of the matched sets, ascending.
    pub fn ids(&self) -> impl Iterator<Item = AddressSetId> + '_ {
        self.words.iter().enumerate().flat_map(|(w, &word)| {
            (0..64u32)
                .filter(move |b| word >> b & 1 == 1)
                .map(move |b| AddressSetId(w as u32 * 64 + b))
        })
    }
}

impl SetMatch for SetMatches<'_> {
    #[inline]
    fn contains(&self, set: AddressSetId) -> bool {
        let i = set.index();
        self.words
            .get(i / 64)
            .is_some_and(|w| (w >> (i % 64)) & 1 == 1)
    }
}

/// Distinct bitsets stored back to back; bitset 0 is the empty set.
#[derive(Clone, Debug)]
struct BitsetPool {
    words: usize,
    data: Vec<u64>,
    ids: FxHashMap<Vec<u64>, u32>,
}

impl BitsetPool {
    fn new(max_set_index: usize) -> Self {
        let words = max_set_index / 64 + 1;
        let mut pool = Self {
            words,
            data: Vec::new(),
            ids: FxHashMap::default(),
        };
        pool.intern(&vec![0; words]);
        pool
    }

    fn intern(&mut self, bits: &[u64]) -> u32 {
        if let Some(&id) = self.ids.get(bits) {
            return id;
        }
        let id = u32::try_from(self.data.len() / self.words).expect("fewer than 2^32 bitsets");
        self.data.extend_from_slice(bits);
        self.ids.insert(bits.to_vec(), id);
        id
    }

    #[inline]
    fn get(&self, id: u32) -> SetMatches<'_> {
        let at = id as usize * self.words;
        SetMatches {
            words: &self.data[at..at + self.words],
        }
    }

    fn heap_bytes(&self) -> usize {
        self.data.capacity() * 8 + self.ids.len() * (self.words * 8 + 40)
    }
}

fn max_set_index(sets: &[CompiledAddressSet]) -> usize {
    sets.iter().map(|s| s.id.index()).max().unwrap_or(0)
}

fn set_bit(bits: &mut [u64], i: usize) {
    bits[i / 64] |= 1 << (i % 64);
}

// ---------------------------------------------------------------------------
// Candidate 1: one LPM per set.

/// One [`PrefixSet`] per address set.
#[derive(Clone, Debug, Default)]
pub struct PerSetIndex {
    /// Indexed by `AddressSetId::index()`.
    sets: Vec<Option<PrefixSet>>,
}

/// A pending per-set classification: the address, tested lazily.
#[derive(Clone, Copy, Debug)]
pub struct PerSetProbe<'a> {
    index: &'a PerSetIndex,
    addr: IpAddr,
}

impl SetMatch for PerSetProbe<'_> {
    #[inline]
    fn contains(&self, set: AddressSetId) -> bool {
        self.index
            .sets
            .get(set.index())
            .and_then(Option::as_ref)
            .is_some_and(|s| s.contains(self.addr))
    }
}

impl SetMembership for PerSetIndex {
    type Classified<'a> = PerSetProbe<'a>;

    fn build(sets: &[CompiledAddressSet]) -> Self {
        let mut out = vec![None; max_set_index(sets) + 1];
        for s in sets {
            out[s.id.index()] = Some(PrefixSet::from_address_set(s));
        }
        Self { sets: out }
    }

    #[inline]
    fn classify(&self, addr: IpAddr) -> PerSetProbe<'_> {
        PerSetProbe { index: self, addr }
    }
}

// ---------------------------------------------------------------------------
// Candidate 2: one LPM over all prefixes, values are bitsets.

/// One LPM over the prefixes of all sets mapping to interned bitsets.
#[derive(Clone, Debug)]
pub struct CombinedLpmIndex {
    v4: Lpm4<u32>,
    v6: Lpm6<u32>,
    pool: BitsetPool,
}

/// For every prefix: the sets of every stored prefix covering it (itself
/// included). Covering prefixes are exactly its truncations, so this is one
/// exact-match probe per shorter length.
fn closed_memberships<P: Prefix>(
    prefixes: &FxHashMap<P, Vec<usize>>,
    pool: &mut BitsetPool,
) -> Vec<(P, u32)> {
    let mut out = Vec::with_capacity(prefixes.len());
    let mut bits = vec![0u64; pool.words];
    for p in prefixes.keys() {
        bits.fill(0);
        for len in 0..=p.length() {
            if let Some(sets) = prefixes.get(&P::from_bits(p.network_bits(), len)) {
                for &s in sets {
                    set_bit(&mut bits, s);
                }
            }
        }
        out.push((*p, pool.intern(&bits)));
    }
    out
}

impl SetMembership for CombinedLpmIndex {
    type Classified<'a> = SetMatches<'a>;

    fn build(sets: &[CompiledAddressSet]) -> Self {
        let mut pool = BitsetPool::new(max_set_index(sets));
        let mut v4: FxHashMap<Ipv4Net, Vec<usize>> = FxHashMap::default();
        let mut v6: FxHashMap<Ipv6Net, Vec<usize>> = FxHashMap::default();
        for s in sets {
            for p in &s.v4 {
                v4.entry(p.normalised()).or_default().push(s.id.index());
            }
            for p in &s.v6 {
                v6.entry(p.normalised()).or_default().push(s.id.index());
            }
        }
        let mut out = Self {
            v4: Lpm4::default(),
            v6: Lpm6::default(),
            pool: BitsetPool::new(0),
        };
        for (p, id) in closed_memberships(&v4, &mut pool) {
            out.v4.insert(p, id);
        }
        for (p, id) in closed_memberships(&v6, &mut pool) {
            out.v6.insert(p, id);
        }
        out.pool = pool;
        out
    }

    #[inline]
    fn classify(&self, addr: IpAddr) -> SetMatches<'_> {
        let id = match addr {
            IpAddr::V4(a) => self.v4.longest_match(a).map(|(_, &id)| id),
            IpAddr::V6(a) => self.v6.longest_match(a).map(|(_, &id)| id),
        };
        self.pool.get(id.unwrap_or(0))
    }
}

impl CombinedLpmIndex {
    /// Approximate heap bytes held.
    pub fn heap_bytes(&self) -> usize {
        self.v4.heap_bytes() + self.v6.heap_bytes() + self.pool.heap_bytes()
    }
}

// ---------------------------------------------------------------------------
// Candidate 3: elementary intervals, binary search.

/// Sorted interval starts of one family, each with its bitset.
#[derive(Clone, Debug)]
struct Intervals<B> {
    /// `starts[0]` is always 0; interval `i` is `starts[i]..starts[i + 1]`.
    starts: Vec<B>,
    bitsets: Vec<u32>,
}

impl<B: Bits> Intervals<B> {
    fn build<P: Prefix<Bits = B>>(prefixes: &[(P, usize)], pool: &mut BitsetPool) -> Self {
        // +1 at a prefix's first address, -1 just past its last.
        let mut events: Vec<(B, bool, usize)> = Vec::with_capacity(prefixes.len() * 2);
        for (p, set) in prefixes {
            let first = p.network_bits();
            let last = first.last_of(p.length());
            events.push((first, true, *set));
            if let Some(next) = last.successor() {
                events.push((next, false, *set));
            }
        }
        events.sort_unstable_by_key(|e| e.0);
        let mut counts = vec![0u32; pool.words * 64];
        let mut bits = vec![0u64; pool.words];
        let mut out = Self {
            starts: vec![B::ZERO],
            bitsets: vec![0],
        };
        let mut i = 0;
        while i < events.len() {
            let at = events[i].0;
            while i < events.len() && events[i].0 == at {
                let (_, open, set) = events[i];
                if open {
                    counts[set] += 1;
                } else {
                    counts[set] -= 1;
                }
                if counts[set] > 0 {
                    bits[set / 64] |= 1 << (set % 64);
                } else {
                    bits[set / 64] &= !(1 << (set % 64));
                }
                i += 1;
            }
            let id = pool.intern(&bits);
            if *out.bitsets.last().expect("non-empty") == id {
                continue;
            }
            if *out.starts.last().expect("non-empty") == at {
                *out.bitsets.last_mut().expect("non-empty") = id;
            } else {
                out.starts.push(at);
                out.bitsets.push(id);
            }
        }
        out
    }

    #[inline]
    fn find(&self, key: B) -> u32 {
        let i = self.starts.partition_point(|&s| s <= key);
        self.bitsets[i - 1]
    }
}

/// Elementary address intervals labelled with interned bitsets.
#[derive(Clone, Debug)]
pub struct IntervalIndex {
    v4: Intervals<u32>,
    v6: Intervals<u128>,
    pool: BitsetPool,
}

impl SetMembership for IntervalIndex {
    type Classified<'a> = SetMatches<'a>;

    fn build(sets: &[CompiledAddressSet]) -> Self {
        let mut pool = BitsetPool::new(max_set_index(sets));
        let v4: Vec<(Ipv4Net, usize)> = sets
            .iter()
            .flat_map(|s| s.v4.iter().map(|p| (p.normalised(), s.id.index())))
            .collect();
        let v6: Vec<(Ipv6Net, usize)> = sets
            .iter()
            .flat_map(|s| s.v6.iter().map(|p| (p.normalised(), s.id.index())))
            .collect();
        let v4 = Intervals::build(&v4, &mut pool);
        let v6 = Intervals::build(&v6, &mut pool);
        Self { v4, v6, pool }
    }

    #[inline]
    fn classify(&self, addr: IpAddr) -> SetMatches<'_> {
        let id = match addr {
            IpAddr::V4(a) => self.v4.find(u32::from(a)),
            IpAddr::V6(a) => self.v6.find(u128::from(a)),
        };
        self.pool.get(id)
    }
}

impl IntervalIndex {
    /// Number of elementary intervals (both families).
    pub fn interval_count(&self) -> usize {
        self.v4.starts.len() + self.v6.starts.len()
    }

    /// Approximate heap bytes held.
    pub fn heap_bytes(&self) -> usize {
        self.v4.starts.capacity() * 4
            + self.v6.starts.capacity() * 16
            + (self.v4.bitsets.capacity() + self.v6.bitsets.capacity()) * 4
            + self.pool.heap_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(id: u32, nets: &[&str]) -> CompiledAddressSet {
        let mut s = CompiledAddressSet {
            id: AddressSetId(id),
            key: format!("s{id}"),
            v4: Vec::new(),
            v6: Vec::new(),
        };
        for n in nets {
            match n.parse().unwrap() {
                ipnet::IpNet::V4(p) => s.v4.push(p),
                ipnet::IpNet::V6(p) => s.v6.push(p),
            }
        }
        s
    }

    fn check<M: SetMembership>() {
        let sets = [
            set(1, &["0.0.0.0/0", "::/0"]),
            set(2, &["198.18.0.0/16"]),
            set(3, &["198.18.1.0/24", "2001:db8::/32"]),
            set(70, &["198.18.1.7/32", "255.255.255.255/32"]),
        ];
        let idx = M::build(&sets);
        for addr in [
            "198.18.1.7",
            "198.18.1.8",
            "198.18.2.1",
            "10.0.0.1",
            "255.255.255.255",
            "2001:db8::1",
            "2001:db9::1",
        ] {
            let a: IpAddr = addr.parse().unwrap();
            let c = idx.classify(a);
            for s in &sets {
                assert_eq!(c.contains(s.id), s.contains(a), "{addr} in {}", s.key);
            }
            assert!(!c.contains(AddressSetId(4)));
            assert!(!c.contains(AddressSetId(1000)));
        }
    }

    #[test]
    fn every_candidate_agrees_with_the_compiled_sets() {
        check::<PerSetIndex>();
        check::<CombinedLpmIndex>();
        check::<IntervalIndex>();
    }

    #[test]
    fn classification_lists_matched_ids() {
        let idx = CombinedLpmIndex::build(&[set(1, &["0.0.0.0/0"]), set(2, &["10.0.0.0/8"])]);
        let ids: Vec<_> = idx.classify("10.1.1.1".parse().unwrap()).ids().collect();
        assert_eq!(ids, vec![AddressSetId(1), AddressSetId(2)]);
    }
}
