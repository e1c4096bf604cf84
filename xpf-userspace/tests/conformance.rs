//! The conformance harness over the backend's inline (deterministic) mode,
//! and differential runs against the reference model.

mod common;

use common::*;
use std::net::IpAddr;
use xpf_conformance::{
    CounterSnapshot, EmittedFrame, Harness, HarnessError, Model, Outcome, ReconcileSummary,
    Verdict, ZoneCounters,
};
use xpf_dataplane::apply::{ApplyResult, Capabilities};
use xpf_dataplane::cancel::Cancel;
use xpf_dataplane::compile::{CompiledConfig, compile_with_previous};
use xpf_dataplane::session_store::{CompanionDeleteResult, ReconcileInput};
use xpf_dataplane::{Config, ConfigSink, DataplaneError, EventStream, RuntimeDataPlane};
use xpf_engine::engine::Verdict as EngineVerdict;
use xpf_runtime::{
    AnySessionKey, CloseReason, DropReason, Event, InterfaceId, RedundancyGroupId, SessionDelta,
    SessionEntry,
};
use xpf_userspace::craft::tcp_flags::{ACK, FIN, PSH, SYN};
use xpf_userspace::{Origin, UserspaceDataplane};

/// The userspace backend as a conformance [`Harness`].
pub struct UserspaceHarness {
    dp: UserspaceDataplane,
    events: Box<dyn EventStream>,
    /// The config in force, compiled the way every backend compiles it
    /// (stable ids from the previous one): the filter terms whose counters
    /// [`Harness::filter_term_counters`] reads through `Telemetry`.
    compiled: Option<std::sync::Arc<CompiledConfig>>,
}

impl Default for UserspaceHarness {
    fn default() -> Self {
        let dp = UserspaceDataplane::inline();
        block_on(dp.start()).expect("inline start");
        let events = dp.telemetry().events().expect("event stream");
        Self {
            dp,
            events,
            compiled: None,
        }
    }
}

fn harness_error(e: DataplaneError) -> HarnessError {
    match e {
        DataplaneError::Config(errors) => HarnessError::Rejected(errors),
        DataplaneError::Unsupported { capability, reason } => {
            HarnessError::Unsupported { capability, reason }
        }
        other => HarnessError::Dataplane(other),
    }
}

impl Harness for UserspaceHarness {
    fn name(&self) -> &str {
        "userspace"
    }

    fn capabilities(&self) -> Capabilities {
        self.dp.capabilities()
    }

    fn apply(&mut self, config: &Config, now_ns: u64) -> Result<ApplyResult, HarnessError> {
        self.dp.advance(now_ns).map_err(harness_error)?;
        let applied = block_on(self.dp.apply(config, &Cancel::new())).map_err(harness_error)?;
        let compiled = compile_with_previous(config, self.compiled.as_deref())?;
        self.compiled = Some(std::sync::Arc::new(compiled));
        Ok(applied)
    }

    fn inject(&mut self, ingress: InterfaceId, frame: &[u8], now_ns: u64) -> Outcome {
        let injected = match self.dp.inject_id(now_ns, ingress, frame.to_vec()) {
            Ok(i) => i,
            // No config yet: nothing is managed.
            Err(_) => return Outcome::dropped(DropReason::UnknownInterface),
        };
        let verdict = match injected.verdict {
            Some(EngineVerdict::Forward { egress }) => Verdict::Forward { egress },
            Some(EngineVerdict::Local) => Verdict::Local,
            Some(EngineVerdict::Drop(reason)) => Verdict::Drop { reason },
            None => Verdict::Drop {
                reason: DropReason::UnknownInterface,
            },
        };
        let mut forwarded = None;
        let mut generated = Vec::new();
        for f in injected.frames {
            match f.origin {
                Origin::Forwarded => forwarded = Some(f.frame),
                Origin::Generated | Origin::Fabric => generated.push(EmittedFrame {
                    interface: f.interface,
                    frame: f.frame,
                }),
            }
        }
        Outcome {
            verdict,
            forwarded,
            generated,
        }
    }

    fn advance(&mut self, now_ns: u64) {
        self.dp.advance(now_ns).expect("advance");
    }

    fn sessions(&self) -> Vec<SessionEntry> {
        let mut all = Vec::new();
        block_on(self.dp.sessions().for_each(None, &mut |e| {
            all.push(*e);
            std::ops::ControlFlow::Continue(())
        }))
        .expect("walk");
        all.sort_by_key(SessionEntry::key);
        all
    }

    fn counters(&self) -> CounterSnapshot {
        let t = self.dp.counter_tables();
        let mut snap = CounterSnapshot {
            global: t.global.into_iter().collect(),
            interfaces: (t.interfaces.into_iter().enumerate())
                .map(|(i, c)| (InterfaceId(i as u16), c))
                .collect(),
            zones: (t.zones.into_iter().enumerate())
                .map(|(i, z)| {
                    let zc = ZoneCounters {
                        ingress: z.ingress,
                        egress: z.egress,
                        dropped: z.drops,
                    };
                    (xpf_runtime::ZoneId(i as u16), zc)
                })
                .collect(),
            policies: (t.policies.into_iter().enumerate())
                .map(|(i, c)| (xpf_runtime::PolicyRuleId(i as u32), c))
                .collect(),
            nat_rules: (t.nat_rules.into_iter().enumerate())
                .map(|(i, c)| (xpf_runtime::NatRuleId(i as u32), c))
                .collect(),
        };
        snap.canonicalize();
        snap
    }

    fn filter_term_counters(
        &self,
    ) -> Option<std::collections::BTreeMap<xpf_runtime::FilterTermId, xpf_runtime::CounterValue>>
    {
        let Some(c) = self.compiled.as_ref() else {
            return Some(Default::default());
        };
        let telemetry = self.dp.telemetry();
        Some(
            c.filters
                .terms
                .iter()
                .map(|t| {
                    let v = block_on(telemetry.filter_term_counters(t.id))
                        .expect("a term of the config in force has a counter");
                    (t.id, v)
                })
                .filter(|(_, v)| *v != xpf_runtime::CounterValue::default())
                .collect(),
        )
    }

    fn drain_events(&mut self) -> Vec<Event> {
        std::iter::from_fn(|| self.events.try_next()).collect()
    }

    fn drain_deltas(&mut self) -> Vec<SessionDelta> {
        let source = self.dp.session_deltas().expect("delta source");
        source.drain(usize::MAX).expect("drain").deltas
    }

    fn set_redundancy_group(
        &mut self,
        rg: RedundancyGroupId,
        active: bool,
        now_ns: u64,
    ) -> Result<(), HarnessError> {
        self.dp.advance(now_ns).map_err(harness_error)?;
        block_on(self.dp.ha().set_rg_active(rg, active)).map_err(harness_error)
    }

    fn delete_known(
        &mut self,
        entry: &SessionEntry,
        reason: CloseReason,
        now_ns: u64,
    ) -> Result<bool, HarnessError> {
        self.dp.advance(now_ns).map_err(harness_error)?;
        let store = self.dp.sessions();
        let removed = block_on(store.delete_known(entry, reason)).map_err(harness_error)?;
        // The suite (like the model and the engine, which store a session as
        // one record) treats a known delete of a forward entry as the end of
        // the session. The store follows the `SessionStore` contract and
        // keeps the reverse entry until it is deleted too (or expires), so
        // the harness deletes it as well: silently, as the contract says.
        if removed && !entry.is_reverse() {
            let reverse = xpf_dataplane::session_store::reverse_entry(entry);
            block_on(store.delete_known(&reverse, reason)).map_err(harness_error)?;
        }
        Ok(removed)
    }

    fn delete_with_companions(
        &mut self,
        key: &AnySessionKey,
        reason: CloseReason,
        now_ns: u64,
    ) -> Result<CompanionDeleteResult, HarnessError> {
        self.dp.advance(now_ns).map_err(harness_error)?;
        block_on(self.dp.sessions().delete_with_companions(key, reason)).map_err(harness_error)
    }

    fn reconcile_cluster_bulk(
        &mut self,
        input: &ReconcileInput,
        reason: CloseReason,
        now_ns: u64,
    ) -> Result<ReconcileSummary, HarnessError> {
        self.dp.advance(now_ns).map_err(harness_error)?;
        let r = block_on(self.dp.sessions().reconcile_cluster_bulk(input, reason))
            .map_err(harness_error)?;
        Ok(ReconcileSummary {
            stale: r.stale(),
            deleted: r.deleted(),
            failed: r.errors.len(),
        })
    }

    fn put_cluster_synced(&mut self, entry: SessionEntry, now_ns: u64) -> Result<(), HarnessError> {
        self.dp.advance(now_ns).map_err(harness_error)?;
        block_on(self.dp.sessions().put_cluster_synced(entry)).map_err(harness_error)
    }
}

// Every property of the suite, on generated cases, against this backend.
xpf_conformance::conformance_suite!(UserspaceHarness::default);

/// One step of a scripted scenario.
enum Step {
    Frame(&'static str, Vec<u8>),
    Advance(u64),
}

/// Traffic through the fixture: SNAT TCP with data and FIN, a DNAT port
/// forward, UDP and ICMP over IPv4 and IPv6, default-denied inbound, a
/// malformed frame, and time passing across timeouts.
fn scenario() -> Vec<(u64, Step)> {
    let srv = ip(SERVER);
    let v6c: IpAddr = ip("2001:db8:1::10");
    let v6s: IpAddr = ip("2001:db8:5::80");
    let out6 = xpf_userspace::craft::Envelope::new(client_mac(0), LAN_MAC, v6c, v6s);
    let in6 = xpf_userspace::craft::Envelope::new(GW_MAC, WAN_MAC, v6s, v6c);
    let c = from_client(0, srv);
    let mut steps = vec![
        (
            0,
            Step::Frame("lan", c.tcp(40000, 443, SYN, 100, 0, 65535, &[])),
        ),
        (1, Step::Frame("lan", c.udp(5353, 53, b"query"))),
        (2, Step::Frame("lan", c.echo(77, 1, false, b"ping"))),
        (
            3,
            Step::Frame(
                "wan",
                from_wan(srv, client(5)).tcp(50000, 22, SYN, 1, 0, 65535, &[]),
            ),
        ),
        (
            4,
            Step::Frame(
                "wan",
                from_wan(ip("198.19.9.9"), ip(PUBLIC_WEB)).tcp(51000, 8080, SYN, 7, 0, 65535, &[]),
            ),
        ),
        (
            5,
            Step::Frame("lan", out6.tcp(41000, 80, SYN, 9, 0, 65535, &[])),
        ),
        (
            6,
            Step::Frame("wan", in6.tcp(80, 41000, SYN | ACK, 500, 10, 65535, &[])),
        ),
        (7, Step::Frame("lan", out6.echo(5, 1, false, b"v6"))),
        (8, Step::Frame("lan", vec![0u8; 10])),
    ];
    // A whole TCP connection from a second client, with replies.
    let c1 = from_client(1, srv);
    steps.push((
        10,
        Step::Frame("lan", c1.tcp(40100, 80, SYN, 1000, 0, 65535, &[])),
    ));
    steps.push((
        11,
        Step::Frame(
            "lan",
            c1.tcp(40100, 80, ACK | PSH, 1001, 1, 65535, b"GET /"),
        ),
    )); // mid-handshake data is refused or tracked: both sides must agree
    steps.push((
        12,
        Step::Frame("lan", c1.tcp(40100, 80, FIN | ACK, 1006, 1, 65535, &[])),
    ));
    steps.push((20, Step::Advance(40)));
    steps.push((21, Step::Advance(4000)));
    steps
}

fn run<H: Harness>(h: &mut H) -> (Vec<Outcome>, Vec<SessionEntry>, CounterSnapshot) {
    let cfg = Config::from_toml_str(&config(false)).unwrap();
    h.apply(&cfg, T0).expect("apply");
    let lan = InterfaceId(1);
    let wan = InterfaceId(2);
    let mut outcomes = Vec::new();
    let mut mid_sessions = Vec::new();
    for (t, step) in scenario() {
        let now = T0 + t * SEC;
        match step {
            Step::Frame(i, f) => {
                let ifc = if i == "lan" { lan } else { wan };
                outcomes.push(h.inject(ifc, &f, now));
                if std::env::var("XPF_DEBUG_STEPS").is_ok() {
                    eprintln!(
                        "{} step {}: {:?} nat={}",
                        h.name(),
                        outcomes.len() - 1,
                        outcomes.last().unwrap().verdict,
                        h.counters().get(xpf_runtime::BaseCounter::NatTranslated)
                    );
                }
            }
            Step::Advance(secs) => {
                if mid_sessions.is_empty() {
                    mid_sessions = h.sessions();
                }
                h.advance(now + secs * SEC);
            }
        }
    }
    (outcomes, mid_sessions, h.counters())
}

#[test]
fn inline_backend_matches_the_reference_model_on_a_mixed_scenario() {
    let mut model = Model::new();
    let mut us = UserspaceHarness::default();
    let (mo, ms, mc) = run(&mut model);
    let (uo, uss, uc) = run(&mut us);
    for (i, (m, u)) in mo.iter().zip(&uo).enumerate() {
        assert_eq!(m.verdict, u.verdict, "step {i}: verdict");
        assert_eq!(m.forwarded, u.forwarded, "step {i}: forwarded bytes");
        assert_eq!(m.generated, u.generated, "step {i}: generated frames");
    }
    assert_eq!(ms, uss, "sessions before the timeouts");
    assert!(us.sessions().is_empty(), "every session expired");
    assert_eq!(mc, uc, "counters");
    assert!(
        uo.iter()
            .any(|o| matches!(o.verdict, Verdict::Forward { .. })),
        "the scenario forwards traffic"
    );
}

#[test]
fn harness_session_store_ops_follow_the_generic_semantics() {
    let mut h = UserspaceHarness::default();
    let cfg = Config::from_toml_str(&config(false)).unwrap();
    h.apply(&cfg, T0).unwrap();
    let lan = InterfaceId(1);
    for i in 0..3u8 {
        let f = from_client(i, ip(SERVER)).udp(6000 + u16::from(i), 53, b"q");
        assert!(matches!(
            h.inject(lan, &f, T0 + SEC).verdict,
            Verdict::Forward { .. }
        ));
    }
    h.drain_events();
    h.drain_deltas();
    let entries = h.sessions();
    assert_eq!(entries.len(), 6);
    let rev = entries.iter().find(|e| e.is_reverse()).copied().unwrap();
    let del = h
        .delete_with_companions(&rev.key(), CloseReason::Admin, T0 + 2 * SEC)
        .unwrap();
    assert!(del.forward && del.reverse);
    // The SNAT mapping lives in the engine's session record: released with
    // it, not a separate companion entry.
    assert_eq!(del.nat_companions, 0);
    let closes: Vec<_> = h
        .drain_events()
        .into_iter()
        .filter(|e| matches!(e, Event::SessionClose(_)))
        .collect();
    assert_eq!(closes.len(), 1);
    let deltas = h.drain_deltas();
    assert_eq!(deltas.len(), 1);
    assert_eq!(
        deltas[0].reason,
        xpf_runtime::SessionDeltaReason::Close(CloseReason::Admin)
    );
    assert!(
        h.delete_with_companions(&rev.key(), CloseReason::Admin, T0 + 2 * SEC)
            .unwrap()
            .is_noop()
    );
    // Reconcile: keep one session via the peer's bulk, the other is stale.
    let remaining: Vec<_> = h
        .sessions()
        .into_iter()
        .filter(|e| !e.is_reverse())
        .collect();
    assert_eq!(remaining.len(), 2);
    let input = ReconcileInput::new([remaining[0].key()], []);
    let summary = h
        .reconcile_cluster_bulk(&input, CloseReason::ClusterReconcile, T0 + 3 * SEC)
        .unwrap();
    assert_eq!((summary.stale, summary.deleted, summary.failed), (1, 1, 0));
    let left: Vec<_> = h.sessions();
    assert_eq!(left.len(), 2);
    assert!(left.iter().any(|e| e.key() == remaining[0].key()));
    // A stale read never deletes: the id no longer matches after re-creation.
    assert!(
        !h.delete_known(&remaining[1], CloseReason::Admin, T0 + 4 * SEC)
            .unwrap()
    );
}
