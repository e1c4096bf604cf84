//! What the eBPF tests (and the `xdp` bench, through `#[path]`) share: the
//! root check with the README's opt-out, a two-zone configuration the
//! `BPF_PROG_TEST_RUN` tests build on, and a UDP/IPv4 frame builder.
//! Each test binary uses part of it.

#![allow(dead_code)]

use std::sync::Arc;
use xpf_dataplane::Config;
use xpf_dataplane::compile::compile_with_previous;
use xpf_ebpf::{Firewall, LoadOptions};
use xpf_runtime::InterfaceId;

/// True when the test can run (root); false when it is skipped through the
/// README's opt-out; panics with the reason otherwise.
pub fn privileged(what: &str) -> bool {
    match xpf_ebpf::require_root(what) {
        Ok(()) => true,
        Err((true, msg)) => {
            eprintln!("skipped: {msg}");
            false
        }
        Err((false, msg)) => panic!("{msg}"),
    }
}

/// The trust side (ge-0/0/1.0, 198.18.10.1/24, MAC 02:00:0a:00:00:01).
pub const TRUST: InterfaceId = InterfaceId(2);
/// The trust interface's MAC: the destination of frames sent into it.
pub const TRUST_MAC: [u8; 6] = [0x02, 0, 0x0a, 0, 0, 0x01];

/// Two interfaces, trust -> untrust permitted for everything, a default
/// route via 198.19.10.1 (02:00:0a:ff:00:01); `extra` (NAT, flow options)
/// goes before the forwarding tables.
pub fn two_zones(extra: &str) -> String {
    format!(
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
{extra}
[[forwarding.routes]]
destination = "0.0.0.0/0"
next-hop = "198.19.10.1"

[[forwarding.neighbours]]
address = "198.19.10.1"
mac = "02:00:0a:ff:00:01"
interface = "ge-0/0/0.0"
"#
    )
}

/// A loaded program in test mode with `config` applied as generation 1.
pub fn firewall_with(max_sessions: u32, config: &str) -> Firewall {
    let mut fw = Firewall::new(LoadOptions { max_sessions }).expect("load");
    fw.set_trace(true).expect("test mode");
    let cfg = Config::from_toml_str(config).expect("test config parses");
    let compiled = compile_with_previous(&cfg, None).expect("test config compiles");
    fw.apply_compiled(Arc::new(compiled), 1).expect("apply");
    fw
}

/// The 16-bit one's-complement sum of `b` (unfolded; add pseudo-header
/// sums to it, then [`fold`]).
pub fn sum16(b: &[u8]) -> u32 {
    b.chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum()
}

/// Folds a [`sum16`] into the checksum field's value.
pub fn fold(mut sum: u32) -> u16 {
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// The Internet checksum of `data`.
pub fn csum(data: &[u8]) -> u16 {
    fold(sum16(data))
}

/// A 60-byte UDP/IPv4 frame `src:sport -> dst:dport` (TTL 64, 18 zero
/// payload bytes, UDP checksum 0) to `dst_mac` from 02:00:00:00:00:05.
pub fn udp4(dst_mac: [u8; 6], src: [u8; 4], sport: u16, dst: [u8; 4], dport: u16) -> Vec<u8> {
    let mut f = vec![0u8; 14 + 20 + 8 + 18];
    f[0..6].copy_from_slice(&dst_mac);
    f[6..12].copy_from_slice(&[0x02, 0, 0, 0, 0, 0x05]);
    f[12..14].copy_from_slice(&[0x08, 0x00]);
    let ip = &mut f[14..34];
    ip[0] = 0x45;
    ip[2..4].copy_from_slice(&(20u16 + 8 + 18).to_be_bytes());
    ip[8] = 64;
    ip[9] = 17;
    ip[12..16].copy_from_slice(&src);
    ip[16..20].copy_from_slice(&dst);
    let c = csum(ip);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    let udp = &mut f[34..42];
    udp[0..2].copy_from_slice(&sport.to_be_bytes());
    udp[2..4].copy_from_slice(&dport.to_be_bytes());
    udp[4..6].copy_from_slice(&(8u16 + 18).to_be_bytes());
    f
}

/// Flow `i` of a series of distinct one-way flows: source 198.18.10.x,
/// port 1024 upwards, 60,000 ports per address.
pub fn flow_source(i: u32) -> ([u8; 4], u16) {
    (
        [198, 18, 10, (10 + i / 60_000) as u8],
        (1024 + i % 60_000) as u16,
    )
}

/// Flow `i`'s frame into the trust side, to 198.19.200.53:53.
pub fn flow_frame(i: u32) -> Vec<u8> {
    let (src, sport) = flow_source(i);
    udp4(TRUST_MAC, src, sport, [198, 19, 200, 53], 53)
}
