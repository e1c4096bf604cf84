//! The four single-producer / single-consumer rings an AF_XDP socket shares
//! with the kernel (fill, completion, RX, TX) and the UMEM they point into.
//!
//! A ring is a power-of-two array of descriptors plus a producer and a
//! consumer index (free-running `u32`s) in mapped memory. The side that
//! produces writes descriptors and then publishes the new producer index
//! with a release store; the side that consumes reads the producer index
//! with an acquire load, reads the descriptors, and publishes its consumer
//! index with a release store (so the slots can be reused). Both sides keep
//! cached copies of the other index and refresh them only when they run
//! out, as libxdp does. The UMEM is accessed only by copying frames in and
//! out of chunks the user side owns at that moment (a chunk is owned by
//! exactly one of: the kernel, the fill / TX ring in flight, or the user).

#![allow(unsafe_code)]

use std::sync::atomic::{AtomicU32, Ordering};

use crate::sys::Mmap;

/// One mapped ring with the offsets the kernel reported.
#[derive(Debug)]
pub(crate) struct RingMap {
    map: Mmap,
    producer: usize,
    consumer: usize,
    desc: usize,
    size: u32,
}

impl RingMap {
    /// `map` is a ring of `size` (a power of two) entries of `entry`
    /// bytes; `off` the kernel's offsets into it.
    pub fn new(
        map: Mmap,
        off: &libc::xdp_ring_offset,
        size: u32,
        entry: usize,
    ) -> Result<Self, crate::Error> {
        let fits = |o: u64, n: usize| (o as usize).checked_add(n).is_some_and(|e| e <= map.len());
        let aligned = |o: u64, a: u64| o.is_multiple_of(a);
        let ok = size.is_power_of_two()
            && fits(off.producer, 4)
            && fits(off.consumer, 4)
            && fits(off.desc, size as usize * entry)
            && aligned(off.producer, 4)
            && aligned(off.consumer, 4)
            && aligned(off.desc, 8);
        if !ok {
            return Err(crate::Error::syscall(
                "XDP_MMAP_OFFSETS",
                std::io::Error::other("ring offsets outside the mapping"),
            ));
        }
        Ok(Self {
            producer: off.producer as usize,
            consumer: off.consumer as usize,
            desc: off.desc as usize,
            size,
            map,
        })
    }

    fn atomic(&self, offset: usize) -> &AtomicU32 {
        // SAFETY: `offset` was checked in `new` to lie inside the mapping
        // and be 4-byte aligned; the mapping lives as long as `self`, and
        // the kernel accesses the word only atomically (READ_ONCE /
        // smp_store_release), so viewing it as an `AtomicU32` is sound.
        unsafe { &*self.map.as_ptr().add(offset).cast::<AtomicU32>() }
    }

    fn producer(&self) -> &AtomicU32 {
        self.atomic(self.producer)
    }

    fn consumer(&self) -> &AtomicU32 {
        self.atomic(self.consumer)
    }

    fn mask(&self) -> u32 {
        self.size - 1
    }

    /// Pointer to descriptor slot `idx & mask` of type `T`.
    fn slot<T>(&self, idx: u32) -> *mut T {
        let i = (idx & self.mask()) as usize;
        // SAFETY: `i < size` and `new` checked that `size` entries of this
        // ring's entry size fit after `desc`; callers use the `T` the ring
        // was created for (u64 or `xdp_desc`).
        unsafe {
            self.map
                .as_ptr()
                .add(self.desc + i * std::mem::size_of::<T>())
                .cast::<T>()
        }
    }
}

/// The user side produces: fill and TX rings.
#[derive(Debug)]
pub(crate) struct ProdRing {
    ring: RingMap,
    cached_prod: u32,
    cached_cons: u32,
}

impl ProdRing {
    pub fn new(ring: RingMap) -> Self {
        let cached_prod = ring.producer().load(Ordering::Relaxed);
        let cached_cons = ring
            .consumer()
            .load(Ordering::Acquire)
            .wrapping_add(ring.size);
        Self {
            ring,
            cached_prod,
            cached_cons,
        }
    }

    /// Free slots, refreshing the consumer index if fewer than `want`.
    pub fn free(&mut self, want: u32) -> u32 {
        let free = self.cached_cons.wrapping_sub(self.cached_prod);
        if free >= want {
            return free;
        }
        self.cached_cons = self
            .ring
            .consumer()
            .load(Ordering::Acquire)
            .wrapping_add(self.ring.size);
        self.cached_cons.wrapping_sub(self.cached_prod)
    }

    /// Writes an address descriptor (fill ring) at the next slot; the
    /// caller checked [`free`](Self::free).
    pub fn push_addr(&mut self, addr: u64) {
        let p = self.ring.slot::<u64>(self.cached_prod);
        // SAFETY: the slot is between the consumer and the producer index
        // seen by the kernel plus the free space checked by the caller, so
        // the kernel does not read it until `submit` publishes it.
        unsafe { p.write(addr) };
        self.cached_prod = self.cached_prod.wrapping_add(1);
    }

    /// Writes a frame descriptor (TX ring) at the next slot; the caller
    /// checked [`free`](Self::free).
    pub fn push_desc(&mut self, addr: u64, len: u32) {
        let p = self.ring.slot::<libc::xdp_desc>(self.cached_prod);
        // SAFETY: as `push_addr`; the TX ring's entries are `xdp_desc`.
        unsafe {
            p.write(libc::xdp_desc {
                addr,
                len,
                options: 0,
            })
        };
        self.cached_prod = self.cached_prod.wrapping_add(1);
    }

    /// Publishes the slots written since the last submit.
    pub fn submit(&self) {
        self.ring
            .producer()
            .store(self.cached_prod, Ordering::Release);
    }

    /// Slots published and not yet consumed by the kernel.
    pub fn outstanding(&self) -> u32 {
        self.cached_prod
            .wrapping_sub(self.ring.consumer().load(Ordering::Acquire))
    }
}

/// The user side consumes: RX and completion rings.
#[derive(Debug)]
pub(crate) struct ConsRing {
    ring: RingMap,
    cached_prod: u32,
    cached_cons: u32,
}

impl ConsRing {
    pub fn new(ring: RingMap) -> Self {
        let cached_cons = ring.consumer().load(Ordering::Relaxed);
        Self {
            cached_prod: cached_cons,
            cached_cons,
            ring,
        }
    }

    /// Entries ready to read (at most `max`), refreshing the producer index
    /// when the cached view is empty.
    pub fn available(&mut self, max: u32) -> u32 {
        let mut n = self.cached_prod.wrapping_sub(self.cached_cons);
        if n == 0 {
            self.cached_prod = self.ring.producer().load(Ordering::Acquire);
            n = self.cached_prod.wrapping_sub(self.cached_cons);
        }
        n.min(max)
    }

    /// The address entry `i` after the consumer index (completion ring);
    /// `i` < [`available`](Self::available).
    pub fn addr(&self, i: u32) -> u64 {
        let p = self.ring.slot::<u64>(self.cached_cons.wrapping_add(i));
        // SAFETY: the entry was published by the kernel (acquire load of
        // the producer index in `available`) and is not reused before
        // `release` publishes our consumer index.
        unsafe { p.read() }
    }

    /// The frame descriptor `i` after the consumer index (RX ring).
    pub fn desc(&self, i: u32) -> libc::xdp_desc {
        let p = self
            .ring
            .slot::<libc::xdp_desc>(self.cached_cons.wrapping_add(i));
        // SAFETY: as `addr`; the RX ring's entries are `xdp_desc`.
        unsafe { p.read() }
    }

    /// Gives `n` read entries back to the kernel.
    pub fn release(&mut self, n: u32) {
        self.cached_cons = self.cached_cons.wrapping_add(n);
        self.ring
            .consumer()
            .store(self.cached_cons, Ordering::Release);
    }
}

/// The packet buffer area registered with the socket.
#[derive(Debug)]
pub(crate) struct Umem {
    map: Mmap,
    frame_size: u32,
}

impl Umem {
    pub fn new(map: Mmap, frame_size: u32) -> Self {
        Self { map, frame_size }
    }

    pub fn base(&self) -> *mut u8 {
        self.map.as_ptr()
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn frame_size(&self) -> u32 {
        self.frame_size
    }

    /// Copies `len` bytes at `addr` out of the UMEM, or `None` if the
    /// range is not inside it (a descriptor the kernel should never give).
    pub fn read(&self, addr: u64, len: u32, out: &mut Vec<u8>) -> bool {
        let (a, l) = (addr as usize, len as usize);
        if a.checked_add(l).is_none_or(|e| e > self.len()) {
            return false;
        }
        out.clear();
        out.reserve(l);
        // SAFETY: the range is inside the mapping (checked) and belongs to
        // a chunk the kernel handed to us through the RX ring; it will not
        // write it again until we put the chunk back on the fill ring.
        // `out` has capacity for `l` bytes and does not overlap the UMEM.
        unsafe {
            std::ptr::copy_nonoverlapping(self.base().add(a), out.as_mut_ptr(), l);
            out.set_len(l);
        }
        true
    }

    /// Copies `frame` into the chunk at `addr`; false if it does not fit.
    pub fn write(&self, addr: u64, frame: &[u8]) -> bool {
        let a = addr as usize;
        if frame.len() > self.frame_size as usize
            || a.checked_add(frame.len()).is_none_or(|e| e > self.len())
        {
            return false;
        }
        // SAFETY: the range is inside the mapping (checked) and in a chunk
        // on our TX free list, which the kernel does not read until the
        // descriptor is published on the TX ring.
        unsafe {
            std::ptr::copy_nonoverlapping(frame.as_ptr(), self.base().add(a), frame.len());
        }
        true
    }
}
