//! The lowered config: everything the packet path reads, indexed by the
//! compiled ids, built once per apply and swapped atomically between
//! packets (the engine holds it in an `Arc`).

use crate::lookup::{FxHashMap, LongestPrefixMatch, LpmTable};
use crate::policy::PolicyTable;
use std::net::IpAddr;
use std::sync::Arc;
use xpf_dataplane::compile::{
    CompiledConfig, CompiledInterface, CompiledScreen, CompiledZone, RouteTarget,
};
use xpf_dataplane::config::MacAddr;
use xpf_runtime::{AddressFamily, InterfaceId, RedundancyGroupId, ZoneId};

/// What the established-flow fast path needs of an interface, resolved once
/// per apply so a packet reads one small record instead of the compiled
/// interface, zone and screen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct FastInterface {
    /// The interface's zone.
    pub(crate) zone: ZoneId,
    /// Its redundancy group.
    pub(crate) redundancy_group: Option<RedundancyGroupId>,
    /// Per family (`[IPv4, IPv6]`): arriving packets may take the fast path
    /// (the interface is in a known zone and has no input filter of that
    /// family).
    pub(crate) fast_in: [bool; 2],
    /// The zone has a screen profile (the fast path runs it).
    pub(crate) screened: bool,
    /// Per family: the interface has an output filter.
    pub(crate) out_filter: [bool; 2],
    /// Its MAC address.
    pub(crate) mac: [u8; 6],
    /// The VLAN it pushes on egress.
    pub(crate) vlan: Option<u16>,
}

/// Where a route sends a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NextHop {
    /// Out of `interface` to `gateway` (the destination itself for
    /// connected routes).
    Via {
        /// Egress interface.
        interface: InterfaceId,
        /// The address whose MAC the frame is sent to.
        gateway: IpAddr,
    },
    /// A discard route.
    Discard,
}

/// The lowered tables of one config generation.
#[derive(Debug)]
pub struct Tables {
    /// The compiled config these tables were lowered from.
    pub compiled: Arc<CompiledConfig>,
    /// Generation of the apply that installed them.
    pub generation: u64,
    interfaces: Vec<Option<CompiledInterface>>,
    zones: Vec<Option<CompiledZone>>,
    screens: Vec<Option<CompiledScreen>>,
    /// Policies.
    pub policy: PolicyTable,
    /// Local addresses (Fx-hashed: every first packet asks).
    local: FxHashMap<IpAddr, InterfaceId>,
    routes: LpmTable<RouteTarget>,
    /// Sorted by address; binary-searched (no hashing on the fast path).
    neighbours: Vec<(IpAddr, MacAddr)>,
    /// The IPv4 neighbours as integers, sorted (the common case, searched
    /// without the `IpAddr` discriminant).
    neighbours_v4: Vec<(u32, MacAddr)>,
    /// Fast-path view of the interfaces, by id.
    fast: Vec<Option<FastInterface>>,
}

fn by_index<T: Clone>(items: &[T], index: impl Fn(&T) -> usize) -> Vec<Option<T>> {
    let len = items.iter().map(&index).max().map_or(0, |m| m + 1);
    let mut v = vec![None; len];
    for it in items {
        v[index(it)] = Some(it.clone());
    }
    v
}

impl Tables {
    /// Lowers a compiled config.
    pub fn new(compiled: Arc<CompiledConfig>, generation: u64) -> Self {
        let c = &compiled;
        let local = c
            .interfaces
            .iter()
            .flat_map(|i| i.addresses.iter().map(move |a| (a.addr(), i.id)))
            .collect();
        let mut neighbours: Vec<(IpAddr, MacAddr)> = c
            .forwarding
            .neighbours
            .iter()
            .map(|n| (n.address, n.mac))
            .collect();
        neighbours.sort_unstable_by_key(|n| n.0);
        let neighbours_v4 = neighbours
            .iter()
            .filter_map(|(a, m)| match a {
                IpAddr::V4(a) => Some((a.to_bits(), *m)),
                IpAddr::V6(_) => None,
            })
            .collect();
        let zones = by_index(&c.zones, |z| z.id.index());
        let fast = c
            .interfaces
            .iter()
            .map(|i| {
                let zone = zones.get(i.zone.index()).and_then(Option::as_ref);
                let transit = !i.zone.is_none() && zone.is_some();
                let screened = zone.is_some_and(|z| z.screen.is_some());
                FastInterface {
                    zone: i.zone,
                    redundancy_group: i.redundancy_group,
                    fast_in: [
                        transit && i.filter_input_v4.is_none(),
                        transit && i.filter_input_v6.is_none(),
                    ],
                    screened,
                    out_filter: [i.filter_output_v4.is_some(), i.filter_output_v6.is_some()],
                    mac: i.mac.0,
                    vlan: i.vlan,
                }
            })
            .collect::<Vec<_>>();
        let mut fast_by_id = vec![
            None;
            c.interfaces
                .iter()
                .map(|i| i.id.index() + 1)
                .max()
                .unwrap_or(0)
        ];
        for (i, f) in c.interfaces.iter().zip(fast) {
            fast_by_id[i.id.index()] = Some(f);
        }
        Self {
            interfaces: by_index(&c.interfaces, |i| i.id.index()),
            zones,
            screens: by_index(&c.screens, |s| s.id.index()),
            policy: PolicyTable::new(c),
            local,
            routes: LpmTable::from_routes(&c.forwarding.routes),
            neighbours,
            neighbours_v4,
            fast: fast_by_id,
            generation,
            compiled,
        }
    }

    /// The fast-path view of an interface.
    #[inline]
    pub(crate) fn fast_interface(&self, id: InterfaceId) -> Option<&FastInterface> {
        self.fast.get(id.index()).and_then(Option::as_ref)
    }

    /// An interface by id.
    pub fn interface(&self, id: InterfaceId) -> Option<&CompiledInterface> {
        self.interfaces.get(id.index()).and_then(Option::as_ref)
    }

    /// A zone by id.
    pub fn zone(&self, id: ZoneId) -> Option<&CompiledZone> {
        self.zones.get(id.index()).and_then(Option::as_ref)
    }

    /// True when a screen profile has a per-source or per-destination
    /// session limit (the session table then keeps per-address counts).
    pub fn has_session_limits(&self) -> bool {
        self.screens
            .iter()
            .flatten()
            .any(|s| s.source_session_limit.is_some() || s.destination_session_limit.is_some())
    }

    /// The screen profile of a zone, if it has one.
    pub fn zone_screen(&self, id: ZoneId) -> Option<&CompiledScreen> {
        let s = self.zone(id)?.screen?;
        self.screens.get(s.index()).and_then(Option::as_ref)
    }

    /// The interface owning a local address (traffic to it is host-inbound).
    pub fn local_interface(&self, addr: IpAddr) -> Option<InterfaceId> {
        self.local.get(&addr).copied()
    }

    /// The first address of `family` on an interface (interface SNAT, ICMP
    /// errors the firewall originates).
    pub fn interface_address(&self, id: InterfaceId, family: AddressFamily) -> Option<IpAddr> {
        self.interface(id)?.primary_address(family)
    }

    /// Longest-prefix route lookup (stride tries, chosen by benchmark; see
    /// [`crate::lookup`]).
    #[inline]
    pub fn route(&self, dst: IpAddr) -> Option<NextHop> {
        let target = match dst {
            IpAddr::V4(a) => self.routes.v4().longest_match(a)?.1,
            IpAddr::V6(a) => self.routes.v6().longest_match(a)?.1,
        };
        Some(match *target {
            RouteTarget::NextHop { gateway, interface } => NextHop::Via { interface, gateway },
            RouteTarget::Connected { interface } => NextHop::Via {
                interface,
                gateway: dst,
            },
            RouteTarget::Discard => NextHop::Discard,
        })
    }

    /// The MAC of a neighbour.
    #[inline]
    pub fn neighbour(&self, addr: IpAddr) -> Option<MacAddr> {
        if let IpAddr::V4(a) = addr {
            let a = a.to_bits();
            return self
                .neighbours_v4
                .binary_search_by_key(&a, |n| n.0)
                .ok()
                .map(|i| self.neighbours_v4[i].1);
        }
        self.neighbours
            .binary_search_by_key(&addr, |n| n.0)
            .ok()
            .map(|i| self.neighbours[i].1)
    }
}
