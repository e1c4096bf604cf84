//! Hand-written scenarios for the reference model, so it is checked
//! against the documented semantics and not only against the engine.

use std::net::{IpAddr, Ipv4Addr};
use xpf_conformance::Model;
use xpf_conformance::generate::{Endpoint, FlowSpec, Proto, TcpKind, host_mac, if_mac};
use xpf_conformance::harness::{Harness, Verdict};
use xpf_conformance::model::wire;
use xpf_conformance::render::{SeqState, Wire, flow_frame};
use xpf_conformance::suite::{from_corpus, to_corpus};
use xpf_dataplane::Config;
use xpf_runtime::counters::BaseCounter;
use xpf_runtime::{CloseReason, DropReason, Event, InterfaceId, SessionFlags, TcpState};

const SEC: u64 = 1_000_000_000;
const T0: u64 = (1_795_392_000 + 10 * 3600) * SEC;

const CONFIG: &str = r#"
[[interfaces]]
name = "lan"
zone = "trust"
mac = "02:00:00:00:00:01"
addresses = ["198.18.1.1/24"]
[[interfaces]]
name = "wan"
zone = "untrust"
mac = "02:00:00:00:00:02"
addresses = ["198.18.2.1/24"]
[[zones]]
name = "trust"
host-inbound-traffic = { system-services = ["ping"] }
[[zones]]
name = "untrust"
[[security.policies]]
from-zone = "trust"
to-zone = "untrust"
[[security.policies.policies]]
name = "out"
match = { application = ["any"] }
then = { action = "permit", log = { session-init = true, session-close = true } }
[[security.nat.source.rule-sets]]
name = "out"
from = { zone = ["trust"] }
to = { zone = ["untrust"] }
[[security.nat.source.rule-sets.rules]]
name = "iface"
match = { source-address = ["198.18.1.0/24"] }
then = "interface"
[security.flow.timeouts]
udp = 10
[[forwarding.routes]]
destination = "198.19.2.0/24"
next-hop = "198.18.2.254"
[[forwarding.neighbours]]
address = "198.18.2.254"
mac = "02:00:00:00:02:fe"
interface = "wan"
[[forwarding.neighbours]]
address = "198.18.1.10"
mac = "02:00:00:00:01:0a"
interface = "lan"
"#;

const LAN: InterfaceId = InterfaceId(1);
const WAN: InterfaceId = InterfaceId(2);

fn model() -> Model {
    let mut m = Model::new();
    m.apply(&Config::from_toml_str(CONFIG).unwrap(), T0)
        .unwrap();
    m
}

fn flow(proto: Proto) -> FlowSpec {
    FlowSpec {
        v6: false,
        proto,
        client: Endpoint::Host(1, 10),
        server: Endpoint::Remote(2),
        sport: 40000,
        dport: 53,
    }
}

fn out_wire(f: &FlowSpec) -> Wire {
    Wire {
        src: IpAddr::V4(Ipv4Addr::new(198, 18, 1, 10)),
        dst: IpAddr::V4(Ipv4Addr::new(198, 19, 2, 5)),
        sport: f.sport,
        dport: if f.proto == Proto::Icmp {
            f.sport
        } else {
            f.dport
        },
        src_mac: host_mac(1, 10),
        dst_mac: if_mac(1),
        vlan: None,
    }
}

fn reply_wire(public_port: u16, f: &FlowSpec) -> Wire {
    Wire {
        src: IpAddr::V4(Ipv4Addr::new(198, 19, 2, 5)),
        dst: IpAddr::V4(Ipv4Addr::new(198, 18, 2, 1)),
        sport: if f.proto == Proto::Icmp {
            public_port
        } else {
            f.dport
        },
        dport: public_port,
        src_mac: host_mac(2, 254),
        dst_mac: if_mac(2),
        vlan: None,
    }
}

#[test]
fn udp_flow_is_source_natted_to_the_interface_and_its_reply_translated_back() {
    let mut m = model();
    let f = flow(Proto::Udp);
    let mut seq = SeqState::new(0);
    let out = flow_frame(&f, &out_wire(&f), false, TcpKind::Ack, false, &mut seq);
    let o = m.inject(LAN, &out, T0 + SEC);
    assert_eq!(o.verdict, Verdict::Forward { egress: WAN });
    let bytes = o.forwarded.unwrap();
    let p = wire::parse(&bytes).unwrap();
    assert_eq!(
        p.src,
        IpAddr::V4(Ipv4Addr::new(198, 18, 2, 1)),
        "interface NAT"
    );
    assert_eq!(p.ttl, 63);
    assert_eq!(&bytes[0..6], &host_mac(2, 254), "neighbour MAC");
    assert_eq!(&bytes[6..12], &if_mac(2), "egress interface MAC");
    assert_eq!(
        wire::sum16(&bytes[p.l3..p.l3 + 20], 0),
        0xffff,
        "IPv4 checksum valid"
    );
    let (public_port, _) = p.ports().unwrap();
    assert!((1024..=65535).contains(&public_port));
    // One session, two entries; SNAT flag; open event logged.
    let sessions = m.sessions();
    assert_eq!(sessions.len(), 2);
    assert!(
        sessions
            .iter()
            .all(|e| e.flags().contains(SessionFlags::SNAT))
    );
    assert!(matches!(
        m.drain_events().as_slice(),
        [Event::SessionOpen(_)]
    ));
    // The reply to the public port goes back to the client, untranslated.
    let reply = flow_frame(
        &f,
        &reply_wire(public_port, &f),
        true,
        TcpKind::Ack,
        false,
        &mut seq,
    );
    let r = m.inject(WAN, &reply, T0 + 2 * SEC);
    assert_eq!(r.verdict, Verdict::Forward { egress: LAN });
    let back = wire::parse(&r.forwarded.unwrap()).unwrap();
    assert_eq!(back.dst, IpAddr::V4(Ipv4Addr::new(198, 18, 1, 10)));
    assert_eq!(back.ports(), Some((53, 40000)));
    let c = m.counters();
    assert_eq!(c.get(BaseCounter::NatTranslated), 2);
    assert_eq!(c.get(BaseCounter::SessionHits), 1);
}

#[test]
fn idle_udp_session_expires_at_its_timeout_with_a_close_event() {
    let mut m = model();
    let f = flow(Proto::Udp);
    let mut seq = SeqState::new(0);
    let out = flow_frame(&f, &out_wire(&f), false, TcpKind::Ack, false, &mut seq);
    m.inject(LAN, &out, T0);
    m.drain_events();
    m.advance(T0 + 10 * SEC - 1);
    assert_eq!(
        m.sessions().len(),
        2,
        "not yet: deadline is last-seen + 10 s"
    );
    m.advance(T0 + 10 * SEC);
    assert!(m.sessions().is_empty());
    match m.drain_events().as_slice() {
        [Event::SessionClose(c)] => assert_eq!(c.reason, CloseReason::IdleTimeout),
        other => panic!("{other:?}"),
    }
    assert_eq!(m.counters().get(BaseCounter::SessionsExpired), 1);
}

#[test]
fn tcp_handshake_establishes_and_fins_reach_time_wait() {
    let mut m = model();
    let mut f = flow(Proto::Tcp);
    f.dport = 443;
    let mut seq = SeqState::new(0);
    let syn = flow_frame(&f, &out_wire(&f), false, TcpKind::Syn, false, &mut seq);
    assert!(matches!(
        m.inject(LAN, &syn, T0).verdict,
        Verdict::Forward { .. }
    ));
    let public = m
        .sessions()
        .iter()
        .find(|e| !e.is_reverse())
        .map(|e| match e {
            xpf_runtime::SessionEntry::V4 { value, .. } => value.nat.src_port,
            _ => unreachable!(),
        });
    let rw = reply_wire(public.unwrap(), &f);
    let steps = [
        (true, TcpKind::Syn, TcpState::SynReceived),
        (false, TcpKind::Ack, TcpState::Established),
        (false, TcpKind::Data(100), TcpState::Established),
        (false, TcpKind::Fin, TcpState::FinWait),
        (true, TcpKind::Fin, TcpState::LastAck),
        (false, TcpKind::Ack, TcpState::TimeWait),
    ];
    for (i, (reply, kind, want)) in steps.into_iter().enumerate() {
        let w = if reply { &rw } else { &out_wire(&f) };
        let frame = flow_frame(&f, w, reply, kind, false, &mut seq);
        let o = m.inject(if reply { WAN } else { LAN }, &frame, T0 + i as u64 + 1);
        assert!(
            matches!(o.verdict, Verdict::Forward { .. }),
            "step {i}: {:?}",
            o.verdict
        );
        let state = m.sessions()[0];
        let s = match state {
            xpf_runtime::SessionEntry::V4 { value, .. } => value.tcp_state,
            _ => unreachable!(),
        };
        assert_eq!(s, want, "step {i}");
    }
    // A segment far outside the window is refused and changes nothing.
    let before = m.sessions();
    let oow = flow_frame(
        &f,
        &out_wire(&f),
        false,
        TcpKind::OutOfWindow,
        false,
        &mut seq,
    );
    let o = m.inject(LAN, &oow, T0 + 20);
    assert!(matches!(o.verdict, Verdict::Drop { .. }));
    assert_eq!(m.sessions(), before);
}

#[test]
fn unsolicited_inbound_is_default_denied_and_non_syn_first_refused() {
    let mut m = model();
    let f = flow(Proto::Udp);
    let mut seq = SeqState::new(0);
    let inbound = flow_frame(
        &f,
        &reply_wire(2000, &f),
        true,
        TcpKind::Ack,
        false,
        &mut seq,
    );
    // 198.18.2.1 is the firewall itself: not allowed in untrust.
    assert_eq!(
        m.inject(WAN, &inbound, T0).verdict,
        Verdict::Drop {
            reason: DropReason::HostInboundDenied
        }
    );
    let mut t = flow(Proto::Tcp);
    t.dport = 80;
    let ack = flow_frame(
        &t,
        &out_wire(&t),
        false,
        TcpKind::Ack,
        false,
        &mut SeqState::new(1),
    );
    assert_eq!(
        m.inject(LAN, &ack, T0).verdict,
        Verdict::Drop {
            reason: DropReason::TcpNonSynFirst
        }
    );
    let c = m.counters();
    assert_eq!(c.get(BaseCounter::RxPackets), c.get(BaseCounter::Dropped));
    assert!(m.sessions().is_empty());
}

/// Decision (README, "Decisions"): TTL expiry is decided on the packet as
/// received, before source NAT and before a session exists; the error quotes
/// the untranslated packet and goes back out of the ingress interface, to
/// the original source, from the ingress interface's address.
#[test]
fn ttl_one_is_dropped_before_nat_with_an_error_quoting_the_received_packet() {
    let mut m = model();
    let f = flow(Proto::Udp);
    let out = flow_frame(
        &f,
        &out_wire(&f),
        false,
        TcpKind::Ack,
        true,
        &mut SeqState::new(0),
    );
    let o = m.inject(LAN, &out, T0);
    assert_eq!(
        o.verdict,
        Verdict::Drop {
            reason: DropReason::TtlExceeded
        }
    );
    let [e] = o.generated.as_slice() else {
        panic!("{:?}", o.generated)
    };
    assert_eq!(e.interface, LAN);
    let p = wire::parse(&e.frame).unwrap();
    assert_eq!(p.icmp(), Some((11, 0)));
    assert_eq!(p.src, IpAddr::V4(Ipv4Addr::new(198, 18, 1, 1)));
    assert_eq!(p.dst, IpAddr::V4(Ipv4Addr::new(198, 18, 1, 10)));
    // The quote is the received IP packet, byte for byte.
    let quoted = &e.frame[p.l4 + 8..p.l3_end()];
    assert_eq!(quoted, &out[14..14 + quoted.len()]);
    assert_eq!(m.counters().get(BaseCounter::IcmpErrorsSent), 1);
    assert!(m.sessions().is_empty(), "no session for an expiring packet");
    assert_eq!(m.counters().get(BaseCounter::NatTranslated), 0);
}

/// On a live session an expiring packet is answered the same way and leaves
/// the session untouched.
#[test]
fn ttl_one_on_a_live_session_leaves_it_untouched() {
    let mut m = model();
    let f = flow(Proto::Udp);
    let mut seq = SeqState::new(0);
    let first = flow_frame(&f, &out_wire(&f), false, TcpKind::Ack, false, &mut seq);
    assert!(matches!(
        m.inject(LAN, &first, T0).verdict,
        Verdict::Forward { .. }
    ));
    let before = m.sessions();
    let again = flow_frame(&f, &out_wire(&f), false, TcpKind::Ack, true, &mut seq);
    let o = m.inject(LAN, &again, T0 + SEC);
    assert_eq!(
        o.verdict,
        Verdict::Drop {
            reason: DropReason::TtlExceeded
        }
    );
    assert_eq!(o.generated.len(), 1);
    assert_eq!(o.generated[0].interface, LAN);
    assert_eq!(m.sessions(), before);
}

#[test]
fn ping_to_the_firewall_is_local_in_trust() {
    let mut m = model();
    let mut f = flow(Proto::Icmp);
    f.server = Endpoint::Firewall(1);
    let mut w = out_wire(&f);
    w.dst = IpAddr::V4(Ipv4Addr::new(198, 18, 1, 1));
    let ping = flow_frame(&f, &w, false, TcpKind::Ack, false, &mut SeqState::new(0));
    assert_eq!(m.inject(LAN, &ping, T0).verdict, Verdict::Local);
}

#[test]
fn rejected_config_changes_nothing() {
    let mut m = model();
    let f = flow(Proto::Udp);
    let out = flow_frame(
        &f,
        &out_wire(&f),
        false,
        TcpKind::Ack,
        false,
        &mut SeqState::new(0),
    );
    m.inject(LAN, &out, T0);
    let (sessions, counters) = (m.sessions(), m.counters());
    let bad = CONFIG.replace("application = [\"any\"]", "application = [\"no-such-app\"]");
    assert!(
        m.apply(&Config::from_toml_str(&bad).unwrap(), T0 + SEC)
            .is_err()
    );
    assert_eq!(m.sessions(), sessions);
    assert_eq!(m.counters(), counters);
}

#[test]
fn corpus_files_round_trip() {
    use proptest::strategy::{Strategy, ValueTree};
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    for _ in 0..20 {
        let s = xpf_conformance::generate::scenario(true, 10)
            .new_tree(&mut runner)
            .unwrap()
            .current();
        assert_eq!(from_corpus(&to_corpus(&s)).unwrap(), s);
    }
}

/// Decision (README, "Decisions"): a cluster-synced entry replaces a local
/// session holding its forward key; the replaced one closes with
/// `cluster-reconcile`; the installed one is flagged synced and counted as
/// created.
#[test]
fn synced_install_replaces_the_local_session_of_the_same_flow() {
    let mut m = model();
    let f = flow(Proto::Udp);
    let mut seq = SeqState::new(0);
    let first = flow_frame(&f, &out_wire(&f), false, TcpKind::Ack, false, &mut seq);
    assert!(matches!(
        m.inject(LAN, &first, T0).verdict,
        Verdict::Forward { .. }
    ));
    let local = m.sessions().into_iter().find(|e| !e.is_reverse()).unwrap();
    m.drain_deltas();
    let mut peer = local;
    if let xpf_runtime::SessionEntry::V4 { value, .. } = &mut peer {
        value.session_id = xpf_runtime::SessionId::compose(1, 7);
    }
    m.put_cluster_synced(peer, T0 + SEC).unwrap();
    let now = m.sessions().into_iter().find(|e| !e.is_reverse()).unwrap();
    assert_eq!(now.session_id(), peer.session_id());
    assert!(now.flags().contains(SessionFlags::CLUSTER_SYNCED));
    let deltas = m.drain_deltas();
    assert_eq!(deltas.len(), 1, "{deltas:?}");
    assert_eq!(
        deltas[0].reason,
        xpf_runtime::SessionDeltaReason::Close(CloseReason::ClusterReconcile)
    );
    let c = m.counters();
    assert_eq!(c.get(BaseCounter::SessionsCreated), 2);
    assert_eq!(c.get(BaseCounter::SessionsClosed), 1);
    // The same entry again refreshes in place.
    m.put_cluster_synced(peer, T0 + 2 * SEC).unwrap();
    assert_eq!(m.counters().get(BaseCounter::SessionsCreated), 2);
    // A reverse entry is refused.
    let rev = xpf_dataplane::session_store::reverse_entry(&peer);
    assert!(m.put_cluster_synced(rev, T0 + 2 * SEC).is_err());
}

/// Decision (README, "Decisions"): when a scheduler turns off, the sessions
/// its rule admitted close (reason `policy`) at the first call at or after
/// the edge.
#[test]
fn session_of_a_scheduled_rule_closes_at_the_schedule_edge() {
    let text = CONFIG.replace(
        "name = \"out\"\nmatch",
        "name = \"out\"\nscheduler = \"s1\"\nmatch",
    ) + "[[schedulers]]\nname = \"s1\"\n[[schedulers.windows]]\nstart = \"10:00\"\nstop = \"10:01\"\n";
    let mut m = Model::new();
    m.apply(&Config::from_toml_str(&text).unwrap(), T0).unwrap();
    let f = flow(Proto::Udp);
    let mut seq = SeqState::new(0);
    let first = flow_frame(&f, &out_wire(&f), false, TcpKind::Ack, false, &mut seq);
    assert!(matches!(
        m.inject(LAN, &first, T0 + SEC).verdict,
        Verdict::Forward { .. }
    ));
    let keep = flow_frame(&f, &out_wire(&f), false, TcpKind::Ack, false, &mut seq);
    assert!(matches!(
        m.inject(LAN, &keep, T0 + 55 * SEC).verdict,
        Verdict::Forward { .. }
    ));
    m.advance(T0 + 59 * SEC);
    assert_eq!(m.sessions().len(), 2, "still inside the window");
    m.drain_events();
    m.advance(T0 + 60 * SEC);
    assert!(m.sessions().is_empty(), "closed at the edge");
    let closes: Vec<_> = m
        .drain_events()
        .into_iter()
        .filter_map(|e| match e {
            Event::SessionClose(c) => Some(c.reason),
            _ => None,
        })
        .collect();
    assert_eq!(closes, vec![CloseReason::Policy]);
    let again = flow_frame(&f, &out_wire(&f), false, TcpKind::Ack, false, &mut seq);
    assert_eq!(
        m.inject(LAN, &again, T0 + 61 * SEC).verdict,
        Verdict::Drop {
            reason: DropReason::DefaultDeny
        }
    );
}

/// A port unreachable from the server about a source-translated flow is
/// sent on to the client with the quoted packet translated back.
#[test]
fn icmp_error_about_a_natted_flow_is_translated_back_to_the_client() {
    let mut m = model();
    let f = flow(Proto::Udp);
    let mut seq = SeqState::new(0);
    let out = flow_frame(&f, &out_wire(&f), false, TcpKind::Ack, false, &mut seq);
    let sent = m.inject(LAN, &out, T0).forwarded.unwrap();
    // The server quotes what it received and answers the public address.
    let quoted = &sent[14..];
    let public = wire::parse(&sent).unwrap();
    let mut icmp = vec![3, 3, 0, 0, 0, 0, 0, 0];
    icmp.extend_from_slice(quoted);
    let w = Wire {
        src: public.dst,
        dst: public.src,
        sport: 0,
        dport: 0,
        src_mac: host_mac(2, 254),
        dst_mac: if_mac(2),
        vlan: None,
    };
    let (_, err) = xpf_conformance::render::error_frame(&w, public.dst, public.src, false, icmp, 2);
    let o = m.inject(WAN, &err, T0 + SEC);
    assert_eq!(o.verdict, Verdict::Forward { egress: LAN });
    let back = o.forwarded.unwrap();
    let p = wire::parse(&back).unwrap();
    assert_eq!(p.dst, IpAddr::V4(Ipv4Addr::new(198, 18, 1, 10)));
    let e = wire::embedded(&back, &p).unwrap();
    assert_eq!(e.src, IpAddr::V4(Ipv4Addr::new(198, 18, 1, 10)));
    assert_eq!(e.ports, Some((40000, 53)));
    // Both checksums verify after the translation.
    assert_eq!(wire::sum16(&back[p.l4..p.l3_end()], 0), 0xffff);
    assert_eq!(wire::sum16(&back[e.ip..e.ip + 20], 0), 0xffff);
    // An error about no session is dropped.
    let mut stray = err.clone();
    stray[14 + 20 + 8 + 12] ^= 1;
    let o = m.inject(WAN, &stray, T0 + SEC);
    assert!(matches!(o.verdict, Verdict::Drop { .. }));
}

fn model_with(extra: &str) -> Model {
    let cfg = CONFIG.replacen(
        "[[zones]]\nname = \"trust\"\n",
        "[[zones]]\nname = \"trust\"\nscreen = \"ids1\"\n",
        1,
    ) + extra;
    let mut m = Model::new();
    m.apply(&Config::from_toml_str(&cfg).unwrap(), T0).unwrap();
    m
}

#[test]
fn screens_drop_syn_fin_and_land_but_pass_a_plain_syn() {
    let mut m = model_with(
        "[[security.screen.ids-options]]\nname = \"ids1\"\n[security.screen.ids-options.tcp]\nsyn-fin = true\nland = true\n",
    );
    let f = FlowSpec {
        dport: 80,
        ..flow(Proto::Tcp)
    };
    let mut seq = SeqState::new(0);
    let bad = flow_frame(&f, &out_wire(&f), false, TcpKind::SynFin, false, &mut seq);
    let o = m.inject(LAN, &bad, T0 + SEC);
    assert_eq!(
        o.verdict,
        Verdict::Drop {
            reason: DropReason::ScreenSynFin
        }
    );
    let mut land = out_wire(&f);
    land.dst = land.src;
    let o = m.inject(
        LAN,
        &flow_frame(&f, &land, false, TcpKind::Syn, false, &mut SeqState::new(1)),
        T0 + SEC,
    );
    assert_eq!(
        o.verdict,
        Verdict::Drop {
            reason: DropReason::ScreenLand
        }
    );
    let events = m.drain_events();
    assert_eq!(
        events
            .iter()
            .filter(|e| matches!(e, Event::ScreenDrop(_)))
            .count(),
        2
    );
    let syn = flow_frame(&f, &out_wire(&f), false, TcpKind::Syn, false, &mut seq);
    assert_eq!(
        m.inject(LAN, &syn, T0 + SEC).verdict,
        Verdict::Forward { egress: WAN }
    );
}

#[test]
fn filter_terms_count_discard_and_the_policer_turns_a_burst_red() {
    let mut m = Model::new();
    // Bind the filter as input on the LAN interface.
    let cfg = {
        let mut c = CONFIG.replacen(
            "addresses = [\"198.18.1.1/24\"]\n",
            "addresses = [\"198.18.1.1/24\"]\nfilter = { input = \"f4\" }\n",
            1,
        );
        c.push_str("[[firewall.policers]]\nname = \"p1\"\ntype = \"single-rate\"\nbandwidth-limit = 8000\nburst-size-limit = 100\n[[firewall.filters]]\nname = \"f4\"\nfamily = \"inet\"\n[[firewall.filters.terms]]\nname = \"no-dns\"\nfrom = { protocol = [\"udp\"], destination-port = [\"53\"] }\nthen = { action = \"discard\", log = true }\n[[firewall.filters.terms]]\nname = \"ping\"\nfrom = { protocol = [\"icmp\"] }\nthen = { action = \"accept\", policer = \"p1\" }\n");
        c
    };
    m.apply(&Config::from_toml_str(&cfg).unwrap(), T0).unwrap();
    let udp = flow(Proto::Udp);
    let mut seq = SeqState::new(0);
    let o = m.inject(
        LAN,
        &flow_frame(&udp, &out_wire(&udp), false, TcpKind::Syn, false, &mut seq),
        T0 + SEC,
    );
    assert_eq!(
        o.verdict,
        Verdict::Drop {
            reason: DropReason::FilterDiscard
        }
    );
    assert!(matches!(m.drain_events()[..], [Event::FilterLog(_)]));
    // Echo requests of 36 L3 bytes: a 100-byte burst pays two, the third
    // is red; a second later (1,000 B/s) the bucket is full again.
    let icmp = flow(Proto::Icmp);
    let verdicts: Vec<_> = (0..3)
        .map(|_| {
            let fr = flow_frame(
                &icmp,
                &out_wire(&icmp),
                false,
                TcpKind::Syn,
                false,
                &mut seq,
            );
            m.inject(LAN, &fr, T0 + 2 * SEC).verdict
        })
        .collect();
    assert_eq!(verdicts[0], Verdict::Forward { egress: WAN });
    assert_eq!(verdicts[1], Verdict::Forward { egress: WAN });
    assert_eq!(
        verdicts[2],
        Verdict::Drop {
            reason: DropReason::PolicerExceeded
        }
    );
    let fr = flow_frame(
        &icmp,
        &out_wire(&icmp),
        false,
        TcpKind::Syn,
        false,
        &mut seq,
    );
    assert_eq!(
        m.inject(LAN, &fr, T0 + 3 * SEC).verdict,
        Verdict::Forward { egress: WAN }
    );
    let counters = m.filter_term_counters().unwrap();
    let packets: Vec<u64> = counters.values().map(|c| c.packets).collect();
    assert_eq!(packets, vec![1, 4], "no-dns matched once, ping four times");
}

#[test]
fn syn_flood_screen_drops_syns_beyond_the_threshold_until_the_bucket_refills() {
    let mut m = model_with(
        "[[security.screen.ids-options]]\nname = \"ids1\"\n[security.screen.ids-options.tcp]\nsyn-flood-threshold = 2\n",
    );
    let f = FlowSpec {
        dport: 80,
        ..flow(Proto::Tcp)
    };
    let syn = |seq: &mut SeqState| flow_frame(&f, &out_wire(&f), false, TcpKind::Syn, false, seq);
    let mut seq = SeqState::new(0);
    let v: Vec<_> = (0..3)
        .map(|_| m.inject(LAN, &syn(&mut seq), T0 + SEC).verdict)
        .collect();
    assert_eq!(v[0], Verdict::Forward { egress: WAN });
    assert_eq!(v[1], Verdict::Forward { egress: WAN });
    assert_eq!(
        v[2],
        Verdict::Drop {
            reason: DropReason::ScreenSynFlood
        }
    );
    // Half a second refills one SYN at 2 per second.
    assert_eq!(
        m.inject(LAN, &syn(&mut seq), T0 + SEC + SEC / 2).verdict,
        Verdict::Forward { egress: WAN }
    );
}

#[test]
fn source_session_limit_refuses_a_second_session_from_the_same_host() {
    let mut m = model_with(
        "[[security.screen.ids-options]]\nname = \"ids1\"\n[security.screen.ids-options.limit-session]\nsource-ip-based = 1\n",
    );
    let a = flow(Proto::Udp);
    let b = FlowSpec {
        sport: 40001,
        ..flow(Proto::Udp)
    };
    let mut seq = SeqState::new(0);
    let first = flow_frame(&a, &out_wire(&a), false, TcpKind::Ack, false, &mut seq);
    assert_eq!(
        m.inject(LAN, &first, T0 + SEC).verdict,
        Verdict::Forward { egress: WAN }
    );
    let second = flow_frame(&b, &out_wire(&b), false, TcpKind::Ack, false, &mut seq);
    assert_eq!(
        m.inject(LAN, &second, T0 + SEC).verdict,
        Verdict::Drop {
            reason: DropReason::ScreenSourceSessionLimit
        }
    );
    // The first flow's own packets still pass: the limit is on new sessions.
    let again = flow_frame(&a, &out_wire(&a), false, TcpKind::Ack, false, &mut seq);
    assert_eq!(
        m.inject(LAN, &again, T0 + SEC).verdict,
        Verdict::Forward { egress: WAN }
    );
}

/// Fragments (README, "The reference model"): the first fragment opens the
/// session and is translated with its transport checksum updated for the
/// whole datagram; later fragments follow its ports; a non-first fragment
/// whose first fragment was never seen has no flow.
#[test]
fn fragments_follow_their_first_fragment_through_source_nat() {
    use xpf_conformance::generate::FragPlan;
    use xpf_conformance::render::fragments;
    let mut m = model();
    let f = flow(Proto::Udp);
    let mut seq = SeqState::new(0);
    let whole = flow_frame(&f, &out_wire(&f), false, TcpKind::Data(40), false, &mut seq);
    let pieces = fragments(&whole, FragPlan::InOrder, 77);
    assert_eq!(pieces.len(), 3, "first, middle, last");
    let mut forwarded = Vec::new();
    for p in &pieces {
        let o = m.inject(LAN, p, T0 + SEC);
        assert_eq!(o.verdict, Verdict::Forward { egress: WAN });
        forwarded.push(o.forwarded.unwrap());
    }
    // Reassemble what left: addresses translated in every fragment, ports
    // in the first, and the UDP checksum right for the whole datagram.
    let mut l4 = Vec::new();
    for b in &forwarded {
        let p = wire::parse(b).unwrap();
        assert!(p.fragment);
        assert_eq!(p.src, IpAddr::V4(Ipv4Addr::new(198, 18, 2, 1)));
        assert_eq!(wire::sum16(&b[p.l3..p.l3 + 20], 0), 0xffff);
        assert_eq!(p.frag.offset as usize, l4.len());
        l4.extend_from_slice(&b[p.l4..p.l3_end()]);
    }
    let sent = u16::from_be_bytes([l4[6], l4[7]]);
    let end = l4.len();
    let (src, dst) = (
        IpAddr::V4(Ipv4Addr::new(198, 18, 2, 1)),
        IpAddr::V4(Ipv4Addr::new(198, 19, 2, 5)),
    );
    wire::fix_l4(
        &mut l4,
        xpf_runtime::AddressFamily::Inet,
        src,
        dst,
        wire::UDP,
        0,
        end,
    );
    assert_eq!(sent, u16::from_be_bytes([l4[6], l4[7]]), "checksum valid");
    assert_eq!(m.counters().get(BaseCounter::Fragments), 3);
    assert_eq!(m.sessions().len(), 2, "one session");
    // A later fragment of a datagram whose first fragment never came.
    let orphan = fragments(&whole, FragPlan::OnlyLater, 78);
    assert_eq!(
        m.inject(LAN, &orphan[0], T0 + SEC).verdict,
        Verdict::Drop {
            reason: DropReason::FragmentNoSession
        }
    );
}

#[test]
fn tear_drop_and_ping_of_death_screens_drop_bad_fragments() {
    use xpf_conformance::generate::FragPlan;
    use xpf_conformance::render::fragments;
    let mut m = model_with(
        "[[security.screen.ids-options]]\nname = \"ids1\"\n[security.screen.ids-options.icmp]\nping-death = true\n[security.screen.ids-options.ip]\ntear-drop = true\n[security.screen.ids-options.tcp]\nsyn-frag = true\n",
    );
    let f = flow(Proto::Udp);
    let mut seq = SeqState::new(0);
    let whole = flow_frame(&f, &out_wire(&f), false, TcpKind::Data(40), false, &mut seq);
    let overlap = fragments(&whole, FragPlan::Overlap, 5);
    assert!(matches!(
        m.inject(LAN, &overlap[0], T0 + SEC).verdict,
        Verdict::Forward { .. }
    ));
    assert_eq!(
        m.inject(LAN, &overlap[1], T0 + SEC).verdict,
        Verdict::Drop {
            reason: DropReason::ScreenTearDrop
        }
    );
    let ping = flow(Proto::Icmp);
    let echo = flow_frame(
        &ping,
        &out_wire(&ping),
        false,
        TcpKind::Ack,
        false,
        &mut seq,
    );
    let huge = fragments(&echo, FragPlan::Huge, 6);
    assert!(matches!(
        m.inject(LAN, &huge[0], T0 + SEC).verdict,
        Verdict::Forward { .. }
    ));
    assert_eq!(
        m.inject(LAN, &huge[1], T0 + SEC).verdict,
        Verdict::Drop {
            reason: DropReason::ScreenPingOfDeath
        }
    );
    let tcp = FlowSpec {
        dport: 80,
        ..flow(Proto::Tcp)
    };
    let syn = flow_frame(&tcp, &out_wire(&tcp), false, TcpKind::Syn, false, &mut seq);
    assert_eq!(
        m.inject(LAN, &fragments(&syn, FragPlan::InOrder, 7)[0], T0 + SEC)
            .verdict,
        Verdict::Drop {
            reason: DropReason::ScreenSynFrag
        }
    );
}

#[test]
fn ipv6_extension_header_chains_are_walked_and_bad_ones_refused() {
    // Fixed header, then the chain bytes, then 8 bytes of UDP.
    fn packet(first: u8, chain: &[u8]) -> Vec<u8> {
        let mut p = vec![0x60, 0, 0, 0, 0, 0, first, 64];
        p.extend_from_slice(&[0; 32]);
        p.extend_from_slice(chain);
        p.extend_from_slice(&[0x9c, 0x40, 0, 53, 0, 8, 0, 0]);
        let len = (p.len() - 40) as u16;
        p[4..6].copy_from_slice(&len.to_be_bytes());
        p
    }
    let dest_opts_then_udp = [17, 0, 1, 4, 0, 0, 0, 0];
    let c = wire::walk_ipv6(&packet(60, &dest_opts_then_udp), 60).unwrap();
    assert_eq!((c.proto, c.len, c.count, c.upper), (17, 48, 1, true));
    // AH: (len + 2) * 4 bytes; then a type 0 routing header.
    let mut ah = vec![43, 4, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1];
    ah.extend_from_slice(&[0; 12]);
    ah.extend_from_slice(&[17, 0, 0, 0, 0, 0, 0, 0]);
    let c = wire::walk_ipv6(&packet(51, &ah), 51).unwrap();
    assert_eq!((c.proto, c.len, c.routing_type), (17, 40 + 24 + 8, Some(0)));
    // ESP: opaque from there on.
    let c = wire::walk_ipv6(&packet(50, &[0, 0, 1, 0, 0, 0, 0, 1]), 50).unwrap();
    assert_eq!((c.proto, c.upper), (50, false));
    // Hop-by-hop after another header, or a header cut short: malformed.
    let late_hbh = [0, 0, 1, 4, 0, 0, 0, 0, 17, 0, 1, 4, 0, 0, 0, 0];
    assert_eq!(
        wire::walk_ipv6(&packet(60, &late_hbh), 60),
        Err(DropReason::MalformedExtensionHeader)
    );
    let p = packet(60, &dest_opts_then_udp);
    assert_eq!(
        wire::walk_ipv6(&p[..44], 60),
        Err(DropReason::MalformedExtensionHeader)
    );
}

/// Decision (README, "Decisions"): the peer re-sending a session it owns
/// under another reply key replaces the old version without a close.
#[test]
fn synced_session_re_sent_under_a_new_reply_key_replaces_it_silently() {
    let mut m = model();
    let f = flow(Proto::Udp);
    let mut seq = SeqState::new(0);
    let first = flow_frame(&f, &out_wire(&f), false, TcpKind::Ack, false, &mut seq);
    m.inject(LAN, &first, T0);
    let local = m.sessions().into_iter().find(|e| !e.is_reverse()).unwrap();
    let mut peer = local;
    if let xpf_runtime::SessionEntry::V4 { value, .. } = &mut peer {
        value.session_id = xpf_runtime::SessionId::compose(1, 7);
    }
    m.put_cluster_synced(peer, T0 + SEC).unwrap();
    m.drain_deltas();
    m.drain_events();
    let before = m.counters();
    // The same session, translated to another public port.
    let mut rekeyed = peer;
    if let xpf_runtime::SessionEntry::V4 { key, value } = &mut rekeyed {
        value.nat.src_port = value.nat.src_port.wrapping_add(1).max(1024);
        value.reverse_key = xpf_runtime::SessionValue::reply_key(key, &value.nat);
    }
    m.put_cluster_synced(rekeyed, T0 + 2 * SEC).unwrap();
    assert!(m.drain_deltas().is_empty(), "no close delta");
    assert!(m.drain_events().is_empty(), "no close event");
    let after = m.counters();
    assert_eq!(
        after.get(BaseCounter::SessionsCreated),
        before.get(BaseCounter::SessionsCreated)
    );
    assert_eq!(
        after.get(BaseCounter::SessionsClosed),
        before.get(BaseCounter::SessionsClosed)
    );
    let keys: Vec<_> = m.sessions().iter().map(|e| e.key()).collect();
    assert_eq!(keys.len(), 2);
    assert!(keys.contains(&rekeyed.companion_key()));
    assert!(!keys.contains(&peer.companion_key()), "old reply key gone");
}
