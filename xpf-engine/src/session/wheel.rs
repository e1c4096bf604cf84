//! The expiry timer wheel: a hashed wheel of 4096 one-second buckets.
//!
//! Time is cut into ticks of [`TICK_NS`] (1 s); a session is scheduled in
//! the bucket of the tick its deadline (`last_seen + timeout`) falls in,
//! modulo [`WHEEL_SLOTS`] (4096 ticks, 68 minutes per revolution). Buckets
//! are intrusive doubly-linked lists threaded through the sessions, so
//! scheduling, rescheduling and removal are O(1) and allocation-free.
//!
//! **Laziness.** Refreshing a session's `last_seen` on a packet does not
//! touch the wheel: it only moves the real deadline *later* than the
//! scheduled one. When the wheel reaches a session's bucket it re-checks
//! the real deadline and either expires the session or moves it to the
//! bucket of its new deadline; a deadline more than one revolution ahead
//! simply stays in its bucket for another lap. Only a change that moves a
//! deadline *earlier* (a TCP state change to a shorter timeout) reschedules
//! at once. The invariant is: **a live session is never scheduled later
//! than its real deadline**, so nothing expires late by more than the
//! caller's own `expire` cadence, and a re-check before every expiry means
//! nothing expires early.
//!
//! **Cursor.** All ticks before the cursor have been fully processed. The
//! bucket of the current tick may hold sessions due later in the same
//! second; it is rescanned by `expire` calls within that second once the
//! earliest of them is due (the wheel remembers that time, `rescan_at`, and
//! lowers it when something is scheduled into the cursor's bucket), which
//! makes expiry exact to the nanosecond rather than to the tick without
//! rescanning the bucket on every call. After a gap of a revolution or
//! more, each bucket is scanned once.

use super::slab::{Links, List};
use std::ops::RangeInclusive;

/// Wheel resolution: one tick is one second.
pub const TICK_NS: u64 = 1_000_000_000;
/// Buckets in the wheel (a power of two): 4096 s per revolution.
pub const WHEEL_SLOTS: usize = 4096;

/// The wheel's buckets and cursor.
#[derive(Clone, Debug)]
pub(crate) struct Wheel {
    buckets: Box<[List]>,
    /// Every tick before this one has been processed completely.
    cursor: u64,
    /// Nothing in the cursor's bucket is due before this time (0: unknown,
    /// scan it).
    rescan_at: u64,
}

impl Default for Wheel {
    fn default() -> Self {
        Self {
            buckets: vec![List::EMPTY; WHEEL_SLOTS].into_boxed_slice(),
            cursor: 0,
            rescan_at: 0,
        }
    }
}

/// The tick a time falls in.
#[inline(always)]
pub(crate) fn tick_of(ns: u64) -> u64 {
    ns / TICK_NS
}

/// The bucket of a tick.
#[inline(always)]
fn bucket_of(tick: u64) -> u16 {
    (tick % WHEEL_SLOTS as u64) as u16
}

impl Wheel {
    /// Schedules `node` for `deadline_ns` and returns its bucket, which the
    /// caller stores in the node for [`unschedule`](Self::unschedule). A
    /// deadline before the cursor goes into the cursor's bucket, which the
    /// next `expire` scans.
    pub(crate) fn schedule(&mut self, links: &mut impl Links, node: u32, deadline_ns: u64) -> u16 {
        let bucket = self.target(deadline_ns);
        self.buckets[usize::from(bucket)].push_back(links, node);
        bucket
    }

    /// The bucket for `deadline_ns`, noting a deadline in the cursor's tick.
    fn target(&mut self, deadline_ns: u64) -> u16 {
        let tick = tick_of(deadline_ns).max(self.cursor);
        if tick == self.cursor {
            self.rescan_at = self.rescan_at.min(deadline_ns);
        }
        bucket_of(tick)
    }

    /// Removes `node` from `bucket`.
    pub(crate) fn unschedule(&mut self, links: &mut impl Links, node: u32, bucket: u16) {
        self.buckets[usize::from(bucket)].unlink(links, node);
    }

    /// Moves `node` from `bucket` to the bucket of `deadline_ns` and
    /// returns the new bucket.
    pub(crate) fn reschedule(
        &mut self,
        links: &mut impl Links,
        node: u32,
        bucket: u16,
        deadline_ns: u64,
    ) -> u16 {
        let target = self.target(deadline_ns);
        if target != bucket {
            self.unschedule(links, node, bucket);
            self.buckets[usize::from(target)].push_back(links, node);
        }
        target
    }

    /// The ticks an `expire` at `now_ns` must process, oldest first: from
    /// the cursor to the current tick, but at most one revolution (each
    /// bucket once). `None` when time has not reached the cursor.
    pub(crate) fn due_ticks(&self, now_ns: u64) -> Option<RangeInclusive<u64>> {
        let now = tick_of(now_ns);
        if now < self.cursor {
            return None;
        }
        let first = self.cursor.max(now.saturating_sub(WHEEL_SLOTS as u64 - 1));
        Some(first..=now)
    }

    /// The first node of `tick`'s bucket (`NIL` when empty).
    pub(crate) fn head(&self, tick: u64) -> u32 {
        self.buckets[usize::from(bucket_of(tick))].head()
    }

    /// The bucket index of `tick`.
    pub(crate) fn bucket(tick: u64) -> u16 {
        bucket_of(tick)
    }

    /// Records that every tick before `tick` is processed (also valid for
    /// any `tick` while nothing is scheduled).
    pub(crate) fn advance_to(&mut self, tick: u64) {
        if tick > self.cursor {
            self.cursor = tick;
            self.rescan_at = 0;
        }
    }

    /// The cursor: every earlier tick is processed.
    pub(crate) fn cursor(&self) -> u64 {
        self.cursor
    }

    /// True when the cursor's bucket need not be scanned at `now_ns`:
    /// nothing in it is due yet.
    pub(crate) fn cursor_idle(&self, now_ns: u64) -> bool {
        now_ns < self.rescan_at
    }

    /// Records, after a complete scan of the cursor's bucket, the earliest
    /// deadline in the cursor's tick left in it (`u64::MAX` for none); 0
    /// forces the next call to scan.
    pub(crate) fn set_rescan_at(&mut self, deadline_ns: u64) {
        self.rescan_at = deadline_ns;
    }

    /// Drops every schedule (the nodes are being discarded too).
    pub(crate) fn clear(&mut self) {
        self.buckets.fill(List::EMPTY);
    }
}
