//! Counters, the bounded event queue and the session-delta queue of one
//! engine.
//!
//! Nothing here blocks or allocates per packet in the steady state: counters
//! are flat vectors indexed by compiled ids, and the two queues are bounded
//! ring buffers that count what they had to drop instead of growing
//! (`events-dropped`, `deltas-dropped`).

use std::collections::VecDeque;
use xpf_runtime::counters::BaseCounter;
use xpf_runtime::{
    CounterValue, DropReason, Event, GlobalCounter, InterfaceCounters, SessionDelta,
};

/// Per-zone traffic counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ZoneTraffic {
    /// Packets entering the zone (received on its interfaces).
    pub ingress: CounterValue,
    /// Packets leaving through the zone's interfaces.
    pub egress: CounterValue,
    /// Packets dropped after entering the zone.
    pub dropped: u64,
}

/// The engine's counters.
#[derive(Clone, Debug)]
pub struct Counters {
    /// Every global counter, by [`GlobalCounter::index`]: a fixed-size
    /// array, so adding to a counter named by a constant needs no bounds
    /// check.
    global: Box<[u64; GlobalCounter::COUNT]>,
    /// Per interface, indexed by `InterfaceId`.
    pub interfaces: Vec<InterfaceCounters>,
    /// Per zone, indexed by `ZoneId`.
    pub zones: Vec<ZoneTraffic>,
    /// Per policy rule, indexed by `PolicyRuleId` (rules with `count`, and
    /// every rule's hits).
    pub policies: Vec<CounterValue>,
    /// Per NAT rule, indexed by `NatRuleId`.
    pub nat_rules: Vec<CounterValue>,
}

impl Default for Counters {
    fn default() -> Self {
        Self {
            global: Box::new([0; GlobalCounter::COUNT]),
            interfaces: Vec::new(),
            zones: Vec::new(),
            policies: Vec::new(),
            nat_rules: Vec::new(),
        }
    }
}

fn grow<T: Default + Clone>(v: &mut Vec<T>, len: usize) {
    if v.len() < len {
        v.resize(len, T::default());
    }
}

impl Counters {
    /// Makes room for the ids of a new config. Existing counters are kept
    /// (ids are stable across applies).
    pub fn resize(&mut self, interfaces: usize, zones: usize, rules: usize, nat_rules: usize) {
        grow(&mut self.interfaces, interfaces);
        grow(&mut self.zones, zones);
        grow(&mut self.policies, rules);
        grow(&mut self.nat_rules, nat_rules);
    }

    /// Adds `n` to a global counter.
    #[inline]
    pub fn add(&mut self, c: impl Into<GlobalCounter>, n: u64) {
        self.global[c.into().index()] += n;
    }

    /// Counts one drop for `reason` (and the `dropped` total).
    #[inline]
    pub fn drop(&mut self, reason: DropReason) {
        self.global[GlobalCounter::Drop(reason).index()] += 1;
        self.global[GlobalCounter::Base(BaseCounter::Dropped).index()] += 1;
    }

    /// A global counter's value.
    pub fn get(&self, c: impl Into<GlobalCounter>) -> u64 {
        self.global[c.into().index()]
    }

    /// Every global counter with its value.
    pub fn global(&self) -> Vec<(GlobalCounter, u64)> {
        GlobalCounter::all()
            .map(|c| (c, self.global[c.index()]))
            .collect()
    }

    /// Resets one policy rule's counter (its id now belongs to a new rule).
    pub fn reset_policy(&mut self, index: usize) {
        if let Some(c) = self.policies.get_mut(index) {
            *c = CounterValue::default();
        }
    }
}

/// A bounded FIFO that counts overflow instead of blocking or growing.
#[derive(Clone, Debug)]
pub struct BoundedQueue<T> {
    items: VecDeque<T>,
    capacity: usize,
    dropped: u64,
}

impl<T> BoundedQueue<T> {
    /// A queue holding at most `capacity` items.
    pub fn new(capacity: usize) -> Self {
        Self {
            items: VecDeque::with_capacity(capacity.min(4096)),
            capacity,
            dropped: 0,
        }
    }

    /// Appends, or counts a drop when full. Returns false when dropped.
    pub fn push(&mut self, item: T) -> bool {
        if self.items.len() >= self.capacity {
            self.dropped += 1;
            false
        } else {
            self.items.push_back(item);
            true
        }
    }

    /// Removes up to `max` items, oldest first.
    pub fn drain(&mut self, max: usize) -> Vec<T> {
        let n = max.min(self.items.len());
        self.items.drain(..n).collect()
    }

    /// Items waiting.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Items dropped because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// The capacity.
    pub fn capacity(&self) -> usize {
        self.capacity
    }
}

/// Counters plus the event and delta queues.
#[derive(Clone, Debug)]
pub struct Telemetry {
    /// Counters.
    pub counters: Counters,
    /// Events for the embedder.
    pub events: BoundedQueue<Event>,
    /// Session deltas for HA.
    pub deltas: BoundedQueue<SessionDelta>,
    /// Next delta sequence number.
    pub delta_seq: u64,
}

impl Telemetry {
    /// Empty telemetry with the given queue capacities.
    pub fn new(event_capacity: usize, delta_capacity: usize) -> Self {
        Self {
            counters: Counters::default(),
            events: BoundedQueue::new(event_capacity),
            deltas: BoundedQueue::new(delta_capacity),
            delta_seq: 0,
        }
    }

    /// Queues an event, counting an overflow in `events-dropped`.
    pub fn event(&mut self, e: Event) {
        if !self.events.push(e) {
            self.counters.add(BaseCounter::EventsDropped, 1);
        }
    }

    /// Queues the delta whose entry `entry` builds, counting an overflow in
    /// `deltas-dropped`; the entry is built only when the queue has room.
    /// The sequence number advances either way, as with [`delta`](Self::delta).
    #[inline]
    pub fn delta_with(
        &mut self,
        reason: xpf_runtime::SessionDeltaReason,
        entry: impl FnOnce() -> xpf_runtime::SessionEntry,
    ) {
        if self.deltas.len() >= self.deltas.capacity() {
            self.delta_seq += 1;
            self.deltas.dropped += 1;
            self.counters.add(BaseCounter::DeltasDropped, 1);
        } else {
            self.delta(reason, entry());
        }
    }

    /// Queues a delta, counting an overflow in `deltas-dropped`.
    pub fn delta(
        &mut self,
        reason: xpf_runtime::SessionDeltaReason,
        entry: xpf_runtime::SessionEntry,
    ) {
        self.delta_seq += 1;
        let d = SessionDelta {
            seq: self.delta_seq,
            reason,
            entry,
        };
        if !self.deltas.push(d) {
            self.counters.add(BaseCounter::DeltasDropped, 1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_queue_counts_drops_instead_of_growing() {
        let mut q = BoundedQueue::new(2);
        assert!(q.push(1));
        assert!(q.push(2));
        assert!(!q.push(3));
        assert_eq!((q.len(), q.dropped()), (2, 1));
        assert_eq!(q.drain(10), vec![1, 2]);
        assert!(q.push(4));
    }

    #[test]
    fn drops_count_their_reason_and_the_total() {
        let mut c = Counters::default();
        c.drop(DropReason::DefaultDeny);
        c.drop(DropReason::DefaultDeny);
        c.drop(DropReason::NoRoute);
        assert_eq!(c.get(DropReason::DefaultDeny), 2);
        assert_eq!(c.get(BaseCounter::Dropped), 3);
    }
}
