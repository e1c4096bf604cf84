//! Source NAT allocation + release throughput.
//!
//! `snat/{pool}/{occupancy}/{allocator}`: one iteration allocates a mapping
//! for a fresh flow and releases it again, so occupancy stays where it was
//! filled to: 0%, 50% or 90% of the TCP slots of a 1-address pool (64,512
//! slots) and of a /24 pool (256 × 64,512 slots), filled by allocating
//! random flows (so probe runs cluster as they do in service).
//!
//! Allocators, measured in the same run:
//! - `engine`: [`SourcePool`] (port bitmaps, word-at-a-time probing);
//! - `naive-baseline`: the spec transcribed literally, slot-by-slot probing
//!   over a `HashSet` of taken slots (the same mappings, found slowly);
//! - `hash-only`: computing the flow hash alone, the floor of any
//!   implementation of the algorithm.

// `criterion_group!` generates undocumented public functions.
#![allow(missing_docs)]

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use std::collections::HashSet;
use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;
use xpf_dataplane::config::PortRange;
use xpf_engine::nat::{FlowRequest, PoolLayout, PoolMode, SourcePool, flow_hash};
use xpf_runtime::{IpProtocol, NatPoolId};

/// Flow `i`: distinct source address and port per `i`.
fn request(i: u64, dst_host: u8) -> FlowRequest {
    let x = i.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    FlowRequest {
        src: IpAddr::V4(Ipv4Addr::from(0xc612_0000 | (x >> 48) as u32 & 0xffff)),
        src_port: (x >> 16) as u16 | 1024,
        protocol: IpProtocol::TCP,
        dst: IpAddr::V4(Ipv4Addr::new(198, 19, 0, dst_host)),
        dst_port: 443,
    }
}

fn layout(addresses: u32) -> PoolLayout {
    let first = Ipv4Addr::new(198, 18, 100, 0);
    let last = Ipv4Addr::from(u32::from(first) + addresses - 1);
    PoolLayout::new(
        &[(IpAddr::V4(first), IpAddr::V4(last))],
        PortRange::new(1024, 65535),
    )
    .expect("valid pool")
}

/// The literal spec: start slot from the flow hash, then slot by slot.
struct NaiveSlots {
    slots: u64,
    taken: HashSet<u64>,
}

impl NaiveSlots {
    fn allocate(&mut self, r: &FlowRequest) -> Option<u64> {
        if self.taken.len() as u64 >= self.slots {
            return None;
        }
        let h = flow_hash(r.src, r.src_port, r.protocol, r.dst, r.dst_port) % self.slots;
        let slot = (0..self.slots)
            .map(|k| (h + k) % self.slots)
            .find(|s| !self.taken.contains(s))?;
        self.taken.insert(slot);
        Some(slot)
    }

    fn release(&mut self, slot: u64) {
        self.taken.remove(&slot);
    }
}

fn snat(c: &mut Criterion) {
    let mut g = c.benchmark_group("snat");
    g.throughput(Throughput::Elements(1));
    for (name, addresses) in [("1-address", 1u32), ("slash24", 256)] {
        for occupancy in [0u64, 50, 90] {
            let layout = layout(addresses);
            let fill = layout.slot_count() * occupancy / 100;
            let mode = PoolMode {
                port_overload: true,
                ..PoolMode::default()
            };
            let mut pool = SourcePool::new(NatPoolId(1), layout.clone(), mode);
            let mut naive = NaiveSlots {
                slots: layout.slot_count(),
                taken: HashSet::with_capacity(fill as usize),
            };
            for i in 0..fill {
                let r = request(i, 1);
                pool.allocate(&r).expect("fill below capacity");
                naive.allocate(&r).expect("fill below capacity");
            }
            let id = format!("{name}/{occupancy}%");
            let mut next = 0u64;
            g.bench_function(BenchmarkId::new("engine", &id), |b| {
                b.iter(|| {
                    next += 1;
                    let m = pool.allocate(&request(next, 2)).expect("pool has room");
                    pool.release(black_box(&m)).expect("live mapping");
                })
            });
            g.bench_function(BenchmarkId::new("naive-baseline", &id), |b| {
                b.iter(|| {
                    next += 1;
                    let s = naive.allocate(&request(next, 2)).expect("pool has room");
                    naive.release(black_box(s));
                })
            });
            if occupancy == 0 && addresses == 1 {
                g.bench_function("hash-only", |b| {
                    b.iter(|| {
                        next += 1;
                        let r = request(next, 2);
                        flow_hash(r.src, r.src_port, r.protocol, r.dst, r.dst_port)
                    })
                });
            }
        }
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30);
    targets = snat
}
criterion_main!(benches);
