//! Shared fixtures of the engine's integration tests: one firewall between
//! a LAN (trust, 198.18.0.0/24, 2001:db8:1::/64) and a WAN (untrust,
//! 198.19.0.0/24, 2001:db8:2::/64), frame builders (etherparse) and a
//! checksum-verifying re-parse.

#![allow(dead_code)] // each test binary uses a different subset

use etherparse::PacketBuilder;
use std::net::IpAddr;
use std::sync::Arc;
use xpf_dataplane::Config;
use xpf_dataplane::compile::{CompiledConfig, compile};
use xpf_engine::checksum;
use xpf_engine::engine::{Emitted, Engine, EngineOptions, Verdict};
use xpf_engine::wire::{ParsedFrame, parse_frame};
use xpf_runtime::InterfaceId;

pub const LAN: InterfaceId = InterfaceId(1);
pub const WAN: InterfaceId = InterfaceId(2);
pub const LAN_MAC: [u8; 6] = [2, 0, 0, 0, 0, 1];
pub const WAN_MAC: [u8; 6] = [2, 0, 0, 0, 0, 2];
pub const CLIENT_MAC: [u8; 6] = [2, 0, 0, 0, 1, 10];
pub const GW_MAC: [u8; 6] = [2, 0, 0, 0, 2, 254];
pub const SERVER_MAC: [u8; 6] = [2, 0, 0, 0, 1, 80];
pub const CLIENT: [u8; 4] = [198, 18, 0, 10];
pub const SERVER_LAN: [u8; 4] = [198, 18, 0, 80];
pub const REMOTE: [u8; 4] = [198, 19, 99, 7];
pub const WAN_IP: [u8; 4] = [198, 19, 0, 1];
pub const SEC: u64 = 1_000_000_000;
/// 2026-11-23 10:00 UTC, a Monday.
pub const T0: u64 = (1_795_392_000 + 10 * 3600) * SEC;

pub const CONFIG: &str = r#"
[[interfaces]]
name = "lan"
zone = "trust"
mac = "02:00:00:00:00:01"
addresses = ["198.18.0.1/24", "2001:db8:1::1/64"]
[[interfaces]]
name = "wan"
zone = "untrust"
mac = "02:00:00:00:00:02"
addresses = ["198.19.0.1/24", "2001:db8:2::1/64"]

[[zones]]
name = "trust"
host-inbound-traffic = { system-services = ["ping", "ssh"] }
[[zones]]
name = "untrust"
screen = "edge"

[security.screen]
ids-options = [{ name = "edge", tcp = { syn-fin = true, land = true } }]

[[schedulers]]
name = "office"
windows = [{ days = ["monday", "tuesday", "wednesday", "thursday", "friday"], start = "08:00", stop = "18:00" }]

[[security.policies]]
from-zone = "trust"
to-zone = "untrust"
[[security.policies.policies]]
name = "no-telnet"
match = { application = ["junos-telnet"] }
then = { action = "reject" }
[[security.policies.policies]]
name = "office-web"
match = { application = ["junos-http-ext"] }
then = { action = "permit" }
scheduler = "office"
[[security.policies.policies]]
name = "out"
match = { application = ["any"] }
then = { action = "permit", log = { session-init = true, session-close = true }, count = true }

[[security.policies]]
from-zone = "untrust"
to-zone = "trust"
[[security.policies.policies]]
name = "to-web-server"
match = { destination-address = ["web-server"], application = ["https-8443"] }
then = { action = "permit" }
[[security.policies.policies]]
name = "to-static"
match = { destination-address = ["static-host"], application = ["junos-ssh"] }
then = { action = "permit" }

# Policies match the translated destination: the port-forwarded server
# listens on 8443.
[[applications.applications]]
name = "https-8443"
protocol = "tcp"
destination-port = "8443"

[address-book]
addresses = [
  { name = "web-server", prefix = "198.18.0.80/32" },
  { name = "static-host", prefix = "198.18.0.50/32" },
]

[[security.nat.destination.pools]]
name = "web"
address = "198.18.0.80"
port = 8443
[[security.nat.destination.rule-sets]]
name = "inbound"
from = { zone = ["untrust"] }
[[security.nat.destination.rule-sets.rules]]
name = "https"
match = { destination-address = ["198.19.0.10/32"], destination-port = ["443"], protocol = ["tcp"] }
then = { pool = "web" }

[[security.nat.static.rule-sets]]
name = "one-to-one"
from = { zone = ["untrust"] }
[[security.nat.static.rule-sets.rules]]
name = "host50"
destination-address = "198.19.0.50/32"
prefix = "198.18.0.50/32"

[[security.nat.source.rule-sets]]
name = "outbound"
from = { zone = ["trust"] }
to = { zone = ["untrust"] }
[[security.nat.source.rule-sets.rules]]
name = "masquerade"
then = "interface"

[[forwarding.routes]]
destination = "0.0.0.0/0"
next-hop = "198.19.0.254"
[[forwarding.routes]]
destination = "::/0"
next-hop = "2001:db8:2::fe"

[[forwarding.neighbours]]
address = "198.19.0.254"
mac = "02:00:00:00:02:fe"
interface = "wan"
[[forwarding.neighbours]]
address = "2001:db8:2::fe"
mac = "02:00:00:00:02:fe"
interface = "wan"
[[forwarding.neighbours]]
address = "198.18.0.10"
mac = "02:00:00:00:01:0a"
interface = "lan"
[[forwarding.neighbours]]
address = "2001:db8:1::10"
mac = "02:00:00:00:01:0a"
interface = "lan"
[[forwarding.neighbours]]
address = "198.18.0.80"
mac = "02:00:00:00:01:50"
interface = "lan"
[[forwarding.neighbours]]
address = "198.18.0.50"
mac = "02:00:00:00:01:32"
interface = "lan"
"#;

pub fn compiled(text: &str) -> Arc<CompiledConfig> {
    Arc::new(compile(&Config::from_toml_str(text).unwrap()).unwrap())
}

pub fn engine() -> Engine {
    Engine::new(compiled(CONFIG), 1, EngineOptions::default(), T0).unwrap()
}

#[allow(clippy::too_many_arguments)] // a TCP segment has this many fields
pub fn tcp4(
    src: [u8; 4],
    dst: [u8; 4],
    sport: u16,
    dport: u16,
    flags: &str,
    seq: u32,
    ack: u32,
    payload: &[u8],
) -> Vec<u8> {
    let (smac, dmac) = if src[1] == 18 {
        (CLIENT_MAC, LAN_MAC)
    } else {
        (GW_MAC, WAN_MAC)
    };
    let mut b = PacketBuilder::ethernet2(smac, dmac)
        .ipv4(src, dst, 64)
        .tcp(sport, dport, seq, 64240);
    for f in flags.chars() {
        b = match f {
            'S' => b.syn(),
            'A' => b.ack(ack),
            'F' => b.fin(),
            'R' => b.rst(),
            'P' => b.psh(),
            _ => b,
        };
    }
    let mut out = Vec::new();
    b.write(&mut out, payload).unwrap();
    out
}

pub fn udp4(src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let (smac, dmac) = if src[1] == 18 {
        (CLIENT_MAC, LAN_MAC)
    } else {
        (GW_MAC, WAN_MAC)
    };
    let mut out = Vec::new();
    PacketBuilder::ethernet2(smac, dmac)
        .ipv4(src, dst, 64)
        .udp(sport, dport)
        .write(&mut out, payload)
        .unwrap();
    out
}

pub fn ping4(src: [u8; 4], dst: [u8; 4], id: u16, reply: bool) -> Vec<u8> {
    let (smac, dmac) = if src[1] == 18 {
        (CLIENT_MAC, LAN_MAC)
    } else {
        (GW_MAC, WAN_MAC)
    };
    let b = PacketBuilder::ethernet2(smac, dmac).ipv4(src, dst, 64);
    let b = if reply {
        b.icmpv4_echo_reply(id, 1)
    } else {
        b.icmpv4_echo_request(id, 1)
    };
    let mut out = Vec::new();
    b.write(&mut out, b"ping-payload").unwrap();
    out
}

/// Parses a frame and recomputes every checksum from scratch.
pub fn check(frame: &[u8]) -> ParsedFrame {
    let p = parse_frame(frame).expect("forwarded frames parse");
    let header = &frame[p.l3_offset..p.payload_offset];
    if p.src.is_ipv4() {
        assert_eq!(
            checksum::ipv4_header_checksum(header),
            u16::from_be_bytes([header[10], header[11]]),
            "IPv4 header checksum"
        );
    }
    if !p.fragment.is_fragment {
        assert_eq!(
            p.verify_l4_checksum(frame),
            Some(true),
            "transport checksum"
        );
    }
    p
}

pub fn run(
    e: &mut Engine,
    now: u64,
    ingress: InterfaceId,
    mut frame: Vec<u8>,
) -> (Verdict, Vec<u8>, Vec<Emitted>) {
    let mut out = Vec::new();
    let v = e.process(now, ingress, &mut frame, &mut out);
    (v, frame, out)
}

pub fn ip(a: [u8; 4]) -> IpAddr {
    IpAddr::from(a)
}
