//! The conformance suite (`xpf-conformance`) run against the real XDP
//! program: every generated frame goes through `BPF_PROG_TEST_RUN`, sessions
//! and counters are read from the maps, events and deltas from the ring
//! buffer. Needs root: without it the tests fail with a clear message unless
//! `XPF_ALLOW_SKIP_PRIVILEGED=1` is set.
//!
//! One program is loaded per test thread (verification takes seconds) and
//! reset between cases.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::Arc;
use xpf_conformance::harness::{
    CounterSnapshot, EmittedFrame, Harness, HarnessError, Outcome, ReconcileSummary, Verdict,
    ZoneCounters,
};
use xpf_conformance::suite::{Property, replay_corpus, run_property};
use xpf_dataplane::Config;
use xpf_dataplane::apply::{ApplyResult, Capabilities};
use xpf_dataplane::compile::compile_with_previous;
use xpf_dataplane::error::DataplaneError;
use xpf_dataplane::session_store::{CompanionDeleteResult, ReconcileInput};
use xpf_ebpf::firewall::sess_key;
use xpf_ebpf::{Firewall, FrameVerdict, LoadOptions};
use xpf_runtime::{
    AnySessionKey, CloseReason, CounterValue, DropReason, Event, FilterTermId, InterfaceId,
    RedundancyGroupId, SessionDelta, SessionEntry,
};

thread_local! {
    static FIREWALL: RefCell<Option<Rc<RefCell<Firewall>>>> = const { RefCell::new(None) };
}

fn shared_firewall() -> Rc<RefCell<Firewall>> {
    FIREWALL.with(|f| {
        let mut slot = f.borrow_mut();
        if let Some(fw) = slot.as_ref() {
            return fw.clone();
        }
        let mut fw = Firewall::new(LoadOptions { max_sessions: 4096 })
            .unwrap_or_else(|e| panic!("loading the XDP program: {e}: {e:?}"));
        fw.set_trace(true).expect("test mode");
        let fw = Rc::new(RefCell::new(fw));
        *slot = Some(fw.clone());
        fw
    })
}

struct EbpfHarness {
    fw: Rc<RefCell<Firewall>>,
}

impl EbpfHarness {
    fn new() -> Self {
        let fw = shared_firewall();
        fw.borrow_mut().reset().expect("reset between cases");
        Self { fw }
    }

    fn expire(&self, now: u64) {
        self.fw.borrow_mut().expire(now).expect("expiry");
    }
}

fn harness_err(e: DataplaneError) -> HarnessError {
    match e {
        DataplaneError::Unsupported { capability, reason } => {
            HarnessError::Unsupported { capability, reason }
        }
        e => HarnessError::Dataplane(e),
    }
}

impl Harness for EbpfHarness {
    fn name(&self) -> &str {
        "ebpf"
    }

    fn capabilities(&self) -> Capabilities {
        xpf_ebpf::lower::capabilities()
    }

    fn apply(&mut self, config: &Config, now_ns: u64) -> Result<ApplyResult, HarnessError> {
        self.expire(now_ns);
        let mut fw = self.fw.borrow_mut();
        let compiled = compile_with_previous(config, fw.compiled().map(|c| c.as_ref()))?;
        fw.apply_compiled(Arc::new(compiled), now_ns)
            .map_err(harness_err)
    }

    fn inject(&mut self, ingress: InterfaceId, frame: &[u8], now_ns: u64) -> Outcome {
        self.expire(now_ns);
        let r = self
            .fw
            .borrow_mut()
            .run_frame_full(ingress, frame, now_ns)
            .expect("BPF_PROG_TEST_RUN");
        let verdict = match r.verdict {
            FrameVerdict::Forward(egress) => Verdict::Forward { egress },
            FrameVerdict::Local => Verdict::Local,
            FrameVerdict::Drop(reason) => Verdict::Drop { reason },
        };
        // An emitted frame (RST / ICMP error) leaves out of the interface
        // the program names (the ingress, or an output filter's interface).
        let generated = match r.emitted {
            Some(interface) => vec![EmittedFrame {
                interface,
                frame: r.frame.clone(),
            }],
            None => Vec::new(),
        };
        Outcome {
            verdict,
            forwarded: matches!(verdict, Verdict::Forward { .. }).then_some(r.frame),
            generated,
        }
    }

    fn advance(&mut self, now_ns: u64) {
        self.expire(now_ns);
    }

    fn sessions(&self) -> Vec<SessionEntry> {
        self.fw.borrow().sessions()
    }

    fn counters(&self) -> CounterSnapshot {
        let c = self.fw.borrow().counters().expect("counters");
        let mut s = CounterSnapshot {
            global: c.global,
            interfaces: c.interfaces,
            zones: c
                .zones
                .into_iter()
                .map(|(k, z)| {
                    (
                        k,
                        ZoneCounters {
                            ingress: z.ingress,
                            egress: z.egress,
                            dropped: z.dropped,
                        },
                    )
                })
                .collect(),
            policies: c.policies,
            nat_rules: c.nat_rules,
        };
        s.canonicalize();
        s
    }

    fn filter_term_counters(&self) -> Option<BTreeMap<FilterTermId, CounterValue>> {
        Some(
            self.fw
                .borrow()
                .filter_term_counters()
                .expect("filter term counters"),
        )
    }

    fn drain_events(&mut self) -> Vec<Event> {
        self.fw.borrow_mut().drain_events()
    }

    fn drain_deltas(&mut self) -> Vec<SessionDelta> {
        self.fw.borrow_mut().drain_deltas()
    }

    fn set_redundancy_group(
        &mut self,
        rg: RedundancyGroupId,
        active: bool,
        now_ns: u64,
    ) -> Result<(), HarnessError> {
        self.expire(now_ns);
        self.fw
            .borrow_mut()
            .set_redundancy_group(rg, active)
            .map_err(|e| HarnessError::Backend {
                backend: "ebpf".into(),
                message: e.to_string(),
            })
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
                reason: "a reverse entry is removed with its forward entry".into(),
            });
        }
        let mut fw = self.fw.borrow_mut();
        let Some((k, v)) = fw.find(&entry.key()) else {
            return Ok(false);
        };
        if sess_key(&entry.key()) != k || v.s.session_id != entry.session_id().0 {
            return Ok(false);
        }
        fw.close(&k, reason, now_ns)
            .map_err(|e| HarnessError::Backend {
                backend: "ebpf".into(),
                message: e.to_string(),
            })
    }

    fn delete_with_companions(
        &mut self,
        key: &AnySessionKey,
        reason: CloseReason,
        now_ns: u64,
    ) -> Result<CompanionDeleteResult, HarnessError> {
        self.expire(now_ns);
        let mut fw = self.fw.borrow_mut();
        let Some((k, _)) = fw.find(key) else {
            return Ok(CompanionDeleteResult::default());
        };
        let closed = fw
            .close(&k, reason, now_ns)
            .map_err(|e| HarnessError::Backend {
                backend: "ebpf".into(),
                message: e.to_string(),
            })?;
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
        let mut fw = self.fw.borrow_mut();
        let stale: Vec<_> = fw
            .forward_sessions()
            .map_err(|e| HarnessError::Backend {
                backend: "ebpf".into(),
                message: e.to_string(),
            })?
            .into_iter()
            .filter(|(k, v)| {
                !input
                    .synced_zones
                    .contains(&xpf_runtime::ZoneId(v.s.in_zone))
                    && !input.received.contains(&xpf_ebpf::firewall::any_key(k))
            })
            .map(|(k, _)| k)
            .collect();
        let mut summary = ReconcileSummary {
            stale: stale.len(),
            ..Default::default()
        };
        for k in stale {
            match fw.close(&k, reason, now_ns) {
                Ok(true) => summary.deleted += 1,
                _ => summary.failed += 1,
            }
        }
        Ok(summary)
    }

    fn put_cluster_synced(&mut self, entry: SessionEntry, now_ns: u64) -> Result<(), HarnessError> {
        self.expire(now_ns);
        self.fw
            .borrow_mut()
            .install_synced(&entry, now_ns)
            .map(|_| ())
            .map_err(harness_err)
    }
}

fn privileged(what: &str) -> bool {
    match xpf_ebpf::require_root(what) {
        Ok(()) => true,
        Err((true, msg)) => {
            eprintln!("skipped: {msg}");
            false
        }
        Err((false, msg)) => panic!("{msg}"),
    }
}

#[test]
fn conformance_corpus_replays() {
    if privileged("conformance_corpus_replays") {
        replay_corpus(&EbpfHarness::new);
    }
}

#[test]
fn conformance_default_deny() {
    if privileged("conformance_default_deny") {
        run_property(Property::DefaultDeny, &EbpfHarness::new);
    }
}

#[test]
fn conformance_replies_pass() {
    if privileged("conformance_replies_pass") {
        run_property(Property::RepliesPass, &EbpfHarness::new);
    }
}

#[test]
fn conformance_model_equivalence() {
    if privileged("conformance_model_equivalence") {
        run_property(Property::ModelEquivalence, &EbpfHarness::new);
    }
}

#[test]
fn a_frame_without_configuration_is_dropped_as_unknown_interface() {
    if !privileged("a_frame_without_configuration_is_dropped_as_unknown_interface") {
        return;
    }
    let mut h = EbpfHarness::new();
    let o = h.inject(InterfaceId(1), &[0u8; 60], 1);
    assert_eq!(
        o.verdict,
        Verdict::Drop {
            reason: DropReason::UnknownInterface
        }
    );
}

const EMIT_CONFIG: &str = r#"
[[interfaces]]
name = "ge-0/0/0.0"
zone = "untrust"
mac = "02:00:0a:00:00:00"
addresses = ["198.19.10.2/29", "2001:db8:20::2/64"]

[[interfaces]]
name = "ge-0/0/1.0"
zone = "trust"
mac = "02:00:0a:00:00:01"
addresses = ["198.18.10.1/24", "2001:db8:10::1/64"]

[[zones]]
name = "trust"

[[zones]]
name = "untrust"

[[security.policies]]
from-zone = "trust"
to-zone = "untrust"

[[security.policies.policies]]
name = "web"
match = { source-address = ["any"], destination-address = ["any"], application = ["junos-http"] }
then = { action = "reject" }

[[security.policies.policies]]
name = "rest"
match = { source-address = ["any"], destination-address = ["any"], application = ["any"] }
then = { action = "permit" }

[[forwarding.routes]]
destination = "0.0.0.0/0"
next-hop = "198.19.10.1"

[[forwarding.routes]]
destination = "::/0"
next-hop = "2001:db8:20::1"

[[forwarding.neighbours]]
address = "198.19.10.1"
mac = "02:00:0a:ff:00:01"
interface = "ge-0/0/0.0"

[[forwarding.neighbours]]
address = "2001:db8:20::1"
mac = "02:00:0a:ff:00:01"
interface = "ge-0/0/0.0"
"#;

/// Runs `frame` into `ge-0/0/1.0` on the reference model and on the program
/// under `EMIT_CONFIG`; returns both outcomes.
fn model_and_program(frame: &[u8]) -> (Outcome, Outcome) {
    let cfg = Config::from_toml_str(EMIT_CONFIG).expect("test config parses");
    let compiled = compile_with_previous(&cfg, None).expect("test config compiles");
    let trust = compiled
        .interfaces
        .iter()
        .find(|i| i.name == "ge-0/0/1.0")
        .map(|i| i.id)
        .expect("trust interface");
    let mut model = xpf_conformance::Model::new();
    model.apply(&cfg, 1_000).expect("model applies");
    let mut h = EbpfHarness::new();
    h.apply(&cfg, 1_000).expect("program applies");
    (
        model.inject(trust, frame, 2_000),
        h.inject(trust, frame, 2_000),
    )
}

/// An Ethernet frame from the trust host's MAC to ge-0/0/1.0 around `ip`.
fn eth(ethertype: u16, ip: &[u8]) -> Vec<u8> {
    let mut f = vec![0x02, 0, 0x0a, 0, 0, 0x01, 0x02, 0, 0, 0, 0, 0x05];
    f.extend_from_slice(&ethertype.to_be_bytes());
    f.extend_from_slice(ip);
    f
}

#[test]
fn a_rejected_tcp_syn_is_answered_with_the_models_rst_out_of_the_ingress() {
    if !privileged("a_rejected_tcp_syn_is_answered_with_the_models_rst_out_of_the_ingress") {
        return;
    }
    use xpf_conformance::model::wire;
    let (src, dst) = ("198.18.10.5", "198.19.200.80");
    let mut ip = vec![0u8; 40];
    ip[0] = 0x45;
    ip[2..4].copy_from_slice(&40u16.to_be_bytes());
    ip[8] = 64;
    ip[9] = 6;
    ip[12..16].copy_from_slice(&[198, 18, 10, 5]);
    ip[16..20].copy_from_slice(&[198, 19, 200, 80]);
    ip[20..22].copy_from_slice(&40_000u16.to_be_bytes());
    ip[22..24].copy_from_slice(&80u16.to_be_bytes());
    ip[24..28].copy_from_slice(&1_000u32.to_be_bytes());
    ip[32] = 5 << 4;
    ip[33] = 0x02;
    ip[34..36].copy_from_slice(&65_535u16.to_be_bytes());
    let mut f = eth(0x0800, &ip);
    wire::fix_ipv4_header(&mut f, 14);
    let (s, d) = (src.parse().unwrap(), dst.parse().unwrap());
    let end = f.len();
    wire::fix_l4(&mut f, xpf_runtime::AddressFamily::Inet, s, d, 6, 34, end);
    let (m, b) = model_and_program(&f);
    assert_eq!(
        m.verdict,
        Verdict::Drop {
            reason: DropReason::PolicyReject
        }
    );
    assert_eq!(m.generated.len(), 1, "the model answers with a RST");
    assert_eq!(
        b, m,
        "the program's verdict and RST are the model's, byte for byte"
    );
}

#[test]
fn an_ipv6_packet_with_hop_limit_one_is_answered_with_the_models_time_exceeded() {
    if !privileged("an_ipv6_packet_with_hop_limit_one_is_answered_with_the_models_time_exceeded") {
        return;
    }
    use xpf_conformance::model::wire;
    let (src, dst): (std::net::Ipv6Addr, std::net::Ipv6Addr) = (
        "2001:db8:10::5".parse().unwrap(),
        "2001:db8:99::53".parse().unwrap(),
    );
    let payload = 8 + 23;
    let mut ip = vec![0u8; 40 + payload];
    ip[0] = 0x60;
    ip[4..6].copy_from_slice(&(payload as u16).to_be_bytes());
    ip[6] = 17;
    ip[7] = 1;
    ip[8..24].copy_from_slice(&src.octets());
    ip[24..40].copy_from_slice(&dst.octets());
    ip[40..42].copy_from_slice(&5_353u16.to_be_bytes());
    ip[42..44].copy_from_slice(&53u16.to_be_bytes());
    ip[44..46].copy_from_slice(&(payload as u16).to_be_bytes());
    for (i, b) in ip[48..].iter_mut().enumerate() {
        *b = i as u8 * 7;
    }
    let mut f = eth(0x86dd, &ip);
    let end = f.len();
    wire::fix_l4(
        &mut f,
        xpf_runtime::AddressFamily::Inet6,
        src.into(),
        dst.into(),
        17,
        54,
        end,
    );
    let (m, b) = model_and_program(&f);
    assert_eq!(
        m.verdict,
        Verdict::Drop {
            reason: DropReason::TtlExceeded
        }
    );
    assert_eq!(m.generated.len(), 1, "the model answers with time exceeded");
    assert_eq!(
        b, m,
        "the program's verdict and ICMPv6 error are the model's, byte for byte"
    );
}
