//! Stable id allocation.
//!
//! Every id space (zones, interfaces, applications, address sets, policy
//! rules, NAT rules, pools, filters, schedulers, screens, policers) is a map
//! from a **stable key** (a name, or a name path such as
//! `trust->untrust/allow-web/junos-http/t1` for an expanded policy rule) to a
//! number. The rules, chosen so counters survive reloads and so every
//! backend sees the same numbers:
//!
//! 1. Ids start at 1; 0 is reserved as "none" in every space.
//! 2. Compiling without a previous registry numbers keys 1, 2, 3, ... in
//!    config order. The same config therefore always gets the same ids.
//! 3. Compiling with the previous generation's registry keeps the id of
//!    every key that still exists. New keys get the lowest ids that are used
//!    neither by a surviving key nor by any key of the previous generation,
//!    so an id freed by this apply is not handed to a different object in
//!    the same apply (a backend would otherwise attribute the old object's
//!    counters to the new one). It may be reused by a later apply; backends
//!    reset a counter slot whenever the key owning its id changes, which they
//!    can see by comparing the names in two `ApplyResult`s.

use super::fxhash::FxHashMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::BTreeMap;

/// One id space: stable key → id. Serialises as a key-sorted map.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IdSpace {
    ids: FxHashMap<String, u32>,
}

impl IdSpace {
    /// Allocates ids for `keys` (in order; duplicates get the same id),
    /// reusing `previous` ids for surviving keys. Fails if more than `max`
    /// ids would be needed.
    pub fn allocate<K: AsRef<str> + Into<String>>(
        keys: impl IntoIterator<Item = K>,
        previous: Option<&IdSpace>,
        max: u32,
    ) -> Result<Self, IdExhausted> {
        Self::allocate_ordered(keys, previous, max).map(|(space, _)| space)
    }

    /// Like [`IdSpace::allocate`], also returning the id of each input key
    /// in input order (saves a lookup per key for large spaces).
    pub fn allocate_ordered<K: AsRef<str> + Into<String>>(
        keys: impl IntoIterator<Item = K>,
        previous: Option<&IdSpace>,
        max: u32,
    ) -> Result<(Self, Vec<u32>), IdExhausted> {
        let keys: Vec<K> = keys.into_iter().collect();
        let mut ids: FxHashMap<String, u32> = FxHashMap::default();
        ids.reserve(keys.len());
        let mut order = vec![0u32; keys.len()];
        // Ids taken (by the previous generation or in this allocation), as
        // a bitmap: new ids are the lowest free ones, found by a scan.
        let prev_max = previous.map_or(0, |p| p.max_id()) as usize;
        let mut used = vec![false; prev_max + keys.len() + 2];
        if let Some(prev) = previous {
            for &id in prev.ids.values() {
                used[id as usize] = true;
            }
            for (slot, k) in order.iter_mut().zip(&keys) {
                if let Some(&id) = prev.ids.get(k.as_ref()) {
                    *slot = id;
                }
            }
        }
        let mut next = 1usize;
        for (slot, k) in order.iter_mut().zip(keys) {
            match ids.entry(k.into()) {
                std::collections::hash_map::Entry::Occupied(e) => *slot = *e.get(),
                std::collections::hash_map::Entry::Vacant(e) => {
                    if *slot == 0 {
                        while used[next] {
                            next += 1;
                        }
                        if next > max as usize {
                            return Err(IdExhausted { max });
                        }
                        used[next] = true;
                        *slot = next as u32;
                    }
                    e.insert(*slot);
                }
            }
        }
        Ok((Self { ids }, order))
    }

    /// The id of `key`.
    pub fn get(&self, key: &str) -> Option<u32> {
        self.ids.get(key).copied()
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Every `(key, id)` in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, u32)> {
        let sorted: BTreeMap<&str, u32> = self.ids.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        sorted.into_iter()
    }

    /// The largest id in use (0 when empty).
    pub fn max_id(&self) -> u32 {
        self.ids.values().copied().max().unwrap_or(0)
    }
}

impl Serialize for IdSpace {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let sorted: BTreeMap<&String, &u32> = self.ids.iter().collect();
        sorted.serialize(s)
    }
}

impl<'de> Deserialize<'de> for IdSpace {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let map = BTreeMap::<String, u32>::deserialize(d)?;
        Ok(Self {
            ids: map.into_iter().collect(),
        })
    }
}

/// More objects than an id space can number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IdExhausted {
    /// The space's maximum id.
    pub max: u32,
}

/// The registry of every id space, carried in the compiled config so the
/// next compile can keep ids stable.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdRegistry {
    /// Zones by name.
    pub zones: IdSpace,
    /// Interfaces by name.
    pub interfaces: IdSpace,
    /// Applications by name.
    pub applications: IdSpace,
    /// Address sets by canonical key.
    pub address_sets: IdSpace,
    /// Policy rules by `scope/policy/application/term`.
    pub policy_rules: IdSpace,
    /// NAT rules by `kind/rule-set/rule`.
    pub nat_rules: IdSpace,
    /// NAT pools by `kind/name`.
    pub nat_pools: IdSpace,
    /// Filters by `family/name`.
    pub filters: IdSpace,
    /// Policers by name.
    pub policers: IdSpace,
    /// Schedulers by name.
    pub schedules: IdSpace,
    /// Screen profiles by name.
    pub screens: IdSpace,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_allocation_numbers_in_order_from_one() {
        let s = IdSpace::allocate(["b", "a", "c"], None, 100).unwrap();
        assert_eq!(
            (s.get("b"), s.get("a"), s.get("c")),
            (Some(1), Some(2), Some(3))
        );
    }

    #[test]
    fn surviving_keys_keep_ids_and_freed_ids_are_not_reused_in_the_same_apply() {
        let prev = IdSpace::allocate(["a", "b", "c"], None, 100).unwrap();
        let next = IdSpace::allocate(["new", "c", "a"], Some(&prev), 100).unwrap();
        assert_eq!(next.get("a"), Some(1));
        assert_eq!(next.get("c"), Some(3));
        assert_eq!(next.get("new"), Some(4), "b's id 2 must not be reused yet");
        let after = IdSpace::allocate(["x", "new", "c", "a"], Some(&next), 100).unwrap();
        assert_eq!(after.get("x"), Some(2), "freed for a whole generation");
    }

    #[test]
    fn exhaustion_is_an_error() {
        assert_eq!(
            IdSpace::allocate(["a", "b"], None, 1).unwrap_err(),
            IdExhausted { max: 1 }
        );
    }
}
