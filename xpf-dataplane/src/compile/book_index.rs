//! An address book indexed once, for validation and compilation alike.
//!
//! Both stages need the same two things from every book: its names, and
//! what each address set's members resolve to. With 50,000 entries that is
//! 100,000 lookups at random places of tables too large for the inner
//! caches, and on this kind of machine those misses, not the instructions,
//! are most of the cost. [`BookIndex`] does the work once: validation
//! builds it, checks against it, and hands it to the compiler
//! ([`Books`]), which then reads member ids instead of looking names up
//! again. Compiling a config that was validated elsewhere
//! ([`compile_validated`](super::compile_validated)) builds its own.

use super::addresses::Entry;
use super::name_index::{NameId, NameIndex};
use crate::config::{AddressBook, Config};

/// A member id that names nothing in the book.
pub(crate) const NO_ENTRY: NameId = NameId::MAX;

/// One address book: a [`NameIndex`] over its addresses then its sets, and
/// every set's members resolved to ids (see the module header).
#[derive(Clone, Debug)]
pub(crate) struct BookIndex<'a> {
    book: &'a AddressBook,
    names: NameIndex,
    /// Every set's members, in order (its `addresses`, then its
    /// `address-sets`), as ids; [`NO_ENTRY`] for a name not defined.
    members: Vec<NameId>,
    /// `member_ends[i]` is the offset in `members` just past set `i`'s.
    member_ends: Vec<u32>,
}

impl<'a> BookIndex<'a> {
    /// Indexes `book`.
    pub(crate) fn new(book: &'a AddressBook) -> Self {
        let addresses = book.addresses.iter().map(|a| a.name.as_str());
        let sets = book.address_sets.iter().map(|s| s.name.as_str());
        let names = NameIndex::new(addresses.chain(sets));
        let all_members = book.address_sets.iter().flat_map(|s| {
            let listed = s.addresses.iter().chain(&s.address_sets);
            listed.map(String::as_str)
        });
        let mut found = Vec::new();
        names.get_many(all_members, &mut found);
        let members = found.into_iter().map(|id| id.unwrap_or(NO_ENTRY)).collect();
        let mut end = 0u32;
        let member_ends = book
            .address_sets
            .iter()
            .map(|s| {
                end += (s.addresses.len() + s.address_sets.len()) as u32;
                end
            })
            .collect();
        Self {
            book,
            names,
            members,
            member_ends,
        }
    }

    /// The book indexed.
    pub(crate) fn book(&self) -> &'a AddressBook {
        self.book
    }

    /// The names: addresses at ids below the number of addresses, sets
    /// after them.
    pub(crate) fn names(&self) -> &NameIndex {
        &self.names
    }

    /// The id of the first definition of `name`.
    pub(crate) fn get(&self, name: &str) -> Option<NameId> {
        self.names.get(name)
    }

    /// The entry with id `id` (as returned by [`BookIndex::get`] or
    /// [`BookIndex::members`], never [`NO_ENTRY`]), and for a set its
    /// position in `address-sets`.
    pub(crate) fn entry(&self, id: NameId) -> (Entry<'a>, Option<usize>) {
        let id = id as usize;
        let book: &'a AddressBook = self.book;
        match id.checked_sub(book.addresses.len()) {
            None => (Entry::Address(&book.addresses[id]), None),
            Some(set) => (Entry::Set(&book.address_sets[set]), Some(set)),
        }
    }

    /// The members of the set at position `set` of `address-sets`, in
    /// order (its `addresses`, then its `address-sets`), as ids;
    /// [`NO_ENTRY`] where a member names nothing.
    pub(crate) fn members(&self, set: usize) -> &[NameId] {
        let start = if set == 0 {
            0
        } else {
            self.member_ends[set - 1] as usize
        };
        &self.members[start..self.member_ends[set] as usize]
    }
}

/// Looks every name of `names` up in `books`, in order (the first book
/// defining a name wins), into `out` (cleared first): the position in
/// `books` of the book that defines it and its id there.
///
/// Policies name addresses at random places of the books; one lookup at a
/// time, each waits for its own cache misses. This resolves them book by
/// book with [`NameIndex::get_many`], so the misses overlap.
pub(crate) fn find_many(
    books: &[&BookIndex<'_>],
    names: &[&str],
    out: &mut Vec<Option<(usize, NameId)>>,
) {
    out.clear();
    out.resize(names.len(), None);
    let mut pending: Vec<usize> = (0..names.len()).collect();
    let mut found = Vec::new();
    for (b, book) in books.iter().enumerate() {
        if pending.is_empty() {
            break;
        }
        if book.names.is_empty() {
            // Zone books are often empty: do not hash every name for them.
            continue;
        }
        book.names
            .get_many(pending.iter().map(|&i| names[i]), &mut found);
        for (&i, hit) in pending.iter().zip(&found) {
            out[i] = hit.map(|id| (b, id));
        }
        pending.retain(|&i| out[i].is_none());
    }
}

/// Every address book of a config, indexed: the global book and each zone's,
/// by position in the zone list.
#[derive(Clone, Debug)]
pub(crate) struct Books<'a> {
    /// The global book.
    pub(crate) global: BookIndex<'a>,
    /// Zone `z`'s book at `zones[z]`.
    pub(crate) zones: Vec<BookIndex<'a>>,
}

impl<'a> Books<'a> {
    /// Indexes every book of `config`.
    pub(crate) fn new(config: &'a Config) -> Self {
        Self {
            global: BookIndex::new(&config.address_book),
            zones: config
                .zones
                .iter()
                .map(|z| BookIndex::new(&z.address_book))
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Address, AddressSet};

    fn book() -> AddressBook {
        let address = |name: &str| Address {
            name: name.into(),
            prefix: Some("198.18.0.0/24".parse().unwrap()),
            ..Address::default()
        };
        let set = |name: &str, addresses: &[&str], sets: &[&str]| AddressSet {
            name: name.into(),
            addresses: addresses.iter().map(|s| s.to_string()).collect(),
            address_sets: sets.iter().map(|s| s.to_string()).collect(),
        };
        AddressBook {
            addresses: vec![address("a"), address("b")],
            address_sets: vec![
                set("s", &["b", "a"], &[]),
                set("empty", &[], &[]),
                set("t", &["missing"], &["s"]),
            ],
        }
    }

    #[test]
    fn members_resolve_to_ids_in_listed_order_with_unknown_names_marked() {
        let source = book();
        let index = BookIndex::new(&source);
        assert_eq!(index.members(0), [1, 0]);
        assert_eq!(index.members(1), [] as [NameId; 0]);
        assert_eq!(index.members(2), [NO_ENTRY, 2]);
    }

    #[test]
    fn find_many_takes_the_first_book_defining_a_name() {
        let zone = book();
        let mut global = book();
        global.addresses.push(Address {
            name: "g".into(),
            ..Address::default()
        });
        let (zone, global) = (BookIndex::new(&zone), BookIndex::new(&global));
        let mut out = Vec::new();
        find_many(&[&zone, &global], &["g", "a", "nowhere", "s"], &mut out);
        assert_eq!(out, [Some((1, 2)), Some((0, 0)), None, Some((0, 2))]);
        find_many(&[&global], &[], &mut out);
        assert!(out.is_empty());
    }

    #[test]
    fn ids_map_back_to_addresses_then_sets() {
        let source = book();
        let index = BookIndex::new(&source);
        let (entry, set) = index.entry(index.get("b").unwrap());
        assert!(matches!(entry, Entry::Address(a) if a.name == "b"));
        assert_eq!(set, None);
        let (entry, set) = index.entry(index.get("t").unwrap());
        assert!(matches!(entry, Entry::Set(s) if s.name == "t"));
        assert_eq!(set, Some(2));
        assert_eq!(index.get("missing"), None);
    }
}
