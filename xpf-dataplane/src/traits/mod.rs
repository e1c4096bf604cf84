//! The backend-neutral traits every dataplane backend implements.
//!
//! A backend (eBPF/XDP, userspace AF_XDP, DPDK) is one
//! [`RuntimeDataPlane`]: a [`ConfigSink`] that also starts, stops and tears
//! down, and hands out its controllers:
//!
//! | trait | what it covers |
//! |---|---|
//! | [`ConfigSink`] | atomic config apply, the last [`ApplyResult`](crate::apply::ApplyResult), capabilities |
//! | [`SessionStore`] | reading and deleting sessions, cluster sync and reconcile |
//! | [`Telemetry`] | events, counters, NAT pool usage, flood state, table occupancy |
//! | [`LinkController`] | attaching interfaces and their link state |
//! | [`HAController`] | redundancy-group roles, the watchdog, fabric forwarding |
//!
//! Every trait is dyn-compatible and `Send + Sync`; async methods use
//! [`async_trait`] and return `Send` futures, so they can be called through
//! `Arc<dyn ...>` from any executor. No trait depends on a particular async
//! runtime.
//!
//! Operations that take a [`Cancel`](crate::cancel::Cancel) follow the
//! commit-point contract described in [`crate::cancel`].

mod config;
mod ha;
mod link;
mod sessions;
mod telemetry;

pub use config::{ConfigSink, RuntimeDataPlane};
pub use ha::{
    FabricBackend, FabricForwarding, FabricId, HAController, set_fabric_forwarding_then_sync,
};
pub use link::{LinkController, LinkState, LinkStatus};
pub use sessions::SessionStore;
pub use telemetry::{EventStream, NatPoolUsage, TableKind, Telemetry, ZoneCounters};
