//! IP fragment tracking: maps non-first fragments to their flow and detects
//! overlapping fragments (the teardrop screen).
//!
//! The engine does not reassemble. A first fragment (offset 0) carries the
//! L4 header; the tracker remembers its ports under the datagram key
//! (source, destination, identification, protocol), and later fragments of
//! the same datagram are handled as that flow. Rules (shared with the
//! reference model):
//!
//! - A non-first fragment whose first fragment has not been seen is dropped
//!   (`fragment-no-session`): no out-of-order buffering.
//! - A non-first fragment never opens a session (the engine drops one that
//!   misses the session table as `fragment-no-session`, unless it is
//!   host-inbound traffic): its first fragment does, or was dropped.
//! - Every fragment's byte range is recorded; a fragment overlapping a range
//!   already seen is reported as an overlap (dropped by the `tear-drop`
//!   screen where the zone enables it, accepted otherwise).
//! - A datagram's entry is removed once its last fragment has been seen and
//!   the ranges cover `[0, end)` exactly, or `timeout` after its first
//!   fragment. The table is bounded; when full, the oldest datagram is
//!   forgotten.
//! - At most [`MAX_FRAGMENTS`] fragments per datagram are tracked; more is
//!   treated as an overlap (a fragment flood is an attack, not a packet).

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use xpf_runtime::IpProtocol;

/// Maximum fragments tracked per datagram.
pub const MAX_FRAGMENTS: usize = 64;

/// A datagram's identity.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DatagramKey {
    /// Source.
    pub src: IpAddr,
    /// Destination.
    pub dst: IpAddr,
    /// IPv4 identification or IPv6 fragment id.
    pub id: u32,
    /// Upper-layer protocol.
    pub protocol: IpProtocol,
}

/// One fragment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fragment {
    /// Offset of its payload in the datagram, bytes.
    pub offset: u32,
    /// Payload length, bytes.
    pub len: u32,
    /// More-fragments flag.
    pub more: bool,
    /// The L4 ports (first fragment only; ICMP id in both slots).
    pub ports: Option<(u16, u16)>,
}

/// What the tracker says about a fragment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FragmentOutcome {
    /// The flow's ports as learned from the first fragment (`None`: first
    /// fragment not seen yet).
    pub ports: Option<(u16, u16)>,
    /// The fragment overlaps one already seen.
    pub overlap: bool,
}

#[derive(Clone, Debug)]
struct Datagram {
    ranges: Vec<(u32, u32)>,
    ports: Option<(u16, u16)>,
    end: Option<u32>,
    first_seen_ns: u64,
}

/// The tracker.
#[derive(Clone, Debug)]
pub struct FragmentTracker {
    map: HashMap<DatagramKey, Datagram>,
    order: VecDeque<(DatagramKey, u64)>,
    capacity: usize,
    timeout_ns: u64,
}

impl FragmentTracker {
    /// A tracker for at most `capacity` datagrams, each forgotten
    /// `timeout_ns` after its first fragment.
    pub fn new(capacity: usize, timeout_ns: u64) -> Self {
        Self {
            map: HashMap::new(),
            order: VecDeque::new(),
            capacity: capacity.max(1),
            timeout_ns,
        }
    }

    /// Records a fragment at `now_ns`.
    pub fn observe(&mut self, key: DatagramKey, f: Fragment, now_ns: u64) -> FragmentOutcome {
        self.expire(now_ns);
        if !self.map.contains_key(&key) {
            while self.map.len() >= self.capacity {
                match self.order.pop_front() {
                    Some((k, t)) => {
                        if self.map.get(&k).is_some_and(|d| d.first_seen_ns == t) {
                            self.map.remove(&k);
                        }
                    }
                    None => break,
                }
            }
            self.map.insert(
                key,
                Datagram {
                    ranges: Vec::new(),
                    ports: None,
                    end: None,
                    first_seen_ns: now_ns,
                },
            );
            self.order.push_back((key, now_ns));
        }
        let d = self.map.get_mut(&key).expect("inserted above");
        let (start, stop) = (f.offset, f.offset.saturating_add(f.len));
        let overlap =
            d.ranges.len() >= MAX_FRAGMENTS || d.ranges.iter().any(|&(a, b)| start < b && a < stop);
        if !overlap {
            d.ranges.push((start, stop));
        }
        if f.offset == 0 && f.ports.is_some() {
            d.ports = f.ports;
        }
        if !f.more {
            d.end = Some(stop);
        }
        let outcome = FragmentOutcome {
            ports: d.ports,
            overlap,
        };
        if Self::complete(d) {
            self.map.remove(&key);
        }
        outcome
    }

    fn complete(d: &Datagram) -> bool {
        let Some(end) = d.end else { return false };
        let mut r = d.ranges.clone();
        r.sort_unstable();
        let mut covered = 0;
        for (a, b) in r {
            if a > covered {
                return false;
            }
            covered = covered.max(b);
        }
        covered >= end
    }

    fn expire(&mut self, now_ns: u64) {
        while let Some(&(k, t)) = self.order.front() {
            if now_ns.saturating_sub(t) < self.timeout_ns {
                break;
            }
            self.order.pop_front();
            if self.map.get(&k).is_some_and(|d| d.first_seen_ns == t) {
                self.map.remove(&k);
            }
        }
    }

    /// Datagrams being tracked.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// True when nothing is tracked.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(id: u32) -> DatagramKey {
        DatagramKey {
            src: "198.18.0.1".parse().unwrap(),
            dst: "198.19.0.1".parse().unwrap(),
            id,
            protocol: IpProtocol::UDP,
        }
    }

    fn frag(offset: u32, len: u32, more: bool) -> Fragment {
        Fragment {
            offset,
            len,
            more,
            ports: (offset == 0).then_some((5000, 53)),
        }
    }

    #[test]
    fn later_fragments_inherit_the_first_fragments_ports() {
        let mut t = FragmentTracker::new(16, 2_000_000_000);
        assert_eq!(
            t.observe(key(1), frag(0, 1480, true), 0).ports,
            Some((5000, 53))
        );
        let last = t.observe(key(1), frag(1480, 100, false), 1);
        assert_eq!(
            last,
            FragmentOutcome {
                ports: Some((5000, 53)),
                overlap: false
            }
        );
        assert!(t.is_empty(), "a complete datagram is forgotten");
    }

    #[test]
    fn a_fragment_before_its_first_has_no_flow() {
        let mut t = FragmentTracker::new(16, 2_000_000_000);
        assert_eq!(t.observe(key(2), frag(1480, 100, false), 0).ports, None);
        // The first fragment arriving late still completes the datagram.
        assert_eq!(
            t.observe(key(2), frag(0, 1480, true), 1).ports,
            Some((5000, 53))
        );
        assert!(t.is_empty());
    }

    #[test]
    fn overlapping_fragments_are_reported() {
        let mut t = FragmentTracker::new(16, 2_000_000_000);
        t.observe(key(3), frag(0, 1480, true), 0);
        assert!(t.observe(key(3), frag(1000, 600, false), 1).overlap);
        assert!(!t.observe(key(3), frag(1480, 100, false), 2).overlap);
    }

    #[test]
    fn datagrams_expire_and_the_table_is_bounded() {
        let mut t = FragmentTracker::new(2, 10);
        t.observe(key(4), frag(0, 8, true), 0);
        t.observe(key(5), frag(0, 8, true), 1);
        t.observe(key(6), frag(0, 8, true), 2);
        assert_eq!(t.len(), 2, "oldest forgotten when full");
        assert_eq!(t.observe(key(4), frag(8, 8, false), 3).ports, None);
        t.observe(key(7), frag(8, 8, true), 100);
        assert_eq!(t.len(), 1, "everything older than the timeout expired");
    }
}
