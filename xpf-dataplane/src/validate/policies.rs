//! Security policies: zone-pair lists (`security.policies`) and global
//! policies (`security.global-policies`).
//!
//! Owns: a zone pair's zones and uniqueness, policy names (unique within a
//! pair, or among global policies), every `match` reference (addresses in
//! the right books, applications, a global policy's zones), schedulers, and
//! policies that can never match because their source addresses are of one
//! family and their destination addresses of the other.
//!
//! Address resolution: a zone-pair policy looks `source-address` up in the
//! from-zone's book, then the global book, and `destination-address` in the
//! to-zone's book, then the global book. A global policy uses the global
//! book only. `any`, `any-ipv4` and `any-ipv6` are predefined everywhere.

use super::Validator;
use super::addresses::address_families;
use super::names::{Book, FirstSeen, PREDEFINED_ADDRESSES, unknown, unknown_in};
use super::path::Path;
use super::values::Families;
use crate::compile::book_index::{BookIndex, find_many};
use crate::config::{Policy, ZonePairPolicies};

/// Where one side of a policy resolves address names.
struct AddressScope<'s> {
    /// Books searched in order.
    books: Vec<&'s Book<'s>>,
    /// The books, as named in messages.
    place: String,
}

/// What [`address_families`] says of one address name.
type NameFamilies = Option<Option<Families>>;

impl AddressScope<'_> {
    /// [`address_families`] of every name of `names`, in order, into `out`
    /// (cleared first). The lookups run all at once ([`find_many`]): a
    /// large policy list names addresses all over large books.
    fn families_of_all<'n>(
        &self,
        names: impl Iterator<Item = &'n str>,
        out: &mut Vec<NameFamilies>,
    ) {
        let names: Vec<&str> = names.collect();
        let indexes: Vec<&BookIndex<'_>> = self.books.iter().map(|b| b.index()).collect();
        let mut hits = Vec::new();
        find_many(&indexes, &names, &mut hits);
        out.clear();
        out.extend(names.iter().zip(hits).map(|(name, hit)| {
            if PREDEFINED_ADDRESSES.contains(name) {
                return address_families(&[], name);
            }
            let (book, id) = hit?;
            let book = self.books[book];
            Some(book.families(book.entry(id)?))
        }));
    }

    /// Every name the scope can resolve, for suggestions.
    fn names(&self) -> impl Iterator<Item = &str> {
        self.books
            .iter()
            .flat_map(|book| book.names())
            .chain(PREDEFINED_ADDRESSES)
    }
}

impl<'a> Validator<'a> {
    /// Checks `security.policies`.
    pub(super) fn check_zone_pair_policies(&mut self) {
        let config = self.config;
        let list = Path::root().field("security.policies");
        let mut pairs = FirstSeen::default();
        for (i, pair) in config.security.policies.iter().enumerate() {
            let key = pair_key(pair);
            let path = list.item(&key, i);
            if !key.is_empty() {
                let subject = format_args!("zone pair {key}");
                self.check_unique(&mut pairs, key.clone(), subject, &path, i);
            }
            self.check_pair_zone(&path.field("from-zone"), "from-zone", &pair.from_zone);
            self.check_pair_zone(&path.field("to-zone"), "to-zone", &pair.to_zone);
            self.check_pair_policies(&path, pair);
        }
    }

    fn check_pair_zone(&mut self, path: &Path<'_>, field: &str, zone: &str) {
        let zones = &self.symbols.zones;
        if zone.is_empty() {
            self.error(path, format!("{field} is required"));
        } else if !zones.contains(zone) {
            self.error(path, unknown("zone", zone, zones.names()));
        }
    }

    fn check_pair_policies(&mut self, path: &Path<'_>, pair: &ZonePairPolicies) {
        let source = self.zone_scope(&pair.from_zone);
        let destination = self.zone_scope(&pair.to_zone);
        let mut families = SideFamilies::of(&pair.policies, source.as_ref(), destination.as_ref());
        let mut seen = FirstSeen::with_capacity(pair.policies.len());
        for (i, policy) in pair.policies.iter().enumerate() {
            let policy_path = path.segment(&policy.name, i);
            self.check_name(&mut seen, "policy", &policy.name, &policy_path, i);
            let matches = &policy.match_;
            for (field, zones) in [
                ("from-zone", &matches.from_zone),
                ("to-zone", &matches.to_zone),
            ] {
                if !zones.is_empty() {
                    self.error(
                        &policy_path.field("match").field(field),
                        format!(
                            "match.{field} is only valid in global policies (a zone-pair policy takes its zones from the pair)"
                        ),
                    );
                }
            }
            let (from, to) = families.next(policy);
            let source = source.as_ref().zip(from);
            let destination = destination.as_ref().zip(to);
            self.check_policy(&policy_path, policy, source, destination);
        }
    }

    /// The books a zone-pair policy side resolves addresses in, or `None`
    /// when the zone is unknown (already reported; its addresses are then
    /// not checked, to report the cause rather than its echoes).
    fn zone_scope(&self, zone: &str) -> Option<AddressScope<'a>> {
        let symbols = self.symbols;
        symbols.zone_book(zone).map(|book| AddressScope {
            books: vec![book, &symbols.global_book],
            place: format!("zone {zone:?}'s address book or the global address book"),
        })
    }

    fn global_scope(&self) -> AddressScope<'a> {
        AddressScope {
            books: vec![&self.symbols.global_book],
            place: "the global address book".to_string(),
        }
    }

    /// Checks `security.global-policies`.
    pub(super) fn check_global_policies(&mut self) {
        let config = self.config;
        let list = Path::root().field("security.global-policies");
        let scope = self.global_scope();
        let policies = &config.security.global_policies;
        let mut families = SideFamilies::of(policies, Some(&scope), Some(&scope));
        let mut seen = FirstSeen::with_capacity(config.security.global_policies.len());
        for (i, policy) in config.security.global_policies.iter().enumerate() {
            let path = list.item(&policy.name, i);
            self.check_name(&mut seen, "global policy", &policy.name, &path, i);
            let matches = &policy.match_;
            for (field, zones) in [
                ("from-zone", &matches.from_zone),
                ("to-zone", &matches.to_zone),
            ] {
                self.check_zone_refs(&path.field("match").field(field), zones);
            }
            let (from, to) = families.next(policy);
            let source = Some(&scope).zip(from);
            let destination = Some(&scope).zip(to);
            self.check_policy(&path, policy, source, destination);
        }
    }

    fn check_zone_refs(&mut self, path: &Path<'_>, zones: &[String]) {
        let known = &self.symbols.zones;
        for zone in zones.iter().filter(|z| !known.contains(z)) {
            self.error(path, unknown("zone", zone, known.names()));
        }
    }

    /// Checks what zone-pair and global policies share: addresses,
    /// applications, families and scheduler. The addresses of a side whose
    /// scope is `None` (an unknown zone) are not checked.
    fn check_policy(
        &mut self,
        path: &Path<'_>,
        policy: &Policy,
        source: Option<(&AddressScope<'_>, &[NameFamilies])>,
        destination: Option<(&AddressScope<'_>, &[NameFamilies])>,
    ) {
        let symbols = self.symbols;
        let matches = &policy.match_;
        let match_path = path.field("match");
        let from = source.map(|(scope, found)| {
            let names = &matches.source_address;
            let field = "source-address";
            let families = self.check_address_refs(&match_path, field, names, found, scope);
            side_families(families, names, matches.source_address_excluded)
        });
        let to = destination.map(|(scope, found)| {
            let names = &matches.destination_address;
            let field = "destination-address";
            let families = self.check_address_refs(&match_path, field, names, found, scope);
            side_families(families, names, matches.destination_address_excluded)
        });
        for application in matches
            .application
            .iter()
            .filter(|a| !symbols.application_exists(a))
        {
            self.error(
                &match_path.field("application"),
                unknown("application", application, symbols.application_names()),
            );
        }
        if let (Some(from), Some(to)) = (from, to) {
            self.check_policy_families(&match_path, from, to);
        }
        if let Some(scheduler) = &policy.scheduler
            && !symbols.schedulers.contains(scheduler)
        {
            self.error(
                &path.field("scheduler"),
                unknown("scheduler", scheduler, symbols.schedulers.names()),
            );
        }
    }

    /// Reports the address names of `match_path.field` that do not
    /// resolve in `scope` (`found` holds what [`address_families`] says of
    /// each), saying so when the name exists in a zone book the policy
    /// cannot use. Returns the families the names can match together,
    /// `None` when one does not resolve.
    fn check_address_refs(
        &mut self,
        match_path: &Path<'_>,
        field: &str,
        names: &[String],
        found: &[NameFamilies],
        scope: &AddressScope<'_>,
    ) -> Option<Families> {
        let mut families = Some(Families::NONE);
        for (name, &found) in names.iter().zip(found) {
            let Some(name_families) = found else {
                self.report_unknown_address(&match_path.field(field), name, scope);
                families = None;
                continue;
            };
            families = families.zip(name_families).map(|(a, b)| a | b);
        }
        families
    }

    fn report_unknown_address(&mut self, path: &Path<'_>, name: &str, scope: &AddressScope<'_>) {
        let zones = self.symbols.zones_defining(name);
        let message = if zones.is_empty() {
            unknown_in("address", name, &scope.place, scope.names())
        } else {
            let zones: Vec<String> = zones.iter().map(|z| format!("{z:?}")).collect();
            format!(
                "unknown address {name:?} in {} (it is defined only in the address book of zone {}, which this policy cannot use)",
                scope.place,
                zones.join(", ")
            )
        };
        self.error(path, message);
    }

    /// Reports a policy whose source addresses can only be one family and
    /// destination addresses only the other (`None`: unknown).
    fn check_policy_families(
        &mut self,
        path: &Path<'_>,
        from: Option<Families>,
        to: Option<Families>,
    ) {
        if let (Some(from), Some(to)) = (from, to)
            && !from.is_empty()
            && !to.is_empty()
            && !from.intersects(to)
        {
            self.error(
                path,
                format!(
                    "source addresses are {} only and destination addresses {} only; the policy can never match",
                    from.describe(),
                    to.describe()
                ),
            );
        }
    }
}

/// What [`address_families`] says of the address names of a list of
/// policies, looked up all at once, handed out policy by policy. A side
/// whose scope is `None` (an unknown zone) has nothing.
struct SideFamilies {
    source: Option<Vec<NameFamilies>>,
    destination: Option<Vec<NameFamilies>>,
    /// How many names of each side were handed out.
    taken: (usize, usize),
}

impl SideFamilies {
    fn of(
        policies: &[Policy],
        source: Option<&AddressScope<'_>>,
        destination: Option<&AddressScope<'_>>,
    ) -> Self {
        let side = |scope: Option<&AddressScope<'_>>, names: fn(&Policy) -> &[String]| {
            scope.map(|scope| {
                let mut out = Vec::new();
                let all = policies
                    .iter()
                    .flat_map(|p| names(p).iter().map(String::as_str));
                scope.families_of_all(all, &mut out);
                out
            })
        };
        Self {
            source: side(source, |p| &p.match_.source_address),
            destination: side(destination, |p| &p.match_.destination_address),
            taken: (0, 0),
        }
    }

    /// The next policy's share (the policies in the order given to
    /// [`SideFamilies::of`]).
    fn next(&mut self, policy: &Policy) -> (Option<&[NameFamilies]>, Option<&[NameFamilies]>) {
        let (s, d) = self.taken;
        let (ns, nd) = (
            policy.match_.source_address.len(),
            policy.match_.destination_address.len(),
        );
        self.taken = (s + ns, d + nd);
        (
            self.source.as_deref().map(|f| &f[s..s + ns]),
            self.destination.as_deref().map(|f| &f[d..d + nd]),
        )
    }
}

/// The families one side of a policy can match, given those its address
/// `names` resolve to; `None` when unknown. No addresses, or excluded
/// ones, can match either family.
fn side_families(
    names_families: Option<Families>,
    names: &[String],
    excluded: bool,
) -> Option<Families> {
    if names.is_empty() || excluded {
        Some(Families::BOTH)
    } else {
        names_families
    }
}

/// `from->to`, or empty when neither zone is given (the path then uses the index).
fn pair_key(pair: &ZonePairPolicies) -> String {
    if pair.from_zone.is_empty() && pair.to_zone.is_empty() {
        String::new()
    } else {
        format!("{}->{}", pair.from_zone, pair.to_zone)
    }
}
