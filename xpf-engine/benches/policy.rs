//! Policy lookup with many rules: the per-rule evaluation (each candidate
//! rule binary-searches its own address sets) against the classified one
//! (source and destination looked up once in the combined LPM over all
//! sets, then a bit test per rule), on one zone pair holding `n` rules,
//! each for its own source host (`198.18.x.y/32`), `n` in 2 … 10,000.
//! The packet matches the last rule (the whole span is scanned: the worst
//! case) or the middle one.
//!
//! Every figure is the benchmark thread's CPU time (see
//! `benches/pipeline.rs` for why); read the ratios within one run.
//! [`xpf_engine::policy::CLASSIFY_ABOVE`] and the module documentation
//! of `xpf_engine::policy` record the choice.

// criterion_group!/criterion_main! generate undocumented items.
#![allow(missing_docs)]

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use std::fmt::Write;
use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;
use xpf_dataplane::Config;
use xpf_dataplane::compile::compile;
use xpf_engine::policy::{PolicyInput, PolicyTable};
use xpf_runtime::{IpProtocol, ZoneId};

fn cpu_now() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

fn host(i: usize) -> Ipv4Addr {
    Ipv4Addr::new(198, 18, (i / 250) as u8, (i % 250) as u8 + 1)
}

/// A config with `n` permit rules trust → untrust, rule `i` for source
/// `host(i)` and UDP to port 53.
fn config(n: usize) -> String {
    let mut c = String::from(
        r#"
[[interfaces]]
name = "lan"
zone = "trust"
addresses = ["198.18.255.1/24"]
[[interfaces]]
name = "wan"
zone = "untrust"
addresses = ["198.19.0.1/24"]
[[zones]]
name = "trust"
[[zones]]
name = "untrust"
[[security.policies]]
from-zone = "trust"
to-zone = "untrust"
"#,
    );
    for i in 0..n {
        write!(
            c,
            "[[security.policies.policies]]\nname = \"r{i}\"\n\
             match = {{ source-address = [\"h{i}\"], application = [\"junos-dns-udp\"] }}\n\
             then = {{ action = \"permit\" }}\n"
        )
        .unwrap();
    }
    c.push_str("[address-book]\naddresses = [\n");
    for i in 0..n {
        writeln!(c, "  {{ name = \"h{i}\", prefix = \"{}/32\" }},", host(i)).unwrap();
    }
    c.push_str("]\n");
    c
}

fn input(src: Ipv4Addr) -> PolicyInput {
    PolicyInput {
        from_zone: ZoneId(1),
        to_zone: ZoneId(2),
        src: IpAddr::V4(src),
        dst: IpAddr::V4(Ipv4Addr::new(198, 19, 200, 1)),
        protocol: IpProtocol::UDP,
        src_port: 40_000,
        dst_port: 53,
        icmp: None,
    }
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("policy");
    g.sample_size(20);
    g.measurement_time(Duration::from_secs(2));
    g.warm_up_time(Duration::from_millis(500));
    for n in [2usize, 4, 8, 16, 64, 1000, 10_000] {
        let compiled = compile(&Config::from_toml_str(&config(n)).unwrap()).unwrap();
        let zones: Vec<_> = compiled
            .zones
            .iter()
            .map(|z| (z.id, z.name.clone()))
            .collect();
        let t = PolicyTable::new(&compiled);
        for (which, at) in [("last", n - 1), ("middle", n / 2)] {
            let mut inp = input(host(at));
            for (id, name) in &zones {
                if name.as_str() == "trust" {
                    inp.from_zone = *id;
                } else if name.as_str() == "untrust" {
                    inp.to_zone = *id;
                }
            }
            let per_rule = t.evaluate_per_rule(&inp, 0);
            let classified = t.evaluate_classified(&inp, 0);
            assert_eq!(per_rule, classified);
            assert_eq!(per_rule.index, Some(at), "{n} rules, {which}");
            g.bench_with_input(
                BenchmarkId::new(format!("per_rule_{which}"), n),
                &inp,
                |b, inp| {
                    b.iter_custom(|iters| {
                        let t0 = cpu_now();
                        for _ in 0..iters {
                            black_box(t.evaluate_per_rule(black_box(inp), 0));
                        }
                        cpu_now() - t0
                    })
                },
            );
            g.bench_with_input(
                BenchmarkId::new(format!("classified_{which}"), n),
                &inp,
                |b, inp| {
                    b.iter_custom(|iters| {
                        let t0 = cpu_now();
                        for _ in 0..iters {
                            black_box(t.evaluate_classified(black_box(inp), 0));
                        }
                        cpu_now() - t0
                    })
                },
            );
        }
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
