//! Worker threads (threaded mode).
//!
//! Worker `w` owns shard `w` (when the config runs that many shards) and
//! receive queue `q` of every attached port with `q % workers == w`, so the
//! frames of one queue are read by one thread and keep their order. A frame
//! read by a worker that does not own its shard is appended to the owner's
//! hand-off queue (FIFO, so a flow's order is kept across the hop). Each
//! iteration: receive a burst from every owned queue, steer it, process
//! the own shard's frames plus whatever was handed off, transmit, and run
//! the periodic housekeeping (expiry every 100 ms, watchdog).

use crate::dataplane::{IDLE_SLEEP, Inner, OutFrame, Suppress, lock};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

const EXPIRE_EVERY_NS: u64 = 100_000_000;

/// The loop of worker `w`, until the backend is closed.
pub(crate) fn run(inner: &Arc<Inner>, w: usize) {
    let workers = inner.opts.workers.max(1);
    let burst = inner.opts.burst.max(1);
    let mut rx = Vec::with_capacity(burst);
    let mut out: Vec<OutFrame> = Vec::new();
    let mut last_expire = 0u64;
    while !inner.stopping() {
        let (Some(installed), Some(set)) = (inner.installed(), inner.shard_set()) else {
            std::thread::sleep(IDLE_SLEEP);
            continue;
        };
        let now = inner.clock.now();
        let shards = set.slots.len();
        let mut work = 0usize;
        let mut mine = Vec::new();
        let links = inner.links.snapshot();
        for (name, port, up) in links.ports() {
            for q in (0..port.rx_queues()).filter(|q| q % workers == w) {
                rx.clear();
                if port.rx_burst(q, &mut rx, burst).unwrap_or(0) == 0 {
                    continue;
                }
                work += rx.len();
                if !up {
                    inner
                        .stats
                        .rx_link_down
                        .fetch_add(rx.len() as u64, Ordering::Relaxed);
                    continue;
                }
                let Some(ingress) = installed.ids.get(name).copied() else {
                    inner
                        .stats
                        .rx_unknown_interface
                        .fetch_add(rx.len() as u64, Ordering::Relaxed);
                    continue;
                };
                for frame in rx.drain(..) {
                    let s = set.steering.shard_of_frame(&frame, now);
                    if w < shards && s == w {
                        mine.push((ingress, frame));
                    } else {
                        inner.stats.handoffs.fetch_add(1, Ordering::Relaxed);
                        lock(&set.slots[s].handoff).push((ingress, frame));
                    }
                }
            }
        }
        if w < shards {
            let handed: Vec<_> = std::mem::take(&mut *lock(&set.slots[w].handoff));
            // Frames handed off earlier were received earlier: keep order.
            let mut batch = handed;
            batch.append(&mut mine);
            if !batch.is_empty() {
                work += batch.len();
                inner.process_batch(&set, w, &installed, now, batch, &mut out);
            }
            if now.saturating_sub(last_expire) >= EXPIRE_EVERY_NS {
                last_expire = now;
                let mut shard = lock(&set.slots[w].shard);
                let t = shard.now(now);
                shard.engine.expire(t, 65_536);
                let _ = inner.drain_shard(&set.steering, &mut shard, Suppress::Nothing);
                drop(shard);
                if w == 0 {
                    crate::sessions::expire_orphans(inner, now);
                    inner.housekeeping(now);
                }
            }
        }
        if !out.is_empty() {
            let mut by_port: BTreeMap<String, Vec<Vec<u8>>> = BTreeMap::new();
            for f in out.drain(..) {
                by_port.entry(f.name).or_default().push(f.frame);
            }
            for (name, mut frames) in by_port {
                match links.port(&name) {
                    Some(port) => {
                        let n = frames.len();
                        let sent = port.tx_burst(&mut frames).unwrap_or(0);
                        inner
                            .stats
                            .tx_discarded
                            .fetch_add((n - sent) as u64, Ordering::Relaxed);
                    }
                    None => {
                        inner
                            .stats
                            .tx_discarded
                            .fetch_add(frames.len() as u64, Ordering::Relaxed);
                    }
                }
            }
        }
        if work == 0 {
            std::thread::sleep(IDLE_SLEEP);
        }
    }
}
