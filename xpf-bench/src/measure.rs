//! One measurement: build the topology, install a configuration, prepare the
//! scenario (establish flows, fill the session table), run the traffic for
//! a fixed time and turn the counter deltas into firewall CPU ns per
//! forwarded packet.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddrV4, TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::backend::{Backend, Scenario};
use crate::bpf::{self, BpfObject, FlowMode, FrameSpec, GenParams, Generator, Sink};
use crate::cleanup;
use crate::counters::{self, LinkStats};
use crate::error::{BenchError, Result};
use crate::sys;
use crate::topology::{self as topo, FIREWALL_CPU, GENERATOR_CPU, KThread, Topology};

/// Frames per `BPF_PROG_RUN` call while measuring (~10–100 ms per call).
const RUN_CHUNK: u32 = 1 << 18;
/// While establishing flows / filling the table the generator sends one
/// frame in `PACE` (the others are dropped in the program), so the firewall's
/// 256-slot veth ring is not overflowed by a single `BPF_PROG_RUN` call.
const PACE: u32 = 128;
/// Most program runs per paced call (keeps Ctrl-C responsive).
const PACED_CALL: u64 = 1 << 22;
/// Most unanswered sessions put in the table for the full-table scenario.
pub const FULL_TABLE_FILL: u64 = 200_000;
/// The same in smoke mode.
pub const SMOKE_TABLE_FILL: u64 = 20_000;

/// What one measurement needs besides the configuration.
#[derive(Debug, Clone)]
pub struct MeasureOpts {
    /// Measuring window.
    pub duration: Duration,
    /// Traffic before the window starts (steady state).
    pub warmup: Duration,
    /// Established flows.
    pub flows: u32,
    /// Process id used in the names.
    pub pid: u32,
    /// Unanswered sessions to put in the table for the full-table scenario.
    pub fill: u64,
}

/// One measurement, as written to the JSON lines output.
#[derive(Debug, Clone, Serialize)]
pub struct Measurement {
    /// Round (0-based).
    pub round: u32,
    /// Position in the round's rotated order.
    pub order: u32,
    /// Configuration name.
    pub config: String,
    /// Scenario name.
    pub scenario: String,
    /// Length of the window, seconds.
    pub window_s: f64,
    /// Δ run time of the firewall's threads, ns.
    pub fw_cpu_ns: u64,
    /// The threads counted.
    pub fw_threads: Vec<String>,
    /// Of `fw_cpu_ns`, the backend's own threads (e.g. a service thread
    /// draining events and sweeping sessions), ns.
    pub backend_cpu_ns: u64,
    /// Packets that left the firewall (tx + tx_dropped, both veths).
    pub pkts_out: u64,
    /// Bytes that left the firewall.
    pub bytes_out: u64,
    /// Of which dropped on transmit.
    pub tx_dropped: u64,
    /// Unit of `ns_per_unit`: "packet", or "1500B" for the TCP transfer
    /// (whose packets are GRO aggregates).
    pub unit: String,
    /// Firewall CPU ns per unit forwarded: the metric.
    pub ns_per_unit: f64,
    /// Wall-clock forwarded rate, Mpps (units per second / 1e6).
    pub mpps: f64,
    /// Frames the generator offered in the window (UDP scenarios).
    pub offered_pkts: u64,
    /// Offered rate, Mpps.
    pub offered_mpps: f64,
    /// Throughput out of the firewall, Gbit/s.
    pub gbps: f64,
    /// Sessions in the backend's table before the window.
    pub sessions_before: Option<u64>,
    /// Sessions after the window.
    pub sessions_after: Option<u64>,
    /// Δ run time of ksoftirqd on the firewall CPU (diagnostic, not counted).
    pub ksoftirqd_ns: Option<u64>,
}

struct Snapshot {
    at: Instant,
    fw_ns: u64,
    backend_ns: u64,
    ksoftirqd: Option<u64>,
    links: Vec<LinkStats>,
    offered: u64,
}

fn snapshot(
    topo: &Topology,
    threads: &[KThread],
    own: &[KThread],
    offered: &AtomicU64,
) -> Result<Snapshot> {
    let n = &topo.names;
    let links = counters::link_stats(&n.ns_fw, &[&n.f0, &n.f1])?;
    Ok(Snapshot {
        at: Instant::now(),
        fw_ns: counters::sum_runtime_ns(threads)?,
        backend_ns: counters::sum_runtime_ns(own)?,
        ksoftirqd: counters::ksoftirqd_runtime_ns(FIREWALL_CPU),
        links,
        offered: offered.load(Ordering::Relaxed),
    })
}

fn client_frame() -> [u8; bpf::FRAME_LEN] {
    bpf::udp_frame(&FrameSpec {
        src_mac: topo::MAC_C0,
        dst_mac: topo::MAC_F0,
        src: topo::FLOW_BASE_ADDR,
        dst: topo::ADDR_S0,
        sport: topo::FLOW_BASE_PORT,
        dport: topo::UDP_PORT,
    })
}

fn server_frame() -> [u8; bpf::FRAME_LEN] {
    bpf::udp_frame(&FrameSpec {
        src_mac: topo::MAC_S0,
        dst_mac: topo::MAC_F1,
        src: topo::ADDR_S0,
        dst: topo::FLOW_BASE_ADDR,
        sport: topo::UDP_PORT,
        dport: topo::FLOW_BASE_PORT,
    })
}

fn gen_params(mode: FlowMode, reply: bool, reply_addr: Option<Ipv4Addr>) -> GenParams {
    GenParams {
        pace: 1,
        template: if reply {
            server_frame()
        } else {
            client_frame()
        },
        mode,
        reply,
        reply_addr,
        flow_base_addr: topo::FLOW_BASE_ADDR,
        flow_base_port: topo::FLOW_BASE_PORT,
        new_base_addr: topo::NEW_BASE_ADDR,
    }
}

fn ifindex(dev: &str) -> Result<u32> {
    nix::net::if_::if_nametoindex(dev).map_err(|source| BenchError::Sys {
        what: format!("ifindex of {dev}"),
        source,
    })
}

/// Sends `frames` frames (paced, see [`PACE`]) from `dev` in `ns`, pinned
/// to the generator CPU.
fn paced_send(generator: &Generator, ns: &str, dev: &str, frame: &[u8], frames: u64) -> Result<()> {
    sys::in_netns(ns, || {
        sys::pin(0, GENERATOR_CPU.min(sys::online_cpus() - 1))?;
        let idx = ifindex(dev)?;
        let mut runs = frames * u64::from(PACE);
        let t = Instant::now();
        let total = runs;
        let _report = Deferred(move || {
            if std::env::var("XPF_BENCH_DEBUG").is_ok_and(|v| v == "1") {
                eprintln!(
                    "paced: {total} program runs in {:?} ({:.0} ns/run)",
                    t.elapsed(),
                    t.elapsed().as_nanos() as f64 / total.max(1) as f64
                );
            }
        });
        while runs > 0 {
            cleanup::check_stop()?;
            let n = runs.min(PACED_CALL);
            generator.run(idx, frame, n as u32)?;
            runs -= n;
        }
        Ok(())
    })
}

/// Runs a closure when dropped.
struct Deferred<F: FnMut()>(F);

impl<F: FnMut()> Drop for Deferred<F> {
    fn drop(&mut self) {
        (self.0)();
    }
}

fn paced(mode: FlowMode, reply: bool, reply_addr: Option<Ipv4Addr>) -> GenParams {
    GenParams {
        pace: PACE,
        ..gen_params(mode, reply, reply_addr)
    }
}

/// Lets the flows become established: a pass client → server, then a pass
/// of replies server → client (to the masquerade address if any), repeated
/// until the backend's table holds (99% of) them, at most 4 times.
fn establish(obj: &BpfObject, topo: &Topology, backend: &dyn Backend, flows: u32) -> Result<()> {
    let n = &topo.names;
    let mode = FlowMode::Established { flows };
    let fwd = Generator::load(obj, &paced(mode, false, None))?;
    let rev = Generator::load(obj, &paced(mode, true, backend.reply_addr()))?;
    let base = backend.sessions(topo)?.unwrap_or(0);
    for attempt in 0..4 {
        paced_send(&fwd, &n.ns_client, &n.c0, &client_frame(), u64::from(flows))?;
        std::thread::sleep(Duration::from_millis(20));
        paced_send(&rev, &n.ns_server, &n.s0, &server_frame(), u64::from(flows))?;
        std::thread::sleep(Duration::from_millis(20));
        match backend.sessions(topo)? {
            // 1% slack: a few frames of a pass may still be lost to a
            // momentarily full ring; the next pass would only repeat them.
            Some(count) if count * 100 >= (base + u64::from(flows)) * 99 => return Ok(()),
            None if attempt >= 1 => return Ok(()),
            _ => {}
        }
    }
    Ok(())
}

/// Fills the session table with unanswered one-way flows until it holds
/// `target` sessions (or 15 s passed: unanswered UDP entries expire after
/// 30 s). Returns the count reached.
fn fill_unanswered(
    obj: &BpfObject,
    topo: &Topology,
    backend: &dyn Backend,
    target: u64,
) -> Result<u64> {
    let n = &topo.names;
    let generator = Generator::load(obj, &paced(FlowMode::EveryPacketNew, false, None))?;
    let start = Instant::now();
    loop {
        let have = backend.sessions(topo)?.unwrap_or(0);
        if have >= target || start.elapsed() > Duration::from_secs(15) {
            return Ok(have);
        }
        let chunk = (target - have).clamp(1_000, 50_000);
        paced_send(&generator, &n.ns_client, &n.c0, &client_frame(), chunk)?;
    }
}

fn conntrack_max(ns: &str) -> Result<u64> {
    let text = sys::netns_exec(ns, "cat", &["/proc/sys/net/netfilter/nf_conntrack_max"])?;
    text.trim()
        .parse()
        .map_err(|e| BenchError::parse("nf_conntrack_max", format!("{text:?}: {e}")))
}

/// Measures one configuration in one scenario on a fresh topology.
pub fn measure(
    backend: &mut dyn Backend,
    scenario: Scenario,
    opts: &MeasureOpts,
    obj: &BpfObject,
    work_dir: &Path,
) -> Result<Measurement> {
    let t0 = Instant::now();
    let debug = std::env::var("XPF_BENCH_DEBUG").is_ok_and(|v| v == "1");
    let mut topo = Topology::create(opts.pid)?;
    if debug {
        eprintln!("topology created in {:?}", t0.elapsed());
    }
    let mut sink = None;
    if scenario.is_udp() {
        let mut s = Sink::load(obj)?;
        s.attach(&topo.names.ns_client, &topo.names.c0)?;
        s.attach(&topo.names.ns_server, &topo.names.s0)?;
        sink = Some(s);
        topo.refresh_napi_threads()?;
    }
    backend.setup(&topo, work_dir)?;
    // Attaching XDP programs to the firewall's veths may re-create their
    // NAPI threads: find (and pin) them again.
    let refreshed = topo.refresh_napi_threads();
    if let Err(e) = refreshed {
        let _ = backend.teardown(&topo);
        return Err(e);
    }
    if debug {
        eprintln!("sinks + backend ready at {:?}", t0.elapsed());
    }
    let result = run_scenario(backend, scenario, opts, obj, &topo);
    if debug {
        eprintln!("scenario done at {:?}", t0.elapsed());
        debug_dump(&topo);
    }
    let teardown = backend.teardown(&topo);
    drop(sink);
    let destroy = topo.destroy();
    if debug {
        eprintln!("torn down at {:?}", t0.elapsed());
    }
    let m = result?;
    teardown?;
    destroy?;
    Ok(m)
}

fn run_scenario(
    backend: &dyn Backend,
    scenario: Scenario,
    opts: &MeasureOpts,
    obj: &BpfObject,
    topo: &Topology,
) -> Result<Measurement> {
    match scenario {
        Scenario::Established => establish(obj, topo, backend, opts.flows)?,
        Scenario::FullTable => {
            // Established flows first (so a masquerade keeps their ports),
            // then the unanswered ones around them.
            establish(obj, topo, backend, opts.flows)?;
            let max = conntrack_max(&topo.names.ns_fw)?;
            let fill = opts
                .fill
                .min(max * 3 / 4)
                .min(backend.fill_limit(opts.flows).unwrap_or(u64::MAX));
            let base = backend.sessions(topo)?.unwrap_or(0);
            fill_unanswered(obj, topo, backend, base + fill)?;
        }
        Scenario::NewFlows | Scenario::TcpBulk => {}
    }
    let own = backend.threads();
    let mut threads = topo.fw_napi.clone();
    threads.extend(own.iter().cloned());
    let sessions_before = backend.sessions(topo)?;

    let stop = AtomicBool::new(false);
    let offered = AtomicU64::new(0);
    let (before, after) = std::thread::scope(|scope| -> Result<(Snapshot, Snapshot)> {
        let traffic = if scenario.is_udp() {
            let mode = if scenario == Scenario::NewFlows {
                FlowMode::EveryPacketNew
            } else {
                FlowMode::Established { flows: opts.flows }
            };
            let generator = Generator::load(obj, &gen_params(mode, false, None))?;
            let (stop, offered) = (&stop, &offered);
            let n = &topo.names;
            scope.spawn(move || {
                sys::in_netns(&n.ns_client, || {
                    sys::pin(0, GENERATOR_CPU.min(sys::online_cpus() - 1))?;
                    let idx = ifindex(&n.c0)?;
                    let frame = client_frame();
                    while !stop.load(Ordering::Relaxed) && !cleanup::stop_requested() {
                        generator.run(idx, &frame, RUN_CHUNK)?;
                        offered.fetch_add(u64::from(RUN_CHUNK), Ordering::Relaxed);
                    }
                    Ok(())
                })
            })
        } else {
            let stop = &stop;
            let n = &topo.names;
            scope.spawn(move || tcp_bulk(&n.ns_client, &n.ns_server, stop))
        };
        let measured = (|| {
            std::thread::sleep(opts.warmup);
            cleanup::check_stop()?;
            let before = snapshot(topo, &threads, &own, &offered)?;
            let deadline = Instant::now() + opts.duration;
            while Instant::now() < deadline {
                cleanup::check_stop()?;
                std::thread::sleep(Duration::from_millis(50).min(opts.duration));
            }
            let after = snapshot(topo, &threads, &own, &offered)?;
            Ok((before, after))
        })();
        stop.store(true, Ordering::Relaxed);
        let traffic_result = traffic
            .join()
            .unwrap_or_else(|_| Err(BenchError::Check("traffic thread panicked".into())));
        let snaps = measured?;
        traffic_result?;
        Ok(snaps)
    })?;
    let sessions_after = backend.sessions(topo)?;

    let window = after.at.duration_since(before.at).as_secs_f64();
    let fw_cpu_ns = after.fw_ns.saturating_sub(before.fw_ns);
    let delta = |f: fn(&LinkStats) -> u64| -> u64 {
        after
            .links
            .iter()
            .zip(&before.links)
            .map(|(a, b)| f(a).saturating_sub(f(b)))
            .sum()
    };
    let tx_dropped = delta(|s| s.tx.dropped);
    let pkts_out = delta(|s| s.tx.packets) + tx_dropped;
    let bytes_out = delta(|s| s.tx.bytes);
    let (unit, units) = if scenario.is_udp() {
        ("packet", pkts_out as f64)
    } else {
        ("1500B", bytes_out as f64 / 1500.0)
    };
    let offered_pkts = after.offered - before.offered;
    Ok(Measurement {
        round: 0,
        order: 0,
        config: backend.name().to_owned(),
        scenario: scenario.name().to_owned(),
        window_s: window,
        fw_cpu_ns,
        fw_threads: threads.iter().map(|t| t.name.clone()).collect(),
        backend_cpu_ns: after.backend_ns.saturating_sub(before.backend_ns),
        pkts_out,
        bytes_out,
        tx_dropped,
        unit: unit.to_owned(),
        ns_per_unit: if units > 0.0 {
            fw_cpu_ns as f64 / units
        } else {
            f64::NAN
        },
        mpps: units / window / 1e6,
        offered_pkts,
        offered_mpps: offered_pkts as f64 / window / 1e6,
        gbps: bytes_out as f64 * 8.0 / window / 1e9,
        sessions_before,
        sessions_after,
        ksoftirqd_ns: after
            .ksoftirqd
            .zip(before.ksoftirqd)
            .map(|(a, b)| a.saturating_sub(b)),
    })
}

/// A TCP bulk transfer client → server until `stop`: the receiver in the
/// server namespace, the sender in the client namespace, both on the
/// generator CPU.
fn tcp_bulk(ns_client: &str, ns_server: &str, stop: &AtomicBool) -> Result<()> {
    let addr = SocketAddrV4::new(topo::ADDR_S0, topo::TCP_PORT);
    let cpu = GENERATOR_CPU.min(sys::online_cpus() - 1);
    let listener = sys::in_netns(ns_server, || {
        TcpListener::bind(addr).map_err(|source| BenchError::Io {
            action: "binding",
            path: addr.to_string().into(),
            source,
        })
    })?;
    std::thread::scope(|scope| {
        let receiver = scope.spawn(move || -> Result<u64> {
            sys::pin(0, cpu)?;
            let io = |action, source| BenchError::Io {
                action,
                path: addr.to_string().into(),
                source,
            };
            // Poll, so a sender that never connects cannot hang the run.
            listener
                .set_nonblocking(true)
                .map_err(|e| io("configuring", e))?;
            let give_up = Instant::now() + Duration::from_secs(10);
            let mut conn = loop {
                match listener.accept() {
                    Ok((conn, _)) => break conn,
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        if Instant::now() > give_up || cleanup::stop_requested() {
                            return Err(io("no connection within 10 s on", e));
                        }
                        std::thread::sleep(Duration::from_millis(5));
                    }
                    Err(e) => return Err(io("accepting on", e)),
                }
            };
            conn.set_nonblocking(false)
                .and_then(|()| conn.set_read_timeout(Some(Duration::from_secs(10))))
                .map_err(|e| io("configuring", e))?;
            let mut buf = vec![0u8; 256 * 1024];
            let mut total = 0u64;
            loop {
                match conn.read(&mut buf) {
                    Ok(0) => return Ok(total),
                    Ok(n) => total += n as u64,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(io("receiving from", e)),
                }
            }
        });
        let sent = sys::in_netns(ns_client, || {
            sys::pin(0, cpu)?;
            let io = |action, source| BenchError::Io {
                action,
                path: addr.to_string().into(),
                source,
            };
            let mut conn = TcpStream::connect(addr).map_err(|e| io("connecting to", e))?;
            let buf = vec![0x5au8; 128 * 1024];
            let mut total = 0u64;
            while !stop.load(Ordering::Relaxed) && !cleanup::stop_requested() {
                conn.write_all(&buf).map_err(|e| io("sending to", e))?;
                total += buf.len() as u64;
            }
            conn.shutdown(std::net::Shutdown::Write)
                .map_err(|e| io("closing", e))?;
            Ok(total)
        });
        let received = receiver
            .join()
            .unwrap_or_else(|_| Err(BenchError::Check("TCP receiver panicked".into())));
        let sent = sent?;
        let received = received?;
        if received != sent {
            return Err(BenchError::Check(format!(
                "TCP transfer lost data: sent {sent} bytes, received {received}"
            )));
        }
        Ok(())
    })
}

/// With `XPF_BENCH_DEBUG=1`: prints every namespace's link statistics and
/// the firewall's SNMP counters after a measurement.
fn debug_dump(topo: &Topology) {
    let n = &topo.names;
    for ns in [&n.ns_client, &n.ns_fw, &n.ns_server] {
        match sys::ip(&["-n", ns, "-s", "-s", "link", "show"]) {
            Ok(text) => eprintln!("== {ns}\n{text}"),
            Err(e) => eprintln!("== {ns}: {e}"),
        }
    }
    if let Ok(text) = sys::netns_exec(&n.ns_fw, "nstat", &["-a", "-z"]) {
        let nonzero: Vec<&str> = text
            .lines()
            .filter(|l| l.split_whitespace().nth(1).is_some_and(|v| v != "0"))
            .collect();
        eprintln!("== nstat {}\n{}", n.ns_fw, nonzero.join("\n"));
    }
    for t in topo.fw_napi.iter().chain(&topo.edge_napi) {
        eprintln!(
            "thread {} {} runtime {:?}",
            t.tid,
            t.name,
            counters::thread_runtime_ns(t.tid)
        );
    }
}
