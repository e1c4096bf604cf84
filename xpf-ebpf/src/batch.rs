//! Batched reads of a BPF hash map with `BPF_MAP_LOOKUP_BATCH`, which aya
//! 0.14 does not wrap: reading every session with aya's iterator costs two
//! syscalls per entry (next key, then lookup), so a GC sweep of a full
//! 262,144-session table (524,288 entries) made a million syscalls; a batch
//! read returns thousands of entries per syscall.
//!
//! One of the crate's `unsafe` modules (ARCHITECTURE.md §2): the `bpf()`
//! syscall on a plain-data attribute block, and the conversion of the bytes
//! the kernel wrote into `aya::Pod` values (plain bytes, every pattern valid).

#![allow(unsafe_code)]
#![deny(clippy::undocumented_unsafe_blocks)]

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

/// `BPF_MAP_LOOKUP_BATCH` (`enum bpf_cmd`).
const BPF_MAP_LOOKUP_BATCH: libc::c_long = 24;

/// Entries asked for per syscall. Must be at least the longest bucket
/// chain (the kernel returns `ENOSPC` otherwise, handled by growing).
const BATCH: u32 = 4096;

/// The `batch` member of `union bpf_attr`.
#[repr(C)]
#[derive(Default)]
struct BatchAttr {
    in_batch: u64,
    out_batch: u64,
    keys: u64,
    values: u64,
    count: u32,
    map_fd: u32,
    elem_flags: u64,
    flags: u64,
}

/// Every `(key, value)` of the hash map `fd`, read in batches. Entries
/// inserted or deleted while it runs may or may not be seen (as with any
/// walk of a live map); none is seen twice.
pub fn lookup_all<K: aya::Pod, V: aya::Pod>(fd: BorrowedFd<'_>) -> io::Result<Vec<(K, V)>> {
    let (ks, vs) = (size_of::<K>(), size_of::<V>());
    let mut out = Vec::new();
    let mut count = BATCH;
    let mut keys = vec![0u8; ks * count as usize];
    let mut values = vec![0u8; vs * count as usize];
    // The hash map's batch token is a bucket index (a u32); 8 bytes of room.
    let (mut token_in, mut token_out) = (0u64, 0u64);
    let mut first = true;
    loop {
        let mut attr = BatchAttr {
            in_batch: if first {
                0
            } else {
                std::ptr::from_mut(&mut token_in) as u64
            },
            out_batch: std::ptr::from_mut(&mut token_out) as u64,
            keys: keys.as_mut_ptr() as u64,
            values: values.as_mut_ptr() as u64,
            count,
            map_fd: fd.as_raw_fd() as u32,
            ..BatchAttr::default()
        };
        // SAFETY: `attr` is a fully initialised plain-data `bpf_attr.batch`
        // of the size passed; the kernel writes at most `count` keys and
        // values into buffers sized for `count` of each, and 4 bytes into
        // `token_out` (8 bytes of room); every pointer outlives the call.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_bpf,
                BPF_MAP_LOOKUP_BATCH,
                std::ptr::from_mut(&mut attr),
                size_of::<BatchAttr>() as libc::c_uint,
            )
        };
        let err = (rc < 0).then(io::Error::last_os_error);
        if let Some(e) = &err
            && e.raw_os_error() == Some(libc::ENOSPC)
        {
            // A bucket longer than the batch: ask for more at once.
            count = count.saturating_mul(2);
            keys.resize(ks * count as usize, 0);
            values.resize(vs * count as usize, 0);
            continue;
        }
        if let Some(e) = &err
            && e.raw_os_error() != Some(libc::ENOENT)
        {
            return Err(io::Error::new(
                e.kind(),
                format!("BPF_MAP_LOOKUP_BATCH: {e}"),
            ));
        }
        let n = (attr.count as usize).min(count as usize);
        out.reserve(n);
        for i in 0..n {
            let k = &keys[i * ks..(i + 1) * ks];
            let v = &values[i * vs..(i + 1) * vs];
            // SAFETY: `K` and `V` are `aya::Pod` (plain bytes, every bit
            // pattern valid) and each slice holds exactly their size.
            let pair = unsafe {
                (
                    std::ptr::read_unaligned(k.as_ptr().cast::<K>()),
                    std::ptr::read_unaligned(v.as_ptr().cast::<V>()),
                )
            };
            out.push(pair);
        }
        if err.is_some() {
            // ENOENT: that was the last batch.
            return Ok(out);
        }
        token_in = token_out;
        first = false;
    }
}
