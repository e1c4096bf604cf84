//! Security policy evaluation over the compiled rule list.
//!
//! Semantics (the same the reference model implements):
//!
//! 1. The zone-pair rules of (ingress zone, egress zone) in order, then the
//!    global rules in order; the first rule whose every condition holds
//!    decides. No match → the config's default policy (deny by default).
//! 2. A rule holds when: its source address set contains the packet's
//!    source (or does not, with `source-address-excluded`), likewise the
//!    destination, its application term matches the protocol / ports /
//!    ICMP type and code, global rules' from/to zone lists (empty = any)
//!    contain the zones, and its scheduler (if any) is active at `now`.
//! 3. Addresses are matched as the policy sees them: the source before
//!    source NAT, the destination after destination / static NAT.
//!
//! Two ways to test the address conditions, chosen per lookup by the
//! number of candidate rules (`benches/policy.rs` measured the choice):
//!
//! - per rule ([`PolicyTable::evaluate_per_rule`]): each candidate rule
//!   tests its source and destination set with one binary search over the
//!   set's sorted disjoint integer ranges ([`AddressSetIndex`]);
//! - classified ([`PolicyTable::evaluate_classified`]): the source and the
//!   destination are looked up once each in the combined LPM over all
//!   sets ([`crate::lookup::AddressSetIndex`]: one stride-trie walk gives
//!   the bitset of every set containing the address), and every candidate
//!   rule's address test is then a bit test.
//!
//! [`PolicyTable::evaluate`] classifies when more than
//! [`CLASSIFY_ABOVE`] rules are candidates (zone-pair plus global rules),
//! where two trie walks cost less than the per-rule searches; both give
//! the same decision (unit test and `benches/policy.rs` check it).

use crate::lookup::{SetMatch, SetMembership};
use std::net::IpAddr;
use xpf_dataplane::compile::{
    CompiledAddressSet, CompiledConfig, CompiledRule, CompiledSchedule, Span,
};
use xpf_dataplane::config::{DefaultPolicy, PolicyAction};
use xpf_runtime::{AddressSetId, IpProtocol, PolicyRuleId, ScheduleSlot, ZoneId};

/// What policy lookup sees of a first packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PolicyInput {
    /// Ingress zone.
    pub from_zone: ZoneId,
    /// Egress zone.
    pub to_zone: ZoneId,
    /// Source address (pre source NAT).
    pub src: IpAddr,
    /// Destination address (post destination NAT).
    pub dst: IpAddr,
    /// Protocol.
    pub protocol: IpProtocol,
    /// Source port (0 when the protocol has none).
    pub src_port: u16,
    /// Destination port (post destination NAT; 0 when none).
    pub dst_port: u16,
    /// ICMP type and code, for ICMP.
    pub icmp: Option<(u8, u8)>,
}

/// The outcome of a policy lookup.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PolicyDecision {
    /// The matching rule, `None` when the default policy decided.
    pub rule: Option<PolicyRuleId>,
    /// Index of the matching rule in the compiled rule vector.
    pub index: Option<usize>,
    /// The action.
    pub action: PolicyAction,
}

/// Address-set membership by set id.
///
/// Each set keeps its normalised (non-overlapping, sorted) prefixes as
/// integer ranges `[first, last]`, sorted by `first`; membership is one
/// binary search. Because the compiler already merged overlaps, the ranges
/// are disjoint, so the candidate is the last range starting at or before
/// the address.
#[derive(Clone, Debug, Default)]
pub struct AddressSetIndex {
    v4: Vec<Vec<(u32, u32)>>,
    v6: Vec<Vec<(u128, u128)>>,
}

impl AddressSetIndex {
    /// Indexes every set of the compiled config by id.
    pub fn new(sets: &[CompiledAddressSet]) -> Self {
        let max = sets.iter().map(|s| s.id.index()).max().unwrap_or(0);
        let mut v4 = vec![Vec::new(); max + 1];
        let mut v6 = vec![Vec::new(); max + 1];
        for s in sets {
            let mut r4: Vec<(u32, u32)> =
                s.v4.iter()
                    .map(|n| (u32::from(n.network()), u32::from(n.broadcast())))
                    .collect();
            r4.sort_unstable();
            let mut r6: Vec<(u128, u128)> =
                s.v6.iter()
                    .map(|n| (u128::from(n.network()), u128::from(n.broadcast())))
                    .collect();
            r6.sort_unstable();
            v4[s.id.index()] = r4;
            v6[s.id.index()] = r6;
        }
        Self { v4, v6 }
    }

    /// Is `addr` in set `id`? Unknown ids contain nothing.
    pub fn contains(&self, id: AddressSetId, addr: IpAddr) -> bool {
        fn search<T: Ord + Copy>(ranges: &[(T, T)], a: T) -> bool {
            let i = ranges.partition_point(|r| r.0 <= a);
            i > 0 && ranges[i - 1].1 >= a
        }
        match addr {
            IpAddr::V4(a) => self
                .v4
                .get(id.index())
                .is_some_and(|r| search(r, u32::from(a))),
            IpAddr::V6(a) => self
                .v6
                .get(id.index())
                .is_some_and(|r| search(r, u128::from(a))),
        }
    }
}

/// [`PolicyTable::evaluate`] classifies the addresses (combined LPM)
/// when more candidate rules than this are to be tested, and tests each
/// rule's sets by binary search otherwise. From `benches/policy.rs` (CPU
/// time, one run): with 2 candidate rules both take ~21 ns; from 4 rules
/// on classifying wins (4: 26 against 35 ns; 64: 82 against 428 ns;
/// 1,000: 1.2 against 8.0 µs; 10,000: 14 against 101 µs, matching rule
/// last).
pub const CLASSIFY_ABOVE: usize = 2;

/// The lowered policy table.
#[derive(Clone, Debug)]
pub struct PolicyTable {
    rules: Vec<CompiledRule>,
    /// Zone-pair span by (from, to), indexed `from * zones + to` for O(1) lookup.
    pair_spans: Vec<Span>,
    zones: usize,
    global: Span,
    default_action: DefaultPolicy,
    sets: AddressSetIndex,
    /// The combined LPM over every set (classified evaluation).
    combined: crate::lookup::AddressSetIndex,
    schedules: Vec<Option<CompiledSchedule>>,
    utc_offset_secs: i32,
}

impl Default for PolicyTable {
    fn default() -> Self {
        Self {
            rules: Vec::new(),
            pair_spans: Vec::new(),
            zones: 0,
            global: Span::default(),
            default_action: DefaultPolicy::default(),
            sets: AddressSetIndex::default(),
            combined: crate::lookup::AddressSetIndex::build(&[]),
            schedules: Vec::new(),
            utc_offset_secs: 0,
        }
    }
}

impl PolicyTable {
    /// Lowers the policies of a compiled config.
    pub fn new(c: &CompiledConfig) -> Self {
        let zones = c.zones.iter().map(|z| z.id.index()).max().unwrap_or(0) + 1;
        let mut pair_spans = vec![Span::default(); zones * zones];
        for p in &c.policies.zone_pairs {
            pair_spans[p.from.index() * zones + p.to.index()] = p.span;
        }
        let max_slot = c
            .schedules
            .iter()
            .map(|s| s.slot.0 as usize)
            .max()
            .unwrap_or(0);
        let mut schedules = vec![None; max_slot + 1];
        for s in &c.schedules {
            schedules[s.slot.0 as usize] = Some(s.clone());
        }
        Self {
            rules: c.policies.rules.clone(),
            pair_spans,
            zones,
            global: c.policies.global,
            default_action: c.policies.default_action,
            sets: AddressSetIndex::new(&c.address_sets),
            combined: crate::lookup::AddressSetIndex::build(&c.address_sets),
            schedules,
            utc_offset_secs: c.system.utc_offset_secs,
        }
    }

    /// The rules in evaluation order.
    pub fn rules(&self) -> &[CompiledRule] {
        &self.rules
    }

    /// Is the scheduler in `slot` active at `unix_secs`? Unknown slots are
    /// inactive (fail closed).
    pub fn schedule_active(&self, slot: ScheduleSlot, unix_secs: i64) -> bool {
        self.schedules
            .get(slot.0 as usize)
            .and_then(Option::as_ref)
            .is_some_and(|s| s.is_active(unix_secs, self.utc_offset_secs))
    }

    /// Evaluates the policies for a first packet at `unix_secs`: per rule
    /// for up to [`CLASSIFY_ABOVE`] candidate rules, classified above.
    #[inline]
    pub fn evaluate(&self, input: &PolicyInput, unix_secs: i64) -> PolicyDecision {
        let (pair, global) = self.spans(input);
        if (pair.count + global.count) as usize > CLASSIFY_ABOVE {
            self.evaluate_classified(input, unix_secs)
        } else {
            self.evaluate_per_rule(input, unix_secs)
        }
    }

    /// The zone-pair span of the input's zones and the global span.
    #[inline]
    fn spans(&self, input: &PolicyInput) -> (Span, Span) {
        let pair = if input.from_zone.index() < self.zones && input.to_zone.index() < self.zones {
            self.pair_spans[input.from_zone.index() * self.zones + input.to_zone.index()]
        } else {
            Span::default()
        };
        (pair, self.global)
    }

    /// [`evaluate`](Self::evaluate) testing each candidate rule's address
    /// sets with its own binary searches ([`rule_matches`](Self::rule_matches)).
    pub fn evaluate_per_rule(&self, input: &PolicyInput, unix_secs: i64) -> PolicyDecision {
        let (pair, global) = self.spans(input);
        for span in [pair, global] {
            for i in span.range() {
                let rule = &self.rules[i];
                if self.rule_matches(rule, input, unix_secs) {
                    return self.decided(i);
                }
            }
        }
        self.default_decision()
    }

    /// [`evaluate`](Self::evaluate) on the source and destination
    /// classified once each by the combined LPM: every candidate rule's
    /// address test is a bit test.
    pub fn evaluate_classified(&self, input: &PolicyInput, unix_secs: i64) -> PolicyDecision {
        let (pair, global) = self.spans(input);
        let src = self.combined.classify(input.src);
        let dst = self.combined.classify(input.dst);
        for span in [pair, global] {
            for i in span.range() {
                let rule = &self.rules[i];
                if src.contains(rule.source) != rule.source_negate
                    && dst.contains(rule.destination) != rule.destination_negate
                    && self.rule_matches_but_addresses(rule, input, unix_secs)
                {
                    return self.decided(i);
                }
            }
        }
        self.default_decision()
    }

    #[inline]
    fn decided(&self, i: usize) -> PolicyDecision {
        let rule = &self.rules[i];
        PolicyDecision {
            rule: Some(rule.id),
            index: Some(i),
            action: rule.action,
        }
    }

    fn default_decision(&self) -> PolicyDecision {
        PolicyDecision {
            rule: None,
            index: None,
            action: match self.default_action {
                DefaultPolicy::Deny => PolicyAction::Deny,
                DefaultPolicy::Permit => PolicyAction::Permit,
            },
        }
    }

    /// Every condition of a rule but its address sets.
    #[inline]
    fn rule_matches_but_addresses(
        &self,
        rule: &CompiledRule,
        input: &PolicyInput,
        unix_secs: i64,
    ) -> bool {
        let zone_ok = |zones: &[ZoneId], z: ZoneId| zones.is_empty() || zones.contains(&z);
        zone_ok(&rule.from_zones, input.from_zone)
            && zone_ok(&rule.to_zones, input.to_zone)
            && rule
                .app_match
                .matches(input.protocol, input.src_port, input.dst_port, input.icmp)
            && rule
                .schedule
                .is_none_or(|slot| self.schedule_active(slot, unix_secs))
    }

    /// Does one rule hold for the packet?
    pub fn rule_matches(&self, rule: &CompiledRule, input: &PolicyInput, unix_secs: i64) -> bool {
        let zone_ok = |zones: &[ZoneId], z: ZoneId| zones.is_empty() || zones.contains(&z);
        zone_ok(&rule.from_zones, input.from_zone)
            && zone_ok(&rule.to_zones, input.to_zone)
            && rule
                .app_match
                .matches(input.protocol, input.src_port, input.dst_port, input.icmp)
            && self.sets.contains(rule.source, input.src) != rule.source_negate
            && self.sets.contains(rule.destination, input.dst) != rule.destination_negate
            && rule
                .schedule
                .is_none_or(|slot| self.schedule_active(slot, unix_secs))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use xpf_dataplane::Config;
    use xpf_dataplane::compile::compile;

    const CFG: &str = r#"
[[interfaces]]
name = "in"
zone = "trust"
addresses = ["198.18.0.1/24"]
[[interfaces]]
name = "out"
zone = "untrust"
addresses = ["198.19.0.1/24"]
[[zones]]
name = "trust"
[[zones]]
name = "untrust"
[address-book]
addresses = [{ name = "blocked", prefix = "198.19.66.0/24" }, { name = "lab", range = { from = "198.18.0.10", to = "198.18.0.20" } }]
[[schedulers]]
name = "office"
windows = [{ days = ["monday"], start = "08:00", stop = "18:00" }]
[[security.policies]]
from-zone = "trust"
to-zone = "untrust"
[[security.policies.policies]]
name = "no-blocked"
match = { destination-address = ["blocked"] }
then = { action = "reject" }
[[security.policies.policies]]
name = "lab-web-office-hours"
match = { source-address = ["lab"], application = ["junos-http"] }
then = { action = "permit" }
scheduler = "office"
[[security.policies.policies]]
name = "not-lab-https"
match = { source-address = ["lab"], source-address-excluded = true, application = ["junos-https"] }
then = { action = "permit" }
[[security.global-policies]]
name = "ping-anywhere"
match = { application = ["junos-ping"] }
then = { action = "permit" }
"#;

    fn table() -> PolicyTable {
        PolicyTable::new(&compile(&Config::from_toml_str(CFG).unwrap()).unwrap())
    }

    /// 2026-11-23 is a Monday; `h` o'clock UTC.
    fn monday(h: i64) -> i64 {
        1_795_392_000 + h * 3600
    }

    fn tcp(src: &str, dst: &str, dport: u16) -> PolicyInput {
        PolicyInput {
            from_zone: ZoneId(1),
            to_zone: ZoneId(2),
            src: src.parse().unwrap(),
            dst: dst.parse().unwrap(),
            protocol: IpProtocol::TCP,
            src_port: 40000,
            dst_port: dport,
            icmp: None,
        }
    }

    fn decide(input: PolicyInput, at: i64) -> (Option<String>, PolicyAction) {
        let t = table();
        let d = t.evaluate(&input, at);
        (d.index.map(|i| t.rules()[i].policy.to_string()), d.action)
    }

    #[test]
    fn first_match_wins_in_config_order() {
        let (name, action) = decide(tcp("198.18.0.15", "198.19.66.1", 80), monday(10));
        assert_eq!(name.as_deref(), Some("no-blocked"));
        assert_eq!(action, PolicyAction::Reject);
    }

    #[test]
    fn scheduled_rule_applies_only_inside_its_window() {
        let inside = decide(tcp("198.18.0.15", "198.19.0.9", 80), monday(10));
        assert_eq!(
            inside,
            (Some("lab-web-office-hours".into()), PolicyAction::Permit)
        );
        let outside = decide(tcp("198.18.0.15", "198.19.0.9", 80), monday(19));
        assert_eq!(
            outside,
            (None, PolicyAction::Deny),
            "default deny after hours"
        );
    }

    #[test]
    fn negated_source_matches_everything_but_the_set() {
        assert_eq!(
            decide(tcp("198.18.0.99", "198.19.0.9", 443), monday(10)).1,
            PolicyAction::Permit
        );
        assert_eq!(
            decide(tcp("198.18.0.12", "198.19.0.9", 443), monday(10)),
            (None, PolicyAction::Deny)
        );
    }

    #[test]
    fn global_rules_follow_zone_pair_rules_and_match_any_zone_pair() {
        let mut ping = tcp("198.19.0.9", "198.18.0.5", 0);
        ping.from_zone = ZoneId(2);
        ping.to_zone = ZoneId(1);
        ping.protocol = IpProtocol::ICMP;
        ping.src_port = 7;
        ping.dst_port = 7;
        ping.icmp = Some((8, 0));
        assert_eq!(
            decide(ping, monday(3)),
            (Some("ping-anywhere".into()), PolicyAction::Permit)
        );
        ping.icmp = Some((13, 0));
        assert_eq!(decide(ping, monday(3)), (None, PolicyAction::Deny));
    }

    #[test]
    fn classified_and_per_rule_evaluation_decide_alike() {
        let t = table();
        let addrs = [
            "198.18.0.5",
            "198.18.0.10",
            "198.18.0.15",
            "198.18.0.20",
            "198.18.0.21",
            "198.19.0.9",
            "198.19.66.1",
            "198.19.66.255",
            "2001:db8::1",
        ];
        for src in addrs {
            for dst in addrs {
                for (proto, dport, icmp) in [
                    (IpProtocol::TCP, 80, None),
                    (IpProtocol::TCP, 443, None),
                    (IpProtocol::UDP, 53, None),
                    (IpProtocol::ICMP, 7, Some((8, 0))),
                ] {
                    for (from, to) in [(1, 2), (2, 1), (1, 1)] {
                        for at in [monday(3), monday(10), monday(19)] {
                            let mut input = tcp(src, dst, dport);
                            input.protocol = proto;
                            input.icmp = icmp;
                            input.from_zone = ZoneId(from);
                            input.to_zone = ZoneId(to);
                            assert_eq!(
                                t.evaluate_classified(&input, at),
                                t.evaluate_per_rule(&input, at),
                                "{input:?} at {at}"
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn unsolicited_inbound_is_denied_by_default() {
        let mut inbound = tcp("198.19.0.9", "198.18.0.5", 80);
        inbound.from_zone = ZoneId(2);
        inbound.to_zone = ZoneId(1);
        assert_eq!(decide(inbound, monday(10)), (None, PolicyAction::Deny));
    }
}
