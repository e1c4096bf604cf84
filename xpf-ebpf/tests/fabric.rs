//! Fabric forwarding of a backup redundancy group's frames by the real XDP
//! program (`BPF_PROG_TEST_RUN`), as the userspace backend does it: a frame
//! the program drops as `ha-inactive` leaves instead as an `XDP_REDIRECT`
//! to the fabric link's device with destination MAC = peer and source MAC
//! = local, counted as `ha-inactive` and as fabric-forwarded. Covers the
//! drop sites (a frame arriving on a backup group's interface and an
//! established session owned by a backup group arriving on an interface of
//! no group, both sent byte-identical but for the MACs; a new flow whose
//! egress interface is in a backup group, sent translated, as the engine
//! leaves it and the userspace backend sends it); that only a *synced*
//! view reaches packets (a committed update alone does not); and that a
//! disabled or unbound link, or an active group, leaves traffic as it was.
//!
//! The fabric device is one end of a veth pair in a network namespace of
//! the test's own (removed on drop, so on every exit path), attached
//! through the link controller. One real-traffic test (native XDP on the
//! client / firewall / server topology of `xpf-netns-testkit`) shows a
//! client's datagram of a backup group arriving through the fabric veth in
//! a "peer" namespace, seen there by a packet socket with the fabric MACs.
//! Needs root: without it the tests fail with a clear message unless
//! `XPF_ALLOW_SKIP_PRIVILEGED=1` is set.

mod support;
use support::{fold, privileged, sum16, udp4};

use futures::executor::block_on;
use std::net::Ipv4Addr;
use xpf_dataplane::Config;
use xpf_dataplane::cancel::Cancel;
use xpf_dataplane::config::MacAddr;
use xpf_dataplane::traits::{
    ConfigSink, FabricBackend, FabricForwarding, FabricId, HAController, RuntimeDataPlane,
};
use xpf_ebpf::{DataPlaneOptions, EbpfDataPlane, FrameRun, FrameVerdict, LoadOptions};
use xpf_netns_testkit::{in_ns, run};
use xpf_runtime::{
    AnySessionKey, DropReason, InterfaceId, IpProtocol, RedundancyGroupId, SessionEntry, SessionKey,
};

const NOW: u64 = 1_800_000_000_000_000_000;
const LAN_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
const WAN_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x02];
const PEER_MAC: [u8; 6] = [0x02, 0, 0, 0, 0xfa, 0x01];
const LOCAL_MAC: [u8; 6] = [0x02, 0, 0, 0, 0xfa, 0x00];
const CLIENT: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
const SERVER: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 2);
const WAN_ADDR: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 1);
const RG: RedundancyGroupId = RedundancyGroupId(1);
/// The fabric device, inside the test's namespace.
const FAB: &str = "fab0";

/// `lan` belongs to no group, `wan` to group 1 (so a client session from
/// `lan` to `wan` is owned by group 1), `fab0` is the zoneless fabric link.
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
redundancy-group = 1

[[interfaces]]
name = "fab0"
mac = "02:00:00:00:fa:00"

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
then = { action = "permit" }

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

/// A network namespace holding the fabric veth pair (`fab0` and its peer,
/// both up); deleted on drop.
struct FabricNs(String);

impl FabricNs {
    fn create(tag: &str) -> Self {
        let ns = Self(format!("xpffab{}{tag}", std::process::id()));
        run("ip", &["netns", "add", &ns.0]);
        run(
            "ip",
            &[
                "-n", &ns.0, "link", "add", FAB, "type", "veth", "peer", "name", "fabpeer",
            ],
        );
        for dev in [FAB, "fabpeer"] {
            run("ip", &["-n", &ns.0, "link", "set", dev, "up"]);
        }
        ns
    }
}

impl Drop for FabricNs {
    fn drop(&mut self) {
        let ok = std::process::Command::new("ip")
            .args(["netns", "del", &self.0])
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            eprintln!("cleanup: could not delete namespace {}", self.0);
        }
    }
}

struct Bench {
    dp: EbpfDataPlane,
    ns: FabricNs,
    lan: InterfaceId,
    wan: InterfaceId,
}

impl Bench {
    /// The backend with [`CONFIG`] in test mode and the fabric namespace;
    /// the fabric device is not attached yet.
    fn new(tag: &str) -> Self {
        let dp = EbpfDataPlane::new(DataPlaneOptions {
            load: LoadOptions { max_sessions: 1024 },
            ..DataPlaneOptions::default()
        })
        .unwrap_or_else(|e| panic!("loading the XDP program: {e}"));
        let cfg = Config::from_toml_str(CONFIG).expect("test config");
        let applied = block_on(dp.apply(&cfg, &Cancel::new())).expect("apply");
        dp.with_firewall(|fw| fw.set_trace(true))
            .expect("test mode");
        let id = |n: &str| {
            applied
                .managed_interfaces
                .iter()
                .find(|i| i.name == n)
                .expect("interface")
                .id
        };
        let (lan, wan) = (id("lan"), id("wan"));
        Self {
            dp,
            ns: FabricNs::create(tag),
            lan,
            wan,
        }
    }

    /// Attaches the program to the fabric device (in its namespace) and
    /// returns the device's ifindex there.
    fn attach_fabric(&self) -> u32 {
        let link = self.dp.link();
        in_ns(&self.ns.0, || block_on(link.attach(FAB))).expect("attach the fabric device");
        self.dp
            .with_firewall(|fw| fw.links())
            .into_iter()
            .find(|l| l.name == FAB)
            .expect("attached")
            .ifindex
    }

    fn run(&self, ingress: InterfaceId, frame: &[u8], now: u64) -> FrameRun {
        self.dp
            .with_firewall(|fw| fw.run_frame_full(ingress, frame, now))
            .expect("test run")
    }

    /// A client datagram of flow `sport`, arriving on `lan`.
    fn client_sends(&self, sport: u16, now: u64) -> (Vec<u8>, FrameRun) {
        let f = udp4(LAN_MAC, CLIENT.octets(), sport, SERVER.octets(), 53);
        let r = self.run(self.lan, &f, now);
        (f, r)
    }

    /// A server datagram to the public address, arriving on `wan`.
    fn server_sends(&self, dport: u16, now: u64) -> (Vec<u8>, FrameRun) {
        let f = udp4(WAN_MAC, SERVER.octets(), 53, WAN_ADDR.octets(), dport);
        let r = self.run(self.wan, &f, now);
        (f, r)
    }

    /// The source port the client's flow `sport` is translated to.
    fn public_port(&self, sport: u16) -> u16 {
        let key = AnySessionKey::V4(SessionKey {
            src: CLIENT,
            dst: SERVER,
            src_port: sport,
            dst_port: 53,
            protocol: IpProtocol(17),
        });
        match block_on(self.dp.sessions().get(&key)).expect("lookup") {
            Some(SessionEntry::V4 { value, .. }) => value.nat.src_port,
            other => panic!("the client's session: {other:?}"),
        }
    }

    fn fabric_forwarded(&self) -> u64 {
        self.dp
            .backend_counters()
            .expect("backend counters")
            .fabric_forwarded
    }

    fn ha_inactive_drops(&self) -> u64 {
        block_on(
            self.dp
                .telemetry()
                .global_counter(DropReason::HaInactive.into()),
        )
        .expect("counter")
    }

    fn set_fabric(&self, fabric: FabricId, state: FabricForwarding) {
        block_on(
            self.dp
                .ha()
                .set_fabric_forwarding(fabric, state, &Cancel::new()),
        )
        .expect("fabric update");
    }

    fn set_backup(&self, backup: bool) {
        block_on(self.dp.ha().set_rg_active(RG, !backup)).expect("role");
    }
}

fn fabric_state(interface: &str, enabled: bool) -> FabricForwarding {
    FabricForwarding {
        interface: interface.into(),
        peer_mac: MacAddr(PEER_MAC),
        local_mac: MacAddr(LOCAL_MAC),
        enabled,
    }
}

/// `run` is `sent` redirected over the fabric device `ifindex`: verdict
/// `ha-inactive`, the MACs those of the fabric link, every other byte as
/// it arrived.
#[track_caller]
fn assert_over_fabric(sent: &[u8], run: &FrameRun, ifindex: u32) {
    assert_eq!(run.verdict, FrameVerdict::Drop(DropReason::HaInactive));
    assert_eq!(run.fabric, Some(ifindex), "redirected to the fabric device");
    assert_eq!(run.frame.len(), sent.len(), "same length");
    assert_eq!(run.frame[0..6], PEER_MAC, "destination MAC = peer");
    assert_eq!(run.frame[6..12], LOCAL_MAC, "source MAC = local");
    assert_eq!(run.frame[12..], sent[12..], "the rest byte-identical");
}

/// `run` is `sent` dropped as `ha-inactive`, not sent anywhere.
#[track_caller]
fn assert_dropped(sent: &[u8], run: &FrameRun) {
    assert_eq!(run.verdict, FrameVerdict::Drop(DropReason::HaInactive));
    assert_eq!(run.fabric, None, "not sent over the fabric");
    assert_eq!(run.frame, sent, "left as it arrived");
}

#[test]
fn a_backup_groups_frames_leave_over_the_fabric_with_only_their_macs_rewritten_from_both_drop_sites()
 {
    if !privileged("a_backup_groups_frames_leave_over_the_fabric") {
        return;
    }
    let b = Bench::new("both");
    let ifindex = b.attach_fabric();
    b.set_fabric(FabricId::FAB0, fabric_state(FAB, true));
    assert_eq!(
        b.dp.fabric_link().expect("fabric map"),
        Some(xpf_ebpf::abi::Fabric {
            ifindex,
            peer_mac: PEER_MAC,
            local_mac: LOCAL_MAC,
        })
    );

    // The group active: its traffic is forwarded as always (translated,
    // to the server's MAC), nothing goes over the fabric.
    let (sent, r) = b.client_sends(40_000, NOW);
    assert_eq!(r.verdict, FrameVerdict::Forward(b.wan));
    assert_eq!(r.fabric, None);
    assert_eq!(r.frame[0..6], [0x02, 0, 0, 0, 0, 0x03]);
    assert_ne!(r.frame[12..], sent[12..], "source NAT rewrote it");
    assert_eq!((b.fabric_forwarded(), b.ha_inactive_drops()), (0, 0));

    b.set_backup(true);
    // Drop site 1, the entry point: a frame arriving on the backup group's
    // interface (here the reply to the client's translated flow).
    let (sent, r) = b.server_sends(b.public_port(40_000), NOW + 1);
    assert_over_fabric(&sent, &r, ifindex);
    assert_eq!((b.fabric_forwarded(), b.ha_inactive_drops()), (1, 1));
    // Drop site 2, the established path: the client's continuation arrives
    // on `lan` (no group, active) but its session is owned by the backup
    // group. It leaves untranslated.
    let (sent, r) = b.client_sends(40_000, NOW + 2);
    assert_over_fabric(&sent, &r, ifindex);
    assert_eq!((b.fabric_forwarded(), b.ha_inactive_drops()), (2, 2));

    // Active again: forwarded as before, the counters stay.
    b.set_backup(false);
    let (_, r) = b.client_sends(40_000, NOW + 3);
    assert_eq!(r.verdict, FrameVerdict::Forward(b.wan));
    assert_eq!(r.fabric, None);
    assert_eq!((b.fabric_forwarded(), b.ha_inactive_drops()), (2, 2));
}

#[test]
fn a_committed_fabric_update_reaches_packets_only_once_synced() {
    if !privileged("a_committed_fabric_update_reaches_packets_only_once_synced") {
        return;
    }
    let b = Bench::new("sync");
    let ifindex = b.attach_fabric();
    b.set_backup(true);
    // Committed, not synced: the program has no fabric link yet.
    let ha = b.dp.ebpf_ha();
    ha.commit_fabric_forwarding(FabricId::FAB0, &fabric_state(FAB, true))
        .expect("commit");
    assert_eq!(b.dp.fabric_link().expect("fabric map"), None);
    let (sent, r) = b.server_sends(2_000, NOW);
    assert_dropped(&sent, &r);
    assert_eq!((b.fabric_forwarded(), b.ha_inactive_drops()), (0, 1));
    // The sync publishes it to the packets.
    block_on(ha.sync_fabric_state()).expect("sync");
    let (sent, r) = b.server_sends(2_000, NOW + 1);
    assert_over_fabric(&sent, &r, ifindex);
    assert_eq!((b.fabric_forwarded(), b.ha_inactive_drops()), (1, 2));
    // A committed disable is not in force before its sync either.
    ha.commit_fabric_forwarding(FabricId::FAB0, &fabric_state(FAB, false))
        .expect("commit");
    let (sent, r) = b.server_sends(2_000, NOW + 2);
    assert_over_fabric(&sent, &r, ifindex);
    ha.sync_fabric_view().expect("sync");
    let (sent, r) = b.server_sends(2_000, NOW + 3);
    assert_dropped(&sent, &r);
    assert_eq!((b.fabric_forwarded(), b.ha_inactive_drops()), (2, 4));
}

#[test]
fn a_disabled_or_unbound_fabric_link_leaves_a_backup_groups_frames_dropped() {
    if !privileged("a_disabled_or_unbound_fabric_link_leaves_frames_dropped") {
        return;
    }
    let b = Bench::new("bind");
    b.set_backup(true);
    // Enabled, but its device is not attached: not usable.
    b.set_fabric(FabricId::FAB0, fabric_state(FAB, true));
    assert_eq!(b.dp.fabric_link().expect("fabric map"), None);
    let (sent, r) = b.server_sends(2_000, NOW);
    assert_dropped(&sent, &r);
    // Attaching the device binds it: the synced view's link is in force.
    let ifindex = b.attach_fabric();
    let (sent, r) = b.server_sends(2_000, NOW + 1);
    assert_over_fabric(&sent, &r, ifindex);
    // Administratively down: not bound, dropped; up again: forwarded.
    let link = b.dp.link();
    block_on(link.set_link_state(FAB, false)).expect("down");
    let (sent, r) = b.server_sends(2_000, NOW + 2);
    assert_dropped(&sent, &r);
    block_on(link.set_link_state(FAB, true)).expect("up");
    let (sent, r) = b.server_sends(2_000, NOW + 3);
    assert_over_fabric(&sent, &r, ifindex);
    // Disabled: dropped.
    b.set_fabric(FabricId::FAB0, fabric_state(FAB, false));
    assert_eq!(b.dp.fabric_link().expect("fabric map"), None);
    let (sent, r) = b.server_sends(2_000, NOW + 4);
    assert_dropped(&sent, &r);
    // The first enabled link whose device is bound is used: fab1 names an
    // unattached device and is skipped until fab0 is enabled again.
    b.set_fabric(FabricId::FAB1, fabric_state("fab9", true));
    assert_eq!(b.dp.fabric_link().expect("fabric map"), None);
    b.set_fabric(FabricId::FAB0, fabric_state(FAB, true));
    let (sent, r) = b.server_sends(2_000, NOW + 5);
    assert_over_fabric(&sent, &r, ifindex);
    // Detached: unbound again.
    block_on(link.detach(FAB)).expect("detach");
    let (sent, r) = b.server_sends(2_000, NOW + 6);
    assert_dropped(&sent, &r);
    assert_eq!((b.fabric_forwarded(), b.ha_inactive_drops()), (3, 7));
}

/// The IPv4 header checksum of `frame` (Ethernet + IPv4, no options) holds.
fn ipv4_checksum_ok(frame: &[u8]) -> bool {
    fold(sum16(&frame[14..34])) == 0
}

#[test]
fn a_new_flow_leaving_through_a_backup_groups_interface_goes_over_the_fabric_translated() {
    if !privileged("a_new_flow_leaving_through_a_backup_groups_interface") {
        return;
    }
    let b = Bench::new("egress");
    let ifindex = b.attach_fabric();
    b.set_fabric(FabricId::FAB0, fabric_state(FAB, true));
    b.set_backup(true);
    // Drop site 3, the egress check (`xpf_forward`): a new flow from `lan`
    // (no group) whose egress `wan` is in the backup group. As in the
    // engine, the session is made and the frame translated before that
    // check, and the TTL is not yet decremented: that frame is what leaves
    // over the fabric (the userspace backend sends the engine's frame).
    let (sent, r) = b.client_sends(40_001, NOW);
    assert_eq!(r.verdict, FrameVerdict::Drop(DropReason::HaInactive));
    assert_eq!(r.fabric, Some(ifindex), "sent over the fabric");
    let f = &r.frame;
    assert_eq!(f.len(), sent.len());
    assert_eq!(f[0..6], PEER_MAC, "destination MAC = peer");
    assert_eq!(f[6..12], LOCAL_MAC, "source MAC = local");
    assert_eq!(f[26..30], WAN_ADDR.octets(), "source translated");
    assert_eq!(f[34..36], b.public_port(40_001).to_be_bytes(), "port too");
    assert_eq!(f[30..34], SERVER.octets());
    assert_eq!(f[36..38], 53u16.to_be_bytes());
    assert_eq!(f[22], sent[22], "TTL not decremented");
    assert!(ipv4_checksum_ok(f), "IPv4 header checksum updated");
    assert_eq!(f[42..], sent[42..], "payload");
    assert_eq!((b.fabric_forwarded(), b.ha_inactive_drops()), (1, 1));
}

/// Real traffic: a backup group's frame received on a native-XDP firewall
/// veth comes out of the fabric veth into a "peer" namespace, where a
/// packet socket sees it with the fabric MACs and the datagram intact.
#[test]
fn a_backup_groups_real_frames_reach_the_peer_namespace_over_the_fabric_veth() {
    use std::net::UdpSocket;
    use std::os::fd::AsRawFd;
    use std::time::{Duration, Instant};
    use xpf_netns_testkit::{ADDR_C0, ADDR_S0, MAC_F0, MAC_F1, MAC_S0, Topology};

    if !privileged("a_backup_groups_real_frames_reach_the_peer_namespace") {
        return;
    }
    let topo = Topology::create("f", "a");
    // The peer node: its own namespace at the far end of the fabric veth
    // (removed on drop, before the topology).
    let peer = PeerNs(format!("xpff{}a-peer", std::process::id()));
    run("ip", &["netns", "add", &peer.0]);
    let (fb, fp) = (
        format!("xf{}afb", std::process::id()),
        format!("xf{}afp", std::process::id()),
    );
    let mac = |m: [u8; 6]| {
        m.iter()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(":")
    };
    run(
        "ip",
        &[
            "link",
            "add",
            &fb,
            "address",
            &mac(LOCAL_MAC),
            "netns",
            topo.fw(),
            "type",
            "veth",
            "peer",
            "name",
            &fp,
            "address",
            &mac(PEER_MAC),
            "netns",
            &peer.0,
        ],
    );
    run(
        "ip",
        &[
            "netns",
            "exec",
            &peer.0,
            "sysctl",
            "-qw",
            "net.ipv6.conf.all.disable_ipv6=1",
            "net.ipv6.conf.default.disable_ipv6=1",
        ],
    );
    // GRO gives the receiving veth the NAPI an XDP redirect into it needs.
    run(
        "ip",
        &["netns", "exec", &peer.0, "ethtool", "-K", &fp, "gro", "on"],
    );
    run("ip", &["-n", &peer.0, "link", "set", &fp, "up"]);
    run("ip", &["-n", topo.fw(), "link", "set", &fb, "up"]);

    let config = format!(
        r#"
[[interfaces]]
name = "{f0}"
zone = "trust"
mac = "{MAC_F0}"
addresses = ["198.18.0.1/24"]
redundancy-group = 1

[[interfaces]]
name = "{f1}"
zone = "untrust"
mac = "{MAC_F1}"
addresses = ["198.19.0.1/24"]

[[interfaces]]
name = "{fb}"
mac = "{local}"

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
default-policy = "permit"

[[forwarding.neighbours]]
address = "{ADDR_S0}"
mac = "{MAC_S0}"
interface = "{f1}"
"#,
        f0 = topo.f0,
        f1 = topo.f1,
        local = mac(LOCAL_MAC),
    );
    let dp = EbpfDataPlane::new(DataPlaneOptions {
        load: LoadOptions { max_sessions: 1024 },
        ..DataPlaneOptions::default()
    })
    .unwrap_or_else(|e| panic!("loading the XDP program: {e}"));
    let cfg = Config::from_toml_str(&config).expect("test config");
    block_on(dp.apply(&cfg, &Cancel::new())).expect("apply");
    block_on(dp.start()).expect("start");
    let links = dp.link();
    in_ns(topo.fw(), || {
        for dev in [&topo.f0, &topo.f1, &fb] {
            block_on(links.attach(dev)).unwrap_or_else(|e| panic!("attaching {dev}: {e}"));
        }
    });
    block_on(dp.ha().set_fabric_forwarding(
        FabricId::FAB0,
        fabric_state(&fb, true),
        &Cancel::new(),
    ))
    .expect("fabric update");
    block_on(dp.ha().set_rg_active(RG, false)).expect("backup");

    // The peer's packet socket (every frame of its namespace: only the
    // fabric veth is there besides loopback).
    let sock = in_ns(&peer.0, || {
        use nix::sys::socket::{
            AddressFamily, SockFlag, SockProtocol, SockType, setsockopt, socket, sockopt,
        };
        let fd = socket(
            AddressFamily::Packet,
            SockType::Raw,
            SockFlag::empty(),
            SockProtocol::EthAll,
        )
        .expect("packet socket");
        setsockopt(
            &fd,
            sockopt::ReceiveTimeout,
            &nix::sys::time::TimeVal::new(0, 200_000),
        )
        .expect("receive timeout");
        fd
    });
    let payload = b"xpf-fabric-real";
    let client = in_ns(topo.client(), || UdpSocket::bind((ADDR_C0, 0))).expect("client socket");
    let sport = client.local_addr().expect("bound").port();
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut seen = None;
    while seen.is_none() && Instant::now() < deadline {
        client
            .send_to(payload, (ADDR_S0, 5300))
            .expect("client send");
        let mut buf = [0u8; 2048];
        while let Ok(n) = nix::sys::socket::recv(
            sock.as_raw_fd(),
            &mut buf,
            nix::sys::socket::MsgFlags::empty(),
        ) {
            let f = &buf[..n];
            // IPv4 / UDP from the client's port, carrying the payload.
            if n >= 42 + payload.len()
                && f[12..14] == [0x08, 0x00]
                && f[23] == 17
                && f[34..36] == sport.to_be_bytes()
                && f.ends_with(payload)
            {
                seen = Some(f.to_vec());
                break;
            }
        }
    }
    let f = seen.expect("the peer saw the client's datagram over the fabric");
    assert_eq!(f[0..6], PEER_MAC, "destination MAC = peer");
    assert_eq!(f[6..12], LOCAL_MAC, "source MAC = local");
    assert_eq!(f[26..30], ADDR_C0.octets(), "untranslated source");
    assert_eq!(f[30..34], ADDR_S0.octets(), "destination");
    assert_eq!(f[22], 64, "TTL untouched");
    let forwarded = dp.backend_counters().expect("counters").fabric_forwarded;
    assert!(forwarded >= 1, "fabric-forwarded counted: {forwarded}");
    // Nothing reached the server: the firewall is backup for the group.
    let (_, server_rx) = topo.link_packets(topo.server(), &topo.s0);
    assert_eq!(server_rx, 0, "no frame reached the server");
    block_on(dp.teardown()).expect("teardown");
}

/// A network namespace deleted on drop.
struct PeerNs(String);

impl Drop for PeerNs {
    fn drop(&mut self) {
        let ok = std::process::Command::new("ip")
            .args(["netns", "del", &self.0])
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            eprintln!("cleanup: could not delete namespace {}", self.0);
        }
    }
}
