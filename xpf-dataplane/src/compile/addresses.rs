//! Address resolution: policy address references → normalised prefix sets.
//!
//! A zone-pair policy resolves source names in the from-zone's book, then the
//! global book; destination names in the to-zone's book, then the global
//! book. Global policies use only the global book. `any`, `any-ipv4` and
//! `any-ipv6` are predefined. A policy side with several names is one set:
//! the union of their prefixes. Sets are keyed canonically (sorted, resolved
//! names joined by `+`), so two policies naming the same addresses share one
//! compiled set and its id.
//!
//! Normalisation turns prefixes and ranges into the minimal sorted list of
//! non-overlapping prefixes covering the same addresses.

use crate::config::{Address, AddressBook, AddressSet, Config};
use crate::error::ConfigError;
use ipnet::{IpNet, Ipv4Net, Ipv4Subnets, Ipv6Net, Ipv6Subnets};
use std::collections::HashMap;
use std::net::IpAddr;

/// Minimal sorted prefix lists per family.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PrefixSet {
    /// IPv4.
    pub v4: Vec<Ipv4Net>,
    /// IPv6.
    pub v6: Vec<Ipv6Net>,
}

impl PrefixSet {
    /// Normalises arbitrary prefixes (host bits are cleared).
    pub fn from_nets(nets: impl IntoIterator<Item = IpNet>) -> Self {
        let mut v4 = Vec::new();
        let mut v6 = Vec::new();
        for n in nets {
            match n.trunc() {
                IpNet::V4(n) => v4.push(n),
                IpNet::V6(n) => v6.push(n),
            }
        }
        Self {
            v4: Ipv4Net::aggregate(&v4),
            v6: Ipv6Net::aggregate(&v6),
        }
    }
}

/// The prefixes covering an inclusive range (empty if inverted or mixed).
pub fn range_to_nets(from: IpAddr, to: IpAddr) -> Vec<IpNet> {
    match (from, to) {
        (IpAddr::V4(a), IpAddr::V4(b)) if a <= b => {
            Ipv4Subnets::new(a, b, 0).map(IpNet::V4).collect()
        }
        (IpAddr::V6(a), IpAddr::V6(b)) if a <= b => {
            Ipv6Subnets::new(a, b, 0).map(IpNet::V6).collect()
        }
        _ => Vec::new(),
    }
}

enum Entry<'a> {
    Address(&'a Address),
    Set(&'a AddressSet),
}

struct Book<'a> {
    entries: HashMap<&'a str, Entry<'a>>,
}

impl<'a> Book<'a> {
    fn new(book: &'a AddressBook) -> Self {
        let mut entries = HashMap::new();
        for a in &book.addresses {
            entries.entry(a.name.as_str()).or_insert(Entry::Address(a));
        }
        for s in &book.address_sets {
            entries.entry(s.name.as_str()).or_insert(Entry::Set(s));
        }
        Self { entries }
    }
}

/// Resolves address names against the global and per-zone books.
pub struct AddressResolver<'a> {
    global: Book<'a>,
    zones: HashMap<&'a str, Book<'a>>,
    memo: HashMap<String, Vec<IpNet>>,
}

/// Where a name resolved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Scope<'a> {
    Zone(&'a str),
    Global,
}

impl<'a> AddressResolver<'a> {
    /// Indexes every book of `config`.
    pub fn new(config: &'a Config) -> Self {
        Self {
            global: Book::new(&config.address_book),
            zones: config
                .zones
                .iter()
                .map(|z| (z.name.as_str(), Book::new(&z.address_book)))
                .collect(),
            memo: HashMap::new(),
        }
    }

    /// Resolves the names of one policy side. `zone` is the zone whose book
    /// is searched before the global one (`None` for global policies).
    /// Returns the canonical key and the normalised prefixes.
    pub fn resolve_side(
        &mut self,
        zone: Option<&'a str>,
        names: &'a [String],
        path: &str,
    ) -> Result<(String, PrefixSet), ConfigError> {
        if names.is_empty() {
            return Ok(("any".into(), Self::predefined("any").unwrap_or_default()));
        }
        let mut keys = Vec::with_capacity(names.len());
        let mut nets = Vec::new();
        for name in names {
            if let Some(p) = Self::predefined(name) {
                keys.push(name.clone());
                nets.extend(p.v4.into_iter().map(IpNet::V4));
                nets.extend(p.v6.into_iter().map(IpNet::V6));
                continue;
            }
            let scope = self.scope_of(zone, name).ok_or_else(|| {
                ConfigError::new(path, format!("unknown address or address-set {name:?}"))
            })?;
            let key = scoped_key(scope, name);
            nets.extend(self.resolve_in(scope, name, &key, 0)?);
            keys.push(key);
        }
        keys.sort();
        keys.dedup();
        Ok((keys.join("+"), PrefixSet::from_nets(nets)))
    }

    fn predefined(name: &str) -> Option<PrefixSet> {
        let v4 = || vec!["0.0.0.0/0".parse().expect("literal")];
        let v6 = || vec!["::/0".parse().expect("literal")];
        match name {
            "any" => Some(PrefixSet { v4: v4(), v6: v6() }),
            "any-ipv4" => Some(PrefixSet { v4: v4(), v6: vec![] }),
            "any-ipv6" => Some(PrefixSet { v4: vec![], v6: v6() }),
            _ => None,
        }
    }

    fn book(&self, scope: Scope<'a>) -> Option<&Book<'a>> {
        match scope {
            Scope::Zone(z) => self.zones.get(z),
            Scope::Global => Some(&self.global),
        }
    }

    fn scope_of(&self, zone: Option<&'a str>, name: &str) -> Option<Scope<'a>> {
        if let Some(z) = zone
            && self.zones.get(z).is_some_and(|b| b.entries.contains_key(name))
        {
            return Some(Scope::Zone(z));
        }
        self.global
            .entries
            .contains_key(name)
            .then_some(Scope::Global)
    }

    fn resolve_in(
        &mut self,
        scope: Scope<'a>,
        name: &str,
        key: &str,
        depth: usize,
    ) -> Result<Vec<IpNet>, ConfigError> {
        if let Some(hit) = self.memo.get(key) {
            return Ok(hit.clone());
        }
        if depth > 64 {
            return Err(ConfigError::new(
                key,
                "address-set nesting deeper than 64 (cycle?)",
            ));
        }
        let nets = match self.book(scope).and_then(|b| b.entries.get(name)) {
            Some(Entry::Address(a)) => {
                let mut v: Vec<IpNet> = a.prefix.iter().map(|p| p.trunc()).collect();
                if let Some(r) = a.range {
                    v.extend(range_to_nets(r.from, r.to));
                }
                v
            }
            Some(Entry::Set(s)) => {
                let members: Vec<String> = s
                    .addresses
                    .iter()
                    .chain(&s.address_sets)
                    .cloned()
                    .collect();
                let mut v = Vec::new();
                for m in members {
                    let k = scoped_key(scope, &m);
                    v.extend(self.resolve_in(scope, &m, &k, depth + 1)?);
                }
                v
            }
            None => {
                return Err(ConfigError::new(
                    key,
                    format!("unknown address or address-set {name:?}"),
                ));
            }
        };
        self.memo.insert(key.to_string(), nets.clone());
        Ok(nets)
    }
}

fn scoped_key(scope: Scope<'_>, name: &str) -> String {
    match scope {
        Scope::Zone(z) => format!("zone:{z}/{name}"),
        Scope::Global => format!("global/{name}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalisation_merges_adjacent_and_contained_prefixes() {
        let nets = [
            "198.18.0.0/25",
            "198.18.0.128/25",
            "198.18.0.7/32",
            "2001:db8::/33",
            "2001:db8:8000::/33",
        ]
        .iter()
        .map(|s| s.parse().unwrap());
        let set = PrefixSet::from_nets(nets);
        assert_eq!(set.v4, vec!["198.18.0.0/24".parse::<Ipv4Net>().unwrap()]);
        assert_eq!(set.v6, vec!["2001:db8::/32".parse::<Ipv6Net>().unwrap()]);
    }

    #[test]
    fn ranges_become_minimal_prefix_lists() {
        let nets = range_to_nets(
            "198.18.0.1".parse().unwrap(),
            "198.18.0.6".parse().unwrap(),
        );
        let text: Vec<String> = nets.iter().map(|n| n.to_string()).collect();
        assert_eq!(
            text,
            ["198.18.0.1/32", "198.18.0.2/31", "198.18.0.4/31", "198.18.0.6/32"]
        );
    }
}
