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

use super::book_index::{BookIndex, Books, NO_ENTRY, find_many};
use super::name_index::NameId;
use crate::config::{Address, AddressSet, Config};
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
            v4: aggregate_v4(&v4),
            v6: aggregate_v6(&v6),
        }
    }
}

/// The minimal sorted list of prefixes covering the union of `nets` (the
/// same result as `Ipv4Net::aggregate`, without its per-call conversions:
/// prefixes become inclusive integer intervals, which are sorted, merged
/// when they overlap or touch, and cut back into aligned blocks).
pub fn aggregate_v4(nets: &[Ipv4Net]) -> Vec<Ipv4Net> {
    let mut intervals: Vec<(u32, u32)> = nets
        .iter()
        .map(|n| (u32::from(n.network()), u32::from(n.broadcast())))
        .collect();
    intervals_to_v4(&mut intervals)
}

/// [`aggregate_v4`] for IPv6.
pub fn aggregate_v6(nets: &[Ipv6Net]) -> Vec<Ipv6Net> {
    let mut intervals: Vec<(u128, u128)> = nets
        .iter()
        .map(|n| (u128::from(n.network()), u128::from(n.broadcast())))
        .collect();
    intervals_to_v6(&mut intervals)
}

/// Merges inclusive IPv4 intervals (in place) and returns their minimal
/// prefix list, allocated once at its exact size.
fn intervals_to_v4(intervals: &mut Vec<(u32, u32)>) -> Vec<Ipv4Net> {
    merge(intervals);
    let mut count = 0;
    for &(first, last) in intervals.iter() {
        blocks(u128::from(first), u128::from(last), 32, |_, _| count += 1);
    }
    let mut out = Vec::with_capacity(count);
    for &(first, last) in intervals.iter() {
        blocks(u128::from(first), u128::from(last), 32, |addr, len| {
            out.push(Ipv4Net::new(std::net::Ipv4Addr::from(addr as u32), len).expect("len <= 32"))
        });
    }
    out
}

/// [`intervals_to_v4`] for IPv6.
fn intervals_to_v6(intervals: &mut Vec<(u128, u128)>) -> Vec<Ipv6Net> {
    merge(intervals);
    let mut count = 0;
    for &(first, last) in intervals.iter() {
        blocks(first, last, 128, |_, _| count += 1);
    }
    let mut out = Vec::with_capacity(count);
    for &(first, last) in intervals.iter() {
        blocks(first, last, 128, |addr, len| {
            out.push(Ipv6Net::new(std::net::Ipv6Addr::from(addr), len).expect("len <= 128"))
        });
    }
    out
}

/// Sorts inclusive intervals and merges, in place, those that overlap or
/// are adjacent.
fn merge<T: Copy + Ord + num_like::Succ>(v: &mut Vec<(T, T)>) {
    if v.len() < 2 {
        return;
    }
    v.sort_unstable();
    let mut kept = 0;
    for i in 1..v.len() {
        let (first, last) = v[i];
        let prev = &mut v[kept];
        if prev.1.succ().is_none_or(|next| first <= next) {
            if last > prev.1 {
                prev.1 = last;
            }
        } else {
            kept += 1;
            v[kept] = (first, last);
        }
    }
    v.truncate(kept + 1);
}

mod num_like {
    /// The next integer, `None` at the maximum.
    pub trait Succ: Sized {
        fn succ(self) -> Option<Self>;
    }
    impl Succ for u32 {
        fn succ(self) -> Option<Self> {
            self.checked_add(1)
        }
    }
    impl Succ for u128 {
        fn succ(self) -> Option<Self> {
            self.checked_add(1)
        }
    }
}

/// Cuts the inclusive interval `[first, last]` of a `bits`-wide space into
/// the fewest aligned blocks, calling `emit(start, prefix_len)` in order.
fn blocks(mut first: u128, last: u128, bits: u8, mut emit: impl FnMut(u128, u8)) {
    loop {
        // The largest block starting at `first` that is aligned and fits.
        let align = if first == 0 {
            u32::from(bits)
        } else {
            first.trailing_zeros().min(u32::from(bits))
        };
        let span = last - first; // block size - 1 must be <= span
        let fit = if span == u128::MAX {
            128
        } else {
            127 - (span + 1).leading_zeros()
        };
        let size_bits = align.min(fit);
        emit(first, bits - size_bits as u8);
        let size_minus_one = if size_bits == 128 {
            u128::MAX
        } else {
            (1u128 << size_bits) - 1
        };
        match first.checked_add(size_minus_one) {
            Some(end) if end < last => first = end + 1,
            _ => return,
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

/// Where a name resolved: a zone's book (index into the zone list) or the
/// global book.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scope {
    /// A zone's book (index into the config's zone list).
    Zone(usize),
    /// The global book.
    Global,
}

/// One resolved policy-side name, packed into a word so a side's identity
/// can be compared and hashed without touching strings: the book in the
/// high half (`0` = predefined, `1` = global, `2 + z` = zone `z`), the
/// entry's dense index (or the predefined name's number) in the low half.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Resolved(u64);

const PREDEFINED: [&str; 3] = ["any", "any-ipv4", "any-ipv6"];

impl Resolved {
    fn predefined(which: usize) -> Self {
        Self(which as u64)
    }

    fn entry(scope: Scope, index: NameId) -> Self {
        let book = match scope {
            Scope::Global => 1,
            Scope::Zone(z) => 2 + z as u64,
        };
        Self((book << 32) | u64::from(index))
    }

    fn book(self) -> u64 {
        self.0 >> 32
    }

    fn index(self) -> usize {
        (self.0 & 0xffff_ffff) as usize
    }
}

/// Resolves address names against the global and per-zone books.
///
/// Address-set expansions are memoised per (book, entry), so a set used by
/// many policies is expanded once; single addresses are converted directly.
pub struct AddressResolver<'a> {
    zone_names: Vec<&'a str>,
    /// Book 0 is the global book, book `1 + z` zone `z`'s.
    books: Vec<BookIndex<'a>>,
    /// Per book, per entry: the memoised expansion of an address set.
    set_memo: Vec<Vec<Option<Rc<[IpNet]>>>>,
    /// Scratch buffers reused across sides (no allocation per side).
    scratch_nets: Vec<IpNet>,
    scratch_v4: Vec<(u32, u32)>,
    scratch_v6: Vec<(u128, u128)>,
    scratch_text: String,
    scratch_ranges: Vec<(usize, usize)>,
}

impl<'a> AddressResolver<'a> {
    /// Indexes every book of `config`.
    pub fn new(config: &'a Config) -> Self {
        Self::with_books(config, Books::new(config))
    }

    /// Resolves against books indexed already (by validation).
    pub(crate) fn with_books(config: &'a Config, indexed: Books<'a>) -> Self {
        let books: Vec<BookIndex<'a>> = std::iter::once(indexed.global)
            .chain(indexed.zones)
            .collect();
        Self {
            zone_names: config.zones.iter().map(|z| z.name.as_str()).collect(),
            set_memo: books
                .iter()
                .map(|b| vec![None; b.book().address_sets.len()])
                .collect(),
            books,
            scratch_nets: Vec::new(),
            scratch_v4: Vec::new(),
            scratch_v6: Vec::new(),
            scratch_text: String::new(),
            scratch_ranges: Vec::new(),
        }
    }

    /// The index of a zone's book, for [`AddressResolver::resolve_names`].
    pub fn zone_index(&self, zone: &str) -> Option<usize> {
        self.zone_names.iter().position(|n| *n == zone)
    }

    fn book_of(&self, scope: Scope) -> usize {
        match scope {
            Scope::Global => 0,
            Scope::Zone(z) => 1 + z,
        }
    }

    fn scope_of(r: Resolved) -> Scope {
        match r.book() {
            1 => Scope::Global,
            b => Scope::Zone(b as usize - 2),
        }
    }

    /// Resolves the names of one policy side into `out` (cleared first):
    /// each name is found in the book of `zone` (an index from
    /// [`AddressResolver::zone_index`]) first, then in the global book
    /// (`zone` is `None` for global policies). `out` is left sorted and
    /// de-duplicated: it identifies the side's set.
    pub fn resolve_names(
        &self,
        zone: Option<usize>,
        names: &[String],
        path: &dyn Fn() -> String,
        out: &mut Vec<Resolved>,
    ) -> Result<(), ConfigError> {
        let mut hits = Vec::new();
        self.find_names(zone, names.iter().map(String::as_str), &mut hits);
        Self::resolve_side(names, &hits, path, out)
    }

    /// Looks up, many at once, every name of several policy sides that
    /// resolve in the same books (`zone` as for
    /// [`AddressResolver::resolve_names`]), into `out` (cleared first), in
    /// order; `None` for a name that resolves nowhere. A side then takes its
    /// slice to [`AddressResolver::resolve_side`].
    pub fn find_names<'n>(
        &self,
        zone: Option<usize>,
        names: impl Iterator<Item = &'n str>,
        out: &mut Vec<Option<Resolved>>,
    ) {
        let names: Vec<&str> = names.collect();
        let mut hits = Vec::new();
        match zone {
            Some(z) => find_many(&[&self.books[1 + z], &self.books[0]], &names, &mut hits),
            None => find_many(&[&self.books[0]], &names, &mut hits),
        }
        out.clear();
        out.extend(names.iter().zip(hits).map(|(name, hit)| {
            if let Some(p) = PREDEFINED.iter().position(|p| p == name) {
                return Some(Resolved::predefined(p));
            }
            hit.map(|(book, id)| match (zone, book) {
                (Some(z), 0) => Resolved::entry(Scope::Zone(z), id),
                _ => Resolved::entry(Scope::Global, id),
            })
        }));
    }

    /// One policy side from its `names` and their `hits` (from
    /// [`AddressResolver::find_names`]), into `out` (cleared first) as for
    /// [`AddressResolver::resolve_names`].
    pub fn resolve_side(
        names: &[String],
        hits: &[Option<Resolved>],
        path: &dyn Fn() -> String,
        out: &mut Vec<Resolved>,
    ) -> Result<(), ConfigError> {
        out.clear();
        for (name, hit) in names.iter().zip(hits) {
            match hit {
                Some(r) => out.push(*r),
                None => return Err(unknown(path, name)),
            }
        }
        if out.len() > 1 {
            out.sort_unstable();
            out.dedup();
        }
        Ok(())
    }

    /// The canonical key of a resolved side: sorted, de-duplicated resolved
    /// names (`global/web`, `zone:trust/web`, `any`) joined by `+`; `any`
    /// for an empty side.
    pub fn side_key(&mut self, resolved: &[Resolved]) -> String {
        match resolved {
            [] => return "any".into(),
            [one] => {
                let mut key = String::new();
                self.write_resolved_key(*one, &mut key);
                return key;
            }
            _ => {}
        }
        // Render every name into one scratch buffer, sort the pieces as
        // strings, then join them into the one allocation returned.
        let mut text = std::mem::take(&mut self.scratch_text);
        let mut ranges = std::mem::take(&mut self.scratch_ranges);
        text.clear();
        ranges.clear();
        for r in resolved {
            let start = text.len();
            self.write_resolved_key(*r, &mut text);
            ranges.push((start, text.len()));
        }
        ranges.sort_unstable_by(|a, b| text[a.0..a.1].cmp(&text[b.0..b.1]));
        ranges.dedup_by(|a, b| text[a.0..a.1] == text[b.0..b.1]);
        let mut key = String::with_capacity(text.len() + ranges.len());
        for (i, (a, b)) in ranges.iter().enumerate() {
            if i > 0 {
                key.push('+');
            }
            key.push_str(&text[*a..*b]);
        }
        self.scratch_text = text;
        self.scratch_ranges = ranges;
        key
    }

    /// The normalised prefixes of a resolved side (the union of its names;
    /// every address for an empty side).
    pub fn side_prefixes(
        &mut self,
        resolved: &[Resolved],
        path: &dyn Fn() -> String,
    ) -> Result<PrefixSet, ConfigError> {
        if resolved.is_empty() {
            return Ok(Self::predefined("any").unwrap_or_default());
        }
        let mut nets = std::mem::take(&mut self.scratch_nets);
        nets.clear();
        for r in resolved {
            if r.book() == 0 {
                let p = Self::predefined(PREDEFINED[r.index()]).unwrap_or_default();
                nets.extend(p.v4.into_iter().map(IpNet::V4));
                nets.extend(p.v6.into_iter().map(IpNet::V6));
            } else {
                let book = self.book_of(Self::scope_of(*r));
                if let Err(e) = self.resolve_entry(book, r.index(), path, 0, &mut nets) {
                    self.scratch_nets = nets;
                    return Err(e);
                }
            }
        }
        let mut v4 = std::mem::take(&mut self.scratch_v4);
        let mut v6 = std::mem::take(&mut self.scratch_v6);
        v4.clear();
        v6.clear();
        for n in &nets {
            match n {
                IpNet::V4(n) => v4.push((u32::from(n.network()), u32::from(n.broadcast()))),
                IpNet::V6(n) => v6.push((u128::from(n.network()), u128::from(n.broadcast()))),
            }
        }
        let set = PrefixSet {
            v4: intervals_to_v4(&mut v4),
            v6: intervals_to_v6(&mut v6),
        };
        self.scratch_nets = nets;
        self.scratch_v4 = v4;
        self.scratch_v6 = v6;
        Ok(set)
    }

    fn write_resolved_key(&self, r: Resolved, out: &mut String) {
        if r.book() == 0 {
            out.push_str(PREDEFINED[r.index()]);
            return;
        }
        let scope = Self::scope_of(r);
        let name = self.books[self.book_of(scope)]
            .names()
            .name(r.index() as NameId);
        match scope {
            Scope::Zone(z) => {
                out.push_str("zone:");
                out.push_str(self.zone_names[z]);
                out.push('/');
            }
            Scope::Global => out.push_str("global/"),
        }
        out.push_str(name);
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

    /// Appends the prefixes of entry `index` of book `book` to `out`.
    fn resolve_entry(
        &mut self,
        book: usize,
        index: usize,
        path: &dyn Fn() -> String,
        depth: usize,
        out: &mut Vec<IpNet>,
    ) -> Result<(), ConfigError> {
        let (set, position) = match self.books[book].entry(index as NameId) {
            (Entry::Address(a), _) => {
                out.extend(a.prefix.iter().map(|p| p.trunc()));
                if let Some(r) = a.range {
                    out.extend(range_to_nets(r.from, r.to));
                }
                return Ok(());
            }
            (Entry::Set(s), position) => (s, position.unwrap_or_default()),
        };
        if let Some(hit) = &self.set_memo[book][position] {
            out.extend_from_slice(hit);
            return Ok(());
        }
        if depth > 64 {
            return Err(ConfigError::new(
                path(),
                format!(
                    "address-set {:?} nests deeper than 64 levels (cycle?)",
                    set.name
                ),
            ));
        }
        let mut members = Vec::new();
        // Member ids were resolved when the book was indexed; a name is
        // only needed for the error.
        for k in 0..self.books[book].members(position).len() {
            match self.books[book].members(position)[k] {
                NO_ENTRY => {
                    let name = set.addresses.iter().chain(&set.address_sets).nth(k);
                    return Err(unknown(path, name.map_or("", String::as_str)));
                }
                id => self.resolve_entry(book, id as usize, path, depth + 1, &mut members)?,
            }
        }
        out.extend_from_slice(&members);
        self.set_memo[book][position] = Some(members.into());
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

    proptest::proptest! {
        #[test]
        fn aggregation_matches_ipnet(
            v4 in proptest::collection::vec((proptest::prelude::any::<u32>(), 0u8..=32), 0..24),
            v6 in proptest::collection::vec((proptest::prelude::any::<u128>(), 0u8..=128), 0..24),
            near in proptest::collection::vec((0u32..64, 24u8..=32), 0..24),
        ) {
            let v4: Vec<Ipv4Net> = v4
                .into_iter()
                .chain(near.into_iter().map(|(a, l)| (0xC612_0000 + a * 4, l)))
                .map(|(a, l)| Ipv4Net::new(a.into(), l).unwrap().trunc())
                .collect();
            let v6: Vec<Ipv6Net> = v6
                .into_iter()
                .map(|(a, l)| Ipv6Net::new(a.into(), l).unwrap().trunc())
                .collect();
            proptest::prop_assert_eq!(aggregate_v4(&v4), Ipv4Net::aggregate(&v4));
            proptest::prop_assert_eq!(aggregate_v6(&v6), Ipv6Net::aggregate(&v6));
        }
    }

    #[test]
    fn aggregation_handles_the_whole_space_and_its_edges() {
        let all4: Vec<Ipv4Net> = vec!["0.0.0.0/1".parse().unwrap(), "128.0.0.0/1".parse().unwrap()];
        assert_eq!(
            aggregate_v4(&all4),
            vec!["0.0.0.0/0".parse::<Ipv4Net>().unwrap()]
        );
        let top: Vec<Ipv4Net> = vec!["255.255.255.255/32".parse().unwrap()];
        assert_eq!(aggregate_v4(&top), top);
        let all6: Vec<Ipv6Net> = vec!["::/0".parse().unwrap(), "2001:db8::/32".parse().unwrap()];
        assert_eq!(
            aggregate_v6(&all6),
            vec!["::/0".parse::<Ipv6Net>().unwrap()]
        );
        assert_eq!(aggregate_v4(&[]), vec![]);
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
