//! Session storage: per-family slabs of slots (a session and its two
//! keys), access by node id, the intrusive-list adapters, the per-address
//! session counts, and the [`Family`] trait that lets the table's code be
//! written once for IPv4 and IPv6.
//!
//! A **node id** is a handle's raw value: `(slot << 1) | family` with
//! family 0 for IPv4 and 1 for IPv6.

use super::hash::{KeyHash, SeededState, Seeds};
use super::record::Session;
use super::slab::{Chunked, Link, Links, NIL};
use std::collections::HashMap;
use std::hash::Hash;
use std::mem::size_of;
use std::net::{Ipv4Addr, Ipv6Addr};
use xpf_runtime::{NatTranslation, SessionAddr, SessionEntry, SessionKey, SessionValue};

/// A slab slot: a session and its keys (`[forward, reverse]`).
///
/// IPv4 slots are aligned to 64 bytes (184 → 192 bytes, +8 per pair): the
/// keys (28 bytes, padded to 32) and the record's 32-byte hot part
/// ([`Session`]) then fill exactly the first cache line of the slot, so an
/// established UDP packet reads and writes one line of its slot (a TCP
/// packet one more, for its tracker), whatever the slot's index. IPv6
/// slots keep 8-byte alignment: their keys alone are 76 bytes, so their
/// hot part spans two lines however the slot is placed, and aligning
/// them to 64 bytes would grow a slot from 232 to 256 bytes, pushing the
/// IPv6 pair (with its index share) from 253 to 277 bytes, over the
/// 256-byte budget.
#[derive(Clone, Copy, Debug)]
#[repr(C)]
pub(super) struct Slot<A: SlotAlign> {
    _align: A::Align,
    pub(super) keys: [SessionKey<A>; 2],
    pub(super) session: Session,
}

impl<A: SlotAlign> Slot<A> {
    /// A slot holding `keys` and `session`.
    pub(super) fn new(keys: [SessionKey<A>; 2], session: Session) -> Self {
        Self {
            _align: A::Align::default(),
            keys,
            session,
        }
    }
}

/// A zero-sized field that aligns a struct to a cache line.
#[derive(Clone, Copy, Debug, Default)]
#[repr(align(64))]
pub(super) struct CacheLine;

/// The alignment of a family's slots (see [`Slot`]).
pub(super) trait SlotAlign: Sized {
    /// A zero-sized type of the slot's alignment.
    type Align: Copy + Default + std::fmt::Debug;
}

impl SlotAlign for Ipv4Addr {
    type Align = CacheLine;
}

impl SlotAlign for Ipv6Addr {
    type Align = ();
}

/// One family's slots and free list.
#[derive(Debug)]
pub(super) struct Store<A: SlotAlign> {
    pub(super) slots: Chunked<Slot<A>>,
    /// Head of the free list (a slot index), threaded through
    /// `session.wheel.next` of freed slots.
    pub(super) free: u32,
}

impl<A: SlotAlign> Default for Store<A> {
    fn default() -> Self {
        Self {
            slots: Chunked::default(),
            free: NIL,
        }
    }
}

/// Both families' stores; session access by node id (a handle's raw value).
#[derive(Debug, Default)]
pub(super) struct Stores {
    pub(super) v4: Store<Ipv4Addr>,
    pub(super) v6: Store<Ipv6Addr>,
}

impl Stores {
    #[inline(always)]
    pub(super) fn session(&self, node: u32) -> &Session {
        let slot = (node >> 1) as usize;
        if node & 1 == 0 {
            &self.v4.slots.get(slot).session
        } else {
            &self.v6.slots.get(slot).session
        }
    }

    #[inline(always)]
    pub(super) fn session_mut(&mut self, node: u32) -> &mut Session {
        let slot = (node >> 1) as usize;
        if node & 1 == 0 {
            &mut self.v4.slots.get_mut(slot).session
        } else {
            &mut self.v6.slots.get_mut(slot).session
        }
    }

    /// A live session's record; `None` for a free or never-used slot.
    #[inline(always)]
    pub(super) fn live(&self, node: u32) -> Option<&Session> {
        let slot = (node >> 1) as usize;
        let len = if node & 1 == 0 {
            self.v4.slots.len()
        } else {
            self.v6.slots.len()
        };
        (slot < len)
            .then(|| self.session(node))
            .filter(|s| s.is_live())
    }
}

/// The wheel links of the sessions.
pub(super) struct WheelLinks<'a>(pub(super) &'a mut Stores);

impl Links for WheelLinks<'_> {
    #[inline]
    fn link(&mut self, node: u32) -> &mut Link {
        &mut self.0.session_mut(node).wheel
    }
}

/// The embryonic-FIFO links of the sessions.
pub(super) struct EmbryoLinks<'a>(pub(super) &'a mut Stores);

impl Links for EmbryoLinks<'_> {
    #[inline]
    fn link(&mut self, node: u32) -> &mut Link {
        &mut self.0.session_mut(node).embryo
    }
}

/// Sessions per address.
pub(super) type CountMap<B> = HashMap<B, u32, SeededState>;

/// One family's session counts by forward source and forward destination.
#[derive(Debug)]
pub(super) struct FamilyCounts<B> {
    pub(super) by_source: CountMap<B>,
    pub(super) by_destination: CountMap<B>,
}

impl<B: Eq + Hash> FamilyCounts<B> {
    pub(super) fn new(state: SeededState) -> Self {
        Self {
            by_source: HashMap::with_hasher(state),
            by_destination: HashMap::with_hasher(state),
        }
    }

    pub(super) fn add(&mut self, source: B, destination: B) {
        *self.by_source.entry(source).or_insert(0) += 1;
        *self.by_destination.entry(destination).or_insert(0) += 1;
    }

    pub(super) fn sub(&mut self, source: B, destination: B) {
        for (map, addr) in [
            (&mut self.by_source, source),
            (&mut self.by_destination, destination),
        ] {
            if let Some(n) = map.get_mut(&addr) {
                *n -= 1;
                if *n == 0 {
                    map.remove(&addr);
                }
            }
        }
    }

    pub(super) fn clear(&mut self) {
        self.by_source.clear();
        self.by_destination.clear();
    }

    /// Gives the maps' memory back.
    pub(super) fn shrink(&mut self) {
        self.by_source.shrink_to_fit();
        self.by_destination.shrink_to_fit();
    }

    pub(super) fn bytes(&self) -> usize {
        // hashbrown: one (key, value) pair and one control byte per bucket.
        (self.by_source.capacity() + self.by_destination.capacity()) * (size_of::<(B, u32)>() + 1)
    }
}

/// Both families' session counts.
#[derive(Debug)]
pub(super) struct AddrCounts {
    pub(super) v4: FamilyCounts<u32>,
    pub(super) v6: FamilyCounts<u128>,
}

impl AddrCounts {
    pub(super) fn new(state: SeededState) -> Self {
        Self {
            v4: FamilyCounts::new(state),
            v6: FamilyCounts::new(state),
        }
    }
}

/// Per-family access for the generic code paths.
pub(super) trait Family: SessionAddr + SlotAlign {
    /// The family bit of node ids (0 IPv4, 1 IPv6).
    const BIT: u32;
    /// The address as a hashable integer.
    type Bits: Copy + Eq + Hash;
    /// The address as its integer.
    fn bits(self) -> Self::Bits;
    /// The seeded hash of a key of this family.
    fn hash_key(key: &SessionKey<Self>, seeds: &Seeds) -> u64;
    /// This family's store.
    fn store(stores: &Stores) -> &Store<Self>;
    /// This family's store, mutably.
    fn store_mut(stores: &mut Stores) -> &mut Store<Self>;
    /// This family's address counts.
    fn counts_mut(counts: &mut AddrCounts) -> &mut FamilyCounts<Self::Bits>;
    /// An entry of this family.
    fn entry(key: SessionKey<Self>, value: SessionValue<Self>) -> SessionEntry;
}

impl Family for Ipv4Addr {
    const BIT: u32 = 0;
    type Bits = u32;
    fn bits(self) -> u32 {
        self.to_bits()
    }
    #[inline(always)]
    fn hash_key(key: &SessionKey<Self>, seeds: &Seeds) -> u64 {
        key.key_hash(seeds)
    }
    #[inline(always)]
    fn store(stores: &Stores) -> &Store<Self> {
        &stores.v4
    }
    fn store_mut(stores: &mut Stores) -> &mut Store<Self> {
        &mut stores.v4
    }
    fn counts_mut(counts: &mut AddrCounts) -> &mut FamilyCounts<u32> {
        &mut counts.v4
    }
    fn entry(key: SessionKey<Self>, value: SessionValue<Self>) -> SessionEntry {
        SessionEntry::V4 { key, value }
    }
}

impl Family for Ipv6Addr {
    const BIT: u32 = 1;
    type Bits = u128;
    fn bits(self) -> u128 {
        self.to_bits()
    }
    #[inline(always)]
    fn hash_key(key: &SessionKey<Self>, seeds: &Seeds) -> u64 {
        key.key_hash(seeds)
    }
    #[inline(always)]
    fn store(stores: &Stores) -> &Store<Self> {
        &stores.v6
    }
    fn store_mut(stores: &mut Stores) -> &mut Store<Self> {
        &mut stores.v6
    }
    fn counts_mut(counts: &mut AddrCounts) -> &mut FamilyCounts<u128> {
        &mut counts.v6
    }
    fn entry(key: SessionKey<Self>, value: SessionValue<Self>) -> SessionEntry {
        SessionEntry::V6 { key, value }
    }
}

/// The forward entry of a slot.
pub(super) fn forward_entry_in<A: Family>(slot: &Slot<A>) -> SessionEntry {
    let [forward, reverse] = slot.keys;
    let s = &slot.session;
    let value = SessionValue {
        session_id: s.id,
        state: s.state,
        tcp_state: s.tcp.state(),
        flags: s.flags,
        is_reverse: false,
        created_ns: s.created_ns,
        last_seen_ns: s.last_seen_ns,
        timeout_secs: s.timeout_secs,
        policy_rule: s.policy_rule,
        ingress_zone: s.ingress_zone,
        egress_zone: s.egress_zone,
        ingress_interface: s.ingress_interface,
        egress_interface: s.egress_interface,
        // The reply's destination is the translated source and its source
        // the translated destination.
        nat: NatTranslation {
            src: reverse.dst,
            src_port: reverse.dst_port,
            dst: reverse.src,
            dst_port: reverse.src_port,
        },
        nat_rule_src: s.nat_rule_src,
        nat_rule_dst: s.nat_rule_dst,
        nat_pool: s.nat_pool,
        fwd: s.counters_at(0),
        rev: s.counters_at(1),
        reverse_key: reverse,
        app: s.app,
        owner_rg: s.owner_rg,
    };
    A::entry(forward, value)
}
