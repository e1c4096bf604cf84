//! The portable software packet pipeline: parse → screen → filter →
//! session → policy → NAT → forward, in pure Rust with no I/O and no
//! threads. The userspace and DPDK backends run it on their ports; tests
//! run it in memory. It lowers the compiled form of `xpf-dataplane` and
//! never reads the raw config.
//!
//! [`engine::Engine`] is the entry point: `process(now, ingress, frame)`
//! runs one frame through the whole pipeline; `apply` swaps in a new config
//! generation atomically and rematches live sessions. The modules it is
//! built from, each owning one stage:
//!
//! - [`wire`]: typed zero-copy views, `parse_frame`, rewrites, builders.
//! - [`checksum`]: full and incremental (RFC 1624) Internet checksums.
//! - [`filter`], [`meter`]: firewall filters, token buckets, policers.
//! - [`screen`], [`fragments`]: screens and fragment tracking.
//! - [`session`]: the session table, timer wheel and TCP tracking.
//! - [`policy`], [`host_inbound`]: security policy and host-inbound rules.
//! - [`nat_rules`], [`nat`]: NAT rule selection and deterministic allocation.
//! - [`lookup`]: longest-prefix-match tables.
//! - [`tables`]: the lowered config of one generation.
//! - [`telemetry`]: counters and the bounded event / delta queues.

#![forbid(unsafe_code)]

pub mod checksum;
pub mod engine;
pub mod filter;
pub mod fragments;
pub mod host_inbound;
pub mod lookup;
pub mod meter;
pub mod nat;
pub mod nat_rules;
pub mod policy;
pub mod screen;
pub mod session;
pub mod tables;
pub mod telemetry;
pub mod wire;
