//! A read-only name → dense index table for large config namespaces.
//!
//! Address books reach tens of thousands of entries, and compiling a large
//! policy set resolves ~100,000 names against them. A general `HashMap<&str,
//! _>` keyed by borrowed config strings pays up to three cache misses per
//! lookup (control bytes, bucket, and the key's own heap allocation for the
//! final comparison). This table copies every name once into one contiguous
//! arena and keeps a flat open-addressing array of `(hash tag, index)` words,
//! so a lookup touches one slot (almost always) and one arena span that is
//! small enough to stay in cache.
//!
//! The first definition of a duplicated name wins (validation reports the
//! duplicate from [`NameIndex::repeat_of`]; the compiler follows the same
//! rule). Empty names are never found.

use super::fxhash::FxHasher;
use std::hash::Hasher;

/// Dense index of a name: its position in the input order.
pub(crate) type NameId = u32;

/// Name → [`NameId`] map; see the module header.
#[derive(Clone, Debug, Default)]
pub(crate) struct NameIndex {
    arena: String,
    /// `ends[i]` is the arena offset just past name `i`.
    ends: Vec<u32>,
    /// `(tag << id_bits) | (index + 1)`; 0 is an empty slot. Four bytes a
    /// slot keeps a 50,000-name table at 512 KiB, inside a core's L2.
    slots: Vec<u32>,
    mask: usize,
    /// Bits of a slot holding `index + 1`: 24, so 8 bits of hash tag skip
    /// almost every wrong candidate without touching the arena; 32 (no
    /// tag) for an index of 2^24 names or more.
    id_bits: u32,
    /// `(position, first definition)` of every repeated name, by position.
    repeats: Vec<(NameId, NameId)>,
}

fn hash(name: &str) -> u64 {
    let mut h = FxHasher::default();
    h.write(name.as_bytes());
    h.write_usize(name.len());
    h.finish()
}

impl NameIndex {
    /// Indexes `names`; the i-th name gets id `i` (a later duplicate keeps
    /// its position in [`NameIndex::name`] but is not found by lookup).
    pub(crate) fn new<'a>(names: impl Iterator<Item = &'a str>) -> Self {
        let names: Vec<&str> = names.collect();
        let id_bits = if names.len() < (1 << 24) - 1 { 24 } else { 32 };
        Self::with_id_bits(names, id_bits)
    }

    /// [`NameIndex::new`] with `id_bits` (24 or 32) bits of a slot for the
    /// index (tests run both layouts on small inputs).
    fn with_id_bits(names: Vec<&str>, id_bits: u32) -> Self {
        let len = names.len();
        let capacity = (len * 2).next_power_of_two().max(8);
        let mut index = Self {
            arena: String::with_capacity(len * 8),
            ends: Vec::with_capacity(len),
            slots: vec![0; capacity],
            mask: capacity - 1,
            id_bits,
            repeats: Vec::new(),
        };
        for name in names {
            let id = index.ends.len() as u32;
            index.arena.push_str(name);
            index.ends.push(index.arena.len() as u32);
            if name.is_empty() {
                continue;
            }
            let h = hash(name);
            let tag = index.tag(h);
            let mut slot = (h as usize) & index.mask;
            loop {
                let word = index.slots[slot];
                if word == 0 {
                    index.slots[slot] = tag | (id + 1);
                    break;
                }
                if let Some(first) = index.candidate(word, tag)
                    && index.name(first) == name
                {
                    // A duplicate: the first definition wins.
                    index.repeats.push((id, first));
                    break;
                }
                slot = (slot + 1) & index.mask;
            }
        }
        index
    }

    /// The tag bits of hash `h`, in place in a slot word.
    #[inline]
    fn tag(&self, h: u64) -> u32 {
        // The top bits: the slot index uses the low ones.
        ((h >> 32) as u32).checked_shl(self.id_bits).unwrap_or(0)
    }

    /// The id in slot `word` when its tag is `tag` (a candidate to compare).
    #[inline]
    fn candidate(&self, word: u32, tag: u32) -> Option<NameId> {
        let id_mask = u32::MAX.checked_shr(32 - self.id_bits).unwrap_or(u32::MAX);
        (word & !id_mask == tag).then(|| (word & id_mask) - 1)
    }

    /// The id of `name`, if indexed.
    #[inline]
    pub(crate) fn get(&self, name: &str) -> Option<NameId> {
        let h = hash(name);
        let slot = (h as usize) & self.mask;
        self.probe(name, self.tag(h), slot, self.slots[slot])
    }

    /// Finishes a lookup of `name` whose first slot `slot` holds `word`.
    #[inline]
    fn probe(&self, name: &str, tag: u32, mut slot: usize, mut word: u32) -> Option<NameId> {
        loop {
            if word == 0 {
                return None;
            }
            if let Some(id) = self.candidate(word, tag)
                && self.name(id) == name
            {
                return Some(id);
            }
            slot = (slot + 1) & self.mask;
            word = self.slots[slot];
        }
    }

    /// [`NameIndex::get`] for many names at once, into `out` (cleared
    /// first), in order.
    ///
    /// Resolving an address set's members is a burst of lookups at random
    /// places of a table too big for the inner caches. One at a time, each
    /// lookup waits for its slot, then for the arena, in series. Here every
    /// name is hashed and its first slot loaded before any is compared, so
    /// the processor overlaps those misses instead of paying them one after
    /// the other.
    pub(crate) fn get_many<'n>(
        &self,
        names: impl Iterator<Item = &'n str> + Clone,
        out: &mut Vec<Option<NameId>>,
    ) {
        out.clear();
        // Pass 1: independent loads of each name's first slot. The word is
        // parked in `out` as a raw value so no second buffer is needed.
        let mut first = Vec::with_capacity(names.size_hint().0);
        for name in names.clone() {
            let h = hash(name);
            let slot = (h as usize) & self.mask;
            first.push((h, slot, self.slots[slot]));
        }
        // Pass 2: compare, probing further only on a collision.
        for (name, (h, slot, word)) in names.zip(first) {
            out.push(self.probe(name, self.tag(h), slot, word));
        }
    }

    /// True when no name is indexed.
    pub(crate) fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// When the name at `id` repeats an earlier one, the first one's id.
    pub(crate) fn repeat_of(&self, id: NameId) -> Option<NameId> {
        let i = self.repeats.binary_search_by_key(&id, |r| r.0).ok()?;
        Some(self.repeats[i].1)
    }

    /// True when the name at `id` is found by lookup (not empty, not a
    /// repeat).
    pub(crate) fn is_first_definition(&self, id: NameId) -> bool {
        !self.name(id).is_empty() && self.repeat_of(id).is_none()
    }

    /// The name with id `id` (as copied into the arena).
    #[inline]
    pub(crate) fn name(&self, id: NameId) -> &str {
        let i = id as usize;
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        &self.arena[start..self.ends[i] as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn first_definition_of_a_duplicate_wins() {
        let index = NameIndex::new(["web", "db", "web"].into_iter());
        assert_eq!(index.get("web"), Some(0));
        assert_eq!(index.get("db"), Some(1));
        assert_eq!(index.get("dns"), None);
        assert_eq!(index.name(2), "web");
        assert_eq!(index.repeat_of(2), Some(0));
        assert_eq!(index.repeat_of(1), None);
        assert!(!index.is_first_definition(2));
    }

    #[test]
    fn empty_names_are_never_found() {
        let index = NameIndex::new(["", "a", ""].into_iter());
        assert_eq!(index.get(""), None);
        assert_eq!(index.get("a"), Some(1));
        assert_eq!(index.repeat_of(2), None);
        assert!(!index.is_first_definition(0));
    }

    #[test]
    fn empty_index_finds_nothing() {
        let index = NameIndex::new(std::iter::empty());
        assert_eq!(index.get(""), None);
        assert_eq!(index.get("x"), None);
    }

    proptest! {
        #[test]
        fn agrees_with_a_hash_map(names in proptest::collection::vec("[a-c]{0,4}", 0..64),
                                  probes in proptest::collection::vec("[a-d]{0,4}", 0..32),
                                  id_bits in prop::sample::select(vec![24u32, 32])) {
            let index = NameIndex::with_id_bits(names.iter().map(String::as_str).collect(), id_bits);
            let mut oracle = std::collections::HashMap::new();
            for (i, n) in names.iter().enumerate() {
                if !n.is_empty() {
                    oracle.entry(n.as_str()).or_insert(i as u32);
                }
            }
            for n in names.iter().chain(&probes) {
                prop_assert_eq!(index.get(n), oracle.get(n.as_str()).copied());
            }
            let mut many = Vec::new();
            index.get_many(probes.iter().map(String::as_str), &mut many);
            let one_by_one: Vec<_> = probes.iter().map(|n| index.get(n)).collect();
            prop_assert_eq!(many, one_by_one);
        }
    }
}
