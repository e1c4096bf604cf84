//! Session-table benchmark with 1,000,000 live IPv4 sessions.
//!
//! - `lookup_touch/*`: the established-flow fast path, `lookup` +
//!   `touch` (target ≤ 40 ns/packet). `hot` repeats one flow (a burst; the
//!   session is in cache), `random_1m` walks all sessions in a shuffled
//!   order (every packet misses the caches: index bucket and slot from
//!   DRAM). `tcp_hot` adds `track_tcp` for an in-window data segment.
//! - `baseline/*`: a `std::collections::HashMap<u64, u64>` (SipHash) with
//!   1,000,000 entries, looked up the same two ways, so the figures above
//!   can be read as ratios on whatever machine runs this.
//! - `insert_pair`: creating one session pair (both index entries, wheel,
//!   address counts) in the 1M table.
//! - `expire/*`: with 1M sessions whose timeouts are spread over 60 to
//!   1,800 s and refilled as they expire (steady state), the one-second
//!   sweep (about 575 expired per call, the rest untouched) and an
//!   `expire` call between sweeps (every microsecond of simulated time,
//!   so it also amortises the sweeps it crosses).
//!
//! Memory per session pair is printed before the measurements.

// criterion_group!/criterion_main! generate undocumented items.
#![allow(missing_docs)]

use criterion::{Criterion, criterion_group, criterion_main};
use std::collections::HashMap;
use std::hint::black_box;
use std::net::Ipv4Addr;
use std::num::NonZeroU32;
use std::time::{Duration, Instant};
use xpf_engine::session::{
    Direction, SessionInit, SessionTable, TICK_NS, TcpSegment, TcpTracker, Timeouts,
};
use xpf_runtime::{AddressFamily, IpProtocol, SessionId, SessionKey, SessionKeyV4};

const SESSIONS: usize = 1_000_000;
const CAPACITY: usize = 1 << 21;

/// A small deterministic generator (SplitMix64).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// The i-th flow: clients in 198.18.0.0/16, servers in 198.19.0.0/24.
fn key(i: usize, protocol: IpProtocol) -> SessionKeyV4 {
    SessionKey {
        src: Ipv4Addr::from_bits(0xc612_0000 | (i as u32 >> 6 & 0xffff)),
        dst: Ipv4Addr::new(198, 19, 0, (i % 251) as u8 + 1),
        src_port: 1024 + (i & 63) as u16 * 512 + (i >> 22) as u16,
        dst_port: 443,
        protocol,
    }
}

fn init(id: usize, app_timeout: u32) -> SessionInit {
    SessionInit {
        id: SessionId(id as u64),
        app_timeout: NonZeroU32::new(app_timeout),
        ..SessionInit::default()
    }
}

/// Fills `table` with `SESSIONS` answered UDP sessions created at time 0
/// whose timeouts are spread uniformly over `timeouts` seconds, and returns
/// their keys in a shuffled order.
fn populate(table: &mut SessionTable, timeouts: std::ops::Range<u32>) -> Vec<SessionKeyV4> {
    let mut rng = Rng(7);
    let mut keys = Vec::with_capacity(SESSIONS);
    let span = u64::from(timeouts.end - timeouts.start);
    for i in 0..SESSIONS {
        let k = key(i, IpProtocol::UDP);
        let timeout = timeouts.start + (rng.next() % span) as u32;
        let h = table
            .insert(k.into(), k.reversed().into(), init(i, timeout), 0)
            .expect("insert")
            .handle;
        table.touch(h, Direction::Reverse, 64, 0);
        keys.push(k);
    }
    for i in (1..keys.len()).rev() {
        keys.swap(i, (rng.next() % (i as u64 + 1)) as usize);
    }
    keys
}

fn report_memory(table: &SessionTable) {
    let usage = table.memory();
    println!(
        "memory per session pair at capacity {}: IPv4 {:.1} B, IPv6 {:.1} B (slot + index share)",
        table.capacity(),
        table.bytes_per_session(AddressFamily::Inet),
        table.bytes_per_session(AddressFamily::Inet6),
    );
    let at_1m = SessionTable::new(SESSIONS);
    println!(
        "memory per session pair at capacity 1,000,000: IPv4 {:.1} B, IPv6 {:.1} B",
        at_1m.bytes_per_session(AddressFamily::Inet),
        at_1m.bytes_per_session(AddressFamily::Inet6),
    );
    println!(
        "in use with {} sessions: slabs {} MB, index {} MB, wheel {} KB, address counts {} MB; {:.1} B per session",
        table.len(),
        usage.slabs >> 20,
        usage.index >> 20,
        usage.wheel >> 10,
        usage.address_counts >> 20,
        usage.total() as f64 / table.len() as f64
    );
}

fn sessions(c: &mut Criterion) {
    let mut table = SessionTable::with_timeouts(CAPACITY, Timeouts::default());
    // Timeouts far beyond the benchmark's clock: nothing expires here.
    let keys = populate(&mut table, 1_000_000..1_100_000);
    report_memory(&table);
    let mask = keys.len().next_power_of_two() - 1;
    let now = 10 * TICK_NS;

    let mut group = c.benchmark_group("lookup_touch");
    let hot = keys[12_345];
    group.bench_function("hot", |b| {
        b.iter(|| {
            let (h, dir) = table.lookup_v4(black_box(&hot)).expect("live");
            table.touch(h, dir, 1500, now);
        })
    });
    let mut i = 0usize;
    group.bench_function("random_1m", |b| {
        b.iter(|| {
            i = (i + 1) & mask;
            let k = &keys[i % SESSIONS];
            let (h, dir) = table.lookup_v4(black_box(k)).expect("live");
            table.touch(h, dir, 1500, now);
        })
    });
    // One established TCP session among the million.
    let conn = key(SESSIONS + 1, IpProtocol::TCP);
    let syn = TcpSegment::new(TcpSegment::SYN, 1000, 0, 64240).with_window_scale(7);
    let tcp_init = SessionInit {
        tcp: Some(TcpTracker::new_from_syn(&syn).expect("SYN")),
        ..init(SESSIONS + 1, 0)
    };
    let th = table
        .insert(conn.into(), conn.reversed().into(), tcp_init, now)
        .expect("insert")
        .handle;
    let syn_ack =
        TcpSegment::new(TcpSegment::SYN | TcpSegment::ACK, 9000, 1001, 65160).with_window_scale(7);
    table
        .track_tcp(th, Direction::Reverse, &syn_ack)
        .expect("SYN+ACK");
    let ack = TcpSegment::new(TcpSegment::ACK, 1001, 9001, 502);
    table.track_tcp(th, Direction::Forward, &ack).expect("ACK");
    let data =
        TcpSegment::new(TcpSegment::ACK | TcpSegment::PSH, 1001, 9001, 502).with_payload(1400);
    group.bench_function("tcp_hot", |b| {
        b.iter(|| {
            let (h, dir) = table.lookup_v4(black_box(&conn)).expect("live");
            table
                .track_tcp(h, dir, black_box(&data))
                .expect("in window");
            table.touch(h, dir, 1460, now);
        })
    });
    group.finish();

    let mut group = c.benchmark_group("baseline");
    let mut rng = Rng(11);
    let map_keys: Vec<u64> = (0..SESSIONS).map(|_| rng.next()).collect();
    let map: HashMap<u64, u64> = map_keys.iter().map(|&k| (k, k ^ 1)).collect();
    let hot_key = map_keys[12_345];
    group.bench_function("std_hashmap_u64_hot", |b| {
        b.iter(|| black_box(map.get(black_box(&hot_key))))
    });
    let mut i = 0usize;
    group.bench_function("std_hashmap_u64_random_1m", |b| {
        b.iter(|| {
            i = (i + 1) & mask;
            black_box(map.get(&map_keys[i % SESSIONS]))
        })
    });
    group.finish();
    drop(map);
    drop(map_keys);

    let mut group = c.benchmark_group("insert_pair");
    let mut next = SESSIONS + 10;
    group.bench_function("udp_into_1m", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            let mut left = iters as usize;
            while left > 0 {
                // Insert in chunks that fit, timing only the inserts.
                let chunk = left.min(CAPACITY - table.len() - 1).min(100_000);
                let fresh: Vec<SessionKeyV4> =
                    (0..chunk).map(|j| key(next + j, IpProtocol::UDP)).collect();
                let start = Instant::now();
                let handles: Vec<_> = fresh
                    .iter()
                    .enumerate()
                    .map(|(j, k)| {
                        table
                            .insert((*k).into(), k.reversed().into(), init(next + j, 0), now)
                            .expect("insert")
                            .handle
                    })
                    .collect();
                total += start.elapsed();
                for h in handles {
                    table.remove(h, xpf_runtime::CloseReason::Admin);
                }
                next += chunk;
                left -= chunk;
            }
            total
        })
    });
    group.finish();

    // Expiry in steady state: 1M sessions with realistic timeouts (60 to
    // 1,800 s, so about 575 fall due every second), refilled as they expire.
    table.clear();
    drop(keys);
    populate(&mut table, 60..1_800);
    let mut rng = Rng(23);
    let mut clock = 0u64;
    let mut group = c.benchmark_group("expire");
    let (mut sweeps, mut swept) = (0u64, 0u64);
    group.bench_function("sweep_1s_steady_1m", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                // Untimed: replace what the previous sweep expired.
                while table.len() < SESSIONS {
                    let k = key(next, IpProtocol::UDP);
                    let timeout = 60 + (rng.next() % 1_740) as u32;
                    table
                        .insert(k.into(), k.reversed().into(), init(next, timeout), clock)
                        .expect("insert");
                    next += 1;
                }
                clock += TICK_NS;
                let start = Instant::now();
                let gone = table.expire(clock, usize::MAX);
                total += start.elapsed();
                sweeps += 1;
                swept += gone.len() as u64;
            }
            total
        })
    });
    group.bench_function("idle_call_1m", |b| {
        b.iter(|| {
            // Calls between sweeps find the current second's bucket done.
            clock += 1_000;
            black_box(table.expire(clock, usize::MAX))
        })
    });
    group.finish();
    println!(
        "expire/sweep_1s_steady_1m: {:.0} sessions expired per sweep on average",
        swept as f64 / sweeps.max(1) as f64
    );
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    targets = sessions
}
criterion_main!(benches);
