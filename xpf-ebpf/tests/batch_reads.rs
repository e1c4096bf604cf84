//! Reading the session table in batches (`BPF_MAP_LOOKUP_BATCH`, the
//! crate's `batch` module): every session the program made is read once,
//! across many batches, as the GC and the session store see them. Runs the
//! real program with `BPF_PROG_TEST_RUN`; needs root (or the README's
//! opt-out).

mod support;

use std::collections::BTreeSet;
use support::{TRUST, firewall_with, flow_frame, privileged, two_zones};
use xpf_ebpf::FrameVerdict;

#[test]
fn every_session_is_read_exactly_once_across_many_batches() {
    if !privileged("batch_reads") {
        return;
    }
    let mut fw = firewall_with(1 << 14, &two_zones(""));
    assert!(
        fw.forward_sessions().expect("read").is_empty(),
        "empty table"
    );
    // 10,000 flows: 20,000 entries, several 4,096-entry batches.
    let flows = 10_000u16;
    for i in 0..flows {
        let (v, _) = fw
            .run_frame(TRUST, &flow_frame(u32::from(i)), 1_000)
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
