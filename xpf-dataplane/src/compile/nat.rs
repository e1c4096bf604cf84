//! Source, destination and static NAT.
//!
//! Pools share one id space (`source/<name>`, `destination/<name>`), rules
//! another (`source/<rule-set>/<rule>`, ...). Rules keep config order: rule
//! sets in order, rules within a set in order; the first matching rule wins.
//! Pool addresses become sorted, merged inclusive ranges.

use super::addresses::range_to_nets;
use super::ids::IdRegistry;
use super::network::{interface_id, zone_id};
use super::{allocate, form::*, lookup};
use crate::config::{
    Config, DestinationNatAction, NatContext, NatMatch, PoolAddress, PortRange, SourceNatAction,
};
use crate::error::ConfigError;
use std::net::IpAddr;
use xpf_runtime::{AddressFamily, NatPoolId, NatRuleId};

/// Default source pool port range.
pub const DEFAULT_POOL_PORTS: PortRange = PortRange::new(1024, 65535);

/// Pools then rules.
pub(super) fn compile_nat(
    config: &Config,
    prev: Option<&IdRegistry>,
    out: &mut CompiledConfig,
) -> Result<(), ConfigError> {
    let nat = &config.security.nat;
    let pool_keys: Vec<String> = nat
        .source
        .pools
        .iter()
        .map(|p| format!("source/{}", p.name))
        .chain(
            nat.destination
                .pools
                .iter()
                .map(|p| format!("destination/{}", p.name)),
        )
        .collect();
    out.ids.nat_pools = allocate(
        "NAT pools",
        pool_keys.iter().map(String::as_str),
        prev.map(|p| &p.nat_pools),
        u32::from(u16::MAX),
    )?;
    let mut rule_keys = Vec::new();
    for rs in &nat.source.rule_sets {
        rule_keys.extend(
            rs.rules
                .iter()
                .map(|r| format!("source/{}/{}", rs.name, r.name)),
        );
    }
    for rs in &nat.destination.rule_sets {
        rule_keys.extend(
            rs.rules
                .iter()
                .map(|r| format!("destination/{}/{}", rs.name, r.name)),
        );
    }
    for rs in &nat.static_.rule_sets {
        rule_keys.extend(
            rs.rules
                .iter()
                .map(|r| format!("static/{}/{}", rs.name, r.name)),
        );
    }
    out.ids.nat_rules = allocate(
        "NAT rules",
        rule_keys.iter().map(String::as_str),
        prev.map(|p| &p.nat_rules),
        u32::MAX,
    )?;

    let pool_id = |out: &CompiledConfig, key: &str, path: &str| {
        lookup(&out.ids.nat_pools, key, path, "pool").map(|v| NatPoolId(v as u16))
    };
    let rule_id = |out: &CompiledConfig, key: &str, path: &str| {
        lookup(&out.ids.nat_rules, key, path, "NAT rule").map(NatRuleId)
    };

    for p in &nat.source.pools {
        let path = format!("security.nat.source.pools[{}]", p.name);
        let ranges = merge_ranges(p.addresses.iter().map(pool_range).collect());
        let family = match ranges.first() {
            Some((IpAddr::V6(_), _)) => AddressFamily::Inet6,
            _ => AddressFamily::Inet,
        };
        let address_count = ranges.iter().map(|(a, b)| range_len(*a, *b)).sum();
        out.nat.source_pools.push(CompiledSourcePool {
            id: pool_id(out, &format!("source/{}", p.name), &path)?,
            name: p.name.clone(),
            family,
            ranges,
            address_count,
            port_range: p.port_range.unwrap_or(DEFAULT_POOL_PORTS),
            port_overload: p.port_overload,
            persistent: p.persistent,
            address_persistent: p.address_persistent,
        });
    }
    out.nat.source_pools.sort_by_key(|p| p.id);
    for p in &nat.destination.pools {
        let path = format!("security.nat.destination.pools[{}]", p.name);
        out.nat.destination_pools.push(CompiledDestinationPool {
            id: pool_id(out, &format!("destination/{}", p.name), &path)?,
            name: p.name.clone(),
            address: p.address,
            port: p.port,
        });
    }
    out.nat.destination_pools.sort_by_key(|p| p.id);

    for rs in &nat.source.rule_sets {
        let base = format!("security.nat.source.rule-sets[{}]", rs.name);
        let from = context(out, &rs.from, &format!("{base}.from"))?;
        let to = context(out, &rs.to, &format!("{base}.to"))?;
        for r in &rs.rules {
            let path = format!("{base}.rules[{}]", r.name);
            let action = match &r.then {
                SourceNatAction::Interface => CompiledSourceAction::Interface,
                SourceNatAction::Off => CompiledSourceAction::Off,
                SourceNatAction::Pool(name) => CompiledSourceAction::Pool(pool_id(
                    out,
                    &format!("source/{name}"),
                    &format!("{path}.then.pool"),
                )?),
            };
            out.nat.source_rules.push(CompiledSourceRule {
                id: rule_id(out, &format!("source/{}/{}", rs.name, r.name), &path)?,
                name: format!("{}/{}", rs.name, r.name),
                from: from.clone(),
                to: to.clone(),
                matches: nat_match(&r.match_),
                action,
            });
        }
    }
    for rs in &nat.destination.rule_sets {
        let base = format!("security.nat.destination.rule-sets[{}]", rs.name);
        let from = context(out, &rs.from, &format!("{base}.from"))?;
        for r in &rs.rules {
            let path = format!("{base}.rules[{}]", r.name);
            let pool = match &r.then {
                DestinationNatAction::Off => None,
                DestinationNatAction::Pool(name) => Some(pool_id(
                    out,
                    &format!("destination/{name}"),
                    &format!("{path}.then.pool"),
                )?),
            };
            out.nat.destination_rules.push(CompiledDestinationRule {
                id: rule_id(out, &format!("destination/{}/{}", rs.name, r.name), &path)?,
                name: format!("{}/{}", rs.name, r.name),
                from: from.clone(),
                matches: nat_match(&r.match_),
                pool,
            });
        }
    }
    for rs in &nat.static_.rule_sets {
        let base = format!("security.nat.static.rule-sets[{}]", rs.name);
        let from = context(out, &rs.from, &format!("{base}.from"))?;
        for r in &rs.rules {
            let path = format!("{base}.rules[{}]", r.name);
            out.nat.static_rules.push(CompiledStaticRule {
                id: rule_id(out, &format!("static/{}/{}", rs.name, r.name), &path)?,
                name: format!("{}/{}", rs.name, r.name),
                from: from.clone(),
                public: r.destination_address.trunc(),
                private: r.prefix.trunc(),
            });
        }
    }
    Ok(())
}

fn context(
    out: &CompiledConfig,
    ctx: &NatContext,
    path: &str,
) -> Result<CompiledNatContext, ConfigError> {
    let zones = ctx
        .zone
        .iter()
        .map(|z| zone_id(out, z, &format!("{path}.zone")))
        .collect::<Result<_, _>>()?;
    let interfaces = ctx
        .interface
        .iter()
        .map(|i| interface_id(out, i, &format!("{path}.interface")))
        .collect::<Result<_, _>>()?;
    Ok(CompiledNatContext { zones, interfaces })
}

fn nat_match(m: &NatMatch) -> CompiledNatMatch {
    CompiledNatMatch {
        source: m.source_address.iter().map(|n| n.trunc()).collect(),
        destination: m.destination_address.iter().map(|n| n.trunc()).collect(),
        source_ports: m.source_port.clone(),
        destination_ports: m.destination_port.clone(),
        protocols: m.protocol.clone(),
    }
}

fn pool_range(a: &PoolAddress) -> (IpAddr, IpAddr) {
    match a {
        PoolAddress::Prefix(n) => (n.network(), n.broadcast()),
        PoolAddress::Range(r) => (r.from, r.to),
    }
}

fn to_u128(a: IpAddr) -> u128 {
    match a {
        IpAddr::V4(a) => u128::from(u32::from(a)),
        IpAddr::V6(a) => u128::from(a),
    }
}

fn range_len(a: IpAddr, b: IpAddr) -> u128 {
    to_u128(b).saturating_sub(to_u128(a)).saturating_add(1)
}

/// Sorts and merges overlapping or adjacent ranges of the same family.
fn merge_ranges(mut ranges: Vec<(IpAddr, IpAddr)>) -> Vec<(IpAddr, IpAddr)> {
    ranges.retain(|(a, b)| a.is_ipv4() == b.is_ipv4() && a <= b);
    ranges.sort();
    let mut out: Vec<(IpAddr, IpAddr)> = Vec::new();
    for (a, b) in ranges {
        if let Some(last) = out.last_mut()
            && last.1.is_ipv4() == a.is_ipv4()
            && to_u128(a) <= to_u128(last.1).saturating_add(1)
        {
            if b > last.1 {
                last.1 = b;
            }
            continue;
        }
        out.push((a, b));
    }
    // Keep the helper honest for callers that pass prefixes.
    debug_assert!(out.iter().all(|(a, b)| !range_to_nets(*a, *b).is_empty()));
    out
}
