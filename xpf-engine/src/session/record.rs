//! One session's record, the values that create it and the records handed
//! back when it closes.
//!
//! [`Session`] is family-neutral: the forward and reverse keys are stored
//! next to it in the table's per-family slab (IPv4 keys take 28 bytes per
//! pair, IPv6 keys 76), and [`SessionTable::keys`](super::SessionTable::keys)
//! returns them. The NAT translation is not stored separately: it is
//! implied by the reverse key (the reply's destination is the translated
//! source and vice versa), exactly as
//! [`SessionValue::reply_key`](xpf_runtime::SessionValue::reply_key)
//! derives the reverse key from it.
//!
//! Fields are laid out hot-first (`#[repr(C)]`): what an established UDP
//! packet reads or writes (last-seen, policy rule, the low 12 bytes of
//! the counters, interfaces, owner group, state, liveness) is the first 32
//! bytes; the TCP tracker, the loose-TCP flag and the timeout follow in
//! the next 64. The counters are split ([`HotCounts`] / [`ColdCounts`])
//! so their per-packet part fits there without growing the record.

use super::slab::Link;
use super::tcp::TcpTracker;
use std::fmt;
use std::num::NonZeroU32;
use xpf_dataplane::session_store::reverse_entry;
use xpf_runtime::{
    AddressFamily, AnySessionKey, AppId, CloseReason, InterfaceId, NatPoolId, NatRuleId,
    PacketCounters, PolicyRuleId, RedundancyGroupId, SessionEntry, SessionFlags, SessionId,
    SessionState, TcpState, ZoneId,
};

/// Which way a packet travels relative to the session's creator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Direction {
    /// Initiator → responder (matched the forward key).
    Forward,
    /// Responder → initiator (matched the reverse key).
    Reverse,
}

impl Direction {
    /// 0 for forward, 1 for reverse.
    #[inline(always)]
    pub const fn index(self) -> usize {
        self as usize
    }

    /// The other direction.
    pub const fn opposite(self) -> Self {
        match self {
            Self::Forward => Self::Reverse,
            Self::Reverse => Self::Forward,
        }
    }

    #[inline(always)]
    pub(crate) const fn from_bit(bit: u32) -> Self {
        if bit & 1 == 0 {
            Self::Forward
        } else {
            Self::Reverse
        }
    }
}

/// A reference to a live session in a [`SessionTable`](super::SessionTable).
///
/// Handles are small and `Copy`; they stay valid until the session is
/// removed (by [`remove`](super::SessionTable::remove), expiry or
/// eviction), after which the slot may be reused by another session. They
/// are meant to be used within the processing of a packet or a batch, not
/// stored across removals.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionHandle(pub(crate) u32);

impl SessionHandle {
    /// The raw value: unique among the live sessions of one table and
    /// dense (below twice the per-family peak session count), so side
    /// tables may be indexed by it.
    pub const fn raw(self) -> u32 {
        self.0
    }

    /// The session's address family.
    pub const fn family(self) -> AddressFamily {
        if self.0 & 1 == 0 {
            AddressFamily::Inet
        } else {
            AddressFamily::Inet6
        }
    }

    /// The slot index within the family's slab.
    #[inline(always)]
    pub(crate) const fn slot(self) -> usize {
        (self.0 >> 1) as usize
    }
}

impl fmt::Display for SessionHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-slot#{}", self.family(), self.slot())
    }
}

/// A session's two keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FlowKeys {
    /// The initiator's packets as they arrive (before NAT).
    pub forward: AnySessionKey,
    /// The responder's packets as they arrive (after NAT).
    pub reverse: AnySessionKey,
}

/// Everything the packet path knows about a new session besides its keys.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SessionInit {
    /// Cluster-unique id (minted by the caller).
    pub id: SessionId,
    /// The config generation whose policy admitted the session.
    pub generation: u64,
    /// The permitting policy rule (in that generation).
    pub policy_rule: PolicyRuleId,
    /// The matched application.
    pub app: AppId,
    /// The matched application term's inactivity-timeout override.
    pub app_timeout: Option<NonZeroU32>,
    /// Zone the initiator's packets arrive in.
    pub ingress_zone: ZoneId,
    /// Zone the initiator's packets leave through.
    pub egress_zone: ZoneId,
    /// Interface the initiator's packets arrive on.
    pub ingress_interface: InterfaceId,
    /// Interface the initiator's packets leave through.
    pub egress_interface: InterfaceId,
    /// Source NAT rule that matched.
    pub nat_rule_src: NatRuleId,
    /// Destination or static NAT rule that matched.
    pub nat_rule_dst: NatRuleId,
    /// Source NAT pool the mapping came from.
    pub nat_pool: NatPoolId,
    /// Flags (NAT kinds, logging, `LOOSE_TCP` for zones in loose mode, ...).
    pub flags: SessionFlags,
    /// Redundancy group owning the session.
    pub owner_rg: RedundancyGroupId,
    /// TCP tracking, required for TCP sessions and refused for others:
    /// [`TcpTracker::new_from_syn`] (or
    /// [`TcpTracker::new_mid_stream`] in loose zones) on the first packet.
    pub tcp: Option<TcpTracker>,
}

/// `marks` bit: the slot holds a live session.
pub(crate) const LIVE: u8 = 1 << 0;
/// `marks` bit: the session is in the embryonic FIFO.
pub(crate) const EMBRYONIC: u8 = 1 << 1;

/// One session: everything but its keys. Read it through
/// [`SessionTable::get`](super::SessionTable::get).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)]
pub struct Session {
    // Hot: the first 32 bytes, everything an established UDP packet reads
    // or writes (with the keys, which precede the record in its slot, one
    // cache line of an IPv4 slot: see `store::Slot`).
    pub(crate) last_seen_ns: u64,
    pub(crate) policy_rule: PolicyRuleId,
    pub(crate) counts: HotCounts,
    pub(crate) ingress_interface: InterfaceId,
    pub(crate) egress_interface: InterfaceId,
    pub(crate) owner_rg: RedundancyGroupId,
    pub(crate) state: SessionState,
    pub(crate) marks: u8,
    // Warm: TCP packets (tracker, loose flag), state changes and expiry.
    pub(crate) tcp: TcpTracker,
    pub(crate) timeout_secs: u32,
    pub(crate) app_timeout: Option<NonZeroU32>,
    pub(crate) flags: SessionFlags,
    pub(crate) wheel_bucket: u16,
    pub(crate) app: AppId,
    pub(crate) ingress_zone: ZoneId,
    pub(crate) wheel: Link,
    pub(crate) embryo: Link,
    // Cold: creation, export, logging, counter carries.
    pub(crate) egress_zone: ZoneId,
    pub(crate) nat_pool: NatPoolId,
    pub(crate) nat_rule_src: NatRuleId,
    pub(crate) nat_rule_dst: NatRuleId,
    pub(crate) carries: ColdCounts,
    pub(crate) id: SessionId,
    pub(crate) created_ns: u64,
    pub(crate) generation: u64,
}

/// The low bits of a session's packet and byte counts, both directions
/// (12 bytes, in the record's hot part): a packet adds to these and
/// touches [`ColdCounts`] only when a low part wraps (every 65,536 packets
/// or 4 GiB in a direction).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub(crate) struct HotCounts {
    bytes_lo: [u32; 2],
    packets_lo: [u16; 2],
}

/// The high bits of a session's counts (20 bytes, in the record's cold
/// part). A direction's packet count is `hi << 32 | mid << 16 | lo`, its
/// byte count `hi << 32 | lo`: every `u64` value is represented, exactly
/// once, so the counts are those of a pair of `u64` counters (wrapping as
/// they would in a release build) in the same 32 bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub(crate) struct ColdCounts {
    packets_hi: [u32; 2],
    bytes_hi: [u32; 2],
    packets_mid: [u16; 2],
}

impl Session {
    /// Adds one packet of `bytes` bytes in direction `d` (0 forward, 1
    /// reverse): `PacketCounters::add` on the split representation.
    #[inline(always)]
    pub(crate) fn count(&mut self, d: usize, bytes: u64) {
        let (p, wrapped) = self.counts.packets_lo[d].overflowing_add(1);
        self.counts.packets_lo[d] = p;
        let (b, carry) = self.counts.bytes_lo[d].overflowing_add(bytes as u32);
        self.counts.bytes_lo[d] = b;
        let bytes_hi = (bytes >> 32) + u64::from(carry);
        if wrapped || bytes_hi != 0 {
            self.carry(d, wrapped, bytes_hi);
        }
    }

    /// The rare part of [`count`](Self::count): carries into the high bits.
    #[cold]
    #[inline(never)]
    fn carry(&mut self, d: usize, packets: bool, bytes_hi: u64) {
        let c = &mut self.carries;
        if packets {
            let (m, wrapped) = c.packets_mid[d].overflowing_add(1);
            c.packets_mid[d] = m;
            if wrapped {
                c.packets_hi[d] = c.packets_hi[d].wrapping_add(1);
            }
        }
        c.bytes_hi[d] = c.bytes_hi[d].wrapping_add(bytes_hi as u32);
    }

    /// Sets the counts of direction `d` (0 forward, 1 reverse).
    pub(crate) fn set_counters(&mut self, d: usize, value: PacketCounters) {
        self.counts.packets_lo[d] = value.packets as u16;
        self.carries.packets_mid[d] = (value.packets >> 16) as u16;
        self.carries.packets_hi[d] = (value.packets >> 32) as u32;
        self.counts.bytes_lo[d] = value.bytes as u32;
        self.carries.bytes_hi[d] = (value.bytes >> 32) as u32;
    }

    /// The counts of direction `d` (0 forward, 1 reverse).
    #[inline]
    pub(crate) fn counters_at(&self, d: usize) -> PacketCounters {
        let c = &self.carries;
        PacketCounters {
            packets: u64::from(c.packets_hi[d]) << 32
                | u64::from(c.packets_mid[d]) << 16
                | u64::from(self.counts.packets_lo[d]),
            bytes: u64::from(c.bytes_hi[d]) << 32 | u64::from(self.counts.bytes_lo[d]),
        }
    }
}

impl Session {
    /// A live session from `init`, created and last seen at `now_ns`, with
    /// the given TCP tracker ([`TcpTracker::none`] for other protocols) and
    /// timeout. Its lifecycle state follows from the tracker.
    pub(crate) fn new(init: &SessionInit, tcp: TcpTracker, timeout_secs: u32, now_ns: u64) -> Self {
        Self {
            last_seen_ns: now_ns,
            counts: HotCounts::default(),
            carries: ColdCounts::default(),
            tcp,
            timeout_secs,
            flags: init.flags,
            state: lifecycle_of(tcp.state(), false),
            marks: LIVE,
            wheel: Link::UNLINKED,
            embryo: Link::UNLINKED,
            wheel_bucket: 0,
            app: init.app,
            app_timeout: init.app_timeout,
            id: init.id,
            created_ns: now_ns,
            generation: init.generation,
            policy_rule: init.policy_rule,
            nat_rule_src: init.nat_rule_src,
            nat_rule_dst: init.nat_rule_dst,
            ingress_zone: init.ingress_zone,
            egress_zone: init.egress_zone,
            ingress_interface: init.ingress_interface,
            egress_interface: init.egress_interface,
            nat_pool: init.nat_pool,
            owner_rg: init.owner_rg,
        }
    }

    /// Overwrites `self` (a free slot's record) with
    /// [`new`](Self::new)`(init, tcp, timeout_secs, now_ns)`, field by
    /// field: the new-session path builds the record in its slot instead
    /// of building it on the stack and copying its 152 bytes in.
    #[inline(always)]
    pub(crate) fn reset(
        &mut self,
        init: &SessionInit,
        tcp: TcpTracker,
        timeout_secs: u32,
        now_ns: u64,
    ) {
        let Self {
            last_seen_ns,
            counts,
            carries,
            tcp: tracker,
            timeout_secs: timeout,
            flags,
            state,
            marks,
            policy_rule,
            ingress_interface,
            egress_interface,
            owner_rg,
            wheel_bucket,
            wheel,
            embryo,
            app_timeout,
            app,
            ingress_zone,
            egress_zone,
            nat_pool,
            id,
            created_ns,
            generation,
            nat_rule_src,
            nat_rule_dst,
        } = self;
        // Every field is assigned (the destructuring above lists them all,
        // so a new field is a compile error until it is set here too).
        *last_seen_ns = now_ns;
        *counts = HotCounts::default();
        *carries = ColdCounts::default();
        *tracker = tcp;
        *timeout = timeout_secs;
        *flags = init.flags;
        *state = lifecycle_of(tcp.state(), false);
        *marks = LIVE;
        *policy_rule = init.policy_rule;
        *ingress_interface = init.ingress_interface;
        *egress_interface = init.egress_interface;
        *owner_rg = init.owner_rg;
        *wheel_bucket = 0;
        *wheel = Link::UNLINKED;
        *embryo = Link::UNLINKED;
        *app_timeout = init.app_timeout;
        *app = init.app;
        *ingress_zone = init.ingress_zone;
        *egress_zone = init.egress_zone;
        *nat_pool = init.nat_pool;
        *id = init.id;
        *created_ns = now_ns;
        *generation = init.generation;
        *nat_rule_src = init.nat_rule_src;
        *nat_rule_dst = init.nat_rule_dst;
    }

    /// The cluster-unique id.
    pub fn id(&self) -> SessionId {
        self.id
    }

    /// The lifecycle state.
    pub fn state(&self) -> SessionState {
        self.state
    }

    /// The TCP state ([`TcpState::None`] for other protocols).
    pub fn tcp_state(&self) -> TcpState {
        self.tcp.state()
    }

    /// The TCP tracker (meaningless for other protocols).
    pub fn tcp(&self) -> &TcpTracker {
        &self.tcp
    }

    /// True while the session is unanswered (state `New`, TCP `SynSent` or
    /// not TCP) and therefore a candidate for eviction when the table is
    /// full.
    pub fn is_embryonic(&self) -> bool {
        self.marks & EMBRYONIC != 0
    }

    /// The flags.
    pub fn flags(&self) -> SessionFlags {
        self.flags
    }

    /// Creation time, ns.
    pub fn created_ns(&self) -> u64 {
        self.created_ns
    }

    /// Time of the last packet, ns.
    pub fn last_seen_ns(&self) -> u64 {
        self.last_seen_ns
    }

    /// The current inactivity timeout, s.
    pub fn timeout_secs(&self) -> u32 {
        self.timeout_secs
    }

    /// When the session expires unless another packet arrives, ns.
    #[inline]
    pub fn deadline_ns(&self) -> u64 {
        self.last_seen_ns
            .saturating_add(u64::from(self.timeout_secs) * super::wheel::TICK_NS)
    }

    /// The config generation that admitted the session.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// The permitting policy rule.
    pub fn policy_rule(&self) -> PolicyRuleId {
        self.policy_rule
    }

    /// The matched application.
    pub fn app(&self) -> AppId {
        self.app
    }

    /// The application's timeout override.
    pub fn app_timeout(&self) -> Option<NonZeroU32> {
        self.app_timeout
    }

    /// Packets and bytes in `dir`.
    pub fn counters(&self, dir: Direction) -> PacketCounters {
        self.counters_at(dir.index())
    }

    /// The initiator's ingress zone.
    pub fn ingress_zone(&self) -> ZoneId {
        self.ingress_zone
    }

    /// The initiator's egress zone.
    pub fn egress_zone(&self) -> ZoneId {
        self.egress_zone
    }

    /// The initiator's ingress interface.
    pub fn ingress_interface(&self) -> InterfaceId {
        self.ingress_interface
    }

    /// The initiator's egress interface.
    pub fn egress_interface(&self) -> InterfaceId {
        self.egress_interface
    }

    /// The source NAT rule.
    pub fn nat_rule_src(&self) -> NatRuleId {
        self.nat_rule_src
    }

    /// The destination or static NAT rule.
    pub fn nat_rule_dst(&self) -> NatRuleId {
        self.nat_rule_dst
    }

    /// The source NAT pool.
    pub fn nat_pool(&self) -> NatPoolId {
        self.nat_pool
    }

    /// The owning redundancy group.
    pub fn owner_rg(&self) -> RedundancyGroupId {
        self.owner_rg
    }

    /// Re-admits the session under `rule` of `generation` (policy rematch
    /// after a config apply found it still permitted).
    pub fn set_policy(&mut self, rule: PolicyRuleId, generation: u64) {
        self.policy_rule = rule;
        self.generation = generation;
    }

    /// Sets the bits of `flags`.
    pub fn insert_flags(&mut self, flags: SessionFlags) {
        self.flags.insert(flags);
    }

    /// Clears the bits of `flags`.
    pub fn remove_flags(&mut self, flags: SessionFlags) {
        self.flags.remove(flags);
    }

    /// Hands the session to another redundancy group.
    pub fn set_owner_rg(&mut self, group: RedundancyGroupId) {
        self.owner_rg = group;
    }

    pub(crate) fn is_live(&self) -> bool {
        self.marks & LIVE != 0
    }
}

/// The lifecycle state of a session in TCP state `tcp` (`TcpState::None`
/// for other protocols, which are `Established` once `answered`).
pub(crate) fn lifecycle_of(tcp: TcpState, answered: bool) -> SessionState {
    match tcp {
        TcpState::None if answered => SessionState::Established,
        TcpState::None | TcpState::SynSent | TcpState::SynReceived => SessionState::New,
        TcpState::Established => SessionState::Established,
        TcpState::FinWait | TcpState::CloseWait | TcpState::LastAck => SessionState::Closing,
        TcpState::TimeWait | TcpState::Close => SessionState::Closed,
    }
}

/// True when a session in these states is unanswered: `New` and, for TCP,
/// nothing but the initiator's SYN seen.
pub(crate) fn is_unanswered(state: SessionState, tcp: TcpState) -> bool {
    state == SessionState::New && matches!(tcp, TcpState::None | TcpState::SynSent)
}

/// A session that left the table: by [`remove`](super::SessionTable::remove),
/// expiry or eviction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Closed {
    /// The handle it had (now free for reuse); lets the caller clean side
    /// tables indexed by [`SessionHandle::raw`].
    pub handle: SessionHandle,
    /// The final forward entry (counters, state, NAT translation).
    pub forward: SessionEntry,
    /// Why it closed.
    pub reason: CloseReason,
}

impl Closed {
    /// The final reverse entry, derived from the forward one.
    pub fn reverse(&self) -> SessionEntry {
        reverse_entry(&self.forward)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_record_stays_small() {
        // The per-pair memory budget (see the module docs of `session`)
        // depends on this; grow it only deliberately.
        assert_eq!(std::mem::size_of::<TcpTracker>(), 32);
        assert_eq!(std::mem::size_of::<Session>(), 152);
    }

    #[test]
    fn reset_in_place_equals_a_new_record() {
        use crate::session::tcp::TcpSegment;
        let syn = TcpSegment {
            flags: TcpSegment::SYN,
            seq: 1000,
            ack: 0,
            window: 65535,
            payload_len: 0,
            window_scale: Some(7),
        };
        let init = SessionInit {
            id: SessionId::compose(3, 77),
            generation: 9,
            policy_rule: PolicyRuleId(4),
            app: AppId(5),
            app_timeout: NonZeroU32::new(33),
            ingress_zone: ZoneId(1),
            egress_zone: ZoneId(2),
            ingress_interface: InterfaceId(3),
            egress_interface: InterfaceId(4),
            nat_rule_src: NatRuleId(6),
            nat_rule_dst: NatRuleId(7),
            nat_pool: NatPoolId(8),
            flags: SessionFlags::SNAT | SessionFlags::LOG_INIT,
            owner_rg: RedundancyGroupId(1),
            tcp: None,
        };
        let tracker = TcpTracker::new_from_syn(&syn).unwrap();
        // A used record: every field different from the new one.
        let other = SessionInit {
            id: SessionId::compose(1, 1),
            generation: 1,
            ..SessionInit::default()
        };
        let mut slot = Session::new(&other, TcpTracker::none(), 60, 5);
        slot.count(1, 1500);
        slot.wheel = Link { prev: 1, next: 2 };
        slot.embryo = Link { prev: 3, next: 4 };
        slot.wheel_bucket = 17;
        slot.marks = 0;
        for (tcp, timeout) in [(tracker, 120), (TcpTracker::none(), 30)] {
            slot.reset(&init, tcp, timeout, 1_000);
            assert_eq!(slot, Session::new(&init, tcp, timeout, 1_000));
        }
    }

    #[test]
    fn split_counters_add_like_u64_counters() {
        let mut s = Session::new(&SessionInit::default(), TcpTracker::none(), 60, 0);
        let mut want = [PacketCounters::default(); 2];
        // Start near every wrap of the low and middle parts.
        let starts = [
            PacketCounters {
                packets: 0xffff - 2,
                bytes: 0xffff_ffff - 3000,
            },
            PacketCounters {
                packets: 0xffff_ffff - 1,
                bytes: (7 << 32) | 0xffff_f000,
            },
        ];
        for (d, start) in starts.into_iter().enumerate() {
            s.set_counters(d, start);
            want[d] = start;
            assert_eq!(s.counters_at(d), start);
        }
        for i in 0..200_000u64 {
            let d = (i % 2) as usize;
            let bytes = match i % 5 {
                0 => 1500,
                1 => 64,
                2 => 65_535,
                3 => 1 << 33,
                _ => 0,
            };
            s.count(d, bytes);
            want[d].add(bytes);
            assert_eq!(s.counters_at(d), want[d], "after {i}");
        }
        for v in [0, 1, 0xffff, 0x1_0000, 0xffff_ffff, 0x1_0000_0000, u64::MAX] {
            let c = PacketCounters {
                packets: v,
                bytes: v.rotate_left(13),
            };
            s.set_counters(1, c);
            assert_eq!(s.counters(Direction::Reverse), c);
        }
    }

    #[test]
    fn handles_carry_family_and_slot() {
        let h = SessionHandle((7 << 1) | 1);
        assert_eq!(h.family(), AddressFamily::Inet6);
        assert_eq!(h.slot(), 7);
        assert_eq!(h.to_string(), "inet6-slot#7");
    }
}
