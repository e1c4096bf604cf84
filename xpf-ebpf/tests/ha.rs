//! The eBPF backend's HA side through the backend-neutral traits, with the
//! real program (`BPF_PROG_TEST_RUN`) showing the effect on packets: the
//! `HAController` (redundancy-group roles in the program's map, the
//! watchdog failing closed, fabric updates committed then synced) and
//! cluster-synced installs (a peer's session whose reply and continuation
//! pass with the peer's NAT rewrite; conflicts refused, re-keys silent).
//! Needs root: without it the tests fail with a clear message unless
//! `XPF_ALLOW_SKIP_PRIVILEGED=1` is set.

mod support;
use support::{fold, privileged, sum16};

use futures::executor::block_on;
use std::net::Ipv4Addr;
use std::sync::Arc;
use xpf_dataplane::Config;
use xpf_dataplane::cancel::Cancel;
use xpf_dataplane::config::MacAddr;
use xpf_dataplane::error::DataplaneError;
use xpf_dataplane::traits::{
    ConfigSink, FabricForwarding, FabricId, HAController, RuntimeDataPlane,
};
use xpf_ebpf::{DataPlaneOptions, EbpfDataPlane, FrameVerdict, LoadOptions};
use xpf_runtime::{
    AnySessionKey, BaseCounter, DropReason, InterfaceId, IpProtocol, NatPoolId, PacketCounters,
    PolicyRuleId, RedundancyGroupId, SessionEntry, SessionFlags, SessionId, SessionKey,
    SessionState, SessionValue, TcpState, ZoneId,
};

const NOW: u64 = 1_800_000_000_000_000_000;
const SEC: u64 = 1_000_000_000;
const LAN_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
const WAN_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x02];
const CLIENT: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
const SERVER: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 2);
const WAN_ADDR: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 1);
const RG: RedundancyGroupId = RedundancyGroupId(1);
const ACK: u8 = 0x10;
const PSH: u8 = 0x08;

const CONFIG: &str = r#"
[[interfaces]]
name = "lan"
zone = "trust"
mac = "02:00:00:00:00:01"
addresses = ["198.18.0.1/24"]
redundancy-group = 1

[[interfaces]]
name = "wan"
zone = "untrust"
mac = "02:00:00:00:00:02"
addresses = ["198.19.0.1/24"]
redundancy-group = 1

[[zones]]
name = "trust"

[[zones]]
name = "untrust"

[ha]
node-id = 0

[[ha.redundancy-groups]]
id = 1
node0-priority = 200
node1-priority = 100

[security]
default-policy = "deny"

[[security.policies]]
from-zone = "trust"
to-zone = "untrust"

[[security.policies.policies]]
name = "outbound"
match = { source-address = ["any"], destination-address = ["any"], application = ["any"] }
then = { action = "permit", log = { session-close = true } }

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

[[forwarding.neighbours]]
address = "198.18.0.2"
mac = "02:00:00:00:00:04"
interface = "lan"
"#;

fn backend() -> EbpfDataPlane {
    backend_with(CONFIG)
}

fn backend_with(config: &str) -> EbpfDataPlane {
    let dp = EbpfDataPlane::new(DataPlaneOptions {
        load: LoadOptions { max_sessions: 1024 },
        watchdog_timeout_ns: 5 * SEC,
        ..DataPlaneOptions::default()
    })
    .unwrap_or_else(|e| panic!("loading the XDP program: {e}"));
    let cfg = Config::from_toml_str(config).expect("test config");
    block_on(dp.apply(&cfg, &Cancel::new())).expect("apply");
    dp.with_firewall(|fw| fw.set_trace(true))
        .expect("test mode");
    dp
}

fn ids(dp: &EbpfDataPlane) -> (InterfaceId, InterfaceId) {
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

/// An Ethernet + IPv4 + TCP frame to `dst_mac` with valid checksums.
#[allow(clippy::too_many_arguments)]
fn tcp(
    dst_mac: [u8; 6],
    src: Ipv4Addr,
    sport: u16,
    dst: Ipv4Addr,
    dport: u16,
    flags: u8,
    seq: u32,
    ack: u32,
) -> Vec<u8> {
    let payload = b"xpf-ha";
    let mut f = Vec::new();
    f.extend_from_slice(&dst_mac);
    f.extend_from_slice(&[0x02, 0, 0, 0, 0, 0x10]);
    f.extend_from_slice(&[0x08, 0x00]);
    let total = (20 + 20 + payload.len()) as u16;
    let mut ip = vec![0x45, 0, 0, 0, 0, 1, 0x40, 0, 64, 6, 0, 0];
    ip[2..4].copy_from_slice(&total.to_be_bytes());
    ip.extend_from_slice(&src.octets());
    ip.extend_from_slice(&dst.octets());
    let c = fold(sum16(&ip));
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    let mut t = Vec::new();
    t.extend_from_slice(&sport.to_be_bytes());
    t.extend_from_slice(&dport.to_be_bytes());
    t.extend_from_slice(&seq.to_be_bytes());
    t.extend_from_slice(&ack.to_be_bytes());
    t.extend_from_slice(&[5 << 4, flags, 0xff, 0xff, 0, 0, 0, 0]);
    t.extend_from_slice(payload);
    let c = fold(tcp_pseudo(src, dst, t.len()) + sum16(&t));
    t[16..18].copy_from_slice(&c.to_be_bytes());
    f.extend_from_slice(&ip);
    f.extend_from_slice(&t);
    f
}

fn tcp_pseudo(src: Ipv4Addr, dst: Ipv4Addr, len: usize) -> u32 {
    sum16(&src.octets()) + sum16(&dst.octets()) + 6 + len as u32
}

/// The addresses and ports of a forwarded IPv4/TCP frame, after checking
/// both checksums.
fn tuple_of(frame: &[u8]) -> (Ipv4Addr, u16, Ipv4Addr, u16) {
    let ip = &frame[14..34];
    assert_eq!(fold(sum16(ip)), 0, "IPv4 header checksum");
    let src = Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15]);
    let dst = Ipv4Addr::new(ip[16], ip[17], ip[18], ip[19]);
    let total = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
    let t = &frame[34..14 + total];
    assert_eq!(
        fold(tcp_pseudo(src, dst, t.len()) + sum16(t)),
        0,
        "TCP checksum"
    );
    let port = |i: usize| u16::from_be_bytes([t[i], t[i + 1]]);
    (src, port(0), dst, port(2))
}

fn run(
    dp: &EbpfDataPlane,
    ingress: InterfaceId,
    frame: &[u8],
    now: u64,
) -> (FrameVerdict, Vec<u8>) {
    dp.with_firewall(|fw| fw.run_frame(ingress, frame, now))
        .expect("test run")
}

/// One client UDP datagram of flow `sport` from the LAN (UDP checksum 0:
/// none, valid for IPv4).
fn from_client(dp: &EbpfDataPlane, sport: u16, now: u64) -> FrameVerdict {
    let (lan, _) = ids(dp);
    let payload = b"xpf-ha";
    let mut f = Vec::new();
    f.extend_from_slice(&LAN_MAC);
    f.extend_from_slice(&[0x02, 0, 0, 0, 0, 0x10]);
    f.extend_from_slice(&[0x08, 0x00]);
    let total = (20 + 8 + payload.len()) as u16;
    let mut ip = vec![0x45, 0, 0, 0, 0, 1, 0x40, 0, 64, 17, 0, 0];
    ip[2..4].copy_from_slice(&total.to_be_bytes());
    ip.extend_from_slice(&CLIENT.octets());
    ip.extend_from_slice(&SERVER.octets());
    let c = fold(sum16(&ip));
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    f.extend_from_slice(&ip);
    f.extend_from_slice(&sport.to_be_bytes());
    f.extend_from_slice(&53u16.to_be_bytes());
    f.extend_from_slice(&(8 + payload.len() as u16).to_be_bytes());
    f.extend_from_slice(&[0, 0]);
    f.extend_from_slice(payload);
    run(dp, lan, &f, now).0
}

#[test]
fn the_ha_controller_drives_the_programs_redundancy_groups_the_watchdog_and_fabric_state() {
    if !privileged("the_ha_controller_drives_the_programs_redundancy_groups") {
        return;
    }
    let dp = backend();
    let (_, wan) = ids(&dp);
    let ha: Arc<dyn HAController> = dp.ha();
    assert!(ha.rg_active(RG), "a group is active until set otherwise");
    assert_eq!(from_client(&dp, 40_000, NOW), FrameVerdict::Forward(wan));

    // Backup for the group: the live session's traffic and a new flow on
    // the group's interfaces both drop as ha-inactive.
    block_on(ha.set_rg_active(RG, false)).expect("set backup");
    assert!(!ha.rg_active(RG));
    let status = dp.status().redundancy_groups;
    assert!(
        status.iter().any(|g| g.group == RG && !g.active),
        "{status:?}"
    );
    assert_eq!(
        from_client(&dp, 40_000, NOW + 1),
        FrameVerdict::Drop(DropReason::HaInactive)
    );
    assert_eq!(
        from_client(&dp, 40_001, NOW + 2),
        FrameVerdict::Drop(DropReason::HaInactive)
    );
    block_on(ha.set_rg_active(RG, true)).expect("set primary");
    assert_eq!(
        from_client(&dp, 40_000, NOW + 3),
        FrameVerdict::Forward(wan)
    );

    // The watchdog: kicked, then silent past its 5 s timeout, fails closed;
    // the next kick restores the role set.
    block_on(ha.watchdog(NOW)).expect("kick");
    dp.poll(NOW + 4 * SEC).expect("poll within the timeout");
    assert!(ha.rg_active(RG));
    dp.poll(NOW + 6 * SEC).expect("poll past the timeout");
    assert!(!ha.rg_active(RG), "an unkicked watchdog fails closed");
    assert_eq!(
        from_client(&dp, 40_000, NOW + 6 * SEC),
        FrameVerdict::Drop(DropReason::HaInactive)
    );
    block_on(ha.watchdog(NOW + 7 * SEC)).expect("kick again");
    assert!(ha.rg_active(RG));
    assert_eq!(
        from_client(&dp, 40_000, NOW + 7 * SEC),
        FrameVerdict::Forward(wan)
    );

    // Fabric: a cancelled update changes nothing; a committed one is synced
    // in the same call; a refused one is not synced.
    let state = FabricForwarding {
        interface: "fab0".into(),
        peer_mac: MacAddr([0x02, 0, 0, 0, 0xfa, 0x01]),
        local_mac: MacAddr([0x02, 0, 0, 0, 0xfa, 0x00]),
        enabled: true,
    };
    let cancelled = Cancel::new();
    cancelled.cancel();
    assert!(matches!(
        block_on(ha.set_fabric_forwarding(FabricId::FAB0, state.clone(), &cancelled)),
        Err(DataplaneError::Cancelled(_))
    ));
    assert_eq!(ha.fabric_forwarding(FabricId::FAB0), None);
    assert_eq!(dp.fabric_syncs(), 0);
    block_on(ha.set_fabric_forwarding(FabricId::FAB0, state.clone(), &Cancel::new()))
        .expect("fabric update");
    assert_eq!(ha.fabric_forwarding(FabricId::FAB0), Some(state.clone()));
    assert_eq!(*dp.fabric_view(), vec![state.clone()]);
    assert_eq!(dp.fabric_syncs(), 1);
    let bad = FabricForwarding {
        interface: String::new(),
        ..state.clone()
    };
    assert!(matches!(
        block_on(ha.set_fabric_forwarding(FabricId::FAB1, bad, &Cancel::new())),
        Err(DataplaneError::InvalidArgument(_))
    ));
    assert_eq!(dp.fabric_syncs(), 1);
    assert_eq!(*dp.fabric_view(), vec![state]);
}

/// The peer's forward entry of a TCP session from the client's `sport` to
/// the server, translated to the WAN address and `public_port`.
fn peer_session(dp: &EbpfDataPlane, id: u64, sport: u16, public_port: u16) -> SessionEntry {
    let (lan, wan) = ids(dp);
    let key = SessionKey {
        src: CLIENT,
        dst: SERVER,
        src_port: sport,
        dst_port: 443,
        protocol: IpProtocol(6),
    };
    let mut v = SessionValue::new_forward(&key, SessionId::compose(1, id), NOW - 10 * SEC);
    v.created_ns = NOW - 20 * SEC;
    v.state = SessionState::Established;
    v.tcp_state = TcpState::Established;
    v.timeout_secs = 1800;
    v.policy_rule = PolicyRuleId(1);
    v.ingress_zone = ZoneId(1);
    v.egress_zone = ZoneId(2);
    v.ingress_interface = lan;
    v.egress_interface = wan;
    v.flags = SessionFlags::SNAT | SessionFlags::LOG_CLOSE;
    v.nat.src = WAN_ADDR;
    v.nat.src_port = public_port;
    v.nat_pool = NatPoolId::NONE;
    v.fwd = PacketCounters {
        packets: 5,
        bytes: 500,
    };
    v.rev = PacketCounters {
        packets: 4,
        bytes: 400,
    };
    v.owner_rg = RG;
    v.reverse_key = SessionValue::reply_key(&key, &v.nat);
    SessionEntry::V4 { key, value: v }
}

#[test]
fn a_synced_session_passes_its_reply_and_continuation_with_the_peers_nat_rewrite() {
    if !privileged("a_synced_session_passes_its_reply_and_continuation") {
        return;
    }
    let dp = backend();
    let (lan, wan) = ids(&dp);
    let store = dp.sessions();
    let deltas = dp.session_deltas().expect("delta source");
    let entry = peer_session(&dp, 7, 41_000, 2_000);
    block_on(store.put_cluster_synced(entry)).expect("synced install");

    let got = block_on(store.get(&entry.key())).unwrap().expect("forward");
    assert!(got.flags().contains(SessionFlags::CLUSTER_SYNCED));
    assert_eq!(got.session_id(), entry.session_id());
    let reply_key = entry.companion_key();
    let rev = block_on(store.get(&reply_key)).unwrap().expect("reverse");
    assert!(rev.is_reverse());
    // Counted as created, announced to nobody (the peer did).
    let created = block_on(
        dp.telemetry()
            .global_counter(BaseCounter::SessionsCreated.into()),
    )
    .unwrap();
    assert_eq!(created, 1);
    assert!(deltas.drain(100).unwrap().deltas.is_empty());

    // The server's reply to the public address goes back to the client with
    // the destination translated back (no SYN ever seen: the tracker took
    // the peer's established state).
    let reply = tcp(
        WAN_MAC,
        SERVER,
        443,
        WAN_ADDR,
        2_000,
        ACK | PSH,
        9_000,
        1_006,
    );
    let (v, out) = run(&dp, wan, &reply, NOW + SEC);
    assert_eq!(v, FrameVerdict::Forward(lan));
    assert_eq!(tuple_of(&out), (SERVER, 443, CLIENT, 41_000));
    // The client's continuation leaves with the peer's source translation.
    let cont = tcp(
        LAN_MAC,
        CLIENT,
        41_000,
        SERVER,
        443,
        ACK | PSH,
        1_006,
        9_006,
    );
    let (v, out) = run(&dp, lan, &cont, NOW + 2 * SEC);
    assert_eq!(v, FrameVerdict::Forward(wan));
    assert_eq!(tuple_of(&out), (WAN_ADDR, 2_000, SERVER, 443));
    let live = block_on(store.get(&entry.key())).unwrap().expect("forward");
    let SessionEntry::V4 { value, .. } = live else {
        panic!("IPv4 session")
    };
    assert_eq!((value.fwd.packets, value.rev.packets), (6, 5));

    // Another peer session claiming the same public port collides with the
    // live mapping: refused, nothing changed.
    let clash = peer_session(&dp, 8, 41_001, 2_000);
    assert!(matches!(
        block_on(store.put_cluster_synced(clash)),
        Err(DataplaneError::InvalidArgument(_))
    ));
    assert!(block_on(store.get(&clash.key())).unwrap().is_none());
    assert_eq!(block_on(store.count()).unwrap().entries, 2);

    // The peer re-translates session 7 to port 2001: the new version
    // replaces the old whole, silently; port 2000 is free again.
    let rekeyed = peer_session(&dp, 7, 41_000, 2_001);
    block_on(store.put_cluster_synced(rekeyed)).expect("re-key");
    assert!(block_on(store.get(&reply_key)).unwrap().is_none());
    assert!(
        block_on(store.get(&rekeyed.companion_key()))
            .unwrap()
            .is_some()
    );
    assert!(
        deltas.drain(100).unwrap().deltas.is_empty(),
        "no close delta"
    );
    block_on(store.put_cluster_synced(clash)).expect("port 2000 was released");
    let closed = block_on(
        dp.telemetry()
            .global_counter(BaseCounter::SessionsClosed.into()),
    )
    .unwrap();
    assert_eq!(closed, 0);
    let reply = tcp(WAN_MAC, SERVER, 443, WAN_ADDR, 2_001, ACK, 9_006, 1_012);
    let (v, out) = run(&dp, wan, &reply, NOW + 3 * SEC);
    assert_eq!(v, FrameVerdict::Forward(lan));
    assert_eq!(tuple_of(&out), (SERVER, 443, CLIENT, 41_000));

    // The group owning the synced session goes backup here: its traffic
    // stops, as on any backup node.
    block_on(dp.ha().set_rg_active(RG, false)).unwrap();
    let (v, _) = run(&dp, wan, &reply, NOW + 4 * SEC);
    assert_eq!(v, FrameVerdict::Drop(DropReason::HaInactive));
}

#[test]
fn synced_sessions_count_against_session_limits_and_release_them_when_deleted() {
    if !privileged("synced_sessions_count_against_session_limits") {
        return;
    }
    let limited = CONFIG.replace("name = \"trust\"\n", "name = \"trust\"\nscreen = \"two\"\n")
        + "\n[[security.screen.ids-options]]\nname = \"two\"\n\
           [security.screen.ids-options.limit-session]\nsource-ip-based = 2\n";
    let dp = backend_with(&limited);
    let (_, wan) = ids(&dp);
    let store = dp.sessions();
    let first = peer_session(&dp, 1, 41_000, 2_000);
    block_on(store.put_cluster_synced(first)).expect("first synced");
    block_on(store.put_cluster_synced(peer_session(&dp, 2, 41_001, 2_001))).expect("second synced");
    // The client already has two sessions (both from the peer): a third,
    // its own, is over the limit.
    assert_eq!(
        from_client(&dp, 40_000, NOW),
        FrameVerdict::Drop(DropReason::ScreenSourceSessionLimit)
    );
    // Ending a synced session releases its count.
    let deleted = block_on(
        store.delete_with_companions(&first.key(), xpf_runtime::CloseReason::ClusterReconcile),
    )
    .unwrap();
    assert!(deleted.forward && deleted.reverse);
    assert_eq!(
        from_client(&dp, 40_000, NOW + SEC),
        FrameVerdict::Forward(wan)
    );
}

#[test]
fn a_synced_install_into_a_full_table_evicts_the_oldest_embryonic_session_or_is_refused() {
    if !privileged("a_synced_install_into_a_full_table_evicts") {
        return;
    }
    let dp = backend_with(&(CONFIG.to_string() + "\n[security.flow]\nsession-capacity = 2\n"));
    let (_, wan) = ids(&dp);
    let store = dp.sessions();
    let deltas = dp.session_deltas().expect("delta source");
    // A local UDP flow that has not been answered (embryonic) and an
    // established synced session fill the table.
    assert_eq!(from_client(&dp, 40_000, NOW), FrameVerdict::Forward(wan));
    block_on(store.put_cluster_synced(peer_session(&dp, 1, 41_000, 2_000))).expect("first");
    let udp = AnySessionKey::V4(SessionKey {
        src: CLIENT,
        dst: SERVER,
        src_port: 40_000,
        dst_port: 53,
        protocol: IpProtocol(17),
    });
    assert!(block_on(store.get(&udp)).unwrap().is_some());
    let _ = deltas.drain(100).unwrap();
    // The next synced session takes the embryonic one's place.
    let second = peer_session(&dp, 2, 41_001, 2_001);
    block_on(store.put_cluster_synced(second)).expect("evicting install");
    assert!(block_on(store.get(&udp)).unwrap().is_none());
    assert!(block_on(store.get(&second.key())).unwrap().is_some());
    let closes: Vec<_> = deltas
        .drain(100)
        .unwrap()
        .deltas
        .into_iter()
        .map(|d| (d.reason, d.entry.key()))
        .collect();
    assert_eq!(
        closes,
        vec![(
            xpf_runtime::SessionDeltaReason::Close(xpf_runtime::CloseReason::Evicted),
            udp
        )]
    );
    let evicted = block_on(
        dp.telemetry()
            .global_counter(BaseCounter::SessionsEvicted.into()),
    )
    .unwrap();
    assert_eq!(evicted, 1);
    // Full of established sessions: the next one is refused, nothing changes.
    let third = peer_session(&dp, 3, 41_002, 2_002);
    assert!(matches!(
        block_on(store.put_cluster_synced(third)),
        Err(DataplaneError::InvalidArgument(_))
    ));
    assert!(block_on(store.get(&third.key())).unwrap().is_none());
    assert_eq!(block_on(store.count()).unwrap().v4, 2);
    // Its public port was not taken: a later install may use it.
    block_on(store.delete_with_companions(&second.key(), xpf_runtime::CloseReason::Admin)).unwrap();
    block_on(store.put_cluster_synced(third)).expect("room again");
}
