//! The key index: a fixed-size open-addressing hash table from a session
//! key's hash to a 32-bit entry reference.
//!
//! The keys themselves live in the session slab, not here, so an index
//! bucket is one `u64`: the upper 32 bits of the key's hash (the *tag*) and
//! the entry reference plus one (so that `0` means empty and a freshly
//! allocated, zeroed bucket array needs no initialisation pass: the OS maps
//! untouched pages lazily). A lookup compares tags first and reads the slab
//! only for a tag match, so a miss or a probe past a neighbour costs no
//! extra cache line.
//!
//! - **Sizing**: the table never grows. It is sized once for the session
//!   capacity (two entries per session) at a maximum load of 3/4, with a
//!   bucket count that need not be a power of two: the home bucket of a tag
//!   is `tag · buckets >> 32` (Lemire's multiply-shift range reduction). At
//!   1,000,000 sessions that is 2,666,667 buckets, 21.3 bytes per session.
//! - **Probing**: linear, wrapping at the end. Expected probes at the
//!   maximum load are 2.5 for a hit and 8.5 for a miss, mostly within one
//!   or two cache lines (8 buckets per line); at typical occupancy far
//!   fewer.
//! - **Deletion**: backward shift (no tombstones), so probe lengths never
//!   degrade with churn.
//!
//! The caller guarantees that at most [`Index::max_entries`] entries are
//! stored (the session table refuses inserts past its capacity), which is
//! what keeps every probe sequence finite.

/// Maximum load: entries / buckets ≤ `LOAD_NUM / LOAD_DEN`.
const LOAD_NUM: usize = 3;
const LOAD_DEN: usize = 4;
/// Smallest bucket array.
const MIN_BUCKETS: usize = 8;

/// An open-addressing index from key hashes to entry references.
#[derive(Clone, Debug)]
pub(crate) struct Index {
    buckets: Box<[u64]>,
    max_entries: usize,
    len: usize,
}

#[inline(always)]
fn tag_of(hash: u64) -> u32 {
    (hash >> 32) as u32
}

impl Index {
    /// An empty index able to hold `max_entries` entries.
    pub(crate) fn with_max_entries(max_entries: usize) -> Self {
        let buckets = (max_entries * LOAD_DEN)
            .div_ceil(LOAD_NUM)
            .max(MIN_BUCKETS)
            // One spare bucket so that a full table still has an empty
            // bucket to terminate every probe.
            .max(max_entries + 1);
        Self {
            buckets: vec![0u64; buckets].into_boxed_slice(),
            max_entries,
            len: 0,
        }
    }

    /// The number of buckets.
    #[cfg(test)]
    pub(crate) fn buckets(&self) -> usize {
        self.buckets.len()
    }

    /// Bytes used by the bucket array.
    pub(crate) fn bytes(&self) -> usize {
        std::mem::size_of_val(&*self.buckets)
    }

    /// Entries stored.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The home bucket of `tag`.
    #[inline(always)]
    fn home(&self, tag: u32) -> usize {
        ((u64::from(tag) * self.buckets.len() as u64) >> 32) as usize
    }

    #[inline(always)]
    fn next(&self, pos: usize) -> usize {
        if pos + 1 == self.buckets.len() {
            0
        } else {
            pos + 1
        }
    }

    /// The first entry reference stored under `hash` for which `eq` holds.
    #[cfg(test)]
    pub(crate) fn find(&self, hash: u64, eq: impl FnMut(u32) -> bool) -> Option<u32> {
        self.find_from(hash, self.home_bucket(hash), eq)
    }

    /// The content of `hash`'s home bucket: reading it ahead of
    /// [`find_from`](Self::find_from) starts the cache miss early (batch
    /// lookahead).
    #[inline(always)]
    pub(crate) fn home_bucket(&self, hash: u64) -> u64 {
        self.buckets[self.home(tag_of(hash))]
    }

    /// [`find`](Self::find), given the home bucket's current content
    /// `first` (from [`home_bucket`](Self::home_bucket), with no change to
    /// the index since).
    #[inline(always)]
    pub(crate) fn find_from(
        &self,
        hash: u64,
        first: u64,
        mut eq: impl FnMut(u32) -> bool,
    ) -> Option<u32> {
        let tag = tag_of(hash);
        let mut pos = self.home(tag);
        let mut bucket = first;
        loop {
            if bucket == 0 {
                return None;
            }
            if (bucket >> 32) as u32 == tag {
                let entry = (bucket as u32) - 1;
                if eq(entry) {
                    return Some(entry);
                }
            }
            pos = self.next(pos);
            bucket = self.buckets[pos];
        }
    }

    /// Stores `entry` under `hash`. The caller has checked that no equal
    /// key is stored.
    ///
    /// # Panics
    ///
    /// If the index already holds `max_entries` entries, or `entry` is
    /// `u32::MAX` (not representable); both are bugs in the caller.
    pub(crate) fn insert(&mut self, hash: u64, entry: u32) {
        assert!(self.len < self.max_entries, "session index over capacity");
        let value =
            (u64::from(tag_of(hash)) << 32) | u64::from(entry.checked_add(1).expect("entry"));
        let mut pos = self.home(tag_of(hash));
        while self.buckets[pos] != 0 {
            pos = self.next(pos);
        }
        self.buckets[pos] = value;
        self.len += 1;
    }

    /// Removes `entry` stored under `hash`. Returns false if it was not
    /// stored.
    pub(crate) fn remove(&mut self, hash: u64, entry: u32) -> bool {
        let value = (u64::from(tag_of(hash)) << 32) | u64::from(entry + 1);
        let mut pos = self.home(tag_of(hash));
        loop {
            match self.buckets[pos] {
                0 => return false,
                b if b == value => break,
                _ => pos = self.next(pos),
            }
        }
        // Backward shift: pull later members of the probe run into the hole
        // unless that would move them before their home bucket.
        let mut hole = pos;
        let mut cur = self.next(pos);
        loop {
            let bucket = self.buckets[cur];
            if bucket == 0 {
                break;
            }
            let home = self.home((bucket >> 32) as u32);
            // Can `bucket` (at `cur`, home `home`) move to `hole`? Only if
            // `home` is not cyclically within (hole, cur].
            let stays = if hole <= cur {
                hole < home && home <= cur
            } else {
                hole < home || home <= cur
            };
            if !stays {
                self.buckets[hole] = bucket;
                hole = cur;
            }
            cur = self.next(cur);
        }
        self.buckets[hole] = 0;
        self.len -= 1;
        true
    }

    /// Removes every entry.
    pub(crate) fn clear(&mut self) {
        self.buckets.fill(0);
        self.len = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// A cheap deterministic mixer for test hashes.
    fn mix(x: u64) -> u64 {
        let x = (x ^ (x >> 33)).wrapping_mul(0xff51_afd7_ed55_8ccd);
        let x = (x ^ (x >> 33)).wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        x ^ (x >> 33)
    }

    #[test]
    fn insert_find_remove_agree_with_a_map_under_churn() {
        let mut index = Index::with_max_entries(1000);
        let mut oracle: HashMap<u32, u64> = HashMap::new();
        let mut rng = 1u64;
        for step in 0..200_000u64 {
            rng = mix(rng.wrapping_add(step));
            let entry = (rng % 1500) as u32;
            // Deliberately clustered hashes: few distinct home buckets.
            let hash = mix(u64::from(entry) % 97) & 0xffff_0000_0000_0000 | u64::from(entry);
            if let Some(h) = oracle.remove(&entry) {
                assert!(index.remove(h, entry));
            } else if oracle.len() < 1000 {
                index.insert(hash, entry);
                oracle.insert(entry, hash);
            }
            if step % 1000 == 0 {
                for (&e, &h) in &oracle {
                    assert_eq!(index.find(h, |x| x == e), Some(e));
                }
                assert_eq!(index.len(), oracle.len());
            }
        }
        for (&e, &h) in &oracle {
            assert_eq!(index.find(h, |x| x == e), Some(e));
        }
        assert!(!index.remove(mix(5), 4999));
    }

    #[test]
    fn sizing_keeps_load_at_most_three_quarters() {
        let index = Index::with_max_entries(2_000_000);
        assert_eq!(index.buckets(), 2_666_667);
        assert!(Index::with_max_entries(0).buckets() >= MIN_BUCKETS);
        assert!(Index::with_max_entries(1).buckets() > 1);
    }
}
