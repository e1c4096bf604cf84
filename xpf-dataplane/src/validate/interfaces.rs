//! Interfaces and zones.
//!
//! Owns `interfaces[..]`: names, zone membership, MAC, addresses (network
//! and broadcast addresses, an address or subnet shared with an earlier
//! interface), VLAN, MTU, filter bindings (the filter must exist in the
//! binding's family) and redundancy group. Owns `zones[..]`: names and
//! screen profiles; each zone's address book is checked by `addresses`.
//!
//! An interface with no zone is allowed (fabric links often have none), as
//! is an interface with no address.

use super::Validator;
use super::names::{Book, FirstSeen, unknown};
use super::path::Path;
use super::values::Span;
use crate::config::Interface;
use ipnet::IpNet;
use xpf_runtime::AddressFamily;

/// Lowest IPv4 MTU (RFC 791).
const MIN_MTU_IPV4: u16 = 68;
/// Lowest IPv6 MTU (RFC 8200).
const MIN_MTU_IPV6: u16 = 1280;
/// Largest supported MTU (jumbo frames).
const MAX_MTU: u16 = 9216;
/// Valid 802.1Q VLAN ids.
const VLAN_IDS: std::ops::RangeInclusive<u16> = 1..=4094;

/// The filter bindings of an interface: field name, family, and the
/// binding of the same direction in the other family.
const FILTER_BINDINGS: [(&str, AddressFamily, &str); 4] = [
    ("input", AddressFamily::Inet, "input6"),
    ("output", AddressFamily::Inet, "output6"),
    ("input6", AddressFamily::Inet6, "input"),
    ("output6", AddressFamily::Inet6, "output"),
];

impl Validator<'_> {
    /// Checks `interfaces`.
    pub(super) fn check_interfaces(&mut self) {
        let interfaces = &self.config.interfaces;
        let list = Path::root().field("interfaces");
        let mut seen = FirstSeen::default();
        for (i, interface) in interfaces.iter().enumerate() {
            let path = list.item(&interface.name, i);
            self.check_name(&mut seen, "interface", &interface.name, &path, i);
            self.check_interface_zone(&path.field("zone"), &interface.zone);
            if let Some(mac) = interface.mac {
                self.check_unicast_mac(&path.field("mac"), mac);
            }
            self.check_interface_addresses(&path.field("addresses"), interface, &interfaces[..i]);
            if let Some(vlan) = interface.vlan.filter(|v| !VLAN_IDS.contains(v)) {
                self.error(
                    &path.field("vlan"),
                    format!("vlan {vlan} is outside 1-4094"),
                );
            }
            self.check_mtu(&path.field("mtu"), interface);
            self.check_filter_bindings(&path.field("filter"), interface);
            if let Some(group) = interface.redundancy_group {
                self.check_interface_redundancy_group(&path.field("redundancy-group"), group);
            }
        }
    }

    fn check_interface_zone(&mut self, path: &Path<'_>, zone: &str) {
        let zones = &self.symbols.zones;
        if !zone.is_empty() && !zones.contains(zone) {
            self.error(path, unknown("zone", zone, zones.names()));
        }
    }

    /// Checks each address on its own and against the addresses of the
    /// interfaces before this one, so each conflict is reported once.
    fn check_interface_addresses(
        &mut self,
        path: &Path<'_>,
        interface: &Interface,
        earlier: &[Interface],
    ) {
        for (k, address) in interface.addresses.iter().enumerate() {
            if interface.addresses[..k]
                .iter()
                .any(|a| a.addr() == address.addr())
            {
                self.error(path, format!("address {} is listed twice", address.addr()));
                continue;
            }
            self.check_host_address(path, address);
            if let Some(conflict) = address_conflict(address, earlier) {
                self.error(path, conflict);
            }
        }
    }

    /// Reports an IPv4 address that is its subnet's network or broadcast address.
    fn check_host_address(&mut self, path: &Path<'_>, address: &IpNet) {
        let IpNet::V4(v4) = address else { return };
        if v4.prefix_len() > 30 {
            return;
        }
        let role = if v4.addr() == v4.network() {
            "network"
        } else if v4.addr() == v4.broadcast() {
            "broadcast"
        } else {
            return;
        };
        self.error(
            path,
            format!(
                "address {address} is the {role} address of its subnet {}",
                address.trunc()
            ),
        );
    }

    fn check_mtu(&mut self, path: &Path<'_>, interface: &Interface) {
        let Some(mtu) = interface.mtu else { return };
        let has_ipv6 = interface.addresses.iter().any(|a| a.addr().is_ipv6());
        let problem = if mtu > MAX_MTU {
            format!("mtu {mtu} is above the maximum of {MAX_MTU}")
        } else if has_ipv6 && mtu < MIN_MTU_IPV6 {
            format!(
                "mtu {mtu} is below {MIN_MTU_IPV6}, the IPv6 minimum (the interface has an IPv6 address)"
            )
        } else if mtu < MIN_MTU_IPV4 {
            format!("mtu {mtu} is below {MIN_MTU_IPV4}, the IPv4 minimum")
        } else {
            return;
        };
        self.error(path, problem);
    }

    fn check_filter_bindings(&mut self, path: &Path<'_>, interface: &Interface) {
        let filters = &interface.filter;
        let bound = [
            &filters.input,
            &filters.output,
            &filters.input6,
            &filters.output6,
        ];
        for (binding, filter) in FILTER_BINDINGS.iter().zip(bound) {
            if let Some(filter) = filter {
                self.check_filter_binding(&path.field(binding.0), *binding, filter);
            }
        }
    }

    /// Reports a binding to a filter that does not exist in `family`,
    /// saying so when it exists in the other family.
    fn check_filter_binding(
        &mut self,
        path: &Path<'_>,
        (binding, family, counterpart): (&str, AddressFamily, &str),
        filter: &str,
    ) {
        let symbols = self.symbols;
        if symbols.filters(family).contains(filter) {
            return;
        }
        let other = match family {
            AddressFamily::Inet => AddressFamily::Inet6,
            AddressFamily::Inet6 => AddressFamily::Inet,
        };
        let message = if symbols.filters(other).contains(filter) {
            format!(
                "filter {filter:?} is an {other} filter and cannot be bound as {binding} ({family}); bind it as {counterpart}"
            )
        } else {
            unknown(
                &format!("{family} filter"),
                filter,
                symbols.filters(family).names(),
            )
        };
        self.error(path, message);
    }

    fn check_interface_redundancy_group(&mut self, path: &Path<'_>, group: u8) {
        let message = match &self.symbols.redundancy_groups {
            None => format!("redundancy-group {group} needs an ha section that defines it"),
            Some(_) if group == 0 => {
                "redundancy group 0 is the control-plane group; interfaces belong to data groups 1-128".to_string()
            }
            Some(groups) if !groups.contains(&group) => {
                format!("unknown redundancy group {group} (not defined in ha.redundancy-groups)")
            }
            Some(_) => return,
        };
        self.error(path, message);
    }

    /// Checks `zones`; each zone's address book is checked in place.
    pub(super) fn check_zones(&mut self) {
        let (config, symbols) = (self.config, self.symbols);
        let list = Path::root().field("zones");
        let mut seen = FirstSeen::default();
        for (i, zone) in config.zones.iter().enumerate() {
            let path = list.item(&zone.name, i);
            self.check_name(&mut seen, "zone", &zone.name, &path, i);
            if let Some(screen) = &zone.screen {
                let screens = &self.symbols.screens;
                if !screens.contains(screen) {
                    self.error(
                        &path.field("screen"),
                        unknown("screen profile", screen, screens.names()),
                    );
                }
            }
            let place = format!("zone {:?}'s address book", zone.name);
            // The zone's book is indexed already, unless the zone is a
            // duplicate (references resolve to the first zone of a name).
            let indexed = symbols
                .zone_book(&zone.name)
                .filter(|book| book.indexes(&zone.address_book));
            let unindexed;
            let book = match indexed {
                Some(book) => book,
                None => {
                    unindexed = Book::of(&zone.address_book);
                    &unindexed
                }
            };
            let path = path.field("address-book");
            self.check_address_book(&path, &zone.address_book, book, &place);
        }
    }
}

/// The first clash of `address` with an address of an earlier interface:
/// the same address, or overlapping subnets. IPv6 link-local addresses are
/// per link and never clash.
fn address_conflict(address: &IpNet, earlier: &[Interface]) -> Option<String> {
    if is_link_local(address) {
        return None;
    }
    let span = Span::of_net(address);
    earlier.iter().find_map(|other| {
        other
            .addresses
            .iter()
            .filter(|a| !is_link_local(a))
            .find_map(|theirs| {
                let name = &other.name;
                if theirs.addr() == address.addr() {
                    Some(format!(
                        "address {} is also assigned to interface {name:?}",
                        address.addr()
                    ))
                } else if span.overlaps(&Span::of_net(theirs)) {
                    Some(format!(
                        "subnet {} of address {address} overlaps {} of interface {name:?}",
                        address.trunc(),
                        theirs.trunc()
                    ))
                } else {
                    None
                }
            })
    })
}

fn is_link_local(address: &IpNet) -> bool {
    matches!(address, IpNet::V6(v6) if v6.addr().is_unicast_link_local())
}
