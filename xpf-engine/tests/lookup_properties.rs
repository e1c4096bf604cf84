//! Every longest-prefix-match structure agrees with a linear-scan oracle, and
//! every address-set membership index agrees with
//! `CompiledAddressSet::contains`, on random prefixes, updates and addresses
//! of both families.

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use xpf_dataplane::compile::CompiledAddressSet;
use xpf_engine::lookup::{
    BinaryTrie, CombinedLpmIndex, IntervalIndex, LengthHashLpm, LinearLpm, LongestPrefixMatch,
    LpmTable, PerSetIndex, Prefix, PrefixSet, SetMatch, SetMembership, StrideTrie,
};
use xpf_runtime::AddressSetId;

/// One step of a random table history.
#[derive(Clone, Debug)]
enum Op<P> {
    Insert(P, u32),
    Remove(P),
}

/// The oracle: a map from normalised prefix to value; the longest covering
/// prefix wins.
struct Oracle<P: Prefix>(BTreeMap<P, u32>);

impl<P: Prefix> Oracle<P> {
    fn apply(&mut self, op: &Op<P>) -> Option<u32> {
        match op {
            Op::Insert(p, v) => self.0.insert(p.normalised(), *v),
            Op::Remove(p) => self.0.remove(&p.normalised()),
        }
    }

    fn longest_match(&self, addr: P::Addr) -> Option<(P, u32)> {
        self.0
            .iter()
            .filter(|(p, _)| p.covers(addr))
            .max_by_key(|(p, _)| p.length())
            .map(|(p, v)| (*p, *v))
    }
}

/// Prefixes drawn around a few bases so that they nest and collide.
fn v4_prefix() -> impl Strategy<Value = Ipv4Net> + Clone {
    (
        prop::sample::select(vec![
            0u32,
            0xc612_0000,
            0xc612_0100,
            0x0a00_0000,
            0xffff_ffff,
        ]),
        any::<u32>(),
        0u8..=32,
        0u8..=32,
    )
        .prop_map(|(base, noise, keep_noise, len)| {
            let noise = if keep_noise >= 32 {
                0
            } else {
                noise >> keep_noise
            };
            Ipv4Net::new(Ipv4Addr::from(base ^ noise), len).unwrap()
        })
}

fn v6_prefix() -> impl Strategy<Value = Ipv6Net> + Clone {
    (
        prop::sample::select(vec![
            0u128,
            0x2001_0db8_0000_0000_0000_0000_0000_0000,
            0x2001_0db8_0001_0000_0000_0000_0000_0000,
            u128::MAX,
        ]),
        any::<u128>(),
        0u8..=128,
        prop_oneof![0u8..=128, Just(32), Just(48), Just(64), Just(128)],
    )
        .prop_map(|(base, noise, keep_noise, len)| {
            let noise = if keep_noise >= 128 {
                0
            } else {
                noise >> keep_noise
            };
            Ipv6Net::new(Ipv6Addr::from(base ^ noise), len).unwrap()
        })
}

fn ops<P: Prefix>(prefix: impl Strategy<Value = P> + Clone) -> impl Strategy<Value = Vec<Op<P>>> {
    prop::collection::vec(
        prop_oneof![
            3 => (prefix.clone(), any::<u32>()).prop_map(|(p, v)| Op::Insert(p, v)),
            1 => prefix.prop_map(Op::Remove),
        ],
        0..120,
    )
}

/// Addresses inside the tested prefixes' neighbourhoods, plus random ones.
fn v4_addr() -> impl Strategy<Value = Ipv4Addr> {
    prop_oneof![
        v4_prefix().prop_map(|p| p.addr()),
        any::<u32>().prop_map(Ipv4Addr::from)
    ]
}

fn v6_addr() -> impl Strategy<Value = Ipv6Addr> {
    prop_oneof![
        v6_prefix().prop_map(|p| p.addr()),
        any::<u128>().prop_map(Ipv6Addr::from)
    ]
}

/// Replays `ops` on `table` and the oracle, checking every return value,
/// then checks every probe address.
fn agree<P: Prefix, T: LongestPrefixMatch<P, u32> + Default>(
    ops: &[Op<P>],
    probes: &[P::Addr],
) -> Result<(), TestCaseError> {
    let mut table = T::default();
    let mut oracle = Oracle(BTreeMap::new());
    for op in ops {
        let got = match op {
            Op::Insert(p, v) => table.insert(*p, *v),
            Op::Remove(p) => table.remove(p),
        };
        prop_assert_eq!(got, oracle.apply(op), "return value of {:?}", op);
        prop_assert_eq!(table.len(), oracle.0.len());
    }
    for (p, v) in &oracle.0 {
        prop_assert_eq!(table.get(p), Some(v));
    }
    let probes = probes
        .iter()
        .copied()
        .chain(oracle.0.keys().map(|p| P::bits_addr(p.network_bits())));
    for addr in probes {
        let got = table.longest_match(addr).map(|(p, v)| (*p, *v));
        prop_assert_eq!(got, oracle.longest_match(addr), "lookup {:?}", addr);
        prop_assert_eq!(table.contains(addr), got.is_some());
    }
    Ok(())
}

macro_rules! lpm_agrees_with_oracle {
    ($($name:ident: $table:ty, $prefix:expr, $addr:expr;)*) => {
        proptest! {
            #![proptest_config(ProptestConfig::with_cases(200))]
            $(
                #[test]
                fn $name(ops in ops($prefix), probes in prop::collection::vec($addr, 0..64)) {
                    agree::<_, $table>(&ops, &probes)?;
                }
            )*
        }
    };
}

lpm_agrees_with_oracle! {
    linear_v4_agrees_with_oracle: LinearLpm<Ipv4Net, u32>, v4_prefix(), v4_addr();
    linear_v6_agrees_with_oracle: LinearLpm<Ipv6Net, u32>, v6_prefix(), v6_addr();
    binary_trie_v4_agrees_with_oracle: BinaryTrie<Ipv4Net, u32>, v4_prefix(), v4_addr();
    binary_trie_v6_agrees_with_oracle: BinaryTrie<Ipv6Net, u32>, v6_prefix(), v6_addr();
    length_hash_v4_agrees_with_oracle: LengthHashLpm<Ipv4Net, u32>, v4_prefix(), v4_addr();
    length_hash_v6_agrees_with_oracle: LengthHashLpm<Ipv6Net, u32>, v6_prefix(), v6_addr();
    stride4_trie_v4_agrees_with_oracle: StrideTrie<Ipv4Net, u32, 4>, v4_prefix(), v4_addr();
    stride4_trie_v6_agrees_with_oracle: StrideTrie<Ipv6Net, u32, 4>, v6_prefix(), v6_addr();
    stride8_trie_v4_agrees_with_oracle: StrideTrie<Ipv4Net, u32, 8>, v4_prefix(), v4_addr();
    stride8_trie_v6_agrees_with_oracle: StrideTrie<Ipv6Net, u32, 8>, v6_prefix(), v6_addr();
    stride16_trie_v4_agrees_with_oracle: StrideTrie<Ipv4Net, u32, 16>, v4_prefix(), v4_addr();
}

fn any_prefix() -> impl Strategy<Value = IpNet> {
    prop_oneof![
        v4_prefix().prop_map(IpNet::V4),
        v6_prefix().prop_map(IpNet::V6)
    ]
}

fn any_addr() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        v4_addr().prop_map(IpAddr::V4),
        v6_addr().prop_map(IpAddr::V6)
    ]
}

/// Random compiled address sets: ids 1..=n with gaps, random prefixes of both
/// families (not necessarily normalised, which the indexes must tolerate).
fn address_sets() -> impl Strategy<Value = Vec<CompiledAddressSet>> {
    prop::collection::vec(
        (1u32..200, prop::collection::vec(any_prefix(), 0..8)),
        0..12,
    )
    .prop_map(|raw| {
        let mut seen = std::collections::BTreeSet::new();
        raw.into_iter()
            .filter(|(id, _)| seen.insert(*id))
            .map(|(id, nets)| CompiledAddressSet {
                id: AddressSetId(id),
                key: format!("set{id}"),
                v4: nets
                    .iter()
                    .filter_map(|n| match n {
                        IpNet::V4(p) => Some(*p),
                        IpNet::V6(_) => None,
                    })
                    .collect(),
                v6: nets
                    .iter()
                    .filter_map(|n| match n {
                        IpNet::V6(p) => Some(*p),
                        IpNet::V4(_) => None,
                    })
                    .collect(),
            })
            .collect()
    })
}

fn membership_agrees<M: SetMembership>(
    sets: &[CompiledAddressSet],
    probes: &[IpAddr],
) -> Result<(), TestCaseError> {
    let index = M::build(sets);
    let edges = sets.iter().flat_map(|s| {
        let v4 = s.v4.iter().flat_map(|p| {
            [
                IpAddr::V4(p.network()),
                IpAddr::V4(p.broadcast()),
                IpAddr::V4(Ipv4Addr::from(u32::from(p.broadcast()).wrapping_add(1))),
            ]
        });
        let v6 = s.v6.iter().flat_map(|p| {
            [
                IpAddr::V6(p.network()),
                IpAddr::V6(p.broadcast()),
                IpAddr::V6(Ipv6Addr::from(u128::from(p.broadcast()).wrapping_add(1))),
            ]
        });
        v4.chain(v6).collect::<Vec<_>>()
    });
    for addr in probes.iter().copied().chain(edges) {
        let c = index.classify(addr);
        for s in sets {
            prop_assert_eq!(c.contains(s.id), s.contains(addr), "{} in {}", addr, s.key);
        }
        prop_assert!(!c.contains(AddressSetId(0)));
        prop_assert!(!c.contains(AddressSetId(5000)));
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn per_set_index_agrees_with_compiled_sets(
        sets in address_sets(),
        probes in prop::collection::vec(any_addr(), 0..48),
    ) {
        membership_agrees::<PerSetIndex>(&sets, &probes)?;
    }

    #[test]
    fn combined_lpm_index_agrees_with_compiled_sets(
        sets in address_sets(),
        probes in prop::collection::vec(any_addr(), 0..48),
    ) {
        membership_agrees::<CombinedLpmIndex>(&sets, &probes)?;
    }

    #[test]
    fn interval_index_agrees_with_compiled_sets(
        sets in address_sets(),
        probes in prop::collection::vec(any_addr(), 0..48),
    ) {
        membership_agrees::<IntervalIndex>(&sets, &probes)?;
    }

    #[test]
    fn prefix_set_from_address_set_agrees_with_contains(
        sets in address_sets(),
        probes in prop::collection::vec(any_addr(), 0..48),
    ) {
        for s in &sets {
            let table = PrefixSet::from_address_set(s);
            for &a in &probes {
                prop_assert_eq!(table.contains(a), s.contains(a));
            }
        }
    }

    #[test]
    fn dual_stack_table_agrees_with_oracle(
        entries in prop::collection::vec((any_prefix(), any::<u32>()), 0..64),
        probes in prop::collection::vec(any_addr(), 0..64),
    ) {
        let table: LpmTable<u32> = entries.iter().copied().collect();
        let mut oracle: BTreeMap<IpNet, u32> = BTreeMap::new();
        for (p, v) in &entries {
            oracle.insert(p.trunc(), *v);
        }
        prop_assert_eq!(table.len(), oracle.len());
        for a in probes {
            let want = oracle
                .iter()
                .filter(|(p, _)| p.contains(&a))
                .max_by_key(|(p, _)| p.prefix_len())
                .map(|(p, v)| (*p, *v));
            prop_assert_eq!(table.longest_match(a).map(|(p, v)| (p, *v)), want);
        }
    }
}

#[test]
fn default_route_and_host_route_coexist() {
    let mut t: LpmTable<&str> = LpmTable::new();
    t.insert("0.0.0.0/0".parse().unwrap(), "default");
    t.insert("198.18.0.0/15".parse().unwrap(), "bench");
    t.insert("198.18.0.1/32".parse().unwrap(), "host");
    t.insert("::/0".parse().unwrap(), "default6");
    let look = |t: &LpmTable<&'static str>, a: &str| {
        t.longest_match(a.parse().unwrap())
            .map(|(p, v)| (p.to_string(), *v))
    };
    assert_eq!(
        look(&t, "198.18.0.1"),
        Some(("198.18.0.1/32".into(), "host"))
    );
    assert_eq!(
        look(&t, "198.19.255.255"),
        Some(("198.18.0.0/15".into(), "bench"))
    );
    assert_eq!(look(&t, "8.8.8.8"), Some(("0.0.0.0/0".into(), "default")));
    assert_eq!(look(&t, "2001:db8::1"), Some(("::/0".into(), "default6")));
    assert_eq!(t.remove(&"198.18.0.0/15".parse().unwrap()), Some("bench"));
    assert_eq!(
        look(&t, "198.19.0.1"),
        Some(("0.0.0.0/0".into(), "default"))
    );
    assert_eq!(
        look(&t, "198.18.0.1"),
        Some(("198.18.0.1/32".into(), "host"))
    );
}
