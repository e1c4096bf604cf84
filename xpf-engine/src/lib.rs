//! The portable software packet pipeline: parse → screen → filter →
//! session → policy → NAT → forward, in pure Rust with no I/O and no
//! threads. The userspace and DPDK backends run it on their ports; tests
//! run it in memory. It lowers the compiled form of `xpf-dataplane` and
//! never reads the raw config.
//!
//! Work in progress (issue 3): the building blocks land first.
//!
//! - [`wire`]: typed zero-copy views over frames and the frame parser.
//! - [`checksum`]: full and incremental (RFC 1624) Internet checksums.
//! - [`session`]: the session table, timer wheel and TCP tracking.
//! - [`nat`]: deterministic NAT address/port allocation.
//! - [`lookup`]: longest-prefix-match tables.

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
