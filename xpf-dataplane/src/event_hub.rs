//! The event hub (every subscriber gets its own bounded queue, woken when
//! events arrive) and the session-delta log HA sync drains, shared by the
//! backends.
//!
//! A backend publishes here from outside its packet path (the userspace
//! shards after every burst, the eBPF service thread or the embedder's
//! `poll` from the ring buffer), so nothing on the packet path waits for a
//! subscriber: a full subscriber queue drops the event and counts it for
//! that subscriber only.

use crate::traits::EventStream;
use async_trait::async_trait;
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::task::{Context, Poll, Waker};
use xpf_runtime::{Event, SessionDelta, SessionDeltaReason, SessionDeltaSnapshot, SessionEntry};

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

#[derive(Debug, Default)]
struct Queue {
    events: VecDeque<Event>,
    dropped: u64,
    closed: bool,
    waker: Option<Waker>,
}

#[derive(Debug)]
struct Subscriber {
    capacity: usize,
    queue: Mutex<Queue>,
}

/// Fans events out to subscriptions.
#[derive(Debug)]
pub struct EventHub {
    capacity: usize,
    subscribers: Mutex<Vec<Weak<Subscriber>>>,
    published: Mutex<u64>,
}

impl EventHub {
    /// A hub whose subscriptions hold at most `capacity` events each.
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            subscribers: Mutex::new(Vec::new()),
            published: Mutex::new(0),
        }
    }

    /// A new subscription receiving events published from now on.
    pub fn subscribe(&self) -> Subscription {
        let sub = Arc::new(Subscriber {
            capacity: self.capacity,
            queue: Mutex::new(Queue::default()),
        });
        lock(&self.subscribers).push(Arc::downgrade(&sub));
        Subscription { sub }
    }

    /// Publishes events to every live subscription.
    pub fn publish(&self, events: impl IntoIterator<Item = Event>) {
        let events: Vec<Event> = events.into_iter().collect();
        if events.is_empty() {
            return;
        }
        *lock(&self.published) += events.len() as u64;
        let mut subs = lock(&self.subscribers);
        subs.retain(|w| w.strong_count() > 0);
        for sub in subs.iter().filter_map(Weak::upgrade) {
            let waker = {
                let mut q = lock(&sub.queue);
                for e in &events {
                    if q.events.len() >= sub.capacity {
                        q.dropped += 1;
                    } else {
                        q.events.push_back(*e);
                    }
                }
                q.waker.take()
            };
            if let Some(w) = waker {
                w.wake();
            }
        }
    }

    /// Ends every subscription: `next` returns `None` once each has been
    /// drained (teardown).
    pub fn close(&self) {
        for sub in lock(&self.subscribers).iter().filter_map(Weak::upgrade) {
            let waker = {
                let mut q = lock(&sub.queue);
                q.closed = true;
                q.waker.take()
            };
            if let Some(w) = waker {
                w.wake();
            }
        }
    }

    /// Events published since the hub was created.
    pub fn published(&self) -> u64 {
        *lock(&self.published)
    }

    /// Live subscriptions and the events queued for them (summed).
    pub fn occupancy(&self) -> (usize, u64) {
        let subs = lock(&self.subscribers);
        let live: Vec<_> = subs.iter().filter_map(Weak::upgrade).collect();
        let queued = live
            .iter()
            .map(|s| lock(&s.queue).events.len() as u64)
            .sum();
        (live.len(), queued)
    }

    /// The per-subscription capacity.
    pub fn capacity(&self) -> usize {
        self.capacity
    }
}

/// One subscription to the backend's events.
#[derive(Debug)]
pub struct Subscription {
    sub: Arc<Subscriber>,
}

struct Next<'a> {
    sub: &'a Subscriber,
}

impl Future for Next<'_> {
    type Output = Option<Event>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut q = lock(&self.sub.queue);
        if let Some(e) = q.events.pop_front() {
            return Poll::Ready(Some(e));
        }
        if q.closed {
            return Poll::Ready(None);
        }
        q.waker = Some(cx.waker().clone());
        Poll::Pending
    }
}

#[async_trait]
impl EventStream for Subscription {
    async fn next(&mut self) -> Option<Event> {
        Next { sub: &self.sub }.await
    }

    fn try_next(&mut self) -> Option<Event> {
        lock(&self.sub.queue).events.pop_front()
    }

    fn dropped(&self) -> u64 {
        lock(&self.sub.queue).dropped
    }
}

/// The bounded log of session deltas HA sync drains.
#[derive(Debug)]
pub struct DeltaLog {
    inner: Mutex<DeltaState>,
}

#[derive(Debug)]
struct DeltaState {
    queue: VecDeque<SessionDelta>,
    capacity: usize,
    seq: u64,
    epoch: u64,
    lost: u64,
}

impl DeltaLog {
    /// A log of at most `capacity` pending deltas, starting at `epoch`.
    pub fn new(capacity: usize, epoch: u64) -> Self {
        Self {
            inner: Mutex::new(DeltaState {
                queue: VecDeque::new(),
                capacity: capacity.max(1),
                seq: 0,
                epoch,
                lost: 0,
            }),
        }
    }

    /// Records a delta (re-sequenced in the backend's single sequence).
    pub fn record(&self, reason: SessionDeltaReason, entry: SessionEntry) {
        let mut s = lock(&self.inner);
        s.seq += 1;
        if s.queue.len() >= s.capacity {
            s.lost += 1;
            return;
        }
        let seq = s.seq;
        s.queue.push_back(SessionDelta { seq, reason, entry });
    }

    /// Counts deltas lost before they reached the log (an engine queue
    /// overflowed).
    pub fn lose(&self, n: u64) {
        if n > 0 {
            lock(&self.inner).lost += n;
        }
    }

    /// Starts a new epoch: history is gone (table reset), consumers must
    /// fall back to a bulk export.
    pub fn new_epoch(&self) {
        let mut s = lock(&self.inner);
        s.epoch += 1;
        s.queue.clear();
        s.lost = 0;
    }

    /// Removes up to `max` deltas, oldest first. A snapshot reporting
    /// `lost > 0` also moves the log to a new epoch.
    pub fn drain(&self, max: usize) -> SessionDeltaSnapshot {
        let mut s = lock(&self.inner);
        let n = max.min(s.queue.len());
        let deltas: Vec<SessionDelta> = s.queue.drain(..n).collect();
        let lost = std::mem::take(&mut s.lost);
        let snap = SessionDeltaSnapshot {
            epoch: s.epoch,
            deltas,
            truncated: !s.queue.is_empty(),
            resume_after: None,
            lost,
        };
        if lost > 0 {
            s.epoch += 1;
        }
        snap
    }

    /// The current epoch.
    pub fn epoch(&self) -> u64 {
        lock(&self.inner).epoch
    }

    /// Deltas waiting and the capacity.
    pub fn occupancy(&self) -> (usize, usize) {
        let s = lock(&self.inner);
        (s.queue.len(), s.capacity)
    }
}
