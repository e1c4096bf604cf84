//! [`MemorySessionStore`]: a thread-safe in-memory session table with NAT
//! companion state and an optional bounded close-event buffer.
//!
//! It implements [`SessionTable`], and therefore
//! [`SessionStore`](crate::traits::SessionStore) with the shared semantics.
//! Backends without a kernel- or device-resident table can use it directly,
//! and the cluster sync and conformance tests use it as a reference store.

use super::derive::{close_event, last_seen_ns};
use super::nat::NatCompanion;
use super::ops::install_session;
use super::table::SessionTable;
use crate::error::{DataplaneError, Result};
use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::ops::ControlFlow;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use xpf_runtime::{AnySessionKey, CloseReason, Event, SessionEntry, SessionId, TableStats};

/// A clock for close-event timestamps, ns on the dataplane's monotonic clock.
pub type Clock = Arc<dyn Fn() -> u64 + Send + Sync>;

/// An in-memory session table.
///
/// - Entries live in one ordered map, so walks visit keys in order.
/// - NAT companion state is kept per forward key, tagged with the session id,
///   and derived with [`NatCompanion::of_session`] when a session is
///   installed ([`insert_session`](Self::insert_session) or cluster sync).
/// - Close events are recorded into a bounded buffer if one was configured
///   ([`with_event_capacity`](Self::with_event_capacity)); when it is full,
///   new events are dropped and counted, as a BPF ring buffer does.
/// - With [`with_max_entries`](Self::with_max_entries), inserting a new key
///   into a full table fails, as a full BPF hash map does.
///
/// Each primitive holds the table lock for its duration; the
/// compare-and-delete [`SessionTable::remove_if_session`] is atomic.
#[derive(Default)]
pub struct MemorySessionStore {
    tables: RwLock<Tables>,
    events: Option<Mutex<EventBuffer>>,
    clock: Option<Clock>,
    max_entries: Option<usize>,
}

#[derive(Default)]
struct Tables {
    entries: BTreeMap<AnySessionKey, SessionEntry>,
    nat: BTreeMap<AnySessionKey, NatState>,
}

/// The NAT companions of one forward key, and the session that owns them.
struct NatState {
    session: SessionId,
    companions: Vec<NatCompanion>,
}

struct EventBuffer {
    queue: VecDeque<Event>,
    capacity: usize,
    dropped: u64,
}

impl MemorySessionStore {
    /// An empty, unbounded store that records no events.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records close events into a buffer of `capacity` events (see
    /// [`take_events`](Self::take_events)).
    pub fn with_event_capacity(mut self, capacity: usize) -> Self {
        self.events = Some(Mutex::new(EventBuffer {
            queue: VecDeque::with_capacity(capacity.min(4096)),
            capacity,
            dropped: 0,
        }));
        self
    }

    /// Timestamps close events with `clock`. Without a clock a close event is
    /// timed at the session's last packet (`last_seen_ns`), the latest time
    /// the store knows of.
    pub fn with_clock(mut self, clock: impl Fn() -> u64 + Send + Sync + 'static) -> Self {
        self.clock = Some(Arc::new(clock));
        self
    }

    /// Limits the table to `max_entries` entries (forward and reverse).
    pub fn with_max_entries(mut self, max_entries: usize) -> Self {
        self.max_entries = Some(max_entries);
        self
    }

    /// Installs a locally created session: the forward entry, its derived
    /// reverse entry and its NAT companions (see
    /// [`install_session`](super::install_session)).
    pub fn insert_session(&self, forward: SessionEntry) -> Result<()> {
        install_session(self, &forward)
    }

    /// A snapshot of every entry, in key order.
    pub fn entries(&self) -> Vec<SessionEntry> {
        self.read().entries.values().copied().collect()
    }

    /// The NAT companions held by the session whose forward key is `forward_key`.
    pub fn nat_companions_of(&self, forward_key: &AnySessionKey) -> Vec<NatCompanion> {
        self.read()
            .nat
            .get(forward_key)
            .map(|s| s.companions.clone())
            .unwrap_or_default()
    }

    /// Every NAT companion, with the forward key of the session holding it,
    /// in key order.
    pub fn all_nat_companions(&self) -> Vec<(AnySessionKey, NatCompanion)> {
        self.read()
            .nat
            .iter()
            .flat_map(|(k, s)| s.companions.iter().map(move |c| (*k, *c)))
            .collect()
    }

    /// Removes and returns the buffered events, oldest first (empty when no
    /// buffer was configured).
    pub fn take_events(&self) -> Vec<Event> {
        self.events
            .as_ref()
            .map(|b| lock(b).queue.drain(..).collect())
            .unwrap_or_default()
    }

    /// Events dropped because the buffer was full.
    pub fn events_dropped(&self) -> u64 {
        self.events.as_ref().map_or(0, |b| lock(b).dropped)
    }

    /// Occupancy against `max_entries` (capacity 0 when unbounded).
    pub fn table_stats(&self) -> TableStats {
        TableStats {
            occupancy: self.read().entries.len() as u64,
            capacity: self.max_entries.unwrap_or(0) as u64,
        }
    }

    fn read(&self) -> RwLockReadGuard<'_, Tables> {
        // The maps are never left half-updated (no user code runs under the
        // write lock), so a poisoned lock still guards consistent data.
        self.tables.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, Tables> {
        self.tables.write().unwrap_or_else(PoisonError::into_inner)
    }
}

fn lock(buffer: &Mutex<EventBuffer>) -> MutexGuard<'_, EventBuffer> {
    buffer.lock().unwrap_or_else(PoisonError::into_inner)
}

impl fmt::Debug for MemorySessionStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tables = self.read();
        f.debug_struct("MemorySessionStore")
            .field("entries", &tables.entries.len())
            .field("nat_sessions", &tables.nat.len())
            .field("max_entries", &self.max_entries)
            .field("records_events", &self.events.is_some())
            .field("has_clock", &self.clock.is_some())
            .finish()
    }
}

impl SessionTable for MemorySessionStore {
    fn for_each_entry(&self, f: &mut dyn FnMut(&SessionEntry) -> ControlFlow<()>) -> Result<()> {
        for entry in self.read().entries.values() {
            if f(entry).is_break() {
                break;
            }
        }
        Ok(())
    }

    fn lookup(&self, key: &AnySessionKey) -> Result<Option<SessionEntry>> {
        Ok(self.read().entries.get(key).copied())
    }

    fn insert(&self, entry: SessionEntry) -> Result<()> {
        let key = entry.key();
        let mut tables = self.write();
        if let Some(max) = self.max_entries
            && tables.entries.len() >= max
            && !tables.entries.contains_key(&key)
        {
            return Err(DataplaneError::Backend {
                backend: "memory",
                message: format!("session table full ({max} entries), cannot insert {key}"),
            });
        }
        tables.entries.insert(key, entry);
        Ok(())
    }

    fn remove(&self, key: &AnySessionKey) -> Result<Option<SessionEntry>> {
        Ok(self.write().entries.remove(key))
    }

    fn remove_if_session(
        &self,
        key: &AnySessionKey,
        session: SessionId,
    ) -> Result<Option<SessionEntry>> {
        let mut tables = self.write();
        match tables.entries.get(key) {
            Some(current) if current.session_id() == session => Ok(tables.entries.remove(key)),
            _ => Ok(None),
        }
    }

    fn install_nat_companions(&self, forward: &SessionEntry) -> Result<usize> {
        let companions = NatCompanion::of_session(forward);
        let installed = companions.len();
        let mut tables = self.write();
        if companions.is_empty() {
            tables.nat.remove(&forward.key());
        } else {
            tables.nat.insert(
                forward.key(),
                NatState {
                    session: forward.session_id(),
                    companions,
                },
            );
        }
        Ok(installed)
    }

    fn remove_nat_companions(&self, forward: &SessionEntry) -> Result<usize> {
        let mut tables = self.write();
        let key = forward.key();
        match tables.nat.get(&key) {
            Some(state) if state.session == forward.session_id() => {
                Ok(tables.nat.remove(&key).map_or(0, |s| s.companions.len()))
            }
            _ => Ok(0),
        }
    }

    fn on_closed(&self, forward: &SessionEntry, reason: CloseReason) {
        let Some(buffer) = &self.events else {
            return;
        };
        let time_ns = self
            .clock
            .as_ref()
            .map_or_else(|| last_seen_ns(forward), |clock| clock());
        let event = Event::SessionClose(close_event(forward, reason, time_ns));
        let mut buffer = lock(buffer);
        if buffer.queue.len() < buffer.capacity {
            buffer.queue.push_back(event);
        } else {
            buffer.dropped += 1;
        }
    }

    fn len(&self) -> Result<usize> {
        Ok(self.read().entries.len())
    }

    fn clear_all(&self) -> Result<usize> {
        let mut tables = self.write();
        let removed = tables.entries.len();
        tables.entries.clear();
        tables.nat.clear();
        Ok(removed)
    }
}
