//! The session-store semantics, generic over any [`SessionTable`], and the
//! implementation of [`SessionStore`] every `SessionTable` gets from them.
//!
//! [`delete_known`] is the single path by which a session's entries leave the
//! table with an event: GC expiry calls it per expired entry,
//! [`delete_session_known`] (and so [`delete_with_companions`] and
//! [`reconcile_cluster_bulk`]) calls it for the forward and the reverse
//! entry. Close events and NAT companion cleanup therefore happen in one
//! place.

use super::derive::{forward_entry_of_reverse, reverse_entry, with_flags};
use super::table::SessionTable;
use super::types::{
    BatchDeleteResult, CompanionDeleteResult, ReconcileInput, ReconcileResult, SessionCount,
};
use crate::error::{DataplaneError, Result};
use crate::traits::SessionStore;
use async_trait::async_trait;
use std::ops::ControlFlow;
use xpf_runtime::{AddressFamily, AnySessionKey, CloseReason, SessionEntry, SessionFlags};

/// Deletes exactly `entry`, whose value the caller has read: removes the
/// entry under `entry.key()` if it still belongs to the same session; for a
/// forward entry also removes its NAT companions and emits one close event
/// with `reason` (through [`SessionTable::on_closed`]). Returns whether the
/// entry was removed. See
/// [`SessionStore::delete_known`](crate::traits::SessionStore::delete_known).
pub fn delete_known<T: SessionTable + ?Sized>(
    table: &T,
    entry: &SessionEntry,
    reason: CloseReason,
) -> Result<bool> {
    Ok(delete_known_entry(table, entry, reason)?.is_some())
}

/// [`delete_known`], returning the number of NAT companions removed when the
/// entry was removed.
fn delete_known_entry<T: SessionTable + ?Sized>(
    table: &T,
    entry: &SessionEntry,
    reason: CloseReason,
) -> Result<Option<usize>> {
    let Some(removed) = table.remove_if_session(&entry.key(), entry.session_id())? else {
        return Ok(None);
    };
    if removed.is_reverse() {
        return Ok(Some(0));
    }
    // The session is closed once its forward entry is gone: report it even if
    // the NAT cleanup fails (a later companion delete from the reverse key
    // retries that cleanup).
    let nat = table.remove_nat_companions(&removed);
    table.on_closed(&removed, reason);
    nat.map(Some)
}

/// [`delete_known`] for each entry, continuing past failures.
pub fn batch_delete_known<T: SessionTable + ?Sized>(
    table: &T,
    entries: &[SessionEntry],
    reason: CloseReason,
) -> BatchDeleteResult {
    let mut result = BatchDeleteResult::default();
    for entry in entries {
        match delete_known(table, entry, reason) {
            Ok(true) => result.deleted += 1,
            Ok(false) => result.missing += 1,
            Err(err) => result.errors.push((entry.key(), err)),
        }
    }
    result
}

/// Ends the session of the known forward entry `forward`: removes the
/// forward entry (with its NAT companions and close event, as
/// [`delete_known`]) and the reverse entry under its `reverse_key`, each only
/// if it still belongs to the same session. If the forward entry was already
/// gone and its key is free, NAT companion state it left behind is removed
/// too. Idempotent.
///
/// Stops at the first failing primitive and returns its error; what was
/// removed before stays removed, and calling again completes the delete.
pub fn delete_session_known<T: SessionTable + ?Sized>(
    table: &T,
    forward: &SessionEntry,
    reason: CloseReason,
) -> Result<CompanionDeleteResult> {
    if forward.is_reverse() {
        return Err(DataplaneError::InvalidArgument(format!(
            "delete_session_known needs a forward entry, got the reverse entry {}",
            forward.key()
        )));
    }
    let mut result = CompanionDeleteResult::default();
    if let Some(nat) = delete_known_entry(table, forward, reason)? {
        result.forward = true;
        result.nat_companions += nat;
    }
    result.reverse = delete_known(table, &reverse_entry(forward), reason)?;
    if !result.forward && table.lookup(&forward.key())?.is_none() {
        result.nat_companions += table.remove_nat_companions(forward)?;
    }
    Ok(result)
}

/// Ends the session `key` belongs to, given its forward or its reverse key.
/// See
/// [`SessionStore::delete_with_companions`](crate::traits::SessionStore::delete_with_companions).
pub fn delete_with_companions<T: SessionTable + ?Sized>(
    table: &T,
    key: &AnySessionKey,
    reason: CloseReason,
) -> Result<CompanionDeleteResult> {
    let Some(found) = table.lookup(key)? else {
        return Ok(CompanionDeleteResult::default());
    };
    if !found.is_reverse() {
        return delete_session_known(table, &found, reason);
    }
    // Given the reverse key: prefer the stored forward entry (its counters
    // are the ones the close event reports); if it is gone or the key now
    // belongs to another session, the reverse value still describes the
    // whole session.
    let forward = match table.lookup(&found.companion_key())? {
        Some(f) if !f.is_reverse() && f.session_id() == found.session_id() => f,
        _ => forward_entry_of_reverse(&found),
    };
    let mut result = delete_session_known(table, &forward, reason)?;
    if forward.companion_key() != found.key() {
        // The forward entry names a different reply key than the one we were
        // given (the session was re-keyed): the entry at `key` goes too.
        result.reverse |= delete_known(table, &found, reason)?;
    }
    Ok(result)
}

/// Deletes the sessions `input` marks stale (see [`ReconcileInput`]), each
/// with [`delete_session_known`], collecting failures and continuing past
/// them. Fails as a whole only when the table cannot be walked.
pub fn reconcile_cluster_bulk<T: SessionTable + ?Sized>(
    table: &T,
    input: &ReconcileInput,
    reason: CloseReason,
) -> Result<ReconcileResult> {
    let mut stale = Vec::new();
    table.for_each_entry(&mut |entry| {
        if input.is_stale(entry) {
            stale.push(*entry);
        }
        ControlFlow::Continue(())
    })?;

    let mut result = ReconcileResult::default();
    for forward in &stale {
        let v4 = forward.family() == AddressFamily::Inet;
        if v4 {
            result.stale_v4 += 1;
        } else {
            result.stale_v6 += 1;
        }
        match delete_session_known(table, forward, reason) {
            Ok(deleted) if deleted.forward && v4 => result.deleted_v4 += 1,
            Ok(deleted) if deleted.forward => result.deleted_v6 += 1,
            Ok(_) => {}
            Err(err) => result.errors.push((forward.key(), err)),
        }
    }
    Ok(result)
}

/// Installs the session of the forward entry `forward` as the packet path
/// would: the forward entry, the reverse entry derived from it
/// ([`reverse_entry`]) and its NAT companion state.
///
/// If the forward key held another session, or this session under a
/// different reply key, that version's reverse entry and NAT state are
/// removed first (without an event: it is being replaced, not closed). On
/// failure nothing of the new session is left half-installed: whatever this
/// call inserted is removed again (best effort) and the error returned.
pub fn install_session<T: SessionTable + ?Sized>(table: &T, forward: &SessionEntry) -> Result<()> {
    if forward.is_reverse() {
        return Err(DataplaneError::InvalidArgument(format!(
            "a session is installed from its forward entry, got the reverse entry {}",
            forward.key()
        )));
    }
    let key = forward.key();
    let reverse = reverse_entry(forward);
    if let Some(previous) = table.lookup(&key)?
        && !previous.is_reverse()
        && (previous.session_id() != forward.session_id()
            || previous.companion_key() != reverse.key())
    {
        table.remove_if_session(&previous.companion_key(), previous.session_id())?;
        table.remove_nat_companions(&previous)?;
    }

    table.insert(*forward)?;
    let rest = table
        .insert(reverse)
        .and_then(|()| table.install_nat_companions(forward));
    if let Err(err) = rest {
        // Best effort: the caller gets the original error either way.
        let _ = table.remove_nat_companions(forward);
        let _ = table.remove_if_session(&reverse.key(), forward.session_id());
        let _ = table.remove_if_session(&key, forward.session_id());
        return Err(err);
    }
    Ok(())
}

/// Installs a session received from the cluster peer: [`install_session`]
/// with [`SessionFlags::CLUSTER_SYNCED`] set on both entries.
pub fn put_cluster_synced<T: SessionTable + ?Sized>(table: &T, entry: &SessionEntry) -> Result<()> {
    if entry.is_reverse() {
        return Err(DataplaneError::InvalidArgument(format!(
            "cluster sync installs forward entries, got the reverse entry {}",
            entry.key()
        )));
    }
    let synced = with_flags(entry, SessionFlags::CLUSTER_SYNCED);
    if let Some(result) = table.install_synced(&synced) {
        return result;
    }
    // The peer owns the session: a different local session holding the key
    // ends first, reported like any other close (reason cluster-reconcile).
    if let Some(previous) = table.lookup(&entry.key())?
        && previous.session_id() != entry.session_id()
    {
        delete_with_companions(table, &entry.key(), CloseReason::ClusterReconcile)?;
    }
    install_session(table, &synced)
}

/// Counts forward sessions per family and all entries.
pub fn count<T: SessionTable + ?Sized>(table: &T) -> Result<SessionCount> {
    let mut count = SessionCount::default();
    table.for_each_entry(&mut |entry| {
        count.add(entry);
        ControlFlow::Continue(())
    })?;
    Ok(count)
}

/// Every [`SessionTable`] is a [`SessionStore`] with the semantics of this
/// module.
#[async_trait]
impl<T: SessionTable + ?Sized> SessionStore for T {
    async fn for_each(
        &self,
        family: Option<AddressFamily>,
        f: &mut (dyn for<'e> FnMut(&'e SessionEntry) -> ControlFlow<()> + Send),
    ) -> Result<()> {
        self.for_each_entry(&mut |entry| {
            if family.is_none_or(|family| entry.family() == family) {
                f(entry)
            } else {
                ControlFlow::Continue(())
            }
        })
    }

    async fn get(&self, key: &AnySessionKey) -> Result<Option<SessionEntry>> {
        self.lookup(key)
    }

    async fn put_cluster_synced(&self, entry: SessionEntry) -> Result<()> {
        put_cluster_synced(self, &entry)
    }

    async fn delete(&self, key: &AnySessionKey) -> Result<bool> {
        Ok(self.remove(key)?.is_some())
    }

    async fn delete_known(&self, entry: &SessionEntry, reason: CloseReason) -> Result<bool> {
        delete_known(self, entry, reason)
    }

    async fn batch_delete_known(
        &self,
        entries: &[SessionEntry],
        reason: CloseReason,
    ) -> Result<BatchDeleteResult> {
        Ok(batch_delete_known(self, entries, reason))
    }

    async fn delete_with_companions(
        &self,
        key: &AnySessionKey,
        reason: CloseReason,
    ) -> Result<CompanionDeleteResult> {
        delete_with_companions(self, key, reason)
    }

    async fn reconcile_cluster_bulk(
        &self,
        input: &ReconcileInput,
        reason: CloseReason,
    ) -> Result<ReconcileResult> {
        reconcile_cluster_bulk(self, input, reason)
    }

    async fn count(&self) -> Result<SessionCount> {
        count(self)
    }

    async fn clear(&self) -> Result<usize> {
        self.clear_all()
    }
}
