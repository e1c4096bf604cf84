//! Compiler benchmark: a config with 10,000 policies and 50,000 address
//! entries (target: validate + compile under 50 ms; see BENCHMARKS.md).
//!
//! Shape: 50,000 host addresses in the global book, grouped into 2,000
//! address sets of 25; 20 zones; 10,000 policies spread over 10 zone pairs,
//! each matching one address set to two addresses with two applications
//! (so 20,000 compiled rules). A baseline, compiling a 100-policy config of
//! the same shape, is measured in the same run so the figure can be read as
//! a ratio.

// criterion_group!/criterion_main! generate undocumented items.
#![allow(missing_docs)]

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use std::net::Ipv4Addr;
use xpf_dataplane::compile::{compile, compile_validated, compile_with_previous};
use xpf_dataplane::config::*;
use xpf_dataplane::validate::validate;

fn big_config(policies: usize, addresses: usize) -> Config {
    let mut cfg = Config::default();
    for z in 0..20 {
        cfg.zones.push(Zone {
            name: format!("zone{z}"),
            ..Zone::default()
        });
        cfg.interfaces.push(Interface {
            name: format!("eth{z}"),
            zone: format!("zone{z}"),
            addresses: vec![format!("198.19.{z}.1/24").parse().unwrap()],
            ..Interface::default()
        });
    }
    let base = u32::from(Ipv4Addr::new(198, 18, 0, 0));
    for i in 0..addresses {
        cfg.address_book.addresses.push(Address {
            name: format!("h{i}"),
            prefix: Some(
                format!("{}/32", Ipv4Addr::from(base + i as u32))
                    .parse()
                    .unwrap(),
            ),
            ..Address::default()
        });
    }
    let sets = (addresses / 25).max(1);
    for s in 0..sets {
        cfg.address_book.address_sets.push(AddressSet {
            name: format!("set{s}"),
            addresses: (0..25)
                .map(|j| format!("h{}", (s * 25 + j) % addresses))
                .collect(),
            address_sets: vec![],
        });
    }
    let pairs = 10;
    for p in 0..pairs {
        let mut list = Vec::new();
        for i in (p..policies).step_by(pairs) {
            list.push(Policy {
                name: format!("pol{i}"),
                match_: PolicyMatch {
                    source_address: vec![format!("set{}", i % sets)],
                    destination_address: vec![
                        format!("h{}", (i * 7) % addresses),
                        format!("h{}", (i * 13 + 1) % addresses),
                    ],
                    application: vec!["junos-http".into(), "junos-https".into()],
                    ..PolicyMatch::default()
                },
                then: PolicyThen {
                    action: PolicyAction::Permit,
                    ..PolicyThen::default()
                },
                ..Policy::default()
            });
        }
        cfg.security.policies.push(ZonePairPolicies {
            from_zone: format!("zone{}", 2 * p),
            to_zone: format!("zone{}", 2 * p + 1),
            policies: list,
        });
    }
    cfg
}

fn bench_compile(c: &mut Criterion) {
    let small = big_config(100, 500);
    let big = big_config(10_000, 50_000);
    compile(&big).expect("benchmark config is valid");
    let previous = compile(&big).unwrap();

    let mut g = c.benchmark_group("compile");
    g.sample_size(20);
    g.bench_function("baseline_100_policies_500_addresses", |b| {
        b.iter(|| compile(black_box(&small)).unwrap())
    });
    g.bench_function("validate_and_compile_10k_policies_50k_addresses", |b| {
        b.iter(|| compile(black_box(&big)).unwrap())
    });
    g.bench_function("validate_only_10k_policies_50k_addresses", |b| {
        b.iter(|| validate(black_box(&big)).unwrap())
    });
    g.bench_function("compile_only_10k_policies_50k_addresses", |b| {
        b.iter(|| compile_validated(black_box(&big), None).unwrap())
    });
    g.bench_function("recompile_with_previous_10k_policies_50k_addresses", |b| {
        b.iter_batched(
            || big.clone(),
            |cfg| compile_with_previous(&cfg, Some(&previous)).unwrap(),
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

criterion_group!(benches, bench_compile);
criterion_main!(benches);
