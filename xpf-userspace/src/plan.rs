//! The shard plan: how many engine shards a config runs on, and the config
//! each shard's engine is given.
//!
//! Every shard is a complete engine with its own session table, NAT
//! allocators, screens and policers. That is exact for everything that is
//! per session; state that is shared between sessions needs care:
//!
//! - **Source NAT pools with port overloading** are split: shard `i` of `n`
//!   allocates from the `i`-th of `n` equal slices of the pool's port range
//!   (same addresses, same algorithm). Two shards can therefore never hand
//!   out the same address/port, and a translated reply is steered back by
//!   the steering table ([`crate::steer`]).
//! - **Interface source NAT, address-only pools, persistent and
//!   address-persistent pools, flood screens, session limits and policers**
//!   keep state across flows that a port slice cannot split (the interface
//!   allocator's range is fixed inside the engine; persistence and limits
//!   are per host; floods and policers are rates). A config using any of
//!   them runs on **one shard**, whatever the number of workers requested;
//!   [`ShardPlan::single_shard_reason`] says why. Lifting this needs an
//!   engine hook that partitions the interface allocator and shares rate
//!   state.
//! - **Session capacity** is divided between the shards (rounded up), so the
//!   total is what the config asked for.
//!
//! The shard count is fixed when the backend applies its first config (live
//! sessions cannot move between shards); a later config that needs fewer
//! shards than are running is refused with `Unsupported`, atomically.
//!
//! Link state also lowers into the shard configs: routes through an
//! interface that is administratively down are removed, so lookups fall
//! back to the next best route (or `no-route`).

use std::collections::BTreeSet;
use xpf_dataplane::apply::Capability;
use xpf_dataplane::compile::{CompiledConfig, CompiledSourcePool, RouteTarget};
use xpf_dataplane::config::{PortOverload, PortRange};
use xpf_runtime::InterfaceId;

/// Capabilities whose state spans flows, forcing a single shard.
const SINGLE_SHARD: &[(Capability, &str)] = &[
    (
        Capability::SourceNatInterface,
        "interface source NAT allocates from one engine-internal port range",
    ),
    (
        Capability::SourceNatAddressOnly,
        "address-only pools map hosts to addresses across flows",
    ),
    (
        Capability::PersistentNat,
        "persistent NAT keeps one mapping per host across flows",
    ),
    (
        Capability::AddressPersistentNat,
        "address-persistent pools keep one address per host across flows",
    ),
    (
        Capability::FloodScreens,
        "flood screens count rates over every flow of a zone",
    ),
    (
        Capability::SessionLimits,
        "session limits count sessions per address over every flow",
    ),
    (
        Capability::Policers,
        "policers meter rates over every flow of a term",
    ),
];

/// How a config is spread over shards.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShardPlan {
    shards: usize,
    single_shard_reason: Option<String>,
}

impl ShardPlan {
    /// The plan for `compiled` with at most `requested` shards.
    pub fn for_config(compiled: &CompiledConfig, requested: usize) -> Self {
        let requested = requested.max(1);
        if requested == 1 {
            return Self {
                shards: 1,
                single_shard_reason: None,
            };
        }
        let caps = compiled.required_capabilities();
        let mut reasons: Vec<String> = SINGLE_SHARD
            .iter()
            .filter(|(c, _)| caps.contains(c))
            .map(|(c, why)| format!("{}: {why}", c.name()))
            .collect();
        for p in &compiled.nat.source_pools {
            let ports = usize::from(p.port_range.high.saturating_sub(p.port_range.low)) + 1;
            if p.port_overload == PortOverload::On && ports < requested {
                reasons.push(format!(
                    "source pool {}: {ports} ports cannot be split into {requested} slices",
                    p.name
                ));
            }
        }
        if reasons.is_empty() {
            Self {
                shards: requested,
                single_shard_reason: None,
            }
        } else {
            Self {
                shards: 1,
                single_shard_reason: Some(reasons.join("; ")),
            }
        }
    }

    /// A plan with exactly `shards` shards (used when the count is already
    /// fixed by a running backend and the config allows it).
    pub fn fixed(shards: usize) -> Self {
        Self {
            shards: shards.max(1),
            single_shard_reason: None,
        }
    }

    /// Number of shards.
    pub fn shards(&self) -> usize {
        self.shards
    }

    /// Why the config runs on one shard despite more workers, if it does.
    pub fn single_shard_reason(&self) -> Option<&str> {
        self.single_shard_reason.as_deref()
    }

    /// The port slice of `range` that shard `shard` allocates from.
    pub fn port_slice(&self, range: PortRange, shard: usize) -> PortRange {
        if self.shards == 1 {
            return range;
        }
        let total = u32::from(range.high) - u32::from(range.low) + 1;
        let n = self.shards as u32;
        let i = shard as u32;
        let lo = u32::from(range.low) + i * total / n;
        let hi = u32::from(range.low) + (i + 1) * total / n - 1;
        PortRange::new(lo as u16, hi as u16)
    }

    /// The shard whose slice of `pool` holds `port` (0 for pools that are
    /// not split).
    pub fn shard_of_pool_port(&self, pool: &CompiledSourcePool, port: u16) -> usize {
        if self.shards == 1 || pool.port_overload == PortOverload::Off {
            return 0;
        }
        (0..self.shards)
            .find(|s| {
                let r = self.port_slice(pool.port_range, *s);
                (r.low..=r.high).contains(&port)
            })
            .unwrap_or(0)
    }

    /// The config shard `shard` runs: `compiled` with its pools' port ranges
    /// sliced, its session capacity divided, and routes through the
    /// interfaces in `down` removed.
    pub fn lower(
        &self,
        compiled: &CompiledConfig,
        shard: usize,
        down: &BTreeSet<InterfaceId>,
    ) -> CompiledConfig {
        let mut c = compiled.clone();
        if self.shards > 1 {
            let n = self.shards as u32;
            c.flow.session_capacity = c.flow.session_capacity.div_ceil(n).max(1);
            for p in &mut c.nat.source_pools {
                if p.port_overload == PortOverload::On {
                    p.port_range = self.port_slice(p.port_range, shard);
                }
            }
        }
        if !down.is_empty() {
            c.forwarding.routes.retain(|r| match r.target {
                RouteTarget::NextHop { interface, .. } | RouteTarget::Connected { interface } => {
                    !down.contains(&interface)
                }
                RouteTarget::Discard => true,
            });
        }
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_slices_partition_the_range() {
        let plan = ShardPlan::fixed(3);
        let range = PortRange::new(1024, 65535);
        let slices: Vec<_> = (0..3).map(|s| plan.port_slice(range, s)).collect();
        assert_eq!(slices[0].low, 1024);
        assert_eq!(slices[2].high, 65535);
        for w in slices.windows(2) {
            assert_eq!(u32::from(w[0].high) + 1, u32::from(w[1].low));
        }
    }
}
