//! Property tests of the compiler: determinism, id uniqueness, traceability
//! of rules to policies, span coverage, and id stability across unrelated
//! edits. Configs are generated valid by construction (every reference
//! points at something defined), so the properties exercise the compiler,
//! not the validator.

use proptest::prelude::*;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use xpf_dataplane::apply::{ApplyResult, Capabilities};
use xpf_dataplane::compile::{CompiledConfig, compile, compile_with_previous};
use xpf_dataplane::config::*;

fn zone_names(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("z{i}")).collect()
}

/// A generated config: zones, interfaces, addresses, apps, zone-pair and
/// global policies, NAT and filters, all mutually consistent.
fn arb_config() -> impl Strategy<Value = Config> {
    (
        2usize..5,
        proptest::collection::vec((0u8..=255, 8u8..=32), 1..12),
        proptest::collection::vec((1u16..2000, 0u16..100), 0..5),
        proptest::collection::vec(
            (
                0usize..5,
                0usize..5,
                proptest::collection::vec(arb_policy(), 0..6),
            ),
            0..6,
        ),
        proptest::collection::vec(arb_policy(), 0..4),
        proptest::collection::vec(proptest::collection::vec(arb_term(), 1..5), 0..4),
        proptest::collection::vec(any::<bool>(), 0..4),
    )
        .prop_map(|(nzones, addrs, apps, pairs, globals, filters, nats)| {
            let zones = zone_names(nzones);
            let mut cfg = Config::default();
            for (i, z) in zones.iter().enumerate() {
                cfg.zones.push(Zone {
                    name: z.clone(),
                    ..Zone::default()
                });
                cfg.interfaces.push(Interface {
                    name: format!("eth{i}"),
                    zone: z.clone(),
                    addresses: vec![format!("198.18.{i}.1/24").parse().unwrap()],
                    ..Interface::default()
                });
            }
            let mut seen = HashSet::new();
            for (i, (octet, len)) in addrs.iter().enumerate() {
                let net: ipnet::Ipv4Net = format!("198.19.{octet}.0/{len}").parse().unwrap();
                let net = net.trunc();
                if !seen.insert(net) {
                    continue;
                }
                cfg.address_book.addresses.push(Address {
                    name: format!("a{i}"),
                    prefix: Some(net.into()),
                    ..Address::default()
                });
            }
            let addr_names: Vec<String> = cfg
                .address_book
                .addresses
                .iter()
                .map(|a| a.name.clone())
                .collect();
            cfg.address_book.address_sets.push(AddressSet {
                name: "all-generated".into(),
                addresses: addr_names.clone(),
                address_sets: vec![],
            });
            for (i, (port, span)) in apps.iter().enumerate() {
                cfg.applications.applications.push(Application {
                    name: format!("app{i}"),
                    protocol: Some(xpf_runtime::IpProtocol::TCP),
                    destination_port: Some(PortRange::new(*port, port + span)),
                    ..Application::default()
                });
            }
            let app_names: Vec<String> = cfg
                .applications
                .applications
                .iter()
                .map(|a| a.name.clone())
                .chain(["junos-http", "junos-dns-udp", "junos-sip", "any"].map(String::from))
                .collect();
            let pick = |names: &[String], sel: &[usize]| -> Vec<String> {
                if names.is_empty() {
                    return vec![];
                }
                let mut v: Vec<String> =
                    sel.iter().map(|i| names[i % names.len()].clone()).collect();
                v.dedup();
                v
            };
            let mut pair_seen = HashSet::new();
            for (f, t, policies) in pairs {
                let (from, to) = (zones[f % nzones].clone(), zones[t % nzones].clone());
                if !pair_seen.insert((from.clone(), to.clone())) {
                    continue;
                }
                let mut list = Vec::new();
                for (i, p) in policies.into_iter().enumerate() {
                    list.push(p.build(
                        format!("p{i}"),
                        &pick(&addr_names, &p.src),
                        &pick(&addr_names, &p.dst),
                        &pick(&app_names, &p.apps),
                    ));
                }
                cfg.security.policies.push(ZonePairPolicies {
                    from_zone: from,
                    to_zone: to,
                    policies: list,
                });
            }
            for (i, p) in globals.into_iter().enumerate() {
                let mut pol = p.build(
                    format!("g{i}"),
                    &pick(&addr_names, &p.src),
                    &pick(&addr_names, &p.dst),
                    &pick(&app_names, &p.apps),
                );
                pol.match_.from_zone = pick(&zones, &p.src);
                cfg.security.global_policies.push(pol);
            }
            for (i, terms) in filters.into_iter().enumerate() {
                cfg.firewall.filters.push(Filter {
                    name: format!("f{i}"),
                    family: xpf_runtime::AddressFamily::Inet,
                    terms: terms
                        .into_iter()
                        .enumerate()
                        .map(|(j, t)| FilterTerm {
                            name: format!("t{j}"),
                            from: FilterMatch {
                                destination_port: t.0.into_iter().map(PortRange::single).collect(),
                                ..FilterMatch::default()
                            },
                            then: FilterThen {
                                action: Some(t.1),
                                ..FilterThen::default()
                            },
                        })
                        .collect(),
                });
            }
            if let Some(f) = cfg.firewall.filters.first() {
                cfg.interfaces[0].filter.input = Some(f.name.clone());
            }
            for (i, use_pool) in nats.into_iter().enumerate() {
                let then = if use_pool {
                    let name = format!("pool{i}");
                    cfg.security.nat.source.pools.push(SourcePool {
                        name: name.clone(),
                        addresses: vec![PoolAddress::Prefix(
                            format!("198.19.{}.0/30", 200 + i).parse().unwrap(),
                        )],
                        ..SourcePool::default()
                    });
                    SourceNatAction::Pool(name)
                } else {
                    SourceNatAction::Interface
                };
                cfg.security.nat.source.rule_sets.push(SourceRuleSet {
                    name: format!("rs{i}"),
                    from: NatContext {
                        zone: vec![zones[0].clone()],
                        interface: vec![],
                    },
                    to: NatContext {
                        zone: vec![zones[1].clone()],
                        interface: vec![],
                    },
                    rules: vec![SourceNatRule {
                        name: "r".into(),
                        match_: NatMatch::default(),
                        then,
                    }],
                });
            }
            cfg
        })
}

#[derive(Clone, Debug)]
struct PolicySpec {
    src: Vec<usize>,
    dst: Vec<usize>,
    apps: Vec<usize>,
    action: PolicyAction,
}

impl PolicySpec {
    fn build(&self, name: String, src: &[String], dst: &[String], apps: &[String]) -> Policy {
        Policy {
            name,
            match_: PolicyMatch {
                source_address: src.to_vec(),
                destination_address: dst.to_vec(),
                application: apps.to_vec(),
                ..PolicyMatch::default()
            },
            then: PolicyThen {
                action: self.action,
                ..PolicyThen::default()
            },
            ..Policy::default()
        }
    }
}

fn arb_policy() -> impl Strategy<Value = PolicySpec> {
    (
        proptest::collection::vec(0usize..16, 0..3),
        proptest::collection::vec(0usize..16, 0..3),
        proptest::collection::vec(0usize..16, 0..3),
        prop_oneof![
            Just(PolicyAction::Permit),
            Just(PolicyAction::Deny),
            Just(PolicyAction::Reject)
        ],
    )
        .prop_map(|(src, dst, apps, action)| PolicySpec {
            src,
            dst,
            apps,
            action,
        })
}

fn arb_term() -> impl Strategy<Value = (Vec<u16>, FilterAction)> {
    (
        proptest::collection::vec(1u16..1024, 0..3),
        prop_oneof![
            Just(FilterAction::Accept),
            Just(FilterAction::Discard),
            Just(FilterAction::Reject),
            Just(FilterAction::NextTerm)
        ],
    )
}

fn apply_result(c: &CompiledConfig) -> ApplyResult {
    ApplyResult::from_compiled(c, 1, Capabilities::all_supported())
}

/// Stable key of a rule: the same key the compiler uses.
fn rule_keys(c: &CompiledConfig) -> BTreeMap<String, u32> {
    let r = apply_result(c);
    c.policies
        .rules
        .iter()
        .map(|rule| {
            let name = &r.policy_names[&rule.id];
            (
                format!(
                    "{}/{}/{}/{}",
                    name.scope, name.policy, name.application, rule.app_match.term
                ),
                rule.id.0,
            )
        })
        .collect()
}

fn assert_unique<T: Ord + Copy + std::fmt::Debug>(
    what: &str,
    ids: impl IntoIterator<Item = T>,
    none: T,
) {
    let mut seen = BTreeSet::new();
    for id in ids {
        assert_ne!(id, none, "{what}: id 0 is reserved");
        assert!(seen.insert(id), "{what}: duplicate id {id:?}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn compilation_is_deterministic(cfg in arb_config()) {
        let a = compile(&cfg).expect("generated configs are valid");
        let b = compile(&cfg).unwrap();
        prop_assert_eq!(&a, &b);
        // Recompiling against itself changes nothing either.
        let c = compile_with_previous(&cfg, Some(&a)).unwrap();
        prop_assert_eq!(&a, &c);
    }

    #[test]
    fn ids_are_unique_and_nonzero_in_every_space(cfg in arb_config()) {
        let c = compile(&cfg).unwrap();
        assert_unique("zones", c.zones.iter().map(|z| z.id), xpf_runtime::ZoneId::NONE);
        assert_unique("interfaces", c.interfaces.iter().map(|i| i.id), xpf_runtime::InterfaceId::NONE);
        assert_unique("rules", c.policies.rules.iter().map(|r| r.id), xpf_runtime::PolicyRuleId::NONE);
        assert_unique("apps", c.applications.iter().map(|a| a.id), xpf_runtime::AppId::NONE);
        assert_unique("address sets", c.address_sets.iter().map(|s| s.id), xpf_runtime::AddressSetId::NONE);
        assert_unique("filters", c.filters.filters.iter().map(|f| f.id), xpf_runtime::FilterId::NONE);
        assert_unique("terms", c.filters.terms.iter().map(|t| t.id), xpf_runtime::FilterTermId::NONE);
        let nat_rules = c.nat.source_rules.iter().map(|r| r.id)
            .chain(c.nat.destination_rules.iter().map(|r| r.id))
            .chain(c.nat.static_rules.iter().map(|r| r.id));
        assert_unique("nat rules", nat_rules, xpf_runtime::NatRuleId::NONE);
        let pools = c.nat.source_pools.iter().map(|p| p.id).chain(c.nat.destination_pools.iter().map(|p| p.id));
        assert_unique("pools", pools, xpf_runtime::NatPoolId::NONE);
        // Every address set a rule names exists.
        let sets: BTreeSet<_> = c.address_sets.iter().map(|s| s.id).collect();
        for r in &c.policies.rules {
            prop_assert!(sets.contains(&r.source) && sets.contains(&r.destination));
        }
    }

    #[test]
    fn every_rule_maps_back_to_its_policy(cfg in arb_config()) {
        let c = compile(&cfg).unwrap();
        let result = apply_result(&c);
        prop_assert_eq!(result.policy_names.len(), c.policies.rules.len());
        for rule in &c.policies.rules {
            let name = &result.policy_names[&rule.id];
            prop_assert_eq!(name.policy.as_str(), &*rule.policy);
            let exists = if name.scope == "global" {
                cfg.security.global_policies.iter().any(|p| *p.name == *rule.policy)
            } else {
                cfg.security.policies.iter().any(|pair| {
                    format!("{}->{}", pair.from_zone, pair.to_zone) == name.scope
                        && pair.policies.iter().any(|p| *p.name == *rule.policy)
                })
            };
            prop_assert!(exists, "rule {:?} names a policy that does not exist", name);
        }
        // Every active policy produced at least one rule.
        let total: usize = cfg.security.policies.iter().map(|p| p.policies.len()).sum::<usize>()
            + cfg.security.global_policies.len();
        let distinct: BTreeSet<_> = result.policy_names.values().map(|n| (n.scope.clone(), n.policy.clone())).collect();
        prop_assert_eq!(distinct.len(), total);
    }

    #[test]
    fn spans_cover_exactly_their_terms_and_rules(cfg in arb_config()) {
        let c = compile(&cfg).unwrap();
        // Filter spans tile the term array in order, and each span's terms
        // are exactly the filter's configured terms.
        let mut next = 0u32;
        for f in &c.filters.filters {
            prop_assert_eq!(f.span.start, next);
            next += f.span.count;
            let cfg_filter = cfg.firewall.filters.iter().find(|x| x.name == f.name).unwrap();
            let names: Vec<&str> = c.filters.terms[f.span.range()].iter().map(|t| t.name.as_str()).collect();
            let expected: Vec<&str> = cfg_filter.terms.iter().map(|t| t.name.as_str()).collect();
            prop_assert_eq!(names, expected);
            prop_assert!(c.filters.terms[f.span.range()].iter().all(|t| t.filter == f.id));
        }
        prop_assert_eq!(next as usize, c.filters.terms.len());
        // Zone-pair spans then the global span tile the rule array.
        let mut next = 0u32;
        for p in &c.policies.zone_pairs {
            prop_assert_eq!(p.span.start, next);
            next += p.span.count;
            for r in &c.policies.rules[p.span.range()] {
                prop_assert_eq!(&*r.from_zones, &[p.from][..]);
                prop_assert_eq!(&*r.to_zones, &[p.to][..]);
            }
        }
        prop_assert_eq!(c.policies.global.start, next);
        prop_assert_eq!((next + c.policies.global.count) as usize, c.policies.rules.len());
    }

    #[test]
    fn ids_survive_unrelated_edits(cfg in arb_config(), edit in 0u8..5) {
        let before = compile(&cfg).unwrap();
        let mut edited = cfg.clone();
        match edit {
            0 => edited.address_book.addresses.push(Address {
                name: "added-later".into(),
                prefix: Some("198.18.250.0/24".parse().unwrap()),
                ..Address::default()
            }),
            1 => edited.security.global_policies.insert(0, Policy {
                name: "inserted-first".into(),
                match_: PolicyMatch { application: vec!["junos-ssh".into()], ..PolicyMatch::default() },
                ..Policy::default()
            }),
            2 => {
                if let Some(pair) = edited.security.policies.first_mut()
                    && !pair.policies.is_empty()
                {
                    pair.policies.remove(0);
                }
            }
            3 => edited.applications.applications.insert(0, Application {
                name: "new-app".into(),
                protocol: Some(xpf_runtime::IpProtocol::UDP),
                destination_port: Some(PortRange::single(9999)),
                ..Application::default()
            }),
            _ => edited.zones.push(Zone { name: "zz-new".into(), ..Zone::default() }),
        }
        let after = compile_with_previous(&edited, Some(&before)).unwrap();
        let (kb, ka) = (rule_keys(&before), rule_keys(&after));
        for (key, id) in &ka {
            if let Some(old) = kb.get(key) {
                prop_assert_eq!(old, id, "rule {} changed id", key);
            }
        }
        // New rules never take an id that belonged to a different rule in the previous generation.
        let old_ids: BTreeMap<u32, &String> = kb.iter().map(|(k, v)| (*v, k)).collect();
        for (key, id) in &ka {
            if let Some(owner) = old_ids.get(id) {
                prop_assert_eq!(*owner, key);
            }
        }
        let (rb, ra) = (apply_result(&before), apply_result(&after));
        for (name, id) in &ra.zone_ids {
            if let Some(old) = rb.zone_ids.get(name) {
                prop_assert_eq!(old, id);
            }
        }
        for (id, name) in &ra.app_names {
            if let Some((old_id, _)) = rb.app_names.iter().find(|(_, n)| *n == name) {
                prop_assert_eq!(old_id, id);
            }
        }
        for (name, id) in &ra.nat_counter_ids {
            if let Some(old) = rb.nat_counter_ids.get(name) {
                prop_assert_eq!(old, id);
            }
        }
    }
}
