//! Port occupancy of one (protocol, pool address): a bitmap over port offsets.
//!
//! Created when the first port of an address is taken for a protocol and
//! dropped when the last is returned, so memory follows the addresses in use
//! (`P / 8` bytes each: 8 KiB for the full 1024-65535 range), not the size
//! of the pool. Finding the next free port scans 64 ports per word.

/// Which port offsets of one address are taken.
#[derive(Clone, Debug)]
pub(crate) struct PortMap {
    words: Box<[u64]>,
    used: u32,
}

impl PortMap {
    /// All `ports` offsets free.
    pub(crate) fn new(ports: u32) -> Self {
        Self {
            words: vec![0; ports.div_ceil(64) as usize].into_boxed_slice(),
            used: 0,
        }
    }

    /// Offsets taken.
    #[inline]
    pub(crate) fn used(&self) -> u32 {
        self.used
    }

    /// True when `offset` is taken.
    #[inline]
    pub(crate) fn is_set(&self, offset: u32) -> bool {
        self.words[(offset / 64) as usize] >> (offset % 64) & 1 == 1
    }

    /// Takes `offset`; false if it already was.
    #[inline]
    pub(crate) fn set(&mut self, offset: u32) -> bool {
        let w = &mut self.words[(offset / 64) as usize];
        let bit = 1u64 << (offset % 64);
        if *w & bit != 0 {
            return false;
        }
        *w |= bit;
        self.used += 1;
        true
    }

    /// Returns `offset`; false if it was free.
    #[inline]
    pub(crate) fn clear(&mut self, offset: u32) -> bool {
        let w = &mut self.words[(offset / 64) as usize];
        let bit = 1u64 << (offset % 64);
        if *w & bit == 0 {
            return false;
        }
        *w &= !bit;
        self.used -= 1;
        true
    }

    /// The lowest free offset in `from..to` (`to` ≤ the port count).
    #[inline]
    pub(crate) fn first_free(&self, from: u32, to: u32) -> Option<u32> {
        if from >= to {
            return None;
        }
        let mut w = (from / 64) as usize;
        let mut free = !self.words[w] & (u64::MAX << (from % 64));
        loop {
            if free != 0 {
                let offset = w as u32 * 64 + free.trailing_zeros();
                return (offset < to).then_some(offset);
            }
            w += 1;
            if w as u32 * 64 >= to {
                return None;
            }
            free = !self.words[w];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_free_respects_bounds_and_taken_ports() {
        let mut m = PortMap::new(130);
        assert_eq!(m.first_free(0, 130), Some(0));
        for i in 0..129 {
            assert!(m.set(i));
        }
        assert!(!m.set(5));
        assert_eq!(m.used(), 129);
        assert_eq!(m.first_free(0, 130), Some(129));
        assert_eq!(m.first_free(0, 129), None);
        assert_eq!(m.first_free(129, 129), None);
        assert!(m.clear(64));
        assert!(!m.clear(64));
        assert_eq!(m.first_free(3, 130), Some(64));
        assert_eq!(m.first_free(65, 130), Some(129));
        assert!(m.is_set(63) && !m.is_set(64));
    }
}
