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

use super::fxhash::FxHashMap;
use crate::config::{Address, AddressBook, AddressSet, Config};
use crate::error::ConfigError;
use ipnet::{IpNet, Ipv4Net, Ipv4Subnets, Ipv6Net, Ipv6Subnets};
use std::net::IpAddr;
use std::rc::Rc;

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

/// An address-book entry.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Entry<'a> {
    /// An address.
    Address(&'a Address),
    /// An address set.
    Set(&'a AddressSet),
}

struct Book<'a> {
    entries: FxHashMap<&'a str, Entry<'a>>,
}

impl<'a> Book<'a> {
    fn new(book: &'a AddressBook) -> Self {
        let mut entries = FxHashMap::default();
        entries.reserve(book.addresses.len() + book.address_sets.len());
        for a in &book.addresses {
            entries.entry(a.name.as_str()).or_insert(Entry::Address(a));
        }
        for s in &book.address_sets {
            entries.entry(s.name.as_str()).or_insert(Entry::Set(s));
        }
        Self { entries }
    }
}

/// Where a name resolved: a zone's book (index into the zone list) or the
/// global book.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scope {
    /// A zone's book (index into the config's zone list).
    Zone(usize),
    /// The global book.
    Global,
}

/// One resolved policy-side name.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Resolved<'a> {
    /// `any`, `any-ipv4` or `any-ipv6`.
    Predefined(&'a str),
    /// An address or set in a book, with the entry found (so resolving its
    /// prefixes needs no second lookup).
    Entry(Scope, &'a str, Entry<'a>),
}

/// Resolves address names against the global and per-zone books.
///
/// Address-set expansions are memoised per (book, name), so a set used by
/// many policies is expanded once; single addresses are converted directly.
pub struct AddressResolver<'a> {
    global: Book<'a>,
    zone_names: Vec<&'a str>,
    zones: Vec<Book<'a>>,
    set_memo: FxHashMap<(Scope, &'a str), Rc<[IpNet]>>,
}

impl<'a> AddressResolver<'a> {
    /// Indexes every book of `config`.
    pub fn new(config: &'a Config) -> Self {
        Self {
            global: Book::new(&config.address_book),
            zone_names: config.zones.iter().map(|z| z.name.as_str()).collect(),
            zones: config
                .zones
                .iter()
                .map(|z| Book::new(&z.address_book))
                .collect(),
            set_memo: FxHashMap::default(),
        }
    }

    /// The index of a zone's book, for [`AddressResolver::resolve_names`].
    pub fn zone_index(&self, zone: &str) -> Option<usize> {
        self.zone_names.iter().position(|n| *n == zone)
    }

    /// Resolves the names of one policy side: each name is found in the
    /// book of `zone` (an index from [`AddressResolver::zone_index`]) first,
    /// then in the global book (`zone` is `None` for global policies).
    pub fn resolve_names(
        &self,
        zone: Option<usize>,
        names: &'a [String],
        path: &dyn Fn() -> String,
    ) -> Result<Vec<Resolved<'a>>, ConfigError> {
        names
            .iter()
            .map(|name| {
                if Self::predefined(name).is_some() {
                    return Ok(Resolved::Predefined(name));
                }
                if let Some(z) = zone
                    && let Some((key, e)) = self.zones[z].entries.get_key_value(name.as_str())
                {
                    return Ok(Resolved::Entry(Scope::Zone(z), key, *e));
                }
                match self.global.entries.get_key_value(name.as_str()) {
                    Some((key, e)) => Ok(Resolved::Entry(Scope::Global, key, *e)),
                    None => Err(unknown(path, name)),
                }
            })
            .collect()
    }

    /// The canonical key of a resolved side: sorted, de-duplicated resolved
    /// names (`global/web`, `zone:trust/web`, `any`) joined by `+`; `any`
    /// for an empty side.
    pub fn side_key(&self, resolved: &[Resolved<'a>]) -> String {
        match resolved {
            [] => return "any".into(),
            [one] => return self.resolved_key(one),
            _ => {}
        }
        let mut keys: Vec<String> = resolved.iter().map(|r| self.resolved_key(r)).collect();
        if keys.len() > 1 {
            keys.sort_unstable();
            keys.dedup();
        }
        keys.join("+")
    }

    /// The normalised prefixes of a resolved side (the union of its names;
    /// every address for an empty side).
    pub fn side_prefixes(
        &mut self,
        resolved: &[Resolved<'a>],
        path: &dyn Fn() -> String,
    ) -> Result<PrefixSet, ConfigError> {
        if resolved.is_empty() {
            return Ok(Self::predefined("any").unwrap_or_default());
        }
        let mut nets = Vec::new();
        for r in resolved {
            match *r {
                Resolved::Predefined(name) => {
                    let p = Self::predefined(name).unwrap_or_default();
                    nets.extend(p.v4.into_iter().map(IpNet::V4));
                    nets.extend(p.v6.into_iter().map(IpNet::V6));
                }
                Resolved::Entry(scope, name, entry) => {
                    self.resolve_entry(scope, name, entry, path, 0, &mut nets)?
                }
            }
        }
        Ok(PrefixSet::from_nets(nets))
    }

    fn resolved_key(&self, r: &Resolved<'a>) -> String {
        match *r {
            Resolved::Predefined(name) => name.to_string(),
            Resolved::Entry(Scope::Zone(z), name, _) => {
                let zone = self.zone_names[z];
                let mut k = String::with_capacity(6 + zone.len() + name.len());
                k.push_str("zone:");
                k.push_str(zone);
                k.push('/');
                k.push_str(name);
                k
            }
            Resolved::Entry(Scope::Global, name, _) => {
                let mut k = String::with_capacity(7 + name.len());
                k.push_str("global/");
                k.push_str(name);
                k
            }
        }
    }

    fn predefined(name: &str) -> Option<PrefixSet> {
        let v4 = || vec![Ipv4Net::default()];
        let v6 = || vec![Ipv6Net::default()];
        match name {
            "any" => Some(PrefixSet { v4: v4(), v6: v6() }),
            "any-ipv4" => Some(PrefixSet {
                v4: v4(),
                v6: vec![],
            }),
            "any-ipv6" => Some(PrefixSet {
                v4: vec![],
                v6: v6(),
            }),
            _ => None,
        }
    }

    fn book(&self, scope: Scope) -> &Book<'a> {
        match scope {
            Scope::Zone(z) => &self.zones[z],
            Scope::Global => &self.global,
        }
    }

    /// Appends the prefixes of `name` (an address or set in `scope`) to `out`.
    fn resolve_in(
        &mut self,
        scope: Scope,
        name: &str,
        path: &dyn Fn() -> String,
        depth: usize,
        out: &mut Vec<IpNet>,
    ) -> Result<(), ConfigError> {
        if depth > 64 {
            return Err(ConfigError::new(
                path(),
                format!("address-set {name:?} nests deeper than 64 levels (cycle?)"),
            ));
        }
        match self.book(scope).entries.get_key_value(name) {
            Some((key, entry)) => {
                let (key, entry) = (*key, *entry);
                self.resolve_entry(scope, key, entry, path, depth, out)
            }
            None => Err(unknown(path, name)),
        }
    }

    /// Appends the prefixes of a found entry to `out`.
    fn resolve_entry(
        &mut self,
        scope: Scope,
        key: &'a str,
        entry: Entry<'a>,
        path: &dyn Fn() -> String,
        depth: usize,
        out: &mut Vec<IpNet>,
    ) -> Result<(), ConfigError> {
        let set = match entry {
            Entry::Address(a) => {
                out.extend(a.prefix.iter().map(|p| p.trunc()));
                if let Some(r) = a.range {
                    out.extend(range_to_nets(r.from, r.to));
                }
                return Ok(());
            }
            Entry::Set(s) => s,
        };
        if let Some(hit) = self.set_memo.get(&(scope, key)) {
            out.extend_from_slice(hit);
            return Ok(());
        }
        let mut members = Vec::new();
        for m in set.addresses.iter().chain(&set.address_sets) {
            self.resolve_in(scope, m, path, depth + 1, &mut members)?;
        }
        out.extend_from_slice(&members);
        self.set_memo.insert((scope, key), members.into());
        Ok(())
    }
}

fn unknown(path: &dyn Fn() -> String, name: &str) -> ConfigError {
    ConfigError::new(path(), format!("unknown address or address-set {name:?}"))
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
        let nets = range_to_nets("198.18.0.1".parse().unwrap(), "198.18.0.6".parse().unwrap());
        let text: Vec<String> = nets.iter().map(|n| n.to_string()).collect();
        assert_eq!(
            text,
            [
                "198.18.0.1/32",
                "198.18.0.2/31",
                "198.18.0.4/31",
                "198.18.0.6/32"
            ]
        );
    }
}
