//! The configurations under test behind one [`Backend`] trait: plain kernel
//! forwarding, nftables (with conntrack, optionally masquerade), and the xpf
//! backends: the eBPF backend (`crate::ebpf`) and the userspace backend on
//! AF_XDP (`crate::userspace`), each with and without SNAT; the others plug
//! in here as they gain real I/O (until then they are listed as not yet
//! available, never measured with a made-up figure).

use std::fmt;
use std::net::Ipv4Addr;
use std::path::PathBuf;

use crate::counters;
use crate::error::{BenchError, Result};
use crate::sys;
use crate::topology::{self, KThread, Topology};

/// What is measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scenario {
    /// UDP over established flows (the firewall saw both directions).
    Established,
    /// One-way UDP where every packet is a new flow: the new-session rate.
    NewFlows,
    /// Established flows with the session table filled with unanswered
    /// sessions first.
    FullTable,
    /// A TCP bulk transfer over real sockets (secondary figure).
    TcpBulk,
}

impl Scenario {
    /// Every scenario, in report order.
    pub const ALL: [Scenario; 4] = [
        Scenario::Established,
        Scenario::NewFlows,
        Scenario::FullTable,
        Scenario::TcpBulk,
    ];

    /// Short name used in JSON and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Established => "established",
            Scenario::NewFlows => "new-flows",
            Scenario::FullTable => "full-table",
            Scenario::TcpBulk => "tcp-bulk",
        }
    }

    /// Parses [`Scenario::name`].
    pub fn from_name(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|sc| sc.name() == s)
    }

    /// Whether the scenario uses the XDP generator (UDP) rather than sockets.
    pub fn is_udp(self) -> bool {
        !matches!(self, Scenario::TcpBulk)
    }
}

impl fmt::Display for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Whether a configuration can be measured on this build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Availability {
    /// It can.
    Available,
    /// Not yet, with the reason printed in the report.
    NotYet(String),
}

/// A firewall configuration the benchmark can install in the firewall
/// namespace. The harness owns the topology, traffic and counters; a
/// backend only installs itself, names its own threads (busy-polling
/// workers, whose run time counts like the NAPI threads') and removes
/// itself.
pub trait Backend {
    /// Short stable name (JSON, table, chart).
    fn name(&self) -> &'static str;
    /// One-line description for the report.
    fn description(&self) -> &'static str;
    /// Whether it can be measured here.
    fn availability(&self) -> Availability;
    /// Whether it takes part in `scenario`.
    fn supports(&self, scenario: Scenario) -> bool;
    /// Whether its threads poll without sleeping under load (their CPU time
    /// then grows with the window, not with the packets): its UDP
    /// measurements are valid only when the offered load exceeds what it
    /// forwarded, which the run checks.
    fn busy_polls(&self) -> bool {
        false
    }
    /// Installs the configuration in the topology's firewall namespace
    /// (XDP programs on f0/f1, an nftables ruleset, worker threads...).
    fn setup(&mut self, topo: &Topology, work_dir: &std::path::Path) -> Result<()>;
    /// The backend's own threads (not the veth NAPI threads, which the
    /// harness finds itself). Pinned to the firewall CPU by the backend.
    fn threads(&self) -> Vec<KThread> {
        Vec::new()
    }
    /// Address the server's replies go to (the masquerade address), if the
    /// configuration translates sources.
    fn reply_addr(&self) -> Option<Ipv4Addr> {
        None
    }
    /// Live sessions in the backend's table, if it keeps one.
    fn sessions(&self, topo: &Topology) -> Result<Option<u64>>;
    /// Most unanswered sessions the full-table scenario may add next to
    /// `flows` established ones (e.g. the ports of one masquerade address).
    fn fill_limit(&self, _flows: u32) -> Option<u64> {
        None
    }
    /// Removes the configuration (the topology is deleted afterwards
    /// anyway; this stops threads and detaches programs cleanly).
    fn teardown(&mut self, topo: &Topology) -> Result<()>;
}

/// Plain kernel IPv4 forwarding: no netfilter, no conntrack.
#[derive(Debug, Default)]
pub struct KernelForwarding;

impl Backend for KernelForwarding {
    fn name(&self) -> &'static str {
        "kernel"
    }
    fn description(&self) -> &'static str {
        "plain kernel forwarding (no netfilter)"
    }
    fn availability(&self) -> Availability {
        Availability::Available
    }
    fn supports(&self, scenario: Scenario) -> bool {
        // Without a session table "full table" is the same as established.
        scenario != Scenario::FullTable
    }
    fn setup(&mut self, _topo: &Topology, _work_dir: &std::path::Path) -> Result<()> {
        Ok(())
    }
    fn sessions(&self, _topo: &Topology) -> Result<Option<u64>> {
        Ok(None)
    }
    fn teardown(&mut self, _topo: &Topology) -> Result<()> {
        Ok(())
    }
}

/// The floor of any XDP forwarder: a stateless program on the firewall's
/// veths that rewrites MACs, decrements the TTL and redirects (no policy,
/// no state), with kernel forwarding off. What an XDP firewall costs above
/// this is its own work.
#[derive(Debug, Default)]
pub struct XdpForward {
    fwd: Option<crate::bpf::Forwarder>,
}

impl Backend for XdpForward {
    fn name(&self) -> &'static str {
        "xdp-forward"
    }
    fn description(&self) -> &'static str {
        "stateless XDP forwarding (MAC rewrite, TTL, bpf_redirect): the floor of an XDP firewall"
    }
    fn availability(&self) -> Availability {
        Availability::Available
    }
    fn supports(&self, scenario: Scenario) -> bool {
        // Stateless: "full table" is the same as established.
        scenario != Scenario::FullTable
    }
    fn setup(&mut self, topo: &Topology, work_dir: &std::path::Path) -> Result<()> {
        let n = &topo.names;
        sys::netns_exec(&n.ns_fw, "sysctl", &["-qw", "net.ipv4.ip_forward=0"])?;
        let path = work_dir.join("gen.bpf.o");
        let bytes = std::fs::read(&path).map_err(|source| BenchError::Io {
            action: "reading",
            path: path.clone(),
            source,
        })?;
        let mut fwd = crate::bpf::Forwarder::load(&crate::bpf::BpfObject::from_bytes(bytes))?;
        fwd.install(
            &n.ns_fw,
            (&n.f0, topology::MAC_F0, topology::MAC_C0),
            (&n.f1, topology::MAC_F1, topology::MAC_S0),
        )?;
        self.fwd = Some(fwd);
        Ok(())
    }
    fn sessions(&self, _topo: &Topology) -> Result<Option<u64>> {
        Ok(None)
    }
    fn teardown(&mut self, _topo: &Topology) -> Result<()> {
        // Dropping the object detaches the program.
        self.fwd = None;
        Ok(())
    }
}

/// Source ports a masquerade to one address can use (1024–65535).
pub const MASQ_PORTS: u64 = 64_512;

/// Number of rules in the nftables forward chain.
pub const NFT_RULES: usize = 100;

/// nftables with conntrack and a ~100-rule forward chain, optionally with
/// masquerade on the server side.
#[derive(Debug, Default)]
pub struct Nftables {
    /// Masquerade what leaves towards the server.
    pub masquerade: bool,
}

/// The nftables ruleset: established traffic is accepted by the first rule;
/// a new flow walks 98 non-matching rules before the accepting ones.
pub fn nft_ruleset(f1: &str, masquerade: bool) -> String {
    let mut s = String::from("table inet xpfbench {\n  chain forward {\n");
    s.push_str("    type filter hook forward priority filter; policy drop;\n");
    s.push_str("    ct state established,related accept\n");
    s.push_str("    ct state invalid drop\n");
    for k in 0..(NFT_RULES - 4) {
        // Blocked sources outside the flows' ranges: never match.
        s.push_str(&format!(
            "    ip saddr 198.19.{}.{} drop\n",
            100 + k / 200,
            1 + k % 200
        ));
    }
    s.push_str(&format!(
        "    ip daddr {} udp dport {} accept\n",
        topology::ADDR_S0,
        topology::UDP_PORT
    ));
    s.push_str(&format!(
        "    ip daddr {} tcp dport {} accept\n",
        topology::ADDR_S0,
        topology::TCP_PORT
    ));
    s.push_str("  }\n}\n");
    if masquerade {
        s.push_str("table ip xpfbenchnat {\n  chain postrouting {\n");
        s.push_str("    type nat hook postrouting priority srcnat; policy accept;\n");
        s.push_str(&format!("    oifname \"{f1}\" masquerade\n"));
        s.push_str("  }\n}\n");
    }
    s
}

impl Backend for Nftables {
    fn name(&self) -> &'static str {
        if self.masquerade {
            "nftables-masq"
        } else {
            "nftables"
        }
    }
    fn description(&self) -> &'static str {
        if self.masquerade {
            "nftables, 100 rules, conntrack, masquerade"
        } else {
            "nftables, 100 rules, conntrack (established accepted first)"
        }
    }
    fn availability(&self) -> Availability {
        Availability::Available
    }
    fn supports(&self, _scenario: Scenario) -> bool {
        true
    }
    fn setup(&mut self, topo: &Topology, work_dir: &std::path::Path) -> Result<()> {
        let rules = nft_ruleset(&topo.names.f1, self.masquerade);
        let path: PathBuf = work_dir.join(format!("{}.nft", self.name()));
        std::fs::write(&path, rules).map_err(|source| BenchError::Io {
            action: "writing",
            path: path.clone(),
            source,
        })?;
        sys::netns_exec(&topo.names.ns_fw, "nft", &["-f", &path.to_string_lossy()])?;
        Ok(())
    }
    fn reply_addr(&self) -> Option<Ipv4Addr> {
        self.masquerade.then_some(topology::ADDR_F1)
    }
    fn sessions(&self, topo: &Topology) -> Result<Option<u64>> {
        counters::conntrack_count(&topo.names.ns_fw).map(Some)
    }
    fn fill_limit(&self, flows: u32) -> Option<u64> {
        // Every session to the one server takes a port of the masquerade
        // address: beyond that, new flows are dropped (and established
        // flows could not be set up). Keep 4,096 ports spare.
        self.masquerade
            .then(|| MASQ_PORTS.saturating_sub(u64::from(flows) + 4_096))
    }
    fn teardown(&mut self, topo: &Topology) -> Result<()> {
        sys::netns_exec(&topo.names.ns_fw, "nft", &["flush", "ruleset"])?;
        Ok(())
    }
}

/// An xpf backend that cannot forward on real interfaces yet: listed in the
/// report as not yet available, never measured.
#[derive(Debug)]
pub struct PendingXpfBackend {
    /// Its name.
    pub name: &'static str,
    /// What it will be.
    pub description: &'static str,
    /// Why it is not measured.
    pub reason: &'static str,
}

impl Backend for PendingXpfBackend {
    fn name(&self) -> &'static str {
        self.name
    }
    fn description(&self) -> &'static str {
        self.description
    }
    fn availability(&self) -> Availability {
        Availability::NotYet(self.reason.to_owned())
    }
    fn supports(&self, _scenario: Scenario) -> bool {
        false
    }
    fn setup(&mut self, _topo: &Topology, _work_dir: &std::path::Path) -> Result<()> {
        Err(BenchError::Unsupported {
            config: self.name.to_owned(),
            reason: self.reason.to_owned(),
        })
    }
    fn sessions(&self, _topo: &Topology) -> Result<Option<u64>> {
        Ok(None)
    }
    fn teardown(&mut self, _topo: &Topology) -> Result<()> {
        Ok(())
    }
}

/// Every configuration, measured or listed.
pub fn all_backends() -> Vec<Box<dyn Backend>> {
    vec![
        Box::new(KernelForwarding),
        Box::new(XdpForward::default()),
        Box::new(Nftables { masquerade: false }),
        Box::new(Nftables { masquerade: true }),
        Box::new(crate::ebpf::XpfEbpf::plain()),
        Box::new(crate::ebpf::XpfEbpf::snat()),
        Box::new(crate::userspace::XpfUserspace::plain()),
        Box::new(crate::userspace::XpfUserspace::snat()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nft_ruleset_has_about_100_rules_with_established_first() {
        let rules = nft_ruleset("xb1f1", false);
        let chain_rules: Vec<&str> = rules
            .lines()
            .map(str::trim)
            .filter(|l| l.starts_with("ct ") || l.starts_with("ip ") || l.starts_with("oifname"))
            .collect();
        assert_eq!(chain_rules.len(), NFT_RULES);
        assert_eq!(chain_rules[0], "ct state established,related accept");
        assert!(!rules.contains("masquerade"));
        // no rule blocks the generated flows (198.18.0.0/15 client side)
        assert!(!rules.contains("ip saddr 198.18."));
    }

    #[test]
    fn masquerade_ruleset_translates_on_the_server_link_only() {
        let rules = nft_ruleset("xb1f1", true);
        assert!(rules.contains("oifname \"xb1f1\" masquerade"));
        assert_eq!(
            Nftables { masquerade: true }.reply_addr(),
            Some(topology::ADDR_F1)
        );
        assert_eq!(Nftables { masquerade: false }.reply_addr(), None);
    }

    #[test]
    fn masquerade_limits_the_table_fill_to_its_port_space() {
        let masq = Nftables { masquerade: true };
        assert_eq!(masq.fill_limit(10_000), Some(MASQ_PORTS - 14_096));
        assert_eq!(Nftables { masquerade: false }.fill_limit(10_000), None);
    }

    #[test]
    fn pending_backends_are_listed_but_never_measured() {
        for b in all_backends() {
            if let Availability::NotYet(reason) = b.availability() {
                assert!(!reason.is_empty());
                assert!(
                    Scenario::ALL.iter().all(|s| !b.supports(*s)),
                    "{}",
                    b.name()
                );
            }
        }
    }

    #[test]
    fn scenario_names_round_trip() {
        for s in Scenario::ALL {
            assert_eq!(Scenario::from_name(s.name()), Some(s));
        }
        assert_eq!(Scenario::from_name("nope"), None);
    }
}
