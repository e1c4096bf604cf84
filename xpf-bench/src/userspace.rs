//! The xpf userspace backend in the netns benchmark: `xpf-engine` on one
//! worker thread reading and writing the firewall's veths through AF_XDP
//! sockets in copy mode (`xpf_userspace::XskPortFactory`: the XSKMAP
//! redirect program attached in native mode on f0 and f1, one socket per
//! veth queue), with the same configuration as the eBPF backend
//! (`crate::ebpf::bench_config`: 98 policy rules, optionally interface
//! source NAT, the equivalent of masquerade).
//!
//! The worker thread is pinned to the firewall CPU next to the veth NAPI
//! threads (which run the redirect program and copy frames into the
//! sockets) and its run time is counted like theirs. It polls its sockets
//! without sleeping while there is traffic, so the harness's measurement
//! only means something when the offered load exceeds what it forwards
//! ([`Backend::busy_polls`]; `run` checks it for every UDP measurement).
//! Kernel forwarding is off in the firewall namespace and the program
//! drops what it cannot redirect, so every packet that leaves the
//! firewall was forwarded by the engine.

use std::net::Ipv4Addr;
use std::sync::Arc;

use futures::executor::block_on;
use xpf_dataplane::Config;
use xpf_dataplane::cancel::Cancel;
use xpf_dataplane::traits::{ConfigSink, RuntimeDataPlane};
use xpf_runtime::{BaseCounter, GlobalCounter};
use xpf_userspace::{
    RunMode, UserspaceDataplane, UserspaceOptions, XskPortFactory, XskPortOptions,
};

use crate::backend::{Availability, Backend, MASQ_PORTS, Scenario};
use crate::ebpf::bench_config;
use crate::error::{BenchError, Result};
use crate::sys;
use crate::topology::{FIREWALL_CPU, KThread, Topology};

/// Worker threads of the backend in the benchmark (one: the firewall has
/// one CPU; interface SNAT runs on one shard anyway).
pub const BENCH_WORKERS: usize = 1;

/// Frames a worker takes from a socket per poll.
pub const BENCH_BURST: usize = 64;

/// The name prefix of the backend's worker threads (`xpf-worker-N`).
const WORKER_PREFIX: &str = "xpf-worker-";

/// The xpf userspace backend on AF_XDP, with or without interface SNAT.
#[derive(Default)]
pub struct XpfUserspace {
    /// Translate sources to the server-side interface address.
    pub snat: bool,
    dp: Option<UserspaceDataplane>,
    ports: Option<Arc<XskPortFactory>>,
    workers: Vec<KThread>,
}

impl XpfUserspace {
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

    fn err(&self, what: &str, e: &dyn std::error::Error) -> BenchError {
        BenchError::bpf(format!("{}: {what}", self.name()), e)
    }

    fn start(&mut self, topo: &Topology) -> Result<()> {
        let n = &topo.names;
        let ports = Arc::new(XskPortFactory::new(XskPortOptions::single_queue()));
        let dp = UserspaceDataplane::new(UserspaceOptions {
            workers: BENCH_WORKERS,
            mode: RunMode::Threaded,
            burst: BENCH_BURST,
            port_factory: ports.clone(),
            ..UserspaceOptions::default()
        });
        // Whatever happens next, `teardown` can stop what was started.
        self.dp = Some(dp.clone());
        self.ports = Some(ports);
        let config = Config::from_toml_str(&bench_config(&n.f0, &n.f1, self.snat))
            .map_err(|e| self.err("benchmark config", &e))?;
        block_on(dp.apply(&config, &Cancel::new())).map_err(|e| self.err("apply", &e))?;
        let link = dp.link();
        sys::in_netns(&n.ns_fw, || {
            for dev in [&n.f0, &n.f1] {
                block_on(link.attach(dev))
                    .map_err(|e| self.err(&format!("AF_XDP port on {dev}"), &e))?;
            }
            Ok(())
        })?;
        block_on(dp.start()).map_err(|e| self.err("start", &e))?;
        // A thread names itself once it runs: wait for them (bounded).
        let mut workers = sys::threads_named(WORKER_PREFIX)?;
        for _ in 0..200 {
            if workers.len() >= BENCH_WORKERS {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
            workers = sys::threads_named(WORKER_PREFIX)?;
        }
        if workers.len() != BENCH_WORKERS {
            return Err(BenchError::Check(format!(
                "{}: expected {BENCH_WORKERS} worker thread(s) {WORKER_PREFIX}*, found {}",
                self.name(),
                workers.len()
            )));
        }
        for t in &workers {
            sys::pin(t.tid, FIREWALL_CPU)?;
        }
        self.workers = workers;
        Ok(())
    }
}

impl Backend for XpfUserspace {
    fn name(&self) -> &'static str {
        if self.snat {
            "xpf-userspace-snat"
        } else {
            "xpf-userspace"
        }
    }

    fn description(&self) -> &'static str {
        if self.snat {
            "xpf userspace (engine on AF_XDP copy mode, 1 worker), 98 policy rules, interface source NAT"
        } else {
            "xpf userspace (engine on AF_XDP copy mode, 1 worker), 98 policy rules, stateful"
        }
    }

    fn availability(&self) -> Availability {
        Availability::Available
    }

    fn supports(&self, _scenario: Scenario) -> bool {
        true
    }

    fn busy_polls(&self) -> bool {
        true
    }

    fn setup(&mut self, topo: &Topology, _work_dir: &std::path::Path) -> Result<()> {
        // Only the engine may forward.
        sys::netns_exec(
            &topo.names.ns_fw,
            "sysctl",
            &["-qw", "net.ipv4.ip_forward=0"],
        )?;
        let started = self.start(topo);
        if started.is_err() {
            if let Some(dp) = self.dp.take() {
                let _ = block_on(dp.teardown());
            }
            self.ports = None;
            self.workers.clear();
        }
        started
    }

    fn threads(&self) -> Vec<KThread> {
        self.workers.clone()
    }

    fn reply_addr(&self) -> Option<Ipv4Addr> {
        self.snat.then_some(crate::topology::ADDR_F1)
    }

    fn sessions(&self, _topo: &Topology) -> Result<Option<u64>> {
        Ok(self.dp.as_ref().map(|dp| dp.status().sessions.occupancy))
    }

    fn fill_limit(&self, flows: u32) -> Option<u64> {
        // Interface SNAT allocates ports 1024-65535 of one address.
        self.snat
            .then(|| MASQ_PORTS.saturating_sub(u64::from(flows) + 4_096))
    }

    fn teardown(&mut self, topo: &Topology) -> Result<()> {
        let Some(dp) = self.dp.take() else {
            return Ok(());
        };
        self.workers.clear();
        let forwarded = dp
            .counter_tables()
            .global
            .iter()
            .find(|(c, _)| *c == GlobalCounter::from(BaseCounter::Forwarded))
            .map_or(0, |(_, v)| *v);
        if std::env::var("XPF_BENCH_DEBUG").is_ok_and(|v| v == "1")
            && let Some(ports) = &self.ports
        {
            for dev in [&topo.names.f0, &topo.names.f1] {
                if let Some(p) = ports.port(dev) {
                    eprintln!("{}: {dev}: {:?}", self.name(), p.stats());
                }
            }
            eprintln!("{}: {:?}", self.name(), dp.backend_counters());
        }
        block_on(dp.teardown()).map_err(|e| self.err("teardown", &e))?;
        self.ports = None;
        if forwarded == 0 {
            return Err(BenchError::Check(format!(
                "{}: the engine forwarded no packet",
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
    fn the_bench_config_runs_on_the_userspace_backend_with_snat_only_when_asked() {
        for snat in [false, true] {
            let config = Config::from_toml_str(&bench_config("xb1f0", "xb1f1", snat)).unwrap();
            let compiled =
                xpf_dataplane::compile::compile_with_previous(&config, None).expect("compiles");
            xpf_userspace::capabilities()
                .check(&compiled)
                .expect("supported by the userspace backend");
        }
        assert_eq!(XpfUserspace::snat().name(), "xpf-userspace-snat");
        assert_eq!(XpfUserspace::plain().name(), "xpf-userspace");
        assert_eq!(
            XpfUserspace::snat().reply_addr(),
            Some(crate::topology::ADDR_F1)
        );
        assert!(XpfUserspace::plain().busy_polls());
    }
}
