//! Semantic validation: every error class reports the exact path of the
//! offending field and a specific message, and validation reports every
//! error in a config, in config order.
//!
//! Each test loads a small TOML config (stage 1 must succeed) and checks
//! what `validate` (stage 2) says about it. The classes follow the list in
//! the `xpf_dataplane::validate` module docs.

use std::path::Path;
use xpf_dataplane::config::{Policer, PolicerKind};
use xpf_dataplane::validate::validate;
use xpf_dataplane::{Config, ConfigErrors};

/// Two zones with one interface each (dual stack on `eth0`), a server in
/// the trust zone's book and a network in the global book.
const BASE: &str = r#"
[[interfaces]]
name = "eth0"
zone = "trust"
addresses = ["198.18.0.1/24", "2001:db8:0:1::1/64"]

[[interfaces]]
name = "eth1"
zone = "untrust"
addresses = ["198.18.1.1/24", "2001:db8:0:2::1/64"]

[[address-book.addresses]]
name = "internet-v6"
prefix = "2001:db8:ff::/48"

[[zones]]
name = "trust"
[[zones.address-book.addresses]]
name = "web"
prefix = "198.18.0.10/32"

[[zones]]
name = "untrust"
"#;

fn load(toml: &str) -> Config {
    Config::from_toml_str(toml).unwrap_or_else(|e| panic!("test config must load: {e}\n{toml}"))
}

/// Validates `BASE` followed by `extra`, expecting errors.
fn errors(extra: &str) -> ConfigErrors {
    errors_alone(&format!("{BASE}\n{extra}"))
}

/// Validates `toml` on its own, expecting errors.
fn errors_alone(toml: &str) -> ConfigErrors {
    match validate(&load(toml)) {
        Ok(()) => panic!("expected validation errors for:\n{toml}"),
        Err(errors) => errors,
    }
}

/// Asserts that `BASE` + `extra` has an error at `path` containing `needle`.
#[track_caller]
fn assert_error(extra: &str, path: &str, needle: &str) {
    assert_has(&errors(extra), path, needle);
}

#[track_caller]
fn assert_has(errors: &ConfigErrors, path: &str, needle: &str) {
    assert!(
        errors.has(path, needle),
        "expected an error at `{path}` containing {needle:?}; got:\n{errors}"
    );
}

/// Asserts that `BASE` + `extra` validates.
#[track_caller]
fn assert_valid(extra: &str) {
    let toml = format!("{BASE}\n{extra}");
    if let Err(errors) = validate(&load(&toml)) {
        panic!("expected a valid config, got:\n{errors}\n{toml}");
    }
}

/// A zone-pair policy trust->untrust named `p` with the given match table.
fn trust_to_untrust(match_: &str) -> String {
    format!(
        r#"
[[security.policies]]
from-zone = "trust"
to-zone = "untrust"
[[security.policies.policies]]
name = "p"
match = {match_}
then = {{ action = "permit" }}
"#
    )
}

// ---------------------------------------------------------------------------
// Baseline
// ---------------------------------------------------------------------------

#[test]
fn base_config_and_empty_config_are_valid() {
    assert_valid("");
    assert_eq!(validate(&Config::default()), Ok(()));
}

/// Stage 1 (loading) of the examples is covered by `example_configs_load.rs`;
/// a config that does not load is listed here but cannot be validated.
#[test]
fn every_example_config_validates_cleanly() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/configs");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        eprintln!("skipping: {} does not exist yet", dir.display());
        return;
    };
    let mut paths: Vec<_> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    paths.sort();
    if paths.is_empty() {
        eprintln!("skipping: no example configs in {} yet", dir.display());
    }
    let mut invalid = Vec::new();
    for path in paths {
        match Config::from_path(&path) {
            Err(e) => eprintln!("not validated: {} does not load: {e}", path.display()),
            Ok(config) => {
                if let Err(errors) = validate(&config) {
                    invalid.push(format!("{}: {errors}", path.display()));
                }
            }
        }
    }
    assert!(invalid.is_empty(), "{}", invalid.join("\n"));
}

#[test]
fn several_independent_errors_are_all_reported_in_config_order() {
    let errors = errors(
        r#"
[[applications.applications]]
name = "my-app"
protocol = "tcp"
destination-port = "90-80"

[[schedulers]]
name = "office-hours"
[[schedulers.windows]]
start = "08:00"
stop = "08:00"

[[security.policies]]
from-zone = "trust"
to-zone = "untrust"
[[security.policies.policies]]
name = "allow-web"
match = { application = ["htp"] }
then = { action = "permit" }

[security.flow]
tcp-mss = 10

[[forwarding.routes]]
destination = "198.18.0.1/16"
discard = true
"#,
    );
    let got: Vec<(&str, &str)> = errors
        .iter()
        .map(|e| (e.path.as_str(), e.message.as_str()))
        .collect();
    let expected = [
        (
            "applications.applications[my-app].destination-port",
            "port range 90-80 is inverted (low > high)",
        ),
        (
            "schedulers[office-hours].windows[#0].stop",
            "start and stop are both 08:00 (the window is empty)",
        ),
        (
            "security.policies[trust->untrust].allow-web.match.application",
            "unknown application \"htp\" (did you mean \"junos-http\"?)",
        ),
        ("security.flow.tcp-mss", "tcp-mss 10 is outside 64-65495"),
        (
            "forwarding.routes[198.18.0.1/16].destination",
            "prefix 198.18.0.1/16 has host bits set (did you mean 198.18.0.0/16?)",
        ),
    ];
    assert_eq!(got, expected, "\n{errors}");
}

// ---------------------------------------------------------------------------
// 1. Unknown references
// ---------------------------------------------------------------------------

#[test]
fn unknown_interface_zone_suggests_the_closest_zone() {
    assert_error(
        "[[interfaces]]\nname = \"eth2\"\nzone = \"trsut\"\n",
        "interfaces[eth2].zone",
        "unknown zone \"trsut\" (did you mean \"trust\"?)",
    );
}

#[test]
fn unknown_zone_screen_profile_names_zone_path() {
    assert_error(
        "[[zones]]\nname = \"dmz\"\nscreen = \"untrust-screen\"\n",
        "zones[dmz].screen",
        "unknown screen profile \"untrust-screen\"",
    );
}

#[test]
fn unknown_zone_of_a_zone_pair_names_the_pair() {
    let errors = errors(
        r#"
[[security.policies]]
from-zone = "trust"
to-zone = "bogus"
"#,
    );
    assert_has(
        &errors,
        "security.policies[trust->bogus].to-zone",
        "unknown zone \"bogus\"",
    );
    assert_eq!(errors.len(), 1, "{errors}");
}

#[test]
fn unknown_zone_in_global_policy_match_names_global_policy_path() {
    assert_error(
        r#"
[[security.global-policies]]
name = "p1"
match = { from-zone = ["untrusted"] }
"#,
        "security.global-policies[p1].match.from-zone",
        "unknown zone \"untrusted\" (did you mean \"untrust\"?)",
    );
}

#[test]
fn unknown_source_address_in_zone_pair_policy_searches_from_zone_and_global_books() {
    assert_error(
        &trust_to_untrust(r#"{ source-address = ["webb"] }"#),
        "security.policies[trust->untrust].p.match.source-address",
        "unknown address \"webb\" in zone \"trust\"'s address book or the global address book (did you mean \"web\"?)",
    );
}

#[test]
fn destination_address_resolves_in_the_to_zone_book_not_the_from_zone_book() {
    assert_error(
        &trust_to_untrust(r#"{ destination-address = ["web"] }"#),
        "security.policies[trust->untrust].p.match.destination-address",
        "defined only in the address book of zone \"trust\"",
    );
}

#[test]
fn zone_pair_policy_resolves_zone_book_global_book_and_predefined_addresses() {
    assert_valid(&trust_to_untrust(
        r#"{ source-address = ["web", "any-ipv4"], destination-address = ["internet-v6", "any"] }"#,
    ));
}

#[test]
fn global_policy_uses_only_the_global_address_book() {
    assert_error(
        r#"
[[security.global-policies]]
name = "p1"
match = { source-address = ["web"], destination-address = ["internet-v6"] }
"#,
        "security.global-policies[p1].match.source-address",
        "unknown address \"web\" in the global address book",
    );
}

#[test]
fn unknown_application_in_zone_pair_policy_names_policy_path() {
    assert_error(
        r#"
[[security.policies]]
from-zone = "trust"
to-zone = "untrust"
[[security.policies.policies]]
name = "allow-web"
match = { application = ["htp"] }
then = { action = "permit" }
"#,
        "security.policies[trust->untrust].allow-web.match.application",
        "unknown application \"htp\" (did you mean \"junos-http\"?)",
    );
}

#[test]
fn policy_applications_may_be_any_predefined_custom_or_sets() {
    assert_valid(&format!(
        r#"
[[applications.applications]]
name = "my-app"
protocol = "tcp"
destination-port = 8080
[[applications.application-sets]]
name = "web-apps"
applications = ["junos-http", "my-app"]
{}"#,
        trust_to_untrust(r#"{ application = ["any", "junos-https", "my-app", "web-apps"] }"#)
    ));
}

#[test]
fn unknown_application_set_member_names_set_path() {
    assert_error(
        r#"
[[applications.application-sets]]
name = "web-apps"
applications = ["junos-http", "junos-htps"]
"#,
        "applications.application-sets[web-apps].applications",
        "unknown application \"junos-htps\" (did you mean \"junos-https\"?)",
    );
}

#[test]
fn address_set_members_must_come_from_the_same_book() {
    assert_error(
        r#"
[[zones]]
name = "dmz"
[[zones.address-book.address-sets]]
name = "servers"
addresses = ["internet-v6"]
"#,
        "zones[dmz].address-book.address-sets[servers].addresses",
        "unknown address \"internet-v6\" in zone \"dmz\"'s address book",
    );
}

#[test]
fn address_set_member_listed_under_the_wrong_kind_says_where_it_belongs() {
    assert_error(
        r#"
[[address-book.address-sets]]
name = "inner"
addresses = ["internet-v6"]
[[address-book.address-sets]]
name = "s"
addresses = ["inner"]
address-sets = ["internet-v6"]
"#,
        "address-book.address-sets[s].address-sets",
        "\"internet-v6\" is an address; list it under addresses",
    );
}

#[test]
fn unknown_scheduler_in_policy_names_policy_scheduler_path() {
    assert_error(
        r#"
[[schedulers]]
name = "office-hours"
[[security.policies]]
from-zone = "trust"
to-zone = "untrust"
[[security.policies.policies]]
name = "allow-web"
scheduler = "office"
"#,
        "security.policies[trust->untrust].allow-web.scheduler",
        "unknown scheduler \"office\" (did you mean \"office-hours\"?)",
    );
}

#[test]
fn source_nat_rule_must_name_a_source_pool() {
    assert_error(
        r#"
[[security.nat.destination.pools]]
name = "web"
address = "198.18.0.10"
[[security.nat.source.rule-sets]]
name = "rs1"
from = { zone = ["trust"] }
to = { zone = ["untrust"] }
[[security.nat.source.rule-sets.rules]]
name = "r1"
then = { pool = "web" }
"#,
        "security.nat.source.rule-sets[rs1].rules[r1].then.pool",
        "unknown source pool \"web\" (\"web\" is a destination pool)",
    );
}

#[test]
fn destination_nat_rule_must_name_a_destination_pool() {
    assert_error(
        r#"
[[security.nat.destination.pools]]
name = "web-server"
address = "198.18.0.10"
[[security.nat.destination.rule-sets]]
name = "rs1"
from = { zone = ["untrust"] }
[[security.nat.destination.rule-sets.rules]]
name = "r1"
match = { destination-address = ["198.18.1.1/32"] }
then = { pool = "web-servr" }
"#,
        "security.nat.destination.rule-sets[rs1].rules[r1].then.pool",
        "unknown destination pool \"web-servr\" (did you mean \"web-server\"?)",
    );
}

#[test]
fn unknown_zone_and_interface_in_nat_rule_set_context() {
    let errors = errors(
        r#"
[[security.nat.source.rule-sets]]
name = "rs1"
from = { zone = ["trusted"] }
to = { interface = ["eth9"] }
"#,
    );
    assert_has(
        &errors,
        "security.nat.source.rule-sets[rs1].from.zone",
        "unknown zone \"trusted\"",
    );
    assert_has(
        &errors,
        "security.nat.source.rule-sets[rs1].to.interface",
        "unknown interface \"eth9\"",
    );
}

#[test]
fn unknown_interface_filter_names_binding_path() {
    assert_error(
        r#"
[[interfaces]]
name = "eth2"
filter = { input = "protect-re" }
"#,
        "interfaces[eth2].filter.input",
        "unknown inet filter \"protect-re\"",
    );
}

#[test]
fn unknown_policer_in_filter_term_names_then_policer() {
    assert_error(
        r#"
[[firewall.filters]]
name = "f"
family = "inet"
[[firewall.filters.terms]]
name = "t"
then = { policer = "slow" }
"#,
        "firewall.filters[f].terms[t].then.policer",
        "unknown policer \"slow\"",
    );
}

#[test]
fn unknown_route_and_neighbour_interfaces_name_their_entries() {
    let errors = errors(
        r#"
[[forwarding.routes]]
destination = "198.18.0.0/16"
next-hop = "198.18.1.254"
interface = "eth7"
[[forwarding.neighbours]]
address = "198.18.1.1"
mac = "02:00:00:00:00:01"
interface = "eth-1"
"#,
    );
    assert_has(
        &errors,
        "forwarding.routes[198.18.0.0/16].interface",
        "unknown interface \"eth7\"",
    );
    assert_has(
        &errors,
        "forwarding.neighbours[198.18.1.1].interface",
        "unknown interface \"eth-1\" (did you mean \"eth1\"?)",
    );
}

#[test]
fn unknown_fabric_link_interface_names_fabric_id() {
    assert_error(
        r#"
[ha]
node-id = 0
[[ha.fabric-links]]
id = 0
interface = "fab0"
"#,
        "ha.fabric-links[0].interface",
        "unknown interface \"fab0\"",
    );
}

#[test]
fn interface_redundancy_group_needs_an_ha_section() {
    assert_error(
        "[[interfaces]]\nname = \"reth0\"\nredundancy-group = 1\n",
        "interfaces[reth0].redundancy-group",
        "redundancy-group 1 needs an ha section",
    );
}

#[test]
fn interface_redundancy_group_must_be_defined_in_ha() {
    let errors = errors(
        r#"
[[interfaces]]
name = "reth0"
redundancy-group = 2
[[interfaces]]
name = "reth1"
redundancy-group = 0
[ha]
[[ha.redundancy-groups]]
id = 1
node0-priority = 200
node1-priority = 100
"#,
    );
    assert_has(
        &errors,
        "interfaces[reth0].redundancy-group",
        "unknown redundancy group 2",
    );
    assert_has(
        &errors,
        "interfaces[reth1].redundancy-group",
        "control-plane group",
    );
}

// ---------------------------------------------------------------------------
// 2. Duplicates and overlaps
// ---------------------------------------------------------------------------

#[test]
fn duplicate_zone_names_the_first_definition_by_index() {
    assert_error(
        "[[zones]]\nname = \"trust\"\n",
        "zones[trust]",
        "duplicate zone \"trust\" (first defined at zones[#0])",
    );
}

#[test]
fn duplicate_interface_is_reported() {
    assert_error(
        "[[interfaces]]\nname = \"eth1\"\n",
        "interfaces[eth1]",
        "duplicate interface \"eth1\" (first defined at interfaces[#1])",
    );
}

#[test]
fn addresses_and_address_sets_share_one_namespace_per_book() {
    assert_error(
        r#"
[[address-book.address-sets]]
name = "internet-v6"
addresses = ["internet-v6"]
"#,
        "address-book.address-sets[internet-v6]",
        "duplicate address set \"internet-v6\" (first defined at address-book.addresses[#0])",
    );
}

#[test]
fn zone_address_may_shadow_a_global_address_of_the_same_name() {
    assert_valid(
        r#"
[[address-book.addresses]]
name = "web"
prefix = "198.18.9.0/24"
"#,
    );
}

#[test]
fn address_named_any_is_reserved() {
    assert_error(
        "[[address-book.addresses]]\nname = \"any-ipv4\"\nprefix = \"198.18.0.0/15\"\n",
        "address-book.addresses[any-ipv4]",
        "address name \"any-ipv4\" is reserved",
    );
}

#[test]
fn application_may_not_redefine_a_predefined_application() {
    assert_error(
        r#"
[[applications.applications]]
name = "junos-http"
protocol = "tcp"
destination-port = 8080
"#,
        "applications.applications[junos-http]",
        "application \"junos-http\" is predefined and may not be redefined",
    );
}

#[test]
fn application_named_any_is_reserved() {
    assert_error(
        "[[applications.application-sets]]\nname = \"any\"\napplications = [\"junos-http\"]\n",
        "applications.application-sets[any]",
        "application set name \"any\" is reserved",
    );
}

#[test]
fn applications_and_application_sets_share_one_namespace() {
    assert_error(
        r#"
[[applications.applications]]
name = "web"
protocol = "tcp"
[[applications.application-sets]]
name = "web"
applications = ["junos-http"]
"#,
        "applications.application-sets[web]",
        "duplicate application set \"web\" (first defined at applications.applications[#0])",
    );
}

#[test]
fn duplicate_scheduler_is_reported() {
    assert_error(
        "[[schedulers]]\nname = \"s\"\n[[schedulers]]\nname = \"s\"\n",
        "schedulers[s]",
        "duplicate scheduler \"s\" (first defined at schedulers[#0])",
    );
}

#[test]
fn zone_pair_listed_twice_is_a_duplicate() {
    assert_error(
        r#"
[[security.policies]]
from-zone = "trust"
to-zone = "untrust"
[[security.policies]]
from-zone = "trust"
to-zone = "untrust"
"#,
        "security.policies[trust->untrust]",
        "duplicate zone pair trust->untrust (first defined at security.policies[#0])",
    );
}

#[test]
fn duplicate_policy_within_a_zone_pair_is_reported_but_not_across_pairs() {
    let errors = errors(
        r#"
[[security.policies]]
from-zone = "trust"
to-zone = "untrust"
[[security.policies.policies]]
name = "allow-web"
[[security.policies.policies]]
name = "allow-web"
[[security.policies]]
from-zone = "untrust"
to-zone = "trust"
[[security.policies.policies]]
name = "allow-web"
"#,
    );
    assert_has(
        &errors,
        "security.policies[trust->untrust].allow-web",
        "duplicate policy \"allow-web\" (first defined at security.policies[trust->untrust].#0)",
    );
    assert_eq!(errors.len(), 1, "{errors}");
}

#[test]
fn duplicate_global_policy_is_reported() {
    assert_error(
        "[[security.global-policies]]\nname = \"p1\"\n[[security.global-policies]]\nname = \"p1\"\n",
        "security.global-policies[p1]",
        "duplicate global policy \"p1\" (first defined at security.global-policies[#0])",
    );
}

#[test]
fn pool_names_are_unique_per_nat_kind() {
    let errors = errors(
        r#"
[[security.nat.source.pools]]
name = "p"
addresses = ["198.18.8.0/30"]
[[security.nat.source.pools]]
name = "p"
addresses = ["198.18.9.0/30"]
[[security.nat.destination.pools]]
name = "p"
address = "198.18.0.10"
"#,
    );
    assert_has(
        &errors,
        "security.nat.source.pools[p]",
        "duplicate source pool \"p\"",
    );
    assert_eq!(
        errors.len(),
        1,
        "a destination pool may share a source pool's name:\n{errors}"
    );
}

#[test]
fn duplicate_rule_sets_and_rules_are_reported() {
    let errors = errors(
        r#"
[[security.nat.static.rule-sets]]
name = "rs"
from = { zone = ["untrust"] }
[[security.nat.static.rule-sets.rules]]
name = "r"
destination-address = "198.18.8.0/30"
prefix = "198.18.0.8/30"
[[security.nat.static.rule-sets.rules]]
name = "r"
destination-address = "198.18.9.0/30"
prefix = "198.18.0.12/30"
[[security.nat.static.rule-sets]]
name = "rs"
from = { zone = ["untrust"] }
"#,
    );
    assert_has(
        &errors,
        "security.nat.static.rule-sets[rs].rules[r]",
        "duplicate rule \"r\" (first defined at security.nat.static.rule-sets[rs].rules[#0])",
    );
    assert_has(
        &errors,
        "security.nat.static.rule-sets[rs]",
        "duplicate static rule set \"rs\"",
    );
}

#[test]
fn duplicate_screen_profile_is_reported() {
    assert_error(
        r#"
[[security.screen.ids-options]]
name = "untrust-screen"
[[security.screen.ids-options]]
name = "untrust-screen"
"#,
        "security.screen.ids-options[untrust-screen]",
        "duplicate screen profile \"untrust-screen\"",
    );
}

#[test]
fn filter_names_are_unique_per_family_and_terms_per_filter() {
    let errors = errors(
        r#"
[[firewall.filters]]
name = "f"
family = "inet"
[[firewall.filters]]
name = "f"
family = "inet6"
[[firewall.filters]]
name = "f"
family = "inet"
[[firewall.filters.terms]]
name = "t"
[[firewall.filters.terms]]
name = "t"
"#,
    );
    assert_has(
        &errors,
        "firewall.filters[f]",
        "duplicate inet filter \"f\" (first defined at firewall.filters[#0])",
    );
    assert_has(
        &errors,
        "firewall.filters[f].terms[t]",
        "duplicate term \"t\"",
    );
    assert_eq!(errors.len(), 2, "{errors}");
}

/// `BASE` plus `policers`, built in code: the TOML form of a policer does
/// not load yet (the model's `#[serde(flatten)]` on `Policer::kind` clashes
/// with `deny_unknown_fields`).
fn policer_errors(policers: Vec<Policer>) -> ConfigErrors {
    let mut config = load(BASE);
    config.firewall.policers = policers;
    validate(&config).expect_err("expected validation errors")
}

fn single_rate(name: &str, bandwidth_limit: u64, burst_size_limit: u64) -> Policer {
    Policer {
        name: name.to_string(),
        kind: PolicerKind::SingleRate {
            bandwidth_limit,
            burst_size_limit,
        },
    }
}

#[test]
fn duplicate_policer_is_reported() {
    let errors = policer_errors(vec![
        single_rate("p", 1_000_000, 15_000),
        single_rate("p", 1_000_000, 15_000),
    ]);
    assert_has(
        &errors,
        "firewall.policers[p]",
        "duplicate policer \"p\" (first defined at firewall.policers[#0])",
    );
}

#[test]
fn routes_are_unique_by_destination_network() {
    assert_error(
        r#"
[[forwarding.routes]]
destination = "198.19.0.0/16"
next-hop = "198.18.1.254"
[[forwarding.routes]]
destination = "198.19.0.0/16"
discard = true
"#,
        "forwarding.routes[198.19.0.0/16]",
        "duplicate route 198.19.0.0/16 (first defined at forwarding.routes[#0])",
    );
}

#[test]
fn neighbours_are_unique_by_address_except_link_local_on_other_links() {
    let errors = errors(
        r#"
[[forwarding.neighbours]]
address = "198.18.1.2"
mac = "02:00:00:00:00:01"
interface = "eth1"
[[forwarding.neighbours]]
address = "198.18.1.2"
mac = "02:00:00:00:00:02"
interface = "eth1"
[[forwarding.neighbours]]
address = "fe80::1"
mac = "02:00:00:00:00:03"
interface = "eth0"
[[forwarding.neighbours]]
address = "fe80::1"
mac = "02:00:00:00:00:04"
interface = "eth1"
"#,
    );
    assert_has(
        &errors,
        "forwarding.neighbours[198.18.1.2]",
        "duplicate neighbour 198.18.1.2",
    );
    assert_eq!(errors.len(), 1, "{errors}");
}

#[test]
fn redundancy_group_and_fabric_ids_are_unique() {
    let errors = errors(
        r#"
[ha]
[[ha.redundancy-groups]]
id = 1
node0-priority = 200
node1-priority = 100
[[ha.redundancy-groups]]
id = 1
node0-priority = 100
node1-priority = 200
[[ha.fabric-links]]
id = 0
interface = "eth1"
[[ha.fabric-links]]
id = 0
interface = "eth1"
"#,
    );
    assert_has(
        &errors,
        "ha.redundancy-groups[1]",
        "duplicate redundancy group 1 (first defined at ha.redundancy-groups[#0])",
    );
    assert_has(&errors, "ha.fabric-links[0]", "duplicate fabric link 0");
}

#[test]
fn overlapping_source_pools_name_the_earlier_pool() {
    assert_error(
        r#"
[[security.nat.source.pools]]
name = "p1"
addresses = ["198.19.0.0/28"]
[[security.nat.source.pools]]
name = "p2"
addresses = [{ from = "198.19.0.20", to = "198.19.0.30" }, "198.19.0.8/29"]
"#,
        "security.nat.source.pools[p2].addresses",
        "198.19.0.8/29 overlaps 198.19.0.0/28 of source pool \"p1\"",
    );
}

#[test]
fn overlapping_static_nat_public_prefixes_are_reported() {
    assert_error(
        r#"
[[security.nat.static.rule-sets]]
name = "rs1"
from = { zone = ["untrust"] }
[[security.nat.static.rule-sets.rules]]
name = "r1"
destination-address = "198.19.0.0/24"
prefix = "198.18.0.0/24"
[[security.nat.static.rule-sets]]
name = "rs2"
from = { interface = ["eth1"] }
[[security.nat.static.rule-sets.rules]]
name = "r2"
destination-address = "198.19.0.16/28"
prefix = "198.18.5.16/28"
"#,
        "security.nat.static.rule-sets[rs2].rules[r2].destination-address",
        "destination-address 198.19.0.16/28 overlaps 198.19.0.0/24 of the static rule at security.nat.static.rule-sets[rs1].rules[r1]",
    );
}

#[test]
fn overlapping_interface_subnets_name_the_other_interface() {
    assert_error(
        "[[interfaces]]\nname = \"eth2\"\naddresses = [\"198.18.0.129/25\"]\n",
        "interfaces[eth2].addresses",
        "subnet 198.18.0.128/25 of address 198.18.0.129/25 overlaps 198.18.0.0/24 of interface \"eth0\"",
    );
}

#[test]
fn interface_address_assigned_to_another_interface_is_reported() {
    assert_error(
        "[[interfaces]]\nname = \"eth2\"\naddresses = [\"2001:db8:0:2::1/64\"]\n",
        "interfaces[eth2].addresses",
        "address 2001:db8:0:2::1 is also assigned to interface \"eth1\"",
    );
}

#[test]
fn ipv6_link_local_addresses_may_repeat_across_interfaces() {
    assert_valid(
        r#"
[[interfaces]]
name = "eth2"
addresses = ["fe80::1/64"]
[[interfaces]]
name = "eth3"
addresses = ["fe80::1/64"]
"#,
    );
}

#[test]
fn address_set_that_contains_itself_is_reported() {
    assert_error(
        r#"
[[address-book.address-sets]]
name = "a"
address-sets = ["b"]
[[address-book.address-sets]]
name = "b"
address-sets = ["a"]
"#,
        "address-book.address-sets[a].address-sets",
        "address set \"a\" contains itself (a -> b -> a)",
    );
}

#[test]
fn application_set_that_contains_itself_is_reported() {
    assert_error(
        "[[applications.application-sets]]\nname = \"loop\"\napplications = [\"loop\"]\n",
        "applications.application-sets[loop].applications",
        "application set \"loop\" contains itself (loop -> loop)",
    );
}

// ---------------------------------------------------------------------------
// 3. Invalid ranges and values
// ---------------------------------------------------------------------------

#[test]
fn inverted_port_range_in_application_names_the_port_field() {
    assert_error(
        r#"
[[applications.applications]]
name = "my-app"
protocol = "tcp"
destination-port = "90-80"
"#,
        "applications.applications[my-app].destination-port",
        "port range 90-80 is inverted (low > high)",
    );
}

#[test]
fn inverted_port_ranges_in_nat_matches_and_filters_are_reported() {
    let errors = errors(
        r#"
[[security.nat.source.rule-sets]]
name = "rs1"
from = { zone = ["trust"] }
to = { zone = ["untrust"] }
[[security.nat.source.rule-sets.rules]]
name = "r1"
match = { source-port = ["2000-1000"] }
then = "interface"
[[firewall.filters]]
name = "f"
family = "inet"
[[firewall.filters.terms]]
name = "t"
from = { destination-port = ["22", "443-80"] }
"#,
    );
    assert_has(
        &errors,
        "security.nat.source.rule-sets[rs1].rules[r1].match.source-port",
        "port range 2000-1000 is inverted",
    );
    assert_has(
        &errors,
        "firewall.filters[f].terms[t].from.destination-port",
        "port range 443-80 is inverted",
    );
}

#[test]
fn source_pool_port_range_must_be_ordered_and_exclude_port_zero() {
    let errors = errors(
        r#"
[[security.nat.source.pools]]
name = "p1"
addresses = ["198.19.0.0/30"]
port-range = "0-1023"
[[security.nat.source.pools]]
name = "p2"
addresses = ["198.19.1.0/30"]
port-range = "2000-1024"
"#,
    );
    assert_has(
        &errors,
        "security.nat.source.pools[p1].port-range",
        "port-range 0-1023 contains port 0",
    );
    assert_has(
        &errors,
        "security.nat.source.pools[p2].port-range",
        "port range 2000-1024 is inverted",
    );
}

#[test]
fn inverted_address_range_is_reported() {
    assert_error(
        r#"
[[address-book.addresses]]
name = "web"
range = { from = "198.18.0.20", to = "198.18.0.10" }
"#,
        "address-book.addresses[web].range",
        "address range 198.18.0.20-198.18.0.10 is inverted (from > to)",
    );
}

#[test]
fn date_range_must_stop_after_it_starts() {
    assert_error(
        r#"
[[schedulers]]
name = "x"
[[schedulers.date-ranges]]
start = "2026-01-01"
stop = "2026-02-01"
[[schedulers.date-ranges]]
start = "2026-03-01"
stop = "2026-03-01"
"#,
        "schedulers[x].date-ranges[#1].stop",
        "stop 2026-03-01T00:00 is not after start 2026-03-01T00:00",
    );
}

#[test]
fn time_window_with_equal_start_and_stop_is_empty() {
    assert_error(
        r#"
[[schedulers]]
name = "office-hours"
[[schedulers.windows]]
start = "09:00"
stop = "09:00"
"#,
        "schedulers[office-hours].windows[#0].stop",
        "start and stop are both 09:00",
    );
}

#[test]
fn time_window_crossing_midnight_is_valid() {
    assert_valid(
        r#"
[[schedulers]]
name = "night"
[[schedulers.windows]]
days = ["friday"]
start = "22:00"
stop = "06:00"
"#,
    );
}

#[test]
fn vlan_must_be_1_to_4094() {
    assert_error(
        "[[interfaces]]\nname = \"eth2\"\nvlan = 4095\n",
        "interfaces[eth2].vlan",
        "vlan 4095 is outside 1-4094",
    );
}

#[test]
fn mtu_bounds_depend_on_the_interface_families() {
    let errors = errors(
        r#"
[[interfaces]]
name = "eth2"
mtu = 60
[[interfaces]]
name = "eth3"
addresses = ["2001:db8:0:3::1/64"]
mtu = 1000
[[interfaces]]
name = "eth4"
mtu = 9300
[[interfaces]]
name = "eth5"
addresses = ["198.18.5.1/24"]
mtu = 1000
"#,
    );
    assert_has(&errors, "interfaces[eth2].mtu", "mtu 60 is below 68");
    assert_has(
        &errors,
        "interfaces[eth3].mtu",
        "mtu 1000 is below 1280, the IPv6 minimum",
    );
    assert_has(
        &errors,
        "interfaces[eth4].mtu",
        "mtu 9300 is above the maximum of 9216",
    );
    assert_eq!(errors.len(), 3, "{errors}");
}

#[test]
fn multicast_mac_is_rejected_for_interfaces_and_neighbours() {
    let errors = errors(
        r#"
[[interfaces]]
name = "eth2"
mac = "01:00:5e:00:00:01"
[[forwarding.neighbours]]
address = "198.18.1.9"
mac = "00:00:00:00:00:00"
interface = "eth1"
"#,
    );
    assert_has(
        &errors,
        "interfaces[eth2].mac",
        "mac 01:00:5e:00:00:01 is a multicast address",
    );
    assert_has(
        &errors,
        "forwarding.neighbours[198.18.1.9].mac",
        "all-zero address",
    );
}

#[test]
fn zero_flow_timeouts_session_capacity_and_bad_tcp_mss_are_reported() {
    let errors = errors(
        r#"
[security.flow]
tcp-mss = 65496
session-capacity = 0
[security.flow.timeouts]
udp = 0
tcp-initial = 0
"#,
    );
    assert_has(
        &errors,
        "security.flow.timeouts.udp",
        "udp timeout of 0 is invalid (must be at least 1)",
    );
    assert_has(
        &errors,
        "security.flow.timeouts.tcp-initial",
        "tcp-initial timeout of 0",
    );
    assert_has(
        &errors,
        "security.flow.tcp-mss",
        "tcp-mss 65496 is outside 64-65495",
    );
    assert_has(
        &errors,
        "security.flow.session-capacity",
        "session-capacity of 0 is invalid",
    );
}

#[test]
fn zero_screen_thresholds_and_session_limits_are_reported() {
    let errors = errors(
        r#"
[[security.screen.ids-options]]
name = "untrust-screen"
tcp = { syn-flood-threshold = 0 }
icmp = { flood-threshold = 0 }
limit-session = { source-ip-based = 0 }
"#,
    );
    let profile = "security.screen.ids-options[untrust-screen]";
    assert_has(
        &errors,
        &format!("{profile}.tcp.syn-flood-threshold"),
        "syn-flood-threshold of 0 is invalid",
    );
    assert_has(
        &errors,
        &format!("{profile}.icmp.flood-threshold"),
        "flood-threshold of 0",
    );
    assert_has(
        &errors,
        &format!("{profile}.limit-session.source-ip-based"),
        "source-ip-based of 0",
    );
}

#[test]
fn dscp_above_63_is_reported() {
    assert_error(
        r#"
[[firewall.filters]]
name = "f"
family = "inet"
[[firewall.filters.terms]]
name = "t"
from = { dscp = [46, 64] }
"#,
        "firewall.filters[f].terms[t].from.dscp",
        "dscp 64 is above 63",
    );
}

#[test]
fn policer_rates_must_be_positive_and_peak_at_least_committed() {
    let two_rate = Policer {
        name: "p".to_string(),
        kind: PolicerKind::TwoRate {
            committed_information_rate: 2_000_000,
            committed_burst_size: 30_000,
            peak_information_rate: 1_000_000,
            peak_burst_size: 15_000,
        },
    };
    let errors = policer_errors(vec![single_rate("single", 0, 1500), two_rate]);
    assert_has(
        &errors,
        "firewall.policers[single].bandwidth-limit",
        "bandwidth-limit of 0 is invalid",
    );
    assert_has(
        &errors,
        "firewall.policers[p].peak-information-rate",
        "peak-information-rate 1000000 is below committed-information-rate 2000000",
    );
    assert_has(
        &errors,
        "firewall.policers[p].peak-burst-size",
        "peak-burst-size 15000 is below committed-burst-size 30000",
    );
}

#[test]
fn ha_node_id_priorities_and_ids_are_range_checked() {
    let errors = errors(
        r#"
[ha]
node-id = 2
heartbeat-threshold = 0
[[ha.redundancy-groups]]
id = 0
node0-priority = 0
node1-priority = 255
[[ha.redundancy-groups]]
id = 129
node0-priority = 100
node1-priority = 100
[[ha.fabric-links]]
id = 2
interface = "eth1"
"#,
    );
    assert_has(&errors, "ha.node-id", "node-id 2 must be 0 or 1");
    assert_has(
        &errors,
        "ha.redundancy-groups[0].node0-priority",
        "node0-priority 0 is outside 1-254",
    );
    assert_has(
        &errors,
        "ha.redundancy-groups[0].node1-priority",
        "node1-priority 255 is outside 1-254",
    );
    assert_has(
        &errors,
        "ha.redundancy-groups[129].id",
        "redundancy group id 129 is above 128",
    );
    assert_has(
        &errors,
        "ha.fabric-links[2].id",
        "fabric link id 2 must be 0 or 1",
    );
    assert_has(
        &errors,
        "ha.heartbeat-threshold",
        "heartbeat-threshold of 0",
    );
    assert!(
        !errors
            .iter()
            .any(|e| e.path == "ha.redundancy-groups[0].id"),
        "group 0 (control plane) is allowed:\n{errors}"
    );
}

#[test]
fn application_needs_exactly_one_form() {
    let errors = errors(
        r#"
[[applications.applications]]
name = "empty"
inactivity-timeout = 60
[[applications.applications]]
name = "both"
protocol = "tcp"
[[applications.applications.terms]]
name = "t1"
protocol = "udp"
"#,
    );
    assert_has(
        &errors,
        "applications.applications[empty]",
        "application \"empty\" has neither a protocol nor terms",
    );
    assert_has(
        &errors,
        "applications.applications[both].terms",
        "application \"both\" has both inline match fields and terms",
    );
}

#[test]
fn application_term_without_protocol_names_the_term() {
    assert_error(
        r#"
[[applications.applications]]
name = "my-app"
[[applications.applications.terms]]
name = "t1"
destination-port = 8080
"#,
        "applications.applications[my-app].terms[t1].protocol",
        "term \"t1\" of application \"my-app\" has no protocol",
    );
}

#[test]
fn ports_need_a_protocol_with_ports_and_icmp_fields_an_icmp_protocol() {
    let errors = errors(
        r#"
[[applications.applications]]
name = "odd"
[[applications.applications.terms]]
name = "t1"
protocol = "icmp"
destination-port = 80
[[applications.applications.terms]]
name = "t2"
protocol = "tcp"
icmp-type = 8
"#,
    );
    assert_has(
        &errors,
        "applications.applications[odd].terms[t1].destination-port",
        "destination-port 80 needs protocol tcp, udp or sctp, not icmp",
    );
    assert_has(
        &errors,
        "applications.applications[odd].terms[t2].icmp-type",
        "icmp-type 8 needs protocol icmp or icmp6, not tcp",
    );
}

#[test]
fn zero_application_inactivity_timeout_is_reported() {
    assert_error(
        "[[applications.applications]]\nname = \"a\"\nprotocol = \"udp\"\ninactivity-timeout = 0\n",
        "applications.applications[a].inactivity-timeout",
        "inactivity-timeout of 0 is invalid",
    );
}

#[test]
fn address_needs_exactly_one_of_prefix_and_range() {
    let errors = errors(
        r#"
[[address-book.addresses]]
name = "nothing"
[[address-book.addresses]]
name = "both"
prefix = "198.18.4.0/24"
range = { from = "198.18.4.1", to = "198.18.4.2" }
"#,
    );
    assert_has(
        &errors,
        "address-book.addresses[nothing]",
        "address \"nothing\" needs a prefix or a range",
    );
    assert_has(
        &errors,
        "address-book.addresses[both].range",
        "has both a prefix and a range",
    );
}

#[test]
fn static_route_needs_one_of_next_hop_interface_or_discard() {
    let errors = errors(
        r#"
[[forwarding.routes]]
destination = "198.19.0.0/16"
[[forwarding.routes]]
destination = "198.19.1.0/24"
next-hop = "198.18.1.254"
discard = true
[[forwarding.routes]]
destination = "198.19.2.0/24"
interface = "eth1"
"#,
    );
    assert_has(
        &errors,
        "forwarding.routes[198.19.0.0/16].next-hop",
        "route needs a next-hop, an interface or discard",
    );
    assert_has(
        &errors,
        "forwarding.routes[198.19.1.0/24].discard",
        "both a next-hop and discard",
    );
    assert_eq!(errors.len(), 2, "an interface route is fine:\n{errors}");
}

#[test]
fn destination_nat_rule_needs_a_destination_address() {
    assert_error(
        r#"
[[security.nat.destination.pools]]
name = "web"
address = "198.18.0.10"
[[security.nat.destination.rule-sets]]
name = "rs1"
from = { zone = ["untrust"] }
[[security.nat.destination.rule-sets.rules]]
name = "r1"
then = { pool = "web" }
"#,
        "security.nat.destination.rule-sets[rs1].rules[r1].match.destination-address",
        "destination NAT rule \"r1\" needs a destination-address",
    );
}

#[test]
fn nat_rule_set_needs_its_context() {
    let errors = errors(
        "[[security.nat.source.rule-sets]]\nname = \"rs1\"\nfrom = { zone = [\"trust\"] }\n",
    );
    assert_has(
        &errors,
        "security.nat.source.rule-sets[rs1].to",
        "to needs at least one zone or interface",
    );
}

#[test]
fn empty_names_are_reported_at_the_indexed_name_field() {
    let errors = errors(
        r#"
[[zones]]
name = ""
[[security.policies]]
from-zone = "trust"
to-zone = "untrust"
[[security.policies.policies]]
match = { application = ["junos-ssh"] }
"#,
    );
    assert_has(&errors, "zones[#2].name", "zone name must not be empty");
    assert_has(
        &errors,
        "security.policies[trust->untrust].#0.name",
        "policy name must not be empty",
    );
}

#[test]
fn zone_pair_policy_may_not_set_match_zones() {
    assert_error(
        &trust_to_untrust(r#"{ from-zone = ["trust"] }"#),
        "security.policies[trust->untrust].p.match.from-zone",
        "match.from-zone is only valid in global policies",
    );
}

#[test]
fn utc_offset_must_be_a_real_time_zone() {
    assert_error(
        "[system]\nutc-offset-minutes = 900\n",
        "system.utc-offset-minutes",
        "utc-offset-minutes 900 is outside -720..=840",
    );
}

// ---------------------------------------------------------------------------
// 4. Prefixes
// ---------------------------------------------------------------------------

#[test]
fn host_bits_in_address_book_prefix_suggest_the_network() {
    assert_error(
        r#"
[[zones]]
name = "dmz"
[[zones.address-book.addresses]]
name = "web"
prefix = "10.0.0.1/24"
"#,
        "zones[dmz].address-book.addresses[web].prefix",
        "prefix 10.0.0.1/24 has host bits set (did you mean 10.0.0.0/24?)",
    );
}

#[test]
fn host_bits_in_nat_static_filter_and_route_prefixes_are_reported() {
    let errors = errors(
        r#"
[[security.nat.source.rule-sets]]
name = "rs1"
from = { zone = ["trust"] }
to = { zone = ["untrust"] }
[[security.nat.source.rule-sets.rules]]
name = "r1"
match = { source-address = ["198.18.0.1/24"] }
[[security.nat.static.rule-sets]]
name = "rs"
from = { zone = ["untrust"] }
[[security.nat.static.rule-sets.rules]]
name = "r"
destination-address = "198.19.0.0/24"
prefix = "198.18.7.9/24"
[[firewall.filters]]
name = "protect-re"
family = "inet6"
[[firewall.filters.terms]]
name = "t1"
from = { source-address = ["2001:db8::1/32"] }
[[forwarding.routes]]
destination = "198.19.5.5/24"
discard = true
"#,
    );
    assert_has(
        &errors,
        "security.nat.source.rule-sets[rs1].rules[r1].match.source-address",
        "prefix 198.18.0.1/24 has host bits set (did you mean 198.18.0.0/24?)",
    );
    assert_has(
        &errors,
        "security.nat.static.rule-sets[rs].rules[r].prefix",
        "did you mean 198.18.7.0/24?",
    );
    assert_has(
        &errors,
        "firewall.filters[protect-re].terms[t1].from.source-address",
        "did you mean 2001:db8::/32?",
    );
    assert_has(
        &errors,
        "forwarding.routes[198.19.5.5/24].destination",
        "did you mean 198.19.5.0/24?",
    );
}

#[test]
fn interface_address_may_not_be_the_network_or_broadcast_address() {
    let errors = errors(
        r#"
[[interfaces]]
name = "eth2"
addresses = ["198.18.4.0/24"]
[[interfaces]]
name = "eth3"
addresses = ["198.18.5.255/24"]
[[interfaces]]
name = "p2p"
addresses = ["198.18.6.0/31"]
"#,
    );
    assert_has(
        &errors,
        "interfaces[eth2].addresses",
        "address 198.18.4.0/24 is the network address of its subnet",
    );
    assert_has(
        &errors,
        "interfaces[eth3].addresses",
        "address 198.18.5.255/24 is the broadcast address",
    );
    assert_eq!(
        errors.len(),
        2,
        "a /31 has no network or broadcast address:\n{errors}"
    );
}

#[test]
fn interface_without_any_address_is_valid() {
    assert_valid("[[interfaces]]\nname = \"eth2\"\nzone = \"trust\"\n");
}

// ---------------------------------------------------------------------------
// 5. Family mismatches
// ---------------------------------------------------------------------------

#[test]
fn address_range_endpoints_must_share_a_family() {
    assert_error(
        r#"
[[address-book.addresses]]
name = "r"
range = { from = "198.18.0.1", to = "2001:db8::1" }
"#,
        "address-book.addresses[r].range",
        "address range 198.18.0.1-2001:db8::1 mixes families (IPv4 start, IPv6 end)",
    );
}

#[test]
fn source_pool_may_not_mix_families() {
    assert_error(
        r#"
[[security.nat.source.pools]]
name = "p1"
addresses = ["198.19.0.0/30", "2001:db8:9::/126"]
"#,
        "security.nat.source.pools[p1].addresses",
        "source pool \"p1\" mixes IPv4 and IPv6 addresses",
    );
}

#[test]
fn static_nat_prefixes_must_share_family_and_length() {
    let errors = errors(
        r#"
[[security.nat.static.rule-sets]]
name = "rs"
from = { zone = ["untrust"] }
[[security.nat.static.rule-sets.rules]]
name = "family"
destination-address = "198.19.0.0/24"
prefix = "2001:db8:5::/120"
[[security.nat.static.rule-sets.rules]]
name = "length"
destination-address = "198.19.1.0/24"
prefix = "198.18.7.0/25"
"#,
    );
    assert_has(
        &errors,
        "security.nat.static.rule-sets[rs].rules[family].prefix",
        "prefix 2001:db8:5::/120 is IPv6 but destination-address 198.19.0.0/24 is IPv4",
    );
    assert_has(
        &errors,
        "security.nat.static.rule-sets[rs].rules[length].prefix",
        "prefix length /25 differs from destination-address length /24",
    );
}

#[test]
fn destination_pool_family_must_match_the_rule_destination() {
    assert_error(
        r#"
[[security.nat.destination.pools]]
name = "web6"
address = "2001:db8:0:1::10"
[[security.nat.destination.rule-sets]]
name = "rs1"
from = { zone = ["untrust"] }
[[security.nat.destination.rule-sets.rules]]
name = "r1"
match = { destination-address = ["198.18.1.1/32"] }
then = { pool = "web6" }
"#,
        "security.nat.destination.rule-sets[rs1].rules[r1].then.pool",
        "pool \"web6\" translates to IPv6 address 2001:db8:0:1::10 but the rule's destination-address is IPv4",
    );
}

#[test]
fn nat_rule_with_source_and_destination_of_different_families_can_never_match() {
    assert_error(
        r#"
[[security.nat.source.rule-sets]]
name = "rs1"
from = { zone = ["trust"] }
to = { zone = ["untrust"] }
[[security.nat.source.rule-sets.rules]]
name = "r1"
match = { source-address = ["198.18.0.0/24"], destination-address = ["2001:db8::/32"] }
"#,
        "security.nat.source.rule-sets[rs1].rules[r1].match",
        "source-address prefixes are IPv4 only and destination-address prefixes IPv6 only",
    );
}

#[test]
fn filter_term_prefix_must_match_the_filter_family() {
    assert_error(
        r#"
[[firewall.filters]]
name = "protect-re"
family = "inet"
[[firewall.filters.terms]]
name = "t1"
from = { source-address = ["198.18.0.0/24", "2001:db8::/32"] }
"#,
        "firewall.filters[protect-re].terms[t1].from.source-address",
        "source-address 2001:db8::/32 is IPv6 but filter \"protect-re\" is family inet",
    );
}

#[test]
fn filter_bound_in_the_wrong_family_says_which_binding_to_use() {
    let errors = errors(
        r#"
[[firewall.filters]]
name = "v4"
family = "inet"
[[firewall.filters]]
name = "v6"
family = "inet6"
[[interfaces]]
name = "eth2"
filter = { input6 = "v4", output = "v6" }
"#,
    );
    assert_has(
        &errors,
        "interfaces[eth2].filter.input6",
        "filter \"v4\" is an inet filter and cannot be bound as input6 (inet6); bind it as input",
    );
    assert_has(
        &errors,
        "interfaces[eth2].filter.output",
        "filter \"v6\" is an inet6 filter and cannot be bound as output (inet); bind it as output6",
    );
}

#[test]
fn icmp_protocol_must_match_the_filter_family() {
    let errors = errors(
        r#"
[[firewall.filters]]
name = "v6"
family = "inet6"
[[firewall.filters.terms]]
name = "t"
from = { protocol = ["icmp"] }
[[firewall.filters]]
name = "v4"
family = "inet"
[[firewall.filters.terms]]
name = "t"
from = { protocol = ["tcp", "icmp6"] }
"#,
    );
    assert_has(
        &errors,
        "firewall.filters[v6].terms[t].from.protocol",
        "protocol icmp cannot match in inet6 filter \"v6\" (use icmp6)",
    );
    assert_has(
        &errors,
        "firewall.filters[v4].terms[t].from.protocol",
        "protocol icmp6 cannot match in inet filter \"v4\" (use icmp)",
    );
}

#[test]
fn route_next_hop_family_must_match_the_destination() {
    assert_error(
        r#"
[[forwarding.routes]]
destination = "198.18.0.0/16"
next-hop = "2001:db8::1"
"#,
        "forwarding.routes[198.18.0.0/16].next-hop",
        "next-hop 2001:db8::1 is IPv6 but destination 198.18.0.0/16 is IPv4",
    );
}

#[test]
fn policy_with_source_and_destination_of_different_families_can_never_match() {
    assert_error(
        &trust_to_untrust(r#"{ source-address = ["web"], destination-address = ["internet-v6"] }"#),
        "security.policies[trust->untrust].p.match",
        "source addresses are IPv4 only and destination addresses IPv6 only; the policy can never match",
    );
}

#[test]
fn global_policy_families_are_resolved_through_address_sets() {
    assert_error(
        r#"
[[address-book.addresses]]
name = "lan"
prefix = "198.18.0.0/24"
[[address-book.address-sets]]
name = "lans"
addresses = ["lan"]
[[security.global-policies]]
name = "p1"
match = { source-address = ["lans"], destination-address = ["any-ipv6"] }
"#,
        "security.global-policies[p1].match",
        "the policy can never match",
    );
}

#[test]
fn negated_addresses_do_not_trigger_the_family_check() {
    assert_valid(&trust_to_untrust(
        r#"{ source-address = ["web"], source-address-excluded = true, destination-address = ["internet-v6"] }"#,
    ));
}

#[test]
fn fabric_link_addresses_must_share_a_family() {
    assert_error(
        r#"
[ha]
[[ha.fabric-links]]
id = 1
interface = "eth1"
local-address = "198.18.1.1"
peer-address = "2001:db8::2"
"#,
        "ha.fabric-links[1].peer-address",
        "peer-address 2001:db8::2 is IPv6 but local-address 198.18.1.1 is IPv4",
    );
}

// ---------------------------------------------------------------------------
// Odds and ends of the classes above
// ---------------------------------------------------------------------------

#[test]
fn no_suggestion_when_no_name_is_close() {
    let errors = errors("[[interfaces]]\nname = \"eth2\"\nzone = \"management\"\n");
    let error = errors.iter().find(|e| e.path == "interfaces[eth2].zone");
    assert_eq!(
        error.map(|e| e.message.as_str()),
        Some("unknown zone \"management\""),
        "{errors}"
    );
}

#[test]
fn zone_pair_without_a_from_zone_is_reported() {
    assert_error(
        "[[security.policies]]\nto-zone = \"untrust\"\n",
        "security.policies[->untrust].from-zone",
        "from-zone is required",
    );
}

#[test]
fn interface_address_listed_twice_is_reported() {
    assert_error(
        "[[interfaces]]\nname = \"eth2\"\naddresses = [\"198.18.4.1/24\", \"198.18.4.1/25\"]\n",
        "interfaces[eth2].addresses",
        "address 198.18.4.1 is listed twice",
    );
}

#[test]
fn time_window_may_not_start_at_24_00() {
    assert_error(
        r#"
[[schedulers]]
name = "late"
[[schedulers.windows]]
start = "24:00"
stop = "06:00"
"#,
        "schedulers[late].windows[#0].start",
        "start 24:00 is only valid as a stop time",
    );
}

#[test]
fn source_pool_needs_addresses_and_destination_pool_a_nonzero_port() {
    let errors = errors(
        r#"
[[security.nat.source.pools]]
name = "empty"
[[security.nat.destination.pools]]
name = "web"
address = "198.18.0.10"
port = 0
"#,
    );
    assert_has(
        &errors,
        "security.nat.source.pools[empty].addresses",
        "source pool \"empty\" has no addresses",
    );
    assert_has(
        &errors,
        "security.nat.destination.pools[web].port",
        "port of 0 is invalid",
    );
}

#[test]
fn fabric_link_needs_an_interface() {
    assert_error(
        "[ha]\n[[ha.fabric-links]]\nid = 1\n",
        "ha.fabric-links[1].interface",
        "interface is required",
    );
}
