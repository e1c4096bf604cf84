//! NAT (`security.nat`): source, destination and static.
//!
//! Owns: pool and rule-set names (unique per NAT kind) and rule names
//! (unique within a rule set); source pools (at least one address, one
//! family, prefixes without host bits, ranges in order, a port range in
//! order and without port 0, no address shared with an earlier pool);
//! destination pools (a non-zero port); rule-set contexts (`from` required,
//! and `to` for source NAT; their zones and interfaces exist); rule matches
//! (prefixes without host bits, port ranges in order, source and
//! destination prefixes of a common family); pool references (a source rule
//! names a source pool, a destination rule a destination pool whose address
//! family is that of the rule's `destination-address`, which is required);
//! and static rules (public and private prefixes without host bits, of one
//! family and length, public prefixes not overlapping any earlier rule's).

use super::Validator;
use super::names::{FirstSeen, unknown};
use super::path::Path;
use super::values::{Families, Span, family_name};
use crate::config::{
    DestinationNat, DestinationNatAction, DestinationNatRule, NatContext, NatMatch, PoolAddress,
    SourceNat, SourceNatAction, SourcePool, StaticNat, StaticNatRule,
};

impl Validator<'_> {
    /// Checks `security.nat`.
    pub(super) fn check_nat(&mut self) {
        let nat = &self.config.security.nat;
        let root = Path::root().field("security.nat");
        self.check_source_nat(&root.field("source"), &nat.source);
        self.check_destination_nat(&root.field("destination"), &nat.destination);
        self.check_static_nat(&root.field("static"), &nat.static_);
    }

    fn check_source_nat(&mut self, path: &Path<'_>, nat: &SourceNat) {
        let pools = path.field("pools");
        let mut seen = FirstSeen::default();
        for (i, pool) in nat.pools.iter().enumerate() {
            let item = pools.item(&pool.name, i);
            self.check_name(&mut seen, "source pool", &pool.name, &item, i);
            self.check_source_pool(&item, pool, &nat.pools[..i]);
        }
        let rule_sets = path.field("rule-sets");
        let mut seen = FirstSeen::default();
        for (i, set) in nat.rule_sets.iter().enumerate() {
            let item = rule_sets.item(&set.name, i);
            self.check_name(&mut seen, "source rule set", &set.name, &item, i);
            self.check_nat_context(&item.field("from"), "from", &set.from);
            self.check_nat_context(&item.field("to"), "to", &set.to);
            let rules = item.field("rules");
            let mut seen_rules = FirstSeen::default();
            for (j, rule) in set.rules.iter().enumerate() {
                let path = rules.item(&rule.name, j);
                self.check_name(&mut seen_rules, "rule", &rule.name, &path, j);
                self.check_nat_match(&path.field("match"), &rule.match_);
                if let SourceNatAction::Pool(pool) = &rule.then {
                    self.check_source_pool_ref(&path.field("then.pool"), pool);
                }
            }
        }
    }

    /// Checks a source pool, including overlap with the pools before it.
    fn check_source_pool(&mut self, path: &Path<'_>, pool: &SourcePool, earlier: &[SourcePool]) {
        let addresses = path.field("addresses");
        if pool.addresses.is_empty() {
            self.error(
                &addresses,
                format!("source pool {:?} has no addresses", pool.name),
            );
        }
        for address in &pool.addresses {
            match address {
                PoolAddress::Prefix(prefix) => self.check_network_prefix(&addresses, prefix),
                PoolAddress::Range(range) => self.check_address_range(&addresses, range),
            }
        }
        let families = pool
            .addresses
            .iter()
            .fold(Families::NONE, |families, address| {
                families | pool_address_families(address)
            });
        if families.is_mixed() {
            self.error(
                &addresses,
                format!("source pool {:?} mixes IPv4 and IPv6 addresses", pool.name),
            );
        }
        if let Some(overlap) = pool_overlap(pool, earlier) {
            self.error(&addresses, overlap);
        }
        if let Some(range) = pool.port_range {
            let path = path.field("port-range");
            self.check_port_range(&path, range);
            if range.is_valid() && range.contains(0) {
                self.error(&path, format!("port-range {range} contains port 0"));
            }
        }
    }

    fn check_source_pool_ref(&mut self, path: &Path<'_>, pool: &str) {
        let symbols = self.symbols;
        if !symbols.source_pools.contains(pool) {
            let mut message = unknown("source pool", pool, symbols.source_pools.names());
            if symbols.destination_pools.contains(pool) {
                message.push_str(&format!(" ({pool:?} is a destination pool)"));
            }
            self.error(path, message);
        }
    }

    /// Checks a rule set's `from` or `to` context; `field` names it.
    fn check_nat_context(&mut self, path: &Path<'_>, field: &str, context: &NatContext) {
        let symbols = self.symbols;
        if context.is_empty() {
            self.error(
                path,
                format!("{field} needs at least one zone or interface"),
            );
        }
        for zone in context.zone.iter().filter(|z| !symbols.zones.contains(z)) {
            self.error(
                &path.field("zone"),
                unknown("zone", zone, symbols.zones.names()),
            );
        }
        let interfaces = &symbols.interfaces;
        for interface in context.interface.iter().filter(|i| !interfaces.contains(i)) {
            self.error(
                &path.field("interface"),
                unknown("interface", interface, interfaces.names()),
            );
        }
    }

    /// Checks a NAT rule's match conditions.
    fn check_nat_match(&mut self, path: &Path<'_>, matches: &NatMatch) {
        self.check_network_prefixes(&path.field("source-address"), &matches.source_address);
        self.check_network_prefixes(
            &path.field("destination-address"),
            &matches.destination_address,
        );
        self.check_port_ranges(&path.field("source-port"), &matches.source_port);
        self.check_port_ranges(&path.field("destination-port"), &matches.destination_port);
        let source = Families::of_nets(&matches.source_address);
        let destination = Families::of_nets(&matches.destination_address);
        if !source.is_empty() && !destination.is_empty() && !source.intersects(destination) {
            self.error(
                path,
                format!(
                    "source-address prefixes are {} only and destination-address prefixes {} only; the rule can never match",
                    source.describe(),
                    destination.describe()
                ),
            );
        }
    }

    fn check_destination_nat(&mut self, path: &Path<'_>, nat: &DestinationNat) {
        let pools = path.field("pools");
        let mut seen = FirstSeen::default();
        for (i, pool) in nat.pools.iter().enumerate() {
            let item = pools.item(&pool.name, i);
            self.check_name(&mut seen, "destination pool", &pool.name, &item, i);
            self.check_positive(&item.field("port"), "port", pool.port);
        }
        let rule_sets = path.field("rule-sets");
        let mut seen = FirstSeen::default();
        for (i, set) in nat.rule_sets.iter().enumerate() {
            let item = rule_sets.item(&set.name, i);
            self.check_name(&mut seen, "destination rule set", &set.name, &item, i);
            self.check_nat_context(&item.field("from"), "from", &set.from);
            let rules = item.field("rules");
            let mut seen_rules = FirstSeen::default();
            for (j, rule) in set.rules.iter().enumerate() {
                let path = rules.item(&rule.name, j);
                self.check_name(&mut seen_rules, "rule", &rule.name, &path, j);
                self.check_destination_rule(&path, rule);
            }
        }
    }

    fn check_destination_rule(&mut self, path: &Path<'_>, rule: &DestinationNatRule) {
        let destinations = &rule.match_.destination_address;
        if destinations.is_empty() {
            self.error(
                &path.field("match.destination-address"),
                format!(
                    "destination NAT rule {:?} needs a destination-address",
                    rule.name
                ),
            );
        }
        self.check_nat_match(&path.field("match"), &rule.match_);
        let DestinationNatAction::Pool(pool) = &rule.then else {
            return;
        };
        let path = path.field("then.pool");
        let symbols = self.symbols;
        let Some(target) = symbols.destination_pools.get(pool) else {
            let mut message = unknown("destination pool", pool, symbols.destination_pools.names());
            if symbols.source_pools.contains(pool) {
                message.push_str(&format!(" ({pool:?} is a source pool)"));
            }
            self.error(&path, message);
            return;
        };
        let matched = Families::of_nets(destinations);
        if !matched.is_empty() && !matched.intersects(Families::of_addr(target.address)) {
            self.error(
                &path,
                format!(
                    "pool {pool:?} translates to {} address {} but the rule's destination-address is {}",
                    family_name(target.address),
                    target.address,
                    matched.describe()
                ),
            );
        }
    }

    fn check_static_nat(&mut self, path: &Path<'_>, nat: &StaticNat) {
        let rule_sets = path.field("rule-sets");
        let mut seen = FirstSeen::default();
        let mut public: Vec<(Span, &StaticNatRule, Path)> = Vec::new();
        for (i, set) in nat.rule_sets.iter().enumerate() {
            let item = rule_sets.item(&set.name, i);
            self.check_name(&mut seen, "static rule set", &set.name, &item, i);
            self.check_nat_context(&item.field("from"), "from", &set.from);
            let rules = item.field("rules");
            let mut seen_rules = FirstSeen::default();
            for (j, rule) in set.rules.iter().enumerate() {
                let path = rules.item(&rule.name, j);
                self.check_name(&mut seen_rules, "rule", &rule.name, &path, j);
                self.check_static_rule(&path, rule);
                let span = Span::of_net(&rule.destination_address);
                if let Some((_, first, at)) = public.iter().find(|(s, _, _)| s.overlaps(&span)) {
                    self.error(
                        &path.field("destination-address"),
                        format!(
                            "destination-address {} overlaps {} of the static rule at {at}",
                            rule.destination_address, first.destination_address
                        ),
                    );
                }
                public.push((span, rule, path));
            }
        }
    }

    fn check_static_rule(&mut self, path: &Path<'_>, rule: &StaticNatRule) {
        let (public, private) = (&rule.destination_address, &rule.prefix);
        self.check_network_prefix(&path.field("destination-address"), public);
        self.check_network_prefix(&path.field("prefix"), private);
        let problem = if public.addr().is_ipv4() != private.addr().is_ipv4() {
            format!(
                "prefix {private} is {} but destination-address {public} is {}",
                family_name(private.addr()),
                family_name(public.addr())
            )
        } else if public.prefix_len() != private.prefix_len() {
            format!(
                "prefix length /{} differs from destination-address length /{} (a 1:1 mapping needs equal lengths)",
                private.prefix_len(),
                public.prefix_len()
            )
        } else {
            return;
        };
        self.error(&path.field("prefix"), problem);
    }
}

fn pool_address_families(address: &PoolAddress) -> Families {
    match address {
        PoolAddress::Prefix(prefix) => Families::of_addr(prefix.addr()),
        PoolAddress::Range(range) => Families::of_addr(range.from) | Families::of_addr(range.to),
    }
}

fn pool_address_span(address: &PoolAddress) -> Option<Span> {
    match address {
        PoolAddress::Prefix(prefix) => Some(Span::of_net(prefix)),
        PoolAddress::Range(range) => Span::of_range(range),
    }
}

fn describe_pool_address(address: &PoolAddress) -> String {
    match address {
        PoolAddress::Prefix(prefix) => prefix.to_string(),
        PoolAddress::Range(range) => format!("{}-{}", range.from, range.to),
    }
}

/// The first address of `pool` that overlaps an address of an earlier pool.
fn pool_overlap(pool: &SourcePool, earlier: &[SourcePool]) -> Option<String> {
    pool.addresses.iter().find_map(|address| {
        let span = pool_address_span(address)?;
        earlier.iter().find_map(|other| {
            let theirs = other
                .addresses
                .iter()
                .find(|a| pool_address_span(a).is_some_and(|s| s.overlaps(&span)))?;
            Some(format!(
                "{} overlaps {} of source pool {:?}",
                describe_pool_address(address),
                describe_pool_address(theirs),
                other.name
            ))
        })
    })
}
