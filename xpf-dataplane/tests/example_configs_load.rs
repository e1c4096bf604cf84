//! The example configs under `examples/configs/` are documentation that must
//! not rot: each one loads from TOML, survives a TOML → model → JSON → model
//! round trip (and a TOML re-serialisation) unchanged, and passes semantic
//! validation without a single error.
//!
//! Each config has its own test, which does those checks, verifies that the
//! file uses only documentation addresses (198.18.0.0/15, 2001:db8::/32)
//! and locally administered MACs, and asserts the features its header
//! comment promises, so an edit that silently drops (say) the screen profile
//! from `branch-office.toml` fails here. A config added to the directory
//! without a test fails `every_example_config_is_covered`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use xpf_dataplane::Config;
use xpf_dataplane::config::{
    DestinationNatAction, FilterAction, PolicerKind, PolicyAction, PoolAddress, PortOverload,
    SourceNatAction,
};
use xpf_dataplane::validate::validate;
use xpf_runtime::AddressFamily;

/// Every config in the directory, each with a test below.
const COVERED: &[&str] = &[
    "branch-office.toml",
    "dmz-dnat.toml",
    "dual-stack.toml",
    "ha-pair.toml",
    "scheduled-filters.toml",
];

/// Only these documentation / benchmarking blocks may appear in examples.
const ALLOWED_V4: &str = "198.18.0.0/15";
const ALLOWED_V6: &str = "2001:db8::/32";

fn configs_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/configs")
}

/// Loads `name`, checks both round trips and validation, and returns it.
fn load_checked(name: &str) -> Config {
    let path = configs_dir().join(name);
    let config = Config::from_path(&path)
        .unwrap_or_else(|e| panic!("{} does not load: {e}", path.display()));

    let json = serde_json::to_string(&config)
        .unwrap_or_else(|e| panic!("{name} does not serialise to JSON: {e}"));
    let from_json = Config::from_json_str(&json)
        .unwrap_or_else(|e| panic!("{name} does not load back from its JSON: {e}\n{json}"));
    assert_eq!(
        config, from_json,
        "{name} changed in the TOML -> JSON -> model round trip"
    );

    let toml = config.to_toml_string();
    let from_toml = Config::from_toml_str(&toml)
        .unwrap_or_else(|e| panic!("{name} does not load back from its TOML: {e}\n{toml}"));
    assert_eq!(
        config, from_toml,
        "{name} changed in the model -> TOML -> model round trip"
    );

    if let Err(errors) = validate(&config) {
        panic!(
            "{name} does not validate ({} errors):\n{errors}",
            errors.len()
        );
    }
    config
}

/// Every IP address literal in the file's text lies in the allowed blocks
/// (the default routes `0.0.0.0/0` and `::/0` excepted), and every MAC is
/// a locally administered unicast address.
fn assert_documentation_addresses_only(name: &str) {
    let text = std::fs::read_to_string(configs_dir().join(name)).unwrap();
    let v4: ipnet::IpNet = ALLOWED_V4.parse().unwrap();
    let v6: ipnet::IpNet = ALLOWED_V6.parse().unwrap();
    for (line_no, line) in text.lines().enumerate() {
        let code = line.split('#').next().unwrap_or("");
        for quoted in code.split('"').skip(1).step_by(2) {
            let addr_text = quoted.split('/').next().unwrap_or(quoted);
            if let Ok(addr) = addr_text.parse::<std::net::IpAddr>() {
                let default_route = addr.is_unspecified() && quoted.ends_with("/0");
                assert!(
                    default_route || v4.contains(&addr) || v6.contains(&addr),
                    "{name}:{}: {quoted} is outside {ALLOWED_V4} and {ALLOWED_V6}",
                    line_no + 1
                );
            }
            if let Ok(mac) = quoted.parse::<xpf_dataplane::config::MacAddr>() {
                assert!(
                    mac.0[0] & 0x02 == 0x02 && !mac.is_multicast(),
                    "{name}:{}: MAC {mac} is not a locally administered unicast address",
                    line_no + 1
                );
            }
        }
    }
}

fn policy_names(config: &Config, from: &str, to: &str) -> Vec<String> {
    config
        .security
        .policies
        .iter()
        .filter(|p| p.from_zone == from && p.to_zone == to)
        .flat_map(|p| p.policies.iter().map(|p| p.name.clone()))
        .collect()
}

/// Each config is loaded and checked by its own test below; this one makes
/// sure there is such a test for every file in the directory.
#[test]
fn every_example_config_is_covered() {
    let mut found = BTreeSet::new();
    for entry in std::fs::read_dir(configs_dir()).expect("examples/configs exists") {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) == Some("toml") {
            found.insert(path.file_name().unwrap().to_str().unwrap().to_string());
        }
    }
    let covered: BTreeSet<String> = COVERED.iter().map(|s| s.to_string()).collect();
    let untested: Vec<_> = found.difference(&covered).collect();
    assert!(
        untested.is_empty(),
        "example configs without a test in {}: {untested:?}",
        file!()
    );
    let missing: Vec<_> = covered.difference(&found).collect();
    assert!(
        missing.is_empty(),
        "example configs listed but missing: {missing:?}"
    );
    assert!(
        found.len() >= 5,
        "expected at least five example configs, found {found:?}"
    );
}

#[test]
fn branch_office() {
    let name = "branch-office.toml";
    let config = load_checked(name);
    assert_documentation_addresses_only(name);

    let zones: Vec<_> = config.zones.iter().map(|z| z.name.as_str()).collect();
    assert_eq!(zones, ["trust", "untrust", "guest"]);
    let untrust = config.zones.iter().find(|z| z.name == "untrust").unwrap();
    assert_eq!(untrust.screen.as_deref(), Some("untrust-screen"));
    let trust = config.zones.iter().find(|z| z.name == "trust").unwrap();
    assert!(!trust.address_book.is_empty(), "per-zone address book");
    assert!(
        !config.address_book.address_sets.is_empty(),
        "global address sets"
    );
    assert!(
        config
            .address_book
            .address_sets
            .iter()
            .any(|s| !s.address_sets.is_empty()),
        "a nested address set"
    );

    let apps = &config.applications;
    assert!(
        apps.applications.iter().any(|a| a.terms.len() > 1),
        "multi-term app"
    );
    assert!(!apps.application_sets.is_empty());

    let trust_untrust = policy_names(&config, "trust", "untrust");
    for p in ["allow-web", "allow-dns", "allow-ntp", "deny-log"] {
        assert!(trust_untrust.iter().any(|n| n == p), "missing {p}");
    }
    let web = config
        .security
        .policies
        .iter()
        .flat_map(|zp| &zp.policies)
        .find(|p| p.name == "allow-web")
        .unwrap();
    assert!(web.then.log.session_close && web.then.count);
    assert!(!policy_names(&config, "guest", "untrust").is_empty());

    let snat = &config.security.nat.source;
    let actions: Vec<_> = snat
        .rule_sets
        .iter()
        .flat_map(|rs| &rs.rules)
        .map(|r| &r.then)
        .collect();
    assert!(actions.contains(&&SourceNatAction::Interface));
    assert!(actions.contains(&&SourceNatAction::Pool("guest-pool".into())));
    assert_eq!(snat.pools[0].port_overload, PortOverload::On);

    let screen = &config.security.screen.ids_options[0];
    assert!(screen.tcp.land && screen.tcp.syn_fin && screen.tcp.tcp_no_flag && screen.tcp.winnuke);
    assert!(screen.tcp.syn_flood_threshold.is_some());
    assert!(screen.limit_session.source_ip_based.is_some());
    assert_eq!(config.security.flow.tcp_mss, Some(1360));
    assert!(config.security.flow.timeouts.tcp_established.is_some());
    assert!(
        config
            .forwarding
            .routes
            .iter()
            .any(|r| r.destination.prefix_len() == 0)
    );
    assert!(!config.forwarding.neighbours.is_empty());
}

#[test]
fn dmz_dnat() {
    let name = "dmz-dnat.toml";
    let config = load_checked(name);
    assert_documentation_addresses_only(name);

    let dnat = &config.security.nat.destination;
    let web = dnat
        .pools
        .iter()
        .find(|p| p.name == "web-server-8443")
        .unwrap();
    assert_eq!(
        (web.address.to_string(), web.port),
        ("198.18.2.10".into(), Some(8443))
    );
    let rules: Vec<_> = dnat.rule_sets.iter().flat_map(|rs| &rs.rules).collect();
    let https = rules.iter().find(|r| r.name == "https-to-web").unwrap();
    assert_eq!(
        https.match_.destination_address,
        ["198.19.0.10/32".parse().unwrap()]
    );
    assert_eq!(
        https.match_.destination_port,
        [xpf_dataplane::config::PortRange::single(443)]
    );
    assert_eq!(
        https.then,
        DestinationNatAction::Pool("web-server-8443".into())
    );
    assert!(
        rules
            .iter()
            .any(|r| r.match_.destination_port == [xpf_dataplane::config::PortRange::single(25)])
    );

    let statics: Vec<_> = config
        .security
        .nat
        .static_
        .rule_sets
        .iter()
        .flat_map(|rs| &rs.rules)
        .collect();
    assert_eq!(statics.len(), 1);
    assert_eq!(
        statics[0].destination_address.prefix_len(),
        statics[0].prefix.prefix_len()
    );
    assert!(
        statics[0].prefix.prefix_len() < 32,
        "a block, not a single host"
    );

    assert!(!policy_names(&config, "untrust", "dmz").is_empty());
    assert!(!policy_names(&config, "dmz", "untrust").is_empty());
    let all_policies = config.security.policies.iter().flat_map(|zp| &zp.policies);
    assert!(
        all_policies
            .clone()
            .any(|p| p.then.action == PolicyAction::Reject)
    );
    let global = &config.security.global_policies;
    assert_eq!(global.len(), 1);
    assert_eq!(global[0].then.action, PolicyAction::Deny);
    assert!(global[0].then.log.session_init);
}

#[test]
fn dual_stack() {
    let name = "dual-stack.toml";
    let config = load_checked(name);
    assert_documentation_addresses_only(name);

    let dual = |i: &xpf_dataplane::config::Interface| {
        i.addresses.iter().any(|a| a.addr().is_ipv4())
            && i.addresses.iter().any(|a| a.addr().is_ipv6())
    };
    assert!(config.interfaces.iter().filter(|i| dual(i)).count() >= 2);
    assert!(
        config.interfaces.iter().any(|i| i.vlan.is_some()),
        "a VLAN-tagged unit"
    );
    let uplink = config
        .interfaces
        .iter()
        .find(|i| i.filter.input6.is_some())
        .unwrap();
    let filter_name = uplink.filter.input6.as_deref().unwrap();
    let filter = config
        .firewall
        .filters
        .iter()
        .find(|f| f.name == filter_name)
        .unwrap();
    assert_eq!(filter.family, AddressFamily::Inet6);

    let v6_entries = config
        .zones
        .iter()
        .flat_map(|z| &z.address_book.addresses)
        .chain(&config.address_book.addresses)
        .filter(|a| a.prefix.is_some_and(|p| p.addr().is_ipv6()))
        .count();
    assert!(v6_entries >= 3);
    let policies: Vec<_> = config
        .security
        .policies
        .iter()
        .flat_map(|zp| &zp.policies)
        .collect();
    assert!(
        policies
            .iter()
            .any(|p| p.match_.application == ["junos-pingv6"])
    );
    assert!(policies.iter().any(
        |p| p.match_.source_address == ["any-ipv6"] && p.match_.application == ["junos-https"]
    ));

    let routes = &config.forwarding.routes;
    assert!(routes.iter().any(|r| r.destination.to_string() == "::/0"));
    assert!(
        routes
            .iter()
            .filter(|r| r.destination.addr().is_ipv6())
            .count()
            >= 2
    );
    assert!(
        config
            .forwarding
            .neighbours
            .iter()
            .any(|n| n.address.is_ipv6())
    );
}

#[test]
fn scheduled_filters() {
    let name = "scheduled-filters.toml";
    let config = load_checked(name);
    assert_documentation_addresses_only(name);

    let scheduler = |n: &str| config.schedulers.iter().find(|s| s.name == n).unwrap();
    let office = scheduler("office-hours");
    assert_eq!(office.windows[0].days.len(), 5, "weekdays");
    let overnight = scheduler("overnight-backup");
    assert!(
        overnight.windows[0].start > overnight.windows[0].stop,
        "crosses midnight"
    );
    assert!(!scheduler("q4-contractors").date_ranges.is_empty());
    let policies: Vec<_> = config
        .security
        .policies
        .iter()
        .flat_map(|zp| &zp.policies)
        .collect();
    assert!(policies.iter().filter(|p| p.scheduler.is_some()).count() >= 3);

    let families: BTreeSet<_> = config.firewall.filters.iter().map(|f| f.family).collect();
    assert_eq!(families.len(), 2, "inet and inet6 filters");
    let terms: Vec<_> = config
        .firewall
        .filters
        .iter()
        .flat_map(|f| &f.terms)
        .collect();
    let tcp_flags: Vec<_> = terms
        .iter()
        .filter_map(|t| t.from.tcp_flags.as_ref())
        .map(|f| f.text.as_str())
        .collect();
    assert!(tcp_flags.contains(&"syn & !ack"));
    assert!(terms.iter().any(|t| !t.from.dscp.is_empty()));
    assert!(terms.iter().any(|t| !t.from.icmp_type.is_empty()));
    assert!(terms.iter().any(|t| !t.from.source_address.is_empty()));
    assert!(terms.iter().any(|t| t.then.log));
    assert!(terms.iter().any(|t| t.then.count.is_some()));
    assert!(terms.iter().any(|t| t.then.policer.is_some()));
    for action in [
        FilterAction::Accept,
        FilterAction::Reject,
        FilterAction::Discard,
        FilterAction::NextTerm,
    ] {
        assert!(
            terms.iter().any(|t| t.then.action == Some(action)),
            "{action:?}"
        );
    }
    let policers = &config.firewall.policers;
    assert!(
        policers
            .iter()
            .any(|p| matches!(p.kind, PolicerKind::SingleRate { .. }))
    );
    assert!(
        policers
            .iter()
            .any(|p| matches!(p.kind, PolicerKind::TwoRate { .. }))
    );
    let bound: usize = config
        .interfaces
        .iter()
        .map(|i| {
            let f = &i.filter;
            [&f.input, &f.output, &f.input6, &f.output6]
                .iter()
                .filter(|b| b.is_some())
                .count()
        })
        .sum();
    assert!(bound >= 4);
}

#[test]
fn ha_pair() {
    let name = "ha-pair.toml";
    let config = load_checked(name);
    assert_documentation_addresses_only(name);

    let ha = config.ha.as_ref().expect("ha section");
    assert_eq!(ha.node_id, 0);
    let groups: Vec<_> = ha.redundancy_groups.iter().map(|g| g.id).collect();
    assert_eq!(groups, [0, 1, 2]);
    assert!(ha.redundancy_groups.iter().any(|g| g.preempt));
    let rg2 = &ha.redundancy_groups[2];
    assert!(
        rg2.node1_priority > rg2.node0_priority,
        "RG2 active on node1"
    );
    assert!(!ha.fabric_links.is_empty());

    let reths: Vec<_> = config
        .interfaces
        .iter()
        .filter(|i| i.name.starts_with("reth"))
        .collect();
    assert!(reths.len() >= 3);
    assert!(reths.iter().all(|i| i.redundancy_group.is_some()));

    let pools = &config.security.nat.source.pools;
    assert!(pools.iter().any(|p| p.address_persistent));
    assert!(pools.iter().any(|p| p.persistent));
    assert!(pools.iter().any(|p| p.port_overload == PortOverload::Off));
    assert!(
        pools
            .iter()
            .flat_map(|p| &p.addresses)
            .any(|a| matches!(a, PoolAddress::Range(_))),
        "a pool given as an address range"
    );
}
