//! Real traffic through the XDP program: client / firewall / server network
//! namespaces joined by two veth pairs, the firewall program attached in
//! native XDP mode on the firewall's veths (the firewall namespace has no
//! addresses and no kernel forwarding, so whatever crosses it was forwarded
//! by XDP), and real TCP sockets on both sides. Proves that a permitted
//! connection through interface SNAT works end to end (the server sees the
//! SNAT address), that an unsolicited inbound connection is dropped, that
//! destination NAT port forwarding works, and that counters and events
//! match the traffic the kernel sent.
//!
//! Needs root: without it the test fails with a clear message unless
//! `XPF_ALLOW_SKIP_PRIVILEGED=1` is set. Every namespace (and with it every
//! link) is removed on every exit path by an RAII guard; names are unique
//! per process and test.

mod support;
use support::privileged;

use std::collections::BTreeMap;
use std::io::Read;
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::time::Duration;
use xpf_netns_testkit::*;

use aya::programs::XdpMode;
use xpf_dataplane::Config;
use xpf_dataplane::compile::compile_with_previous;
use xpf_ebpf::{Firewall, LoadOptions};
use xpf_runtime::{
    BaseCounter, CloseReason, DropReason, Event, GlobalCounter, SessionDeltaReason, SessionEntry,
    TcpState,
};

fn config(t: &Topology) -> Config {
    Config::from_toml_str(&xpf_netns_testkit::firewall_config(t)).expect("test config parses")
}

#[test]
fn tcp_through_native_xdp_snat_dnat_and_unsolicited_drop_with_matching_counters_and_events() {
    if !privileged("the netns traffic test") {
        return;
    }
    let topo = Topology::create("e", "a");
    let mut fw = Firewall::new(LoadOptions { max_sessions: 4096 })
        .unwrap_or_else(|e| panic!("loading the XDP program: {e}: {e:?}"));
    let cfg = config(&topo);
    let compiled = Arc::new(compile_with_previous(&cfg, None).expect("config compiles"));
    let applied = fw
        .apply_compiled(compiled, now_ns())
        .unwrap_or_else(|e| panic!("apply: {e}"));
    // Attach in the firewall namespace, native mode.
    in_ns(topo.fw(), || {
        for dev in [&topo.f0, &topo.f1] {
            fw.attach(dev, XdpMode::Driver)
                .unwrap_or_else(|e| panic!("attaching native XDP to {dev}: {e}: {e:?}"));
        }
    });
    let links = fw.links();
    assert_eq!(links.len(), 2);
    assert!(links.iter().all(|l| l.mode == "xdp-native" && l.up));
    let policy_id = |name: &str| {
        applied
            .policy_names
            .iter()
            .find(|(_, n)| n.policy == name)
            .map(|(id, _)| *id)
            .unwrap_or_else(|| panic!("policy {name}"))
    };
    let nat_id = |name: &str| {
        *applied
            .nat_counter_ids
            .iter()
            .find(|(n, _)| n.ends_with(name))
            .unwrap_or_else(|| panic!("NAT rule {name} in {:?}", applied.nat_counter_ids))
            .1
    };
    let before = [
        topo.link_packets(topo.client(), &topo.c0),
        topo.link_packets(topo.server(), &topo.s0),
    ];

    // 1. Outbound through interface SNAT: the server sees the firewall's
    // address, data flows both ways, then both sides close.
    let listener = in_ns(topo.server(), || {
        TcpListener::bind((ADDR_S0, SERVER_PORT)).expect("server listen")
    });
    let server = echo_server(listener);
    let mut client = in_ns(topo.client(), || {
        TcpStream::connect_timeout(
            &SocketAddr::new(IpAddr::V4(ADDR_S0), SERVER_PORT),
            Duration::from_secs(5),
        )
    })
    .unwrap_or_else(|e| panic!("client -> server through SNAT: {e}"));
    client
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let payload: Vec<u8> = (0..20_000u32).map(|i| (i % 251) as u8).collect();
    round_trip(&mut client, b"hello through xdp");
    round_trip(&mut client, &payload);
    let client_port = client.local_addr().unwrap().port();
    client.shutdown(std::net::Shutdown::Write).unwrap();
    let mut rest = Vec::new();
    client.read_to_end(&mut rest).expect("server closes");
    drop(client);
    let (seen_by_server, echoed) = server.join().expect("server thread");
    assert_eq!(
        seen_by_server.ip(),
        IpAddr::V4(ADDR_F1),
        "the server sees the SNAT (interface) address"
    );
    assert_eq!(echoed, 17 + payload.len());

    // 2. Unsolicited inbound: the server connects to the client directly.
    // The client listens, so only the firewall can stop it.
    let closed = in_ns(topo.client(), || {
        TcpListener::bind((ADDR_C0, CLOSED_PORT)).expect("client listen")
    });
    closed.set_nonblocking(true).unwrap();
    let unsolicited = in_ns(topo.server(), || {
        TcpStream::connect_timeout(
            &SocketAddr::new(IpAddr::V4(ADDR_C0), CLOSED_PORT),
            Duration::from_millis(1500),
        )
    });
    assert!(
        unsolicited.is_err(),
        "an unsolicited inbound connection must not get through"
    );
    assert!(
        closed.accept().is_err(),
        "the client never saw the unsolicited connection"
    );

    // 3. Destination NAT: the server connects to the public address and
    // port; the client's service on 8080 answers, and the server sees the
    // public address as its peer.
    let service = in_ns(topo.client(), || {
        TcpListener::bind((ADDR_C0, FORWARDED_PORT)).expect("service listen")
    });
    let service = echo_server(service);
    let mut inbound = in_ns(topo.server(), || {
        TcpStream::connect_timeout(
            &SocketAddr::new(IpAddr::V4(ADDR_PUBLIC), PUBLIC_PORT),
            Duration::from_secs(5),
        )
    })
    .unwrap_or_else(|e| panic!("server -> public address through DNAT: {e}"));
    inbound
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    assert_eq!(
        inbound.peer_addr().unwrap(),
        SocketAddr::new(IpAddr::V4(ADDR_PUBLIC), PUBLIC_PORT)
    );
    round_trip(&mut inbound, b"port forwarded");
    inbound.shutdown(std::net::Shutdown::Write).unwrap();
    let mut rest = Vec::new();
    inbound.read_to_end(&mut rest).expect("service closes");
    drop(inbound);
    let (seen_by_service, _) = service.join().expect("service thread");
    assert_eq!(seen_by_service.ip(), IpAddr::V4(ADDR_S0));

    // Counters against what the end hosts' kernels sent and received.
    std::thread::sleep(Duration::from_millis(200));
    let after = [
        topo.link_packets(topo.client(), &topo.c0),
        topo.link_packets(topo.server(), &topo.s0),
    ];
    let c0_tx = after[0].0 - before[0].0;
    let c0_rx = after[0].1 - before[0].1;
    let s0_tx = after[1].0 - before[1].0;
    let s0_rx = after[1].1 - before[1].1;
    let c = fw.counters().expect("counters");
    let f0 = applied
        .managed_interfaces
        .iter()
        .find(|i| i.name == topo.f0)
        .unwrap()
        .id;
    let f1 = applied
        .managed_interfaces
        .iter()
        .find(|i| i.name == topo.f1)
        .unwrap()
        .id;
    let (if0, if1) = (c.interfaces[&f0], c.interfaces[&f1]);
    assert_eq!(if0.rx.packets, c0_tx, "f0 received what c0 sent");
    assert_eq!(if1.rx.packets, s0_tx, "f1 received what s0 sent");
    assert_eq!(if1.tx.packets, s0_rx, "s0 received what f1 forwarded");
    assert_eq!(if0.tx.packets, c0_rx, "c0 received what f0 forwarded");
    let g = |k: GlobalCounter| c.global.get(&k).copied().unwrap_or(0);
    let denied = g(DropReason::PolicyDeny.into());
    assert!(denied >= 1, "the unsolicited SYN(s) were denied: {c:?}");
    assert_eq!(
        g(BaseCounter::Forwarded.into()),
        if0.tx.packets + if1.tx.packets
    );
    assert_eq!(
        g(BaseCounter::Forwarded.into()) + g(BaseCounter::Dropped.into()),
        c0_tx + s0_tx,
        "every frame was forwarded or dropped: {c:?}"
    );
    assert_eq!(g(BaseCounter::Dropped.into()), denied);
    assert_eq!(g(BaseCounter::SessionsCreated.into()), 2);
    let out_pkts = c.policies[&policy_id("outbound")].packets;
    let in_pkts = c.policies[&policy_id("published")].packets;
    assert!(out_pkts > 0 && in_pkts > 0, "{:?}", c.policies);
    assert!(c.nat_rules[&nat_id("masquerade")].packets > 0);
    assert!(c.nat_rules[&nat_id("port-forward")].packets > 0);

    // Events: one open per permitted session, one deny per denied SYN.
    let events = fw.drain_events();
    let opens: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            Event::SessionOpen(o) => Some(o),
            _ => None,
        })
        .collect();
    assert_eq!(opens.len(), 2, "{events:?}");
    let snat = opens
        .iter()
        .find(|o| o.flow.dst == IpAddr::V4(ADDR_S0))
        .expect("the SNAT session's open event");
    assert_eq!(snat.flow.src, IpAddr::V4(ADDR_C0));
    assert_eq!(snat.flow.src_port, client_port);
    assert_eq!(snat.nat_src, IpAddr::V4(ADDR_F1));
    assert_eq!(snat.policy_rule, policy_id("outbound"));
    let dnat = opens
        .iter()
        .find(|o| o.flow.dst == IpAddr::V4(ADDR_PUBLIC))
        .expect("the DNAT session's open event");
    assert_eq!(dnat.nat_dst, IpAddr::V4(ADDR_C0));
    assert_eq!(dnat.nat_dst_port, FORWARDED_PORT);
    let denies = events
        .iter()
        .filter(|e| matches!(e, Event::PolicyDeny(d) if d.flow.dst_port == CLOSED_PORT))
        .count() as u64;
    assert_eq!(denies, denied, "one deny event per denied packet");

    // The sessions went through FIN on both sides; GC closes them with
    // their close events once their (TIME_WAIT) timeout has passed.
    let live = fw.forward_sessions().expect("sessions");
    assert_eq!(live.len(), 2);
    for e in fw.sessions() {
        if let SessionEntry::V4 { value, .. } = &e
            && !value.is_reverse
        {
            assert_eq!(value.tcp_state, TcpState::TimeWait, "{e:?}");
        }
    }
    let expired = fw.expire(now_ns() + 3_600 * 1_000_000_000).expect("expiry");
    assert_eq!(expired, 2);
    assert!(fw.forward_sessions().expect("sessions").is_empty());
    let closes: Vec<_> = fw
        .drain_events()
        .into_iter()
        .filter_map(|e| match e {
            Event::SessionClose(c) => Some(c),
            _ => None,
        })
        .collect();
    assert_eq!(closes.len(), 2);
    assert!(closes.iter().all(|c| c.reason == CloseReason::TcpFin));
    let deltas = fw.drain_deltas();
    let by_reason = deltas.iter().fold(BTreeMap::new(), |mut m, d| {
        *m.entry(match d.reason {
            SessionDeltaReason::Open => "open",
            SessionDeltaReason::Update => "update",
            SessionDeltaReason::Close(_) => "close",
            SessionDeltaReason::Bulk => "bulk",
        })
        .or_insert(0) += 1;
        m
    });
    assert_eq!(by_reason.get("open"), Some(&2), "{by_reason:?}");
    assert_eq!(by_reason.get("close"), Some(&2), "{by_reason:?}");

    // Detach, then remove the topology: nothing is left behind.
    fw.detach_all().expect("detach");
    assert!(fw.links().is_empty());
    drop(fw);
    let names = topo.ns.clone();
    drop(topo);
    let left = run("ip", &["netns", "list"]);
    for ns in names {
        assert!(!left.contains(&ns), "namespace {ns} left behind");
    }
}

fn now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}
