//! Static routes and neighbours (`forwarding`).
//!
//! Owns: routes (unique by destination network, destination without host
//! bits, a next hop of the destination's family, one of next-hop, discard
//! or interface, discard with neither of the others, an existing
//! interface) and neighbours (unique by address, or by address and
//! interface for IPv6 link-local addresses, which are per link; a unicast
//! MAC; an existing interface).

use super::Validator;
use super::names::{FirstSeen, unknown};
use super::path::Path;
use super::values::family_name;
use crate::config::{Neighbour, StaticRoute};
use std::net::IpAddr;

impl Validator<'_> {
    /// Checks `forwarding`.
    pub(super) fn check_forwarding(&mut self) {
        let forwarding = &self.config.forwarding;
        let root = Path::root().field("forwarding");
        let routes = root.field("routes");
        let mut seen = FirstSeen::default();
        for (i, route) in forwarding.routes.iter().enumerate() {
            let destination = route.destination.to_string();
            let path = routes.item(&destination, i);
            // Keyed by network: 198.18.0.1/16 and 198.18.0.0/16 are one route.
            let network = route.destination.trunc();
            let subject = format_args!("route {network}");
            self.check_unique(&mut seen, network, subject, &path, i);
            self.check_route(&path, route);
        }
        let neighbours = root.field("neighbours");
        let mut seen = FirstSeen::default();
        for (i, neighbour) in forwarding.neighbours.iter().enumerate() {
            let address = neighbour.address.to_string();
            let path = neighbours.item(&address, i);
            if is_ipv6_link_local(neighbour.address) {
                // Link-local addresses are per link: keyed by address and interface.
                let interface = neighbour.interface.as_str();
                let subject = format_args!("neighbour {address} on interface {interface:?}");
                let key = (neighbour.address, Some(interface));
                self.check_unique(&mut seen, key, subject, &path, i);
            } else {
                let subject = format_args!("neighbour {address}");
                self.check_unique(&mut seen, (neighbour.address, None), subject, &path, i);
            }
            self.check_neighbour(&path, neighbour);
        }
    }

    fn check_route(&mut self, path: &Path<'_>, route: &StaticRoute) {
        let destination = &route.destination;
        self.check_network_prefix(&path.field("destination"), destination);
        match (route.next_hop, route.discard, &route.interface) {
            (None, false, None) => {
                self.error(
                    &path.field("next-hop"),
                    "route needs a next-hop, an interface or discard",
                );
            }
            (Some(_), true, _) => {
                self.error(
                    &path.field("discard"),
                    "route has both a next-hop and discard; use one",
                );
            }
            (None, true, Some(_)) => {
                self.error(
                    &path.field("interface"),
                    "a discard route cannot have an interface",
                );
            }
            _ => {}
        }
        if let Some(next_hop) = route.next_hop
            && next_hop.is_ipv4() != destination.addr().is_ipv4()
        {
            self.error(
                &path.field("next-hop"),
                format!(
                    "next-hop {next_hop} is {} but destination {destination} is {}",
                    family_name(next_hop),
                    family_name(destination.addr())
                ),
            );
        }
        if let Some(interface) = &route.interface {
            self.check_interface_ref(&path.field("interface"), interface);
        }
    }

    fn check_neighbour(&mut self, path: &Path<'_>, neighbour: &Neighbour) {
        self.check_unicast_mac(&path.field("mac"), neighbour.mac);
        self.check_interface_ref(&path.field("interface"), &neighbour.interface);
    }

    /// Reports a missing or unknown interface reference.
    pub(super) fn check_interface_ref(&mut self, path: &Path<'_>, interface: &str) {
        let interfaces = &self.symbols.interfaces;
        if interface.is_empty() {
            self.error(path, "interface is required");
        } else if !interfaces.contains(interface) {
            self.error(path, unknown("interface", interface, interfaces.names()));
        }
    }
}

fn is_ipv6_link_local(address: IpAddr) -> bool {
    matches!(address, IpAddr::V6(v6) if v6.is_unicast_link_local())
}
