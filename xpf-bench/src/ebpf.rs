//! The xpf eBPF backend in the netns benchmark: the XDP program attached in
//! native mode on the firewall's veths through the backend's own
//! `LinkController`, with a configuration equivalent to the nftables ones
//! (about 100 policy rules, the flows' permit rules after 96 non-matching
//! ones; optionally interface source NAT, the equivalent of masquerade).
//! The backend's service thread (ring-buffer drain and session GC) is
//! pinned to the firewall CPU and counted like the NAPI threads. Kernel
//! forwarding is switched off in the firewall namespace, so every packet
//! that leaves the firewall was forwarded by the XDP program.

use std::net::Ipv4Addr;

use futures::executor::block_on;
use xpf_dataplane::Config;
use xpf_dataplane::cancel::Cancel;
use xpf_dataplane::traits::{ConfigSink, RuntimeDataPlane};
use xpf_ebpf::{DataPlaneOptions, EbpfDataPlane, LoadOptions};
use xpf_runtime::{BaseCounter, GlobalCounter};

use crate::backend::{Availability, Backend, MASQ_PORTS, NFT_RULES, Scenario};
use crate::error::{BenchError, Result};
use crate::sys;
use crate::topology::{self as topo, FIREWALL_CPU, KThread, Topology};

/// Sessions the program's tables hold in the benchmark: the capacity
/// nftables' conntrack has on the benchmark machine (`nf_conntrack_max` =
/// 262,144 on a 24 GiB Debian 12 host), so both stateful configurations get
/// the same table, and above the full-table fill plus the established
/// flows. (A BPF hash map sizes its bucket array by its capacity, so this
/// is what makes the two tables comparable.)
pub const BENCH_SESSIONS: u32 = 262_144;

/// How often the backend's service thread sweeps the session table in the
/// benchmark. A sweep reads every entry of the session map with one
/// syscall pair per entry (aya 0.14 has no batch lookups), so its cost grows
/// with the table; every 5 s is well inside the shortest timeout the
/// benchmark's sessions have (UDP, 60 s). It is counted like the rest.
pub const BENCH_GC_INTERVAL: std::time::Duration = std::time::Duration::from_secs(5);

/// The name of the backend's service thread (see `xpf_ebpf::dataplane`).
const SERVICE_THREAD: &str = "xpf-ebpf-svc";

/// The xpf eBPF backend, with or without interface source NAT.
#[derive(Default)]
pub struct XpfEbpf {
    /// Translate sources to the server-side interface address.
    pub snat: bool,
    dp: Option<EbpfDataPlane>,
    service: Vec<KThread>,
}

impl XpfEbpf {
    /// The backend without NAT (compare with `nftables`).
    pub fn plain() -> Self {
        Self::default()
    }

    /// The backend with interface SNAT (compare with `nftables-masq`).
    pub fn snat() -> Self {
        Self {
            snat: true,
            ..Self::default()
        }
    }

    fn dp(&self) -> Result<&EbpfDataPlane> {
        self.dp.as_ref().ok_or_else(|| BenchError::Unsupported {
            config: self.name().to_owned(),
            reason: "not set up".into(),
        })
    }

    fn err(&self, what: &str, e: &dyn std::error::Error) -> BenchError {
        BenchError::bpf(format!("{}: {what}", self.name()), e)
    }
}

/// The benchmark's firewall configuration in the xpf config model: the
/// firewall's veths as interfaces `f0` (zone trust) and `f1` (zone
/// untrust), 96 deny rules on sources that never occur, then permits for
/// the UDP and TCP flows to the server (98 rules, like the nftables chain's
/// 100 with its two conntrack rules), the client prefix routed to the
/// client, permanent neighbours, and optionally interface SNAT on `f1`.
pub fn bench_config(f0: &str, f1: &str, snat: bool) -> String {
    let mac = topo::mac_str;
    let mut s = format!(
        r#"[[interfaces]]
name = "{f0}"
zone = "trust"
mac = "{mf0}"
addresses = ["{a_f0}/24"]

[[interfaces]]
name = "{f1}"
zone = "untrust"
mac = "{mf1}"
addresses = ["{a_f1}/24"]

[[zones]]
name = "trust"
"#,
        mf0 = mac(topo::MAC_F0),
        mf1 = mac(topo::MAC_F1),
        a_f0 = topo::ADDR_F0,
        a_f1 = topo::ADDR_F1,
    );
    let blocked = NFT_RULES - 4;
    for k in 0..blocked {
        s.push_str(&format!(
            "\n[[zones.address-book.addresses]]\nname = \"blocked-{k}\"\nprefix = \"198.19.{}.{}/32\"\n",
            100 + k / 200,
            1 + k % 200
        ));
    }
    s.push_str(&format!(
        r#"
[[zones]]
name = "untrust"

[[zones.address-book.addresses]]
name = "server"
prefix = "{server}/32"

[[applications.applications]]
name = "bench-udp"
protocol = "udp"
destination-port = {udp}

[[applications.applications]]
name = "bench-tcp"
protocol = "tcp"
destination-port = {tcp}

[security]
default-policy = "deny"

[security.flow]
session-capacity = {BENCH_SESSIONS}

[[security.policies]]
from-zone = "trust"
to-zone = "untrust"
"#,
        server = topo::ADDR_S0,
        udp = topo::UDP_PORT,
        tcp = topo::TCP_PORT,
    ));
    for k in 0..blocked {
        s.push_str(&format!(
            "\n[[security.policies.policies]]\nname = \"block-{k}\"\nmatch = {{ source-address = [\"blocked-{k}\"], destination-address = [\"any\"], application = [\"any\"] }}\nthen = {{ action = \"deny\" }}\n"
        ));
    }
    for app in ["bench-udp", "bench-tcp"] {
        s.push_str(&format!(
            "\n[[security.policies.policies]]\nname = \"allow-{app}\"\nmatch = {{ source-address = [\"any\"], destination-address = [\"server\"], application = [\"{app}\"] }}\nthen = {{ action = \"permit\" }}\n"
        ));
    }
    if snat {
        s.push_str(&format!(
            r#"
[[security.nat.source.rule-sets]]
name = "to-server"
from = {{ zone = ["trust"] }}
to = {{ zone = ["untrust"] }}

[[security.nat.source.rule-sets.rules]]
name = "masquerade"
match = {{ source-address = ["{client}"] }}
then = "interface"
"#,
            client = topo::CLIENT_PREFIX
        ));
    }
    s.push_str(&format!(
        r#"
[[forwarding.routes]]
destination = "{client}"
next-hop = "{c0}"

[[forwarding.neighbours]]
address = "{c0}"
mac = "{mc0}"
interface = "{f0}"

[[forwarding.neighbours]]
address = "{s0}"
mac = "{ms0}"
interface = "{f1}"
"#,
        client = topo::CLIENT_PREFIX,
        c0 = topo::ADDR_C0,
        s0 = topo::ADDR_S0,
        mc0 = mac(topo::MAC_C0),
        ms0 = mac(topo::MAC_S0),
    ));
    s
}

impl Backend for XpfEbpf {
    fn name(&self) -> &'static str {
        if self.snat {
            "xpf-ebpf-snat"
        } else {
            "xpf-ebpf"
        }
    }

    fn description(&self) -> &'static str {
        if self.snat {
            "xpf eBPF/XDP (native), 98 policy rules, interface source NAT"
        } else {
            "xpf eBPF/XDP (native), 98 policy rules, stateful"
        }
    }

    fn availability(&self) -> Availability {
        Availability::Available
    }

    fn supports(&self, _scenario: Scenario) -> bool {
        true
    }

    fn setup(&mut self, topo: &Topology, _work_dir: &std::path::Path) -> Result<()> {
        let n = &topo.names;
        // Only XDP may forward: a frame the program passed to the kernel
        // must not leave the firewall and be counted as forwarded.
        sys::netns_exec(&n.ns_fw, "sysctl", &["-qw", "net.ipv4.ip_forward=0"])?;
        let dp = EbpfDataPlane::new(DataPlaneOptions {
            load: LoadOptions {
                max_sessions: BENCH_SESSIONS,
            },
            gc_interval: BENCH_GC_INTERVAL,
            ..DataPlaneOptions::default()
        })
        .map_err(|e| self.err("loading the XDP program", &e))?;
        let config = Config::from_toml_str(&bench_config(&n.f0, &n.f1, self.snat))
            .map_err(|e| self.err("benchmark config", &e))?;
        block_on(dp.apply(&config, &Cancel::new())).map_err(|e| self.err("apply", &e))?;
        let link = dp.link();
        sys::in_netns(&n.ns_fw, || {
            for dev in [&n.f0, &n.f1] {
                block_on(link.attach(dev))
                    .map_err(|e| self.err(&format!("native XDP attach on {dev}"), &e))?;
            }
            Ok(())
        })?;
        block_on(dp.start()).map_err(|e| self.err("start", &e))?;
        // The thread names itself once it runs: wait for it (bounded).
        let mut service = sys::threads_named(SERVICE_THREAD)?;
        for _ in 0..200 {
            if !service.is_empty() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
            service = sys::threads_named(SERVICE_THREAD)?;
        }
        if service.is_empty() {
            let _ = block_on(dp.teardown());
            return Err(BenchError::Check(format!(
                "{}: the backend's service thread {SERVICE_THREAD} was not found",
                self.name()
            )));
        }
        for t in &service {
            sys::pin(t.tid, FIREWALL_CPU)?;
        }
        self.service = service;
        self.dp = Some(dp);
        Ok(())
    }

    fn threads(&self) -> Vec<KThread> {
        self.service.clone()
    }

    fn reply_addr(&self) -> Option<Ipv4Addr> {
        self.snat.then_some(topo::ADDR_F1)
    }

    fn sessions(&self, _topo: &Topology) -> Result<Option<u64>> {
        let dp = self.dp()?;
        dp.with_firewall(|fw| fw.live_sessions())
            .map(Some)
            .map_err(|e| self.err("reading the session count", &e))
    }

    fn fill_limit(&self, flows: u32) -> Option<u64> {
        // Interface SNAT allocates ports 1024-65535 of one address.
        self.snat
            .then(|| MASQ_PORTS.saturating_sub(u64::from(flows) + 4_096))
    }

    fn teardown(&mut self, _topo: &Topology) -> Result<()> {
        let Some(dp) = self.dp.take() else {
            return Ok(());
        };
        self.service.clear();
        // The smoke check: the program itself forwarded (kernel forwarding
        // is off, but say so plainly if the program never did).
        let counters = dp
            .with_firewall(|fw| fw.counters())
            .map_err(|e| self.err("reading counters", &e))?;
        let forwarded = counters
            .global
            .get(&GlobalCounter::from(BaseCounter::Forwarded))
            .copied()
            .unwrap_or(0);
        if std::env::var_os("XPF_BENCH_COUNTERS").is_some() {
            // Diagnostics: where the packets of this measurement went.
            let nonzero: Vec<String> = counters
                .global
                .iter()
                .filter(|(_, v)| **v != 0)
                .map(|(k, v)| format!("{k:?}={v}"))
                .collect();
            eprintln!("xpf-bench: {} counters: {}", self.name(), nonzero.join(" "));
        }
        block_on(dp.teardown()).map_err(|e| self.err("teardown", &e))?;
        if forwarded == 0 {
            return Err(BenchError::Check(format!(
                "{}: the XDP program forwarded no packet",
                self.name()
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bench_config_compiles_with_98_rules_and_snat_only_when_asked() {
        for snat in [false, true] {
            let text = bench_config("xb1f0", "xb1f1", snat);
            let config = Config::from_toml_str(&text).expect("parses");
            let compiled =
                xpf_dataplane::compile::compile_with_previous(&config, None).expect("compiles");
            assert_eq!(compiled.policies.rules.len(), NFT_RULES - 2);
            assert_eq!(compiled.nat.source_rules.len(), usize::from(snat));
            assert_eq!(compiled.flow.session_capacity, BENCH_SESSIONS);
            // Everything it needs, the eBPF backend supports.
            xpf_ebpf::lower::capabilities()
                .check(&compiled)
                .expect("supported");
        }
        assert!(!bench_config("a", "b", false).contains("198.18.1."));
    }

    #[test]
    fn the_snat_variant_replies_to_the_interface_address() {
        assert_eq!(XpfEbpf::snat().reply_addr(), Some(topo::ADDR_F1));
        assert_eq!(XpfEbpf::plain().reply_addr(), None);
        assert_eq!(XpfEbpf::snat().name(), "xpf-ebpf-snat");
        assert!(XpfEbpf::snat().fill_limit(10_000).is_some());
    }
}
