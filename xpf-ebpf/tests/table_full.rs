//! A full session table of unanswered sessions: every new flow evicts the
//! oldest embryonic session (ARCHITECTURE §9's table-full rule), at a
//! table size where the eviction queue is large, as in the netns
//! benchmark's new-flows scenario. Runs the real program with
//! `BPF_PROG_TEST_RUN`; needs root (or the README's opt-out).

mod support;

use std::collections::BTreeSet;
use support::{TRUST, firewall_with, flow_frame, flow_source, privileged, two_zones};
use xpf_ebpf::FrameVerdict;

/// Sends three times the capacity in new one-way flows into a firewall
/// whose maps hold `max_sessions` and whose config says `configured`;
/// checks that every flow went through and the newest ones, as many as the
/// effective capacity, are the live ones.
fn fill_past_capacity(max_sessions: u32, configured: u32) {
    let flow = format!("\n[security.flow]\nsession-capacity = {configured}\n");
    let mut fw = firewall_with(max_sessions, &two_zones(&flow));
    // The maps' size less one session per CPU (the room an eviction takes).
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get()) as u32;
    let capacity = configured.min(max_sessions - cpus);
    assert_eq!(fw.capacity(), capacity);
    let flows = 3 * capacity;
    for i in 0..flows {
        let (v, _) = fw
            .run_frame(TRUST, &flow_frame(i), 1_000 + u64::from(i))
            .expect("run");
        assert!(matches!(v, FrameVerdict::Forward(_)), "flow {i}: {v:?}");
    }
    assert_eq!(fw.live_sessions().expect("count"), u64::from(capacity));
    let live: BTreeSet<([u8; 4], u16)> = fw
        .forward_sessions()
        .expect("read")
        .iter()
        .map(|(k, _)| ([k.src[0], k.src[1], k.src[2], k.src[3]], k.sport))
        .collect();
    let newest: BTreeSet<([u8; 4], u16)> = (flows - capacity..flows).map(flow_source).collect();
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
