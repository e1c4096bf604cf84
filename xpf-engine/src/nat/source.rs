//! [`SourcePool`]: the deterministic source NAT allocator of one pool.
//!
//! How a request is translated depends on the pool's mode and the protocol
//! (the names below are the ones `docs/nat-allocation.md` uses):
//!
//! - **Port slot** (port overload on; TCP, UDP, SCTP, and ICMP/ICMPv6 query
//!   identifiers): an (address, port) slot exclusive to the mapping, per
//!   protocol. The start slot comes from the request hash, then a linear
//!   probe takes the next free slot, wrapping once around the pool.
//!   - *Address persistence*: the address is the host's bound address (or
//!     `host_hash(src) mod A` for a host with no live mapping) and only its
//!     ports are probed; if they are all taken the request fails.
//!   - *Persistent NAT*: an (internal address, port, protocol) with a live
//!     mapping gets that same mapping again (refcounted), whatever the
//!     destination; the start slot hashes the endpoint only.
//! - **Address hold** (port overload off, any protocol; or port overload on
//!   with a protocol that has no ports, e.g. GRE, ESP): a pool address
//!   exclusive to one internal host (per protocol for portless protocols in a
//!   port-overload pool), refcounted; ports are not translated. The start
//!   address is `host_hash(src) mod A`, then the next address not held.
//!
//! Uniqueness: while live, no two mappings of different internal endpoints
//! share a (public address, public port, protocol) slot; an address hold
//! makes (public address[, protocol]) belong to one internal host. Exhaustion
//! fails closed with [`NatError::PoolExhausted`] exactly when no slot (or
//! address) the rules allow is free; the caller counts it.

use super::hash::{endpoint_hash, flow_hash, host_hash};
use super::layout::{PoolError, PoolLayout};
use super::ports::PortMap;
use super::{FlowRequest, NatError, SourceMapping};
use crate::lookup::FxHashMap;
use std::net::IpAddr;
use xpf_dataplane::compile::CompiledSourcePool;
use xpf_dataplane::config::{PortOverload, PortRange};
use xpf_runtime::{IpProtocol, NatPoolId};

/// Ports an interface-address source NAT allocates from: the default pool
/// range of the compiler, 1024-65535.
pub const INTERFACE_PORTS: PortRange = PortRange::new(1024, 65535);

/// A pool's allocation options.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PoolMode {
    /// Port overload (PAT); off = address-only translation.
    pub port_overload: bool,
    /// Persistent NAT (endpoint-independent mapping, inbound from any remote host).
    pub persistent: bool,
    /// Address persistence: every mapping of one host uses the same address.
    pub address_persistent: bool,
}

/// How one protocol is translated by one pool.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Translation {
    /// An exclusive (address, port) slot per mapping.
    PortSlot,
    /// An exclusive address per internal host; ports untouched.
    AddressHold {
        /// `None`: the address is held for all protocols (port overload
        /// off); `Some(p)`: for protocol `p` only (portless protocol in a
        /// port-overload pool).
        protocol: Option<IpProtocol>,
    },
}

/// Scope of an address hold: a protocol number, or [`ALL_PROTOCOLS`].
type Scope = u16;
const ALL_PROTOCOLS: Scope = 256;

/// A host's address and the number of live mappings using it.
#[derive(Clone, Copy, Debug)]
struct Binding {
    addr: u32,
    refs: u32,
}

/// A persistent mapping's slot and the number of live sessions using it.
#[derive(Clone, Copy, Debug)]
struct PersistentSlot {
    addr: u32,
    offset: u32,
    refs: u32,
}

/// The source NAT allocator of one pool (or of one interface address).
#[derive(Clone, Debug)]
pub struct SourcePool {
    id: NatPoolId,
    layout: PoolLayout,
    mode: PoolMode,
    /// Port occupancy per (protocol, address index); absent = all free.
    ports: FxHashMap<(u8, u32), PortMap>,
    /// Occupied slots per protocol number.
    slots_used: Box<[u64; 256]>,
    ports_in_use: u64,
    /// Per address index: occupied slots plus address holds on it.
    address_refs: AddressRefs,
    /// Address persistence: host → bound address.
    affinity: FxHashMap<IpAddr, Binding>,
    /// Address holds: (scope, host) → address, and (scope, address) → host.
    holders: FxHashMap<(Scope, IpAddr), Binding>,
    owners: FxHashMap<(Scope, u32), IpAddr>,
    holds_per_scope: FxHashMap<Scope, u64>,
    /// Persistent port slots: (protocol, internal address, internal port) →
    /// slot, and the reverse for inbound lookups.
    persistent: FxHashMap<(u8, IpAddr, u16), PersistentSlot>,
    persistent_rev: FxHashMap<(u8, u32, u32), (IpAddr, u16)>,
    /// Persistent address holds: live (protocol, host, port) endpoints.
    endpoints: FxHashMap<(u8, IpAddr, u16), u32>,
    /// Small pools keep emptied port maps in place: their bitmaps for one
    /// protocol fit in [`RESIDENT_PORT_MAPS_BYTES`], and an address going
    /// idle and busy again then costs no map insert/remove.
    resident_maps: bool,
    /// Larger pools drop emptied maps but keep a few (all bits clear) for
    /// reuse, so they are not reallocated and zeroed every time.
    spare_maps: Vec<PortMap>,
}

/// At most this many emptied port maps are kept for reuse per pool.
const SPARE_PORT_MAPS: usize = 16;

/// Pools whose port bitmaps for one protocol take at most this many bytes
/// (32 addresses with the full 1024-65535 range: the bitmaps stay cache
/// resident) keep them allocated once used. Larger pools touch a cold
/// bitmap per allocation anyway, and gain more from reusing one hot spare.
const RESIDENT_PORT_MAPS_BYTES: u64 = 256 << 10;

impl SourcePool {
    /// An allocator over `layout` with `mode`.
    pub fn new(id: NatPoolId, layout: PoolLayout, mode: PoolMode) -> Self {
        let address_refs = AddressRefs::new(layout.address_count());
        let map_bytes = u64::from(layout.port_count()).div_ceil(64) * 8;
        let resident_maps = layout.address_count() * map_bytes <= RESIDENT_PORT_MAPS_BYTES;
        Self {
            id,
            layout,
            mode,
            ports: FxHashMap::default(),
            slots_used: Box::new([0; 256]),
            ports_in_use: 0,
            address_refs,
            affinity: FxHashMap::default(),
            holders: FxHashMap::default(),
            owners: FxHashMap::default(),
            holds_per_scope: FxHashMap::default(),
            persistent: FxHashMap::default(),
            persistent_rev: FxHashMap::default(),
            endpoints: FxHashMap::default(),
            resident_maps,
            spare_maps: Vec::new(),
        }
    }

    /// The allocator of a compiled pool.
    pub fn from_compiled(pool: &CompiledSourcePool) -> Result<Self, PoolError> {
        let mode = PoolMode {
            port_overload: pool.port_overload == PortOverload::On,
            persistent: pool.persistent,
            address_persistent: pool.address_persistent,
        };
        Ok(Self::new(pool.id, PoolLayout::from_compiled(pool)?, mode))
    }

    /// Interface source NAT: a one-address pool of the egress interface's
    /// address, ports [`INTERFACE_PORTS`], port overload on, no persistence.
    pub fn interface(address: IpAddr) -> Self {
        let layout = PoolLayout::new(&[(address, address)], INTERFACE_PORTS)
            .expect("one address and a valid port range");
        let mode = PoolMode {
            port_overload: true,
            ..PoolMode::default()
        };
        Self::new(NatPoolId::NONE, layout, mode)
    }

    /// The pool id ([`NatPoolId::NONE`] for an interface allocator).
    pub fn id(&self) -> NatPoolId {
        self.id
    }

    /// The address/port layout.
    pub fn layout(&self) -> &PoolLayout {
        &self.layout
    }

    /// The allocation options.
    pub fn mode(&self) -> PoolMode {
        self.mode
    }

    /// How this pool translates `protocol`.
    pub fn translation(&self, protocol: IpProtocol) -> Translation {
        if !self.mode.port_overload {
            Translation::AddressHold { protocol: None }
        } else if protocol.has_ports() || protocol.is_icmp() {
            Translation::PortSlot
        } else {
            Translation::AddressHold {
                protocol: Some(protocol),
            }
        }
    }

    /// Occupied (address, port, protocol) slots: the "ports in use" of the pool.
    pub fn ports_in_use(&self) -> u64 {
        self.ports_in_use
    }

    /// Pool addresses with at least one occupied slot or address hold.
    pub fn addresses_in_use(&self) -> u64 {
        self.address_refs.in_use
    }

    /// The address `host` is bound to while it has live mappings: its
    /// address-persistence binding, or its all-protocol address hold.
    pub fn host_address(&self, host: IpAddr) -> Option<IpAddr> {
        self.affinity
            .get(&host)
            .or_else(|| self.holders.get(&(ALL_PROTOCOLS, host)))
            .map(|b| self.layout.address(b.addr))
    }

    /// Translates the source of a new flow.
    pub fn allocate(&mut self, req: &FlowRequest) -> Result<SourceMapping, NatError> {
        self.layout.check_family(req.src)?;
        match self.translation(req.protocol) {
            Translation::PortSlot => self.allocate_slot(req),
            Translation::AddressHold { protocol } => self.allocate_hold(req, scope(protocol)),
        }
    }

    /// Returns a mapping: decrements its refcounts and frees what reaches
    /// zero. Must be called exactly once per successful
    /// [`allocate`](Self::allocate) or [`install`](Self::install); nothing is
    /// changed when it fails.
    pub fn release(&mut self, m: &SourceMapping) -> Result<(), NatError> {
        self.layout.check_family(m.internal_addr)?;
        let a = self
            .layout
            .index_of(m.public_addr)
            .ok_or(NatError::NotAllocated)?;
        let p = m.protocol.0;
        match self.translation(m.protocol) {
            Translation::PortSlot => {
                let off = self
                    .layout
                    .port_offset(m.public_port)
                    .ok_or(NatError::NotAllocated)?;
                if self.mode.address_persistent
                    && self.affinity.get(&m.internal_addr).map(|b| b.addr) != Some(a)
                {
                    return Err(NatError::NotAllocated);
                }
                if self.mode.persistent {
                    let key = (p, m.internal_addr, m.internal_port);
                    let e = self
                        .persistent
                        .get_mut(&key)
                        .filter(|e| e.addr == a && e.offset == off)
                        .ok_or(NatError::NotAllocated)?;
                    e.refs -= 1;
                    if e.refs == 0 {
                        self.persistent.remove(&key);
                        self.persistent_rev.remove(&(p, a, off));
                        self.free_slot(p, a, off);
                    }
                } else if !self.free_slot(p, a, off) {
                    return Err(NatError::NotAllocated);
                }
                if self.mode.address_persistent {
                    unbind(&mut self.affinity, m.internal_addr);
                }
                Ok(())
            }
            Translation::AddressHold { protocol } => {
                let s = scope(protocol);
                let endpoint = (p, m.internal_addr, m.internal_port);
                let held = self.holders.get(&(s, m.internal_addr)).map(|b| b.addr);
                if held != Some(a)
                    || m.public_port != m.internal_port
                    || (self.mode.persistent && !self.endpoints.contains_key(&endpoint))
                {
                    return Err(NatError::NotAllocated);
                }
                if self.mode.persistent {
                    unref(&mut self.endpoints, endpoint);
                }
                if unbind(&mut self.holders, (s, m.internal_addr)) {
                    self.owners.remove(&(s, a));
                    unref(&mut self.holds_per_scope, s);
                    self.address_refs.release(a);
                }
                Ok(())
            }
        }
    }

    /// Claims exactly `m` (a mapping made elsewhere: synced from the HA peer,
    /// or carried over a config apply) as if it had been allocated here.
    /// Fails with [`NatError::Conflict`] if it collides with a live mapping
    /// and with [`NatError::NotAllocated`] if it is not a mapping this pool
    /// could make; nothing is changed when it fails.
    pub fn install(&mut self, m: &SourceMapping) -> Result<(), NatError> {
        self.layout.check_family(m.internal_addr)?;
        let a = self
            .layout
            .index_of(m.public_addr)
            .ok_or(NatError::NotAllocated)?;
        let p = m.protocol.0;
        match self.translation(m.protocol) {
            Translation::PortSlot => {
                let off = self
                    .layout
                    .port_offset(m.public_port)
                    .ok_or(NatError::NotAllocated)?;
                if self.mode.address_persistent
                    && self
                        .affinity
                        .get(&m.internal_addr)
                        .is_some_and(|b| b.addr != a)
                {
                    return Err(NatError::Conflict);
                }
                let key = (p, m.internal_addr, m.internal_port);
                match self.persistent.get_mut(&key) {
                    Some(e) if e.addr == a && e.offset == off => e.refs += 1,
                    Some(_) => return Err(NatError::Conflict),
                    None => {
                        if self.slot_taken(p, a, off) {
                            return Err(NatError::Conflict);
                        }
                        self.take_slot(p, a, off);
                        if self.mode.persistent {
                            self.persistent.insert(
                                key,
                                PersistentSlot {
                                    addr: a,
                                    offset: off,
                                    refs: 1,
                                },
                            );
                            self.persistent_rev
                                .insert((p, a, off), (m.internal_addr, m.internal_port));
                        }
                    }
                }
                if self.mode.address_persistent {
                    bind(&mut self.affinity, m.internal_addr, a);
                }
                Ok(())
            }
            Translation::AddressHold { protocol } => {
                if m.public_port != m.internal_port {
                    return Err(NatError::NotAllocated);
                }
                let s = scope(protocol);
                match self.holders.get(&(s, m.internal_addr)) {
                    Some(b) if b.addr != a => return Err(NatError::Conflict),
                    Some(_) => {}
                    None if self.owners.contains_key(&(s, a)) => return Err(NatError::Conflict),
                    None => self.take_hold(s, m.internal_addr, a),
                }
                bind(&mut self.holders, (s, m.internal_addr), a);
                if self.mode.persistent {
                    *self
                        .endpoints
                        .entry((p, m.internal_addr, m.internal_port))
                        .or_default() += 1;
                }
                Ok(())
            }
        }
    }

    /// Persistent NAT, inbound: the internal endpoint a packet from *any*
    /// remote host to `(public_addr, public_port, protocol)` is for, while a
    /// persistent mapping is live. `None` when the pool is not persistent.
    pub fn persistent_mapping_for(
        &self,
        public_addr: IpAddr,
        public_port: u16,
        protocol: IpProtocol,
    ) -> Option<(IpAddr, u16)> {
        if !self.mode.persistent {
            return None;
        }
        let a = self.layout.index_of(public_addr)?;
        match self.translation(protocol) {
            Translation::PortSlot => {
                let off = self.layout.port_offset(public_port)?;
                self.persistent_rev.get(&(protocol.0, a, off)).copied()
            }
            Translation::AddressHold { protocol: scoped } => {
                let host = *self.owners.get(&(scope(scoped), a))?;
                self.endpoints
                    .contains_key(&(protocol.0, host, public_port))
                    .then_some((host, public_port))
            }
        }
    }

    // -- port slots ---------------------------------------------------------

    fn allocate_slot(&mut self, req: &FlowRequest) -> Result<SourceMapping, NatError> {
        let p = req.protocol.0;
        let key = (p, req.src, req.src_port);
        if self.mode.persistent
            && let Some(e) = self.persistent.get_mut(&key)
        {
            e.refs += 1;
            let (a, off) = (e.addr, e.offset);
            if self.mode.address_persistent {
                bind(&mut self.affinity, req.src, a);
            }
            return Ok(self.slot_mapping(req, a, off));
        }
        let h = if self.mode.persistent {
            endpoint_hash(req.src, req.src_port, req.protocol)
        } else {
            flow_hash(req.src, req.src_port, req.protocol, req.dst, req.dst_port)
        };
        let (a, off) = if self.mode.address_persistent {
            let a = match self.affinity.get(&req.src) {
                Some(b) => b.addr,
                None => (host_hash(req.src) % self.layout.address_count()) as u32,
            };
            let start = (h % u64::from(self.layout.port_count())) as u32;
            let off = self
                .free_port_of(p, a, start)
                .ok_or(NatError::PoolExhausted)?;
            (a, off)
        } else {
            if self.slots_used[usize::from(p)] >= self.layout.slot_count() {
                return Err(NatError::PoolExhausted);
            }
            self.probe(p, h % self.layout.slot_count())
                .ok_or(NatError::PoolExhausted)?
        };
        self.take_slot(p, a, off);
        if self.mode.address_persistent {
            bind(&mut self.affinity, req.src, a);
        }
        if self.mode.persistent {
            self.persistent.insert(
                key,
                PersistentSlot {
                    addr: a,
                    offset: off,
                    refs: 1,
                },
            );
            self.persistent_rev
                .insert((p, a, off), (req.src, req.src_port));
        }
        Ok(self.slot_mapping(req, a, off))
    }

    fn slot_mapping(&self, req: &FlowRequest, a: u32, off: u32) -> SourceMapping {
        SourceMapping {
            protocol: req.protocol,
            internal_addr: req.src,
            internal_port: req.src_port,
            public_addr: self.layout.address(a),
            public_port: self.layout.port(off),
        }
    }

    /// The first free slot at or after `start`, wrapping once around the
    /// pool: ports `start..P` of the start address, then every port of each
    /// following address, then ports `0..start` of the start address.
    fn probe(&self, p: u8, start: u64) -> Option<(u32, u32)> {
        let ports = self.layout.port_count();
        let addresses = self.layout.address_count();
        let a0 = start / u64::from(ports);
        let o0 = (start % u64::from(ports)) as u32;
        for k in 0..=addresses {
            let a = ((a0 + k) % addresses) as u32;
            let (from, to) = match k {
                0 => (o0, ports),
                k if k == addresses => (0, o0),
                _ => (0, ports),
            };
            if from >= to {
                continue;
            }
            match self.ports.get(&(p, a)) {
                None => return Some((a, from)),
                Some(m) if m.used() == ports => {}
                Some(m) => {
                    if let Some(off) = m.first_free(from, to) {
                        return Some((a, off));
                    }
                }
            }
        }
        None
    }

    /// The first free port offset of address `a` at or after `start`,
    /// wrapping once.
    fn free_port_of(&self, p: u8, a: u32, start: u32) -> Option<u32> {
        let ports = self.layout.port_count();
        match self.ports.get(&(p, a)) {
            None => Some(start),
            Some(m) => m
                .first_free(start, ports)
                .or_else(|| m.first_free(0, start)),
        }
    }

    fn slot_taken(&self, p: u8, a: u32, off: u32) -> bool {
        self.ports.get(&(p, a)).is_some_and(|m| m.is_set(off))
    }

    fn take_slot(&mut self, p: u8, a: u32, off: u32) {
        let ports = self.layout.port_count();
        let spare = &mut self.spare_maps;
        let fresh = self
            .ports
            .entry((p, a))
            .or_insert_with(|| spare.pop().unwrap_or_else(|| PortMap::new(ports)))
            .set(off);
        debug_assert!(fresh, "probed slot was free");
        self.slots_used[usize::from(p)] += 1;
        self.ports_in_use += 1;
        self.address_refs.retain(a);
    }

    /// Frees a slot; false if it was not taken.
    fn free_slot(&mut self, p: u8, a: u32, off: u32) -> bool {
        let Some(m) = self.ports.get_mut(&(p, a)) else {
            return false;
        };
        if !m.clear(off) {
            return false;
        }
        if m.used() == 0
            && !self.resident_maps
            && let Some(empty) = self.ports.remove(&(p, a))
            && self.spare_maps.len() < SPARE_PORT_MAPS
        {
            self.spare_maps.push(empty);
        }
        self.slots_used[usize::from(p)] -= 1;
        self.ports_in_use -= 1;
        self.address_refs.release(a);
        true
    }

    // -- address holds ------------------------------------------------------

    fn allocate_hold(&mut self, req: &FlowRequest, s: Scope) -> Result<SourceMapping, NatError> {
        let a = match self.holders.get(&(s, req.src)) {
            Some(b) => b.addr,
            None => {
                let addresses = self.layout.address_count();
                if self.holds_per_scope.get(&s).copied().unwrap_or(0) >= addresses {
                    return Err(NatError::PoolExhausted);
                }
                let a0 = host_hash(req.src) % addresses;
                let a = (0..addresses)
                    .map(|k| ((a0 + k) % addresses) as u32)
                    .find(|a| !self.owners.contains_key(&(s, *a)))
                    .ok_or(NatError::PoolExhausted)?;
                self.take_hold(s, req.src, a);
                a
            }
        };
        bind(&mut self.holders, (s, req.src), a);
        if self.mode.persistent {
            *self
                .endpoints
                .entry((req.protocol.0, req.src, req.src_port))
                .or_default() += 1;
        }
        Ok(SourceMapping {
            protocol: req.protocol,
            internal_addr: req.src,
            internal_port: req.src_port,
            public_addr: self.layout.address(a),
            public_port: req.src_port,
        })
    }

    fn take_hold(&mut self, s: Scope, host: IpAddr, a: u32) {
        self.owners.insert((s, a), host);
        *self.holds_per_scope.entry(s).or_default() += 1;
        self.address_refs.retain(a);
    }
}

/// Per-address reference counts (slots and holds), dense for pools of up
/// to [`DENSE_ADDRESS_REFS`] addresses (every IPv4 pool short of a /15),
/// sparse beyond.
#[derive(Clone, Debug)]
struct AddressRefs {
    dense: Vec<u32>,
    sparse: FxHashMap<u32, u32>,
    /// Addresses with a non-zero count.
    in_use: u64,
}

/// Largest pool whose address refcounts are kept in a flat array (256 KiB).
const DENSE_ADDRESS_REFS: u64 = 1 << 16;

impl AddressRefs {
    fn new(addresses: u64) -> Self {
        let dense = if addresses <= DENSE_ADDRESS_REFS {
            vec![0; addresses as usize]
        } else {
            Vec::new()
        };
        Self {
            dense,
            sparse: FxHashMap::default(),
            in_use: 0,
        }
    }

    #[inline]
    fn count(&mut self, a: u32) -> &mut u32 {
        if self.dense.is_empty() {
            self.sparse.entry(a).or_default()
        } else {
            &mut self.dense[a as usize]
        }
    }

    #[inline]
    fn retain(&mut self, a: u32) {
        let n = self.count(a);
        *n += 1;
        if *n == 1 {
            self.in_use += 1;
        }
    }

    #[inline]
    fn release(&mut self, a: u32) {
        let n = self.count(a);
        *n -= 1;
        if *n == 0 {
            self.in_use -= 1;
            if !self.dense.is_empty() {
                return;
            }
            self.sparse.remove(&a);
        }
    }
}

fn scope(protocol: Option<IpProtocol>) -> Scope {
    protocol.map_or(ALL_PROTOCOLS, |p| Scope::from(p.0))
}

/// Adds a reference to `key`'s binding, creating it bound to `addr`.
fn bind<K: std::hash::Hash + Eq>(map: &mut FxHashMap<K, Binding>, key: K, addr: u32) {
    map.entry(key).or_insert(Binding { addr, refs: 0 }).refs += 1;
}

/// Drops a reference to `key`'s binding; true when it was the last.
fn unbind<K: std::hash::Hash + Eq>(map: &mut FxHashMap<K, Binding>, key: K) -> bool {
    match map.get_mut(&key) {
        Some(b) if b.refs > 1 => {
            b.refs -= 1;
            false
        }
        Some(_) => {
            map.remove(&key);
            true
        }
        None => false,
    }
}

/// Decrements a counter, removing it at zero.
fn unref<K: std::hash::Hash + Eq, N>(map: &mut FxHashMap<K, N>, key: K)
where
    N: Copy + PartialEq + From<u8> + std::ops::SubAssign,
{
    if let Some(n) = map.get_mut(&key) {
        *n -= N::from(1);
        if *n == N::from(0) {
            map.remove(&key);
        }
    }
}
