//! `BPF_PROG_TEST_RUN` cost per packet of the XDP program: the established
//! path, the new-session path and the source-NAT path, against a program
//! that only returns XDP_PASS measured in the same run (the floor of a test
//! run). Times are the kernel's own measurement of the program run (one
//! repetition per call: the program rewrites the frame in place, so
//! repeating on one buffer would not be the same packet). Needs root.

#![allow(missing_docs)]

use criterion::{Criterion, criterion_group, criterion_main};
use std::sync::Arc;
use std::time::Duration;
use xpf_dataplane::Config;
use xpf_dataplane::compile::compile_with_previous;
use xpf_ebpf::program::{PASS_PROGRAM, PROGRAM};
use xpf_ebpf::{Firewall, FrameVerdict, LoadOptions};
use xpf_runtime::InterfaceId;

const CONFIG: &str = r#"
[[interfaces]]
name = "ge-0/0/0.0"
zone = "untrust"
mac = "02:00:0a:00:00:00"
addresses = ["198.19.10.2/29"]

[[interfaces]]
name = "ge-0/0/1.0"
zone = "trust"
mac = "02:00:0a:00:00:01"
addresses = ["198.18.10.1/24"]

[[zones]]
name = "trust"

[[zones]]
name = "untrust"

[[security.policies]]
from-zone = "trust"
to-zone = "untrust"

[[security.policies.policies]]
name = "allow"
match = { source-address = ["any"], destination-address = ["any"], application = ["any"] }
then = { action = "permit" }

[[forwarding.routes]]
destination = "0.0.0.0/0"
next-hop = "198.19.10.1"

[[forwarding.neighbours]]
address = "198.19.10.1"
mac = "02:00:0a:ff:00:01"
interface = "ge-0/0/0.0"
"#;

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

fn csum(data: &[u8]) -> u16 {
    let mut s: u32 = 0;
    for c in data.chunks(2) {
        s += u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
    }
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    !(s as u16)
}

/// A UDP/IPv4 frame 198.18.10.5:sport -> 198.19.200.53:53 into ge-0/0/1.0.
fn frame(sport: u16) -> Vec<u8> {
    let mut f = vec![0u8; 14 + 20 + 8 + 18];
    f[0..6].copy_from_slice(&[0x02, 0, 0x0a, 0, 0, 0x01]);
    f[6..12].copy_from_slice(&[0x02, 0, 0, 0, 0, 0x05]);
    f[12..14].copy_from_slice(&[0x08, 0x00]);
    let ip = &mut f[14..34];
    ip[0] = 0x45;
    ip[2..4].copy_from_slice(&(20u16 + 8 + 18).to_be_bytes());
    ip[8] = 64;
    ip[9] = 17;
    ip[12..16].copy_from_slice(&[198, 18, 10, 5]);
    ip[16..20].copy_from_slice(&[198, 19, 200, 53]);
    let c = csum(ip);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    let udp = &mut f[34..42];
    udp[0..2].copy_from_slice(&sport.to_be_bytes());
    udp[2..4].copy_from_slice(&53u16.to_be_bytes());
    udp[4..6].copy_from_slice(&(8u16 + 18).to_be_bytes());
    f
}

fn firewall(nat: bool) -> Option<Firewall> {
    if !xpf_ebpf::is_root() {
        eprintln!("xdp bench: needs root, skipped");
        return None;
    }
    let mut fw = Firewall::new(LoadOptions {
        max_sessions: 1 << 20,
    })
    .expect("load");
    fw.set_trace(true).expect("test mode");
    let text = if nat {
        format!("{CONFIG}{NAT}")
    } else {
        CONFIG.to_string()
    };
    let cfg = Config::from_toml_str(&text).expect("bench config parses");
    let compiled = compile_with_previous(&cfg, None).expect("bench config compiles");
    fw.apply_compiled(Arc::new(compiled), 1).expect("apply");
    Some(fw)
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
                let c = csum(&{
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
