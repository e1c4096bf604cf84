//! The three-namespace topology: client → firewall → server over two veth
//! pairs, with fixed MACs, permanent neighbours, the offload settings of the
//! method, threaded veth NAPI and pinned NAPI threads. Dropping a
//! [`Topology`] deletes its namespaces (and with them every link).
//!
//! ```text
//!  client ns                 firewall ns                    server ns
//!  c0 198.18.0.2/24 ── f0 198.18.0.1/24 | f1 198.19.0.1/24 ── s0 198.19.0.2/24
//!  flows from 198.18.1.0+ (routed to c0 by the firewall)      UDP :9, TCP :5201
//! ```

use std::net::Ipv4Addr;

use crate::cleanup::{self, LINK_PREFIX, NS_PREFIX};
use crate::error::{BenchError, Result};
use crate::sys;

/// CPU the firewall's threads are pinned to.
pub const FIREWALL_CPU: usize = 0;
/// CPU the generator (and the client's / server's NAPI threads) run on.
pub const GENERATOR_CPU: usize = 1;

/// Client veth MAC.
pub const MAC_C0: [u8; 6] = [0x02, 0x58, 0x50, 0x46, 0x00, 0x01];
/// Firewall veth towards the client.
pub const MAC_F0: [u8; 6] = [0x02, 0x58, 0x50, 0x46, 0x01, 0x01];
/// Firewall veth towards the server.
pub const MAC_F1: [u8; 6] = [0x02, 0x58, 0x50, 0x46, 0x01, 0x02];
/// Server veth MAC.
pub const MAC_S0: [u8; 6] = [0x02, 0x58, 0x50, 0x46, 0x02, 0x01];

/// Client address on the client link.
pub const ADDR_C0: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
/// Firewall address on the client link.
pub const ADDR_F0: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
/// Firewall address on the server link (also the masquerade address).
pub const ADDR_F1: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 1);
/// Server address.
pub const ADDR_S0: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 2);
/// The client-side prefix the firewall routes to c0 (flow sources live here).
pub const CLIENT_PREFIX: &str = "198.18.0.0/16";
/// First source address of the established flows (flow i uses base + i).
pub const FLOW_BASE_ADDR: Ipv4Addr = Ipv4Addr::new(198, 18, 1, 0);
/// First source port of the established flows (flow i uses base + i).
pub const FLOW_BASE_PORT: u16 = 10_000;
/// Most established flows (keeps ports and addresses in their ranges).
pub const MAX_FLOWS: u32 = 30_000;
/// First source address of the every-packet-new flows (16,384 addresses).
pub const NEW_BASE_ADDR: Ipv4Addr = Ipv4Addr::new(198, 18, 128, 0);
/// UDP destination port (discard).
pub const UDP_PORT: u16 = 9;
/// TCP port of the bulk transfer.
pub const TCP_PORT: u16 = 5201;

/// Formats a MAC address.
pub fn mac_str(mac: [u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Names of one run's namespaces and links.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Names {
    /// Client namespace.
    pub ns_client: String,
    /// Firewall namespace.
    pub ns_fw: String,
    /// Server namespace.
    pub ns_server: String,
    /// Client veth.
    pub c0: String,
    /// Firewall veth towards the client.
    pub f0: String,
    /// Firewall veth towards the server.
    pub f1: String,
    /// Server veth.
    pub s0: String,
}

impl Names {
    /// The names for process `pid`.
    pub fn for_pid(pid: u32) -> Self {
        Self {
            ns_client: format!("{NS_PREFIX}{pid}-client"),
            ns_fw: format!("{NS_PREFIX}{pid}-fw"),
            ns_server: format!("{NS_PREFIX}{pid}-server"),
            c0: format!("{LINK_PREFIX}{pid}c0"),
            f0: format!("{LINK_PREFIX}{pid}f0"),
            f1: format!("{LINK_PREFIX}{pid}f1"),
            s0: format!("{LINK_PREFIX}{pid}s0"),
        }
    }
}

/// A kernel thread (or backend thread) whose run time is part of a side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KThread {
    /// Thread id (for a kthread also its pid).
    pub tid: i32,
    /// Its name (`/proc/<tid>/comm`).
    pub name: String,
}

/// A live topology; deleted on drop.
#[derive(Debug)]
pub struct Topology {
    /// The names used.
    pub names: Names,
    /// NAPI threads of the firewall's veths (f0, f1).
    pub fw_napi: Vec<KThread>,
    /// NAPI threads of the client's and server's veths.
    pub edge_napi: Vec<KThread>,
    created: Vec<String>,
}

impl Topology {
    /// Creates the namespaces, links, addresses, routes, neighbours, offload
    /// settings and threaded NAPI, and pins the NAPI threads.
    pub fn create(pid: u32) -> Result<Self> {
        let names = Names::for_pid(pid);
        let mut topo = Self {
            names: names.clone(),
            fw_napi: Vec::new(),
            edge_napi: Vec::new(),
            created: Vec::new(),
        };
        for ns in [&names.ns_client, &names.ns_fw, &names.ns_server] {
            cleanup::register(ns);
            sys::ip(&["netns", "add", ns])?;
            topo.created.push(ns.clone());
        }
        let n = &names;
        sys::ip(&[
            "link",
            "add",
            &n.c0,
            "address",
            &mac_str(MAC_C0),
            "netns",
            &n.ns_client,
            "type",
            "veth",
            "peer",
            "name",
            &n.f0,
            "address",
            &mac_str(MAC_F0),
            "netns",
            &n.ns_fw,
        ])?;
        sys::ip(&[
            "link",
            "add",
            &n.f1,
            "address",
            &mac_str(MAC_F1),
            "netns",
            &n.ns_fw,
            "type",
            "veth",
            "peer",
            "name",
            &n.s0,
            "address",
            &mac_str(MAC_S0),
            "netns",
            &n.ns_server,
        ])?;

        let common = [
            "net.ipv6.conf.all.disable_ipv6=1",
            "net.ipv6.conf.default.disable_ipv6=1",
            "net.ipv4.conf.all.rp_filter=0",
            "net.ipv4.conf.default.rp_filter=0",
        ];
        for ns in [&n.ns_client, &n.ns_server] {
            let mut args = vec!["-qw"];
            args.extend_from_slice(&common);
            sys::netns_exec(ns, "sysctl", &args)?;
        }
        let mut args = vec!["-qw", "net.ipv4.ip_forward=1"];
        args.extend_from_slice(&common);
        sys::netns_exec(&n.ns_fw, "sysctl", &args)?;

        // Offloads: the senders segment and checksum in software; the
        // firewall's receiving veths (and the edges, so their NAPI runs on
        // their own threads) have GRO on.
        for (ns, dev) in [(&n.ns_client, &n.c0), (&n.ns_server, &n.s0)] {
            sys::netns_exec(
                ns,
                "ethtool",
                &["-K", dev, "tso", "off", "tx", "off", "gro", "on"],
            )?;
        }
        for dev in [&n.f0, &n.f1] {
            sys::netns_exec(&n.ns_fw, "ethtool", &["-K", dev, "gro", "on"])?;
        }

        let a = |addr: Ipv4Addr, len: u8| format!("{addr}/{len}");
        for (ns, dev, addr) in [
            (&n.ns_client, &n.c0, a(ADDR_C0, 24)),
            (&n.ns_fw, &n.f0, a(ADDR_F0, 24)),
            (&n.ns_fw, &n.f1, a(ADDR_F1, 24)),
            (&n.ns_server, &n.s0, a(ADDR_S0, 24)),
        ] {
            sys::ip(&["-n", ns, "addr", "add", &addr, "dev", dev])?;
            sys::ip(&["-n", ns, "link", "set", dev, "up"])?;
        }
        for ns in [&n.ns_client, &n.ns_fw, &n.ns_server] {
            sys::ip(&["-n", ns, "link", "set", "lo", "up"])?;
        }
        sys::ip(&[
            "-n",
            &n.ns_client,
            "route",
            "add",
            "default",
            "via",
            &ADDR_F0.to_string(),
        ])?;
        sys::ip(&[
            "-n",
            &n.ns_server,
            "route",
            "add",
            "default",
            "via",
            &ADDR_F1.to_string(),
        ])?;
        sys::ip(&[
            "-n",
            &n.ns_fw,
            "route",
            "add",
            CLIENT_PREFIX,
            "via",
            &ADDR_C0.to_string(),
        ])?;
        for (ns, addr, mac, dev) in [
            (&n.ns_client, ADDR_F0, MAC_F0, &n.c0),
            (&n.ns_fw, ADDR_C0, MAC_C0, &n.f0),
            (&n.ns_fw, ADDR_S0, MAC_S0, &n.f1),
            (&n.ns_server, ADDR_F1, MAC_F1, &n.s0),
        ] {
            sys::ip(&[
                "-n",
                ns,
                "neigh",
                "replace",
                &addr.to_string(),
                "lladdr",
                &mac_str(mac),
                "dev",
                dev,
                "nud",
                "permanent",
            ])?;
        }

        // Threaded NAPI on every veth, then pin: firewall on FIREWALL_CPU,
        // the edges on GENERATOR_CPU.
        for (ns, dev) in [
            (&n.ns_client, &n.c0),
            (&n.ns_fw, &n.f0),
            (&n.ns_fw, &n.f1),
            (&n.ns_server, &n.s0),
        ] {
            let cmd = format!("echo 1 > /sys/class/net/{dev}/threaded");
            sys::netns_exec(ns, "sh", &["-c", &cmd])?;
        }
        topo.refresh_napi_threads()?;
        Ok(topo)
    }

    /// Finds the NAPI threads of the four veths again (attaching an XDP
    /// program re-creates them) and pins them.
    pub fn refresh_napi_threads(&mut self) -> Result<()> {
        let n = &self.names;
        let fw = find_napi_threads(&[&n.f0, &n.f1])?;
        let edge = find_napi_threads(&[&n.c0, &n.s0])?;
        if fw.is_empty() {
            return Err(BenchError::Check(format!(
                "no NAPI thread found for {} / {} after enabling threaded NAPI",
                n.f0, n.f1
            )));
        }
        for t in &fw {
            sys::pin(t.tid, FIREWALL_CPU)?;
        }
        let edge_cpu = GENERATOR_CPU.min(sys::online_cpus().saturating_sub(1));
        for t in &edge {
            sys::pin(t.tid, edge_cpu)?;
        }
        self.fw_napi = fw;
        self.edge_napi = edge;
        Ok(())
    }

    /// Deletes the namespaces now, reporting failures (drop ignores them).
    pub fn destroy(mut self) -> Result<()> {
        self.delete()
    }

    fn delete(&mut self) -> Result<()> {
        let mut first_err = None;
        for ns in self.created.drain(..).rev() {
            match sys::ip(&["netns", "del", &ns]) {
                Ok(_) => cleanup::unregister(&ns),
                Err(e) => {
                    first_err.get_or_insert(e);
                }
            }
        }
        first_err.map_or(Ok(()), Err)
    }
}

impl Drop for Topology {
    fn drop(&mut self) {
        if let Err(e) = self.delete() {
            eprintln!("xpf-bench: cleanup: {e}");
        }
    }
}

/// Whether a thread name is the NAPI thread of `dev` (`napi/<dev>-<id>`;
/// the kernel may cut the name at 15 characters).
pub fn is_napi_thread_of(comm: &str, dev: &str) -> bool {
    let full = format!("napi/{dev}-");
    if comm.starts_with(&full) {
        return true;
    }
    comm.len() == 15 && full.starts_with(comm)
}

/// Scans `/proc` for the NAPI threads of the given devices.
pub fn find_napi_threads(devs: &[&str]) -> Result<Vec<KThread>> {
    let dir = std::fs::read_dir("/proc").map_err(|source| BenchError::Io {
        action: "listing",
        path: "/proc".into(),
        source,
    })?;
    let mut found = Vec::new();
    for entry in dir.flatten() {
        let Some(tid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<i32>().ok())
        else {
            continue;
        };
        let Ok(comm) = std::fs::read_to_string(entry.path().join("comm")) else {
            continue;
        };
        let comm = comm.trim_end();
        if devs.iter().any(|d| is_napi_thread_of(comm, d)) {
            found.push(KThread {
                tid,
                name: comm.to_owned(),
            });
        }
    }
    found.sort_by_key(|t| t.tid);
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_fit_in_ifnamsiz_and_carry_the_prefixes() {
        let n = Names::for_pid(4_194_304);
        for dev in [&n.c0, &n.f0, &n.f1, &n.s0] {
            assert!(dev.len() <= 15, "{dev}");
            assert_eq!(cleanup::link_owner_pid(dev), Some(4_194_304));
        }
        for ns in [&n.ns_client, &n.ns_fw, &n.ns_server] {
            assert_eq!(cleanup::ns_owner_pid(ns), Some(4_194_304));
        }
    }

    #[test]
    fn napi_thread_names_match_their_device_only() {
        assert!(is_napi_thread_of("napi/xb12f0-258", "xb12f0"));
        assert!(!is_napi_thread_of("napi/xb12f1-259", "xb12f0"));
        assert!(!is_napi_thread_of("napi/xb123f0-1", "xb12f0"));
        // cut at 15 characters by an older kernel
        assert!(is_napi_thread_of("napi/xb1234567f", "xb1234567f0"));
        assert!(!is_napi_thread_of("ksoftirqd/0", "xb12f0"));
    }

    #[test]
    fn addresses_are_in_the_benchmarking_range() {
        let bench: std::net::Ipv4Addr = "198.18.0.0".parse().unwrap();
        for a in [
            ADDR_C0,
            ADDR_F0,
            ADDR_F1,
            ADDR_S0,
            FLOW_BASE_ADDR,
            NEW_BASE_ADDR,
        ] {
            assert_eq!(u32::from(a) >> 17, u32::from(bench) >> 17, "{a}");
        }
        let last_flow = u32::from(FLOW_BASE_ADDR) + MAX_FLOWS - 1;
        assert!(last_flow < u32::from(NEW_BASE_ADDR));
        assert!(u32::from(FLOW_BASE_PORT) + MAX_FLOWS - 1 <= 65_535);
    }
}
