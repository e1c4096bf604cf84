//! Source-NAT pool exhaustion: once a scan of the whole pool found no free
//! port, further new flows are refused at once (the program's exhaustion
//! memo, `struct xpf_exhaust`) until a port is freed, and then allocate
//! again. Runs the real program with `BPF_PROG_TEST_RUN`; needs root (or
//! the README's opt-out).

mod support;

use support::{TRUST, firewall_with, flow_frame, privileged, two_zones};
use xpf_ebpf::{Firewall, FrameVerdict};
use xpf_runtime::DropReason;

/// Source NAT of the trust side to a pool of one address and eight ports.
const EIGHT_PORTS: &str = r#"
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
"#;

fn send(fw: &mut Firewall, i: u32, now: u64) -> FrameVerdict {
    fw.run_frame(TRUST, &flow_frame(i), now).expect("run").0
}

#[test]
fn a_full_pool_refuses_new_flows_until_a_port_is_freed_then_allocates_again() {
    if !privileged("nat_exhaustion") {
        return;
    }
    let mut fw = firewall_with(1 << 10, &two_zones(EIGHT_PORTS));
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
