//! [`LpmTable`]: the dual-stack longest-prefix-match table the pipeline uses.
//!
//! It pairs one IPv4 and one IPv6 structure, each the one the benchmark
//! chose ([`Lpm4`], [`Lpm6`]; see the module documentation of
//! [`lookup`](super)), behind an `IpNet`/`IpAddr` interface. Values are
//! generic: route targets, `()` for address sets, ids for anything else.

use super::prefix::LongestPrefixMatch;
use super::{Lpm4, Lpm6};
use ipnet::IpNet;
use std::net::IpAddr;
use xpf_dataplane::compile::{CompiledAddressSet, CompiledRoute, RouteTarget};

/// A dual-stack longest-prefix-match table.
#[derive(Clone, Debug)]
pub struct LpmTable<V> {
    v4: Lpm4<V>,
    v6: Lpm6<V>,
}

/// A set of prefixes: an [`LpmTable`] without values, for membership tests.
pub type PrefixSet = LpmTable<()>;

impl<V> Default for LpmTable<V> {
    fn default() -> Self {
        Self {
            v4: Lpm4::default(),
            v6: Lpm6::default(),
        }
    }
}

impl<V> LpmTable<V> {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Inserts or replaces (host bits of `prefix` are ignored); returns the
    /// previous value of this exact prefix.
    pub fn insert(&mut self, prefix: IpNet, value: V) -> Option<V> {
        match prefix {
            IpNet::V4(p) => self.v4.insert(p, value),
            IpNet::V6(p) => self.v6.insert(p, value),
        }
    }

    /// Removes an exact prefix; returns its value.
    pub fn remove(&mut self, prefix: &IpNet) -> Option<V> {
        match prefix {
            IpNet::V4(p) => self.v4.remove(p),
            IpNet::V6(p) => self.v6.remove(p),
        }
    }

    /// The value stored for exactly this prefix.
    pub fn get(&self, prefix: &IpNet) -> Option<&V> {
        match prefix {
            IpNet::V4(p) => self.v4.get(p),
            IpNet::V6(p) => self.v6.get(p),
        }
    }

    /// The most specific prefix covering `addr`, with its value. The prefix
    /// is returned by value (an `IpNet` is built from the family's stored
    /// prefix; use [`v4`](Self::v4)/[`v6`](Self::v6) for references).
    #[inline]
    pub fn longest_match(&self, addr: IpAddr) -> Option<(IpNet, &V)> {
        match addr {
            IpAddr::V4(a) => self.v4.longest_match(a).map(|(p, v)| (IpNet::V4(*p), v)),
            IpAddr::V6(a) => self.v6.longest_match(a).map(|(p, v)| (IpNet::V6(*p), v)),
        }
    }

    /// True when some prefix covers `addr`.
    #[inline]
    pub fn contains(&self, addr: IpAddr) -> bool {
        match addr {
            IpAddr::V4(a) => self.v4.contains(a),
            IpAddr::V6(a) => self.v6.contains(a),
        }
    }

    /// Number of prefixes of both families.
    pub fn len(&self) -> usize {
        self.v4.len() + self.v6.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The IPv4 half.
    pub fn v4(&self) -> &Lpm4<V> {
        &self.v4
    }

    /// The IPv6 half.
    pub fn v6(&self) -> &Lpm6<V> {
        &self.v6
    }
}

impl<V> FromIterator<(IpNet, V)> for LpmTable<V> {
    fn from_iter<I: IntoIterator<Item = (IpNet, V)>>(iter: I) -> Self {
        let mut t = Self::new();
        for (p, v) in iter {
            t.insert(p, v);
        }
        t
    }
}

impl<V> Extend<(IpNet, V)> for LpmTable<V> {
    fn extend<I: IntoIterator<Item = (IpNet, V)>>(&mut self, iter: I) {
        for (p, v) in iter {
            self.insert(p, v);
        }
    }
}

impl PrefixSet {
    /// The membership table of a compiled address set: `contains(addr)`
    /// agrees with [`CompiledAddressSet::contains`].
    pub fn from_address_set(set: &CompiledAddressSet) -> Self {
        let mut t = Self::new();
        for p in &set.v4 {
            t.v4.insert(*p, ());
        }
        for p in &set.v6 {
            t.v6.insert(*p, ());
        }
        t
    }
}

impl LpmTable<RouteTarget> {
    /// The route table of the compiled forwarding state. Duplicate
    /// destinations keep the last route (the compiler emits none).
    pub fn from_routes(routes: &[CompiledRoute]) -> Self {
        routes
            .iter()
            .map(|r| (r.destination, r.target.clone()))
            .collect()
    }
}
