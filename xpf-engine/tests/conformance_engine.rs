//! The conformance suite (`xpf-conformance`) run directly against
//! `xpf_engine::Engine`: a `Harness` over one engine instance, compared
//! with the reference model on every generated case.

use std::sync::Arc;
use xpf_conformance::harness::{
    CounterSnapshot, EmittedFrame, Harness, HarnessError, Outcome, ReconcileSummary, Verdict,
    ZoneCounters,
};
use xpf_dataplane::Config;
use xpf_dataplane::apply::{ApplyResult, Capabilities};
use xpf_dataplane::compile::{CompiledConfig, compile_with_previous};
use xpf_dataplane::session_store::{CompanionDeleteResult, ReconcileInput};
use xpf_engine::engine::{Engine, EngineOptions, Verdict as EngineVerdict};
use xpf_runtime::{
    AnySessionKey, CloseReason, DropReason, Event, InterfaceId, NatRuleId, PolicyRuleId,
    RedundancyGroupId, SessionDelta, SessionEntry, ZoneId,
};

/// One engine behind the `Harness` trait.
#[derive(Default)]
struct EngineHarness {
    engine: Option<Engine>,
    compiled: Option<Arc<CompiledConfig>>,
    generation: u64,
}

impl EngineHarness {
    fn expire(&mut self, now: u64) {
        if let Some(e) = self.engine.as_mut() {
            e.expire(now, usize::MAX);
        }
    }

    fn engine(&mut self) -> Result<&mut Engine, HarnessError> {
        self.engine.as_mut().ok_or_else(|| HarnessError::Backend {
            backend: "engine".into(),
            message: "no config applied".into(),
        })
    }
}

impl Harness for EngineHarness {
    fn name(&self) -> &str {
        "engine"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::all_supported()
    }

    fn apply(&mut self, config: &Config, now_ns: u64) -> Result<ApplyResult, HarnessError> {
        self.expire(now_ns);
        let compiled = Arc::new(compile_with_previous(config, self.compiled.as_deref())?);
        let generation = self.generation + 1;
        let failed = |e: xpf_engine::engine::ApplyError| HarnessError::Backend {
            backend: "engine".into(),
            message: e.to_string(),
        };
        match self.engine.as_mut() {
            Some(e) => {
                e.apply(compiled.clone(), generation, now_ns)
                    .map_err(failed)?;
            }
            None => {
                let opts = EngineOptions::default();
                self.engine =
                    Some(Engine::new(compiled.clone(), generation, opts, now_ns).map_err(failed)?);
            }
        }
        self.generation = generation;
        let result = ApplyResult::from_compiled(&compiled, generation, self.capabilities());
        self.compiled = Some(compiled);
        Ok(result)
    }

    fn inject(&mut self, ingress: InterfaceId, frame: &[u8], now_ns: u64) -> Outcome {
        self.expire(now_ns);
        let Some(engine) = self.engine.as_mut() else {
            return Outcome::dropped(DropReason::UnknownInterface);
        };
        let mut f = frame.to_vec();
        let mut out = Vec::new();
        let verdict = match engine.process(now_ns, ingress, &mut f, &mut out) {
            EngineVerdict::Forward { egress } => Verdict::Forward { egress },
            EngineVerdict::Local => Verdict::Local,
            EngineVerdict::Drop(reason) => Verdict::Drop { reason },
        };
        Outcome {
            verdict,
            forwarded: matches!(verdict, Verdict::Forward { .. }).then_some(f),
            generated: out
                .into_iter()
                .map(|e| EmittedFrame {
                    interface: e.interface,
                    frame: e.frame,
                })
                .collect(),
        }
    }

    fn advance(&mut self, now_ns: u64) {
        self.expire(now_ns);
    }

    fn sessions(&self) -> Vec<SessionEntry> {
        let Some(e) = self.engine.as_ref() else {
            return Vec::new();
        };
        let table = e.sessions();
        let mut v: Vec<SessionEntry> = table
            .iter()
            .flat_map(|(h, _)| {
                let (f, r) = table.to_entries(h);
                [f, r]
            })
            .collect();
        v.sort_by_key(|e| e.key());
        v
    }

    fn filter_term_counters(
        &self,
    ) -> Option<std::collections::BTreeMap<xpf_runtime::FilterTermId, xpf_runtime::CounterValue>>
    {
        let (Some(e), Some(c)) = (self.engine.as_ref(), self.compiled.as_ref()) else {
            return Some(Default::default());
        };
        Some(
            c.filters
                .terms
                .iter()
                .filter_map(|t| {
                    let v = e.filters().term_counter(t.id)?;
                    (v != xpf_runtime::CounterValue::default()).then_some((t.id, v))
                })
                .collect(),
        )
    }

    fn counters(&self) -> CounterSnapshot {
        let Some(e) = self.engine.as_ref() else {
            return CounterSnapshot::default();
        };
        let c = &e.telemetry().counters;
        let mut s = CounterSnapshot {
            global: c.global().into_iter().collect(),
            interfaces: c
                .interfaces
                .iter()
                .enumerate()
                .map(|(i, v)| (InterfaceId(i as u16), *v))
                .collect(),
            zones: c
                .zones
                .iter()
                .enumerate()
                .map(|(i, z)| {
                    (
                        ZoneId(i as u16),
                        ZoneCounters {
                            ingress: z.ingress,
                            egress: z.egress,
                            dropped: z.dropped,
                        },
                    )
                })
                .collect(),
            policies: c
                .policies
                .iter()
                .enumerate()
                .map(|(i, v)| (PolicyRuleId(i as u32), *v))
                .collect(),
            nat_rules: c
                .nat_rules
                .iter()
                .enumerate()
                .map(|(i, v)| (NatRuleId(i as u32), *v))
                .collect(),
        };
        s.canonicalize();
        s
    }

    fn drain_events(&mut self) -> Vec<Event> {
        match self.engine.as_mut() {
            Some(e) => e.telemetry_mut().events.drain(usize::MAX),
            None => Vec::new(),
        }
    }

    fn drain_deltas(&mut self) -> Vec<SessionDelta> {
        match self.engine.as_mut() {
            Some(e) => e.telemetry_mut().deltas.drain(usize::MAX),
            None => Vec::new(),
        }
    }

    fn set_redundancy_group(
        &mut self,
        rg: RedundancyGroupId,
        active: bool,
        now_ns: u64,
    ) -> Result<(), HarnessError> {
        self.expire(now_ns);
        self.engine()?.set_rg_active(rg, active);
        Ok(())
    }

    fn delete_known(
        &mut self,
        entry: &SessionEntry,
        reason: CloseReason,
        now_ns: u64,
    ) -> Result<bool, HarnessError> {
        self.expire(now_ns);
        if entry.is_reverse() {
            return Err(HarnessError::Unsupported {
                capability: "delete-known-reverse".into(),
                reason: "the engine stores a session's two entries as one record".into(),
            });
        }
        let current = self.sessions().into_iter().find(|e| e.key() == entry.key());
        if current.is_none_or(|c| c.is_reverse() || c.session_id() != entry.session_id()) {
            return Ok(false);
        }
        Ok(self.engine()?.close_session(&entry.key(), reason, now_ns))
    }

    fn delete_with_companions(
        &mut self,
        key: &AnySessionKey,
        reason: CloseReason,
        now_ns: u64,
    ) -> Result<CompanionDeleteResult, HarnessError> {
        self.expire(now_ns);
        let closed = self.engine()?.close_session(key, reason, now_ns);
        Ok(CompanionDeleteResult {
            forward: closed,
            reverse: closed,
            nat_companions: 0,
        })
    }

    fn reconcile_cluster_bulk(
        &mut self,
        input: &ReconcileInput,
        reason: CloseReason,
        now_ns: u64,
    ) -> Result<ReconcileSummary, HarnessError> {
        self.expire(now_ns);
        let stale: Vec<AnySessionKey> = self
            .sessions()
            .iter()
            .filter(|e| input.is_stale(e))
            .map(|e| e.key())
            .collect();
        let engine = self.engine()?;
        let mut summary = ReconcileSummary {
            stale: stale.len(),
            ..Default::default()
        };
        for key in stale {
            if engine.close_session(&key, reason, now_ns) {
                summary.deleted += 1;
            } else {
                summary.failed += 1;
            }
        }
        Ok(summary)
    }

    fn put_cluster_synced(&mut self, entry: SessionEntry, now_ns: u64) -> Result<(), HarnessError> {
        self.expire(now_ns);
        self.engine()?
            .install_synced(&entry, now_ns)
            .map(|_| ())
            .map_err(|e| HarnessError::Backend {
                backend: "engine".into(),
                message: e.to_string(),
            })
    }
}

xpf_conformance::conformance_suite!(EngineHarness::default);
