//! Stateless firewall filters (Junos `firewall family inet/inet6 filter`)
//! with policers and per-term counters.
//!
//! Semantics (shared with the reference model):
//!
//! - Terms are evaluated in order. A term matches when every condition it
//!   has holds; an empty list means "any". Port conditions only match
//!   packets that carry ports (TCP, UDP, SCTP, first fragment), TCP-flag
//!   conditions only TCP, ICMP-type conditions only ICMP / ICMPv6.
//! - A matching term counts the packet (its term counter always; its named
//!   counter shares that slot), emits a log event when `log` is set, then
//!   runs its policer: a red packet is discarded (`PolicerExceeded`); then
//!   its action: `accept`, `discard`, `reject` (an ICMP administratively
//!   prohibited / TCP RST is sent), or `next-term`.
//! - A packet that matches no terminating term is discarded, as Junos's
//!   implicit `discard` at the end of every filter.
//! - Policer state is one instance per term (Junos `term-specific`),
//!   shared by every interface the filter is bound to.

use crate::meter::{Colour, Policer};
use std::net::IpAddr;
use xpf_dataplane::compile::{CompiledFilters, CompiledTerm};
use xpf_dataplane::config::FilterAction;
use xpf_runtime::{CounterValue, FilterId, FilterTermId, IpProtocol};

/// What a filter sees of a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FilterInput {
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// Upper-layer protocol.
    pub protocol: IpProtocol,
    /// Source and destination port, when the packet carries them.
    pub ports: Option<(u16, u16)>,
    /// TCP flags, for TCP with a header.
    pub tcp_flags: Option<u8>,
    /// DSCP (0-63).
    pub dscp: u8,
    /// ICMP type, for ICMP with a header.
    pub icmp_type: Option<u8>,
    /// L3 length in bytes (what policers meter).
    pub len: u32,
}

/// A filter's decision.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FilterVerdict {
    /// Continue processing.
    Accept,
    /// Drop silently (a `discard` term, or no term matched: `term` is `None`).
    Discard {
        /// The discarding term.
        term: Option<FilterTermId>,
    },
    /// Drop and send an ICMP error / RST.
    Reject {
        /// The rejecting term.
        term: FilterTermId,
    },
    /// A policer coloured the packet red.
    PolicerDrop {
        /// The policing term.
        term: FilterTermId,
    },
}

/// A term that asked for a log event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LoggedTerm {
    /// The term.
    pub term: FilterTermId,
    /// The verdict the filter reached.
    pub verdict: FilterVerdict,
}

/// Lowered filters with their per-term counters and policers.
#[derive(Clone, Debug, Default)]
pub struct FilterTable {
    filters: Vec<Option<std::ops::Range<usize>>>,
    terms: Vec<CompiledTerm>,
    counters: Vec<CounterValue>,
    policers: Vec<Option<Policer>>,
}

impl FilterTable {
    /// Lowers the compiled filters; policer buckets start full at `now_ns`.
    pub fn new(c: &CompiledFilters, now_ns: u64) -> Self {
        let max = c.filters.iter().map(|f| f.id.index()).max().unwrap_or(0);
        let mut filters = vec![None; max + 1];
        for f in &c.filters {
            filters[f.id.index()] = Some(f.span.range());
        }
        let policers = c
            .terms
            .iter()
            .map(|t| {
                t.policer.and_then(|id| {
                    c.policers
                        .iter()
                        .find(|p| p.id == id)
                        .map(|p| Policer::new(p, now_ns))
                })
            })
            .collect();
        Self {
            filters,
            terms: c.terms.clone(),
            counters: vec![CounterValue::default(); c.terms.len()],
            policers,
        }
    }

    /// Runs filter `id` over a packet. Logged terms are appended to `logs`.
    pub fn evaluate(
        &mut self,
        id: FilterId,
        p: &FilterInput,
        now_ns: u64,
        logs: &mut Vec<LoggedTerm>,
    ) -> FilterVerdict {
        let Some(range) = self.filters.get(id.index()).cloned().flatten() else {
            // An unknown filter id cannot come from a compiled config;
            // fail closed.
            return FilterVerdict::Discard { term: None };
        };
        for i in range {
            if !term_matches(&self.terms[i], p) {
                continue;
            }
            let term = self.terms[i].id;
            let c = &mut self.counters[i];
            c.packets += 1;
            c.bytes += u64::from(p.len);
            let mut verdict = None;
            if let Some(pol) = self.policers[i].as_mut()
                && pol.colour(u64::from(p.len), now_ns) == Colour::Red
            {
                verdict = Some(FilterVerdict::PolicerDrop { term });
            }
            let verdict = verdict.or(match self.terms[i].action {
                FilterAction::Accept => Some(FilterVerdict::Accept),
                FilterAction::Discard => Some(FilterVerdict::Discard { term: Some(term) }),
                FilterAction::Reject => Some(FilterVerdict::Reject { term }),
                FilterAction::NextTerm => None,
            });
            if self.terms[i].log {
                logs.push(LoggedTerm {
                    term,
                    verdict: verdict.unwrap_or(FilterVerdict::Accept),
                });
            }
            if let Some(v) = verdict {
                return v;
            }
        }
        FilterVerdict::Discard { term: None }
    }

    /// A term's counter.
    pub fn term_counter(&self, term: FilterTermId) -> Option<CounterValue> {
        self.terms
            .iter()
            .position(|t| t.id == term)
            .map(|i| self.counters[i])
    }
}

/// Does `t` match packet `p`?
pub fn term_matches(t: &CompiledTerm, p: &FilterInput) -> bool {
    let nets = |n: &[ipnet::IpNet], a: IpAddr| n.is_empty() || n.iter().any(|n| n.contains(&a));
    let ports = |r: &[xpf_dataplane::config::PortRange], pick: fn((u16, u16)) -> u16| {
        r.is_empty()
            || p.ports
                .is_some_and(|ps| r.iter().any(|r| r.contains(pick(ps))))
    };
    nets(&t.source, p.src)
        && nets(&t.destination, p.dst)
        && (t.protocols.is_empty() || t.protocols.contains(&p.protocol))
        && ports(&t.source_ports, |ps| ps.0)
        && ports(&t.destination_ports, |ps| ps.1)
        && (t.tcp_flags.is_empty()
            || p.tcp_flags
                .is_some_and(|f| t.tcp_flags.iter().any(|&(m, v)| f & m == v)))
        && (t.dscp.is_empty() || t.dscp.contains(&p.dscp))
        && (t.icmp_types.is_empty() || p.icmp_type.is_some_and(|ty| t.icmp_types.contains(&ty)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use xpf_dataplane::Config;
    use xpf_dataplane::compile::compile;

    const CFG: &str = r#"
[[firewall.policers]]
name = "icmp-1k"
type = "single-rate"
bandwidth-limit = 8000
burst-size-limit = 200

[[firewall.filters]]
name = "protect"
family = "inet"
[[firewall.filters.terms]]
name = "count-all"
then = { count = "all", action = "next-term" }
[[firewall.filters.terms]]
name = "ssh-from-mgmt"
from = { source-address = ["198.18.100.0/24"], protocol = ["tcp"], destination-port = ["22"] }
then = { action = "accept" }
[[firewall.filters.terms]]
name = "no-ssh"
from = { protocol = ["tcp"], destination-port = ["22"] }
then = { action = "reject", log = true }
[[firewall.filters.terms]]
name = "ping"
from = { protocol = ["icmp"], icmp-type = [8] }
then = { policer = "icmp-1k", action = "accept" }
[[firewall.filters.terms]]
name = "web-syn"
from = { protocol = ["tcp"], destination-port = ["80"], tcp-flags = "syn & !ack" }
then = { action = "accept" }
"#;

    fn table() -> FilterTable {
        let c = compile(&Config::from_toml_str(CFG).unwrap()).unwrap();
        FilterTable::new(&c.filters, 0)
    }

    fn pkt(src: &str, proto: IpProtocol, ports: Option<(u16, u16)>) -> FilterInput {
        FilterInput {
            src: src.parse().unwrap(),
            dst: "198.19.0.1".parse().unwrap(),
            protocol: proto,
            ports,
            tcp_flags: None,
            dscp: 0,
            icmp_type: None,
            len: 100,
        }
    }

    #[test]
    fn terms_apply_in_order_with_next_term_and_implicit_discard() {
        let mut t = table();
        let mut logs = vec![];
        let ok = pkt("198.18.100.5", IpProtocol::TCP, Some((5000, 22)));
        assert_eq!(
            t.evaluate(FilterId(1), &ok, 0, &mut logs),
            FilterVerdict::Accept
        );
        let bad = pkt("198.18.7.5", IpProtocol::TCP, Some((5000, 22)));
        assert!(matches!(
            t.evaluate(FilterId(1), &bad, 0, &mut logs),
            FilterVerdict::Reject { .. }
        ));
        assert_eq!(logs.len(), 1, "the reject term logs");
        let udp = pkt("198.18.7.5", IpProtocol::UDP, Some((5000, 53)));
        assert_eq!(
            t.evaluate(FilterId(1), &udp, 0, &mut logs),
            FilterVerdict::Discard { term: None },
            "no terminating term: implicit discard"
        );
        // count-all saw all three packets.
        assert_eq!(t.term_counter(FilterTermId(1)).unwrap().packets, 3);
    }

    #[test]
    fn port_and_flag_conditions_need_the_header() {
        let mut t = table();
        let mut logs = vec![];
        let mut syn = pkt("198.18.7.5", IpProtocol::TCP, Some((5000, 80)));
        syn.tcp_flags = Some(0x02);
        assert_eq!(
            t.evaluate(FilterId(1), &syn, 0, &mut logs),
            FilterVerdict::Accept
        );
        syn.tcp_flags = Some(0x12);
        assert_eq!(
            t.evaluate(FilterId(1), &syn, 0, &mut logs),
            FilterVerdict::Discard { term: None }
        );
        let fragment = pkt("198.18.7.5", IpProtocol::TCP, None);
        assert_eq!(
            t.evaluate(FilterId(1), &fragment, 0, &mut logs),
            FilterVerdict::Discard { term: None },
            "a non-first fragment has no ports and cannot match a port term"
        );
    }

    #[test]
    fn policer_discards_out_of_profile_packets() {
        let mut t = table();
        let mut logs = vec![];
        let mut ping = pkt("198.18.7.5", IpProtocol::ICMP, None);
        ping.icmp_type = Some(8);
        assert_eq!(
            t.evaluate(FilterId(1), &ping, 0, &mut logs),
            FilterVerdict::Accept
        );
        assert_eq!(
            t.evaluate(FilterId(1), &ping, 0, &mut logs),
            FilterVerdict::Accept
        );
        assert!(matches!(
            t.evaluate(FilterId(1), &ping, 0, &mut logs),
            FilterVerdict::PolicerDrop { .. }
        ));
    }
}
