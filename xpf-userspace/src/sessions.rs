//! [`UserspaceSessions`]: the [`SessionStore`](xpf_dataplane::SessionStore)
//! over the shards' engine tables, and [`UserspaceDeltas`], the
//! [`SessionDeltaSource`].
//!
//! `UserspaceSessions` implements the [`SessionTable`] primitives and gets
//! every `SessionStore` operation — companion deletes, known-value deletes,
//! reconcile, cluster-synced puts — from the generic functions of
//! [`xpf_dataplane::session_store`], so their semantics cannot drift from
//! other backends'.
//!
//! The engine stores a session as one record reachable by two keys; the
//! generic operations work entry by entry. The mapping:
//!
//! - `lookup` finds the session in the shard that holds it (steering table
//!   first, then every shard) and returns the forward or reverse entry.
//! - Removing one entry of a live session (`remove`, `remove_if_session`)
//!   closes the session in its engine — which releases its NAT allocation
//!   and stops it matching packets — and keeps the *other* entry as an
//!   **orphan** in a side table, exactly as an entry-level table would
//!   still hold it. Orphans are visible to walks and lookups, are removed
//!   by the next known-value delete of them, and are expired by the GC
//!   (idle timeout, reason `idle-timeout`).
//! - **NAT companions**: the engine keeps a session's NAT state (its source
//!   mapping) inside the session record, reserved when the session is
//!   created or installed and released when it closes. There are no
//!   separate companion entries, so the companion primitives report 0, as
//!   the reference model does for its pair records.
//! - Inserting a forward entry installs the whole session into an engine
//!   (`Engine::install_synced`, which reserves the source NAT mapping); the
//!   reverse entry that follows is then already present. A reverse entry
//!   without its forward session is stored as an orphan.
//! - Session-close events and close deltas of store operations come from
//!   `on_closed`, with the caller's reason: the engine's own close event is
//!   held back and published then (so logging follows the rule's
//!   `session-close`, as for every other close), and the close delta is
//!   recorded with that reason. A bare `delete` (table repair) emits
//!   neither.

use crate::dataplane::{Inner, ShardSet, Suppress, lock};
use std::collections::BTreeMap;
use std::ops::ControlFlow;
use std::sync::{Arc, Mutex};
use xpf_dataplane::session_store::{SessionTable, close_event, delete_known};
use xpf_dataplane::{DataplaneError, Result};
use xpf_engine::session::Direction;
use xpf_runtime::{
    AnySessionKey, CloseReason, Event, RedundancyGroupId, SessionCloseEvent, SessionDelta,
    SessionDeltaError, SessionDeltaReason, SessionDeltaSnapshot, SessionDeltaSource, SessionEntry,
    SessionFlags, SessionId, SweepProfile,
};

/// Entries whose session left the engines, and NAT records not yet taken.
#[derive(Debug, Default)]
pub(crate) struct Orphans {
    entries: Mutex<BTreeMap<AnySessionKey, SessionEntry>>,
    /// Close events the engine logged for sessions a store operation
    /// removed, published by `on_closed` with the caller's reason.
    closes: Mutex<BTreeMap<SessionId, SessionCloseEvent>>,
}

impl Orphans {
    pub fn len(&self) -> usize {
        lock(&self.entries).len()
    }
}

/// The backend's session table.
pub struct UserspaceSessions {
    pub(crate) inner: Arc<Inner>,
}

fn not_running() -> DataplaneError {
    DataplaneError::NotRunning("no config applied yet: the backend has no session table".into())
}

impl UserspaceSessions {
    fn set(&self) -> Option<Arc<ShardSet>> {
        self.inner.shard_set()
    }

    /// The shard holding the session of `key`, and the entry under `key`.
    fn find(&self, set: &ShardSet, key: &AnySessionKey) -> Option<(usize, SessionEntry)> {
        let first = set.steering.shard_of_key(key);
        let order = std::iter::once(first).chain((0..set.slots.len()).filter(|s| *s != first));
        for s in order {
            let shard = lock(&set.slots[s].shard);
            let table = shard.engine.sessions();
            if let Some((h, dir)) = table.lookup(key) {
                let (fwd, rev) = table.to_entries(h);
                return Some((
                    s,
                    match dir {
                        Direction::Forward => fwd,
                        Direction::Reverse => rev,
                    },
                ));
            }
        }
        None
    }

    /// Closes the engine session holding `key` (if it belongs to `expect`),
    /// keeps its other entry as an orphan and its NAT record, and returns
    /// the entry that was under `key`.
    fn remove_live(
        &self,
        key: &AnySessionKey,
        expect: Option<SessionId>,
    ) -> Result<Option<SessionEntry>> {
        let Some(set) = self.set() else {
            return Ok(None);
        };
        let Some((s, _)) = self.find(&set, key) else {
            return Ok(None);
        };
        let inner = &self.inner;
        let mut shard = lock(&set.slots[s].shard);
        let table = shard.engine.sessions();
        let Some((h, dir)) = table.lookup(key) else {
            return Ok(None);
        };
        let (fwd, rev) = table.to_entries(h);
        if expect.is_some_and(|id| id != fwd.session_id()) {
            return Ok(None);
        }
        let now = shard.now(inner.clock.now());
        shard.engine.close_session(key, CloseReason::Admin, now);
        let held = inner.drain_shard(&set.steering, &mut shard, Suppress::Close(fwd.session_id()));
        drop(shard);
        for e in held {
            if let Event::SessionClose(c) = e {
                lock(&inner.orphans.closes).insert(c.open.session_id, c);
            }
        }
        let (removed, other) = match dir {
            Direction::Forward => (fwd, rev),
            Direction::Reverse => (rev, fwd),
        };
        lock(&inner.orphans.entries).insert(other.key(), other);
        Ok(Some(removed))
    }

    fn remove_orphan(
        &self,
        key: &AnySessionKey,
        expect: Option<SessionId>,
    ) -> Option<SessionEntry> {
        let mut orphans = lock(&self.inner.orphans.entries);
        match orphans.get(key) {
            Some(e) if expect.is_none_or(|id| e.session_id() == id) => orphans.remove(key),
            _ => None,
        }
    }

    /// The shard a synced session is installed in: the shard already
    /// holding its forward key, else the owner of its NAT port slice, else
    /// its hash.
    fn shard_for_install(&self, set: &ShardSet, forward: &SessionEntry) -> usize {
        if let Some((s, _)) = self.find(set, &forward.key()) {
            return s;
        }
        if forward.flags().contains(SessionFlags::SNAT)
            && let Some(installed) = self.inner.installed()
        {
            let (pool, port) = match forward {
                SessionEntry::V4 { value, .. } => (value.nat_pool, value.nat.src_port),
                SessionEntry::V6 { value, .. } => (value.nat_pool, value.nat.src_port),
            };
            if let Some(p) = installed
                .compiled
                .nat
                .source_pools
                .iter()
                .find(|p| p.id == pool)
            {
                return installed.plan.shard_of_pool_port(p, port);
            }
        }
        set.steering.hashed_shard(&forward.key())
    }

    fn install(&self, forward: &SessionEntry) -> Result<()> {
        let set = self.set().ok_or_else(not_running)?;
        let inner = &self.inner;
        {
            let mut orphans = lock(&inner.orphans.entries);
            orphans.remove(&forward.key());
            orphans.remove(&forward.companion_key());
        }
        let s = self.shard_for_install(&set, forward);
        // The peer's entry wins over a local session holding its forward
        // key (the engine replaces it); its reply key may be held only by
        // that same session or by the synced session itself.
        let previous = self
            .find(&set, &forward.key())
            .filter(|(shard, _)| *shard == s)
            .map(|(_, e)| e);
        let replaced = previous.map(|e| e.session_id());
        if let Some((other, holder)) = self.find(&set, &forward.companion_key())
            && (other != s
                || (holder.session_id() != forward.session_id()
                    && Some(holder.session_id()) != replaced))
        {
            return Err(DataplaneError::InvalidArgument(format!(
                "the reply key {} of session {} belongs to session {}",
                forward.companion_key(),
                forward.session_id(),
                holder.session_id()
            )));
        }
        let mut shard = lock(&set.slots[s].shard);
        let now = shard.now(inner.clock.now());
        let result = shard.engine.install_synced(forward, now);
        let _ = inner.drain_shard(&set.steering, &mut shard, Suppress::Nothing);
        drop(shard);
        match result {
            Ok(done) => {
                // A re-keyed session closes nothing (no close delta to
                // unregister it): forget its old reply key's steering here.
                if done.rekeyed
                    && let Some(old) = previous
                {
                    set.steering.unregister(&old, s);
                }
                set.steering.register(forward, s);
                Ok(())
            }
            Err(e) => Err(DataplaneError::InvalidArgument(format!(
                "cannot install session {} ({}): {e}",
                forward.session_id(),
                forward.key()
            ))),
        }
    }
}

impl SessionTable for UserspaceSessions {
    fn for_each_entry(&self, f: &mut dyn FnMut(&SessionEntry) -> ControlFlow<()>) -> Result<()> {
        let mut all = Vec::new();
        if let Some(set) = self.set() {
            for slot in &set.slots {
                let shard = lock(&slot.shard);
                let table = shard.engine.sessions();
                for (h, _) in table.iter() {
                    let (fwd, rev) = table.to_entries(h);
                    all.push(fwd);
                    all.push(rev);
                }
            }
        }
        all.extend(lock(&self.inner.orphans.entries).values().copied());
        for e in &all {
            if f(e).is_break() {
                break;
            }
        }
        Ok(())
    }

    fn lookup(&self, key: &AnySessionKey) -> Result<Option<SessionEntry>> {
        if let Some(set) = self.set()
            && let Some((_, e)) = self.find(&set, key)
        {
            return Ok(Some(e));
        }
        Ok(lock(&self.inner.orphans.entries).get(key).copied())
    }

    fn install_synced(&self, forward: &SessionEntry) -> Option<Result<()>> {
        // The engine replaces a local session holding the key (closing it
        // with its events) or refuses with nothing changed, in one step.
        Some(self.install(forward))
    }

    fn insert(&self, entry: SessionEntry) -> Result<()> {
        if !entry.is_reverse() {
            return self.install(&entry);
        }
        if let Some(set) = self.set()
            && let Some((_, present)) = self.find(&set, &entry.key())
        {
            if present.session_id() == entry.session_id() && present.is_reverse() {
                // Installed together with its forward entry.
                return Ok(());
            }
            return Err(DataplaneError::InvalidArgument(format!(
                "key {} belongs to live session {}",
                entry.key(),
                present.session_id()
            )));
        }
        lock(&self.inner.orphans.entries).insert(entry.key(), entry);
        Ok(())
    }

    fn remove(&self, key: &AnySessionKey) -> Result<Option<SessionEntry>> {
        if let Some(e) = self.remove_orphan(key, None) {
            return Ok(Some(e));
        }
        self.remove_live(key, None)
    }

    fn remove_if_session(
        &self,
        key: &AnySessionKey,
        session: SessionId,
    ) -> Result<Option<SessionEntry>> {
        if lock(&self.inner.orphans.entries).contains_key(key) {
            return Ok(self.remove_orphan(key, Some(session)));
        }
        self.remove_live(key, Some(session))
    }

    fn install_nat_companions(&self, forward: &SessionEntry) -> Result<usize> {
        // The engine reserved the mapping inside the session record when the
        // session was installed: there are no separate companion entries.
        let _ = forward;
        Ok(0)
    }

    fn remove_nat_companions(&self, forward: &SessionEntry) -> Result<usize> {
        // Released with the session record (see the module docs).
        let _ = forward;
        Ok(0)
    }

    fn on_closed(&self, forward: &SessionEntry, reason: CloseReason) {
        let held = lock(&self.inner.orphans.closes).remove(&forward.session_id());
        let event = match held {
            // The engine's own record of the close (it logs per the rule).
            Some(mut c) => {
                c.reason = reason;
                Some(c)
            }
            // An orphaned forward entry: log as the engine would.
            None if forward.flags().contains(SessionFlags::LOG_CLOSE) => {
                let mut c = close_event(forward, reason, self.inner.clock.now());
                if c.open.flow.protocol.is_icmp() {
                    c.open.flow.icmp_type = Some(0);
                }
                Some(c)
            }
            None => None,
        };
        if let Some(c) = event {
            self.inner.events.publish([Event::SessionClose(c)]);
        }
        self.inner
            .deltas
            .record(SessionDeltaReason::Close(reason), *forward);
    }

    fn len(&self) -> Result<usize> {
        let mut n = lock(&self.inner.orphans.entries).len();
        if let Some(set) = self.set() {
            for slot in &set.slots {
                n += 2 * lock(&slot.shard).engine.sessions().len();
            }
        }
        Ok(n)
    }

    fn clear_all(&self) -> Result<usize> {
        let inner = &self.inner;
        let mut removed = 0;
        if let Some(set) = self.set() {
            for slot in &set.slots {
                let mut shard = lock(&slot.shard);
                let keys: Vec<AnySessionKey> = {
                    let t = shard.engine.sessions();
                    t.iter().map(|(h, _)| t.keys(h).forward).collect()
                };
                let now = shard.now(inner.clock.now());
                for k in &keys {
                    if shard.engine.close_session(k, CloseReason::Admin, now) {
                        removed += 2;
                    }
                }
                let _ = inner.drain_shard(&set.steering, &mut shard, Suppress::AllCloses);
            }
            set.steering.clear();
        }
        removed += std::mem::take(&mut *lock(&inner.orphans.entries)).len();
        inner.deltas.new_epoch();
        Ok(removed)
    }
}

/// Expires orphaned entries idle past their timeout through the known-value
/// delete path; returns how many were removed.
pub(crate) fn expire_orphans(inner: &Arc<Inner>, now_ns: u64) -> usize {
    let due: Vec<SessionEntry> = lock(&inner.orphans.entries)
        .values()
        .filter(|e| {
            let (last, timeout) = match e {
                SessionEntry::V4 { value, .. } => (value.last_seen_ns, value.timeout_secs),
                SessionEntry::V6 { value, .. } => (value.last_seen_ns, value.timeout_secs),
            };
            last.saturating_add(u64::from(timeout) * 1_000_000_000) <= now_ns
        })
        .copied()
        .collect();
    let table = UserspaceSessions {
        inner: Arc::clone(inner),
    };
    due.iter()
        .filter(|e| delete_known(&table, e, CloseReason::IdleTimeout).unwrap_or(false))
        .count()
}

/// The backend's [`SessionDeltaSource`].
pub struct UserspaceDeltas {
    pub(crate) inner: Arc<Inner>,
}

impl SessionDeltaSource for UserspaceDeltas {
    fn drain(&self, max: usize) -> std::result::Result<SessionDeltaSnapshot, SessionDeltaError> {
        if self
            .inner
            .torn_down
            .load(std::sync::atomic::Ordering::Acquire)
        {
            return Err(SessionDeltaError::NotRunning);
        }
        Ok(self.inner.deltas.drain(max))
    }

    fn export_owner_rg(
        &self,
        groups: &[RedundancyGroupId],
        after: Option<AnySessionKey>,
        max: usize,
    ) -> std::result::Result<SessionDeltaSnapshot, SessionDeltaError> {
        let mut forward = Vec::new();
        if let Some(set) = self.inner.shard_set() {
            for slot in &set.slots {
                let shard = lock(&slot.shard);
                let t = shard.engine.sessions();
                for (h, s) in t.iter() {
                    if groups.contains(&s.owner_rg()) {
                        forward.push(t.forward_entry(h));
                    }
                }
            }
        }
        forward.sort_by_key(SessionEntry::key);
        let start = after.map_or(0, |a| forward.partition_point(|e| e.key() <= a));
        let rest = &forward[start..];
        let take = rest.len().min(max);
        let truncated = rest.len() > take;
        Ok(SessionDeltaSnapshot {
            epoch: self.inner.deltas.epoch(),
            deltas: rest[..take]
                .iter()
                .map(|e| SessionDelta {
                    seq: 0,
                    reason: SessionDeltaReason::Bulk,
                    entry: *e,
                })
                .collect(),
            truncated,
            resume_after: match (truncated, take) {
                (false, _) => None,
                (true, 0) => after,
                (true, n) => Some(rest[n - 1].key()),
            },
            lost: 0,
        })
    }

    fn sweep_profile(&self) -> SweepProfile {
        let mut p = *lock(&self.inner.sweeps);
        p.pending_deltas = self.inner.deltas.occupancy().0 as u64;
        p
    }
}
