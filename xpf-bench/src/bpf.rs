//! The XDP traffic programs (`bpf/gen.bpf.c`): compiled with clang at run
//! time (so a fresh machine needs nothing at build time), loaded with aya,
//! the generator run through `BPF_PROG_RUN` in live-frames mode
//! (`BPF_F_TEST_XDP_LIVE_FRAMES`, which aya 0.14 sets through
//! [`TestRunAttrs::xdp_live_frames`]), the sink attached in driver mode.

use std::net::Ipv4Addr;
use std::path::Path;

use aya::programs::{Xdp, XdpMode};
use aya::{Ebpf, EbpfLoader, TestRun, TestRunAttrs, TestRunOptions};

use crate::error::{BenchError, Result};
use crate::sys;

/// The C source of the programs.
pub const SOURCE: &str = include_str!("../bpf/gen.bpf.c");
/// Name of the generator program.
pub const GEN_PROGRAM: &str = "xpf_bench_gen";
/// Name of the sink program.
pub const SINK_PROGRAM: &str = "xpf_bench_sink";
/// Name of the stateless XDP forwarding program (the `xdp-forward` floor).
pub const FWD_PROGRAM: &str = "xpf_bench_fwd";
/// Frames per live-frames batch (the kernel flushes XDP_TX per batch).
pub const LIVE_BATCH: u32 = 64;
/// Size of the generated frames (without FCS).
pub const FRAME_LEN: usize = 60;

/// A compiled BPF object.
#[derive(Debug, Clone)]
pub struct BpfObject {
    bytes: Vec<u8>,
}

impl BpfObject {
    /// An object from ELF bytes already compiled (e.g. read back from the
    /// run's scratch directory).
    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        Self { bytes }
    }

    /// The ELF bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }
}

/// Compiles [`SOURCE`] with `clang -O2 -g -target bpf` in `work_dir`.
pub fn compile(work_dir: &Path) -> Result<BpfObject> {
    let io = |action, path: &Path, source| BenchError::Io {
        action,
        path: path.to_owned(),
        source,
    };
    std::fs::create_dir_all(work_dir).map_err(|e| io("creating", work_dir, e))?;
    let src = work_dir.join("gen.bpf.c");
    let obj = work_dir.join("gen.bpf.o");
    std::fs::write(&src, SOURCE).map_err(|e| io("writing", &src, e))?;
    let multiarch = format!("-I/usr/include/{}-linux-gnu", std::env::consts::ARCH);
    let (src_s, obj_s) = (src.to_string_lossy(), obj.to_string_lossy());
    sys::run(
        "clang",
        &[
            "-O2", "-g", "-target", "bpf", &multiarch, "-c", &src_s, "-o", &obj_s,
        ],
    )?;
    let bytes = std::fs::read(&obj).map_err(|e| io("reading", &obj, e))?;
    Ok(BpfObject { bytes })
}

/// Which flows the generator produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlowMode {
    /// Cycle over a fixed set of flows.
    Established {
        /// Number of flows.
        flows: u32,
    },
    /// Every frame a new flow (2^29 distinct flows).
    EveryPacketNew,
}

/// Parameters of one generator program.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GenParams {
    /// Which flows.
    pub mode: FlowMode,
    /// Server → client frames (rewrites the destination) instead of
    /// client → server (rewrites the source).
    pub reply: bool,
    /// For replies: send them to this address instead of the flow's client
    /// address (the masquerade address).
    pub reply_addr: Option<Ipv4Addr>,
    /// First client address of the established flows.
    pub flow_base_addr: Ipv4Addr,
    /// First client port of the established flows.
    pub flow_base_port: u16,
    /// First client address of the every-packet-new flows.
    pub new_base_addr: Ipv4Addr,
    /// Send one frame in `pace` (1: every frame).
    pub pace: u32,
    /// The frame the program writes its headers from (the first
    /// [`TEMPLATE_LEN`] bytes): MACs, addresses and ports of the direction.
    pub template: [u8; FRAME_LEN],
}

/// Bytes of the template the generator writes into every frame.
pub const TEMPLATE_LEN: usize = 48;

/// The template's first [`TEMPLATE_LEN`] bytes as the program's `__u64[6]`.
pub fn template_words(frame: &[u8; FRAME_LEN]) -> [u64; TEMPLATE_LEN / 8] {
    let mut words = [0u64; TEMPLATE_LEN / 8];
    for (w, chunk) in words.iter_mut().zip(frame[..TEMPLATE_LEN].chunks_exact(8)) {
        let mut b = [0u8; 8];
        b.copy_from_slice(chunk);
        *w = u64::from_ne_bytes(b);
    }
    words
}

/// A loaded generator program.
#[derive(Debug)]
pub struct Generator {
    ebpf: Ebpf,
}

fn load_err(what: &str) -> impl Fn(aya::EbpfError) -> BenchError + '_ {
    move |e| BenchError::bpf(what, &e)
}

impl Generator {
    /// Loads the generator with its parameters baked in (read-only globals).
    pub fn load(obj: &BpfObject, p: &GenParams) -> Result<Self> {
        let (mode, flows) = match p.mode {
            FlowMode::Established { flows } => (0u32, flows),
            FlowMode::EveryPacketNew => (1u32, 1),
        };
        let reply = u32::from(p.reply);
        let reply_addr = p.reply_addr.map_or(0, u32::from);
        let base = u32::from(p.flow_base_addr);
        let base_port = u32::from(p.flow_base_port);
        let new_base = u32::from(p.new_base_addr);
        let template = template_words(&p.template);
        let mut ebpf = EbpfLoader::new()
            .override_global("TEMPLATE", &template, true)
            .override_global("PACE", &p.pace.max(1), true)
            .override_global("NFLOWS", &flows, true)
            .override_global("MODE", &mode, true)
            .override_global("REPLY", &reply, true)
            .override_global("REPLY_ADDR", &reply_addr, true)
            .override_global("FLOW_BASE_ADDR", &base, true)
            .override_global("FLOW_BASE_PORT", &base_port, true)
            .override_global("NEW_BASE_ADDR", &new_base, true)
            .load(obj.bytes())
            .map_err(load_err("loading the generator object"))?;
        let prog = xdp_program(&mut ebpf, GEN_PROGRAM, "generator")?;
        prog.load()
            .map_err(|e| BenchError::bpf("loading the generator", &e))?;
        Ok(Self { ebpf })
    }

    /// Runs the program `repeat` times on `frame` in live-frames mode, as if
    /// received on `ifindex` of the calling thread's namespace: every frame
    /// the program returns XDP_TX for leaves through that interface.
    pub fn run(&self, ifindex: u32, frame: &[u8], repeat: u32) -> Result<()> {
        let prog: &Xdp = self
            .ebpf
            .program(GEN_PROGRAM)
            .ok_or_else(|| BenchError::Bpf {
                what: "finding the generator".into(),
                detail: format!("no program {GEN_PROGRAM}"),
            })?
            .try_into()
            .map_err(|e| BenchError::bpf("generator program type", &e))?;
        let ctx = xdp_md(ifindex, frame.len());
        let opts = TestRunOptions {
            data_in: Some(frame),
            ctx_in: Some(&ctx),
            repeat,
            attrs: TestRunAttrs::new().xdp_live_frames(LIVE_BATCH),
            ..TestRunOptions::default()
        };
        prog.test_run(opts)
            .map_err(|e| BenchError::bpf("BPF_PROG_RUN (live frames)", &e))?;
        Ok(())
    }
}

/// `struct xdp_md` for `BPF_PROG_RUN`: data = 0, data_end = frame length,
/// no metadata, the ingress interface, queue 0.
pub fn xdp_md(ifindex: u32, frame_len: usize) -> [u8; 24] {
    let fields = [0u32, frame_len as u32, 0, ifindex, 0, 0];
    let mut out = [0u8; 24];
    for (chunk, v) in out.chunks_exact_mut(4).zip(fields) {
        chunk.copy_from_slice(&v.to_ne_bytes());
    }
    out
}

/// The XDP program `name` of `ebpf` (the `what` of error messages).
fn xdp_program<'e>(ebpf: &'e mut Ebpf, name: &str, what: &str) -> Result<&'e mut Xdp> {
    ebpf.program_mut(name)
        .ok_or_else(|| BenchError::Bpf {
            what: format!("finding the {what}"),
            detail: format!("no program {name}"),
        })?
        .try_into()
        .map_err(|e| BenchError::bpf(format!("{what} program type"), &e))
}

/// The sink program, attached (driver mode) to some interfaces.
#[derive(Debug)]
pub struct Sink {
    ebpf: Ebpf,
}

impl Sink {
    /// Loads the sink program.
    pub fn load(obj: &BpfObject) -> Result<Self> {
        let mut ebpf = EbpfLoader::new()
            .load(obj.bytes())
            .map_err(load_err("loading the sink object"))?;
        let prog = xdp_program(&mut ebpf, SINK_PROGRAM, "sink")?;
        prog.load()
            .map_err(|e| BenchError::bpf("loading the sink", &e))?;
        Ok(Self { ebpf })
    }

    /// Attaches the sink to `dev` in namespace `ns` (native XDP).
    pub fn attach(&mut self, ns: &str, dev: &str) -> Result<()> {
        let prog = xdp_program(&mut self.ebpf, SINK_PROGRAM, "sink")?;
        sys::in_netns(ns, || {
            prog.attach(dev, XdpMode::Driver)
                .map(|_| ())
                .map_err(|e| BenchError::bpf(format!("attaching the sink to {dev}"), &e))
        })
    }
}

/// The egress of frames arriving on one device (`struct fwd_port`).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FwdPort {
    /// Egress ifindex.
    pub ifindex: u32,
    /// Destination MAC written into the frame.
    pub dmac: [u8; 6],
    /// Source MAC written into the frame.
    pub smac: [u8; 6],
}

impl FwdPort {
    /// The map value's bytes (16, no padding).
    pub fn to_bytes(self) -> [u8; 16] {
        let mut b = [0u8; 16];
        b[0..4].copy_from_slice(&self.ifindex.to_ne_bytes());
        b[4..10].copy_from_slice(&self.dmac);
        b[10..16].copy_from_slice(&self.smac);
        b
    }
}

/// The stateless XDP forwarder (`xpf_bench_fwd`) on the firewall's veths.
#[derive(Debug)]
pub struct Forwarder {
    ebpf: Ebpf,
}

impl Forwarder {
    /// Loads the forwarder from `obj`.
    pub fn load(obj: &BpfObject) -> Result<Self> {
        let mut ebpf = EbpfLoader::new()
            .load(obj.bytes())
            .map_err(load_err("loading the forwarder object"))?;
        let prog = xdp_program(&mut ebpf, FWD_PROGRAM, "forwarder")?;
        prog.load()
            .map_err(|e| BenchError::bpf("loading the forwarder", &e))?;
        Ok(Self { ebpf })
    }

    /// In namespace `ns`: frames arriving on `a` leave through `b` towards
    /// `b_peer`, and the reverse; then attaches to both (native XDP).
    pub fn install(
        &mut self,
        ns: &str,
        (a, a_mac, a_peer): (&str, [u8; 6], [u8; 6]),
        (b, b_mac, b_peer): (&str, [u8; 6], [u8; 6]),
    ) -> Result<()> {
        let ebpf = &mut self.ebpf;
        sys::in_netns(ns, || {
            let idx = |dev: &str| {
                nix::net::if_::if_nametoindex(dev).map_err(|source| BenchError::Sys {
                    what: format!("ifindex of {dev}"),
                    source,
                })
            };
            let (ia, ib) = (idx(a)?, idx(b)?);
            {
                let map = ebpf.map_mut("FWD_PORTS").ok_or_else(|| BenchError::Bpf {
                    what: "finding FWD_PORTS".into(),
                    detail: "no such map".into(),
                })?;
                let mut ports: aya::maps::HashMap<_, u32, [u8; 16]> =
                    aya::maps::HashMap::try_from(map)
                        .map_err(|e| BenchError::bpf("FWD_PORTS map type", &e))?;
                for (from, port) in [
                    (
                        ia,
                        FwdPort {
                            ifindex: ib,
                            dmac: b_peer,
                            smac: b_mac,
                        },
                    ),
                    (
                        ib,
                        FwdPort {
                            ifindex: ia,
                            dmac: a_peer,
                            smac: a_mac,
                        },
                    ),
                ] {
                    ports
                        .insert(from, port.to_bytes(), 0)
                        .map_err(|e| BenchError::bpf("filling FWD_PORTS", &e))?;
                }
            }
            let prog = xdp_program(ebpf, FWD_PROGRAM, "forwarder")?;
            for dev in [a, b] {
                prog.attach(dev, XdpMode::Driver).map_err(|e| {
                    BenchError::bpf(format!("attaching the forwarder to {dev}"), &e)
                })?;
            }
            Ok(())
        })
    }
}

/// Internet checksum of `data` (16-bit one's complement of the sum).
pub fn ip_checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = data
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// Endpoints of a template frame.
#[derive(Debug, Clone, Copy)]
pub struct FrameSpec {
    /// Source MAC.
    pub src_mac: [u8; 6],
    /// Destination MAC.
    pub dst_mac: [u8; 6],
    /// Source address.
    pub src: Ipv4Addr,
    /// Destination address.
    pub dst: Ipv4Addr,
    /// Source port.
    pub sport: u16,
    /// Destination port.
    pub dport: u16,
}

/// A 60-byte Ethernet / IPv4 / UDP frame (18 bytes of zero payload), valid
/// checksum in the IP header, no UDP checksum.
pub fn udp_frame(s: &FrameSpec) -> [u8; FRAME_LEN] {
    let mut f = [0u8; FRAME_LEN];
    f[0..6].copy_from_slice(&s.dst_mac);
    f[6..12].copy_from_slice(&s.src_mac);
    f[12..14].copy_from_slice(&0x0800u16.to_be_bytes());
    let ip = &mut f[14..34];
    ip[0] = 0x45;
    ip[2..4].copy_from_slice(&((FRAME_LEN - 14) as u16).to_be_bytes());
    ip[8] = 64;
    ip[9] = 17;
    ip[12..16].copy_from_slice(&s.src.octets());
    ip[16..20].copy_from_slice(&s.dst.octets());
    let csum = ip_checksum(ip);
    ip[10..12].copy_from_slice(&csum.to_be_bytes());
    let udp = &mut f[34..42];
    udp[0..2].copy_from_slice(&s.sport.to_be_bytes());
    udp[2..4].copy_from_slice(&s.dport.to_be_bytes());
    udp[4..6].copy_from_slice(&((FRAME_LEN - 34) as u16).to_be_bytes());
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> FrameSpec {
        FrameSpec {
            src_mac: [2, 0, 0, 0, 0, 1],
            dst_mac: [2, 0, 0, 0, 0, 2],
            src: Ipv4Addr::new(198, 18, 1, 0),
            dst: Ipv4Addr::new(198, 19, 0, 2),
            sport: 10_000,
            dport: 9,
        }
    }

    #[test]
    fn template_frame_is_60_bytes_of_valid_udp_ipv4() {
        let f = udp_frame(&spec());
        assert_eq!(f.len(), 60);
        assert_eq!(&f[12..14], &[0x08, 0x00]);
        assert_eq!(ip_checksum(&f[14..34]), 0, "IP header checksum verifies");
        assert_eq!(u16::from_be_bytes([f[16], f[17]]), 46);
        assert_eq!(u16::from_be_bytes([f[38], f[39]]), 26);
        assert_eq!(&f[26..30], &[198, 18, 1, 0]);
        assert_eq!(u16::from_be_bytes([f[34], f[35]]), 10_000);
    }

    #[test]
    fn xdp_md_carries_length_and_ingress_interface() {
        let md = xdp_md(7, 60);
        let field = |i: usize| u32::from_ne_bytes(md[i * 4..i * 4 + 4].try_into().unwrap());
        assert_eq!(field(0), 0);
        assert_eq!(field(1), 60);
        assert_eq!(field(3), 7);
        assert_eq!(field(5), 0);
    }

    #[test]
    fn template_words_keep_the_frame_bytes_in_memory_order() {
        let f = udp_frame(&spec());
        let words = template_words(&f);
        let back: Vec<u8> = words.iter().flat_map(|w| w.to_ne_bytes()).collect();
        assert_eq!(&back[..], &f[..TEMPLATE_LEN]);
    }

    #[test]
    fn fwd_port_bytes_follow_the_c_struct_layout() {
        let p = FwdPort {
            ifindex: 7,
            dmac: [1; 6],
            smac: [2; 6],
        };
        let b = p.to_bytes();
        assert_eq!(std::mem::size_of::<FwdPort>(), 16);
        assert_eq!(&b[0..4], &7u32.to_ne_bytes());
        assert_eq!(&b[4..10], &[1; 6]);
        assert_eq!(&b[10..16], &[2; 6]);
    }

    #[test]
    fn checksum_of_odd_length_pads_with_zero() {
        assert_eq!(ip_checksum(&[0xff]), !0xff00);
    }

    #[test]
    fn generator_source_compiles_to_a_bpf_object_with_both_programs() {
        let dir = std::env::temp_dir().join(format!("xpf-bench-test-{}", std::process::id()));
        let obj = compile(&dir).expect("clang -target bpf (install clang and libbpf-dev)");
        let _ = std::fs::remove_dir_all(&dir);
        let elf = obj.bytes();
        assert_eq!(&elf[..4], b"\x7fELF");
        let has = |needle: &[u8]| elf.windows(needle.len()).any(|w| w == needle);
        assert!(has(GEN_PROGRAM.as_bytes()));
        assert!(has(SINK_PROGRAM.as_bytes()));
        assert!(has(FWD_PROGRAM.as_bytes()));
        assert!(has(b"xdp.frags"));
    }
}
