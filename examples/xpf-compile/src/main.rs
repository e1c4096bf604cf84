//! `xpf-compile`: validate and compile an xpf config and print what a
//! backend would report back after applying it (its `ApplyResult`).
//!
//! ```text
//! xpf-compile [--json] [CONFIG.toml|CONFIG.json]
//! ```
//!
//! Without a file it uses the embedded branch-office example. A config with
//! errors prints every error with the path of the offending field and exits
//! with status 1. `--json` prints the full `ApplyResult` as JSON instead of
//! the summary.

use std::process::ExitCode;
use xpf_dataplane::Config;
use xpf_dataplane::apply::{ApplyResult, Capabilities};
use xpf_dataplane::compile::{CompiledConfig, RouteTarget, compile};

const EMBEDDED_NAME: &str = "examples/configs/branch-office.toml (embedded)";
const EMBEDDED: &str = include_str!("../../configs/branch-office.toml");

fn main() -> ExitCode {
    let mut json = false;
    let mut path = None;
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--json" => json = true,
            "-h" | "--help" => {
                println!("usage: xpf-compile [--json] [CONFIG.toml|CONFIG.json]");
                return ExitCode::SUCCESS;
            }
            other => path = Some(other.to_string()),
        }
    }
    let (name, loaded) = match &path {
        Some(p) => (p.clone(), Config::from_path(p)),
        None => (EMBEDDED_NAME.to_string(), Config::from_toml_str(EMBEDDED)),
    };
    let config = match loaded {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{name}: cannot load config\n  {e}");
            return ExitCode::FAILURE;
        }
    };
    let compiled = match compile(&config) {
        Ok(c) => c,
        Err(errors) => {
            eprintln!("{name}: {errors}");
            return ExitCode::FAILURE;
        }
    };
    let result = ApplyResult::from_compiled(&compiled, 1, Capabilities::all_supported());
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&result).expect("ApplyResult serialises")
        );
    } else {
        print_summary(&name, &compiled, &result);
    }
    ExitCode::SUCCESS
}

fn print_summary(name: &str, c: &CompiledConfig, r: &ApplyResult) {
    println!("config: {name}");
    println!("generation: {}", r.generation);
    println!();
    println!("zones:");
    for z in &c.zones {
        let ifs: Vec<&str> = c
            .interfaces
            .iter()
            .filter(|i| i.zone == z.id)
            .map(|i| i.name.as_str())
            .collect();
        let screen = z
            .screen
            .and_then(|s| c.screens.iter().find(|x| x.id == s))
            .map(|s| s.name.as_str())
            .unwrap_or("-");
        println!(
            "  {:>3}  {:<12} interfaces: {:<24} screen: {}",
            z.id.0,
            z.name,
            ifs.join(","),
            screen
        );
    }
    println!();
    println!("policy rules (evaluation order):");
    for rule in &c.policies.rules {
        let n = &r.policy_names[&rule.id];
        let terms = c
            .applications
            .iter()
            .find(|a| a.id == rule.app)
            .map_or(1, |a| a.terms.len());
        let app = if terms == 1 {
            n.application.clone()
        } else {
            format!("{}/{}", n.application, rule.app_match.term)
        };
        println!(
            "  {:>4}  {:<18} {:<26} {:<32} {:?}{}",
            rule.id.0,
            n.scope,
            n.policy,
            app,
            rule.action,
            rule.schedule
                .map(|s| format!("  scheduler slot {}", s.0))
                .unwrap_or_default()
        );
    }
    println!();
    println!("NAT:");
    for (rule, id) in &r.nat_counter_ids {
        println!("  rule {:>3}  {rule}", id.0);
    }
    for (pool, id) in &r.pool_ids {
        println!("  pool {:>3}  {pool}", id.0);
    }
    println!();
    println!("filters:");
    for f in &r.filter_spans {
        println!(
            "  {:>3}  {}/{}  terms {}..{}: {}",
            f.filter.0,
            f.family,
            f.name,
            f.rule_start,
            f.rule_start + f.rule_count,
            f.term_names.join(", ")
        );
    }
    println!();
    println!("routes:");
    for route in &c.forwarding.routes {
        let target = match &route.target {
            RouteTarget::NextHop { gateway, interface } => {
                format!("via {gateway} dev {}", interface_name(r, interface.0))
            }
            RouteTarget::Connected { interface } => {
                format!("connected dev {}", interface_name(r, interface.0))
            }
            RouteTarget::Discard => "discard".to_string(),
        };
        println!("  {:<22} {target}", route.destination);
    }
    println!();
    let caps: Vec<String> = c
        .required_capabilities()
        .iter()
        .map(|c| c.to_string())
        .collect();
    println!("capabilities required: {}", caps.join(", "));
    println!(
        "address sets: {}   applications: {}   schedule slots: {}",
        c.address_sets.len(),
        c.applications.len(),
        c.schedules.len()
    );
}

fn interface_name(r: &ApplyResult, id: u16) -> &str {
    r.interface_name(xpf_runtime::InterfaceId(id))
        .unwrap_or("?")
}
