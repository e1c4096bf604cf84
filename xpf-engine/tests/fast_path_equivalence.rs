//! The established-flow fast path and batch lookahead change nothing but
//! speed: on the same generated traffic, an engine with the fast path on
//! (packet by packet, and in batches) and one with it off (every packet
//! through the general pipeline) give the same verdicts, the same output
//! bytes, the same emitted frames, counters, events, deltas and sessions.
//!
//! Traffic: IPv4 and IPv6, TCP and UDP flows from the LAN (source NAT)
//! and to the port-forwarded and static-NAT servers, both directions,
//! TCP flags of every kind (including screened SYN+FIN), sequence numbers
//! in and out of window, TTLs of 1 and 2, corrupted IPv4 header checksums,
//! VLAN tags and time steps that let sessions expire.

mod common;

use common::*;
use etherparse::PacketBuilder;
use proptest::prelude::*;
use std::net::{IpAddr, Ipv6Addr};
use xpf_engine::engine::{Emitted, Engine, EngineOptions, Verdict};
use xpf_runtime::{AnySessionKey, IpProtocol, SessionKey};

#[derive(Clone, Copy, Debug)]
struct Flow {
    v6: bool,
    tcp: bool,
    /// 0: LAN host → remote (SNAT); 1: remote → port forward; 2: remote →
    /// static NAT host.
    kind: u8,
    host: u8,
    sport: u16,
    dport: u16,
}

#[derive(Clone, Copy, Debug)]
struct Step {
    flow: usize,
    /// Reply direction (built from the session's reverse key when there
    /// is one).
    reply: bool,
    flags: u8,
    /// Use the tracked sequence numbers (else arbitrary ones).
    in_window: bool,
    seq: u32,
    payload: u8,
    ttl: u8,
    corrupt_checksum: bool,
    vlan: bool,
    advance_ms: u32,
}

const FIN: u8 = 0x01;
const SYN: u8 = 0x02;
const RST: u8 = 0x04;
const PSH: u8 = 0x08;
const ACK: u8 = 0x10;

fn arb_flow() -> impl Strategy<Value = Flow> {
    (
        any::<bool>(),
        any::<bool>(),
        prop_oneof![6 => Just(0u8), 1 => Just(1u8), 1 => Just(2u8)],
        10u8..13,
        prop_oneof![Just(40000u16), Just(40001), 1024u16..65535],
        prop_oneof![Just(53u16), Just(443), Just(22), Just(8080)],
    )
        .prop_map(|(v6, tcp, kind, host, sport, dport)| {
            let (tcp, dport) = match kind {
                1 => (true, 443),
                2 => (true, 22),
                _ => (tcp, dport),
            };
            Flow {
                v6: v6 && kind == 0,
                tcp,
                kind,
                host,
                sport,
                dport,
            }
        })
}

fn arb_step(flows: usize) -> impl Strategy<Value = Step> {
    (
        0..flows,
        any::<bool>(),
        prop_oneof![
            Just(SYN),
            Just(SYN | ACK),
            Just(ACK),
            Just(PSH | ACK),
            Just(PSH | ACK),
            Just(FIN | ACK),
            Just(RST),
            Just(SYN | FIN),
            Just(0u8),
        ],
        prop::bool::weighted(0.85),
        any::<u32>(),
        0u8..40,
        prop_oneof![8 => Just(64u8), 1 => Just(1u8), 1 => Just(2u8)],
        prop::bool::weighted(0.05),
        prop::bool::weighted(0.05),
        prop_oneof![8 => Just(0u32), 2 => 1u32..2000, 1 => Just(400_000u32)],
    )
        .prop_map(
            |(flow, reply, flags, in_window, seq, payload, ttl, corrupt, vlan, advance_ms)| Step {
                flow,
                reply,
                flags,
                in_window,
                seq,
                payload,
                ttl,
                corrupt_checksum: corrupt,
                vlan,
                advance_ms,
            },
        )
}

fn v6(host: u8, lan: bool) -> [u8; 16] {
    let net: &str = if lan { "2001:db8:1::" } else { "2001:db8:2::" };
    let mut a = net.parse::<Ipv6Addr>().unwrap().octets();
    a[15] = host;
    a
}

/// The flow's forward tuple as it leaves the sender.
fn forward_tuple(f: &Flow) -> (IpAddr, IpAddr, u16, u16) {
    match (f.kind, f.v6) {
        (0, false) => (ip([198, 18, 0, f.host]), ip(REMOTE), f.sport, f.dport),
        (0, true) => (
            IpAddr::from(v6(f.host, true)),
            IpAddr::from(v6(0x99, false)),
            f.sport,
            f.dport,
        ),
        (1, _) => (ip(REMOTE), ip([198, 19, 0, 10]), f.sport, f.dport),
        _ => (ip(REMOTE), ip([198, 19, 0, 50]), f.sport, f.dport),
    }
}

fn key_of(t: (IpAddr, IpAddr, u16, u16), protocol: IpProtocol) -> AnySessionKey {
    match t {
        (IpAddr::V4(src), IpAddr::V4(dst), src_port, dst_port) => AnySessionKey::V4(SessionKey {
            src,
            dst,
            src_port,
            dst_port,
            protocol,
        }),
        (IpAddr::V6(src), IpAddr::V6(dst), src_port, dst_port) => AnySessionKey::V6(SessionKey {
            src,
            dst,
            src_port,
            dst_port,
            protocol,
        }),
        _ => unreachable!("one family per flow"),
    }
}

#[allow(clippy::too_many_arguments)]
fn frame(
    t: (IpAddr, IpAddr, u16, u16),
    tcp: bool,
    flags: u8,
    seq: u32,
    ack: u32,
    payload: &[u8],
    ttl: u8,
    vlan: bool,
) -> Vec<u8> {
    let (src, dst, sport, dport) = t;
    let lan_side = match src {
        IpAddr::V4(a) => a.octets()[1] == 18,
        IpAddr::V6(a) => a.segments()[2] == 1,
    };
    let (smac, dmac) = if lan_side {
        (CLIENT_MAC, LAN_MAC)
    } else {
        (GW_MAC, WAN_MAC)
    };
    let l2 = PacketBuilder::ethernet2(smac, dmac);
    let l3 = match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => l2.ipv4(s.octets(), d.octets(), ttl),
        (IpAddr::V6(s), IpAddr::V6(d)) => l2.ipv6(s.octets(), d.octets(), ttl),
        _ => unreachable!(),
    };
    let mut out = Vec::new();
    if tcp {
        let mut b = l3.tcp(sport, dport, seq, 64240);
        if flags & SYN != 0 {
            b = b.syn();
        }
        if flags & ACK != 0 {
            b = b.ack(ack);
        }
        if flags & FIN != 0 {
            b = b.fin();
        }
        if flags & RST != 0 {
            b = b.rst();
        }
        if flags & PSH != 0 {
            b = b.psh();
        }
        b.write(&mut out, payload).unwrap();
    } else {
        l3.udp(sport, dport).write(&mut out, payload).unwrap();
    }
    if vlan {
        // An 802.1Q tag (VLAN 7) between the MAC addresses and the
        // ethertype.
        out.splice(12..12, [0x81, 0x00, 0x00, 0x07]);
    }
    out
}

/// Per flow and direction: the next sequence number each side sends.
#[derive(Clone, Copy, Default)]
struct SeqState {
    next: [u32; 2],
}

/// Builds every step's frame (replies from engine `a`'s sessions) and
/// returns them with their ingress and time.
fn frames_for(
    a: &Engine,
    flows: &[Flow],
    steps: &[Step],
    seqs: &mut [SeqState],
    now: &mut u64,
) -> Vec<(u64, xpf_runtime::InterfaceId, Vec<u8>)> {
    let mut out = Vec::new();
    for st in steps {
        *now += u64::from(st.advance_ms) * 1_000_000;
        let f = &flows[st.flow];
        let protocol = if f.tcp {
            IpProtocol::TCP
        } else {
            IpProtocol::UDP
        };
        let fwd = forward_tuple(f);
        let tuple = if st.reply {
            match a.sessions().lookup(&key_of(fwd, protocol)) {
                Some((h, _)) => match a.sessions().keys(h).reverse {
                    AnySessionKey::V4(k) => (k.src.into(), k.dst.into(), k.src_port, k.dst_port),
                    AnySessionKey::V6(k) => (k.src.into(), k.dst.into(), k.src_port, k.dst_port),
                },
                None => (fwd.1, fwd.0, fwd.3, fwd.2),
            }
        } else {
            fwd
        };
        let side = usize::from(st.reply);
        let s = &mut seqs[st.flow];
        let (seq, ack) = if st.in_window {
            (s.next[side], s.next[1 - side])
        } else {
            (st.seq, st.seq.wrapping_add(7))
        };
        let payload = vec![0x5a; usize::from(st.payload)];
        let used =
            u32::from(st.payload) + u32::from(st.flags & SYN != 0) + u32::from(st.flags & FIN != 0);
        s.next[side] = seq.wrapping_add(used);
        let mut fr = frame(tuple, f.tcp, st.flags, seq, ack, &payload, st.ttl, st.vlan);
        if st.corrupt_checksum && !f.v6 {
            let at = if st.vlan { 18 } else { 14 } + 10;
            fr[at] ^= 0x40;
        }
        let from_lan = match tuple.0 {
            IpAddr::V4(a) => a.octets()[1] == 18,
            IpAddr::V6(a) => a.segments()[2] == 1,
        };
        out.push((*now, if from_lan { LAN } else { WAN }, fr));
    }
    out
}

/// Everything observable about an engine, as text.
fn observe(e: &mut Engine) -> String {
    let t = e.telemetry_mut();
    let events = t.events.drain(usize::MAX);
    let deltas = t.deltas.drain(usize::MAX);
    let counters = format!("{:?}", t.counters);
    let mut sessions: Vec<String> = e
        .sessions()
        .iter()
        .map(|(h, _)| format!("{:?}", e.sessions().to_entries(h)))
        .collect();
    sessions.sort();
    format!("{counters}\n{events:?}\n{deltas:?}\n{sessions:?}")
}

fn engine_with(fast_path: bool) -> Engine {
    let opts = EngineOptions {
        fast_path,
        ..EngineOptions::default()
    };
    Engine::new(compiled(CONFIG), 1, opts, T0).unwrap()
}

type Outcome = (Verdict, Vec<u8>, Vec<Emitted>);

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn fast_path_and_batches_match_the_general_pipeline(
        flows in prop::collection::vec(arb_flow(), 1..6),
        rounds in prop::collection::vec(prop::collection::vec(arb_step(6), 1..24), 1..5),
        batch in 1usize..40,
    ) {
        let mut slow = engine_with(false);
        let mut fast = engine_with(true);
        let mut batched = engine_with(true);
        let mut seqs = vec![SeqState::default(); flows.len()];
        let mut now = T0;
        for steps in rounds {
            let steps: Vec<Step> = steps
                .into_iter()
                .map(|mut s| { s.flow %= flows.len(); s })
                .collect();
            let frames = frames_for(&slow, &flows, &steps, &mut seqs, &mut now);
            let mut expected: Vec<Outcome> = Vec::new();
            let mut got: Vec<Outcome> = Vec::new();
            for (at, ingress, f) in &frames {
                let mut x = f.clone();
                let mut ox = Vec::new();
                let v = slow.process(*at, *ingress, &mut x, &mut ox);
                expected.push((v, x, ox));
                let mut y = f.clone();
                let mut oy = Vec::new();
                let v = fast.process(*at, *ingress, &mut y, &mut oy);
                got.push((v, y, oy));
            }
            prop_assert_eq!(&expected, &got);
            // Batches share one `now`: feed runs of equal times.
            let mut i = 0;
            let mut batched_out: Vec<Outcome> = Vec::new();
            while i < frames.len() {
                let at = frames[i].0;
                let mut j = i;
                while j < frames.len() && j - i < batch && frames[j].0 == at {
                    j += 1;
                }
                let mut group: Vec<_> = frames[i..j]
                    .iter()
                    .map(|(_, ingress, f)| (*ingress, f.clone()))
                    .collect();
                let mut verdicts = Vec::new();
                let mut emitted = Vec::new();
                batched.process_batch(at, &mut group, &mut verdicts, &mut emitted);
                // Emitted frames of a batch come in one list: attribute
                // them by comparing the concatenation.
                let expected_emitted: Vec<Emitted> = expected[i..j]
                    .iter()
                    .flat_map(|o| o.2.clone())
                    .collect();
                prop_assert_eq!(&expected_emitted, &emitted);
                for ((v, (_, f)), e) in verdicts.into_iter().zip(group).zip(&expected[i..j]) {
                    batched_out.push((v, f, e.2.clone()));
                }
                i = j;
            }
            prop_assert_eq!(&expected, &batched_out);
            let (a, b, c) = (observe(&mut slow), observe(&mut fast), observe(&mut batched));
            prop_assert_eq!(&a, &b);
            prop_assert_eq!(&a, &c);
            let expired = slow.expire(now, usize::MAX);
            prop_assert_eq!(expired, fast.expire(now, usize::MAX));
            prop_assert_eq!(expired, batched.expire(now, usize::MAX));
        }
    }
}

#[test]
fn an_established_udp_flow_takes_the_fast_path_with_identical_results() {
    // A deterministic instance of the property, with a hit on the fast
    // path guaranteed: outbound UDP from the LAN (trust, no screen).
    let mut slow = engine_with(false);
    let mut fast = engine_with(true);
    let out = udp4(CLIENT, REMOTE, 40000, 53, b"q");
    for e in [&mut slow, &mut fast] {
        let (v, _, _) = run(e, T0, LAN, out.clone());
        assert_eq!(v, Verdict::Forward { egress: WAN });
    }
    for k in 1..4u64 {
        let (v1, f1, e1) = run(&mut slow, T0 + k, LAN, out.clone());
        let (v2, f2, e2) = run(&mut fast, T0 + k, LAN, out.clone());
        assert_eq!((v1, &f1, &e1), (v2, &f2, &e2));
        assert_eq!(v2, Verdict::Forward { egress: WAN });
        let p = check(&f2);
        assert_eq!(p.src, ip(WAN_IP), "source translated");
        assert_eq!(p.ttl, 63);
    }
    assert_eq!(observe(&mut slow), observe(&mut fast));
}

#[test]
fn an_apply_that_changes_the_next_hop_takes_effect_on_the_next_packet() {
    // The fast path keeps resolved next hops; an apply that moves the
    // default route's gateway MAC must be seen by the very next packet,
    // exactly as by the general pipeline.
    let moved = CONFIG.replace(
        "address = \"198.19.0.254\"\nmac = \"02:00:00:00:02:fe\"",
        "address = \"198.19.0.254\"\nmac = \"02:00:00:00:02:aa\"",
    );
    assert_ne!(moved, CONFIG, "the fixture's gateway entry was found");
    let mut slow = engine_with(false);
    let mut fast = engine_with(true);
    let out = udp4(CLIENT, REMOTE, 40000, 53, b"q");
    for e in [&mut slow, &mut fast] {
        for k in 0..3 {
            let (v, f, _) = run(e, T0 + k, LAN, out.clone());
            assert_eq!(v, Verdict::Forward { egress: WAN });
            assert_eq!(f[0..6], GW_MAC);
        }
        e.apply(compiled(&moved), 2, T0 + 5).unwrap();
    }
    let (v1, f1, _) = run(&mut slow, T0 + 6, LAN, out.clone());
    let (v2, f2, _) = run(&mut fast, T0 + 6, LAN, out.clone());
    assert_eq!((v1, &f1), (v2, &f2));
    assert_eq!(f2[0..6], [2, 0, 0, 0, 2, 0xaa]);
    assert_eq!(observe(&mut slow), observe(&mut fast));
}
