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
    /// `(tag << 32) | (index + 1)`; 0 is an empty slot.
    slots: Vec<u64>,
    mask: usize,
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
        let len = names.len();
        let capacity = (len * 2).next_power_of_two().max(8);
        let mut index = Self {
            arena: String::with_capacity(len * 8),
            ends: Vec::with_capacity(len),
            slots: vec![0; capacity],
            mask: capacity - 1,
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
            let tag = h >> 32;
            let mut slot = (h as usize) & index.mask;
            loop {
                let word = index.slots[slot];
                if word == 0 {
                    index.slots[slot] = (tag << 32) | u64::from(id + 1);
                    break;
                }
                if word >> 32 == tag && index.name((word as u32) - 1) == name {
                    // A duplicate: the first definition wins.
                    index.repeats.push((id, (word as u32) - 1));
                    break;
                }
                slot = (slot + 1) & index.mask;
            }
        }
        index
    }

    /// The id of `name`, if indexed.
    #[inline]
    pub(crate) fn get(&self, name: &str) -> Option<NameId> {
        let h = hash(name);
        let tag = h >> 32;
        let mut slot = (h as usize) & self.mask;
        loop {
            let word = self.slots[slot];
            if word == 0 {
                return None;
            }
            let id = (word as u32) - 1;
            if word >> 32 == tag && self.name(id) == name {
                return Some(id);
            }
            slot = (slot + 1) & self.mask;
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
        for (name, (h, mut slot, mut word)) in names.zip(first) {
            let tag = h >> 32;
            out.push(loop {
                if word == 0 {
                    break None;
                }
                let id = (word as u32) - 1;
                if word >> 32 == tag && self.name(id) == name {
                    break Some(id);
                }
                slot = (slot + 1) & self.mask;
                word = self.slots[slot];
            });
        }
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
                                  probes in proptest::collection::vec("[a-d]{0,4}", 0..32)) {
            let index = NameIndex::new(names.iter().map(String::as_str));
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
