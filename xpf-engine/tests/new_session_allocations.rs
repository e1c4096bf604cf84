//! A new session costs no heap allocation: once the engine's tables have
//! reached their working size (session slab chunks, address-count maps,
//! delta queue), the first packet of a new source-NATed flow — policy,
//! NAT allocation, session insert, rewrite, forward — allocates and
//! reallocates nothing, on the single-pass new-flow path (fast path on)
//! and on the general pipeline (fast path off).
//!
//! Allocations are counted by an instrumenting global allocator
//! (`stats_alloc`); this binary holds this one test so no other test's
//! thread allocates while it measures.

use etherparse::PacketBuilder;
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};
use std::alloc::System;
use std::net::Ipv4Addr;
use std::sync::Arc;
use xpf_dataplane::Config;
use xpf_dataplane::compile::compile;
use xpf_engine::engine::{Engine, EngineOptions, Verdict};
use xpf_runtime::{AnySessionKey, CloseReason, InterfaceId, IpProtocol, SessionKey};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const LAN: InterfaceId = InterfaceId(1);
const SEC: u64 = 1_000_000_000;
const T0: u64 = 1_795_392_000 * SEC;

const CONFIG: &str = r#"
[[interfaces]]
name = "lan"
zone = "trust"
mac = "02:00:00:00:00:01"
addresses = ["198.18.0.1/16"]
[[interfaces]]
name = "wan"
zone = "untrust"
mac = "02:00:00:00:00:02"
addresses = ["198.19.0.1/24"]
[[zones]]
name = "trust"
[[zones]]
name = "untrust"
[[security.policies]]
from-zone = "trust"
to-zone = "untrust"
[[security.policies.policies]]
name = "deny-bogus"
match = { destination-address = ["bogus"] }
then = { action = "deny" }
[[security.policies.policies]]
name = "out"
match = { application = ["any"] }
then = { action = "permit" }
[address-book]
addresses = [{ name = "bogus", prefix = "198.19.250.0/24" }]
[[security.nat.source.pools]]
name = "pool"
addresses = ["198.19.64.0/30"]
[[security.nat.source.rule-sets]]
name = "out"
from = { zone = ["trust"] }
to = { zone = ["untrust"] }
[[security.nat.source.rule-sets.rules]]
name = "all"
then = { pool = "pool" }
[security.flow]
session-capacity = 4096
[[forwarding.routes]]
destination = "0.0.0.0/0"
next-hop = "198.19.0.254"
[[forwarding.neighbours]]
address = "198.19.0.254"
mac = "02:00:00:00:02:fe"
interface = "wan"
"#;

/// The first packet of flow `i`: UDP (or a TCP SYN) from 198.18.x.y to
/// 198.19.200.1, and its key.
fn first_packet(i: u32, tcp: bool) -> (Vec<u8>, AnySessionKey) {
    let src = [198, 18, (i >> 8) as u8, i as u8];
    let sport = 20_000 + (i % 1000) as u16;
    let b = PacketBuilder::ethernet2([2, 0, 0, 0, 1, 1], [2, 0, 0, 0, 0, 1]).ipv4(
        src,
        [198, 19, 200, 1],
        64,
    );
    let mut frame = Vec::new();
    let protocol = if tcp {
        b.tcp(sport, 443, 1000, 64_000)
            .syn()
            .write(&mut frame, &[])
            .unwrap();
        IpProtocol::TCP
    } else {
        b.udp(sport, 53).write(&mut frame, &[0u8; 18]).unwrap();
        IpProtocol::UDP
    };
    let key = AnySessionKey::V4(SessionKey {
        src: Ipv4Addr::from(src),
        dst: Ipv4Addr::new(198, 19, 200, 1),
        src_port: sport,
        dst_port: if tcp { 443 } else { 53 },
        protocol,
    });
    (frame, key)
}

/// Runs rounds of new sessions on a fresh engine (each round's sessions
/// closed again and the delta queue drained between rounds) and returns
/// the allocations counted during the first round's `process` calls (the
/// tables growing), then the allocations and reallocations during the
/// last round's, and how many of its packets were forwarded.
fn round_allocations(fast_path: bool, tcp: bool) -> (usize, (usize, usize, usize)) {
    let compiled = Arc::new(compile(&Config::from_toml_str(CONFIG).unwrap()).unwrap());
    let opts = EngineOptions {
        fast_path,
        ..EngineOptions::default()
    };
    let mut e = Engine::new(compiled, 1, opts, T0).unwrap();
    let flows: Vec<(Vec<u8>, AnySessionKey)> = (0..1000).map(|i| first_packet(i, tcp)).collect();
    let mut frame = Vec::with_capacity(256);
    let mut out = Vec::with_capacity(16);
    let mut first = None;
    let mut result = (0, 0, 0);
    for _round in 0..3 {
        let region = Region::new(GLOBAL);
        let mut forwarded = 0;
        for (template, _) in &flows {
            frame.clear();
            frame.extend_from_slice(template);
            if matches!(
                e.process(T0 + SEC, LAN, &mut frame, &mut out),
                Verdict::Forward { .. }
            ) {
                forwarded += 1;
            }
        }
        let change = region.change();
        first.get_or_insert(change.allocations);
        result = (change.allocations, change.reallocations, forwarded);
        assert_eq!(e.sessions().len(), flows.len(), "every flow opened");
        for (_, key) in &flows {
            assert!(e.close_session(key, CloseReason::Admin, T0 + SEC));
        }
        let _ = e.telemetry_mut().deltas.drain(usize::MAX);
        let _ = e.telemetry_mut().events.drain(usize::MAX);
    }
    (first.unwrap_or_default(), result)
}

#[test]
fn new_sessions_allocate_nothing_once_tables_are_warm() {
    for (fast_path, tcp) in [(true, false), (false, false), (true, true), (false, true)] {
        let (warm_up, (allocations, reallocations, forwarded)) = round_allocations(fast_path, tcp);
        // The counter sees the engine's allocations: the first round grows
        // the session slab and the address-count maps.
        assert!(warm_up > 0, "fast path {fast_path}, tcp {tcp}: first round");
        assert_eq!(
            forwarded, 1000,
            "fast path {fast_path}, tcp {tcp}: every first packet forwarded"
        );
        assert_eq!(
            (allocations, reallocations),
            (0, 0),
            "fast path {fast_path}, tcp {tcp}: heap allocations during 1000 new sessions"
        );
    }
}
