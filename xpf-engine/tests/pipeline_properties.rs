//! Properties of the whole pipeline on generated traffic through the test
//! firewall of `common` (trust LAN → untrust WAN with interface SNAT):
//!
//! - every permitted outbound flow's reply passes back to the initiator,
//!   translated back to its original addresses and ports;
//! - unsolicited inbound packets never pass (default deny, or no session);
//! - live source-NAT mappings are unique and every one is released when the
//!   sessions expire;
//! - the counters add up: received = forwarded + local + dropped.

mod common;

use common::*;
use proptest::prelude::*;
use std::collections::HashSet;
use xpf_engine::engine::Verdict;
use xpf_runtime::counters::BaseCounter;

#[derive(Clone, Debug)]
enum Flow {
    Udp { host: u8, sport: u16, dport: u16 },
    Tcp { host: u8, sport: u16, dport: u16 },
    Ping { host: u8, id: u16 },
}

fn arb_flow() -> impl Strategy<Value = Flow> {
    prop_oneof![
        (2u8..250, 1024u16..65535, 1u16..65535).prop_map(|(host, sport, dport)| Flow::Udp {
            host,
            sport,
            dport
        }),
        // Port 23 is rejected by policy; keep TCP flows permitted.
        (
            2u8..250,
            1024u16..65535,
            prop_oneof![Just(80u16), Just(443), Just(22), Just(8080)]
        )
            .prop_map(|(host, sport, dport)| Flow::Tcp { host, sport, dport }),
        (2u8..250, any::<u16>()).prop_map(|(host, id)| Flow::Ping { host, id }),
    ]
}

/// Sends the flow's first packet out and its reply back; returns whether
/// the reply reached the initiator untranslated.
fn round_trip(e: &mut xpf_engine::engine::Engine, f: &Flow, now: u64) -> Result<(), String> {
    let (out, reply_of): (Vec<u8>, ReplyBuilder) = match *f {
        Flow::Udp { host, sport, dport } => (
            udp4([198, 18, 0, host], REMOTE, sport, dport, b"x"),
            Box::new(move |p: IpAddrPort| udp4(REMOTE, p.0, dport, p.1, b"y")),
        ),
        Flow::Tcp { host, sport, dport } => (
            tcp4([198, 18, 0, host], REMOTE, sport, dport, "S", 100, 0, &[]),
            Box::new(move |p: IpAddrPort| tcp4(REMOTE, p.0, dport, p.1, "SA", 900, 101, &[])),
        ),
        Flow::Ping { host, id } => (
            ping4([198, 18, 0, host], REMOTE, id, false),
            Box::new(move |p: IpAddrPort| ping4(REMOTE, p.0, p.1, true)),
        ),
    };
    let (v, sent, _) = run(e, now, LAN, out);
    if v != (Verdict::Forward { egress: WAN }) {
        return Err(format!("outbound {f:?}: {v:?}"));
    }
    let p = check(&sent);
    let IpAddrV4(public) = IpAddrV4::of(p.src);
    let public_port = p.ports().map_or(0, |x| x.0);
    let (v, back, _) = run(e, now + 1, WAN, reply_of(IpAddrPort(public, public_port)));
    if v != (Verdict::Forward { egress: LAN }) {
        return Err(format!("reply of {f:?}: {v:?}"));
    }
    let b = check(&back);
    let (host, port) = match *f {
        Flow::Udp { host, sport, .. } | Flow::Tcp { host, sport, .. } => (host, sport),
        Flow::Ping { host, id } => (host, id),
    };
    if b.dst != ip([198, 18, 0, host]) || b.ports().map(|x| x.1) != Some(port) {
        return Err(format!(
            "reply of {f:?} reached {:?} {:?}",
            b.dst,
            b.ports()
        ));
    }
    Ok(())
}

/// Builds the reply to a flow, given the public address and port it left with.
type ReplyBuilder = Box<dyn Fn(IpAddrPort) -> Vec<u8>>;

#[derive(Clone, Copy)]
struct IpAddrPort([u8; 4], u16);

struct IpAddrV4([u8; 4]);

impl IpAddrV4 {
    fn of(a: std::net::IpAddr) -> Self {
        match a {
            std::net::IpAddr::V4(v) => Self(v.octets()),
            std::net::IpAddr::V6(_) => panic!("IPv4 expected"),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn replies_of_permitted_flows_pass_and_mappings_are_unique(
        flows in proptest::collection::vec(arb_flow(), 1..40)
    ) {
        let mut e = engine();
        let mut seen = HashSet::new();
        for (i, f) in flows.iter().enumerate() {
            // Replies need a neighbour entry: every flow starts at the
            // client (.10), the LAN host the fixture config knows.
            let f = &match *f {
                Flow::Udp { sport, dport, .. } => Flow::Udp { host: 10, sport, dport },
                Flow::Tcp { sport, dport, .. } => Flow::Tcp { host: 10, sport, dport },
                Flow::Ping { id, .. } => Flow::Ping { host: 10, id },
            };
            // Skip flows that repeat an earlier tuple (they would hit the
            // existing session, not create one).
            let key = format!("{f:?}");
            if !seen.insert(key) {
                continue;
            }
            round_trip(&mut e, f, T0 + i as u64).map_err(TestCaseError::fail)?;
        }
        // Live mappings are unique per (public address, public port, protocol).
        let mut public = HashSet::new();
        for (h, _) in e.sessions().iter() {
            let entry = e.sessions().forward_entry(h);
            if let xpf_runtime::SessionEntry::V4 { key, value } = entry {
                prop_assert!(
                    public.insert((value.nat.src, value.nat.src_port, key.protocol)),
                    "two live sessions share the mapping {}:{}", value.nat.src, value.nat.src_port
                );
            }
        }
        // Everything expires (the longest timeout is established TCP's
        // 1800 s) and every port is returned.
        e.expire(T0 + 4000 * SEC, usize::MAX);
        prop_assert!(e.sessions().is_empty());
        prop_assert_eq!(
            e.source_nat().interface(ip(WAN_IP)).map_or(0, |p| p.ports_in_use()),
            0
        );
    }

    #[test]
    fn unsolicited_inbound_never_passes(
        flows in proptest::collection::vec(arb_flow(), 1..30)
    ) {
        let mut e = engine();
        for (i, f) in flows.iter().enumerate() {
            // Hosts .100-.249 have no inbound policy (.50 and .80 do).
            let f = &match *f {
                Flow::Udp { host, sport, dport } => Flow::Udp { host: 100 + host % 150, sport, dport },
                Flow::Tcp { host, sport, dport } => Flow::Tcp { host: 100 + host % 150, sport, dport },
                Flow::Ping { host, id } => Flow::Ping { host: 100 + host % 150, id },
            };
            let frame = match *f {
                Flow::Udp { host, sport, dport } => udp4(REMOTE, [198, 18, 0, host], sport, dport, b"x"),
                Flow::Tcp { host, sport, dport } => tcp4(REMOTE, [198, 18, 0, host], sport, dport, "S", 1, 0, &[]),
                Flow::Ping { host, id } => ping4(REMOTE, [198, 18, 0, host], id, false),
            };
            let (v, _, _) = run(&mut e, T0 + i as u64, WAN, frame);
            prop_assert!(matches!(v, Verdict::Drop(_)), "{:?} passed: {:?}", f, v);
        }
        prop_assert!(e.sessions().is_empty());
        let c = &e.telemetry().counters;
        prop_assert_eq!(
            c.get(BaseCounter::RxPackets),
            c.get(BaseCounter::Forwarded) + c.get(BaseCounter::LocalDelivered) + c.get(BaseCounter::Dropped)
        );
    }
}
