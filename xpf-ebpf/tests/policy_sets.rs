//! Policy address matching in the program: a new session looks up the set
//! membership of its source and destination once (`xpf_members4/6`, one
//! trie entry per prefix carrying the sets of every prefix covering it) and
//! tests each rule's sets as bits; sets with ids beyond the bitset
//! (`abi::MEMBER_SETS`) are looked up per rule as before. These tests prove
//! both paths and nested prefixes against the rule order with the real
//! program (`BPF_PROG_TEST_RUN`); they need root (or the README's opt-out).

mod support;
use support::{TRUST, TRUST_MAC, privileged, udp4};

use std::fmt::Write as _;
use std::sync::Arc;
use xpf_dataplane::Config;
use xpf_dataplane::compile::{CompiledConfig, compile_with_previous};
use xpf_ebpf::{Firewall, FrameVerdict, LoadOptions};
use xpf_runtime::DropReason;

/// Source hosts with a deny rule each (more than the bitset holds).
const HOSTS: u32 = 1100;

/// The i-th denied source host, 198.18.20.1 upwards.
fn host(i: u32) -> [u8; 4] {
    [198, 18, 20 + (i / 250) as u8, (i % 250 + 1) as u8]
}

/// trust -> untrust: a deny rule per host (`hosts` of them), then two rules
/// on nested source prefixes (198.18.24.0/22 contains 198.18.25.0/24)
/// towards two single destinations, then permit everything.
fn config(hosts: u32) -> Config {
    let mut book = String::new();
    let mut rules = String::new();
    for i in 0..hosts {
        let [a, b, c, d] = host(i);
        writeln!(
            book,
            "  {{ name = \"h{i}\", prefix = \"{a}.{b}.{c}.{d}/32\" }},"
        )
        .unwrap();
        write!(
            rules,
            r#"
[[security.policies.policies]]
name = "deny-h{i}"
match = {{ source-address = ["h{i}"], destination-address = ["any"], application = ["any"] }}
then = {{ action = "deny" }}
"#
        )
        .unwrap();
    }
    let text = format!(
        r#"
[[interfaces]]
name = "ge-0/0/0.0"
zone = "untrust"
mac = "02:00:0a:00:00:00"
addresses = ["198.19.10.2/29"]

[[interfaces]]
name = "ge-0/0/1.0"
zone = "trust"
mac = "02:00:0a:00:00:01"
addresses = ["198.18.10.1/24"]

[[zones]]
name = "trust"

[[zones]]
name = "untrust"

[address-book]
addresses = [
{book}  {{ name = "wide", prefix = "198.18.24.0/22" }},
  {{ name = "inner", prefix = "198.18.25.0/24" }},
  {{ name = "dst-wide", prefix = "198.19.200.54/32" }},
  {{ name = "dst-inner", prefix = "198.19.200.55/32" }},
]

[[security.policies]]
from-zone = "trust"
to-zone = "untrust"
{rules}
[[security.policies.policies]]
name = "deny-inner"
match = {{ source-address = ["inner"], destination-address = ["dst-inner"], application = ["any"] }}
then = {{ action = "deny" }}

[[security.policies.policies]]
name = "deny-wide"
match = {{ source-address = ["wide"], destination-address = ["dst-wide"], application = ["any"] }}
then = {{ action = "deny" }}

[[security.policies.policies]]
name = "allow"
match = {{ source-address = ["any"], destination-address = ["any"], application = ["any"] }}
then = {{ action = "permit" }}

[[forwarding.routes]]
destination = "0.0.0.0/0"
next-hop = "198.19.10.1"

[[forwarding.neighbours]]
address = "198.19.10.1"
mac = "02:00:0a:ff:00:01"
interface = "ge-0/0/0.0"
"#
    );
    Config::from_toml_str(&text).expect("test config parses")
}

fn firewall(hosts: u32) -> (Firewall, Arc<CompiledConfig>) {
    let mut fw = Firewall::new(LoadOptions {
        max_sessions: 1 << 12,
    })
    .expect("load");
    fw.set_trace(true).expect("test mode");
    let compiled = Arc::new(compile_with_previous(&config(hosts), None).expect("compiles"));
    fw.apply_compiled(compiled.clone(), 1).expect("apply");
    (fw, compiled)
}

fn verdict(fw: &mut Firewall, src: [u8; 4], dst: [u8; 4]) -> FrameVerdict {
    fw.run_frame(TRUST, &udp4(TRUST_MAC, src, 40000, dst, 53), 1_000)
        .expect("test run")
        .0
}

fn set_id(c: &CompiledConfig, name: &str) -> u32 {
    c.address_sets
        .iter()
        .find(|s| s.key.ends_with(&format!("/{name}")))
        .unwrap_or_else(|| panic!("set {name} compiled"))
        .id
        .0
}

#[test]
fn deny_rules_on_sets_beyond_the_membership_bitset_still_match() {
    if !privileged("policy_sets") {
        return;
    }
    let (mut fw, compiled) = firewall(HOSTS);
    let last = HOSTS - 1;
    assert!(
        set_id(&compiled, &format!("h{last}")) >= xpf_ebpf::abi::MEMBER_SETS,
        "the test needs a set beyond the bitset"
    );
    assert!(set_id(&compiled, "h3") < xpf_ebpf::abi::MEMBER_SETS);
    let dst = [198, 19, 200, 53];
    for i in [0, 3, 1023, 1024, last] {
        assert_eq!(
            verdict(&mut fw, host(i), dst),
            FrameVerdict::Drop(DropReason::PolicyDeny),
            "host {i} is denied by its own rule"
        );
    }
    assert!(
        matches!(
            verdict(&mut fw, [198, 18, 30, 250], dst),
            FrameVerdict::Forward(_)
        ),
        "a source in no set reaches the final permit"
    );
}

#[test]
fn an_address_in_nested_prefixes_matches_the_rules_of_both_sets_in_rule_order() {
    if !privileged("policy_sets") {
        return;
    }
    // Without the host rules the nested sets get small ids: matched
    // through the membership bitset.
    let (mut fw, compiled) = firewall(0);
    for name in ["wide", "inner", "dst-wide", "dst-inner"] {
        assert!(set_id(&compiled, name) < xpf_ebpf::abi::MEMBER_SETS);
    }
    let (wide_only, inner) = ([198, 18, 26, 9], [198, 18, 25, 9]);
    let (dst_wide, dst_inner) = ([198, 19, 200, 54], [198, 19, 200, 55]);
    // The inner /24's longest match must also carry the wide /22's set.
    assert_eq!(
        verdict(&mut fw, inner, dst_wide),
        FrameVerdict::Drop(DropReason::PolicyDeny),
        "an inner address matches the wide prefix's rule"
    );
    assert_eq!(
        verdict(&mut fw, inner, dst_inner),
        FrameVerdict::Drop(DropReason::PolicyDeny)
    );
    assert_eq!(
        verdict(&mut fw, wide_only, dst_wide),
        FrameVerdict::Drop(DropReason::PolicyDeny)
    );
    assert!(
        matches!(
            verdict(&mut fw, wide_only, dst_inner),
            FrameVerdict::Forward(_)
        ),
        "an address outside the inner prefix is not in its set"
    );
}
