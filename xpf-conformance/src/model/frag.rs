//! The model's fragment bookkeeping, written from ARCHITECTURE.md §9
//! ("Fragments") and the `fragments` module docs of the engine: no
//! reassembly; the first fragment's ports are remembered per datagram
//! (source, destination, identification, protocol) so later fragments
//! follow its flow; every fragment's byte range is recorded and one
//! overlapping a recorded range is an overlap (the `tear-drop` screen);
//! a datagram is forgotten once its last fragment was seen and its ranges
//! cover `[0, end)`, [`TIMEOUT_NS`] after its first fragment arrived, or
//! when the table is full ([`CAPACITY`], the oldest goes). More than
//! [`MAX_FRAGMENTS`] fragments of one datagram count as an overlap.
//!
//! Plain `Vec`s scanned linearly; shares no code with the engine.

use std::net::IpAddr;

/// Datagrams remembered at once (the engine's default options).
pub const CAPACITY: usize = 4096;
/// How long a datagram is remembered after its first fragment (2 s).
pub const TIMEOUT_NS: u64 = 2_000_000_000;
/// Fragments recorded per datagram.
pub const MAX_FRAGMENTS: usize = 64;

/// A datagram's identity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DatagramId {
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// Identification (IPv4 16 bits, IPv6 32 bits).
    pub id: u32,
    /// Protocol (IPv6: the Fragment header's next header).
    pub proto: u8,
}

#[derive(Clone, Debug)]
struct Datagram {
    id: DatagramId,
    ranges: Vec<(u32, u32)>,
    ports: Option<(u16, u16)>,
    end: Option<u32>,
    first_seen: u64,
}

/// What the bookkeeping says about one fragment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Seen {
    /// The flow's ports, learned from the datagram's first fragment.
    pub ports: Option<(u16, u16)>,
    /// The fragment overlaps one seen before (or one too many).
    pub overlap: bool,
}

/// The datagrams being followed, oldest first.
#[derive(Clone, Debug, Default)]
pub struct Fragments {
    datagrams: Vec<Datagram>,
}

impl Fragments {
    /// Records the fragment `[offset, offset + len)` of datagram `id` at
    /// `now`; `ports` are the transport ports when it is a first fragment.
    pub fn observe(
        &mut self,
        id: DatagramId,
        offset: u32,
        len: u32,
        more: bool,
        ports: Option<(u16, u16)>,
        now: u64,
    ) -> Seen {
        self.datagrams
            .retain(|d| now.saturating_sub(d.first_seen) < TIMEOUT_NS);
        let at = match self.datagrams.iter().position(|d| d.id == id) {
            Some(i) => i,
            None => {
                while self.datagrams.len() >= CAPACITY {
                    self.datagrams.remove(0);
                }
                self.datagrams.push(Datagram {
                    id,
                    ranges: Vec::new(),
                    ports: None,
                    end: None,
                    first_seen: now,
                });
                self.datagrams.len() - 1
            }
        };
        let d = &mut self.datagrams[at];
        let (start, stop) = (offset, offset.saturating_add(len));
        let overlap =
            d.ranges.len() >= MAX_FRAGMENTS || d.ranges.iter().any(|&(a, b)| start < b && a < stop);
        if !overlap {
            d.ranges.push((start, stop));
        }
        if offset == 0 && ports.is_some() {
            d.ports = ports;
        }
        if !more {
            d.end = Some(stop);
        }
        let seen = Seen {
            ports: d.ports,
            overlap,
        };
        if let Some(end) = d.end {
            // Complete when the recorded ranges leave no gap before `end`.
            let mut covered = 0;
            let mut gap = false;
            let mut ranges = d.ranges.clone();
            ranges.sort_unstable();
            for (a, b) in ranges {
                if a > covered {
                    gap = true;
                    break;
                }
                covered = covered.max(b);
            }
            if !gap && covered >= end {
                self.datagrams.remove(at);
            }
        }
        seen
    }

    /// Datagrams followed.
    pub fn len(&self) -> usize {
        self.datagrams.len()
    }

    /// True when none is followed.
    pub fn is_empty(&self) -> bool {
        self.datagrams.is_empty()
    }
}
