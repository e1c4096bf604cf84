//! Root-only checks of the netns topology: it is built as described
//! (namespaces, NAPI threads found and pinned) and removing it — explicitly
//! or by dropping it — leaves no namespace or link behind. Without root the
//! tests fail unless `XPF_ALLOW_SKIP_PRIVILEGED=1`, which makes them
//! reported skips.

use xpf_bench::cleanup;
use xpf_bench::sys::{self, Privilege};
use xpf_bench::topology::{FIREWALL_CPU, Topology};

fn privileged(test: &str) -> bool {
    match sys::require_root() {
        Ok(Privilege::Root) => {
            // Same as the bench command: install iproute2, ethtool, ... if
            // this machine lacks them.
            sys::ensure_packages().unwrap_or_else(|e| panic!("{test}: {e}"));
            true
        }
        Ok(Privilege::Skip) => {
            eprintln!("SKIP {test}: needs root ({}=1)", sys::ALLOW_SKIP_ENV);
            false
        }
        Err(e) => panic!("{test}: {e}"),
    }
}

fn affinity(tid: i32) -> String {
    let status = std::fs::read_to_string(format!("/proc/{tid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
        .unwrap()
        .trim()
        .to_owned()
}

// One test at a time per process: both use the process id in their names.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[test]
fn topology_has_pinned_firewall_napi_threads_and_is_removed_completely() {
    if !privileged("topology_has_pinned_firewall_napi_threads_and_is_removed_completely") {
        return;
    }
    let _guard = SERIAL.lock().unwrap();
    let pid = std::process::id();
    let topo = Topology::create(pid).expect("create topology");
    let names = cleanup::bench_namespaces().unwrap();
    for ns in [
        &topo.names.ns_client,
        &topo.names.ns_fw,
        &topo.names.ns_server,
    ] {
        assert!(names.contains(ns), "{ns} missing from {names:?}");
    }
    assert!(topo.fw_napi.len() >= 2, "{:?}", topo.fw_napi);
    for t in &topo.fw_napi {
        assert!(t.name.starts_with("napi/"), "{t:?}");
        assert_eq!(affinity(t.tid), FIREWALL_CPU.to_string(), "{t:?}");
    }
    let out = sys::ip(&["-n", &topo.names.ns_fw, "-o", "link", "show"]).unwrap();
    assert!(out.contains(&topo.names.f0) && out.contains(&topo.names.f1));
    topo.destroy().expect("destroy");
    assert_eq!(cleanup::leftovers_of(pid).unwrap(), Vec::<String>::new());
}

#[test]
fn dropping_a_topology_removes_it() {
    if !privileged("dropping_a_topology_removes_it") {
        return;
    }
    let _guard = SERIAL.lock().unwrap();
    let pid = std::process::id();
    {
        let _topo = Topology::create(pid).expect("create topology");
        assert!(!cleanup::leftovers_of(pid).unwrap().is_empty());
    }
    assert_eq!(cleanup::leftovers_of(pid).unwrap(), Vec::<String>::new());
}
