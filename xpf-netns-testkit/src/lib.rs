//! Test support for the backends' real-traffic tests (root): a client /
//! firewall / server topology of three network namespaces over two veth
//! pairs ([`Topology`], removed on drop, so on every exit path), running
//! code inside a namespace ([`in_ns`]), an echo server and a checked round
//! trip. Addresses only from 198.18.0.0/15; fixed MACs and permanent
//! neighbours on the end hosts, the firewall's links up with no addresses
//! and kernel forwarding off: whatever crosses it was forwarded by the
//! backend under test.

use std::fs::File;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::process::Command;
use std::time::Duration;

use nix::sched::{CloneFlags, setns};

/// Client MAC.
pub const MAC_C0: &str = "02:58:50:45:00:01";
/// Firewall MAC on the client link.
pub const MAC_F0: &str = "02:58:50:45:01:01";
/// Firewall MAC on the server link.
pub const MAC_F1: &str = "02:58:50:45:01:02";
/// Server MAC.
pub const MAC_S0: &str = "02:58:50:45:02:01";
/// Client address.
pub const ADDR_C0: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
/// The client's gateway (no address on the firewall).
pub const ADDR_F0: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
/// The server's gateway.
pub const ADDR_F1: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 1);
/// Server address.
pub const ADDR_S0: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 2);
/// The public address destination NAT forwards to the client.
/// Public (destination-NAT) address, on the server's link.
pub const ADDR_PUBLIC: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 10);
/// Port the server listens on.
pub const SERVER_PORT: u16 = 5201;
/// Public port forwarded by destination NAT.
pub const PUBLIC_PORT: u16 = 80;
/// Server port destination NAT forwards to.
pub const FORWARDED_PORT: u16 = 8080;
/// A port nothing listens on.
pub const CLOSED_PORT: u16 = 9000;

/// Runs a command and returns its stdout; panics (naming the command) when
/// it fails.
pub fn run(program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("spawning {program} {}: {e}", args.join(" ")));
    assert!(
        out.status.success(),
        "{program} {} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The three namespaces and two veth pairs; deleted on drop (deleting a
/// namespace deletes its links and detaches their programs).
pub struct Topology {
    /// Namespaces: client, firewall, server.
    pub ns: [String; 3],
    /// Client end of the client link.
    pub c0: String,
    /// Firewall end of the client link.
    pub f0: String,
    /// Firewall end of the server link.
    pub f1: String,
    /// Server end of the server link.
    pub s0: String,
    created: Vec<String>,
}

impl Topology {
    /// The client namespace.
    pub fn client(&self) -> &str {
        &self.ns[0]
    }
    /// The firewall namespace.
    pub fn fw(&self) -> &str {
        &self.ns[1]
    }
    /// The server namespace.
    pub fn server(&self) -> &str {
        &self.ns[2]
    }

    /// Creates the topology; `prefix` (one short word per backend) and
    /// `tag` (per test) keep names unique across concurrent tests.
    pub fn create(prefix: &str, tag: &str) -> Self {
        let pid = std::process::id();
        let mut t = Topology {
            ns: [
                format!("xpf{prefix}{pid}{tag}-client"),
                format!("xpf{prefix}{pid}{tag}-fw"),
                format!("xpf{prefix}{pid}{tag}-server"),
            ],
            c0: format!("x{prefix}{pid}{tag}c0"),
            f0: format!("x{prefix}{pid}{tag}f0"),
            f1: format!("x{prefix}{pid}{tag}f1"),
            s0: format!("x{prefix}{pid}{tag}s0"),
            created: Vec::new(),
        };
        for ns in t.ns.clone() {
            run("ip", &["netns", "add", &ns]);
            t.created.push(ns.clone());
            run(
                "ip",
                &[
                    "netns",
                    "exec",
                    &ns,
                    "sysctl",
                    "-qw",
                    "net.ipv6.conf.all.disable_ipv6=1",
                    "net.ipv6.conf.default.disable_ipv6=1",
                ],
            );
            run("ip", &["-n", &ns, "link", "set", "lo", "up"]);
        }
        let (c, f, s) = (t.ns[0].clone(), t.ns[1].clone(), t.ns[2].clone());
        for (a, amac, ans, b, bmac, bns) in [
            (&t.c0, MAC_C0, &c, &t.f0, MAC_F0, &f),
            (&t.f1, MAC_F1, &f, &t.s0, MAC_S0, &s),
        ] {
            run(
                "ip",
                &[
                    "link", "add", a, "address", amac, "netns", ans, "type", "veth", "peer",
                    "name", b, "address", bmac, "netns", bns,
                ],
            );
        }
        // The end hosts: addresses, the firewall as gateway, permanent
        // neighbours (no ARP crosses the firewall), and checksums computed
        // in software (a partial checksum cannot be updated incrementally
        // by a NAT in XDP). GRO on the edges gives their veths NAPI, which
        // XDP_REDIRECT into a veth needs on the receiving peer.
        for (ns, dev, addr, gw, gw_mac) in [
            (&c, &t.c0, ADDR_C0, ADDR_F0, MAC_F0),
            (&s, &t.s0, ADDR_S0, ADDR_F1, MAC_F1),
        ] {
            run(
                "ip",
                &["-n", ns, "addr", "add", &format!("{addr}/24"), "dev", dev],
            );
            run(
                "ip",
                &[
                    "netns", "exec", ns, "ethtool", "-K", dev, "tx", "off", "tso", "off", "gso",
                    "off", "gro", "on",
                ],
            );
            run("ip", &["-n", ns, "link", "set", dev, "up"]);
            run(
                "ip",
                &["-n", ns, "route", "add", "default", "via", &gw.to_string()],
            );
            run(
                "ip",
                &[
                    "-n",
                    ns,
                    "neigh",
                    "replace",
                    &gw.to_string(),
                    "lladdr",
                    gw_mac,
                    "dev",
                    dev,
                    "nud",
                    "permanent",
                ],
            );
        }
        // The public (DNAT) address is on the server's link.
        run(
            "ip",
            &[
                "-n",
                &s,
                "neigh",
                "replace",
                &ADDR_PUBLIC.to_string(),
                "lladdr",
                MAC_F1,
                "dev",
                &t.s0,
                "nud",
                "permanent",
            ],
        );
        // The firewall: links up, no addresses, no kernel forwarding.
        for dev in [&t.f0, &t.f1] {
            run(
                "ip",
                &[
                    "netns", "exec", &f, "ethtool", "-K", dev, "tx", "off", "tso", "off", "gso",
                    "off", "gro", "on",
                ],
            );
            run("ip", &["-n", &f, "link", "set", dev, "up"]);
        }
        run(
            "ip",
            &[
                "netns",
                "exec",
                &f,
                "sysctl",
                "-qw",
                "net.ipv4.ip_forward=0",
            ],
        );
        t
    }

    /// A link's kernel statistics (`ip -s link`): (tx packets, rx packets).
    pub fn link_packets(&self, ns: &str, dev: &str) -> (u64, u64) {
        let text = run("ip", &["-n", ns, "-s", "-j", "link", "show", "dev", dev]);
        let v: serde_json::Value = serde_json::from_str(&text).expect("ip -j output");
        let st = &v[0]["stats64"];
        (
            st["tx"]["packets"].as_u64().expect("tx packets"),
            st["rx"]["packets"].as_u64().expect("rx packets"),
        )
    }
}

impl Drop for Topology {
    fn drop(&mut self) {
        for ns in self.created.drain(..).rev() {
            let ok = Command::new("ip")
                .args(["netns", "del", &ns])
                .status()
                .is_ok_and(|s| s.success());
            if !ok {
                eprintln!("cleanup: could not delete namespace {ns}");
            }
        }
    }
}

/// Runs `f` on a thread that has entered network namespace `ns`. Sockets
/// created there stay in that namespace wherever they are used later.
pub fn in_ns<T: Send>(ns: &str, f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|s| {
        s.spawn(|| {
            let file = File::open(format!("/run/netns/{ns}"))
                .unwrap_or_else(|e| panic!("opening namespace {ns}: {e}"));
            setns(&file, CloneFlags::CLONE_NEWNET)
                .unwrap_or_else(|e| panic!("entering namespace {ns}: {e}"));
            f()
        })
        .join()
        .expect("namespace thread")
    })
}

/// Writes `msg` and checks that the same bytes come back.
pub fn round_trip(stream: &mut TcpStream, msg: &[u8]) {
    stream.write_all(msg).expect("write");
    let mut back = vec![0u8; msg.len()];
    stream.read_exact(&mut back).expect("read echo");
    assert_eq!(back, msg);
}

/// Accepts one connection and echoes everything until EOF; returns the
/// peer address the server saw and the bytes echoed.
pub fn echo_server(listener: TcpListener) -> std::thread::JoinHandle<(SocketAddr, usize)> {
    std::thread::spawn(move || {
        let (mut s, peer) = listener.accept().expect("accept");
        s.set_read_timeout(Some(Duration::from_secs(10))).ok();
        let mut buf = [0u8; 4096];
        let mut total = 0;
        loop {
            match s.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    total += n;
                    s.write_all(&buf[..n]).expect("echo");
                }
                Err(e) => panic!("echo server read: {e}"),
            }
        }
        (peer, total)
    })
}

/// The firewall configuration the real-traffic tests of every backend
/// apply on this topology (TOML): trust (f0) and untrust (f1) zones,
/// outbound permitted with interface source NAT, destination NAT of
/// [`ADDR_PUBLIC`]:[`PUBLIC_PORT`] to the server's [`FORWARDED_PORT`],
/// everything else inbound denied, routes and permanent neighbours for
/// both sides.
pub fn firewall_config(t: &Topology) -> String {
    format!(
        r#"
[[interfaces]]
name = "{f0}"
zone = "trust"
mac = "{MAC_F0}"
addresses = ["{ADDR_F0}/24"]

[[interfaces]]
name = "{f1}"
zone = "untrust"
mac = "{MAC_F1}"
addresses = ["{ADDR_F1}/24"]

[[zones]]
name = "trust"

[[zones.address-book.addresses]]
name = "client"
prefix = "{ADDR_C0}/32"

[[zones]]
name = "untrust"

[[applications.applications]]
name = "forwarded-service"
protocol = "tcp"
destination-port = {FORWARDED_PORT}

[security]
default-policy = "deny"

[[security.policies]]
from-zone = "trust"
to-zone = "untrust"

[[security.policies.policies]]
name = "outbound"
match = {{ source-address = ["any"], destination-address = ["any"], application = ["any"] }}
then = {{ action = "permit", log = {{ session-init = true, session-close = true }}, count = true }}

[[security.policies]]
from-zone = "untrust"
to-zone = "trust"

[[security.policies.policies]]
name = "published"
match = {{ source-address = ["any"], destination-address = ["client"], application = ["forwarded-service"] }}
then = {{ action = "permit", log = {{ session-init = true, session-close = true }}, count = true }}

[[security.global-policies]]
name = "deny-log"
match = {{ source-address = ["any"], destination-address = ["any"], application = ["any"] }}
then = {{ action = "deny", log = {{ session-init = true }}, count = true }}

[[security.nat.source.rule-sets]]
name = "outbound"
from = {{ zone = ["trust"] }}
to = {{ zone = ["untrust"] }}

[[security.nat.source.rule-sets.rules]]
name = "masquerade"
match = {{ source-address = ["198.18.0.0/16"] }}
then = "interface"

[[security.nat.destination.pools]]
name = "client-service"
address = "{ADDR_C0}"
port = {FORWARDED_PORT}

[[security.nat.destination.rule-sets]]
name = "inbound"
from = {{ zone = ["untrust"] }}

[[security.nat.destination.rule-sets.rules]]
name = "port-forward"
match = {{ destination-address = ["{ADDR_PUBLIC}/32"], destination-port = [{PUBLIC_PORT}], protocol = ["tcp"] }}
then = {{ pool = "client-service" }}

[[forwarding.neighbours]]
address = "{ADDR_C0}"
mac = "{MAC_C0}"
interface = "{f0}"

[[forwarding.neighbours]]
address = "{ADDR_S0}"
mac = "{MAC_S0}"
interface = "{f1}"
"#,
        f0 = t.f0,
        f1 = t.f1,
    )
}
