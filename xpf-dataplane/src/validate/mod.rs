//! Semantic validation of a [`Config`]: stage 2 of loading.
//!
//! [`Config::from_toml_str`] and friends check syntax and types and stop at
//! the first problem. [`validate`] then checks meaning and reports **every**
//! problem it finds, in config order, each with the path of the offending
//! field (see [`ConfigError`]). A config that validates can be compiled.
//!
//! # Paths
//!
//! Paths use Junos vocabulary with list elements named by their key in
//! brackets, or `#<index>` when the key is empty:
//!
//! - `interfaces[eth0].filter.input6`, `zones[trust].address-book.addresses[web].prefix`
//! - `applications.applications[my-app].terms[t1].protocol`
//! - `schedulers[office-hours].windows[#0].stop`
//! - `security.policies[trust->untrust].allow-web.match.application`: a zone
//!   pair is keyed `[from->to]` and its policies are dotted segments
//! - `security.global-policies[p1].match.from-zone`
//! - `security.nat.source.rule-sets[rs1].rules[r1].then.pool`
//! - `forwarding.routes[198.18.0.0/16].next-hop`, `ha.redundancy-groups[1].node0-priority`
//!
//! A field holding a list of plain values (`interfaces[eth0].addresses`) is
//! not indexed; the message quotes the offending value. A duplicate is
//! reported at the duplicate element and names the first definition by
//! index, because the key would not tell the two apart:
//! `zones[trust]: duplicate zone "trust" (first defined at zones[#0])`.
//!
//! # Error classes
//!
//! **1. Unknown references.** Every name must resolve; the message suggests
//! the closest defined name when one is near (edit distance ≤ 2, or the only
//! name it is a prefix of). `unknown application "htp" (did you mean "junos-http"?)`
//! - interface zone, zone screen profile, interface filters (the filter
//!   must exist in the family of the binding), interface redundancy group
//!   (needs an `ha` section defining it);
//! - zone-pair `from-zone` / `to-zone`, global policy `match.from-zone` /
//!   `match.to-zone`;
//! - policy addresses: a zone-pair policy resolves `source-address` in the
//!   from-zone's book then the global book, `destination-address` in the
//!   to-zone's book then the global book; a global policy uses the global
//!   book only; `any`, `any-ipv4` and `any-ipv6` are predefined;
//! - policy applications (`any`, predefined `junos-*`, custom applications
//!   and application sets) and schedulers;
//! - address-set members (addresses and sets of the same book only) and
//!   application-set members;
//! - NAT: a source rule's pool among source pools, a destination rule's pool
//!   among destination pools, rule-set `from` / `to` zones and interfaces;
//! - firewall filter term policers; route, neighbour and fabric-link
//!   interfaces.
//!
//! **2. Duplicates and overlaps.** `duplicate zone "trust" (first defined at zones[#0])`
//! - names in every named list: interfaces, zones, schedulers, policies
//!   within a zone pair, global policies, pools and rule sets per NAT kind,
//!   rules within a rule set, screen profiles, filters per family, terms
//!   within a filter or application, policers; zone pairs (the same from/to
//!   listed twice); routes by destination; neighbours by address (link-local
//!   IPv6 neighbours by address and interface); redundancy-group and fabric
//!   ids;
//! - addresses and address sets share one namespace per book, and may not
//!   be named `any`, `any-ipv4` or `any-ipv6`. A name defined both in a
//!   zone's book and in the global book is **allowed**: the zone's entry
//!   shadows the global one for policies that resolve through that zone;
//! - applications and application sets share one namespace and may not
//!   reuse a predefined `junos-*` name or `any`;
//! - address sets and application sets that contain themselves;
//! - overlapping address ranges of two source NAT pools, overlapping public
//!   prefixes of two static NAT rules, overlapping subnets of two interfaces
//!   (`subnet 198.18.0.128/25 of address 198.18.0.129/25 overlaps
//!   198.18.0.0/24 of interface "eth0"`), and an address assigned to two
//!   interfaces. IPv6 link-local addresses are
//!   per-link and exempt.
//!
//! **3. Invalid ranges and values.** `port range 90-80 is inverted (low > high)`
//! - inverted port ranges anywhere; a source pool port range containing 0;
//!   inverted or mixed-family address ranges; a date range whose stop is not
//!   after its start; a time window whose start equals its stop (or starts
//!   at 24:00);
//! - interface VLAN outside 1-4094, MTU below 68 (1280 with an IPv6
//!   address) or above 9216, a multicast or all-zero MAC (also for
//!   neighbours); `system.utc-offset-minutes` outside -720..=840;
//! - zero where a positive number is needed: flow timeouts and application
//!   inactivity timeouts, screen flood thresholds and session limits,
//!   session capacity, policer rates and burst sizes, HA heartbeat
//!   settings, a destination pool port; `tcp-mss` outside 64-65495; DSCP
//!   above 63; a two-rate policer whose peak rate or burst is below the
//!   committed one;
//! - `ha.node-id` above 1, redundancy-group priority 0 or 255, group id above
//!   128 (0, the control-plane group, is allowed but cannot own
//!   interfaces), fabric id above 1;
//! - structure: an application with neither a protocol nor terms, or with
//!   both inline fields and terms; a term without a protocol; ports on a
//!   protocol without ports (anything but tcp, udp, sctp); ICMP type or code
//!   on a non-ICMP protocol; an address with neither or both of prefix and
//!   range; a source pool without addresses; a static route with none of
//!   next-hop, discard or interface, or with discard and a next-hop or
//!   interface; a destination NAT rule without `destination-address`; a NAT
//!   rule set without the `from` (and, for source NAT, `to`) context;
//!   `from-zone` / `to-zone` inside a zone-pair policy's match; a fabric
//!   link without an interface; empty names.
//!
//! **4. Prefixes.** `prefix 10.0.0.1/24 has host bits set (did you mean 10.0.0.0/24?)`
//! - host bits set where a network is expected: address books, source pool
//!   prefixes, NAT rule matches, static NAT prefixes, filter terms, route
//!   destinations;
//! - an interface address that is the IPv4 network or broadcast address of
//!   its subnet (prefix length ≤ 30). An interface without addresses is fine.
//!
//! **5. Family mismatches.** `source-address 2001:db8::/32 is IPv6 but filter "f" is family inet`
//! - address range endpoints, a source pool's addresses, a static NAT
//!   rule's public and private prefixes (which must also have the same
//!   length), a destination pool versus its rule's destination addresses,
//!   a NAT rule's source versus destination prefixes, HA fabric local versus
//!   peer address;
//! - filter term prefixes versus the filter's family, `icmp` in an inet6
//!   filter or `icmp6` in an inet filter, an inet filter bound as `input6` /
//!   `output6` or an inet6 filter bound as `input` / `output`;
//! - a route whose next hop differs in family from its destination;
//! - a policy whose source addresses can only be one family and whose
//!   destination addresses only the other: it can never match.
//!
//! Inactive policies are validated like active ones, so activating one
//! cannot make a valid config invalid.

mod addresses;
mod applications;
mod firewall;
mod flow;
mod forwarding;
mod ha;
mod interfaces;
mod names;
mod nat;
mod path;
mod policies;
mod schedulers;
mod screens;
mod values;

use crate::compile::book_index::Books;
use crate::{Config, ConfigError, ConfigErrors};
use names::{FirstSeen, Symbols};
use path::Path;
use std::fmt;
use std::hash::Hash;

/// Checks a config's semantics and returns every problem found, in config
/// order, each with the path of the offending field. See the [module
/// docs](self) for the paths and the classes of error reported.
pub fn validate(config: &Config) -> Result<(), ConfigErrors> {
    validate_indexed(config).map(drop)
}

/// [`validate`], returning on success the address books it indexed, so
/// the compiler does not index them again.
pub(crate) fn validate_indexed(config: &Config) -> Result<Books<'_>, ConfigErrors> {
    let symbols = Symbols::new(config);
    let mut validator = Validator {
        config,
        symbols: &symbols,
        errors: Vec::new(),
    };
    validator.check_system();
    validator.check_interfaces();
    validator.check_zones();
    validator.check_global_address_book();
    validator.check_applications();
    validator.check_schedulers();
    validator.check_zone_pair_policies();
    validator.check_global_policies();
    validator.check_nat();
    validator.check_screens();
    validator.check_flow();
    validator.check_firewall();
    validator.check_forwarding();
    validator.check_ha();
    validator.finish()?;
    Ok(symbols.into_books(config))
}

/// Walks a config section by section, collecting errors. Each section's
/// checks live in the submodule that owns it, as `check_*` methods.
struct Validator<'a> {
    config: &'a Config,
    symbols: &'a Symbols<'a>,
    errors: Vec<ConfigError>,
}

impl Validator<'_> {
    /// Records an error at `path`.
    fn error(&mut self, path: &Path<'_>, message: impl Into<String>) {
        self.errors
            .push(ConfigError::new(path.to_string(), message));
    }

    /// Reports an empty name, or a name already recorded in `seen`.
    /// `path` is the path of the list element named and `index` its
    /// position in the list, recorded for later duplicates. `what` names
    /// the kind (`"zone"`).
    fn check_name<'n>(
        &mut self,
        seen: &mut FirstSeen<&'n str>,
        what: &str,
        name: &'n str,
        path: &Path<'_>,
        index: usize,
    ) {
        self.check_name_with(what, name, path, || {
            let first = seen.record(name, index)?;
            Some(path.by_index(first))
        });
    }

    /// Reports an empty name, or a repeated one: `first` gives where the
    /// name was first defined when this element repeats it (it is called
    /// for non-empty names only). For lists whose names a [`Namespace`]
    /// already tracks.
    ///
    /// [`Namespace`]: names::Namespace
    fn check_name_with<'p>(
        &mut self,
        what: &str,
        name: &str,
        path: &Path<'_>,
        first: impl FnOnce() -> Option<Path<'p>>,
    ) {
        if name.is_empty() {
            self.error(
                &path.field("name"),
                format!("{what} name must not be empty"),
            );
        } else if let Some(first) = first() {
            self.report_duplicate(path, format_args!("{what} {name:?}"), &first);
        }
    }

    /// Reports `key` when `seen` already holds it. `subject` describes the
    /// element in the message (`zone "trust"`, `route 198.18.0.0/16`);
    /// `path` and `index` are as for [`check_name`](Self::check_name).
    fn check_unique<K: Hash + Eq>(
        &mut self,
        seen: &mut FirstSeen<K>,
        key: K,
        subject: impl fmt::Display,
        path: &Path<'_>,
        index: usize,
    ) {
        if let Some(first) = seen.record(key, index) {
            self.report_duplicate(path, subject, &path.by_index(first));
        }
    }

    /// Reports the element at `path` as a duplicate of the one at `first`.
    /// The first is named by index, because the key would not tell the two
    /// apart: `zones[#0]`.
    fn report_duplicate(&mut self, path: &Path<'_>, subject: impl fmt::Display, first: &Path<'_>) {
        self.error(
            path,
            format!("duplicate {subject} (first defined at {first})"),
        );
    }

    fn finish(self) -> Result<(), ConfigErrors> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(ConfigErrors(self.errors))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_config_is_valid() {
        assert_eq!(validate(&Config::default()), Ok(()));
    }
}
