//! Counter values, global counter identifiers and drop reasons.
//!
//! Every packet the dataplane drops is dropped for exactly one
//! [`DropReason`], and every drop reason has its own global counter, so the
//! counters always add up: `rx = forwarded + local + dropped` (see
//! [`GlobalCounter`]). Backends keep counters in whatever layout suits them
//! (per-CPU BPF arrays, per-worker arrays) and report them in these types.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Declares a fieldless enum with a stable index, a kebab-case name and an
/// `ALL` table, so backends can lay counters out as flat arrays.
macro_rules! indexed_enum {
    ($(#[$doc:meta])* pub enum $name:ident { $($(#[$vdoc:meta])* $variant:ident = $text:literal,)* }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(rename_all = "kebab-case")]
        pub enum $name {
            $($(#[$vdoc])* $variant,)*
        }

        impl $name {
            /// Every variant, in index order.
            pub const ALL: &'static [$name] = &[$($name::$variant,)*];
            /// The number of variants.
            pub const COUNT: usize = Self::ALL.len();

            /// The stable index of this variant.
            pub const fn index(self) -> usize {
                self as usize
            }

            /// The variant at `index`, if any.
            pub fn from_index(index: usize) -> Option<Self> {
                Self::ALL.get(index).copied()
            }

            /// The kebab-case name.
            pub const fn name(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)*
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.name())
            }
        }
    };
}

indexed_enum! {
    /// Why a packet was dropped. Each reason is counted separately.
    pub enum DropReason {
        /// Frame shorter than an Ethernet header or otherwise unparseable at L2.
        MalformedEthernet = "malformed-ethernet",
        /// Truncated 802.1Q tag.
        MalformedVlan = "malformed-vlan",
        /// Bad IPv4 header (version, IHL, total length, truncated).
        MalformedIpv4 = "malformed-ipv4",
        /// Bad IPv4 header checksum.
        BadIpv4Checksum = "bad-ipv4-checksum",
        /// Bad IPv6 header (version, payload length, truncated).
        MalformedIpv6 = "malformed-ipv6",
        /// Truncated or inconsistent IPv6 extension header chain.
        MalformedExtensionHeader = "malformed-extension-header",
        /// Truncated or inconsistent TCP header.
        MalformedTcp = "malformed-tcp",
        /// Truncated or inconsistent UDP header.
        MalformedUdp = "malformed-udp",
        /// Truncated or inconsistent ICMP / ICMPv6 message.
        MalformedIcmp = "malformed-icmp",
        /// A frame whose ethertype the firewall does not forward (non-IP).
        UnsupportedEthertype = "unsupported-ethertype",
        /// Frame arrived on an interface the dataplane does not manage.
        UnknownInterface = "unknown-interface",
        /// TTL / hop limit expired in transit.
        TtlExceeded = "ttl-exceeded",
        /// Screen: land attack (source == destination).
        ScreenLand = "screen-land",
        /// Screen: SYN and FIN both set.
        ScreenSynFin = "screen-syn-fin",
        /// Screen: TCP without any flag.
        ScreenTcpNoFlag = "screen-tcp-no-flag",
        /// Screen: FIN without ACK.
        ScreenFinNoAck = "screen-fin-no-ack",
        /// Screen: WinNuke (URG to port 139).
        ScreenWinNuke = "screen-winnuke",
        /// Screen: ping of death (reassembled ICMP larger than 65535).
        ScreenPingOfDeath = "screen-ping-of-death",
        /// Screen: overlapping fragments (teardrop).
        ScreenTearDrop = "screen-tear-drop",
        /// Screen: IP source-route option.
        ScreenSourceRoute = "screen-source-route",
        /// Screen: SYN in a fragment.
        ScreenSynFrag = "screen-syn-frag",
        /// Screen: SYN flood threshold exceeded.
        ScreenSynFlood = "screen-syn-flood",
        /// Screen: ICMP flood threshold exceeded.
        ScreenIcmpFlood = "screen-icmp-flood",
        /// Screen: UDP flood threshold exceeded.
        ScreenUdpFlood = "screen-udp-flood",
        /// Screen: per-source session limit reached.
        ScreenSourceSessionLimit = "screen-source-session-limit",
        /// Screen: per-destination session limit reached.
        ScreenDestinationSessionLimit = "screen-destination-session-limit",
        /// Firewall filter term discarded the packet.
        FilterDiscard = "filter-discard",
        /// Firewall filter term rejected the packet (an error was sent).
        FilterReject = "filter-reject",
        /// Policer out of profile.
        PolicerExceeded = "policer-exceeded",
        /// First packet of a TCP flow that is not a SYN.
        TcpNonSynFirst = "tcp-non-syn-first",
        /// TCP segment outside the tracked window.
        TcpOutOfWindow = "tcp-out-of-window",
        /// TCP flags invalid for the session's state.
        TcpInvalidState = "tcp-invalid-state",
        /// Session table full; new flow refused.
        SessionTableFull = "session-table-full",
        /// A new session's keys collide with a live session's; refused.
        SessionConflict = "session-conflict",
        /// Denied by an explicit policy.
        PolicyDeny = "policy-deny",
        /// Rejected by an explicit policy (RST / unreachable sent).
        PolicyReject = "policy-reject",
        /// No policy matched: default deny.
        DefaultDeny = "default-deny",
        /// Traffic to the firewall itself not permitted by host-inbound-traffic.
        HostInboundDenied = "host-inbound-denied",
        /// Source NAT pool has no free address/port.
        NatPoolExhausted = "nat-pool-exhausted",
        /// No route to the destination.
        NoRoute = "no-route",
        /// Route is a discard route.
        RouteDiscard = "route-discard",
        /// No neighbour entry for the next hop.
        NoNeighbour = "no-neighbour",
        /// Packet exceeds the egress MTU and cannot be fragmented.
        MtuExceeded = "mtu-exceeded",
        /// Fragment of an unknown flow (first fragment not seen).
        FragmentNoSession = "fragment-no-session",
        /// Redundancy group is not active on this node.
        HaInactive = "ha-inactive",
        /// ICMP error whose embedded packet matches no session.
        IcmpErrorNoSession = "icmp-error-no-session",
    }
}

indexed_enum! {
    /// Global counters other than drops (which are [`DropReason`]s).
    pub enum BaseCounter {
        /// Frames received on managed interfaces.
        RxPackets = "rx-packets",
        /// Bytes received on managed interfaces.
        RxBytes = "rx-bytes",
        /// Frames forwarded.
        Forwarded = "forwarded",
        /// Frames delivered to the host (host-inbound).
        LocalDelivered = "local-delivered",
        /// Frames dropped (sum over drop reasons).
        Dropped = "dropped",
        /// Sessions created.
        SessionsCreated = "sessions-created",
        /// Sessions closed (any reason).
        SessionsClosed = "sessions-closed",
        /// Sessions expired by timeout.
        SessionsExpired = "sessions-expired",
        /// Embryonic sessions evicted early to make room.
        SessionsEvicted = "sessions-evicted",
        /// Packets that matched an existing session.
        SessionHits = "session-hits",
        /// Packets that created or tried to create a session.
        SessionMisses = "session-misses",
        /// Packets whose addresses or ports were translated.
        NatTranslated = "nat-translated",
        /// TCP RST segments emitted by the firewall.
        RstSent = "rst-sent",
        /// ICMP errors emitted by the firewall.
        IcmpErrorsSent = "icmp-errors-sent",
        /// TCP MSS options clamped.
        MssClamped = "mss-clamped",
        /// IP fragments seen.
        Fragments = "fragments",
        /// Events lost because the event queue was full.
        EventsDropped = "events-dropped",
        /// Session deltas lost because the delta queue was full.
        DeltasDropped = "deltas-dropped",
    }
}

/// A global counter identifier: a base counter or a drop reason.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum GlobalCounter {
    /// A non-drop counter.
    Base(BaseCounter),
    /// Drops for one reason.
    Drop(DropReason),
}

impl GlobalCounter {
    /// The number of global counters (base + drop reasons).
    pub const COUNT: usize = BaseCounter::COUNT + DropReason::COUNT;

    /// A flat index in `0..COUNT`: base counters first, then drop reasons.
    pub const fn index(self) -> usize {
        match self {
            Self::Base(b) => b.index(),
            Self::Drop(d) => BaseCounter::COUNT + d.index(),
        }
    }

    /// The counter at a flat index.
    pub fn from_index(index: usize) -> Option<Self> {
        if index < BaseCounter::COUNT {
            BaseCounter::from_index(index).map(Self::Base)
        } else {
            DropReason::from_index(index - BaseCounter::COUNT).map(Self::Drop)
        }
    }

    /// Every counter in index order.
    pub fn all() -> impl Iterator<Item = GlobalCounter> {
        (0..Self::COUNT).filter_map(Self::from_index)
    }

    /// A stable name: the base counter name, or `drop-<reason>`.
    pub fn name(self) -> String {
        match self {
            Self::Base(b) => b.name().to_string(),
            Self::Drop(d) => format!("drop-{}", d.name()),
        }
    }
}

impl From<BaseCounter> for GlobalCounter {
    fn from(b: BaseCounter) -> Self {
        Self::Base(b)
    }
}

impl From<DropReason> for GlobalCounter {
    fn from(d: DropReason) -> Self {
        Self::Drop(d)
    }
}

impl fmt::Display for GlobalCounter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

/// A packet + byte counter value.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CounterValue {
    /// Packets.
    pub packets: u64,
    /// Bytes.
    pub bytes: u64,
}

impl CounterValue {
    /// Adds another value (used to sum per-CPU / per-worker copies).
    pub fn merge(&mut self, other: CounterValue) {
        self.packets = self.packets.wrapping_add(other.packets);
        self.bytes = self.bytes.wrapping_add(other.bytes);
    }
}

impl std::ops::Add for CounterValue {
    type Output = Self;
    fn add(mut self, rhs: Self) -> Self {
        self.merge(rhs);
        self
    }
}

/// Per-interface counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct InterfaceCounters {
    /// Frames received.
    pub rx: CounterValue,
    /// Frames transmitted.
    pub tx: CounterValue,
    /// Received frames dropped by the firewall.
    pub rx_dropped: u64,
    /// Frames that could not be transmitted.
    pub tx_dropped: u64,
}

impl InterfaceCounters {
    /// Adds another copy (per-CPU / per-worker sum).
    pub fn merge(&mut self, other: &InterfaceCounters) {
        self.rx.merge(other.rx);
        self.tx.merge(other.tx);
        self.rx_dropped = self.rx_dropped.wrapping_add(other.rx_dropped);
        self.tx_dropped = self.tx_dropped.wrapping_add(other.tx_dropped);
    }
}

indexed_enum! {
    /// The flood screens with per-zone token buckets.
    pub enum FloodKind {
        /// TCP SYN flood.
        Syn = "syn",
        /// ICMP flood.
        Icmp = "icmp",
        /// UDP flood.
        Udp = "udp",
    }
}

/// The state of one zone's flood screens.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FloodCounters {
    /// One entry per [`FloodKind`] that is configured for the zone.
    pub kinds: Vec<FloodState>,
}

/// One flood screen's state in one zone.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FloodState {
    /// Which flood screen.
    pub kind: FloodKind,
    /// Configured threshold, packets per second.
    pub threshold_pps: u32,
    /// Packets admitted by the screen.
    pub passed: u64,
    /// Packets dropped by the screen.
    pub dropped: u64,
    /// True while the threshold is currently exceeded.
    pub active: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn global_counter_indices_are_dense_and_round_trip() {
        let all: Vec<_> = GlobalCounter::all().collect();
        assert_eq!(all.len(), GlobalCounter::COUNT);
        for (i, c) in all.iter().enumerate() {
            assert_eq!(c.index(), i);
            assert_eq!(GlobalCounter::from_index(i), Some(*c));
        }
        assert_eq!(GlobalCounter::from_index(GlobalCounter::COUNT), None);
    }

    #[test]
    fn drop_counter_names_are_prefixed() {
        assert_eq!(
            GlobalCounter::from(DropReason::DefaultDeny).name(),
            "drop-default-deny"
        );
        assert_eq!(DropReason::ScreenLand.to_string(), "screen-land");
    }
}
