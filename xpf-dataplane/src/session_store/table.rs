//! [`SessionTable`]: the primitives a backend's session table provides.

use crate::error::Result;
use std::ops::ControlFlow;
use xpf_runtime::{AnySessionKey, CloseReason, SessionEntry, SessionId};

/// The synchronous primitives of a session table (a BPF hash map, an engine
/// table, a `BTreeMap`). Everything else, the companion and reconcile
/// semantics of [`SessionStore`](crate::traits::SessionStore), is built on
/// these by the generic functions of [`crate::session_store`], and every
/// `SessionTable` is a `SessionStore` through them.
///
/// Primitives are individually atomic; the generic operations are sequences
/// of them and stay correct under concurrent packet-path updates because
/// every removal of a known entry goes through
/// [`remove_if_session`](Self::remove_if_session).
pub trait SessionTable: Send + Sync {
    /// Calls `f` for every stored entry until it returns `Break`. `f` must
    /// not call back into the table (an implementation may hold a lock).
    fn for_each_entry(&self, f: &mut dyn FnMut(&SessionEntry) -> ControlFlow<()>) -> Result<()>;

    /// The entry stored under `key`.
    fn lookup(&self, key: &AnySessionKey) -> Result<Option<SessionEntry>>;

    /// Stores `entry` under `entry.key()`, replacing any entry there.
    fn insert(&self, entry: SessionEntry) -> Result<()>;

    /// Removes and returns the entry under `key`.
    fn remove(&self, key: &AnySessionKey) -> Result<Option<SessionEntry>>;

    /// Removes the entry under `key` only if it belongs to `session`, and
    /// returns it; leaves an entry of another session in place and returns
    /// `None`.
    ///
    /// The provided implementation is a lookup followed by a remove, which
    /// is what a table without compare-and-delete (a BPF map) can do; a
    /// table with a lock overrides it to make the check and the removal one
    /// atomic step.
    fn remove_if_session(
        &self,
        key: &AnySessionKey,
        session: SessionId,
    ) -> Result<Option<SessionEntry>> {
        match self.lookup(key)? {
            Some(current) if current.session_id() == session => self.remove(key),
            _ => Ok(None),
        }
    }

    /// Installs the NAT companion state of the forward entry `forward` (for
    /// example a destination-NAT reverse-translation entry) and returns how
    /// many companion entries it installed. Called for sessions installed
    /// from outside the packet path (cluster sync). The default installs
    /// nothing, for tables that keep no NAT state outside the session.
    fn install_nat_companions(&self, forward: &SessionEntry) -> Result<usize> {
        let _ = forward;
        Ok(0)
    }

    /// Removes the NAT companion state of the forward entry `forward` and
    /// returns how many companion entries it removed (0 when already gone).
    /// The default removes nothing.
    fn remove_nat_companions(&self, forward: &SessionEntry) -> Result<usize> {
        let _ = forward;
        Ok(0)
    }

    /// Called once after the forward entry `forward` of a session was
    /// removed by a known-value delete, to emit the session-close event. The
    /// default emits nothing.
    fn on_closed(&self, forward: &SessionEntry, reason: CloseReason) {
        let _ = (forward, reason);
    }

    /// Entries stored (forward and reverse).
    fn len(&self) -> Result<usize>;

    /// Installs a cluster-synced forward entry (flag already set) in one
    /// step, if this table can: a backend whose packet path owns
    /// replacement (the peer's entry wins over a local session holding its
    /// key, which is closed with reason `cluster-reconcile` and reported
    /// like any close; a refused install changes nothing) returns
    /// `Some(result)`. `None` (the default) makes
    /// [`put_cluster_synced`](super::ops::put_cluster_synced) use the
    /// generic entry-by-entry path.
    fn install_synced(&self, forward: &SessionEntry) -> Option<Result<()>> {
        let _ = forward;
        None
    }

    /// True when no entry is stored.
    fn is_empty(&self) -> Result<bool> {
        Ok(self.len()? == 0)
    }

    /// Removes every entry and its NAT companion state without events, and
    /// returns the number of entries removed. The provided implementation
    /// removes entry by entry; a table that can reset itself at once
    /// overrides it.
    fn clear_all(&self) -> Result<usize> {
        let mut entries = Vec::new();
        self.for_each_entry(&mut |e| {
            entries.push(*e);
            ControlFlow::Continue(())
        })?;
        let mut removed = 0;
        for entry in &entries {
            if self.remove(&entry.key())?.is_some() {
                removed += 1;
            }
            if !entry.is_reverse() {
                self.remove_nat_companions(entry)?;
            }
        }
        Ok(removed)
    }
}
