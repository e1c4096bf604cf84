//! Ports: where frames enter and leave the userspace backend.
//!
//! A [`Port`] is one network interface as the backend sees it: a receive
//! burst and a transmit burst of whole Ethernet frames over one or more
//! queues. Kernel-I/O ports fit the same shape — an AF_XDP socket per
//! (interface, queue) with its fill/completion rings behind `rx_burst` /
//! `tx_burst`, or an AF_PACKET `TPACKET_V3` ring — and are opened by a
//! [`PortFactory`] when the control plane attaches an interface.
//!
//! The AF_XDP port is [`crate::port_xsk::XskPortFactory`]. This module
//! provides the in-memory port used by the tests, the
//! conformance harness and the replay tool: [`MemoryPort`] is a pair of
//! bounded FIFOs, one towards the dataplane and one away from it, and
//! [`MemoryPortHandle`] is the far end (a test "wire") that injects frames
//! and collects what the dataplane transmitted.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// Why a port operation failed.
#[derive(Debug, thiserror::Error)]
pub enum PortError {
    /// The port has been closed.
    #[error("port {0} is closed")]
    Closed(String),
    /// A receive or transmit queue index the port does not have.
    #[error("port {port} has no queue {queue}")]
    NoSuchQueue {
        /// Port name.
        port: String,
        /// The queue asked for.
        queue: usize,
    },
    /// The kernel refused an AF_XDP operation (no root, no such
    /// interface, a program already attached, ...).
    #[error("AF_XDP port {name}: {source}")]
    Xsk {
        /// Port (config interface) name.
        name: String,
        /// What the kernel said.
        #[source]
        source: xpf_xsk::Error,
    },
    /// The factory cannot open this kind of port.
    #[error("cannot open port {name}: {reason}")]
    Open {
        /// Port name.
        name: String,
        /// Why.
        reason: String,
    },
}

/// One interface's frame I/O.
///
/// Methods take `&self`: a port is shared by the worker threads; each
/// receive queue is read by exactly one worker (queue `q` by worker
/// `q % workers`), so frames of one queue keep their order.
pub trait Port: Send + Sync {
    /// The interface name (as in the config).
    fn name(&self) -> &str;

    /// How the port is attached (`memory`, `af-packet`, `af-xdp-copy`, ...),
    /// reported as [`LinkState::mode`](xpf_dataplane::traits::LinkState::mode).
    fn mode(&self) -> &'static str;

    /// Number of receive queues.
    fn rx_queues(&self) -> usize;

    /// Appends up to `max` received frames of `queue` to `out`; returns how
    /// many it appended (0 when none are waiting). Never blocks.
    fn rx_burst(
        &self,
        queue: usize,
        out: &mut Vec<Vec<u8>>,
        max: usize,
    ) -> Result<usize, PortError>;

    /// Transmits the frames in `frames` (draining it); returns how many were
    /// accepted. Frames the port could not queue are dropped and counted by
    /// the port.
    fn tx_burst(&self, frames: &mut Vec<Vec<u8>>) -> Result<usize, PortError>;
}

/// Opens ports for interfaces the control plane attaches.
pub trait PortFactory: Send + Sync {
    /// Opens (or returns the already open) port for `interface`.
    fn open(&self, interface: &str) -> Result<Arc<dyn Port>, PortError>;

    /// Releases what `open` created for `interface` (detach). Idempotent.
    fn close(&self, interface: &str);
}

/// Counters of one direction of a memory port.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QueueStats {
    /// Frames queued.
    pub enqueued: u64,
    /// Frames dropped because the queue was full.
    pub dropped: u64,
}

#[derive(Debug)]
struct Fifo {
    frames: VecDeque<Vec<u8>>,
    stats: QueueStats,
}

#[derive(Debug)]
struct Shared {
    name: String,
    capacity: usize,
    /// Towards the dataplane, one FIFO per receive queue.
    rx: Vec<Mutex<Fifo>>,
    /// Away from the dataplane.
    tx: Mutex<Fifo>,
    tx_ready: Condvar,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    fn push(fifo: &Mutex<Fifo>, capacity: usize, frame: Vec<u8>) -> bool {
        let mut q = lock(fifo);
        if q.frames.len() >= capacity {
            q.stats.dropped += 1;
            false
        } else {
            q.frames.push_back(frame);
            q.stats.enqueued += 1;
            true
        }
    }
}

/// An in-memory port: bounded FIFOs in both directions.
#[derive(Clone, Debug)]
pub struct MemoryPort {
    shared: Arc<Shared>,
}

impl MemoryPort {
    /// A port named `name` with `rx_queues` receive queues, each direction
    /// holding at most `capacity` frames per queue; returns the port (for
    /// the dataplane) and its far end.
    pub fn new(name: &str, rx_queues: usize, capacity: usize) -> (Self, MemoryPortHandle) {
        let fifo = || {
            Mutex::new(Fifo {
                frames: VecDeque::new(),
                stats: QueueStats::default(),
            })
        };
        let shared = Arc::new(Shared {
            name: name.to_string(),
            capacity: capacity.max(1),
            rx: (0..rx_queues.max(1)).map(|_| fifo()).collect(),
            tx: fifo(),
            tx_ready: Condvar::new(),
        });
        (
            Self {
                shared: Arc::clone(&shared),
            },
            MemoryPortHandle { shared },
        )
    }
}

impl Port for MemoryPort {
    fn name(&self) -> &str {
        &self.shared.name
    }

    fn mode(&self) -> &'static str {
        "memory"
    }

    fn rx_queues(&self) -> usize {
        self.shared.rx.len()
    }

    fn rx_burst(
        &self,
        queue: usize,
        out: &mut Vec<Vec<u8>>,
        max: usize,
    ) -> Result<usize, PortError> {
        let fifo = self
            .shared
            .rx
            .get(queue)
            .ok_or_else(|| PortError::NoSuchQueue {
                port: self.shared.name.clone(),
                queue,
            })?;
        let mut q = lock(fifo);
        let n = max.min(q.frames.len());
        out.extend(q.frames.drain(..n));
        Ok(n)
    }

    fn tx_burst(&self, frames: &mut Vec<Vec<u8>>) -> Result<usize, PortError> {
        let mut sent = 0;
        for frame in frames.drain(..) {
            if Shared::push(&self.shared.tx, self.shared.capacity, frame) {
                sent += 1;
            }
        }
        if sent > 0 {
            self.shared.tx_ready.notify_all();
        }
        Ok(sent)
    }
}

/// The far end of a [`MemoryPort`]: what a test or the replay tool holds.
#[derive(Clone, Debug)]
pub struct MemoryPortHandle {
    shared: Arc<Shared>,
}

impl MemoryPortHandle {
    /// The port's name.
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// Queues `frame` for the dataplane on receive queue 0. Returns false
    /// (and counts a drop) when the queue is full.
    pub fn send(&self, frame: Vec<u8>) -> bool {
        self.send_on(0, frame)
    }

    /// Queues `frame` on receive queue `queue` (modulo the queue count).
    pub fn send_on(&self, queue: usize, frame: Vec<u8>) -> bool {
        let q = queue % self.shared.rx.len();
        Shared::push(&self.shared.rx[q], self.shared.capacity, frame)
    }

    /// The next frame the dataplane transmitted, if any.
    pub fn try_recv(&self) -> Option<Vec<u8>> {
        lock(&self.shared.tx).frames.pop_front()
    }

    /// Every frame transmitted so far, oldest first.
    pub fn drain(&self) -> Vec<Vec<u8>> {
        lock(&self.shared.tx).frames.drain(..).collect()
    }

    /// Waits until the dataplane has transmitted a frame, or `timeout`
    /// passes. For tests that run real worker threads.
    pub fn recv_timeout(&self, timeout: Duration) -> Option<Vec<u8>> {
        let deadline = Instant::now() + timeout;
        let mut q = lock(&self.shared.tx);
        loop {
            if let Some(f) = q.frames.pop_front() {
                return Some(f);
            }
            let now = Instant::now();
            if now >= deadline {
                return None;
            }
            q = self
                .shared
                .tx_ready
                .wait_timeout(q, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// Counters of the direction towards the dataplane (all queues).
    pub fn rx_stats(&self) -> QueueStats {
        self.shared.rx.iter().fold(QueueStats::default(), |a, q| {
            let s = lock(q).stats;
            QueueStats {
                enqueued: a.enqueued + s.enqueued,
                dropped: a.dropped + s.dropped,
            }
        })
    }

    /// Counters of the direction away from the dataplane.
    pub fn tx_stats(&self) -> QueueStats {
        lock(&self.shared.tx).stats
    }
}

/// Opens [`MemoryPort`]s and keeps their far ends so tests can reach them.
#[derive(Debug)]
pub struct MemoryPortFactory {
    rx_queues: usize,
    capacity: usize,
    ports: Mutex<BTreeMap<String, (MemoryPort, MemoryPortHandle)>>,
}

impl Default for MemoryPortFactory {
    fn default() -> Self {
        Self::new(1, 4096)
    }
}

impl MemoryPortFactory {
    /// Ports with `rx_queues` receive queues of `capacity` frames.
    pub fn new(rx_queues: usize, capacity: usize) -> Self {
        Self {
            rx_queues,
            capacity,
            ports: Mutex::new(BTreeMap::new()),
        }
    }

    /// The far end of the port of `interface`, opening it if needed.
    pub fn handle(&self, interface: &str) -> MemoryPortHandle {
        self.entry(interface).1
    }

    fn entry(&self, interface: &str) -> (MemoryPort, MemoryPortHandle) {
        lock(&self.ports)
            .entry(interface.to_string())
            .or_insert_with(|| MemoryPort::new(interface, self.rx_queues, self.capacity))
            .clone()
    }
}

impl PortFactory for MemoryPortFactory {
    fn open(&self, interface: &str) -> Result<Arc<dyn Port>, PortError> {
        Ok(Arc::new(self.entry(interface).0))
    }

    fn close(&self, interface: &str) {
        lock(&self.ports).remove(interface);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_cross_in_order_and_overflow_is_counted() {
        let (port, wire) = MemoryPort::new("ge-0/0/0", 1, 2);
        assert!(wire.send(vec![1]));
        assert!(wire.send(vec![2]));
        assert!(!wire.send(vec![3]));
        let mut got = Vec::new();
        assert_eq!(port.rx_burst(0, &mut got, 8).unwrap(), 2);
        assert_eq!(got, vec![vec![1], vec![2]]);
        assert_eq!(wire.rx_stats().dropped, 1);
        let mut out = vec![vec![9], vec![8]];
        assert_eq!(port.tx_burst(&mut out).unwrap(), 2);
        assert!(out.is_empty());
        assert_eq!(wire.drain(), vec![vec![9], vec![8]]);
    }

    #[test]
    fn unknown_queue_is_an_error() {
        let (port, _wire) = MemoryPort::new("p", 1, 4);
        assert!(matches!(
            port.rx_burst(3, &mut Vec::new(), 1),
            Err(PortError::NoSuchQueue { queue: 3, .. })
        ));
    }
}
