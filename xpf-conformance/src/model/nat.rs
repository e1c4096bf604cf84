//! Source NAT allocation exactly as `docs/nat-allocation.md` specifies it,
//! with plain maps: slots per protocol, address holds, persistent
//! mappings and address-persistence bindings, all refcounted.

use std::collections::BTreeMap;
use std::net::IpAddr;
use xpf_dataplane::compile::CompiledSourcePool;
use xpf_dataplane::config::PortOverload;

fn fnv(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

fn fmix(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^= h >> 33;
    h
}

fn addr_bytes(a: IpAddr) -> Vec<u8> {
    match a {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    }
}

/// What a new flow asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Request {
    /// Source.
    pub src: IpAddr,
    /// Source port (ICMP: identifier).
    pub sport: u16,
    /// Protocol.
    pub proto: u8,
    /// Destination (after destination NAT).
    pub dst: IpAddr,
    /// Destination port.
    pub dport: u16,
}

impl Request {
    fn flow_hash(&self) -> u64 {
        let mut b = addr_bytes(self.src);
        b.extend_from_slice(&self.sport.to_be_bytes());
        b.push(self.proto);
        b.extend(addr_bytes(self.dst));
        b.extend_from_slice(&self.dport.to_be_bytes());
        fmix(fnv(&b))
    }
    fn endpoint_hash(&self) -> u64 {
        let mut b = addr_bytes(self.src);
        b.extend_from_slice(&self.sport.to_be_bytes());
        b.push(self.proto);
        fmix(fnv(&b))
    }
    fn host_hash(&self) -> u64 {
        fmix(fnv(&addr_bytes(self.src)))
    }
}

/// A granted mapping.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Mapping {
    /// Protocol.
    pub proto: u8,
    /// Internal address.
    pub src: IpAddr,
    /// Internal port.
    pub sport: u16,
    /// Public address.
    pub public: IpAddr,
    /// Public port.
    pub public_port: u16,
}

/// One allocator: a pool, or an interface address (a one-address pool).
#[derive(Clone, Debug)]
pub struct Allocator {
    addrs: Vec<IpAddr>,
    low: u16,
    high: u16,
    overload: bool,
    persistent: bool,
    address_persistent: bool,
    /// (proto, slot) -> refcount (persistent mappings share a slot).
    taken: BTreeMap<(u8, u64), u32>,
    /// (proto, src, sport) -> (slot, refs) for persistent mappings.
    persist: BTreeMap<(u8, IpAddr, u16), (u64, u32)>,
    /// src -> (address index, refs) for address persistence.
    bind: BTreeMap<IpAddr, (u64, u32)>,
    /// (scope, address index) -> (holder, refs); scope None = all protocols.
    holds: BTreeMap<(Option<u8>, u64), (IpAddr, u32)>,
}

fn ip_u128(a: IpAddr) -> u128 {
    match a {
        IpAddr::V4(a) => u128::from(u32::from(a)),
        IpAddr::V6(a) => u128::from(a),
    }
}

fn has_ports(proto: u8) -> bool {
    matches!(proto, 6 | 17 | 132 | 1 | 58)
}

impl Allocator {
    /// An allocator for a compiled pool (None when it cannot be laid out).
    pub fn for_pool(pool: &CompiledSourcePool) -> Option<Self> {
        let mut addrs = Vec::new();
        for (a, b) in &pool.ranges {
            let (x, y) = (ip_u128(*a), ip_u128(*b));
            if y < x || y - x > 1 << 20 {
                return None;
            }
            for v in x..=y {
                addrs.push(match a {
                    IpAddr::V4(_) => IpAddr::V4((v as u32).into()),
                    IpAddr::V6(_) => IpAddr::V6(v.into()),
                });
            }
        }
        if addrs.is_empty() || pool.port_range.low > pool.port_range.high {
            return None;
        }
        Some(Self {
            addrs,
            low: pool.port_range.low,
            high: pool.port_range.high,
            overload: pool.port_overload == PortOverload::On,
            persistent: pool.persistent,
            address_persistent: pool.address_persistent,
            taken: BTreeMap::new(),
            persist: BTreeMap::new(),
            bind: BTreeMap::new(),
            holds: BTreeMap::new(),
        })
    }

    /// Interface NAT: one address, ports 1024-65535, overload, no persistence.
    pub fn for_interface(addr: IpAddr) -> Self {
        Self {
            addrs: vec![addr],
            low: 1024,
            high: 65535,
            overload: true,
            persistent: false,
            address_persistent: false,
            taken: BTreeMap::new(),
            persist: BTreeMap::new(),
            bind: BTreeMap::new(),
            holds: BTreeMap::new(),
        }
    }

    fn ports(&self) -> u64 {
        u64::from(self.high - self.low) + 1
    }

    fn slot_mapping(&self, r: &Request, slot: u64) -> Mapping {
        let p = self.ports();
        Mapping {
            proto: r.proto,
            src: r.src,
            sport: r.sport,
            public: self.addrs[(slot / p) as usize],
            public_port: self.low + (slot % p) as u16,
        }
    }

    /// Allocates for a request (None: pool exhausted or family mismatch).
    pub fn allocate(&mut self, r: &Request) -> Option<Mapping> {
        if self.addrs[0].is_ipv4() != r.src.is_ipv4() {
            return None;
        }
        if !self.overload || !has_ports(r.proto) {
            let scope = if self.overload { Some(r.proto) } else { None };
            return self.hold(scope, r);
        }
        if self.persistent
            && let Some((slot, refs)) = self.persist.get_mut(&(r.proto, r.src, r.sport))
        {
            *refs += 1;
            let slot = *slot;
            return Some(self.slot_mapping(r, slot));
        }
        let a = self.addrs.len() as u64;
        let p = self.ports();
        let h = if self.persistent {
            r.endpoint_hash()
        } else {
            r.flow_hash()
        };
        let slot = if self.address_persistent {
            let idx = match self.bind.get(&r.src) {
                Some((i, _)) => *i,
                None => r.host_hash() % a,
            };
            let start = h % p;
            (0..p)
                .map(|k| idx * p + (start + k) % p)
                .find(|s| !self.taken.contains_key(&(r.proto, *s)))?
        } else {
            let total = a * p;
            let used = self.taken.keys().filter(|(pr, _)| *pr == r.proto).count() as u64;
            if used == total {
                return None;
            }
            let start = h % total;
            (0..total)
                .map(|k| (start + k) % total)
                .find(|s| !self.taken.contains_key(&(r.proto, *s)))?
        };
        self.take(r, slot);
        Some(self.slot_mapping(r, slot))
    }

    fn take(&mut self, r: &Request, slot: u64) {
        self.taken.insert((r.proto, slot), 1);
        if self.persistent {
            self.persist.insert((r.proto, r.src, r.sport), (slot, 1));
        }
        if self.address_persistent {
            let idx = slot / self.ports();
            self.bind.entry(r.src).or_insert((idx, 0)).1 += 1;
        }
    }

    fn hold(&mut self, scope: Option<u8>, r: &Request) -> Option<Mapping> {
        let mapping = |public| Mapping {
            proto: r.proto,
            src: r.src,
            sport: r.sport,
            public,
            public_port: r.sport,
        };
        if let Some((idx, (_, refs))) = self
            .holds
            .iter_mut()
            .find(|((s, _), (h, _))| *s == scope && *h == r.src)
        {
            *refs += 1;
            let idx = idx.1;
            return Some(mapping(self.addrs[idx as usize]));
        }
        let a = self.addrs.len() as u64;
        let start = r.host_hash() % a;
        let idx = (0..a)
            .map(|k| (start + k) % a)
            .find(|i| !self.holds.contains_key(&(scope, *i)))?;
        self.holds.insert((scope, idx), (r.src, 1));
        Some(mapping(self.addrs[idx as usize]))
    }

    fn slot_of(&self, m: &Mapping) -> Option<u64> {
        let idx = self.addrs.iter().position(|a| *a == m.public)? as u64;
        if m.public_port < self.low || m.public_port > self.high {
            return None;
        }
        Some(idx * self.ports() + u64::from(m.public_port - self.low))
    }

    fn is_hold(&self, proto: u8) -> Option<Option<u8>> {
        if !self.overload {
            Some(None)
        } else if !has_ports(proto) {
            Some(Some(proto))
        } else {
            None
        }
    }

    /// Releases one allocation of `m`.
    pub fn release(&mut self, m: &Mapping) {
        if let Some(scope) = self.is_hold(m.proto) {
            let Some(idx) = self.addrs.iter().position(|a| *a == m.public) else {
                return;
            };
            let key = (scope, idx as u64);
            if let Some((h, refs)) = self.holds.get_mut(&key)
                && *h == m.src
            {
                *refs -= 1;
                if *refs == 0 {
                    self.holds.remove(&key);
                }
            }
            return;
        }
        let Some(slot) = self.slot_of(m) else { return };
        if self.persistent {
            let key = (m.proto, m.src, m.sport);
            match self.persist.get_mut(&key) {
                Some((s, refs)) if *s == slot => {
                    *refs -= 1;
                    if *refs > 0 {
                        return;
                    }
                    self.persist.remove(&key);
                }
                _ => return,
            }
        }
        if self.taken.remove(&(m.proto, slot)).is_none() {
            return;
        }
        if self.address_persistent
            && let Some((_, refs)) = self.bind.get_mut(&m.src)
        {
            *refs -= 1;
            if *refs == 0 {
                self.bind.remove(&m.src);
            }
        }
    }

    /// Claims a given mapping (carrying sessions over an apply); false on conflict.
    pub fn install(&mut self, m: &Mapping) -> bool {
        if m.public.is_ipv4() != self.addrs[0].is_ipv4() {
            return false;
        }
        if let Some(scope) = self.is_hold(m.proto) {
            let Some(idx) = self.addrs.iter().position(|a| *a == m.public) else {
                return false;
            };
            if m.public_port != m.sport {
                return false;
            }
            let key = (scope, idx as u64);
            match self.holds.get_mut(&key) {
                Some((h, refs)) if *h == m.src => {
                    *refs += 1;
                    true
                }
                Some(_) => false,
                None => {
                    if self
                        .holds
                        .iter()
                        .any(|((s, _), (h, _))| *s == scope && *h == m.src)
                    {
                        return false;
                    }
                    self.holds.insert(key, (m.src, 1));
                    true
                }
            }
        } else {
            let Some(slot) = self.slot_of(m) else {
                return false;
            };
            if self.persistent {
                let key = (m.proto, m.src, m.sport);
                if let Some((s, refs)) = self.persist.get_mut(&key) {
                    if *s == slot {
                        *refs += 1;
                        return true;
                    }
                    return false;
                }
            }
            if self.taken.contains_key(&(m.proto, slot)) {
                return false;
            }
            let idx = slot / self.ports();
            if self.address_persistent
                && let Some((i, _)) = self.bind.get(&m.src)
                && *i != idx
            {
                return false;
            }
            let r = Request {
                src: m.src,
                sport: m.sport,
                proto: m.proto,
                dst: m.src,
                dport: 0,
            };
            self.take(&r, slot);
            true
        }
    }
}
