//! The eBPF backend through the backend-neutral traits: config generations
//! and refusals, the session store over the session map (listing, lookups
//! from either key, known-value and companion deletes releasing the NAT
//! slot), the GC expiring sessions with close events and deltas, telemetry
//! (summed counters, the async event stream, occupancy), links (native XDP
//! attach / detach on a veth), a cleared session put back as a
//! cluster-synced one, and the lifecycle (HA itself: `tests/ha.rs`).
//! Sessions are created by running real frames through the loaded program
//! (`BPF_PROG_TEST_RUN`). Needs root: without it the tests
//! fail with a clear message unless `XPF_ALLOW_SKIP_PRIVILEGED=1` is set.

mod support;
use support::privileged;

use futures::executor::block_on;
use std::net::Ipv4Addr;
use std::ops::ControlFlow;
use std::process::Command;
use xpf_dataplane::Config;
use xpf_dataplane::cancel::Cancel;
use xpf_dataplane::error::DataplaneError;
use xpf_dataplane::traits::{ConfigSink, LinkStatus, RuntimeDataPlane, TableKind};
use xpf_ebpf::{DataPlaneOptions, EbpfDataPlane, FrameVerdict, LoadOptions};
use xpf_runtime::{
    AnySessionKey, BaseCounter, CloseReason, Event, InterfaceId, IpProtocol, RedundancyGroupId,
    SessionDeltaReason, SessionKey,
};

const NOW: u64 = 1_800_000_000_000_000_000;
const SEC: u64 = 1_000_000_000;
const LAN_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
const CLIENT: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
const SERVER: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 2);
const WAN_ADDR: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 1);

const CONFIG: &str = r#"
[[interfaces]]
name = "lan"
zone = "trust"
mac = "02:00:00:00:00:01"
addresses = ["198.18.0.1/24"]

[[interfaces]]
name = "wan"
zone = "untrust"
mac = "02:00:00:00:00:02"
addresses = ["198.19.0.1/24"]

[[zones]]
name = "trust"

[[zones]]
name = "untrust"

[security]
default-policy = "deny"

[[security.policies]]
from-zone = "trust"
to-zone = "untrust"

[[security.policies.policies]]
name = "outbound"
match = { source-address = ["any"], destination-address = ["any"], application = ["any"] }
then = { action = "permit", log = { session-init = true, session-close = true }, count = true }

[[security.nat.source.rule-sets]]
name = "outbound"
from = { zone = ["trust"] }
to = { zone = ["untrust"] }

[[security.nat.source.rule-sets.rules]]
name = "masquerade"
match = { source-address = ["198.18.0.0/16"] }
then = "interface"

[[forwarding.neighbours]]
address = "198.19.0.2"
mac = "02:00:00:00:00:03"
interface = "wan"
"#;

fn config() -> Config {
    Config::from_toml_str(CONFIG).expect("test config")
}

fn backend() -> EbpfDataPlane {
    let dp = EbpfDataPlane::new(DataPlaneOptions {
        load: LoadOptions { max_sessions: 1024 },
        ..DataPlaneOptions::default()
    })
    .unwrap_or_else(|e| panic!("loading the XDP program: {e}"));
    block_on(dp.apply(&config(), &Cancel::new())).expect("apply");
    dp.with_firewall(|fw| fw.set_trace(true))
        .expect("test mode");
    dp
}

/// An Ethernet + IPv4 + UDP frame (UDP checksum 0: none, valid for IPv4).
fn udp(src: Ipv4Addr, sport: u16, dst: Ipv4Addr, dport: u16) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&LAN_MAC);
    f.extend_from_slice(&[0x02, 0, 0, 0, 0, 0x10]);
    f.extend_from_slice(&[0x08, 0x00]);
    let payload = b"xpf-ebpf";
    let total = (20 + 8 + payload.len()) as u16;
    let mut ip = vec![0x45, 0, 0, 0, 0, 1, 0x40, 0, 64, 17, 0, 0];
    ip[2..4].copy_from_slice(&total.to_be_bytes());
    ip.extend_from_slice(&src.octets());
    ip.extend_from_slice(&dst.octets());
    let mut sum = 0u32;
    for c in ip.chunks(2) {
        sum += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    let csum = !(sum as u16);
    ip[10..12].copy_from_slice(&csum.to_be_bytes());
    f.extend_from_slice(&ip);
    f.extend_from_slice(&sport.to_be_bytes());
    f.extend_from_slice(&dport.to_be_bytes());
    f.extend_from_slice(&(8 + payload.len() as u16).to_be_bytes());
    f.extend_from_slice(&[0, 0]);
    f.extend_from_slice(payload);
    f
}

/// Sends one client packet through the program; returns the verdict.
fn send(dp: &EbpfDataPlane, sport: u16, now: u64) -> FrameVerdict {
    let frame = udp(CLIENT, sport, SERVER, 53);
    dp.with_firewall(|fw| fw.run_frame(InterfaceId(1), &frame, now))
        .expect("test run")
        .0
}

fn client_key(sport: u16) -> AnySessionKey {
    AnySessionKey::V4(SessionKey {
        src: CLIENT,
        dst: SERVER,
        src_port: sport,
        dst_port: 53,
        protocol: IpProtocol(17),
    })
}

fn lan_wan_ids(dp: &EbpfDataPlane) -> (InterfaceId, InterfaceId) {
    let a = dp.last_apply().expect("applied");
    let id = |n: &str| {
        a.managed_interfaces
            .iter()
            .find(|i| i.name == n)
            .expect("interface")
            .id
    };
    (id("lan"), id("wan"))
}

#[test]
fn applies_count_generations_and_a_refused_config_changes_nothing() {
    if !privileged("applies_count_generations_and_a_refused_config_changes_nothing") {
        return;
    }
    let dp = backend();
    assert_eq!(dp.last_apply().expect("applied").generation, 1);
    let r = block_on(dp.apply(&config(), &Cancel::new())).expect("second apply");
    assert_eq!(r.generation, 2);
    assert_eq!(dp.status().generation, 2);
    // A session limit beyond what the program's counters hold (65,535):
    // refused, typed, nothing changes.
    let limited = CONFIG.replace("name = \"trust\"\n", "name = \"trust\"\nscreen = \"big\"\n")
        + "\n[[security.screen.ids-options]]\nname = \"big\"\n\
           [security.screen.ids-options.limit-session]\nsource-ip-based = 100000\n";
    let limited = Config::from_toml_str(&limited).expect("limited config");
    let err = block_on(dp.apply(&limited, &Cancel::new())).expect_err("limit refused");
    assert!(
        matches!(&err, DataplaneError::Unsupported { capability, .. } if capability == "session-limits"),
        "{err}"
    );
    assert_eq!(dp.last_apply().expect("applied").generation, 2);
    // A cancelled apply changes nothing either.
    let cancel = Cancel::new();
    cancel.cancel();
    assert!(matches!(
        block_on(dp.apply(&config(), &cancel)),
        Err(DataplaneError::Cancelled(_))
    ));
    assert_eq!(dp.status().generation, 2);
}

#[test]
fn the_store_lists_both_entries_and_a_companion_delete_from_the_reply_key_frees_the_nat_slot() {
    if !privileged("the_store_lists_both_entries_and_a_companion_delete") {
        return;
    }
    let dp = backend();
    let store = dp.sessions();
    let telemetry = dp.telemetry();
    let mut events = telemetry.events().expect("event stream");
    let (_, wan) = lan_wan_ids(&dp);
    assert_eq!(send(&dp, 40_000, NOW), FrameVerdict::Forward(wan));
    assert_eq!(send(&dp, 40_001, NOW), FrameVerdict::Forward(wan));
    let count = block_on(store.count()).expect("count");
    assert_eq!((count.v4, count.entries), (2, 4));
    let mut seen = Vec::new();
    block_on(store.for_each(None, &mut |e| {
        seen.push(*e);
        ControlFlow::Continue(())
    }))
    .expect("walk");
    assert_eq!(seen.len(), 4);
    assert_eq!(seen.iter().filter(|e| e.is_reverse()).count(), 2);
    let fwd = block_on(store.get(&client_key(40_000)))
        .expect("get")
        .expect("forward entry");
    assert!(!fwd.is_reverse());
    let reply_key = fwd.companion_key();
    let AnySessionKey::V4(rk) = reply_key else {
        panic!("v4")
    };
    assert_eq!(rk.dst, WAN_ADDR, "the reply goes to the SNAT address");
    let rev = block_on(store.get(&reply_key))
        .expect("get")
        .expect("reverse");
    assert!(rev.is_reverse());
    assert_eq!(rev.session_id(), fwd.session_id());
    let nat_before = block_on(telemetry.table_stats())
        .expect("stats")
        .into_iter()
        .find(|(k, _)| *k == TableKind::NatMappings)
        .expect("nat table")
        .1
        .occupancy;
    assert_eq!(nat_before, 2);

    let r = block_on(store.delete_with_companions(&reply_key, CloseReason::Admin))
        .expect("companion delete");
    assert!(r.forward && r.reverse);
    assert_eq!(r.nat_companions, 1, "the port slot was released");
    assert!(block_on(store.get(&client_key(40_000))).unwrap().is_none());
    assert!(block_on(store.get(&reply_key)).unwrap().is_none());
    let again =
        block_on(store.delete_with_companions(&reply_key, CloseReason::Admin)).expect("idempotent");
    assert!(!again.forward && !again.reverse && again.nat_companions == 0);
    assert_eq!(
        block_on(store.count()).unwrap().v4,
        1,
        "the other session stays"
    );

    // Events: two opens (session-init logged), one admin close.
    let mut got = Vec::new();
    while let Some(e) = events.try_next() {
        got.push(e);
    }
    let opens = got
        .iter()
        .filter(|e| matches!(e, Event::SessionOpen(_)))
        .count();
    let closes: Vec<_> = got
        .iter()
        .filter_map(|e| match e {
            Event::SessionClose(c) => Some(c),
            _ => None,
        })
        .collect();
    assert_eq!(opens, 2, "{got:?}");
    assert_eq!(closes.len(), 1);
    assert_eq!(closes[0].reason, CloseReason::Admin);
    assert_eq!(closes[0].open.session_id, fwd.session_id());

    // The key is free again: the same client port opens a new session.
    assert_eq!(send(&dp, 40_000, NOW + SEC), FrameVerdict::Forward(wan));
    let again = block_on(store.get(&client_key(40_000))).unwrap().unwrap();
    assert_ne!(again.session_id(), fwd.session_id());
}

#[test]
fn a_stale_known_value_delete_removes_nothing() {
    if !privileged("a_stale_known_value_delete_removes_nothing") {
        return;
    }
    let dp = backend();
    let store = dp.sessions();
    send(&dp, 41_000, NOW);
    let old = block_on(store.get(&client_key(41_000))).unwrap().unwrap();
    assert!(block_on(store.delete_with_companions(&old.key(), CloseReason::Admin)).is_ok());
    send(&dp, 41_000, NOW + SEC);
    let new = block_on(store.get(&client_key(41_000))).unwrap().unwrap();
    assert_ne!(new.session_id(), old.session_id());
    // The old read no longer matches: nothing is deleted.
    assert!(!block_on(store.delete_known(&old, CloseReason::Admin)).unwrap());
    assert!(block_on(store.get(&client_key(41_000))).unwrap().is_some());
    // The current one is.
    assert!(block_on(store.delete_known(&new, CloseReason::Admin)).unwrap());
    let res = block_on(store.batch_delete_known(&[new], CloseReason::Admin)).unwrap();
    assert_eq!((res.deleted, res.missing), (0, 1));
    // clear() removes the rest without events.
    send(&dp, 41_001, NOW);
    assert!(block_on(store.clear()).unwrap() >= 1);
    assert_eq!(block_on(store.count()).unwrap().entries, 0);
}

#[test]
fn the_gc_expires_idle_sessions_with_close_events_deltas_and_counters() {
    if !privileged("the_gc_expires_idle_sessions") {
        return;
    }
    let dp = backend();
    let deltas = dp.session_deltas().expect("delta source");
    let telemetry = dp.telemetry();
    let mut events = telemetry.events().expect("event stream");
    send(&dp, 42_000, NOW);
    let entry = block_on(dp.sessions().get(&client_key(42_000)))
        .unwrap()
        .unwrap();
    let timeout = match entry {
        xpf_runtime::SessionEntry::V4 { value, .. } => value.timeout_secs,
        _ => unreachable!(),
    };
    assert!(timeout > 0);
    // Not yet due.
    let r = dp.sweep(NOW + u64::from(timeout) * SEC - 1).expect("sweep");
    assert_eq!((r.scanned, r.expired), (1, 0));
    // Due.
    let r = dp.sweep(NOW + u64::from(timeout) * SEC).expect("sweep");
    assert_eq!((r.scanned, r.expired), (1, 1));
    assert_eq!(block_on(dp.sessions().count()).unwrap().entries, 0);
    let profile = deltas.sweep_profile();
    assert_eq!((profile.sweeps, profile.last_expired), (2, 1));
    assert_eq!(
        block_on(telemetry.global_counter(BaseCounter::SessionsExpired.into())).unwrap(),
        1
    );
    assert_eq!(
        block_on(telemetry.global_counter(BaseCounter::SessionsClosed.into())).unwrap(),
        1
    );
    // The async stream yields the open, then the idle-timeout close.
    let open = block_on(events.next()).expect("open event");
    assert!(matches!(open, Event::SessionOpen(_)), "{open:?}");
    match block_on(events.next()).expect("close event") {
        Event::SessionClose(c) => {
            assert_eq!(c.reason, CloseReason::IdleTimeout);
            assert_eq!(c.time_ns, NOW + u64::from(timeout) * SEC);
        }
        e => panic!("{e:?}"),
    }
    let snap = deltas.drain(100).expect("drain");
    let reasons: Vec<_> = snap.deltas.iter().map(|d| d.reason).collect();
    assert_eq!(
        reasons,
        vec![
            SessionDeltaReason::Open,
            SessionDeltaReason::Close(CloseReason::IdleTimeout)
        ]
    );
    assert!(snap.deltas[0].seq < snap.deltas[1].seq);
}

#[test]
fn telemetry_sums_counters_and_names_what_it_cannot_report() {
    if !privileged("telemetry_sums_counters") {
        return;
    }
    let dp = backend();
    let t = dp.telemetry();
    let (lan, wan) = lan_wan_ids(&dp);
    for p in 0..5 {
        send(&dp, 43_000 + p, NOW);
    }
    assert_eq!(
        block_on(t.global_counter(BaseCounter::Forwarded.into())).unwrap(),
        5
    );
    let all = block_on(t.global_counters()).unwrap();
    assert!(
        all.iter()
            .any(|(c, v)| *c == BaseCounter::SessionsCreated.into() && *v == 5)
    );
    assert_eq!(block_on(t.interface_counters(lan)).unwrap().rx.packets, 5);
    assert_eq!(block_on(t.interface_counters(wan)).unwrap().tx.packets, 5);
    assert!(matches!(
        block_on(t.interface_counters(InterfaceId(200))),
        Err(DataplaneError::NotFound(_))
    ));
    let a = dp.last_apply().unwrap();
    let rule = *a.policy_names.keys().next().unwrap();
    assert_eq!(block_on(t.policy_counters(rule)).unwrap().packets, 5);
    let nat = *a.nat_counter_ids.values().next().unwrap();
    assert_eq!(block_on(t.nat_rule_counters(nat)).unwrap().packets, 5);
    assert!(matches!(
        block_on(t.filter_term_counters(xpf_runtime::FilterTermId(0))),
        Err(DataplaneError::Unsupported { .. })
    ));
    let stats = block_on(t.table_stats()).unwrap();
    let sessions = stats
        .iter()
        .find(|(k, _)| *k == TableKind::Sessions)
        .unwrap()
        .1;
    assert_eq!(sessions.occupancy, 10);
    assert_eq!(sessions.capacity, 2048);
    assert_eq!(dp.status().sessions.occupancy, 5);
}

#[test]
fn a_standalone_node_is_active_and_a_cleared_session_put_back_from_the_peer_is_cluster_synced() {
    if !privileged("a_standalone_node_is_active_and_a_cleared_session_put_back") {
        return;
    }
    let dp = backend();
    let ha = dp.ha();
    assert!(ha.rg_active(RedundancyGroupId(1)));
    assert!(
        ha.fabric_forwarding(xpf_dataplane::traits::FabricId::FAB0)
            .is_none()
    );
    send(&dp, 44_000, NOW);
    let store = dp.sessions();
    let e = block_on(store.get(&client_key(44_000))).unwrap().unwrap();
    block_on(store.clear()).unwrap();
    assert!(block_on(store.get(&client_key(44_000))).unwrap().is_none());
    // A reverse entry is not a session: refused.
    let rev = xpf_dataplane::session_store::reverse_entry(&e);
    assert!(matches!(
        block_on(store.put_cluster_synced(rev)),
        Err(DataplaneError::InvalidArgument(_))
    ));
    // The forward entry comes back whole, flagged as the peer's, and its
    // traffic passes again with the same translation.
    block_on(store.put_cluster_synced(e)).expect("synced install");
    let back = block_on(store.get(&client_key(44_000))).unwrap().unwrap();
    assert!(
        back.flags()
            .contains(xpf_runtime::SessionFlags::CLUSTER_SYNCED)
    );
    assert_eq!(back.companion_key(), e.companion_key());
    assert!(block_on(store.get(&e.companion_key())).unwrap().is_some());
    let (_, wan) = lan_wan_ids(&dp);
    assert_eq!(send(&dp, 44_000, NOW + SEC), FrameVerdict::Forward(wan));
    assert_eq!(block_on(store.count()).unwrap().v4, 1);
}

/// A namespace with one veth pair, deleted on drop.
struct VethNs(String);

impl VethNs {
    fn new() -> Self {
        let ns = format!("xpfe{}-links", std::process::id());
        let run = |args: &[&str]| {
            let ok = Command::new("ip")
                .args(args)
                .status()
                .is_ok_and(|s| s.success());
            assert!(ok, "ip {}", args.join(" "));
        };
        run(&["netns", "add", &ns]);
        let me = VethNs(ns.clone());
        run(&[
            "-n", &ns, "link", "add", "lan", "type", "veth", "peer", "name", "peer0",
        ]);
        run(&["-n", &ns, "link", "set", "lan", "up"]);
        run(&["-n", &ns, "link", "set", "peer0", "up"]);
        me
    }
}

impl Drop for VethNs {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

#[test]
fn links_attach_native_xdp_report_state_and_detach_and_the_lifecycle_ends_cleanly() {
    if !privileged("links_attach_native_xdp") {
        return;
    }
    let veth = VethNs::new();
    let dp = backend();
    let link = dp.link();
    // Attach from a thread inside the namespace (names resolve there).
    std::thread::scope(|s| {
        s.spawn(|| {
            let f = std::fs::File::open(format!("/run/netns/{}", veth.0)).unwrap();
            nix::sched::setns(&f, nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
            block_on(link.attach("lan")).expect("attach lan");
            block_on(link.attach("lan")).expect("idempotent");
            assert!(matches!(
                block_on(link.attach("no-such-device")),
                Err(DataplaneError::NotFound(_))
            ));
        })
        .join()
        .unwrap();
    });
    assert_eq!(link.attached(), vec!["lan".to_string()]);
    let st = link.link_state("lan").unwrap();
    assert_eq!(
        (st.status, st.mode.as_str()),
        (LinkStatus::Up, "xdp-native")
    );
    block_on(link.set_link_state("lan", false)).unwrap();
    assert_eq!(link.link_state("lan").unwrap().status, LinkStatus::Down);
    assert!(matches!(
        block_on(link.set_link_state("wan", false)),
        Err(DataplaneError::NotFound(_))
    ));
    let shown = Command::new("ip")
        .args(["-n", &veth.0, "link", "show", "dev", "lan"])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&shown.stdout).contains("xdp"),
        "the kernel shows the program on the device"
    );

    // Lifecycle: start, close, teardown.
    block_on(dp.start()).unwrap();
    assert!(dp.status().running);
    block_on(dp.close()).unwrap();
    assert!(!dp.status().running);
    let t = dp.telemetry();
    let mut stream = t.events().unwrap();
    block_on(dp.teardown()).unwrap();
    assert!(link.attached().is_empty(), "teardown detaches");
    let shown = Command::new("ip")
        .args(["-n", &veth.0, "link", "show", "dev", "lan"])
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&shown.stdout).contains("xdp"));
    assert!(block_on(stream.next()).is_none(), "the stream ends");
    assert!(matches!(
        block_on(dp.start()),
        Err(DataplaneError::NotRunning(_))
    ));
}
