//! [`SessionTable`]: storage, lookup, lifecycle, expiry and capacity.
//!
//! Layout (see the [module docs](super) for the rules):
//!
//! - two slabs, one per address family, of `Slot { keys: [forward,
//!   reverse], session }`, in fixed-size chunks, with a free list threaded
//!   through freed slots (module `store`);
//! - one [`Index`] for both families holding two entries per session, each
//!   a 32-bit reference `(slot << 2) | (family << 1) | direction`, so a
//!   lookup by either key yields the session and the direction;
//! - the timer [`Wheel`] and the embryonic FIFO, both intrusive lists
//!   through the sessions;
//! - per-family maps from address to session count, by forward source and
//!   by forward destination.

use super::hash::{SeededState, Seeds};
use super::index::Index;
use super::record::{
    Closed, Direction, EMBRYONIC, FlowKeys, Session, SessionHandle, SessionInit, is_unanswered,
    lifecycle_of,
};
use super::slab::{List, NIL};
use super::store::{
    AddrCounts, EmbryoLinks, Family, FamilyCounts, Slot, Store, Stores, WheelLinks,
    forward_entry_in,
};
use super::tcp::{TcpSegment, TcpTracker, TcpUpdate, TcpViolation};
use super::timeout::Timeouts;
use super::wheel::{Wheel, tick_of};
use std::mem::size_of;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use xpf_dataplane::session_store::reverse_entry;
use xpf_runtime::{
    AddressFamily, AnySessionKey, CloseReason, DropReason, IpProtocol, SessionAddr, SessionEntry,
    SessionFlags, SessionKey, SessionState, SessionValue, TableStats, TcpState,
};

/// The largest capacity a table accepts (2^28 sessions): keeps every slot
/// reference within 32 bits with room for the family and direction bits.
pub const MAX_CAPACITY: usize = 1 << 28;

/// The index entry of `node`'s key in `dir`.
#[inline(always)]
fn entry_ref(node: u32, dir: Direction) -> u32 {
    (node << 1) | dir as u32
}

/// Why an insert was refused. Nothing in the table changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum InsertError {
    /// The table is full and holds no embryonic session to evict.
    #[error("session table full and no embryonic session to evict")]
    TableFull,
    /// One of the keys already belongs to a session (in either of its
    /// directions).
    #[error("the {direction:?} key is already in use by session {existing}")]
    KeyInUse {
        /// Which of the new session's keys collided.
        direction: Direction,
        /// The session holding it.
        existing: SessionHandle,
    },
    /// The forward and reverse keys are equal (a packet to itself); such a
    /// session could not tell its directions apart.
    #[error("the forward and reverse keys are equal")]
    SameKeys,
    /// The keys differ in address family or protocol.
    #[error("the forward and reverse keys differ in address family or protocol")]
    KeyMismatch,
    /// A TCP session was given no tracker, or another protocol one.
    #[error("a TCP session needs a TCP tracker and no other session may have one")]
    TcpTracker,
    /// [`SessionTable::insert_synced`] was given a reverse entry.
    #[error("a synced session is installed from its forward entry")]
    ReverseEntry,
    /// A synced entry's reverse key does not follow from its NAT
    /// translation.
    #[error("the entry's reverse key does not match its NAT translation")]
    InconsistentEntry,
}

impl InsertError {
    /// The drop reason to count when the packet that tried to create the
    /// session is dropped because of this error: `SessionTableFull` for
    /// [`TableFull`](Self::TableFull). The other errors are the caller's to
    /// classify (a reverse-key collision, for one, usually means the NAT
    /// allocator should pick another port).
    pub fn drop_reason(&self) -> Option<DropReason> {
        match self {
            Self::TableFull => Some(DropReason::SessionTableFull),
            _ => None,
        }
    }
}

/// A successful [`SessionTable::insert`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Inserted {
    /// The new session.
    pub handle: SessionHandle,
    /// The embryonic session evicted to make room, if the table was full.
    pub evicted: Option<Closed>,
}

/// A successful [`SessionTable::insert_synced`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Synced {
    /// The installed (or refreshed) session.
    pub handle: SessionHandle,
    /// True when the session was already present (same id and keys) and
    /// was refreshed in place.
    pub refreshed: bool,
    /// A different session that held the forward key and was replaced
    /// (reported with [`CloseReason::ClusterReconcile`]).
    pub replaced: Option<Closed>,
    /// The embryonic session evicted to make room.
    pub evicted: Option<Closed>,
}

/// Memory in use, in bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemoryUsage {
    /// Session slabs (allocated chunks of both families).
    pub slabs: usize,
    /// The key index (allocated up front for the capacity).
    pub index: usize,
    /// The timer wheel's bucket heads.
    pub wheel: usize,
    /// The per-address session-count maps.
    pub address_counts: usize,
}

impl MemoryUsage {
    /// Everything.
    pub fn total(&self) -> usize {
        self.slabs + self.index + self.wheel + self.address_counts
    }
}

/// The record of a session being installed: built by the caller (synced
/// sessions), or made from the insert's values in the slot itself.
enum NewRecord<'a> {
    /// A complete record.
    Built(Session),
    /// [`Session::new`]'s arguments but the time.
    Init {
        init: &'a SessionInit,
        tcp: TcpTracker,
        timeout_secs: u32,
    },
}

impl NewRecord<'_> {
    /// The record, created at `now_ns`.
    fn build(self, now_ns: u64) -> Session {
        match self {
            Self::Built(s) => s,
            Self::Init {
                init,
                tcp,
                timeout_secs,
            } => Session::new(init, tcp, timeout_secs, now_ns),
        }
    }

    /// Writes the record over `slot`.
    #[inline(always)]
    fn write(self, slot: &mut Session, now_ns: u64) {
        match self {
            Self::Built(s) => *slot = s,
            Self::Init {
                init,
                tcp,
                timeout_secs,
            } => slot.reset(init, tcp, timeout_secs, now_ns),
        }
    }
}

/// The session table. See the [module docs](super).
#[derive(Debug)]
pub struct SessionTable {
    capacity: usize,
    len: usize,
    timeouts: Timeouts,
    seeds: Seeds,
    index: Index,
    stores: Stores,
    wheel: Wheel,
    embryonic: List,
    embryonic_len: usize,
    counts: AddrCounts,
    /// Whether `counts` is kept (see
    /// [`set_address_counts`](SessionTable::set_address_counts)).
    track_counts: bool,
    /// Bumped by every insert and removal: a handle looked up while it was
    /// `n` is still valid while it is `n` (batch lookahead).
    mutations: u64,
}

impl SessionTable {
    /// An empty table for at most `capacity` sessions with the default
    /// timeouts.
    ///
    /// # Panics
    ///
    /// If `capacity` exceeds [`MAX_CAPACITY`].
    pub fn new(capacity: usize) -> Self {
        Self::with_timeouts(capacity, Timeouts::default())
    }

    /// An empty table for at most `capacity` sessions with `timeouts`.
    ///
    /// # Panics
    ///
    /// If `capacity` exceeds [`MAX_CAPACITY`].
    pub fn with_timeouts(capacity: usize, timeouts: Timeouts) -> Self {
        assert!(
            capacity <= MAX_CAPACITY,
            "session capacity {capacity} exceeds {MAX_CAPACITY}"
        );
        let seeds = Seeds::random();
        Self {
            capacity,
            len: 0,
            timeouts,
            seeds,
            index: Index::with_max_entries(2 * capacity),
            stores: Stores::default(),
            wheel: Wheel::default(),
            embryonic: List::EMPTY,
            embryonic_len: 0,
            counts: AddrCounts::new(SeededState::new(&seeds)),
            track_counts: true,
            mutations: 0,
        }
    }

    /// The maximum number of sessions.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Live sessions (each a forward and a reverse entry).
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when no session is live.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Live embryonic (unanswered) sessions.
    pub fn embryonic_len(&self) -> usize {
        self.embryonic_len
    }

    /// Occupancy in sessions.
    pub fn stats(&self) -> TableStats {
        TableStats {
            occupancy: self.len as u64,
            capacity: self.capacity as u64,
        }
    }

    /// The timeouts new timeouts are computed from.
    pub fn timeouts(&self) -> &Timeouts {
        &self.timeouts
    }

    /// Replaces the timeouts (config apply). Live sessions keep their
    /// current timeout until their next state change; new sessions and
    /// state changes use the new values.
    pub fn set_timeouts(&mut self, timeouts: Timeouts) {
        self.timeouts = timeouts;
    }

    /// Bytes one session pair of `family` costs when the table is full:
    /// its slot (record and both keys) plus its share of the index (two
    /// entries). Excludes the per-address count maps, which grow with the
    /// number of distinct addresses rather than sessions.
    pub fn bytes_per_session(&self, family: AddressFamily) -> f64 {
        let slot = match family {
            AddressFamily::Inet => size_of::<Slot<Ipv4Addr>>(),
            AddressFamily::Inet6 => size_of::<Slot<Ipv6Addr>>(),
        };
        slot as f64 + self.index.bytes() as f64 / self.capacity.max(1) as f64
    }

    /// Memory in use now.
    pub fn memory(&self) -> MemoryUsage {
        MemoryUsage {
            slabs: self.stores.v4.slots.bytes() + self.stores.v6.slots.bytes(),
            index: self.index.bytes(),
            wheel: super::wheel::WHEEL_SLOTS * size_of::<List>(),
            address_counts: self.counts.v4.bytes() + self.counts.v6.bytes(),
        }
    }

    // ----------------------------------------------------------------
    // Lookup and access
    // ----------------------------------------------------------------

    /// The session `key` belongs to and which direction it is.
    #[inline]
    pub fn lookup(&self, key: &AnySessionKey) -> Option<(SessionHandle, Direction)> {
        match key {
            AnySessionKey::V4(k) => self.lookup_in(k),
            AnySessionKey::V6(k) => self.lookup_in(k),
        }
    }

    /// [`lookup`](Self::lookup) for an IPv4 key.
    #[inline]
    pub fn lookup_v4(&self, key: &SessionKey<Ipv4Addr>) -> Option<(SessionHandle, Direction)> {
        self.lookup_in(key)
    }

    /// [`lookup`](Self::lookup) for an IPv6 key.
    #[inline]
    pub fn lookup_v6(&self, key: &SessionKey<Ipv6Addr>) -> Option<(SessionHandle, Direction)> {
        self.lookup_in(key)
    }

    #[inline(always)]
    fn lookup_in<A: Family>(&self, key: &SessionKey<A>) -> Option<(SessionHandle, Direction)> {
        let hash = A::hash_key(key, &self.seeds);
        self.lookup_hashed_in(key, hash, self.index.home_bucket(hash))
    }

    /// The hash of an IPv4 key. Batch lookahead runs [`hash_v4`](Self::hash_v4),
    /// [`home_bucket`](Self::home_bucket) and
    /// [`lookup_v4_hashed`](Self::lookup_v4_hashed) over several packets
    /// stage by stage, so their cache misses overlap.
    #[inline]
    pub(crate) fn hash_v4(&self, key: &SessionKey<Ipv4Addr>) -> u64 {
        Ipv4Addr::hash_key(key, &self.seeds)
    }

    /// The hash of an IPv6 key (see [`hash_v4`](Self::hash_v4)).
    #[inline]
    pub(crate) fn hash_v6(&self, key: &SessionKey<Ipv6Addr>) -> u64 {
        Ipv6Addr::hash_key(key, &self.seeds)
    }

    /// The content of the index bucket where the search for `hash` starts.
    #[inline]
    pub(crate) fn home_bucket(&self, hash: u64) -> u64 {
        self.index.home_bucket(hash)
    }

    /// [`lookup_v4`](Self::lookup_v4) given the key's hash and its home
    /// bucket's content, read with no change to the table since.
    #[inline]
    pub(crate) fn lookup_v4_hashed(
        &self,
        key: &SessionKey<Ipv4Addr>,
        hash: u64,
        first: u64,
    ) -> Option<(SessionHandle, Direction)> {
        self.lookup_hashed_in(key, hash, first)
    }

    /// [`lookup_v6`](Self::lookup_v6) given the key's hash and its home
    /// bucket's content (see [`lookup_v4_hashed`](Self::lookup_v4_hashed)).
    #[inline]
    pub(crate) fn lookup_v6_hashed(
        &self,
        key: &SessionKey<Ipv6Addr>,
        hash: u64,
        first: u64,
    ) -> Option<(SessionHandle, Direction)> {
        self.lookup_hashed_in(key, hash, first)
    }

    #[inline(always)]
    fn lookup_hashed_in<A: Family>(
        &self,
        key: &SessionKey<A>,
        hash: u64,
        first: u64,
    ) -> Option<(SessionHandle, Direction)> {
        let slots = &A::store(&self.stores).slots;
        self.index
            .find_from(hash, first, |entry| {
                let node = entry >> 1;
                node & 1 == A::BIT
                    && slots.get((node >> 1) as usize).keys[(entry & 1) as usize] == *key
            })
            .map(|entry| (SessionHandle(entry >> 1), Direction::from_bit(entry)))
    }

    /// The structural version: changes whenever a session is inserted or
    /// removed, so a lookup result taken at one version is current as long
    /// as the version is unchanged.
    #[inline]
    pub(crate) fn mutations(&self) -> u64 {
        self.mutations
    }

    /// The keys (`[forward, reverse]`) and record of a live IPv4 session,
    /// read together: the established-flow fast path's one access to the
    /// slot. `None` for an IPv6 handle or one that is not live.
    #[inline]
    pub(crate) fn slot_v4(
        &self,
        handle: SessionHandle,
    ) -> Option<(&[SessionKey<Ipv4Addr>; 2], &Session)> {
        self.slot_in(handle)
    }

    /// [`slot_v4`](Self::slot_v4) for an IPv6 session.
    #[inline]
    pub(crate) fn slot_v6(
        &self,
        handle: SessionHandle,
    ) -> Option<(&[SessionKey<Ipv6Addr>; 2], &Session)> {
        self.slot_in(handle)
    }

    #[inline(always)]
    fn slot_in<A: Family>(&self, handle: SessionHandle) -> Option<(&[SessionKey<A>; 2], &Session)> {
        if handle.0 & 1 != A::BIT {
            return None;
        }
        let slot = A::store(&self.stores).slots.try_get(handle.slot())?;
        slot.session
            .is_live()
            .then_some((&slot.keys, &slot.session))
    }

    /// The session of `handle`.
    ///
    /// # Panics
    ///
    /// If `handle` does not refer to a live session of this table.
    #[inline]
    pub fn get(&self, handle: SessionHandle) -> &Session {
        self.try_get(handle).expect("stale session handle")
    }

    /// The session of `handle`, or `None` if it is not live.
    #[inline]
    pub fn try_get(&self, handle: SessionHandle) -> Option<&Session> {
        self.stores.live(handle.0)
    }

    /// The session of `handle`, for the changes [`Session`] allows
    /// (policy, flags, owner). State, timeouts and counters change only
    /// through the table.
    ///
    /// # Panics
    ///
    /// If `handle` does not refer to a live session of this table.
    #[inline]
    pub fn get_mut(&mut self, handle: SessionHandle) -> &mut Session {
        assert!(self.stores.live(handle.0).is_some(), "stale session handle");
        self.stores.session_mut(handle.0)
    }

    /// The session's forward and reverse keys.
    ///
    /// # Panics
    ///
    /// If `handle` does not refer to a live session of this table.
    pub fn keys(&self, handle: SessionHandle) -> FlowKeys {
        self.get(handle);
        let slot = handle.slot();
        match handle.family() {
            AddressFamily::Inet => {
                let [forward, reverse] = self.stores.v4.slots.get(slot).keys;
                FlowKeys {
                    forward: forward.into(),
                    reverse: reverse.into(),
                }
            }
            AddressFamily::Inet6 => {
                let [forward, reverse] = self.stores.v6.slots.get(slot).keys;
                FlowKeys {
                    forward: forward.into(),
                    reverse: reverse.into(),
                }
            }
        }
    }

    /// Every live session, IPv4 first, in slot order.
    pub fn iter(&self) -> impl Iterator<Item = (SessionHandle, &Session)> + '_ {
        fn live<A: super::store::SlotAlign>(
            store: &Store<A>,
            bit: u32,
        ) -> impl Iterator<Item = (SessionHandle, &Session)> + '_ {
            store
                .slots
                .iter()
                .filter(|(_, slot)| slot.session.is_live())
                .map(move |(i, slot)| (SessionHandle(((i as u32) << 1) | bit), &slot.session))
        }
        live(&self.stores.v4, Ipv4Addr::BIT).chain(live(&self.stores.v6, Ipv6Addr::BIT))
    }

    /// The session's forward entry and reverse entry, as
    /// [`SessionStore`](xpf_dataplane::traits::SessionStore) and HA sync
    /// exchange them.
    ///
    /// # Panics
    ///
    /// If `handle` does not refer to a live session of this table.
    pub fn to_entries(&self, handle: SessionHandle) -> (SessionEntry, SessionEntry) {
        let forward = self.forward_entry(handle);
        let reverse = reverse_entry(&forward);
        (forward, reverse)
    }

    /// The session's forward entry.
    ///
    /// # Panics
    ///
    /// If `handle` does not refer to a live session of this table.
    pub fn forward_entry(&self, handle: SessionHandle) -> SessionEntry {
        self.get(handle);
        self.entry_of(handle.0)
    }

    fn entry_of(&self, node: u32) -> SessionEntry {
        let slot = (node >> 1) as usize;
        if node & 1 == 0 {
            forward_entry_in(self.stores.v4.slots.get(slot))
        } else {
            forward_entry_in(self.stores.v6.slots.get(slot))
        }
    }

    /// Whether the per-address session counts are kept as maps (the
    /// default): see [`set_address_counts`](Self::set_address_counts).
    pub fn address_counts(&self) -> bool {
        self.track_counts
    }

    /// Keeps (`true`, the default) or stops keeping the per-address
    /// session counts behind [`count_by_source`](Self::count_by_source)
    /// and [`count_by_destination`](Self::count_by_destination). Kept, they
    /// cost two hash-map updates per insert and per removal and about 9
    /// (IPv4) or 21 (IPv6) bytes per distinct address; not kept, the two
    /// queries give the same answers by scanning the live sessions (O(n)).
    /// The engine keeps them only while a screen profile has a session
    /// limit. Turning them on rebuilds them from the live sessions.
    pub fn set_address_counts(&mut self, on: bool) {
        if on == self.track_counts {
            return;
        }
        self.track_counts = on;
        self.counts.v4.clear();
        self.counts.v6.clear();
        if on {
            fn add_all<A: Family>(store: &Store<A>, counts: &mut FamilyCounts<A::Bits>) {
                for (_, slot) in store.slots.iter() {
                    if slot.session.is_live() {
                        counts.add(slot.keys[0].src.bits(), slot.keys[0].dst.bits());
                    }
                }
            }
            add_all(&self.stores.v4, &mut self.counts.v4);
            add_all(&self.stores.v6, &mut self.counts.v6);
        } else {
            self.counts.v4.shrink();
            self.counts.v6.shrink();
        }
    }

    /// Live sessions whose forward source (`source`) or destination
    /// address is `addr`, counted by a scan (address counts not kept).
    fn scan_count(&self, addr: IpAddr, source: bool) -> u32 {
        fn scan<A: Family>(store: &Store<A>, addr: A, source: bool) -> u32 {
            let n = store
                .slots
                .iter()
                .filter(|(_, slot)| {
                    let k = &slot.keys[0];
                    slot.session.is_live() && (if source { k.src } else { k.dst }) == addr
                })
                .count();
            u32::try_from(n).unwrap_or(u32::MAX)
        }
        match addr {
            IpAddr::V4(a) => scan(&self.stores.v4, a, source),
            IpAddr::V6(a) => scan(&self.stores.v6, a, source),
        }
    }

    /// Live sessions whose forward key has source address `addr` (the
    /// initiator as it arrived, before NAT); for the screens' per-source
    /// session limits.
    pub fn count_by_source(&self, addr: IpAddr) -> u32 {
        if !self.track_counts {
            return self.scan_count(addr, true);
        }
        match addr {
            IpAddr::V4(a) => self.counts.v4.by_source.get(&a.to_bits()).copied(),
            IpAddr::V6(a) => self.counts.v6.by_source.get(&a.to_bits()).copied(),
        }
        .unwrap_or(0)
    }

    /// Live sessions whose forward key has destination address `addr`
    /// (before destination NAT); for the per-destination session limits.
    pub fn count_by_destination(&self, addr: IpAddr) -> u32 {
        if !self.track_counts {
            return self.scan_count(addr, false);
        }
        match addr {
            IpAddr::V4(a) => self.counts.v4.by_destination.get(&a.to_bits()).copied(),
            IpAddr::V6(a) => self.counts.v6.by_destination.get(&a.to_bits()).copied(),
        }
        .unwrap_or(0)
    }

    // ----------------------------------------------------------------
    // Packets
    // ----------------------------------------------------------------

    /// Accounts a packet of `bytes` bytes in `dir` at `now_ns`: counters
    /// and last-seen (which never moves backwards). The first reverse
    /// packet of a non-TCP session answers it (`New` → `Established`,
    /// leaving the embryonic FIFO); TCP sessions change state only through
    /// [`track_tcp`](Self::track_tcp). Returns true when the state changed
    /// (an HA update delta is due). Does no timer-wheel work.
    ///
    /// # Panics
    ///
    /// If `handle` is not live (checked in debug builds only).
    #[inline(always)]
    pub fn touch(
        &mut self,
        handle: SessionHandle,
        dir: Direction,
        bytes: u64,
        now_ns: u64,
    ) -> bool {
        let node = handle.0;
        let session = self.stores.session_mut(node);
        debug_assert!(session.is_live(), "stale session handle");
        session.count(dir.index(), bytes);
        if now_ns > session.last_seen_ns {
            session.last_seen_ns = now_ns;
        }
        if dir == Direction::Reverse
            && session.state == SessionState::New
            && session.tcp.state() == TcpState::None
        {
            session.state = SessionState::Established;
            let embryonic = session.marks & EMBRYONIC != 0;
            if embryonic {
                self.leave_embryonic(node);
            }
            return true;
        }
        false
    }

    /// Runs TCP tracking for `segment`, seen in `dir`: checks it against
    /// the session's state and windows (enforced unless the session has
    /// [`SessionFlags::LOOSE_TCP`]) and applies the result: lifecycle
    /// state, timeout class (rescheduling at once when the timeout
    /// shrinks), embryonic membership. Does not count the packet; call
    /// [`touch`](Self::touch) once the packet is accepted. On error the
    /// session is unchanged.
    ///
    /// # Panics
    ///
    /// If `handle` is not live (checked in debug builds only).
    pub fn track_tcp(
        &mut self,
        handle: SessionHandle,
        dir: Direction,
        segment: &TcpSegment,
    ) -> Result<TcpUpdate, TcpViolation> {
        let node = handle.0;
        let session = self.stores.session_mut(node);
        debug_assert!(session.is_live(), "stale session handle");
        if session.tcp.state() == TcpState::None {
            return Err(TcpViolation::InvalidState);
        }
        let loose = session.flags.contains(SessionFlags::LOOSE_TCP);
        let update = session.tcp.update(dir, segment, loose)?;
        if update.state_changed() {
            self.tcp_state_changed(node, update.state);
        }
        Ok(update)
    }

    fn tcp_state_changed(&mut self, node: u32, tcp: TcpState) {
        let session = self.stores.session_mut(node);
        session.state = lifecycle_of(tcp, true);
        let timeout = self
            .timeouts
            .for_session(IpProtocol::TCP, tcp, session.app_timeout);
        let shorter = timeout < session.timeout_secs;
        session.timeout_secs = timeout;
        let deadline = session.deadline_ns();
        let bucket = session.wheel_bucket;
        let leaves_fifo = session.marks & EMBRYONIC != 0 && !is_unanswered(session.state, tcp);
        if leaves_fifo {
            self.leave_embryonic(node);
        }
        if shorter {
            let bucket =
                self.wheel
                    .reschedule(&mut WheelLinks(&mut self.stores), node, bucket, deadline);
            self.stores.session_mut(node).wheel_bucket = bucket;
        }
    }

    // ----------------------------------------------------------------
    // Insert and remove
    // ----------------------------------------------------------------

    /// Creates a session from its first packet at `now_ns`: `forward` is
    /// that packet's key, `reverse` the key replies will carry (after NAT).
    /// If the table is full, the oldest embryonic session is evicted first
    /// and returned in [`Inserted::evicted`]; if there is none the insert
    /// fails with [`InsertError::TableFull`]. Key collisions, equal keys,
    /// mismatched keys and a missing or superfluous TCP tracker are
    /// refused before anything is evicted.
    pub fn insert(
        &mut self,
        forward: AnySessionKey,
        reverse: AnySessionKey,
        init: SessionInit,
        now_ns: u64,
    ) -> Result<Inserted, InsertError> {
        match (forward, reverse) {
            (AnySessionKey::V4(f), AnySessionKey::V4(r)) => self.insert_in(f, r, &init, now_ns),
            (AnySessionKey::V6(f), AnySessionKey::V6(r)) => self.insert_in(f, r, &init, now_ns),
            _ => Err(InsertError::KeyMismatch),
        }
    }

    /// [`insert`](Self::insert) of an IPv4 session whose forward key the
    /// caller has just looked up and not found, with no insert or removal
    /// since: the forward key's collision check (a second lookup) is
    /// skipped; everything else is checked as by `insert`.
    #[inline]
    pub(crate) fn insert_missed_v4(
        &mut self,
        forward: SessionKey<Ipv4Addr>,
        reverse: SessionKey<Ipv4Addr>,
        init: &SessionInit,
        now_ns: u64,
    ) -> Result<Inserted, InsertError> {
        self.insert_checked(forward, reverse, init, now_ns, true)
    }

    /// [`insert_missed_v4`](Self::insert_missed_v4) for IPv6.
    #[inline]
    pub(crate) fn insert_missed_v6(
        &mut self,
        forward: SessionKey<Ipv6Addr>,
        reverse: SessionKey<Ipv6Addr>,
        init: &SessionInit,
        now_ns: u64,
    ) -> Result<Inserted, InsertError> {
        self.insert_checked(forward, reverse, init, now_ns, true)
    }

    fn insert_in<A: Family>(
        &mut self,
        forward: SessionKey<A>,
        reverse: SessionKey<A>,
        init: &SessionInit,
        now_ns: u64,
    ) -> Result<Inserted, InsertError> {
        self.insert_checked(forward, reverse, init, now_ns, false)
    }

    /// `insert`; `forward_missed`: the forward key is known to be absent.
    #[inline(always)]
    fn insert_checked<A: Family>(
        &mut self,
        forward: SessionKey<A>,
        reverse: SessionKey<A>,
        init: &SessionInit,
        now_ns: u64,
        forward_missed: bool,
    ) -> Result<Inserted, InsertError> {
        let protocol = forward.protocol;
        let tcp = match (protocol == IpProtocol::TCP, init.tcp) {
            (true, Some(tracker)) => tracker,
            (false, None) => TcpTracker::none(),
            _ => return Err(InsertError::TcpTracker),
        };
        // Each key is hashed once, for the collision check and the index.
        let hashes = [
            A::hash_key(&forward, &self.seeds),
            A::hash_key(&reverse, &self.seeds),
        ];
        self.check_keys_hashed(&forward, &reverse, hashes, forward_missed)?;
        let evicted = self.make_room()?;
        let timeout = self
            .timeouts
            .for_session(protocol, tcp.state(), init.app_timeout);
        let node = self.install_hashed(
            forward,
            reverse,
            hashes,
            NewRecord::Init {
                init,
                tcp,
                timeout_secs: timeout,
            },
            now_ns,
        );
        Ok(Inserted {
            handle: SessionHandle(node),
            evicted,
        })
    }

    /// Refuses equal, mismatched or colliding keys; `hashes` are the keys'
    /// hashes (`[forward, reverse]`).
    fn check_keys_hashed<A: Family>(
        &self,
        forward: &SessionKey<A>,
        reverse: &SessionKey<A>,
        hashes: [u64; 2],
        forward_missed: bool,
    ) -> Result<(), InsertError> {
        if forward.protocol != reverse.protocol {
            return Err(InsertError::KeyMismatch);
        }
        if forward == reverse {
            return Err(InsertError::SameKeys);
        }
        for (direction, key, hash) in [
            (Direction::Forward, forward, hashes[0]),
            (Direction::Reverse, reverse, hashes[1]),
        ] {
            if direction == Direction::Forward && forward_missed {
                continue;
            }
            if let Some((existing, _)) =
                self.lookup_hashed_in(key, hash, self.index.home_bucket(hash))
            {
                return Err(InsertError::KeyInUse {
                    direction,
                    existing,
                });
            }
        }
        Ok(())
    }

    /// Evicts the oldest embryonic session if the table is full.
    fn make_room(&mut self) -> Result<Option<Closed>, InsertError> {
        if self.len < self.capacity {
            return Ok(None);
        }
        match self.embryonic.front() {
            Some(victim) => Ok(Some(self.remove_node(victim, CloseReason::Evicted))),
            None => Err(InsertError::TableFull),
        }
    }

    /// Stores a session whose keys were checked and for which there is
    /// room: slot, index entries, wheel, embryonic FIFO, address counts.
    fn install<A: Family>(
        &mut self,
        forward: SessionKey<A>,
        reverse: SessionKey<A>,
        session: Session,
        now_ns: u64,
    ) -> u32 {
        let hashes = [
            A::hash_key(&forward, &self.seeds),
            A::hash_key(&reverse, &self.seeds),
        ];
        self.install_hashed(forward, reverse, hashes, NewRecord::Built(session), now_ns)
    }

    /// [`install`](Self::install) given the keys' hashes
    /// (`[forward, reverse]`).
    fn install_hashed<A: Family>(
        &mut self,
        forward: SessionKey<A>,
        reverse: SessionKey<A>,
        hashes: [u64; 2],
        record: NewRecord<'_>,
        now_ns: u64,
    ) -> u32 {
        if self.len == 0 {
            // Nothing is scheduled: skip the wheel over the idle time.
            self.wheel.advance_to(tick_of(now_ns));
        }
        let store = A::store_mut(&mut self.stores);
        let (index, session) = if store.free == NIL {
            let index = store
                .slots
                .push(Slot::new([forward, reverse], record.build(now_ns)));
            (index, &store.slots.get(index).session)
        } else {
            // A freed slot (the steady state): the record is written in
            // place.
            let index = store.free as usize;
            let reused = store.slots.get_mut(index);
            store.free = reused.session.wheel.next;
            reused.keys = [forward, reverse];
            record.write(&mut reused.session, now_ns);
            (index, &reused.session)
        };
        let deadline = session.deadline_ns();
        let unanswered = is_unanswered(session.state, session.tcp.state());
        let node = ((index as u32) << 1) | A::BIT;

        self.index
            .insert(hashes[0], entry_ref(node, Direction::Forward));
        self.index
            .insert(hashes[1], entry_ref(node, Direction::Reverse));
        let bucket = self
            .wheel
            .schedule(&mut WheelLinks(&mut self.stores), node, deadline);
        self.stores.session_mut(node).wheel_bucket = bucket;
        if unanswered {
            self.embryonic
                .push_back(&mut EmbryoLinks(&mut self.stores), node);
            self.stores.session_mut(node).marks |= EMBRYONIC;
            self.embryonic_len += 1;
        }
        if self.track_counts {
            A::counts_mut(&mut self.counts).add(forward.src.bits(), forward.dst.bits());
        }
        self.len += 1;
        self.mutations += 1;
        node
    }

    fn leave_embryonic(&mut self, node: u32) {
        self.embryonic
            .unlink(&mut EmbryoLinks(&mut self.stores), node);
        self.stores.session_mut(node).marks &= !EMBRYONIC;
        self.embryonic_len -= 1;
    }

    /// Removes the session and returns its final state with `reason`.
    ///
    /// # Panics
    ///
    /// If `handle` does not refer to a live session of this table.
    pub fn remove(&mut self, handle: SessionHandle, reason: CloseReason) -> Closed {
        self.get(handle);
        self.remove_node(handle.0, reason)
    }

    fn remove_node(&mut self, node: u32, reason: CloseReason) -> Closed {
        let forward = self.entry_of(node);
        if node & 1 == 0 {
            self.unlink_in::<Ipv4Addr>(node);
        } else {
            self.unlink_in::<Ipv6Addr>(node);
        }
        Closed {
            handle: SessionHandle(node),
            forward,
            reason,
        }
    }

    /// Undoes [`install`](Self::install) and frees the slot.
    fn unlink_in<A: Family>(&mut self, node: u32) {
        let index = (node >> 1) as usize;
        let slot = *A::store(&self.stores).slots.get(index);
        let [forward, reverse] = slot.keys;
        let removed_fwd = self.index.remove(
            A::hash_key(&forward, &self.seeds),
            entry_ref(node, Direction::Forward),
        );
        let removed_rev = self.index.remove(
            A::hash_key(&reverse, &self.seeds),
            entry_ref(node, Direction::Reverse),
        );
        debug_assert!(removed_fwd && removed_rev, "index out of sync");
        self.wheel.unschedule(
            &mut WheelLinks(&mut self.stores),
            node,
            slot.session.wheel_bucket,
        );
        if slot.session.marks & EMBRYONIC != 0 {
            self.leave_embryonic(node);
        }
        if self.track_counts {
            A::counts_mut(&mut self.counts).sub(forward.src.bits(), forward.dst.bits());
        }
        let store = A::store_mut(&mut self.stores);
        let freed = &mut store.slots.get_mut(index).session;
        freed.marks = 0;
        freed.wheel.next = store.free;
        store.free = index as u32;
        self.len -= 1;
        self.mutations += 1;
    }

    // ----------------------------------------------------------------
    // Expiry
    // ----------------------------------------------------------------

    /// Removes and returns up to `max` sessions idle for at least their
    /// timeout at `now_ns` (`now_ns ≥ last_seen + timeout`), oldest ticks
    /// first. Exactly the due sessions are removed: a session touched since
    /// it was scheduled is re-checked and rescheduled, never expired early.
    /// When `max` stops the sweep, the next call continues where it
    /// stopped. The reason is [`CloseReason::TcpFin`] for a TCP session in
    /// `TimeWait`, [`CloseReason::TcpRst`] in `Close`, otherwise
    /// [`CloseReason::IdleTimeout`].
    pub fn expire(&mut self, now_ns: u64, max: usize) -> Vec<Closed> {
        let mut expired = Vec::new();
        if self.len == 0 {
            self.wheel.advance_to(tick_of(now_ns));
            return expired;
        }
        let Some(ticks) = self.wheel.due_ticks(now_ns) else {
            return expired;
        };
        let now_tick = *ticks.end();
        for tick in ticks {
            if tick == self.wheel.cursor() && tick == now_tick && self.wheel.cursor_idle(now_ns) {
                break;
            }
            match self.expire_bucket(tick, now_ns, max, &mut expired) {
                None => {
                    // Stopped by `max`: resume in this bucket next time.
                    self.wheel.advance_to(tick);
                    self.wheel.set_rescan_at(0);
                    return expired;
                }
                Some(_) if tick < now_tick => self.wheel.advance_to(tick + 1),
                Some(next_due) => {
                    self.wheel.advance_to(tick);
                    self.wheel.set_rescan_at(next_due);
                }
            }
        }
        expired
    }

    /// Processes one bucket: expires what is due, moves what was touched
    /// to the bucket of its real deadline. Returns the earliest deadline
    /// within `tick` still in the bucket (`u64::MAX` for none), or `None`
    /// when `max` stopped the scan.
    fn expire_bucket(
        &mut self,
        tick: u64,
        now_ns: u64,
        max: usize,
        expired: &mut Vec<Closed>,
    ) -> Option<u64> {
        let bucket = Wheel::bucket(tick);
        let mut next_due = u64::MAX;
        let mut node = self.wheel.head(tick);
        while node != NIL {
            let session = self.stores.session(node);
            let next = session.wheel.next;
            let deadline = session.deadline_ns();
            if deadline <= now_ns {
                if expired.len() >= max {
                    return None;
                }
                let reason = match session.tcp.state() {
                    TcpState::TimeWait => CloseReason::TcpFin,
                    TcpState::Close => CloseReason::TcpRst,
                    _ => CloseReason::IdleTimeout,
                };
                expired.push(self.remove_node(node, reason));
            } else if Wheel::bucket(tick_of(deadline)) != bucket {
                // Touched since scheduled: follow the real deadline.
                let moved = self.wheel.reschedule(
                    &mut WheelLinks(&mut self.stores),
                    node,
                    bucket,
                    deadline,
                );
                self.stores.session_mut(node).wheel_bucket = moved;
            } else if tick_of(deadline) == tick {
                // Due later in this second.
                next_due = next_due.min(deadline);
            }
            node = next;
        }
        Some(next_due)
    }

    // ----------------------------------------------------------------
    // Cluster sync and bulk operations
    // ----------------------------------------------------------------

    /// Installs a session received from the cluster peer, given its
    /// forward entry, at local time `now_ns` (the entry's times must
    /// already be on the local clock; a last-seen in the future is clamped
    /// to `now_ns`).
    ///
    /// - If the same session (same id and keys) is present it is refreshed
    ///   in place: state, timeout, last-seen, counters, flags, policy.
    /// - Otherwise a session holding the forward key is replaced (returned
    ///   in [`Synced::replaced`]); one holding only the reverse key makes
    ///   the install fail with [`InsertError::KeyInUse`].
    /// - Capacity is enforced as for [`insert`](Self::insert).
    ///
    /// The session gets [`SessionFlags::CLUSTER_SYNCED`]; TCP windows are
    /// not part of the entry, so its tracker is liberal (windows learned,
    /// not enforced). The application timeout override and the admitting
    /// generation are not part of the entry either: an installed TCP
    /// session that later becomes established uses `tcp_established`, and
    /// its generation is 0, so the next policy rematch re-checks it.
    pub fn insert_synced(
        &mut self,
        forward: &SessionEntry,
        now_ns: u64,
    ) -> Result<Synced, InsertError> {
        if forward.is_reverse() {
            return Err(InsertError::ReverseEntry);
        }
        match forward {
            SessionEntry::V4 { key, value } => self.sync_in(key, value, now_ns),
            SessionEntry::V6 { key, value } => self.sync_in(key, value, now_ns),
        }
    }

    fn sync_in<A: Family>(
        &mut self,
        forward: &SessionKey<A>,
        value: &SessionValue<A>,
        now_ns: u64,
    ) -> Result<Synced, InsertError> {
        let reverse = value.reverse_key;
        if SessionValue::reply_key(forward, &value.nat) != reverse {
            return Err(InsertError::InconsistentEntry);
        }
        if *forward == reverse {
            return Err(InsertError::SameKeys);
        }
        let session = synced_session(forward.protocol, value, now_ns);
        let holder = self.lookup_in(forward).map(|(h, _)| h);
        if let Some((existing, _)) = self.lookup_in(&reverse)
            && Some(existing) != holder
        {
            return Err(InsertError::KeyInUse {
                direction: Direction::Reverse,
                existing,
            });
        }
        let mut replaced = None;
        if let Some(handle) = holder {
            let slot = A::store(&self.stores).slots.get(handle.slot());
            if slot.session.id == value.session_id && slot.keys == [*forward, reverse] {
                self.refresh(handle.0, session);
                return Ok(Synced {
                    handle,
                    refreshed: true,
                    replaced: None,
                    evicted: None,
                });
            }
            replaced = Some(self.remove_node(handle.0, CloseReason::ClusterReconcile));
        }
        let evicted = self.make_room()?;
        let node = self.install(*forward, reverse, session, now_ns);
        Ok(Synced {
            handle: SessionHandle(node),
            refreshed: false,
            replaced,
            evicted,
        })
    }

    /// Overwrites a live session's record with `fresh` (same keys), keeping
    /// its list memberships consistent.
    fn refresh(&mut self, node: u32, fresh: Session) {
        let old = *self.stores.session(node);
        let was_embryonic = old.marks & EMBRYONIC != 0;
        let session = self.stores.session_mut(node);
        *session = Session {
            last_seen_ns: fresh.last_seen_ns.max(old.last_seen_ns),
            marks: old.marks,
            wheel: old.wheel,
            embryo: old.embryo,
            wheel_bucket: old.wheel_bucket,
            ..fresh
        };
        let deadline = session.deadline_ns();
        let unanswered = is_unanswered(session.state, session.tcp.state());
        if was_embryonic && !unanswered {
            self.leave_embryonic(node);
        } else if !was_embryonic && unanswered {
            self.embryonic
                .push_back(&mut EmbryoLinks(&mut self.stores), node);
            self.stores.session_mut(node).marks |= EMBRYONIC;
            self.embryonic_len += 1;
        }
        let bucket = self.wheel.reschedule(
            &mut WheelLinks(&mut self.stores),
            node,
            old.wheel_bucket,
            deadline,
        );
        self.stores.session_mut(node).wheel_bucket = bucket;
    }

    /// Removes every session without close records (HA table reset) and
    /// returns how many there were.
    pub fn clear(&mut self) -> usize {
        let removed = self.len;
        self.index.clear();
        self.stores = Stores::default();
        self.wheel.clear();
        self.embryonic = List::EMPTY;
        self.embryonic_len = 0;
        self.counts.v4.clear();
        self.counts.v6.clear();
        self.len = 0;
        self.mutations += 1;
        removed
    }
}

/// The record of a session installed from a peer's forward value.
fn synced_session<A: SessionAddr>(
    protocol: IpProtocol,
    value: &SessionValue<A>,
    now_ns: u64,
) -> Session {
    let tcp = if protocol == IpProtocol::TCP {
        TcpTracker::synced(value.tcp_state)
    } else {
        TcpTracker::none()
    };
    let init = SessionInit {
        id: value.session_id,
        generation: 0,
        policy_rule: value.policy_rule,
        app: value.app,
        app_timeout: None,
        ingress_zone: value.ingress_zone,
        egress_zone: value.egress_zone,
        ingress_interface: value.ingress_interface,
        egress_interface: value.egress_interface,
        nat_rule_src: value.nat_rule_src,
        nat_rule_dst: value.nat_rule_dst,
        nat_pool: value.nat_pool,
        flags: value.flags | SessionFlags::CLUSTER_SYNCED,
        owner_rg: value.owner_rg,
        tcp: None,
    };
    let last_seen = value.last_seen_ns.min(now_ns);
    let mut session = Session::new(&init, tcp, value.timeout_secs, last_seen);
    session.created_ns = value.created_ns.min(last_seen);
    session.state = if protocol == IpProtocol::TCP {
        lifecycle_of(tcp.state(), true)
    } else {
        value.state
    };
    session.set_counters(0, value.fwd);
    session.set_counters(1, value.rev);
    session
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_fit_the_memory_budget() {
        // IPv4 slots are cache-line aligned (see `Slot`).
        assert_eq!(size_of::<Slot<Ipv4Addr>>(), 192);
        assert_eq!(std::mem::align_of::<Slot<Ipv4Addr>>(), 64);
        assert_eq!(std::mem::offset_of!(Slot<Ipv4Addr>, session), 32);
        assert_eq!(size_of::<Slot<Ipv6Addr>>(), 232);
        let table = SessionTable::new(1_000_000);
        let v4 = table.bytes_per_session(AddressFamily::Inet);
        let v6 = table.bytes_per_session(AddressFamily::Inet6);
        println!("bytes per session pair at 1M capacity: IPv4 {v4:.1}, IPv6 {v6:.1}");
        assert!(v4 <= 256.0 && v6 <= 256.0, "v4 {v4} v6 {v6}");
    }

    #[test]
    fn address_counts_answer_the_same_kept_or_scanned() {
        use xpf_runtime::SessionId;
        let mut t = SessionTable::new(64);
        let key = |src: u8, dst: u8, port: u16| SessionKey {
            src: Ipv4Addr::new(198, 18, 0, src),
            dst: Ipv4Addr::new(198, 19, 0, dst),
            src_port: port,
            dst_port: 53,
            protocol: IpProtocol::UDP,
        };
        let reverse = |k: SessionKey<Ipv4Addr>| SessionKey {
            src: k.dst,
            dst: k.src,
            src_port: k.dst_port,
            dst_port: k.src_port,
            protocol: k.protocol,
        };
        let v6 = SessionKey {
            src: "2001:db8::1".parse::<Ipv6Addr>().unwrap(),
            dst: "2001:db8::2".parse::<Ipv6Addr>().unwrap(),
            src_port: 1000,
            dst_port: 53,
            protocol: IpProtocol::UDP,
        };
        let mut handles = Vec::new();
        for (i, (s, d)) in [(1, 1), (1, 2), (2, 2), (1, 2), (3, 1)]
            .into_iter()
            .enumerate()
        {
            let k = key(s, d, 1000 + i as u16);
            let init = SessionInit {
                id: SessionId::compose(1, i as u64),
                ..SessionInit::default()
            };
            let h = t.insert(k.into(), reverse(k).into(), init, 0).unwrap();
            handles.push(h.handle);
        }
        let init = SessionInit::default();
        let v6_rev = SessionKey {
            src: v6.dst,
            dst: v6.src,
            src_port: v6.dst_port,
            dst_port: v6.src_port,
            protocol: v6.protocol,
        };
        t.insert(v6.into(), v6_rev.into(), init, 0).unwrap();
        t.remove(handles[1], CloseReason::Admin);
        let addrs: Vec<IpAddr> = (0..5)
            .flat_map(|h| {
                [
                    IpAddr::V4(Ipv4Addr::new(198, 18, 0, h)),
                    IpAddr::V4(Ipv4Addr::new(198, 19, 0, h)),
                ]
            })
            .chain([IpAddr::V6(v6.src), IpAddr::V6(v6.dst)])
            .collect();
        let answers = |t: &SessionTable| -> Vec<(u32, u32)> {
            addrs
                .iter()
                .map(|a| (t.count_by_source(*a), t.count_by_destination(*a)))
                .collect()
        };
        let kept = answers(&t);
        assert_eq!(kept[2], (2, 0), "198.18.0.1: two live sessions from it");
        assert_eq!(kept[5], (0, 2), "198.19.0.2: two live sessions to it");
        t.set_address_counts(false);
        assert!(!t.address_counts());
        assert_eq!(t.memory().address_counts, 0);
        assert_eq!(answers(&t), kept);
        // Not kept: inserts and removals leave no maps, answers still right.
        t.remove(handles[0], CloseReason::Admin);
        let scanned = answers(&t);
        assert_eq!(scanned[2], (1, 0));
        assert_eq!(t.memory().address_counts, 0);
        // Turned on again: rebuilt from the live sessions.
        t.set_address_counts(true);
        assert_eq!(answers(&t), scanned);
    }
}
