//! The prefix store shared by the trie structures.
//!
//! Tries keep a 32-bit *handle* in their nodes instead of the `(prefix,
//! value)` pair itself, which keeps nodes small and fixed-size. The store
//! owns the pairs in a slab (freed slots are reused) and an exact-match index
//! from prefix to handle, which answers `get`, duplicate inserts and the
//! "next shorter prefix" question a trie asks when it removes a prefix.

use super::prefix::{FxHashMap, Prefix};

/// A handle into a [`PrefixStore`]; `0` is reserved for "none".
pub(crate) type Handle = u32;

/// Owns `(prefix, value)` pairs and indexes them by exact prefix.
#[derive(Clone, Debug)]
pub(crate) struct PrefixStore<P: Prefix, V> {
    /// Slot `h - 1` holds the pair for handle `h`.
    slots: Vec<Option<(P, V)>>,
    free: Vec<Handle>,
    index: FxHashMap<P, Handle>,
}

impl<P: Prefix, V> Default for PrefixStore<P, V> {
    fn default() -> Self {
        Self {
            slots: Vec::new(),
            free: Vec::new(),
            index: FxHashMap::default(),
        }
    }
}

impl<P: Prefix, V> PrefixStore<P, V> {
    /// Stores a normalised prefix. If it was already present its value is
    /// replaced and `Err((handle, old))` is returned; otherwise `Ok(handle)`.
    pub(crate) fn insert(&mut self, prefix: P, value: V) -> Result<Handle, (Handle, V)> {
        if let Some(&h) = self.index.get(&prefix) {
            let slot = self.slots[h as usize - 1]
                .as_mut()
                .expect("indexed handle is live");
            return Err((h, std::mem::replace(&mut slot.1, value)));
        }
        let h = match self.free.pop() {
            Some(h) => {
                self.slots[h as usize - 1] = Some((prefix, value));
                h
            }
            None => {
                self.slots.push(Some((prefix, value)));
                Handle::try_from(self.slots.len()).expect("fewer than 2^32 prefixes")
            }
        };
        self.index.insert(prefix, h);
        Ok(h)
    }

    /// Removes an exact prefix, returning its former handle and value.
    pub(crate) fn remove(&mut self, prefix: &P) -> Option<(Handle, V)> {
        let h = self.index.remove(prefix)?;
        let (_, v) = self.slots[h as usize - 1].take()?;
        self.free.push(h);
        Some((h, v))
    }

    /// The handle of an exact prefix.
    #[inline]
    pub(crate) fn handle(&self, prefix: &P) -> Option<Handle> {
        self.index.get(prefix).copied()
    }

    /// The pair behind a live handle.
    #[inline]
    pub(crate) fn pair(&self, h: Handle) -> Option<(&P, &V)> {
        let (p, v) = self.slots.get((h as usize).checked_sub(1)?)?.as_ref()?;
        Some((p, v))
    }

    /// The prefix length behind a live handle (0 for the "none" handle).
    #[inline]
    pub(crate) fn length(&self, h: Handle) -> Option<u8> {
        self.pair(h).map(|(p, _)| p.length())
    }

    /// The value stored for exactly this prefix.
    pub(crate) fn get(&self, prefix: &P) -> Option<&V> {
        self.pair(self.handle(prefix)?).map(|(_, v)| v)
    }

    /// The longest stored prefix that covers `prefix`'s network, among
    /// lengths `min_len..prefix.length()` (shorter than `prefix` itself).
    pub(crate) fn longest_cover_shorter_than(&self, prefix: &P, min_len: u8) -> Option<Handle> {
        let bits = prefix.network_bits();
        (min_len..prefix.length())
            .rev()
            .find_map(|len| self.handle(&P::from_bits(bits, len)))
    }

    /// Number of stored prefixes.
    pub(crate) fn len(&self) -> usize {
        self.index.len()
    }

    /// Approximate heap bytes held.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.slots.capacity() * std::mem::size_of::<Option<(P, V)>>()
            + self.free.capacity() * std::mem::size_of::<Handle>()
            + self.index.capacity() * (std::mem::size_of::<(P, Handle)>() + 1)
    }
}
