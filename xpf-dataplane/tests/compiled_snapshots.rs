//! Snapshot tests of the compiled form and `ApplyResult` for the example
//! configs under `examples/configs/`.
//!
//! A change to the compiler that alters ids, spans, normalised prefixes or
//! resolved defaults shows up as a reviewable diff (`cargo insta review`).
//! Predefined applications that no rule references are left out of the
//! snapshot (they are identical in every config and covered by their own
//! test), as is the id registry (it repeats the ids shown elsewhere).

use std::path::PathBuf;
use xpf_dataplane::Config;
use xpf_dataplane::apply::{ApplyResult, Capabilities};
use xpf_dataplane::compile::{CompiledConfig, compile};

fn load(name: &str) -> Config {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../examples/configs")
        .join(format!("{name}.toml"));
    Config::from_path(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn reviewable(mut c: CompiledConfig) -> CompiledConfig {
    let used: std::collections::BTreeSet<_> = c.policies.rules.iter().map(|r| r.app).collect();
    c.applications
        .retain(|a| !a.predefined || used.contains(&a.id));
    c.ids = Default::default();
    c
}

fn snapshot(name: &str) {
    let cfg = load(name);
    let compiled = compile(&cfg).unwrap_or_else(|e| panic!("{name}: {e}"));
    let mut result = ApplyResult::from_compiled(&compiled, 1, Capabilities::default());
    result.capabilities = Capabilities::default();
    let required: Vec<String> = compiled
        .required_capabilities()
        .iter()
        .map(|c| c.to_string())
        .collect();
    insta::assert_yaml_snapshot!(format!("{name}-compiled"), reviewable(compiled));
    insta::assert_yaml_snapshot!(format!("{name}-apply-result"), result);
    insta::assert_yaml_snapshot!(format!("{name}-required-capabilities"), required);
}

#[test]
fn branch_office_compiles_to_the_reviewed_form() {
    snapshot("branch-office");
}

#[test]
fn dmz_with_dnat_compiles_to_the_reviewed_form() {
    snapshot("dmz-dnat");
}

#[test]
fn dual_stack_site_compiles_to_the_reviewed_form() {
    snapshot("dual-stack");
}

#[test]
fn schedulers_and_filters_compile_to_the_reviewed_form() {
    snapshot("scheduled-filters");
}

#[test]
fn ha_pair_compiles_to_the_reviewed_form() {
    snapshot("ha-pair");
}
