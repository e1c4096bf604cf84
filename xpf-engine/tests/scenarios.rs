//! Scenario tests that read like a network engineer's checklist: one
//! firewall between a LAN (trust, 198.18.0.0/24, 2001:db8:1::/64) and a WAN
//! (untrust, 198.19.0.0/24, 2001:db8:2::/64), frames built with etherparse,
//! every forwarded frame re-parsed and its checksums recomputed.

mod common;

use common::*;
use etherparse::PacketBuilder;
use std::sync::Arc;
use xpf_dataplane::Config;
use xpf_dataplane::compile::compile_with_previous;
use xpf_engine::checksum;
use xpf_engine::engine::Verdict;
use xpf_engine::wire::L4Info;
use xpf_runtime::counters::BaseCounter;
use xpf_runtime::{CloseReason, DropReason, Event, SessionState, TcpState};

#[test]
fn tcp_handshake_data_and_fin_teardown_through_interface_snat() {
    let mut e = engine();
    let t = T0;
    // SYN from the client leaves with the WAN address as source.
    let (v, f, _) = run(
        &mut e,
        t,
        LAN,
        tcp4(CLIENT, REMOTE, 40000, 80, "S", 1000, 0, &[]),
    );
    assert_eq!(v, Verdict::Forward { egress: WAN });
    let p = check(&f);
    assert_eq!(p.src, ip(WAN_IP));
    assert_eq!(p.dst, ip(REMOTE));
    assert_eq!(p.ttl, 63);
    assert_eq!(p.src_mac.0, WAN_MAC);
    assert_eq!(p.dst_mac.0, GW_MAC);
    let public_port = p.ports().unwrap().0;
    // SYN+ACK from the server comes back to the client, untranslated.
    let (v, f, _) = run(
        &mut e,
        t + 1,
        WAN,
        tcp4(REMOTE, WAN_IP, 80, public_port, "SA", 5000, 1001, &[]),
    );
    assert_eq!(v, Verdict::Forward { egress: LAN });
    let p = check(&f);
    assert_eq!((p.src, p.dst), (ip(REMOTE), ip(CLIENT)));
    assert_eq!(p.ports(), Some((80, 40000)));
    // ACK, data both ways.
    let (v, _, _) = run(
        &mut e,
        t + 2,
        LAN,
        tcp4(CLIENT, REMOTE, 40000, 80, "A", 1001, 5001, &[]),
    );
    assert_eq!(v, Verdict::Forward { egress: WAN });
    let (v, f, _) = run(
        &mut e,
        t + 3,
        LAN,
        tcp4(
            CLIENT,
            REMOTE,
            40000,
            80,
            "PA",
            1001,
            5001,
            b"GET / HTTP/1.1\r\n\r\n",
        ),
    );
    assert_eq!(v, Verdict::Forward { egress: WAN });
    check(&f);
    let (v, _, _) = run(
        &mut e,
        t + 4,
        WAN,
        tcp4(
            REMOTE,
            WAN_IP,
            80,
            public_port,
            "PA",
            5001,
            1019,
            b"HTTP/1.1 200 OK\r\n\r\n",
        ),
    );
    assert_eq!(v, Verdict::Forward { egress: LAN });
    let (h, sess) = e.sessions().iter().next().unwrap();
    assert_eq!(sess.tcp_state(), TcpState::Established);
    assert_eq!(sess.state(), SessionState::Established);
    let _ = h;
    // FIN / FIN / ACK teardown.
    run(
        &mut e,
        t + 5,
        LAN,
        tcp4(CLIENT, REMOTE, 40000, 80, "FA", 1019, 5020, &[]),
    );
    run(
        &mut e,
        t + 6,
        WAN,
        tcp4(REMOTE, WAN_IP, 80, public_port, "FA", 5020, 1020, &[]),
    );
    let (v, _, _) = run(
        &mut e,
        t + 7,
        LAN,
        tcp4(CLIENT, REMOTE, 40000, 80, "A", 1020, 5021, &[]),
    );
    assert_eq!(v, Verdict::Forward { egress: WAN });
    assert_eq!(
        e.sessions().iter().next().unwrap().1.tcp_state(),
        TcpState::TimeWait
    );
    // Time-wait expiry closes the session, releases the port, logs the close.
    assert_eq!(e.expire(t + 10 * SEC, 100), 1);
    assert!(e.sessions().is_empty());
    assert_eq!(
        e.source_nat()
            .interface(ip(WAN_IP))
            .map_or(0, |p| p.ports_in_use()),
        0,
        "the interface NAT port is released"
    );
    let events = e.telemetry_mut().events.drain(100);
    assert!(matches!(events.first(), Some(Event::SessionOpen(_))));
    match events.last() {
        Some(Event::SessionClose(c)) => {
            assert_eq!(c.reason, CloseReason::TcpFin);
            assert_eq!(c.fwd.packets, 5);
            assert_eq!(c.rev.packets, 3);
        }
        other => panic!("expected a close event, got {other:?}"),
    }
}

#[test]
fn unsolicited_inbound_is_dropped_by_default_deny() {
    let mut e = engine();
    let (v, _, _) = run(
        &mut e,
        T0,
        WAN,
        tcp4(REMOTE, CLIENT, 5555, 22, "S", 1, 0, &[]),
    );
    assert_eq!(v, Verdict::Drop(DropReason::DefaultDeny));
    // A non-SYN with no session never reaches policy.
    let (v, _, _) = run(
        &mut e,
        T0,
        WAN,
        tcp4(REMOTE, CLIENT, 5555, 22, "A", 1, 1, &[]),
    );
    assert_eq!(v, Verdict::Drop(DropReason::TcpNonSynFirst));
    assert_eq!(e.telemetry().counters.get(DropReason::DefaultDeny), 1);
    assert!(e.sessions().is_empty());
}

#[test]
fn dnat_port_forward_reaches_the_server_and_replies_are_reverse_translated() {
    let mut e = engine();
    let public = [198, 19, 0, 10];
    let (v, f, _) = run(
        &mut e,
        T0,
        WAN,
        tcp4(REMOTE, public, 50000, 443, "S", 7, 0, &[]),
    );
    assert_eq!(v, Verdict::Forward { egress: LAN });
    let p = check(&f);
    assert_eq!((p.dst, p.ports()), (ip(SERVER_LAN), Some((50000, 8443))));
    assert_eq!(p.dst_mac.0, SERVER_MAC);
    let (v, f, _) = run(
        &mut e,
        T0 + 1,
        LAN,
        tcp4(SERVER_LAN, REMOTE, 8443, 50000, "SA", 100, 8, &[]),
    );
    assert_eq!(v, Verdict::Forward { egress: WAN });
    let p = check(&f);
    assert_eq!((p.src, p.ports()), (ip(public), Some((443, 50000))));
}

#[test]
fn static_nat_translates_in_both_directions() {
    let mut e = engine();
    let (v, f, _) = run(
        &mut e,
        T0,
        WAN,
        tcp4(REMOTE, [198, 19, 0, 50], 50001, 22, "S", 7, 0, &[]),
    );
    assert_eq!(v, Verdict::Forward { egress: LAN });
    assert_eq!(check(&f).dst, ip([198, 18, 0, 50]));
    // A new outbound flow from the static host uses its public address, not
    // the interface masquerade.
    let (v, f, _) = run(
        &mut e,
        T0,
        LAN,
        udp4([198, 18, 0, 50], REMOTE, 5353, 53, b"q"),
    );
    assert_eq!(v, Verdict::Forward { egress: WAN });
    let p = check(&f);
    assert_eq!((p.src, p.ports()), (ip([198, 19, 0, 50]), Some((5353, 53))));
}

#[test]
fn icmp_echo_through_snat_and_an_icmp_error_for_a_natted_udp_flow() {
    let mut e = engine();
    let (v, f, _) = run(&mut e, T0, LAN, ping4(CLIENT, REMOTE, 77, false));
    assert_eq!(v, Verdict::Forward { egress: WAN });
    let p = check(&f);
    let id = p.ports().unwrap().0;
    let (v, f, _) = run(&mut e, T0 + 1, WAN, ping4(REMOTE, WAN_IP, id, true));
    assert_eq!(v, Verdict::Forward { egress: LAN });
    let p = check(&f);
    assert_eq!((p.dst, p.ports()), (ip(CLIENT), Some((77, 77))));

    // UDP out, then the remote answers with port unreachable quoting the
    // translated datagram; the error must reach the client with the quote
    // translated back.
    let (v, f, _) = run(&mut e, T0, LAN, udp4(CLIENT, REMOTE, 41000, 9999, b"hello"));
    assert_eq!(v, Verdict::Forward { egress: WAN });
    let sent = check(&f);
    let ip_packet = &f[sent.l3_offset..sent.l3_end()];
    let mut err = Vec::new();
    PacketBuilder::ethernet2(GW_MAC, WAN_MAC)
        .ipv4(REMOTE, WAN_IP, 64)
        .icmpv4(etherparse::Icmpv4Type::DestinationUnreachable(
            etherparse::icmpv4::DestUnreachableHeader::Port,
        ))
        .write(&mut err, ip_packet)
        .unwrap();
    let (v, f, _) = run(&mut e, T0 + 2, WAN, err);
    assert_eq!(v, Verdict::Forward { egress: LAN });
    let p = check(&f);
    assert_eq!(p.dst, ip(CLIENT));
    let inner = p.icmp_error().expect("still an ICMP error");
    assert_eq!((inner.src, inner.dst), (ip(CLIENT), ip(REMOTE)));
    assert_eq!(inner.ports, Some((41000, 9999)));
    // An error about no known flow is dropped.
    let mut stray = Vec::new();
    PacketBuilder::ethernet2(GW_MAC, WAN_MAC)
        .ipv4(REMOTE, WAN_IP, 64)
        .icmpv4(etherparse::Icmpv4Type::DestinationUnreachable(
            etherparse::icmpv4::DestUnreachableHeader::Port,
        ))
        .write(&mut stray, &udp4(WAN_IP, REMOTE, 1, 2, b"x")[14..])
        .unwrap();
    assert_eq!(
        run(&mut e, T0, WAN, stray).0,
        Verdict::Drop(DropReason::IcmpErrorNoSession)
    );
}

#[test]
fn ipv6_with_extension_headers_is_forwarded_and_hop_limit_decremented() {
    let mut e = engine();
    let client: [u8; 16] = "2001:db8:1::10"
        .parse::<std::net::Ipv6Addr>()
        .unwrap()
        .octets();
    let remote: [u8; 16] = "2001:db8:99::7"
        .parse::<std::net::Ipv6Addr>()
        .unwrap()
        .octets();
    let mut frame = Vec::new();
    PacketBuilder::ethernet2(CLIENT_MAC, LAN_MAC)
        .ipv6(client, remote, 64)
        .udp(5000, 53)
        .write(&mut frame, b"query")
        .unwrap();
    // Insert a destination-options header (8 bytes of PadN) after the fixed
    // header: next header 60, then the original UDP.
    let l3 = 14;
    let mut with_ext = frame[..l3 + 40].to_vec();
    let payload_len = u16::from_be_bytes([frame[l3 + 4], frame[l3 + 5]]) + 8;
    with_ext[l3 + 4..l3 + 6].copy_from_slice(&payload_len.to_be_bytes());
    with_ext[l3 + 6] = 60;
    with_ext.extend_from_slice(&[17, 0, 1, 4, 0, 0, 0, 0]);
    with_ext.extend_from_slice(&frame[l3 + 40..]);
    let (v, f, _) = run(&mut e, T0, LAN, with_ext);
    assert_eq!(v, Verdict::Forward { egress: WAN });
    let p = check(&f);
    assert_eq!(p.ttl, 63);
    assert_eq!(p.ipv6_ext_headers, 1);
    assert!(matches!(p.l4, L4Info::Udp(_)));
}

/// IPv4 fragment `[offset, offset + len)` of the IP payload of `whole`
/// (an untagged frame built by etherparse): its header is cloned with
/// identification 0x1234, the fragment field set and the checksum redone.
fn ipv4_fragment(whole: &[u8], offset: usize, len: usize, more: bool) -> Vec<u8> {
    let l3 = 14;
    let ip_payload = &whole[l3 + 20..];
    let mut f = whole[..l3 + 20].to_vec();
    let total = (20 + len) as u16;
    f[l3 + 2..l3 + 4].copy_from_slice(&total.to_be_bytes());
    let field = ((offset / 8) as u16) | if more { 0x2000 } else { 0 };
    f[l3 + 4..l3 + 6].copy_from_slice(&0x1234u16.to_be_bytes());
    f[l3 + 6..l3 + 8].copy_from_slice(&field.to_be_bytes());
    f[l3 + 10..l3 + 12].copy_from_slice(&[0, 0]);
    let c = checksum::ipv4_header_checksum(&f[l3..l3 + 20]);
    f[l3 + 10..l3 + 12].copy_from_slice(&c.to_be_bytes());
    f.extend_from_slice(&ip_payload[offset..offset + len]);
    f
}

#[test]
fn the_rest_of_a_datagram_whose_first_fragment_was_denied_never_opens_a_session() {
    let mut e = engine();
    // Unsolicited UDP from the internet: no untrust -> trust policy allows it.
    let whole = udp4(REMOTE, CLIENT, 5353, 9999, &[0xcd; 3000]);
    let (v1, _, _) = run(&mut e, T0, WAN, ipv4_fragment(&whole, 0, 1480, true));
    assert_eq!(v1, Verdict::Drop(DropReason::DefaultDeny));
    // The second fragment knows the ports from the first, but the first was
    // denied: it is not a first packet of its own (no second policy check,
    // no session, no second deny event).
    let (v2, _, _) = run(&mut e, T0, WAN, ipv4_fragment(&whole, 1480, 1480, true));
    assert_eq!(v2, Verdict::Drop(DropReason::FragmentNoSession));
    assert_eq!(e.sessions().len(), 0);
    let events = e.telemetry_mut().events.drain(100);
    let denies = events
        .iter()
        .filter(|ev| matches!(ev, Event::PolicyDeny(_)))
        .count();
    assert!(denies <= 1, "one datagram, at most one deny event");
}

#[test]
fn fragments_follow_their_first_fragment_and_orphans_are_dropped() {
    let mut e = engine();
    // A 3000-byte UDP datagram split at 1480: etherparse builds the whole
    // packet, then the IPv4 header is cloned per fragment.
    let whole = udp4(CLIENT, REMOTE, 6000, 7000, &[0xab; 3000]);
    let l3 = 14;
    let ip_payload = &whole[l3 + 20..];
    let fragment = |offset: usize, len: usize, more: bool| ipv4_fragment(&whole, offset, len, more);
    let (v1, f1, _) = run(&mut e, T0, LAN, fragment(0, 1480, true));
    assert_eq!(v1, Verdict::Forward { egress: WAN });
    assert_eq!(check(&f1).src, ip(WAN_IP));
    let (v2, f2, _) = run(&mut e, T0, LAN, fragment(1480, 1480, true));
    assert_eq!(v2, Verdict::Forward { egress: WAN });
    assert_eq!(check(&f2).src, ip(WAN_IP));
    let (v3, _, _) = run(
        &mut e,
        T0,
        LAN,
        fragment(2960, ip_payload.len() - 2960, false),
    );
    assert_eq!(v3, Verdict::Forward { egress: WAN });
    // A middle fragment of a datagram whose first fragment never came.
    let mut orphan = fragment(1480, 1480, true);
    orphan[l3 + 5] = 0x99;
    let c = {
        orphan[l3 + 10] = 0;
        orphan[l3 + 11] = 0;
        checksum::ipv4_header_checksum(&orphan[l3..l3 + 20])
    };
    orphan[l3 + 10..l3 + 12].copy_from_slice(&c.to_be_bytes());
    assert_eq!(
        run(&mut e, T0, LAN, orphan).0,
        Verdict::Drop(DropReason::FragmentNoSession)
    );
}

#[test]
fn reject_answers_tcp_with_a_valid_rst() {
    let mut e = engine();
    let (v, _, out) = run(
        &mut e,
        T0,
        LAN,
        tcp4(CLIENT, REMOTE, 40001, 23, "S", 4242, 0, &[]),
    );
    assert_eq!(v, Verdict::Drop(DropReason::PolicyReject));
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].interface, LAN);
    let p = check(&out[0].frame);
    assert_eq!((p.src, p.dst), (ip(REMOTE), ip(CLIENT)));
    let t = p.tcp().unwrap();
    assert!(t.flags.0 & 0x04 != 0, "RST set");
    assert_eq!(t.ack, 4243, "acknowledges the SYN");
    assert_eq!(e.telemetry().counters.get(BaseCounter::RstSent), 1);
}

#[test]
fn a_schedule_turns_its_policy_off_outside_the_window() {
    let mut e = engine();
    // junos-http-ext (tcp/8000) is permitted by "office-web" in office
    // hours; outside them the catch-all "out" still permits it, so use the
    // rule id to tell which rule matched.
    run(
        &mut e,
        T0,
        LAN,
        tcp4(CLIENT, REMOTE, 40100, 8000, "S", 1, 0, &[]),
    );
    let evening = T0 + 9 * 3600 * SEC;
    run(
        &mut e,
        evening,
        LAN,
        tcp4(CLIENT, REMOTE, 40101, 8000, "S", 1, 0, &[]),
    );
    let rules: Vec<String> = e
        .sessions()
        .iter()
        .map(|(_, s)| {
            let id = s.policy_rule();
            e.tables()
                .policy
                .rules()
                .iter()
                .find(|r| r.id == id)
                .unwrap()
                .policy
                .to_string()
        })
        .collect();
    assert!(rules.contains(&"office-web".to_string()));
    assert!(rules.contains(&"out".to_string()));
}

#[test]
fn policy_rematch_after_apply_closes_sessions_no_longer_permitted() {
    let mut e = engine();
    run(&mut e, T0, LAN, udp4(CLIENT, REMOTE, 41000, 53, b"q"));
    run(
        &mut e,
        T0,
        LAN,
        tcp4(CLIENT, REMOTE, 40000, 22, "S", 1, 0, &[]),
    );
    assert_eq!(e.sessions().len(), 2);
    // The new config permits only DNS out.
    let tightened = CONFIG.replace(
        r#"match = { application = ["any"] }
then = { action = "permit", log = { session-init = true, session-close = true }, count = true }"#,
        r#"match = { application = ["junos-dns-udp"] }
then = { action = "permit", log = { session-init = true, session-close = true }, count = true }"#,
    );
    let previous = e.tables().compiled.clone();
    let next = compile_with_previous(&Config::from_toml_str(&tightened).unwrap(), Some(&previous))
        .unwrap();
    let outcome = e.apply(Arc::new(next), 2, T0 + SEC).unwrap();
    assert_eq!(outcome.closed_by_rematch, 1);
    assert_eq!(outcome.kept, 1);
    assert_eq!(e.generation(), 2);
    let closes: Vec<CloseReason> = e
        .telemetry_mut()
        .events
        .drain(100)
        .into_iter()
        .filter_map(|ev| match ev {
            Event::SessionClose(c) => Some(c.reason),
            _ => None,
        })
        .collect();
    assert_eq!(closes, vec![CloseReason::Policy]);
}

#[test]
fn screens_drop_attacks_into_the_screened_zone() {
    let mut e = engine();
    let (v, _, _) = run(
        &mut e,
        T0,
        WAN,
        tcp4(REMOTE, [198, 19, 0, 10], 1, 443, "SF", 1, 0, &[]),
    );
    assert_eq!(v, Verdict::Drop(DropReason::ScreenSynFin));
    assert!(matches!(
        e.telemetry_mut().events.drain(10).as_slice(),
        [Event::ScreenDrop(_)]
    ));
}

#[test]
fn host_inbound_follows_the_zone_services() {
    let mut e = engine();
    assert_eq!(
        run(&mut e, T0, LAN, ping4(CLIENT, [198, 18, 0, 1], 1, false)).0,
        Verdict::Local
    );
    assert_eq!(
        run(
            &mut e,
            T0,
            LAN,
            tcp4(CLIENT, [198, 18, 0, 1], 40000, 80, "S", 1, 0, &[])
        )
        .0,
        Verdict::Drop(DropReason::HostInboundDenied)
    );
    assert_eq!(
        run(&mut e, T0, WAN, ping4(REMOTE, WAN_IP, 1, false)).0,
        Verdict::Drop(DropReason::HostInboundDenied),
        "untrust allows no host-inbound traffic"
    );
}

#[test]
fn counters_add_up() {
    let mut e = engine();
    run(&mut e, T0, LAN, udp4(CLIENT, REMOTE, 41000, 53, b"q"));
    run(
        &mut e,
        T0,
        WAN,
        tcp4(REMOTE, CLIENT, 5555, 22, "S", 1, 0, &[]),
    );
    run(&mut e, T0, LAN, ping4(CLIENT, [198, 18, 0, 1], 1, false));
    run(&mut e, T0, LAN, vec![0u8; 10]);
    let c = &e.telemetry().counters;
    let rx = c.get(BaseCounter::RxPackets);
    assert_eq!(rx, 4);
    assert_eq!(
        rx,
        c.get(BaseCounter::Forwarded)
            + c.get(BaseCounter::LocalDelivered)
            + c.get(BaseCounter::Dropped)
    );
    assert_eq!(c.get(DropReason::MalformedEthernet), 1);
}
