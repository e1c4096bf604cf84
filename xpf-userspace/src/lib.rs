//! Userspace backend: `xpf-engine` shards behind worker threads and ports.
//!
//! [`UserspaceDataplane`] implements
//! [`RuntimeDataPlane`](xpf_dataplane::RuntimeDataPlane) and every domain
//! trait on top of [`xpf_engine::engine::Engine`]:
//!
//! | domain | module |
//! |---|---|
//! | `ConfigSink` (atomic apply, generations) | [`dataplane`] |
//! | `SessionStore`, `SessionDeltaSource` | [`sessions`] (generic semantics of `xpf_dataplane::session_store`) |
//! | `Telemetry` (counters summed over shards, event stream) | [`telemetry`], [`events`] |
//! | `HAController` (roles, watchdog, fabric) | [`ha`] |
//! | `LinkController` (ports, link state) | [`link`], [`port`] |
//!
//! # Shards, workers and NAT (design decision)
//!
//! A config runs on `n` **shards**, each a complete engine with its own
//! session table; worker thread `w` owns shard `w`. Every frame is
//! **steered** to the shard holding (or about to hold) its session
//! ([`steer`]):
//!
//! - a **symmetric hash** of the tuple (endpoints ordered before hashing)
//!   sends both directions of an untranslated flow to the same shard with no
//!   shared state;
//! - NAT breaks that: after SNAT/DNAT the reply tuple is not the mirror of
//!   the original, so its hash points elsewhere. Sessions whose two keys do
//!   not hash to their shard are registered under both keys in a shared
//!   **steering table** (from the engine's session-open deltas, before the
//!   opening frame is transmitted, so no reply can overtake it) and removed
//!   when they close (close deltas). Lookups cost one read-locked hash probe
//!   per frame; writes happen per NAT session, not per packet;
//! - NAT **allocations** must not collide between shards: each shard
//!   allocates from its own slice of every port-overloading pool's port
//!   range ([`plan`]), so two shards never hand out the same address/port;
//! - ICMP errors are steered by the tuple they quote; non-first fragments
//!   follow their first fragment.
//!
//! State that spans flows and cannot be split by port slices (interface
//! source NAT, address-only and persistent pools, flood screens, session
//! limits, policers) makes the config run on **one shard**
//! ([`ShardPlan::single_shard_reason`](plan::ShardPlan::single_shard_reason)
//! says why); workers beyond the shard count only receive and hand off.
//! The alternatives we rejected: one shared engine behind a lock (no
//! parallelism at all), and constraining the NAT port choice so that the
//! reply hashes back (it needs the allocator to search for a port per
//! shard inside the engine, and still does nothing for DNAT).
//!
//! Frames read by a worker that does not own their shard go through the
//! owner's FIFO hand-off queue, so a flow's frames stay in order.
//!
//! # Inline (deterministic) mode
//!
//! With [`RunMode::Inline`] no thread runs: the caller injects a frame on an
//! interface at a time ([`UserspaceDataplane::inject`]) and gets the verdict
//! and every frame sent because of it; [`UserspaceDataplane::advance`]
//! moves the clock and runs expiry and the HA watchdog. It runs the same
//! steering, shard processing, draining and session-store code as the
//! workers; the conformance harness (`tests/conformance.rs`, running the
//! whole `xpf-conformance` suite) and the replay tool (`examples/xpf-replay`)
//! use it.
//!
//! # Session store on an engine's pair records
//!
//! The engine stores a session as one record under two keys; the
//! `SessionStore` semantics are per entry. [`sessions`] maps one onto the
//! other (orphaned halves kept in a side table, NAT state counted as part of
//! the record) so every store operation comes from the generic functions of
//! `xpf_dataplane::session_store`.
//!
//! # Ports
//!
//! [`port::Port`] is a receive burst / transmit burst over queues;
//! [`port::MemoryPort`] is the in-memory implementation and
//! [`port_xsk::XskPortFactory`] opens real interfaces as AF_XDP sockets in
//! copy mode (through `xpf-xsk`, the crate that holds the FFI; this crate
//! stays free of `unsafe`). AF_PACKET ports are a future
//! [`port::PortFactory`]; nothing else changes for them.

#![forbid(unsafe_code)]

pub mod craft;
pub mod dataplane;
/// The event hub and delta log (shared with the other backends).
pub use xpf_dataplane::event_hub as events;
pub mod ha;
pub mod link;
pub mod plan;
pub mod port;
pub mod port_xsk;
pub mod sessions;
pub mod steer;
pub mod telemetry;
mod worker;

pub use dataplane::{
    BackendCounters, Injected, Origin, OutFrame, RunMode, UserspaceDataplane, UserspaceOptions,
    capabilities,
};
pub use port::{MemoryPort, MemoryPortFactory, MemoryPortHandle, Port, PortError, PortFactory};
pub use port_xsk::{XskPort, XskPortFactory, XskPortOptions};
