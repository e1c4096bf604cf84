//! Compile-time proof that every dataplane trait is dyn-compatible, `Send +
//! Sync` and returns `Send` futures, plus the HA fabric contract from the
//! xpf-1399 review: update → sync for fabric 0 and fabric 1, and a
//! cancellation that arrives during the update still syncs.

use async_trait::async_trait;
use futures::FutureExt;
use futures::executor::block_on;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use xpf_dataplane::apply::{ApplyResult, Capabilities};
use xpf_dataplane::cancel::Cancel;
use xpf_dataplane::compile::CompiledConfig;
use xpf_dataplane::config::MacAddr;
use xpf_dataplane::traits::{
    ConfigSink, EventStream, FabricBackend, FabricForwarding, FabricId, HAController,
    LinkController, RuntimeDataPlane, SessionStore, Telemetry, set_fabric_forwarding_then_sync,
};
use xpf_dataplane::{Config, DataplaneError, MemorySessionStore, Result, SessionTable};
use xpf_runtime::{AnySessionKey, CloseReason, GlobalCounter, RedundancyGroupId, SessionEntry};

// ---------------------------------------------------------------------------
// Compile-time assertions. These functions are never called: that they
// compile is the test.
// ---------------------------------------------------------------------------

fn assert_send_sync<T: ?Sized + Send + Sync>() {}
fn assert_send<T: Send>(_: &T) {}

const _: fn() = || {
    assert_send_sync::<dyn RuntimeDataPlane>();
    assert_send_sync::<dyn ConfigSink>();
    assert_send_sync::<dyn SessionStore>();
    assert_send_sync::<dyn Telemetry>();
    assert_send_sync::<dyn LinkController>();
    assert_send_sync::<dyn HAController>();
    assert_send_sync::<dyn SessionTable>();
    assert_send_sync::<MemorySessionStore>();
};

/// Every accessor of a backend hands out trait objects, and the backend
/// upcasts to its `ConfigSink` both explicitly and by coercion.
#[allow(dead_code)]
fn runtime_dataplane_is_dyn(dp: &dyn RuntimeDataPlane) {
    let _: &dyn ConfigSink = dp.config_sink();
    let _: &dyn ConfigSink = dp;
    let _: Arc<dyn LinkController> = dp.link();
    let _: Arc<dyn HAController> = dp.ha();
    let _: Arc<dyn SessionStore> = dp.sessions();
    let _: Arc<dyn Telemetry> = dp.telemetry();
    let _: Option<Arc<dyn xpf_runtime::SessionDeltaSource>> = dp.session_deltas();
    let _: &'static str = dp.name();
}

/// Every async method's future is `Send`, so it can be spawned on a
/// multi-threaded executor through a trait object.
#[allow(dead_code)]
fn futures_are_send(
    dp: Arc<dyn RuntimeDataPlane>,
    config: &Config,
    cancel: &Cancel,
    key: &AnySessionKey,
    entry: &SessionEntry,
    mut events: Box<dyn EventStream>,
) {
    assert_send(&dp.apply(config, cancel));
    assert_send(&dp.start());
    assert_send(&dp.close());
    assert_send(&dp.teardown());
    let sessions = dp.sessions();
    assert_send(&sessions.get(key));
    assert_send(&sessions.delete_known(entry, CloseReason::IdleTimeout));
    assert_send(&sessions.delete_with_companions(key, CloseReason::Admin));
    let mut visit = |_: &SessionEntry| std::ops::ControlFlow::Continue(());
    assert_send(&sessions.for_each(None, &mut visit));
    let telemetry = dp.telemetry();
    assert_send(
        &telemetry.global_counter(GlobalCounter::from(xpf_runtime::BaseCounter::RxPackets)),
    );
    assert_send(&telemetry.table_stats());
    assert_send(&events.next());
    let ha = dp.ha();
    assert_send(&ha.set_fabric_forwarding(FabricId::FAB0, FabricForwarding::default(), cancel));
    assert_send(&dp.link().attach("xe-0"));
}

#[test]
fn memory_session_store_is_a_session_store_object() {
    let store: Arc<dyn SessionStore> = Arc::new(MemorySessionStore::new());
    assert_eq!(block_on(store.count()).unwrap().entries, 0);

    // A `dyn SessionTable` is a `SessionStore` too (the blanket impl is `?Sized`).
    let table: Arc<dyn SessionTable> = Arc::new(MemorySessionStore::new());
    assert_eq!(block_on(table.clear()).unwrap(), 0);
}

// ---------------------------------------------------------------------------
// The HA fabric contract, on a small HAController built on the provided
// `set_fabric_forwarding_then_sync`.
// ---------------------------------------------------------------------------

#[derive(Clone, Debug, PartialEq, Eq)]
enum Call {
    Update(FabricId),
    Sync,
}

#[derive(Default)]
struct FakeHa {
    /// What the packet path forwards with (the commit target).
    committed: Mutex<BTreeMap<FabricId, FabricForwarding>>,
    /// The mirrored view `sync` publishes (the helper process's copy).
    synced_view: Mutex<BTreeMap<FabricId, FabricForwarding>>,
    calls: Mutex<Vec<Call>>,
    rg: Mutex<BTreeMap<RedundancyGroupId, bool>>,
    /// Cancelled from inside the update, after it committed.
    cancel_during_update: Option<Cancel>,
    /// Updates of this fabric fail before committing.
    failing_fabric: Option<FabricId>,
}

impl FakeHa {
    fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap().clone()
    }

    fn view_matches_committed(&self) -> bool {
        *self.committed.lock().unwrap() == *self.synced_view.lock().unwrap()
    }
}

impl FabricBackend for FakeHa {
    fn commit_fabric_forwarding(&self, fabric: FabricId, state: &FabricForwarding) -> Result<()> {
        if self.failing_fabric == Some(fabric) {
            return Err(DataplaneError::Backend {
                backend: "fake",
                message: format!("{fabric} map update failed"),
            });
        }
        self.committed.lock().unwrap().insert(fabric, state.clone());
        self.calls.lock().unwrap().push(Call::Update(fabric));
        if let Some(cancel) = &self.cancel_during_update {
            cancel.cancel();
        }
        Ok(())
    }

    fn sync_fabric_view(&self) -> Result<()> {
        let committed = self.committed.lock().unwrap().clone();
        *self.synced_view.lock().unwrap() = committed;
        self.calls.lock().unwrap().push(Call::Sync);
        Ok(())
    }
}

#[async_trait]
impl HAController for FakeHa {
    async fn set_rg_active(&self, rg: RedundancyGroupId, active: bool) -> Result<()> {
        self.rg.lock().unwrap().insert(rg, active);
        Ok(())
    }

    fn rg_active(&self, rg: RedundancyGroupId) -> bool {
        self.rg.lock().unwrap().get(&rg).copied().unwrap_or(false)
    }

    async fn watchdog(&self, _now_ns: u64) -> Result<()> {
        Ok(())
    }

    async fn set_fabric_forwarding(
        &self,
        fabric: FabricId,
        state: FabricForwarding,
        cancel: &Cancel,
    ) -> Result<()> {
        set_fabric_forwarding_then_sync(self, fabric, &state, cancel)
    }

    async fn sync_fabric_state(&self) -> Result<()> {
        self.sync_fabric_view()
    }

    fn fabric_forwarding(&self, fabric: FabricId) -> Option<FabricForwarding> {
        self.committed.lock().unwrap().get(&fabric).cloned()
    }
}

fn fabric_state(interface: &str, last_octet: u8) -> FabricForwarding {
    FabricForwarding {
        interface: interface.to_string(),
        peer_mac: MacAddr([0x02, 0, 0, 0, 1, last_octet]),
        local_mac: MacAddr([0x02, 0, 0, 0, 2, last_octet]),
        enabled: true,
    }
}

#[test]
fn fabric_updates_commit_then_sync_for_both_fabrics() {
    let fake = Arc::new(FakeHa::default());
    let ha: Arc<dyn HAController> = fake.clone();
    let cancel = Cancel::new();

    block_on(ha.set_fabric_forwarding(FabricId::FAB0, fabric_state("fab0", 0), &cancel)).unwrap();
    assert_eq!(fake.calls(), [Call::Update(FabricId::FAB0), Call::Sync]);
    assert!(fake.view_matches_committed());

    block_on(ha.set_fabric_forwarding(FabricId::FAB1, fabric_state("fab1", 1), &cancel)).unwrap();
    assert_eq!(
        fake.calls(),
        [
            Call::Update(FabricId::FAB0),
            Call::Sync,
            Call::Update(FabricId::FAB1),
            Call::Sync
        ]
    );
    assert!(fake.view_matches_committed());
    assert_eq!(
        ha.fabric_forwarding(FabricId::FAB1),
        Some(fabric_state("fab1", 1))
    );
}

#[test]
fn cancellation_during_the_update_still_syncs() {
    for fabric in [FabricId::FAB0, FabricId::FAB1] {
        let cancel = Cancel::new();
        let fake = Arc::new(FakeHa {
            cancel_during_update: Some(cancel.clone()),
            ..FakeHa::default()
        });
        let ha: Arc<dyn HAController> = fake.clone();

        block_on(ha.set_fabric_forwarding(fabric, fabric_state("fab", 9), &cancel))
            .expect("a committed update is not reported as cancelled");
        assert!(
            cancel.is_cancelled(),
            "the fake cancelled the token mid-update"
        );
        assert_eq!(fake.calls(), [Call::Update(fabric), Call::Sync]);
        assert!(fake.view_matches_committed());
    }
}

#[test]
fn cancellation_before_the_update_changes_nothing() {
    let fake = Arc::new(FakeHa::default());
    let ha: Arc<dyn HAController> = fake.clone();
    let cancel = Cancel::new();
    cancel.cancel();

    let err = block_on(ha.set_fabric_forwarding(FabricId::FAB0, fabric_state("fab0", 0), &cancel))
        .unwrap_err();
    assert!(matches!(err, DataplaneError::Cancelled(_)), "{err:?}");
    assert!(fake.calls().is_empty());
    assert_eq!(ha.fabric_forwarding(FabricId::FAB0), None);
}

#[test]
fn a_failed_update_is_not_synced() {
    let fake = Arc::new(FakeHa {
        failing_fabric: Some(FabricId::FAB1),
        ..FakeHa::default()
    });
    let ha: Arc<dyn HAController> = fake.clone();
    let cancel = Cancel::new();

    block_on(ha.set_fabric_forwarding(FabricId::FAB0, fabric_state("fab0", 0), &cancel)).unwrap();
    assert!(
        block_on(ha.set_fabric_forwarding(FabricId::FAB1, fabric_state("fab1", 1), &cancel))
            .is_err()
    );
    assert_eq!(fake.calls(), [Call::Update(FabricId::FAB0), Call::Sync]);
    assert_eq!(ha.fabric_forwarding(FabricId::FAB1), None);
}

/// Dropping a future is cancellation too: the update and the sync must not
/// be separated by a suspension point. The whole operation completes in its
/// first poll, so there is no point at which a drop could land between them.
#[test]
fn fabric_update_and_sync_complete_in_one_poll() {
    let fake = Arc::new(FakeHa::default());
    let ha: Arc<dyn HAController> = fake.clone();
    let cancel = Cancel::new();

    let polled_once = ha
        .set_fabric_forwarding(FabricId::FAB1, fabric_state("fab1", 1), &cancel)
        .now_or_never();
    assert!(matches!(polled_once, Some(Ok(()))));
    assert_eq!(fake.calls(), [Call::Update(FabricId::FAB1), Call::Sync]);
}

#[test]
fn rg_roles_round_trip_through_the_trait_object() {
    let ha: Arc<dyn HAController> = Arc::new(FakeHa::default());
    let rg1 = RedundancyGroupId::new(1);
    assert!(!ha.rg_active(rg1));
    block_on(ha.set_rg_active(rg1, true)).unwrap();
    assert!(ha.rg_active(rg1));
    block_on(ha.watchdog(1)).unwrap();
}

// ---------------------------------------------------------------------------
// The provided `ConfigSink::apply`.
// ---------------------------------------------------------------------------

/// Counts `apply_compiled` calls; never installs anything.
#[derive(Default)]
struct CountingSink {
    installs: AtomicUsize,
}

#[async_trait]
impl ConfigSink for CountingSink {
    async fn apply_compiled(
        &self,
        compiled: Arc<CompiledConfig>,
        cancel: &Cancel,
    ) -> Result<ApplyResult> {
        cancel.check("install")?;
        let generation = self.installs.fetch_add(1, Ordering::SeqCst) as u64 + 1;
        Ok(ApplyResult::from_compiled(
            &compiled,
            generation,
            self.capabilities(),
        ))
    }

    fn last_compiled(&self) -> Option<Arc<CompiledConfig>> {
        None
    }

    fn last_apply(&self) -> Option<ApplyResult> {
        None
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::all_supported()
    }
}

#[test]
fn provided_apply_stops_at_a_cancelled_token_before_compiling() {
    let sink = CountingSink::default();
    let cancel = Cancel::new();
    cancel.cancel();
    let err = block_on(sink.apply(&Config::default(), &cancel)).unwrap_err();
    assert!(matches!(err, DataplaneError::Cancelled(_)), "{err:?}");
    assert_eq!(sink.installs.load(Ordering::SeqCst), 0);
}
