//! Shared fixtures: a LAN (trust, 198.18.0.0/24, 2001:db8:1::/64) and a WAN
//! (untrust, 198.19.0.0/24, 2001:db8:2::/64), SNAT from a PAT pool, a DNAT
//! port forward, optional HA; frame helpers.

#![allow(dead_code)] // each test binary uses a different subset

use std::net::IpAddr;
use std::sync::Arc;
use xpf_dataplane::cancel::Cancel;
use xpf_dataplane::{Config, ConfigSink, RuntimeDataPlane};
use xpf_engine::wire::{ParsedFrame, parse_frame};
use xpf_userspace::craft::Envelope;
use xpf_userspace::{UserspaceDataplane, UserspaceOptions};

pub const SEC: u64 = 1_000_000_000;
/// 2026-11-23 10:00 UTC.
pub const T0: u64 = (1_795_392_000 + 10 * 3600) * SEC;
pub const LAN_MAC: [u8; 6] = [2, 0, 0, 0, 0, 1];
pub const WAN_MAC: [u8; 6] = [2, 0, 0, 0, 0, 2];
pub const GW_MAC: [u8; 6] = [2, 0, 0, 0, 2, 254];
pub const POOL: &str = "198.19.0.100";
pub const SERVER: &str = "198.19.5.80";
pub const PUBLIC_WEB: &str = "198.19.0.10";
pub const WEB_INSIDE: &str = "198.18.0.80";

pub fn client_mac(i: u8) -> [u8; 6] {
    [2, 0, 0, 0, 1, i]
}

pub fn client(i: u8) -> IpAddr {
    format!("198.18.0.{}", 10 + i).parse().unwrap()
}

pub fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

pub fn config(ha: bool) -> String {
    let mut neighbours = String::new();
    for i in 0..40u8 {
        neighbours.push_str(&format!(
            "[[forwarding.neighbours]]\naddress = \"198.18.0.{}\"\nmac = \"02:00:00:00:01:{:02x}\"\ninterface = \"lan\"\n",
            10 + i,
            i
        ));
    }
    let rg = if ha { "redundancy-group = 1\n" } else { "" };
    let ha_section = if ha {
        r#"
[ha]
node-id = 0
[[ha.redundancy-groups]]
id = 1
node0-priority = 200
node1-priority = 100
"#
    } else {
        ""
    };
    format!(
        r#"
[[interfaces]]
name = "lan"
zone = "trust"
mac = "02:00:00:00:00:01"
addresses = ["198.18.0.1/24", "2001:db8:1::1/64"]
{rg}
[[interfaces]]
name = "wan"
zone = "untrust"
mac = "02:00:00:00:00:02"
addresses = ["198.19.0.1/24", "2001:db8:2::1/64"]
{rg}
[[interfaces]]
name = "fab"
mac = "02:00:00:00:00:03"
addresses = ["198.18.255.1/30"]

[[zones]]
name = "trust"
[[zones]]
name = "untrust"

[[security.policies]]
from-zone = "trust"
to-zone = "untrust"
[[security.policies.policies]]
name = "allow-out"
match = {{ source-address = ["any"], destination-address = ["any"], application = ["any"] }}
then = {{ action = "permit", log = {{ session-init = true, session-close = true }} }}

[[security.policies]]
from-zone = "untrust"
to-zone = "trust"
[[security.policies.policies]]
name = "allow-web-in"
match = {{ source-address = ["any"], destination-address = ["any"], application = ["junos-http"] }}
then = {{ action = "permit" }}

[[security.nat.source.pools]]
name = "out-pool"
addresses = ["198.19.0.100/32"]
port-range = "1024-65535"
port-overload = "on"

[[security.nat.source.rule-sets]]
name = "out"
from = {{ zone = ["trust"] }}
to = {{ zone = ["untrust"] }}
[[security.nat.source.rule-sets.rules]]
name = "pool-nat"
match = {{ source-address = ["198.18.0.0/24"] }}
then = {{ pool = "out-pool" }}

[[security.nat.destination.pools]]
name = "web"
address = "198.18.0.80"
port = 80

[[security.nat.destination.rule-sets]]
name = "in"
from = {{ zone = ["untrust"] }}
[[security.nat.destination.rule-sets.rules]]
name = "web-forward"
match = {{ destination-address = ["198.19.0.10/32"], destination-port = [8080], protocol = ["tcp"] }}
then = {{ pool = "web" }}

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
address = "2001:db8:1::10"
mac = "02:00:00:00:01:00"
interface = "lan"
[[forwarding.neighbours]]
address = "198.18.0.80"
mac = "02:00:00:00:01:50"
interface = "lan"
{neighbours}
{ha_section}
"#
    )
}

pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    futures::executor::block_on(f)
}

/// A started backend with `config` applied.
pub fn backend(opts: UserspaceOptions, config: &str) -> UserspaceDataplane {
    let dp = UserspaceDataplane::new(opts);
    let cfg = Config::from_toml_str(config).expect("config parses");
    block_on(dp.apply(&cfg, &Cancel::new())).expect("config applies");
    block_on(dp.start()).unwrap();
    dp
}

/// An inline backend with the fixture config.
pub fn inline(ha: bool) -> UserspaceDataplane {
    backend(UserspaceOptions::inline(), &config(ha))
}

/// Client `i` → `dst` frame envelope, on the LAN.
pub fn from_client(i: u8, dst: IpAddr) -> Envelope {
    Envelope::new(client_mac(i), LAN_MAC, client(i), dst)
}

/// `src` → `dst` envelope arriving on the WAN.
pub fn from_wan(src: IpAddr, dst: IpAddr) -> Envelope {
    Envelope::new(GW_MAC, WAN_MAC, src, dst)
}

pub fn parse(f: &[u8]) -> ParsedFrame {
    parse_frame(f).expect("emitted frame parses")
}

pub fn arc<T>(t: T) -> Arc<T> {
    Arc::new(t)
}
