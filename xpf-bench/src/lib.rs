//! xpf-bench: the netns macro-benchmark (issue 6). It puts each firewall
//! configuration — plain kernel forwarding, nftables with conntrack, nftables
//! with masquerade, and the xpf backends that forward on real interfaces
//! (the eBPF backend and the userspace backend on AF_XDP, each with and
//! without SNAT) — between a client and a server namespace, drives 60-byte UDP
//! frames over ≥ 10,000 flows from an XDP program run with `BPF_PROG_RUN`
//! in live-frames mode, and reports the firewall's CPU nanoseconds per
//! forwarded packet (from schedstat), as JSON lines, a Markdown table and a
//! PNG chart. See `run_netns` for the whole procedure.

pub mod backend;
pub mod bpf;
pub mod chart;
pub mod cleanup;
pub mod cli;
pub mod counters;
pub mod ebpf;
pub mod error;
pub mod measure;
pub mod report;
pub mod run;
pub mod sys;
pub mod topology;
pub mod userspace;

pub use error::{BenchError, Result};
pub use run::run_netns;
