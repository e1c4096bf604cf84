//! [`XskProgram`]: the XDP program that hands every frame of an interface
//! to the AF_XDP socket of its receive queue, with its XSKMAP, loaded and
//! attached with the `bpf()` syscall (no object file, no loader crate).
//!
//! The program is five instructions (six slots), the equivalent of
//!
//! ```c
//! return bpf_redirect_map(&xsks, ctx->rx_queue_index, XDP_DROP);
//! ```
//!
//! so a queue without a socket drops (fails closed: nothing reaches the
//! kernel stack unfiltered). It is attached through a BPF link
//! (`BPF_LINK_CREATE`), which detaches when its descriptor is closed: when
//! the [`XskProgram`] is dropped, or when the process dies. No `unsafe`
//! here: the syscall itself is in [`crate::sys`].

use std::os::fd::{AsFd, AsRawFd, OwnedFd};

use crate::Error;
use crate::sys;

const BPF_MAP_CREATE: u32 = 0;
const BPF_MAP_UPDATE_ELEM: u32 = 2;
const BPF_MAP_DELETE_ELEM: u32 = 3;
const BPF_PROG_LOAD: u32 = 5;
const BPF_LINK_CREATE: u32 = 28;
const BPF_MAP_TYPE_XSKMAP: u32 = 17;
const BPF_PROG_TYPE_XDP: u32 = 6;
const BPF_XDP: u32 = 37;
const BPF_FUNC_REDIRECT_MAP: i32 = 51;
const BPF_PSEUDO_MAP_FD: u8 = 1;
const XDP_FLAGS_SKB_MODE: u32 = 1 << 1;
const XDP_FLAGS_DRV_MODE: u32 = 1 << 2;
const XDP_DROP: i32 = 1;
/// `offsetof(struct xdp_md, rx_queue_index)`.
const XDP_MD_RX_QUEUE_INDEX: i16 = 16;

/// Where the XDP program runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AttachMode {
    /// In the driver (`XDP_FLAGS_DRV_MODE`); veth supports it, frames are
    /// then copied into the UMEM (copy mode).
    #[default]
    Native,
    /// Generic XDP on the skb path (`XDP_FLAGS_SKB_MODE`), any device.
    Generic,
}

impl AttachMode {
    fn flags(self) -> u32 {
        match self {
            AttachMode::Native => XDP_FLAGS_DRV_MODE,
            AttachMode::Generic => XDP_FLAGS_SKB_MODE,
        }
    }

    /// Name for reports (`native` / `generic`).
    pub fn name(self) -> &'static str {
        match self {
            AttachMode::Native => "native",
            AttachMode::Generic => "generic",
        }
    }
}

/// One BPF instruction (`struct bpf_insn`).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Insn {
    code: u8,
    /// dst in the low nibble, src in the high nibble.
    regs: u8,
    off: i16,
    imm: i32,
}

const fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn {
        code,
        regs: (src << 4) | (dst & 0x0f),
        off,
        imm,
    }
}

/// The redirect program for the XSKMAP `map_fd`.
fn program(map_fd: i32) -> [Insn; 6] {
    const LDX_MEM_W: u8 = 0x61; // BPF_LDX | BPF_MEM | BPF_W
    const LD_IMM_DW: u8 = 0x18; // BPF_LD | BPF_IMM | BPF_DW
    const MOV64_K: u8 = 0xb7; // BPF_ALU64 | BPF_MOV | BPF_K
    const CALL: u8 = 0x85; // BPF_JMP | BPF_CALL
    const EXIT: u8 = 0x95; // BPF_JMP | BPF_EXIT
    [
        // r2 = ctx->rx_queue_index
        insn(LDX_MEM_W, 2, 1, XDP_MD_RX_QUEUE_INDEX, 0),
        // r1 = &xsks (two slots)
        insn(LD_IMM_DW, 1, BPF_PSEUDO_MAP_FD, 0, map_fd),
        insn(0, 0, 0, 0, 0),
        // r3 = XDP_DROP (the action when the queue has no socket)
        insn(MOV64_K, 3, 0, 0, XDP_DROP),
        // r0 = bpf_redirect_map(r1, r2, r3)
        insn(CALL, 0, 0, 0, BPF_FUNC_REDIRECT_MAP),
        insn(EXIT, 0, 0, 0, 0),
    ]
}

#[repr(C)]
#[derive(Default)]
struct MapCreateAttr {
    map_type: u32,
    key_size: u32,
    value_size: u32,
    max_entries: u32,
    map_flags: u32,
    inner_map_fd: u32,
    numa_node: u32,
    map_name: [u8; 16],
}

#[repr(C)]
#[derive(Default)]
struct MapElemAttr {
    map_fd: u32,
    _pad: u32,
    key: u64,
    value: u64,
    flags: u64,
}

#[repr(C)]
#[derive(Default)]
struct ProgLoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    prog_ifindex: u32,
    expected_attach_type: u32,
}

#[repr(C)]
#[derive(Default)]
struct LinkCreateAttr {
    prog_fd: u32,
    target_ifindex: u32,
    attach_type: u32,
    flags: u32,
}

const _: () = {
    assert!(std::mem::size_of::<Insn>() == 8);
    assert!(std::mem::offset_of!(ProgLoadAttr, prog_name) == 48);
    assert!(std::mem::offset_of!(ProgLoadAttr, expected_attach_type) == 68);
    assert!(std::mem::offset_of!(MapElemAttr, flags) == 24);
    assert!(std::mem::offset_of!(LinkCreateAttr, flags) == 12);
};

fn name16(s: &str) -> [u8; 16] {
    let mut out = [0u8; 16];
    for (o, b) in out.iter_mut().zip(s.bytes().take(15)) {
        *o = b;
    }
    out
}

/// The redirect program attached to one interface, with its XSKMAP.
#[derive(Debug)]
pub struct XskProgram {
    // Drop order: the link (detaches) first.
    link: OwnedFd,
    prog: OwnedFd,
    map: OwnedFd,
    ifindex: u32,
    queues: u32,
    mode: AttachMode,
}

impl XskProgram {
    /// Creates an XSKMAP of `queues` entries, loads the redirect program
    /// and attaches it to interface `ifindex` (of the calling thread's
    /// network namespace) in `mode`. Fails with a typed error if the
    /// interface already has an XDP program or the caller lacks the
    /// privileges.
    pub fn attach(ifindex: u32, queues: u32, mode: AttachMode) -> Result<Self, Error> {
        if queues == 0 {
            return Err(Error::InvalidOptions("at least one queue".into()));
        }
        let mut m = MapCreateAttr {
            map_type: BPF_MAP_TYPE_XSKMAP,
            key_size: 4,
            value_size: 4,
            max_entries: queues,
            map_name: name16("xpf_xsks"),
            ..MapCreateAttr::default()
        };
        let map = sys::owned_fd(
            sys::bpf(BPF_MAP_CREATE, &mut m, "BPF_MAP_CREATE(xskmap)")?,
            "BPF_MAP_CREATE(xskmap)",
        )?;
        let insns = program(map.as_raw_fd());
        let license = c"Dual MIT/GPL";
        let mut log = vec![0u8; 4096];
        let mut p = ProgLoadAttr {
            prog_type: BPF_PROG_TYPE_XDP,
            insn_cnt: insns.len() as u32,
            insns: insns.as_ptr() as u64,
            license: license.as_ptr() as u64,
            log_level: 1,
            log_size: log.len() as u32,
            log_buf: log.as_mut_ptr() as u64,
            prog_name: name16("xpf_xsk_redir"),
            expected_attach_type: BPF_XDP,
            ..ProgLoadAttr::default()
        };
        // `insns`, `license` and `log` outlive the call.
        let prog = match sys::bpf(BPF_PROG_LOAD, &mut p, "BPF_PROG_LOAD(xsk redirect)") {
            Ok(fd) => sys::owned_fd(fd, "BPF_PROG_LOAD(xsk redirect)")?,
            Err(Error::Syscall { op, source }) => {
                let end = log.iter().position(|b| *b == 0).unwrap_or(log.len());
                let text = String::from_utf8_lossy(&log[..end]).trim().to_owned();
                return Err(Error::Syscall {
                    op,
                    source: std::io::Error::new(
                        source.kind(),
                        format!("{source}; verifier: {text}"),
                    ),
                });
            }
            Err(e) => return Err(e),
        };
        let mut l = LinkCreateAttr {
            prog_fd: prog.as_raw_fd() as u32,
            target_ifindex: ifindex,
            attach_type: BPF_XDP,
            flags: mode.flags(),
        };
        let link = match sys::bpf(BPF_LINK_CREATE, &mut l, "BPF_LINK_CREATE(xdp)") {
            Ok(fd) => sys::owned_fd(fd, "BPF_LINK_CREATE(xdp)")?,
            Err(Error::Syscall { source, .. })
                if source.raw_os_error() == Some(libc::EBUSY)
                    || source.raw_os_error() == Some(libc::EEXIST) =>
            {
                return Err(Error::Busy { ifindex });
            }
            Err(e) => return Err(e),
        };
        Ok(Self {
            link,
            prog,
            map,
            ifindex,
            queues,
            mode,
        })
    }

    /// Directs frames received on `queue` to `socket`.
    pub fn register(&self, queue: u32, socket: &crate::XskSocket) -> Result<(), Error> {
        if queue >= self.queues {
            return Err(Error::InvalidOptions(format!(
                "queue {queue} beyond the map's {} entries",
                self.queues
            )));
        }
        let key = queue;
        let value = socket.as_fd().as_raw_fd() as u32;
        let mut a = MapElemAttr {
            map_fd: self.map.as_raw_fd() as u32,
            key: &key as *const u32 as u64,
            value: &value as *const u32 as u64,
            ..MapElemAttr::default()
        };
        // `key` and `value` outlive the call.
        sys::bpf(BPF_MAP_UPDATE_ELEM, &mut a, "BPF_MAP_UPDATE_ELEM(xskmap)")?;
        Ok(())
    }

    /// Stops directing `queue` anywhere (its frames are dropped).
    pub fn unregister(&self, queue: u32) -> Result<(), Error> {
        let key = queue;
        let mut a = MapElemAttr {
            map_fd: self.map.as_raw_fd() as u32,
            key: &key as *const u32 as u64,
            ..MapElemAttr::default()
        };
        match sys::bpf(BPF_MAP_DELETE_ELEM, &mut a, "BPF_MAP_DELETE_ELEM(xskmap)") {
            Ok(_) => Ok(()),
            Err(Error::Syscall { source, .. }) if source.raw_os_error() == Some(libc::ENOENT) => {
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// The interface the program is attached to.
    pub fn ifindex(&self) -> u32 {
        self.ifindex
    }

    /// How it is attached.
    pub fn mode(&self) -> AttachMode {
        self.mode
    }

    /// The program's descriptor (e.g. to query it).
    pub fn program_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.prog.as_fd()
    }

    /// The link's descriptor.
    pub fn link_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.link.as_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_program_loads_the_queue_index_and_redirects_with_drop_as_fallback() {
        let p = program(7);
        assert_eq!(p[0].code, 0x61);
        assert_eq!(p[0].regs, 0x12, "dst r2, src r1");
        assert_eq!(p[0].off, 16);
        assert_eq!(p[1].regs, 0x11, "dst r1, src BPF_PSEUDO_MAP_FD");
        assert_eq!(p[1].imm, 7);
        assert_eq!(p[3].imm, XDP_DROP);
        assert_eq!(p[4].imm, BPF_FUNC_REDIRECT_MAP);
        assert_eq!(p[5].code, 0x95);
    }

    #[test]
    fn names_are_truncated_and_nul_terminated() {
        let n = name16("a-name-longer-than-fifteen");
        assert_eq!(n[15], 0);
        assert_eq!(&n[..3], b"a-n");
    }
}
