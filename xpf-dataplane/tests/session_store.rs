//! Session-store semantics, through the async `SessionStore` trait on
//! `MemorySessionStore` (and on a table whose primitives fail on demand):
//! companion deletes, known-value deletes and their events, cluster
//! reconcile against an oracle, cluster-synced installs, batch deletes,
//! count and clear.

use futures::executor::block_on;
use proptest::prelude::*;
use std::collections::{BTreeSet, HashSet};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::ops::ControlFlow;
use std::sync::Arc;
use xpf_dataplane::session_store::{
    MemorySessionStore, NatCompanion, ReconcileInput, SessionTable, reverse_entry,
};
use xpf_dataplane::traits::SessionStore;
use xpf_dataplane::{DataplaneError, Result};
use xpf_runtime::{
    AddressFamily, AnySessionKey, CloseReason, Event, IpProtocol, NatPoolId, SessionAddr,
    SessionEntry, SessionFlags, SessionId, SessionKey, SessionValue, ZoneId,
};

// ---------------------------------------------------------------------------
// Session builders. Forward keys have their source in 198.18.0.0/16 or
// 2001:db8:1::/48 and reply keys their source in 198.19.0.0/16 or
// 2001:db8:2::/47, so no forward key of one session equals a reverse key of
// another, and session `i` owns source address `i`.
// ---------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Nat {
    None,
    Source,
    Destination,
    Both,
}

#[derive(Clone, Debug)]
struct Spec {
    v6: bool,
    nat: Nat,
    zone: u16,
    dst: u8,
    dst_port: u16,
    udp: bool,
}

impl Spec {
    fn plain(v6: bool) -> Self {
        Self {
            v6,
            nat: Nat::None,
            zone: 1,
            dst: 20,
            dst_port: 443,
            udp: false,
        }
    }

    fn with_nat(mut self, nat: Nat) -> Self {
        self.nat = nat;
        self
    }

    fn in_zone(mut self, zone: u16) -> Self {
        self.zone = zone;
        self
    }
}

fn build<A: SessionAddr>(
    key: SessionKey<A>,
    id: u64,
    spec: &Spec,
    snat: (A, u16),
    dnat: (A, u16),
) -> (SessionKey<A>, SessionValue<A>) {
    let mut value = SessionValue::new_forward(&key, SessionId(id), 1_000 + id);
    value.last_seen_ns = 2_000_000_000 + id;
    value.ingress_zone = ZoneId(spec.zone);
    value.egress_zone = ZoneId(100);
    value.fwd.add(100);
    if matches!(spec.nat, Nat::Source | Nat::Both) {
        (value.nat.src, value.nat.src_port) = snat;
        value.nat_pool = NatPoolId(3);
        value.flags.insert(SessionFlags::SNAT);
    }
    if matches!(spec.nat, Nat::Destination | Nat::Both) {
        (value.nat.dst, value.nat.dst_port) = dnat;
        value.flags.insert(SessionFlags::DNAT);
    }
    value.reverse_key = SessionValue::reply_key(&key, &value.nat);
    (key, value)
}

/// The forward entry of session `i`.
fn forward(i: u16, spec: &Spec) -> SessionEntry {
    let protocol = if spec.udp {
        IpProtocol::UDP
    } else {
        IpProtocol::TCP
    };
    let id = u64::from(i) + 1;
    let [hi, lo] = i.to_be_bytes();
    if spec.v6 {
        let key = SessionKey {
            src: Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, i),
            dst: Ipv6Addr::new(0x2001, 0xdb8, 2, 0, 0, 0, 0, u16::from(spec.dst)),
            src_port: 10_000 + i,
            dst_port: spec.dst_port,
            protocol,
        };
        let snat = (Ipv6Addr::new(0x2001, 0xdb8, 3, 0, 0, 0, 0, 1), 1024 + i);
        let dnat = (
            Ipv6Addr::new(0x2001, 0xdb8, 2, 0x80, 0, 0, 0, u16::from(spec.dst)),
            8080,
        );
        let (key, value) = build(key, id, spec, snat, dnat);
        SessionEntry::V6 { key, value }
    } else {
        let key = SessionKey {
            src: Ipv4Addr::new(198, 18, hi, lo),
            dst: Ipv4Addr::new(198, 19, 0, spec.dst),
            src_port: 10_000 + i,
            dst_port: spec.dst_port,
            protocol,
        };
        let snat = (Ipv4Addr::new(198, 19, 255, 1), 1024 + i);
        let dnat = (Ipv4Addr::new(198, 19, 128, spec.dst), 8080);
        let (key, value) = build(key, id, spec, snat, dnat);
        SessionEntry::V4 { key, value }
    }
}

fn store_with(specs: &[Spec]) -> (MemorySessionStore, Vec<SessionEntry>) {
    let store = MemorySessionStore::new().with_event_capacity(1024);
    let forwards: Vec<_> = specs
        .iter()
        .enumerate()
        .map(|(i, s)| forward(i as u16, s))
        .collect();
    for f in &forwards {
        store.insert_session(*f).unwrap();
    }
    (store, forwards)
}

/// Both entries of each session, sorted.
fn entries_of(sessions: &[SessionEntry]) -> BTreeSet<AnySessionKey> {
    sessions
        .iter()
        .flat_map(|f| [f.key(), f.companion_key()])
        .collect()
}

fn stored_keys(store: &MemorySessionStore) -> BTreeSet<AnySessionKey> {
    store.entries().iter().map(SessionEntry::key).collect()
}

fn companions_of(sessions: &[SessionEntry]) -> BTreeSet<(AnySessionKey, NatCompanion)> {
    sessions
        .iter()
        .flat_map(|f| {
            NatCompanion::of_session(f)
                .into_iter()
                .map(|c| (f.key(), c))
        })
        .collect()
}

fn stored_companions(store: &MemorySessionStore) -> BTreeSet<(AnySessionKey, NatCompanion)> {
    store.all_nat_companions().into_iter().collect()
}

fn closes(events: &[Event]) -> Vec<(SessionId, CloseReason)> {
    events
        .iter()
        .map(|e| match e {
            Event::SessionClose(c) => (c.open.session_id, c.reason),
            other => panic!("unexpected event {other:?}"),
        })
        .collect()
}

fn spec_strategy() -> impl Strategy<Value = Spec> {
    (
        any::<bool>(),
        prop_oneof![
            Just(Nat::None),
            Just(Nat::Source),
            Just(Nat::Destination),
            Just(Nat::Both)
        ],
        1u16..=4,
        1u8..=8,
        prop_oneof![Just(53u16), Just(80), Just(443)],
        any::<bool>(),
    )
        .prop_map(|(v6, nat, zone, dst, dst_port, udp)| Spec {
            v6,
            nat,
            zone,
            dst,
            dst_port,
            udp,
        })
}

// ---------------------------------------------------------------------------
// Companion deletes.
// ---------------------------------------------------------------------------

fn check_companion_delete(v6: bool, from_reverse: bool) {
    let specs = [
        Spec::plain(v6),
        Spec::plain(v6).with_nat(Nat::Both),
        Spec::plain(v6).with_nat(Nat::Destination),
        Spec::plain(!v6).with_nat(Nat::Source),
    ];
    let (store, forwards) = store_with(&specs);
    let victim = forwards[1];
    let key = if from_reverse {
        victim.companion_key()
    } else {
        victim.key()
    };

    let removed = block_on(store.delete_with_companions(&key, CloseReason::Admin)).unwrap();
    assert!(removed.forward && removed.reverse, "{removed:?}");
    assert_eq!(removed.nat_companions, 2, "source and destination mapping");

    let survivors = [forwards[0], forwards[2], forwards[3]];
    assert_eq!(stored_keys(&store), entries_of(&survivors));
    assert_eq!(stored_companions(&store), companions_of(&survivors));
    assert_eq!(
        closes(&store.take_events()),
        [(victim.session_id(), CloseReason::Admin)]
    );

    let again = block_on(store.delete_with_companions(&key, CloseReason::Admin)).unwrap();
    assert!(again.is_noop(), "idempotent: {again:?}");
    assert!(store.take_events().is_empty());
}

#[test]
fn delete_with_companions_from_forward_key_v4() {
    check_companion_delete(false, false);
}

#[test]
fn delete_with_companions_from_reverse_key_v4() {
    check_companion_delete(false, true);
}

#[test]
fn delete_with_companions_from_forward_key_v6() {
    check_companion_delete(true, false);
}

#[test]
fn delete_with_companions_from_reverse_key_v6() {
    check_companion_delete(true, true);
}

#[test]
fn delete_with_companions_of_an_unknown_key_removes_nothing() {
    let (store, forwards) = store_with(&[Spec::plain(false), Spec::plain(true)]);
    let unknown = forward(99, &Spec::plain(false)).key();
    let result = block_on(store.delete_with_companions(&unknown, CloseReason::Admin)).unwrap();
    assert!(result.is_noop());
    assert_eq!(stored_keys(&store), entries_of(&forwards));
}

#[test]
fn companion_delete_after_a_plain_forward_delete_cleans_the_rest() {
    let (store, forwards) = store_with(&[Spec::plain(false).with_nat(Nat::Destination)]);
    let session = forwards[0];
    // A single-entry delete leaves the reverse entry and the NAT state behind.
    assert!(block_on(store.delete(&session.key())).unwrap());
    assert_eq!(store.all_nat_companions().len(), 1);

    let result =
        block_on(store.delete_with_companions(&session.companion_key(), CloseReason::Admin))
            .unwrap();
    assert!(!result.forward && result.reverse);
    assert_eq!(result.nat_companions, 1);
    assert!(store.entries().is_empty());
    assert!(store.all_nat_companions().is_empty());
    assert!(
        store.take_events().is_empty(),
        "no forward entry, no close event"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Deleting any session from either key removes exactly its two entries
    /// and its NAT companions, and emits exactly one close event.
    #[test]
    fn delete_with_companions_removes_exactly_one_session(
        specs in prop::collection::vec(spec_strategy(), 1..24),
        pick in any::<prop::sample::Index>(),
        from_reverse in any::<bool>(),
    ) {
        let (store, forwards) = store_with(&specs);
        let victim = forwards[pick.index(forwards.len())];
        let key = if from_reverse { victim.companion_key() } else { victim.key() };

        let result = block_on(store.delete_with_companions(&key, CloseReason::TcpRst)).unwrap();
        prop_assert!(result.forward && result.reverse);
        prop_assert_eq!(result.nat_companions, NatCompanion::of_session(&victim).len());

        let survivors: Vec<_> = forwards.iter().copied().filter(|f| *f != victim).collect();
        prop_assert_eq!(stored_keys(&store), entries_of(&survivors));
        prop_assert_eq!(stored_companions(&store), companions_of(&survivors));
        prop_assert_eq!(
            closes(&store.take_events()),
            vec![(victim.session_id(), CloseReason::TcpRst)]
        );
    }
}

// ---------------------------------------------------------------------------
// Known-value deletes.
// ---------------------------------------------------------------------------

#[test]
fn delete_known_emits_one_close_event_for_a_forward_entry() {
    let (store, forwards) = store_with(&[Spec::plain(false).with_nat(Nat::Source)]);
    let fwd = store
        .entries()
        .into_iter()
        .find(|e| !e.is_reverse())
        .unwrap();
    assert_eq!(fwd, forwards[0]);

    assert!(block_on(store.delete_known(&fwd, CloseReason::IdleTimeout)).unwrap());
    let events = store.take_events();
    assert_eq!(
        closes(&events),
        [(fwd.session_id(), CloseReason::IdleTimeout)]
    );
    let Event::SessionClose(close) = &events[0] else {
        unreachable!()
    };
    assert_eq!(close.open.nat_src_port, 1024);
    assert_eq!(close.fwd.packets, 1);
    assert_eq!(
        close.time_ns, 2_000_000_001,
        "timed at the last packet without a clock"
    );

    // The forward entry's NAT companions went with it; the reverse entry did not.
    assert!(store.nat_companions_of(&fwd.key()).is_empty());
    assert_eq!(stored_keys(&store), BTreeSet::from([fwd.companion_key()]));

    // Deleting again is a no-op without an event.
    assert!(!block_on(store.delete_known(&fwd, CloseReason::IdleTimeout)).unwrap());
    assert!(store.take_events().is_empty());
}

#[test]
fn delete_known_of_a_reverse_entry_emits_nothing() {
    let (store, forwards) = store_with(&[Spec::plain(true).with_nat(Nat::Destination)]);
    let rev = reverse_entry(&forwards[0]);
    assert!(block_on(store.delete_known(&rev, CloseReason::IdleTimeout)).unwrap());
    assert!(store.take_events().is_empty());
    assert_eq!(stored_keys(&store), BTreeSet::from([forwards[0].key()]));
    assert_eq!(
        store.nat_companions_of(&forwards[0].key()).len(),
        1,
        "NAT state belongs to the forward entry"
    );
}

#[test]
fn delete_known_leaves_a_session_that_reused_the_key() {
    let (store, forwards) = store_with(&[Spec::plain(false)]);
    let stale_read = forwards[0];
    // The session ends and a new one (new id) is created under the same key.
    block_on(store.delete_with_companions(&stale_read.key(), CloseReason::TcpFin)).unwrap();
    store.take_events();
    let SessionEntry::V4 { key, mut value } = stale_read else {
        unreachable!()
    };
    value.session_id = SessionId(777);
    let reborn = SessionEntry::V4 { key, value };
    store.insert_session(reborn).unwrap();

    assert!(!block_on(store.delete_known(&stale_read, CloseReason::IdleTimeout)).unwrap());
    assert!(store.take_events().is_empty());
    assert_eq!(block_on(store.get(&key.into())).unwrap(), Some(reborn));
}

#[test]
fn close_events_use_the_clock_and_respect_the_buffer_bound() {
    let store = MemorySessionStore::new()
        .with_event_capacity(1)
        .with_clock(|| 42_000_000_000);
    let a = forward(0, &Spec::plain(false));
    let b = forward(1, &Spec::plain(true));
    store.insert_session(a).unwrap();
    store.insert_session(b).unwrap();

    block_on(store.delete_known(&a, CloseReason::Policy)).unwrap();
    block_on(store.delete_known(&b, CloseReason::Policy)).unwrap();
    let events = store.take_events();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].time_ns(), 42_000_000_000);
    assert_eq!(store.events_dropped(), 1);
}

#[test]
fn batch_delete_known_counts_deleted_and_missing() {
    let specs: Vec<_> = (0..4)
        .map(|i| Spec::plain(i % 2 == 0).with_nat(Nat::Source))
        .collect();
    let (store, forwards) = store_with(&specs);
    // One session is already gone when the batch runs.
    block_on(store.delete_with_companions(&forwards[3].key(), CloseReason::TcpFin)).unwrap();
    store.take_events();

    let mut batch: Vec<_> = forwards.clone();
    batch.push(reverse_entry(&forwards[0]));
    let result = block_on(store.batch_delete_known(&batch, CloseReason::IdleTimeout)).unwrap();
    assert_eq!(result.deleted, 4, "three forward entries and one reverse");
    assert_eq!(result.missing, 1);
    assert!(result.is_complete());
    assert_eq!(store.take_events().len(), 3);
    assert_eq!(
        stored_keys(&store),
        [1, 2]
            .iter()
            .map(|i| forwards[*i].companion_key())
            .collect()
    );
}

// ---------------------------------------------------------------------------
// Cluster reconcile.
// ---------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    /// Reconcile deletes exactly the forward sessions that are outside the
    /// synced zones and were not received, with their companions.
    #[test]
    fn reconcile_deletes_exactly_the_stale_sessions(
        specs in prop::collection::vec(spec_strategy(), 0..32),
        received_mask in prop::collection::vec(any::<bool>(), 32),
        synced_zones in prop::collection::btree_set((1u16..=4).prop_map(ZoneId), 0..4),
        extra_received in 0u16..4,
    ) {
        let (store, forwards) = store_with(&specs);
        let mut received: HashSet<AnySessionKey> = forwards
            .iter()
            .zip(&received_mask)
            .filter(|(_, r)| **r)
            .map(|(f, _)| f.key())
            .collect();
        // The peer may also send sessions this node does not have, and reverse keys
        // mean nothing to reconcile.
        for i in 0..extra_received {
            received.insert(forward(1000 + i, &Spec::plain(i % 2 == 0)).key());
        }
        let input = ReconcileInput { received: received.clone(), synced_zones: synced_zones.clone() };

        // The oracle, written out independently of `ReconcileInput::is_stale`.
        let (stale, kept): (Vec<SessionEntry>, Vec<SessionEntry>) = forwards.iter().partition(|f| {
            !synced_zones.contains(&f.ingress_zone()) && !received.contains(&f.key())
        });

        let result = block_on(store.reconcile_cluster_bulk(&input, CloseReason::ClusterReconcile)).unwrap();
        let stale_v4 = stale.iter().filter(|f| f.family() == AddressFamily::Inet).count();
        prop_assert_eq!(result.stale_v4, stale_v4);
        prop_assert_eq!(result.stale_v6, stale.len() - stale_v4);
        prop_assert_eq!(result.deleted_v4, stale_v4);
        prop_assert_eq!(result.deleted_v6, stale.len() - stale_v4);
        prop_assert!(result.is_complete());

        prop_assert_eq!(stored_keys(&store), entries_of(&kept));
        prop_assert_eq!(stored_companions(&store), companions_of(&kept));
        let mut closed = closes(&store.take_events());
        closed.sort_by_key(|(id, _)| *id);
        let mut expected: Vec<_> = stale.iter().map(|f| (f.session_id(), CloseReason::ClusterReconcile)).collect();
        expected.sort_by_key(|(id, _)| *id);
        prop_assert_eq!(closed, expected);

        // A second reconcile with the same input finds nothing.
        let again = block_on(store.reconcile_cluster_bulk(&input, CloseReason::ClusterReconcile)).unwrap();
        prop_assert_eq!(again.stale(), 0);
    }
}

#[test]
fn reconcile_never_touches_synced_zones_or_received_sessions() {
    let specs = [
        // In a synced zone: kept.
        Spec::plain(false).in_zone(1),
        // Received from the peer: kept.
        Spec::plain(true).in_zone(2),
        // Neither: stale.
        Spec::plain(false).in_zone(2).with_nat(Nat::Both),
        Spec::plain(true).in_zone(3).with_nat(Nat::Destination),
    ];
    let (store, forwards) = store_with(&specs);
    let input = ReconcileInput::new([forwards[1].key()], [ZoneId(1)]);

    let result =
        block_on(store.reconcile_cluster_bulk(&input, CloseReason::ClusterReconcile)).unwrap();
    assert_eq!((result.stale_v4, result.stale_v6), (1, 1));
    assert_eq!((result.deleted_v4, result.deleted_v6), (1, 1));
    assert_eq!(stored_keys(&store), entries_of(&forwards[..2]));
    assert!(store.all_nat_companions().is_empty());
}

/// A table whose removals fail for chosen keys, to show that bulk
/// operations collect errors and continue.
struct FailingRemovals {
    inner: MemorySessionStore,
    fail: HashSet<AnySessionKey>,
}

impl FailingRemovals {
    fn check(&self, key: &AnySessionKey) -> Result<()> {
        if self.fail.contains(key) {
            Err(DataplaneError::Backend {
                backend: "test",
                message: format!("cannot delete {key}"),
            })
        } else {
            Ok(())
        }
    }
}

impl SessionTable for FailingRemovals {
    fn for_each_entry(&self, f: &mut dyn FnMut(&SessionEntry) -> ControlFlow<()>) -> Result<()> {
        self.inner.for_each_entry(f)
    }
    fn lookup(&self, key: &AnySessionKey) -> Result<Option<SessionEntry>> {
        self.inner.lookup(key)
    }
    fn insert(&self, entry: SessionEntry) -> Result<()> {
        self.inner.insert(entry)
    }
    fn remove(&self, key: &AnySessionKey) -> Result<Option<SessionEntry>> {
        self.check(key)?;
        self.inner.remove(key)
    }
    fn remove_if_session(
        &self,
        key: &AnySessionKey,
        session: SessionId,
    ) -> Result<Option<SessionEntry>> {
        self.check(key)?;
        self.inner.remove_if_session(key, session)
    }
    fn install_nat_companions(&self, forward: &SessionEntry) -> Result<usize> {
        self.inner.install_nat_companions(forward)
    }
    fn remove_nat_companions(&self, forward: &SessionEntry) -> Result<usize> {
        self.inner.remove_nat_companions(forward)
    }
    fn on_closed(&self, forward: &SessionEntry, reason: CloseReason) {
        self.inner.on_closed(forward, reason)
    }
    fn len(&self) -> Result<usize> {
        self.inner.len()
    }
}

#[test]
fn reconcile_continues_past_failed_deletes() {
    let specs: Vec<_> = (0..4)
        .map(|i| Spec::plain(i >= 2).with_nat(Nat::Source))
        .collect();
    let (inner, forwards) = store_with(&specs);
    let table = FailingRemovals {
        inner,
        fail: HashSet::from([forwards[0].key()]),
    };
    let store: Arc<dyn SessionStore> = Arc::new(table);

    let result = block_on(
        store.reconcile_cluster_bulk(&ReconcileInput::default(), CloseReason::ClusterReconcile),
    )
    .unwrap();
    assert_eq!((result.stale_v4, result.stale_v6), (2, 2));
    assert_eq!(
        (result.deleted_v4, result.deleted_v6),
        (1, 2),
        "failed deletes are not counted"
    );
    assert_eq!(result.errors.len(), 1);
    assert_eq!(result.errors[0].0, forwards[0].key());
    assert!(!result.is_complete());

    let left = block_on(store.count()).unwrap();
    assert_eq!(
        (left.v4, left.entries),
        (1, 2),
        "only the failed session remains"
    );
}

#[test]
fn batch_delete_collects_failures_and_continues() {
    let specs = [Spec::plain(false), Spec::plain(false), Spec::plain(true)];
    let (inner, forwards) = store_with(&specs);
    let table = FailingRemovals {
        inner,
        fail: HashSet::from([forwards[1].key()]),
    };
    let result = block_on(table.batch_delete_known(&forwards, CloseReason::IdleTimeout)).unwrap();
    assert_eq!(result.deleted, 2);
    assert_eq!(result.missing, 0);
    assert_eq!(result.errors.len(), 1);
    assert_eq!(result.errors[0].0, forwards[1].key());
}

// ---------------------------------------------------------------------------
// Cluster-synced installs.
// ---------------------------------------------------------------------------

fn check_put_cluster_synced(v6: bool) {
    let store = MemorySessionStore::new().with_event_capacity(16);
    let fwd = forward(5, &Spec::plain(v6).with_nat(Nat::Both));
    block_on(store.put_cluster_synced(fwd)).unwrap();

    let from_forward = block_on(store.get(&fwd.key())).unwrap().unwrap();
    let from_reverse = block_on(store.get(&fwd.companion_key())).unwrap().unwrap();
    assert!(!from_forward.is_reverse() && from_reverse.is_reverse());
    assert_eq!(from_forward.session_id(), from_reverse.session_id());
    assert_eq!(from_forward.companion_key(), from_reverse.key());
    assert_eq!(from_reverse.companion_key(), from_forward.key());
    for e in [from_forward, from_reverse] {
        assert!(e.flags().contains(SessionFlags::CLUSTER_SYNCED));
        assert!(e.flags().contains(SessionFlags::SNAT | SessionFlags::DNAT));
    }
    assert_eq!(store.nat_companions_of(&fwd.key()).len(), 2);

    // The typed getters find both directions too.
    match (fwd.key(), fwd.companion_key()) {
        (AnySessionKey::V4(k), AnySessionKey::V4(r)) => {
            assert!(!block_on(store.get_v4(&k)).unwrap().unwrap().is_reverse);
            assert!(block_on(store.get_v4(&r)).unwrap().unwrap().is_reverse);
        }
        (AnySessionKey::V6(k), AnySessionKey::V6(r)) => {
            assert!(!block_on(store.get_v6(&k)).unwrap().unwrap().is_reverse);
            assert!(block_on(store.get_v6(&r)).unwrap().unwrap().is_reverse);
        }
        _ => unreachable!("both keys of a session share a family"),
    }
    assert!(
        store.take_events().is_empty(),
        "installing emits no close event"
    );

    let count = block_on(store.count()).unwrap();
    assert_eq!(count.sessions(), 1);
    assert_eq!(count.entries, 2);
}

#[test]
fn put_cluster_synced_is_findable_from_both_directions_v4() {
    check_put_cluster_synced(false);
}

#[test]
fn put_cluster_synced_is_findable_from_both_directions_v6() {
    check_put_cluster_synced(true);
}

#[test]
fn put_cluster_synced_rejects_a_reverse_entry() {
    let store = MemorySessionStore::new();
    let rev = reverse_entry(&forward(0, &Spec::plain(false)));
    let err = block_on(store.put_cluster_synced(rev)).unwrap_err();
    assert!(matches!(err, DataplaneError::InvalidArgument(_)), "{err:?}");
    assert!(store.entries().is_empty());
}

#[test]
fn put_cluster_synced_replacing_a_session_retires_its_old_reply_key() {
    let store = MemorySessionStore::new().with_event_capacity(16);
    let before = forward(1, &Spec::plain(false));
    block_on(store.put_cluster_synced(before)).unwrap();

    // The peer's update gave the same session destination NAT: new reply key.
    let after = forward(1, &Spec::plain(false).with_nat(Nat::Destination));
    assert_eq!(before.key(), after.key());
    assert_ne!(before.companion_key(), after.companion_key());
    block_on(store.put_cluster_synced(after)).unwrap();

    assert_eq!(
        stored_keys(&store),
        BTreeSet::from([after.key(), after.companion_key()])
    );
    assert_eq!(store.nat_companions_of(&after.key()).len(), 1);
    assert!(store.take_events().is_empty());
}

#[test]
fn put_cluster_synced_into_a_full_table_leaves_no_half_session() {
    let store = MemorySessionStore::new().with_max_entries(1);
    let fwd = forward(0, &Spec::plain(true).with_nat(Nat::Source));
    let err = block_on(store.put_cluster_synced(fwd)).unwrap_err();
    assert!(matches!(err, DataplaneError::Backend { .. }), "{err:?}");
    assert!(store.entries().is_empty());
    assert!(store.all_nat_companions().is_empty());
    assert_eq!(store.table_stats().capacity, 1);
}

#[test]
fn put_then_delete_from_the_reverse_key_round_trips() {
    let store = MemorySessionStore::new();
    for (i, v6) in [(0u16, false), (1, true)] {
        let fwd = forward(i, &Spec::plain(v6).with_nat(Nat::Source));
        block_on(store.put_cluster_synced(fwd)).unwrap();
        let r = block_on(store.delete_with_companions(&fwd.companion_key(), CloseReason::Admin))
            .unwrap();
        assert_eq!((r.entries_removed(), r.nat_companions), (2, 1));
    }
    assert_eq!(block_on(store.count()).unwrap().entries, 0);
}

// ---------------------------------------------------------------------------
// Walks, count and clear.
// ---------------------------------------------------------------------------

#[test]
fn for_each_filters_by_family_and_stops_on_break() {
    let specs = [
        Spec::plain(false),
        Spec::plain(true),
        Spec::plain(true),
        Spec::plain(false).with_nat(Nat::Source),
    ];
    let (store, _) = store_with(&specs);

    let mut seen = Vec::new();
    block_on(
        store.for_each(Some(AddressFamily::Inet6), &mut |e: &SessionEntry| {
            seen.push(e.family());
            ControlFlow::Continue(())
        }),
    )
    .unwrap();
    assert_eq!(seen, vec![AddressFamily::Inet6; 4]);

    let mut visited = 0;
    block_on(store.for_each(None, &mut |_: &SessionEntry| {
        visited += 1;
        if visited == 3 {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    }))
    .unwrap();
    assert_eq!(visited, 3);
}

#[test]
fn count_and_clear() {
    let specs = [
        Spec::plain(false),
        Spec::plain(false).with_nat(Nat::Both),
        Spec::plain(true).with_nat(Nat::Destination),
    ];
    let (store, _) = store_with(&specs);
    let count = block_on(store.count()).unwrap();
    assert_eq!((count.v4, count.v6, count.entries), (2, 1, 6));
    assert_eq!(store.all_nat_companions().len(), 3);

    assert_eq!(block_on(store.clear()).unwrap(), 6);
    assert_eq!(block_on(store.count()).unwrap(), Default::default());
    assert!(store.all_nat_companions().is_empty());
    assert!(store.take_events().is_empty(), "a table reset is silent");
    assert_eq!(block_on(store.clear()).unwrap(), 0);
}

#[test]
fn default_clear_all_removes_entries_and_companions() {
    // `FailingRemovals` uses the provided `clear_all` (entry by entry).
    let (inner, _) = store_with(&[Spec::plain(false).with_nat(Nat::Source), Spec::plain(true)]);
    let table = FailingRemovals {
        inner,
        fail: HashSet::new(),
    };
    assert_eq!(block_on(table.clear()).unwrap(), 4);
    assert!(table.inner.entries().is_empty());
    assert!(table.inner.all_nat_companions().is_empty());
}
