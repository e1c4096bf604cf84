//! Source NAT allocation properties, under random allocate/release
//! sequences on small random pools of every mode (and a /22, whose emptied
//! port bitmaps are recycled rather than kept):
//!
//! - the allocator agrees step by step with [`Model`], a deliberately naive
//!   transcription of `docs/nat-allocation.md` (slot-by-slot probing over
//!   hash sets), so it is deterministic *and* follows the written spec;
//! - live mappings are unique (per public address, port and protocol for
//!   port slots; per public address and scope for address holds);
//! - releases make slots reusable; exhaustion happens exactly when the pool
//!   (or, with address persistence, the host's address) is full;
//! - address persistence and persistent NAT invariants hold at every step.

use proptest::prelude::*;
use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr};
use xpf_dataplane::config::PortRange;
use xpf_engine::nat::{
    FlowRequest, NatError, PoolLayout, PoolMode, SourceMapping, SourcePool, endpoint_hash,
    flow_hash, host_hash,
};
use xpf_runtime::{IpProtocol, NatPoolId};

const ALL: u16 = 256;

/// The spec, written the slow and obvious way.
struct Model {
    addrs: Vec<IpAddr>,
    low: u16,
    ports: u64,
    mode: PoolMode,
    /// (protocol, slot) taken.
    used: HashSet<(u8, u64)>,
    persistent: HashMap<(u8, IpAddr, u16), (u64, u32)>,
    affinity: HashMap<IpAddr, (u64, u32)>,
    holds: HashMap<(u16, IpAddr), (u64, u32)>,
    endpoints: HashMap<(u8, IpAddr, u16), u32>,
}

impl Model {
    fn new(addrs: Vec<IpAddr>, low: u16, ports: u64, mode: PoolMode) -> Self {
        Self {
            addrs,
            low,
            ports,
            mode,
            used: HashSet::new(),
            persistent: HashMap::new(),
            affinity: HashMap::new(),
            holds: HashMap::new(),
            endpoints: HashMap::new(),
        }
    }

    fn a(&self) -> u64 {
        self.addrs.len() as u64
    }

    /// `None`: port slot; `Some(scope)`: address hold.
    fn hold_scope(&self, p: IpProtocol) -> Option<u16> {
        if !self.mode.port_overload {
            Some(ALL)
        } else if p.has_ports() || p.is_icmp() {
            None
        } else {
            Some(u16::from(p.0))
        }
    }

    fn slot_mapping(&self, r: &FlowRequest, slot: u64) -> SourceMapping {
        SourceMapping {
            protocol: r.protocol,
            internal_addr: r.src,
            internal_port: r.src_port,
            public_addr: self.addrs[(slot / self.ports) as usize],
            public_port: self.low + (slot % self.ports) as u16,
        }
    }

    fn allocate(&mut self, r: &FlowRequest) -> Result<SourceMapping, NatError> {
        let p = r.protocol.0;
        let Some(scope) = self.hold_scope(r.protocol) else {
            let key = (p, r.src, r.src_port);
            if self.mode.persistent
                && let Some((slot, refs)) = self.persistent.get_mut(&key)
            {
                *refs += 1;
                let slot = *slot;
                if self.mode.address_persistent {
                    self.affinity.get_mut(&r.src).unwrap().1 += 1;
                }
                return Ok(self.slot_mapping(r, slot));
            }
            let h = if self.mode.persistent {
                endpoint_hash(r.src, r.src_port, r.protocol)
            } else {
                flow_hash(r.src, r.src_port, r.protocol, r.dst, r.dst_port)
            };
            let slot = if self.mode.address_persistent {
                let a = self
                    .affinity
                    .get(&r.src)
                    .map_or(host_hash(r.src) % self.a(), |b| b.0);
                (0..self.ports)
                    .map(|k| a * self.ports + (h % self.ports + k) % self.ports)
                    .find(|s| !self.used.contains(&(p, *s)))
            } else {
                let s = self.a() * self.ports;
                (0..s)
                    .map(|k| (h % s + k) % s)
                    .find(|s| !self.used.contains(&(p, *s)))
            }
            .ok_or(NatError::PoolExhausted)?;
            self.used.insert((p, slot));
            if self.mode.address_persistent {
                self.affinity
                    .entry(r.src)
                    .or_insert((slot / self.ports, 0))
                    .1 += 1;
            }
            if self.mode.persistent {
                self.persistent.insert(key, (slot, 1));
            }
            return Ok(self.slot_mapping(r, slot));
        };
        let a = match self.holds.get(&(scope, r.src)) {
            Some(&(a, _)) => a,
            None => {
                let taken: HashSet<u64> = self
                    .holds
                    .iter()
                    .filter(|((s, _), _)| *s == scope)
                    .map(|(_, (a, _))| *a)
                    .collect();
                let n = self.a();
                (0..n)
                    .map(|k| (host_hash(r.src) % n + k) % n)
                    .find(|a| !taken.contains(a))
                    .ok_or(NatError::PoolExhausted)?
            }
        };
        self.holds.entry((scope, r.src)).or_insert((a, 0)).1 += 1;
        if self.mode.persistent {
            *self.endpoints.entry((p, r.src, r.src_port)).or_default() += 1;
        }
        Ok(SourceMapping {
            protocol: r.protocol,
            internal_addr: r.src,
            internal_port: r.src_port,
            public_addr: self.addrs[a as usize],
            public_port: r.src_port,
        })
    }

    fn release(&mut self, m: &SourceMapping) {
        let p = m.protocol.0;
        let a = self.addrs.iter().position(|x| *x == m.public_addr).unwrap() as u64;
        match self.hold_scope(m.protocol) {
            None => {
                let slot = a * self.ports + u64::from(m.public_port - self.low);
                if self.mode.persistent {
                    let key = (p, m.internal_addr, m.internal_port);
                    let e = self.persistent.get_mut(&key).unwrap();
                    e.1 -= 1;
                    if e.1 == 0 {
                        self.persistent.remove(&key);
                        self.used.remove(&(p, slot));
                    }
                } else {
                    assert!(self.used.remove(&(p, slot)));
                }
                if self.mode.address_persistent {
                    let b = self.affinity.get_mut(&m.internal_addr).unwrap();
                    b.1 -= 1;
                    if b.1 == 0 {
                        self.affinity.remove(&m.internal_addr);
                    }
                }
            }
            Some(scope) => {
                let b = self.holds.get_mut(&(scope, m.internal_addr)).unwrap();
                b.1 -= 1;
                if b.1 == 0 {
                    self.holds.remove(&(scope, m.internal_addr));
                }
                if self.mode.persistent {
                    let e = self
                        .endpoints
                        .get_mut(&(p, m.internal_addr, m.internal_port))
                        .unwrap();
                    *e -= 1;
                    if *e == 0 {
                        self.endpoints
                            .remove(&(p, m.internal_addr, m.internal_port));
                    }
                }
            }
        }
    }

    fn addresses_in_use(&self) -> u64 {
        let mut s: HashSet<u64> = self
            .used
            .iter()
            .map(|(_, slot)| slot / self.ports)
            .collect();
        s.extend(self.holds.values().map(|(a, _)| *a));
        s.len() as u64
    }
}

#[derive(Clone, Debug)]
enum Op {
    Allocate(FlowRequest),
    /// Release the live mapping at this index (modulo the live count).
    Release(usize),
}

#[derive(Clone, Debug)]
struct Setup {
    addresses: u32,
    low: u16,
    ports: u32,
    mode: PoolMode,
}

fn setup() -> impl Strategy<Value = Setup> {
    (
        1u32..=3,
        1024u16..1100,
        1u32..=5,
        any::<(bool, bool, bool)>(),
    )
        .prop_map(
            |(addresses, low, ports, (port_overload, persistent, address_persistent))| Setup {
                addresses,
                low,
                ports,
                mode: PoolMode {
                    port_overload,
                    persistent,
                    address_persistent,
                },
            },
        )
}

fn request() -> impl Strategy<Value = FlowRequest> {
    (
        1u8..=5,
        prop::sample::select(vec![1000u16, 1001, 1002]),
        prop::sample::select(vec![
            IpProtocol::TCP,
            IpProtocol::UDP,
            IpProtocol::ICMP,
            IpProtocol::GRE,
        ]),
        1u8..=2,
        prop::sample::select(vec![80u16, 443]),
    )
        .prop_map(|(host, sport, protocol, dhost, dport)| {
            let sport = if protocol == IpProtocol::GRE {
                0
            } else {
                sport
            };
            let dport = match protocol {
                IpProtocol::GRE => 0,
                IpProtocol::ICMP => sport,
                _ => dport,
            };
            FlowRequest {
                src: IpAddr::V4(Ipv4Addr::new(198, 18, 0, host)),
                src_port: sport,
                protocol,
                dst: IpAddr::V4(Ipv4Addr::new(198, 19, 0, dhost)),
                dst_port: dport,
            }
        })
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    prop::collection::vec(
        prop_oneof![
            3 => request().prop_map(Op::Allocate),
            2 => any::<usize>().prop_map(Op::Release),
        ],
        0..80,
    )
}

fn build(s: &Setup) -> (SourcePool, Model) {
    let first = Ipv4Addr::new(198, 18, 100, 1);
    let last = Ipv4Addr::from(u32::from(first) + s.addresses - 1);
    let layout = PoolLayout::new(
        &[(IpAddr::V4(first), IpAddr::V4(last))],
        PortRange::new(s.low, (u32::from(s.low) + s.ports - 1) as u16),
    )
    .unwrap();
    let addrs = (0..s.addresses)
        .map(|i| IpAddr::V4(Ipv4Addr::from(u32::from(first) + i)))
        .collect();
    (
        SourcePool::new(NatPoolId(1), layout, s.mode),
        Model::new(addrs, s.low, u64::from(s.ports), s.mode),
    )
}

/// The invariants every live set of mappings satisfies.
fn check_live(
    s: &Setup,
    pool: &SourcePool,
    model: &Model,
    live: &[SourceMapping],
) -> Result<(), TestCaseError> {
    let mut slot_owner: HashMap<(IpAddr, u16, IpProtocol), (IpAddr, u16)> = HashMap::new();
    let mut slot_refs: HashMap<(IpAddr, u16, IpProtocol), usize> = HashMap::new();
    let mut hold_owner: HashMap<(IpAddr, u16), IpAddr> = HashMap::new();
    let mut endpoint_slot: HashMap<(IpAddr, u16, IpProtocol), (IpAddr, u16)> = HashMap::new();
    let mut host_addr: HashMap<IpAddr, IpAddr> = HashMap::new();
    for m in live {
        match model.hold_scope(m.protocol) {
            None => {
                let port = u32::from(m.public_port);
                prop_assert!(port >= u32::from(s.low) && port < u32::from(s.low) + s.ports);
                let slot = (m.public_addr, m.public_port, m.protocol);
                let owner = (m.internal_addr, m.internal_port);
                // Unique per (public address, public port, protocol).
                let prev = slot_owner.insert(slot, owner);
                prop_assert!(
                    prev.is_none() || prev == Some(owner),
                    "slot {:?} shared",
                    slot
                );
                *slot_refs.entry(slot).or_default() += 1;
                if s.mode.persistent {
                    // One mapping per internal endpoint, whatever the destination.
                    let prev = endpoint_slot.insert(
                        (m.internal_addr, m.internal_port, m.protocol),
                        (m.public_addr, m.public_port),
                    );
                    prop_assert!(prev.is_none() || prev == Some((m.public_addr, m.public_port)));
                    prop_assert_eq!(
                        pool.persistent_mapping_for(m.public_addr, m.public_port, m.protocol),
                        Some(owner)
                    );
                }
                if s.mode.address_persistent {
                    // One address per host.
                    let prev = host_addr.insert(m.internal_addr, m.public_addr);
                    prop_assert!(prev.is_none() || prev == Some(m.public_addr));
                }
            }
            Some(scope) => {
                prop_assert_eq!(m.public_port, m.internal_port, "ports untouched");
                let prev = hold_owner.insert((m.public_addr, scope), m.internal_addr);
                prop_assert!(
                    prev.is_none() || prev == Some(m.internal_addr),
                    "address shared"
                );
                if s.mode.persistent {
                    prop_assert_eq!(
                        pool.persistent_mapping_for(m.public_addr, m.public_port, m.protocol),
                        Some((m.internal_addr, m.internal_port))
                    );
                }
            }
        }
    }
    if !s.mode.persistent {
        // Without persistence every live mapping holds its own slot.
        prop_assert!(slot_refs.values().all(|&n| n == 1));
    }
    prop_assert_eq!(pool.ports_in_use(), slot_refs.len() as u64);
    let mut addrs: HashSet<IpAddr> = slot_refs.keys().map(|k| k.0).collect();
    addrs.extend(hold_owner.keys().map(|k| k.0));
    prop_assert_eq!(pool.addresses_in_use(), addrs.len() as u64);
    prop_assert_eq!(pool.addresses_in_use(), model.addresses_in_use());
    Ok(())
}

/// Runs `ops`, checking the allocator against the model and the invariants
/// after every step. Returns every allocation result in order.
fn run(s: &Setup, ops: &[Op]) -> Result<Vec<Result<SourceMapping, NatError>>, TestCaseError> {
    let (mut pool, mut model) = build(s);
    let mut live: Vec<SourceMapping> = Vec::new();
    let mut results = Vec::new();
    for op in ops {
        match op {
            Op::Allocate(r) => {
                let want = model.allocate(r);
                let got = pool.allocate(r);
                prop_assert_eq!(got, want, "allocate {:?}", r);
                if let Ok(m) = got {
                    live.push(m);
                }
                results.push(got);
            }
            Op::Release(i) if !live.is_empty() => {
                let m = live.swap_remove(i % live.len());
                model.release(&m);
                prop_assert_eq!(pool.release(&m), Ok(()));
            }
            Op::Release(_) => {}
        }
        check_live(s, &pool, &model, &live)?;
    }
    // Releasing everything returns the pool to empty.
    for m in live.drain(..) {
        prop_assert_eq!(pool.release(&m), Ok(()));
    }
    prop_assert_eq!((pool.ports_in_use(), pool.addresses_in_use()), (0, 0));
    Ok(results)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn allocator_follows_the_written_spec_and_keeps_mappings_unique(s in setup(), ops in ops()) {
        run(&s, &ops)?;
    }

    /// A /22 with the full port range: large enough that emptied port maps
    /// are dropped and recycled rather than kept resident.
    #[test]
    fn large_pool_follows_the_written_spec(
        mode in any::<(bool, bool, bool)>(),
        ops in ops(),
    ) {
        let s = Setup {
            addresses: 1024,
            low: 1024,
            ports: 64512,
            mode: PoolMode {
                port_overload: mode.0,
                persistent: mode.1,
                address_persistent: mode.2,
            },
        };
        run(&s, &ops)?;
    }

    #[test]
    fn same_request_sequence_gives_same_mappings(s in setup(), ops in ops()) {
        prop_assert_eq!(run(&s, &ops)?, run(&s, &ops)?);
    }

    #[test]
    fn port_overload_exhausts_exactly_when_full(
        addresses in 1u32..=3,
        ports in 1u32..=6,
        reqs in prop::collection::vec(request(), 1..60),
    ) {
        let s = Setup {
            addresses,
            low: 2000,
            ports,
            mode: PoolMode { port_overload: true, persistent: false, address_persistent: false },
        };
        let (mut pool, _) = build(&s);
        let capacity = u64::from(addresses) * u64::from(ports);
        let mut per_proto: HashMap<IpProtocol, u64> = HashMap::new();
        for r in reqs.iter().filter(|r| r.protocol != IpProtocol::GRE) {
            let used = per_proto.entry(r.protocol).or_default();
            match pool.allocate(r) {
                Ok(_) => {
                    prop_assert!(*used < capacity, "allocated past capacity");
                    *used += 1;
                }
                Err(e) => {
                    prop_assert_eq!(e, NatError::PoolExhausted);
                    prop_assert_eq!(*used, capacity, "exhausted before the pool was full");
                }
            }
        }
    }

    #[test]
    fn released_slot_is_reused_when_it_is_the_only_free_one(
        addresses in 1u32..=3,
        ports in 1u32..=6,
        victim in any::<usize>(),
        host in 1u8..=250,
    ) {
        let s = Setup {
            addresses,
            low: 3000,
            ports,
            mode: PoolMode { port_overload: true, persistent: false, address_persistent: false },
        };
        let (mut pool, _) = build(&s);
        let mut live = Vec::new();
        for sport in 0u16.. {
            let r = FlowRequest {
                src: IpAddr::V4(Ipv4Addr::new(198, 18, 1, host)),
                src_port: sport,
                protocol: IpProtocol::UDP,
                dst: IpAddr::V4(Ipv4Addr::new(198, 19, 0, 1)),
                dst_port: 53,
            };
            match pool.allocate(&r) {
                Ok(m) => live.push(m),
                Err(e) => {
                    prop_assert_eq!(e, NatError::PoolExhausted);
                    break;
                }
            }
        }
        prop_assert_eq!(live.len() as u64, u64::from(addresses) * u64::from(ports));
        let freed = live.swap_remove(victim % live.len());
        pool.release(&freed).unwrap();
        let again = pool
            .allocate(&FlowRequest {
                src: IpAddr::V4(Ipv4Addr::new(198, 18, 2, 1)),
                src_port: 9,
                protocol: IpProtocol::UDP,
                dst: IpAddr::V4(Ipv4Addr::new(198, 19, 0, 2)),
                dst_port: 53,
            })
            .unwrap();
        prop_assert_eq!((again.public_addr, again.public_port), (freed.public_addr, freed.public_port));
    }

    #[test]
    fn address_only_pool_exhausts_exactly_when_every_address_is_held(
        addresses in 1u32..=4,
        hosts in prop::collection::vec(1u8..=8, 1..30),
    ) {
        let s = Setup {
            addresses,
            low: 1024,
            ports: 1,
            mode: PoolMode::default(),
        };
        let (mut pool, _) = build(&s);
        let mut held: HashMap<IpAddr, IpAddr> = HashMap::new();
        for h in hosts {
            let src = IpAddr::V4(Ipv4Addr::new(198, 18, 0, h));
            let r = FlowRequest {
                src,
                src_port: 4000,
                protocol: IpProtocol::TCP,
                dst: IpAddr::V4(Ipv4Addr::new(198, 19, 0, 1)),
                dst_port: 80,
            };
            match pool.allocate(&r) {
                Ok(m) => {
                    prop_assert_eq!(m.public_port, 4000);
                    let prev = held.insert(src, m.public_addr);
                    prop_assert!(prev.is_none() || prev == Some(m.public_addr));
                }
                Err(e) => {
                    prop_assert_eq!(e, NatError::PoolExhausted);
                    prop_assert!(!held.contains_key(&src));
                    prop_assert_eq!(held.len() as u32, addresses);
                }
            }
        }
        let distinct: HashSet<_> = held.values().collect();
        prop_assert_eq!(distinct.len(), held.len(), "one host per address");
    }
}
