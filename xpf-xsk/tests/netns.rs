//! AF_XDP copy mode on a real veth pair: namespace `a` has the kernel stack
//! (198.18.0.1) on one end, namespace `b` the AF_XDP socket on the other
//! (no address). UDP datagrams the kernel in `a` sends arrive on the
//! socket; frames the socket transmits are received by a UDP socket in
//! `a`. Also: a second program on the same interface is refused with a
//! typed error, and dropping the device detaches the program.
//!
//! Needs root: without it the tests fail with a clear message unless
//! `XPF_ALLOW_SKIP_PRIVILEGED=1` is set. Every namespace (and with it every
//! link) is removed on every exit path by an RAII guard.

use std::fs::File;
use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::process::Command;
use std::time::{Duration, Instant};

use nix::sched::{CloneFlags, setns};
use xpf_xsk::{AttachMode, DeviceOptions, Error, XskDevice, XskProgram};

const MAC_A: [u8; 6] = [0x02, 0x58, 0x50, 0x58, 0x00, 0x01];
const MAC_B: [u8; 6] = [0x02, 0x58, 0x50, 0x58, 0x00, 0x02];
const ADDR_A: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
const ADDR_B: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
const FRAMES: usize = 16;

fn privileged(what: &str) -> bool {
    if xpf_xsk::is_root() {
        return true;
    }
    let msg = format!(
        "{what} creates network namespaces and AF_XDP sockets and needs root; run as root or \
         set XPF_ALLOW_SKIP_PRIVILEGED=1 to skip it"
    );
    if std::env::var("XPF_ALLOW_SKIP_PRIVILEGED").is_ok_and(|v| v == "1") {
        eprintln!("skipped: {msg}");
        false
    } else {
        panic!("{msg}");
    }
}

fn mac(m: [u8; 6]) -> String {
    m.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

fn run(program: &str, args: &[&str]) -> String {
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

/// Two namespaces joined by a veth pair; deleted on drop.
struct Pair {
    ns_a: String,
    ns_b: String,
    a0: String,
    b0: String,
    created: Vec<String>,
}

impl Pair {
    fn create(tag: &str) -> Self {
        let pid = std::process::id();
        let mut p = Pair {
            ns_a: format!("xpfx{pid}{tag}-a"),
            ns_b: format!("xpfx{pid}{tag}-b"),
            a0: format!("xx{pid}{tag}a0"),
            b0: format!("xx{pid}{tag}b0"),
            created: Vec::new(),
        };
        for ns in [p.ns_a.clone(), p.ns_b.clone()] {
            run("ip", &["netns", "add", &ns]);
            p.created.push(ns.clone());
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
        run(
            "ip",
            &[
                "link",
                "add",
                &p.a0,
                "address",
                &mac(MAC_A),
                "netns",
                &p.ns_a,
                "type",
                "veth",
                "peer",
                "name",
                &p.b0,
                "address",
                &mac(MAC_B),
                "netns",
                &p.ns_b,
            ],
        );
        run(
            "ip",
            &[
                "-n",
                &p.ns_a,
                "addr",
                "add",
                &format!("{ADDR_A}/24"),
                "dev",
                &p.a0,
            ],
        );
        // Full checksums from the sender (no partial offload on the wire).
        run(
            "ip",
            &[
                "netns", "exec", &p.ns_a, "ethtool", "-K", &p.a0, "tx", "off",
            ],
        );
        run(
            "ip",
            &[
                "-n",
                &p.ns_a,
                "neigh",
                "replace",
                &ADDR_B.to_string(),
                "lladdr",
                &mac(MAC_B),
                "dev",
                &p.a0,
                "nud",
                "permanent",
            ],
        );
        run("ip", &["-n", &p.ns_a, "link", "set", &p.a0, "up"]);
        run("ip", &["-n", &p.ns_b, "link", "set", &p.b0, "up"]);
        p
    }

    /// Whether `b0` has an XDP program attached.
    /// Whether b0's program goes away: closing a link's descriptor
    /// detaches it, but the kernel may finish that release just after
    /// `close` returns (deferred file and link release under load), so this
    /// waits up to 10 s for it rather than racing it.
    fn b0_xdp_released(&self) -> bool {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while self.b0_has_xdp() {
            if std::time::Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        true
    }

    fn b0_has_xdp(&self) -> bool {
        let text = run(
            "ip",
            &["-n", &self.ns_b, "-d", "-j", "link", "show", &self.b0],
        );
        text.contains("\"xdp\"")
    }
}

impl Drop for Pair {
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

/// Runs `f` on a thread that has entered network namespace `ns`.
fn in_ns<T: Send>(ns: &str, f: impl FnOnce() -> T + Send) -> T {
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

fn csum(data: &[u8]) -> u16 {
    let mut sum = 0u32;
    for c in data.chunks(2) {
        let w = if c.len() == 2 {
            u16::from_be_bytes([c[0], c[1]])
        } else {
            u16::from_be_bytes([c[0], 0])
        };
        sum += u32::from(w);
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// An Ethernet / IPv4 / UDP frame from `b` to `a` (UDP checksum 0: none).
fn udp_frame(sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&MAC_A);
    f.extend_from_slice(&MAC_B);
    f.extend_from_slice(&[0x08, 0x00]);
    let total = (20 + 8 + payload.len()) as u16;
    let mut ip = vec![0x45, 0, 0, 0, 0, 1, 0x40, 0, 64, 17, 0, 0];
    ip[2..4].copy_from_slice(&total.to_be_bytes());
    ip.extend_from_slice(&ADDR_B.octets());
    ip.extend_from_slice(&ADDR_A.octets());
    let c = csum(&ip);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    f.extend_from_slice(&ip);
    f.extend_from_slice(&sport.to_be_bytes());
    f.extend_from_slice(&dport.to_be_bytes());
    f.extend_from_slice(&(8 + payload.len() as u16).to_be_bytes());
    f.extend_from_slice(&[0, 0]);
    f.extend_from_slice(payload);
    f
}

/// The UDP payload of an Ethernet / IPv4 / UDP frame to `ADDR_B`, if it is one.
fn udp_payload_to_b(frame: &[u8]) -> Option<&[u8]> {
    if frame.len() < 42 || frame[0..6] != MAC_B || frame[12..14] != [0x08, 0x00] {
        return None;
    }
    let ihl = usize::from(frame[14] & 0x0f) * 4;
    if frame[23] != 17 || frame[30..34] != ADDR_B.octets() {
        return None;
    }
    frame.get(14 + ihl + 8..)
}

#[test]
fn frames_sent_into_the_veth_arrive_on_the_socket_and_transmitted_frames_leave_the_other_way() {
    if !privileged("the AF_XDP netns test") {
        return;
    }
    let pair = Pair::create("t");
    let dev = in_ns(&pair.ns_b, || {
        XskDevice::open(&pair.b0, &DeviceOptions::single_queue())
    })
    .unwrap_or_else(|e| panic!("opening AF_XDP on {}: {e}", pair.b0));
    assert!(pair.b0_has_xdp(), "the redirect program is attached");
    let sock = &dev.sockets()[0];

    // Kernel in `a` -> veth -> XDP redirect -> socket.
    in_ns(&pair.ns_a, || {
        let udp = UdpSocket::bind(SocketAddrV4::new(ADDR_A, 0)).expect("bind in a");
        for i in 0..FRAMES {
            udp.send_to(
                format!("xpf-xsk-rx-{i}").as_bytes(),
                SocketAddrV4::new(ADDR_B, 7000),
            )
            .expect("send_to");
        }
    });
    let mut seen = [false; FRAMES];
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut frames = Vec::new();
    while seen.iter().any(|s| !s) && Instant::now() < deadline {
        frames.clear();
        if sock.recv(&mut frames, 64) == 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
        for f in &frames {
            if let Some(p) = udp_payload_to_b(f)
                && let Some(i) = std::str::from_utf8(p)
                    .ok()
                    .and_then(|s| s.strip_prefix("xpf-xsk-rx-"))
                    .and_then(|s| s.parse::<usize>().ok())
                && i < FRAMES
            {
                seen[i] = true;
            }
        }
    }
    let missing: Vec<usize> = (0..FRAMES).filter(|i| !seen[*i]).collect();
    assert!(
        missing.is_empty(),
        "datagrams not received on the socket: {missing:?}"
    );

    // Socket -> veth -> kernel in `a`.
    let got = in_ns(&pair.ns_a, || {
        let udp = UdpSocket::bind(SocketAddrV4::new(ADDR_A, 7001)).expect("bind 7001 in a");
        udp.set_read_timeout(Some(Duration::from_secs(5))).ok();
        let mut out: Vec<Vec<u8>> = (0..FRAMES)
            .map(|i| udp_frame(7002, 7001, format!("xpf-xsk-tx-{i}").as_bytes()))
            .collect();
        let sent = sock.send(&mut out).expect("send");
        assert_eq!(sent, FRAMES, "every frame queued");
        let mut got = Vec::new();
        let mut buf = [0u8; 256];
        while got.len() < FRAMES {
            match udp.recv_from(&mut buf) {
                Ok((n, from)) => {
                    assert_eq!(from, std::net::SocketAddr::from((ADDR_B, 7002)));
                    got.push(String::from_utf8_lossy(&buf[..n]).into_owned());
                }
                Err(e) => panic!("after {} datagrams: {e}", got.len()),
            }
        }
        got
    });
    let want: Vec<String> = (0..FRAMES).map(|i| format!("xpf-xsk-tx-{i}")).collect();
    assert_eq!(got, want, "transmitted frames arrive in order");

    let stats = dev.stats().expect("stats");
    assert!(stats.rx_frames >= FRAMES as u64, "{stats:?}");
    assert_eq!(stats.tx_frames, FRAMES as u64, "{stats:?}");
    assert_eq!(stats.tx_ring_full + stats.tx_oversize, 0, "{stats:?}");

    drop(dev);
    assert!(
        pair.b0_xdp_released(),
        "dropping the device detaches the program"
    );
}

#[test]
fn a_second_program_on_the_same_interface_is_refused_with_a_typed_error() {
    if !privileged("the AF_XDP netns test") {
        return;
    }
    let pair = Pair::create("b");
    in_ns(&pair.ns_b, || {
        let ifindex = xpf_xsk::ifindex(&pair.b0).expect("ifindex");
        let first = XskProgram::attach(ifindex, 1, AttachMode::Native).expect("first attach");
        let second = XskProgram::attach(ifindex, 1, AttachMode::Native);
        assert!(
            matches!(second, Err(Error::Busy { ifindex: i }) if i == ifindex),
            "{second:?}"
        );
        drop(first);
        XskProgram::attach(ifindex, 1, AttachMode::Generic).expect("attach after detach");
    });
    assert!(pair.b0_xdp_released(), "every program detached");
}

#[test]
fn an_unknown_interface_is_a_typed_error() {
    // No privileges needed: the name is resolved before anything is created.
    let e = XskDevice::open("xpf-no-such-if", &DeviceOptions::single_queue()).unwrap_err();
    assert!(
        matches!(e, Error::NoSuchInterface(ref n) if n == "xpf-no-such-if"),
        "{e}"
    );
}
