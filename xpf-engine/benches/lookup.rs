//! Longest-prefix-match and address-set membership benchmarks.
//!
//! `lpm/{v4,v6}/{structure}/{100,10000,100000}`: 1024 lookups per iteration
//! (half inside a stored prefix, half uniformly random) against tables of
//! random prefixes with a routing-table-like length mix. The linear scan is
//! the baseline, measured in the same run. Memory of each table is printed
//! to stderr (`lpm-memory ...`).
//!
//! `membership/{structure}/k{1,8,64}`: 1000 address sets of 1-16 prefixes
//! (plus `any`); one "packet" classifies its source and destination once
//! and tests them against the sets of `k` candidate rules. The baseline is
//! `CompiledAddressSet::contains` (a linear scan per referenced set).
//!
//! The numbers and the resulting choice are recorded in the documentation of
//! `xpf_engine::lookup`.

// `criterion_group!` generates undocumented public functions.
#![allow(missing_docs)]

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use ipnet::{Ipv4Net, Ipv6Net};
use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;
use xpf_dataplane::compile::CompiledAddressSet;
use xpf_engine::lookup::{
    BinaryTrie, CombinedLpmIndex, IntervalIndex, LengthHashLpm, LinearLpm, LongestPrefixMatch,
    PerSetIndex, Prefix, SetMatch, SetMembership, StrideTrie,
};
use xpf_runtime::AddressSetId;

/// SplitMix64: a fixed-seed generator so every run measures the same tables.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// IPv4 lengths: 5% /8-/15, 35% /16-/23, 50% /24, 10% /25-/32.
fn v4_len(rng: &mut Rng) -> u8 {
    match rng.below(100) {
        0..5 => 8 + rng.below(8) as u8,
        5..40 => 16 + rng.below(8) as u8,
        40..90 => 24,
        _ => 25 + rng.below(8) as u8,
    }
}

/// IPv6 lengths: 10% /16-/32, 60% /33-/48, 25% /49-/64, 5% /128.
fn v6_len(rng: &mut Rng) -> u8 {
    match rng.below(100) {
        0..10 => 16 + rng.below(17) as u8,
        10..70 => 33 + rng.below(16) as u8,
        70..95 => 49 + rng.below(16) as u8,
        _ => 128,
    }
}

fn v4_prefixes(rng: &mut Rng, n: usize) -> Vec<Ipv4Net> {
    (0..n)
        .map(|_| Ipv4Net::from_bits(rng.next() as u32, v4_len(rng)))
        .collect()
}

fn v6_prefixes(rng: &mut Rng, n: usize) -> Vec<Ipv6Net> {
    (0..n)
        .map(|_| {
            // Keep IPv6 inside 2000::/4 like real global unicast.
            let bits = (u128::from(rng.next()) << 64 | u128::from(rng.next())) >> 4 | 2 << 124;
            Ipv6Net::from_bits(bits, v6_len(rng))
        })
        .collect()
}

/// Half of the probes inside stored prefixes (random host bits), half random.
fn probes<P: Prefix>(
    rng: &mut Rng,
    prefixes: &[P],
    random: impl Fn(&mut Rng) -> P::Bits,
    fill: impl Fn(P, P::Bits) -> P::Bits,
) -> Vec<P::Addr> {
    (0..1024)
        .map(|i| {
            let bits = if i % 2 == 0 {
                let p = prefixes[rng.below(prefixes.len() as u64) as usize];
                fill(p, random(rng))
            } else {
                random(rng)
            };
            P::bits_addr(bits)
        })
        .collect()
}

fn build<P: Prefix, T: LongestPrefixMatch<P, u32> + Default>(prefixes: &[P]) -> T {
    let mut t = T::default();
    for (i, p) in prefixes.iter().enumerate() {
        t.insert(*p, i as u32);
    }
    t
}

fn run_lookups<P: Prefix, T: LongestPrefixMatch<P, u32>>(t: &T, probes: &[P::Addr]) -> u64 {
    let mut acc = 0u64;
    for &a in probes {
        if let Some((_, v)) = t.longest_match(black_box(a)) {
            acc = acc.wrapping_add(u64::from(*v));
        }
    }
    acc
}

macro_rules! bench_structures {
    ($group:expr, $size:expr, $prefixes:expr, $probes:expr, $family:literal,
     $($name:literal => $table:ty),* $(,)?) => {
        $(
            let table: $table = build(&$prefixes);
            eprintln!(
                "lpm-memory {} {} {} bytes={} bytes/prefix={:.1}",
                $family, $name, $size, table.heap_bytes(),
                table.heap_bytes() as f64 / $size as f64
            );
            $group.bench_with_input(BenchmarkId::new($name, $size), &table, |b, t| {
                b.iter(|| run_lookups(t, &$probes))
            });
            drop(table);
        )*
    };
}

fn lpm(c: &mut Criterion) {
    for size in [100usize, 10_000, 100_000] {
        let mut rng = Rng(0x5eed_0000 + size as u64);
        let v4 = v4_prefixes(&mut rng, size);
        let v4_probes = probes(
            &mut rng,
            &v4,
            |r| r.next() as u32,
            |p, host| {
                p.network_bits()
                    | (host
                        & !u32::MAX
                            .checked_shl(32 - u32::from(p.prefix_len()))
                            .unwrap_or(0))
            },
        );
        let mut g = c.benchmark_group("lpm/v4");
        g.throughput(Throughput::Elements(v4_probes.len() as u64));
        bench_structures!(g, size, v4, v4_probes, "v4",
            "linear" => LinearLpm<Ipv4Net, u32>,
            "binary-trie" => BinaryTrie<Ipv4Net, u32>,
            "length-hash" => LengthHashLpm<Ipv4Net, u32>,
            "stride4-trie" => StrideTrie<Ipv4Net, u32, 4>,
            "stride8-trie" => StrideTrie<Ipv4Net, u32, 8>,
        );
        g.finish();

        let v6 = v6_prefixes(&mut rng, size);
        let v6_probes = probes(
            &mut rng,
            &v6,
            |r| (u128::from(r.next()) << 64 | u128::from(r.next())) >> 4 | 2 << 124,
            |p, host| {
                p.network_bits()
                    | (host
                        & !u128::MAX
                            .checked_shl(128 - u32::from(p.prefix_len()))
                            .unwrap_or(0))
            },
        );
        let mut g = c.benchmark_group("lpm/v6");
        g.throughput(Throughput::Elements(v6_probes.len() as u64));
        bench_structures!(g, size, v6, v6_probes, "v6",
            "linear" => LinearLpm<Ipv6Net, u32>,
            "binary-trie" => BinaryTrie<Ipv6Net, u32>,
            "length-hash" => LengthHashLpm<Ipv6Net, u32>,
            "stride4-trie" => StrideTrie<Ipv6Net, u32, 4>,
            "stride8-trie" => StrideTrie<Ipv6Net, u32, 8>,
        );
        g.finish();
    }
}

/// 1000 sets of 1-16 prefixes clustered in 198.18.0.0/15 (so they overlap
/// as real address books do), plus set 1 = `any`.
fn address_sets(rng: &mut Rng) -> Vec<CompiledAddressSet> {
    let mut sets = vec![CompiledAddressSet {
        id: AddressSetId(1),
        key: "any".into(),
        v4: vec!["0.0.0.0/0".parse().unwrap()],
        v6: vec!["::/0".parse().unwrap()],
    }];
    for id in 2..=1001u32 {
        let n = 1 + rng.below(16) as usize;
        let v4 = (0..n)
            .map(|_| {
                let bits = 0xc612_0000 | (rng.next() as u32 & 0x0001_ffff);
                let len = match rng.below(10) {
                    0 => 16 + rng.below(8) as u8,
                    1..4 => 24,
                    _ => 32,
                };
                Ipv4Net::from_bits(bits, len)
            })
            .collect();
        sets.push(CompiledAddressSet {
            id: AddressSetId(id),
            key: format!("set{id}"),
            v4,
            v6: Vec::new(),
        });
    }
    sets
}

struct Packet {
    src: IpAddr,
    dst: IpAddr,
    rule_sets: Vec<(AddressSetId, AddressSetId)>,
}

fn packets(rng: &mut Rng, k: usize) -> Vec<Packet> {
    let addr = |rng: &mut Rng| {
        IpAddr::V4(Ipv4Addr::from(
            0xc612_0000 | (rng.next() as u32 & 0x0001_ffff),
        ))
    };
    (0..256)
        .map(|_| Packet {
            src: addr(rng),
            dst: addr(rng),
            rule_sets: (0..k)
                .map(|_| {
                    (
                        AddressSetId(1 + rng.below(1001) as u32),
                        AddressSetId(1 + rng.below(1001) as u32),
                    )
                })
                .collect(),
        })
        .collect()
}

fn first_match<M: SetMembership>(index: &M, packets: &[Packet]) -> usize {
    let mut hits = 0;
    for p in packets {
        let src = index.classify(black_box(p.src));
        let dst = index.classify(black_box(p.dst));
        hits += p
            .rule_sets
            .iter()
            .filter(|(s, d)| src.contains(*s) && dst.contains(*d))
            .count();
    }
    hits
}

fn membership(c: &mut Criterion) {
    let mut rng = Rng(0x5e75);
    let sets = address_sets(&mut rng);
    let by_id: Vec<Option<&CompiledAddressSet>> = {
        let mut v = vec![None; 1002];
        for s in &sets {
            v[s.id.index()] = Some(s);
        }
        v
    };
    let per_set = PerSetIndex::build(&sets);
    let combined = CombinedLpmIndex::build(&sets);
    let intervals = IntervalIndex::build(&sets);
    eprintln!(
        "membership-memory combined-lpm bytes={} interval bytes={} intervals={}",
        combined.heap_bytes(),
        intervals.heap_bytes(),
        intervals.interval_count()
    );
    let mut g = c.benchmark_group("membership");
    for k in [1usize, 8, 64] {
        let pk = packets(&mut rng, k);
        g.throughput(Throughput::Elements(pk.len() as u64));
        g.bench_with_input(
            BenchmarkId::new("linear-baseline", format!("k{k}")),
            &pk,
            |b, pk| {
                b.iter(|| {
                    let mut hits = 0;
                    for p in pk {
                        hits += p
                            .rule_sets
                            .iter()
                            .filter(|(s, d)| {
                                by_id[s.index()].is_some_and(|s| s.contains(black_box(p.src)))
                                    && by_id[d.index()]
                                        .is_some_and(|d| d.contains(black_box(p.dst)))
                            })
                            .count();
                    }
                    hits
                })
            },
        );
        g.bench_with_input(
            BenchmarkId::new("per-set-lpm", format!("k{k}")),
            &pk,
            |b, pk| b.iter(|| first_match(&per_set, pk)),
        );
        g.bench_with_input(
            BenchmarkId::new("combined-lpm", format!("k{k}")),
            &pk,
            |b, pk| b.iter(|| first_match(&combined, pk)),
        );
        g.bench_with_input(
            BenchmarkId::new("intervals", format!("k{k}")),
            &pk,
            |b, pk| b.iter(|| first_match(&intervals, pk)),
        );
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(20);
    targets = lpm, membership
}
criterion_main!(benches);
