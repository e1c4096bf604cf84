//! The XDP program loads and passes the verifier on this kernel, and the
//! pass-through baseline program runs. Needs root (see the crate docs).

mod support;
use support::privileged;

use xpf_ebpf::{Firewall, FrameVerdict, LoadOptions};
use xpf_runtime::{DropReason, InterfaceId};

#[test]
fn the_xdp_program_passes_the_verifier_and_runs() {
    if !privileged("the_xdp_program_passes_the_verifier_and_runs") {
        return;
    }
    let mut fw = match Firewall::new(LoadOptions { max_sessions: 1024 }) {
        Ok(fw) => fw,
        Err(e) => panic!("loading failed: {e}: {e:?}"),
    };
    fw.set_trace(true).expect("globals");
    // No configuration yet: every frame is dropped as unknown-interface and counted.
    let frame = [0u8; 60];
    let (v, _) = fw.run_frame(InterfaceId(1), &frame, 1).expect("test run");
    assert_eq!(v, FrameVerdict::Drop(DropReason::UnknownInterface));
    let c = fw.counters().expect("counters");
    assert_eq!(c.global.get(&DropReason::UnknownInterface.into()), Some(&1));
    let r = fw
        .program()
        .test_run(xpf_ebpf::program::PASS_PROGRAM, &frame, 1)
        .expect("baseline run");
    assert_eq!(r.action, 2, "XDP_PASS");
}
