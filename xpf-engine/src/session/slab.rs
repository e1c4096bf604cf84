//! Chunked storage and intrusive doubly-linked lists over it.
//!
//! [`Chunked`] is an append-only vector made of fixed-size chunks: growing it
//! allocates one more chunk and never moves existing elements, so the
//! session table has no reallocation stall when it grows past a power of
//! two (a plain `Vec` of 1M sessions copies ~200 MB on its last doubling),
//! and memory follows the peak number of sessions rather than the
//! configured capacity. Indexing costs one extra load from the small,
//! cache-resident chunk array.
//!
//! [`List`] is a FIFO of nodes linked through [`Link`] fields stored in the
//! nodes themselves (addressed by 32-bit node ids), with O(1) push, pop and
//! unlink from anywhere. The timer wheel's buckets and the embryonic-session
//! FIFO are such lists.

/// Elements per chunk (a power of two).
const CHUNK_BITS: u32 = 12;
const CHUNK: usize = 1 << CHUNK_BITS;

/// An append-only vector of fixed-size chunks.
#[derive(Clone, Debug)]
pub(crate) struct Chunked<T> {
    chunks: Vec<Vec<T>>,
    len: usize,
}

impl<T> Default for Chunked<T> {
    fn default() -> Self {
        Self {
            chunks: Vec::new(),
            len: 0,
        }
    }
}

impl<T> Chunked<T> {
    /// Elements stored.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Bytes reserved for elements (whole chunks).
    pub(crate) fn bytes(&self) -> usize {
        self.chunks.len() * CHUNK * std::mem::size_of::<T>()
    }

    /// Appends `value` and returns its index.
    pub(crate) fn push(&mut self, value: T) -> usize {
        if self.len.is_multiple_of(CHUNK) {
            self.chunks.push(Vec::with_capacity(CHUNK));
        }
        let last = self.chunks.last_mut().expect("a chunk was just ensured");
        last.push(value);
        self.len += 1;
        self.len - 1
    }

    /// The element at `index`.
    #[inline(always)]
    pub(crate) fn get(&self, index: usize) -> &T {
        &self.chunks[index >> CHUNK_BITS][index & (CHUNK - 1)]
    }

    /// The element at `index`, or `None` past the end.
    #[inline(always)]
    pub(crate) fn try_get(&self, index: usize) -> Option<&T> {
        if index < self.len {
            Some(self.get(index))
        } else {
            None
        }
    }

    /// The element at `index`, mutably.
    #[inline(always)]
    pub(crate) fn get_mut(&mut self, index: usize) -> &mut T {
        &mut self.chunks[index >> CHUNK_BITS][index & (CHUNK - 1)]
    }

    /// Every element with its index.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (usize, &T)> {
        self.chunks.iter().flatten().enumerate()
    }
}

/// The "no node" link value.
pub(crate) const NIL: u32 = u32::MAX;

/// A node's links in one list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Link {
    pub(crate) prev: u32,
    pub(crate) next: u32,
}

impl Link {
    /// Not in any list.
    pub(crate) const UNLINKED: Self = Self {
        prev: NIL,
        next: NIL,
    };
}

/// Access to the [`Link`] field of each node for one kind of list.
pub(crate) trait Links {
    /// The links of `node`.
    fn link(&mut self, node: u32) -> &mut Link;
}

/// A doubly-linked FIFO of nodes; the links live in the nodes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct List {
    head: u32,
    tail: u32,
}

impl Default for List {
    fn default() -> Self {
        Self::EMPTY
    }
}

impl List {
    /// The empty list.
    pub(crate) const EMPTY: Self = Self {
        head: NIL,
        tail: NIL,
    };

    /// The oldest node.
    pub(crate) fn front(&self) -> Option<u32> {
        (self.head != NIL).then_some(self.head)
    }

    /// The first node, for walking with [`Link::next`].
    pub(crate) fn head(&self) -> u32 {
        self.head
    }

    /// Appends `node`, which must not be in a list of this kind.
    pub(crate) fn push_back(&mut self, links: &mut impl Links, node: u32) {
        *links.link(node) = Link {
            prev: self.tail,
            next: NIL,
        };
        if self.tail == NIL {
            self.head = node;
        } else {
            links.link(self.tail).next = node;
        }
        self.tail = node;
    }

    /// Removes `node`, which must be in this list.
    pub(crate) fn unlink(&mut self, links: &mut impl Links, node: u32) {
        let Link { prev, next } = *links.link(node);
        if prev == NIL {
            self.head = next;
        } else {
            links.link(prev).next = next;
        }
        if next == NIL {
            self.tail = prev;
        } else {
            links.link(next).prev = prev;
        }
        *links.link(node) = Link::UNLINKED;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Nodes(Vec<Link>);

    impl Links for Nodes {
        fn link(&mut self, node: u32) -> &mut Link {
            &mut self.0[node as usize]
        }
    }

    fn collect(list: &List, nodes: &mut Nodes) -> Vec<u32> {
        let mut out = Vec::new();
        let mut cur = list.head();
        while cur != NIL {
            out.push(cur);
            cur = nodes.link(cur).next;
        }
        out
    }

    #[test]
    fn list_is_fifo_and_unlinks_anywhere() {
        let mut nodes = Nodes(vec![Link::UNLINKED; 5]);
        let mut list = List::EMPTY;
        for n in 0..5 {
            list.push_back(&mut nodes, n);
        }
        list.unlink(&mut nodes, 2);
        list.unlink(&mut nodes, 0);
        list.unlink(&mut nodes, 4);
        assert_eq!(collect(&list, &mut nodes), vec![1, 3]);
        assert_eq!(list.front(), Some(1));
        list.push_back(&mut nodes, 0);
        assert_eq!(collect(&list, &mut nodes), vec![1, 3, 0]);
        list.unlink(&mut nodes, 1);
        list.unlink(&mut nodes, 3);
        list.unlink(&mut nodes, 0);
        assert_eq!(list, List::EMPTY);
    }

    #[test]
    fn chunked_never_moves_and_indexes_across_chunks() {
        let mut c = Chunked::default();
        for i in 0..(CHUNK * 2 + 3) {
            assert_eq!(c.push(i), i);
        }
        assert_eq!(*c.get(CHUNK + 1), CHUNK + 1);
        *c.get_mut(2 * CHUNK) = 7;
        assert_eq!(*c.get(2 * CHUNK), 7);
        assert_eq!(c.len(), 2 * CHUNK + 3);
        assert_eq!(c.iter().count(), c.len());
    }
}
