//! The backend's domains in inline mode: HA, apply atomicity, links,
//! cluster-synced sessions, telemetry.

mod common;

use common::*;
use xpf_dataplane::cancel::Cancel;
use xpf_dataplane::traits::{FabricForwarding, FabricId};
use xpf_dataplane::{Config, ConfigSink, DataplaneError, RuntimeDataPlane};
use xpf_engine::engine::Verdict;
use xpf_engine::wire::parse_frame;
use xpf_runtime::{
    AnySessionKey, BaseCounter, CloseReason, DropReason, GlobalCounter, RedundancyGroupId,
    SessionEntry, SessionFlags, SessionId,
};
use xpf_userspace::craft::tcp_flags::{ACK, SYN};
use xpf_userspace::{Origin, UserspaceDataplane, UserspaceOptions};

fn sessions(dp: &UserspaceDataplane) -> Vec<SessionEntry> {
    let mut v = Vec::new();
    block_on(dp.sessions().for_each(None, &mut |e| {
        v.push(*e);
        std::ops::ControlFlow::Continue(())
    }))
    .unwrap();
    v
}

fn syn(i: u8, port: u16) -> Vec<u8> {
    from_client(i, ip(SERVER)).tcp(port, 443, SYN, 1, 0, 65535, &[])
}

#[test]
fn a_backup_redundancy_group_stops_forwarding_and_sends_to_the_fabric() {
    let dp = inline(true);
    let ha = dp.ha();
    let out = dp.inject(T0, "lan", syn(1, 40000)).unwrap();
    assert!(matches!(out.verdict, Some(Verdict::Forward { .. })));

    block_on(ha.set_rg_active(RedundancyGroupId(1), false)).unwrap();
    assert!(!ha.rg_active(RedundancyGroupId(1)));
    let out = dp.inject(T0 + 1, "lan", syn(2, 40001)).unwrap();
    assert_eq!(out.verdict, Some(Verdict::Drop(DropReason::HaInactive)));
    assert!(out.frames.is_empty(), "no fabric link yet: nothing leaves");

    // With a fabric link, the backup node hands the frame to its peer.
    let fab = FabricForwarding {
        interface: "fab".into(),
        peer_mac: xpf_dataplane::config::MacAddr([2, 0, 0, 0, 9, 9]),
        local_mac: xpf_dataplane::config::MacAddr([2, 0, 0, 0, 0, 3]),
        enabled: true,
    };
    block_on(ha.set_fabric_forwarding(FabricId::FAB0, fab.clone(), &Cancel::new())).unwrap();
    assert_eq!(ha.fabric_forwarding(FabricId::FAB0), Some(fab));
    let frame = syn(3, 40002);
    let out = dp.inject(T0 + 2, "lan", frame.clone()).unwrap();
    assert_eq!(out.verdict, Some(Verdict::Drop(DropReason::HaInactive)));
    assert_eq!(out.frames.len(), 1);
    let f = &out.frames[0];
    assert_eq!((f.name.as_str(), f.origin), ("fab", Origin::Fabric));
    assert_eq!(&f.frame[0..6], &[2, 0, 0, 0, 9, 9]);
    assert_eq!(&f.frame[12..], &frame[12..], "payload unchanged");
    assert_eq!(dp.backend_counters().fabric_forwarded, 1);

    // Active again: forwarding resumes; status reports the role.
    block_on(ha.set_rg_active(RedundancyGroupId(1), true)).unwrap();
    let out = dp.inject(T0 + 3, "lan", syn(4, 40003)).unwrap();
    assert!(matches!(out.verdict, Some(Verdict::Forward { .. })));
    assert!(dp.status().redundancy_groups.iter().all(|g| g.active));
}

#[test]
fn the_watchdog_fails_closed_and_the_next_kick_restores_roles() {
    let opts = UserspaceOptions {
        watchdog_timeout_ns: 3 * SEC,
        ..UserspaceOptions::inline()
    };
    let dp = backend(opts, &config(true));
    let ha = dp.ha();
    block_on(ha.watchdog(T0)).unwrap();
    let out = dp.inject(T0 + SEC, "lan", syn(1, 40000)).unwrap();
    assert!(matches!(out.verdict, Some(Verdict::Forward { .. })));
    let out = dp.inject(T0 + 5 * SEC, "lan", syn(2, 40001)).unwrap();
    assert_eq!(out.verdict, Some(Verdict::Drop(DropReason::HaInactive)));
    assert!(!ha.rg_active(RedundancyGroupId(1)));
    block_on(ha.watchdog(T0 + 6 * SEC)).unwrap();
    let out = dp.inject(T0 + 6 * SEC, "lan", syn(3, 40002)).unwrap();
    assert!(matches!(out.verdict, Some(Verdict::Forward { .. })));
}

#[test]
fn a_rejected_config_changes_nothing() {
    let dp = inline(false);
    dp.inject(T0, "lan", syn(1, 40000)).unwrap();
    let before = dp.last_apply().unwrap();
    let sessions_before = sessions(&dp);
    assert_eq!(sessions_before.len(), 2);

    // Invalid: an unknown application.
    let bad = config(false).replace(
        r#"application = ["junos-http"]"#,
        r#"application = ["htp"]"#,
    );
    let err =
        block_on(dp.apply(&Config::from_toml_str(&bad).unwrap(), &Cancel::new())).unwrap_err();
    assert!(matches!(err, DataplaneError::Config(_)), "{err}");
    // Cancelled before the commit point.
    let cancel = Cancel::new();
    cancel.cancel();
    let err =
        block_on(dp.apply(&Config::from_toml_str(&config(false)).unwrap(), &cancel)).unwrap_err();
    assert!(matches!(err, DataplaneError::Cancelled(_)));

    assert_eq!(dp.last_apply().unwrap().generation, before.generation);
    assert_eq!(sessions(&dp), sessions_before);
    // The old config is still in force: the flow's next packet passes.
    let ack = from_client(1, ip(SERVER)).tcp(40000, 443, ACK, 2, 1, 65535, &[]);
    let _ = dp.inject(T0 + 1, "lan", ack).unwrap();
    let good = block_on(dp.apply(
        &Config::from_toml_str(&config(false)).unwrap(),
        &Cancel::new(),
    ))
    .unwrap();
    assert_eq!(good.generation, before.generation + 1);
}

#[test]
fn a_config_needing_one_shard_is_refused_by_a_sharded_backend() {
    let opts = UserspaceOptions {
        workers: 2,
        ..UserspaceOptions::inline()
    };
    let dp = backend(opts, &config(false));
    assert_eq!(dp.shard_count(), 2);
    dp.inject(T0, "lan", syn(1, 40000)).unwrap();
    let interface_nat =
        config(false).replace(r#"then = { pool = "out-pool" }"#, r#"then = "interface""#);
    let err = block_on(dp.apply(
        &Config::from_toml_str(&interface_nat).unwrap(),
        &Cancel::new(),
    ))
    .unwrap_err();
    assert!(matches!(err, DataplaneError::Unsupported { .. }), "{err}");
    assert_eq!(dp.last_apply().unwrap().generation, 1);
    assert_eq!(sessions(&dp).len(), 2);

    // A fresh backend runs the same config on one shard and says why.
    let single = backend(
        UserspaceOptions {
            workers: 2,
            ..UserspaceOptions::inline()
        },
        &interface_nat,
    );
    assert_eq!(single.shard_count(), 1);
    assert!(
        single
            .single_shard_reason()
            .unwrap()
            .contains("source-nat-interface")
    );
}

#[test]
fn a_link_set_down_withdraws_its_routes_and_stops_receiving() {
    let dp = inline(false);
    let link = dp.link();
    block_on(link.attach("lan")).unwrap();
    block_on(link.attach("wan")).unwrap();
    assert_eq!(link.attached(), vec!["lan".to_string(), "wan".to_string()]);
    assert_eq!(link.link_state("wan").unwrap().mode, "memory");
    block_on(link.set_link_state("wan", false)).unwrap();
    let out = dp.inject(T0, "lan", syn(1, 40000)).unwrap();
    assert_eq!(out.verdict, Some(Verdict::Drop(DropReason::NoRoute)));
    let out = dp
        .inject(
            T0,
            "wan",
            from_wan(ip(SERVER), client(1)).udp(53, 5000, b"x"),
        )
        .unwrap();
    assert_eq!(out.verdict, None, "a down link receives nothing");
    assert_eq!(dp.backend_counters().rx_link_down, 1);
    block_on(link.set_link_state("wan", true)).unwrap();
    let out = dp.inject(T0 + 1, "lan", syn(1, 40000)).unwrap();
    assert!(matches!(out.verdict, Some(Verdict::Forward { .. })));
    assert!(matches!(
        block_on(link.set_link_state("nope", true)),
        Err(DataplaneError::NotFound(_))
    ));
}

#[test]
fn a_cluster_synced_session_passes_its_reply_and_reserves_its_nat_port() {
    // Node 1 opened a SNAT session; node 0 receives it and must forward the
    // reply, and never hand the same public port to one of its own flows.
    let peer = inline(false);
    peer.inject(T0, "lan", syn(7, 40007)).unwrap();
    let fwd = sessions(&peer)
        .into_iter()
        .find(|e| !e.is_reverse())
        .unwrap();
    let SessionEntry::V4 { key, mut value } = fwd else {
        panic!("v4 session")
    };
    value.session_id = SessionId::compose(1, 99);
    let synced = SessionEntry::V4 { key, value };

    let dp = inline(false);
    dp.advance(T0).unwrap(); // the inline clock is the caller's
    block_on(dp.sessions().put_cluster_synced(synced)).unwrap();
    let got = block_on(dp.sessions().get(&AnySessionKey::V4(key)))
        .unwrap()
        .unwrap();
    assert!(got.flags().contains(SessionFlags::CLUSTER_SYNCED));
    let reply_key = synced.companion_key();
    assert!(block_on(dp.sessions().get(&reply_key)).unwrap().is_some());

    let AnySessionKey::V4(rk) = reply_key else {
        unreachable!()
    };
    let synack = from_wan(rk.src.into(), rk.dst.into()).tcp(
        rk.src_port,
        rk.dst_port,
        SYN | ACK,
        5000,
        2,
        65535,
        &[],
    );
    let out = dp.inject(T0 + SEC, "wan", synack).unwrap();
    assert!(
        matches!(out.verdict, Some(Verdict::Forward { .. })),
        "{:?}",
        out.verdict
    );
    let p = parse_frame(&out.frames[0].frame).unwrap();
    assert_eq!(p.dst, client(7));

    // The same client flow created locally cannot take the same public port.
    let usage = block_on(dp.telemetry().nat_pool_ports(value.nat_pool)).unwrap();
    assert_eq!(usage.ports_in_use, 1);
    // Deleting it releases the reservation.
    let r = block_on(
        dp.sessions()
            .delete_with_companions(&reply_key, CloseReason::Admin),
    )
    .unwrap();
    assert!(r.forward && r.reverse);
    let usage = block_on(dp.telemetry().nat_pool_ports(value.nat_pool)).unwrap();
    assert_eq!(usage.ports_in_use, 0);
}

#[test]
fn deleting_one_entry_leaves_its_companion_until_a_known_delete_or_the_gc() {
    let dp = inline(false);
    dp.inject(T0, "lan", from_client(1, ip(SERVER)).udp(5000, 53, b"q"))
        .unwrap();
    let all = sessions(&dp);
    let fwd = *all.iter().find(|e| !e.is_reverse()).unwrap();
    assert!(block_on(dp.sessions().delete(&fwd.key())).unwrap());
    let left = sessions(&dp);
    assert_eq!(left.len(), 1, "the reverse entry is still there");
    assert!(left[0].is_reverse());
    // The orphan expires through the GC's known-value delete.
    dp.advance(T0 + 3600 * SEC).unwrap();
    assert!(sessions(&dp).is_empty());
}

#[test]
fn counters_add_up_and_status_reports_the_table() {
    let dp = inline(false);
    dp.inject(T0, "lan", syn(1, 40000)).unwrap();
    dp.inject(
        T0,
        "wan",
        from_wan(ip(SERVER), client(2)).tcp(1, 22, SYN, 1, 0, 1, &[]),
    )
    .unwrap();
    dp.inject(T0, "lan", vec![1, 2, 3]).unwrap();
    let tel = dp.telemetry();
    let g = |c: BaseCounter| block_on(tel.global_counter(GlobalCounter::Base(c))).unwrap();
    assert_eq!(g(BaseCounter::RxPackets), 3);
    assert_eq!(
        g(BaseCounter::RxPackets),
        g(BaseCounter::Forwarded) + g(BaseCounter::LocalDelivered) + g(BaseCounter::Dropped)
    );
    let st = dp.status();
    assert_eq!(
        (st.backend.as_str(), st.generation, st.sessions.occupancy),
        ("userspace", 1, 1)
    );
    let deltas = dp.session_deltas().unwrap().drain(100).unwrap();
    assert_eq!(deltas.deltas.len(), 1);
    let export = dp
        .session_deltas()
        .unwrap()
        .export_owner_rg(&[RedundancyGroupId(0)], None, 10)
        .unwrap();
    assert_eq!(export.deltas.len(), 1);
}
