//! The lowered config: everything the packet path reads, indexed by the
//! compiled ids, built once per apply and swapped atomically between
//! packets (the engine holds it in an `Arc`).

use crate::lookup::LpmTable;
use crate::policy::PolicyTable;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use xpf_dataplane::compile::{
    CompiledConfig, CompiledInterface, CompiledScreen, CompiledZone, RouteTarget,
};
use xpf_dataplane::config::MacAddr;
use xpf_runtime::{AddressFamily, InterfaceId, ZoneId};

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
    local: HashMap<IpAddr, InterfaceId>,
    routes: LpmTable<RouteTarget>,
    /// Sorted by address; binary-searched (no hashing on the fast path).
    neighbours: Vec<(IpAddr, MacAddr)>,
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
        Self {
            interfaces: by_index(&c.interfaces, |i| i.id.index()),
            zones: by_index(&c.zones, |z| z.id.index()),
            screens: by_index(&c.screens, |s| s.id.index()),
            policy: PolicyTable::new(c),
            local,
            routes: LpmTable::from_routes(&c.forwarding.routes),
            neighbours,
            generation,
            compiled,
        }
    }

    /// An interface by id.
    pub fn interface(&self, id: InterfaceId) -> Option<&CompiledInterface> {
        self.interfaces.get(id.index()).and_then(Option::as_ref)
    }

    /// A zone by id.
    pub fn zone(&self, id: ZoneId) -> Option<&CompiledZone> {
        self.zones.get(id.index()).and_then(Option::as_ref)
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
    pub fn route(&self, dst: IpAddr) -> Option<NextHop> {
        let (_, target) = self.routes.longest_match(dst)?;
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
    pub fn neighbour(&self, addr: IpAddr) -> Option<MacAddr> {
        self.neighbours
            .binary_search_by_key(&addr, |n| n.0)
            .ok()
            .map(|i| self.neighbours[i].1)
    }
}
