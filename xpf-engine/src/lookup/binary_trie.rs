//! A plain binary trie: one address bit per level, nodes in an arena.
//!
//! The textbook structure: a lookup walks at most `WIDTH` nodes (32 for
//! IPv4, 128 for IPv6), remembering the last node that carried a prefix.
//! Updates touch only the path of the prefix. It is the simplest correct
//! trie and serves as the second candidate in the benchmark.

use super::prefix::{Bits, LongestPrefixMatch, Prefix};
use super::store::{Handle, PrefixStore};

const NONE: u32 = 0;

#[derive(Clone, Copy, Debug, Default)]
struct Node {
    /// Child arena indices for bit 0 and bit 1 (`0` = none: the root is
    /// node 0 and is never anyone's child).
    child: [u32; 2],
    /// Handle of the prefix ending here (`0` = none).
    handle: Handle,
}

/// Longest-prefix match over a binary trie.
#[derive(Clone, Debug)]
pub struct BinaryTrie<P: Prefix, V> {
    nodes: Vec<Node>,
    free: Vec<u32>,
    store: PrefixStore<P, V>,
}

impl<P: Prefix, V> Default for BinaryTrie<P, V> {
    fn default() -> Self {
        Self {
            nodes: vec![Node::default()],
            free: Vec::new(),
            store: PrefixStore::default(),
        }
    }
}

impl<P: Prefix, V> BinaryTrie<P, V> {
    /// An empty trie.
    pub fn new() -> Self {
        Self::default()
    }

    fn alloc(&mut self) -> u32 {
        match self.free.pop() {
            Some(i) => {
                self.nodes[i as usize] = Node::default();
                i
            }
            None => {
                self.nodes.push(Node::default());
                u32::try_from(self.nodes.len() - 1).expect("fewer than 2^32 trie nodes")
            }
        }
    }

    /// Approximate heap bytes held.
    pub fn heap_bytes(&self) -> usize {
        self.nodes.capacity() * std::mem::size_of::<Node>()
            + self.free.capacity() * 4
            + self.store.heap_bytes()
    }
}

impl<P: Prefix, V> LongestPrefixMatch<P, V> for BinaryTrie<P, V> {
    fn insert(&mut self, prefix: P, value: V) -> Option<V> {
        let prefix = prefix.normalised();
        let h = match self.store.insert(prefix, value) {
            Ok(h) => h,
            Err((_, old)) => return Some(old),
        };
        let bits = prefix.network_bits();
        let mut node = 0usize;
        for i in 0..prefix.length() {
            let b = usize::from(bits.bit(i));
            let next = self.nodes[node].child[b];
            node = if next == NONE {
                let n = self.alloc();
                self.nodes[node].child[b] = n;
                n as usize
            } else {
                next as usize
            };
        }
        self.nodes[node].handle = h;
        None
    }

    fn remove(&mut self, prefix: &P) -> Option<V> {
        let prefix = prefix.normalised();
        let (_, value) = self.store.remove(&prefix)?;
        let bits = prefix.network_bits();
        // Record the path so empty nodes can be unlinked bottom-up.
        let mut path: Vec<(usize, usize)> = Vec::with_capacity(usize::from(prefix.length()));
        let mut node = 0usize;
        for i in 0..prefix.length() {
            let b = usize::from(bits.bit(i));
            path.push((node, b));
            node = self.nodes[node].child[b] as usize;
        }
        self.nodes[node].handle = NONE;
        while let Some((parent, b)) = path.pop() {
            let n = self.nodes[node];
            if n.handle != NONE || n.child != [NONE, NONE] {
                break;
            }
            self.nodes[parent].child[b] = NONE;
            self.free.push(node as u32);
            node = parent;
        }
        Some(value)
    }

    fn get(&self, prefix: &P) -> Option<&V> {
        self.store.get(&prefix.normalised())
    }

    #[inline]
    fn longest_match(&self, addr: P::Addr) -> Option<(&P, &V)> {
        let bits = P::addr_bits(addr);
        let mut node = &self.nodes[0];
        let mut best = node.handle;
        let mut i = 0u8;
        while i < <P::Bits as Bits>::WIDTH {
            let next = node.child[usize::from(bits.bit(i))];
            if next == NONE {
                break;
            }
            node = &self.nodes[next as usize];
            if node.handle != NONE {
                best = node.handle;
            }
            i += 1;
        }
        self.store.pair(best)
    }

    fn len(&self) -> usize {
        self.store.len()
    }
}
