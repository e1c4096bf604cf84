//! Reading the session table in batches (`BPF_MAP_LOOKUP_BATCH`, the
//! crate's `batch` module): every session the program made is read once,
//! across many batches, as the GC and the session store see them. Runs the
//! real program with `BPF_PROG_TEST_RUN`; needs root (or the README's
//! opt-out).

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

/// UDP/IPv4 198.18.10.5:`sport` -> 198.19.200.53:53 into the trust side.
fn frame(sport: u16) -> Vec<u8> {
    let mut f = vec![0u8; 14 + 20 + 8 + 18];
    f[0..6].copy_from_slice(&[0x02, 0, 0x0a, 0, 0, 0x01]);
    f[6..12].copy_from_slice(&[0x02, 0, 0, 0, 0, 0x05]);
    f[12..14].copy_from_slice(&[0x08, 0x00]);
    let ip = &mut f[14..34];
    ip[0] = 0x45;
    ip[2..4].copy_from_slice(&(20u16 + 8 + 18).to_be_bytes());
    ip[8] = 64;
    ip[9] = 17;
    ip[12..16].copy_from_slice(&[198, 18, 10, 5]);
    ip[16..20].copy_from_slice(&[198, 19, 200, 53]);
    let c = csum(ip);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    let udp = &mut f[34..42];
    udp[0..2].copy_from_slice(&sport.to_be_bytes());
    udp[2..4].copy_from_slice(&53u16.to_be_bytes());
    udp[4..6].copy_from_slice(&(8u16 + 18).to_be_bytes());
    f
}

#[test]
fn every_session_is_read_exactly_once_across_many_batches() {
    if !privileged("batch_reads") {
        return;
    }
    let mut fw = Firewall::new(LoadOptions {
        max_sessions: 1 << 14,
    })
    .expect("load");
    fw.set_trace(true).expect("test mode");
    let compiled = compile_with_previous(&Config::from_toml_str(CONFIG).unwrap(), None).unwrap();
    fw.apply_compiled(Arc::new(compiled), 1).expect("apply");
    assert!(
        fw.forward_sessions().expect("read").is_empty(),
        "empty table"
    );
    // 10,000 flows: 20,000 entries, several 4,096-entry batches.
    let flows = 10_000u16;
    for i in 0..flows {
        let (v, _) = fw
            .run_frame(InterfaceId(2), &frame(1024 + i), 1_000)
            .expect("run");
        assert!(matches!(v, FrameVerdict::Forward(_)), "flow {i}: {v:?}");
    }
    let read = fw.forward_sessions().expect("batched read");
    assert_eq!(read.len(), usize::from(flows), "one forward entry per flow");
    let ports: BTreeSet<u16> = read.iter().map(|(k, _)| k.sport).collect();
    assert_eq!(ports, (1024..1024 + flows).collect(), "each flow once");
    assert!(
        read.iter()
            .all(|(_, v)| v.s.is_reverse == 0 && v.s.fwd_packets == 1),
        "forward entries with their counters"
    );
    assert_eq!(fw.live_sessions().expect("count"), u64::from(flows));
}
