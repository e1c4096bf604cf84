//! Proptest generators: structured, readable descriptions of a network
//! ([`NetSpec`], rendered to config TOML by [`NetSpec::config_toml`]) and of
//! traffic ([`Step`]s over [`FlowSpec`]s, rendered to bytes at run time by
//! [`crate::run`]). Shrinking works on the descriptions, so a minimal
//! failing case reads as "these flows, these packets".
//!
//! Addresses: interface `k` (1-based) owns 198.18.k.0/24 and
//! 2001:db8:k::/64 (firewall .1 / ::1, hosts .10 / .11), a remote network
//! 198.19.k.0/24 and 2001:db8:1k::/64 behind gateway .254 / ::fe; NAT
//! publics live in 198.19.100-200.x. Only 198.18.0.0/15 and 2001:db8::/32.

use proptest::prelude::*;
use serde::{Deserialize, Serialize};
use std::fmt::Write;

/// One interface.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IfSpec {
    /// Zone index.
    pub zone: usize,
    /// 802.1Q unit.
    pub vlan: bool,
    /// Static neighbour for host .11 present.
    pub host11_neighbour: bool,
    /// Member of redundancy group 1 (with [`NetSpec::ha`]).
    #[serde(default)]
    pub rg1: bool,
}

/// One zone.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ZoneSpec {
    /// Host-inbound ping.
    pub ping: bool,
    /// Host-inbound ssh.
    pub ssh: bool,
    /// RST for unmatched non-SYN TCP.
    pub tcp_rst: bool,
    /// Loose TCP window checking.
    pub loose: bool,
    /// Traffic entering the zone passes the screen profile `ids1`
    /// (`NetSpec::screen`, when there is one).
    #[serde(default)]
    pub screen: bool,
}

/// One term of the generated filters (the same terms make `f4`, family
/// inet, and `f6`, family inet6).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TermSpec {
    /// 0 any, 1 tcp, 2 udp, 3 icmp / icmp6.
    pub proto: u8,
    /// Destination port condition.
    pub dport: Option<u16>,
    /// Source address: interface k's LAN.
    pub src_lan: Option<usize>,
    /// TCP flags `syn & !ack`.
    pub syn_only: bool,
    /// 0 accept, 1 discard, 2 reject, 3 next-term.
    pub action: u8,
    /// Log.
    pub log: bool,
    /// Count (named counter).
    pub count: bool,
    /// Police with `p1` (`FilterSpec::policer`, when there is one).
    #[serde(default)]
    pub policed: bool,
}

/// Firewall filters `f4` / `f6` and where they are bound.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FilterSpec {
    /// Terms in order.
    pub terms: Vec<TermSpec>,
    /// A final catch-all accept (else the implicit discard ends the filter).
    pub accept_rest: bool,
    /// Interfaces (bit k-1) with the filters as input.
    pub input: u8,
    /// Interfaces (bit k-1) with the filters as output.
    pub output: u8,
    /// Policer `p1`: single rate 1,000 B/s with a burst of `burst` bytes,
    /// or (`two_rate`) two rate CIR 500 B/s / CBS `burst` bytes, PIR
    /// 2,000 B/s / PBS 2 × `burst` bytes.
    #[serde(default)]
    pub policer: Option<PolicerSpec>,
}

/// The one generated policer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicerSpec {
    /// Two-rate three-colour instead of single-rate.
    pub two_rate: bool,
    /// Committed burst, bytes.
    pub burst: u32,
}

/// The stateless checks of the one screen profile `ids1`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScreenSpec {
    /// TCP SYN with source = destination.
    pub land: bool,
    /// TCP SYN+FIN.
    pub syn_fin: bool,
    /// TCP without flags.
    pub tcp_no_flag: bool,
    /// TCP FIN without ACK.
    pub fin_no_ack: bool,
    /// TCP URG to port 139.
    pub winnuke: bool,
    /// IPv4 source-route options.
    pub source_route: bool,
    /// The fragment checks (syn-frag, ping-death, tear-drop).
    pub fragment_checks: bool,
    /// SYN flood threshold, packets per second per zone.
    #[serde(default)]
    pub syn_flood: Option<u32>,
    /// ICMP flood threshold.
    #[serde(default)]
    pub icmp_flood: Option<u32>,
    /// UDP flood threshold.
    #[serde(default)]
    pub udp_flood: Option<u32>,
    /// Per-source session limit.
    #[serde(default)]
    pub source_limit: Option<u32>,
    /// Per-destination session limit.
    #[serde(default)]
    pub destination_limit: Option<u32>,
}

/// An address-book reference a policy side uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AddrRef {
    /// `any`.
    Any,
    /// The LAN (both families) of interface k.
    Lan(usize),
    /// Host .10 of interface k.
    Host(usize),
}

/// A policy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicySpec {
    /// Global (from/to lists) instead of a zone pair.
    pub global: bool,
    /// From zone.
    pub from: usize,
    /// To zone.
    pub to: usize,
    /// Source.
    pub src: AddrRef,
    /// Destination.
    pub dst: AddrRef,
    /// Application name.
    pub app: String,
    /// permit / deny / reject.
    pub action: String,
    /// Log at init.
    pub log_init: bool,
    /// Log at close.
    pub log_close: bool,
    /// Count.
    pub count: bool,
    /// Only while the generated scheduler is active.
    #[serde(default)]
    pub scheduled: bool,
}

/// The scheduler `s1` scheduled policies use. Scenarios start Monday
/// 2026-11-23 10:00 UTC and usually last a few minutes, so edges sit in
/// 10:00-10:04.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SchedSpec {
    /// Window start, minutes past 10:00.
    pub start: u8,
    /// Window stop, minutes past 10:00 (never equal to `start`; earlier
    /// means the window crosses midnight).
    pub stop: u8,
    /// Mondays only instead of daily.
    pub monday: bool,
    /// A date range `[10:a, 10:b)` on 2026-11-23 as well.
    pub dates: Option<(u8, u8)>,
}

/// Source NAT.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnatSpec {
    /// From zone.
    pub from: usize,
    /// To zone.
    pub to: usize,
    /// Interface NAT instead of a pool.
    pub interface: bool,
    /// Pool addresses (198.19.200.1..).
    pub addresses: u8,
    /// Pool ports (from 1024).
    pub ports: u16,
    /// Port overloading.
    pub overload: bool,
    /// Persistent NAT.
    pub persistent: bool,
    /// Address persistence.
    pub address_persistent: bool,
}

/// Destination NAT: 198.19.100.1 (port 80) in `from` → host .10 of `to_if`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DnatSpec {
    /// From zone.
    pub from: usize,
    /// Interface of the internal host.
    pub to_if: usize,
    /// Translated port.
    pub port: Option<u16>,
}

/// Static NAT: 198.19.150.11 ↔ host .11 of `to_if`, inbound from `from`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StaticSpec {
    /// From zone.
    pub from: usize,
    /// Interface of the private host.
    pub to_if: usize,
}

/// A whole generated network.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetSpec {
    /// Zones.
    pub zones: Vec<ZoneSpec>,
    /// Interfaces.
    pub interfaces: Vec<IfSpec>,
    /// Policies in order.
    pub policies: Vec<PolicySpec>,
    /// Default permit instead of deny.
    pub default_permit: bool,
    /// Source NAT.
    pub snat: Option<SnatSpec>,
    /// Destination NAT.
    pub dnat: Option<DnatSpec>,
    /// Static NAT.
    pub static_nat: Option<StaticSpec>,
    /// Timeouts: tcp-initial, tcp-established, tcp-closing, tcp-time-wait, udp, icmp.
    pub timeouts: [u32; 6],
    /// Session capacity.
    pub capacity: u32,
    /// TCP MSS clamp.
    pub mss: Option<u16>,
    /// The scheduler scheduled policies use.
    #[serde(default)]
    pub schedule: Option<SchedSpec>,
    /// Chassis cluster: node 0 with redundancy group 1 (interfaces with
    /// `rg1` belong to it).
    #[serde(default)]
    pub ha: bool,
    /// The screen profile `ids1` zones with `screen` use.
    #[serde(default)]
    pub screen: Option<ScreenSpec>,
    /// Firewall filters.
    #[serde(default)]
    pub filters: Option<FilterSpec>,
}

/// Config variants for re-applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Variant {
    /// The generated config.
    Base,
    /// Every permit becomes deny (rematch closes sessions).
    DenyAll,
    /// No NAT at all.
    NoNat,
    /// Invalid: a policy names an unknown address (must be rejected).
    Invalid,
}

fn addr_name(a: AddrRef) -> String {
    match a {
        AddrRef::Any => "any".into(),
        AddrRef::Lan(k) => format!("lan{k}"),
        AddrRef::Host(k) => format!("host{k}"),
    }
}

/// The MAC of interface `k`.
pub fn if_mac(k: usize) -> [u8; 6] {
    [2, 0, 0, 0, 0, k as u8]
}

/// The MAC of host `.h` on interface `k` (gateways use h = 254).
pub fn host_mac(k: usize, h: u8) -> [u8; 6] {
    [2, 0, 0, 0, k as u8, h]
}

impl NetSpec {
    /// The config TOML of `variant`.
    pub fn config_toml(&self, variant: Variant) -> String {
        let mut t = String::new();
        let n = self.interfaces.len();
        for (i, f) in self.interfaces.iter().enumerate() {
            let k = i + 1;
            let _ = writeln!(
                t,
                "[[interfaces]]\nname = \"ge-{k}\"\nzone = \"z{}\"",
                f.zone
            );
            let _ = writeln!(t, "mac = \"02:00:00:00:00:{k:02x}\"");
            let _ = writeln!(
                t,
                "addresses = [\"198.18.{k}.1/24\", \"2001:db8:{k}::1/64\"]"
            );
            if f.vlan {
                let _ = writeln!(t, "vlan = {}", k * 10);
            }
            if self.ha && f.rg1 {
                t.push_str("redundancy-group = 1\n");
            }
            if let Some(fs) = &self.filters {
                let bit = 1u8 << i;
                let mut b = Vec::new();
                if fs.input & bit != 0 {
                    b.push("input = \"f4\", input6 = \"f6\"");
                }
                if fs.output & bit != 0 {
                    b.push("output = \"f4\", output6 = \"f6\"");
                }
                if !b.is_empty() {
                    let _ = writeln!(t, "filter = {{ {} }}", b.join(", "));
                }
            }
        }
        if let Some(p) = self.filters.as_ref().and_then(|f| f.policer) {
            if p.two_rate {
                let _ = writeln!(
                    t,
                    "[[firewall.policers]]\nname = \"p1\"\ntype = \"two-rate\"\ncommitted-information-rate = 4000\ncommitted-burst-size = {}\npeak-information-rate = 16000\npeak-burst-size = {}",
                    p.burst,
                    2 * p.burst
                );
            } else {
                let _ = writeln!(
                    t,
                    "[[firewall.policers]]\nname = \"p1\"\ntype = \"single-rate\"\nbandwidth-limit = 8000\nburst-size-limit = {}",
                    p.burst
                );
            }
        }
        if let Some(fs) = &self.filters {
            for (name, v6) in [("f4", false), ("f6", true)] {
                let _ = writeln!(
                    t,
                    "[[firewall.filters]]\nname = \"{name}\"\nfamily = \"{}\"",
                    if v6 { "inet6" } else { "inet" }
                );
                for (j, term) in fs.terms.iter().enumerate() {
                    let mut from = Vec::new();
                    match term.proto {
                        1 => from.push("protocol = [\"tcp\"]".to_string()),
                        2 => from.push("protocol = [\"udp\"]".to_string()),
                        3 => from.push(format!(
                            "protocol = [\"{}\"]",
                            if v6 { "icmp6" } else { "icmp" }
                        )),
                        _ => {}
                    }
                    if let Some(p) = term.dport {
                        from.push(format!("destination-port = [\"{p}\"]"));
                    }
                    if let Some(k) = term.src_lan {
                        from.push(if v6 {
                            format!("source-address = [\"2001:db8:{k}::/64\"]")
                        } else {
                            format!("source-address = [\"198.18.{k}.0/24\"]")
                        });
                    }
                    if term.syn_only {
                        from.push("tcp-flags = \"syn & !ack\"".to_string());
                    }
                    let action =
                        ["accept", "discard", "reject", "next-term"][usize::from(term.action % 4)];
                    let count = if term.count {
                        format!(", count = \"c{j}\"")
                    } else {
                        String::new()
                    };
                    let policer = if term.policed && fs.policer.is_some() {
                        ", policer = \"p1\""
                    } else {
                        ""
                    };
                    let _ = writeln!(
                        t,
                        "[[firewall.filters.terms]]\nname = \"t{j}\"\nfrom = {{ {} }}\nthen = {{ action = \"{action}\", log = {}{count}{policer} }}",
                        from.join(", "),
                        term.log
                    );
                }
                if fs.accept_rest {
                    t.push_str("[[firewall.filters.terms]]\nname = \"rest\"\nthen = { action = \"accept\" }\n");
                }
            }
        }
        for (z, spec) in self.zones.iter().enumerate() {
            let mut svc = Vec::new();
            if spec.ping {
                svc.push("\"ping\"");
            }
            if spec.ssh {
                svc.push("\"ssh\"");
            }
            let _ = writeln!(t, "[[zones]]\nname = \"z{z}\"\ntcp-rst = {}", spec.tcp_rst);
            if spec.screen && self.screen.is_some() {
                t.push_str("screen = \"ids1\"\n");
            }
            let _ = writeln!(
                t,
                "tcp-window-check = \"{}\"",
                if spec.loose { "loose" } else { "strict" }
            );
            let _ = writeln!(
                t,
                "host-inbound-traffic = {{ system-services = [{}] }}",
                svc.join(", ")
            );
        }
        t.push_str("[address-book]\naddresses = [\n");
        for k in 1..=n {
            let _ = writeln!(
                t,
                "  {{ name = \"net{k}\", prefix = \"198.18.{k}.0/24\" }},"
            );
            let _ = writeln!(
                t,
                "  {{ name = \"net6-{k}\", prefix = \"2001:db8:{k}::/64\" }},"
            );
            let _ = writeln!(
                t,
                "  {{ name = \"host{k}\", prefix = \"198.18.{k}.10/32\" }},"
            );
        }
        t.push_str("]\naddress-sets = [\n");
        for k in 1..=n {
            let _ = writeln!(
                t,
                "  {{ name = \"lan{k}\", addresses = [\"net{k}\", \"net6-{k}\"] }},"
            );
        }
        t.push_str("]\n");
        t.push_str(
            "[[applications.applications]]\nname = \"app-tcp\"\nprotocol = \"tcp\"\ndestination-port = \"8000-8010\"\n\
             [[applications.applications]]\nname = \"app-udp\"\nprotocol = \"udp\"\ndestination-port = \"5000-5010\"\ninactivity-timeout = 7\n",
        );
        if let Some(sc) = &self.schedule {
            let _ = writeln!(
                t,
                "[[schedulers]]\nname = \"s1\"\n[[schedulers.windows]]\nstart = \"10:{:02}\"\nstop = \"10:{:02}\"",
                sc.start, sc.stop
            );
            if sc.monday {
                t.push_str("days = [\"monday\"]\n");
            }
            if let Some((a, b)) = sc.dates {
                let _ = writeln!(
                    t,
                    "[[schedulers.date-ranges]]\nstart = \"2026-11-23T10:{a:02}\"\nstop = \"2026-11-23T10:{b:02}\""
                );
            }
        }
        let mut pairs: Vec<(usize, usize)> = Vec::new();
        for p in self.policies.iter().filter(|p| !p.global) {
            if !pairs.contains(&(p.from, p.to)) {
                pairs.push((p.from, p.to));
            }
        }
        let policy = |t: &mut String, i: usize, p: &PolicySpec| {
            let action = match (variant, p.action.as_str()) {
                (Variant::DenyAll, "permit") => "deny",
                (_, a) => a,
            };
            let src = if variant == Variant::Invalid && i == 0 {
                "nope".to_string()
            } else {
                addr_name(p.src)
            };
            let zones =
                if p.global && p.src == AddrRef::Any && p.dst == AddrRef::Any && p.app == "any" {
                    String::new()
                } else if p.global {
                    format!(", from-zone = [\"z{}\"], to-zone = [\"z{}\"]", p.from, p.to)
                } else {
                    String::new()
                };
            let scheduler = if p.scheduled && self.schedule.is_some() {
                "scheduler = \"s1\"\n"
            } else {
                ""
            };
            let _ = writeln!(
                t,
                "name = \"p{i}\"\n{scheduler}match = {{ source-address = [\"{src}\"], destination-address = [\"{}\"], application = [\"{}\"]{zones} }}",
                addr_name(p.dst),
                p.app
            );
            let _ = writeln!(
                t,
                "then = {{ action = \"{action}\", log = {{ session-init = {}, session-close = {} }}, count = {} }}",
                p.log_init, p.log_close, p.count
            );
        };
        for (from, to) in &pairs {
            let _ = writeln!(
                t,
                "[[security.policies]]\nfrom-zone = \"z{from}\"\nto-zone = \"z{to}\""
            );
            for (i, p) in self.policies.iter().enumerate() {
                if !p.global && (p.from, p.to) == (*from, *to) {
                    t.push_str("[[security.policies.policies]]\n");
                    policy(&mut t, i, p);
                }
            }
        }
        for (i, p) in self.policies.iter().enumerate() {
            if p.global {
                t.push_str("[[security.global-policies]]\n");
                policy(&mut t, i, p);
            }
        }
        if variant == Variant::Invalid && self.policies.is_empty() {
            t.push_str("[[security.global-policies]]\nname = \"bad\"\nmatch = { source-address = [\"nope\"] }\nthen = { action = \"permit\" }\n");
        }
        let nat = variant != Variant::NoNat;
        if let Some(s) = self.snat.as_ref().filter(|_| nat) {
            if !s.interface {
                let last = s.addresses.max(1);
                let _ = writeln!(
                    t,
                    "[[security.nat.source.pools]]\nname = \"pool1\"\naddresses = [{{ from = \"198.19.200.1\", to = \"198.19.200.{last}\" }}]\nport-range = \"1024-{}\"\nport-overload = \"{}\"\npersistent = {}\naddress-persistent = {}",
                    1023 + s.ports.max(1),
                    if s.overload { "on" } else { "off" },
                    s.persistent,
                    s.address_persistent
                );
            }
            let _ = writeln!(
                t,
                "[[security.nat.source.rule-sets]]\nname = \"out\"\nfrom = {{ zone = [\"z{}\"] }}\nto = {{ zone = [\"z{}\"] }}\n[[security.nat.source.rule-sets.rules]]\nname = \"r1\"\nmatch = {{ source-address = [\"198.18.0.0/16\"] }}",
                s.from, s.to
            );
            if s.interface {
                t.push_str("then = \"interface\"\n");
            } else {
                t.push_str("then = { pool = \"pool1\" }\n");
            }
        }
        if let Some(d) = self.dnat.as_ref().filter(|_| nat) {
            let _ = writeln!(
                t,
                "[[security.nat.destination.pools]]\nname = \"web\"\naddress = \"198.18.{}.10\"",
                d.to_if + 1
            );
            if let Some(p) = d.port {
                let _ = writeln!(t, "port = {p}");
            }
            let _ = writeln!(
                t,
                "[[security.nat.destination.rule-sets]]\nname = \"in\"\nfrom = {{ zone = [\"z{}\"] }}\n[[security.nat.destination.rule-sets.rules]]\nname = \"web\"\nmatch = {{ destination-address = [\"198.19.100.1/32\"], destination-port = [\"80\"], protocol = [\"tcp\", \"udp\"] }}\nthen = {{ pool = \"web\" }}",
                d.from
            );
        }
        if let Some(s) = self.static_nat.as_ref().filter(|_| nat) {
            let _ = writeln!(
                t,
                "[[security.nat.static.rule-sets]]\nname = \"one\"\nfrom = {{ zone = [\"z{}\"] }}\n[[security.nat.static.rule-sets.rules]]\nname = \"h11\"\ndestination-address = \"198.19.150.11/32\"\nprefix = \"198.18.{}.11/32\"",
                s.from,
                s.to_if + 1
            );
        }
        if self.ha {
            t.push_str("[ha]\nnode-id = 0\n[[ha.redundancy-groups]]\nid = 1\nnode0-priority = 200\nnode1-priority = 100\n");
        }
        let [ti, te, tc, tw, u, ic] = self.timeouts;
        let _ = writeln!(
            t,
            "[security]\ndefault-policy = \"{}\"",
            if self.default_permit {
                "permit"
            } else {
                "deny"
            }
        );
        if let Some(sc) = self.screen {
            let f = sc.fragment_checks;
            let [syn, icmp, udp] =
                [sc.syn_flood, sc.icmp_flood, sc.udp_flood].map(|v| v.map(|v| format!("{v}")));
            let line = |key: &str, v: Option<String>| {
                v.map(|v| format!("{key} = {v}\n")).unwrap_or_default()
            };
            let _ = writeln!(
                t,
                "[[security.screen.ids-options]]\nname = \"ids1\"\n\
                 [security.screen.ids-options.icmp]\nping-death = {f}\n{}\
                 [security.screen.ids-options.ip]\nsource-route-option = {}\ntear-drop = {f}\n\
                 [security.screen.ids-options.tcp]\nland = {}\nsyn-fin = {}\ntcp-no-flag = {}\nfin-no-ack = {}\nwinnuke = {}\nsyn-frag = {f}\n{}\
                 [security.screen.ids-options.udp]\n{}\
                 [security.screen.ids-options.limit-session]\n{}{}",
                line("flood-threshold", icmp),
                sc.source_route,
                sc.land,
                sc.syn_fin,
                sc.tcp_no_flag,
                sc.fin_no_ack,
                sc.winnuke,
                line("syn-flood-threshold", syn),
                line("flood-threshold", udp),
                line("source-ip-based", sc.source_limit.map(|v| v.to_string())),
                line(
                    "destination-ip-based",
                    sc.destination_limit.map(|v| v.to_string())
                ),
            );
        }
        let _ = writeln!(t, "[security.flow]\nsession-capacity = {}", self.capacity);
        if let Some(m) = self.mss {
            let _ = writeln!(t, "tcp-mss = {m}");
        }
        let _ = writeln!(
            t,
            "[security.flow.timeouts]\ntcp-initial = {ti}\ntcp-established = {te}\ntcp-closing = {tc}\ntcp-time-wait = {tw}\nudp = {u}\nicmp = {ic}"
        );
        for k in 1..=n {
            let _ = writeln!(
                t,
                "[[forwarding.routes]]\ndestination = \"198.19.{k}.0/24\"\nnext-hop = \"198.18.{k}.254\"\n[[forwarding.routes]]\ndestination = \"2001:db8:1{k}::/64\"\nnext-hop = \"2001:db8:{k}::fe\""
            );
            let mut hosts = vec![
                (format!("198.18.{k}.10"), 10u8),
                (format!("2001:db8:{k}::a"), 10),
                (format!("198.18.{k}.254"), 254),
                (format!("2001:db8:{k}::fe"), 254),
            ];
            if self.interfaces[k - 1].host11_neighbour {
                hosts.push((format!("198.18.{k}.11"), 11));
                hosts.push((format!("2001:db8:{k}::b"), 11));
            }
            for (a, h) in hosts {
                let m = host_mac(k, h);
                let _ = writeln!(
                    t,
                    "[[forwarding.neighbours]]\naddress = \"{a}\"\nmac = \"{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}\"\ninterface = \"ge-{k}\"",
                    m[0], m[1], m[2], m[3], m[4], m[5]
                );
            }
        }
        t
    }
}

/// Where a flow's endpoint is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Endpoint {
    /// Host `.h` (10 or 11) on interface k's LAN.
    Host(usize, u8),
    /// A remote host (198.19.k.5) behind interface k's gateway.
    Remote(usize),
    /// The firewall's own address on interface k.
    Firewall(usize),
    /// The destination-NAT public address 198.19.100.1, reached via interface k.
    DnatPublic(usize),
    /// The static-NAT public address 198.19.150.11, reached via interface k.
    StaticPublic(usize),
}

impl Endpoint {
    /// The interface the endpoint sits behind.
    pub fn iface(self) -> usize {
        match self {
            Self::Host(k, _)
            | Self::Remote(k)
            | Self::Firewall(k)
            | Self::DnatPublic(k)
            | Self::StaticPublic(k) => k,
        }
    }
}

/// Transport of a flow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Proto {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
    /// ICMP / ICMPv6 echo.
    Icmp,
}

/// A flow between a client and a server.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlowSpec {
    /// IPv6 instead of IPv4.
    pub v6: bool,
    /// Transport.
    pub proto: Proto,
    /// Initiator.
    pub client: Endpoint,
    /// Responder.
    pub server: Endpoint,
    /// Client port (ICMP: identifier).
    pub sport: u16,
    /// Server port.
    pub dport: u16,
}

/// What a TCP packet is (ignored for UDP / ICMP flows).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TcpKind {
    /// SYN (client) or SYN+ACK (server).
    Syn,
    /// Bare ACK.
    Ack,
    /// Data with ACK.
    Data(u16),
    /// FIN+ACK.
    Fin,
    /// RST+ACK.
    Rst,
    /// Data far outside the window.
    OutOfWindow,
    /// SYN+FIN (screen `syn-fin`).
    SynFin,
    /// No flag at all (screen `tcp-no-flag`).
    NoFlag,
    /// FIN without ACK (screen `fin-no-ack`).
    FinNoAck,
    /// Urgent data with ACK (screen `winnuke` when sent to port 139).
    Urgent,
}

/// Malformed or non-IP frames.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Junk {
    /// Shorter than an Ethernet header.
    Runt,
    /// ARP.
    Arp,
    /// An unknown ethertype.
    UnknownEthertype,
    /// IPv4 with a bad header checksum.
    BadIpv4Checksum,
    /// IPv4 claiming TCP with a truncated header.
    TruncatedTcp,
    /// IPv4 total length beyond the frame.
    ShortIpv4,
}

/// How a flow packet is cut into fragments (IPv4 fragments, or an IPv6
/// Fragment header), at 8-byte boundaries of its transport bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum FragPlan {
    /// First, middle and last fragment in order (a middle one only when
    /// the packet is long enough).
    InOrder,
    /// The same fragments, last first.
    Reversed,
    /// The first fragment, then one overlapping it up to the end (tear-drop).
    Overlap,
    /// A first fragment of 8 bytes (too short for a TCP header), then the rest.
    Tiny,
    /// Only the fragments after the first (their first never arrives).
    OnlyLater,
    /// Only the first fragment (the datagram stays incomplete).
    OnlyFirst,
    /// The first fragment twice, then the rest.
    Duplicate,
    /// The first fragment, then one at offset 65528 (ends beyond 65535
    /// bytes: ping of death for ICMP).
    Huge,
}

/// An IPv6 extension header a generated packet carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Ext {
    /// Hop-by-hop options (malformed unless first).
    HopByHop,
    /// Routing header of type 0 (source-route screen) or 2.
    Routing {
        /// Type 0.
        type0: bool,
    },
    /// Destination options.
    DestOpts,
    /// An atomic Fragment header (offset 0, no more fragments).
    Fragment,
    /// Authentication header (24 bytes).
    Ah,
    /// ESP: everything after it is opaque (ends the chain).
    Esp,
}

/// One step of a scenario.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Step {
    /// A packet of flow `flow`, from the client (`reply = false`) or the server.
    Send {
        /// Flow index.
        flow: usize,
        /// From the server.
        reply: bool,
        /// TCP kind.
        kind: TcpKind,
        /// Send with TTL 1.
        ttl1: bool,
    },
    /// A malformed frame on interface `iface`.
    Junk {
        /// Interface (1-based).
        iface: usize,
        /// What.
        junk: Junk,
    },
    /// Time passes.
    Advance {
        /// Seconds.
        secs: u32,
    },
    /// Re-apply a config variant.
    Apply {
        /// Which.
        variant: Variant,
    },
    /// Delete the session of a flow with companions, from either key.
    DeleteFlow {
        /// Flow index.
        flow: usize,
        /// Use the reverse key.
        by_reverse: bool,
    },
    /// Delete a flow's forward entry by known value.
    DeleteKnown {
        /// Flow index.
        flow: usize,
    },
    /// A cluster-synced install of a flow's session as the peer describes it.
    PutSynced {
        /// Flow index.
        flow: usize,
        /// Which of a few peer session ids for this flow (equal ids and
        /// keys refresh; ids of different flows never collide, as on a
        /// real peer).
        id: u8,
        /// Source-translated by the peer (to the generated pool, or the
        /// egress interface address with interface NAT; refused when the
        /// config has no such pool or the mapping collides).
        snat: bool,
        /// Public port offset (from 1024) of the translation.
        port: u8,
        /// Peer state: 0 new/SYN sent, 1 established, 2 FIN wait, 3 time wait.
        state: u8,
        /// Seconds since the peer last saw traffic.
        age: u8,
    },
    /// An ICMP error from the network about a packet of flow `flow`.
    IcmpError {
        /// Flow index.
        flow: usize,
        /// About the client's packet, sent from the server side (else about
        /// the server's reply, sent from the client side).
        server_side: bool,
        /// 0 port / destination unreachable, 1 time exceeded, 2 packet too
        /// big (IPv6) / fragmentation needed (IPv4).
        kind: u8,
        /// Sent by a router on the path instead of the endpoint itself.
        router: bool,
        /// Quote only the IP header and 8 bytes (else the whole packet).
        short: bool,
        /// Extension headers the quoted packet carried (IPv6; IPv4 quotes
        /// an AH / ESP packet when the list has one).
        #[serde(default)]
        quote_ext: Vec<Ext>,
    },
    /// A client TCP SYN of flow `flow` addressed to its own source
    /// address (screen `land`), sent where the client sits.
    Land {
        /// Flow index.
        flow: usize,
    },
    /// A packet of flow `flow` like `Send`, carrying an IPv4 option (IPv4
    /// flows only; IPv6 flows send it without): 0 loose source route, 1
    /// strict source route, 2 record route (no source route).
    IpOption {
        /// Flow index.
        flow: usize,
        /// From the server.
        reply: bool,
        /// TCP kind.
        kind: TcpKind,
        /// Which option.
        option: u8,
    },
    /// A packet of flow `flow` like `Send`, cut into fragments that are
    /// injected one after the other.
    Fragments {
        /// Flow index.
        flow: usize,
        /// From the server.
        reply: bool,
        /// TCP kind.
        kind: TcpKind,
        /// Which fragments, in which order.
        plan: FragPlan,
    },
    /// A packet of flow `flow` like `Send` with IPv6 extension headers
    /// (IPv4 flows: an AH or ESP wrapped packet when the chain has one,
    /// else plain).
    ExtHeaders {
        /// Flow index.
        flow: usize,
        /// From the server.
        reply: bool,
        /// TCP kind.
        kind: TcpKind,
        /// The headers, in order.
        chain: Vec<Ext>,
        /// The chain is cut short inside its last header (malformed).
        cut: bool,
    },
    /// Redundancy group 1 becomes active (primary) or backup on this node.
    SetRg {
        /// Active.
        active: bool,
    },
    /// Cluster reconcile: flows whose bit is set are in the peer's bulk.
    Reconcile {
        /// Received-flow bit mask.
        received: u8,
        /// A synced zone.
        synced_zone: Option<usize>,
    },
}

/// A generated case.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scenario {
    /// The network.
    pub net: NetSpec,
    /// The flows steps refer to.
    pub flows: Vec<FlowSpec>,
    /// The steps.
    pub steps: Vec<Step>,
}

const APPS: &[&str] = &[
    "any",
    "junos-http",
    "junos-https",
    "junos-dns-udp",
    "junos-ping",
    "junos-pingv6",
    "app-tcp",
    "app-udp",
];

fn addr_ref(n: usize) -> impl Strategy<Value = AddrRef> {
    prop_oneof![
        3 => Just(AddrRef::Any),
        1 => (0..n).prop_map(|k| AddrRef::Lan(k + 1)),
        1 => (0..n).prop_map(|k| AddrRef::Host(k + 1)),
    ]
}

fn policy(zones: usize, n: usize) -> impl Strategy<Value = PolicySpec> {
    (
        prop::bool::weighted(0.2),
        0..zones,
        0..zones,
        addr_ref(n),
        addr_ref(n),
        prop::sample::select(APPS),
        prop::sample::select(&["permit", "permit", "permit", "deny", "reject"][..]),
        any::<(bool, bool, bool)>(),
        prop::bool::weighted(0.3),
    )
        .prop_map(
            |(global, from, to, src, dst, app, action, (li, lc, count), scheduled)| PolicySpec {
                global,
                from,
                to,
                src,
                dst,
                app: app.to_string(),
                action: action.to_string(),
                log_init: li,
                log_close: lc,
                count,
                scheduled,
            },
        )
}

/// Networks: 2-3 interfaces in 2-3 zones, policies, NAT, flow options.
pub fn net(allow_policies: bool) -> impl Strategy<Value = NetSpec> {
    (2usize..=3, 2usize..=3).prop_flat_map(move |(n, zones)| {
        let zones = zones.min(n);
        let ifs = (0..n)
            .map(|k| {
                (
                    Just(k % zones),
                    prop::bool::weighted(0.2),
                    prop::bool::weighted(0.8),
                    any::<bool>(),
                )
                    .prop_map(|(zone, vlan, host11_neighbour, rg1)| IfSpec {
                        zone,
                        vlan,
                        host11_neighbour,
                        rg1,
                    })
            })
            .collect::<Vec<_>>();
        let zs = prop::collection::vec(
            (
                any::<bool>(),
                any::<bool>(),
                prop::bool::weighted(0.3),
                prop::bool::weighted(0.2),
                prop::bool::weighted(0.6),
            )
                .prop_map(|(ping, ssh, tcp_rst, loose, screen)| ZoneSpec {
                    ping,
                    ssh,
                    tcp_rst,
                    loose,
                    screen,
                }),
            zones,
        );
        let pols = if allow_policies {
            (
                prop::collection::vec(policy(zones, n), 0..5),
                prop::bool::weighted(0.6),
            )
                .prop_map(|(mut v, catch_all)| {
                    if catch_all {
                        v.push(PolicySpec {
                            global: true,
                            from: 0,
                            to: 0,
                            src: AddrRef::Any,
                            dst: AddrRef::Any,
                            app: "any".into(),
                            action: "permit".into(),
                            log_init: true,
                            log_close: true,
                            count: false,
                            scheduled: false,
                        });
                    }
                    v
                })
                .boxed()
        } else {
            Just(Vec::new()).boxed()
        };
        let snat = prop::option::weighted(
            0.5,
            (
                0..zones,
                0..zones,
                any::<bool>(),
                1u8..=3,
                prop_oneof![Just(4u16), Just(64u16)],
                prop::bool::weighted(0.8),
                prop::bool::weighted(0.2),
                prop::bool::weighted(0.2),
            )
                .prop_map(
                    |(
                        from,
                        to,
                        interface,
                        addresses,
                        ports,
                        overload,
                        persistent,
                        address_persistent,
                    )| SnatSpec {
                        from,
                        to,
                        interface,
                        addresses,
                        ports,
                        overload,
                        persistent,
                        address_persistent,
                    },
                ),
        );
        let dnat = prop::option::weighted(
            0.3,
            (0..zones, 0..n, prop::option::of(Just(8080u16)))
                .prop_map(|(from, to_if, port)| DnatSpec { from, to_if, port }),
        );
        let stat = prop::option::weighted(
            0.3,
            (0..zones, 0..n).prop_map(|(from, to_if)| StaticSpec { from, to_if }),
        );
        let flow = (
            (
                2u32..=20,
                5u32..=60,
                2u32..=10,
                1u32..=3,
                2u32..=30,
                2u32..=10,
            ),
            2u32..=12,
            prop::option::weighted(0.2, 1200u16..=1460),
            prop::bool::weighted(if allow_policies { 0.05 } else { 0.0 }),
        );
        let schedule = prop::option::weighted(
            0.3,
            (
                0u8..=2,
                1u8..=5,
                any::<bool>(),
                prop::option::weighted(0.3, (0u8..=2, 1u8..=2)),
            )
                .prop_map(|(start, len, monday, dates)| SchedSpec {
                    start,
                    // Now and then a window crossing midnight.
                    stop: if len == 19 && start > 0 {
                        start - 1
                    } else {
                        (start + len).min(59)
                    },
                    monday,
                    dates: dates.map(|(a, l)| (a, a + l)),
                }),
        );
        let ha = prop::bool::weighted(0.3);
        let screen = prop::option::weighted(
            0.4,
            (
                prop::array::uniform7(any::<bool>()),
                prop::array::uniform3(prop::option::weighted(0.3, 1u32..=4)),
                prop::array::uniform2(prop::option::weighted(0.5, 1u32..=2)),
            )
                .prop_map(|(b, floods, limits)| ScreenSpec {
                    land: b[0],
                    syn_fin: b[1],
                    tcp_no_flag: b[2],
                    fin_no_ack: b[3],
                    winnuke: b[4],
                    source_route: b[5],
                    fragment_checks: b[6],
                    syn_flood: floods[0],
                    icmp_flood: floods[1],
                    udp_flood: floods[2],
                    source_limit: limits[0],
                    destination_limit: limits[1],
                }),
        );
        let term = (
            0u8..4,
            prop::option::weighted(
                0.3,
                prop::sample::select(&[22u16, 53, 80, 139, 443, 8000][..]),
            ),
            prop::option::weighted(0.2, 1..=n),
            prop::bool::weighted(0.2),
            0u8..4,
            any::<bool>(),
            any::<bool>(),
            any::<bool>(),
        )
            .prop_map(
                |(proto, dport, src_lan, syn_only, action, log, count, policed)| TermSpec {
                    proto,
                    dport,
                    src_lan,
                    syn_only,
                    action,
                    log,
                    count,
                    policed,
                },
            );
        let filters = prop::option::weighted(
            0.3,
            (
                prop::collection::vec(term, 1..=3),
                prop::bool::weighted(0.7),
                any::<u8>(),
                any::<u8>(),
                prop::option::weighted(
                    0.5,
                    (any::<bool>(), prop::sample::select(&[100u32, 200, 400][..]))
                        .prop_map(|(two_rate, burst)| PolicerSpec { two_rate, burst }),
                ),
            )
                .prop_map(move |(terms, accept_rest, input, output, policer)| {
                    FilterSpec {
                        terms,
                        accept_rest,
                        input: input & ((1u8 << n) - 1),
                        output: output & ((1u8 << n) - 1),
                        policer,
                    }
                }),
        );
        (
            ifs,
            zs,
            pols,
            snat,
            dnat,
            stat,
            flow,
            (schedule, ha, screen, filters),
        )
            .prop_map(
                |(
                    ifs,
                    zones,
                    policies,
                    snat,
                    dnat,
                    static_nat,
                    ((a, b, c, d, e, f), capacity, mss, default_permit),
                    (schedule, ha, screen, filters),
                )| NetSpec {
                    zones,
                    interfaces: ifs,
                    policies,
                    default_permit,
                    snat,
                    dnat,
                    static_nat,
                    timeouts: [a, b, c, d, e, f],
                    capacity,
                    mss,
                    schedule,
                    ha,
                    screen,
                    filters,
                },
            )
    })
}

fn endpoint(n: usize, server: bool, dnat: bool, stat: bool) -> impl Strategy<Value = Endpoint> {
    let mut v: Vec<BoxedStrategy<Endpoint>> = vec![
        (1..=n, prop_oneof![3 => Just(10u8), 1 => Just(11u8)])
            .prop_map(|(k, h)| Endpoint::Host(k, h))
            .boxed(),
        (1..=n).prop_map(Endpoint::Remote).boxed(),
    ];
    if server {
        v.push((1..=n).prop_map(Endpoint::Firewall).boxed());
    }
    if dnat {
        v.push((1..=n).prop_map(Endpoint::DnatPublic).boxed());
    }
    if stat {
        v.push((1..=n).prop_map(Endpoint::StaticPublic).boxed());
    }
    prop::strategy::Union::new(v)
}

fn flow(n: usize, dnat: bool, stat: bool) -> impl Strategy<Value = FlowSpec> {
    (
        prop::bool::weighted(0.25),
        prop_oneof![3 => Just(Proto::Tcp), 2 => Just(Proto::Udp), 1 => Just(Proto::Icmp)],
        endpoint(n, false, false, false),
        endpoint(n, true, dnat, stat),
        prop_oneof![Just(40000u16), Just(40001u16), 1024u16..65535],
        prop::sample::select(&[22u16, 53, 80, 139, 443, 5000, 8000, 8080][..]),
    )
        .prop_filter("client and server differ", |(_, _, c, s, _, _)| c != s)
        .prop_map(|(v6, proto, client, server, sport, dport)| {
            // Public NAT addresses are IPv4 only.
            let v6 = v6 && !matches!(server, Endpoint::DnatPublic(_) | Endpoint::StaticPublic(_));
            FlowSpec {
                v6,
                proto,
                client,
                server,
                sport,
                dport,
            }
        })
}

fn ext() -> impl Strategy<Value = Ext> {
    prop_oneof![
        3 => Just(Ext::DestOpts),
        2 => Just(Ext::HopByHop),
        2 => any::<bool>().prop_map(|type0| Ext::Routing { type0 }),
        1 => Just(Ext::Fragment),
        1 => Just(Ext::Ah),
        1 => Just(Ext::Esp),
    ]
}

fn step(flows: usize, n: usize) -> impl Strategy<Value = Step> {
    let kind = prop_oneof![
        5 => Just(TcpKind::Syn),
        3 => Just(TcpKind::Ack),
        4 => (1u16..200).prop_map(TcpKind::Data),
        1 => Just(TcpKind::Fin),
        1 => Just(TcpKind::Rst),
        1 => Just(TcpKind::OutOfWindow),
        2 => prop::sample::select(&[TcpKind::SynFin, TcpKind::NoFlag, TcpKind::FinNoAck, TcpKind::Urgent][..]),
    ];
    prop_oneof![
        20 => (0..flows, any::<bool>(), kind.clone(), prop::bool::weighted(0.05))
            .prop_map(|(flow, reply, kind, ttl1)| Step::Send { flow, reply, kind, ttl1 }),
        1 => (1..=n, prop::sample::select(&[Junk::Runt, Junk::Arp, Junk::UnknownEthertype, Junk::BadIpv4Checksum, Junk::TruncatedTcp, Junk::ShortIpv4][..]))
            .prop_map(|(iface, junk)| Step::Junk { iface, junk }),
        4 => prop_oneof![1u32..=3, 5u32..=70, 40u32..=65].prop_map(|secs| Step::Advance { secs }),
        1 => prop::sample::select(&[Variant::Base, Variant::DenyAll, Variant::NoNat, Variant::Invalid][..])
            .prop_map(|variant| Step::Apply { variant }),
        1 => (0..flows, any::<bool>()).prop_map(|(flow, by_reverse)| Step::DeleteFlow { flow, by_reverse }),
        1 => (0..flows).prop_map(|flow| Step::DeleteKnown { flow }),
        1 => (any::<u8>(), prop::option::of(0usize..3)).prop_map(|(received, synced_zone)| Step::Reconcile { received, synced_zone }),
        2 => any::<bool>().prop_map(|active| Step::SetRg { active }),
        1 => (0..flows).prop_map(|flow| Step::Land { flow }),
        2 => (0..flows, any::<bool>(), kind.clone(), 0u8..3)
            .prop_map(|(flow, reply, kind, option)| Step::IpOption { flow, reply, kind, option }),
        3 => (0..flows, any::<bool>(), kind.clone(), prop::sample::select(&[FragPlan::InOrder, FragPlan::InOrder, FragPlan::Reversed, FragPlan::Overlap, FragPlan::Tiny, FragPlan::OnlyLater, FragPlan::OnlyFirst, FragPlan::Duplicate, FragPlan::Huge][..]))
            .prop_map(|(flow, reply, kind, plan)| Step::Fragments { flow, reply, kind, plan }),
        2 => (0..flows, any::<bool>(), kind, prop::collection::vec(ext(), 0..=4), prop::bool::weighted(0.15))
            .prop_map(|(flow, reply, kind, chain, cut)| Step::ExtHeaders { flow, reply, kind, chain, cut }),
        3 => (0..flows, any::<bool>(), 0u8..3, any::<bool>(), any::<bool>(), prop_oneof![3 => Just(Vec::new()), 1 => prop::collection::vec(ext(), 1..=2)])
            .prop_map(|(flow, server_side, kind, router, short, quote_ext)| Step::IcmpError { flow, server_side, kind, router, short, quote_ext }),
        2 => (0..flows, 0u8..3, any::<bool>(), 0u8..6, 0u8..4, prop_oneof![Just(0u8), 1u8..90])
            .prop_map(|(flow, id, snat, port, state, age)| Step::PutSynced { flow, id, snat, port, state, age }),
    ]
}

/// Whole scenarios: a network, 1-4 flows and up to `max_steps` steps.
pub fn scenario(allow_policies: bool, max_steps: usize) -> impl Strategy<Value = Scenario> {
    net(allow_policies).prop_flat_map(move |net| {
        let n = net.interfaces.len();
        let flows =
            prop::collection::vec(flow(n, net.dnat.is_some(), net.static_nat.is_some()), 1..=4);
        (Just(net), flows).prop_flat_map(move |(net, flows)| {
            let steps = prop::collection::vec(step(flows.len(), n), 1..=max_steps);
            (Just(net), Just(flows), steps).prop_map(|(net, flows, steps)| Scenario {
                net,
                flows,
                steps,
            })
        })
    })
}
