//! The demo trace generator (`xpf-replay --generate-trace DIR`).
//!
//! Writes one pcap per ingress interface of `examples/replay/branch-office.toml`
//! (`branch-office.<interface>.pcap`, `/` spelled `_`). Outbound traffic is
//! scripted; replies to translated flows need the translation the firewall
//! picked, so the generator runs the outbound half through the same backend
//! and builds each reply from the forwarded frame. The result is fully
//! determined by the config and this script: regenerating gives the same
//! bytes (a test checks the shipped files against a fresh run).

use crate::pcap::Writer;
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::Path;
use xpf_dataplane::cancel::Cancel;
use xpf_dataplane::{Config, ConfigSink, RuntimeDataPlane};
use xpf_engine::wire::parse_frame;
use xpf_userspace::UserspaceDataplane;
use xpf_userspace::craft::Envelope;
use xpf_userspace::craft::tcp_flags::{ACK, FIN, PSH, SYN};

/// 2026-11-23 09:00:00 UTC.
pub const START_NS: u64 = 1_795_424_400 * 1_000_000_000;

const WAN: &str = "ge-0/0/0.0";
const LAN: &str = "ge-0/0/1.0";
const DMZ: &str = "ge-0/0/2.0";
const FW_WAN_MAC: [u8; 6] = [2, 0, 0x0a, 0, 0, 0];
const FW_LAN_MAC: [u8; 6] = [2, 0, 0x0a, 0, 0, 1];
const FW_DMZ_MAC: [u8; 6] = [2, 0, 0x0a, 0, 0, 2];
const ISP_MAC: [u8; 6] = [2, 0, 0x0a, 0xff, 0, 1];
const ALICE_MAC: [u8; 6] = [2, 0, 0x0a, 0x10, 0, 0x21];
const BOB_MAC: [u8; 6] = [2, 0, 0x0a, 0x10, 0, 0x22];
const WEB_MAC: [u8; 6] = [2, 0, 0x0a, 0x30, 0, 0x10];

/// The trace file name for an interface.
pub fn file_name(interface: &str) -> String {
    format!("branch-office.{}.pcap", interface.replace('/', "_"))
}

fn ip(s: &str) -> IpAddr {
    s.parse().expect("literal address")
}

/// Records frames per interface while running them through a backend.
struct Script {
    dp: UserspaceDataplane,
    now: u64,
    frames: BTreeMap<&'static str, Vec<(u64, Vec<u8>)>>,
}

impl Script {
    /// Sends `frame` on `iface` 1 ms after the previous one; returns the
    /// frame the firewall forwarded, if it did.
    fn send(&mut self, iface: &'static str, frame: Vec<u8>) -> Option<Vec<u8>> {
        self.now += 1_000_000;
        self.frames
            .entry(iface)
            .or_default()
            .push((self.now, frame.clone()));
        let out = self.dp.inject(self.now, iface, frame).ok()?;
        out.frames
            .into_iter()
            .find(|f| f.origin == xpf_userspace::Origin::Forwarded)
            .map(|f| f.frame)
    }

    fn pause(&mut self, ms: u64) {
        self.now += ms * 1_000_000;
    }
}

/// The translated `(src, sport)` of a forwarded frame.
fn translated(frame: &[u8]) -> (IpAddr, u16) {
    let p = parse_frame(frame).expect("forwarded frames parse");
    (p.src, p.ports().map_or(0, |(s, _)| s))
}

/// A TCP exchange: handshake, one request, one response, FIN both ways.
fn tcp_session(
    s: &mut Script,
    (client_if, client): (&'static str, Envelope),
    (server_if, server_mac, fw_server_mac): (&'static str, [u8; 6], [u8; 6]),
    sport: u16,
    dport: u16,
    request: &[u8],
    response: &[u8],
) {
    let mut seq_c = 1_000u32;
    let mut seq_s = 50_000u32;
    let Some(out) = s.send(
        client_if,
        client.tcp(sport, dport, SYN, seq_c, 0, 64240, &[]),
    ) else {
        return;
    };
    // The server sees (and answers) the translated tuple.
    let p = parse_frame(&out).expect("parses");
    let (tsrc, tsport) = (p.src, p.ports().map_or(0, |(s, _)| s));
    let (tdst, tdport) = (p.dst, p.ports().map_or(0, |(_, d)| d));
    let server = Envelope::new(server_mac, fw_server_mac, tdst, tsrc);
    seq_c += 1;
    s.pause(12);
    s.send(
        server_if,
        server.tcp(tdport, tsport, SYN | ACK, seq_s, seq_c, 65160, &[]),
    );
    seq_s += 1;
    s.send(
        client_if,
        client.tcp(sport, dport, ACK, seq_c, seq_s, 64240, &[]),
    );
    s.send(
        client_if,
        client.tcp(sport, dport, PSH | ACK, seq_c, seq_s, 64240, request),
    );
    seq_c += request.len() as u32;
    s.pause(20);
    s.send(
        server_if,
        server.tcp(tdport, tsport, PSH | ACK, seq_s, seq_c, 65160, response),
    );
    seq_s += response.len() as u32;
    s.send(
        client_if,
        client.tcp(sport, dport, FIN | ACK, seq_c, seq_s, 64240, &[]),
    );
    seq_c += 1;
    s.send(
        server_if,
        server.tcp(tdport, tsport, FIN | ACK, seq_s, seq_c, 65160, &[]),
    );
    seq_s += 1;
    s.send(
        client_if,
        client.tcp(sport, dport, ACK, seq_c, seq_s, 64240, &[]),
    );
}

/// Generates the trace for `config` and writes it to `dir`; returns the
/// files written with their frame counts.
pub fn generate(config: &Config, dir: &Path) -> Result<Vec<(String, usize)>, String> {
    let dp = UserspaceDataplane::inline();
    futures::executor::block_on(dp.apply(config, &Cancel::new())).map_err(|e| e.to_string())?;
    futures::executor::block_on(dp.start()).map_err(|e| e.to_string())?;
    let mut s = Script {
        dp,
        now: START_NS,
        frames: BTreeMap::new(),
    };
    let alice = |dst: &str| Envelope::new(ALICE_MAC, FW_LAN_MAC, ip("198.18.10.21"), ip(dst));
    let bob = |dst: &str| Envelope::new(BOB_MAC, FW_LAN_MAC, ip("198.18.10.22"), ip(dst));
    let alice6 = |dst: &str| Envelope::new(ALICE_MAC, FW_LAN_MAC, ip("2001:db8:1::21"), ip(dst));
    let internet = |src: &str, dst: &str| Envelope::new(ISP_MAC, FW_WAN_MAC, ip(src), ip(dst));
    let wan_side = (WAN, ISP_MAC, FW_WAN_MAC);

    // Staff HTTPS through source NAT.
    tcp_session(
        &mut s,
        (LAN, alice("198.19.200.10")),
        wan_side,
        49152,
        443,
        b"\x16\x03\x01 client hello",
        b"\x16\x03\x03 server hello",
    );
    // DNS over UDP, and its answer to the translated port.
    if let Some(out) = s.send(
        LAN,
        alice("198.19.200.53").udp(50353, 53, b"\x12\x34 A example.test"),
    ) {
        let (pub_ip, pub_port) = translated(&out);
        let answer = internet("198.19.200.53", &pub_ip.to_string());
        s.send(WAN, answer.udp(53, pub_port, b"\x12\x34 A 198.19.200.80"));
    }
    // Ping from Bob, and the echo reply.
    if let Some(out) = s.send(
        LAN,
        bob("198.19.200.10").echo(0x2222, 1, false, b"abcdefgh"),
    ) {
        let (pub_ip, pub_id) = translated(&out);
        let reply = internet("198.19.200.10", &pub_ip.to_string());
        s.send(WAN, reply.echo(pub_id, 1, true, b"abcdefgh"));
    }
    // IPv6 web and ping: routed, not translated.
    tcp_session(
        &mut s,
        (LAN, alice6("2001:db8:200::10")),
        wan_side,
        49200,
        80,
        b"GET / HTTP/1.1\r\nHost: www.example.test\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
    );
    if s.send(
        LAN,
        alice6("2001:db8:200::10").echo(0x6666, 1, false, b"v6 ping"),
    )
    .is_some()
    {
        let reply = internet("2001:db8:200::10", "2001:db8:1::21");
        s.send(WAN, reply.echo(0x6666, 1, true, b"v6 ping"));
    }
    // The published web server: DNAT 198.19.10.4:80 -> 198.18.30.10:8080.
    tcp_session(
        &mut s,
        (WAN, internet("198.19.77.7", "198.19.10.4")),
        (DMZ, WEB_MAC, FW_DMZ_MAC),
        51000,
        80,
        b"GET /index.html HTTP/1.1\r\nHost: www.br-demo.test\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
    );
    // Drops. Inbound SSH to a staff host: no policy, default deny.
    s.pause(100);
    s.send(
        WAN,
        internet("198.19.66.6", "198.18.10.21").tcp(40022, 22, SYN, 7, 0, 1024, &[]),
    );
    // Telnet out: an explicit, logged deny.
    s.send(
        LAN,
        bob("198.19.200.23").tcp(49999, 23, SYN, 9, 0, 64240, &[]),
    );
    // Screens on untrust: SYN+FIN, and a land attack.
    s.send(
        WAN,
        internet("198.19.66.6", "198.19.10.4").tcp(40080, 80, SYN | FIN, 1, 0, 1024, &[]),
    );
    s.send(
        WAN,
        internet("198.19.10.4", "198.19.10.4").tcp(80, 80, SYN, 1, 0, 1024, &[]),
    );
    // A TCP segment without a session (a stale connection).
    s.send(
        WAN,
        internet("198.19.200.10", "198.18.30.10").tcp(443, 40001, ACK, 5, 5, 1024, &[]),
    );
    // Malformed: a truncated frame and an IPv4 header with a bad checksum.
    let mut bad = bob("198.19.200.53").udp(50400, 53, b"\x00\x01 A example.test");
    bad[24] ^= 0xff;
    s.send(LAN, bad);
    let mut short = internet("198.19.66.6", "198.19.10.2").udp(1, 2, b"");
    short.truncate(20);
    s.send(WAN, short);

    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut written = Vec::new();
    for (iface, frames) in &s.frames {
        let name = file_name(iface);
        let mut w = Writer::create(&dir.join(&name)).map_err(|e| e.to_string())?;
        for (ts, f) in frames {
            w.write(*ts, f).map_err(|e| e.to_string())?;
        }
        written.push((name, w.finish().map_err(|e| e.to_string())?));
    }
    Ok(written)
}
