//! A profiling harness for the engine's hot paths, for `perf record`:
//! fills an engine with 1,000,000 source-NATed UDP sessions, then runs one
//! case in a loop for a number of seconds and prints ns per packet.
//!
//! ```text
//! cargo run --release -p xpf-engine --example pipeline_profile -- one_flow 10
//! ```
//!
//! Cases: `one_flow` (one established flow repeated), `batch` (random
//! established flows in bursts of 32 through `process_batch`), `new`
//! (new sessions, closed again in chunks so the table stays at 1M).
//! `new_n` runs a fixed number of new sessions (the second argument, not
//! seconds) from a patched template frame, for instruction counts under
//! `valgrind --tool=callgrind --toggle-collect='*Engine::process'`
//! (`DENY=1`: first packets the policy denies).
//! Add `general` as a third argument to turn the fast path off; set
//! `FILL` to change the number of live sessions, and `SMALL=1` for a small
//! engine whose tables stay in cache (capacity 4,096, a 4-address pool:
//! with `FILL=1000`, the CPU cost of new sessions without DRAM misses).

use etherparse::PacketBuilder;
use std::hint::black_box;
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use xpf_dataplane::Config;
use xpf_dataplane::compile::compile;
use xpf_engine::checksum::update16;
use xpf_engine::engine::{Engine, EngineOptions};
use xpf_runtime::{AnySessionKey, CloseReason, InterfaceId, IpProtocol, SessionKey};

const LAN: InterfaceId = InterfaceId(1);
const SEC: u64 = 1_000_000_000;
const T0: u64 = 1_795_392_000 * SEC;

const CONFIG: &str = include_str!("pipeline_profile.toml");

fn udp(i: u32, sport: u16) -> Vec<u8> {
    udp_to(i, sport, [198, 19, 200, 1])
}

fn udp_to(i: u32, sport: u16, dst: [u8; 4]) -> Vec<u8> {
    let src = [198, 18, (i >> 8) as u8, i as u8];
    let mut out = Vec::new();
    PacketBuilder::ethernet2([2, 0, 0, 0, 1, 1], [2, 0, 0, 0, 0, 1])
        .ipv4(src, dst, 64)
        .udp(sport, 53)
        .write(&mut out, &[0u8; 18])
        .unwrap();
    out
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let case = args.get(1).map_or("one_flow", String::as_str);
    let secs: u64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(5);
    let fast_path = args.get(3).map(String::as_str) != Some("general");
    let config = if std::env::var("SMALL").is_ok_and(|v| v == "1") {
        CONFIG
            .replace("session-capacity = 4194304", "session-capacity = 4096")
            .replace("198.19.64.0/22", "198.19.64.0/30")
    } else {
        CONFIG.to_string()
    };
    let compiled = Arc::new(compile(&Config::from_toml_str(&config).unwrap()).unwrap());
    let opts = EngineOptions {
        fast_path,
        ..EngineOptions::default()
    };
    let mut e = Engine::new(compiled, 1, opts, T0).unwrap();
    let mut out = Vec::new();
    // `FILL` live sessions (default 1,000,000).
    let n: u32 = std::env::var("FILL")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let frames: Vec<Vec<u8>> = (0..n)
        .map(|i| udp(i & 0xffff, 10_000 + (i >> 16) as u16))
        .collect();
    for f in &frames {
        let mut f = f.clone();
        e.process(T0, LAN, &mut f, &mut out);
    }
    eprintln!(
        "{} sessions; running {case} for {secs} s",
        e.sessions().len()
    );
    let until = Duration::from_secs(secs);
    let start = Instant::now();
    let mut packets = 0u64;
    let mut rng = 7u64;
    let mut buf = Vec::with_capacity(128);
    match case {
        "one_flow" => {
            let hot = &frames[777_777 % frames.len()];
            while start.elapsed() < until {
                for _ in 0..10_000 {
                    buf.clear();
                    buf.extend_from_slice(hot);
                    black_box(e.process(T0 + SEC, LAN, &mut buf, &mut out));
                }
                packets += 10_000;
            }
        }
        "batch" => {
            let mut batch: Vec<(InterfaceId, Vec<u8>)> =
                (0..32).map(|_| (LAN, Vec::with_capacity(128))).collect();
            let mut verdicts = Vec::new();
            while start.elapsed() < until {
                for _ in 0..1000 {
                    for (_, f) in batch.iter_mut() {
                        rng = rng.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                        f.clear();
                        f.extend_from_slice(&frames[((rng >> 33) % u64::from(n)) as usize]);
                    }
                    verdicts.clear();
                    e.process_batch(T0 + SEC, &mut batch, &mut verdicts, &mut out);
                }
                packets += 32_000;
            }
        }
        "new_n" => {
            // `DENY=1`: first packets to 198.19.250.1, which the
            // `deny-bogus` rule drops (no session, no NAT).
            let deny = std::env::var("DENY").is_ok_and(|v| v == "1");
            let tmpl = udp_to(0, 20_000, [198, 19, if deny { 250 } else { 200 }, 1]);
            let mut keys = Vec::new();
            let chunk = (n as u64).clamp(1, 1000);
            let mut done = 0u64;
            let mut next = 0u32;
            while done < secs {
                let todo = chunk.min(secs - done);
                for _ in 0..todo {
                    next += 1;
                    let low = next & 0xffff;
                    let sport = 20_000 + ((next >> 16) % 40_000) as u16;
                    buf.clear();
                    buf.extend_from_slice(&tmpl);
                    buf[28..30].copy_from_slice(&(low as u16).to_be_bytes());
                    buf[34..36].copy_from_slice(&sport.to_be_bytes());
                    let ip = u16::from_be_bytes([buf[24], buf[25]]);
                    buf[24..26].copy_from_slice(&update16(ip, 0, low as u16).to_be_bytes());
                    let u = u16::from_be_bytes([buf[40], buf[41]]);
                    let u = update16(update16(u, 0, low as u16), 20_000, sport);
                    buf[40..42].copy_from_slice(&u.to_be_bytes());
                    keys.push(AnySessionKey::V4(SessionKey {
                        src: Ipv4Addr::new(198, 18, (low >> 8) as u8, low as u8),
                        dst: Ipv4Addr::new(198, 19, 200, 1),
                        src_port: sport,
                        dst_port: 53,
                        protocol: IpProtocol::UDP,
                    }));
                    black_box(e.process(T0 + 2 * SEC, LAN, &mut buf, &mut out));
                }
                done += todo;
                for k in keys.drain(..) {
                    e.close_session(&k, CloseReason::Admin, T0 + 2 * SEC);
                }
                let _ = e.telemetry_mut().deltas.drain(usize::MAX);
            }
            eprintln!("{done} new sessions; {} live", e.sessions().len());
            return;
        }
        _ => {
            let mut next = 0u32;
            let mut keys = Vec::new();
            let mut timed = Duration::ZERO;
            // Chunks small enough for the small engine's capacity.
            let chunk = (n as usize).clamp(1, 10_000);
            while start.elapsed() < until {
                let t = Instant::now();
                for _ in 0..chunk {
                    next += 1;
                    let low = next & 0xffff;
                    let sport = 20_000 + ((next >> 16) % 40_000) as u16;
                    let mut f = udp(low, sport);
                    keys.push(AnySessionKey::V4(SessionKey {
                        src: Ipv4Addr::new(198, 18, (low >> 8) as u8, low as u8),
                        dst: Ipv4Addr::new(198, 19, 200, 1),
                        src_port: sport,
                        dst_port: 53,
                        protocol: IpProtocol::UDP,
                    }));
                    black_box(e.process(T0 + 2 * SEC, LAN, &mut f, &mut out));
                }
                timed += t.elapsed();
                packets += chunk as u64;
                for k in keys.drain(..) {
                    e.close_session(&k, CloseReason::Admin, T0 + 2 * SEC);
                }
                let _ = e.telemetry_mut().deltas.drain(usize::MAX);
            }
            eprintln!(
                "{:.1} ns per new session (frame building included)",
                timed.as_nanos() as f64 / packets as f64
            );
            return;
        }
    }
    eprintln!(
        "{:.1} ns per packet ({packets} packets)",
        start.elapsed().as_nanos() as f64 / packets as f64
    );
}
