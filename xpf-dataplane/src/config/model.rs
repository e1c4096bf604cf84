//! The config model: what an operator (or an embedding control plane)
//! writes, in Junos vocabulary, as TOML or JSON.
//!
//! Structure mirrors the Junos hierarchy closely enough that an SRX engineer
//! recognises it (`security.policies`, `security.nat.source.rule-sets`,
//! `security.screen.ids-options`, `firewall.filters`), but lists are arrays
//! of named objects rather than maps so that order is explicit (policies,
//! terms and NAT rules are order-sensitive) and duplicate names can be
//! reported rather than silently merged.
//!
//! Every struct rejects unknown fields, so a typo is an error with its path,
//! not a silently ignored setting.

use super::types::{CivilDateTime, MacAddr, PortRange, TcpFlagsMatch, TimeOfDay};
use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use std::net::IpAddr;
use xpf_runtime::IpProtocol;

/// The whole configuration.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct Config {
    /// Free-form description.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// System-wide settings.
    pub system: System,
    /// Interfaces the dataplane manages.
    pub interfaces: Vec<Interface>,
    /// Security zones.
    pub zones: Vec<Zone>,
    /// The global address book.
    pub address_book: AddressBook,
    /// Applications and application sets.
    pub applications: Applications,
    /// Schedulers.
    pub schedulers: Vec<Scheduler>,
    /// Policies, NAT, screens and flow options.
    pub security: Security,
    /// Stateless firewall filters and policers.
    pub firewall: Firewall,
    /// Static routes and neighbours supplied by the embedder.
    pub forwarding: Forwarding,
    /// Chassis cluster (HA).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ha: Option<Ha>,
}

/// System-wide settings.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct System {
    /// Host name, printed in syslog lines.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host_name: Option<String>,
    /// Offset of local time from UTC in minutes; schedulers are evaluated in
    /// local time (e.g. `60` for CET, `-300` for EST).
    pub utc_offset_minutes: i16,
}

/// An interface (logical unit) the dataplane manages.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct Interface {
    /// Name, e.g. `ge-0/0/0.0` or the Linux name `eth1`.
    pub name: String,
    /// Security zone the interface belongs to.
    pub zone: String,
    /// MAC address used as the source of forwarded frames.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mac: Option<MacAddr>,
    /// Addresses with prefix length (host bits set), IPv4 and IPv6.
    pub addresses: Vec<IpNet>,
    /// 802.1Q VLAN id for a tagged unit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vlan: Option<u16>,
    /// MTU (L3), default 1500.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u16>,
    /// Firewall filters applied to this interface.
    pub filter: InterfaceFilters,
    /// Redundancy group owning this interface (reth members).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redundancy_group: Option<u8>,
}

/// Filters bound to an interface, per family and direction.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct InterfaceFilters {
    /// `family inet filter input`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input: Option<String>,
    /// `family inet filter output`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
    /// `family inet6 filter input`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input6: Option<String>,
    /// `family inet6 filter output`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output6: Option<String>,
}

/// A security zone.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct Zone {
    /// Name.
    pub name: String,
    /// Screen (ids-option) profile applied to traffic entering the zone.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub screen: Option<String>,
    /// Traffic to the firewall itself that the zone accepts.
    pub host_inbound_traffic: HostInboundTraffic,
    /// Send a TCP RST for non-SYN packets that match no session.
    pub tcp_rst: bool,
    /// TCP sequence/window checking for sessions entering this zone.
    pub tcp_window_check: TcpWindowCheck,
    /// The zone's own address book (resolved before the global one).
    pub address_book: AddressBook,
}

/// How strictly TCP sequence numbers are checked.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TcpWindowCheck {
    /// Out-of-window segments are dropped and counted.
    #[default]
    Strict,
    /// Windows are tracked but not enforced (asymmetric routing, mid-stream pickup).
    Loose,
}

/// Host-inbound traffic allowed into a zone.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct HostInboundTraffic {
    /// System services (`ssh`, `ping`, ..., or `all`).
    pub system_services: Vec<HostService>,
    /// Routing protocols (`bgp`, `ospf`, ..., or `all`).
    pub protocols: Vec<HostProtocol>,
}

/// A host-inbound system service.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HostService {
    /// Every service below.
    All,
    /// ICMP / ICMPv6 echo.
    Ping,
    /// UDP traceroute probes (33434-33534).
    Traceroute,
    /// SSH (tcp/22).
    Ssh,
    /// Telnet (tcp/23).
    Telnet,
    /// HTTP (tcp/80).
    Http,
    /// HTTPS (tcp/443).
    Https,
    /// DNS (udp+tcp/53).
    Dns,
    /// NTP (udp/123).
    Ntp,
    /// SNMP (udp/161).
    Snmp,
    /// DHCP server (udp/67-68).
    Dhcp,
    /// DHCPv6 (udp/546-547).
    Dhcpv6,
    /// IKE (udp/500, 4500).
    Ike,
    /// NETCONF over SSH (tcp/830).
    Netconf,
    /// Syslog (udp/514).
    Syslog,
}

/// A host-inbound routing protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HostProtocol {
    /// Every protocol below.
    All,
    /// BGP (tcp/179).
    Bgp,
    /// OSPF (IP protocol 89).
    Ospf,
    /// OSPFv3 (IP protocol 89 over IPv6).
    Ospf3,
    /// BFD (udp/3784-3785, 4784).
    Bfd,
    /// VRRP (IP protocol 112).
    Vrrp,
    /// PIM (IP protocol 103).
    Pim,
    /// IPv6 neighbour discovery / router discovery (ICMPv6 133-137).
    RouterDiscovery,
}

/// An address book: named addresses and address sets.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct AddressBook {
    /// Addresses.
    pub addresses: Vec<Address>,
    /// Address sets.
    pub address_sets: Vec<AddressSet>,
}

impl AddressBook {
    /// True when the book has no entries.
    pub fn is_empty(&self) -> bool {
        self.addresses.is_empty() && self.address_sets.is_empty()
    }
}

/// A named address: exactly one of `prefix` or `range`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct Address {
    /// Name.
    pub name: String,
    /// A prefix (host bits must be clear).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prefix: Option<IpNet>,
    /// An inclusive address range.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub range: Option<AddressRange>,
    /// Free-form description.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// An inclusive range of addresses of one family.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct AddressRange {
    /// First address.
    pub from: IpAddr,
    /// Last address.
    pub to: IpAddr,
}

/// A named set of addresses and nested sets.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct AddressSet {
    /// Name.
    pub name: String,
    /// Member addresses (names in the same book).
    pub addresses: Vec<String>,
    /// Member sets (names in the same book).
    pub address_sets: Vec<String>,
}

/// Applications and application sets.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct Applications {
    /// Custom applications (the predefined `junos-*` ones need no definition).
    pub applications: Vec<Application>,
    /// Application sets.
    pub application_sets: Vec<ApplicationSet>,
}

/// A custom application: either a single term given inline (`protocol`,
/// ports, ...) or a list of `terms`, not both.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct Application {
    /// Name.
    pub name: String,
    /// Inline single term: protocol.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub protocol: Option<IpProtocol>,
    /// Inline single term: source ports.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_port: Option<PortRange>,
    /// Inline single term: destination ports.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub destination_port: Option<PortRange>,
    /// Inline single term: ICMP type.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub icmp_type: Option<u8>,
    /// Inline single term: ICMP code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub icmp_code: Option<u8>,
    /// Inactivity timeout in seconds for sessions of this application.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inactivity_timeout: Option<u32>,
    /// Multiple terms (any term matching matches the application).
    pub terms: Vec<ApplicationTerm>,
}

/// One term of a multi-term application.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct ApplicationTerm {
    /// Term name.
    pub name: String,
    /// Protocol (required).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub protocol: Option<IpProtocol>,
    /// Source ports.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_port: Option<PortRange>,
    /// Destination ports.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub destination_port: Option<PortRange>,
    /// ICMP type.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub icmp_type: Option<u8>,
    /// ICMP code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub icmp_code: Option<u8>,
    /// Inactivity timeout in seconds (overrides the application's).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inactivity_timeout: Option<u32>,
}

/// A named set of applications and nested sets.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct ApplicationSet {
    /// Name.
    pub name: String,
    /// Members: applications (predefined or custom) or other sets.
    pub applications: Vec<String>,
}

/// A scheduler: a policy that references it is active only while the
/// scheduler is. Active = (no date ranges, or `now` inside one) and (no
/// windows, or `now` inside one). Evaluated in local time
/// (`system.utc-offset-minutes`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct Scheduler {
    /// Name.
    pub name: String,
    /// Date ranges (`start` inclusive, `stop` exclusive).
    pub date_ranges: Vec<DateRange>,
    /// Weekly time windows.
    pub windows: Vec<TimeWindow>,
}

/// A date range.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct DateRange {
    /// Start, inclusive.
    pub start: CivilDateTime,
    /// Stop, exclusive.
    pub stop: CivilDateTime,
}

/// A time window on some days of the week (all days when `days` is empty).
/// `start > stop` crosses midnight into the next day.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct TimeWindow {
    /// Days the window starts on; empty means daily.
    #[serde(default)]
    pub days: Vec<Weekday>,
    /// Start time, inclusive.
    pub start: TimeOfDay,
    /// Stop time, exclusive.
    pub stop: TimeOfDay,
}

/// A day of the week.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Weekday {
    /// Monday.
    Monday,
    /// Tuesday.
    Tuesday,
    /// Wednesday.
    Wednesday,
    /// Thursday.
    Thursday,
    /// Friday.
    Friday,
    /// Saturday.
    Saturday,
    /// Sunday.
    Sunday,
}

impl Weekday {
    /// Days since Monday (Monday = 0).
    pub fn index(self) -> u16 {
        self as u16
    }
}

/// The `security` hierarchy.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct Security {
    /// Zone-pair policy lists, evaluated before global policies.
    pub policies: Vec<ZonePairPolicies>,
    /// Global policies, evaluated when no zone-pair policy matched.
    pub global_policies: Vec<Policy>,
    /// What happens when no policy matches (default `deny`).
    pub default_policy: DefaultPolicy,
    /// NAT.
    pub nat: Nat,
    /// Screens.
    pub screen: Screen,
    /// Flow (session) options.
    pub flow: FlowOptions,
}

/// The action when no policy matches.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DefaultPolicy {
    /// Drop (Junos default).
    #[default]
    Deny,
    /// Permit everything not otherwise matched.
    Permit,
}

/// The ordered policies from one zone to another.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct ZonePairPolicies {
    /// Source zone.
    pub from_zone: String,
    /// Destination zone.
    pub to_zone: String,
    /// Policies, first match wins.
    pub policies: Vec<Policy>,
}

/// A security policy.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct Policy {
    /// Name, unique within its zone pair (or among global policies).
    pub name: String,
    /// Free-form description.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Match conditions.
    #[serde(rename = "match")]
    pub match_: PolicyMatch,
    /// Action.
    pub then: PolicyThen,
    /// Scheduler that gates this policy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scheduler: Option<String>,
    /// Inactive policies are kept in the config but not compiled.
    pub inactive: bool,
}

/// What a policy matches. Empty address/application lists mean `any`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct PolicyMatch {
    /// Source addresses / sets (`any`, `any-ipv4`, `any-ipv6` predefined).
    pub source_address: Vec<String>,
    /// Negate the source match.
    pub source_address_excluded: bool,
    /// Destination addresses / sets.
    pub destination_address: Vec<String>,
    /// Negate the destination match.
    pub destination_address_excluded: bool,
    /// Applications / application sets (`any` predefined).
    pub application: Vec<String>,
    /// Global policies only: source zones (empty = any).
    pub from_zone: Vec<String>,
    /// Global policies only: destination zones (empty = any).
    pub to_zone: Vec<String>,
}

/// A policy's action and options.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct PolicyThen {
    /// permit / deny / reject.
    pub action: PolicyAction,
    /// Session logging.
    pub log: PolicyLog,
    /// Count packets/bytes per rule.
    pub count: bool,
}

/// A policy action.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PolicyAction {
    /// Create a session.
    Permit,
    /// Drop silently.
    #[default]
    Deny,
    /// Drop and send TCP RST / ICMP unreachable.
    Reject,
}

/// Policy logging options.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct PolicyLog {
    /// Log when a session is created (or denied).
    pub session_init: bool,
    /// Log when a session closes.
    pub session_close: bool,
}

/// NAT configuration.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct Nat {
    /// Source NAT.
    pub source: SourceNat,
    /// Destination NAT.
    pub destination: DestinationNat,
    /// Static (1:1, bidirectional) NAT.
    #[serde(rename = "static")]
    pub static_: StaticNat,
}

/// Source NAT pools and rule sets.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct SourceNat {
    /// Pools.
    pub pools: Vec<SourcePool>,
    /// Rule sets.
    pub rule_sets: Vec<SourceRuleSet>,
}

/// A source NAT pool.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct SourcePool {
    /// Name.
    pub name: String,
    /// Addresses: prefixes and ranges, one family.
    pub addresses: Vec<PoolAddress>,
    /// Port range allocated from (default 1024-65535).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port_range: Option<PortRange>,
    /// Port overloading (PAT). Off = address-only translation, one pool
    /// address per internal host (`port no-translation`).
    pub port_overload: PortOverload,
    /// Persistent NAT: an internal address:port keeps its mapping while any
    /// session uses it, and inbound sessions to the mapping are permitted
    /// from any remote host (`persistent-nat permit any-remote-host`).
    pub persistent: bool,
    /// Address persistence: every session from one internal host gets the
    /// same pool address.
    pub address_persistent: bool,
}

/// Port overloading mode of a source pool.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PortOverload {
    /// Translate ports (PAT).
    #[default]
    On,
    /// Address-only translation.
    Off,
}

/// A pool address: a prefix or a range.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum PoolAddress {
    /// Every address of a prefix.
    Prefix(IpNet),
    /// An inclusive range.
    Range(AddressRange),
}

/// Where a NAT rule set applies: zones and/or interfaces.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct NatContext {
    /// Zones.
    pub zone: Vec<String>,
    /// Interfaces.
    pub interface: Vec<String>,
}

impl NatContext {
    /// True when neither a zone nor an interface is given.
    pub fn is_empty(&self) -> bool {
        self.zone.is_empty() && self.interface.is_empty()
    }
}

/// A source NAT rule set.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct SourceRuleSet {
    /// Name.
    pub name: String,
    /// Ingress context.
    pub from: NatContext,
    /// Egress context.
    pub to: NatContext,
    /// Rules, first match wins.
    pub rules: Vec<SourceNatRule>,
}

/// Match conditions shared by NAT rules. Empty lists match anything.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct NatMatch {
    /// Source prefixes.
    pub source_address: Vec<IpNet>,
    /// Destination prefixes.
    pub destination_address: Vec<IpNet>,
    /// Source ports.
    pub source_port: Vec<PortRange>,
    /// Destination ports.
    pub destination_port: Vec<PortRange>,
    /// Protocols.
    pub protocol: Vec<IpProtocol>,
}

/// A source NAT rule.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct SourceNatRule {
    /// Name.
    pub name: String,
    /// Match.
    #[serde(rename = "match")]
    pub match_: NatMatch,
    /// Translation.
    pub then: SourceNatAction,
}

/// What a source NAT rule does.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SourceNatAction {
    /// Translate to the egress interface's address (of the packet's family).
    #[default]
    Interface,
    /// Translate from a pool.
    Pool(String),
    /// Exempt from source NAT.
    Off,
}

/// Destination NAT pools and rule sets.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct DestinationNat {
    /// Pools.
    pub pools: Vec<DestinationPool>,
    /// Rule sets.
    pub rule_sets: Vec<DestinationRuleSet>,
}

/// A destination NAT pool: one address and optionally a port.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct DestinationPool {
    /// Name.
    pub name: String,
    /// Translated destination address.
    pub address: IpAddr,
    /// Translated destination port (unchanged when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
}

/// A destination NAT rule set.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct DestinationRuleSet {
    /// Name.
    pub name: String,
    /// Ingress context.
    pub from: NatContext,
    /// Rules, first match wins.
    pub rules: Vec<DestinationNatRule>,
}

/// A destination NAT rule.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct DestinationNatRule {
    /// Name.
    pub name: String,
    /// Match (`destination-address` is required).
    #[serde(rename = "match")]
    pub match_: NatMatch,
    /// Translation.
    pub then: DestinationNatAction,
}

/// What a destination NAT rule does.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DestinationNatAction {
    /// Translate to a pool.
    Pool(String),
    /// Exempt from destination NAT.
    #[default]
    Off,
}

/// Static NAT rule sets.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct StaticNat {
    /// Rule sets.
    pub rule_sets: Vec<StaticRuleSet>,
}

/// A static NAT rule set.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct StaticRuleSet {
    /// Name.
    pub name: String,
    /// Ingress context of the inbound direction.
    pub from: NatContext,
    /// Rules, first match wins.
    pub rules: Vec<StaticNatRule>,
}

/// A static NAT rule: `destination-address` (the public side) maps 1:1 onto
/// `prefix` (the private side), host bits preserved. Inbound packets to the
/// public prefix get their destination translated; outbound packets from the
/// private prefix get their source translated back.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct StaticNatRule {
    /// Name.
    pub name: String,
    /// Public prefix.
    pub destination_address: IpNet,
    /// Private prefix, same family and length.
    pub prefix: IpNet,
}

/// Screens.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct Screen {
    /// IDS option profiles, referenced by zones.
    pub ids_options: Vec<ScreenProfile>,
}

/// An ids-option profile.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct ScreenProfile {
    /// Name.
    pub name: String,
    /// ICMP screens.
    pub icmp: IcmpScreen,
    /// IP screens.
    pub ip: IpScreen,
    /// TCP screens.
    pub tcp: TcpScreen,
    /// UDP screens.
    pub udp: UdpScreen,
    /// Session limits.
    pub limit_session: SessionLimits,
}

/// ICMP screens.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct IcmpScreen {
    /// Drop ICMP packets larger than 65535 bytes after reassembly.
    pub ping_death: bool,
    /// ICMP flood threshold, packets/second per zone.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flood_threshold: Option<u32>,
}

/// IP screens.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct IpScreen {
    /// Drop packets with the loose/strict source-route option (IPv4) or a
    /// type-0 routing header (IPv6).
    pub source_route_option: bool,
    /// Drop overlapping fragments (teardrop).
    pub tear_drop: bool,
}

/// TCP screens.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct TcpScreen {
    /// Source equals destination address.
    pub land: bool,
    /// SYN and FIN both set.
    pub syn_fin: bool,
    /// No flags set.
    pub tcp_no_flag: bool,
    /// FIN without ACK.
    pub fin_no_ack: bool,
    /// URG to port 139 (WinNuke).
    pub winnuke: bool,
    /// SYN in a fragment.
    pub syn_frag: bool,
    /// SYN flood threshold, SYNs/second per zone.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub syn_flood_threshold: Option<u32>,
}

/// UDP screens.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct UdpScreen {
    /// UDP flood threshold, packets/second per zone.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flood_threshold: Option<u32>,
}

/// Concurrent session limits.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct SessionLimits {
    /// Maximum sessions per source address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_ip_based: Option<u32>,
    /// Maximum sessions per destination address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub destination_ip_based: Option<u32>,
}

/// Flow (session) options.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct FlowOptions {
    /// Timeouts; unset values use the documented defaults.
    pub timeouts: FlowTimeouts,
    /// Clamp the MSS option of TCP SYNs to this value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tcp_mss: Option<u16>,
    /// Maximum concurrent sessions (default 1,048,576).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_capacity: Option<u32>,
}

/// Session timeouts in seconds. `None` uses the default shown per field.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct FlowTimeouts {
    /// TCP before the handshake completes (default 20).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tcp_initial: Option<u32>,
    /// Established TCP (default 1800).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tcp_established: Option<u32>,
    /// TCP after the first FIN (default 240).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tcp_closing: Option<u32>,
    /// TCP after both FINs are acknowledged, or after RST (default 2).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tcp_time_wait: Option<u32>,
    /// UDP (default 60).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub udp: Option<u32>,
    /// ICMP / ICMPv6 (default 60).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub icmp: Option<u32>,
    /// Any other protocol (default 60).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub other: Option<u32>,
}

/// Stateless firewall filters and policers.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct Firewall {
    /// Filters.
    pub filters: Vec<Filter>,
    /// Policers.
    pub policers: Vec<Policer>,
}

/// A firewall filter of one family.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct Filter {
    /// Name, unique within its family.
    pub name: String,
    /// `inet` or `inet6`.
    pub family: xpf_runtime::AddressFamily,
    /// Terms, in order. A packet that matches no term is discarded (Junos
    /// implicit discard) unless the last term is an accept-all.
    pub terms: Vec<FilterTerm>,
}

/// A filter term.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct FilterTerm {
    /// Name.
    pub name: String,
    /// Match conditions (all must hold; lists are OR within).
    pub from: FilterMatch,
    /// Actions.
    pub then: FilterThen,
}

/// Filter term match conditions. Empty lists match anything.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct FilterMatch {
    /// Source prefixes (family must match the filter).
    pub source_address: Vec<IpNet>,
    /// Destination prefixes.
    pub destination_address: Vec<IpNet>,
    /// Protocols (`next-header` for inet6).
    pub protocol: Vec<IpProtocol>,
    /// Source ports.
    pub source_port: Vec<PortRange>,
    /// Destination ports.
    pub destination_port: Vec<PortRange>,
    /// TCP flags expression.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tcp_flags: Option<TcpFlagsMatch>,
    /// DSCP values 0-63.
    pub dscp: Vec<u8>,
    /// ICMP / ICMPv6 types.
    pub icmp_type: Vec<u8>,
}

/// Filter term actions.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct FilterThen {
    /// Terminating action; `None` means `accept` unless `policer` drops.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action: Option<FilterAction>,
    /// Named counter to increment.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count: Option<String>,
    /// Emit a filter-log event.
    pub log: bool,
    /// Policer to apply before the action.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policer: Option<String>,
}

/// A filter term's terminating action.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FilterAction {
    /// Accept.
    Accept,
    /// Drop silently.
    Discard,
    /// Drop and send ICMP administratively-prohibited (TCP: RST).
    Reject,
    /// Continue with the next term.
    NextTerm,
}

/// A policer.
///
/// Written as `{ name = "p", type = "single-rate", bandwidth-limit = ...,
/// burst-size-limit = ... }`. Unlike the rest of the model this struct
/// cannot use `deny_unknown_fields` itself (serde does not support it
/// together with the flattened `kind`); [`PolicerKind`] carries it instead,
/// so a misspelt rate field is still rejected by name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Policer {
    /// Name.
    pub name: String,
    /// Algorithm and rates.
    #[serde(flatten)]
    pub kind: PolicerKind,
}

/// Policer algorithms. Out-of-profile (red) packets are discarded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "type", deny_unknown_fields)]
pub enum PolicerKind {
    /// Single-rate two-color: conform if within `bandwidth-limit` with
    /// `burst-size-limit` bucket, otherwise exceed (discard).
    SingleRate {
        /// Bits per second.
        #[serde(rename = "bandwidth-limit")]
        bandwidth_limit: u64,
        /// Bytes.
        #[serde(rename = "burst-size-limit")]
        burst_size_limit: u64,
    },
    /// Two-rate three-color (RFC 2698, color-blind): green within CIR,
    /// yellow within PIR, red (discard) above.
    TwoRate {
        /// Committed information rate, bits per second.
        #[serde(rename = "committed-information-rate")]
        committed_information_rate: u64,
        /// Committed burst size, bytes.
        #[serde(rename = "committed-burst-size")]
        committed_burst_size: u64,
        /// Peak information rate, bits per second.
        #[serde(rename = "peak-information-rate")]
        peak_information_rate: u64,
        /// Peak burst size, bytes.
        #[serde(rename = "peak-burst-size")]
        peak_burst_size: u64,
    },
}

/// Routes and neighbours supplied by the embedder.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct Forwarding {
    /// Static routes.
    pub routes: Vec<StaticRoute>,
    /// Neighbour (ARP / NDP) entries.
    pub neighbours: Vec<Neighbour>,
}

/// A static route. Exactly one of `next-hop` or `discard`; `interface` is
/// required for a directly connected route without a next hop.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct StaticRoute {
    /// Destination prefix (host bits clear).
    pub destination: IpNet,
    /// Next-hop address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_hop: Option<IpAddr>,
    /// Egress interface (derived from the next hop when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interface: Option<String>,
    /// Drop matching traffic.
    #[serde(default)]
    pub discard: bool,
}

/// A neighbour entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Neighbour {
    /// Neighbour address.
    pub address: IpAddr,
    /// Neighbour MAC.
    pub mac: MacAddr,
    /// Interface it is reachable on.
    pub interface: String,
}

/// Chassis cluster settings.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct Ha {
    /// This node: 0 or 1.
    pub node_id: u8,
    /// Redundancy groups.
    pub redundancy_groups: Vec<RedundancyGroup>,
    /// Fabric links between the nodes.
    pub fabric_links: Vec<FabricLink>,
    /// Heartbeat interval, ms (default 1000).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub heartbeat_interval_ms: Option<u32>,
    /// Missed heartbeats before the peer is declared lost (default 3).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub heartbeat_threshold: Option<u32>,
}

/// A redundancy group.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct RedundancyGroup {
    /// Group id (0 = control plane, 1-128 data groups).
    pub id: u8,
    /// Priority of node 0 (1-254; higher wins).
    pub node0_priority: u8,
    /// Priority of node 1.
    pub node1_priority: u8,
    /// Take over from a lower-priority primary.
    pub preempt: bool,
}

/// A fabric link.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct FabricLink {
    /// Fabric id (0 or 1).
    pub id: u8,
    /// Local interface carrying the fabric.
    pub interface: String,
    /// Local address of the sync endpoint.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub local_address: Option<IpAddr>,
    /// Peer address of the sync endpoint.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peer_address: Option<IpAddr>,
}
