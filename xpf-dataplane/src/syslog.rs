//! Junos-style structured syslog for dataplane [`Event`]s.
//!
//! Events carry numeric ids; the names a log line prints (zones, policies,
//! applications, NAT rules, interfaces, filters) are resolved through the
//! [`ApplyResult`] of the generation that produced the event. An id that
//! does not resolve renders as `N/A` ([`NOT_AVAILABLE`]); formatting never
//! fails and never panics.
//!
//! # Line format
//!
//! [`format_event`] returns the tail of an RFC 5424 message, from APP-NAME
//! on, laid out as Junos writes it with `structured-data` syslog enabled:
//!
//! ```text
//! APP-NAME - MSGID [SD-ID name="value" ...] MSG
//! RT_FLOW - RT_FLOW_SESSION_CREATE [junos@2636.1.1.1.2.129 source-address="198.18.10.23"
//!     source-port="50123" ...] session created 198.18.10.23/50123->198.19.80.5/443 ...
//! ```
//!
//! (one line; wrapped here for reading).
//!
//! The embedder prepends `<PRI>1 TIMESTAMP HOSTNAME ` (the dataplane has no
//! wall clock and no host name). PROCID is always `-`. Parameter values are
//! escaped as RFC 5424 requires (`"`, `\` and `]` get a backslash). For
//! other transports, [`fields`] gives the SD-PARAMs as `(name, value)`
//! pairs in order, unescaped, and [`app_name`], [`message_id`] and
//! [`message_text`] give the remaining parts.
//!
//! ```
//! use xpf_dataplane::apply::ApplyResult;
//! use xpf_dataplane::syslog;
//! use xpf_runtime::Event;
//!
//! /// An RFC 5424 message, facility `user`, severity `info` (PRI 14).
//! fn rfc5424(event: &Event, names: &ApplyResult, timestamp: &str, host: &str) -> String {
//!     format!("<14>1 {timestamp} {host} {}", syslog::format_event(event, names))
//! }
//! ```
//!
//! # Messages
//!
//! | Event | APP-NAME | MSGID |
//! |---|---|---|
//! | [`SessionOpenEvent`] | `RT_FLOW` | `RT_FLOW_SESSION_CREATE` |
//! | [`SessionCloseEvent`] | `RT_FLOW` | `RT_FLOW_SESSION_CLOSE` |
//! | [`PolicyDenyEvent`] (deny and reject) | `RT_FLOW` | `RT_FLOW_SESSION_DENY` |
//! | [`ScreenDropEvent`] | `RT_IDS` | `RT_SCREEN_TCP`, `_UDP`, `_ICMP`, `_IP`, `_SESSION_LIMIT` |
//! | [`FilterLogEvent`] | `RT_FIREWALL` | `RT_FIREWALL_LOG` |
//!
//! **RT_FLOW** messages use the Junos field names and order. The free text
//! follows the Junos layout (`session created src/port->dst/port service
//! nat-src/port->nat-dst/port ...`), without the AppSecure and user-identity
//! fields xpf does not have, and with `packet-incoming-interface` last.
//!
//! - `service-name` is the matched application; `None` when the session
//!   matched no application (a policy with `application any`), as Junos
//!   prints it.
//! - `policy-name` is the policy's name; `default-policy` when no policy
//!   matched and the default policy applied (rule id `NONE`).
//! - `src-nat-rule-name` / `dst-nat-rule-name` print the rule's name, not
//!   its rule set, as Junos does; `src-nat-rule-type` / `dst-nat-rule-type`
//!   say which kind of NAT it was (`source rule`, `destination rule`,
//!   `static rule`). Both are `N/A` without translation. Static NAT shows as
//!   the destination rule of inbound sessions and the source rule of
//!   outbound ones.
//! - `RT_FLOW_SESSION_DENY` carries `reason="policy deny"` or, when the
//!   policy's action was `reject` (a TCP RST / ICMP unreachable was sent),
//!   `reason="policy reject"`. There is no session, so no `session-id-32`.
//! - `RT_FLOW_SESSION_CLOSE` carries `reason` from
//!   [`CloseReason::syslog_text`](xpf_runtime::CloseReason::syslog_text),
//!   the client (initiator → responder) and server counters, and
//!   `elapsed-time` in whole seconds.
//!
//! **RT_IDS** messages follow the Junos screen messages: `attack-name`
//! (`"SYN flood!"`), addresses, ports (TCP, UDP and session limits),
//! `protocol-id` (IP screens and session limits), `source-zone-name`,
//! `interface-name` and `action="drop"`; the text is Junos's
//! `SYN flood! source: a:p, destination: a:p, zone name: z, interface name: i, action: drop`.
//!
//! **RT_FIREWALL** is xpf's own message for a filter term with `log`.
//! Junos logs filter hits only as unstructured `PFE_FW_SYSLOG_IP` text, so
//! the SD-PARAMs are xpf's (`filter-name`, `term-name`, `action`,
//! `direction`, `interface-name`, then the packet's `protocol-id`,
//! addresses, ports and `icmp-type`) while the free text reproduces the
//! `PFE_FW_SYSLOG_IP` layout, so parsers written for it keep working:
//! `FW: ge-0/0/0.0 D tcp 198.19.66.1 198.18.10.1 40000 22 (1 packets)`
//! (`A`ccept, `D`iscard, `R`eject; for ICMP the "ports" are the values the
//! event carries, i.e. the ICMP identifier).

use crate::apply::ApplyResult;
use xpf_runtime::{
    AppId, Event, FilterDirection, FilterId, FilterLogAction, FilterLogEvent, FilterTermId,
    InterfaceId, NatRuleId, PolicyDenyEvent, PolicyRuleId, ScreenDropEvent, ScreenKind,
    SessionCloseEvent, SessionOpenEvent, ZoneId,
};

/// The RFC 5424 SD-ID: Juniper's IANA private enterprise number (2636)
/// followed by a product OID suffix. Junos fills in the platform's own
/// product OID, so the suffix differs between SRX models and log parsers
/// key on the `junos@2636` prefix; xpf always uses this one.
pub const SD_ID: &str = "junos@2636.1.1.1.2.129";

/// What an id that does not resolve, or an absent value, prints as.
pub const NOT_AVAILABLE: &str = "N/A";

/// `policy-name` when no policy matched and the default policy applied.
pub const DEFAULT_POLICY_NAME: &str = "default-policy";

/// `service-name` when the session matched no application.
pub const NO_APPLICATION: &str = "None";

/// A field list: SD-PARAM names and unescaped values, in order.
pub type Fields = Vec<(&'static str, String)>;

/// The RFC 5424 APP-NAME: `RT_FLOW`, `RT_IDS` or `RT_FIREWALL`.
pub fn app_name(event: &Event) -> &'static str {
    match event {
        Event::SessionOpen(_) | Event::SessionClose(_) | Event::PolicyDeny(_) => "RT_FLOW",
        Event::ScreenDrop(_) => "RT_IDS",
        Event::FilterLog(_) => "RT_FIREWALL",
    }
}

/// The RFC 5424 MSGID, e.g. `RT_FLOW_SESSION_CREATE` or `RT_SCREEN_TCP`.
pub fn message_id(event: &Event) -> &'static str {
    match event {
        Event::SessionOpen(_) => "RT_FLOW_SESSION_CREATE",
        Event::SessionClose(_) => "RT_FLOW_SESSION_CLOSE",
        Event::PolicyDeny(_) => "RT_FLOW_SESSION_DENY",
        Event::ScreenDrop(e) => screen_category(e.kind).message_id(),
        Event::FilterLog(_) => "RT_FIREWALL_LOG",
    }
}

/// The structured data of `event`: SD-PARAM names and values, in the order
/// Junos prints them, values unescaped. Names are resolved through `names`;
/// unknown ids print as [`NOT_AVAILABLE`].
pub fn fields(event: &Event, names: &ApplyResult) -> Fields {
    match event {
        Event::SessionOpen(e) => session_create_fields(e, names),
        Event::SessionClose(e) => session_close_fields(e, names),
        Event::PolicyDeny(e) => deny_fields(e, names),
        Event::ScreenDrop(e) => screen_fields(e, names),
        Event::FilterLog(e) => filter_log_fields(e, names),
    }
}

/// The free-text MSG part (`session created 198.18.10.23/50123->...`).
pub fn message_text(event: &Event, names: &ApplyResult) -> String {
    text_from_fields(event, &fields(event, names))
}

/// The whole line from APP-NAME on:
/// `APP-NAME - MSGID [SD-ID name="value" ...] MSG`. See the
/// [module documentation](self) for the format.
pub fn format_event(event: &Event, names: &ApplyResult) -> String {
    let fields = fields(event, names);
    let mut line = String::with_capacity(160 + fields.len() * 32);
    line.push_str(app_name(event));
    line.push_str(" - ");
    line.push_str(message_id(event));
    line.push_str(" [");
    line.push_str(SD_ID);
    for (name, value) in &fields {
        line.push(' ');
        line.push_str(name);
        line.push_str("=\"");
        push_escaped(&mut line, value);
        line.push('"');
    }
    line.push_str("] ");
    line.push_str(&text_from_fields(event, &fields));
    line
}

/// Escapes an SD-PARAM value as RFC 5424 section 6.3.3 requires: `"`, `\`
/// and `]` are preceded by a backslash.
pub fn escape_param_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    push_escaped(&mut out, value);
    out
}

fn push_escaped(out: &mut String, value: &str) {
    for c in value.chars() {
        if matches!(c, '"' | '\\' | ']') {
            out.push('\\');
        }
        out.push(c);
    }
}

// ---------------------------------------------------------------------------
// Name resolution
// ---------------------------------------------------------------------------

fn zone(names: &ApplyResult, id: ZoneId) -> String {
    names.zone_name(id).unwrap_or(NOT_AVAILABLE).to_string()
}

fn interface(names: &ApplyResult, id: InterfaceId) -> String {
    names
        .interface_name(id)
        .unwrap_or(NOT_AVAILABLE)
        .to_string()
}

fn application(names: &ApplyResult, id: AppId) -> String {
    if id.is_none() {
        return NO_APPLICATION.to_string();
    }
    names
        .app_names
        .get(&id)
        .map_or(NOT_AVAILABLE, String::as_str)
        .to_string()
}

fn policy(names: &ApplyResult, id: PolicyRuleId) -> String {
    if id.is_none() {
        return DEFAULT_POLICY_NAME.to_string();
    }
    names
        .policy_names
        .get(&id)
        .map_or(NOT_AVAILABLE, |p| p.policy.as_str())
        .to_string()
}

/// `(rule type, rule name)` of a NAT rule. `ApplyResult` keys rules as
/// `kind/rule-set/rule`; Junos prints the kind as a type and the bare rule
/// name.
fn nat_rule(names: &ApplyResult, id: NatRuleId) -> (String, String) {
    if id.is_none() {
        return (NOT_AVAILABLE.to_string(), NOT_AVAILABLE.to_string());
    }
    let Some(key) = names.nat_rule_name(id) else {
        return (NOT_AVAILABLE.to_string(), NOT_AVAILABLE.to_string());
    };
    let (kind, path) = key.split_once('/').unwrap_or(("", key));
    let rule_type = match kind {
        "source" => "source rule",
        "destination" => "destination rule",
        "static" => "static rule",
        _ => NOT_AVAILABLE,
    };
    let rule = path.rsplit('/').next().unwrap_or(path);
    (rule_type.to_string(), rule.to_string())
}

/// `(filter name, term name)` of a filter log event.
fn filter_and_term(names: &ApplyResult, filter: FilterId, term: FilterTermId) -> (String, String) {
    let Some(span) = names.filter_spans.iter().find(|s| s.filter == filter) else {
        return (NOT_AVAILABLE.to_string(), NOT_AVAILABLE.to_string());
    };
    // Term ids are the index into the flat term array plus one.
    let term_name = term
        .get()
        .checked_sub(1)
        .and_then(|index| index.checked_sub(span.rule_start))
        .filter(|&offset| offset < span.rule_count)
        .and_then(|offset| span.term_names.get(offset as usize))
        .map_or(NOT_AVAILABLE, String::as_str);
    (span.name.clone(), term_name.to_string())
}

// ---------------------------------------------------------------------------
// RT_FLOW
// ---------------------------------------------------------------------------

/// The fields shared by CREATE and CLOSE, from `source-address` to
/// `session-id-32`.
fn session_fields(fields: &mut Fields, e: &SessionOpenEvent, names: &ApplyResult) {
    let (src_nat_type, src_nat_rule) = nat_rule(names, e.nat_rule_src);
    let (dst_nat_type, dst_nat_rule) = nat_rule(names, e.nat_rule_dst);
    fields.extend([
        ("source-address", e.flow.src.to_string()),
        ("source-port", e.flow.src_port.to_string()),
        ("destination-address", e.flow.dst.to_string()),
        ("destination-port", e.flow.dst_port.to_string()),
        ("service-name", application(names, e.app)),
        ("nat-source-address", e.nat_src.to_string()),
        ("nat-source-port", e.nat_src_port.to_string()),
        ("nat-destination-address", e.nat_dst.to_string()),
        ("nat-destination-port", e.nat_dst_port.to_string()),
        ("src-nat-rule-type", src_nat_type),
        ("src-nat-rule-name", src_nat_rule),
        ("dst-nat-rule-type", dst_nat_type),
        ("dst-nat-rule-name", dst_nat_rule),
        ("protocol-id", e.flow.protocol.0.to_string()),
        ("policy-name", policy(names, e.policy_rule)),
        ("source-zone-name", zone(names, e.ingress_zone)),
        ("destination-zone-name", zone(names, e.egress_zone)),
        ("session-id-32", e.session_id.id32().to_string()),
    ]);
}

fn session_create_fields(e: &SessionOpenEvent, names: &ApplyResult) -> Fields {
    let mut fields = Vec::with_capacity(19);
    session_fields(&mut fields, e, names);
    fields.push((
        "packet-incoming-interface",
        interface(names, e.ingress_interface),
    ));
    fields
}

fn session_close_fields(e: &SessionCloseEvent, names: &ApplyResult) -> Fields {
    let mut fields = Vec::with_capacity(25);
    fields.push(("reason", e.reason.syslog_text().to_string()));
    session_fields(&mut fields, &e.open, names);
    fields.extend([
        ("packets-from-client", e.fwd.packets.to_string()),
        ("bytes-from-client", e.fwd.bytes.to_string()),
        ("packets-from-server", e.rev.packets.to_string()),
        ("bytes-from-server", e.rev.bytes.to_string()),
        ("elapsed-time", e.elapsed_secs().to_string()),
        (
            "packet-incoming-interface",
            interface(names, e.open.ingress_interface),
        ),
    ]);
    fields
}

fn deny_fields(e: &PolicyDenyEvent, names: &ApplyResult) -> Fields {
    let reason = if e.rejected {
        "policy reject"
    } else {
        "policy deny"
    };
    vec![
        ("source-address", e.flow.src.to_string()),
        ("source-port", e.flow.src_port.to_string()),
        ("destination-address", e.flow.dst.to_string()),
        ("destination-port", e.flow.dst_port.to_string()),
        ("service-name", application(names, e.app)),
        ("protocol-id", e.flow.protocol.0.to_string()),
        ("icmp-type", e.flow.icmp_type.unwrap_or(0).to_string()),
        ("policy-name", policy(names, e.policy_rule)),
        ("source-zone-name", zone(names, e.ingress_zone)),
        ("destination-zone-name", zone(names, e.egress_zone)),
        (
            "packet-incoming-interface",
            interface(names, e.ingress_interface),
        ),
        ("reason", reason.to_string()),
    ]
}

// ---------------------------------------------------------------------------
// RT_IDS
// ---------------------------------------------------------------------------

/// Which `RT_SCREEN_*` message a screen reports through; it decides the
/// fields printed.
#[derive(Clone, Copy, PartialEq, Eq)]
enum ScreenCategory {
    Tcp,
    Udp,
    Icmp,
    Ip,
    SessionLimit,
}

impl ScreenCategory {
    fn message_id(self) -> &'static str {
        match self {
            Self::Tcp => "RT_SCREEN_TCP",
            Self::Udp => "RT_SCREEN_UDP",
            Self::Icmp => "RT_SCREEN_ICMP",
            Self::Ip => "RT_SCREEN_IP",
            Self::SessionLimit => "RT_SCREEN_SESSION_LIMIT",
        }
    }

    fn has_ports(self) -> bool {
        matches!(self, Self::Tcp | Self::Udp | Self::SessionLimit)
    }

    fn has_protocol(self) -> bool {
        matches!(self, Self::Ip | Self::SessionLimit)
    }
}

fn screen_category(kind: ScreenKind) -> ScreenCategory {
    match kind {
        ScreenKind::Land
        | ScreenKind::SynFin
        | ScreenKind::TcpNoFlag
        | ScreenKind::FinNoAck
        | ScreenKind::WinNuke
        | ScreenKind::SynFrag
        | ScreenKind::SynFlood => ScreenCategory::Tcp,
        ScreenKind::UdpFlood => ScreenCategory::Udp,
        ScreenKind::PingOfDeath | ScreenKind::IcmpFlood => ScreenCategory::Icmp,
        ScreenKind::TearDrop | ScreenKind::SourceRoute => ScreenCategory::Ip,
        ScreenKind::SourceSessionLimit | ScreenKind::DestinationSessionLimit => {
            ScreenCategory::SessionLimit
        }
    }
}

/// The `attack-name` Junos prints for a screen.
fn attack_name(kind: ScreenKind) -> &'static str {
    match kind {
        ScreenKind::Land => "Land attack!",
        ScreenKind::SynFin => "SYN and FIN bits!",
        ScreenKind::TcpNoFlag => "No TCP flag!",
        ScreenKind::FinNoAck => "FIN but no ACK bit!",
        ScreenKind::WinNuke => "WinNuke attack!",
        ScreenKind::SynFrag => "SYN fragment!",
        ScreenKind::SynFlood => "SYN flood!",
        ScreenKind::UdpFlood => "UDP flood!",
        ScreenKind::PingOfDeath => "ICMP ping of death!",
        ScreenKind::IcmpFlood => "ICMP flood!",
        ScreenKind::TearDrop => "Teardrop attack!",
        ScreenKind::SourceRoute => "IP source route option!",
        ScreenKind::SourceSessionLimit => "Src IP session limit!",
        ScreenKind::DestinationSessionLimit => "Dst IP session limit!",
    }
}

fn screen_fields(e: &ScreenDropEvent, names: &ApplyResult) -> Fields {
    let category = screen_category(e.kind);
    let mut fields = Vec::with_capacity(9);
    fields.push(("attack-name", attack_name(e.kind).to_string()));
    fields.push(("source-address", e.flow.src.to_string()));
    if category.has_ports() {
        fields.push(("source-port", e.flow.src_port.to_string()));
    }
    fields.push(("destination-address", e.flow.dst.to_string()));
    if category.has_ports() {
        fields.push(("destination-port", e.flow.dst_port.to_string()));
    }
    if category.has_protocol() {
        fields.push(("protocol-id", e.flow.protocol.0.to_string()));
    }
    fields.extend([
        ("source-zone-name", zone(names, e.zone)),
        ("interface-name", interface(names, e.interface)),
        ("action", "drop".to_string()),
    ]);
    fields
}

// ---------------------------------------------------------------------------
// RT_FIREWALL
// ---------------------------------------------------------------------------

fn filter_log_fields(e: &FilterLogEvent, names: &ApplyResult) -> Fields {
    let (filter, term) = filter_and_term(names, e.filter, e.term);
    let action = match e.action {
        FilterLogAction::Accept => "accept",
        FilterLogAction::Discard => "discard",
        FilterLogAction::Reject => "reject",
    };
    let direction = match e.direction {
        FilterDirection::Input => "input",
        FilterDirection::Output => "output",
    };
    vec![
        ("filter-name", filter),
        ("term-name", term),
        ("action", action.to_string()),
        ("direction", direction.to_string()),
        ("interface-name", interface(names, e.interface)),
        ("protocol-id", e.flow.protocol.0.to_string()),
        ("source-address", e.flow.src.to_string()),
        ("source-port", e.flow.src_port.to_string()),
        ("destination-address", e.flow.dst.to_string()),
        ("destination-port", e.flow.dst_port.to_string()),
        ("icmp-type", e.flow.icmp_type.unwrap_or(0).to_string()),
    ]
}

// ---------------------------------------------------------------------------
// Free text
// ---------------------------------------------------------------------------

/// The value of `name` in `fields` (empty if absent, which the per-event
/// builders above never let happen for the names used here).
fn value<'f>(fields: &'f Fields, name: &str) -> &'f str {
    fields
        .iter()
        .find(|(n, _)| *n == name)
        .map_or("", |(_, v)| v.as_str())
}

/// Builds the free text from the already-resolved fields, so the text and
/// the structured data can never disagree.
fn text_from_fields(event: &Event, fields: &Fields) -> String {
    let v = |name| value(fields, name);
    match event {
        Event::SessionOpen(_) => format!(
            "session created {} {} {}",
            flow_text(fields, ""),
            nat_text(fields),
            v("packet-incoming-interface"),
        ),
        Event::SessionClose(_) => format!(
            "session closed {}: {} {} {}({}) {}({}) {} {}",
            v("reason"),
            flow_text(fields, ""),
            nat_text(fields),
            v("packets-from-client"),
            v("bytes-from-client"),
            v("packets-from-server"),
            v("bytes-from-server"),
            v("elapsed-time"),
            v("packet-incoming-interface"),
        ),
        Event::PolicyDeny(_) => format!(
            "session denied {} {}({}) {} {} {} {} {}",
            flow_text(fields, ""),
            v("protocol-id"),
            v("icmp-type"),
            v("policy-name"),
            v("source-zone-name"),
            v("destination-zone-name"),
            v("packet-incoming-interface"),
            v("reason"),
        ),
        Event::ScreenDrop(e) => screen_text(e.kind, fields),
        Event::FilterLog(e) => filter_text(e, fields),
    }
}

/// `src/port->dst/port service` with the given field prefix (`""` or `"nat-"`).
fn flow_text(fields: &Fields, prefix: &str) -> String {
    let v = |name: &str| value(fields, &format!("{prefix}{name}")).to_string();
    let mut text = format!(
        "{}/{}->{}/{}",
        v("source-address"),
        v("source-port"),
        v("destination-address"),
        v("destination-port"),
    );
    if prefix.is_empty() {
        text.push(' ');
        text.push_str(value(fields, "service-name"));
    }
    text
}

/// The part after the service name that CREATE and CLOSE share:
/// `nat-src/port->nat-dst/port src-type src-rule dst-type dst-rule protocol
/// policy from-zone to-zone session-id`.
fn nat_text(fields: &Fields) -> String {
    let v = |name| value(fields, name);
    format!(
        "{} {} {} {} {} {} {} {} {} {}",
        flow_text(fields, "nat-"),
        v("src-nat-rule-type"),
        v("src-nat-rule-name"),
        v("dst-nat-rule-type"),
        v("dst-nat-rule-name"),
        v("protocol-id"),
        v("policy-name"),
        v("source-zone-name"),
        v("destination-zone-name"),
        v("session-id-32"),
    )
}

fn screen_text(kind: ScreenKind, fields: &Fields) -> String {
    let v = |name| value(fields, name);
    let category = screen_category(kind);
    let (source, destination) = if category.has_ports() {
        (
            format!("{}:{}", v("source-address"), v("source-port")),
            format!("{}:{}", v("destination-address"), v("destination-port")),
        )
    } else {
        (
            v("source-address").to_string(),
            v("destination-address").to_string(),
        )
    };
    let protocol = if category.has_protocol() {
        format!(", protocol-id: {}", v("protocol-id"))
    } else {
        String::new()
    };
    format!(
        "{} source: {source}, destination: {destination}{protocol}, zone name: {}, interface name: {}, action: {}",
        v("attack-name"),
        v("source-zone-name"),
        v("interface-name"),
        v("action"),
    )
}

fn filter_text(e: &FilterLogEvent, fields: &Fields) -> String {
    let v = |name| value(fields, name);
    let action = match e.action {
        FilterLogAction::Accept => 'A',
        FilterLogAction::Discard => 'D',
        FilterLogAction::Reject => 'R',
    };
    format!(
        "FW: {} {action} {} {} {} {} {} (1 packets)",
        v("interface-name"),
        e.flow.protocol,
        v("source-address"),
        v("destination-address"),
        v("source-port"),
        v("destination-port"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apply::{FilterSpan, ManagedInterface, PolicyName};
    use crate::config::MacAddr;
    use std::net::IpAddr;
    use xpf_runtime::{
        AddressFamily, CloseReason, FlowTuple, IpProtocol, PacketCounters, RedundancyGroupId,
        SessionId,
    };

    const TRUST: ZoneId = ZoneId(1);
    const UNTRUST: ZoneId = ZoneId(2);
    const GE0: InterfaceId = InterfaceId(1);
    const GE1: InterfaceId = InterfaceId(2);
    const ALLOW_WEB: PolicyRuleId = PolicyRuleId(7);
    const DENY_LOG: PolicyRuleId = PolicyRuleId(9);
    const HTTPS: AppId = AppId(20);
    const SNAT_RULE: NatRuleId = NatRuleId(3);
    const DNAT_RULE: NatRuleId = NatRuleId(4);
    const STATIC_RULE: NatRuleId = NatRuleId(5);
    const PROTECT: FilterId = FilterId(2);

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn managed(name: &str, id: InterfaceId, zone: ZoneId) -> ManagedInterface {
        ManagedInterface {
            name: name.to_string(),
            id,
            zone,
            mac: MacAddr::default(),
            addresses: Vec::new(),
            vlan: None,
            redundancy_group: None,
        }
    }

    fn policy_name(scope: &str, policy: &str, application: &str) -> PolicyName {
        PolicyName {
            scope: scope.to_string(),
            policy: policy.to_string(),
            application: application.to_string(),
        }
    }

    /// A hand-built `ApplyResult` for a branch office.
    fn names() -> ApplyResult {
        let mut names = ApplyResult::default();
        names.zone_ids.insert("trust".into(), TRUST);
        names.zone_ids.insert("untrust".into(), UNTRUST);
        names.managed_interfaces = vec![
            managed("ge-0/0/0.0", GE0, UNTRUST),
            managed("ge-0/0/1.0", GE1, TRUST),
        ];
        names.policy_names.insert(
            ALLOW_WEB,
            policy_name("trust->untrust", "allow-web", "junos-https"),
        );
        names
            .policy_names
            .insert(DENY_LOG, policy_name("trust->untrust", "deny-log", "any"));
        names.app_names.insert(HTTPS, "junos-https".into());
        names.nat_counter_ids.insert(
            "source/trust-to-internet/staff-interface-nat".into(),
            SNAT_RULE,
        );
        names
            .nat_counter_ids
            .insert("destination/from-internet/https-to-web".into(), DNAT_RULE);
        names
            .nat_counter_ids
            .insert("static/published-servers/app-farm-1to1".into(), STATIC_RULE);
        names.filter_ids.insert("inet/protect-fw".into(), PROTECT);
        names.filter_spans = vec![
            FilterSpan {
                filter: FilterId(1),
                name: "count-only".into(),
                family: AddressFamily::Inet,
                rule_start: 0,
                rule_count: 1,
                term_names: vec!["count".into()],
            },
            FilterSpan {
                filter: PROTECT,
                name: "protect-fw".into(),
                family: AddressFamily::Inet,
                rule_start: 1,
                rule_count: 3,
                term_names: vec!["ssh-admins".into(), "ssh-others".into(), "transit".into()],
            },
        ];
        names
    }

    fn tcp(src: &str, sport: u16, dst: &str, dport: u16) -> FlowTuple {
        FlowTuple {
            src: ip(src),
            src_port: sport,
            dst: ip(dst),
            dst_port: dport,
            protocol: IpProtocol::TCP,
            icmp_type: None,
        }
    }

    /// trust host 198.18.10.23 browsing to 198.19.80.5, source-NATed to
    /// the untrust interface.
    fn open() -> SessionOpenEvent {
        SessionOpenEvent {
            time_ns: 1_000_000_000,
            session_id: SessionId::compose(1, 0x1_0000_0123),
            flow: tcp("198.18.10.23", 50123, "198.19.80.5", 443),
            nat_src: ip("198.19.10.2"),
            nat_src_port: 20001,
            nat_dst: ip("198.19.80.5"),
            nat_dst_port: 443,
            nat_rule_src: SNAT_RULE,
            nat_rule_dst: NatRuleId::NONE,
            policy_rule: ALLOW_WEB,
            app: HTTPS,
            ingress_zone: TRUST,
            egress_zone: UNTRUST,
            ingress_interface: GE1,
            owner_rg: RedundancyGroupId::NONE,
        }
    }

    #[test]
    fn session_create_line() {
        let event = Event::SessionOpen(open());
        assert_eq!(
            format_event(&event, &names()),
            "RT_FLOW - RT_FLOW_SESSION_CREATE [junos@2636.1.1.1.2.129 \
             source-address=\"198.18.10.23\" source-port=\"50123\" \
             destination-address=\"198.19.80.5\" destination-port=\"443\" \
             service-name=\"junos-https\" nat-source-address=\"198.19.10.2\" \
             nat-source-port=\"20001\" nat-destination-address=\"198.19.80.5\" \
             nat-destination-port=\"443\" src-nat-rule-type=\"source rule\" \
             src-nat-rule-name=\"staff-interface-nat\" dst-nat-rule-type=\"N/A\" \
             dst-nat-rule-name=\"N/A\" protocol-id=\"6\" policy-name=\"allow-web\" \
             source-zone-name=\"trust\" destination-zone-name=\"untrust\" \
             session-id-32=\"291\" packet-incoming-interface=\"ge-0/0/1.0\"] \
             session created 198.18.10.23/50123->198.19.80.5/443 junos-https \
             198.19.10.2/20001->198.19.80.5/443 source rule staff-interface-nat N/A N/A \
             6 allow-web trust untrust 291 ge-0/0/1.0"
        );
        assert_eq!(app_name(&event), "RT_FLOW");
        assert_eq!(message_id(&event), "RT_FLOW_SESSION_CREATE");
    }

    #[test]
    fn session_close_line_has_reason_counters_and_elapsed_time() {
        let event = Event::SessionClose(SessionCloseEvent {
            open: open(),
            time_ns: 1_000_000_000 + 75_900_000_000,
            reason: CloseReason::TcpFin,
            fwd: PacketCounters {
                packets: 12,
                bytes: 1840,
            },
            rev: PacketCounters {
                packets: 10,
                bytes: 9120,
            },
        });
        assert_eq!(
            format_event(&event, &names()),
            "RT_FLOW - RT_FLOW_SESSION_CLOSE [junos@2636.1.1.1.2.129 reason=\"TCP FIN\" \
             source-address=\"198.18.10.23\" source-port=\"50123\" \
             destination-address=\"198.19.80.5\" destination-port=\"443\" \
             service-name=\"junos-https\" nat-source-address=\"198.19.10.2\" \
             nat-source-port=\"20001\" nat-destination-address=\"198.19.80.5\" \
             nat-destination-port=\"443\" src-nat-rule-type=\"source rule\" \
             src-nat-rule-name=\"staff-interface-nat\" dst-nat-rule-type=\"N/A\" \
             dst-nat-rule-name=\"N/A\" protocol-id=\"6\" policy-name=\"allow-web\" \
             source-zone-name=\"trust\" destination-zone-name=\"untrust\" \
             session-id-32=\"291\" packets-from-client=\"12\" bytes-from-client=\"1840\" \
             packets-from-server=\"10\" bytes-from-server=\"9120\" elapsed-time=\"75\" \
             packet-incoming-interface=\"ge-0/0/1.0\"] \
             session closed TCP FIN: 198.18.10.23/50123->198.19.80.5/443 junos-https \
             198.19.10.2/20001->198.19.80.5/443 source rule staff-interface-nat N/A N/A \
             6 allow-web trust untrust 291 12(1840) 10(9120) 75 ge-0/0/1.0"
        );
    }

    #[test]
    fn close_reasons_use_the_junos_text() {
        for (reason, text) in [
            (CloseReason::IdleTimeout, "idle Timeout"),
            (CloseReason::TcpRst, "TCP RST"),
            (CloseReason::Admin, "Clear-session"),
        ] {
            let event = Event::SessionClose(SessionCloseEvent {
                open: open(),
                time_ns: open().time_ns,
                reason,
                fwd: PacketCounters::default(),
                rev: PacketCounters::default(),
            });
            let fields = fields(&event, &names());
            assert_eq!(fields[0], ("reason", text.to_string()));
            assert!(
                message_text(&event, &names()).starts_with(&format!("session closed {text}: ")),
                "{reason:?}"
            );
        }
    }

    #[test]
    fn destination_and_static_nat_rules_show_their_type() {
        let mut inbound = open();
        inbound.flow = tcp("198.19.66.1", 40000, "198.19.0.10", 443);
        inbound.nat_src = inbound.flow.src;
        inbound.nat_src_port = 40000;
        inbound.nat_dst = ip("198.18.2.10");
        inbound.nat_dst_port = 8443;
        inbound.nat_rule_src = NatRuleId::NONE;
        inbound.nat_rule_dst = DNAT_RULE;
        let fields = fields(&Event::SessionOpen(inbound), &names());
        let get = |name| value(&fields, name).to_string();
        assert_eq!(get("src-nat-rule-type"), "N/A");
        assert_eq!(get("dst-nat-rule-type"), "destination rule");
        assert_eq!(get("dst-nat-rule-name"), "https-to-web");
        assert_eq!(get("nat-destination-port"), "8443");

        inbound.nat_rule_dst = STATIC_RULE;
        let fields = super::fields(&Event::SessionOpen(inbound), &names());
        assert_eq!(value(&fields, "dst-nat-rule-type"), "static rule");
        assert_eq!(value(&fields, "dst-nat-rule-name"), "app-farm-1to1");
    }

    #[test]
    fn policy_deny_line() {
        let event = Event::PolicyDeny(PolicyDenyEvent {
            time_ns: 5,
            flow: tcp("198.18.10.23", 50200, "198.19.66.9", 23),
            policy_rule: DENY_LOG,
            app: AppId(99),
            ingress_zone: TRUST,
            egress_zone: UNTRUST,
            ingress_interface: GE1,
            rejected: false,
        });
        assert_eq!(
            format_event(&event, &names()),
            "RT_FLOW - RT_FLOW_SESSION_DENY [junos@2636.1.1.1.2.129 \
             source-address=\"198.18.10.23\" source-port=\"50200\" \
             destination-address=\"198.19.66.9\" destination-port=\"23\" \
             service-name=\"N/A\" protocol-id=\"6\" icmp-type=\"0\" policy-name=\"deny-log\" \
             source-zone-name=\"trust\" destination-zone-name=\"untrust\" \
             packet-incoming-interface=\"ge-0/0/1.0\" reason=\"policy deny\"] \
             session denied 198.18.10.23/50200->198.19.66.9/23 N/A 6(0) deny-log trust untrust \
             ge-0/0/1.0 policy deny"
        );
    }

    #[test]
    fn default_policy_reject_of_icmpv6_is_marked() {
        let event = Event::PolicyDeny(PolicyDenyEvent {
            time_ns: 5,
            flow: FlowTuple {
                src: ip("2001:db8:66::1"),
                src_port: 4242,
                dst: ip("2001:db8:2a00:21::10"),
                dst_port: 4242,
                protocol: IpProtocol::ICMPV6,
                icmp_type: Some(128),
            },
            policy_rule: PolicyRuleId::NONE,
            app: AppId::NONE,
            ingress_zone: UNTRUST,
            egress_zone: TRUST,
            ingress_interface: GE0,
            rejected: true,
        });
        assert_eq!(
            message_text(&event, &names()),
            "session denied 2001:db8:66::1/4242->2001:db8:2a00:21::10/4242 None 58(128) \
             default-policy untrust trust ge-0/0/0.0 policy reject"
        );
        let fields = fields(&event, &names());
        assert!(fields.contains(&("policy-name", "default-policy".to_string())));
        assert!(fields.contains(&("reason", "policy reject".to_string())));
    }

    #[test]
    fn screen_lines_follow_the_junos_layout_per_category() {
        let syn_flood = Event::ScreenDrop(ScreenDropEvent {
            time_ns: 1,
            kind: ScreenKind::SynFlood,
            flow: tcp("198.19.66.1", 1025, "198.18.10.80", 80),
            zone: UNTRUST,
            interface: GE0,
        });
        assert_eq!(
            format_event(&syn_flood, &names()),
            "RT_IDS - RT_SCREEN_TCP [junos@2636.1.1.1.2.129 attack-name=\"SYN flood!\" \
             source-address=\"198.19.66.1\" source-port=\"1025\" \
             destination-address=\"198.18.10.80\" destination-port=\"80\" \
             source-zone-name=\"untrust\" interface-name=\"ge-0/0/0.0\" action=\"drop\"] \
             SYN flood! source: 198.19.66.1:1025, destination: 198.18.10.80:80, \
             zone name: untrust, interface name: ge-0/0/0.0, action: drop"
        );

        let tear_drop = Event::ScreenDrop(ScreenDropEvent {
            time_ns: 1,
            kind: ScreenKind::TearDrop,
            flow: FlowTuple {
                protocol: IpProtocol::UDP,
                ..tcp("198.19.66.2", 0, "198.18.10.80", 0)
            },
            zone: UNTRUST,
            interface: GE0,
        });
        assert_eq!(app_name(&tear_drop), "RT_IDS");
        assert_eq!(message_id(&tear_drop), "RT_SCREEN_IP");
        assert_eq!(
            message_text(&tear_drop, &names()),
            "Teardrop attack! source: 198.19.66.2, destination: 198.18.10.80, \
             protocol-id: 17, zone name: untrust, interface name: ge-0/0/0.0, action: drop"
        );

        let icmp_flood = Event::ScreenDrop(ScreenDropEvent {
            time_ns: 1,
            kind: ScreenKind::IcmpFlood,
            flow: FlowTuple {
                protocol: IpProtocol::ICMP,
                icmp_type: Some(8),
                ..tcp("198.19.66.3", 7, "198.18.10.1", 7)
            },
            zone: UNTRUST,
            interface: GE0,
        });
        assert_eq!(message_id(&icmp_flood), "RT_SCREEN_ICMP");
        let names_only: Vec<_> = fields(&icmp_flood, &names())
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        assert_eq!(
            names_only,
            [
                "attack-name",
                "source-address",
                "destination-address",
                "source-zone-name",
                "interface-name",
                "action"
            ]
        );

        let limit = Event::ScreenDrop(ScreenDropEvent {
            time_ns: 1,
            kind: ScreenKind::SourceSessionLimit,
            flow: tcp("198.19.66.4", 3333, "198.18.10.80", 443),
            zone: UNTRUST,
            interface: GE0,
        });
        assert_eq!(message_id(&limit), "RT_SCREEN_SESSION_LIMIT");
        assert_eq!(
            message_text(&limit, &names()),
            "Src IP session limit! source: 198.19.66.4:3333, destination: 198.18.10.80:443, \
             protocol-id: 6, zone name: untrust, interface name: ge-0/0/0.0, action: drop"
        );
    }

    #[test]
    fn filter_log_line() {
        let event = Event::FilterLog(FilterLogEvent {
            time_ns: 1,
            filter: PROTECT,
            // Flat index 2 = the second term of protect-fw (rule_start 1).
            term: FilterTermId(3),
            action: FilterLogAction::Reject,
            direction: FilterDirection::Input,
            flow: tcp("198.19.66.1", 40000, "198.19.10.2", 22),
            interface: GE0,
        });
        assert_eq!(
            format_event(&event, &names()),
            "RT_FIREWALL - RT_FIREWALL_LOG [junos@2636.1.1.1.2.129 filter-name=\"protect-fw\" \
             term-name=\"ssh-others\" action=\"reject\" direction=\"input\" \
             interface-name=\"ge-0/0/0.0\" protocol-id=\"6\" source-address=\"198.19.66.1\" \
             source-port=\"40000\" destination-address=\"198.19.10.2\" destination-port=\"22\" \
             icmp-type=\"0\"] FW: ge-0/0/0.0 R tcp 198.19.66.1 198.19.10.2 40000 22 (1 packets)"
        );
    }

    #[test]
    fn filter_terms_outside_their_filter_span_are_not_misnamed() {
        let mut event = FilterLogEvent {
            time_ns: 1,
            filter: PROTECT,
            term: FilterTermId(1), // belongs to count-only, not protect-fw
            action: FilterLogAction::Discard,
            direction: FilterDirection::Output,
            flow: tcp("198.19.66.1", 1, "198.18.10.1", 2),
            interface: GE1,
        };
        let fields = fields(&Event::FilterLog(event), &names());
        assert_eq!(value(&fields, "filter-name"), "protect-fw");
        assert_eq!(value(&fields, "term-name"), "N/A");
        for bad in [FilterTermId::NONE, FilterTermId(5), FilterTermId(u32::MAX)] {
            event.term = bad;
            let fields = super::fields(&Event::FilterLog(event), &names());
            assert_eq!(value(&fields, "term-name"), "N/A", "{bad}");
        }
        event.filter = FilterId(42);
        let fields = super::fields(&Event::FilterLog(event), &names());
        assert_eq!(value(&fields, "filter-name"), "N/A");
        assert_eq!(value(&fields, "term-name"), "N/A");
    }

    #[test]
    fn unknown_ids_render_as_not_available() {
        let empty = ApplyResult::default();
        let mut e = open();
        e.policy_rule = PolicyRuleId(12345);
        e.nat_rule_dst = NatRuleId(77);
        let event = Event::SessionOpen(e);
        let fields = fields(&event, &empty);
        for name in [
            "service-name",
            "src-nat-rule-type",
            "src-nat-rule-name",
            "dst-nat-rule-type",
            "dst-nat-rule-name",
            "policy-name",
            "source-zone-name",
            "destination-zone-name",
            "packet-incoming-interface",
        ] {
            assert_eq!(value(&fields, name), NOT_AVAILABLE, "{name}");
        }
        // Every event kind formats against an empty ApplyResult.
        for event in [
            event,
            Event::ScreenDrop(ScreenDropEvent {
                time_ns: 0,
                kind: ScreenKind::Land,
                flow: tcp("198.18.0.1", 1, "198.18.0.1", 1),
                zone: ZoneId(9),
                interface: InterfaceId(9),
            }),
        ] {
            assert!(format_event(&event, &empty).contains("N/A"));
        }
    }

    #[test]
    fn param_values_are_escaped_and_text_is_not() {
        let mut names = names();
        names.policy_names.insert(
            ALLOW_WEB,
            policy_name("trust->untrust", r#"odd"name\with]"#, "any"),
        );
        let line = format_event(&Event::SessionOpen(open()), &names);
        assert!(
            line.contains(r#"policy-name="odd\"name\\with\]""#),
            "{line}"
        );
        assert!(
            line.ends_with(r#"6 odd"name\with] trust untrust 291 ge-0/0/1.0"#),
            "{line}"
        );
        assert_eq!(escape_param_value(r#"a"b\c]d"#), r#"a\"b\\c\]d"#);
    }

    #[test]
    fn every_screen_kind_has_a_message() {
        use ScreenKind::*;
        for kind in [
            Land,
            SynFin,
            TcpNoFlag,
            FinNoAck,
            WinNuke,
            PingOfDeath,
            TearDrop,
            SourceRoute,
            SynFrag,
            SynFlood,
            IcmpFlood,
            UdpFlood,
            SourceSessionLimit,
            DestinationSessionLimit,
        ] {
            assert!(attack_name(kind).ends_with('!'), "{kind:?}");
            assert!(screen_category(kind).message_id().starts_with("RT_SCREEN_"));
        }
    }
}
