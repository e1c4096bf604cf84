//! The next hop a session caches (`xpf_sess_val.nh`, ARCHITECTURE §12):
//! filled by the first forwarded packet of a direction, used by the next
//! ones instead of the route and neighbour lookups, and never used once
//! the configuration's forwarding epoch has changed. Runs the real program
//! with `BPF_PROG_TEST_RUN`; needs root (or the README's opt-out).

mod support;
use support::{TRUST_MAC, privileged, udp4};

use std::net::Ipv4Addr;
use std::sync::Arc;
use xpf_dataplane::Config;
use xpf_dataplane::compile::compile_with_previous;
use xpf_ebpf::abi::SessVal;
use xpf_ebpf::firewall::sess_key;
use xpf_ebpf::{Firewall, FrameVerdict, LoadOptions};
use xpf_runtime::{AnySessionKey, DropReason, InterfaceId, IpProtocol, SessionKey};

const WAN_MAC: [u8; 6] = [0x02, 0, 0x0a, 0, 0, 0x00];
const GW1_MAC: [u8; 6] = [0x02, 0, 0x0a, 0xff, 0, 0x01];
const GW1_NEW_MAC: [u8; 6] = [0x02, 0, 0x0a, 0xff, 0, 0x11];
const GW2_MAC: [u8; 6] = [0x02, 0, 0x0a, 0xff, 0, 0x02];

/// Two interfaces, trust -> untrust permitted, source NAT to the egress
/// interface; the default route and the gateways' MACs come from `fwd`.
fn config(fwd: &str) -> Config {
    let text = format!(
        r#"
[[interfaces]]
name = "ge-0/0/0.0"
zone = "untrust"
mac = "02:00:0a:00:00:00"
addresses = ["198.19.10.2/29"]

[[interfaces]]
name = "ge-0/0/1.0"
zone = "trust"
mac = "02:00:0a:00:00:01"
addresses = ["198.18.10.1/24"]

[[zones]]
name = "trust"

[[zones]]
name = "untrust"

[[security.policies]]
from-zone = "trust"
to-zone = "untrust"

[[security.policies.policies]]
name = "allow"
match = {{ source-address = ["any"], destination-address = ["any"], application = ["any"] }}
then = {{ action = "permit" }}

[[security.nat.source.rule-sets]]
name = "out"
from = {{ zone = ["trust"] }}
to = {{ zone = ["untrust"] }}

[[security.nat.source.rule-sets.rules]]
name = "iface"
match = {{ source-address = ["198.18.10.0/24"] }}
then = "interface"
{fwd}
"#
    );
    Config::from_toml_str(&text).expect("test config parses")
}

/// Default route via 198.19.10.1 whose MAC is `gw1`, and a second gateway.
fn via_gw1(gw1: [u8; 6]) -> String {
    format!(
        r#"
[[forwarding.routes]]
destination = "0.0.0.0/0"
next-hop = "198.19.10.1"

[[forwarding.neighbours]]
address = "198.19.10.1"
mac = "{}"
interface = "ge-0/0/0.0"

[[forwarding.neighbours]]
address = "198.19.10.3"
mac = "{}"
interface = "ge-0/0/0.0"
"#,
        mac(gw1),
        mac(GW2_MAC)
    )
}

fn mac(m: [u8; 6]) -> String {
    m.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

fn apply(fw: &mut Firewall, cfg: &Config, generation: u64) {
    let compiled = compile_with_previous(cfg, None).expect("test config compiles");
    fw.apply_compiled(Arc::new(compiled), generation)
        .expect("apply");
}

fn firewall(fwd: &str) -> Firewall {
    let mut fw = Firewall::new(LoadOptions {
        max_sessions: 1 << 12,
    })
    .expect("load");
    fw.set_trace(true).expect("test mode");
    apply(&mut fw, &config(fwd), 1);
    fw
}

const LAN: InterfaceId = InterfaceId(2);

/// UDP/IPv4 198.18.10.5:40000 -> 198.19.200.53:53, into ge-0/0/1.0.
fn frame() -> Vec<u8> {
    udp4(TRUST_MAC, [198, 18, 10, 5], 40000, [198, 19, 200, 53], 53)
}

/// Sends the flow's packet; returns the verdict and the frame that left.
fn send(fw: &mut Firewall, now: u64) -> (FrameVerdict, Vec<u8>) {
    fw.run_frame(LAN, &frame(), now).expect("test run")
}

/// The flow's forward entry as the program keeps it.
fn entry(fw: &mut Firewall) -> SessVal {
    let key = AnySessionKey::V4(SessionKey {
        src: Ipv4Addr::new(198, 18, 10, 5),
        dst: Ipv4Addr::new(198, 19, 200, 53),
        src_port: 40000,
        dst_port: 53,
        protocol: IpProtocol::UDP,
    });
    fw.program()
        .maps
        .sessions
        .get(&sess_key(&key), 0)
        .expect("the flow's forward entry exists")
}

fn forwarded_to(v: &FrameVerdict, out: &[u8], dmac: [u8; 6]) {
    assert!(matches!(v, FrameVerdict::Forward(_)), "forwarded: {v:?}");
    assert_eq!(out[0..6], dmac, "destination MAC is the next hop's");
    assert_eq!(out[6..12], WAN_MAC, "source MAC is the egress interface's");
}

#[test]
fn the_first_forwarded_packet_caches_the_next_hop_and_the_next_ones_leave_identically() {
    if !privileged("next_hop_cache") {
        return;
    }
    let mut fw = firewall(&via_gw1(GW1_MAC));
    let (v1, first) = send(&mut fw, 1_000);
    forwarded_to(&v1, &first, GW1_MAC);
    // The session's first packet took the new-session path; the second
    // (established) resolves the next hop and stores it.
    let (v2, second) = send(&mut fw, 2_000);
    forwarded_to(&v2, &second, GW1_MAC);
    let nh = entry(&mut fw).nh[0];
    assert_ne!(nh >> 32, 0, "the forward direction's next hop is cached");
    // The third uses the cached next hop: the same bytes leave.
    let (v3, third) = send(&mut fw, 3_000);
    forwarded_to(&v3, &third, GW1_MAC);
    assert_eq!(third, second, "a cached next hop forwards byte for byte");
    assert_eq!(entry(&mut fw).nh[0], nh, "the cached word is stable");
}

#[test]
fn a_new_neighbour_mac_applied_under_a_live_session_is_used_by_its_next_packet() {
    if !privileged("next_hop_cache") {
        return;
    }
    let mut fw = firewall(&via_gw1(GW1_MAC));
    for now in [1_000, 2_000, 3_000] {
        let (v, out) = send(&mut fw, now);
        forwarded_to(&v, &out, GW1_MAC);
    }
    let before = entry(&mut fw).nh[0];
    apply(&mut fw, &config(&via_gw1(GW1_NEW_MAC)), 2);
    let (v, out) = send(&mut fw, 4_000);
    forwarded_to(&v, &out, GW1_NEW_MAC);
    let after = entry(&mut fw).nh[0];
    assert_ne!(after >> 32, before >> 32, "re-cached under the new epoch");
}

#[test]
fn a_new_route_applied_under_a_live_session_moves_its_next_packet_to_the_new_gateway() {
    if !privileged("next_hop_cache") {
        return;
    }
    let mut fw = firewall(&via_gw1(GW1_MAC));
    for now in [1_000, 2_000, 3_000] {
        let (v, out) = send(&mut fw, now);
        forwarded_to(&v, &out, GW1_MAC);
    }
    let moved =
        via_gw1(GW1_MAC).replace("next-hop = \"198.19.10.1\"", "next-hop = \"198.19.10.3\"");
    apply(&mut fw, &config(&moved), 2);
    let (v, out) = send(&mut fw, 4_000);
    forwarded_to(&v, &out, GW2_MAC);
}

#[test]
fn a_route_turned_into_a_discard_route_drops_a_session_that_had_a_cached_next_hop() {
    if !privileged("next_hop_cache") {
        return;
    }
    let mut fw = firewall(&via_gw1(GW1_MAC));
    for now in [1_000, 2_000, 3_000] {
        let (v, out) = send(&mut fw, now);
        forwarded_to(&v, &out, GW1_MAC);
    }
    let discard = format!(
        "{}\n[[forwarding.routes]]\ndestination = \"198.19.200.0/24\"\ndiscard = true\n",
        via_gw1(GW1_MAC)
    );
    apply(&mut fw, &config(&discard), 2);
    let (v, _) = send(&mut fw, 4_000);
    assert_eq!(v, FrameVerdict::Drop(DropReason::RouteDiscard));
}
