//! Symbol tables, duplicate tracking and did-you-mean suggestions.
//!
//! [`Symbols`] indexes every named thing a config can refer to. It is built
//! in one silent pass before the walk, so a reference resolves wherever its
//! target is defined. When a name is defined twice, references resolve to
//! the first definition; the duplicate itself is reported by the section that
//! owns the list, at the duplicate's place in config order: from the
//! repeats its [`Namespace`] recorded when the list is indexed here
//! (address books, applications), else using a [`FirstSeen`] tracker.
//!
//! [`unknown`] formats an unknown-reference message with a suggestion from
//! [`did_you_mean`]: the closest candidate by edit distance (at most
//! [`MAX_SUGGESTION_DISTANCE`]), or else the only candidate the name is a
//! prefix of. `junos-*` candidates also match without their prefix, so
//! `htp` suggests `junos-http`.
//!
//! Tables are keyed by `&str` borrowed from the config and hashed with
//! FxHash: a 50,000-entry address book is indexed on every load.

use super::addresses::{ResolvedSet, resolve_sets};
use super::path::Path;
use super::values::Families;
use crate::compile::book_index::{BookIndex, Books, NO_ENTRY};
use crate::compile::fxhash::{FxHashMap, FxHashSet};
use crate::compile::name_index::NameId;
use crate::config::predefined;
use crate::config::{AddressBook, AddressSet, ApplicationSet, Config, DestinationPool, SourcePool};
use std::collections::hash_map::Entry;
use std::hash::Hash;
use xpf_runtime::AddressFamily;

/// Names a policy may use without defining them.
pub(super) const PREDEFINED_ADDRESSES: [&str; 3] = ["any", "any-ipv4", "any-ipv6"];

/// The application name that matches every protocol.
pub(super) const ANY_APPLICATION: &str = "any";

/// Largest edit distance at which a candidate is suggested.
pub(super) const MAX_SUGGESTION_DISTANCE: usize = 2;

/// Names in definition order, each with a value; the first definition of a
/// name wins and empty names are skipped. Definitions that repeat a name
/// are remembered, so the list's own check can report them without
/// tracking names again ([`Namespace::repeat_of`]).
#[derive(Debug)]
pub(super) struct Namespace<'a, V = ()> {
    order: Vec<&'a str>,
    /// Each name's first definition: its value and position.
    entries: FxHashMap<&'a str, (V, usize)>,
    /// The definitions that repeat a name, in order: their position and
    /// that of the name's first definition. Positions count every
    /// definition given, those with empty names too.
    repeats: Vec<(usize, usize)>,
}

impl<'a, V: Copy> Namespace<'a, V> {
    /// Builds from `(name, value)` pairs in definition order.
    pub(super) fn from_entries(entries: impl IntoIterator<Item = (&'a str, V)>) -> Self {
        let entries = entries.into_iter();
        let capacity = entries.size_hint().0;
        let mut namespace = Self {
            order: Vec::with_capacity(capacity),
            entries: FxHashMap::with_capacity_and_hasher(capacity, Default::default()),
            repeats: Vec::new(),
        };
        for (position, (name, value)) in entries.enumerate() {
            if name.is_empty() {
                continue;
            }
            match namespace.entries.entry(name) {
                Entry::Vacant(slot) => {
                    slot.insert((value, position));
                    namespace.order.push(name);
                }
                Entry::Occupied(first) => namespace.repeats.push((position, first.get().1)),
            }
        }
        namespace
    }

    /// The first definition of `name`.
    pub(super) fn get(&self, name: &str) -> Option<V> {
        self.entries.get(name).map(|&(value, _)| value)
    }

    /// True when `name` is defined.
    pub(super) fn contains(&self, name: &str) -> bool {
        self.entries.contains_key(name)
    }

    /// Every defined name, in definition order.
    pub(super) fn names(&self) -> impl Iterator<Item = &'a str> + '_ {
        self.order.iter().copied()
    }

    /// When the definition at `position` (counting every definition given,
    /// in order) repeats an earlier name, the position of the first.
    pub(super) fn repeat_of(&self, position: usize) -> Option<usize> {
        let repeat = self
            .repeats
            .binary_search_by_key(&position, |&(repeat, _)| repeat)
            .ok()?;
        Some(self.repeats[repeat].1)
    }

    /// [`repeat_of`](Self::repeat_of) for a namespace built from `entries`
    /// entries followed by sets ([`EntryOrSet`]).
    fn shared_repeat_of(&self, at: EntryOrSet, entries: usize) -> Option<EntryOrSet> {
        let position = match at {
            EntryOrSet::Entry(index) => index,
            EntryOrSet::Set(index) => entries + index,
        };
        let first = self.repeat_of(position)?;
        Some(match first.checked_sub(entries) {
            Some(index) => EntryOrSet::Set(index),
            None => EntryOrSet::Entry(first),
        })
    }
}

impl<'a> Namespace<'a> {
    /// Builds a namespace of bare names.
    pub(super) fn from_names(names: impl IntoIterator<Item = &'a str>) -> Self {
        Self::from_entries(names.into_iter().map(|name| (name, ())))
    }
}

/// An entry of an address book: addresses and sets share one namespace.
#[derive(Clone, Copy, Debug)]
pub(super) enum AddressEntry<'a> {
    /// A named prefix or range, by position in the book's `addresses`.
    Address(usize),
    /// A named set, and its position in the book's `address-sets`.
    Set(&'a AddressSet, usize),
}

/// The symbols of one address book, with the families each entry can match.
///
/// Policies look names up at random in books of up to tens of thousands of
/// entries, so the lookup touches as little memory as it can: the table
/// holds positions only, and the families of addresses and sets are in
/// vectors by position, not read from the config.
#[derive(Debug)]
pub(super) struct Book<'a> {
    /// The book's names and resolved set members (addresses at positions
    /// below the number of addresses, sets after them), shared with the
    /// compiler.
    index: BookIndex<'a>,
    /// The families each address can match, by position.
    address_families: Vec<Families>,
    /// What each set resolves to, by position in `address-sets`: resolved
    /// once, up front, because every policy naming a set asks.
    sets: Vec<ResolvedSet>,
}

impl<'a> Book<'a> {
    /// Indexes an address book.
    pub(super) fn of(book: &'a AddressBook) -> Self {
        let mut symbols = Self {
            index: BookIndex::new(book),
            address_families: book.addresses.iter().map(Families::of_address).collect(),
            sets: Vec::new(),
        };
        symbols.sets = resolve_sets(&symbols, &book.address_sets);
        symbols
    }

    /// The index (shared with the compiler).
    pub(super) fn index(&self) -> &BookIndex<'a> {
        &self.index
    }

    /// The index, for the compiler.
    pub(super) fn into_index(self) -> BookIndex<'a> {
        self.index
    }

    /// True when this indexes `book` (the very same one, not an equal one).
    pub(super) fn indexes(&self, book: &AddressBook) -> bool {
        std::ptr::eq(self.index.book(), book)
    }

    /// The first definition of `name`.
    pub(super) fn get(&self, name: &str) -> Option<AddressEntry<'a>> {
        self.entry(self.index.get(name)?)
    }

    /// The entry at `position` (an id of the index).
    pub(super) fn entry(&self, position: NameId) -> Option<AddressEntry<'a>> {
        if position == NO_ENTRY {
            return None;
        }
        let source: &'a AddressBook = self.index.book();
        let position = position as usize;
        Some(match position.checked_sub(source.addresses.len()) {
            None => AddressEntry::Address(position),
            Some(set) => AddressEntry::Set(&source.address_sets[set], set),
        })
    }

    /// The entries the members of the set at `set` of `address-sets` name,
    /// in order (its `addresses`, then its `address-sets`); `None` for a
    /// member that names nothing.
    pub(super) fn members(
        &self,
        set: usize,
    ) -> impl Iterator<Item = Option<AddressEntry<'a>>> + '_ {
        self.index.members(set).iter().map(|&id| self.entry(id))
    }

    /// True when `name` is defined.
    pub(super) fn contains(&self, name: &str) -> bool {
        self.index.get(name).is_some()
    }

    /// Every defined name, in definition order.
    pub(super) fn names(&self) -> impl Iterator<Item = &'a str> + '_ {
        let source: &'a AddressBook = self.index.book();
        let names = source
            .addresses
            .iter()
            .map(|a| a.name.as_str())
            .chain(source.address_sets.iter().map(|s| s.name.as_str()));
        names
            .enumerate()
            .filter(|&(i, _)| self.index.names().is_first_definition(i as NameId))
            .map(|(_, name)| name)
    }

    /// The families `entry` of this book can match; `None` when a set
    /// member along the way does not resolve (or, while the book is being
    /// indexed, when the set is not resolved yet).
    pub(super) fn families(&self, entry: AddressEntry<'_>) -> Option<Families> {
        match entry {
            AddressEntry::Address(index) => self.address_families.get(index).copied(),
            AddressEntry::Set(_, index) => self.sets.get(index)?.families,
        }
    }

    /// When the address or set at `at` repeats an earlier name of the book,
    /// where that name was first defined.
    pub(super) fn repeat_of(&self, at: EntryOrSet) -> Option<EntryOrSet> {
        let entries = self.index.book().addresses.len();
        let position = match at {
            EntryOrSet::Entry(index) => index,
            EntryOrSet::Set(index) => entries + index,
        };
        let first = self.index.names().repeat_of(position as NameId)? as usize;
        Some(match first.checked_sub(entries) {
            Some(index) => EntryOrSet::Set(index),
            None => EntryOrSet::Entry(first),
        })
    }

    /// True when every member of the set at `index` of `address-sets` is
    /// known to resolve to an entry of the kind its list names. Only the
    /// first definition of a name is resolved; for a duplicate this is
    /// false, and its members must be checked one by one.
    pub(super) fn members_resolve(&self, index: usize) -> bool {
        self.sets.get(index).is_some_and(|set| set.members_resolve)
    }
}

/// A custom application or application set (they share one namespace).
#[derive(Clone, Copy, Debug)]
pub(super) enum ApplicationEntry<'a> {
    /// A custom application.
    Application,
    /// An application set.
    Set(&'a ApplicationSet),
}

/// Everything a reference can name, indexed before the walk.
pub(super) struct Symbols<'a> {
    /// Interfaces by name.
    pub(super) interfaces: Namespace<'a>,
    /// Zones by name.
    pub(super) zones: Namespace<'a>,
    /// The global address book.
    pub(super) global_book: Book<'a>,
    /// Each zone's address book, by zone name.
    zone_books: FxHashMap<&'a str, Book<'a>>,
    /// Custom applications and application sets.
    pub(super) applications: Namespace<'a, ApplicationEntry<'a>>,
    /// How many custom applications there are (the sets follow them in
    /// `applications`).
    application_count: usize,
    /// The predefined `junos-*` applications.
    predefined_applications: FxHashSet<&'static str>,
    /// Schedulers.
    pub(super) schedulers: Namespace<'a>,
    /// Screen (ids-option) profiles.
    pub(super) screens: Namespace<'a>,
    /// Source NAT pools.
    pub(super) source_pools: Namespace<'a, &'a SourcePool>,
    /// Destination NAT pools.
    pub(super) destination_pools: Namespace<'a, &'a DestinationPool>,
    /// `family inet` filters.
    inet_filters: Namespace<'a>,
    /// `family inet6` filters.
    inet6_filters: Namespace<'a>,
    /// Policers.
    pub(super) policers: Namespace<'a>,
    /// Redundancy group ids, or `None` when there is no `ha` section.
    pub(super) redundancy_groups: Option<FxHashSet<u8>>,
}

impl<'a> Symbols<'a> {
    /// Indexes `config`.
    pub(super) fn new(config: &'a Config) -> Self {
        let security = &config.security;
        let firewall = &config.firewall;
        let filters_of = |family: AddressFamily| {
            Namespace::from_names(
                firewall
                    .filters
                    .iter()
                    .filter(move |f| f.family == family)
                    .map(|f| f.name.as_str()),
            )
        };
        let mut zone_books = FxHashMap::default();
        for zone in &config.zones {
            zone_books
                .entry(zone.name.as_str())
                .or_insert_with(|| Book::of(&zone.address_book));
        }
        let applications = config.applications.applications.iter();
        let application_sets = config.applications.application_sets.iter();
        Self {
            interfaces: Namespace::from_names(config.interfaces.iter().map(|i| i.name.as_str())),
            zones: Namespace::from_names(config.zones.iter().map(|z| z.name.as_str())),
            global_book: Book::of(&config.address_book),
            zone_books,
            applications: Namespace::from_entries(
                applications
                    .map(|a| (a.name.as_str(), ApplicationEntry::Application))
                    .chain(application_sets.map(|s| (s.name.as_str(), ApplicationEntry::Set(s)))),
            ),
            application_count: config.applications.applications.len(),
            predefined_applications: predefined::predefined_names().collect(),
            schedulers: Namespace::from_names(config.schedulers.iter().map(|s| s.name.as_str())),
            screens: Namespace::from_names(
                security.screen.ids_options.iter().map(|s| s.name.as_str()),
            ),
            source_pools: Namespace::from_entries(
                security
                    .nat
                    .source
                    .pools
                    .iter()
                    .map(|p| (p.name.as_str(), p)),
            ),
            destination_pools: Namespace::from_entries(
                security
                    .nat
                    .destination
                    .pools
                    .iter()
                    .map(|p| (p.name.as_str(), p)),
            ),
            inet_filters: filters_of(AddressFamily::Inet),
            inet6_filters: filters_of(AddressFamily::Inet6),
            policers: Namespace::from_names(firewall.policers.iter().map(|p| p.name.as_str())),
            redundancy_groups: config
                .ha
                .as_ref()
                .map(|ha| ha.redundancy_groups.iter().map(|g| g.id).collect()),
        }
    }

    /// The indexed address books, for the compiler: the global book and
    /// each zone's by position (a zone whose name repeats an earlier one,
    /// which validation rejects, gets its own index).
    pub(super) fn into_books(mut self, config: &'a Config) -> Books<'a> {
        let zones = config
            .zones
            .iter()
            .map(|zone| match self.zone_books.remove(zone.name.as_str()) {
                Some(book) if book.indexes(&zone.address_book) => book.into_index(),
                _ => BookIndex::new(&zone.address_book),
            })
            .collect();
        Books {
            global: self.global_book.into_index(),
            zones,
        }
    }

    /// The address book of zone `zone`, if the zone exists.
    pub(super) fn zone_book(&self, zone: &str) -> Option<&Book<'a>> {
        self.zone_books.get(zone)
    }

    /// Zones whose own address book defines `name`, in definition order.
    pub(super) fn zones_defining(&self, name: &str) -> Vec<&'a str> {
        self.zones
            .names()
            .filter(|zone| self.zone_books.get(zone).is_some_and(|b| b.contains(name)))
            .collect()
    }

    /// Filters of one family.
    pub(super) fn filters(&self, family: AddressFamily) -> &Namespace<'a> {
        match family {
            AddressFamily::Inet => &self.inet_filters,
            AddressFamily::Inet6 => &self.inet6_filters,
        }
    }

    /// When the application or application set at `at` repeats an earlier
    /// name, where that name was first defined.
    pub(super) fn application_repeat_of(&self, at: EntryOrSet) -> Option<EntryOrSet> {
        self.applications
            .shared_repeat_of(at, self.application_count)
    }

    /// True when `name` is a predefined `junos-*` application.
    pub(super) fn is_predefined_application(&self, name: &str) -> bool {
        self.predefined_applications.contains(name)
    }

    /// True when `name` is `any`, a predefined application, or a custom
    /// application or set.
    pub(super) fn application_exists(&self, name: &str) -> bool {
        name == ANY_APPLICATION
            || self.is_predefined_application(name)
            || self.applications.contains(name)
    }

    /// Every name an application reference may use, custom ones first.
    pub(super) fn application_names(&self) -> impl Iterator<Item = &'a str> + '_ {
        let predefined = predefined::predefined_names().map(|name| -> &'a str { name });
        self.applications
            .names()
            .chain(predefined)
            .chain([ANY_APPLICATION])
    }
}

/// Where each key of one list was first defined, for duplicate reports:
/// by default the element's index, from which the "first defined at" path
/// is rendered only when a duplicate is reported.
#[derive(Debug)]
pub(super) struct FirstSeen<K, At = usize> {
    first: FxHashMap<K, At>,
}

impl<K, At> Default for FirstSeen<K, At> {
    fn default() -> Self {
        Self {
            first: FxHashMap::default(),
        }
    }
}

impl<K: Hash + Eq, At: Copy> FirstSeen<K, At> {
    /// A tracker for a list of about `len` elements.
    pub(super) fn with_capacity(len: usize) -> Self {
        Self {
            first: FxHashMap::with_capacity_and_hasher(len, Default::default()),
        }
    }

    /// Records `key` as defined at `at`. Returns where it was first defined
    /// when this is a duplicate.
    pub(super) fn record(&mut self, key: K, at: At) -> Option<At> {
        match self.first.entry(key) {
            Entry::Occupied(first) => Some(*first.get()),
            Entry::Vacant(slot) => {
                slot.insert(at);
                None
            }
        }
    }
}

/// Where a name was defined in a namespace that a list of entries shares
/// with a list of sets: addresses and address sets, applications and
/// application sets.
#[derive(Clone, Copy, Debug)]
pub(super) enum EntryOrSet {
    /// The element of the entry list at this index.
    Entry(usize),
    /// The element of the set list at this index.
    Set(usize),
}

impl EntryOrSet {
    /// The definition's path by index, given the paths of the two lists.
    pub(super) fn path<'p>(self, entries: &Path<'p>, sets: &Path<'p>) -> Path<'p> {
        match self {
            Self::Entry(index) => entries.index(index),
            Self::Set(index) => sets.index(index),
        }
    }
}

/// `unknown <what> "<name>"`, with a suggestion when one is close enough.
pub(super) fn unknown<'c>(
    what: &str,
    name: &str,
    candidates: impl IntoIterator<Item = &'c str>,
) -> String {
    with_suggestion(format!("unknown {what} {name:?}"), name, candidates)
}

/// `unknown <what> "<name>" in <place>`, with a suggestion when one is close enough.
pub(super) fn unknown_in<'c>(
    what: &str,
    name: &str,
    place: &str,
    candidates: impl IntoIterator<Item = &'c str>,
) -> String {
    with_suggestion(
        format!("unknown {what} {name:?} in {place}"),
        name,
        candidates,
    )
}

fn with_suggestion<'c>(
    message: String,
    name: &str,
    candidates: impl IntoIterator<Item = &'c str>,
) -> String {
    match did_you_mean(name, candidates) {
        Some(suggestion) => format!("{message} (did you mean {suggestion:?}?)"),
        None => message,
    }
}

/// The candidate `name` was most likely meant to be, if one stands out.
///
/// The closest candidate by edit distance (at most
/// [`MAX_SUGGESTION_DISTANCE`], and less than the length of `name`), ties
/// broken by the longer common prefix; failing that, the only candidate
/// that starts with `name` (for names of 3 or more characters). When two
/// candidates are equally close, nothing is suggested.
pub(super) fn did_you_mean<'c>(
    name: &str,
    candidates: impl IntoIterator<Item = &'c str>,
) -> Option<&'c str> {
    let name_len = name.chars().count();
    let mut closest: Vec<&'c str> = Vec::new();
    let mut closest_score = None;
    let mut prefixed: Vec<&'c str> = Vec::new();
    for candidate in candidates {
        if candidate == name || closest.contains(&candidate) || prefixed.contains(&candidate) {
            continue;
        }
        let score = closeness(name, candidate);
        if score.distance <= MAX_SUGGESTION_DISTANCE && score.distance < name_len {
            if closest_score.is_none_or(|best| score < best) {
                closest_score = Some(score);
                closest.clear();
            }
            if closest_score == Some(score) {
                closest.push(candidate);
            }
        }
        if name_len >= 3 && candidate.starts_with(name) {
            prefixed.push(candidate);
        }
    }
    match (closest.as_slice(), prefixed.as_slice()) {
        ([only], _) | ([], [only]) => Some(only),
        _ => None,
    }
}

/// How close a candidate is to a name: smaller is closer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Closeness {
    /// Levenshtein distance.
    distance: usize,
    /// Length of the common prefix, negated so a longer one orders first.
    common_prefix: std::cmp::Reverse<usize>,
}

/// How close `candidate` is to `name`, also comparing `candidate` without
/// a `junos-` prefix and keeping the closer of the two.
fn closeness(name: &str, candidate: &str) -> Closeness {
    let score = |candidate: &str| Closeness {
        distance: levenshtein(name, candidate),
        common_prefix: std::cmp::Reverse(common_prefix(name, candidate)),
    };
    let full = score(candidate);
    candidate
        .strip_prefix("junos-")
        .map_or(full, |short| full.min(score(short)))
}

fn common_prefix(a: &str, b: &str) -> usize {
    a.chars().zip(b.chars()).take_while(|(x, y)| x == y).count()
}

/// Levenshtein distance over characters.
fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    let mut current = vec![0; b.len() + 1];
    for (i, ca) in a.chars().enumerate() {
        current[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != cb);
            current[j + 1] = substitution.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        std::mem::swap(&mut previous, &mut current);
    }
    previous[b.len()]
}

/// Finds a chain of set memberships leading from `start` back to itself,
/// e.g. `["a", "b", "a"]`. `children` lists the sets a set contains.
pub(super) fn find_cycle<'a, I>(
    start: &'a str,
    children: impl Fn(&'a str) -> I,
) -> Option<Vec<&'a str>>
where
    I: IntoIterator<Item = &'a str>,
{
    let mut visited = FxHashSet::default();
    visited.insert(start);
    let mut stack = vec![(start, children(start).into_iter())];
    while let Some((_, members)) = stack.last_mut() {
        let Some(member) = members.next() else {
            stack.pop();
            continue;
        };
        if member == start {
            let mut chain: Vec<&str> = stack.iter().map(|(set, _)| *set).collect();
            chain.push(start);
            return Some(chain);
        }
        if visited.insert(member) {
            stack.push((member, children(member).into_iter()));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levenshtein_counts_edits() {
        assert_eq!(levenshtein("htp", "http"), 1);
        assert_eq!(levenshtein("trust", "trust"), 0);
        assert_eq!(levenshtein("untrsut", "untrust"), 2);
        assert_eq!(levenshtein("", "abc"), 3);
    }

    #[test]
    fn suggests_predefined_applications_without_their_prefix() {
        let names = predefined::predefined_names();
        assert_eq!(did_you_mean("htp", names), Some("junos-http"));
        assert_eq!(
            did_you_mean("junos-htp", predefined::predefined_names()),
            Some("junos-http")
        );
        assert_eq!(
            did_you_mean("https", predefined::predefined_names()),
            Some("junos-https")
        );
    }

    #[test]
    fn suggests_by_distance_then_unique_prefix() {
        assert_eq!(
            did_you_mean("untrsut", ["trust", "untrust"]),
            Some("untrust")
        );
        assert_eq!(
            did_you_mean("office", ["office-hours", "weekend"]),
            Some("office-hours")
        );
        assert_eq!(did_you_mean("web", ["web-1", "web-2"]), None, "ambiguous");
        assert_eq!(did_you_mean("web", ["web-1", "dns"]), Some("web-1"));
        assert_eq!(did_you_mean("zz", ["trust"]), None);
        assert_eq!(
            did_you_mean("a", ["b"]),
            None,
            "no suggestion that replaces the whole name"
        );
    }

    #[test]
    fn finds_set_cycles() {
        let graph = |set: &str| -> Vec<&'static str> {
            match set {
                "a" => vec!["b"],
                "b" => vec!["c", "a"],
                _ => vec![],
            }
        };
        assert_eq!(find_cycle("a", graph), Some(vec!["a", "b", "a"]));
        assert_eq!(find_cycle("c", graph), None);
    }

    #[test]
    fn first_definition_wins() {
        let ns = Namespace::from_entries([("a", 1), ("b", 2), ("a", 3), ("", 4)]);
        assert_eq!(ns.get("a"), Some(1));
        assert_eq!(ns.names().collect::<Vec<_>>(), ["a", "b"]);
        let mut seen = FirstSeen::default();
        assert_eq!(seen.record("a", Path::root().field("x").index(0)), None);
        assert_eq!(
            seen.record("a", Path::root().field("x").index(1))
                .map(|p| p.to_string()),
            Some("x[#0]".to_string())
        );
    }
}
