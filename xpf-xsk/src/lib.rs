//! AF_XDP sockets and their XSKMAP program: the kernel-I/O FFI of the
//! userspace backend, written directly over `libc` (no AF_XDP crate).
//!
//! - [`XskSocket`] ([`socket`]): one socket bound to one (interface, queue)
//!   in copy mode (`XDP_COPY`, the mode veth supports), with its own UMEM
//!   and the fill / completion / RX / TX rings mapped from the kernel
//!   ([`ring`]: producer / consumer indices with acquire / release
//!   atomics). `recv` copies frames out, `send` copies frames in and kicks
//!   the kernel with `sendto`.
//! - [`XskProgram`] ([`bpf`]): a five-instruction XDP program,
//!   `bpf_redirect_map(&xsks, ctx->rx_queue_index, XDP_DROP)`, assembled
//!   here and loaded with the `bpf()` syscall, attached through a BPF link
//!   (detached when dropped).
//! - [`XskDevice`]: both for one interface — a socket per queue registered
//!   in the program's map.
//!
//! `unsafe` is denied crate-wide and allowed only in [`sys`] (the
//! syscalls and mappings) and [`ring`] (the shared ring memory); each block
//! says why it is sound (`clippy::undocumented_unsafe_blocks` is denied).
//!
//! Everything needs `CAP_NET_ADMIN` + `CAP_BPF` (in practice root); without
//! them the calls fail with [`Error::PermissionDenied`]. Interfaces are
//! resolved in the calling thread's network namespace, and the sockets
//! stay bound to that namespace's device wherever they are used later.

mod bpf;
mod ring;
mod socket;
mod sys;

pub use bpf::{AttachMode, XskProgram};
pub use socket::{SocketOptions, XskSocket, XskStats};
pub use sys::ifindex;

/// Why an AF_XDP operation failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No interface of that name in the calling thread's network namespace.
    #[error("no interface {0:?} in this network namespace")]
    NoSuchInterface(String),
    /// The kernel refused for lack of privileges.
    #[error(
        "{op}: permission denied (AF_XDP and XDP programs need root: CAP_NET_ADMIN and CAP_BPF)"
    )]
    PermissionDenied {
        /// The operation.
        op: &'static str,
    },
    /// The interface already has an XDP program attached by someone else.
    #[error("interface index {ifindex} already has an XDP program")]
    Busy {
        /// The interface.
        ifindex: u32,
    },
    /// Options the kernel would refuse.
    #[error("invalid AF_XDP options: {0}")]
    InvalidOptions(String),
    /// A system call failed.
    #[error("{op}: {source}")]
    Syscall {
        /// The operation.
        op: &'static str,
        /// The kernel's error.
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    pub(crate) fn syscall(op: &'static str, source: std::io::Error) -> Self {
        match source.raw_os_error() {
            Some(libc::EPERM | libc::EACCES) => Error::PermissionDenied { op },
            _ => Error::Syscall { op, source },
        }
    }
}

/// How an [`XskDevice`] is opened.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeviceOptions {
    /// Receive queues to open a socket on (`0..queues`); at least 1 (a veth
    /// has one by default).
    pub queues: u32,
    /// Where the redirect program runs.
    pub mode: AttachMode,
    /// Per-socket options.
    pub socket: SocketOptions,
}

impl DeviceOptions {
    /// One queue, native XDP, default socket options.
    pub fn single_queue() -> Self {
        Self {
            queues: 1,
            ..Self::default()
        }
    }
}

/// One interface in AF_XDP copy mode: the redirect program and a socket per
/// receive queue. Dropping it detaches the program and closes the sockets.
#[derive(Debug)]
pub struct XskDevice {
    name: String,
    // Drop order: the program (detach) before the sockets.
    program: XskProgram,
    sockets: Vec<XskSocket>,
}

impl XskDevice {
    /// Opens interface `name` (in the calling thread's network namespace):
    /// a socket per queue, bound in copy mode, then the redirect program
    /// attached with every socket registered.
    pub fn open(name: &str, opts: &DeviceOptions) -> Result<Self, Error> {
        let ifindex = sys::ifindex(name)?;
        let queues = opts.queues.max(1);
        let sockets = (0..queues)
            .map(|q| XskSocket::open(ifindex, q, &opts.socket))
            .collect::<Result<Vec<_>, _>>()?;
        let program = XskProgram::attach(ifindex, queues, opts.mode)?;
        for s in &sockets {
            program.register(s.queue(), s)?;
        }
        Ok(Self {
            name: name.to_owned(),
            program,
            sockets,
        })
    }

    /// The interface name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The sockets, by queue.
    pub fn sockets(&self) -> &[XskSocket] {
        &self.sockets
    }

    /// The attached program.
    pub fn program(&self) -> &XskProgram {
        &self.program
    }

    /// Counters summed over the sockets.
    pub fn stats(&self) -> Result<XskStats, Error> {
        let mut t = XskStats::default();
        for s in &self.sockets {
            let x = s.stats()?;
            t.rx_frames += x.rx_frames;
            t.tx_frames += x.tx_frames;
            t.tx_ring_full += x.tx_ring_full;
            t.tx_oversize += x.tx_oversize;
            t.rx_bad_desc += x.rx_bad_desc;
            t.kernel_rx_dropped += x.kernel_rx_dropped;
            t.kernel_rx_ring_full += x.kernel_rx_ring_full;
            t.kernel_fill_ring_empty += x.kernel_fill_ring_empty;
            t.kernel_invalid_descs += x.kernel_invalid_descs;
        }
        Ok(t)
    }
}

/// Whether the process runs as root (effective uid 0).
pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status").is_ok_and(|s| {
        s.lines()
            .find(|l| l.starts_with("Uid:"))
            .and_then(|l| l.split_whitespace().nth(2))
            == Some("0")
    })
}
