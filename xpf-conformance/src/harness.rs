//! The [`Harness`] trait every backend implements to run the conformance
//! suite, and the backend-neutral data it speaks: [`Outcome`] of one frame,
//! [`CounterSnapshot`], [`HarnessError`].
//!
//! A harness is synchronous and deterministic: the suite drives it one call
//! at a time with explicit times (`now_ns`, Unix nanoseconds, never going
//! backwards), and expects the same answers for the same calls. A backend
//! with worker threads offers a deterministic mode (one worker, or waiting
//! for each frame to finish) for its harness.
//!
//! The reference model ([`crate::model::Model`]) implements this trait
//! itself; the suite compares every backend with it call by call.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use xpf_dataplane::Config;
use xpf_dataplane::apply::{ApplyResult, Capabilities};
use xpf_dataplane::error::{ConfigErrors, DataplaneError};
use xpf_dataplane::session_store::{CompanionDeleteResult, ReconcileInput};
use xpf_runtime::{
    AnySessionKey, CloseReason, CounterValue, DropReason, Event, FilterTermId, GlobalCounter,
    InterfaceCounters, InterfaceId, NatRuleId, PolicyRuleId, RedundancyGroupId, SessionDelta,
    SessionEntry, ZoneId,
};

/// What happened to one injected frame: a neutral copy of a backend's verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// The (rewritten) frame left through `egress`.
    Forward {
        /// Egress interface.
        egress: InterfaceId,
    },
    /// Delivered to the host stack (host-inbound permitted, ARP).
    Local,
    /// Dropped, counted under `reason`.
    Drop {
        /// Why.
        reason: DropReason,
    },
}

/// A frame the dataplane sent: the forwarded frame or one the firewall
/// generated itself (TCP RST, ICMP error).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct EmittedFrame {
    /// Interface it leaves through.
    pub interface: InterfaceId,
    /// The whole Ethernet frame.
    pub frame: Vec<u8>,
}

/// The result of [`Harness::inject`].
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Outcome {
    /// The verdict.
    pub verdict: Verdict,
    /// The forwarded frame (exact bytes after every rewrite), present exactly
    /// when the verdict is [`Verdict::Forward`].
    pub forwarded: Option<Vec<u8>>,
    /// Frames the firewall generated while handling this one (RST, ICMP
    /// errors), in emission order.
    pub generated: Vec<EmittedFrame>,
}

impl Outcome {
    /// A drop with nothing emitted.
    pub fn dropped(reason: DropReason) -> Self {
        Self {
            verdict: Verdict::Drop { reason },
            forwarded: None,
            generated: Vec::new(),
        }
    }
}

/// Per-zone traffic counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ZoneCounters {
    /// Frames received on the zone's interfaces (after L3 parsing succeeded).
    pub ingress: CounterValue,
    /// Frames forwarded out of the zone's interfaces.
    pub egress: CounterValue,
    /// Frames dropped after entering the zone.
    pub dropped: u64,
}

/// Every counter a backend reports, in a canonical form: maps keyed by id,
/// holding only non-zero entries, so two snapshots compare with `==`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CounterSnapshot {
    /// Global counters (base counters and drops per reason), non-zero only.
    pub global: BTreeMap<GlobalCounter, u64>,
    /// Per interface, non-zero only.
    pub interfaces: BTreeMap<InterfaceId, InterfaceCounters>,
    /// Per zone, non-zero only.
    pub zones: BTreeMap<ZoneId, ZoneCounters>,
    /// Per policy rule (hits: packets and L3 bytes), non-zero only.
    pub policies: BTreeMap<PolicyRuleId, CounterValue>,
    /// Per NAT rule (translations), non-zero only.
    pub nat_rules: BTreeMap<NatRuleId, CounterValue>,
}

impl CounterSnapshot {
    /// A global counter's value (0 when absent).
    pub fn get(&self, c: impl Into<GlobalCounter>) -> u64 {
        self.global.get(&c.into()).copied().unwrap_or(0)
    }

    /// Drops every zero entry, making the snapshot canonical.
    pub fn canonicalize(&mut self) {
        self.global.retain(|_, v| *v != 0);
        self.interfaces
            .retain(|_, v| *v != InterfaceCounters::default());
        self.zones.retain(|_, v| *v != ZoneCounters::default());
        self.policies.retain(|_, v| *v != CounterValue::default());
        self.nat_rules.retain(|_, v| *v != CounterValue::default());
    }
}

/// What a reconcile did, in a comparable form.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ReconcileSummary {
    /// Stale sessions found.
    pub stale: usize,
    /// Stale sessions deleted.
    pub deleted: usize,
    /// Deletes that failed.
    pub failed: usize,
}

/// Why a harness call failed.
#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    /// The config was rejected by validation or compilation; nothing changed.
    #[error("config rejected: {0}")]
    Rejected(#[from] ConfigErrors),
    /// The backend does not support something the call needs; nothing changed.
    #[error("unsupported {capability}: {reason}")]
    Unsupported {
        /// The capability (kebab-case name).
        capability: String,
        /// Why.
        reason: String,
    },
    /// A dataplane operation failed.
    #[error("dataplane: {0}")]
    Dataplane(#[from] DataplaneError),
    /// Anything else the backend reports.
    #[error("{backend}: {message}")]
    Backend {
        /// The harness name.
        backend: String,
        /// What went wrong.
        message: String,
    },
}

impl HarnessError {
    /// True when the error is a rejection of the config itself (validation
    /// or an unsupported capability), as opposed to a backend failure.
    pub fn is_rejection(&self) -> bool {
        matches!(self, Self::Rejected(_) | Self::Unsupported { .. })
            || matches!(
                self,
                Self::Dataplane(DataplaneError::Config(_) | DataplaneError::Unsupported { .. })
            )
    }
}

/// A backend under test, driven synchronously by the conformance suite.
///
/// Times are Unix nanoseconds supplied by the caller and never go backwards
/// across calls. Every method that can change state takes the time at which
/// it happens.
pub trait Harness {
    /// A short name for test output (`model`, `engine`, `userspace`).
    fn name(&self) -> &str;

    /// What the backend supports. Configs needing an unsupported capability
    /// must be refused by [`apply`](Self::apply) with
    /// [`HarnessError::Unsupported`]; the suite skips (and lists) the
    /// properties that need them.
    fn capabilities(&self) -> Capabilities;

    /// Validates, compiles (against the previous generation, so ids are
    /// stable) and installs `config` at `now_ns`. A rejected config returns
    /// an error and changes nothing: the previous generation stays in force
    /// with its sessions, counters and events untouched.
    fn apply(&mut self, config: &Config, now_ns: u64) -> Result<ApplyResult, HarnessError>;

    /// Runs one frame that arrived on `ingress` at `now_ns` through the
    /// dataplane. Frames on an interface the dataplane does not manage are
    /// dropped with [`DropReason::UnknownInterface`].
    fn inject(&mut self, ingress: InterfaceId, frame: &[u8], now_ns: u64) -> Outcome;

    /// Lets time pass to `now_ns`: expires every session idle past its
    /// timeout (close events, deltas, NAT release) exactly as a packet-free
    /// interval would.
    fn advance(&mut self, now_ns: u64);

    /// Every session entry (forward and reverse), sorted by key.
    fn sessions(&self) -> Vec<SessionEntry>;

    /// Every counter, canonical (see [`CounterSnapshot::canonicalize`]).
    fn counters(&self) -> CounterSnapshot;

    /// Per firewall-filter term, the packets and L3 bytes it matched
    /// since the last apply (non-zero only), or `None` when the backend
    /// does not expose them (then they are not compared).
    fn filter_term_counters(&self) -> Option<BTreeMap<FilterTermId, CounterValue>> {
        None
    }

    /// Events produced since the last drain, in order.
    fn drain_events(&mut self) -> Vec<Event>;

    /// Session deltas produced since the last drain, in order.
    fn drain_deltas(&mut self) -> Vec<SessionDelta>;

    /// Marks a redundancy group active or backup on this node.
    fn set_redundancy_group(
        &mut self,
        rg: RedundancyGroupId,
        active: bool,
        now_ns: u64,
    ) -> Result<(), HarnessError>;

    /// `SessionStore::delete_known`: deletes exactly `entry` if it still
    /// belongs to the same session.
    fn delete_known(
        &mut self,
        entry: &SessionEntry,
        reason: CloseReason,
        now_ns: u64,
    ) -> Result<bool, HarnessError>;

    /// `SessionStore::delete_with_companions` from either key.
    fn delete_with_companions(
        &mut self,
        key: &AnySessionKey,
        reason: CloseReason,
        now_ns: u64,
    ) -> Result<CompanionDeleteResult, HarnessError>;

    /// `SessionStore::reconcile_cluster_bulk`.
    fn reconcile_cluster_bulk(
        &mut self,
        input: &ReconcileInput,
        reason: CloseReason,
        now_ns: u64,
    ) -> Result<ReconcileSummary, HarnessError>;

    /// `SessionStore::put_cluster_synced`: installs a forward entry received
    /// from the peer, with its derived reverse entry.
    fn put_cluster_synced(&mut self, entry: SessionEntry, now_ns: u64) -> Result<(), HarnessError>;
}

/// Builds a fresh harness: the suite starts every case from a new one.
pub trait HarnessFactory {
    /// The harness type.
    type Harness: Harness;
    /// A new, empty harness (no config applied yet).
    fn create(&self) -> Self::Harness;
}

impl<H: Harness, F: Fn() -> H> HarnessFactory for F {
    type Harness = H;
    fn create(&self) -> H {
        self()
    }
}
