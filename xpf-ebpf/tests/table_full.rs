//! A full session table of unanswered sessions: every new flow evicts the
//! oldest embryonic session (ARCHITECTURE §9's table-full rule), at a
//! table size where the eviction queue is large, as in the netns
//! benchmark's new-flows scenario. Runs the real program with
//! `BPF_PROG_TEST_RUN`; needs root (or the README's opt-out).

use std::collections::BTreeSet;
use std::sync::Arc;
use xpf_dataplane::Config;
use xpf_dataplane::compile::compile_with_previous;
use xpf_ebpf::{Firewall, FrameVerdict, LoadOptions};
use xpf_runtime::InterfaceId;

fn privileged(what: &str) -> bool {
    match xpf_ebpf::require_root(what) {
        Ok(()) => true,
        Err((true, msg)) => {
            eprintln!("skipped: {msg}");
            false
        }
        Err((false, msg)) => panic!("{msg}"),
    }
}

const CONFIG: &str = r#"
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
match = { source-address = ["any"], destination-address = ["any"], application = ["any"] }
then = { action = "permit" }

[security.flow]
session-capacity = CAPACITY

[[forwarding.routes]]
destination = "0.0.0.0/0"
next-hop = "198.19.10.1"

[[forwarding.neighbours]]
address = "198.19.10.1"
mac = "02:00:0a:ff:00:01"
interface = "ge-0/0/0.0"
"#;

fn csum(data: &[u8]) -> u16 {
    let mut s: u32 = 0;
    for c in data.chunks(2) {
        s += u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
    }
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    !(s as u16)
}

/// Flow `i`'s identity as (last source octet << 16 | source port).
fn flow_id(i: u32) -> u32 {
    (10 + i / 60_000) << 16 | (1024 + i % 60_000)
}

/// UDP/IPv4 198.18.10.x:p -> 198.19.200.53:53 into the trust side, flow `i`.
fn frame(i: u32) -> Vec<u8> {
    let (host, sport) = ((flow_id(i) >> 16) as u8, flow_id(i) as u16);
    let mut f = vec![0u8; 14 + 20 + 8 + 18];
    f[0..6].copy_from_slice(&[0x02, 0, 0x0a, 0, 0, 0x01]);
    f[6..12].copy_from_slice(&[0x02, 0, 0, 0, 0, 0x05]);
    f[12..14].copy_from_slice(&[0x08, 0x00]);
    let ip = &mut f[14..34];
    ip[0] = 0x45;
    ip[2..4].copy_from_slice(&(20u16 + 8 + 18).to_be_bytes());
    ip[8] = 64;
    ip[9] = 17;
    ip[12..16].copy_from_slice(&[198, 18, 10, host]);
    ip[16..20].copy_from_slice(&[198, 19, 200, 53]);
    let c = csum(ip);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    let udp = &mut f[34..42];
    udp[0..2].copy_from_slice(&sport.to_be_bytes());
    udp[2..4].copy_from_slice(&53u16.to_be_bytes());
    udp[4..6].copy_from_slice(&(8u16 + 18).to_be_bytes());
    f
}

/// Sends three times the capacity in new one-way flows into a firewall
/// whose maps hold `max_sessions` and whose config says `configured`;
/// checks that every flow went through and the newest ones, as many as the
/// effective capacity, are the live ones.
fn fill_past_capacity(max_sessions: u32, configured: u32) {
    let mut fw = Firewall::new(LoadOptions { max_sessions }).expect("load");
    fw.set_trace(true).expect("test mode");
    let text = CONFIG.replace("CAPACITY", &configured.to_string());
    let compiled = compile_with_previous(&Config::from_toml_str(&text).unwrap(), None).unwrap();
    fw.apply_compiled(Arc::new(compiled), 1).expect("apply");
    // The maps' size less one session per CPU (the room an eviction takes).
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get()) as u32;
    let capacity = configured.min(max_sessions - cpus);
    assert_eq!(fw.capacity(), capacity);
    let flows = 3 * capacity;
    for i in 0..flows {
        let (v, _) = fw
            .run_frame(InterfaceId(2), &frame(i), 1_000 + u64::from(i))
            .expect("run");
        assert!(matches!(v, FrameVerdict::Forward(_)), "flow {i}: {v:?}");
    }
    assert_eq!(fw.live_sessions().expect("count"), u64::from(capacity));
    let live: BTreeSet<u32> = fw
        .forward_sessions()
        .expect("read")
        .iter()
        .map(|(k, _)| u32::from(k.src[3]) << 16 | u32::from(k.sport))
        .collect();
    let newest: BTreeSet<u32> = (flows - capacity..flows).map(flow_id).collect();
    assert_eq!(live, newest, "the newest flows are the live ones");
}

#[test]
fn every_new_flow_into_a_full_table_of_unanswered_sessions_evicts_the_oldest() {
    if !privileged("table_full") {
        return;
    }
    // The maps sized exactly for the configured capacity.
    fill_past_capacity(4_096, 4_096);
}

#[test]
fn a_configured_capacity_beyond_the_maps_is_capped_at_their_size() {
    if !privileged("table_full") {
        return;
    }
    // The default capacity (2^20) on maps loaded for 4,096 sessions: the
    // table is full, and evicts, at the maps' size less the eviction room.
    fill_past_capacity(4_096, 1 << 20);
}
