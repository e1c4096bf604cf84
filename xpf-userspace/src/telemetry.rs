//! [`UserspaceTelemetry`]: the [`Telemetry`] domain — counters summed over
//! the shards, the event stream, NAT pool usage, flood state and table
//! occupancy.

use crate::dataplane::{Inner, Installed, Shard, lock};
use async_trait::async_trait;
use std::sync::Arc;
use xpf_dataplane::traits::{EventStream, NatPoolUsage, TableKind, Telemetry, ZoneCounters};
use xpf_dataplane::{DataplaneError, Result};
use xpf_runtime::{
    CounterValue, FloodCounters, GlobalCounter, InterfaceCounters, InterfaceId, NatPoolId,
    NatRuleId, PolicyRuleId, TableStats, ZoneId,
};

/// The backend's [`Telemetry`].
pub struct UserspaceTelemetry {
    pub(crate) inner: Arc<Inner>,
}

fn not_found(what: String) -> DataplaneError {
    DataplaneError::NotFound(format!("{what} in the config in force"))
}

impl UserspaceTelemetry {
    fn installed(&self) -> Result<Arc<Installed>> {
        self.inner
            .installed()
            .ok_or_else(|| DataplaneError::NotFound("no config applied".into()))
    }

    /// Folds `f` over every shard.
    fn fold<T>(&self, init: T, mut f: impl FnMut(T, &Shard) -> T) -> T {
        let mut acc = init;
        if let Some(set) = self.inner.shard_set() {
            for slot in &set.slots {
                acc = f(acc, &lock(&slot.shard));
            }
        }
        acc
    }

    /// Every global counter summed over the shards, in
    /// [`GlobalCounter::all`] order (synchronous form).
    pub fn global_counters_now(&self) -> Vec<(GlobalCounter, u64)> {
        let mut sums: Vec<(GlobalCounter, u64)> = GlobalCounter::all().map(|c| (c, 0)).collect();
        self.fold((), |(), s| {
            for (i, (_, v)) in s
                .engine
                .telemetry()
                .counters
                .global()
                .into_iter()
                .enumerate()
            {
                sums[i].1 += v;
            }
        });
        sums
    }
}

#[async_trait]
impl Telemetry for UserspaceTelemetry {
    fn events(&self) -> Result<Box<dyn EventStream>> {
        Ok(Box::new(self.inner.events.subscribe()))
    }

    async fn global_counter(&self, counter: GlobalCounter) -> Result<u64> {
        Ok(self.fold(0, |a, s| a + s.engine.telemetry().counters.get(counter)))
    }

    async fn global_counters(&self) -> Result<Vec<(GlobalCounter, u64)>> {
        Ok(self.global_counters_now())
    }

    async fn interface_counters(&self, interface: InterfaceId) -> Result<InterfaceCounters> {
        let installed = self.installed()?;
        if installed.name_of(interface).is_none() {
            return Err(not_found(format!("interface {interface}")));
        }
        Ok(self.fold(InterfaceCounters::default(), |mut a, s| {
            if let Some(c) = s
                .engine
                .telemetry()
                .counters
                .interfaces
                .get(interface.index())
            {
                a.merge(c);
            }
            a
        }))
    }

    async fn zone_counters(&self, zone: ZoneId) -> Result<ZoneCounters> {
        let installed = self.installed()?;
        if !installed.compiled.zones.iter().any(|z| z.id == zone) {
            return Err(not_found(format!("zone {zone}")));
        }
        Ok(self.fold(ZoneCounters::default(), |mut a, s| {
            if let Some(z) = s.engine.telemetry().counters.zones.get(zone.index()) {
                a.merge(&ZoneCounters {
                    ingress: z.ingress,
                    egress: z.egress,
                    drops: z.dropped,
                });
            }
            a
        }))
    }

    async fn policy_counters(&self, rule: PolicyRuleId) -> Result<CounterValue> {
        let installed = self.installed()?;
        if !installed
            .compiled
            .policies
            .rules
            .iter()
            .any(|r| r.id == rule)
        {
            return Err(not_found(format!("policy rule {rule}")));
        }
        Ok(self.fold(CounterValue::default(), |mut a, s| {
            if let Some(c) = s.engine.telemetry().counters.policies.get(rule.index()) {
                a.merge(*c);
            }
            a
        }))
    }

    async fn filter_term_counters(&self, term: xpf_runtime::FilterTermId) -> Result<CounterValue> {
        let installed = self.installed()?;
        if !installed
            .compiled
            .filters
            .terms
            .iter()
            .any(|t| t.id == term)
        {
            return Err(not_found(format!("filter term {term}")));
        }
        Ok(self.fold(CounterValue::default(), |mut a, s| {
            if let Some(c) = s.engine.filters().term_counter(term) {
                a.merge(c);
            }
            a
        }))
    }

    async fn nat_rule_counters(&self, rule: NatRuleId) -> Result<CounterValue> {
        let installed = self.installed()?;
        let nat = &installed.compiled.nat;
        let known = nat.source_rules.iter().any(|r| r.id == rule)
            || nat.destination_rules.iter().any(|r| r.id == rule)
            || nat.static_rules.iter().any(|r| r.id == rule);
        if !known {
            return Err(not_found(format!("NAT rule {rule}")));
        }
        Ok(self.fold(CounterValue::default(), |mut a, s| {
            if let Some(c) = s.engine.telemetry().counters.nat_rules.get(rule.index()) {
                a.merge(*c);
            }
            a
        }))
    }

    async fn nat_pool_ports(&self, pool: NatPoolId) -> Result<NatPoolUsage> {
        let installed = self.installed()?;
        let Some(p) = installed
            .compiled
            .nat
            .source_pools
            .iter()
            .find(|p| p.id == pool)
        else {
            return Err(not_found(format!("source NAT pool {pool}")));
        };
        let addresses_total = u64::try_from(p.address_count).unwrap_or(u64::MAX);
        let ports = u64::from(p.port_range.high - p.port_range.low) + 1;
        let overload = p.port_overload == xpf_dataplane::config::PortOverload::On;
        let (addresses_in_use, ports_in_use) = self.fold((0u64, 0u64), |(a, b), s| {
            match s.engine.source_nat().pool(pool) {
                Some(sp) => (a.max(sp.addresses_in_use()), b + sp.ports_in_use()),
                None => (a, b),
            }
        });
        Ok(NatPoolUsage {
            addresses_in_use,
            addresses_total,
            ports_in_use: if overload {
                ports_in_use
            } else {
                addresses_in_use
            },
            ports_total: if overload {
                addresses_total.saturating_mul(ports)
            } else {
                addresses_total
            },
        })
    }

    async fn flood_counters(&self, zone: ZoneId) -> Result<FloodCounters> {
        let installed = self.installed()?;
        if !installed.compiled.zones.iter().any(|z| z.id == zone) {
            return Err(not_found(format!("zone {zone}")));
        }
        // Configs with flood screens run on one shard (see crate::plan).
        Ok(self.fold(FloodCounters::default(), |mut a, s| {
            if let Some(f) = s.engine.floods(zone) {
                a.kinds.extend(f.counters().kinds);
            }
            a
        }))
    }

    async fn table_stats(&self) -> Result<Vec<(TableKind, TableStats)>> {
        let (sessions, capacity, nat) = self.fold((0u64, 0u64, 0u64), |(a, b, n), s| {
            let t = s.engine.sessions();
            let pools = s
                .engine
                .tables()
                .compiled
                .nat
                .source_pools
                .iter()
                .filter_map(|p| s.engine.source_nat().pool(p.id))
                .map(|p| p.ports_in_use())
                .sum::<u64>();
            (a + t.len() as u64, b + t.capacity() as u64, n + pools)
        });
        let orphans = self.inner.orphans_len() as u64;
        let (subs, queued) = self.inner.events.occupancy();
        let (deltas, delta_cap) = self.inner.deltas.occupancy();
        let installed = self.inner.installed();
        let routes = installed
            .as_ref()
            .map_or(0, |i| i.compiled.forwarding.routes.len() as u64);
        let neighbours = installed
            .as_ref()
            .map_or(0, |i| i.compiled.forwarding.neighbours.len() as u64);
        Ok(vec![
            (
                TableKind::Sessions,
                TableStats {
                    occupancy: 2 * sessions + orphans,
                    capacity: 2 * capacity,
                },
            ),
            (
                TableKind::NatMappings,
                TableStats {
                    occupancy: nat,
                    capacity: 0,
                },
            ),
            (
                TableKind::Events,
                TableStats {
                    occupancy: queued,
                    capacity: (subs * self.inner.events.capacity()) as u64,
                },
            ),
            (
                TableKind::SessionDeltas,
                TableStats {
                    occupancy: deltas as u64,
                    capacity: delta_cap as u64,
                },
            ),
            (
                TableKind::Routes,
                TableStats {
                    occupancy: routes,
                    capacity: routes,
                },
            ),
            (
                TableKind::Neighbours,
                TableStats {
                    occupancy: neighbours,
                    capacity: neighbours,
                },
            ),
        ])
    }
}

/// Every counter the shards keep, summed, indexed by id (index = raw id),
/// including ids the config in force no longer has (their counters survive
/// until the id is reused).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CounterTables {
    /// Global counters in [`GlobalCounter::all`] order.
    pub global: Vec<(GlobalCounter, u64)>,
    /// Per interface id.
    pub interfaces: Vec<InterfaceCounters>,
    /// Per zone id.
    pub zones: Vec<ZoneCounters>,
    /// Per policy rule id.
    pub policies: Vec<CounterValue>,
    /// Per NAT rule id.
    pub nat_rules: Vec<CounterValue>,
}

fn add_at<T: Default + Clone>(v: &mut Vec<T>, i: usize, f: impl FnOnce(&mut T)) {
    if v.len() <= i {
        v.resize(i + 1, T::default());
    }
    f(&mut v[i]);
}

impl UserspaceTelemetry {
    /// Every counter, summed over the shards.
    pub fn tables(&self) -> CounterTables {
        let mut t = CounterTables {
            global: self.global_counters_now(),
            ..CounterTables::default()
        };
        self.fold((), |(), s| {
            let c = &s.engine.telemetry().counters;
            for (i, v) in c.interfaces.iter().enumerate() {
                add_at(&mut t.interfaces, i, |a| a.merge(v));
            }
            for (i, z) in c.zones.iter().enumerate() {
                add_at(&mut t.zones, i, |a| {
                    a.merge(&ZoneCounters {
                        ingress: z.ingress,
                        egress: z.egress,
                        drops: z.dropped,
                    })
                });
            }
            for (i, v) in c.policies.iter().enumerate() {
                add_at(&mut t.policies, i, |a| a.merge(*v));
            }
            for (i, v) in c.nat_rules.iter().enumerate() {
                add_at(&mut t.nat_rules, i, |a| a.merge(*v));
            }
        });
        t
    }
}
