//! [`SessionStore`]: reading, installing and deleting sessions.

use crate::error::Result;
use crate::session_store::{
    BatchDeleteResult, CompanionDeleteResult, ReconcileInput, ReconcileResult, SessionCount,
};
use async_trait::async_trait;
use std::ops::ControlFlow;
use xpf_runtime::{
    AddressFamily, AnySessionKey, CloseReason, SessionEntry, SessionKeyV4, SessionKeyV6,
    SessionValueV4, SessionValueV6,
};

/// A backend's session table, seen from the control plane and HA sync.
///
/// A session is a **forward** entry, a **reverse** entry (each value names
/// the other's key in `reverse_key`) and, for NAT sessions, backend-specific
/// **NAT companion** state. The methods differ in how much of that they
/// touch:
///
/// | method | removes | close event |
/// |---|---|---|
/// | [`delete`](Self::delete) | the one entry at the key | never |
/// | [`delete_known`](Self::delete_known) | the one entry given, if it still belongs to the same session; for a forward entry also its NAT companions | for a forward entry |
/// | [`delete_with_companions`](Self::delete_with_companions) | forward + reverse + NAT companions, from either key | once, if the forward entry was present |
/// | [`reconcile_cluster_bulk`](Self::reconcile_cluster_bulk) | every stale session, as `delete_with_companions` | per session |
///
/// "Close event" in this table means the session's close is *reported*: a
/// close [`SessionDelta`](xpf_runtime::SessionDelta) for HA sync is always
/// produced, and an `RT_FLOW_SESSION_CLOSE` [`Event`](xpf_runtime::Event)
/// is emitted only when the session's policy logs `session-close` (the
/// same rule as for sessions that end on their own), so deleting through
/// the store never logs more than the policy asked for.
///
/// `delete_known` is the single delete path: GC expiry calls it for each
/// expired entry, and `delete_with_companions` and reconcile are built from
/// it, so the three can never drift apart. Every `SessionTable` gets this
/// trait, with exactly these semantics, from the generic implementation in
/// [`crate::session_store`].
#[async_trait]
pub trait SessionStore: Send + Sync {
    /// Calls `f` for every entry (forward and reverse) of `family`, or of both
    /// families when `family` is `None`, until it returns `Break`. Entries
    /// inserted or removed during the walk may or may not be visited. `f`
    /// must not call back into the store.
    // The explicit `for<'e>` keeps the callback higher-ranked through
    // `async_trait`'s rewriting of elided lifetimes.
    async fn for_each(
        &self,
        family: Option<AddressFamily>,
        f: &mut (dyn for<'e> FnMut(&'e SessionEntry) -> ControlFlow<()> + Send),
    ) -> Result<()>;

    /// The entry stored under `key`, forward or reverse.
    async fn get(&self, key: &AnySessionKey) -> Result<Option<SessionEntry>>;

    /// The IPv4 value stored under `key`.
    async fn get_v4(&self, key: &SessionKeyV4) -> Result<Option<SessionValueV4>> {
        Ok(match self.get(&AnySessionKey::V4(*key)).await? {
            Some(SessionEntry::V4 { value, .. }) => Some(value),
            _ => None,
        })
    }

    /// The IPv6 value stored under `key`.
    async fn get_v6(&self, key: &SessionKeyV6) -> Result<Option<SessionValueV6>> {
        Ok(match self.get(&AnySessionKey::V6(*key)).await? {
            Some(SessionEntry::V6 { value, .. }) => Some(value),
            _ => None,
        })
    }

    /// Installs a session received from the cluster peer: `entry` must be a
    /// forward entry ([`DataplaneError::InvalidArgument`] otherwise). Stores
    /// it with [`SessionFlags::CLUSTER_SYNCED`] set, derives and stores the
    /// reverse entry under `reverse_key` (with
    /// [`SessionValue::to_reverse`]), and installs the NAT companion state.
    /// The peer's entry wins: if the forward key (from either direction)
    /// held a *different* session, that session is ended first exactly as
    /// [`delete_with_companions`](Self::delete_with_companions) with reason
    /// `cluster-reconcile` would (close reported per its policy's logging).
    /// If it held *this* session (same session id, same forward key) under
    /// a different reply key — the peer re-translated it — the peer's newer
    /// version replaces that version whole: its reverse entry and NAT state
    /// are released first so nothing of it leaks, and since the session did
    /// not end there is no close event, no close delta, and it counts
    /// neither as closed nor as created. On failure no half of the new
    /// session is left installed (and the old version stays).
    ///
    /// [`DataplaneError::InvalidArgument`]: crate::DataplaneError::InvalidArgument
    /// [`SessionFlags::CLUSTER_SYNCED`]: xpf_runtime::SessionFlags::CLUSTER_SYNCED
    /// [`SessionValue::to_reverse`]: xpf_runtime::SessionValue::to_reverse
    async fn put_cluster_synced(&self, entry: SessionEntry) -> Result<()>;

    /// Removes the single entry at `key`: no companions, no NAT state, no
    /// event. Returns whether an entry was removed. For repairing tables;
    /// use [`delete_with_companions`](Self::delete_with_companions) to end a
    /// session.
    async fn delete(&self, key: &AnySessionKey) -> Result<bool>;

    /// Deletes exactly `entry`, whose value the caller has already read: the
    /// entry under `entry.key()` is removed only if it still belongs to the
    /// same session (same session id), so a session that reused the key is
    /// never deleted by a stale read. For a forward entry this also removes
    /// its NAT companion state and emits one session-close event with
    /// `reason`; a reverse entry is removed silently. Returns whether the
    /// entry was removed; deleting again returns `false` and emits nothing.
    async fn delete_known(&self, entry: &SessionEntry, reason: CloseReason) -> Result<bool>;

    /// [`delete_known`](Self::delete_known) for each entry, continuing past
    /// failures, which are collected in the result.
    async fn batch_delete_known(
        &self,
        entries: &[SessionEntry],
        reason: CloseReason,
    ) -> Result<BatchDeleteResult>;

    /// Ends the session `key` belongs to, given either its forward or its
    /// reverse key: removes the forward entry, the reverse entry and the NAT
    /// companion state, emitting one close event with `reason` if the
    /// forward entry was present. Idempotent: a key with no entry removes
    /// nothing. Entries of other sessions are never touched.
    async fn delete_with_companions(
        &self,
        key: &AnySessionKey,
        reason: CloseReason,
    ) -> Result<CompanionDeleteResult>;

    /// Removes the sessions a cluster peer's bulk sync shows to be stale: see
    /// [`ReconcileInput`] for exactly which. Each is removed as by
    /// [`delete_with_companions`](Self::delete_with_companions) with
    /// `reason`; failures are collected and the walk continues. Fails as a
    /// whole only when the table cannot be walked.
    async fn reconcile_cluster_bulk(
        &self,
        input: &ReconcileInput,
        reason: CloseReason,
    ) -> Result<ReconcileResult>;

    /// Forward sessions per family and total entries.
    async fn count(&self) -> Result<SessionCount>;

    /// Removes every entry and all NAT companion state, without events (a
    /// table reset). Returns the number of entries (forward and reverse)
    /// removed. To clear sessions with close events, use
    /// [`delete_with_companions`](Self::delete_with_companions) with
    /// [`CloseReason::Admin`] per session.
    async fn clear(&self) -> Result<usize>;
}
