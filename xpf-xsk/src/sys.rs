//! The raw kernel calls of this crate: memory mappings ([`Mmap`]), socket
//! options of plain-data types, `bind`, the `sendto` kick, interface index
//! lookup and the `bpf()` syscall. Every `unsafe` block of the socket side
//! is here or in [`crate::ring`]; each says why it is sound.

#![allow(unsafe_code)]

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::ptr::NonNull;

use crate::Error;

/// Plain-old-data types passed to and from the kernel by pointer and size.
///
/// # Safety
///
/// Implementors are `#[repr(C)]`, contain no pointers the kernel writes
/// through, no padding the kernel would read as meaningful, and every bit
/// pattern is a valid value (the kernel may write any bytes into them).
pub(crate) unsafe trait KernelPod: Copy {}

// SAFETY: libc's `#[repr(C)]` mirrors of uapi structs made of integers only.
unsafe impl KernelPod for libc::xdp_umem_reg {}
// SAFETY: as above (integers only).
unsafe impl KernelPod for libc::xdp_mmap_offsets {}
// SAFETY: as above (integers only).
unsafe impl KernelPod for libc::xdp_statistics {}
// SAFETY: a plain integer.
unsafe impl KernelPod for u32 {}
// SAFETY: a plain integer.
unsafe impl KernelPod for i32 {}

/// A `mmap`ed region, unmapped on drop.
#[derive(Debug)]
pub(crate) struct Mmap {
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: the region is plain shared memory owned by this value. Every
// access goes through raw pointers whose synchronisation is the ring
// protocol (acquire/release atomics on the producer/consumer indices) plus
// the socket's mutexes, so moving or sharing the handle across threads is
// sound.
unsafe impl Send for Mmap {}
// SAFETY: see `Send`.
unsafe impl Sync for Mmap {}

impl Mmap {
    /// Anonymous, private, pre-faulted memory of `len` bytes (a UMEM).
    pub fn anonymous(len: usize) -> Result<Self, Error> {
        // SAFETY: a fresh anonymous mapping; no existing memory is aliased.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_POPULATE,
                -1,
                0,
            )
        };
        Self::from_result(p, len, "mmap UMEM")
    }

    /// A ring of socket `fd` at page offset `pgoff` (`XDP_PGOFF_*`).
    pub fn socket(fd: BorrowedFd<'_>, len: usize, pgoff: u64) -> Result<Self, Error> {
        // SAFETY: maps kernel ring memory of a socket we own; the kernel
        // checks `len` against the ring it created, a fresh mapping aliases
        // nothing of ours.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_POPULATE,
                fd.as_raw_fd(),
                pgoff as libc::off_t,
            )
        };
        Self::from_result(p, len, "mmap ring")
    }

    fn from_result(p: *mut libc::c_void, len: usize, op: &'static str) -> Result<Self, Error> {
        if p == libc::MAP_FAILED {
            return Err(Error::syscall(op, io::Error::last_os_error()));
        }
        let ptr = NonNull::new(p.cast::<u8>())
            .ok_or_else(|| Error::syscall(op, io::Error::other("null mapping")))?;
        Ok(Self { ptr, len })
    }

    /// Start of the region.
    pub fn as_ptr(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }
}

impl Drop for Mmap {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the region `mmap` returned; no reference
        // into it outlives `self` (the ring and UMEM types borrow from it).
        unsafe {
            libc::munmap(self.ptr.as_ptr().cast(), self.len);
        }
    }
}

/// `socket(AF_XDP, SOCK_RAW, 0)`.
pub(crate) fn xdp_socket() -> Result<OwnedFd, Error> {
    // SAFETY: plain syscall with constant arguments.
    let fd = unsafe { libc::socket(libc::AF_XDP, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(Error::syscall("socket(AF_XDP)", io::Error::last_os_error()));
    }
    // SAFETY: `fd` is a fresh descriptor nobody else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `setsockopt(fd, level, name, &value, sizeof value)`.
pub(crate) fn setsockopt<T: KernelPod>(
    fd: BorrowedFd<'_>,
    level: libc::c_int,
    name: libc::c_int,
    value: &T,
    op: &'static str,
) -> Result<(), Error> {
    // SAFETY: `value` is a valid `T` for the duration of the call and the
    // size passed is its size; the kernel only reads it.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (value as *const T).cast(),
            std::mem::size_of::<T>() as libc::socklen_t,
        )
    };
    if rc < 0 {
        return Err(Error::syscall(op, io::Error::last_os_error()));
    }
    Ok(())
}

/// `getsockopt` into a `T`; fails if the kernel wrote fewer bytes.
pub(crate) fn getsockopt<T: KernelPod>(
    fd: BorrowedFd<'_>,
    level: libc::c_int,
    name: libc::c_int,
    op: &'static str,
) -> Result<T, Error> {
    let mut value = std::mem::MaybeUninit::<T>::zeroed();
    let mut len = std::mem::size_of::<T>() as libc::socklen_t;
    // SAFETY: the kernel writes at most `len` bytes into `value`, which is
    // that large; `len` is updated with what it wrote.
    let rc = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            level,
            name,
            value.as_mut_ptr().cast(),
            &mut len,
        )
    };
    if rc < 0 {
        return Err(Error::syscall(op, io::Error::last_os_error()));
    }
    if len as usize != std::mem::size_of::<T>() {
        return Err(Error::syscall(
            op,
            io::Error::other(format!(
                "kernel returned {len} bytes, expected {} (kernel too old?)",
                std::mem::size_of::<T>()
            )),
        ));
    }
    // SAFETY: zero-initialised and then (fully, checked above) written by
    // the kernel; every bit pattern is a valid `T` (`KernelPod`).
    Ok(unsafe { value.assume_init() })
}

/// Binds an AF_XDP socket to (`ifindex`, `queue`) with `flags`.
pub(crate) fn bind_xdp(
    fd: BorrowedFd<'_>,
    ifindex: u32,
    queue: u32,
    flags: u16,
) -> Result<(), Error> {
    let addr = libc::sockaddr_xdp {
        sxdp_family: libc::AF_XDP as u16,
        sxdp_flags: flags,
        sxdp_ifindex: ifindex,
        sxdp_queue_id: queue,
        sxdp_shared_umem_fd: 0,
    };
    // SAFETY: `addr` is a valid `sockaddr_xdp` and its size is passed.
    let rc = unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&addr as *const libc::sockaddr_xdp).cast(),
            std::mem::size_of::<libc::sockaddr_xdp>() as libc::socklen_t,
        )
    };
    if rc < 0 {
        return Err(Error::syscall("bind(AF_XDP)", io::Error::last_os_error()));
    }
    Ok(())
}

/// `sendto(fd, NULL, 0, MSG_DONTWAIT, NULL, 0)`: asks the kernel to
/// transmit what the TX ring holds (copy mode sends in this call).
pub(crate) fn kick_tx(fd: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: a zero-length send with no buffer and no address; the kernel
    // reads nothing from user memory.
    let rc = unsafe {
        libc::sendto(
            fd.as_raw_fd(),
            std::ptr::null(),
            0,
            libc::MSG_DONTWAIT,
            std::ptr::null(),
            0,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The index of interface `name` in the calling thread's network namespace.
pub fn ifindex(name: &str) -> Result<u32, Error> {
    let c = CString::new(name).map_err(|_| Error::NoSuchInterface(name.to_owned()))?;
    // SAFETY: `c` is a valid NUL-terminated string for the call.
    let index = unsafe { libc::if_nametoindex(c.as_ptr()) };
    if index == 0 {
        return Err(Error::NoSuchInterface(name.to_owned()));
    }
    Ok(index)
}

/// The `bpf()` syscall with an attribute struct `attr` of `size` bytes.
/// Returns the syscall's non-negative result.
pub(crate) fn bpf<T>(cmd: u32, attr: &mut T, op: &'static str) -> Result<i64, Error> {
    // SAFETY: `attr` is a live `#[repr(C)]` struct laid out as the prefix
    // of `union bpf_attr` for `cmd` (see `crate::bpf`), with its size; the
    // kernel zero-extends it and writes back only within that size.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd as libc::c_long,
            (attr as *mut T).cast::<libc::c_void>(),
            std::mem::size_of::<T>() as libc::c_long,
        )
    };
    if rc < 0 {
        return Err(Error::syscall(op, io::Error::last_os_error()));
    }
    Ok(rc)
}

/// Wraps a descriptor returned by the `bpf()` syscall.
pub(crate) fn owned_fd(raw: i64, op: &'static str) -> Result<OwnedFd, Error> {
    let fd = i32::try_from(raw)
        .map_err(|_| Error::syscall(op, io::Error::other("descriptor out of range")))?;
    // SAFETY: `fd` was just returned by the kernel as a new descriptor that
    // nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}
