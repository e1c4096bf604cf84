//! A multibit trie with a fixed stride `S` and controlled prefix expansion.
//!
//! Each node is a flat array of `2^S` slots and consumes `S` address bits, so
//! a lookup visits at most `WIDTH / S` nodes: 4 for IPv4 at stride 8, 16 for
//! IPv6 at stride 8. A prefix of length `l` lives in the node at depth
//! `(l - 1) / S` (length 0 lives in the root) and is *expanded* over the
//! `2^(S - local length)` slots it covers there; a slot keeps the longest of
//! the prefixes expanded over it. A lookup therefore needs no backtracking:
//! it remembers the last non-empty slot on its way down.
//!
//! All nodes sit in one arena (`Vec<Slot>`, node `n` at `n << S`), a slot is
//! two `u32`s (child node, prefix handle), so a stride-8 node is 2 KiB.
//! Updates are local: an insert rewrites the slots of one node; a remove
//! hands those slots back to the next shorter prefix of the same node (found
//! by exact-match probes in the prefix store) and frees nodes that became
//! empty. Memory grows with the number of distinct `S`-bit paths, which is
//! the weakness the benchmark measures on large, sparse IPv6 sets.

use super::prefix::{Bits, LongestPrefixMatch, Prefix};
use super::store::{Handle, PrefixStore};

const NONE: u32 = 0;

#[derive(Clone, Copy, Debug, Default)]
struct Slot {
    /// Child node (`0` = none: the root is node 0 and nobody's child).
    child: u32,
    /// Longest prefix expanded over this slot (`0` = none).
    handle: Handle,
}

#[derive(Clone, Copy, Debug, Default)]
struct NodeMeta {
    parent: u32,
    parent_slot: u32,
    /// Prefixes whose home is this node.
    prefixes: u32,
    /// Non-empty child links.
    children: u32,
}

/// Longest-prefix match over a multibit trie of stride `S` (1 ≤ `S` ≤ 16,
/// `S` divides the address width).
#[derive(Clone, Debug)]
pub struct StrideTrie<P: Prefix, V, const S: u8> {
    slots: Vec<Slot>,
    meta: Vec<NodeMeta>,
    free: Vec<u32>,
    store: PrefixStore<P, V>,
}

impl<P: Prefix, V, const S: u8> Default for StrideTrie<P, V, S> {
    fn default() -> Self {
        let () = Self::STRIDE_IS_VALID;
        Self {
            slots: vec![Slot::default(); 1 << S],
            meta: vec![NodeMeta::default()],
            free: Vec::new(),
            store: PrefixStore::default(),
        }
    }
}

impl<P: Prefix, V, const S: u8> StrideTrie<P, V, S> {
    const STRIDE_IS_VALID: () = assert!(
        S >= 1 && S <= 16 && <P::Bits as Bits>::WIDTH % S == 0,
        "stride must be 1..=16 and divide the address width"
    );

    /// An empty trie.
    pub fn new() -> Self {
        Self::default()
    }

    /// Depth of the node a prefix of length `len` lives in.
    #[inline]
    fn home_depth(len: u8) -> u8 {
        if len == 0 { 0 } else { (len - 1) / S }
    }

    /// Shortest prefix length whose home is a node at `depth`.
    #[inline]
    fn min_len(depth: u8) -> u8 {
        if depth == 0 { 0 } else { depth * S + 1 }
    }

    fn alloc(&mut self, parent: u32, parent_slot: u32) -> u32 {
        let meta = NodeMeta {
            parent,
            parent_slot,
            prefixes: 0,
            children: 0,
        };
        match self.free.pop() {
            Some(n) => {
                let base = (n as usize) << S;
                self.slots[base..base + (1 << S)].fill(Slot::default());
                self.meta[n as usize] = meta;
                n
            }
            None => {
                let n = u32::try_from(self.meta.len()).expect("fewer than 2^32 trie nodes");
                self.slots
                    .resize(self.slots.len() + (1 << S), Slot::default());
                self.meta.push(meta);
                n
            }
        }
    }

    /// The home node of `prefix`, created along the way when `create`.
    fn home(&mut self, prefix: &P, create: bool) -> Option<u32> {
        let bits = prefix.network_bits();
        let mut node = 0u32;
        for depth in 0..Self::home_depth(prefix.length()) {
            let slot = ((node as usize) << S) | bits.chunk(depth * S, S);
            node = match self.slots[slot].child {
                NONE if !create => return None,
                NONE => {
                    let child = self.alloc(node, slot as u32);
                    self.slots[slot].child = child;
                    self.meta[node as usize].children += 1;
                    child
                }
                child => child,
            };
        }
        Some(node)
    }

    /// The slot range a prefix is expanded over in its home node.
    fn expansion(node: u32, prefix: &P) -> std::ops::Range<usize> {
        let depth = Self::home_depth(prefix.length());
        let local = prefix.length() - depth * S;
        let first = prefix.network_bits().chunk(depth * S, S);
        let base = ((node as usize) << S) | first;
        base..base + (1 << (S - local))
    }

    /// Number of nodes allocated (including the root and free ones).
    pub fn node_count(&self) -> usize {
        self.meta.len() - self.free.len()
    }

    /// Approximate heap bytes held.
    pub fn heap_bytes(&self) -> usize {
        self.slots.capacity() * std::mem::size_of::<Slot>()
            + self.meta.capacity() * std::mem::size_of::<NodeMeta>()
            + self.free.capacity() * 4
            + self.store.heap_bytes()
    }
}

impl<P: Prefix, V, const S: u8> LongestPrefixMatch<P, V> for StrideTrie<P, V, S> {
    fn insert(&mut self, prefix: P, value: V) -> Option<V> {
        let prefix = prefix.normalised();
        let h = match self.store.insert(prefix, value) {
            Ok(h) => h,
            Err((_, old)) => return Some(old),
        };
        let node = self.home(&prefix, true).expect("created on demand");
        self.meta[node as usize].prefixes += 1;
        let len = prefix.length();
        for i in Self::expansion(node, &prefix) {
            let cur = self.slots[i].handle;
            if cur == NONE || self.store.length(cur).is_some_and(|l| l < len) {
                self.slots[i].handle = h;
            }
        }
        None
    }

    fn remove(&mut self, prefix: &P) -> Option<V> {
        let prefix = prefix.normalised();
        let (h, value) = self.store.remove(&prefix)?;
        let node = self.home(&prefix, false).expect("stored prefix has a home");
        let depth = Self::home_depth(prefix.length());
        let heir = self
            .store
            .longest_cover_shorter_than(&prefix, Self::min_len(depth))
            .unwrap_or(NONE);
        for i in Self::expansion(node, &prefix) {
            if self.slots[i].handle == h {
                self.slots[i].handle = heir;
            }
        }
        self.meta[node as usize].prefixes -= 1;
        // Free nodes that carry nothing any more, bottom-up.
        let mut node = node;
        while node != 0 {
            let m = self.meta[node as usize];
            if m.prefixes != 0 || m.children != 0 {
                break;
            }
            self.slots[m.parent_slot as usize].child = NONE;
            self.meta[m.parent as usize].children -= 1;
            self.free.push(node);
            node = m.parent;
        }
        Some(value)
    }

    fn get(&self, prefix: &P) -> Option<&V> {
        self.store.get(&prefix.normalised())
    }

    #[inline]
    fn longest_match(&self, addr: P::Addr) -> Option<(&P, &V)> {
        let bits = P::addr_bits(addr);
        let mut base = 0usize;
        let mut offset = 0u8;
        let mut best = NONE;
        loop {
            let slot = self.slots[base | bits.chunk(offset, S)];
            if slot.handle != NONE {
                best = slot.handle;
            }
            if slot.child == NONE {
                break;
            }
            base = (slot.child as usize) << S;
            offset += S;
        }
        self.store.pair(best)
    }

    fn len(&self) -> usize {
        self.store.len()
    }
}
