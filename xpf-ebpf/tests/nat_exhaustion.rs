//! Source-NAT pool exhaustion: once a scan of the whole pool found no free
//! port, further new flows are refused at once (the program's exhaustion
//! memo, `struct xpf_exhaust`) until a port is freed, and then allocate
//! again. Runs the real program with `BPF_PROG_TEST_RUN`; needs root (or
//! the README's opt-out).

use std::sync::Arc;
use xpf_dataplane::Config;
use xpf_dataplane::compile::compile_with_previous;
use xpf_ebpf::{Firewall, FrameVerdict, LoadOptions};
use xpf_runtime::{DropReason, InterfaceId};

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

[[security.nat.source.pools]]
name = "eight"
addresses = ["198.19.10.4/32"]
port-range = "1024-1031"
port-overload = "on"

[[security.nat.source.rule-sets]]
name = "out"
from = { zone = ["trust"] }
to = { zone = ["untrust"] }

[[security.nat.source.rule-sets.rules]]
name = "to-eight"
match = { source-address = ["198.18.0.0/15"] }
then = { pool = "eight" }

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

fn send(fw: &mut Firewall, i: u32, now: u64) -> FrameVerdict {
    fw.run_frame(InterfaceId(2), &frame(i), now).expect("run").0
}

#[test]
fn a_full_pool_refuses_new_flows_until_a_port_is_freed_then_allocates_again() {
    if !privileged("nat_exhaustion") {
        return;
    }
    let mut fw = Firewall::new(LoadOptions {
        max_sessions: 1 << 10,
    })
    .expect("load");
    fw.set_trace(true).expect("test mode");
    let compiled = compile_with_previous(&Config::from_toml_str(CONFIG).unwrap(), None).unwrap();
    fw.apply_compiled(Arc::new(compiled), 1).expect("apply");
    let sec = 1_000_000_000u64;
    // Eight ports, eight flows.
    for i in 0..8 {
        let v = send(&mut fw, i, sec);
        assert!(matches!(v, FrameVerdict::Forward(_)), "flow {i}: {v:?}");
    }
    // The ninth scans the pool and fails; the next ones fail from the memo
    // with the same verdict, as long as nothing was freed.
    for i in 8..12 {
        assert_eq!(
            send(&mut fw, i, sec),
            FrameVerdict::Drop(DropReason::NatPoolExhausted),
            "flow {i}"
        );
    }
    // Every session idles out and the GC frees their ports: new flows get
    // ports again (the memo was forgotten with the first freed port).
    let later = 10_000 * sec;
    assert_eq!(fw.expire(later).expect("expire"), 8);
    for i in 12..20 {
        let v = send(&mut fw, i, later);
        assert!(matches!(v, FrameVerdict::Forward(_)), "flow {i}: {v:?}");
    }
    assert_eq!(
        send(&mut fw, 20, later),
        FrameVerdict::Drop(DropReason::NatPoolExhausted)
    );
}
