//! Address books: the global `address-book` and each zone's
//! `zones[..].address-book`.
//!
//! Owns address and address-set definitions: names (addresses and sets
//! share one namespace per book, and `any`, `any-ipv4`, `any-ipv6` are
//! reserved), exactly one of `prefix` or `range`, host bits, range order and
//! family, set members (entries of the same book only) and sets that
//! contain themselves.
//!
//! Also answers for `policies` whether an address name resolves and which
//! families it can match ([`address_families`]). Every set is resolved
//! once per book, when [`Book`] indexes it ([`resolve_sets`]), so a
//! policy's check is a lookup however many policies name the set.
//!
//! A zone's book may define a name the global book also defines. That is
//! allowed and not reported: for policies that resolve through the zone,
//! the zone's entry shadows the global one.

use super::Validator;
use super::names::{AddressEntry, Book, EntryOrSet, PREDEFINED_ADDRESSES, find_cycle, unknown_in};
use super::path::Path;
use super::values::{Families, host_bits_problem};
use crate::config::{Address, AddressBook, AddressSet};

impl Validator<'_> {
    /// Checks the global `address-book`.
    pub(super) fn check_global_address_book(&mut self) {
        let config = self.config;
        let path = Path::root().field("address-book");
        let symbols = &self.symbols.global_book;
        self.check_address_book(
            &path,
            &config.address_book,
            symbols,
            "the global address book",
        );
    }

    /// Checks one address book, indexed as `symbols`; `place` names it in
    /// messages.
    pub(super) fn check_address_book(
        &mut self,
        path: &Path<'_>,
        book: &AddressBook,
        symbols: &Book<'_>,
        place: &str,
    ) {
        // Addresses and sets share one namespace, which `symbols` tracks.
        let (addresses, sets) = (path.field("addresses"), path.field("address-sets"));
        let first_path = |at| {
            let first: EntryOrSet = symbols.repeat_of(at)?;
            Some(first.path(&addresses, &sets))
        };
        for (i, address) in book.addresses.iter().enumerate() {
            let item = addresses.item(&address.name, i);
            let first = || first_path(EntryOrSet::Entry(i));
            self.check_book_entry_name("address", &address.name, &item, first);
            self.check_address(&item, address);
        }
        for (i, set) in book.address_sets.iter().enumerate() {
            let item = sets.item(&set.name, i);
            let first = || first_path(EntryOrSet::Set(i));
            self.check_book_entry_name("address set", &set.name, &item, first);
            self.check_address_set(&item, i, set, symbols, place);
        }
    }

    /// Checks the name of an address or set; `first` is as for
    /// [`check_name_with`](Self::check_name_with).
    fn check_book_entry_name<'p>(
        &mut self,
        what: &str,
        name: &str,
        path: &Path<'_>,
        first: impl FnOnce() -> Option<Path<'p>>,
    ) {
        if PREDEFINED_ADDRESSES.contains(&name) {
            self.error(
                path,
                format!("{what} name {name:?} is reserved (predefined)"),
            );
        } else {
            self.check_name_with(what, name, path, first);
        }
    }

    fn check_address(&mut self, path: &Path<'_>, address: &Address) {
        let name = &address.name;
        match (&address.prefix, &address.range) {
            (None, None) => self.error(path, format!("address {name:?} needs a prefix or a range")),
            (Some(_), Some(_)) => self.error(
                &path.field("range"),
                format!("address {name:?} has both a prefix and a range; use one"),
            ),
            (Some(prefix), None) => {
                // Every address of a book gets here: build the field's path
                // only for an error.
                if let Some(problem) = host_bits_problem(prefix) {
                    self.error(&path.field("prefix"), problem);
                }
            }
            (None, Some(range)) => self.check_address_range(&path.field("range"), range),
        }
    }

    /// Checks `set`, at position `index` of `address-sets` in `book`.
    fn check_address_set(
        &mut self,
        path: &Path<'_>,
        index: usize,
        set: &AddressSet,
        book: &Book<'_>,
        place: &str,
    ) {
        // Indexing the book resolved the members already; look them up one
        // by one only when that found a problem.
        if !book.members_resolve(index) {
            for member in &set.addresses {
                if let Some(message) = member_problem(book, member, false, place) {
                    self.error(&path.field("addresses"), message);
                }
            }
            for member in &set.address_sets {
                if let Some(message) = member_problem(book, member, true, place) {
                    self.error(&path.field("address-sets"), message);
                }
            }
        }
        // Only the definition references resolve to is checked for cycles, so
        // a duplicate (already reported) does not repeat its twin's cycle. A
        // set without nested sets cannot contain itself.
        let is_first_definition =
            matches!(book.get(&set.name), Some(AddressEntry::Set(_, first)) if first == index);
        if is_first_definition
            && !set.address_sets.is_empty()
            && let Some(cycle) = find_cycle(set.name.as_str(), |name| nested_sets(book, name))
        {
            self.error(
                &path.field("address-sets"),
                format!(
                    "address set {:?} contains itself ({})",
                    set.name,
                    cycle.join(" -> ")
                ),
            );
        }
    }
}

/// What is wrong with a set member, if anything. `want_set` says whether the
/// member is listed under `address-sets` (else `addresses`).
fn member_problem(book: &Book<'_>, member: &str, want_set: bool, place: &str) -> Option<String> {
    let (what, other_field) = if want_set {
        ("address set", "addresses")
    } else {
        ("address", "address-sets")
    };
    match book.get(member) {
        Some(AddressEntry::Set(..)) if !want_set => Some(format!(
            "{member:?} is an address set; list it under {other_field}"
        )),
        Some(AddressEntry::Address(_)) if want_set => Some(format!(
            "{member:?} is an address; list it under {other_field}"
        )),
        Some(_) => None,
        None => {
            let same_kind = book
                .names()
                .filter(|name| matches!(book.get(name), Some(AddressEntry::Set(..))) == want_set);
            Some(unknown_in(what, member, place, same_kind))
        }
    }
}

/// The sets directly nested in set `name` of `book`.
fn nested_sets<'a>(book: &Book<'a>, name: &str) -> Vec<&'a str> {
    match book.get(name) {
        Some(AddressEntry::Set(set, _)) => set.address_sets.iter().map(String::as_str).collect(),
        _ => Vec::new(),
    }
}

/// The families address `name` can match, resolved in `books` in order (a
/// set's members in the set's own book); `any`, `any-ipv4` and `any-ipv6`
/// are predefined. `None` when `name` is not defined; `Some(None)` when it
/// is, but something along the way does not resolve: that is reported
/// elsewhere, so no conclusion is drawn from it.
pub(super) fn address_families(books: &[&Book<'_>], name: &str) -> Option<Option<Families>> {
    match name {
        "any" => Some(Some(Families::BOTH)),
        "any-ipv4" => Some(Some(Families::V4)),
        "any-ipv6" => Some(Some(Families::V6)),
        _ => books
            .iter()
            .find_map(|book| Some(book.families(book.get(name)?))),
    }
}

/// What resolving the members of one set found.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct ResolvedSet {
    /// The families the set can match: those of every address reachable
    /// through its members. `None` when a member of a reachable set does
    /// not resolve, or when the set was not resolved (a duplicate).
    pub(super) families: Option<Families>,
    /// True when every member resolves to an entry of the kind its list
    /// names (so checking its members would report nothing).
    pub(super) members_resolve: bool,
}

/// Resolves every set of `book`, by position in `sets` (its
/// `address-sets`), looking members up in `book`. Sets that are not the
/// first definition of their name are left unresolved
/// ([`ResolvedSet::default`]): nothing resolves to them.
///
/// One depth-first walk over the whole book visits each set once
/// (Tarjan's strongly connected components: the sets of a cycle reach the
/// same addresses, so they share one result; a set reached twice, or
/// through a cycle, adds nothing new).
pub(super) fn resolve_sets(book: &Book<'_>, sets: &[AddressSet]) -> Vec<ResolvedSet> {
    let mut resolver = SetResolver {
        book,
        sets,
        resolved: vec![ResolvedSet::default(); sets.len()],
        visits: vec![Visit::New; sets.len()],
        open: Vec::new(),
    };
    for (index, set) in sets.iter().enumerate() {
        if matches!(book.get(&set.name), Some(AddressEntry::Set(_, first)) if first == index) {
            resolver.resolve(index);
        }
    }
    resolver.resolved
}

/// How far [`SetResolver`] has got with a set.
#[derive(Clone, Copy, Debug)]
enum Visit {
    /// Not reached yet.
    New,
    /// Reached and not final: at this position in [`SetResolver::open`].
    Open(usize),
    /// Final.
    Done,
}

/// The state of [`resolve_sets`].
struct SetResolver<'r> {
    /// The book, with its addresses' families (its sets are not resolved).
    book: &'r Book<'r>,
    sets: &'r [AddressSet],
    /// Results by set position; final once the set's visit is `Done`.
    resolved: Vec<ResolvedSet>,
    visits: Vec<Visit>,
    /// Positions of the sets reached but not final, in the order reached:
    /// each is final once the first set of its cycle (or itself, without
    /// one) is done.
    open: Vec<usize>,
}

impl SetResolver<'_> {
    /// Resolves the set at `index` and what it reaches. Returns its
    /// families so far and the lowest `open` position it reaches
    /// (`usize::MAX` for none): the families are final unless that
    /// position is below the set's own.
    fn resolve(&mut self, index: usize) -> (Option<Families>, usize) {
        let at = match self.visits[index] {
            Visit::Done => return (self.resolved[index].families, usize::MAX),
            // A cycle: what the set reaches is counted where it was opened.
            Visit::Open(at) => return (Some(Families::NONE), at),
            Visit::New => self.open.len(),
        };
        self.open.push(index);
        self.visits[index] = Visit::Open(at);
        let listed_addresses = self.sets[index].addresses.len();
        let mut lowest = at;
        let mut families = Some(Families::NONE);
        let mut members_resolve = true;
        // Indexing the book resolved the member names to entries.
        let book = self.book;
        for (k, member) in book.members(index).enumerate() {
            let want_set = k >= listed_addresses;
            let member_families = match member {
                None => {
                    members_resolve = false;
                    None
                }
                Some(address @ AddressEntry::Address(_)) => {
                    members_resolve &= !want_set;
                    self.book.families(address)
                }
                Some(AddressEntry::Set(_, nested)) => {
                    members_resolve &= want_set;
                    let (nested_families, reached) = self.resolve(nested);
                    lowest = lowest.min(reached);
                    nested_families
                }
            };
            families = families.zip(member_families).map(|(a, b)| a | b);
        }
        self.resolved[index].members_resolve = members_resolve;
        if lowest == at {
            // The set opened its cycle (if any): every set opened since
            // reaches exactly what it reaches.
            for open in self.open.drain(at..) {
                self.visits[open] = Visit::Done;
                self.resolved[open].families = families;
            }
        }
        (families, lowest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashSet;

    fn address(name: &str, prefix: Option<&str>) -> Address {
        Address {
            name: name.to_string(),
            prefix: prefix.map(|p| p.parse().expect("test prefix")),
            ..Address::default()
        }
    }

    fn set(name: &str, addresses: &[&str], address_sets: &[&str]) -> AddressSet {
        let names = |list: &[&str]| list.iter().map(|n| n.to_string()).collect();
        AddressSet {
            name: name.to_string(),
            addresses: names(addresses),
            address_sets: names(address_sets),
        }
    }

    /// The families of `name` by the definition: a depth-first walk of the
    /// members that counts each set once, with no memo.
    fn walked_families(book: &Book<'_>, name: &str) -> Option<Option<Families>> {
        fn walk<'a>(
            book: &Book<'a>,
            entry: AddressEntry<'a>,
            visited: &mut HashSet<&'a str>,
        ) -> Option<Families> {
            let AddressEntry::Set(set, _) = entry else {
                return book.families(entry);
            };
            if !visited.insert(&set.name) {
                return Some(Families::NONE);
            }
            let mut members = set.addresses.iter().chain(&set.address_sets);
            members.try_fold(Families::NONE, |families, member| {
                Some(families | walk(book, book.get(member)?, visited)?)
            })
        }
        let entry = book.get(name)?;
        Some(walk(book, entry, &mut HashSet::new()))
    }

    #[test]
    fn sets_of_a_cycle_share_their_families() {
        let book = AddressBook {
            addresses: vec![
                address("v4", Some("10.0.0.0/8")),
                address("v6", Some("2001:db8::/32")),
            ],
            address_sets: vec![
                set("a", &["v4"], &["b"]),
                set("b", &["v6"], &["a"]),
                set("c", &[], &["a"]),
                set("broken", &["v4", "nowhere"], &[]),
                set("uses-broken", &["v6"], &["broken"]),
                set("misfiled", &["a"], &[]),
            ],
        };
        let book = Book::of(&book);
        let families = |name| address_families(&[&book], name);
        for name in ["a", "b", "c"] {
            assert_eq!(families(name), Some(Some(Families::BOTH)), "{name}");
        }
        assert_eq!(families("broken"), Some(None));
        assert_eq!(families("uses-broken"), Some(None));
        assert_eq!(families("misfiled"), Some(Some(Families::BOTH)));
        assert_eq!(families("nowhere"), None);
        assert_eq!(families("any-ipv6"), Some(Some(Families::V6)));
        let resolving: Vec<bool> = (0..6).map(|i| book.members_resolve(i)).collect();
        assert_eq!(resolving, [true, true, true, false, true, false]);
    }

    const NAMES: [&str; 6] = ["a", "b", "c", "d", "e", ""];

    fn arb_name() -> impl Strategy<Value = &'static str> {
        prop::sample::select(&NAMES[..])
    }

    fn arb_book() -> impl Strategy<Value = AddressBook> {
        let prefix = prop::sample::select(vec![None, Some("10.0.0.0/8"), Some("2001:db8::/32")]);
        let addresses = prop::collection::vec((arb_name(), prefix), 0..5);
        let members = || prop::collection::vec(arb_name(), 0..4);
        let sets = prop::collection::vec((arb_name(), members(), members()), 0..7);
        (addresses, sets).prop_map(|(addresses, sets)| AddressBook {
            addresses: addresses.into_iter().map(|(n, p)| address(n, p)).collect(),
            address_sets: sets.into_iter().map(|(n, a, s)| set(n, &a, &s)).collect(),
        })
    }

    proptest! {
        /// Resolving every set once, up front, agrees with walking each
        /// name's members on demand, through cycles, shared members,
        /// duplicates and members that do not resolve.
        #[test]
        fn resolved_sets_agree_with_walking_the_members(source in arb_book()) {
            let book = Book::of(&source);
            for name in NAMES {
                prop_assert_eq!(address_families(&[&book], name), walked_families(&book, name));
            }
            for (i, set) in source.address_sets.iter().enumerate() {
                let first = matches!(book.get(&set.name), Some(AddressEntry::Set(_, f)) if f == i);
                let members = (set.addresses.iter().map(|m| (m, false)))
                    .chain(set.address_sets.iter().map(|m| (m, true)));
                let all_resolve = members.into_iter().all(|(member, want_set)| {
                    matches!(book.get(member), Some(entry) if matches!(entry, AddressEntry::Set(..)) == want_set)
                });
                prop_assert_eq!(book.members_resolve(i), first && all_resolve);
            }
        }
    }
}
