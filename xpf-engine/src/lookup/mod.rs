//! Longest-prefix-match tables and address-set membership.
//!
//! [`LpmTable<V>`](LpmTable) is the dual-stack table the pipeline uses for
//! routes (`LpmTable::from_routes`) and anything else keyed by prefix;
//! [`PrefixSet`] is one address set (`PrefixSet::from_address_set`);
//! [`AddressSetIndex`] answers "which of these sets contain this address"
//! for the policy stage. All of them are built from the compiled form.
//!
//! Every structure implements [`LongestPrefixMatch`] over a [`Prefix`]
//! (`Ipv4Net` or `Ipv6Net`), so the benchmark and the property tests
//! (`tests/lookup_properties.rs`: each agrees with a linear-scan oracle on
//! random tables, updates and addresses) drive them all the same way:
//!
//! - [`LinearLpm`]: scan, longest first. The baseline.
//! - [`BinaryTrie`]: one bit per level.
//! - [`LengthHashLpm`]: a hash map per prefix length, probed longest first
//!   (Waldvogel's binary search over lengths is discussed and rejected there).
//! - [`StrideTrie<_, _, S>`](StrideTrie): multibit trie, stride `S`, prefix
//!   expansion inside nodes; measured at `S = 4` and `S = 8`.
//!
//! # Choice, by benchmark
//!
//! `cargo bench -p xpf-engine --bench lookup`: tables of random prefixes with
//! a routing-table length mix (IPv4: 5% /8-/15, 35% /16-/23, 50% /24, 10%
//! /25-/32; IPv6 inside 2000::/4: 10% /16-/32, 60% /33-/48, 25% /49-/64, 5%
//! /128), 1024 lookups per iteration, half inside a stored prefix. Mean ns
//! per lookup, one run on the shared 2-core development VM (2026-11-23,
//! other builds and benchmarks running: absolute numbers are inflated and
//! noisy; an earlier quieter run measured the tries 2-3× faster, e.g. IPv4
//! 100k stride-8 5.8 ns, stride-4 11.5 ns, binary 45 ns; IPv6 100k stride-8
//! 25 ns, stride-4 39 ns, binary 160 ns, with the same ordering):
//!
//! | IPv4 | 100 | 10k | 100k | bytes/prefix at 100k |
//! |---|---:|---:|---:|---:|
//! | linear (baseline) | 154 | 23,423 | 170,430 | 16 |
//! | binary-trie | 37.6 | 114 | 166 | 162 |
//! | length-hash | 51.2 | 76.7 | 145 | 23 |
//! | stride4-trie | 7.5 | 23.1 | 37.7 | 413 |
//! | **stride8-trie** | **4.2** | **13.2** | **17.3** | 1,388 |
//!
//! | IPv6 | 100 | 10k | 100k | bytes/prefix at 100k |
//! |---|---:|---:|---:|---:|
//! | linear (baseline) | 384 | 60,751 | 607,920 | 32 |
//! | binary-trie | 108 | 258 | 305 | 569 |
//! | length-hash | 280 | 1,064 | 1,651 | 81 |
//! | **stride4-trie** | **41.6** | **44.0** | **129** | 1,575 |
//! | stride8-trie | 23.5 | 26.3 | 56.8 | 10,887 |
//!
//! - IPv4 → **stride-8 trie** ([`Lpm4`]): fastest at every size (at most
//!   4 node visits, no backtracking), about 9× the binary trie and 4 orders of
//!   magnitude over the scan at 100k. Its memory (139 MB for 100k *random*
//!   prefixes, less for real tables whose prefixes cluster) is acceptable for
//!   a route table.
//! - IPv6 → **stride-4 trie** ([`Lpm6`]): stride 8 is about 2× faster but
//!   needs 10.9 KB per prefix (1.1 GB at 100k) because every IPv6 prefix
//!   creates its own chain of 2 KiB nodes; stride 4 keeps 128-byte nodes at
//!   1.6 KB per prefix and is still 2.4-6× faster than the binary trie.
//! - The length-hash maps are the most compact but need one probe per
//!   distinct length present (≈50 for the IPv6 mix), which loses everywhere
//!   except tiny IPv4 tables.
//!
//! Address-set membership (`membership/...`): 1000 sets of 1-16 prefixes in
//! 198.18.0.0/15 plus `any`; a packet classifies source and destination and
//! tests the sets of `k` candidate rules; ns per packet, same run:
//!
//! | structure | k = 1 | k = 8 | k = 64 | memory |
//! |---|---:|---:|---:|---:|
//! | `CompiledAddressSet::contains` (baseline) | 39.8 | 314 | 4,890 | - |
//! | [`PerSetIndex`] (one LPM per set) | 40.9 | 159 | 1,839 | - |
//! | **[`CombinedLpmIndex`]** | 55.2 | **50.9** | **117** | 4.2 MB |
//! | [`IntervalIndex`] | 86.3 | 81.0 | 222 | 2.0 MB |
//!
//! → **combined LPM** ([`AddressSetIndex`]): one lookup per address, then
//! a bit test per rule, so its cost barely grows with the number of
//! candidate rules; per-set tables only win when a single rule is tested.

mod address_set;
mod binary_trie;
mod length_hash;
mod linear;
mod prefix;
mod store;
mod stride_trie;
mod table;

pub use address_set::{
    CombinedLpmIndex, IntervalIndex, PerSetIndex, PerSetProbe, SetMatch, SetMatches, SetMembership,
};
pub use binary_trie::BinaryTrie;
pub use length_hash::LengthHashLpm;
pub use linear::LinearLpm;
pub use prefix::{Bits, FxBuildHasher, FxHashMap, FxHasher, LongestPrefixMatch, Prefix};
pub use stride_trie::StrideTrie;
pub use table::{LpmTable, PrefixSet};

use ipnet::{Ipv4Net, Ipv6Net};

/// The IPv4 structure behind [`LpmTable`] (chosen by benchmark).
pub type Lpm4<V> = StrideTrie<Ipv4Net, V, 8>;

/// The IPv6 structure behind [`LpmTable`] (chosen by benchmark).
pub type Lpm6<V> = StrideTrie<Ipv6Net, V, 4>;

/// The address-set membership index the policy stage uses (chosen by benchmark).
pub type AddressSetIndex = CombinedLpmIndex;
