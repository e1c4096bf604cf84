//! Real traffic through the userspace backend on AF_XDP ports: client /
//! firewall / server network namespaces joined by two veth pairs, the
//! backend's worker thread reading and writing the firewall's veths through
//! AF_XDP sockets in copy mode (`XskPortFactory`: the XSKMAP redirect
//! program in native XDP mode on each veth). The firewall namespace has no
//! addresses and no kernel forwarding, so whatever crosses it was forwarded
//! by the engine. Real TCP sockets prove interface SNAT end to end (the
//! server sees the SNAT address), that an unsolicited inbound connection is
//! dropped, and destination NAT port forwarding; counters are checked
//! against the hosts' own link statistics.
//!
//! Needs root: without it the test fails with a clear message unless
//! `XPF_ALLOW_SKIP_PRIVILEGED=1` is set. Every namespace (and with it every
//! link) is removed on every exit path by an RAII guard; names are unique
//! per process and test.

use std::io::Read;
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::time::Duration;
use xpf_netns_testkit::*;

use futures::executor::block_on;
use xpf_dataplane::Config;
use xpf_dataplane::cancel::Cancel;
use xpf_dataplane::traits::{ConfigSink, RuntimeDataPlane};
use xpf_runtime::{BaseCounter, DropReason, GlobalCounter};
use xpf_userspace::{
    RunMode, UserspaceDataplane, UserspaceOptions, XskPortFactory, XskPortOptions,
};

fn privileged(what: &str) -> bool {
    if xpf_xsk::is_root() {
        return true;
    }
    let msg = format!(
        "{what} creates network namespaces and AF_XDP sockets and needs root; run as root or \
         set XPF_ALLOW_SKIP_PRIVILEGED=1 to skip it"
    );
    if std::env::var("XPF_ALLOW_SKIP_PRIVILEGED").is_ok_and(|v| v == "1") {
        eprintln!("skipped: {msg}");
        false
    } else {
        panic!("{msg}");
    }
}

fn config(t: &Topology) -> Config {
    Config::from_toml_str(&xpf_netns_testkit::firewall_config(t)).expect("test config parses")
}

#[test]
fn tcp_through_the_userspace_backend_on_af_xdp_snat_dnat_and_unsolicited_drop_with_matching_counters()
 {
    if !privileged("the AF_XDP netns traffic test") {
        return;
    }
    let topo = Topology::create("u", "a");
    let ports = Arc::new(XskPortFactory::new(XskPortOptions::single_queue()));
    let dp = UserspaceDataplane::new(UserspaceOptions {
        workers: 1,
        mode: RunMode::Threaded,
        port_factory: ports.clone(),
        ..UserspaceOptions::default()
    });
    let applied = block_on(dp.apply(&config(&topo), &Cancel::new())).expect("config applies");
    // Attach in the firewall namespace: the devices are resolved there.
    let link = dp.link();
    in_ns(topo.fw(), || {
        for dev in [&topo.f0, &topo.f1] {
            block_on(link.attach(dev))
                .unwrap_or_else(|e| panic!("opening {dev} as an AF_XDP port: {e}"));
        }
    });
    for dev in [&topo.f0, &topo.f1] {
        assert_eq!(link.link_state(dev).expect("attached").mode, "af-xdp-copy");
    }
    block_on(dp.start()).expect("start");
    let before = [
        topo.link_packets(topo.client(), &topo.c0),
        topo.link_packets(topo.server(), &topo.s0),
    ];

    // 1. Outbound through interface SNAT.
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
    let payload: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    round_trip(&mut client, b"hello through af_xdp");
    round_trip(&mut client, &payload);
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
    assert_eq!(echoed, 20 + payload.len());

    // 2. Unsolicited inbound: the client listens, only the firewall can
    // stop the server's connection.
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

    // 3. Destination NAT port forwarding.
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
    round_trip(&mut inbound, b"port forwarded");
    inbound.shutdown(std::net::Shutdown::Write).unwrap();
    let mut rest = Vec::new();
    inbound.read_to_end(&mut rest).expect("service closes");
    drop(inbound);
    let (seen_by_service, _) = service.join().expect("service thread");
    assert_eq!(seen_by_service.ip(), IpAddr::V4(ADDR_S0));

    // Counters against what the end hosts' kernels sent and received.
    std::thread::sleep(Duration::from_millis(300));
    let after = [
        topo.link_packets(topo.client(), &topo.c0),
        topo.link_packets(topo.server(), &topo.s0),
    ];
    let c0_tx = after[0].0 - before[0].0;
    let c0_rx = after[0].1 - before[0].1;
    let s0_tx = after[1].0 - before[1].0;
    let s0_rx = after[1].1 - before[1].1;
    let tables = dp.counter_tables();
    let id = |name: &str| {
        applied
            .managed_interfaces
            .iter()
            .find(|i| i.name == name)
            .unwrap()
            .id
            .index()
    };
    let (if0, if1) = (
        tables.interfaces[id(&topo.f0)],
        tables.interfaces[id(&topo.f1)],
    );
    assert_eq!(if0.rx.packets, c0_tx, "f0 received what c0 sent");
    assert_eq!(if1.rx.packets, s0_tx, "f1 received what s0 sent");
    assert_eq!(if1.tx.packets, s0_rx, "s0 received what f1 forwarded");
    assert_eq!(if0.tx.packets, c0_rx, "c0 received what f0 forwarded");
    let g = |k: GlobalCounter| {
        tables
            .global
            .iter()
            .find(|(c, _)| *c == k)
            .map_or(0, |(_, v)| *v)
    };
    let denied = g(DropReason::PolicyDeny.into());
    assert!(denied >= 1, "the unsolicited SYN(s) were denied");
    assert_eq!(
        g(BaseCounter::Forwarded.into()) + g(BaseCounter::Dropped.into()),
        c0_tx + s0_tx,
        "every frame was forwarded or dropped"
    );
    assert_eq!(g(BaseCounter::SessionsCreated.into()), 2);
    let backend = dp.backend_counters();
    assert_eq!(backend.tx_discarded, 0, "{backend:?}");
    for dev in [&topo.f0, &topo.f1] {
        let s = ports.port(dev).expect("open port").stats().expect("stats");
        assert_eq!(
            s.tx_ring_full + s.tx_oversize + s.rx_bad_desc,
            0,
            "{dev}: {s:?}"
        );
        assert_eq!(
            s.kernel_rx_dropped + s.kernel_rx_ring_full,
            0,
            "{dev}: {s:?}"
        );
    }

    // Detach: the ports are closed and the programs detached.
    block_on(dp.teardown()).expect("teardown");
    assert!(ports.port(&topo.f0).is_none());
    let shown = run(
        "ip",
        &["-n", topo.fw(), "-d", "-j", "link", "show", &topo.f0],
    );
    assert!(!shown.contains("\"xdp\""), "program detached: {shown}");
    let names = topo.ns.clone();
    drop(topo);
    let left = run("ip", &["netns", "list"]);
    for ns in names {
        assert!(!left.contains(&ns), "namespace {ns} left behind");
    }
}
