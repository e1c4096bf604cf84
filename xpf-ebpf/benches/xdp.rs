//! `BPF_PROG_TEST_RUN` cost per packet of the XDP program: the established
//! path, the new-session path and the source-NAT path, against a program
//! that only returns XDP_PASS measured in the same run (the floor of a test
//! run). Times are the kernel's own measurement of the program run (one
//! repetition per call: the program rewrites the frame in place, so
//! repeating on one buffer would not be the same packet). Needs root.

#![allow(missing_docs)]

#[path = "../tests/support/mod.rs"]
mod support;

use criterion::{Criterion, criterion_group, criterion_main};
use std::time::Duration;
use xpf_ebpf::program::{PASS_PROGRAM, PROGRAM};
use xpf_ebpf::{Firewall, FrameVerdict};
use xpf_runtime::InterfaceId;

const NAT: &str = r#"
[[security.nat.source.rule-sets]]
name = "out"
from = { zone = ["trust"] }
to = { zone = ["untrust"] }

[[security.nat.source.rule-sets.rules]]
name = "iface"
match = { source-address = ["198.18.10.0/24"] }
then = "interface"
"#;

/// A UDP/IPv4 frame 198.18.10.5:sport -> 198.19.200.53:53 into ge-0/0/1.0.
fn frame(sport: u16) -> Vec<u8> {
    support::udp4(
        support::TRUST_MAC,
        [198, 18, 10, 5],
        sport,
        [198, 19, 200, 53],
        53,
    )
}

fn firewall(nat: bool) -> Option<Firewall> {
    if !xpf_ebpf::is_root() {
        eprintln!("xdp bench: needs root, skipped");
        return None;
    }
    let config = support::two_zones(if nat { NAT } else { "" });
    Some(support::firewall_with(1 << 20, &config))
}

/// Sums the kernel-measured run time of `iters` single runs.
fn kernel_time(
    fw: &mut Firewall,
    prog: &'static str,
    iters: u64,
    mut f: impl FnMut(u64) -> Vec<u8>,
) -> Duration {
    let mut total = 0u64;
    for i in 0..iters {
        let frame = f(i);
        let r = fw.program().test_run(prog, &frame, 1).expect("test run");
        total += r.duration_ns;
    }
    Duration::from_nanos(total)
}

fn bench(c: &mut Criterion) {
    let Some(mut fw) = firewall(false) else {
        return;
    };
    let Some(mut nat) = firewall(true) else {
        return;
    };
    let mut g = c.benchmark_group("xdp");
    g.sample_size(20)
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1));
    let f = frame(40000);
    g.bench_function("baseline_xdp_pass", |b| {
        b.iter_custom(|iters| kernel_time(&mut fw, PASS_PROGRAM, iters, |_| f.clone()))
    });
    // Established: the first packet creates the session, every run hits it.
    let (v, _) = fw.run_frame(InterfaceId(2), &f, 2).expect("first packet");
    assert!(
        matches!(v, FrameVerdict::Forward(_)),
        "bench flow is forwarded: {v:?}"
    );
    g.bench_function("established_udp", |b| {
        b.iter_custom(|iters| kernel_time(&mut fw, PROGRAM, iters, |_| f.clone()))
    });
    let mut port = 1024u64;
    g.bench_function("new_session_udp", |b| {
        b.iter_custom(|iters| {
            kernel_time(&mut fw, PROGRAM, iters, |_| {
                port = if port >= 65535 { 1024 } else { port + 1 };
                let mut fr = frame(port as u16);
                // Vary the destination too so flows never repeat.
                fr[33] = (port >> 8) as u8 ^ 0x35;
                let c = support::csum(&{
                    let mut h = fr[14..34].to_vec();
                    h[10] = 0;
                    h[11] = 0;
                    h
                });
                fr[24..26].copy_from_slice(&c.to_be_bytes());
                fr
            })
        })
    });
    let (v, _) = nat
        .run_frame(InterfaceId(2), &f, 2)
        .expect("first NAT packet");
    assert!(
        matches!(v, FrameVerdict::Forward(_)),
        "NAT flow is forwarded: {v:?}"
    );
    g.bench_function("established_snat_udp", |b| {
        b.iter_custom(|iters| kernel_time(&mut nat, PROGRAM, iters, |_| f.clone()))
    });
    // Established with SNAT over 10,000 live flows visited in a shuffled
    // order: the session entries no longer sit in the cache (the netns
    // benchmark's situation), so this shows what the lookups cost there.
    let flows: Vec<Vec<u8>> = (0..10_000u16).map(|i| frame(1024 + i)).collect();
    for fr in &flows {
        let (v, _) = nat.run_frame(InterfaceId(2), fr, 2).expect("flow set-up");
        assert!(
            matches!(v, FrameVerdict::Forward(_)),
            "flow forwarded: {v:?}"
        );
    }
    let mut order: Vec<usize> = (0..flows.len()).collect();
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for i in (1..order.len()).rev() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        order.swap(i, (x % (i as u64 + 1)) as usize);
    }
    let mut next = 0usize;
    g.bench_function("established_snat_udp_10k_flows", |b| {
        b.iter_custom(|iters| {
            kernel_time(&mut nat, PROGRAM, iters, |_| {
                next = (next + 1) % order.len();
                flows[order[next]].clone()
            })
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
