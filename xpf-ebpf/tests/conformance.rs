//! The conformance suite (`xpf-conformance`) run against the real XDP
//! program: every generated frame goes through `BPF_PROG_TEST_RUN`, sessions
//! and counters are read from the maps, events and deltas from the ring
//! buffer. Needs root: without it the tests fail with a clear message unless
//! `XPF_ALLOW_SKIP_PRIVILEGED=1` is set.
//!
//! One program is loaded per test thread (verification takes seconds) and
//! reset between cases.

mod support;
use support::privileged;

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

/// Runs `frames` in order into `ge-0/0/1.0` on the reference model and on
/// the program under `EMIT_CONFIG` (one millisecond apart); returns both
/// outcomes of each.
fn model_and_program_all(frames: &[Vec<u8>]) -> Vec<(Outcome, Outcome)> {
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
    frames
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let now = 2_000 + i as u64 * 1_000_000;
            (model.inject(trust, f, now), h.inject(trust, f, now))
        })
        .collect()
}

/// An IPv6 UDP packet 2001:db8:10::5 -> 2001:db8:99::53 (5353 -> 53)
/// behind the extension headers `chain` (each `(type, bytes)`: the next
/// header fields are filled in here), checksummed.
fn udp6_behind(chain: &[(u8, Vec<u8>)]) -> Vec<u8> {
    use xpf_conformance::model::wire;
    let (src, dst): (std::net::Ipv6Addr, std::net::Ipv6Addr) = (
        "2001:db8:10::5".parse().unwrap(),
        "2001:db8:99::53".parse().unwrap(),
    );
    let mut ext = Vec::new();
    for (i, (_, bytes)) in chain.iter().enumerate() {
        let mut h = bytes.clone();
        h[0] = chain.get(i + 1).map_or(17, |(t, _)| *t);
        ext.extend(h);
    }
    let udp_len = 8 + 16;
    let payload = ext.len() + udp_len;
    let mut ip = vec![0u8; 40];
    ip[0] = 0x60;
    ip[4..6].copy_from_slice(&(payload as u16).to_be_bytes());
    ip[6] = chain.first().map_or(17, |(t, _)| *t);
    ip[7] = 64;
    ip[8..24].copy_from_slice(&src.octets());
    ip[24..40].copy_from_slice(&dst.octets());
    ip.extend(ext);
    let l4 = 14 + ip.len();
    ip.extend(5_353u16.to_be_bytes());
    ip.extend(53u16.to_be_bytes());
    ip.extend((udp_len as u16).to_be_bytes());
    ip.extend([0, 0]);
    ip.extend((0..16u8).map(|b| b.wrapping_mul(11)));
    let mut f = eth(0x86dd, &ip);
    let end = f.len();
    wire::fix_l4(
        &mut f,
        xpf_runtime::AddressFamily::Inet6,
        src.into(),
        dst.into(),
        17,
        l4,
        end,
    );
    f
}

#[test]
fn ipv6_extension_header_chains_are_walked_like_the_model() {
    if !privileged("ipv6_extension_header_chains_are_walked_like_the_model") {
        return;
    }
    // Hop-by-hop, routing (type 2), destination options (16 bytes), then UDP.
    let hop = (0u8, vec![0, 0, 1, 4, 0, 0, 0, 0]);
    let routing = (43u8, {
        let mut r = vec![0u8; 24];
        r[1] = 2;
        r[2] = 2;
        r[3] = 1;
        r
    });
    let dest = (60u8, {
        let mut d = vec![0u8; 16];
        d[1] = 1;
        d[2] = 1;
        d[3] = 12;
        d
    });
    let walked = udp6_behind(&[hop.clone(), routing, dest.clone()]);
    // A hop-by-hop header after another one is malformed.
    let misplaced = udp6_behind(&[dest.clone(), hop]);
    // A destination options header claiming more bytes than the packet has.
    let mut cut = dest;
    cut.1[1] = 200;
    let truncated = udp6_behind(&[cut]);
    let outcomes = model_and_program_all(&[walked, misplaced, truncated]);
    assert!(
        matches!(outcomes[0].0.verdict, Verdict::Forward { .. }),
        "the model forwards the walked chain: {:?}",
        outcomes[0].0
    );
    for bad in &outcomes[1..] {
        assert_eq!(
            bad.0.verdict,
            Verdict::Drop {
                reason: DropReason::MalformedExtensionHeader
            }
        );
    }
    for (i, (m, b)) in outcomes.iter().enumerate() {
        assert_eq!(b, m, "frame {i}: the program's outcome is the model's");
    }
}

/// IPv4 UDP 198.18.10.5 -> 198.19.200.53 (5353 -> 53) with 40 payload
/// bytes, cut into fragments at `cuts` (byte offsets of the transport
/// bytes, multiples of 8) with identification `id`; `keep` selects the
/// fragments returned, in that order.
fn udp4_fragments(id: u16, cuts: &[usize], keep: &[usize]) -> Vec<Vec<u8>> {
    use xpf_conformance::model::wire;
    let (src, dst) = ([198, 18, 10, 5], [198, 19, 200, 53]);
    let mut seg = Vec::new();
    seg.extend(5_353u16.to_be_bytes());
    seg.extend(53u16.to_be_bytes());
    seg.extend(48u16.to_be_bytes());
    seg.extend([0, 0]);
    seg.extend((0..40u8).map(|b| b.wrapping_mul(13)));
    // The transport checksum over the whole datagram.
    let mut whole = vec![0u8; 20];
    whole[0] = 0x45;
    whole.extend(&seg);
    let mut wf = eth(0x0800, &whole);
    let end = wf.len();
    wire::fix_l4(
        &mut wf,
        xpf_runtime::AddressFamily::Inet,
        std::net::Ipv4Addr::from(src).into(),
        std::net::Ipv4Addr::from(dst).into(),
        17,
        34,
        end,
    );
    let seg = wf[34..].to_vec();
    let mut bounds = vec![0];
    bounds.extend_from_slice(cuts);
    bounds.push(seg.len());
    let frags: Vec<Vec<u8>> = bounds
        .windows(2)
        .map(|w| {
            let (a, b) = (w[0], w[1]);
            let more = b < seg.len();
            let mut ip = vec![0u8; 20];
            ip[0] = 0x45;
            ip[2..4].copy_from_slice(&((20 + b - a) as u16).to_be_bytes());
            ip[4..6].copy_from_slice(&id.to_be_bytes());
            let word = (a / 8) as u16 | if more { 0x2000 } else { 0 };
            ip[6..8].copy_from_slice(&word.to_be_bytes());
            ip[8] = 64;
            ip[9] = 17;
            ip[12..16].copy_from_slice(&src);
            ip[16..20].copy_from_slice(&dst);
            ip.extend_from_slice(&seg[a..b]);
            let mut f = eth(0x0800, &ip);
            wire::fix_ipv4_header(&mut f, 14);
            f
        })
        .collect();
    keep.iter().map(|&i| frags[i].clone()).collect()
}

#[test]
fn fragments_follow_their_first_fragment_like_the_model() {
    if !privileged("fragments_follow_their_first_fragment_like_the_model") {
        return;
    }
    let mut frames = udp4_fragments(7, &[16, 32], &[0, 1, 2]);
    // The later fragments of a datagram whose first fragment never came.
    frames.extend(udp4_fragments(8, &[16, 32], &[1, 2]));
    // A datagram whose last fragment overlaps its first.
    let mut overlap = udp4_fragments(9, &[24], &[0]);
    overlap.extend(udp4_fragments(9, &[16], &[1]));
    frames.extend(overlap);
    let outcomes = model_and_program_all(&frames);
    let verdicts: Vec<Verdict> = outcomes.iter().map(|(m, _)| m.verdict).collect();
    assert!(
        verdicts[..3]
            .iter()
            .all(|v| matches!(v, Verdict::Forward { .. })),
        "the model forwards the whole datagram: {verdicts:?}"
    );
    assert_eq!(
        &verdicts[3..5],
        &[Verdict::Drop {
            reason: DropReason::FragmentNoSession
        }; 2],
        "no first fragment, no flow"
    );
    for (i, (m, b)) in outcomes.iter().enumerate() {
        assert_eq!(b, m, "frame {i}: the program's outcome is the model's");
    }
}
