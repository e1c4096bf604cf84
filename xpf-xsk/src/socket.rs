//! [`XskSocket`]: one AF_XDP socket bound to one (interface, queue) in copy
//! mode, with its own UMEM.
//!
//! The UMEM's chunks are split once: the first half feeds the fill ring
//! (receive), the second half is the transmit pool. Receive and transmit
//! each sit behind their own mutex, so one thread can receive while
//! another transmits; a receive copies frames out of the UMEM and recycles
//! their chunks into the fill ring at once, a transmit copies frames into
//! free chunks, publishes them on the TX ring, kicks the kernel with
//! `sendto` (copy mode transmits inside that call) and reclaims completed
//! chunks.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use crate::Error;
use crate::ring::{ConsRing, ProdRing, RingMap, Umem};
use crate::sys::{self, Mmap};

/// How a socket is set up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SocketOptions {
    /// UMEM chunk size (2048 or 4096). A received frame can be at most this
    /// minus the kernel's 256-byte headroom.
    pub frame_size: u32,
    /// Chunks for receiving; also the fill and RX ring size (power of two).
    pub rx_frames: u32,
    /// Chunks for transmitting; also the TX and completion ring size
    /// (power of two).
    pub tx_frames: u32,
    /// Socket send buffer (`SO_SNDBUFFORCE`, bytes): in copy mode every
    /// frame in flight is an skb charged to it. 0 keeps the default.
    pub send_buffer: u32,
}

impl Default for SocketOptions {
    fn default() -> Self {
        Self {
            frame_size: 2048,
            rx_frames: 2048,
            tx_frames: 2048,
            send_buffer: 4 << 20,
        }
    }
}

impl SocketOptions {
    fn check(&self) -> Result<(), Error> {
        let bad = |reason: String| Err(Error::InvalidOptions(reason));
        if !matches!(self.frame_size, 2048 | 4096) {
            return bad(format!("frame_size {} (2048 or 4096)", self.frame_size));
        }
        for (what, n) in [("rx_frames", self.rx_frames), ("tx_frames", self.tx_frames)] {
            if !n.is_power_of_two() || !(64..=32_768).contains(&n) {
                return bad(format!("{what} {n} (a power of two, 64 to 32768)"));
            }
        }
        Ok(())
    }
}

/// Counters of one socket: the kernel's (`XDP_STATISTICS`) and this side's.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct XskStats {
    /// Frames received (copied out of the RX ring).
    pub rx_frames: u64,
    /// Frames published on the TX ring.
    pub tx_frames: u64,
    /// Frames not sent: no free chunk or TX slot (the transmit side is
    /// backed up).
    pub tx_ring_full: u64,
    /// Frames not sent: larger than a chunk.
    pub tx_oversize: u64,
    /// RX descriptors outside the UMEM (never expected; skipped).
    pub rx_bad_desc: u64,
    /// Kernel: frames dropped for other reasons (e.g. larger than a chunk).
    pub kernel_rx_dropped: u64,
    /// Kernel: frames dropped because the RX ring was full.
    pub kernel_rx_ring_full: u64,
    /// Kernel: times the fill ring was empty when a frame arrived.
    pub kernel_fill_ring_empty: u64,
    /// Kernel: invalid RX / TX descriptors.
    pub kernel_invalid_descs: u64,
}

#[derive(Debug)]
struct RxSide {
    fill: ProdRing,
    rx: ConsRing,
    /// Chunks read but not yet back on the fill ring.
    recycle: Vec<u64>,
}

#[derive(Debug)]
struct TxSide {
    tx: ProdRing,
    comp: ConsRing,
    free: Vec<u64>,
}

#[derive(Debug, Default)]
struct Counters {
    rx: AtomicU64,
    tx: AtomicU64,
    tx_full: AtomicU64,
    tx_oversize: AtomicU64,
    rx_bad: AtomicU64,
}

/// An AF_XDP socket in copy mode on one queue of one interface.
#[derive(Debug)]
pub struct XskSocket {
    // Field order is drop order: rings (unmapped) before the socket is
    // closed, the UMEM last.
    rx: Mutex<RxSide>,
    tx: Mutex<TxSide>,
    fd: OwnedFd,
    umem: Umem,
    counters: Counters,
    ifindex: u32,
    queue: u32,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Attempts of `sendto` per transmit while the kernel says "again".
const KICK_RETRIES: usize = 64;

impl XskSocket {
    /// Creates a socket with a fresh UMEM, its four rings, and binds it to
    /// queue `queue` of interface `ifindex` (of the calling thread's
    /// network namespace) in copy mode. Frames arrive only once the
    /// interface's XDP program redirects them here
    /// ([`crate::XskProgram::register`]).
    pub fn open(ifindex: u32, queue: u32, opts: &SocketOptions) -> Result<Self, Error> {
        opts.check()?;
        let frames = opts.rx_frames + opts.tx_frames;
        let len = frames as usize * opts.frame_size as usize;
        let umem_map = Mmap::anonymous(len)?;
        let fd = sys::xdp_socket()?;
        let reg = libc::xdp_umem_reg {
            addr: umem_map.as_ptr() as u64,
            len: len as u64,
            chunk_size: opts.frame_size,
            headroom: 0,
            flags: 0,
            tx_metadata_len: 0,
        };
        let s = fd.as_fd();
        sys::setsockopt(s, libc::SOL_XDP, libc::XDP_UMEM_REG, &reg, "XDP_UMEM_REG")?;
        sys::setsockopt(
            s,
            libc::SOL_XDP,
            libc::XDP_UMEM_FILL_RING,
            &opts.rx_frames,
            "XDP_UMEM_FILL_RING",
        )?;
        sys::setsockopt(
            s,
            libc::SOL_XDP,
            libc::XDP_UMEM_COMPLETION_RING,
            &opts.tx_frames,
            "XDP_UMEM_COMPLETION_RING",
        )?;
        sys::setsockopt(
            s,
            libc::SOL_XDP,
            libc::XDP_RX_RING,
            &opts.rx_frames,
            "XDP_RX_RING",
        )?;
        sys::setsockopt(
            s,
            libc::SOL_XDP,
            libc::XDP_TX_RING,
            &opts.tx_frames,
            "XDP_TX_RING",
        )?;
        if opts.send_buffer > 0 {
            // Best effort: without CAP_NET_ADMIN the default stays.
            let _ = sys::setsockopt(
                s,
                libc::SOL_SOCKET,
                libc::SO_SNDBUFFORCE,
                &(opts.send_buffer.min(i32::MAX as u32) as i32),
                "SO_SNDBUFFORCE",
            );
        }
        let off: libc::xdp_mmap_offsets =
            sys::getsockopt(s, libc::SOL_XDP, libc::XDP_MMAP_OFFSETS, "XDP_MMAP_OFFSETS")?;
        let desc = std::mem::size_of::<libc::xdp_desc>();
        let addr = std::mem::size_of::<u64>();
        let map = |o: &libc::xdp_ring_offset, n: u32, entry: usize, pgoff: u64| {
            let len = o.desc as usize + n as usize * entry;
            RingMap::new(Mmap::socket(s, len, pgoff)?, o, n, entry)
        };
        let rx_ring = map(
            &off.rx,
            opts.rx_frames,
            desc,
            libc::XDP_PGOFF_RX_RING as u64,
        )?;
        let tx_ring = map(
            &off.tx,
            opts.tx_frames,
            desc,
            libc::XDP_PGOFF_TX_RING as u64,
        )?;
        let fill_ring = map(
            &off.fr,
            opts.rx_frames,
            addr,
            libc::XDP_UMEM_PGOFF_FILL_RING,
        )?;
        let comp_ring = map(
            &off.cr,
            opts.tx_frames,
            addr,
            libc::XDP_UMEM_PGOFF_COMPLETION_RING,
        )?;
        let fs = u64::from(opts.frame_size);
        let mut fill = ProdRing::new(fill_ring);
        let got = fill.free(opts.rx_frames);
        for i in 0..u64::from(got.min(opts.rx_frames)) {
            fill.push_addr(i * fs);
        }
        fill.submit();
        let free = (0..u64::from(opts.tx_frames))
            .map(|i| (u64::from(opts.rx_frames) + i) * fs)
            .rev()
            .collect();
        sys::bind_xdp(s, ifindex, queue, libc::XDP_COPY)?;
        Ok(Self {
            rx: Mutex::new(RxSide {
                fill,
                rx: ConsRing::new(rx_ring),
                recycle: Vec::with_capacity(opts.rx_frames as usize),
            }),
            tx: Mutex::new(TxSide {
                tx: ProdRing::new(tx_ring),
                comp: ConsRing::new(comp_ring),
                free,
            }),
            fd,
            umem: Umem::new(umem_map, opts.frame_size),
            counters: Counters::default(),
            ifindex,
            queue,
        })
    }

    /// The interface index the socket is bound to.
    pub fn ifindex(&self) -> u32 {
        self.ifindex
    }

    /// The queue the socket is bound to.
    pub fn queue(&self) -> u32 {
        self.queue
    }

    /// Copies up to `max` received frames into `out` (appending one `Vec`
    /// per frame) and returns how many. Never blocks.
    pub fn recv(&self, out: &mut Vec<Vec<u8>>, max: usize) -> usize {
        let mut guard = lock(&self.rx);
        let side = &mut *guard;
        let n = side.rx.available(u32::try_from(max).unwrap_or(u32::MAX));
        let mask = !(u64::from(self.umem.frame_size()) - 1);
        let mut got = 0;
        for i in 0..n {
            let d = side.rx.desc(i);
            let mut frame = Vec::new();
            if self.umem.read(d.addr, d.len, &mut frame) {
                out.push(frame);
                got += 1;
            } else {
                self.counters.rx_bad.fetch_add(1, Ordering::Relaxed);
            }
            side.recycle.push(d.addr & mask);
        }
        if n > 0 {
            side.rx.release(n);
        }
        if !side.recycle.is_empty() {
            let room = side.fill.free(side.recycle.len() as u32) as usize;
            let k = room.min(side.recycle.len());
            for addr in side.recycle.drain(..k) {
                side.fill.push_addr(addr);
            }
            side.fill.submit();
        }
        self.counters.rx.fetch_add(got as u64, Ordering::Relaxed);
        got
    }

    /// Transmits the frames in `frames` (draining it); returns how many
    /// were queued to the kernel. Frames that do not fit (no free chunk or
    /// TX slot, larger than a chunk) are dropped and counted. Never blocks.
    pub fn send(&self, frames: &mut Vec<Vec<u8>>) -> Result<usize, Error> {
        let mut guard = lock(&self.tx);
        let side = &mut *guard;
        self.reclaim(side);
        let mut sent = 0u32;
        for frame in frames.drain(..) {
            if frame.len() > self.umem.frame_size() as usize {
                self.counters.tx_oversize.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            if side.tx.free(1) == 0 {
                self.counters.tx_full.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            let Some(addr) = side.free.pop() else {
                self.counters.tx_full.fetch_add(1, Ordering::Relaxed);
                continue;
            };
            if !self.umem.write(addr, &frame) {
                side.free.push(addr);
                self.counters.tx_oversize.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            side.tx.push_desc(addr, frame.len() as u32);
            sent += 1;
        }
        if sent > 0 {
            side.tx.submit();
        }
        self.counters
            .tx
            .fetch_add(u64::from(sent), Ordering::Relaxed);
        self.kick(side)?;
        Ok(sent as usize)
    }

    /// Kicks the kernel if frames wait on the TX ring (a previous kick was
    /// refused because too much was in flight). Returns without waiting
    /// when another thread is transmitting.
    pub fn flush(&self) -> Result<(), Error> {
        let Ok(mut guard) = self.tx.try_lock() else {
            return Ok(());
        };
        let side = &mut *guard;
        if side.tx.outstanding() > 0 {
            self.kick(side)?;
        } else {
            self.reclaim(side);
        }
        Ok(())
    }

    fn kick(&self, side: &mut TxSide) -> Result<(), Error> {
        for _ in 0..KICK_RETRIES {
            if side.tx.outstanding() == 0 {
                break;
            }
            match sys::kick_tx(self.fd.as_fd()) {
                Ok(()) => {}
                Err(e) => match e.raw_os_error() {
                    // Budget per call used up, or skbs in flight: try
                    // again; completions free the send buffer.
                    Some(libc::EAGAIN | libc::EBUSY) => {}
                    // The device is down or out of buffers: the frames
                    // stay on the ring for the next kick.
                    Some(libc::ENOBUFS | libc::ENETDOWN | libc::ENXIO) => break,
                    _ => return Err(Error::syscall("sendto(AF_XDP)", e)),
                },
            }
            self.reclaim(side);
        }
        self.reclaim(side);
        Ok(())
    }

    fn reclaim(&self, side: &mut TxSide) {
        let n = side.comp.available(u32::MAX);
        let mask = !(u64::from(self.umem.frame_size()) - 1);
        for i in 0..n {
            side.free.push(side.comp.addr(i) & mask);
        }
        if n > 0 {
            side.comp.release(n);
        }
    }

    /// The socket's counters, with the kernel's `XDP_STATISTICS`.
    pub fn stats(&self) -> Result<XskStats, Error> {
        let k: libc::xdp_statistics = sys::getsockopt(
            self.fd.as_fd(),
            libc::SOL_XDP,
            libc::XDP_STATISTICS,
            "XDP_STATISTICS",
        )?;
        let c = &self.counters;
        Ok(XskStats {
            rx_frames: c.rx.load(Ordering::Relaxed),
            tx_frames: c.tx.load(Ordering::Relaxed),
            tx_ring_full: c.tx_full.load(Ordering::Relaxed),
            tx_oversize: c.tx_oversize.load(Ordering::Relaxed),
            rx_bad_desc: c.rx_bad.load(Ordering::Relaxed),
            kernel_rx_dropped: k.rx_dropped,
            kernel_rx_ring_full: k.rx_ring_full,
            kernel_fill_ring_empty: k.rx_fill_ring_empty_descs,
            kernel_invalid_descs: k.rx_invalid_descs + k.tx_invalid_descs,
        })
    }
}

impl AsFd for XskSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}
