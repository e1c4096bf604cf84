//! [`Telemetry`]: events, counters, NAT pool usage, flood state and table
//! occupancy, plus the types only telemetry reports.
//!
//! Counter ids are the ones the [`ApplyResult`](crate::apply::ApplyResult)
//! of the generation in force hands out; reading an id that generation does
//! not know returns [`DataplaneError::NotFound`](crate::DataplaneError::NotFound).
//! A counter the backend cannot keep returns
//! [`DataplaneError::Unsupported`](crate::DataplaneError::Unsupported), never
//! a silent zero.

use crate::error::Result;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::fmt;
use xpf_runtime::{
    CounterValue, Event, FilterTermId, FloodCounters, GlobalCounter, InterfaceCounters,
    InterfaceId, NatPoolId, NatRuleId, PolicyRuleId, TableStats, ZoneId,
};

/// A subscription to the backend's events.
///
/// Each subscription has its own bounded queue. A subscriber that falls
/// behind loses events (counted by [`dropped`](Self::dropped)); it never
/// slows the packet path or other subscribers.
#[async_trait]
pub trait EventStream: Send {
    /// Waits for the next event. `None` once the backend has been torn down
    /// and every queued event has been returned.
    async fn next(&mut self) -> Option<Event>;

    /// The next queued event, without waiting.
    fn try_next(&mut self) -> Option<Event>;

    /// Events this subscription lost to queue overflow since it was created.
    fn dropped(&self) -> u64;
}

/// Per-zone traffic counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ZoneCounters {
    /// Traffic that arrived on the zone's interfaces.
    pub ingress: CounterValue,
    /// Traffic that left through the zone's interfaces.
    pub egress: CounterValue,
    /// Packets that arrived in the zone and were dropped (any reason).
    pub drops: u64,
}

impl ZoneCounters {
    /// Adds another copy (per-CPU / per-worker sum).
    pub fn merge(&mut self, other: &ZoneCounters) {
        self.ingress.merge(other.ingress);
        self.egress.merge(other.egress);
        self.drops = self.drops.wrapping_add(other.drops);
    }
}

/// How much of a NAT pool is in use.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct NatPoolUsage {
    /// Pool addresses with at least one mapping.
    pub addresses_in_use: u64,
    /// Addresses in the pool.
    pub addresses_total: u64,
    /// Address/port pairs allocated (for pools without port translation:
    /// equal to `addresses_in_use`).
    pub ports_in_use: u64,
    /// Address/port pairs the pool can allocate.
    pub ports_total: u64,
}

/// A bounded backend table whose occupancy [`Telemetry::table_stats`] reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum TableKind {
    /// Session entries (forward and reverse).
    Sessions,
    /// NAT mappings (source port allocations, destination NAT reverse entries).
    NatMappings,
    /// The event queue.
    Events,
    /// The session delta queue HA sync drains.
    SessionDeltas,
    /// Fragment tracking (flows of in-flight fragmented packets).
    Fragments,
    /// Routes.
    Routes,
    /// Neighbours (next-hop MAC addresses).
    Neighbours,
    /// Per-source / per-destination session limit trackers.
    SessionLimits,
}

impl TableKind {
    /// Kebab-case name.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Sessions => "sessions",
            Self::NatMappings => "nat-mappings",
            Self::Events => "events",
            Self::SessionDeltas => "session-deltas",
            Self::Fragments => "fragments",
            Self::Routes => "routes",
            Self::Neighbours => "neighbours",
            Self::SessionLimits => "session-limits",
        }
    }
}

impl fmt::Display for TableKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Events and counters of a running backend.
///
/// Counters are cumulative since the backend started (they survive config
/// applies for objects whose ids are stable) and are summed over CPUs /
/// workers before they are returned.
#[async_trait]
pub trait Telemetry: Send + Sync {
    /// A new event subscription that receives events recorded after this
    /// call. [`DataplaneError::Unsupported`](crate::DataplaneError::Unsupported)
    /// when the backend has no event stream.
    fn events(&self) -> Result<Box<dyn EventStream>>;

    /// One global counter.
    async fn global_counter(&self, counter: GlobalCounter) -> Result<u64>;

    /// Every global counter, in [`GlobalCounter::all`] order.
    async fn global_counters(&self) -> Result<Vec<(GlobalCounter, u64)>>;

    /// Counters of a managed interface.
    async fn interface_counters(&self, interface: InterfaceId) -> Result<InterfaceCounters>;

    /// Counters of a zone.
    async fn zone_counters(&self, zone: ZoneId) -> Result<ZoneCounters>;

    /// Traffic a policy rule permitted (rules with `count`; others may read 0).
    async fn policy_counters(&self, rule: PolicyRuleId) -> Result<CounterValue>;

    /// Packets a filter term matched.
    async fn filter_term_counters(&self, term: FilterTermId) -> Result<CounterValue>;

    /// Packets a NAT rule translated.
    async fn nat_rule_counters(&self, rule: NatRuleId) -> Result<CounterValue>;

    /// How much of a NAT pool is allocated.
    async fn nat_pool_ports(&self, pool: NatPoolId) -> Result<NatPoolUsage>;

    /// The flood screens' state in a zone (empty when none is configured).
    async fn flood_counters(&self, zone: ZoneId) -> Result<FloodCounters>;

    /// Occupancy of every bounded table the backend has.
    async fn table_stats(&self) -> Result<Vec<(TableKind, TableStats)>>;
}
