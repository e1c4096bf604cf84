//! Events the dataplane reports: session open and close, policy deny,
//! screen drop and filter log.
//!
//! Events carry numeric ids (policy rule, application, zones, interfaces);
//! the names a syslog `RT_FLOW` line needs are resolved through the
//! `ApplyResult` of the generation that produced the event (see
//! `xpf_dataplane::syslog`). Every field an `RT_FLOW_SESSION_CREATE`,
//! `RT_FLOW_SESSION_CLOSE` or `RT_FLOW_SESSION_DENY` line prints is present.

use crate::counters::DropReason;
use crate::ids::{
    AppId, FilterId, FilterTermId, InterfaceId, NatRuleId, PolicyRuleId, RedundancyGroupId,
    SessionId, ZoneId,
};
use crate::proto::IpProtocol;
use crate::session::PacketCounters;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::IpAddr;

/// The 5-tuple (plus ICMP type) a log line prints.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FlowTuple {
    /// Source address.
    pub src: IpAddr,
    /// Source port (ICMP: identifier, 0 for errors).
    pub src_port: u16,
    /// Destination address.
    pub dst: IpAddr,
    /// Destination port (ICMP: identifier, 0 for errors).
    pub dst_port: u16,
    /// IP protocol.
    pub protocol: IpProtocol,
    /// ICMP / ICMPv6 type, for ICMP flows.
    pub icmp_type: Option<u8>,
}

/// Why a session was closed, as printed in `RT_FLOW_SESSION_CLOSE`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CloseReason {
    /// Orderly TCP teardown.
    TcpFin,
    /// TCP reset.
    TcpRst,
    /// Inactivity timeout.
    IdleTimeout,
    /// A single-response flow (DNS, ICMP echo) got its response.
    ResponseReceived,
    /// Policy rematch after a config apply no longer permits the session.
    Policy,
    /// Cluster reconcile removed a session the peer no longer has.
    ClusterReconcile,
    /// Evicted early because the table was full.
    Evicted,
    /// Cleared by the operator or the embedding application.
    Admin,
    /// Any other reason (backend-specific).
    Other,
}

impl CloseReason {
    /// The text Junos prints in `reason=`.
    pub fn syslog_text(self) -> &'static str {
        match self {
            Self::TcpFin => "TCP FIN",
            Self::TcpRst => "TCP RST",
            Self::IdleTimeout => "idle Timeout",
            Self::ResponseReceived => "response received",
            Self::Policy => "policy delete",
            Self::ClusterReconcile => "cluster reconcile",
            Self::Evicted => "session evicted",
            Self::Admin => "Clear-session",
            Self::Other => "unset",
        }
    }
}

impl fmt::Display for CloseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.syslog_text())
    }
}

/// A session was created.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionOpenEvent {
    /// Dataplane time, ns.
    pub time_ns: u64,
    /// Session id.
    pub session_id: SessionId,
    /// The initiator's tuple before NAT.
    pub flow: FlowTuple,
    /// Source address after NAT.
    pub nat_src: IpAddr,
    /// Source port after NAT.
    pub nat_src_port: u16,
    /// Destination address after NAT.
    pub nat_dst: IpAddr,
    /// Destination port after NAT.
    pub nat_dst_port: u16,
    /// Source NAT rule ([`NatRuleId::NONE`] when none).
    pub nat_rule_src: NatRuleId,
    /// Destination / static NAT rule.
    pub nat_rule_dst: NatRuleId,
    /// The permitting policy rule.
    pub policy_rule: PolicyRuleId,
    /// The matched application.
    pub app: AppId,
    /// Source zone.
    pub ingress_zone: ZoneId,
    /// Destination zone.
    pub egress_zone: ZoneId,
    /// Incoming interface.
    pub ingress_interface: InterfaceId,
    /// Owning redundancy group.
    pub owner_rg: RedundancyGroupId,
}

/// A session was closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionCloseEvent {
    /// The session as it was opened.
    pub open: SessionOpenEvent,
    /// Dataplane time of the close, ns.
    pub time_ns: u64,
    /// Why it closed.
    pub reason: CloseReason,
    /// Initiator → responder.
    pub fwd: PacketCounters,
    /// Responder → initiator.
    pub rev: PacketCounters,
}

impl SessionCloseEvent {
    /// Session lifetime in whole seconds (`elapsed-time=`).
    pub fn elapsed_secs(&self) -> u64 {
        self.time_ns.saturating_sub(self.open.time_ns) / 1_000_000_000
    }
}

/// A first packet was denied or rejected by policy (or default deny).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyDenyEvent {
    /// Dataplane time, ns.
    pub time_ns: u64,
    /// The denied tuple.
    pub flow: FlowTuple,
    /// The denying rule, [`PolicyRuleId::NONE`] for default deny.
    pub policy_rule: PolicyRuleId,
    /// Application the packet matched, if known.
    pub app: AppId,
    /// Source zone.
    pub ingress_zone: ZoneId,
    /// Destination zone.
    pub egress_zone: ZoneId,
    /// Incoming interface.
    pub ingress_interface: InterfaceId,
    /// True when the action was `reject` (an RST / unreachable was sent).
    pub rejected: bool,
}

/// Which screen dropped a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ScreenKind {
    /// Land attack.
    Land,
    /// SYN+FIN.
    SynFin,
    /// TCP without flags.
    TcpNoFlag,
    /// FIN without ACK.
    FinNoAck,
    /// WinNuke.
    WinNuke,
    /// Ping of death.
    PingOfDeath,
    /// Teardrop.
    TearDrop,
    /// IP source route option.
    SourceRoute,
    /// SYN fragment.
    SynFrag,
    /// SYN flood.
    SynFlood,
    /// ICMP flood.
    IcmpFlood,
    /// UDP flood.
    UdpFlood,
    /// Per-source session limit.
    SourceSessionLimit,
    /// Per-destination session limit.
    DestinationSessionLimit,
}

impl ScreenKind {
    /// The drop reason (and counter) this screen uses.
    pub fn drop_reason(self) -> DropReason {
        match self {
            Self::Land => DropReason::ScreenLand,
            Self::SynFin => DropReason::ScreenSynFin,
            Self::TcpNoFlag => DropReason::ScreenTcpNoFlag,
            Self::FinNoAck => DropReason::ScreenFinNoAck,
            Self::WinNuke => DropReason::ScreenWinNuke,
            Self::PingOfDeath => DropReason::ScreenPingOfDeath,
            Self::TearDrop => DropReason::ScreenTearDrop,
            Self::SourceRoute => DropReason::ScreenSourceRoute,
            Self::SynFrag => DropReason::ScreenSynFrag,
            Self::SynFlood => DropReason::ScreenSynFlood,
            Self::IcmpFlood => DropReason::ScreenIcmpFlood,
            Self::UdpFlood => DropReason::ScreenUdpFlood,
            Self::SourceSessionLimit => DropReason::ScreenSourceSessionLimit,
            Self::DestinationSessionLimit => DropReason::ScreenDestinationSessionLimit,
        }
    }
}

/// A screen dropped a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScreenDropEvent {
    /// Dataplane time, ns.
    pub time_ns: u64,
    /// Which screen.
    pub kind: ScreenKind,
    /// The dropped packet's tuple.
    pub flow: FlowTuple,
    /// Ingress zone whose screen profile dropped it.
    pub zone: ZoneId,
    /// Incoming interface.
    pub interface: InterfaceId,
}

/// The action a logged filter term took.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FilterLogAction {
    /// Accepted.
    Accept,
    /// Discarded silently.
    Discard,
    /// Rejected with an error.
    Reject,
}

/// Whether a filter was applied on input or output.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FilterDirection {
    /// Ingress filter.
    Input,
    /// Egress filter.
    Output,
}

/// A filter term with `log` matched a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FilterLogEvent {
    /// Dataplane time, ns.
    pub time_ns: u64,
    /// Filter.
    pub filter: FilterId,
    /// Term.
    pub term: FilterTermId,
    /// The term's terminating action.
    pub action: FilterLogAction,
    /// Input or output.
    pub direction: FilterDirection,
    /// Packet tuple.
    pub flow: FlowTuple,
    /// Interface the filter is attached to.
    pub interface: InterfaceId,
}

/// Any dataplane event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "type")]
pub enum Event {
    /// `RT_FLOW_SESSION_CREATE`.
    SessionOpen(SessionOpenEvent),
    /// `RT_FLOW_SESSION_CLOSE`.
    SessionClose(SessionCloseEvent),
    /// `RT_FLOW_SESSION_DENY`.
    PolicyDeny(PolicyDenyEvent),
    /// `RT_SCREEN_*`.
    ScreenDrop(ScreenDropEvent),
    /// Firewall filter log.
    FilterLog(FilterLogEvent),
}

impl Event {
    /// Dataplane time of the event, ns.
    pub fn time_ns(&self) -> u64 {
        match self {
            Self::SessionOpen(e) => e.time_ns,
            Self::SessionClose(e) => e.time_ns,
            Self::PolicyDeny(e) => e.time_ns,
            Self::ScreenDrop(e) => e.time_ns,
            Self::FilterLog(e) => e.time_ns,
        }
    }
}
