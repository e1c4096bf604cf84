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
//! families it can match ([`address_families`]).
//!
//! A zone's book may define a name the global book also defines. That is
//! allowed and not reported: for policies that resolve through the zone,
//! the zone's entry shadows the global one.

use super::Validator;
use super::names::{AddressEntry, Book, FirstSeen, PREDEFINED_ADDRESSES, find_cycle, unknown_in};
use super::path::Path;
use super::values::Families;
use crate::config::{Address, AddressBook, AddressSet};
use std::collections::HashSet;

impl Validator<'_> {
    /// Checks the global `address-book`.
    pub(super) fn check_global_address_book(&mut self) {
        let config = self.config;
        let path = Path::root().field("address-book");
        self.check_address_book(&path, &config.address_book, "the global address book");
    }

    /// Checks one address book; `place` names it in messages.
    pub(super) fn check_address_book(&mut self, path: &Path, book: &AddressBook, place: &str) {
        let symbols = Book::of(book);
        let mut seen = FirstSeen::default();
        let addresses = path.field("addresses");
        for (i, address) in book.addresses.iter().enumerate() {
            let item = addresses.item(&address.name, i);
            self.check_book_entry_name(
                &mut seen,
                "address",
                &address.name,
                &item,
                addresses.index(i),
            );
            self.check_address(&item, address);
        }
        let sets = path.field("address-sets");
        for (i, set) in book.address_sets.iter().enumerate() {
            let item = sets.item(&set.name, i);
            self.check_book_entry_name(&mut seen, "address set", &set.name, &item, sets.index(i));
            self.check_address_set(&item, set, &symbols, place);
        }
    }

    fn check_book_entry_name(
        &mut self,
        seen: &mut FirstSeen,
        what: &str,
        name: &str,
        path: &Path,
        at: Path,
    ) {
        if PREDEFINED_ADDRESSES.contains(&name) {
            self.error(
                path,
                format!("{what} name {name:?} is reserved (predefined)"),
            );
        } else {
            self.check_name(seen, what, name, path, at);
        }
    }

    fn check_address(&mut self, path: &Path, address: &Address) {
        let name = &address.name;
        match (&address.prefix, &address.range) {
            (None, None) => self.error(path, format!("address {name:?} needs a prefix or a range")),
            (Some(_), Some(_)) => self.error(
                &path.field("range"),
                format!("address {name:?} has both a prefix and a range; use one"),
            ),
            (Some(prefix), None) => self.check_network_prefix(&path.field("prefix"), prefix),
            (None, Some(range)) => self.check_address_range(&path.field("range"), range),
        }
    }

    fn check_address_set(&mut self, path: &Path, set: &AddressSet, book: &Book<'_>, place: &str) {
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
        // Only the definition references resolve to is checked for cycles, so
        // a duplicate (already reported) does not repeat its twin's cycle.
        let is_first_definition =
            matches!(book.get(&set.name), Some(AddressEntry::Set(s)) if std::ptr::eq(s, set));
        if is_first_definition
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
        Some(AddressEntry::Set(_)) if !want_set => Some(format!(
            "{member:?} is an address set; list it under {other_field}"
        )),
        Some(AddressEntry::Address(_)) if want_set => Some(format!(
            "{member:?} is an address; list it under {other_field}"
        )),
        Some(_) => None,
        None => {
            let same_kind = book
                .names()
                .filter(|name| matches!(book.get(name), Some(AddressEntry::Set(_))) == want_set);
            Some(unknown_in(what, member, place, same_kind))
        }
    }
}

/// The sets directly nested in set `name` of `book`.
fn nested_sets<'a>(book: &Book<'a>, name: &str) -> Vec<&'a str> {
    match book.get(name) {
        Some(AddressEntry::Set(set)) => set.address_sets.iter().map(String::as_str).collect(),
        _ => Vec::new(),
    }
}

/// True when `name` is predefined or defined in one of `books`.
pub(super) fn address_exists(books: &[&Book<'_>], name: &str) -> bool {
    PREDEFINED_ADDRESSES.contains(&name) || books.iter().any(|book| book.contains(name))
}

/// The families address `name` can match, resolved in `books` in order (a
/// set's members in the set's own book). `None` when something along the
/// way does not resolve: that is reported elsewhere, so no conclusion is
/// drawn from it.
pub(super) fn address_families(books: &[&Book<'_>], name: &str) -> Option<Families> {
    match name {
        "any" => Some(Families::BOTH),
        "any-ipv4" => Some(Families::V4),
        "any-ipv6" => Some(Families::V6),
        _ => books.iter().find_map(|book| {
            let entry = book.get(name)?;
            Some(entry_families(book, entry, &mut HashSet::new()))
        })?,
    }
}

fn entry_families<'a>(
    book: &Book<'a>,
    entry: AddressEntry<'a>,
    visiting: &mut HashSet<&'a str>,
) -> Option<Families> {
    match entry {
        AddressEntry::Address(address) => {
            let prefix = address.prefix.map(|p| Families::of_addr(p.addr()));
            let range = address.range.map(|r| Families::of_addr(r.from));
            Some(prefix.unwrap_or_default() | range.unwrap_or_default())
        }
        AddressEntry::Set(set) => {
            if !visiting.insert(set.name.as_str()) {
                return Some(Families::NONE); // a cycle, reported by the book check
            }
            let mut members = set.addresses.iter().chain(&set.address_sets);
            members.try_fold(Families::NONE, |families, member| {
                Some(families | entry_families(book, book.get(member)?, visiting)?)
            })
        }
    }
}
