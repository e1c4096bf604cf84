//! Session keys and values for IPv4 and IPv6.
//!
//! A session is stored as two entries: the **forward** entry, keyed by the
//! 5-tuple of the packet that created it as seen on ingress (before NAT), and
//! the **reverse** entry, keyed by the 5-tuple a reply carries as seen on the
//! wire (after NAT). Each entry's value carries the other entry's key in
//! `reverse_key`, so a lookup from either direction finds the session and a
//! delete can remove both ("companions").
//!
//! For ICMP query messages (echo, timestamp, ...) the ICMP identifier is
//! stored in both port slots, so a reply (which carries the same id) maps to
//! the reversed key naturally.

use crate::ids::{
    AppId, InterfaceId, NatPoolId, NatRuleId, PolicyRuleId, RedundancyGroupId, SessionId, ZoneId,
};
use crate::proto::IpProtocol;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::hash::Hash;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// IPv4 or IPv6.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum AddressFamily {
    /// IPv4 (`family inet`).
    #[default]
    Inet,
    /// IPv6 (`family inet6`).
    Inet6,
}

impl fmt::Display for AddressFamily {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Inet => "inet",
            Self::Inet6 => "inet6",
        })
    }
}

/// An address type a session can be keyed by: [`Ipv4Addr`] or [`Ipv6Addr`].
pub trait SessionAddr:
    Copy
    + Eq
    + Ord
    + Hash
    + fmt::Debug
    + fmt::Display
    + Serialize
    + DeserializeOwned
    + Send
    + Sync
    + 'static
{
    /// The family of this address type.
    const FAMILY: AddressFamily;
    /// The all-zeros address.
    const UNSPECIFIED: Self;
    /// Converts to the family-neutral [`IpAddr`].
    fn to_ip(self) -> IpAddr;
}

impl SessionAddr for Ipv4Addr {
    const FAMILY: AddressFamily = AddressFamily::Inet;
    const UNSPECIFIED: Self = Ipv4Addr::UNSPECIFIED;
    fn to_ip(self) -> IpAddr {
        IpAddr::V4(self)
    }
}

impl SessionAddr for Ipv6Addr {
    const FAMILY: AddressFamily = AddressFamily::Inet6;
    const UNSPECIFIED: Self = Ipv6Addr::UNSPECIFIED;
    fn to_ip(self) -> IpAddr {
        IpAddr::V6(self)
    }
}

/// A session 5-tuple. For ICMP queries the identifier sits in both port slots.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(bound = "A: SessionAddr")]
pub struct SessionKey<A> {
    /// Source address.
    pub src: A,
    /// Destination address.
    pub dst: A,
    /// Source port (ICMP: identifier).
    pub src_port: u16,
    /// Destination port (ICMP: identifier).
    pub dst_port: u16,
    /// IP protocol.
    pub protocol: IpProtocol,
}

/// An IPv4 session key.
pub type SessionKeyV4 = SessionKey<Ipv4Addr>;
/// An IPv6 session key.
pub type SessionKeyV6 = SessionKey<Ipv6Addr>;

impl<A: SessionAddr> SessionKey<A> {
    /// The key with source and destination swapped (what a reply carries when
    /// no NAT is involved).
    pub fn reversed(&self) -> Self {
        Self {
            src: self.dst,
            dst: self.src,
            src_port: self.dst_port,
            dst_port: self.src_port,
            protocol: self.protocol,
        }
    }
}

impl<A: SessionAddr> fmt::Display for SessionKey<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match A::FAMILY {
            AddressFamily::Inet => write!(
                f,
                "{}:{} -> {}:{} {}",
                self.src, self.src_port, self.dst, self.dst_port, self.protocol
            ),
            AddressFamily::Inet6 => write!(
                f,
                "[{}]:{} -> [{}]:{} {}",
                self.src, self.src_port, self.dst, self.dst_port, self.protocol
            ),
        }
    }
}

/// The lifecycle state of a session.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SessionState {
    /// Created by the first packet; no reply seen yet (embryonic).
    #[default]
    New,
    /// Traffic seen in both directions (TCP: handshake completed).
    Established,
    /// Teardown in progress (TCP FIN/RST seen).
    Closing,
    /// Closed; the entry is only waiting to be removed.
    Closed,
}

/// TCP connection tracking state; [`TcpState::None`] for non-TCP sessions.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TcpState {
    /// Not a TCP session.
    #[default]
    None,
    /// SYN seen from the initiator.
    SynSent,
    /// SYN+ACK seen from the responder.
    SynReceived,
    /// Handshake completed.
    Established,
    /// FIN seen from the initiator.
    FinWait,
    /// FIN seen from the responder.
    CloseWait,
    /// FIN seen from both sides, last ACK outstanding.
    LastAck,
    /// Both FINs acknowledged.
    TimeWait,
    /// Reset or fully closed.
    Close,
}

/// Per-session flags, a small bit set with named bits.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SessionFlags(pub u16);

impl SessionFlags {
    /// Source NAT applied.
    pub const SNAT: Self = Self(1 << 0);
    /// Destination NAT applied.
    pub const DNAT: Self = Self(1 << 1);
    /// Static (1:1) NAT applied.
    pub const STATIC_NAT: Self = Self(1 << 2);
    /// Log on session init.
    pub const LOG_INIT: Self = Self(1 << 3);
    /// Log on session close.
    pub const LOG_CLOSE: Self = Self(1 << 4);
    /// Policy `count` enabled.
    pub const COUNT: Self = Self(1 << 5);
    /// Installed by cluster sync from the peer, not created by local traffic.
    pub const CLUSTER_SYNCED: Self = Self(1 << 6);
    /// Destined to the firewall itself (host-inbound).
    pub const LOCAL: Self = Self(1 << 7);
    /// The source NAT mapping is persistent (survives this session).
    pub const PERSISTENT_NAT: Self = Self(1 << 8);
    /// TCP window tracking relaxed for this session (loose mode).
    pub const LOOSE_TCP: Self = Self(1 << 9);

    /// The empty set.
    pub const fn empty() -> Self {
        Self(0)
    }

    /// True when every bit of `other` is set.
    pub const fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }

    /// Sets the bits of `other`.
    pub fn insert(&mut self, other: Self) {
        self.0 |= other.0;
    }

    /// Clears the bits of `other`.
    pub fn remove(&mut self, other: Self) {
        self.0 &= !other.0;
    }
}

impl std::ops::BitOr for SessionFlags {
    type Output = Self;
    fn bitor(self, rhs: Self) -> Self {
        Self(self.0 | rhs.0)
    }
}

/// The translated addresses of a session's forward direction: what the
/// initiator's packets carry after NAT. Equal to the forward key when no NAT
/// applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(bound = "A: SessionAddr")]
pub struct NatTranslation<A> {
    /// Source address after source NAT.
    pub src: A,
    /// Source port after source NAT.
    pub src_port: u16,
    /// Destination address after destination NAT.
    pub dst: A,
    /// Destination port after destination NAT.
    pub dst_port: u16,
}

/// Packets and bytes in one direction.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PacketCounters {
    /// Packets.
    pub packets: u64,
    /// Bytes (L3 length).
    pub bytes: u64,
}

impl PacketCounters {
    /// Adds one packet of `bytes` bytes.
    pub fn add(&mut self, bytes: u64) {
        self.packets += 1;
        self.bytes += bytes;
    }
}

/// The value stored under a session key.
///
/// Times are nanoseconds on the dataplane's monotonic clock (the `now` the
/// packet path is driven with); cluster sync carries ages, not absolute times.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(bound = "A: SessionAddr")]
pub struct SessionValue<A> {
    /// Cluster-unique session id (shared by the forward and reverse entry).
    pub session_id: SessionId,
    /// Lifecycle state.
    pub state: SessionState,
    /// TCP state ([`TcpState::None`] for other protocols).
    pub tcp_state: TcpState,
    /// Flags.
    pub flags: SessionFlags,
    /// True for the reverse entry.
    pub is_reverse: bool,
    /// Creation time, ns.
    pub created_ns: u64,
    /// Last packet time, ns.
    pub last_seen_ns: u64,
    /// Inactivity timeout in seconds for the current state.
    pub timeout_secs: u32,
    /// The policy rule that permitted the session.
    pub policy_rule: PolicyRuleId,
    /// Zone the initiator's packets arrived in.
    pub ingress_zone: ZoneId,
    /// Zone the initiator's packets leave through.
    pub egress_zone: ZoneId,
    /// Interface the initiator's packets arrived on.
    pub ingress_interface: InterfaceId,
    /// Interface the initiator's packets leave through.
    pub egress_interface: InterfaceId,
    /// The forward direction after NAT.
    pub nat: NatTranslation<A>,
    /// Source NAT rule that matched ([`NatRuleId::NONE`] if none).
    pub nat_rule_src: NatRuleId,
    /// Destination or static NAT rule that matched.
    pub nat_rule_dst: NatRuleId,
    /// Source NAT pool the mapping was allocated from.
    pub nat_pool: NatPoolId,
    /// Initiator → responder.
    pub fwd: PacketCounters,
    /// Responder → initiator.
    pub rev: PacketCounters,
    /// The companion entry's key (reverse key on the forward entry and vice versa).
    pub reverse_key: SessionKey<A>,
    /// Application the session matched.
    pub app: AppId,
    /// Redundancy group that owns the session.
    pub owner_rg: RedundancyGroupId,
}

/// An IPv4 session value.
pub type SessionValueV4 = SessionValue<Ipv4Addr>;
/// An IPv6 session value.
pub type SessionValueV6 = SessionValue<Ipv6Addr>;

impl<A: SessionAddr> SessionValue<A> {
    /// A fresh forward value for `key` with no NAT and zeroed counters.
    /// Callers fill in the fields their packet path knows.
    pub fn new_forward(key: &SessionKey<A>, session_id: SessionId, now_ns: u64) -> Self {
        Self {
            session_id,
            state: SessionState::New,
            tcp_state: TcpState::None,
            flags: SessionFlags::empty(),
            is_reverse: false,
            created_ns: now_ns,
            last_seen_ns: now_ns,
            timeout_secs: 0,
            policy_rule: PolicyRuleId::NONE,
            ingress_zone: ZoneId::NONE,
            egress_zone: ZoneId::NONE,
            ingress_interface: InterfaceId::NONE,
            egress_interface: InterfaceId::NONE,
            nat: NatTranslation {
                src: key.src,
                src_port: key.src_port,
                dst: key.dst,
                dst_port: key.dst_port,
            },
            nat_rule_src: NatRuleId::NONE,
            nat_rule_dst: NatRuleId::NONE,
            nat_pool: NatPoolId::NONE,
            fwd: PacketCounters::default(),
            rev: PacketCounters::default(),
            reverse_key: key.reversed(),
            app: AppId::NONE,
            owner_rg: RedundancyGroupId::NONE,
        }
    }

    /// The key a reply carries on the wire, derived from the forward key and
    /// the NAT translation: `nat.dst:nat.dst_port -> nat.src:nat.src_port`.
    pub fn reply_key(forward: &SessionKey<A>, nat: &NatTranslation<A>) -> SessionKey<A> {
        SessionKey {
            src: nat.dst,
            dst: nat.src,
            src_port: nat.dst_port,
            dst_port: nat.src_port,
            protocol: forward.protocol,
        }
    }

    /// The reverse entry's value for this forward value stored under `forward_key`.
    pub fn to_reverse(&self, forward_key: &SessionKey<A>) -> Self {
        let mut v = *self;
        v.is_reverse = true;
        v.reverse_key = *forward_key;
        v
    }

    /// True when source NAT, destination NAT or static NAT changed the tuple.
    pub fn is_nat(&self) -> bool {
        self.flags.contains(SessionFlags::SNAT)
            || self.flags.contains(SessionFlags::DNAT)
            || self.flags.contains(SessionFlags::STATIC_NAT)
    }
}

/// A session key of either family.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AnySessionKey {
    /// IPv4.
    V4(SessionKeyV4),
    /// IPv6.
    V6(SessionKeyV6),
}

impl fmt::Display for AnySessionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::V4(k) => k.fmt(f),
            Self::V6(k) => k.fmt(f),
        }
    }
}

impl From<SessionKeyV4> for AnySessionKey {
    fn from(k: SessionKeyV4) -> Self {
        Self::V4(k)
    }
}

impl From<SessionKeyV6> for AnySessionKey {
    fn from(k: SessionKeyV6) -> Self {
        Self::V6(k)
    }
}

/// One stored session entry (key and value) of either family.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SessionEntry {
    /// IPv4 entry.
    V4 {
        /// Key.
        key: SessionKeyV4,
        /// Value.
        value: SessionValueV4,
    },
    /// IPv6 entry.
    V6 {
        /// Key.
        key: SessionKeyV6,
        /// Value.
        value: SessionValueV6,
    },
}

macro_rules! entry_field {
    ($self:ident, $f:ident) => {
        match $self {
            SessionEntry::V4 { value, .. } => value.$f,
            SessionEntry::V6 { value, .. } => value.$f,
        }
    };
}

impl SessionEntry {
    /// The family.
    pub fn family(&self) -> AddressFamily {
        match self {
            Self::V4 { .. } => AddressFamily::Inet,
            Self::V6 { .. } => AddressFamily::Inet6,
        }
    }

    /// This entry's key.
    pub fn key(&self) -> AnySessionKey {
        match self {
            Self::V4 { key, .. } => AnySessionKey::V4(*key),
            Self::V6 { key, .. } => AnySessionKey::V6(*key),
        }
    }

    /// The companion entry's key.
    pub fn companion_key(&self) -> AnySessionKey {
        match self {
            Self::V4 { value, .. } => AnySessionKey::V4(value.reverse_key),
            Self::V6 { value, .. } => AnySessionKey::V6(value.reverse_key),
        }
    }

    /// True for the reverse entry.
    pub fn is_reverse(&self) -> bool {
        entry_field!(self, is_reverse)
    }

    /// The cluster-unique session id.
    pub fn session_id(&self) -> SessionId {
        entry_field!(self, session_id)
    }

    /// The initiator's ingress zone.
    pub fn ingress_zone(&self) -> ZoneId {
        entry_field!(self, ingress_zone)
    }

    /// The owning redundancy group.
    pub fn owner_rg(&self) -> RedundancyGroupId {
        entry_field!(self, owner_rg)
    }

    /// The session flags.
    pub fn flags(&self) -> SessionFlags {
        entry_field!(self, flags)
    }

    /// The permitting policy rule.
    pub fn policy_rule(&self) -> PolicyRuleId {
        entry_field!(self, policy_rule)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> SessionKeyV4 {
        SessionKey {
            src: Ipv4Addr::new(198, 18, 0, 10),
            dst: Ipv4Addr::new(198, 19, 0, 20),
            src_port: 40000,
            dst_port: 80,
            protocol: IpProtocol::TCP,
        }
    }

    #[test]
    fn reverse_of_reverse_is_identity() {
        assert_eq!(key().reversed().reversed(), key());
    }

    #[test]
    fn reply_key_follows_nat_translation() {
        let k = key();
        let mut v = SessionValue::new_forward(&k, SessionId(1), 0);
        assert_eq!(SessionValue::reply_key(&k, &v.nat), k.reversed());
        v.nat.src = Ipv4Addr::new(198, 19, 255, 1);
        v.nat.src_port = 1024;
        let r = SessionValue::reply_key(&k, &v.nat);
        assert_eq!(r.dst, Ipv4Addr::new(198, 19, 255, 1));
        assert_eq!(r.dst_port, 1024);
        assert_eq!(r.src, k.dst);
    }

    #[test]
    fn entries_round_trip_through_json() {
        let k = key();
        let v = SessionValue::new_forward(&k, SessionId(9), 5);
        let e = SessionEntry::V4 { key: k, value: v };
        let s = serde_json::to_string(&e).unwrap();
        let back: SessionEntry = serde_json::from_str(&s).unwrap();
        assert_eq!(back, e);
        assert_eq!(e.companion_key(), AnySessionKey::V4(k.reversed()));
    }
}
