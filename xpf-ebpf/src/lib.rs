//! eBPF/XDP backend: the stateful firewall packet path as an XDP program in
//! C (`bpf/xpf.bpf.c`, compiled by clang in `build.rs`), loaded with aya; the
//! compiled configuration lowered into BPF maps, double-buffered by a
//! generation slot so a packet never sees half a configuration.
//!
//! Modules: [`abi`] (the structures shared with the program, with layout
//! assertions), [`lower`] (compiled form -> map contents, capabilities),
//! [`program`] (loading, map handles, attach, `BPF_PROG_TEST_RUN`),
//! [`firewall`] (apply, links, sessions, expiry, counters, events and
//! deltas), [`dataplane`] (the backend-neutral traits over it, the session
//! GC and the event stream).
//!
//! `unsafe` is denied crate-wide; only [`abi`] allows it, to implement
//! `aya::Pod` for the shared types (ARCHITECTURE.md, section 2).
//!
//! Loading needs root. Tests that load the program fail with a clear message
//! without it unless `XPF_ALLOW_SKIP_PRIVILEGED=1` is set.

pub mod abi;
mod batch;
pub mod dataplane;
pub mod firewall;
pub mod lower;
pub mod program;

pub use dataplane::{BackendCounters, DataPlaneOptions, EbpfDataPlane, SweepReport};
pub use firewall::{CounterSet, Firewall, FrameRun, FrameVerdict, LinkInfo};
pub use program::{Error, LoadOptions, is_root};

/// For tests that need root: `Ok(())` as root; without root an error naming
/// the opt-out, or `Err` with `skip = true` when `XPF_ALLOW_SKIP_PRIVILEGED=1`.
pub fn require_root(what: &str) -> Result<(), (bool, String)> {
    if is_root() {
        return Ok(());
    }
    let skip = std::env::var("XPF_ALLOW_SKIP_PRIVILEGED").is_ok_and(|v| v == "1");
    Err((
        skip,
        format!(
            "{what} loads BPF programs and needs root; run as root or set \
             XPF_ALLOW_SKIP_PRIVILEGED=1 to skip it"
        ),
    ))
}
